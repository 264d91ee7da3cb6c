"""Numerics of `qopt-quantize`: calibrated nn IR -> q integer IR.

On the example conv + batchnorm + relu model, a residual CNN and an MLP built
as nn IR (and, with the `models` extra, trained digits models imported from
ONNX): calibrate on seeded random data, quantize, and compare with the float
model; check one layer bit-exactly against numpy integer arithmetic; check
that every weight format stores representable levels of its own kind and
that recipes change the matching layers only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType, f32
from xdsl.interpreter import Interpreter
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.parser import Parser

from qopt.backends.reference.nn import dense_to_numpy, numpy_to_dense
from qopt.backends.reference.runner import interpreter_for, run_function
from qopt.passes.calibrate import CalibratePass
from qopt.passes.fold_batchnorm import FoldBatchNormPass
from qopt.passes.quant_formats import (
    parse_act_format,
    parse_granularity,
    parse_weight_format,
    quantize_weights,
    weight_scales,
)
from qopt.passes.quant_recipe import RecipeError, parse_recipe
from qopt.passes.quantize import QuantizePass
from qopt.qdialect import nn, q
from qopt.qdialect.qtypes import BinaryType, PotType, SpotType, UniformType
from qopt.qdialect.shapes import DYN
from qopt.tools.qopt_opt import all_dialects

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "conv_bn_relu.mlir"


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def ctx() -> Context:
    c = Context()
    for name, factory in all_dialects().items():
        c.register_dialect(name, factory)
    return c


def parse(ctx: Context, text: str) -> ModuleOp:
    module = Parser(ctx, text).parse_module()
    module.verify()
    return module


class Graph:
    """A `func.func @main` built with the nn builders (shapes inferred)."""

    def __init__(self, *arg_shapes: Sequence[int]):
        self.block = Block(arg_types=[TensorType(f32, s) for s in arg_shapes])

    @property
    def args(self) -> tuple[SSAValue, ...]:
        return tuple(self.block.args)

    def add(self, op: Operation, name: str | None = None) -> SSAValue:
        self.block.add_op(op)
        if name:
            op.results[0].name_hint = name
        return op.results[0]

    def const(self, value: np.ndarray, name: str | None = None) -> SSAValue:
        value = np.asarray(value, dtype=np.float32)
        attr = numpy_to_dense(value, TensorType(f32, value.shape))
        assert attr is not None
        return self.add(nn.ConstantOp(attr), name)

    def module(self, *results: SSAValue) -> ModuleOp:
        self.block.add_op(func.ReturnOp(*results))
        fn = func.FuncOp.from_region(
            "main",
            [a.type for a in self.block.args],
            [r.type for r in results],
            Region(self.block),
        )
        module = ModuleOp([fn])
        module.verify()
        return module


def calibrate(ctx: Context, module: ModuleOp, data: np.ndarray, tmp: Path) -> None:
    path = tmp / "calib.npy"
    np.save(path, data.astype(np.float32))
    CalibratePass(data=str(path)).apply(ctx, module)


def quantized(ctx: Context, module: ModuleOp, **options) -> ModuleOp:
    out = module.clone()
    QuantizePass(**options).apply(ctx, out)
    out.verify()
    return out


def agreement(ref: np.ndarray, got: np.ndarray) -> tuple[float, float]:
    """(mean cosine similarity of the rows, top-1 agreement)."""
    ref = ref.reshape(len(ref), -1).astype(np.float64)
    got = got.reshape(len(got), -1).astype(np.float64)
    cos = (ref * got).sum(1) / (
        np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1) + 1e-30
    )
    top1 = (ref.argmax(1) == got.argmax(1)).mean()
    return float(cos.mean()), float(top1)


def ops_of(module: ModuleOp, kind: type[Operation]) -> list[Operation]:
    return [op for op in module.walk() if isinstance(op, kind)]


def weight_constants(module: ModuleOp) -> list[q.ConstantOp]:
    """The q.constant weights of q.conv2d / q.matmul, in program order."""
    out = []
    for op in module.walk():
        if isinstance(op, q.Conv2dOp):
            out.append(op.weight.owner)
        elif isinstance(op, q.MatmulOp):
            out.append(op.rhs.owner)
    return out


class Recorder(Interpreter.Listener):
    """Every value an interpreted op produced, by op."""

    def __init__(self) -> None:
        self.results: dict[int, tuple] = {}

    def did_interpret_op(self, op: Operation, results) -> None:
        self.results[id(op)] = results


# --------------------------------------------------------------------------- #
# models
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def conv_bn_relu(ctx: Context, tmp_path_factory) -> ModuleOp:
    module = parse(ctx, EXAMPLE.read_text())
    FoldBatchNormPass().apply(ctx, module)
    rng = np.random.default_rng(0)
    tmp = tmp_path_factory.mktemp("cbr")
    calibrate(ctx, module, rng.standard_normal((256, 3, 8, 8)), tmp)
    return module


def residual_cnn(seed: int = 0) -> ModuleOp:
    """conv-relu-conv + skip, relu, conv stride 2, maxpool, global average
    pool, flatten, gemm: 10 logits."""
    rng = np.random.default_rng(seed)
    g = Graph((DYN, 3, 8, 8))
    (x,) = g.args

    def w(*shape: int) -> np.ndarray:
        fan_in = int(np.prod(shape[1:]))
        return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)

    def b(n: int) -> np.ndarray:
        return rng.standard_normal(n) * 0.1

    pads = (1, 1, 1, 1)
    stem = g.add(nn.Conv2dOp(x, g.const(w(8, 3, 3, 3)), g.const(b(8)), pads=pads))
    stem_r = g.add(nn.ReluOp(stem), "stem")
    c1 = g.add(
        nn.Conv2dOp(stem_r, g.const(w(8, 8, 3, 3)), g.const(b(8)), pads=pads), "c1"
    )
    r1 = g.add(nn.ReluOp(c1), "r1")
    c2 = g.add(nn.Conv2dOp(r1, g.const(w(8, 8, 3, 3)), g.const(b(8)), pads=pads), "c2")
    s = g.add(nn.AddOp(c2, stem_r), "skip")
    r2 = g.add(nn.ReluOp(s), "r2")
    c3 = g.add(
        nn.Conv2dOp(
            r2, g.const(w(16, 8, 3, 3)), g.const(b(16)), pads=pads, strides=(2, 2)
        ),
        "c3",
    )
    r3 = g.add(nn.ReluOp(c3), "r3")
    mp = g.add(nn.MaxPool2dOp(r3, (2, 2), strides=(2, 2)), "mp")
    gap = g.add(nn.GlobalAvgPoolOp(mp), "gap")
    flat = g.add(nn.FlattenOp(gap), "flat")
    logits = g.add(
        nn.GemmOp(flat, g.const(w(10, 16)), g.const(b(10)), trans_b=True), "logits"
    )
    return g.module(logits)


def mlp(seed: int = 0) -> ModuleOp:
    """flatten, gemm-relu, matmul + bias add, sigmoid (a table), gemm, then a
    softmax that stays float."""
    rng = np.random.default_rng(seed)
    g = Graph((DYN, 1, 8, 8))
    (x,) = g.args
    flat = g.add(nn.FlattenOp(x), "flat")
    w1 = rng.standard_normal((32, 64)) / 8
    h1 = g.add(
        nn.GemmOp(
            flat, g.const(w1), g.const(rng.standard_normal(32) * 0.1), trans_b=True
        ),
        "fc1",
    )
    r1 = g.add(nn.ReluOp(h1), "relu1")
    m2 = g.add(nn.MatMulOp(r1, g.const(rng.standard_normal((32, 16)) / 4)), "fc2")
    a2 = g.add(nn.AddOp(m2, g.const(rng.standard_normal(16) * 0.1)), "fc2_bias")
    s2 = g.add(nn.SigmoidOp(a2), "sig")
    logits = g.add(
        nn.GemmOp(s2, g.const(rng.standard_normal((16, 10))), g.const(np.zeros(10))),
        "fc3",
    )
    probs = g.add(nn.SoftmaxOp(logits), "probs")
    return g.module(logits, probs)


# --------------------------------------------------------------------------- #
# accuracy against the float model
# --------------------------------------------------------------------------- #


def test_conv_bn_relu_w8a8_is_close_to_float(ctx, conv_bn_relu):
    x = np.random.default_rng(1).standard_normal((1000, 3, 8, 8)).astype(np.float32)
    ref = run_function(conv_bn_relu, [x])[0]
    module = quantized(ctx, conv_bn_relu)
    assert not ops_of(module, nn.ConstantOp), "float weights left behind"
    assert not ops_of(module, nn.Conv2dOp) and not ops_of(module, nn.GemmOp)
    assert not ops_of(module, nn.ReluOp), "relus are fused into the requantize"
    cos, top1 = agreement(ref, run_function(module, [x])[0])
    assert cos > 0.999 and top1 > 0.95, (cos, top1)


@pytest.mark.parametrize(
    ("options", "min_cos", "min_top1"),
    [
        ({"weights": "int4"}, 0.97, 0.8),
        ({"weights": "pot4"}, 0.94, 0.75),
        ({"weights": "spot2"}, 0.99, 0.9),
        ({"weights": "spot3"}, 0.995, 0.93),
        ({"activations": "uint8"}, 0.999, 0.95),
        ({"weight_granularity": "tensor", "bias_bits": 0}, 0.999, 0.95),
        ({"weights": "int4", "activations": "int4"}, 0.9, 0.6),
    ],
)
def test_conv_bn_relu_other_formats(ctx, conv_bn_relu, options, min_cos, min_top1):
    x = np.random.default_rng(1).standard_normal((1000, 3, 8, 8)).astype(np.float32)
    ref = run_function(conv_bn_relu, [x])[0]
    cos, top1 = agreement(
        ref, run_function(quantized(ctx, conv_bn_relu, **options), [x])[0]
    )
    assert cos > min_cos and top1 > min_top1, (cos, top1)


def test_lower_precision_is_less_accurate(ctx, conv_bn_relu):
    x = np.random.default_rng(1).standard_normal((500, 3, 8, 8)).astype(np.float32)
    ref = run_function(conv_bn_relu, [x])[0]

    def error(**options) -> float:
        got = run_function(quantized(ctx, conv_bn_relu, **options), [x])[0]
        return float(np.mean((got - ref) ** 2))

    assert error() < error(weights="int4") < error(weights="int2")
    assert error(weights="spot3") < error(weights="spot2") < error(weights="pot4")
    assert error(weights="ternary") < error(weights="int2")  # the scale search


def test_residual_cnn(ctx, tmp_path):
    module = residual_cnn()
    rng = np.random.default_rng(2)
    calibrate(ctx, module, rng.standard_normal((256, 3, 8, 8)), tmp_path)
    x = rng.standard_normal((500, 3, 8, 8)).astype(np.float32)
    ref = run_function(module, [x])[0]
    qm = quantized(ctx, module)
    names = [op.name for op in qm.walk() if op.name.startswith(("nn.", "q."))]
    assert "q.add" in names and "q.avgpool2d" in names and "q.maxpool2d" in names
    assert set(n for n in names if n.startswith("nn.")) == {"nn.flatten"}
    cos, top1 = agreement(ref, run_function(qm, [x])[0])
    assert cos > 0.999 and top1 > 0.95, (cos, top1)
    cos, top1 = agreement(
        ref, run_function(quantized(ctx, module, weights="int4"), [x])[0]
    )
    assert cos > 0.97 and top1 > 0.8, (cos, top1)
    # the add's operands are aligned to one scale: q.add sees a power of two
    for add in ops_of(qm, q.AddOp):
        ka, kb = add.alignment()
        assert min(ka, kb) == 0


def test_mlp_with_table_and_float_softmax(ctx, tmp_path):
    module = mlp()
    rng = np.random.default_rng(3)
    calibrate(ctx, module, rng.uniform(0, 1, (256, 1, 8, 8)), tmp_path)
    x = rng.uniform(0, 1, (500, 1, 8, 8)).astype(np.float32)
    ref_logits, ref_probs = run_function(module, [x])
    qm = quantized(ctx, module)
    assert len(ops_of(qm, q.LutOp)) == 1
    assert len(ops_of(qm, nn.SoftmaxOp)) == 1 and not ops_of(qm, nn.AddOp)
    logits, probs = run_function(qm, [x])
    cos, top1 = agreement(ref_logits, logits)
    assert cos > 0.999 and top1 > 0.95, (cos, top1)
    assert np.abs(probs - ref_probs).max() < 0.05
    no_lut = quantized(ctx, module, lut=False)
    assert not ops_of(no_lut, q.LutOp) and len(ops_of(no_lut, nn.SigmoidOp)) == 1
    cos, _ = agreement(ref_logits, run_function(no_lut, [x])[0])
    assert cos > 0.999


def test_text_round_trip_and_same_results(ctx, conv_bn_relu):
    x = np.random.default_rng(4).standard_normal((8, 3, 8, 8)).astype(np.float32)
    for weights in ("int8", "int3", "pot3", "pot5", "spot3", "ternary"):
        module = quantized(ctx, conv_bn_relu, weights=weights, activations="uint8")
        text = str(module)
        again = parse(ctx, text)
        assert str(again) == text
        np.testing.assert_array_equal(
            run_function(module, [x])[0], run_function(again, [x])[0]
        )


# --------------------------------------------------------------------------- #
# bit-exact integer pipeline
# --------------------------------------------------------------------------- #


def numpy_conv_levels(
    x: np.ndarray, w: np.ndarray, pads: Sequence[int], strides: Sequence[int]
) -> np.ndarray:
    """sum over (c, i, j) of x[n, c, ...] * w[o, c, i, j] in int64 (group 1)."""
    top, left, bottom, right = pads
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    kh, kw = w.shape[2:]
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    win = win[:, :, :: strides[0], :: strides[1]]
    return np.einsum("nchwij,ocij->nohw", win.astype(object), w.astype(object)).astype(
        np.int64
    )


def test_first_layer_is_bit_exact(ctx, conv_bn_relu):
    module = quantized(ctx, conv_bn_relu, activations="uint8")
    x = np.random.default_rng(5).standard_normal((16, 3, 8, 8)).astype(np.float32)
    recorder = Recorder()
    interpreter = interpreter_for(module, recorder)
    with np.errstate(all="ignore"):
        interpreter.call_op("main", (x,))
    quant = ops_of(module, q.QuantizeOp)[0]
    conv = ops_of(module, q.Conv2dOp)[0]
    req = conv.output.get_user_of_unique_use()
    assert isinstance(req, q.RequantizeOp)

    # levels in: the quantize of the input, ONNX QuantizeLinear semantics
    xtype = q.qtype_of(quant.output)
    assert isinstance(xtype, UniformType) and not xtype.is_signed
    xl = np.clip(
        np.rint(x / np.float32(xtype.scale)) + xtype.zero_point, xtype.qmin, xtype.qmax
    ).astype(np.int64)
    np.testing.assert_array_equal(recorder.results[id(quant)][0], xl)

    # the accumulator: integer convolution of centred levels plus the bias
    wl = conv.weight.owner.levels()
    bl = conv.bias.owner.levels()
    strides, pads, _, _ = conv.attrs
    acc = numpy_conv_levels(xl - xtype.zero_point, wl, pads, strides)
    acc += bl.reshape(1, -1, 1, 1)
    np.testing.assert_array_equal(recorder.results[id(conv)][0], acc)

    # levels out: (acc * M + 2^(s-1)) >> s + zo, saturated, per channel
    mult, shift = req.channel_params()
    otype = q.qtype_of(req.output)
    m = mult.reshape(1, -1, 1, 1).astype(object)
    s = shift.reshape(1, -1, 1, 1)
    y = np.vectorize(lambda a, mm, ss: (a * mm + ((1 << (ss - 1)) if ss else 0)) >> ss)(
        acc.astype(object), m, s
    )
    y = np.clip(y.astype(np.int64) + otype.zero_point, otype.qmin, otype.qmax)
    np.testing.assert_array_equal(recorder.results[id(req)][0], y)
    # and the multiplier is the ratio of scales to 16 bits
    ratio = np.array(q.qtype_of(conv.output).scale_values) / otype.scale
    np.testing.assert_allclose(mult / 2.0**shift, ratio, rtol=2.0**-15)


# --------------------------------------------------------------------------- #
# weight formats
# --------------------------------------------------------------------------- #

FORMAT_TYPES = {
    "int2": (UniformType, -1, 1),
    "int4": (UniformType, -7, 7),
    "int8": (UniformType, -127, 127),
    "int16": (UniformType, -32767, 32767),
    "ternary": (UniformType, -1, 1),
    "pot3": (PotType, -4, 4),
    "pot4": (PotType, -64, 64),
    "pot5": (PotType, -16384, 16384),
    "spot2": (SpotType, -128, 128),
    "spot3": (SpotType, -192, 192),
    "binary": (BinaryType, -1, 1),
}


@pytest.mark.parametrize("name", sorted(FORMAT_TYPES))
def test_weight_levels_are_representable(ctx, conv_bn_relu, name):
    kind, lo, hi = FORMAT_TYPES[name]
    module = quantized(ctx, conv_bn_relu, weights=name)
    consts = weight_constants(module)
    assert len(consts) == 3
    levels_of_format = parse_weight_format(name).levels_attr
    seen: set[int] = set()
    for const in consts:
        qtype = q.qtype_of(const.output)
        assert type(qtype) is kind
        assert (qtype.min_level, qtype.max_level) == (lo, hi)
        assert qtype.quantized_axis is not None  # per channel (the default)
        levels = const.levels()
        assert np.all(qtype.representable(levels))
        assert np.all(levels_of_format.contains(levels))
        seen |= set(np.unique(levels).tolist())
    # the format's own kind of levels appears
    if name == "ternary":
        assert seen == {-1, 0, 1}
    elif name == "binary":
        assert seen == {-1, 1}
    elif name.startswith("pot"):
        nonzero = np.array(sorted(abs(v) for v in seen if v))
        assert np.all(nonzero & (nonzero - 1) == 0) and len(nonzero) >= 3
    elif name.startswith("spot"):
        assert any(v & (v - 1) for v in map(abs, seen))  # a sum of two terms
        assert max(map(abs, seen)) > 64
    else:
        assert max(map(abs, seen)) == hi  # max|w| maps onto the top level


@pytest.mark.parametrize("name", ["int4", "int8", "pot3", "pot4", "spot2", "spot3"])
def test_weight_quantization_error(name):
    rng = np.random.default_rng(6)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    fmt = parse_weight_format(name)
    levels, qtype = quantize_weights(w, fmt, 0)
    sqnr = 10 * np.log10((w**2).sum() / ((w - qtype.dequantize(levels)) ** 2).sum())
    floor = {"int4": 18, "int8": 40, "pot3": 12, "pot4": 14, "spot2": 25, "spot3": 32}
    assert sqnr > floor[name], sqnr


@pytest.mark.parametrize("name", ["pot4", "spot2", "ternary"])
def test_scale_search_is_close_to_brute_force(name):
    rng = np.random.default_rng(7)
    w = rng.standard_normal((4, 50))
    fmt = parse_weight_format(name)
    la = fmt.levels_attr
    scales = weight_scales(w, fmt, 0)
    for c in range(4):
        row = w[c]

        def err(s: float, row=row) -> float:
            return float(((row - s * la.nearest(row / s)) ** 2).sum())

        amax = np.abs(row).max()
        fine = amax / fmt.max_level * 2.0 ** (-np.arange(0, 4 * 256) / 256)
        best = min(err(s) for s in fine)
        assert err(scales[c]) <= best * 1.05


def test_binary_weights_one_bit_mean_abs_scale(ctx, conv_bn_relu):
    """Binary weights: one bit per weight in the constant, levels sign(w)
    (+1 at 0), scale mean|w| per channel, which is the squared-error optimum
    for those levels; dequantize -> quantize gives the levels back."""
    module = quantized(ctx, conv_bn_relu, weights="binary")
    float_convs = ops_of(conv_bn_relu, nn.Conv2dOp)
    consts = [op.weight.owner for op in ops_of(module, q.Conv2dOp)]
    assert len(consts) == len(float_convs) >= 2
    assert all(
        isinstance(q.qtype_of(c.output), BinaryType) for c in weight_constants(module)
    )
    for const, conv in zip(consts, float_convs, strict=True):
        w = dense_to_numpy(conv.weight.owner.value).astype(np.float64)  # OIHW
        qtype = q.qtype_of(const.output)
        assert isinstance(qtype, BinaryType) and qtype.quantized_axis == 0
        assert len(const.value.data) == 2 + 2 * ((w.size + 7) // 8)  # 1 bit each
        levels = const.levels()
        assert np.array_equal(levels, np.where(w >= 0, 1, -1))
        rows = w.reshape(w.shape[0], -1)
        np.testing.assert_allclose(qtype.scale_values, np.abs(rows).mean(1), 1e-12)
        real = qtype.dequantize(levels)
        assert np.array_equal(
            np.abs(real),
            np.broadcast_to(
                np.array(qtype.scale_values, np.float32).reshape(-1, 1, 1, 1), w.shape
            ),
        )
        assert np.array_equal(qtype.quantize(real), levels)
        for c in range(rows.shape[0]):  # mean|w| beats every other scale
            s = qtype.scale_values[c]
            signs = np.where(rows[c] >= 0, 1.0, -1.0)
            best = ((rows[c] - s * signs) ** 2).sum()
            for k in (0.9, 0.99, 1.01, 1.1):
                assert best < ((rows[c] - k * s * signs) ** 2).sum()


def test_binary_weight_errors():
    fmt = parse_weight_format("binary")
    assert (fmt.kind, fmt.bits, fmt.max_level) == ("binary", 1, 1)
    w = np.array([[0.5, -1.5], [0.0, 0.0]])
    with pytest.raises(ValueError, match="channel 1 of axis 0 is all zero"):
        weight_scales(w, fmt, 0)
    with pytest.raises(ValueError, match="the tensor is all zero"):
        weight_scales(np.zeros((2, 2)), fmt, None)
    np.testing.assert_allclose(weight_scales(w, fmt, None), [0.5])
    with pytest.raises(ValueError, match=r"group:4' is not supported"):
        parse_granularity("group:4")
    with pytest.raises(ValueError, match="unknown weight granularity 'bit'"):
        QuantizePass(weights="binary", weight_granularity="bit")
    with pytest.raises(ValueError, match="'binary' is a weight format"):
        parse_act_format("binary")


def test_uniform_weight_scale_is_max_over_qmax():
    w = np.array([[0.5, -1.27], [0.0, 0.0], [3.0, 1.0]], dtype=np.float32)
    scales = weight_scales(w, parse_weight_format("int8"), 0)
    np.testing.assert_allclose(scales, [1.27 / 127, 1.0, 3.0 / 127], rtol=1e-7)
    levels, qtype = quantize_weights(w, parse_weight_format("int8"), None)
    assert qtype.is_per_tensor and qtype.scale == pytest.approx(3.0 / 127)
    assert levels.max() == 127


@pytest.mark.parametrize(
    ("name", "lo", "hi", "width", "signed", "scale", "zp"),
    [
        ("int8", -2.0, 1.0, 8, True, 2.0 / 127, 0),
        ("int8", 0.5, 2.55, 8, False, 2.55 / 255, 0),
        ("int4", -0.5, 3.5, 4, True, 3.5 / 7, 0),
        ("uint8", -1.0, 3.0, 8, False, 4.0 / 255, 64),
        ("uint8", 1.0, 2.0, 8, False, 2.0 / 255, 0),
        ("uint8", -2.0, -1.0, 8, False, 2.0 / 255, 255),
        ("int8", 0.0, 0.0, 8, False, 1.0, 0),
    ],
)
def test_activation_types(name, lo, hi, width, signed, scale, zp):
    t = parse_act_format(name).qtype(lo, hi)
    assert (t.width, t.is_signed, t.zero_point) == (width, signed, zp)
    assert t.scale == pytest.approx(scale, rel=1e-12)


# --------------------------------------------------------------------------- #
# recipes
# --------------------------------------------------------------------------- #


def test_recipe_overrides_matching_layers_only(ctx, conv_bn_relu, tmp_path):
    recipe = tmp_path / "r.txt"
    recipe.write_text(
        "# the second conv and its relu\n"
        "relu2, conv2 : weights=pot4/tensor acts=int4\n"
        "logits : bias-bits=0; nn.conv2d : weights=ternary\n"
    )
    module = quantized(ctx, conv_bn_relu, recipe=str(recipe))
    w1, w2, w3 = (q.qtype_of(c.output) for c in weight_constants(module))
    # conv1 (%relu1 after folding) matches only `nn.conv2d`
    assert isinstance(w1, UniformType) and w1.max_level == 1
    assert isinstance(w2, PotType) and w2.is_per_tensor
    assert isinstance(w3, UniformType) and w3.max_level == 127
    reqs = ops_of(module, q.RequantizeOp)
    out_types = [q.qtype_of(r.output) for r in reqs]
    assert [t.width for t in out_types] == [8, 4, 8]
    gemm = ops_of(module, q.MatmulOp)[0]
    assert q.qtype_of(gemm.bias).width < 32
    assert all(q.qtype_of(c.bias).width == 32 for c in ops_of(module, q.Conv2dOp))


def test_recipe_grammar():
    recipe = parse_recipe(
        "a*, b : weights=int4/channel\n\n  # comment\nc: acts=uint4 bias-bits=0 ;d:"
        " granularity=tensor",
        "r",
    )
    assert [r.patterns for r in recipe.rules] == [("a*", "b"), ("c",), ("d",)]
    assert recipe.match(["abc"]).weights.name == "int4"
    assert recipe.match(["x", "c"]).acts.name == "uint4"
    assert recipe.match(["d"]).granularity == "tensor"
    assert recipe.match(["zzz", "nn.conv2d"]) is None
    for bad, message in [
        ("a weights=int4", "r:1:3: unexpected 'weights'; expected ',' or ':'"),
        ("a : weights", "r:1:5: unexpected end of the recipe; expected '='"),
        ("a : bits=4", "r:1:5: unknown setting 'bits'"),
        ("a : acts=int8 acts=int4", "r:1:15: 'acts' is set twice in one rule"),
        ("a : bias-bits=64", "r:1:5: bias-bits must be 0 or 2..32, got '64'"),
        ("a : weights=uint8", "r:1:5: unknown weight format 'uint8'"),
    ]:
        with pytest.raises(RecipeError) as e:
            parse_recipe(bad, "r")
        assert str(e.value).startswith(message), str(e.value)
        assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- #
# trained digits models, imported from ONNX
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    pytest.importorskip("sklearn")
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from qopt.models.data import load_digits_split

    return load_digits_split(0), tmp_path_factory.mktemp("digits")


@pytest.mark.parametrize("name", ["digits-mlp", "digits-lenet", "digits-resnet"])
def test_trained_digits_model_keeps_its_accuracy(ctx, digits, name):
    from qopt.frontends.onnx import import_onnx
    from qopt.models.train import export_onnx, get_trained, write_calibration

    split, tmp = digits
    trained = get_trained(name, 0, cache=tmp / "cache")
    module = import_onnx(str(export_onnx(trained.model, tmp / f"{name}.onnx")))
    calib = write_calibration(tmp / "calib.npz", 256, "digits", 0)
    CalibratePass(data=str(calib)).apply(ctx, module)
    x, y = split.x_test, split.y_test
    ref = run_function(module, [x])[0]
    float_acc = (ref.argmax(1) == y).mean()
    assert float_acc == pytest.approx(trained.test_acc, abs=1e-9)
    got = run_function(quantized(ctx, module), [x])[0]
    assert abs((got.argmax(1) == y).mean() - float_acc) <= 0.005
    assert (got.argmax(1) == ref.argmax(1)).mean() > 0.99
    got4 = run_function(quantized(ctx, module, weights="int4"), [x])[0]
    assert (got4.argmax(1) == y).mean() > float_acc - 0.03
