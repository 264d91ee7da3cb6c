"""The `q` dialect: quantized tensors and exact integer arithmetic.

A `q` value is a tensor of integer levels with a quantized element type
(`qopt.qdialect.qtypes`): `tensor<1x8x!q.uniform<u8:f32, 0.02:128>>`.
Arithmetic ops work on levels only; scales live in the types and the
verifiers check that they are consistent (an accumulator's scale is the
product of its operands' scales; a requantize multiplier matches the ratio
of scales). Integer ops derive their accumulator width from bit growth: the
exact interval of every possible result is computed from the operand level
ranges and the reduction size, and the result type must be at least as wide.
`docs/dialects/q.md` gives the exact semantics of every op.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import (
    AnyFloat,
    DenseArrayBase,
    IntegerAttr,
    StringAttr,
    TensorType,
    i64,
)
from xdsl.ir import Attribute, Dialect, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import ConstantLike, Pure
from xdsl.utils.exceptions import VerifyException

from qopt.qdialect.calib import CALIB_ATTRIBUTES
from qopt.qdialect.packing import check_packed, hex_to_levels, levels_to_hex
from qopt.qdialect.qtypes import (
    Q_ATTRIBUTES,
    BinaryType,
    MixedType,
    QuantizedType,
    ThresholdsType,
    UniformType,
    expressed_dtype,
)
from qopt.qdialect.shapes import (
    DYN,
    Shape,
    broadcast_shapes,
    check_shape,
    conv2d_shape,
    fmt_shape,
    pool2d_shape,
    shape_of,
)

GENERIC_FORMAT = "operands attr-dict `:` functional-type(operands, results)"

MAX_SHIFT = 62
"""Largest requantize shift."""

MAX_MULTIPLIER = (1 << 32) - 1
"""Largest requantize multiplier."""


# --------------------------------------------------------------------------- #
# Bit growth
# --------------------------------------------------------------------------- #


def signed_width(lo: int, hi: int) -> int:
    """Fewest bits of a two's complement integer holding [lo, hi]."""
    width = 1
    while not (-(1 << (width - 1)) <= lo and hi <= (1 << (width - 1)) - 1):
        width += 1
    return width


def centred_range(qtype: QuantizedType) -> tuple[int, int]:
    """Range of level - zero_point over every element of a type."""
    zps = qtype.zp_values
    return qtype.min_level - max(zps), qtype.max_level - min(zps)


def product_range(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    products = [x * y for x in a for y in b]
    return min(products), max(products)


def dot_range(a: QuantizedType, b: QuantizedType, k: int) -> tuple[int, int]:
    """Range of a sum of k products of centred levels (types alone)."""
    lo, hi = product_range(centred_range(a), centred_range(b))
    return k * lo, k * hi


def linear_range(
    xtype: QuantizedType,
    wtype: QuantizedType,
    wshape: Sequence[int],
    reduce_axes: Sequence[int],
) -> tuple[int, int]:
    """Exact range of sum_k (x_k - zx) * (w_k - zw) over every output.

    `x` is per tensor and every x_k varies independently over its type's
    levels; `w` has shape `wshape` and each output sums over `reduce_axes`.
    For a single level set this is `dot_range` with K = the reduction size
    (the zero point of w is fixed within one output, and the extreme products
    are reached in some channel). For `q.mixed` weights every element
    contributes the extreme products of its own format, so the range is the
    extreme over outputs of sums of per-format extremes.
    """
    k = 1
    for a in reduce_axes:
        k *= wshape[a]
    if not isinstance(wtype, MixedType) or DYN in wshape:
        return dot_range(xtype, wtype, k)
    cx = centred_range(xtype)
    index = wtype.format_index(wshape)
    lo = np.zeros(1, dtype=object)
    hi = np.zeros(1, dtype=object)
    for f, fmt in enumerate(wtype.formats.data):
        plo, phi = product_range(cx, (fmt.min_level, fmt.max_level))
        count = (index == f).sum(axis=tuple(reduce_axes)).astype(object)
        lo = lo + count * plo
        hi = hi + count * phi
    return int(np.min(lo)), int(np.max(hi))


def accumulator_type(
    width: int, scales: Sequence[float], axis: int | None, expressed: AnyFloat
) -> UniformType:
    """A signed accumulator type with the given scales and zero point 0."""
    if axis is None:
        return UniformType(width, True, scales[0], expressed=expressed)
    return UniformType(width, True, list(scales), axis=axis, expressed=expressed)


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def qtype_of(value: SSAValue | Attribute) -> QuantizedType:
    ty = value.type if isinstance(value, SSAValue) else value
    if not isinstance(ty, TensorType) or not isinstance(ty.element_type, QuantizedType):
        raise VerifyException(f"expected a tensor of a quantized type, got {ty}")
    return ty.element_type


def _i64_array(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


def _ints(attr: DenseArrayBase | None, default: Sequence[int]) -> tuple[int, ...]:
    return tuple(default) if attr is None else tuple(int(v) for v in attr.get_values())


def _err(op: IRDLOperation, message: str) -> VerifyException:
    return VerifyException(f"'{op.name}': {message}")


class QOp(IRDLOperation):
    """Common base: properties print in the attribute dictionary, and every
    quantized operand and result type is checked against its tensor shape."""

    irdl_options = (ParsePropInAttrDict(),)

    def verify_(self) -> None:
        for what, values in (("operand", self.operands), ("result", self.results)):
            for i, v in enumerate(values):
                ty = v.type
                if isinstance(ty, TensorType) and isinstance(
                    ty.element_type, QuantizedType
                ):
                    try:
                        ty.element_type.verify_shape(ty.get_shape())
                    except VerifyException as e:
                        raise _err(self, f"{what} {i}: {e}") from None
        try:
            self.verify_q()
        except VerifyException as e:
            if str(e).startswith(f"'{self.name}'"):
                raise
            raise _err(self, str(e)) from None

    def verify_q(self) -> None:
        """Op-specific checks."""


def _per_tensor(op: IRDLOperation, what: str, qtype: QuantizedType) -> None:
    if not qtype.is_per_tensor:
        raise _err(op, f"{what} must have one scale (per tensor), got {qtype}")


def _same_scales(
    op: IRDLOperation, what: str, got: Sequence[float], want: Sequence[float]
) -> None:
    if len(got) != len(want) or any(g != w for g, w in zip(got, want, strict=True)):
        shown = ", ".join(repr(w) for w in want[:4]) + (
            ", ..." if len(want) > 4 else ""
        )
        raise _err(
            op, f"{what} scales must equal the products of the operand scales [{shown}]"
        )


def _check_width(op: IRDLOperation, rtype: QuantizedType, lo: int, hi: int) -> None:
    need = signed_width(lo, hi)
    if (
        not isinstance(rtype, UniformType)
        or not rtype.is_signed
        or not rtype.levels_attr.is_default_range
    ):
        raise _err(
            op,
            "the result must be a signed full-range q.uniform accumulator, "
            f"got {rtype}",
        )
    if any(rtype.zp_values):
        raise _err(op, "the accumulator zero point must be 0")
    if rtype.width < need:
        raise _err(
            op,
            f"accumulator i{rtype.width} is too narrow: results span [{lo}, {hi}], "
            f"which needs i{need}",
        )


# --------------------------------------------------------------------------- #
# Conversions
# --------------------------------------------------------------------------- #


@irdl_op_definition
class ConstantOp(QOp):
    """A constant quantized tensor in packed storage.

    Syntax: `%w = q.constant "0x..." : tensor<8x4x!q.pot<i4:f32, 0.5>>`.
    The hex string holds the storage codes of all elements in row-major
    order, densely packed LSB first (see `qdialect/packing.py`).
    """

    name = "q.constant"

    value = prop_def(StringAttr)
    output = result_def(TensorType)

    traits = traits_def(Pure(), ConstantLike())

    def __init__(self, value: str, result_type: TensorType):
        super().__init__(
            properties={"value": StringAttr(value)}, result_types=[result_type]
        )

    @staticmethod
    def from_levels(levels: np.ndarray, qtype: QuantizedType) -> ConstantOp:
        """A constant holding `levels` (an int array) as `qtype`."""
        levels = np.asarray(levels, dtype=np.int64)
        return ConstantOp(levels_to_hex(qtype, levels), TensorType(qtype, levels.shape))

    def levels(self) -> np.ndarray:
        """The constant's levels as an int64 array."""
        return hex_to_levels(
            qtype_of(self.output), shape_of(self.output), self.value.data
        )

    @classmethod
    def parse(cls, parser: Parser) -> ConstantOp:
        value = parser.parse_str_literal()
        attrs = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        ty = parser.parse_type()
        if not isinstance(ty, TensorType):
            parser.raise_error("q.constant expects a tensor type")
        op = cls(value, ty)
        op.attributes.update(attrs)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_string_literal(self.value.data)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        printer.print_attribute(self.output.type)

    def verify_q(self) -> None:
        qtype = qtype_of(self.output)
        shape = shape_of(self.output)
        if DYN in shape:
            raise _err(self, f"a constant needs a static shape, got {fmt_shape(shape)}")
        problem = check_packed(qtype, shape, self.value.data)
        if problem is not None:
            raise _err(self, f"value {problem}")


@irdl_op_definition
class QuantizeOp(QOp):
    """Real values to levels of the result's quantized type.

    uniform: clamp(round_half_even(x / scale) + zp, qmin, qmax);
    pot/spot/mixed: the nearest level of x / scale, ties to the smaller
    magnitude, saturating; thresholds: the number of thresholds <= x.
    x / scale is computed in the expressed type (as ONNX QuantizeLinear).
    """

    name = "q.quantize"

    input = operand_def(TensorType)
    output = result_def(TensorType)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, qtype: QuantizedType):
        super().__init__(
            operands=[input], result_types=[TensorType(qtype, shape_of(input))]
        )

    def verify_q(self) -> None:
        qtype = qtype_of(self.output)
        check_shape(self.name, "result", shape_of(self.output), shape_of(self.input))
        if self.input.type.element_type != qtype.expressed_type:
            raise _err(
                self,
                f"input element type {self.input.type.element_type} differs from the "
                f"expressed type {qtype.expressed_type}",
            )


@irdl_op_definition
class DequantizeOp(QOp):
    """Levels to real values: scale * (level - zp), computed in the expressed type."""

    name = "q.dequantize"

    input = operand_def(TensorType)
    output = result_def(TensorType)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue):
        qtype = qtype_of(input)
        super().__init__(
            operands=[input],
            result_types=[TensorType(qtype.expressed_type, shape_of(input))],
        )

    def verify_q(self) -> None:
        qtype = qtype_of(self.input)
        check_shape(self.name, "result", shape_of(self.output), shape_of(self.input))
        if self.output.type.element_type != qtype.expressed_type:
            raise _err(
                self,
                f"result element type {self.output.type.element_type} differs from the "
                f"expressed type {qtype.expressed_type}",
            )


# --------------------------------------------------------------------------- #
# Linear layers
# --------------------------------------------------------------------------- #


def _weight_scales(
    op: IRDLOperation, wtype: QuantizedType, axis: int, what: str
) -> tuple[float, ...] | None:
    """The weight's per-output-channel scales, or None if per tensor."""
    if wtype.is_per_tensor:
        return None
    axes = tuple(a.data for a in wtype.axes.data)
    blocks = tuple(b.data for b in wtype.blocks.data)
    if axes != (axis,) or blocks != (1,):
        raise _err(
            op,
            f"{what} must be quantized per tensor or per axis {axis}; per-block scales "
            "would give every partial sum a different scale",
        )
    return wtype.scale_values


def _check_linear(
    op: IRDLOperation,
    x: SSAValue,
    w: SSAValue,
    bias: SSAValue | None,
    w_axis: int,
    out_axis: int,
    channels: int,
    reduce_axes: Sequence[int],
) -> None:
    """Shared checks of q.conv2d and q.matmul: scales, bias, width."""
    xtype, wtype, rtype = qtype_of(x), qtype_of(w), qtype_of(op.results[0])
    _per_tensor(op, "the input", xtype)
    if isinstance(xtype, MixedType):
        raise _err(op, "the input (activation) cannot be q.mixed")
    if (
        xtype.expressed_type != wtype.expressed_type
        or rtype.expressed_type != xtype.expressed_type
    ):
        raise _err(op, "operands and result must share one expressed type")
    w_scales = _weight_scales(op, wtype, w_axis, "the weight")
    sx = xtype.scale
    want = [sx * s for s in w_scales] if w_scales is not None else [sx * wtype.scale]
    if rtype.is_per_tensor:
        got = [rtype.scale]
    else:
        if rtype.quantized_axis != out_axis:
            raise _err(
                op, f"the result must be quantized per tensor or per axis {out_axis}"
            )
        got = list(rtype.scale_values)
    if w_scales is not None and len(want) != channels and channels != DYN:
        raise _err(
            op, f"the weight has {len(want)} scales for {channels} output channels"
        )
    if len(got) == 1 and len(set(want)) == 1:
        got_cmp, want_cmp = got, want[:1]
    else:
        got_cmp, want_cmp = got, want
    _same_scales(op, "the result", got_cmp, want_cmp)
    lo, hi = linear_range(xtype, wtype, shape_of(w), reduce_axes)
    if bias is not None:
        btype = qtype_of(bias)
        if not isinstance(btype, UniformType) or any(btype.zp_values):
            raise _err(op, "the bias must be q.uniform with zero point 0")
        bshape = shape_of(bias)
        if bshape != (channels,):
            raise _err(
                op, f"the bias has shape {fmt_shape(bshape)}, expected {channels}"
            )
        bscales = list(btype.scale_values)
        if not btype.is_per_tensor and btype.quantized_axis != 0:
            raise _err(op, "the bias must be quantized per tensor or per axis 0")
        if len(bscales) == 1 and len(set(want)) == 1:
            _same_scales(op, "the bias", bscales, want[:1])
        else:
            _same_scales(op, "the bias", bscales, want)
        lo, hi = lo + btype.min_level, hi + btype.max_level
    _check_width(op, rtype, lo, hi)


@irdl_op_definition
class Conv2dOp(QOp):
    """Integer 2-D convolution, NCHW input, OIHW weight (as `nn.conv2d`).

    acc[n,o,y,x] = sum_{c,i,j} (x[n,c,..] - zx) * (w[o,c,i,j] - zw[o]) + b[o],
    exact; padding contributes x - zx = 0. The input is per tensor; the
    weight per tensor or per output channel (axis 0); the result is a
    signed accumulator with zero point 0 and scale sx * sw[o] (per axis 1
    when the weight is per channel). The bias, if any, has that scale.
    Accumulator width: see `linear_range` (K = C/group * kh * kw terms).
    """

    name = "q.conv2d"

    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    output = result_def(TensorType)

    strides = opt_prop_def(DenseArrayBase)
    pads = opt_prop_def(DenseArrayBase)
    dilations = opt_prop_def(DenseArrayBase)
    group = opt_prop_def(IntegerAttr)

    traits = traits_def(Pure())

    assembly_format = GENERIC_FORMAT

    def __init__(
        self,
        input: SSAValue,
        weight: SSAValue,
        bias: SSAValue | None = None,
        *,
        strides: Sequence[int] = (1, 1),
        pads: Sequence[int] = (0, 0, 0, 0),
        dilations: Sequence[int] = (1, 1),
        group: int = 1,
    ):
        """Builds the op with the narrowest accumulator (bit growth)."""
        props = {
            "strides": _i64_array(strides),
            "pads": _i64_array(pads),
            "dilations": _i64_array(dilations),
            "group": IntegerAttr(group, i64),
        }
        xtype, wtype = qtype_of(input), qtype_of(weight)
        w_scales = wtype.scale_values if not wtype.is_per_tensor else None
        lo, hi = linear_range(xtype, wtype, shape_of(weight), (1, 2, 3))
        if bias is not None:
            btype = qtype_of(bias)
            lo, hi = lo + btype.min_level, hi + btype.max_level
        scales = [xtype.scale * s for s in (w_scales or [wtype.scale])]
        acc = accumulator_type(
            signed_width(lo, hi), scales, 1 if w_scales else None, xtype.expressed_type
        )
        shape = conv2d_shape(
            self.name,
            shape_of(input),
            shape_of(weight),
            strides,
            pads,
            dilations,
            group,
        )
        super().__init__(
            operands=[input, weight, bias],
            properties=props,
            result_types=[TensorType(acc, shape)],
        )

    @property
    def attrs(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], int]:
        return (
            _ints(self.strides, (1, 1)),
            _ints(self.pads, (0, 0, 0, 0)),
            _ints(self.dilations, (1, 1)),
            1 if self.group is None else self.group.value.data,
        )

    def infer_shape(self) -> Shape:
        return conv2d_shape(
            self.name, shape_of(self.input), shape_of(self.weight), *self.attrs
        )

    def verify_q(self) -> None:
        check_shape(self.name, "result", shape_of(self.output), self.infer_shape())
        o = shape_of(self.weight)[0]
        _check_linear(self, self.input, self.weight, self.bias, 0, 1, o, (1, 2, 3))


def matmul_shape(name: str, a: Shape, b: Shape) -> Shape:
    """Result shape of a batched matmul of ranks >= 2, or VerifyException."""
    if len(a) < 2 or len(b) < 2:
        raise VerifyException(
            f"'{name}': operands need rank >= 2, got {fmt_shape(a)} and {fmt_shape(b)}"
        )
    if a[-1] != DYN and b[-2] != DYN and a[-1] != b[-2]:
        raise VerifyException(
            f"'{name}': inner dimensions differ ({a[-1]} and {b[-2]})"
        )
    batch = broadcast_shapes(name, a[:-2], b[:-2])
    return (*batch, a[-2], b[-1])


@irdl_op_definition
class MatmulOp(QOp):
    """Integer batched matrix product (numpy `matmul` on ranks >= 2).

    acc[..., m, n] = sum_k (a[..., m, k] - za) * (b[..., k, n] - zb[n]) + bias[n].
    `a` is per tensor; `b` per tensor or per column (its last axis); the
    result scale is sa * sb[n] (per its last axis when `b` is per column).
    Accumulator width from bit growth with K terms.
    """

    name = "q.matmul"

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    output = result_def(TensorType)

    traits = traits_def(Pure())

    assembly_format = GENERIC_FORMAT

    def __init__(self, lhs: SSAValue, rhs: SSAValue, bias: SSAValue | None = None):
        """Builds the op with the narrowest accumulator (bit growth)."""
        atype, btype = qtype_of(lhs), qtype_of(rhs)
        b = shape_of(rhs)
        lo, hi = linear_range(atype, btype, b, (len(b) - 2,))
        if bias is not None:
            bt = qtype_of(bias)
            lo, hi = lo + bt.min_level, hi + bt.max_level
        per_col = not btype.is_per_tensor
        scales = [atype.scale * s for s in btype.scale_values]
        shape = matmul_shape(self.name, shape_of(lhs), shape_of(rhs))
        acc = accumulator_type(
            signed_width(lo, hi),
            scales,
            len(shape) - 1 if per_col else None,
            atype.expressed_type,
        )
        super().__init__(
            operands=[lhs, rhs, bias], result_types=[TensorType(acc, shape)]
        )

    def infer_shape(self) -> Shape:
        return matmul_shape(self.name, shape_of(self.lhs), shape_of(self.rhs))

    def verify_q(self) -> None:
        shape = self.infer_shape()
        check_shape(self.name, "result", shape_of(self.output), shape)
        b = shape_of(self.rhs)
        if b[-2] == DYN:
            raise _err(self, "the reduction dimension must be static")
        _check_linear(
            self,
            self.lhs,
            self.rhs,
            self.bias,
            len(b) - 1,
            len(shape) - 1,
            b[-1],
            (len(b) - 2,),
        )


# --------------------------------------------------------------------------- #
# Requantization
# --------------------------------------------------------------------------- #


def requant_params(ratio: float, mult_bits: int = 16) -> tuple[int, int]:
    """(multiplier, shift) with multiplier / 2^shift ~= ratio > 0.

    The multiplier is round(ratio * 2^shift) normalised into
    [2^(bits-1), 2^bits] (so the relative error is at most 2^-bits), then
    trailing zero bits are moved into the shift; a power of two gives
    multiplier 1, the shift-only case. A ratio >= 2^bits gives shift 0 and
    multiplier round(ratio) (more bits, but within 1/2 of the ratio, as the
    verifier requires). The shift is at most 62: a ratio below 2^-63
    cannot be represented (the verifier rejects the result).
    """
    if not (math.isfinite(ratio) and ratio > 0):
        raise ValueError(f"requantize ratio {ratio} must be positive and finite")
    if not 1 <= mult_bits <= 32:
        raise ValueError(f"multiplier bits {mult_bits} must be in [1, 32]")
    mant, exp = math.frexp(ratio)  # ratio = mant * 2^exp, mant in [0.5, 1)
    if mant == 0.5:
        e = exp - 1
        return (1 << e, 0) if e >= 0 else (1, min(-e, MAX_SHIFT))
    shift = mult_bits - exp
    if shift <= 0:  # ratio >= 2^bits: the integer nearest to it, no shift
        return round(ratio), 0
    shift = min(shift, MAX_SHIFT)
    mult = max(1, round(ratio * 2.0**shift))
    while shift > 0 and mult % 2 == 0:
        mult //= 2
        shift -= 1
    return mult, shift


@irdl_op_definition
class RequantizeOp(QOp):
    """Integer rescaling: out = clamp(((x - zx) * M + r) >> s) + zo, qmin, qmax).

    The input may be threshold codes (`q.thresholds`: uniform codes with
    one scale and zero point).

    M (`multiplier`, >= 1) and s (`shift`, 0..62) are per tensor or per
    channel of the input's quantized axis; r = 2^(s-1) for s > 0 else 0, so
    rounding is half up (toward +inf); `>>` is an arithmetic (floor) shift.
    M = 1 is the shift-only case. The output is per-tensor q.uniform. The
    verifier checks 2^s * sx / so >= 1/2 and |M - 2^s * sx / so| <= 1 for
    every channel, so the integer constants agree with the scales in the
    types, and that (x - zx) * M cannot overflow.
    """

    name = "q.requantize"

    input = operand_def(TensorType)
    output = result_def(TensorType)

    multiplier = prop_def(DenseArrayBase)
    shift = prop_def(DenseArrayBase)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(
        self,
        input: SSAValue,
        out_type: QuantizedType,
        multiplier: Sequence[int] | None = None,
        shift: Sequence[int] | None = None,
        mult_bits: int = 16,
    ):
        """Without `multiplier`/`shift`, derive them from the scales."""
        if multiplier is None or shift is None:
            in_type = qtype_of(input)
            params = [
                requant_params(s / out_type.scale, mult_bits)
                for s in in_type.scale_values
            ]
            multiplier = [m for m, _ in params]
            shift = [s for _, s in params]
        super().__init__(
            operands=[input],
            properties={
                "multiplier": _i64_array(multiplier),
                "shift": _i64_array(shift),
            },
            result_types=[TensorType(out_type, shape_of(input))],
        )

    def channel_params(self) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.array(self.multiplier.get_values(), dtype=np.int64),
            np.array(self.shift.get_values(), dtype=np.int64),
        )

    def verify_q(self) -> None:
        check_shape(self.name, "result", shape_of(self.output), shape_of(self.input))
        xtype, otype = qtype_of(self.input), qtype_of(self.output)
        if not isinstance(xtype, UniformType | ThresholdsType):
            raise _err(
                self, f"the input must be q.uniform or q.thresholds, got {xtype}"
            )
        if not isinstance(otype, UniformType):
            raise _err(self, f"the result must be q.uniform, got {otype}")
        _per_tensor(self, "the result", otype)
        if not xtype.is_per_tensor and xtype.quantized_axis is None:
            raise _err(
                self,
                "the input must be quantized per tensor or per axis; per-block "
                "scales are not supported",
            )
        mult, shift = self.channel_params()
        n = len(xtype.scale_values)
        if len(mult) != len(shift) or len(mult) not in (1, n):
            raise _err(
                self,
                f"multiplier and shift need 1 or {n} values, got {len(mult)} and "
                f"{len(shift)}",
            )
        if np.any(mult < 1) or np.any(mult > MAX_MULTIPLIER):
            raise _err(self, "multipliers must be in [1, 2^32)")
        if np.any(shift < 0) or np.any(shift > MAX_SHIFT):
            raise _err(self, f"shifts must be in [0, {MAX_SHIFT}]")
        so = otype.scale
        for i, sx in enumerate(xtype.scale_values):
            m = int(mult[i % len(mult)])
            s = int(shift[i % len(shift)])
            ideal = sx / so * 2.0**s
            if ideal < 0.5 or abs(m - ideal) > 1.0 + 1e-9 * ideal:
                raise _err(
                    self,
                    f"multiplier {m} >> {s} does not match the scale ratio "
                    f"{sx / so!r}: 2^{s} * ratio = {ideal:.6g} must be >= 0.5 and "
                    "within 1 of the multiplier",
                )
        lo, hi = centred_range(xtype)
        if max(abs(lo), abs(hi)) * int(mult.max()) >= 1 << 62:
            raise _err(self, "input range times multiplier overflows 62 bits")


UniformCodes = UniformType | ThresholdsType
"""Types whose levels are uniform codes: real = scale * (level - zp)."""


def _ceil_ratio(t: float, s: float) -> int:
    """ceil(t / s), exactly, for a finite float t and a float s > 0."""
    tn, td = float(t).as_integer_ratio()
    sn, sd = float(s).as_integer_ratio()
    return -((-tn * sd) // (td * sn))


_ceil_ratios = np.frompyfunc(_ceil_ratio, 2, 1)


def threshold_layout(
    xtype: QuantizedType, otype: ThresholdsType
) -> tuple[int | None, int]:
    """(axis, rows) of the integer thresholds of a `q.threshold` from `xtype`
    to `otype`: one row per index of the input's quantized axis or of the
    result's threshold axis (they must agree), else one row."""
    if not xtype.is_per_tensor and xtype.quantized_axis is None:
        raise VerifyException(
            "the input must be quantized per tensor or per axis; per-block "
            "scales are not supported"
        )
    xa, ta = xtype.quantized_axis, otype.threshold_axis
    t_rows = otype.threshold_array().reshape(-1, otype.count).shape[0]
    if (
        xa is not None
        and ta is not None
        and (xa != ta or len(xtype.scale_values) != t_rows)
    ):
        raise VerifyException(
            f"the input's scales (axis {xa}, {len(xtype.scale_values)}) and the "
            f"result's thresholds (axis {ta}, {t_rows} lists) must share one axis "
            "and length"
        )
    if xa is not None:
        return xa, len(xtype.scale_values)
    return ta, t_rows


def integer_thresholds(xtype: QuantizedType, otype: ThresholdsType) -> np.ndarray:
    """T[c, j] = clamp(zx[c] + ceil(t[c, j] / sx[c]), qmin, qmax + 1) as int64
    [rows, n] (see `threshold_layout`), computed exactly in rationals: for
    every input level x, x >= T[c, j] iff sx[c] * (x - zx[c]) >= t[c, j]."""
    _, rows = threshold_layout(xtype, otype)
    n = otype.count
    t = np.broadcast_to(otype.threshold_array().reshape(-1, n), (rows, n))
    scales = np.array(xtype.scale_values, dtype=np.float64)[:, None]
    zps = np.array(xtype.zp_values, dtype=np.int64).astype(object)[:, None]
    ratios = _ceil_ratios(t, np.broadcast_to(scales, (rows, n))) + zps
    lo, hi = xtype.min_level, xtype.max_level + 1
    return np.minimum(np.maximum(ratios, lo), hi).astype(np.int64)


@irdl_op_definition
class ThresholdOp(QOp):
    """Multi-threshold activation: out = #{j : x >= T[c, j]}, integer compares.

    The input is integer levels with scales (an accumulator, any q.uniform or
    q.thresholds per tensor or per axis); the result is `q.thresholds` codes.
    `thresholds` holds the integer thresholds, one row of n per index c of
    the input's quantized axis (or of the result's threshold axis; one row
    when both are per tensor), and must equal `integer_thresholds`:
    T[c, j] = clamp(zx[c] + ceil(t[c, j] / sx[c]), qmin, qmax + 1). So the
    integer compare equals the exact real compare sx[c]·(x - zx[c]) >= t[c, j]
    of the result type's real thresholds t on every input level, and no
    multiplier is needed (FINN's MultiThreshold after an accumulator).
    """

    name = "q.threshold"

    input = operand_def(TensorType)
    output = result_def(TensorType)

    thresholds = prop_def(DenseArrayBase)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, out_type: ThresholdsType):
        """Derives the integer thresholds from the types."""
        values = integer_thresholds(qtype_of(input), out_type)
        super().__init__(
            operands=[input],
            properties={"thresholds": _i64_array(values.ravel().tolist())},
            result_types=[TensorType(out_type, shape_of(input))],
        )

    def threshold_array(self) -> np.ndarray:
        """The integer thresholds as int64 [rows, n]."""
        n = qtype_of(self.output).levels_attr.high.data
        return np.array(self.thresholds.get_values(), dtype=np.int64).reshape(-1, n)

    def channel_axis(self) -> int | None:
        """The axis whose index selects the row (None: one row)."""
        otype = qtype_of(self.output)
        assert isinstance(otype, ThresholdsType)
        return threshold_layout(qtype_of(self.input), otype)[0]

    def verify_q(self) -> None:
        check_shape(self.name, "result", shape_of(self.output), shape_of(self.input))
        xtype, otype = qtype_of(self.input), qtype_of(self.output)
        if not isinstance(xtype, UniformCodes):
            raise _err(
                self, f"the input must be q.uniform or q.thresholds, got {xtype}"
            )
        if not isinstance(otype, ThresholdsType):
            raise _err(self, f"the result must be q.thresholds, got {otype}")
        if xtype.expressed_type != otype.expressed_type:
            raise _err(self, "the input and the result must share one expressed type")
        if xtype.max_level >= (1 << 63) - 1:
            raise _err(self, "the input levels must stay below 2^63 - 1 (at most i63)")
        _, rows = threshold_layout(xtype, otype)
        want = integer_thresholds(xtype, otype)
        got = np.array(self.thresholds.get_values(), dtype=np.int64)
        if got.size != want.size:
            raise _err(
                self,
                f"expected {rows} x {otype.count} integer thresholds, got {got.size}",
            )
        bad = np.flatnonzero((got.reshape(want.shape) != want).any(axis=1))
        if bad.size:
            c = int(bad[0])
            shown = ", ".join(str(v) for v in want[c, :8]) + (
                ", ..." if want.shape[1] > 8 else ""
            )
            raise _err(
                self,
                f"integer thresholds of row {c} must be [{shown}]: the smallest input "
                "levels whose real value reaches each threshold",
            )


# --------------------------------------------------------------------------- #
# Elementwise
# --------------------------------------------------------------------------- #


def _pow2_exponent(ratio: float) -> int | None:
    mant, exp = np.frexp(ratio)
    return int(exp) - 1 if mant == 0.5 else None


@irdl_op_definition
class AddOp(QOp):
    """Exact sum with power-of-two alignment: out = ((a - za) << ka) + ((b - zb) << kb).

    Operands are per-tensor q.uniform or q.thresholds codes; the result is a
    signed accumulator (zero point 0) whose scale so satisfies sa = so * 2^ka
    and sb = so * 2^kb with ka, kb >= 0 (exactly). Numpy broadcasting. Width
    from bit growth.
    """

    name = "q.add"

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    output = result_def(TensorType)

    traits = traits_def(Pure())

    assembly_format = GENERIC_FORMAT

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        """Builds the op at the finer of the two scales, narrowest width."""
        at, bt = qtype_of(lhs), qtype_of(rhs)
        so = min(at.scale, bt.scale)
        if _pow2_exponent(max(at.scale, bt.scale) / so) is None:
            raise VerifyException(
                f"'{self.name}': the operand scales {at.scale!r} and {bt.scale!r} "
                "differ by a factor that is not a power of two"
            )
        lo, hi = self.result_range(at, bt, so)
        acc = UniformType(signed_width(lo, hi), True, so, expressed=at.expressed_type)
        shape = broadcast_shapes(self.name, shape_of(lhs), shape_of(rhs))
        super().__init__(operands=[lhs, rhs], result_types=[TensorType(acc, shape)])

    @staticmethod
    def result_range(
        at: QuantizedType, bt: QuantizedType, so: float
    ) -> tuple[int, int]:
        ka = _pow2_exponent(at.scale / so) or 0
        kb = _pow2_exponent(bt.scale / so) or 0
        (alo, ahi), (blo, bhi) = centred_range(at), centred_range(bt)
        return (alo << ka) + (blo << kb), (ahi << ka) + (bhi << kb)

    def alignment(self) -> tuple[int, int]:
        """(ka, kb): the left shifts of the two operands."""
        so = qtype_of(self.output).scale
        return (
            _pow2_exponent(qtype_of(self.lhs).scale / so) or 0,
            _pow2_exponent(qtype_of(self.rhs).scale / so) or 0,
        )

    def verify_q(self) -> None:
        shape = broadcast_shapes(self.name, shape_of(self.lhs), shape_of(self.rhs))
        check_shape(self.name, "result", shape_of(self.output), shape)
        at, bt, ot = qtype_of(self.lhs), qtype_of(self.rhs), qtype_of(self.output)
        for what, t in (("lhs", at), ("rhs", bt), ("result", ot)):
            allowed = UniformType if what == "result" else UniformCodes
            if not isinstance(t, allowed):
                kinds = "q.uniform" if what == "result" else "q.uniform or q.thresholds"
                raise _err(self, f"the {what} must be {kinds}, got {t}")
            _per_tensor(self, f"the {what}", t)
        if not at.expressed_type == bt.expressed_type == ot.expressed_type:
            raise _err(self, "operands and result must share one expressed type")
        so = ot.scale
        for what, t in (("lhs", at), ("rhs", bt)):
            k = _pow2_exponent(t.scale / so)
            if k is None or k < 0 or t.scale != so * 2.0**k:
                raise _err(
                    self,
                    f"the {what} scale {t.scale!r} must be the result scale {so!r} "
                    "times a power of two >= 1",
                )
        lo, hi = self.result_range(at, bt, so)
        _check_width(self, ot, lo, hi)


@irdl_op_definition
class ClampOp(QOp):
    """clamp(level, min, max) on levels; the type is unchanged.

    `min` and `max` are levels (not real values) and must be representable.
    """

    name = "q.clamp"

    input = operand_def(TensorType)
    output = result_def(TensorType)

    min = prop_def(IntegerAttr)
    max = prop_def(IntegerAttr)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, lo: int, hi: int):
        super().__init__(
            operands=[input],
            properties={"min": IntegerAttr(lo, i64), "max": IntegerAttr(hi, i64)},
            result_types=[input.type],
        )

    def verify_q(self) -> None:
        if self.input.type != self.output.type:
            raise _err(self, "the result type must equal the input type")
        lo, hi = self.min.value.data, self.max.value.data
        if lo > hi:
            raise _err(self, f"min {lo} is larger than max {hi}")
        qtype = qtype_of(self.input)
        if isinstance(qtype, MixedType | ThresholdsType):
            raise _err(self, f"cannot clamp {qtype.name} levels")
        if not np.all(qtype.representable(np.array([lo, hi]))):
            raise _err(self, f"bounds [{lo}, {hi}] are not levels of {qtype}")


@irdl_op_definition
class ReluOp(QOp):
    """max(level, zero point): the integer ReLU; the type is unchanged."""

    name = "q.relu"

    input = operand_def(TensorType)
    output = result_def(TensorType)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue):
        super().__init__(operands=[input], result_types=[input.type])

    def verify_q(self) -> None:
        if self.input.type != self.output.type:
            raise _err(self, "the result type must equal the input type")
        if isinstance(qtype_of(self.input), MixedType):
            raise _err(self, "relu of q.mixed is not defined")
        if isinstance(qtype_of(self.input), BinaryType):
            raise _err(self, "relu of q.binary is not defined (it has no zero level)")


# --------------------------------------------------------------------------- #
# Pooling
# --------------------------------------------------------------------------- #


class _PoolOp(QOp):
    input = operand_def(TensorType)
    output = result_def(TensorType)

    kernel_shape = prop_def(DenseArrayBase)
    strides = opt_prop_def(DenseArrayBase)
    pads = opt_prop_def(DenseArrayBase)
    ceil_mode = opt_prop_def(IntegerAttr)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    @property
    def window(
        self,
    ) -> tuple[
        tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...], bool
    ]:
        """(kernel, strides, pads, dilations, ceil_mode) with defaults."""
        dil = getattr(self, "dilations", None)
        return (
            _ints(self.kernel_shape, ()),
            _ints(self.strides, (1, 1)),
            _ints(self.pads, (0, 0, 0, 0)),
            _ints(dil, (1, 1)),
            bool(self.ceil_mode.value.data) if self.ceil_mode is not None else False,
        )

    def infer_shape(self) -> Shape:
        return pool2d_shape(self.name, shape_of(self.input), *self.window)


@irdl_op_definition
class MaxPool2dOp(_PoolOp):
    """Max of levels over each window (NCHW); padding never wins. Type unchanged.

    Properties as `nn.maxpool2d`: kernel_shape, strides, pads, dilations,
    ceil_mode. Scales must not vary along the pooled axes.
    """

    name = "q.maxpool2d"

    dilations = opt_prop_def(DenseArrayBase)

    def __init__(
        self,
        input: SSAValue,
        kernel: Sequence[int],
        strides: Sequence[int] = (1, 1),
        pads: Sequence[int] = (0, 0, 0, 0),
        dilations: Sequence[int] = (1, 1),
        ceil_mode: bool = False,
    ):
        props = {
            "kernel_shape": _i64_array(kernel),
            "strides": _i64_array(strides),
            "pads": _i64_array(pads),
            "dilations": _i64_array(dilations),
            "ceil_mode": IntegerAttr(int(ceil_mode), 1),
        }
        shape = pool2d_shape(
            self.name, shape_of(input), kernel, strides, pads, dilations, ceil_mode
        )
        super().__init__(
            operands=[input],
            properties=props,
            result_types=[TensorType(qtype_of(input), shape)],
        )

    def verify_q(self) -> None:
        check_shape(self.name, "result", shape_of(self.output), self.infer_shape())
        qtype = qtype_of(self.input)
        if qtype_of(self.output) != qtype:
            raise _err(self, "the result element type must equal the input's")
        if isinstance(qtype, MixedType) or any(a.data >= 2 for a in qtype.axes.data):
            raise _err(self, "scales must not vary inside a pooling window")
        kernel, strides, pads, dilations, _ = self.window
        x, y = shape_of(self.input), shape_of(self.output)
        for i in (0, 1):
            if x[2 + i] != DYN and y[2 + i] != DYN:
                start = np.arange(y[2 + i]) * strides[i] - pads[i]
                taps = start[:, None] + np.arange(kernel[i]) * dilations[i]
                inside = (taps >= 0) & (taps < x[2 + i])
                if not np.all(inside.any(axis=1)):
                    raise _err(self, "a pooling window lies entirely in the padding")


@irdl_op_definition
class AvgPool2dOp(_PoolOp):
    """Window sums for average pooling: out = sum over the window of (x - zx).

    Padding contributes 0 and every window counts kh*kw elements (ONNX
    count_include_pad=1); the result is a signed accumulator (zero point 0)
    with scale sx / (kh*kw), so dequantizing gives the average. A following
    `q.requantize` does the division in integers.
    """

    name = "q.avgpool2d"

    def __init__(
        self,
        input: SSAValue,
        kernel: Sequence[int],
        strides: Sequence[int] = (1, 1),
        pads: Sequence[int] = (0, 0, 0, 0),
        ceil_mode: bool = False,
    ):
        props = {
            "kernel_shape": _i64_array(kernel),
            "strides": _i64_array(strides),
            "pads": _i64_array(pads),
            "ceil_mode": IntegerAttr(int(ceil_mode), 1),
        }
        xtype = qtype_of(input)
        n = kernel[0] * kernel[1]
        lo, hi = centred_range(xtype)
        acc = UniformType(
            signed_width(n * lo, n * hi),
            True,
            xtype.scale / n,
            expressed=xtype.expressed_type,
        )
        shape = pool2d_shape(
            self.name, shape_of(input), kernel, strides, pads, (1, 1), ceil_mode
        )
        super().__init__(
            operands=[input], properties=props, result_types=[TensorType(acc, shape)]
        )

    def verify_q(self) -> None:
        check_shape(self.name, "result", shape_of(self.output), self.infer_shape())
        xtype, otype = qtype_of(self.input), qtype_of(self.output)
        _per_tensor(self, "the input", xtype)
        _per_tensor(self, "the result", otype)
        k = self.window[0]
        n = k[0] * k[1]
        if otype.scale != xtype.scale / n:
            raise _err(
                self,
                f"the result scale must be the input scale / {n} = {xtype.scale / n!r}",
            )
        lo, hi = centred_range(xtype)
        _check_width(self, otype, n * lo, n * hi)


# --------------------------------------------------------------------------- #
# Table lookup
# --------------------------------------------------------------------------- #


@irdl_op_definition
class LutOp(QOp):
    """Table lookup: out = table[x - min_level(x)] for each element.

    The input is a per-tensor type with at most 2^16 levels in a
    contiguous range (uniform or thresholds); `table` holds one output
    level per input level in packed storage of the output type (the same
    encoding as `q.constant`). Used for nonlinear functions (sigmoid, gelu,
    exp) on low-bit activations.
    """

    name = "q.lut"

    input = operand_def(TensorType)
    output = result_def(TensorType)

    table = prop_def(StringAttr)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, table: np.ndarray, out_type: QuantizedType):
        text = levels_to_hex(out_type, np.asarray(table, dtype=np.int64))
        super().__init__(
            operands=[input],
            properties={"table": StringAttr(text)},
            result_types=[TensorType(out_type, shape_of(input))],
        )

    @staticmethod
    def from_function(input: SSAValue, fn, out_type: QuantizedType) -> LutOp:
        """A table that applies `fn` (real -> real) exactly on every input level."""
        xtype = qtype_of(input)
        levels = np.arange(xtype.min_level, xtype.max_level + 1, dtype=np.int64)
        real = xtype.dequantize(levels)
        return LutOp(
            input, out_type.quantize(np.asarray(fn(real), dtype=real.dtype)), out_type
        )

    def table_levels(self) -> np.ndarray:
        xtype = qtype_of(self.input)
        n = xtype.max_level - xtype.min_level + 1
        return hex_to_levels(qtype_of(self.output), (n,), self.table.data)

    def verify_q(self) -> None:
        check_shape(self.name, "result", shape_of(self.output), shape_of(self.input))
        xtype, otype = qtype_of(self.input), qtype_of(self.output)
        if not isinstance(xtype, UniformType | ThresholdsType):
            raise _err(
                self, f"the input must be q.uniform or q.thresholds, got {xtype}"
            )
        _per_tensor(self, "the input", xtype)
        _per_tensor(self, "the result", otype)
        if isinstance(otype, MixedType):
            raise _err(self, "the result cannot be q.mixed")
        n = xtype.max_level - xtype.min_level + 1
        if n > 1 << 16:
            raise _err(self, f"the input has {n} levels; tables take at most 65536")
        problem = check_packed(otype, (n,), self.table.data)
        if problem is not None:
            raise _err(self, f"the table ({n} entries) {problem}")


Q_OPS = [
    ConstantOp,
    QuantizeOp,
    DequantizeOp,
    Conv2dOp,
    MatmulOp,
    RequantizeOp,
    ThresholdOp,
    AddOp,
    ClampOp,
    ReluOp,
    MaxPool2dOp,
    AvgPool2dOp,
    LutOp,
]

Q = Dialect("q", Q_OPS, [*Q_ATTRIBUTES, *CALIB_ATTRIBUTES])

__all__ = ["Q_OPS", "Q", "expressed_dtype"]
