"""`qopt-mixed-precision`: intra-layer mixed-precision weights (`!q.mixed`).

    qopt-opt m.mlir --pass-pipeline='builtin.module(qopt-calibrate{data=c.npz},
        qopt-mixed-precision{avg-bits=2.5 granularity=row low=int2 high=int8},
        qopt-quantize)'

For every layer with constant weights, a few sensitive weights get the
`high` format and the rest the `low` one, at a hardware-friendly
granularity, within a budget of `avg-bits` storage bits per weight counted
as `!q.mixed` counts them (each element at its format's code width, the map
excluded: `MixedType.average_bits`). The pass records the decision on the
layer as `q.weight_type = !q.mixed<[iL<-qL:qL> << s, iH<-qH:qH>]:f32:axis,
{scales}, MAP>`, and `qopt-quantize` quantizes the weights to exactly that
type (whatever its `weights` option says).

Layout: the weight as `qopt-quantize` sees it: conv OIHW (scales per output
channel, axis 0); gemm W = alpha·B' as [K, N] and a constant 2-D matmul
operand [K, N] (scales per column, axis 1). So `row` is one output channel
of a conv but one *input feature* of a matrix (all its neurons), and
`block:N` is N consecutive elements of the last axis (kernel width of a
conv, output neurons of a matrix; N must divide it).

Granularity (`granularity`): `row`, `block:N`, `outliers` or
`outliers:F` (at most a fraction F of the weights are outliers).

Budget, per layer (so the whole model meets it too): with n weights and
code widths bL < bH, the number of high elements is the largest
h <= (avg-bits - bL)·n / (bH - bL) that the granularity allows (whole rows
or blocks; single elements for outliers, also at most floor(F·n)). So the
layer's average bL + (bH - bL)·h/n never exceeds avg-bits, and one more
unit would. avg-bits below bL is an error; at or above bH all are high.

Scores (the units with the largest scores get `high`):

- `criterion=magnitude`: row/block: the squared quantization error of the
  unit under the low format, sum (w - Q_low(w))^2; outliers: |w|;
- `criterion=hessian` (option `data` required, same archive as
  qopt-calibrate): a second-order estimate: h_i · (w_i - Q_low(w_i))^2
  summed over the unit (per element for outliers), where h_i ≈ E[x_k^2] is
  the diagonal of the layer's Hessian for the input feature k that w_i
  multiplies (gemm/matmul: feature k of the input row; conv: input channel,
  averaged over samples and pixels), measured by running the entry function
  on the data with the reference executor. A layer the data does not
  reach is left alone.

Scales. Q_low uses, per channel, the low step t_c minimising the squared
error over the channel (candidates max|w|/qL · 2^(-j/32), j = 0..127). After
the assignment t_c is searched again over the channel's low elements only.
The type has one shift s per layer for the low format: the channel scale
is sc = max(t_c / 2^s, max|w_c| / qH) (the high format covers the
channel's largest weight), the low levels are multiples of 2^s, and s in
0..16 minimises the layer's total squared error (h-weighted for hessian).

Formats: `low`, `high` are int2..int16 (symmetric narrow range, as
qopt-quantize's intN), low narrower than high. Layers: `nn.conv2d`
(constant 4-D weight), `nn.gemm` (transA false, constant 2-D B),
`nn.matmul` with a constant 2-D right operand; layers that already carry
`q.weight_scales` or `q.weight_type` are skipped.

Options: avg-bits (2.5), granularity (row), low (int2), high (int8),
criterion (magnitude), data, batch-size (256), entry. Errors (bad options,
a block size that does not divide a layer, missing data) are one line.

Requires: `nn` IR; qopt-quantize afterwards (weight-granularity=channel).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.interpreter import Interpreter, PythonValues
from xdsl.ir import Operation, OpResult, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import InterpretationError, PassFailedException

from qopt.backends.reference.nn import dense_to_numpy, numpy_dtype
from qopt.passes.calibrate import CalibrationError, load_calibration_data
from qopt.passes.entry import entry_function
from qopt.passes.quant_formats import (
    WEIGHT_SCALES_ATTR,
    WEIGHT_TYPE_ATTR,
    WeightFormat,
    parse_weight_format,
)
from qopt.qdialect import nn
from qopt.qdialect.qtypes import LevelsAttr, MixedType
from qopt.qdialect.shapes import DYN

SEARCH_STEPS = 128
STEPS_PER_OCTAVE = 32
MAX_SHIFT = 16


class MixedPrecisionError(Exception):
    """Bad input; the message is one line."""


@dataclass(frozen=True)
class Granularity:
    kind: str  # row, block, outliers
    block: int = 0
    fraction: float = 1.0


def parse_mixed_granularity(text: str) -> Granularity:
    text = text.strip()
    if text in ("row", "outliers"):
        return Granularity(text)
    m = re.fullmatch(r"block:([0-9]+)", text)
    if m and int(m.group(1)) >= 1:
        return Granularity("block", int(m.group(1)))
    m = re.fullmatch(r"outliers:([0-9.eE+-]+)", text)
    if m:
        try:
            f = float(m.group(1))
        except ValueError:
            f = -1.0
        if 0.0 <= f <= 1.0:
            return Granularity("outliers", 0, f)
    raise ValueError(
        f"unknown granularity '{text}' (row, block:N, outliers, outliers:F "
        "with 0 <= F <= 1)"
    )


def _int_format(name: str, option: str) -> WeightFormat:
    fmt = parse_weight_format(name)
    if fmt.kind != "int":
        raise ValueError(f"option '{option}' must be int2..int16, got '{name}'")
    return fmt


# --------------------------------------------------------------------------- #
# numerics (on the weight in channels-first form [C, rest])
# --------------------------------------------------------------------------- #


def _round_low(rows: np.ndarray, t: np.ndarray, q: int) -> np.ndarray:
    safe = np.where(t > 0, t, 1.0)[:, None]
    return np.clip(np.rint(rows / safe), -q, q) * safe


def low_steps(rows: np.ndarray, q: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Per row, the step t minimising sum over `mask` of (w - t·clip(rint(w/t)))^2."""
    a = np.abs(rows)
    if mask is not None:
        a = np.where(mask, a, 0.0)
    amax = a.max(axis=1) if rows.size else np.zeros(len(rows))
    base = amax / q
    best = np.full(len(rows), np.inf)
    chosen = base.copy()
    for k in range(SEARCH_STEPS):
        t = base * 2.0 ** (-k / STEPS_PER_OCTAVE)
        err = (rows - _round_low(rows, t, q)) ** 2
        if mask is not None:
            err = np.where(mask, err, 0.0)
        err = err.sum(axis=1)
        better = err < best
        best = np.where(better, err, best)
        chosen = np.where(better, t, chosen)
    return np.where(amax > 0, chosen, 0.0)


def budget_units(
    avg: float,
    low_bits: int,
    high_bits: int,
    units: int,
    size: int,
    cap: int | None = None,
) -> int:
    """Largest number of high units (of `size` elements each, `units` in all)
    within an average of `avg` bits per element."""
    n = units * size
    if avg < low_bits:
        raise ValueError(f"avg-bits {avg} is below the low format's {low_bits} bits")
    # exact integer arithmetic on (avg - low) * n / (high - low) / size
    frac = (avg - low_bits) * n / ((high_bits - low_bits) * size)
    h = min(units, math.floor(frac + 1e-9))
    while h > 0 and low_bits * n + (high_bits - low_bits) * h * size > avg * n:
        h -= 1
    if cap is not None:
        h = min(h, cap)
    return max(h, 0)


@dataclass
class Decision:
    qtype: MixedType
    high: np.ndarray  # boolean, weight layout: element is high precision


def decide(
    w: np.ndarray,
    axis: int,
    low: WeightFormat,
    high: WeightFormat,
    gran: Granularity,
    avg_bits: float,
    hess: np.ndarray | None = None,
    expressed=None,
) -> Decision:
    """The mixed type of the weight `w` (quantize layout, scales on `axis`)."""
    w = np.asarray(w, dtype=np.float64)
    shape = w.shape
    n = w.size
    h_w = np.ones_like(w) if hess is None else np.broadcast_to(hess, shape)
    q_lo = (1 << (low.bits - 1)) - 1
    q_hi = (1 << (high.bits - 1)) - 1
    rows = np.moveaxis(w, axis, 0).reshape(shape[axis], -1)
    h_rows = np.moveaxis(h_w, axis, 0).reshape(shape[axis], -1)
    t = low_steps(rows, q_lo)
    err_rows = h_rows * (rows - _round_low(rows, t, q_lo)) ** 2
    moved = (shape[axis], *tuple(d for i, d in enumerate(shape) if i != axis))
    err = np.moveaxis(err_rows.reshape(moved), 0, axis)

    if gran.kind == "outliers":
        score = (np.abs(w) if hess is None else err).reshape(-1)
        cap = math.floor(gran.fraction * n + 1e-9)
        count = budget_units(avg_bits, low.bits, high.bits, n, 1, cap)
        order = np.argsort(-score, kind="stable")
        assignment = np.sort(order[:count])
        high_mask = np.zeros(n, dtype=bool)
        high_mask[assignment] = True
        high_mask = high_mask.reshape(shape)
    else:
        if gran.kind == "row":
            units = shape[0]
        else:
            if shape[-1] % gran.block:
                raise ValueError(
                    f"block size {gran.block} does not divide the last weight "
                    f"axis ({shape[-1]})"
                )
            units = n // gran.block
        size = n // units
        score = err.reshape(units, size).sum(axis=1)
        count = budget_units(avg_bits, low.bits, high.bits, units, size)
        order = np.argsort(-score, kind="stable")
        assignment = np.zeros(units, dtype=np.int64)
        assignment[order[:count]] = 1
        high_mask = np.repeat(assignment.astype(bool), size).reshape(shape)

    mask_rows = np.moveaxis(high_mask, axis, 0).reshape(shape[axis], -1)
    low_rows = ~mask_rows
    t2 = low_steps(rows, q_lo, low_rows)
    t = np.where(low_rows.any(axis=1), t2, t)
    amax = np.abs(rows).max(axis=1) if rows.size else np.zeros(len(rows))
    floor_scale = amax / q_hi
    best = (np.inf, 0, None)
    for s in range(MAX_SHIFT + 1):
        sc = np.maximum(t / 2.0**s, floor_scale)
        sc = np.where(sc > 0, sc, 1.0)
        lo_val = np.clip(np.rint(rows / sc[:, None] / 2.0**s), -q_lo, q_lo)
        lo_val = lo_val * 2.0**s * sc[:, None]
        hi_val = np.clip(np.rint(rows / sc[:, None]), -q_hi, q_hi) * sc[:, None]
        e = (h_rows * (rows - np.where(mask_rows, hi_val, lo_val)) ** 2).sum()
        if e < best[0]:
            best = (e, s, sc)
    _, shift, scales = best
    formats = [
        LevelsAttr.int_(low.bits, True, -q_lo, q_lo, shift=shift),
        LevelsAttr.int_(high.bits, True, -q_hi, q_hi),
    ]
    qtype = MixedType(
        formats,
        gran.kind,
        assignment,
        [float(x) for x in scales],
        block_size=gran.block if gran.kind == "block" else 0,
        axis=axis,
        expressed=expressed,
    )
    return Decision(qtype, high_mask)


# --------------------------------------------------------------------------- #
# layers and data
# --------------------------------------------------------------------------- #


def _const(value: SSAValue | None) -> np.ndarray | None:
    if not isinstance(value, OpResult) or not isinstance(value.op, nn.ConstantOp):
        return None
    array = dense_to_numpy(value.op.value)
    if not np.issubdtype(array.dtype, np.floating):
        return None
    return array.astype(np.float64)


def layer_weight(op: Operation) -> tuple[np.ndarray, int, SSAValue] | None:
    """(weight as qopt-quantize sees it, its scale axis, layer input)."""
    if WEIGHT_SCALES_ATTR in op.attributes or WEIGHT_TYPE_ATTR in op.attributes:
        return None
    if isinstance(op, nn.Conv2dOp):
        w = _const(op.weight)
        return (w, 0, op.input) if w is not None and w.ndim == 4 else None
    if isinstance(op, nn.GemmOp):
        alpha, _, trans_a, trans_b = op.attrs
        b = _const(op.b)
        if trans_a or b is None or b.ndim != 2:
            return None
        w = (b.T if trans_b else b) * float(np.float32(alpha))
        return w, 1, op.a
    if isinstance(op, nn.MatMulOp):
        w = _const(op.rhs)
        if w is None or w.ndim != 2 or _const(op.lhs) is not None:
            return None
        return w, 1, op.lhs
    return None


class _SquareMeans(Interpreter.Listener):
    """Accumulates E[x^2] per input feature of the target layers."""

    def __init__(self, targets: dict[int, Operation]):
        self.targets = targets
        self.sums: dict[int, np.ndarray] = {}
        self.counts: dict[int, int] = {}

    def will_interpret_op(self, op: Operation, args: PythonValues) -> None:
        if id(op) not in self.targets:
            return
        x = np.asarray(args[0], dtype=np.float64)
        if isinstance(op, nn.Conv2dOp):
            s = (x * x).sum(axis=(0, 2, 3))
            c = x.shape[0] * x.shape[2] * x.shape[3]
        else:
            flat = x.reshape(-1, x.shape[-1])
            s = (flat * flat).sum(axis=0)
            c = flat.shape[0]
        key = id(op)
        self.sums[key] = s if key not in self.sums else self.sums[key] + s
        self.counts[key] = self.counts.get(key, 0) + c

    def hessian(self, op: Operation, w: np.ndarray) -> np.ndarray | None:
        key = id(op)
        if key not in self.sums:
            return None
        ex2 = self.sums[key] / max(self.counts[key], 1)
        if isinstance(op, nn.Conv2dOp):
            group = op.attrs[3]
            o, cg = w.shape[0], w.shape[1]
            g = np.arange(o) // (o // group)
            chans = g[:, None] * cg + np.arange(cg)[None, :]
            return ex2[chans][:, :, None, None]
        return ex2[:, None]


def _measure(
    module: ModuleOp,
    fn: func.FuncOp,
    data: str,
    batch_size: int,
    listener: _SquareMeans,
) -> None:
    from qopt.backends.reference.runner import interpreter_for

    arrays = load_calibration_data(data, fn)
    types = fn.function_type.inputs.data
    dtypes = [numpy_dtype(t.element_type) for t in types]  # type: ignore[attr-defined]
    static = {
        t.get_shape()[0]
        for t in types
        if isinstance(t, TensorType) and t.get_shape()[0] != DYN
    }
    size = static.pop() if static else batch_size
    samples = arrays[0].shape[0]
    if samples % size and static:
        raise MixedPrecisionError(
            f"the data has {samples} samples, not a multiple of the static "
            f"batch size {size}"
        )
    interpreter = interpreter_for(module, listener)
    name = fn.sym_name.data
    for start in range(0, samples, size):
        inputs = tuple(
            np.asarray(a[start : start + size]).astype(d, copy=False)
            for a, d in zip(arrays, dtypes, strict=True)
        )
        try:
            with np.errstate(all="ignore"):
                interpreter.call_op(name, inputs)
        except (InterpretationError, IndexError, TypeError, ArithmeticError) as e:
            raise MixedPrecisionError(
                f"running @{name} on the data failed: {' '.join(str(e).split())}"
            ) from None


@dataclass(frozen=True)
class MixedPrecisionPass(ModulePass):
    """Intra-layer mixed precision: per layer, the most sensitive rows,
    blocks or outlier weights get the `high` format and the rest the `low`
    one within `avg-bits` bits per weight; records `q.weight_type =
    !q.mixed<...>` on the layer, which qopt-quantize then emits. The module
    docstring gives the budget, the criteria and the scales.

    Requires: `nn` IR (and `data` for criterion=hessian); qopt-quantize after.
    """

    name = "qopt-mixed-precision"

    avg_bits: float = 2.5
    granularity: str = "row"
    low: str = "int2"
    high: str = "int8"
    criterion: str = "magnitude"
    data: str | None = None
    batch_size: int = 256
    entry: str | None = None

    def __post_init__(self) -> None:
        parse_mixed_granularity(self.granularity)
        lo = _int_format(self.low, "low")
        hi = _int_format(self.high, "high")
        if lo.bits >= hi.bits:
            raise ValueError(
                f"option 'low' ({self.low}) must be narrower than 'high' ({self.high})"
            )
        if not (math.isfinite(self.avg_bits) and self.avg_bits >= lo.bits):
            raise ValueError(
                f"option 'avg-bits' must be at least the low format's {lo.bits} "
                f"bits, got {self.avg_bits}"
            )
        if self.criterion not in ("magnitude", "hessian"):
            raise ValueError(
                f"unknown criterion '{self.criterion}' (magnitude, hessian)"
            )
        if self.criterion == "hessian" and self.data is None:
            raise ValueError("criterion=hessian needs option 'data'")
        if self.batch_size < 1:
            raise ValueError(f"option 'batch-size' must be >= 1, got {self.batch_size}")

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        gran = parse_mixed_granularity(self.granularity)
        lo = _int_format(self.low, "low")
        hi = _int_format(self.high, "high")
        try:
            fn = entry_function(op, self.entry, "mix", MixedPrecisionError)
            layers = [
                (layer, found)
                for layer in fn.body.walk()
                if (found := layer_weight(layer)) is not None
            ]
            listener = _SquareMeans({id(layer): layer for layer, _ in layers})
            if self.criterion == "hessian":
                assert self.data is not None
                _measure(op, fn, self.data, self.batch_size, listener)
            for layer, (w, axis, _) in layers:
                hess = None
                if self.criterion == "hessian":
                    hess = listener.hessian(layer, w)
                    if hess is None:
                        continue  # not reached by the data
                elt = layer.results[0].type.element_type  # type: ignore[attr-defined]
                try:
                    d = decide(w, axis, lo, hi, gran, self.avg_bits, hess, elt)
                except ValueError as e:
                    name = layer.results[0].name_hint
                    where = f"'{layer.name}'" + (f" %{name}" if name else "")
                    raise MixedPrecisionError(f"{where}: {e}") from None
                layer.attributes[WEIGHT_TYPE_ATTR] = d.qtype
        except (MixedPrecisionError, CalibrationError) as e:
            raise PassFailedException(" ".join(str(e).split())) from None
