"""Quantized element types of the `q` dialect: level sets, storage codes,
packing, quantize/dequantize (against ONNX), thresholds, mixed maps, scales."""

from __future__ import annotations

import math

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import Builtin, f16, f64
from xdsl.ir import Attribute
from xdsl.parser import Parser
from xdsl.utils.exceptions import ParseError, VerifyException

from qopt.qdialect import q
from qopt.qdialect.packing import (
    check_packed,
    hex_to_levels,
    levels_to_hex,
    pack_codes,
    packed_size,
    unpack_codes,
)
from qopt.qdialect.qtypes import (
    MAX_EXPONENT,
    BinaryType,
    LevelsAttr,
    MixedType,
    PotType,
    QuantizedType,
    SpotType,
    ThresholdsType,
    UniformType,
    fmt_float,
)


def parse_attr(text: str) -> Attribute:
    ctx = Context()
    ctx.load_dialect(Builtin)
    ctx.load_dialect(q.Q)
    return Parser(ctx, text).parse_attribute()


def levels_of(text: str) -> list[int]:
    attr = parse_attr(f"#q.levels<{text}>")
    assert isinstance(attr, LevelsAttr)
    return attr.levels.tolist()


# --------------------------------------------------------------------------- #
# Level sets
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pot i3", [-4, -2, -1, 0, 1, 2, 4]),
        ("pot i4", [-64, -32, -16, -8, -4, -2, -1, 0, 1, 2, 4, 8, 16, 32, 64]),
        ("pot u3", [0, 1, 2, 4, 8, 16, 32, 64]),
        ("pot u1", [0, 1]),
        ("pot i2", [-1, 0, 1]),
        ("pot i4<2:5>", [-32, -16, -8, -4, 0, 4, 8, 16, 32]),
        ("pot u3<1:3>", [0, 2, 4, 8]),
        (
            "spot 2 x i3",
            [-8, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 8],
        ),
        ("spot 2 x u2", [0, 1, 2, 3, 4, 5, 6, 8]),
        ("spot 2 x i3<1:2>", [-8, -6, -4, -2, 0, 2, 4, 6, 8]),
        ("spot 3 x u2<0:1>", [0, 1, 2, 3, 4, 5, 6]),
        ("i1", [-1, 0]),
        ("u1", [0, 1]),
        ("i2", [-2, -1, 0, 1]),
        ("u2<1:2>", [1, 2]),
        ("i3<-3:3>", [-3, -2, -1, 0, 1, 2, 3]),
        ("i2 << 2", [-8, -4, 0, 4]),
        ("pot i3 << 1", [-8, -4, -2, 0, 2, 4, 8]),
        ("binary", [-1, 1]),
        ("binary << 3", [-8, 8]),
    ],
)
def test_level_sets(text: str, expected: list[int]) -> None:
    assert levels_of(text) == expected
    attr = parse_attr(f"#q.levels<{text}>")
    assert attr.min_level == expected[0] and attr.max_level == expected[-1]
    assert attr.num_levels == len(expected)


def test_narrow_ranges() -> None:
    attr = parse_attr("#q.levels<i8<-127:127>>")
    assert attr.levels.tolist() == list(range(-127, 128))
    assert attr.code_bits == 8
    assert levels_of("u4<1:14>") == list(range(1, 15))


def test_spot_levels_brute_force() -> None:
    """Every spot level set is the set of sums of `terms` pot values."""
    for text in ["spot 2 x i4", "spot 3 x i3", "spot 2 x u3<1:4>", "spot 4 x i3"]:
        attr = parse_attr(f"#q.levels<{text}>")
        k = attr.terms.data
        pot = LevelsAttr.pot(
            attr.width.data, attr.is_signed, attr.low.data, attr.high.data
        )
        sums = {0}
        for _ in range(k):
            sums = {s + t for s in sums for t in pot.levels.tolist()}
        assert attr.levels.tolist() == sorted(sums)


def test_default_exponent_range_is_capped() -> None:
    assert parse_attr("#q.levels<pot i8>").high.data == MAX_EXPONENT
    assert parse_attr("#q.levels<pot i6>").high.data == 30
    assert parse_attr("#q.levels<pot i5>").high.data == 14
    assert str(PotType(8, 1.0)) == "!q.pot<i8:f32, 1.0>"


def test_wide_spot_levels_are_fast() -> None:
    attr = parse_attr("#q.levels<spot 4 x i6>")  # 63 term values, 4 terms
    levels = attr.levels
    assert levels[0] == -(1 << 32) and levels[-1] == 1 << 32
    assert len(levels) == len(np.unique(levels))
    codes = attr.encode(levels)
    assert np.array_equal(attr.decode(codes), levels)


# --------------------------------------------------------------------------- #
# Storage codes
# --------------------------------------------------------------------------- #

ROUND_TRIP_FORMATS = [
    "i1",
    "u1",
    "i4",
    "u4",
    "i8",
    "u8",
    "i8<-127:127>",
    "i16",
    "u12<5:4000>",
    "pot i2",
    "pot i3",
    "pot i4",
    "pot u3",
    "pot u1",
    "pot i4<2:5>",
    "pot i8",
    "spot 2 x i3",
    "spot 2 x i4",
    "spot 3 x i4<0:4>",
    "spot 2 x u3",
    "spot 4 x i3",
    "i3 << 2",
    "pot i4 << 3",
    "spot 2 x i3 << 1",
    "binary",
    "binary << 5",
]


@pytest.mark.parametrize("text", ROUND_TRIP_FORMATS)
def test_encode_decode_all_levels(text: str) -> None:
    attr = parse_attr(f"#q.levels<{text}>")
    levels = attr.levels
    codes = attr.encode(levels)
    assert codes.min() >= 0 and codes.max() < 1 << attr.code_bits
    assert len(np.unique(codes)) == len(levels)  # one code per level
    assert np.array_equal(attr.decode(codes), levels)
    assert np.all(attr.contains(levels))


def test_wide_integer_codes() -> None:
    rng = np.random.default_rng(0)
    for text, lo, hi in [
        ("i64", -(1 << 63), (1 << 63) - 1),
        ("u63", 0, (1 << 63) - 1),
        ("i33", -(1 << 32), (1 << 32) - 1),
    ]:
        attr = parse_attr(f"#q.levels<{text}>")
        levels = np.concatenate(
            [[lo, hi, 0, -1 if lo else 1], rng.integers(lo, hi, 1000, endpoint=True)]
        ).astype(np.int64)
        codes = attr.encode(levels)
        assert np.array_equal(attr.decode(codes), levels)
        assert attr.min_level == lo and attr.max_level == hi


def test_pot_code_layout() -> None:
    """Code of ±2^e: (e - low + 1) in the low bits, the sign on top; 0 -> 0."""
    attr = parse_attr("#q.levels<pot i4>")
    assert attr.encode(np.array([0, 1, 4, 64, -1, -4, -64])).tolist() == [
        0,
        1,
        3,
        7,
        9,
        11,
        15,
    ]
    attr = parse_attr("#q.levels<pot i4<2:5>>")
    assert attr.encode(np.array([4, 32, -8])).tolist() == [1, 4, 8 | 2]
    attr = parse_attr("#q.levels<pot u3>")
    assert attr.encode(np.array([0, 1, 64])).tolist() == [0, 1, 7]
    # the "negative zero" code decodes to 0 (it is not canonical)
    assert parse_attr("#q.levels<pot i4>").decode(np.array([8])).tolist() == [0]


def test_spot_canonical_codes() -> None:
    """Fewest terms, then smallest magnitudes; largest term in the low bits."""
    attr = parse_attr("#q.levels<spot 2 x i4>")
    pot = parse_attr("#q.levels<pot i4>")

    def code(*terms: int) -> int:
        return sum(
            int(pot.encode(np.array([t]))[0]) << (4 * j) for j, t in enumerate(terms)
        )

    assert attr.encode(np.array([3])).tolist() == [code(2, 1)]  # not 4 - 1
    assert attr.encode(np.array([-3])).tolist() == [code(-2, -1)]
    assert attr.encode(np.array([8])).tolist() == [code(8, 0)]  # one term
    assert attr.encode(np.array([7])).tolist() == [code(8, -1)]
    assert attr.encode(np.array([0])).tolist() == [0]
    assert attr.encode(np.array([128])).tolist() == [code(64, 64)]


def test_storage_bits() -> None:
    assert UniformType(4, True, 1.0).element_bits == 4
    assert UniformType(4, True, 1.0).storage_bits((3, 5)) == 60
    assert SpotType(3, 4, 1.0).element_bits == 12
    assert PotType(3, 1.0, signed=False).element_bits == 3
    assert ThresholdsType(3, 1.0, [0.0, 1.0]).element_bits == 3
    assert packed_size(UniformType(4, True, 1.0), (3, 5)) == 8
    assert packed_size(UniformType(1, False, 1.0), (9,)) == 2


# --------------------------------------------------------------------------- #
# Packing
# --------------------------------------------------------------------------- #


def _reference_pack(codes: list[int], widths: list[int]) -> bytes:
    acc, offset = 0, 0
    for c, w in zip(codes, widths, strict=True):
        acc |= (c & ((1 << w) - 1)) << offset
        offset += w
    return acc.to_bytes((offset + 7) // 8, "little")


@pytest.mark.parametrize("seed", range(40))
def test_pack_round_trip_random_widths(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 300))
    if seed % 3 == 0:
        widths = np.full(n, int(rng.integers(1, 65)))
    elif seed % 3 == 1:
        widths = rng.choice([2, 3, 4, 8], n)
    else:
        widths = rng.integers(1, 65, n)
    codes = [
        int(rng.integers(0, 1 << 62)) * 4 + int(rng.integers(0, 4)) for _ in range(n)
    ]
    codes = [c & ((1 << int(w)) - 1) for c, w in zip(codes, widths, strict=True)]
    as_int64 = np.array([c - (1 << 64) if c >= 1 << 63 else c for c in codes], np.int64)
    data = pack_codes(as_int64, widths)
    assert data == _reference_pack(codes, widths.tolist())
    assert np.array_equal(unpack_codes(data, widths), as_int64)


@pytest.mark.parametrize("width", range(1, 65))
def test_pack_every_width(width: int) -> None:
    rng = np.random.default_rng(width)
    codes = [
        int(rng.integers(0, 1 << 63)) >> (64 - width) if width < 64 else 0
        for _ in range(37)
    ]
    codes[0] = (1 << width) - 1
    as_int64 = np.array([c - (1 << 64) if c >= 1 << 63 else c for c in codes], np.int64)
    widths = np.full(len(codes), width)
    data = pack_codes(as_int64, widths)
    assert data == _reference_pack(codes, widths.tolist())
    assert np.array_equal(unpack_codes(data, widths), as_int64)


def test_pack_layout() -> None:
    """Element 0 in the low bits: int4 [1, 2, 3] -> 0x21 0x03."""
    t = UniformType(4, True, 1.0)
    assert levels_to_hex(t, np.array([1, 2, 3])) == "0x2103"
    assert levels_to_hex(t, np.array([-1, -8])) == "0x8F"
    assert levels_to_hex(UniformType(1, False, 1.0), np.array([1, 0, 1, 1])) == "0x0D"
    with pytest.raises(ValueError, match="cannot represent"):
        levels_to_hex(t, np.array([8]))
    with pytest.raises(ValueError, match="widths"):
        pack_codes(np.array([1]), np.array([65]))


def _random_levels(
    qtype: QuantizedType, shape: tuple[int, ...], seed: int
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if isinstance(qtype, MixedType):
        index = qtype.format_index(shape)
        out = np.zeros(shape, dtype=np.int64)
        for i, f in enumerate(qtype.formats.data):
            mask = index == i
            out[mask] = rng.choice(f.levels, int(mask.sum()))
        return out
    if isinstance(qtype, ThresholdsType):
        return rng.integers(0, qtype.count, shape, endpoint=True)
    return rng.choice(qtype.levels_attr.levels, shape)


MIXED_ROW = MixedType(
    [LevelsAttr.int_(2, shift=2), LevelsAttr.int_(8)], "row", [0, 1, 1, 0], 0.1
)
MIXED_BLOCK = MixedType(
    [
        LevelsAttr.int_(2),
        LevelsAttr.int_(4),
        LevelsAttr.pot(4),
        LevelsAttr.pot(3, terms=2, shift=1),
    ],
    "block",
    [0, 1, 2, 3, 3, 2],
    [0.1, 0.2],
    block_size=4,
    axis=0,
)
MIXED_OUTLIERS = MixedType(
    [LevelsAttr.int_(3), LevelsAttr.int_(8)], "outliers", [1, 5, 14], 0.05
)

PACKED_TYPES = [
    (UniformType(8, True, 0.5), (3, 5)),
    (UniformType(3, False, [0.5, 0.25, 1.0], [1, 2, 3], axis=1), (2, 3, 3)),
    (UniformType(5, True, [[0.5, 0.25], [1.0, 2.0]], blocks={0: 1, 1: 3}), (2, 6)),
    (PotType(4, 0.5), (7,)),
    (PotType(3, 0.5, signed=False, low=1, high=4), (3, 3)),
    (SpotType(2, 4, 0.5), (4, 5)),
    (SpotType(3, 3, 0.5, signed=False), (9,)),
    (ThresholdsType(2, 0.5, [0.0, 1.0, 2.0]), (2, 7)),
    (MIXED_ROW, (4, 3)),
    (MIXED_BLOCK, (2, 12)),
    (MIXED_OUTLIERS, (3, 5)),
    (BinaryType(0.5), (3, 7)),
    (BinaryType([0.5, 0.25], axis=0), (2, 9)),
    (
        MixedType([LevelsAttr.binary(2), LevelsAttr.int_(4)], "row", [0, 1, 0], 0.1),
        (3, 5),
    ),
]


@pytest.mark.parametrize(("qtype", "shape"), PACKED_TYPES)
def test_hex_round_trip(qtype: QuantizedType, shape: tuple[int, ...]) -> None:
    qtype.verify_shape(shape)
    for seed in range(5):
        levels = _random_levels(qtype, shape, seed)
        text = levels_to_hex(qtype, levels)
        assert len(text) == 2 + 2 * packed_size(qtype, shape)
        assert check_packed(qtype, shape, text) is None
        assert np.array_equal(hex_to_levels(qtype, shape, text), levels)


def test_check_packed_rejects_non_canonical() -> None:
    t = PotType(4, 1.0)
    assert check_packed(t, (2,), "0x08") is not None  # "negative zero"
    assert "canonical" in check_packed(t, (2,), "0x08")
    s = SpotType(2, 4, 1.0)
    # 3 as 4 - 1 (terms [4, -1]) instead of 2 + 1
    assert "canonical" in check_packed(s, (1,), "0x93")
    assert check_packed(s, (1,), "0x12") is None
    assert "padding" in check_packed(UniformType(4, True, 1.0), (1,), "0x31")
    assert "bytes" in check_packed(UniformType(4, True, 1.0), (3,), "0x31")
    assert "hex" in check_packed(UniformType(4, True, 1.0), (1,), "0xZZ")
    assert "0x" in check_packed(UniformType(4, True, 1.0), (1,), "31")
    assert "cannot represent" in check_packed(PotType(4, 1.0, high=2), (1,), "0x07")


# --------------------------------------------------------------------------- #
# Quantize / dequantize
# --------------------------------------------------------------------------- #


def test_uniform_rounds_half_to_even() -> None:
    t = UniformType(8, True, 0.5)
    x = np.array([0.25, 0.75, 1.25, -0.25, -0.75, -1.25, 63.75, 64.0, -64.25, -1e9])
    assert t.quantize(x).tolist() == [0, 2, 2, 0, -2, -2, 127, 127, -128, -128]


def test_uniform_zero_point_added_after_rounding() -> None:
    """round(x / s) + zp, not round(x / s + zp): they differ for odd zp."""
    t = UniformType(8, True, 1.0, -3)
    assert t.quantize(np.array([0.5, 1.5, -0.5, 2.5])).tolist() == [-3, -1, -3, -1]
    t = UniformType(8, False, 1.0, 7)
    assert t.quantize(np.array([0.5, 1.5, -7.5, 300.0])).tolist() == [7, 9, 0, 255]


def test_narrow_range_saturates() -> None:
    t = UniformType(8, True, 1.0, low=-127, high=127)
    assert t.quantize(np.array([-200.0, -127.4, 200.0])).tolist() == [-127, -127, 127]


def test_pot_ties_to_smaller_magnitude() -> None:
    t = PotType(4, 1.0)
    x = np.array([3.0, -3.0, 6.0, -6.0, 0.5, -0.5, 1.5, 1.4, 2.9, 100.0, -1e6, 0.0])
    assert t.quantize(x).tolist() == [2, -2, 4, -4, 0, 0, 1, 1, 2, 64, -64, 0]
    u = PotType(3, 0.5, signed=False)
    assert u.quantize(np.array([-5.0, 0.75, 1.5, 100.0])).tolist() == [0, 1, 2, 64]
    s = SpotType(2, 3, 1.0)  # levels ... 5, 6, 8
    x = np.array([7.0, -7.0, 5.5, 4.5, 100.0])
    assert s.quantize(x).tolist() == [6, -6, 5, 4, 8]
    r = PotType(4, 1.0, low=2, high=4)  # levels 0, ±4, ±8, ±16
    assert r.quantize(np.array([2.0, 2.1, 6.0, -2.0])).tolist() == [0, 4, 4, 0]


def test_pot_nearest_is_exhaustive_argmin() -> None:
    rng = np.random.default_rng(3)
    for attr in [
        LevelsAttr.pot(4),
        LevelsAttr.pot(3, terms=2),
        LevelsAttr.pot(4, False, 1),
    ]:
        levels = attr.levels
        v = np.concatenate([rng.uniform(-80, 80, 2000), levels + 0.5, levels - 0.5])
        got = attr.nearest(v)
        dist = np.abs(v[:, None] - levels[None, :])
        best = dist.min(axis=1)
        # the smallest-magnitude level among the nearest ones
        cand = np.where(dist == best[:, None], np.abs(levels)[None, :], np.inf)
        want = levels[np.argmin(cand, axis=1)]
        assert np.array_equal(got, want)


def test_dequantize() -> None:
    t = UniformType(8, False, [0.5, 0.25], [128, 3], axis=0)
    out = t.dequantize(np.array([[130, 0], [3, 255]]))
    assert out.dtype == np.float32
    assert out.tolist() == [[1.0, -64.0], [0.0, 63.0]]
    assert PotType(4, 0.5, expressed=f64).dequantize(np.array([-4])).dtype == np.float64
    assert (
        UniformType(4, True, 0.5, expressed=f16).dequantize(np.array([3])).dtype
        == np.float16
    )


def _onnx_quantize(x, scale, zp, axis, runtime: str) -> tuple[np.ndarray, np.ndarray]:
    import onnx
    from onnx import TensorProto, helper

    zp_type = TensorProto.INT8 if zp.dtype == np.int8 else TensorProto.UINT8
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], axis=axis),
        helper.make_node("DequantizeLinear", ["y", "s", "z"], ["d"], axis=axis),
    ]
    graph = helper.make_graph(
        nodes,
        "q",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [
            helper.make_tensor_value_info("y", zp_type, list(x.shape)),
            helper.make_tensor_value_info("d", TensorProto.FLOAT, list(x.shape)),
        ],
        [
            helper.make_tensor(
                "s", TensorProto.FLOAT, list(scale.shape), scale.ravel()
            ),
            helper.make_tensor("z", zp_type, list(zp.shape), zp.ravel()),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    if runtime == "reference":
        from onnx.reference import ReferenceEvaluator

        y, d = ReferenceEvaluator(model).run(None, {"x": x})
    else:
        import onnxruntime

        sess = onnxruntime.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        y, d = sess.run(None, {"x": x})
    return np.asarray(y), np.asarray(d)


@pytest.mark.parametrize("runtime", ["reference", "onnxruntime"])
@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("per_axis", [False, True])
def test_uniform_matches_onnx(runtime: str, signed: bool, per_axis: bool) -> None:
    rng = np.random.default_rng(7 + 2 * signed + per_axis)
    shape = (4, 5, 6)
    channels = shape[1]
    if per_axis:
        scale = rng.uniform(0.01, 0.2, channels).astype(np.float32)
        scale[0] = 0.25  # a power of two: exact ties below
        zp = (
            rng.integers(-20, 20, channels)
            if signed
            else rng.integers(0, 255, channels)
        )
        zp[0] = -3 if signed else 7  # odd zero points expose rounding order
    else:
        scale = np.array(0.0625, dtype=np.float32)
        zp = np.array(-3 if signed else 131)
    zdtype = np.int8 if signed else np.uint8
    zp = zp.astype(zdtype)
    x = rng.normal(0, 6, shape).astype(np.float32)
    # exact ties (k + 1/2) * scale, and values far outside the range
    s0 = float(scale.ravel()[0])
    ties = ((rng.integers(-300, 300, shape) + 0.5) * s0).astype(np.float32)
    x[:, 0] = ties[:, 0]
    x[0, 0, :3] = [1e6, -1e6, 0.0]
    if per_axis:
        qt = UniformType(
            8, signed, scale.astype(np.float64).tolist(), zp.tolist(), axis=1
        )
    else:
        qt = UniformType(8, signed, float(scale), int(zp))
    y, d = _onnx_quantize(x, scale, zp, 1, runtime)
    levels = qt.quantize(x)
    assert np.array_equal(levels, y.astype(np.int64))
    back = qt.dequantize(levels)
    assert back.dtype == np.float32
    assert np.array_equal(back, d)


def test_quantize_in_expressed_precision() -> None:
    """x / scale is computed in f32 for f32 types (as ONNX), in f64 for f64."""
    x = np.float32(0.3)
    s = 0.1
    f32_type = UniformType(8, True, s)
    assert f32_type.quantize(np.array([x])).tolist() == [
        int(np.rint(np.float32(x) / np.float32(s)))
    ]
    assert UniformType(8, True, s, expressed=f64).quantize(
        np.array([0.25])
    ).tolist() == [2]


# --------------------------------------------------------------------------- #
# Thresholds
# --------------------------------------------------------------------------- #


def test_thresholds_per_tensor() -> None:
    t = ThresholdsType(2, 0.5, [-1.0, 0.25, 2.0], 1)
    x = np.array([-5.0, -1.0, -0.999, 0.25, 1.0, 2.0, 9.0])
    codes = t.quantize(x)
    assert codes.tolist() == [0, 1, 1, 2, 2, 3, 3]
    assert t.dequantize(codes).tolist() == [-0.5, 0.0, 0.0, 0.5, 0.5, 1.0, 1.0]
    assert t.count == 3 and t.min_level == 0 and t.max_level == 3


def test_thresholds_per_axis() -> None:
    rng = np.random.default_rng(2)
    rows = np.sort(rng.normal(0, 1, (5, 7)), axis=1)
    t = ThresholdsType(3, 1.0, rows, axis=1)
    assert str(t).startswith("!q.thresholds<u3:f32:1, 1.0, [[")
    x = rng.normal(0, 1.2, (2, 5, 4)).astype(np.float32)
    x[0, 2, 0] = np.float32(rows[2, 3])  # equal to a threshold: counted
    codes = t.quantize(x)
    want = (x.astype(np.float64)[..., None] >= rows[None, :, None, :]).sum(-1)
    assert np.array_equal(codes, want)
    t.verify_shape((2, 5, 4))
    with pytest.raises(VerifyException, match="threshold lists"):
        t.verify_shape((2, 4, 4))


def test_thresholds_equal_values_allowed() -> None:
    t = ThresholdsType(2, 1.0, [0.0, 0.0, 1.0])
    assert t.quantize(np.array([-1.0, 0.0, 0.5])).tolist() == [0, 2, 2]


# --------------------------------------------------------------------------- #
# Mixed formats
# --------------------------------------------------------------------------- #


def test_binary_levels_codes_and_rounding() -> None:
    """Binary: levels -1 / +1, one bit each (code 1 = +1), quantizing to the
    sign with +1 at 0 (also -0.0), dequantizing to ±scale exactly."""
    la = LevelsAttr.binary()
    assert la.code_bits == 1 and la.num_levels == 2
    assert (la.min_level, la.max_level) == (-1, 1)
    assert la.encode(np.array([-1, 1, 1])).tolist() == [0, 1, 1]
    assert la.decode(np.array([0, 1])).tolist() == [-1, 1]
    assert la.contains(np.array([-1, 0, 1, 2])).tolist() == [True, False, True, False]
    shifted = LevelsAttr.binary(3)
    assert shifted.nearest(np.array([-0.5, 0.0, 20.0])).tolist() == [-8, 8, 8]
    assert shifted.encode(np.array([-8, 8])).tolist() == [0, 1]
    t = BinaryType([0.5, 0.25], axis=0)
    x = np.array([[0.1, -0.0, -3.0, 1e-30], [0.0, -1e-30, 2.0, -7.0]], np.float32)
    levels = t.quantize(x)
    assert levels.tolist() == [[1, 1, -1, 1], [1, -1, 1, -1]]
    real = t.dequantize(levels)
    assert real.tolist() == [[0.5, 0.5, -0.5, 0.5], [0.25, -0.25, 0.25, -0.25]]
    assert np.array_equal(t.quantize(real), levels)
    assert t.storage_bits((2, 4)) == 8 and t.element_bits == 1
    assert levels_to_hex(t, levels) == "0x5B"  # 1 1 0 1 / 1 0 1 0, LSB first
    assert not t.representable(np.array([0])).any()
    with pytest.raises(ValueError, match="cannot represent"):
        levels_to_hex(t, np.zeros((2, 4), np.int64))


def test_mixed_row_map() -> None:
    t = MixedType([LevelsAttr.int_(2), LevelsAttr.int_(8)], "row", [0, 1, 0], 0.5)
    assert t.assignment.data == "0x02"
    idx = t.format_index((3, 4))
    assert idx.tolist() == [[0] * 4, [1] * 4, [0] * 4]
    assert t.storage_bits((3, 4)) == 4 * 2 + 4 * 8 + 4 * 2
    assert t.average_bits((3, 4)) == 4.0
    assert t.element_bits == 8
    assert t.code_widths((3, 4))[1].tolist() == [8] * 4
    t.verify_shape((3, 4))
    with pytest.raises(VerifyException, match="map holds 1 bytes, 9 rows need 2"):
        t.verify_shape((9, 4))


def test_mixed_block_map_three_formats() -> None:
    f = [LevelsAttr.int_(2), LevelsAttr.int_(4), LevelsAttr.pot(4)]
    t = MixedType(f, "block", [2, 0, 1, 2], 1.0, block_size=2)
    assert t.index_bits == 2
    idx = t.format_index((2, 4))
    assert idx.tolist() == [[2, 2, 0, 0], [1, 1, 2, 2]]
    assert t.average_bits((2, 4)) == (4 * 4 + 2 * 2 + 2 * 4) / 8
    with pytest.raises(VerifyException, match="does not divide"):
        t.verify_shape((1, 8, 3))
    bad = MixedType(f, "block", [3, 0, 1, 2], 1.0, block_size=2)
    with pytest.raises(VerifyException, match="format index >= 3"):
        bad.verify_shape((2, 4))


def test_mixed_outliers() -> None:
    t = MixedType([LevelsAttr.int_(3), LevelsAttr.int_(8)], "outliers", [3, 7], 1.0)
    assert t.assignment.data == "0x0300000007000000"
    assert t.format_index((2, 4)).tolist() == [[0, 0, 0, 1], [0, 0, 0, 1]]
    assert t.average_bits((2, 4)) == (6 * 3 + 2 * 8) / 8
    levels = np.array([[3, -4, 0, 127], [1, 2, 3, -128]])
    assert np.all(t.representable(levels))
    assert not t.representable(np.array([[100, 0, 0, 0], [0, 0, 0, 0]]))[0, 0]
    for assignment, shape in [([7, 3], (2, 4)), ([3, 3], (2, 4)), ([8], (2, 4))]:
        bad = MixedType(
            [LevelsAttr.int_(3), LevelsAttr.int_(8)], "outliers", assignment, 1.0
        )
        with pytest.raises(VerifyException, match="strictly increasing"):
            bad.verify_shape(shape)


def test_mixed_quantize_per_format() -> None:
    f = [LevelsAttr.int_(2, shift=2), LevelsAttr.pot(4)]
    t = MixedType(f, "row", [0, 1], 0.5)
    x = np.array([[1.0, 3.1, -9.0, 100.0], [1.0, 3.1, -9.0, 100.0]], dtype=np.float32)
    # row 0: levels {-8, -4, 0, 4} of x / 0.5 = [2, 6.2, -18, 200]
    # row 1: pot levels of the same
    assert t.quantize(x).tolist() == [[0, 4, -8, 4], [2, 8, -16, 64]]


# --------------------------------------------------------------------------- #
# Scales
# --------------------------------------------------------------------------- #


def test_scale_array_sub_channel_blocks() -> None:
    t = UniformType(
        4, True, [[0.5, 0.25], [1.0, 2.0]], [[1, 2], [3, 4]], blocks={0: 1, 1: 2}
    )
    assert str(t) == "!q.uniform<i4:f32:{0:1, 1:2}, {{0.5:1, 0.25:2}, {1.0:3, 2.0:4}}>"
    assert t.scale_array((2, 4)).tolist() == [
        [0.5, 0.5, 0.25, 0.25],
        [1.0, 1.0, 2.0, 2.0],
    ]
    assert t.zero_point_array((2, 4)).tolist() == [[1, 1, 2, 2], [3, 3, 4, 4]]
    t3 = PotType(4, [[1.0, 2.0, 4.0], [8.0, 16.0, 32.0]], blocks={0: 2, 2: 3})
    s = t3.scale_array((4, 5, 9))
    assert s.shape == (4, 1, 9)
    for a in range(4):
        for c in range(9):
            assert s[a, 0, c] == 2.0 ** (3 * (a // 2) + c // 3)
    t3.verify_shape((4, 5, 9))
    with pytest.raises(VerifyException, match="describes 3 blocks of 3"):
        t3.verify_shape((4, 5, 8))


def test_scale_array_per_axis_and_tensor() -> None:
    t = UniformType(8, True, [1.0, 2.0, 3.0], axis=1)
    assert t.scale_array((2, 3, 4)).shape == (1, 3, 1)
    assert UniformType(8, True, 0.5).scale_array((2, 3)).shape == (1, 1)
    assert UniformType(8, True, 0.5).scale_array(()).shape == ()
    assert t.quantized_axis == 1
    assert UniformType(8, True, [1.0], blocks={0: 2}).quantized_axis is None


@pytest.mark.parametrize(
    "value",
    [0.1, 1.0, 1e-5, 3.0e20, 0.007874015748031496, 1 / 3, 2.0**-60, 123456789.0],
)
def test_fmt_float_round_trips(value: float) -> None:
    text = fmt_float(value)
    assert float(text) == value and "." in text
    t = UniformType(8, True, value)
    assert parse_attr(str(t)) == t


# --------------------------------------------------------------------------- #
# Text round trips and rules only builders can break
# --------------------------------------------------------------------------- #

TYPE_TEXTS = [
    "!q.uniform<i8:f32, 0.5>",
    "!q.uniform<u8:f32, 0.02:128>",
    "!q.uniform<i8<-127:127>:f16:0, {0.5:-1, 0.25}>",
    "!q.uniform<i4:f64:{0:1, 1:32}, {{0.5, 0.25}, {0.1, 0.2}}>",
    "!q.uniform<i32:f32, 1.0e-05>",
    "!q.pot<i4:f32, 0.5>",
    "!q.pot<u3<1:4>:f32:0, {0.5, 0.25}>",
    "!q.spot<2 x i4<0:5>:f32, 0.5>",
    "!q.spot<3 x u3:f32:{1:4}, {0.5, 1.0}>",
    "!q.thresholds<u2:f32, 0.5:1, [-1.0, 0.25, 2.0]>",
    "!q.thresholds<u1:f32:0, 1.0, [[0.0], [1.5]]>",
    '!q.mixed<[i2 << 2, i8]:f32, 0.1, row = "0x02">',
    '!q.mixed<[pot i4, spot 2 x i3 << 1, u4]:f32:0, {0.1, 0.2}, block 8 = "0x24">',
    '!q.mixed<[i4, i8]:f32, 0.1, outliers = "0x03000000">',
    '!q.mixed<[binary << 2, i4]:f32, 0.1, row = "0x02">',
    "!q.binary<f32, 0.5>",
    "!q.binary<f16:0, {0.5, 0.25}>",
    "!q.binary<f64:{0:2, 1:4}, {{0.5, 0.25}, {1.0, 2.0}}>",
    "#q.levels<binary << 2>",
    "#q.levels<spot 2 x u3<1:3> << 4>",
]


@pytest.mark.parametrize("text", TYPE_TEXTS)
def test_type_text_round_trip(text: str) -> None:
    attr = parse_attr(text)
    assert str(attr) == text
    assert parse_attr(str(attr)) == attr


def test_builder_only_rules() -> None:
    """Rules the textual syntax cannot break, broken through the builders."""
    from xdsl.dialects.builtin import ArrayAttr, DenseArrayBase, IntAttr, StringAttr
    from xdsl.dialects.builtin import i64 as i64_type

    def ints(*values: int) -> DenseArrayBase:
        return DenseArrayBase.from_list(i64_type, list(values))

    u = UniformType(8, True, 1.0)
    params = list(u.parameters)  # expressed, axes, blocks, grid, scales, zps, levels
    with pytest.raises(VerifyException, match="kind 'pot' are not allowed"):
        UniformType.new([*params[:-1], LevelsAttr.pot(4)])
    with pytest.raises(VerifyException, match="zero points must be 0"):
        PotType.new([*PotType(4, 1.0).parameters[:5], ints(1), LevelsAttr.pot(4)])
    with pytest.raises(VerifyException, match="expected 1 scales and zero points"):
        UniformType.new([*params[:5], ints(0, 0), params[6]])
    with pytest.raises(VerifyException, match="distinct, increasing"):
        UniformType(8, True, [1.0], axis=-1)
    with pytest.raises(VerifyException, match="differ in length"):
        UniformType.new([params[0], ArrayAttr([IntAttr(0)]), *params[2:]])
    with pytest.raises(VerifyException, match="block sizes must be >= 1"):
        UniformType(8, True, [1.0], blocks={0: 0})
    with pytest.raises(VerifyException, match="unknown kind"):
        LevelsAttr(StringAttr("foo"), *LevelsAttr.int_(4).parameters[1:])
    with pytest.raises(VerifyException, match="signed must be 0 or 1"):
        LevelsAttr(StringAttr("int"), IntAttr(2), *LevelsAttr.int_(4).parameters[2:])
    with pytest.raises(VerifyException, match="one term"):
        LevelsAttr(*LevelsAttr.int_(4).parameters[:5], IntAttr(2), IntAttr(0))
    with pytest.raises(VerifyException, match="use spot"):
        LevelsAttr(*LevelsAttr.pot(4).parameters[:5], IntAttr(2), IntAttr(0))
    with pytest.raises(VerifyException, match="shift must be >= 0"):
        LevelsAttr.int_(4, shift=-1)
    with pytest.raises(VerifyException, match="unknown granularity"):
        MixedType([LevelsAttr.int_(2), LevelsAttr.int_(4)], "column", [0], 1.0)
    with pytest.raises(VerifyException, match="only block maps"):
        MixedType(
            [LevelsAttr.int_(2), LevelsAttr.int_(4)], "row", [0], 1.0, block_size=2
        )
    t = ThresholdsType(2, 1.0, [0.0])
    tp = list(t.parameters)  # expressed, 5 scale params, levels, thresholds, axes
    with pytest.raises(VerifyException, match="at most one threshold axis"):
        ThresholdsType.new([*tp[:-1], ArrayAttr([IntAttr(0), IntAttr(1)])])
    with pytest.raises(VerifyException, match="threshold axis must be >= 0"):
        ThresholdsType(2, 1.0, [[0.0]], axis=-1)
    with pytest.raises(VerifyException, match="scale must be per tensor"):
        ThresholdsType.new(
            [*UniformType(8, True, [1.0], axis=0).parameters[:6], *tp[6:]]
        )
    with pytest.raises(VerifyException, match="unsigned integers from 0"):
        ThresholdsType.new([*tp[:6], LevelsAttr.int_(2, True, 0, 1), *tp[7:]])
    with pytest.raises(VerifyException, match="do not form lists"):
        ThresholdsType(2, 1.0, [[0.0, 1.0], [2.0, 3.0]])
    with pytest.raises(VerifyException, match="must be finite"):
        ThresholdsType(2, 1.0, [0.0, math.inf])
    b = list(LevelsAttr.binary().parameters)  # kind, signed, width, lo, hi, terms
    for i, bad in ((1, 0), (2, 2), (3, 0), (4, 2), (5, 2)):
        with pytest.raises(VerifyException, match="binary levels are -1 and"):
            LevelsAttr(*b[:i], IntAttr(bad), *b[i + 1 :])
    bp = list(BinaryType(1.0).parameters)  # expressed, 5 scale params, levels
    with pytest.raises(VerifyException, match="kind 'int' are not allowed"):
        BinaryType.new([*bp[:-1], LevelsAttr.int_(1)])
    with pytest.raises(VerifyException, match="zero points must be 0"):
        BinaryType.new([*bp[:5], ints(-1), bp[6]])
    with pytest.raises(VerifyException, match="shift is only allowed inside"):
        BinaryType.new([*bp[:-1], LevelsAttr.binary(1)])


def test_parse_errors_are_located() -> None:
    with pytest.raises(ParseError, match="zero point 300 is outside"):
        parse_attr("!q.uniform<i8:f32, 0.5:300>")
    with pytest.raises(ParseError, match="expected a storage type"):
        parse_attr("!q.uniform<x8:f32, 0.5>")
