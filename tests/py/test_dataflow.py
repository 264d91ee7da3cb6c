"""The dataflow dialect, its executor, qopt-lower-dataflow, the cycle and
resource model, and qopt-tile.

The lowered designs of the trained digits MLP and LeNet (int8, pot4, spot2
and mixed weights) compute bit for bit what their `q` versions compute on
1000 inputs, before and after tiling; the tiling meets its target II on the
model, the model's schedule runs at that II, and more cycles never cost more.
"""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.utils.exceptions import PassFailedException

from qopt.backends.hw import cost_model as cm
from qopt.backends.reference.runner import run_function
from qopt.passes.calibrate import CalibratePass
from qopt.passes.entry import entry_function
from qopt.passes.lower_dataflow import LowerDataflowPass, requant_thresholds
from qopt.passes.mixed_precision import MixedPrecisionPass
from qopt.passes.quantize import QuantizePass
from qopt.passes.tile import TilePass, candidate_iis, tile
from qopt.qdialect import dataflow as df
from qopt.qdialect import q
from qopt.qdialect.qtypes import UniformType
from qopt.tools.qopt_opt import all_dialects

MODELS = ["digits-mlp", "digits-lenet"]
WEIGHTS = ["int8", "pot4", "spot2", "mixed-row", "mixed-outliers"]


@pytest.fixture(scope="module")
def ctx() -> Context:
    ctx = Context()
    for name, factory in all_dialects().items():
        ctx.register_dialect(name, factory)
    return ctx


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    pytest.importorskip("sklearn")
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from qopt.models.data import augmented, load_digits_split
    from qopt.models.train import write_calibration

    tmp = tmp_path_factory.mktemp("digits-dataflow")
    calib = write_calibration(tmp / "calib.npz", 256, "digits", 0)
    x = augmented(load_digits_split(0).x_test, seed=0, n=1000)
    return tmp, calib, x


@pytest.fixture(scope="module")
def calibrated(ctx, digits):
    """Calibrated nn modules of the digits models, by name."""
    from qopt.frontends.onnx import import_onnx
    from qopt.models.train import export_onnx, get_trained

    tmp, calib, _ = digits
    out = {}
    for name in MODELS:
        trained = get_trained(name, 0, cache=tmp / "cache")
        module = import_onnx(str(export_onnx(trained.model, tmp / f"{name}.onnx")))
        CalibratePass(data=str(calib)).apply(ctx, module)
        out[name] = module
    return out


def quantized(ctx, module, weights: str, calib) -> object:
    m = module.clone()
    if weights.startswith("mixed"):
        gran = weights.split("-")[1]
        MixedPrecisionPass(avg_bits=2.5, granularity=gran, data=str(calib)).apply(
            ctx, m
        )
        QuantizePass().apply(ctx, m)
    else:
        QuantizePass(weights=weights).apply(ctx, m)
    return m


def lowered(ctx, module, **options):
    d = module.clone()
    LowerDataflowPass(**options).apply(ctx, d)
    d.verify()
    return d


def names(module) -> set[str]:
    return {op.name for op in module.walk()}


# --------------------------------------------------------------------------- #
# q == dataflow on the trained digits models
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize("name", MODELS)
def test_lowered_model_is_bit_exact(ctx, digits, calibrated, name, weights):
    _, calib, x = digits
    qm = quantized(ctx, calibrated[name], weights, calib)
    ref = run_function(qm, [x])[0]
    d = lowered(ctx, qm)
    compute = {n for n in names(d) if n.startswith("q.")}
    assert compute <= {"q.quantize", "q.dequantize", "q.constant"}
    assert "dataflow.mvu" in names(d)
    if weights.startswith("mixed"):
        assert any(
            q.qtype_of(op.weight).name == "q.mixed"
            for op in d.walk()
            if isinstance(op, df.MvuOp)
        )
    got = run_function(d, [x])[0]
    assert ref.shape == (1000, 10)
    assert np.array_equal(got, ref)
    TilePass(target_ii=64 if name == "digits-lenet" else 16, report=False).apply(ctx, d)
    d.verify()
    assert np.array_equal(run_function(d, [x])[0], ref)


def test_threshold_units_are_bit_exact(ctx, digits, calibrated):
    """Requantizes to 4-bit codes as threshold units (threshold-bits=4)."""
    _, _, x = digits
    qm = calibrated["digits-lenet"].clone()
    QuantizePass(weights="pot4", activations="uint4").apply(ctx, qm)
    ref = run_function(qm, [x])[0]
    d = lowered(ctx, qm, threshold_bits=4)
    units = [op for op in d.walk() if isinstance(op, df.ThresholdOp)]
    assert len(units) == 4  # conv1, conv2, fc1 and the 4-bit output
    assert not any(isinstance(op, df.RequantOp) for op in d.walk())
    assert np.array_equal(run_function(d, [x])[0], ref)


def test_requant_thresholds_reproduce_the_requantize():
    """Every accumulator level gets the requantize's result, ties included."""
    xtype = UniformType(12, True, 0.01)
    otype = UniformType(3, False, 0.07, 2)
    mult, shift = np.array([36571]), np.array([18])
    table = requant_thresholds(xtype, otype, mult, shift)
    assert table.shape == (1, 7) and np.all(np.diff(table[0]) >= 0)
    x = np.arange(-2048, 2048)
    want = np.clip(((x * 36571 + (1 << 17)) >> 18) + 2, 0, 7)
    got = np.searchsorted(table[0], x, side="right")
    assert np.array_equal(got, want)


# --------------------------------------------------------------------------- #
# Semantics of single units
# --------------------------------------------------------------------------- #


def test_streams_are_channels_innermost_and_windows_in_tap_order(ctx):
    """dataflow.input streams NCHW as H, W, C; a window lists (i, j, c)."""
    from xdsl.parser import Parser

    u8 = "!q.uniform<u8:f32, 1.0:7>"
    x_t, y_t = f"tensor<?x2x3x3x{u8}>", f"tensor<?x18x3x3x{u8}>"
    s_in, s_win = (
        f"!dataflow.stream<3x3x2, 1 x {u8}>",
        f"!dataflow.stream<3x3x18, 2 x {u8}>",
    )
    window = "kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>"
    text = f"""
    func.func @main(%x: {x_t}) -> {y_t} {{
      %s = dataflow.input %x : ({x_t}) -> {s_in}
      %w = dataflow.swu %s {{{window}}} : ({s_in}) -> {s_win}
      %t = dataflow.output %w : ({s_win}) -> {y_t}
      func.return %t : {y_t}
    }}
    """
    module = Parser(ctx, text).parse_module()
    module.verify()
    x = np.arange(18).reshape(1, 2, 3, 3) + 10  # x[0, c, y, x] = 10 + 9c + 3y + x
    out = run_function(module, [x])[0]  # [1, 18, 3, 3]: window (y, x) in channel
    centre = out[0, :, 1, 1].reshape(3, 3, 2)  # (i, j, c)
    assert np.array_equal(centre, x[0].transpose(1, 2, 0))
    corner = out[0, :, 0, 0].reshape(3, 3, 2)
    assert np.all(corner[0] == 7) and np.all(corner[:, 0] == 7)  # the zero point
    assert np.array_equal(corner[1:, 1:], x[0, :, :2, :2].transpose(1, 2, 0))


def test_stream_type_and_units_check_their_folding():
    st = df.StreamType((4, 4, 8), 4, UniformType(8, False, 0.5))
    assert (st.numel, st.beats, st.bits) == (128, 32, 8)
    with pytest.raises(Exception, match="3 lanes must divide"):
        df.StreamType((4, 4, 8), 3, UniformType(8, False, 0.5))


# --------------------------------------------------------------------------- #
# The cycle model
# --------------------------------------------------------------------------- #


def test_engine_is_the_sequential_recurrence():
    rng = np.random.default_rng(1)
    need = rng.integers(-5, 400, 300)
    need[rng.random(300) < 0.3] = cm.NEVER
    got = cm.engine(need)
    t, want = -1, []
    for r in need:
        t = max(t + 1, int(r))
        want.append(t)
    assert np.array_equal(got, want)


def test_fifo_depth_counts_waiting_beats():
    arrive = np.array([0, 1, 2, 3, 4, 5])
    assert cm.fifo_depth(arrive, arrive) == 0
    assert cm.fifo_depth(arrive, arrive + 3) == 3
    assert cm.fifo_depth(arrive, np.array([10, 11, 12, 13, 14, 15])) == 6


def test_mvu_cycles_follow_the_folding(ctx, digits, calibrated):
    _, calib, _ = digits
    d = lowered(ctx, quantized(ctx, calibrated["digits-lenet"], "int8", calib))
    fn = entry_function(d, None, "test", ValueError)
    conv1 = next(op for op in d.walk() if isinstance(op, df.MvuOp))
    assert cm.mvu_shape(conv1) == (64, 8, 9)  # 8x8 pixels, 8 filters of 3x3x1
    assert cm.mvu_ii(conv1, 1, 1) == 64 * 8 * 9
    assert cm.mvu_ii(conv1, 8, 9) == 64
    assert cm.mvu_ii(conv1, 2, 3) == 64 * 4 * 3
    est = cm.estimate(fn)
    assert est.ii == max(u.ii for u in est.units) == 16 * 16 * 72  # conv2 MVU
    assert est.cycles(10) == est.latency + 9 * est.ii


@pytest.mark.parametrize("name", MODELS)
def test_tiling_meets_the_target_and_the_schedule_runs_at_it(
    ctx, digits, calibrated, name
):
    _, calib, _ = digits
    d = lowered(ctx, quantized(ctx, calibrated[name], "pot4", calib))
    fn = entry_function(d, None, "test", ValueError)
    for target in (64, 100, 256, 1000):
        trial = fn.clone()
        est = tile(trial, target)
        assert est.ii <= target
        assert all(u.ii <= target for u in est.units)
        assert est.ii == max(u.ii for u in est.units)
        # three frames fed every II cycles leave the design every II cycles
        sched = cm.schedule(trial, frames=3)
        out = next(op for op in cm.units_of(trial) if isinstance(op, df.OutputOp))
        times = sched.consumed[(out, 0)].reshape(3, -1)[:, -1]
        assert list(np.diff(times)) == [est.ii, est.ii]
        assert times[0] + 1 == est.latency
        mvus = [op for op in cm.units_of(trial) if isinstance(op, df.MvuOp)]
        for op in mvus:
            pe, simd = op.folding
            _, mh, mw = cm.mvu_shape(op)
            assert mh % pe == 0 and mw % simd == 0


@pytest.mark.parametrize("name", MODELS)
def test_more_cycles_never_cost_more(ctx, digits, calibrated, name):
    _, calib, _ = digits
    d = lowered(ctx, quantized(ctx, calibrated[name], "int8", calib))
    fn = entry_function(d, None, "test", ValueError)
    rows = [(t, tile(fn.clone(), t)) for t in candidate_iis(fn)]
    assert len(rows) > 10
    iis = [e.ii for _, e in rows]
    costs = [e.res.cost for _, e in rows]
    dsps = [e.res.dsp for _, e in rows]
    assert iis == sorted(iis)
    assert costs == sorted(costs, reverse=True)
    assert dsps == sorted(dsps, reverse=True)
    assert costs[0] > 10 * costs[-1]  # the fastest design is much bigger
    assert rows[0][1].ii == rows[0][0]  # the fastest candidate is reached


def test_lut_budget_finds_the_fastest_design_that_fits(ctx, digits, calibrated):
    _, calib, _ = digits
    d = lowered(ctx, quantized(ctx, calibrated["digits-mlp"], "pot4", calib))
    fn = entry_function(d, None, "test", ValueError)
    by_ii = {t: tile(fn.clone(), t) for t in candidate_iis(fn)}
    budget = by_ii[64].res.lut
    TilePass(lut_budget=budget, report=False).apply(ctx, d)
    got = d.body.block.ops.first.attributes[cm.ESTIMATE_ATTR]
    ii = got.data["ii"].value.data
    assert got.data["lut"].value.data <= budget
    assert ii <= 64
    assert all(e.res.lut > budget for t, e in by_ii.items() if t < ii)


def test_residual_fifo_holds_the_skip_branch(ctx, digits, calibrated):
    """ResNet's skip branches wait in FIFOs before the adds, as deep as the
    beats that arrive before the long branch delivers."""
    from qopt.frontends.onnx import import_onnx
    from qopt.models.train import export_onnx, get_trained

    tmp, calib, x = digits
    trained = get_trained("digits-resnet", 0, cache=tmp / "cache")
    module = import_onnx(str(export_onnx(trained.model, tmp / "resnet.onnx")))
    CalibratePass(data=str(calib)).apply(ctx, module)
    qm = quantized(ctx, module, "int8", calib)
    d = lowered(ctx, qm)
    fifos = [op for op in d.walk() if isinstance(op, df.FifoOp)]
    assert len(fifos) == 2
    assert all(isinstance(next(iter(f.output.uses)).operation, df.AddOp) for f in fifos)
    fn = entry_function(d, None, "test", ValueError)
    sched = cm.schedule(fn)
    for f in fifos:
        use = next(iter(f.output.uses))
        add, other = use.operation, 1 - use.index
        need = cm.fifo_depth(
            sched.times[add.operands[other]], sched.consumed[(add, other)]
        )
        assert f.depth.value.data >= 1
        assert need == 0  # the other operand never waits
    assert np.array_equal(run_function(d, [x])[0], run_function(qm, [x])[0])
    TilePass(target_ii=256, report=False).apply(ctx, d)
    assert np.array_equal(run_function(d, [x])[0], run_function(qm, [x])[0])


# --------------------------------------------------------------------------- #
# Errors
# --------------------------------------------------------------------------- #


def test_unsupported_ops_are_listed_in_one_line(ctx, digits, calibrated):
    from xdsl.dialects.builtin import IntegerAttr, i64

    _, calib, _ = digits
    qm = quantized(ctx, calibrated["digits-lenet"], "int8", calib)
    conv = next(op for op in qm.walk() if isinstance(op, q.Conv2dOp))
    conv.properties["group"] = IntegerAttr(2, i64)  # not verified: checked first
    with pytest.raises(PassFailedException) as e:
        LowerDataflowPass().apply(ctx, qm)
    assert str(e.value) == (
        "cannot lower to dataflow: unsupported ops q.conv2d [group > 1] "
        "(1: %conv1_conv1.0_Conv_output)"
    )
    assert "\n" not in str(e.value)


def test_tile_unroll_makes_every_weight_a_constant(ctx, digits, calibrated):
    """unroll=true: PE = rows and SIMD = columns for every matrix-vector unit,
    at the II of the input stream (64 pixels), which no folding can beat."""
    _, calib, _ = digits
    d = lowered(ctx, quantized(ctx, calibrated["digits-lenet"], "pot4", calib))
    TilePass(unroll=True, report=False).apply(ctx, d)
    mvus = [op for op in d.walk() if isinstance(op, df.MvuOp)]
    assert len(mvus) == 4
    for op in mvus:
        _, mh, mw = cm.mvu_shape(op)
        assert (op.pe.value.data, op.simd.value.data) == (mh, mw)
    fn = next(op for op in d.walk() if isinstance(op, func.FuncOp))
    assert fn.attributes["dataflow.estimate"].data["ii"].value.data == 64
    with pytest.raises(PassFailedException, match="target-ii=32 is out of reach"):
        TilePass(target_ii=32, unroll=True, report=False).apply(ctx, d)


def test_tile_rejects_bad_options_and_unreachable_targets(ctx, digits, calibrated):
    _, calib, _ = digits
    with pytest.raises(ValueError, match="needs target-ii=N, lut-budget=N or unroll"):
        TilePass()
    with pytest.raises(ValueError, match="'unroll' fixes the design"):
        TilePass(unroll=True, lut_budget=1000)
    d = lowered(ctx, quantized(ctx, calibrated["digits-lenet"], "int8", calib))
    with pytest.raises(PassFailedException, match="target-ii=32 is out of reach"):
        TilePass(target_ii=32, report=False).apply(ctx, d)
    qm = quantized(ctx, calibrated["digits-lenet"], "int8", calib)
    with pytest.raises(PassFailedException, match="no dataflow units"):
        TilePass(target_ii=64, report=False).apply(ctx, qm)


def test_resources_follow_the_rtl_storage_and_multipliers(ctx, digits, calibrated):
    """Pools that tile their input keep OW x C partial results in registers;
    requantizers of a design without multiplied weights use no DSP."""
    _, calib, _ = digits
    for weights in ("int8", "pot4"):
        d = lowered(ctx, quantized(ctx, calibrated["digits-lenet"], weights, calib))
        pools = [op for op in d.walk() if isinstance(op, df.PoolOp)]
        requants = [op for op in d.walk() if isinstance(op, df.RequantOp)]
        # 2x2 / 2 max pools, 1 lane of 8 bits: 4 x 8 and 2 x 16 partial
        # results (32 registers of 8 bits, a 32:1 mux of 8 LUTs per bit and
        # a write enable each), compare 8 LUTs, 16 control, 16 FFs of stages
        assert [cm.pool_reduces_in_place(p) for p in pools] == [True, True]
        for pool in pools:
            assert cm.unit_resources(pool) == cm.Resources(lut=120, ff=272)
        free = weights == "pot4"
        for r in requants:
            assert cm.multiplier_free(r) is free
            res = cm.unit_resources(r)
            assert (res.dsp == 0) is free
            assert res.lut > 500 if free else res.lut < 100
