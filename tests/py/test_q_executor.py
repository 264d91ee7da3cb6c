"""The reference executor of the `q` ops against independent references:
torch (float64, exact on these integers), Python integers, brute-force loops.
Also: bit-growth widths are minimal, an end-to-end network round-trips
through text bit-exactly, and the executors are vectorised."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Sequence
from io import StringIO

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from xdsl.builder import ImplicitBuilder
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import Builtin, ModuleOp, TensorType, f32
from xdsl.dialects.func import Func
from xdsl.ir import Attribute, Block, Region, SSAValue
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from qopt.backends.reference.runner import run_function
from qopt.qdialect import q
from qopt.qdialect.q import requant_params, signed_width
from qopt.qdialect.qtypes import (
    BinaryType,
    LevelsAttr,
    MixedType,
    PotType,
    QuantizedType,
    SpotType,
    ThresholdsType,
    UniformType,
)

# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def build_module(
    arg_types: Sequence[Attribute], body: Callable[..., Sequence[SSAValue] | SSAValue]
) -> ModuleOp:
    """`func.func @main` whose body `body(*args)` builds and returns values."""
    block = Block(arg_types=arg_types)
    with ImplicitBuilder(block) as args:
        out = body(*args)
        values = [out] if isinstance(out, SSAValue) else list(out)
        func.ReturnOp(*values)
    fn = func.FuncOp("main", (list(arg_types), [v.type for v in values]), Region(block))
    module = ModuleOp([fn])
    module.verify()
    return module


def run(
    arg_types: Sequence[Attribute],
    body: Callable[..., Sequence[SSAValue] | SSAValue],
    inputs: Sequence[np.ndarray],
) -> list[np.ndarray]:
    return run_function(build_module(arg_types, body), inputs)


def only_op(module: ModuleOp, cls: type) -> object:
    return next(op for op in module.walk() if isinstance(op, cls))


def reparse(module: ModuleOp, generic: bool = False) -> ModuleOp:
    text = StringIO()
    Printer(text, print_generic_format=generic).print_op(module)
    ctx = Context()
    for d in (Builtin, Func, q.Q):
        ctx.load_dialect(d)
    parsed = Parser(ctx, text.getvalue()).parse_module()
    parsed.verify()
    return parsed


def random_levels(qtype: QuantizedType, shape: Sequence[int], rng) -> np.ndarray:
    shape = tuple(shape)
    if isinstance(qtype, MixedType):
        index = qtype.format_index(shape)
        out = np.zeros(shape, dtype=np.int64)
        for i, f in enumerate(qtype.formats.data):
            mask = index == i
            out[mask] = rng.choice(f.levels, int(mask.sum()))
        return out
    la = qtype.levels_attr
    if la.kind.data == "int":
        return rng.integers(la.low.data, la.high.data, shape, endpoint=True)
    return rng.choice(la.levels, shape)


def tensor(qtype: Attribute, shape: Sequence[int]) -> TensorType:
    return TensorType(qtype, list(shape))


# --------------------------------------------------------------------------- #
# q.conv2d
# --------------------------------------------------------------------------- #


def torch_conv(x_c, w_c, strides, pads, dilations, group) -> np.ndarray:
    xt = F.pad(
        torch.from_numpy(x_c.astype(np.float64)), (pads[1], pads[3], pads[0], pads[2])
    )
    y = F.conv2d(
        xt,
        torch.from_numpy(w_c.astype(np.float64)),
        stride=tuple(strides),
        dilation=tuple(dilations),
        groups=group,
    )
    return np.rint(y.numpy()).astype(np.int64)


def weight_types(out_ch: int, wshape: tuple[int, ...]) -> list[QuantizedType]:
    rng = np.random.default_rng(out_ch)
    per_ch = [float(2.0 ** -int(e)) for e in rng.integers(1, 5, out_ch)]
    row_map = rng.integers(0, 2, out_ch)
    numel = int(np.prod(wshape))
    block = wshape[-1]
    return [
        UniformType(8, True, 0.02),
        UniformType(4, False, per_ch, rng.integers(0, 15, out_ch).tolist(), axis=0),
        PotType(4, per_ch, axis=0),
        PotType(3, 0.5, signed=False),
        SpotType(2, 4, per_ch, axis=0, low=1, high=5),
        MixedType(
            [LevelsAttr.int_(2), LevelsAttr.int_(8)], "row", row_map, per_ch, axis=0
        ),
        MixedType(
            [
                LevelsAttr.int_(3),
                LevelsAttr.pot(4),
                LevelsAttr.pot(3, terms=2, shift=1),
            ],
            "block",
            rng.integers(0, 3, numel // block),
            0.1,
            block_size=block,
        ),
        MixedType(
            [LevelsAttr.int_(3), LevelsAttr.int_(8)],
            "outliers",
            np.sort(rng.choice(numel, max(1, numel // 10), replace=False)),
            per_ch,
            axis=0,
        ),
        BinaryType(per_ch, axis=0),
        MixedType(
            [LevelsAttr.binary(3), LevelsAttr.int_(4)], "row", row_map, per_ch, axis=0
        ),
    ]


CONV_CASES = [
    # (x shape, out channels, kernel, strides, pads, dilations, group)
    ((2, 4, 9, 8), 6, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    ((1, 4, 11, 10), 4, (3, 2), (2, 1), (0, 1, 2, 0), (1, 2), 2),
    ((2, 6, 7, 9), 6, (3, 3), (2, 3), (2, 1, 1, 2), (2, 1), 6),
    ((1, 3, 5, 5), 5, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    ((3, 2, 6, 7), 4, (5, 3), (1, 2), (2, 0, 2, 1), (1, 1), 1),
]

X_TYPES = [
    UniformType(8, False, 0.05, 128),
    UniformType(8, True, 0.1, -5),
    UniformType(4, False, 0.25, 3),
    ThresholdsType(2, 0.5, [-1.0, 0.0, 1.0], 1),
]


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
@pytest.mark.parametrize("wkind", range(10))
def test_conv2d_against_torch(case: int, wkind: int) -> None:
    xshape, out_ch, kernel, strides, pads, dilations, group = CONV_CASES[case]
    wshape = (out_ch, xshape[1] // group, *kernel)
    wtype = weight_types(out_ch, wshape)[wkind]
    xtype = X_TYPES[(case + wkind) % len(X_TYPES)]
    rng = np.random.default_rng(100 * case + wkind)
    w_levels = random_levels(wtype, wshape, rng)
    x_levels = random_levels(xtype, xshape, rng)
    with_bias = (case + wkind) % 2 == 0
    acc_scales = [xtype.scale * s for s in wtype.scale_values]
    btype = (
        UniformType(16, True, acc_scales, axis=0)
        if len(acc_scales) > 1
        else UniformType(16, True, acc_scales[0])
    )
    b_levels = rng.integers(-30000, 30000, out_ch)

    def body(x, b):
        w = q.ConstantOp.from_levels(w_levels, wtype).output
        return q.Conv2dOp(
            x,
            w,
            b if with_bias else None,
            strides=strides,
            pads=pads,
            dilations=dilations,
            group=group,
        ).output

    module = build_module([tensor(xtype, xshape), tensor(btype, (out_ch,))], body)
    (got,) = run_function(module, [x_levels, b_levels])
    x_c = x_levels - xtype.zero_point_array(xshape)
    w_c = w_levels - wtype.zero_point_array(wshape)
    want = torch_conv(x_c, w_c, strides, pads, dilations, group)
    if with_bias:
        want = want + b_levels.reshape(1, -1, 1, 1)
    assert got.dtype == np.int64
    assert np.array_equal(got, want)
    # and the same through the generic text form
    (again,) = run_function(reparse(module, generic=True), [x_levels, b_levels])
    assert np.array_equal(again, want)


def test_conv2d_wide_integers_use_int64() -> None:
    """Partial sums beyond 2^53 take the int64 path; checked with Python ints."""
    xtype = UniformType(40, True, 1.0)
    wtype = UniformType(16, True, 1.0)
    rng = np.random.default_rng(0)
    xs, ws = (1, 3, 4, 4), (2, 3, 3, 3)
    x = rng.integers(-(1 << 39), 1 << 39, xs)
    x[0, :, :3, :3] = -(1 << 39)
    w = rng.integers(-(1 << 15), 1 << 15, ws)
    w[0] = -(1 << 15)
    (got,) = run(
        [tensor(xtype, xs), tensor(wtype, ws)],
        lambda a, b: q.Conv2dOp(a, b).output,
        [x, w],
    )
    want = np.zeros((1, 2, 2, 2), dtype=object)
    for o, i, j in itertools.product(range(2), range(2), range(2)):
        patch = x[0, :, i : i + 3, j : j + 3].astype(object)
        want[0, o, i, j] = int((patch * w[o].astype(object)).sum())
    assert got.tolist() == want.tolist()
    assert got[0, 0, 0, 0] == 27 * (1 << 54)


# --------------------------------------------------------------------------- #
# q.matmul
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("ashape", "bshape"),
    [
        ((3, 5), (5, 4)),
        ((2, 1, 3, 5), (4, 5, 6)),
        ((2, 3, 7), (7, 2)),
        ((4, 2, 3), (4, 3, 5)),
    ],
)
@pytest.mark.parametrize("per_column", [False, True])
def test_matmul_against_einsum(ashape, bshape, per_column) -> None:
    rng = np.random.default_rng(len(ashape) * 10 + per_column)
    n = bshape[-1]
    atype = UniformType(8, False, 0.02, 77)
    if per_column:
        scales = [float(2.0**-k) for k in rng.integers(0, 4, n)]
        btype = UniformType(
            6, True, scales, rng.integers(-5, 5, n).tolist(), axis=len(bshape) - 1
        )
    else:
        btype = PotType(5, 0.25)
    a = random_levels(atype, ashape, rng)
    b = random_levels(btype, bshape, rng)
    bias_type = (
        UniformType(12, True, [atype.scale * s for s in btype.scale_values], axis=0)
        if per_column
        else UniformType(12, True, atype.scale * btype.scale)
    )
    bias = rng.integers(-2000, 2000, n)
    (got,) = run(
        [tensor(atype, ashape), tensor(btype, bshape), tensor(bias_type, (n,))],
        lambda x, y, z: q.MatmulOp(x, y, z).output,
        [a, b, bias],
    )
    a_c = a - 77
    b_c = b - btype.zero_point_array(bshape)
    batch = np.broadcast_shapes(ashape[:-2], bshape[:-2])
    a_b = np.broadcast_to(a_c, (*batch, *ashape[-2:]))
    b_b = np.broadcast_to(b_c, (*batch, *bshape[-2:]))
    want = np.einsum("...mk,...kn->...mn", a_b, b_b) + bias
    assert np.array_equal(got, want)


# --------------------------------------------------------------------------- #
# q.requantize
# --------------------------------------------------------------------------- #


def requantize_reference(x, zx, mult, shift, zo, qmin, qmax) -> int:
    v = (int(x) - int(zx)) * int(mult)
    if shift:
        v += 1 << (int(shift) - 1)
    v >>= int(shift)  # Python's >> floors, like an arithmetic shift
    return min(max(v + zo, qmin), qmax)


def test_requantize_rounding_half_up() -> None:
    xtype = UniformType(16, True, 1.0)
    otype = UniformType(8, True, 4.0)
    x = np.array([-10, -6, -2, 2, 6, 10, 5, -5, 3, -3, 1000, -1000])
    (got,) = run(
        [tensor(xtype, x.shape)], lambda a: q.RequantizeOp(a, otype).output, [x]
    )
    # x / 4: -2.5 -> -2, -1.5 -> -1, -0.5 -> 0, 0.5 -> 1, 1.5 -> 2, 2.5 -> 3
    assert got.tolist() == [-2, -1, 0, 1, 2, 3, 1, -1, 1, -1, 127, -128]


@pytest.mark.parametrize("seed", range(6))
def test_requantize_against_python_ints(seed: int) -> None:
    rng = np.random.default_rng(seed)
    channels = 5
    per_axis = seed % 2 == 1
    xs = [float(rng.uniform(1e-4, 1e-2)) for _ in range(channels)]
    if per_axis:
        xtype = UniformType(
            24, True, xs, rng.integers(-100, 100, channels).tolist(), axis=1
        )
    else:
        xtype = UniformType(24, True, xs[0], int(rng.integers(-100, 100)))
    signed = seed % 3 == 0
    otype = UniformType(
        8,
        signed,
        float(rng.uniform(0.01, 0.1)),
        int(rng.integers(-20, 20)) if signed else int(rng.integers(0, 255)),
    )
    shape = (3, channels, 4)
    x = random_levels(xtype, shape, rng)
    x[0, :, 0] = xtype.qmin
    x[0, :, 1] = xtype.qmax
    mult_bits = [8, 16, 31][seed % 3]
    module = build_module(
        [tensor(xtype, shape)],
        lambda a: q.RequantizeOp(a, otype, mult_bits=mult_bits).output,
    )
    (got,) = run_function(module, [x])
    op = only_op(module, q.RequantizeOp)
    mult, shift = op.channel_params()
    zx = xtype.zero_point_array(shape)
    want = np.zeros(shape, dtype=np.int64)
    for idx in np.ndindex(*shape):
        c = idx[1] if per_axis else 0
        want[idx] = requantize_reference(
            x[idx],
            np.broadcast_to(zx, shape)[idx],
            mult[c],
            shift[c],
            otype.zero_point,
            otype.qmin,
            otype.qmax,
        )
    assert np.array_equal(got, want)
    # close to the real-valued rescaling (within rounding and the multiplier error)
    real = xtype.dequantize(x).astype(np.float64)
    ideal = np.clip(
        np.round(real / otype.scale) + otype.zero_point, otype.qmin, otype.qmax
    )
    assert np.abs(got - ideal).max() <= 1


@pytest.mark.parametrize("mult_bits", [4, 8, 16, 24, 31, 32])
def test_requant_params_accuracy(mult_bits: int) -> None:
    rng = np.random.default_rng(mult_bits)
    ratios = np.exp(rng.uniform(np.log(2.0**-45), np.log(2.0**20), 2000))
    for r in [*ratios.tolist(), 1.0, 0.5, 2.0**-40, 3.0, 2.0**-62, 2.0**20 * 3]:
        m, s = requant_params(r, mult_bits)
        assert 1 <= m < 1 << 32 and 0 <= s <= 62
        if r == 2.0 ** round(np.log2(r)):
            assert m == 1 << max(0, round(np.log2(r))) and (m == 1 or s == 0)
        assert abs(m / 2.0**s - r) <= r * 2.0**-mult_bits * (1 + 1e-12) + 2.0**-63
        ideal = r * 2.0**s
        assert ideal >= 0.5 and abs(m - ideal) <= 0.5 + 1e-9
    with pytest.raises(ValueError):
        requant_params(0.0)
    with pytest.raises(ValueError):
        requant_params(1.0, 33)


def test_requantize_verifier_uses_the_rule() -> None:
    xtype = UniformType(16, True, 0.3)
    otype = UniformType(8, True, 1.0)
    arg = [tensor(xtype, (4,))]
    # M >> s = 0.3: 2^4 * 0.3 = 4.8, so M = 4 or 5 (even 6 is within 1.2: no)
    build_module(arg, lambda a: q.RequantizeOp(a, otype, [5], [4]).output)
    build_module(arg, lambda a: q.RequantizeOp(a, otype, [4], [4]).output)
    with pytest.raises(VerifyException, match="does not match the scale ratio"):
        build_module(arg, lambda a: q.RequantizeOp(a, otype, [6], [4]).output)
    # shift-only: 2^-2 approximates 0.3 (2^2 * 0.3 = 1.2); 2^0 does not (0.3 < 0.5)
    build_module(arg, lambda a: q.RequantizeOp(a, otype, [1], [2]).output)
    with pytest.raises(VerifyException, match=r"must be >= 0\.5"):
        build_module(arg, lambda a: q.RequantizeOp(a, otype, [1], [0]).output)


# --------------------------------------------------------------------------- #
# q.add, q.clamp, q.relu
# --------------------------------------------------------------------------- #


def test_add_alignment() -> None:
    at = UniformType(8, False, 0.5, 100)
    bt = UniformType(8, True, 0.125, -7)
    rng = np.random.default_rng(4)
    a = random_levels(at, (3, 1, 4), rng)
    b = random_levels(bt, (5, 4), rng)
    module = build_module(
        [tensor(at, (3, 1, 4)), tensor(bt, (5, 4))], lambda x, y: q.AddOp(x, y).output
    )
    (got,) = run_function(module, [a, b])
    op = only_op(module, q.AddOp)
    assert op.alignment() == (2, 0)
    otype = q.qtype_of(op.output)
    assert otype.scale == 0.125
    assert otype.width == signed_width(
        ((0 - 100) << 2) - 128 + 7, ((255 - 100) << 2) + 127 + 7
    )
    want = ((a - 100) << 2) + (b + 7)
    assert np.array_equal(got, want)
    # exact in real numbers too
    real = (a - 100) * 0.5 + (b + 7) * 0.125
    assert np.array_equal(got * 0.125, real)
    # operand order does not matter, and equal scales need no shift
    m2 = build_module(
        [tensor(bt, (5, 4)), tensor(bt, (5, 4))], lambda x, y: q.AddOp(x, y).output
    )
    assert only_op(m2, q.AddOp).alignment() == (0, 0)


def test_add_rejects_non_power_of_two() -> None:
    at, bt = UniformType(8, True, 0.5), UniformType(8, True, 0.3)
    with pytest.raises(VerifyException, match="not a power of two"):
        build_module(
            [tensor(at, (2,)), tensor(bt, (2,))], lambda x, y: q.AddOp(x, y).output
        )


def test_relu_and_clamp_with_zero_points() -> None:
    t = UniformType(8, False, [0.1, 0.2, 0.3], [128, 0, 255], axis=1)
    rng = np.random.default_rng(5)
    x = random_levels(t, (2, 3, 4), rng)
    relu, clamp = run(
        [tensor(t, (2, 3, 4))],
        lambda a: [q.ReluOp(a).output, q.ClampOp(a, 10, 200).output],
        [x],
    )
    assert np.array_equal(relu, np.maximum(x, np.array([128, 0, 255]).reshape(1, 3, 1)))
    assert np.array_equal(clamp, np.clip(x, 10, 200))
    p = PotType(4, 1.0)
    xp = random_levels(p, (20,), rng)
    relu, clamp = run(
        [tensor(p, (20,))],
        lambda a: [q.ReluOp(a).output, q.ClampOp(a, -4, 16).output],
        [xp],
    )
    assert np.array_equal(relu, np.maximum(xp, 0))
    assert np.array_equal(clamp, np.clip(xp, -4, 16))
    th = ThresholdsType(2, 1.0, [0.0, 1.0, 2.0], 1)
    xt = rng.integers(0, 4, 10)
    (relu,) = run([tensor(th, (10,))], lambda a: q.ReluOp(a).output, [xt])
    assert np.array_equal(relu, np.maximum(xt, 1))


# --------------------------------------------------------------------------- #
# Pools
# --------------------------------------------------------------------------- #

POOL_CASES = [
    # kernel, strides, symmetric pads (h, w), dilations, ceil_mode, input hw
    ((2, 2), (2, 2), (0, 0), (1, 1), False, (8, 8)),
    ((3, 3), (2, 2), (1, 1), (1, 1), True, (7, 8)),
    ((3, 2), (2, 3), (1, 0), (2, 1), True, (9, 10)),
    ((2, 3), (3, 2), (1, 1), (1, 2), False, (6, 11)),
    ((3, 3), (3, 3), (1, 1), (1, 1), True, (5, 5)),
    ((1, 1), (2, 2), (0, 0), (1, 1), True, (6, 5)),
]


@pytest.mark.parametrize("case", POOL_CASES)
def test_maxpool_against_torch(case) -> None:
    kernel, strides, (ph, pw), dilations, ceil, hw = case
    t = UniformType(8, True, 0.1, -20)
    shape = (2, 3, *hw)
    x = random_levels(t, shape, np.random.default_rng(sum(hw)))
    pads = (ph, pw, ph, pw)
    (got,) = run(
        [tensor(t, shape)],
        lambda a: q.MaxPool2dOp(a, kernel, strides, pads, dilations, ceil).output,
        [x],
    )
    want = F.max_pool2d(
        torch.from_numpy(x.astype(np.float64)),
        kernel,
        strides,
        (ph, pw),
        dilations,
        ceil_mode=ceil,
    )
    assert np.array_equal(got, want.numpy().astype(np.int64))


@pytest.mark.parametrize("case", POOL_CASES)
def test_avgpool_sums_against_torch(case) -> None:
    kernel, strides, (ph, pw), _, ceil, hw = case
    t = UniformType(4, False, 0.5, 6)
    shape = (2, 3, *hw)
    x = random_levels(t, shape, np.random.default_rng(sum(hw) + 1))
    pads = (ph, pw, ph, pw)
    module = build_module(
        [tensor(t, shape)],
        lambda a: q.AvgPool2dOp(a, kernel, strides, pads, ceil).output,
    )
    (got,) = run_function(module, [x])
    sums = F.avg_pool2d(
        torch.from_numpy((x - 6).astype(np.float64)),
        kernel,
        strides,
        (ph, pw),
        ceil_mode=ceil,
        count_include_pad=True,
        divisor_override=1,
    )
    assert np.array_equal(got, sums.numpy().astype(np.int64))
    otype = q.qtype_of(only_op(module, q.AvgPool2dOp).output)
    assert otype.scale == 0.5 / (kernel[0] * kernel[1])


def brute_max_pool(x, kernel, strides, pads, dilations, out_hw) -> np.ndarray:
    n, c, h, w = x.shape
    out = np.full((n, c, *out_hw), np.iinfo(np.int64).min)
    for oy, ox in itertools.product(range(out_hw[0]), range(out_hw[1])):
        for i, j in itertools.product(range(kernel[0]), range(kernel[1])):
            y = oy * strides[0] - pads[0] + i * dilations[0]
            xx = ox * strides[1] - pads[1] + j * dilations[1]
            if 0 <= y < h and 0 <= xx < w:
                out[:, :, oy, ox] = np.maximum(out[:, :, oy, ox], x[:, :, y, xx])
    return out


@pytest.mark.parametrize("ceil", [False, True])
def test_maxpool_asymmetric_pads(ceil: bool) -> None:
    t = PotType(4, 0.5)
    shape = (1, 2, 7, 9)
    x = random_levels(t, shape, np.random.default_rng(9))
    kernel, strides, pads, dilations = (3, 2), (2, 2), (2, 0, 0, 1), (1, 2)
    module = build_module(
        [tensor(t, shape)],
        lambda a: q.MaxPool2dOp(a, kernel, strides, pads, dilations, ceil).output,
    )
    (got,) = run_function(module, [x])
    want = brute_max_pool(x, kernel, strides, pads, dilations, got.shape[2:])
    assert np.array_equal(got, want)


def test_maxpool_window_in_padding_rejected() -> None:
    t = UniformType(8, True, 1.0)
    with pytest.raises(VerifyException, match="entirely in the padding"):
        build_module(
            [tensor(t, (1, 1, 3, 3))],
            lambda a: q.MaxPool2dOp(a, (2, 1), (1, 1), (1, 0, 1, 0), (4, 1)).output,
        )


# --------------------------------------------------------------------------- #
# q.lut, q.quantize, q.dequantize
# --------------------------------------------------------------------------- #


def test_lut_from_function() -> None:
    xt = UniformType(8, False, 0.05, 100)
    ot = UniformType(8, True, 1 / 127)
    x = np.arange(256).reshape(2, 128)
    module = build_module(
        [tensor(xt, (2, 128))], lambda a: q.LutOp.from_function(a, np.tanh, ot).output
    )
    (got,) = run_function(module, [x])
    real = (x - 100).astype(np.float32) * np.float32(0.05)
    want = np.clip(np.rint(np.tanh(real) / np.float32(1 / 127)), -128, 127)
    assert np.array_equal(got, want.astype(np.int64))
    # thresholds input (codes 0..3) to pot output
    th = ThresholdsType(2, 0.5, [0.0, 1.0, 2.0], 1)
    pt = PotType(4, 0.25)
    codes = np.array([[0, 1, 2, 3]])
    (got,) = run(
        [tensor(th, (1, 4))],
        lambda a: q.LutOp.from_function(a, lambda r: r * 3, pt).output,
        [codes],
    )
    # reals -0.5, 0, 0.5, 1.0 -> *3 -> -1.5, 0, 1.5, 3.0 -> /0.25 -> -6, 0, 6, 12 -> pot
    assert got.tolist() == [[-4, 0, 4, 8]]


def test_quantize_dequantize_ops() -> None:
    types = [
        UniformType(8, False, [0.1, 0.2, 0.05], [128, 3, 0], axis=1),
        PotType(4, 0.25),
        SpotType(2, 4, [[0.5, 0.25], [0.125, 1.0], [0.5, 0.5]], blocks={1: 1, 2: 3}),
        ThresholdsType(
            3, 0.5, np.sort(np.random.default_rng(1).normal(0, 1, (3, 7)), 1), 2, axis=1
        ),
        MixedType([LevelsAttr.int_(2), LevelsAttr.int_(8)], "row", [1, 0], 0.05),
    ]
    x = np.random.default_rng(2).normal(0, 2, (2, 3, 6)).astype(np.float32)
    for t in types:
        qlev, real = run(
            [TensorType(f32, [2, 3, 6])],
            lambda a, t=t: [
                (qv := q.QuantizeOp(a, t).output),
                q.DequantizeOp(qv).output,
            ],
            [x],
        )
        assert np.array_equal(qlev, t.quantize(x)), t
        assert np.array_equal(real, t.dequantize(qlev)), t
        assert real.dtype == np.float32


# --------------------------------------------------------------------------- #
# Bit growth: the builders' widths are minimal
# --------------------------------------------------------------------------- #


def _extreme_inputs(xr, wr_lo, wr_hi, want_max: bool):
    """Per term: the (x, w) corner that maximises (or minimises) x * w."""
    corners = [(xv, wv) for xv in xr for wv in (wr_lo, wr_hi)]
    products = np.stack([xv * wv for xv, wv in corners])
    pick = products.argmax(axis=0) if want_max else products.argmin(axis=0)
    best_x = np.array([corners[c][0] for c in pick])
    best_w = np.array([corners[c][1][i] for i, c in enumerate(pick)])
    return best_x, best_w


MATMUL_WIDTH_CASES = [
    (UniformType(8, False, 0.1, 128), UniformType(8, True, 0.1), 64, None),
    (UniformType(8, True, 0.1, -128), UniformType(4, False, 0.1, 15), 9, None),
    (UniformType(4, False, 0.1), PotType(4, 0.5), 27, UniformType(20, True, 0.05)),
    (UniformType(3, True, 0.1, 3), SpotType(2, 4, 0.5, high=5), 100, None),
    (ThresholdsType(2, 1.0, [0.0, 1.0, 2.0], 3), UniformType(2, True, 1.0), 7, None),
    (UniformType(1, False, 1.0), UniformType(1, True, 1.0), 1, None),
]


@pytest.mark.parametrize("case", range(len(MATMUL_WIDTH_CASES)))
def test_matmul_width_is_minimal(case: int) -> None:
    xtype, wtype, k, btype = MATMUL_WIDTH_CASES[case]
    n = 3
    args = [tensor(xtype, (2, k)), tensor(wtype, (k, n))]
    if btype is not None:
        args.append(tensor(btype, (n,)))
    module = build_module(args, lambda *a: q.MatmulOp(*a).output)
    rtype = q.qtype_of(only_op(module, q.MatmulOp).output)
    lo, hi = q.linear_range(xtype, wtype, (k, n), (0,))
    if btype is not None:
        lo, hi = lo + btype.min_level, hi + btype.max_level
    assert rtype.width == signed_width(lo, hi)
    xr = [
        xtype.min_level - max(xtype.zp_values),
        xtype.max_level - min(xtype.zp_values),
    ]
    wl = np.full(k, wtype.min_level) - wtype.zp_values[0]
    wh = np.full(k, wtype.max_level) - wtype.zp_values[0]
    zx = xtype.zp_values[0]
    xs, ws = [], []
    for want_max in (True, False):
        bx, bw = _extreme_inputs(xr, wl, wh, want_max)
        xs.append(bx + zx)
        ws.append(bw + wtype.zp_values[0])
    x = np.stack(xs)  # row 0 reaches the max with column 0, row 1 the min with column 1
    w = np.stack([ws[0], ws[1], ws[0]], axis=1)
    inputs = [x, w]
    if btype is not None:
        inputs.append(np.array([btype.max_level, btype.min_level, 0]))
    (got,) = run_function(module, inputs)
    assert got[0, 0] == hi and got[1, 1] == lo
    # random corner inputs never leave the range
    rng = np.random.default_rng(case)
    for _ in range(20):
        xr_ = rng.choice([xtype.min_level, xtype.max_level, xtype.zp_values[0]], (2, k))
        wr_ = rng.choice([wtype.min_level, wtype.max_level], (k, n))
        ins = [xr_, wr_] + (
            [rng.choice([btype.min_level, btype.max_level], n)] if btype else []
        )
        (out,) = run_function(module, ins)
        assert lo <= out.min() and out.max() <= hi
    # one bit less does not verify
    narrow = (
        UniformType(rtype.width - 1, True, rtype.scale) if rtype.width > 1 else None
    )
    if narrow is not None:
        mm = only_op(module, q.MatmulOp)
        bad = q.MatmulOp.create(
            operands=list(mm.operands),
            result_types=[TensorType(narrow, mm.output.type.get_shape())],
        )
        with pytest.raises(VerifyException, match="too narrow"):
            bad.verify()


def test_mixed_weight_width_uses_the_map() -> None:
    """Each element of a q.mixed weight contributes its own format's range."""
    xtype = UniformType(8, True, 1.0)  # centred [-128, 127]
    f = [LevelsAttr.int_(2), LevelsAttr.int_(8)]
    wshape = (4, 1, 4, 4)  # 4 output channels (rows), K = 16
    narrow = MixedType(f, "row", [0, 0, 0, 0], 1.0)
    wide = MixedType(f, "row", [0, 1, 0, 0], 1.0)
    cases = [
        (narrow, 0, -2, (-127 * 2 * 16, 128 * 2 * 16)),  # i2 only: [-4064, 4096]
        (wide, 1, -128, (-128 * 127 * 16, 128 * 128 * 16)),
    ]
    for wtype, row, low_level, (lo, hi) in cases:
        assert q.linear_range(xtype, wtype, wshape, (1, 2, 3)) == (lo, hi)
        w = random_levels(wtype, wshape, np.random.default_rng(row))
        w[row] = low_level  # x = -128 against the lowest level reaches hi

        def body(a, wt=wtype, wl=w):
            return q.Conv2dOp(a, q.ConstantOp.from_levels(wl, wt).output).output

        module = build_module([tensor(xtype, (1, 1, 4, 4))], body)
        rtype = q.qtype_of(only_op(module, q.Conv2dOp).output)
        assert rtype.width == signed_width(lo, hi)
        (got,) = run_function(module, [np.full((1, 1, 4, 4), -128)])
        assert got.max() == hi
    # the type-only bound of the narrow map would be as wide as the wide one
    assert q.dot_range(xtype, narrow, 16) == (-128 * 127 * 16, 128 * 128 * 16)


def test_conv_width_minimal_with_per_channel_zero_points() -> None:
    xtype = UniformType(8, False, 0.1, 0)
    wtype = UniformType(
        4, False, [0.5, 0.25], [0, 15], axis=0
    )  # centred [0,15] and [-15,0]
    wshape = (2, 3, 2, 2)
    module = build_module(
        [tensor(xtype, (1, 3, 2, 2)), tensor(wtype, wshape)],
        lambda a, b: q.Conv2dOp(a, b).output,
    )
    rtype = q.qtype_of(only_op(module, q.Conv2dOp).output)
    k = 12
    assert q.linear_range(xtype, wtype, wshape, (1, 2, 3)) == (
        -255 * 15 * k,
        255 * 15 * k,
    )
    assert rtype.width == signed_width(-255 * 15 * k, 255 * 15 * k)
    w = np.stack([np.full((3, 2, 2), 15), np.full((3, 2, 2), 0)])
    (got,) = run_function(module, [np.full((1, 3, 2, 2), 255), w])
    assert got.ravel().tolist() == [255 * 15 * k, -255 * 15 * k]


def test_avgpool_and_add_widths_are_minimal() -> None:
    t = UniformType(8, False, 1.0, 200)
    module = build_module(
        [tensor(t, (1, 1, 3, 3))], lambda a: q.AvgPool2dOp(a, (3, 3)).output
    )
    rtype = q.qtype_of(only_op(module, q.AvgPool2dOp).output)
    assert rtype.width == signed_width(-200 * 9, 55 * 9)
    (got,) = run_function(module, [np.zeros((1, 1, 3, 3), dtype=np.int64)])
    assert got.item() == -1800 and -(1 << (rtype.width - 2)) > -1800
    a, b = UniformType(8, True, 1.0), UniformType(8, True, 0.5)
    module = build_module(
        [tensor(a, (1,)), tensor(b, (1,))], lambda x, y: q.AddOp(x, y).output
    )
    rtype = q.qtype_of(only_op(module, q.AddOp).output)
    (got,) = run_function(module, [np.array([-128]), np.array([-128])])
    assert got.item() == -128 * 2 - 128 and rtype.width == signed_width(
        -384, 127 * 2 + 127
    )
    assert rtype.width == 10


# --------------------------------------------------------------------------- #
# End to end: conv -> requantize -> relu -> maxpool -> matmul
# --------------------------------------------------------------------------- #


def test_end_to_end_network_bit_exact() -> None:
    rng = np.random.default_rng(42)
    xtype = UniformType(8, False, 0.05, 100)
    wtype = SpotType(2, 4, [0.03125, 0.015625, 0.0625, 0.03125], axis=0, high=5)
    w = random_levels(wtype, (4, 3, 3, 3), rng)
    acc_scales = [xtype.scale * s for s in wtype.scale_values]
    btype = UniformType(16, True, acc_scales, axis=0)
    bias = rng.integers(-1000, 1000, 4)
    atype = UniformType(8, True, 0.1, -10)
    mtype = PotType(4, [0.5, 0.25, 0.125], axis=1)
    m = random_levels(mtype, (4, 3), rng)

    def body(x):
        qx = q.QuantizeOp(x, xtype).output
        cw = q.ConstantOp.from_levels(w, wtype).output
        cb = q.ConstantOp.from_levels(bias, btype).output
        conv = q.Conv2dOp(qx, cw, cb, pads=(1, 1, 1, 1)).output
        act = q.RequantizeOp(conv, atype).output
        act = q.ReluOp(act).output
        pooled = q.MaxPool2dOp(act, (2, 2), (2, 2)).output
        cm = q.ConstantOp.from_levels(m, mtype).output
        mm = q.MatmulOp(pooled, cm).output
        return [q.DequantizeOp(mm).output, mm, pooled]

    module = build_module([TensorType(f32, [2, 3, 8, 8])], body)
    parsed = reparse(reparse(module), generic=True)
    x = rng.normal(1, 2.5, (2, 3, 8, 8)).astype(np.float32)
    real, acc, pooled = run_function(parsed, [x])

    # the same network, directly in numpy
    xq = np.clip(np.rint(x / np.float32(0.05)) + 100, 0, 255).astype(np.int64) - 100
    xp = np.pad(xq, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((2, 4, 8, 8), dtype=np.int64)
    for i, j in itertools.product(range(3), range(3)):
        conv += np.einsum(
            "nchw,oc->nohw", xp[:, :, i : i + 8, j : j + 8], w[:, :, i, j]
        )
    conv += bias.reshape(1, 4, 1, 1)
    req = only_op(parsed, q.RequantizeOp)
    mult, shift = (v.reshape(1, 4, 1, 1) for v in req.channel_params())
    rounding = np.where(shift > 0, 1 << np.maximum(shift - 1, 0), 0)
    act = np.clip(((conv * mult + rounding) >> shift) - 10, -128, 127)
    act = np.maximum(act, -10)
    pool = act.reshape(2, 4, 4, 2, 4, 2).max(axis=(3, 5))
    mm = np.einsum("nchk,kj->nchj", pool + 10, m)
    want_real = mm.astype(np.float32) * np.array(
        [0.1 * s for s in (0.5, 0.25, 0.125)], dtype=np.float32
    )
    assert np.array_equal(pooled, pool)
    assert np.array_equal(acc, mm)
    assert np.array_equal(real, want_real)


# --------------------------------------------------------------------------- #
# Vectorisation: the Python work does not grow with the tensor size
# --------------------------------------------------------------------------- #


def _python_calls(fn: Callable[[], object]) -> int:
    count = 0

    def profiler(frame, event, arg):
        nonlocal count
        if event == "call":
            count += 1

    sys.setprofile(profiler)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count


VECTORISED_OPS = {
    "conv2d": lambda x: (
        q.Conv2dOp(
            x,
            q.ConstantOp.from_levels(
                np.ones((4, 4, 3, 3), np.int64), PotType(4, 1.0)
            ).output,
            pads=(1, 1, 1, 1),
        ).output
    ),
    "conv2d_mixed": lambda x: (
        q.Conv2dOp(
            x,
            q.ConstantOp.from_levels(
                np.ones((4, 4, 3, 3), np.int64),
                MixedType(
                    [LevelsAttr.int_(2), LevelsAttr.pot(4)], "row", [0, 1, 0, 1], 1.0
                ),
            ).output,
        ).output
    ),
    "requantize": lambda x: q.RequantizeOp(x, UniformType(4, True, 3.0)).output,
    "threshold": lambda x: (
        q.ThresholdOp(x, ThresholdsType(4, 1.0, np.linspace(-100, 100, 15))).output
    ),
    "threshold_per_axis": lambda x: (
        q.ThresholdOp(
            x,
            ThresholdsType(
                2, 1.0, [[-5.0, 0.0, 5.0], [0, 1, 2], [3, 4, 5], [-9, 9, 9]], axis=1
            ),
        ).output
    ),
    "relu": lambda x: q.ReluOp(x).output,
    "clamp": lambda x: q.ClampOp(x, -3, 5).output,
    "maxpool": lambda x: (
        q.MaxPool2dOp(x, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True).output
    ),
    "avgpool": lambda x: q.AvgPool2dOp(x, (2, 2), (2, 2)).output,
    "lut": lambda x: (
        q.LutOp.from_function(
            x, lambda r: np.exp(np.minimum(r, 5.0)), UniformType(8, False, 1.0)
        ).output
    ),
    "add": lambda x: q.AddOp(x, x).output,
    "matmul": lambda x: q.MatmulOp(x, x).output,
    "dequantize": lambda x: q.DequantizeOp(x).output,
}


@pytest.mark.parametrize("name", sorted(VECTORISED_OPS))
def test_executors_are_vectorised(name: str) -> None:
    t = UniformType(8, True, 1.0, 3)
    counts = []
    for size in (8, 64):
        shape = (2, 4, size, size)
        module = build_module([tensor(t, shape)], VECTORISED_OPS[name])
        x = random_levels(t, shape, np.random.default_rng(size))
        run_function(module, [x])  # warm caches
        counts.append(_python_calls(lambda m=module, x=x: run_function(m, [x])))
    assert counts[1] <= counts[0] + 20, counts  # 64x the elements, same Python work


def test_quantize_and_packing_are_vectorised() -> None:
    types = [
        SpotType(2, 4, 0.5),
        PotType(4, 0.5),
        ThresholdsType(
            3, 0.5, [[0.0, 1.0], [0.5, 1.5], [1.0, 2.0], [0.0, 0.1]], axis=1
        ),
        UniformType(5, True, [0.1, 0.2, 0.3, 0.4], axis=1),
    ]
    for t in types:
        counts = []
        for size in (8, 64):
            x = (
                np.random.default_rng(size)
                .normal(0, 2, (2, 4, size, size))
                .astype(np.float32)
            )

            def work(t=t, x=x):
                from qopt.qdialect.packing import hex_to_levels, levels_to_hex

                levels = t.quantize(x)
                hex_to_levels(t, x.shape, levels_to_hex(t, levels))

            work()
            counts.append(_python_calls(work))
        assert counts[1] <= counts[0] + 20, (t, counts)


def test_input_levels_are_checked() -> None:
    """Levels given as function arguments must be levels of their type."""
    from qopt.backends.reference.runner import ExecutionError

    t = UniformType(8, False, 1.0)
    module = build_module([tensor(t, (3,))], lambda a: q.ReluOp(a).output)
    assert run_function(module, [np.array([0, 7, 255])])[0].tolist() == [0, 7, 255]
    with pytest.raises(ExecutionError, match="holds level 300 at element 1"):
        run_function(module, [np.array([0, 300, 2])])
    p = PotType(4, 1.0)
    module = build_module([tensor(p, (2,))], lambda a: q.ReluOp(a).output)
    with pytest.raises(ExecutionError, match="holds level 3 at element 0"):
        run_function(module, [np.array([3, 4])])
