"""qopt-lower-hw / qopt-to-hw: dataflow designs as hw/comb/seq, simulated.

Small random quantized MLPs (every weight format, folded and unfolded,
per-channel requantization, threshold, table and clamp units, width
converters both ways) and the trained digits MLP are lowered to hardware
and run in Verilator with random stalls on both sides: the outputs must
equal the dataflow reference executor's bit for bit, and without stalls the
measured latency and cycles per inference must equal the cycle model's.
The hardware passes are checked for their IR (one module per unit, the
top's ports and attributes), their failure messages, and the absence of
multipliers in designs without integer weights.
"""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects import comb, hw
from xdsl.parser import Parser
from xdsl.utils.exceptions import PassFailedException

from qopt.backends.reference.runner import run_function
from qopt.backends.rtl import ToolMissingError
from qopt.passes.lower_hw import LowerHwPass
from qopt.passes.to_hw import ToHwPass, lower_to_hw
from qopt.qdialect import dataflow as df
from qopt.qdialect import q
from qopt.qdialect.qtypes import (
    BinaryType,
    LevelsAttr,
    MixedType,
    PotType,
    QuantizedType,
    SpotType,
    UniformType,
)
from qopt.tools.qopt_opt import all_dialects


@pytest.fixture(scope="module")
def ctx() -> Context:
    ctx = Context()
    for name, factory in all_dialects().items():
        ctx.register_dialect(name, factory)
    return ctx


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("hw-sim")


# --------------------------------------------------------------------------- #
# Random quantized MLPs
# --------------------------------------------------------------------------- #


def _tensor(shape, elem) -> str:
    dims = "x".join("?" if d is None else str(d) for d in shape)
    return f"tensor<{dims}x{elem}>"


def _weights(fmt: str, k: int, n: int, rng) -> tuple[QuantizedType, np.ndarray]:
    """A [k, n] weight of format `fmt`, per output channel scales, and levels."""
    scales = list(rng.uniform(0.01, 0.05, n))
    if fmt == "int8":
        t = UniformType(8, True, scales, axis=1, low=-127, high=127)
        return t, rng.integers(-127, 128, (k, n))
    if fmt == "pot4":
        t = PotType(4, scales, axis=1)
    elif fmt == "spot2":
        t = SpotType(2, 4, scales, axis=1, high=4)
    elif fmt == "binary":
        t = BinaryType(scales, axis=1)
    elif fmt == "mixed":
        formats = [LevelsAttr.int_(2, True, -1, 1, shift=4), LevelsAttr.int_(8, True)]
        flat = np.sort(rng.choice(k * n, max(1, k * n // 8), replace=False))
        t = MixedType(formats, "outliers", flat, scales, axis=1)
        index = t.format_index((k, n))
        small = rng.choice(formats[0].levels, (k, n))
        big = rng.integers(-128, 128, (k, n))
        return t, np.where(index == 1, big, small)
    else:
        raise ValueError(fmt)
    return t, rng.choice(t.level_sets()[0].levels, (k, n))


def q_mlp(
    sizes: list[int],
    formats: list[str],
    seed: int = 0,
    *,
    zero_point: int = 0,
    hidden_bits: int = 8,
    lut: bool = False,
    clamp: bool = False,
) -> str:
    """A `q` MLP: u8 input (zero point), per layer a matmul with a bias and a
    per-channel requantize (to u`hidden_bits`, last layer i8), optionally a
    table (q.lut) and a clamp after the first layer."""
    rng = np.random.default_rng(seed)
    xt = UniformType(8, False, 1 / 64, zero_point)
    lines = [
        f"%xq = q.quantize %x : ({_tensor((None, sizes[0]), 'f32')}) -> "
        f"{_tensor((None, sizes[0]), xt)}"
    ]
    cur, ctype = "%xq", xt
    for i, (k, n, fmt) in enumerate(zip(sizes[:-1], sizes[1:], formats, strict=True)):
        last = i == len(formats) - 1
        wt, w = _weights(fmt, k, n, rng)
        sw = np.array(wt.scale_values)
        sacc = ctype.scale * sw
        b = rng.integers(-300, 300, n)
        bt = UniformType(16, True, list(sacc), axis=0)
        lo, hi = q.linear_range(ctype, wt, (k, n), [0])
        width = q.signed_width(lo - (1 << 15), hi + (1 << 15))
        at = UniformType(width, True, list(sacc), axis=1)
        wc, bc = q.ConstantOp.from_levels(w, wt), q.ConstantOp.from_levels(b, bt)
        lines += [
            f'%w{i} = q.constant "{wc.value.data}" : {_tensor((k, n), wt)}',
            f'%b{i} = q.constant "{bc.value.data}" : {_tensor((n,), bt)}',
            f"%h{i} = q.matmul {cur}, %w{i}, %b{i} : ({_tensor((None, k), ctype)}, "
            f"{_tensor((k, n), wt)}, {_tensor((n,), bt)}) -> "
            f"{_tensor((None, n), at)}",
        ]
        # about three standard deviations of the accumulator fill the range
        sigma = np.sqrt(k) * 100 * np.sqrt(np.mean(w.astype(float) ** 2))
        span = 3 * sigma * float(sacc.mean())
        ot = (
            UniformType(8, True, span / 128)
            if last
            else UniformType(hidden_bits, False, span / (1 << hidden_bits))
        )
        params = [q.requant_params(float(s) / ot.scale) for s in sacc]
        mult = ", ".join(str(m) for m, _ in params)
        shift = ", ".join(str(s) for _, s in params)
        lines.append(
            f"%r{i} = q.requantize %h{i} {{multiplier = array<i64: {mult}>, "
            f"shift = array<i64: {shift}>}} : ({_tensor((None, n), at)}) -> "
            f"{_tensor((None, n), ot)}"
        )
        cur, ctype = f"%r{i}", ot
        if i == 0 and lut:
            lt = UniformType(8, False, 1 / 256)
            levels = rng.integers(0, 256, ot.max_level - ot.min_level + 1)
            table = q.ConstantOp.from_levels(levels, lt).value.data
            lines.append(
                f'%t{i} = q.lut {cur} {{table = "{table}"}} : '
                f"({_tensor((None, n), ot)}) -> {_tensor((None, n), lt)}"
            )
            cur, ctype = f"%t{i}", lt
        if i == 0 and clamp:
            top = (ctype.min_level + ctype.max_level) // 2
            lines.append(
                f"%c{i} = q.clamp {cur} {{min = {ctype.min_level + 3} : i64, "
                f"max = {top} : i64}} : ({_tensor((None, n), ctype)}) -> "
                f"{_tensor((None, n), ctype)}"
            )
            cur = f"%c{i}"
    n = sizes[-1]
    lines += [
        f"%y = q.dequantize {cur} : ({_tensor((None, n), ctype)}) -> "
        f"{_tensor((None, n), 'f32')}",
        f"func.return %y : {_tensor((None, n), 'f32')}",
    ]
    body = "\n    ".join(lines)
    sig = f"%x: {_tensor((None, sizes[0]), 'f32')}"
    return (
        f"builtin.module {{\n  func.func @main({sig}) -> "
        f"{_tensor((None, n), 'f32')} {{\n    {body}\n  }}\n}}\n"
    )


def parse(ctx, text: str):
    module = Parser(ctx, text).parse_module()
    module.verify()
    return module


def check_design(design, x, build_dir, *, stall: float = 0.3) -> np.ndarray:
    """Simulate with stalls (bit-exact) and without (cycle model exact);
    returns the output levels."""
    checked: list[np.ndarray] = []
    levels, want = design.reference(x)
    try:
        got, _ = design.simulate(
            levels,
            build_dir,
            stall_prob_in=stall,
            stall_prob_out=stall,
            measure_ii=False,
            seed=3,
        )
    except ToolMissingError as e:
        pytest.skip(str(e))
    assert got.shape == want.shape
    assert np.array_equal(got, want)
    checked.append(got)
    _, calm = design.simulate(
        levels, build_dir, stall_prob_in=0.0, stall_prob_out=0.0, measure_ii=False
    )
    assert design.measured_latency(calm.out_cycles, calm.in_cycles) == design.latency
    starts = calm.in_cycles[:: design.beats_in]
    assert np.all(np.diff(starts)[len(starts) // 2 :] == design.ii)
    assert calm.cycles == design.latency + (len(x) - 1) * design.ii
    return checked[0]


def inputs(n: int, k: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.5, 4.5, (n, k)).astype(np.float32)


# --------------------------------------------------------------------------- #
# Simulation: random MLPs
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("formats", "ii", "zero_point"),
    [
        (["pot4", "int8"], 12, 0),  # PE x SIMD folds with weight ROMs, dwc 4 -> 1
        (["spot2", "pot4"], 4, 0),
        (["mixed", "binary"], 3, 0),
        (["int8", "pot4"], 24, 0),  # NF > 1: the input vector is kept
        (["pot4", "spot2"], 1, 0),  # fully unrolled: constants folded into logic
        (["int8", "mixed"], 1, 100),  # unrolled: multipliers by constants
        (["int8", "mixed"], 6, 100),  # centred inputs of both signs
    ],
)
def test_random_mlp_is_bit_exact_and_cycle_exact(
    ctx, build_dir, formats, ii, zero_point
):
    text = q_mlp([8, 6, 4], formats, seed=len(formats[0]) + ii, zero_point=zero_point)
    design = lower_to_hw(parse(ctx, text), target_ii=ii, ctx=ctx)
    check_design(design, inputs(150, 8), build_dir / f"{'-'.join(formats)}-{ii}")


def test_zero_points_tables_clamps_and_thresholds(ctx, build_dir):
    """Input zero point 37; a 4-bit requantize as thresholds, a table, a clamp."""
    text = q_mlp(
        [6, 8, 3],
        ["pot4", "int8"],
        seed=5,
        zero_point=37,
        hidden_bits=4,
        lut=True,
        clamp=True,
    )
    design = lower_to_hw(parse(ctx, text), target_ii=8, threshold_bits=4, ctx=ctx)
    kinds = {m.sym_name.data.split("_")[0] for m in design.module.ops}
    assert {"threshold", "lut", "clamp", "mvu", "requant"} <= kinds
    check_design(design, inputs(150, 6), build_dir / "thr-lut-clamp")


# --------------------------------------------------------------------------- #
# IR of the hardware passes
# --------------------------------------------------------------------------- #


def test_module_structure_and_attributes(ctx):
    module = parse(ctx, q_mlp([8, 6, 4], ["pot4", "int8"]))
    ToHwPass(target_ii=12).apply(ctx, module)
    module.verify()
    mods = list(module.ops)
    assert all(isinstance(m, hw.HWModuleOp) for m in mods)
    top = mods[-1]
    assert top.sym_name.data == "main"
    names = [p.port_name.data for p in top.module_type.ports.data]
    assert names == [
        "clk",
        "rst",
        "in_data",
        "in_valid",
        "out_ready",
        "in_ready",
        "out_data",
        "out_valid",
    ]
    assert top.attributes["qopt.ii"].value.data == 12
    instances = [op for op in top.body.block.ops if isinstance(op, hw.InstanceOp)]
    assert [i.module_name.root_reference.data for i in instances] == [
        m.sym_name.data for m in mods[:-1]
    ]
    assert all("lut" in i.attributes["qopt.estimate"].data for i in instances)


def test_pot_designs_have_no_multiplier(ctx):
    """pot/spot weights: shifts and adds only, requantize multipliers included."""
    module = parse(ctx, q_mlp([8, 6, 4], ["pot4", "spot2"]))
    design = lower_to_hw(module, target_ii=12, ctx=ctx)
    assert not any(isinstance(op, comb.MulOp) for op in design.module.walk())
    module = parse(ctx, q_mlp([8, 6, 4], ["pot4", "int8"]))
    design = lower_to_hw(module, target_ii=12, ctx=ctx)
    assert any(isinstance(op, comb.MulOp) for op in design.module.walk())


def test_mixed_weights_use_side_lanes(ctx, build_dir):
    """q.mixed outliers: ternary lanes without multipliers, int8 side lanes."""
    module = parse(ctx, q_mlp([16, 8, 4], ["mixed", "pot4"], seed=2))
    design = lower_to_hw(module, target_ii=8, ctx=ctx)
    mvu = next(m for m in design.module.ops if m.sym_name.data == "mvu_h0")
    lanes = 16 * 8 // 8  # PE x SIMD at 8 steps per frame
    muls = sum(isinstance(op, comb.MulOp) for op in mvu.walk())
    assert 0 < muls < lanes // 2
    check_design(design, inputs(150, 16), build_dir / "mixed-side")


def test_beats_round_trip(ctx):
    module = parse(ctx, q_mlp([8, 6, 4], ["pot4", "int8"]))
    design = lower_to_hw(module, target_ii=12, ctx=ctx)
    levels, out = design.reference(inputs(5, 8))
    beats = design.to_beats(levels)
    assert beats.shape == (5 * design.beats_in, design.in_lanes)
    assert np.array_equal(beats.reshape(5, -1), levels)
    assert np.array_equal(design.from_beats(out.reshape(-1, design.out_lanes)), out)


_T = "tensor<?x10x!q.uniform<u8:f32, 1.0>>"
_S5, _S2 = (f"!dataflow.stream<10, {n} x !q.uniform<u8:f32, 1.0>>" for n in (5, 2))
UNSUPPORTED = f"""
builtin.module {{
  func.func @main(%x: {_T}) -> {_T} {{
    %s = dataflow.input %x : ({_T}) -> {_S5}
    %d = dataflow.dwc %s : ({_S5}) -> {_S2}
    %c = dataflow.clamp %d {{min = 3 : i64, max = 200 : i64}} : ({_S2}) -> {_S2}
    %t = dataflow.output %c : ({_S2}) -> {_T}
    func.return %t : {_T}
  }}
}}
"""


def test_errors(ctx):
    with pytest.raises(PassFailedException, match=r"dwc dwc_d: 5 -> 2 lanes"):
        LowerHwPass().apply(ctx, parse(ctx, UNSUPPORTED))
    module = parse(ctx, q_mlp([8, 6, 4], ["pot4", "int8"]))
    with pytest.raises(PassFailedException, match="run qopt-lower-dataflow first"):
        LowerHwPass().apply(ctx, module.clone())
    with pytest.raises(ValueError, match="needs target-ii=N, lut-budget=N or unroll"):
        ToHwPass()
    with pytest.raises(PassFailedException, match="no function @nope"):
        ToHwPass(target_ii=4, entry="nope").apply(ctx, module.clone())


# --------------------------------------------------------------------------- #
# The trained digits MLP
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def digits_mlp(ctx, tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("sklearn")
    from qopt.frontends.onnx import import_onnx
    from qopt.models.data import augmented, load_digits_split
    from qopt.models.train import export_onnx, get_model, write_calibration
    from qopt.passes.calibrate import CalibratePass
    from qopt.passes.fold_batchnorm import FoldBatchNormPass

    tmp = tmp_path_factory.mktemp("digits-hw")
    calib = write_calibration(tmp / "calib.npz", 256, "digits", 0)
    model = get_model("digits-mlp", 0)
    module = import_onnx(str(export_onnx(model, tmp / "mlp.onnx")))
    FoldBatchNormPass().apply(ctx, module)
    CalibratePass(data=str(calib)).apply(ctx, module)
    x = augmented(load_digits_split(0).x_test, seed=0, n=200)
    return module, x


def test_digits_mlp_pot4(ctx, build_dir, digits_mlp):
    from qopt.passes.quantize import QuantizePass

    module, x = digits_mlp
    qm = module.clone()
    QuantizePass(weights="pot4").apply(ctx, qm)
    design = lower_to_hw(qm, target_ii=16, ctx=ctx)
    assert (design.ii, design.in_lanes, design.beats_out) == (16, 4, 10)
    assert not any(isinstance(op, comb.MulOp) for op in design.module.walk())
    got = check_design(design, x, build_dir / "digits-mlp-pot4")
    # the hardware's levels, dequantized, are the q executor's outputs
    out = next(op for op in design.dataflow.walk() if isinstance(op, df.OutputOp))
    real = q.qtype_of(out.output).dequantize(got)
    assert np.array_equal(real, run_function(qm, [x])[0])
