"""The lowered digits designs in Verilator, bit for bit against the `q` executor.

For the trained digits MLP and LeNet (seed 0; ONNX export and import,
nn-fold-batchnorm, qopt-calibrate on 256 training inputs) quantized with
int8, pot4, spot2 and two kinds of mixed (qopt-mixed-precision) weights,
`lower_to_hw`
builds the hw/comb/seq design; qopt's SystemVerilog of it streams 1024
inputs through Verilator with light and heavy random input gaps and output
stalls (and once without), and every output level must equal the `q`
reference executor's.
The inputs are the design's input levels: 4 patterns at the extremes of the
input type (all minimum, all maximum, alternating both ways), 60 random
mixes of the two extremes, 200 uniformly random levels and 760 quantized,
augmented test images, shuffled.

Also: CIRCT parses and verifies every design, CIRCT's exported SystemVerilog
simulates with the same handshakes in the same cycles, and without stalls
the measured latency and cycles per inference are within 5% of the model's
(`HwDesign.latency`, `HwDesign.ii`), one inference per II in steady state.
`qopt sim` runs a lowered design on q levels through its sidecar.

Each design is lowered, emitted and built once (module-scoped caches). The
default run covers every weight format on the MLP and int8 / pot4 on LeNet;
the other LeNet designs and CIRCT's exports beyond two designs are `slow`.
Tests skip with the reason when Verilator or the circt wheel is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import FunctionType, ModuleOp
from xdsl.dialects.hw import HWModuleOp

from qopt.backends.reference.runner import run_function
from qopt.backends.rtl import ToolMissingError
from qopt.passes.entry import entry_function
from qopt.passes.lower_dataflow import LowerDataflowPass
from qopt.qdialect import dataflow as df
from qopt.qdialect import q
from qopt.qdialect.qtypes import QuantizedType
from qopt.tools.qopt_opt import all_dialects

MODELS = {"digits-mlp": 64, "digits-lenet": 256}
"""The models and the target II of their designs (cycles per inference)."""

WEIGHTS = ("int8", "pot4", "spot2", "mixed", "mixed-outliers")
"""mixed: int2 rows with int8 rows; mixed-outliers: int2 with int8 outliers
(a side path); both at most 2.5 bits per weight (qopt-mixed-precision)."""

DEFAULT = {
    ("digits-mlp", "int8"),
    ("digits-mlp", "pot4"),
    ("digits-mlp", "spot2"),
    ("digits-mlp", "mixed"),
    ("digits-lenet", "int8"),
    ("digits-lenet", "pot4"),
}
"""Designs in the default run; the others are marked slow."""

CIRCT_DEFAULT = {("digits-mlp", "int8"), ("digits-lenet", "pot4")}
"""Designs whose CIRCT export is simulated in the default run."""

EXTREMES, MIXES, UNIFORM, IMAGES = 4, 60, 200, 760
"""The inputs: extreme patterns, random min/max mixes, uniform levels, images."""

STALLS = {"none": (0.0, 0.0), "light": (0.3, 0.3), "heavy": (0.8, 0.9)}
"""Probabilities of an input gap and of an output stall per cycle. Heavy
stalls set the pace: LeNet starves (its 64 input beats take 320 cycles on
average, more than its II), the MLP is held back (its 10 output beats take
100 cycles, more than its II) and backpressure reaches its first unit."""

TOLERANCE = 0.05
"""Measured cycles within this fraction of the model's."""


def _cases(default: set[tuple[str, str]]) -> list:
    return [
        pytest.param(
            name,
            weights,
            id=f"{name}-{weights}",
            marks=() if (name, weights) in default else pytest.mark.slow,
        )
        for name in MODELS
        for weights in WEIGHTS
    ]


CASES = _cases(DEFAULT)
CIRCT_CASES = _cases(CIRCT_DEFAULT)


# --------------------------------------------------------------------------- #
# The q reference on levels
# --------------------------------------------------------------------------- #


def _boundary(ctx: Context, qm: ModuleOp) -> str:
    """Name of the q value the design streams in (the dataflow.input's operand)."""
    lowered = qm.clone()
    LowerDataflowPass().apply(ctx, lowered)
    ports = [op for op in lowered.walk() if isinstance(op, df.InputOp)]
    assert len(ports) == 1, "one input stream"
    name = ports[0].input.name_hint
    assert name, "the design's input has a name"
    return name


def _value(fn: func.FuncOp, name: str):
    return next(r for op in fn.walk() for r in op.results if r.name_hint == name)


def _drop_dead_ops(fn: func.FuncOp) -> None:
    block = fn.body.block
    for op in reversed(list(block.ops)):
        if op.results and not any(r.uses for r in op.results):
            block.erase_op(op)


def host_part(qm: ModuleOp, boundary: str) -> ModuleOp:
    """The q ops of `qm` up to the design's input: floats -> input levels."""
    m = qm.clone()
    fn = entry_function(m, None, "test", ValueError)
    value = _value(fn, boundary)
    fn.get_return_op().operands = [value]
    fn.function_type = FunctionType.from_lists(
        fn.function_type.inputs.data, [value.type]
    )
    _drop_dead_ops(fn)
    return m


def level_part(qm: ModuleOp, boundary: str) -> ModuleOp:
    """The q ops of `qm` the design implements: input levels -> output levels
    (the function without its q.quantize and q.dequantize)."""
    m = qm.clone()
    fn = entry_function(m, None, "test", ValueError)
    block = fn.body.block
    value = _value(fn, boundary)
    ret = fn.get_return_op()
    outs = [
        r.owner.input if isinstance(r.owner, q.DequantizeOp) else r
        for r in ret.operands
    ]
    ret.operands = outs
    arg = block.insert_arg(value.type, 0)
    value.replace_all_uses_with(arg)
    _drop_dead_ops(fn)
    for old in list(block.args[1:]):
        block.erase_arg(old)
    fn.function_type = FunctionType.from_lists([value.type], [o.type for o in outs])
    fn.arg_attrs = None
    m.verify()
    return m


def input_levels(level_fn: ModuleOp, images: np.ndarray, seed: int = 0) -> np.ndarray:
    """EXTREMES + MIXES + UNIFORM + IMAGES inputs of the design's input type,
    shuffled (`images`: the quantized test images, at least IMAGES)."""
    fn = entry_function(level_fn, None, "test", ValueError)
    typ = fn.function_type.inputs.data[0]
    elem = typ.element_type
    assert isinstance(elem, QuantizedType)
    lo, hi = elem.min_level, elem.max_level
    shape = images.shape[1:]
    rng = np.random.default_rng(seed)
    checker = (np.arange(int(np.prod(shape))) % 2).reshape(shape).astype(bool)
    extremes = np.stack(
        [
            np.full(shape, lo),
            np.full(shape, hi),
            np.where(checker, lo, hi),
            np.where(checker, hi, lo),
        ]
    )
    mixes = np.where(rng.random((MIXES, *shape)) < 0.5, lo, hi)
    uniform = rng.integers(lo, hi + 1, (UNIFORM, *shape))
    picked = images[rng.choice(len(images), IMAGES, replace=False)]
    x = np.concatenate([extremes, mixes, uniform, picked]).astype(np.int64)
    return x[rng.permutation(len(x))]


# --------------------------------------------------------------------------- #
# Designs, built once
# --------------------------------------------------------------------------- #


@dataclass
class Case:
    """One lowered design, its inputs, the reference and the simulations."""

    name: str
    weights: str
    qm: ModuleOp
    design: object  # HwDesign
    x: np.ndarray  # input levels [N, ...]
    want: np.ndarray  # the q executor's output levels [N, ...]
    sv: dict[str, Path] = field(default_factory=dict)
    sims: dict[tuple[str, bool], object] = field(default_factory=dict)

    @property
    def beats(self) -> np.ndarray:
        return self.design.to_beats(self.x)

    def levels(self, result) -> np.ndarray:
        return self.design.from_beats(result.outputs)


@pytest.fixture(scope="module")
def ctx() -> Context:
    ctx = Context()
    for name, factory in all_dialects().items():
        ctx.register_dialect(name, factory)
    return ctx


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> Path:
    """Build cache shared by the RTL tests of the session."""
    path = tmp_path_factory.getbasetemp() / "rtl-build"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    for module in ("sklearn", "torch", "onnx"):
        pytest.importorskip(module)
    from qopt.models.data import augmented, load_digits_split
    from qopt.models.train import write_calibration

    tmp = tmp_path_factory.mktemp("hw-bitexact")
    calib = write_calibration(tmp / "calib.npz", 256, "digits", 0)
    images = augmented(load_digits_split(0).x_test, seed=0, n=IMAGES)
    return tmp, calib, images


@pytest.fixture(scope="module")
def calibrated(ctx, digits):
    """Calibrated nn modules of the digits models (built on first use)."""
    from qopt.frontends.onnx import import_onnx
    from qopt.models.train import export_onnx, get_model
    from qopt.passes.calibrate import CalibratePass
    from qopt.passes.fold_batchnorm import FoldBatchNormPass

    tmp, calib, _ = digits
    cache: dict[str, ModuleOp] = {}

    def get(name: str) -> ModuleOp:
        if name not in cache:
            onnx_path = export_onnx(get_model(name, seed=0), tmp / f"{name}.onnx")
            module = import_onnx(str(onnx_path))
            FoldBatchNormPass().apply(ctx, module)
            CalibratePass(data=str(calib)).apply(ctx, module)
            cache[name] = module
        return cache[name]

    return get


def quantize(ctx: Context, module: ModuleOp, weights: str) -> ModuleOp:
    """`module` (calibrated nn) quantized with `weights` and int8 activations."""
    from qopt.passes.mixed_precision import MixedPrecisionPass
    from qopt.passes.quantize import QuantizePass

    m = module.clone()
    if weights.startswith("mixed"):
        granularity = "outliers" if weights == "mixed-outliers" else "row"
        MixedPrecisionPass(avg_bits=2.5, granularity=granularity).apply(ctx, m)
        QuantizePass().apply(ctx, m)
    else:
        QuantizePass(weights=weights).apply(ctx, m)
    return m


@pytest.fixture(scope="module")
def cases(ctx, digits, calibrated):
    """Lowered designs with inputs and reference outputs, by (model, weights)."""
    from qopt.passes.to_hw import lower_to_hw

    images = digits[2]
    cache: dict[tuple[str, str], Case] = {}

    def get(name: str, weights: str) -> Case:
        key = (name, weights)
        if key not in cache:
            qm = quantize(ctx, calibrated(name), weights)
            boundary = _boundary(ctx, qm)
            levels = level_part(qm, boundary)
            x = input_levels(levels, run_function(host_part(qm, boundary), [images])[0])
            want = run_function(levels, [x])[0]
            design = lower_to_hw(qm, target_ii=MODELS[name])
            cache[key] = Case(name, weights, qm, design, x, want)
        return cache[key]

    return get


def _needs_verilator() -> None:
    from qopt.backends.rtl.verilator import find_verilator

    try:
        find_verilator()
    except ToolMissingError as e:
        pytest.skip(str(e))


def _needs_circt() -> None:
    from qopt.backends.rtl.circt import circt_available

    if not circt_available():
        pytest.skip("the circt wheel is not installed (pip install circt)")


def sv_file(case: Case, emitter: str, build_dir: Path) -> Path:
    """The design's SystemVerilog from qopt's emitter or CIRCT's (written once)."""
    if emitter not in case.sv:
        if emitter == "circt":
            from qopt.backends.rtl.circt import circt_export_verilog

            text = circt_export_verilog(case.design.module)
        else:
            from qopt.backends.rtl.verilog import emit_verilog

            text = emit_verilog(case.design.module)
        path = build_dir / "src" / f"{case.name}-{case.weights}-{emitter}.sv"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        case.sv[emitter] = path
    return case.sv[emitter]


def simulated(case: Case, emitter: str, stalls: str, build_dir: Path):
    """The design's simulation with random stalls (STALLS[stalls]) on both sides."""
    key = (emitter, stalls)
    if key not in case.sims:
        from qopt.backends.rtl.verilator import simulate

        d = case.design
        p_in, p_out = STALLS[stalls]
        case.sims[key] = simulate(
            [sv_file(case, emitter, build_dir)],
            d.top,
            case.beats,
            out_lanes=d.out_lanes,
            in_width=d.in_width,
            out_width=d.out_width,
            signed=d.out_signed,
            n_outputs=len(case.x) * d.beats_out,
            stall_prob_in=p_in,
            stall_prob_out=p_out,
            seed=11,
            measure_ii=False,
            build_dir=build_dir,
        )
    return case.sims[key]


def sidecar(design) -> dict:
    """The port metadata `qopt sim` reads beside a lowered design."""
    fields = ("top", "in_lanes", "in_width", "in_signed", "out_lanes")
    fields += ("out_width", "out_signed", "beats_in", "beats_out", "ii", "latency")
    meta = {key: getattr(design, key) for key in fields}
    return {
        **meta,
        "in_shape": list(design.in_shape),
        "out_shape": list(design.out_shape),
    }


# --------------------------------------------------------------------------- #
# Tests
# --------------------------------------------------------------------------- #


def test_the_reference_is_the_model_and_the_inputs_reach_the_extremes(
    ctx, digits, cases
):
    """host_part + level_part compute what the whole q function computes
    (its outputs are the level part's, dequantized), and the inputs hold the
    extreme patterns."""
    _, _, images = digits
    case = cases("digits-lenet", "int8")
    boundary = _boundary(ctx, case.qm)
    levels = run_function(
        level_part(case.qm, boundary),
        [run_function(host_part(case.qm, boundary), [images])[0]],
    )[0]
    fn = entry_function(level_part(case.qm, boundary), None, "test", ValueError)
    out_type = fn.function_type.outputs.data[0].element_type
    want = run_function(case.qm, [images])[0]
    np.testing.assert_array_equal(out_type.dequantize(levels), want)

    flat = case.x.reshape(len(case.x), -1)
    assert flat.shape == (EXTREMES + MIXES + UNIFORM + IMAGES, 64)
    lo, hi = 0, 255  # u8 input levels
    assert flat.min() == lo and flat.max() == hi
    for pattern in (np.full(64, lo), np.full(64, hi), np.arange(64) % 2 * hi):
        assert np.all(flat == pattern, axis=1).sum() == 1
    # the extremes drive the output levels far apart
    assert case.want.min() < -64 and case.want.max() > 64


@pytest.mark.parametrize(("name", "weights"), CASES)
def test_every_module_verifies_in_circt(name, weights, cases):
    _needs_circt()
    from qopt.backends.rtl.circt import verify_with_circt

    case = cases(name, weights)
    modules = [op for op in case.design.module.ops if isinstance(op, HWModuleOp)]
    assert modules[-1].sym_name.data == case.design.top
    assert len(modules) > 3
    for module in modules[:-1]:
        verify_with_circt(module)  # each unit on its own ...
    verify_with_circt(case.design.module)  # ... and the design with its top


@pytest.mark.parametrize(("name", "weights"), CASES)
def test_design_is_bit_exact_under_random_stalls(name, weights, cases, build_dir):
    _needs_verilator()
    case = cases(name, weights)
    runs = {s: simulated(case, "qopt", s, build_dir) for s in STALLS}
    for stalls, run in runs.items():
        got = case.levels(run)
        assert got.shape == case.want.shape
        bad = np.flatnonzero((got != case.want).reshape(len(got), -1).any(axis=1))
        assert bad.size == 0, (
            f"{stalls} stalls: {bad.size} of {len(got)} inferences differ, first "
            f"#{bad[0]}: {got[bad[0]].tolist()} != {case.want[bad[0]].tolist()}"
        )
    # the stalls moved the handshakes, and the heavy ones throttled the design
    assert not np.array_equal(runs["light"].out_cycles, runs["none"].out_cycles)
    assert runs["heavy"].cycles > 1.2 * runs["none"].cycles


@pytest.mark.parametrize(("name", "weights"), CASES)
def test_cycles_match_the_model(name, weights, cases, build_dir):
    """Without stalls: latency and cycles per inference within 5% of the
    model, frames one II apart in steady state."""
    _needs_verilator()
    case = cases(name, weights)
    d = case.design
    calm = simulated(case, "qopt", "none", build_dir)
    n = len(case.x)
    starts = calm.in_cycles[:: d.beats_in]
    ends = calm.out_cycles[d.beats_out - 1 :: d.beats_out]
    assert len(starts) == len(ends) == n
    latency = int(ends[0] - starts[0] + 1)
    assert abs(latency - d.latency) <= TOLERANCE * d.latency, (latency, d.latency)
    steady = slice(n // 4, n - n // 4)
    for times in (starts, ends):
        gaps = np.diff(times[steady])
        assert abs(gaps.mean() - d.ii) <= TOLERANCE * d.ii, (gaps.mean(), d.ii)
        assert gaps.max() <= (1 + TOLERANCE) * d.ii, (gaps.max(), d.ii)
    total = int(ends[-1] - starts[0] + 1)
    model = d.latency + (n - 1) * d.ii
    assert abs(total - model) <= TOLERANCE * model, (total, model)


@pytest.mark.parametrize(("name", "weights"), CIRCT_CASES)
def test_circt_export_simulates_identically(name, weights, cases, build_dir):
    _needs_verilator()
    _needs_circt()
    case = cases(name, weights)
    own = simulated(case, "qopt", "heavy", build_dir)
    circt = simulated(case, "circt", "heavy", build_dir)
    np.testing.assert_array_equal(circt.outputs, own.outputs)
    np.testing.assert_array_equal(circt.in_cycles, own.in_cycles)
    np.testing.assert_array_equal(circt.out_cycles, own.out_cycles)
    np.testing.assert_array_equal(case.levels(circt), case.want)


def test_qopt_sim_runs_a_lowered_design_on_levels(cases, build_dir, tmp_path, capsys):
    """`qopt sim design.sv --input x.npy --output y.npy` with the design's
    sidecar: q input levels in, q output levels out."""
    _needs_verilator()
    from qopt.tools.qopt_main import main

    case = cases("digits-mlp", "int8")
    sv = tmp_path / "design.sv"
    sv.write_text(sv_file(case, "qopt", build_dir).read_text())
    (tmp_path / "design.json").write_text(json.dumps(sidecar(case.design)))
    np.save(tmp_path / "x.npy", case.x[:50])
    code = main(
        [
            "sim",
            str(sv),
            "--input",
            str(tmp_path / "x.npy"),
            "--output",
            str(tmp_path / "y.npy"),
            "--build-dir",
            str(build_dir),
        ]
    )
    assert code == 0, capsys.readouterr().err
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), case.want[:50])


def test_qopt_sim_rejects_bad_sidecars_and_levels(tmp_path, capsys):
    """One error line, exit status 2, before anything is built."""
    from qopt.tools.qopt_main import main

    sv = tmp_path / "design.sv"
    sv.write_text("module main; endmodule\n")
    meta = {
        "top": "main",
        "in_shape": [1, 8, 8],
        "out_shape": [10],
        "in_lanes": 1,
        "in_width": 8,
        "in_signed": False,
        "out_lanes": 1,
        "out_width": 8,
        "out_signed": True,
        "beats_in": 64,
        "beats_out": 10,
    }
    x = tmp_path / "x.npy"

    def error(inputs: np.ndarray, sidecar: dict, *extra: str) -> str:
        np.save(x, inputs)
        (tmp_path / "design.json").write_text(json.dumps(sidecar))
        assert main(["sim", str(sv), "--input", str(x), *extra]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        return err.strip()

    ok = np.zeros((3, 1, 8, 8), np.int64)
    assert error(ok, {**meta, "in_lanes": "1"}) == (
        f"qopt: error: '{tmp_path / 'design.json'}': field 'in_lanes' must be "
        "an integer"
    )
    assert error(ok, {**meta, "in_signed": 0}).endswith(
        "field 'in_signed' must be a boolean"
    )
    assert error(np.zeros((3, 64), np.int64), meta) == (
        "qopt: error: the input must be q levels of shape [N, 1, 8, 8], got [3, 64]"
    )
    assert error(ok.astype(np.float32), meta) == (
        "qopt: error: the input must be integer q levels, got float32"
    )
    missing = tmp_path / "missing.json"
    assert error(ok, meta, "--meta", str(missing)) == (
        f"qopt: error: cannot read '{missing}': no such file"
    )
