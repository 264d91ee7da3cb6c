"""The report of a qopt compile run: its summary schema, statistics, pages.

`qopt compile` runs import -> canonicalize -> calibrate -> quantize ->
accuracy check -> tile -> lower -> SystemVerilog -> Verilator -> Yosys and
records what happened in a `Summary`; `write_report` turns it into three
files of the build folder:

- `summary.json`: the summary itself (`Summary.to_json` / `from_json`, strict
  JSON; a non-finite float such as the SQNR of exact weights is the string
  "inf");
- `report.html`: one self-contained page (inline CSS, plots as inline SVG
  from matplotlib, no external URL) with the sections of `SECTIONS`, each a
  `<section id=...>` with an `<h2>` heading;
- `report.md`: the same tables in Markdown, with relative links to the IR
  file of each stage.

The schema (dataclasses, `SCHEMA_VERSION`): `stages` (name, seconds, IR file,
the `qopt-opt --pass-pipeline=...` command that reproduces the stage),
`accuracy` (float vs quantized top-1, agreement, output SQNR), `layers` (per
weight layer: format, bits per weight, SQNR, and hardware estimates LUT / FF
/ DSP / cycles / II), `resources` (LUT, FF, DSP, BRAM, CARRY4, estimated and
measured) and `sim` (Verilator: inputs, bit-exact, cycles per inference).
Everything the hardware stages produce is optional: absent values are
`None` in Python, `null` in JSON and "—" on the pages. `apply_estimates`
merges per-layer estimates given as dicts keyed by layer name (a `Layer`'s
`name`: the SSA name of its `q.conv2d` / `q.matmul` in the q IR, such as
`conv1_conv1.0_Conv_output` or `output_acc`) or location (the ONNX node
name, `/conv1/conv1.0/Conv`). `qopt_opt_command` spells the command of a
stage.

What the IR gives now (`evaluate`, `layer_stats`, `weight_histograms`): the
float `nn` module (as it entered `qopt-quantize`) and the `q` module it
became are run side by side by the reference executor. Layers are the
`nn.conv2d` / `nn.gemm` / `nn.matmul` ops with a constant weight; each is
paired with the `q.conv2d` / `q.matmul` it became by location, else by name:
`qopt-quantize` names the accumulator after the layer's result (`%conv1`)
or that name + `_acc`. Per layer:

- weight SQNR: 10 log10(sum w^2 / sum (w - w~)^2), w the float weight (in
  the q layout: OIHW, or [K, N] = alpha * B' for a gemm) and w~ the
  dequantized `q.constant`; "inf" when they are equal;
- output SQNR: the same ratio between the float layer's output and the
  dequantized accumulator (bias included, before requantization and relu),
  both models fed the same inputs, so it includes the error of every layer
  before it;
- the weight histogram: the float weights in level units (w / scale + zero
  point, per channel), binned, with the format's level set (the sorted
  levels of its `q.levels`) and how many weights each level received.

A layer that `qopt-quantize` left float appears with its float type as
format and no SQNR of its weights. Bad input (modules that do not match,
inputs of the wrong shape, a malformed summary) raises `ReportError`, a
`ToolError` with a one-line message.

Plots need matplotlib (the `report` extra); the statistics and the JSON do
not.
"""

from __future__ import annotations

import dataclasses
import html
import io
import json
import math
import os
import shlex
import sys
import types
import typing
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, NameLoc, TensorType
from xdsl.interpreter import Interpreter, PythonValues
from xdsl.ir import Operation, OpResult, SSAValue
from xdsl.utils.exceptions import InterpretationError

from qopt.backends.reference.nn import dense_to_numpy, numpy_dtype
from qopt.backends.reference.runner import interpreter_for
from qopt.passes.entry import entry_function
from qopt.qdialect import nn, q
from qopt.qdialect.qtypes import LevelsAttr, MixedType, QuantizedType
from qopt.qdialect.shapes import DYN, shape_of
from qopt.tools.errors import ToolError, one_line, write_atomically

SCHEMA_VERSION = 1
"""Version of `summary.json`; `Summary.from_json` rejects any other."""

SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("accuracy", "Accuracy"),
    ("layers", "Layers"),
    ("weights", "Weights"),
    ("resources", "Resources"),
    ("pipeline", "Pipeline"),
    ("stages", "Stages"),
)
"""(id, heading) of every section of report.html and report.md, in order."""

DASH = "—"
"""What the pages show for a value the summary does not have."""

HISTOGRAM_BINS = 60
LEVEL_LINES_MAX = 64
"""Formats with more levels show only their extreme levels as lines."""

SYMLOG_BASE = 2.0
"""pot/spot histograms use a symmetric log axis: linear on [-1, 1], log2 beyond."""


class ReportError(ToolError):
    """Input the report cannot use (modules, data, summary); one line."""


# --------------------------------------------------------------------------- #
# The summary schema
# --------------------------------------------------------------------------- #


@dataclass
class Stage:
    """One stage of the compile flow."""

    name: str
    seconds: float
    ir_file: str | None = None  # relative to the build folder
    command: str | None = None  # the shell command that reproduces the stage


@dataclass
class Accuracy:
    """The quantized model against the float one on the same inputs.

    Top-1 accuracies need labels; `agreement` is the fraction of samples on
    which both models pick the same class; `output_sqnr_db` compares the
    outputs themselves."""

    samples: int
    float_accuracy: float | None = None
    quantized_accuracy: float | None = None
    agreement: float | None = None
    output_sqnr_db: float | None = None


@dataclass
class Layer:
    """One weight layer: its format, its error, its hardware (estimated)."""

    name: str
    op: str
    location: str | None = None  # the source (ONNX node) name
    weight_format: str | None = None  # int8, pot4, spot2, ternary, mixed(...), f32
    granularity: str | None = None  # tensor, channel, block
    bits: float | None = None  # storage bits per weight
    weights: int | None = None  # number of weights
    macs: int | None = None  # multiply-accumulates per sample
    weight_sqnr_db: float | None = None
    output_sqnr_db: float | None = None
    lut: int | None = None
    ff: int | None = None
    dsp: int | None = None
    cycles: int | None = None  # latency of one sample through the layer
    ii: int | None = None  # initiation interval, cycles


ESTIMATE_FIELDS = ("lut", "ff", "dsp", "cycles", "ii")
"""The `Layer` fields that the hardware stages fill (`apply_estimates`)."""


@dataclass
class ResourceCounts:
    """FPGA resources of a design (Yosys synth_xilinx names)."""

    lut: int | None = None
    ff: int | None = None
    dsp: int | None = None
    bram: int | None = None
    carry4: int | None = None


RESOURCE_NAMES = {
    "lut": "LUT",
    "ff": "FF",
    "dsp": "DSP",
    "bram": "BRAM",
    "carry4": "CARRY4",
}


@dataclass
class Resources:
    """The design's resources as estimated by the compiler and as measured
    by synthesis (`tool`, e.g. "yosys 0.23 synth_xilinx")."""

    estimated: ResourceCounts | None = None
    measured: ResourceCounts | None = None
    tool: str | None = None


@dataclass
class Sim:
    """The Verilator check of the SystemVerilog against the q executor."""

    inputs: int
    bit_exact: bool
    cycles_per_inference: int | None = None
    mismatches: int | None = None
    simulator: str | None = None


@dataclass
class Summary:
    """Everything `qopt compile` reports (`summary.json`)."""

    model: str
    stages: list[Stage] = field(default_factory=list)
    accuracy: Accuracy | None = None
    layers: list[Layer] = field(default_factory=list)
    resources: Resources | None = None
    sim: Sim | None = None
    target_ii: int | None = None
    design: str | None = None  # the SystemVerilog file, relative to the build folder
    options: dict[str, str] = field(default_factory=dict)  # the command's options
    version: int = SCHEMA_VERSION

    @property
    def total_seconds(self) -> float:
        return sum(s.seconds for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        return _encode(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any) -> Summary:
        summary = _decode(cls, data, "summary")
        if summary.version != SCHEMA_VERSION:
            raise ReportError(
                f"summary version {summary.version} is not supported "
                f"(this qopt reads version {SCHEMA_VERSION})"
            )
        return summary

    @classmethod
    def from_json(cls, text: str) -> Summary:
        def reject(name: str) -> None:
            raise ReportError(f"summary.json holds {name}, which is not JSON")

        try:
            data = json.loads(text, parse_constant=reject)
        except json.JSONDecodeError as e:
            raise ReportError(f"summary.json is not valid JSON: {e}") from None
        return cls.from_dict(data)


_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)
        }
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def _decode(tp: Any, value: Any, where: str) -> Any:
    """`value` (parsed JSON) as type `tp`, checked; ReportError naming `where`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _decode(inner, value, where)
    if origin is list:
        if not isinstance(value, list):
            raise ReportError(f"{where} must be a list")
        (item,) = typing.get_args(tp)
        return [_decode(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ReportError(f"{where} must be an object")
        _, item = typing.get_args(tp)
        return {str(k): _decode(item, v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ReportError(f"{where} must be an object")
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise ReportError(f"{where} has unknown field '{unknown[0]}'")
        kwargs = {}
        for name, f in fields.items():
            if name in value:
                kwargs[name] = _decode(hints[name], value[name], f"{where}.{name}")
            elif (
                f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING
            ):
                raise ReportError(f"{where} lacks field '{name}'")
        return tp(**kwargs)
    if tp is bool:
        if not isinstance(value, bool):
            raise ReportError(f"{where} must be true or false")
        return value
    if tp is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ReportError(f"{where} must be an integer")
        return value
    if tp is float:
        if isinstance(value, str) and value in _NON_FINITE:
            return _NON_FINITE[value]
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ReportError(f"{where} must be a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ReportError(f"{where} must be a string")
        return value
    raise TypeError(f"no JSON decoding for {tp}")  # a schema bug


def apply_estimates(
    layers: Sequence[Layer], estimates: Mapping[str, Mapping[str, int | None]]
) -> list[Layer]:
    """`layers` with the hardware fields (`ESTIMATE_FIELDS`: lut, ff, dsp,
    cycles, ii) of `estimates[name]` set; a layer is found by its name or
    its location. Raises ReportError for an unknown layer or field."""
    index: dict[str, int] = {}
    for i, layer in enumerate(layers):
        index.setdefault(layer.name, i)
        if layer.location is not None:
            index.setdefault(layer.location, i)
    out = list(layers)
    for name, values in estimates.items():
        if name not in index:
            known = ", ".join(layer.name for layer in layers) or "none"
            raise ReportError(f"estimates for unknown layer '{name}' (layers: {known})")
        bad = sorted(set(values) - set(ESTIMATE_FIELDS))
        if bad:
            raise ReportError(
                f"estimate '{bad[0]}' of layer '{name}' is not one of "
                f"{', '.join(ESTIMATE_FIELDS)}"
            )
        i = index[name]
        out[i] = dataclasses.replace(
            out[i], **{k: None if v is None else int(v) for k, v in values.items()}
        )
    return out


def qopt_opt_command(input_file: str, pipeline: str, output_file: str) -> str:
    """The shell command that runs `pipeline` (MLIR's textual form, e.g.
    `builtin.module(qopt-quantize{weights=pot4})`) on `input_file`."""
    return (
        f"qopt-opt {shlex.quote(input_file)} --pass-pipeline={shlex.quote(pipeline)}"
        f" -o {shlex.quote(output_file)}"
    )


# --------------------------------------------------------------------------- #
# Statistics from the IR
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class WeightHistogram:
    """The float weights of a layer in level units, with its format's levels.

    `counts[i]` weights lie in [edges[i], edges[i + 1]); the edges are
    uniform on a linear axis, or on a symmetric log axis (`symlog`) for
    power-of-two formats. `levels` is the format's level set (sorted);
    `level_counts[i]` weights were quantized to `levels[i]`."""

    layer: str
    weight_format: str
    levels: np.ndarray
    level_counts: np.ndarray
    edges: np.ndarray
    counts: np.ndarray
    symlog: bool
    beyond: int  # float weights outside [lowest level, highest level]

    @property
    def total(self) -> int:
        return int(self.level_counts.sum())


@dataclass
class _Pair:
    """An nn layer and what it became in the q module."""

    nn_op: Operation
    q_op: Operation  # q.conv2d / q.matmul, or the nn op left float
    w_float: np.ndarray  # in the layout of the q weight

    @property
    def name(self) -> str:
        hint = self.q_op.results[0].name_hint or self.nn_op.results[0].name_hint
        return hint or self.nn_op.name

    @property
    def q_weight(self) -> q.ConstantOp | None:
        if isinstance(self.q_op, q.Conv2dOp | q.MatmulOp):
            w = self.q_op.operands[1]
            if isinstance(w, OpResult) and isinstance(w.op, q.ConstantOp):
                return w.op
        return None

    def reference(self) -> OpResult:
        """The float value of the nn module that the q result represents:
        the layer's output, or the bias add that qopt-quantize folded."""
        out = self.nn_op.results[0]
        folded_bias = isinstance(self.q_op, q.MatmulOp) and self.q_op.bias is not None
        if isinstance(self.nn_op, nn.MatMulOp) and folded_bias and out.has_one_use():
            user = out.get_user_of_unique_use()
            if isinstance(user, nn.AddOp):
                return user.output
        return out


def _constant(value: SSAValue) -> np.ndarray | None:
    if isinstance(value, OpResult) and isinstance(value.op, nn.ConstantOp):
        array = dense_to_numpy(value.op.value)
        if np.issubdtype(array.dtype, np.floating):
            return array.astype(np.float64)
    return None


def _layer_weight(op: Operation) -> np.ndarray | None:
    """The constant weight of an nn layer in the q layout (conv OIHW; gemm
    and matmul [K, N]), or None if `op` is no layer with constant weights."""
    if isinstance(op, nn.Conv2dOp):
        return _constant(op.weight)
    if isinstance(op, nn.GemmOp):
        alpha, _, trans_a, trans_b = op.attrs
        b = _constant(op.b)
        if trans_a or b is None or b.ndim != 2:
            return None
        return (b.T if trans_b else b) * float(np.float32(alpha))
    if isinstance(op, nn.MatMulOp):
        return _constant(op.rhs) if _constant(op.lhs) is None else None
    return None


_Q_KIND = {nn.Conv2dOp: q.Conv2dOp, nn.GemmOp: q.MatmulOp, nn.MatMulOp: q.MatmulOp}


def _location(op: Operation) -> str | None:
    """The name of a `loc("name")` location (the ONNX node name), else None."""
    loc = op.location
    return loc.desc.data if isinstance(loc, NameLoc) else None


def _block_ops(module: ModuleOp, entry: str | None) -> list[Operation]:
    fn = entry_function(module, entry, "report on", ReportError)
    return list(fn.body.blocks.first.ops)  # type: ignore[union-attr]


def _pairs(nn_module: ModuleOp, q_module: ModuleOp, entry: str | None) -> list[_Pair]:
    """Pair every weight layer of the float module with its q counterpart:
    by location, else by name (`name` or `name_acc`), in order among equals."""
    candidates: dict[tuple[str, str], deque[Operation]] = defaultdict(deque)
    for op in _block_ops(q_module, entry):
        kinds = [op.name] if isinstance(op, q.Conv2dOp | q.MatmulOp) else []
        if isinstance(op, nn.Conv2dOp | nn.GemmOp | nn.MatMulOp):
            kinds = [f"float:{op.name}"]
        for kind in kinds:
            loc = _location(op)
            if loc is not None:
                candidates[(kind, "loc:" + loc)].append(op)
            candidates[(kind, op.results[0].name_hint or "")].append(op)
    used: set[int] = set()

    def take(kind: str, key: str) -> Operation | None:
        queue = candidates.get((kind, key), deque())
        while queue:
            op = queue.popleft()
            if id(op) not in used:
                used.add(id(op))
                return op
        return None

    pairs, missing = [], []
    for op in _block_ops(nn_module, entry):
        w = _layer_weight(op)
        if w is None:
            continue
        kind = _Q_KIND[type(op)].name
        hint = op.results[0].name_hint or ""
        loc = _location(op)
        keys = [("loc:" + loc)] if loc is not None else []
        keys += [hint, f"{hint}_acc"] if hint else [""]
        found = None
        for k in keys:
            found = take(kind, k) or take(f"float:{op.name}", k)
            if found is not None:
                break
        if found is None:
            missing.append(f"%{hint}" if hint else f"'{op.name}'")
        else:
            pairs.append(_Pair(op, found, w))
    if missing:
        raise ReportError(
            f"the quantized module has no layer for {', '.join(missing[:5])}"
            f"{' ...' if len(missing) > 5 else ''} of the float module (was it "
            "quantized from this module? layers are matched by name)"
        )
    return pairs


def format_name(qtype: QuantizedType) -> str:
    """A short name of a weight format: int8, uint4, ternary, pot4, spot2,
    mixed(ternary << 6, int8; row)."""
    if isinstance(qtype, MixedType):
        sets = ", ".join(_levels_name(ls) for ls in qtype.level_sets())
        return f"mixed({sets}; {qtype.granularity.data})"
    return _levels_name(qtype.level_sets()[0])


def _levels_name(la: LevelsAttr) -> str:
    kind, width, shift = la.kind.data, la.width.data, la.shift.data
    if kind == "pot":
        name = f"pot{width}" if la.is_signed else f"upot{width}"
    elif kind == "spot":
        name = f"spot{la.terms.data}"
    elif la.is_signed and width == 2 and (la.low.data, la.high.data) == (-1, 1):
        name = "ternary"
    else:
        name = f"int{width}" if la.is_signed else f"uint{width}"
    return f"{name} << {shift}" if shift else name


def _granularity(qtype: QuantizedType) -> str:
    if qtype.is_per_tensor:
        return "tensor"
    return "channel" if qtype.quantized_axis is not None else "block"


def _level_set(qtype: QuantizedType) -> np.ndarray:
    return np.unique(np.concatenate([ls.levels for ls in qtype.level_sets()]))


def _dequantized(qtype: QuantizedType, levels: np.ndarray) -> np.ndarray:
    """scale * (level - zero point) in float64."""
    levels = np.asarray(levels, dtype=np.int64)
    centred = (levels - qtype.zero_point_array(levels.shape)).astype(np.float64)
    return centred * qtype.scale_array(levels.shape)


def _sqnr_db(signal: float, noise: float) -> float:
    if noise == 0:
        return math.inf if signal > 0 else math.nan
    if signal == 0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def _macs(op: Operation, w: np.ndarray) -> int | None:
    """Multiply-accumulates per sample (batch axis excluded)."""
    out = shape_of(op.results[0])
    if DYN in out[1:] or not out:
        return None
    per_sample = int(np.prod(out[1:], dtype=np.int64))
    if isinstance(op, nn.Conv2dOp):
        return per_sample * int(np.prod(w.shape[1:], dtype=np.int64))
    return per_sample * int(w.shape[-2])


def _static_layer(pair: _Pair) -> Layer:
    """The layer's format, bits and weight SQNR (no data needed)."""
    op, w = pair.nn_op, pair.w_float
    layer = Layer(
        name=pair.name,
        op=pair.q_op.name,
        location=_location(op),
        weights=int(w.size),
        macs=_macs(op, w),
    )
    const = pair.q_weight
    if const is None:  # left float
        elt = op.operands[1].type.element_type  # type: ignore[attr-defined]
        layer.weight_format = str(elt)
        layer.bits = float(elt.bitwidth) if hasattr(elt, "bitwidth") else None
        return layer
    qtype = q.qtype_of(const.output)
    shape = shape_of(const.output)
    layer.weight_format = format_name(qtype)
    layer.granularity = _granularity(qtype)
    layer.bits = qtype.storage_bits(shape) / max(1, int(np.prod(shape)))
    deq = _dequantized(qtype, const.levels())
    if deq.shape != w.shape:
        raise ReportError(
            f"layer %{pair.name}: the quantized weight has shape "
            f"{'x'.join(map(str, deq.shape))}, the float one "
            f"{'x'.join(map(str, w.shape))}"
        )
    layer.weight_sqnr_db = _sqnr_db(float(np.sum(w * w)), float(np.sum((w - deq) ** 2)))
    return layer


class _Capture(Interpreter.Listener):
    """Keeps the results of the ops in `wanted` (id -> result index)."""

    def __init__(self, wanted: dict[int, int]):
        self.wanted = wanted
        self.values: dict[int, np.ndarray] = {}

    def did_interpret_op(self, op: Operation, results: PythonValues) -> None:
        index = self.wanted.get(id(op))
        if index is not None:
            self.values[id(op)] = np.asarray(results[index])


def _progress(total: int):
    """A tqdm bar on a terminal's stderr, else a silent stand-in."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc="qopt report",
        unit="batch",
        leave=False,
        disable=not sys.stderr.isatty(),
        file=sys.stderr,
    )


def _prepare_inputs(
    fn: func.FuncOp, inputs: np.ndarray | Sequence[np.ndarray], batch_size: int
) -> tuple[list[np.ndarray], int]:
    """The inputs converted to the argument types, and the batch size."""
    arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
    types_ = fn.function_type.inputs.data
    if len(arrays) != len(types_):
        raise ReportError(
            f"@{fn.sym_name.data} takes {len(types_)} inputs, {len(arrays)} given"
        )
    out = []
    for i, (array, ty) in enumerate(zip(arrays, types_, strict=True)):
        array = np.asarray(array)
        if not isinstance(ty, TensorType):
            raise ReportError(f"argument {i} of @{fn.sym_name.data} is not a tensor")
        shape = ty.get_shape()
        if array.ndim != len(shape) or any(
            d != DYN and d != n for d, n in zip(shape[1:], array.shape[1:], strict=True)
        ):
            want = "x".join("?" if d == DYN else str(d) for d in shape)
            raise ReportError(
                f"input {i} has shape {'x'.join(map(str, array.shape))}, "
                f"@{fn.sym_name.data} expects {want}"
            )
        out.append(array.astype(numpy_dtype(ty.element_type)))
    samples = {a.shape[0] for a in out}
    if len(samples) != 1 or 0 in samples:
        raise ReportError("the inputs must hold the same number (>= 1) of samples")
    n = samples.pop()
    static = {t.get_shape()[0] for t in types_ if t.get_shape()[0] != DYN}
    if static:
        size = static.pop()
        if static or n % size:
            raise ReportError(
                f"@{fn.sym_name.data} takes batches of {size}: give a multiple "
                f"of {size} samples, not {n}"
            )
        return out, size
    if batch_size < 1:
        raise ReportError(f"batch size must be at least 1, got {batch_size}")
    return out, batch_size


def _run(
    interpreter: Interpreter, fn: func.FuncOp, args: list[np.ndarray]
) -> np.ndarray:
    """The first result of `fn` on `args` (its listeners record the rest)."""
    try:
        with np.errstate(all="ignore"):
            results = interpreter.call_op(fn.sym_name.data, tuple(args))
    except (
        InterpretationError,
        ValueError,
        IndexError,
        TypeError,
        ArithmeticError,
    ) as e:
        raise ReportError(f"running @{fn.sym_name.data}: {one_line(str(e))}") from None
    return np.asarray(results[0])


def evaluate(
    nn_module: ModuleOp,
    q_module: ModuleOp,
    inputs: np.ndarray | Sequence[np.ndarray],
    labels: np.ndarray | None = None,
    *,
    entry: str | None = None,
    batch_size: int = 256,
) -> tuple[list[Layer], Accuracy]:
    """Per-layer statistics and the accuracy of `q_module` against
    `nn_module` (the float module it was quantized from) on `inputs` (one
    array per argument, samples on axis 0), with one pass of each module
    over the data, `batch_size` samples at a time. `labels` (class per
    sample) give the top-1 accuracies; without them only the agreement of
    the two models and the output SQNR are known (both on the first result;
    the agreement for a [N, classes] result only)."""
    pairs = _pairs(nn_module, q_module, entry)
    layers = [_static_layer(p) for p in pairs]
    nn_fn = entry_function(nn_module, entry, "report on", ReportError)
    q_fn = entry_function(q_module, entry, "report on", ReportError)
    arrays, size = _prepare_inputs(nn_fn, inputs, batch_size)
    n = arrays[0].shape[0]
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if labels.shape[0] != n:
            raise ReportError(f"{labels.shape[0]} labels for {n} samples")
    refs = [p.reference() for p in pairs]
    nn_capture = _Capture({id(r.op): r.index for r in refs})
    q_capture = _Capture({id(p.q_op): 0 for p in pairs})
    nn_run = interpreter_for(nn_module, nn_capture)
    q_run = interpreter_for(q_module, q_capture)
    sums = np.zeros((len(pairs), 2))
    out_sums = np.zeros(2)
    same = correct_f = correct_q = 0
    classes = True
    with _progress(-(-n // size)) as bar:
        for start in range(0, n, size):
            batch = [a[start : start + size] for a in arrays]
            ref_out = _run(nn_run, nn_fn, batch).astype(np.float64)
            got_out = _run(q_run, q_fn, batch).astype(np.float64)
            for i, (pair, ref) in enumerate(zip(pairs, refs, strict=True)):
                want = nn_capture.values[id(ref.op)].astype(np.float64)
                got = q_capture.values[id(pair.q_op)]
                if isinstance(pair.q_op, q.Conv2dOp | q.MatmulOp):
                    got = _dequantized(q.qtype_of(pair.q_op.results[0]), got)
                got = got.astype(np.float64)
                sums[i] += (np.sum(want * want), np.sum((want - got) ** 2))
            out_sums += (np.sum(ref_out * ref_out), np.sum((ref_out - got_out) ** 2))
            classes = classes and ref_out.ndim == 2 and ref_out.shape[1] > 1
            if classes:
                pf, pq = ref_out.argmax(1), got_out.argmax(1)
                same += int(np.sum(pf == pq))
                if labels is not None:
                    y = labels[start : start + size]
                    correct_f += int(np.sum(pf == y))
                    correct_q += int(np.sum(pq == y))
            bar.update(1)
    for layer, (signal, noise) in zip(layers, sums, strict=True):
        layer.output_sqnr_db = _sqnr_db(float(signal), float(noise))
    accuracy = Accuracy(samples=n, output_sqnr_db=_sqnr_db(*map(float, out_sums)))
    if classes:
        accuracy.agreement = same / n
        if labels is not None:
            accuracy.float_accuracy = correct_f / n
            accuracy.quantized_accuracy = correct_q / n
    return layers, accuracy


def layer_stats(
    nn_module: ModuleOp,
    q_module: ModuleOp,
    inputs: np.ndarray | Sequence[np.ndarray],
    *,
    entry: str | None = None,
    batch_size: int = 256,
) -> list[Layer]:
    """Per weight layer: format, granularity, bits per weight, weight count,
    MACs, weight SQNR and output SQNR (see the module docstring); the
    hardware fields are None. `evaluate` gives the accuracy in the same run."""
    return evaluate(nn_module, q_module, inputs, entry=entry, batch_size=batch_size)[0]


def _symlog(x: np.ndarray) -> np.ndarray:
    """matplotlib's symlog transform (base 2, linthresh 1, linscale 1)."""
    a = np.abs(x)
    k = 1.0 / (1.0 - 1.0 / SYMLOG_BASE)
    with np.errstate(divide="ignore"):
        t = np.where(a <= 1, a * k, k + np.log(np.maximum(a, 1)) / np.log(SYMLOG_BASE))
    return np.sign(x) * t


def _symlog_inv(t: np.ndarray) -> np.ndarray:
    a = np.abs(t)
    k = 1.0 / (1.0 - 1.0 / SYMLOG_BASE)
    return np.sign(t) * np.where(a <= k, a / k, SYMLOG_BASE ** (a - k))


def weight_histograms(
    nn_module: ModuleOp,
    q_module: ModuleOp,
    *,
    entry: str | None = None,
    bins: int = HISTOGRAM_BINS,
) -> list[WeightHistogram]:
    """The weight histogram of every quantized layer (layers left float have
    none): float weights / scale + zero point, per element's channel."""
    if bins < 1:
        raise ReportError(f"bins must be at least 1, got {bins}")
    out = []
    for pair in _pairs(nn_module, q_module, entry):
        const = pair.q_weight
        if const is None:
            continue
        qtype = q.qtype_of(const.output)
        w = pair.w_float
        units = w / qtype.scale_array(w.shape) + qtype.zero_point_array(w.shape)
        levels = _level_set(qtype)
        stored = const.levels()
        counts_per_level = np.searchsorted(levels, stored.ravel())
        level_counts = np.bincount(counts_per_level, minlength=len(levels))
        kinds = {ls.kind.data for ls in qtype.level_sets()}
        symlog = bool(kinds & {"pot", "spot"})
        lo = min(float(units.min()), float(levels[0]))
        hi = max(float(units.max()), float(levels[-1]))
        if symlog:
            edges = _symlog_inv(
                np.linspace(_symlog(np.array(lo)), _symlog(np.array(hi)), bins + 1)
            )
        else:
            edges = np.linspace(lo, hi, bins + 1)
        edges[0], edges[-1] = lo, hi  # exact ends: every weight is counted
        counts, edges = np.histogram(units, bins=edges)
        beyond = int(np.sum((units < levels[0]) | (units > levels[-1])))
        out.append(
            WeightHistogram(
                pair.name,
                format_name(qtype),
                levels,
                level_counts,
                edges,
                counts,
                symlog,
                beyond,
            )
        )
    return out


# --------------------------------------------------------------------------- #
# Formatting
# --------------------------------------------------------------------------- #


def _int(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def _pct(value: float | None) -> str:
    return DASH if value is None else f"{100 * value:.2f} %"


def _db(value: float | None) -> str:
    if value is None or math.isnan(value):
        return DASH
    if math.isinf(value):
        return "\u221e" if value > 0 else "\u2212\u221e"
    return f"{value:.1f}"


def _bits(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:g}" if value == int(value) else f"{value:.2f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return DASH
    if value < 60:
        return f"{value:.2f} s"
    minutes, seconds = divmod(value, 60)
    return f"{int(minutes)} min {seconds:.0f} s"


def _weight_bits(layers: Sequence[Layer]) -> tuple[float, int] | None:
    """(total weight bits, weight count) of the layers that know both."""
    known = [
        (ly.bits, ly.weights) for ly in layers if ly.bits is not None and ly.weights
    ]
    if not known:
        return None
    return sum(b * n for b, n in known), sum(n for _, n in known)  # type: ignore[misc]


def _bottleneck(layers: Sequence[Layer]) -> Layer | None:
    timed = [ly for ly in layers if ly.ii is not None]
    return max(timed, key=lambda ly: ly.ii) if timed else None  # type: ignore[arg-type,return-value]


def _lut(summary: Summary) -> tuple[int | None, str]:
    r = summary.resources
    if r is not None and r.measured is not None and r.measured.lut is not None:
        return r.measured.lut, "measured" + (f" ({r.tool})" if r.tool else "")
    if r is not None and r.estimated is not None and r.estimated.lut is not None:
        return r.estimated.lut, "estimated"
    luts = [ly.lut for ly in summary.layers if ly.lut is not None]
    if luts:
        return sum(luts), "estimated, sum of layers"
    return None, "no hardware stage yet"


def _summary_cards(summary: Summary) -> list[tuple[str, str, str]]:
    """(title, value, detail) of each summary card."""
    acc = summary.accuracy
    samples = f"{acc.samples:,} samples" if acc else "no accuracy check"
    delta = ""
    if acc and acc.float_accuracy is not None and acc.quantized_accuracy is not None:
        diff = 100 * (acc.quantized_accuracy - acc.float_accuracy)
        delta = f"{diff:+.2f} points vs float".replace("-", "\u2212")
    cards = [
        ("Float accuracy", _pct(acc.float_accuracy if acc else None), samples),
        (
            "Quantized accuracy",
            _pct(acc.quantized_accuracy if acc else None),
            delta or samples,
        ),
        (
            "Agreement",
            _pct(acc.agreement if acc else None),
            "same top-1 class as float",
        ),
    ]
    bits = _weight_bits(summary.layers)
    if bits is None:
        cards.append(("Weight memory", DASH, "no quantized layers"))
    else:
        total, count = bits
        ratio = 32 * count / total if total else math.inf
        cards.append(
            (
                "Weight memory",
                f"{total / 8 / 1024:.2f} KiB",
                f"{total / count:.2f} bits/weight · {ratio:.1f}\u00d7 smaller than f32",
            )
        )
    worst = _bottleneck(summary.layers)
    target = f"target II {summary.target_ii}" if summary.target_ii else "no target II"
    cards.append(
        (
            "Initiation interval",
            DASH if worst is None else f"{worst.ii:,} cycles",
            target if worst is None else f"bottleneck {worst.name} · {target}",
        )
    )
    lut, source = _lut(summary)
    cards.append(("LUT", _int(lut), source))
    sim = summary.sim
    if sim is None:
        cards.append(("Simulation", DASH, "not run"))
    else:
        cards.append(
            (
                "Simulation",
                "bit-exact" if sim.bit_exact else "MISMATCH",
                f"{sim.inputs:,} inputs"
                + (f" · {sim.simulator}" if sim.simulator else ""),
            )
        )
    cards.append(
        (
            "Compile time",
            _seconds(summary.total_seconds),
            f"{len(summary.stages)} stages",
        )
    )
    return cards


def _accuracy_rows(acc: Accuracy | None) -> list[tuple[str, str, str]]:
    """(metric, float, quantized) rows."""
    if acc is None:
        return []
    return [
        ("Top-1 accuracy", _pct(acc.float_accuracy), _pct(acc.quantized_accuracy)),
        (
            "Top-1 agreement with float",
            "100.00 %" if acc.agreement is not None else DASH,
            _pct(acc.agreement),
        ),
        ("Output SQNR (dB)", "∞", _db(acc.output_sqnr_db)),
        ("Samples", f"{acc.samples:,}", f"{acc.samples:,}"),
    ]


LAYER_HEADERS = (
    "#",
    "Layer",
    "Op",
    "Format",
    "Bits",
    "Weights",
    "MACs",
    "Weight SQNR (dB)",
    "Output SQNR (dB)",
    "LUT",
    "FF",
    "DSP",
    "Cycles",
    "II",
)


def _layer_cells(layer: Layer) -> list[str]:
    fmt = layer.weight_format or DASH
    if layer.granularity:
        fmt += f" / {layer.granularity}"
    return [
        layer.op,
        fmt,
        _bits(layer.bits),
        _int(layer.weights),
        _int(layer.macs),
        _db(layer.weight_sqnr_db),
        _db(layer.output_sqnr_db),
        _int(layer.lut),
        _int(layer.ff),
        _int(layer.dsp),
        _int(layer.cycles),
        _int(layer.ii),
    ]


def _resource_rows(res: Resources | None) -> list[tuple[str, str, str]]:
    rows = []
    for key, label in RESOURCE_NAMES.items():
        est = getattr(res.estimated, key) if res and res.estimated else None
        meas = getattr(res.measured, key) if res and res.measured else None
        rows.append((label, _int(est), _int(meas)))
    return rows


# --------------------------------------------------------------------------- #
# Plots (matplotlib, inline SVG)
# --------------------------------------------------------------------------- #

BLUE, AMBER, SLATE, RED = "#2563eb", "#f59e0b", "#475569", "#dc2626"

_RC = {
    "svg.fonttype": "none",  # text stays text: crisp, searchable, small
    "font.family": "DejaVu Sans",
    "font.size": 8.5,
    "axes.titlesize": 9.5,
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#94a3b8",
    "axes.labelcolor": "#334155",
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#e2e8f0",
    "grid.linewidth": 0.8,
    "xtick.color": SLATE,
    "ytick.color": SLATE,
    "legend.frameon": False,
}


def _svg(draw, size: tuple[float, float], salt: str) -> str:
    """An inline `<svg>` of the figure `draw(fig)` fills: no XML prolog, no
    metadata, no namespace URLs (HTML parses inline SVG without them); ids
    salted per figure so that several figures in one page do not clash."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({**_RC, "svg.hashsalt": salt}):
        fig = Figure(figsize=size)
        draw(fig)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    start, end = text.find("<metadata>"), text.find("</metadata>")
    if start >= 0 and end > start:
        text = text[:start] + text[end + len("</metadata>") :]
    for ns in (
        ' xmlns="http://www.w3.org/2000/svg"',
        ' xmlns:xlink="http://www.w3.org/1999/xlink"',
    ):
        text = text.replace(ns, "", 1)
    return text.replace("<svg ", '<svg role="img" ', 1)


def _sqnr_plot(layers: Sequence[Layer]) -> str | None:
    """Weight and output SQNR per layer as grouped horizontal bars."""
    series = [
        ("weight", BLUE, [ly.weight_sqnr_db for ly in layers]),
        ("output", AMBER, [ly.output_sqnr_db for ly in layers]),
    ]
    finite = [
        v for _, _, vs in series for v in vs if v is not None and math.isfinite(v)
    ]
    if not finite:
        return None
    top = max(max(finite), 1.0) * 1.12

    def draw(fig) -> None:
        ax = fig.add_subplot()
        y = np.arange(len(layers))
        h = 0.38
        for k, (label, color, values) in enumerate(series):
            for i, v in enumerate(values):
                if v is None or math.isnan(v):
                    continue
                exact = math.isinf(v) and v > 0
                width = top if exact else max(v, 0.0)
                pos = y[i] + (k - 0.5) * h
                ax.barh(
                    pos,
                    width,
                    h * 0.92,
                    color=color,
                    hatch="//" if exact else None,
                    alpha=0.55 if exact else 1.0,
                    label=f"{label} SQNR" if i == 0 else None,
                )
                ax.text(
                    width + top * 0.01,
                    pos,
                    "exact" if exact else f"{v:.1f}",
                    va="center",
                    fontsize=7.5,
                    color=SLATE,
                )
        ax.set_yticks(y, [ly.name for ly in layers])
        ax.invert_yaxis()
        ax.set_xlim(0, top * 1.1)
        ax.set_xlabel("SQNR (dB)")
        ax.grid(axis="y", visible=False)
        handles, names = ax.get_legend_handles_labels()
        unique = dict(zip(names, handles, strict=True))
        ax.legend(
            unique.values(),
            unique.keys(),
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
            ncol=2,
            fontsize=8,
        )

    return _svg(draw, (10.4, 1.0 + 0.42 * len(layers)), "sqnr")


def _symlog_ticks(top: float) -> list[float]:
    """0 and +-2^k up to `top`, at most four per side."""
    k_max = max(int(math.log2(top)), 0) if top >= 1 else 0
    step = max(1, math.ceil((k_max + 1) / 4))
    ks = list(range(k_max, -1, -step))[::-1]
    pos = [float(2**k) for k in ks]
    return [-p for p in reversed(pos)] + [0.0] + pos


def _histogram_plot(h: WeightHistogram, index: int) -> str:
    def draw(fig) -> None:
        ax = fig.add_subplot()
        if h.symlog:
            ax.set_xscale("symlog", base=SYMLOG_BASE, linthresh=1, linscale=1)
        ax.stairs(h.counts, h.edges, fill=True, color="#93c5fd", lw=0)
        ax.stairs(h.counts, h.edges, color=BLUE, lw=0.8)
        lines = h.levels if len(h.levels) <= LEVEL_LINES_MAX else h.levels[[0, -1]]
        for level in lines:
            ax.axvline(level, color=AMBER, lw=0.7, alpha=0.9, zorder=0.5)
        lo, hi = float(h.edges[0]), float(h.edges[-1])
        if lo < h.levels[0]:
            ax.axvspan(lo, float(h.levels[0]), color=RED, alpha=0.08, lw=0)
        if hi > h.levels[-1]:
            ax.axvspan(float(h.levels[-1]), hi, color=RED, alpha=0.08, lw=0)
        if h.symlog:  # a margin that shows the extreme level lines
            t_lo, t_hi = _symlog(np.array([lo, hi]))
            pad = 0.02 * (t_hi - t_lo)
            ax.set_xlim(*_symlog_inv(np.array([t_lo - pad, t_hi + pad])))
        else:
            ax.set_xlim(lo - 0.02 * (hi - lo), hi + 0.02 * (hi - lo))
        if h.symlog:
            ticks = _symlog_ticks(float(max(abs(h.levels[0]), abs(h.levels[-1]))))
            ax.set_xticks(ticks, [f"{t:g}".replace("-", "\u2212") for t in ticks])
            ax.minorticks_off()
        ax.grid(axis="x", visible=False)
        ax.set_xlabel("weight / scale (level units)")
        ax.set_ylabel("weights")
        ax.set_title(h.layer, fontsize=9, color="#0f172a")

    return _svg(draw, (5.2, 2.4), f"hist{index}")


def _resource_plot(layers: Sequence[Layer]) -> str | None:
    """Estimated LUT / FF / DSP per layer, one panel each."""
    kinds = [
        (k, RESOURCE_NAMES[k])
        for k in ("lut", "ff", "dsp")
        if any(getattr(ly, k) is not None for ly in layers)
    ]
    if not kinds:
        return None
    from matplotlib.ticker import MaxNLocator

    colors = {"lut": BLUE, "ff": "#0d9488", "dsp": AMBER}

    def draw(fig) -> None:
        axes = fig.subplots(1, len(kinds), sharey=True, squeeze=False)[0]
        y = np.arange(len(layers))
        for ax, (key, label) in zip(axes, kinds, strict=True):
            values = [getattr(ly, key) for ly in layers]
            width = [0 if v is None else v for v in values]
            ax.barh(y, width, 0.62, color=colors[key])
            top = max(width) or 1
            for i, v in enumerate(values):
                ax.text(
                    width[i] + top * 0.02,
                    y[i],
                    DASH if v is None else f"{v:,}",
                    va="center",
                    fontsize=7.5,
                    color=SLATE,
                )
            ax.set_xlim(0, top * 1.3)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
            ax.set_title(label)
            ax.grid(axis="y", visible=False)
        axes[0].set_yticks(y, [ly.name for ly in layers])
        axes[0].invert_yaxis()

    return _svg(draw, (10.4, 0.9 + 0.36 * len(layers)), "resources")


# --------------------------------------------------------------------------- #
# report.html
# --------------------------------------------------------------------------- #


def _css() -> str:
    """The page's style sheet (tools/report.css, inlined into the page)."""
    from importlib.resources import files

    return files("qopt.tools").joinpath("report.css").read_text(encoding="utf-8")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: Iterable[int] = (),
    cls: str = "",
) -> str:
    """An HTML table of already escaped cells; `numeric` columns align right."""
    num = set(numeric)
    head = "".join(
        f'<th class="n">{_e(h)}</th>' if i in num else f"<th>{_e(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{c}</td>' if i in num else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _bar(fraction: float) -> str:
    """A horizontal bar filled to `fraction` (CSS only)."""
    return f'<div class="bar"><span style="width:{100 * fraction:.1f}%"></span></div>'


def _section(sid: str, body: str, note: str = "") -> str:
    title = dict(SECTIONS)[sid]
    sub = f'<span class="sub">{_e(note)}</span>' if note else ""
    return (
        f'<section id="{sid}"><div class="head"><h2>{_e(title)}</h2>{sub}</div>'
        f"{body}</section>"
    )


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def _html_summary(summary: Summary) -> str:
    cards = []
    for title, value, detail in _summary_cards(summary):
        state = ""
        if title == "Simulation" and summary.sim is not None:
            state = " good" if summary.sim.bit_exact else " bad"
        cards.append(
            f'<div class="card{state}"><div class="k">{_e(title)}</div>'
            f'<div class="v">{_e(value)}</div><div class="s">{_e(detail)}</div></div>'
        )
    return _section("summary", f'<div class="cards">{"".join(cards)}</div>')


def _html_accuracy(summary: Summary) -> str:
    rows = _accuracy_rows(summary.accuracy)
    if not rows:
        return _section("accuracy", '<p class="note">No accuracy check was run.</p>')
    cells = [(_e(m), _e(f), _e(qv)) for m, f, qv in rows]
    table = _table(("Metric", "Float", "Quantized"), cells, (1, 2), "narrow")
    note = ""
    if summary.accuracy and summary.accuracy.float_accuracy is None:
        note = '<p class="note">No labels were given: only the agreement is known.</p>'
    return _section("accuracy", table + note, "quantized model vs the float model")


def _html_layers(summary: Summary) -> str:
    if not summary.layers:
        return _section("layers", '<p class="note">No weight layers.</p>')
    rows = []
    for i, layer in enumerate(summary.layers):
        name = f'<span class="mono">{_e(layer.name)}</span>'
        if layer.location:
            name += f'<br><span class="muted">{_e(layer.location)}</span>'
        cells = [_e(c) for c in _layer_cells(layer)]
        cells[1] = _e(layer.weight_format or DASH)
        if layer.granularity:
            per = f"per {_e(layer.granularity)}"
            cells[1] += f'<br><span class="muted nowrap">{per}</span>'
        rows.append([str(i), name, *cells])
    table = _table(LAYER_HEADERS, rows, (0, *range(4, len(LAYER_HEADERS))))
    body = f'<div class="scroll">{table}</div>'
    plot = _sqnr_plot(summary.layers)
    if plot is not None:
        body += f'<figure class="plot" id="sqnr-plot">{plot}</figure>'
    note = (
        "output SQNR: accumulator vs float layer output, "
        "errors of earlier layers included"
    )
    return _section("layers", body, note)


def _html_weights(histograms: Sequence[WeightHistogram]) -> str:
    if not histograms:
        return _section("weights", '<p class="note">No weight histograms.</p>')
    legend = (
        '<div class="legend"><span><i style="background:#93c5fd"></i>float weights '
        '(÷ channel scale)</span><span><i style="background:#f59e0b;height:2px"></i>'
        'levels of the format</span><span><i style="background:rgba(220,38,38,.15)">'
        "</i>beyond the extreme levels (clipped)</span></div>"
    )
    figures = []
    for i, h in enumerate(histograms):
        caption = (
            f"{h.weight_format} · {h.total:,} weights · {len(h.levels)} levels, "
            f"{int(np.count_nonzero(h.level_counts))} used · "
            f"{h.beyond:,} beyond the range"
        )
        figures.append(
            f'<figure id="weights-{_slug(h.layer)}">{_histogram_plot(h, i)}'
            f"<figcaption>{_e(caption)}</figcaption></figure>"
        )
    return _section("weights", legend + f'<div class="hists">{"".join(figures)}</div>')


def _html_resources(summary: Summary) -> str:
    res = summary.resources
    rows = [(_e(a), _e(b), _e(c)) for a, b, c in _resource_rows(res)]
    body = _table(("Resource", "Estimated", "Measured"), rows, (1, 2), "narrow")
    if res is not None and res.tool:
        body += f'<p class="note">Measured with {_e(res.tool)}.</p>'
    plot = _resource_plot(summary.layers)
    if plot is None:
        body += (
            '<p class="note">No per-layer estimates '
            "(the hardware stages did not run).</p>"
        )
    else:
        body += f'<h3>Per layer (estimated)</h3><figure class="plot">{plot}</figure>'
    return _section("resources", body)


def _html_pipeline(summary: Summary) -> str:
    worst = _bottleneck(summary.layers)
    top = worst.ii if worst is not None and worst.ii else None
    nodes = ['<div class="node io">input</div>']
    for layer in summary.layers:
        cls = "node worst" if layer is worst else "node"
        bar = ""
        if top is not None and layer.ii is not None:
            bar = _bar(layer.ii / top)
        cycles = f" · {layer.cycles:,} cycles" if layer.cycles is not None else ""
        nodes.append(
            f'<div class="{cls}"><div class="t">{_e(layer.name)}</div>'
            f'<div class="o">{_e(layer.op)} · {_e(layer.weight_format or DASH)}</div>'
            f'<div class="ii">II {_e(_int(layer.ii))}{_e(cycles)}</div>{bar}</div>'
        )
    nodes.append('<div class="node io">output</div>')
    flow = '<span class="arrow">→</span>'.join(nodes)
    lines = []
    if worst is not None:
        lines.append(
            f"Throughput: one sample every {worst.ii:,} cycles "
            f'(bottleneck <span class="mono">{_e(worst.name)}</span>).'
        )
    else:
        lines.append("Initiation intervals: — (the hardware stages did not run).")
    if summary.target_ii is not None:
        lines.append(f"Target II: {summary.target_ii:,} cycles.")
    sim = summary.sim
    if sim is not None:
        verdict = (
            '<span class="ok">bit-exact</span>'
            if sim.bit_exact
            else f'<span class="fail">{_e(_int(sim.mismatches))} mismatches</span>'
        )
        lines.append(
            f"Simulation{' (' + _e(sim.simulator) + ')' if sim.simulator else ''}: "
            f"{sim.inputs:,} inputs, {verdict}, "
            f"{_e(_int(sim.cycles_per_inference))} cycles per inference."
        )
    text = "".join(f'<p class="note">{line}</p>' for line in lines)
    return _section("pipeline", f'<div class="flow">{flow}</div>{text}')


def _html_stages(summary: Summary) -> str:
    if not summary.stages:
        return _section("stages", '<p class="note">No stages were run.</p>')
    longest = max((s.seconds for s in summary.stages), default=0.0) or 1.0
    total = summary.total_seconds or 1.0
    head = (
        '<th class="n">#</th><th>Stage</th><th>IR after the stage</th>'
        '<th class="n">Time</th><th>Share of the total</th>'
    )
    rows = []
    for i, s in enumerate(summary.stages):
        ir = (
            f'<a class="mono" href="{_e(s.ir_file)}">{_e(s.ir_file)}</a>'
            if s.ir_file
            else DASH
        )
        share = f"<span>{s.seconds / total:.0%}</span>"
        joined = ' class="stage"' if s.command is not None else ""
        bar = f'<div class="share">{_bar(s.seconds / longest)}{share}</div>'
        rows.append(
            f'<tr{joined}><td class="n">{i}</td><td>{_e(s.name)}</td>'
            f'<td>{ir}</td><td class="n">{_e(_seconds(s.seconds))}</td>'
            f"<td>{bar}</td></tr>"
        )
        if s.command is not None:
            rows.append(
                '<tr class="cmd"><td></td><td colspan="4">'
                f"<code>{_e(s.command)}</code></td></tr>"
            )
    table = (
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return _section(
        "stages",
        table,
        f"total {_seconds(summary.total_seconds)} · commands reproduce each stage",
    )


def _qopt_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qopt")
    except PackageNotFoundError:
        return "(not installed)"


def render_html(summary: Summary, histograms: Sequence[WeightHistogram] = ()) -> str:
    """report.html: one self-contained page (no external resources)."""
    chips = [("target II", str(summary.target_ii))] if summary.target_ii else []
    chips += list(summary.options.items())
    if summary.design:
        chips.append(("design", summary.design))
    chip_html = "".join(f"<li>{_e(k)} <b>{_e(v)}</b></li>" for k, v in chips)
    nav = "".join(f'<a href="#{sid}">{_e(title)}</a>' for sid, title in SECTIONS)
    sections = [
        _html_summary(summary),
        _html_accuracy(summary),
        _html_layers(summary),
        _html_weights(histograms),
        _html_resources(summary),
        _html_pipeline(summary),
        _html_stages(summary),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>qopt report · {_e(summary.model)}</title>\n<style>{_css()}</style>\n"
        '</head>\n<body>\n<header class="top"><div class="wrap">'
        '<div class="brand">qopt compile report</div>'
        f'<h1>{_e(summary.model)}</h1><ul class="chips">{chip_html}</ul>'
        f"<nav>{nav}</nav></div></header>\n"
        f'<main class="wrap">\n{chr(10).join(sections)}\n</main>\n'
        f'<footer class="wrap">Generated by qopt {_e(_qopt_version())} · '
        f"summary.json schema version {SCHEMA_VERSION}</footer>\n</body>\n</html>\n"
    )


# --------------------------------------------------------------------------- #
# report.md
# --------------------------------------------------------------------------- #


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric=()) -> str:
    num = set(numeric)
    lines = [
        "| " + " | ".join(_md_cell(h) for h in headers) + " |",
        "|"
        + "|".join("---:" if i in num else "---" for i in range(len(headers)))
        + "|",
    ]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _md_link(path: str | None) -> str:
    if not path:
        return DASH
    target = "/".join(Path(path).parts)  # relative, forward slashes
    return f"[{path}]({target.replace(' ', '%20')})"


def render_markdown(
    summary: Summary, histograms: Sequence[WeightHistogram] = ()
) -> str:
    """report.md: the tables of report.html, relative links to the files."""
    out = [f"# qopt report: {summary.model}", ""]
    facts = [f"`{k}={v}`" for k, v in summary.options.items()]
    if summary.target_ii:
        facts.insert(0, f"target II {summary.target_ii}")
    if summary.design:
        facts.append(f"design {_md_link(summary.design)}")
    facts.append("[report.html](report.html)")
    facts.append("[summary.json](summary.json)")
    out += [" · ".join(facts), ""]
    titles = dict(SECTIONS)

    def section(sid: str, *body: str) -> None:
        out.extend([f"## {titles[sid]}", "", *body, ""])

    section(
        "summary",
        _md_table(("Item", "Value", "Detail"), _summary_cards(summary)),
    )
    rows = _accuracy_rows(summary.accuracy)
    section(
        "accuracy",
        _md_table(("Metric", "Float", "Quantized"), rows, (1, 2))
        if rows
        else "No accuracy check was run.",
    )
    layer_rows = [
        [str(i), f"`{ly.name}`", *_layer_cells(ly)]
        for i, ly in enumerate(summary.layers)
    ]
    section(
        "layers",
        _md_table(LAYER_HEADERS, layer_rows, (0, *range(4, len(LAYER_HEADERS))))
        if layer_rows
        else "No weight layers.",
    )
    hist_rows = [
        (
            f"`{h.layer}`",
            h.weight_format,
            f"{h.total:,}",
            str(len(h.levels)),
            str(int(np.count_nonzero(h.level_counts))),
            f"{h.beyond:,}",
        )
        for h in histograms
    ]
    section(
        "weights",
        _md_table(
            ("Layer", "Format", "Weights", "Levels", "Used", "Beyond range"),
            hist_rows,
            (2, 3, 4, 5),
        )
        + "\n\nHistograms with the levels of each format: "
        "[report.html](report.html#weights)."
        if hist_rows
        else "No weight histograms.",
    )
    res = summary.resources
    extra = f"\n\nMeasured with {res.tool}." if res is not None and res.tool else ""
    section(
        "resources",
        _md_table(("Resource", "Estimated", "Measured"), _resource_rows(res), (1, 2))
        + extra,
    )
    worst = _bottleneck(summary.layers)
    pipe_rows = [
        (
            f"`{ly.name}`",
            ly.op,
            _int(ly.ii),
            _int(ly.cycles),
            "bottleneck" if ly is worst else "",
        )
        for ly in summary.layers
    ]
    lines = [_md_table(("Layer", "Op", "II", "Cycles", ""), pipe_rows, (2, 3))]
    if summary.target_ii is not None:
        lines.append(f"\nTarget II: {summary.target_ii:,} cycles.")
    if summary.sim is not None:
        s = summary.sim
        verdict = "bit-exact" if s.bit_exact else f"{_int(s.mismatches)} mismatches"
        lines.append(
            f"\nSimulation: {s.inputs:,} inputs, {verdict}, "
            f"{_int(s.cycles_per_inference)} cycles per inference."
        )
    section("pipeline", *lines)
    stage_rows = [
        (str(i), s.name, _seconds(s.seconds), _md_link(s.ir_file))
        for i, s in enumerate(summary.stages)
    ]
    commands = []
    for s in summary.stages:
        if s.command:
            commands += [f"{s.name}:", "", "```sh", s.command, "```", ""]
    section(
        "stages",
        _md_table(("#", "Stage", "Time", "IR"), stage_rows, (0, 2)),
        f"\nTotal: {_seconds(summary.total_seconds)}.\n",
        *commands,
    )
    return "\n".join(out).rstrip() + "\n"


def write_report(
    summary: Summary,
    out_dir: str | os.PathLike[str],
    histograms: Sequence[WeightHistogram] = (),
) -> list[Path]:
    """Write summary.json, report.md and report.html into `out_dir` (made if
    needed), each atomically; all three are rendered before any is written.
    Returns their paths; raises ToolError when the folder is not writable."""
    folder = Path(out_dir)
    files = {
        "summary.json": summary.to_json(),
        "report.md": render_markdown(summary, histograms),
        "report.html": render_html(summary, histograms),
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ToolError(f"cannot create '{folder}': {e.strerror or e}") from None
    paths = []
    for name, text in files.items():
        write_atomically(str(folder / name), text)
        paths.append(folder / name)
    return paths
