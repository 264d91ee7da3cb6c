"""The `nn` dialect: the float graph of a neural network, as imported.

Every op works on builtin ranked tensors (`tensor<1x3x32x32xf32>`), with
ONNX's semantics (layouts NCHW and OIHW, numpy broadcasting): compute ops on
floats, elementwise arithmetic also on integers, comparisons giving `i1`, and
layout ops on any element type, where ONNX allows them. Each op's
verifier recomputes the result shape from the operands and properties and
rejects any mismatch, so a graph that verifies has consistent shapes; a
dynamic dimension (`?`) is carried through, never guessed. The exact
semantics of every op are in `docs/dialects/nn.md`.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    AnyFloat,
    BoolAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    Float16Type,
    Float32Type,
    Float64Type,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    Signedness,
    StringAttr,
    TensorType,
    f32,
    i1,
    i64,
)
from xdsl.ir import Attribute, Dialect, SSAValue
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    MessageConstraint,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.rewriter import Rewriter
from xdsl.traits import ConstantLike, Pure
from xdsl.utils.exceptions import VerifyException

from qopt.qdialect.shapes import (
    DYN,
    Shape,
    broadcast_shapes,
    broadcasts_to,
    check_shape,
    conv2d_shape,
    dims_compatible,
    dims_product,
    fmt_shape,
    matmul_shape,
    normalize_axis,
    pool2d_shape,
    shape_of,
    slice_out_dim,
)

FloatTensor = TensorType.constr(
    MessageConstraint(AnyFloat, "expected a tensor of floats (f16, f32, f64, ...)")
)
NumericTensor = TensorType.constr(
    MessageConstraint(AnyFloat | IntegerType, "expected a tensor of floats or integers")
)
BoolTensor = TensorType.constr(MessageConstraint(i1, "expected a tensor of i1"))
AnyTensor = TensorType.constr(AnyAttr())

GENERIC_FORMAT = "operands attr-dict `:` functional-type(operands, results)"


# --------------------------------------------------------------------------- #
# Helpers for building and reading properties
# --------------------------------------------------------------------------- #


def i64_array(values: Sequence[int]) -> DenseArrayBase:
    """`array<i64: ...>` from Python ints."""
    return DenseArrayBase.from_list(i64, list(values))


def i64_attr(value: int) -> IntegerAttr:
    return IntegerAttr(value, i64)


def f32_attr(value: float) -> FloatAttr:
    return FloatAttr(value, f32)


def bool_attr(value: bool) -> BoolAttr:
    return IntegerAttr(int(value), IntegerType(1))


def ints(attr: DenseArrayBase | None, default: Sequence[int]) -> tuple[int, ...]:
    """The values of an optional `array<i64>` property, or `default`."""
    return tuple(default) if attr is None else tuple(attr.get_values())


def int_value(attr: IntegerAttr | None, default: int) -> int:
    return default if attr is None else attr.value.data


def float_value(attr: FloatAttr | None, default: float) -> float:
    return default if attr is None else attr.value.data


def bool_value(attr: IntegerAttr | None, default: bool) -> bool:
    return default if attr is None else bool(attr.value.data)


def element_type(value: SSAValue) -> Attribute:
    """The element type of a tensor-typed value."""
    ty = value.type
    assert isinstance(ty, TensorType)
    return ty.element_type


def check_same_element_type(op_name: str, values: Sequence[SSAValue]) -> None:
    """Raise unless all `values` have the same element type."""
    types = [element_type(v) for v in values]
    if any(t != types[0] for t in types):
        raise VerifyException(
            f"'{op_name}': operands and results must have the same element type, "
            f"got {', '.join(str(t) for t in types)}"
        )


def is_bool(ty: Attribute) -> bool:
    """Whether `ty` is `i1`, the boolean element type."""
    return isinstance(ty, IntegerType) and ty.width.data == 1


def check_not_bool(op_name: str, value: SSAValue) -> None:
    """Raise if `value` holds booleans (`i1`): arithmetic needs numbers."""
    if is_bool(element_type(value)):
        raise VerifyException(f"'{op_name}': expects float or integer elements, not i1")


def check_axes(
    op_name: str, what: str, axes: Sequence[int], rank: int
) -> tuple[int, ...]:
    """Normalise a list of axes into [0, rank); they must be in range and unique."""
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise VerifyException(
                f"'{op_name}': {what} {list(axes)} has axis {a}, out of range for "
                f"rank {rank}"
            )
        out.append(a % rank)
    if len(set(out)) != len(out):
        raise VerifyException(f"'{op_name}': {what} {list(axes)} repeats an axis")
    return tuple(out)


def tensor_like(value: SSAValue, shape: Sequence[int]) -> TensorType:
    """A tensor type of `shape` with the element type of `value`."""
    ty = value.type
    assert isinstance(ty, TensorType)
    return TensorType(ty.element_type, shape)


# --------------------------------------------------------------------------- #
# Op base classes
# --------------------------------------------------------------------------- #


class NNOp(IRDLOperation):
    """Common base: properties print inside the attribute dictionary.

    The default verifier checks that every operand and result has the same
    element type (`verify_element_types`, overridden by ops with integer
    operands) and that the result shape agrees with `infer_shape()`.
    """

    irdl_options = (ParsePropInAttrDict(),)

    def infer_shape(self) -> Shape:
        """The result shape implied by operands and properties."""
        raise NotImplementedError

    def set_result_type(self, ty: Attribute, index: int = 0) -> None:
        """Give a freshly built op's result a new type (used by builders that
        infer it from `infer_shape()`)."""
        Rewriter.replace_value_with_new_type(self.results[index], ty)

    def verify_element_types(self) -> None:
        """All operands and results share one element type."""
        check_same_element_type(self.name, [*self.operands, *self.results])

    def verify_(self) -> None:
        self.verify_element_types()
        check_shape(self.name, "result", shape_of(self.results[0]), self.infer_shape())


class UnaryOp(NNOp):
    """An elementwise op of one float tensor; the result has its shape."""

    input = operand_def(FloatTensor)
    output = result_def(FloatTensor)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, attributes: dict[str, Attribute] | None = None):
        super().__init__(
            operands=[input],
            result_types=[input.type],
            properties=attributes or {},
        )

    def infer_shape(self) -> Shape:
        return shape_of(self.input)


class NumericUnaryOp(UnaryOp):
    """A unary elementwise op that also takes integer tensors (not `i1`)."""

    input = operand_def(NumericTensor)
    output = result_def(NumericTensor)

    def verify_element_types(self) -> None:
        super().verify_element_types()
        check_not_bool(self.name, self.input)


class BinaryOp(NNOp):
    """An elementwise op of two float or integer tensors with numpy broadcasting.

    Both operands and the result have one element type, float or integer
    (not `i1`).
    """

    lhs = operand_def(NumericTensor)
    rhs = operand_def(NumericTensor)
    output = result_def(NumericTensor)

    traits = traits_def(Pure())

    assembly_format = GENERIC_FORMAT

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        shape = broadcast_shapes(self.name, shape_of(lhs), shape_of(rhs))
        super().__init__(operands=[lhs, rhs], result_types=[tensor_like(lhs, shape)])

    def verify_element_types(self) -> None:
        super().verify_element_types()
        check_not_bool(self.name, self.lhs)

    def infer_shape(self) -> Shape:
        return broadcast_shapes(self.name, shape_of(self.lhs), shape_of(self.rhs))


class CompareOp(NNOp):
    """An elementwise comparison of two tensors with numpy broadcasting.

    The operands have one element type (float or integer); the result is a
    tensor of `i1` of the broadcast shape.
    """

    lhs = operand_def(NumericTensor)
    rhs = operand_def(NumericTensor)
    output = result_def(BoolTensor)

    traits = traits_def(Pure())

    assembly_format = GENERIC_FORMAT

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        shape = broadcast_shapes(self.name, shape_of(lhs), shape_of(rhs))
        super().__init__(operands=[lhs, rhs], result_types=[TensorType(i1, shape)])

    def verify_element_types(self) -> None:
        if element_type(self.lhs) != element_type(self.rhs):
            raise VerifyException(
                f"'{self.name}': operands must have the same element type, got "
                f"{element_type(self.lhs)}, {element_type(self.rhs)}"
            )

    def infer_shape(self) -> Shape:
        return broadcast_shapes(self.name, shape_of(self.lhs), shape_of(self.rhs))


# --------------------------------------------------------------------------- #
# Constants
# --------------------------------------------------------------------------- #


def dense_text(value: DenseIntOrFPElementsAttr) -> str:
    """The text of a dense attribute that parses back to the same bits.

    xDSL 0.74 prints a float element that is NaN, infinite, or integral with
    more than 6 digits (1234567.0) as a hex bit pattern (`0xff800000`),
    which its parser reads back as an integer value. A small float constant
    with such an element is therefore printed as the hex string of its
    storage, `dense<"0x0000807F"> : tensor<f32>`, which parses exactly.
    """
    text = str(value)
    if (
        isinstance(value.get_element_type(), AnyFloat)
        and "0x" in text
        and not text.startswith('dense<"')
    ):
        text = f'dense<"0x{value.data.data.hex().upper()}"> : {value.get_type()}'
    return text


@irdl_op_definition
class ConstantOp(NNOp):
    """A constant tensor (weights, biases, shapes).

    Syntax: `%w = nn.constant dense<...> : tensor<4x3xf32>`. xDSL prints a
    large `dense` as one hex string, so weights round-trip bit-exactly; so
    does a small float constant with NaN, infinite or large integral values
    (see `dense_text`; in the generic format xDSL's own printing applies).
    """

    name = "nn.constant"

    value = prop_def(DenseIntOrFPElementsAttr)
    output = result_def(AnyTensor)

    traits = traits_def(Pure(), ConstantLike())

    def __init__(self, value: DenseIntOrFPElementsAttr):
        super().__init__(properties={"value": value}, result_types=[value.get_type()])

    @classmethod
    def parse(cls, parser: Parser) -> ConstantOp:
        value = parser.parse_attribute()
        if not isinstance(value, DenseIntOrFPElementsAttr):
            parser.raise_error("nn.constant expects a dense elements attribute")
        attrs = parser.parse_optional_attr_dict()
        op = cls(value)
        op.attributes.update(attrs)
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" " + dense_text(self.value))
        printer.print_op_attributes(self.attributes)

    def verify_(self) -> None:
        if self.value.get_type() != self.output.type:
            raise VerifyException(
                f"'{self.name}': result type {self.output.type} differs from "
                f"the value's type {self.value.get_type()}"
            )

    def infer_shape(self) -> Shape:
        return shape_of(self.output)


# --------------------------------------------------------------------------- #
# Linear layers
# --------------------------------------------------------------------------- #


@irdl_op_definition
class Conv2dOp(NNOp):
    """2-D convolution, ONNX `Conv` on NCHW input and OIHW weight.

    Properties: `strides` [sh, sw], `pads` [top, left, bottom, right],
    `dilations` [dh, dw], `group`. The weight has shape
    [O, C/group, kh, kw]; the optional bias has shape [O].
    """

    name = "nn.conv2d"

    input = operand_def(FloatTensor)
    weight = operand_def(FloatTensor)
    bias = opt_operand_def(FloatTensor)
    output = result_def(FloatTensor)

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
        props = {
            "strides": i64_array(strides),
            "pads": i64_array(pads),
            "dilations": i64_array(dilations),
            "group": i64_attr(group),
        }
        super().__init__(
            operands=[input, weight, bias], properties=props, result_types=[input.type]
        )
        self.set_result_type(tensor_like(input, self.infer_shape()))

    @property
    def attrs(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], int]:
        """(strides, pads, dilations, group) with defaults filled in."""
        return (
            ints(self.strides, (1, 1)),
            ints(self.pads, (0, 0, 0, 0)),
            ints(self.dilations, (1, 1)),
            int_value(self.group, 1),
        )

    def infer_shape(self) -> Shape:
        w = shape_of(self.weight)
        shape = conv2d_shape(self.name, shape_of(self.input), w, *self.attrs)
        if self.bias is not None and shape_of(self.bias) != (w[0],):
            raise VerifyException(
                f"'{self.name}': bias has shape {fmt_shape(shape_of(self.bias))}, "
                f"expected {w[0]}"
            )
        return shape


@irdl_op_definition
class ConvTranspose2dOp(NNOp):
    """2-D transposed convolution, ONNX `ConvTranspose` on NCHW input.

    Operands: input [N, C, H, W], weight [C, O/group, kh, kw] (IOHW, as in
    ONNX), optional bias [O]. Properties: `strides` [sh, sw], `pads` [top,
    left, bottom, right], `dilations` [dh, dw], `group`, `output_padding`
    [oph, opw] (defaults 1, 0, 1, 1, 0). Every input element scatters its
    products with the kernel into the full output,

        full[n, g*O/group + o, i*sh + a*dh, j*sw + b*dw]
            += x[n, g*C/group + c, i, j] * w[g*C/group + c, o, a, b],

    of size (H-1)*sh + dh*(kh-1) + 1 + oph (likewise for W), the
    `output_padding` rows/columns at the bottom/right receiving nothing; the
    result is `full` with `top`/`bottom` rows and `left`/`right` columns
    removed, plus the bias, so OH = (H-1)*sh - top - bottom + dh*(kh-1) +
    oph + 1. ONNX's `output_shape` and `auto_pad` are resolved into `pads`
    by the importer.
    """

    name = "nn.conv_transpose2d"

    input = operand_def(FloatTensor)
    weight = operand_def(FloatTensor)
    bias = opt_operand_def(FloatTensor)
    output = result_def(FloatTensor)

    strides = opt_prop_def(DenseArrayBase)
    pads = opt_prop_def(DenseArrayBase)
    dilations = opt_prop_def(DenseArrayBase)
    group = opt_prop_def(IntegerAttr)
    output_padding = opt_prop_def(DenseArrayBase)

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
        output_padding: Sequence[int] = (0, 0),
    ):
        props: dict[str, Attribute] = {}
        if tuple(strides) != (1, 1):
            props["strides"] = i64_array(strides)
        if tuple(pads) != (0, 0, 0, 0):
            props["pads"] = i64_array(pads)
        if tuple(dilations) != (1, 1):
            props["dilations"] = i64_array(dilations)
        if group != 1:
            props["group"] = i64_attr(group)
        if tuple(output_padding) != (0, 0):
            props["output_padding"] = i64_array(output_padding)
        super().__init__(
            operands=[input, weight, bias], properties=props, result_types=[input.type]
        )
        self.set_result_type(tensor_like(input, self.infer_shape()))

    @property
    def attrs(
        self,
    ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], int, tuple[int, ...]]:
        """(strides, pads, dilations, group, output_padding), defaults filled in."""
        return (
            ints(self.strides, (1, 1)),
            ints(self.pads, (0, 0, 0, 0)),
            ints(self.dilations, (1, 1)),
            int_value(self.group, 1),
            ints(self.output_padding, (0, 0)),
        )

    def infer_shape(self) -> Shape:
        x, w = shape_of(self.input), shape_of(self.weight)
        strides, pads, dilations, group, output_padding = self.attrs
        if len(x) != 4 or len(w) != 4:
            raise VerifyException(
                f"'{self.name}': expects a rank-4 input and weight, got "
                f"{fmt_shape(x)} and {fmt_shape(w)}"
            )
        if (
            len(strides) != 2
            or len(dilations) != 2
            or len(output_padding) != 2
            or len(pads) != 4
        ):
            raise VerifyException(
                f"'{self.name}': strides, dilations and output_padding need 2 "
                "values, pads 4"
            )
        if min(strides) < 1 or min(dilations) < 1 or min(pads) < 0:
            raise VerifyException(
                f"'{self.name}': strides and dilations must be >= 1 and pads >= 0"
            )
        for i in range(2):
            if not 0 <= output_padding[i] < max(strides[i], dilations[i]):
                raise VerifyException(
                    f"'{self.name}': output_padding {list(output_padding)} must be "
                    ">= 0 and smaller than max(stride, dilation) on each axis"
                )
        if group < 1 or w[0] % group != 0:
            raise VerifyException(
                f"'{self.name}': group {group} must divide the {w[0]} input "
                "channels of the weight"
            )
        if not dims_compatible(x[1], w[0]):
            raise VerifyException(
                f"'{self.name}': input has {x[1]} channels, weight expects {w[0]}"
            )
        out_channels = w[1] * group
        if self.bias is not None and shape_of(self.bias) != (out_channels,):
            raise VerifyException(
                f"'{self.name}': bias has shape {fmt_shape(shape_of(self.bias))}, "
                f"expected {out_channels}"
            )
        out = []
        for i in range(2):
            size = x[2 + i]
            if size == DYN:
                out.append(DYN)
                continue
            full = (size - 1) * strides[i] + dilations[i] * (w[2 + i] - 1) + 1
            out.append(full + output_padding[i] - pads[i] - pads[i + 2])
        if any(o != DYN and o < 1 for o in out):
            raise VerifyException(
                f"'{self.name}': pads {list(pads)} remove the whole output"
            )
        return (x[0], out_channels, out[0], out[1])


@irdl_op_definition
class GemmOp(NNOp):
    """ONNX `Gemm`: Y = alpha * A' @ B' + beta * C on 2-D tensors.

    A' is A transposed if `transA`, likewise B'. C broadcasts to [M, N].
    """

    name = "nn.gemm"

    a = operand_def(FloatTensor)
    b = operand_def(FloatTensor)
    c = opt_operand_def(FloatTensor)
    output = result_def(FloatTensor)

    alpha = opt_prop_def(FloatAttr)
    beta = opt_prop_def(FloatAttr)
    transA = opt_prop_def(IntegerAttr)
    transB = opt_prop_def(IntegerAttr)

    traits = traits_def(Pure())

    assembly_format = GENERIC_FORMAT

    def __init__(
        self,
        a: SSAValue,
        b: SSAValue,
        c: SSAValue | None = None,
        *,
        alpha: float = 1.0,
        beta: float = 1.0,
        trans_a: bool = False,
        trans_b: bool = False,
    ):
        props: dict[str, Attribute] = {}
        if alpha != 1.0:
            props["alpha"] = f32_attr(alpha)
        if beta != 1.0:
            props["beta"] = f32_attr(beta)
        if trans_a:
            props["transA"] = bool_attr(True)
        if trans_b:
            props["transB"] = bool_attr(True)
        super().__init__(operands=[a, b, c], properties=props, result_types=[a.type])
        self.set_result_type(tensor_like(a, self.infer_shape()))

    @property
    def attrs(self) -> tuple[float, float, bool, bool]:
        """(alpha, beta, transA, transB) with defaults filled in."""
        return (
            float_value(self.alpha, 1.0),
            float_value(self.beta, 1.0),
            bool_value(self.transA, False),
            bool_value(self.transB, False),
        )

    def infer_shape(self) -> Shape:
        a, b = shape_of(self.a), shape_of(self.b)
        _, _, ta, tb = self.attrs
        if len(a) != 2 or len(b) != 2:
            raise VerifyException(
                f"'{self.name}': expects 2-D operands, got {fmt_shape(a)} and "
                f"{fmt_shape(b)}"
            )
        m, k = (a[1], a[0]) if ta else a
        k2, n = (b[1], b[0]) if tb else b
        if k != DYN and k2 != DYN and k != k2:
            raise VerifyException(
                f"'{self.name}': inner dimensions differ ({k} and {k2})"
            )
        if self.c is not None:
            c = shape_of(self.c)
            if not broadcasts_to(c, (m, n)):
                raise VerifyException(
                    f"'{self.name}': C of shape {fmt_shape(c)} does not broadcast to "
                    f"{fmt_shape((m, n))}"
                )
        return (m, n)


@irdl_op_definition
class MatMulOp(NNOp):
    """Matrix product with numpy's `matmul` semantics (ONNX `MatMul`).

    For rank-2 operands, Y[m, n] = sum_k A[m, k] * B[k, n]. Higher-rank
    operands are stacks of matrices in the last two axes whose leading
    (batch) axes broadcast. A 1-D lhs is treated as a row [1, K] and a 1-D
    rhs as a column [K, 1]; the added axis is removed from the result.
    """

    name = "nn.matmul"

    lhs = operand_def(FloatTensor)
    rhs = operand_def(FloatTensor)
    output = result_def(FloatTensor)

    traits = traits_def(Pure())

    assembly_format = GENERIC_FORMAT

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        shape = matmul_shape(self.name, shape_of(lhs), shape_of(rhs))
        super().__init__(operands=[lhs, rhs], result_types=[tensor_like(lhs, shape)])

    def infer_shape(self) -> Shape:
        return matmul_shape(self.name, shape_of(self.lhs), shape_of(self.rhs))


# --------------------------------------------------------------------------- #
# Normalisation
# --------------------------------------------------------------------------- #


@irdl_op_definition
class BatchNormOp(NNOp):
    """Inference batch normalisation over axis 1 (ONNX `BatchNormalization`).

    y = scale * (x - mean) / sqrt(var + epsilon) + bias, each of
    scale/bias/mean/var of shape [C].
    """

    name = "nn.batchnorm"

    input = operand_def(FloatTensor)
    scale = operand_def(FloatTensor)
    bias = operand_def(FloatTensor)
    mean = operand_def(FloatTensor)
    var = operand_def(FloatTensor)
    output = result_def(FloatTensor)

    epsilon = opt_prop_def(FloatAttr)

    traits = traits_def(Pure())

    assembly_format = GENERIC_FORMAT

    def __init__(
        self,
        input: SSAValue,
        scale: SSAValue,
        bias: SSAValue,
        mean: SSAValue,
        var: SSAValue,
        epsilon: float = 1e-5,
    ):
        super().__init__(
            operands=[input, scale, bias, mean, var],
            properties={"epsilon": f32_attr(epsilon)},
            result_types=[input.type],
        )

    def infer_shape(self) -> Shape:
        x = shape_of(self.input)
        if len(x) < 2:
            raise VerifyException(f"'{self.name}': input must have a channel axis")
        for name in ("scale", "bias", "mean", "var"):
            s = shape_of(getattr(self, name))
            if len(s) != 1 or not dims_compatible(s[0], x[1]):
                raise VerifyException(
                    f"'{self.name}': {name} has shape {fmt_shape(s)}, expected {x[1]}"
                )
        return x


@irdl_op_definition
class LayerNormOp(NNOp):
    """Layer normalisation, ONNX `LayerNormalization` (stash_type float32).

    Normalises over the axes [axis, rank): with N the number of elements in
    them, mean = sum(x) / N, d = x - mean, var = sum(d * d) / N, and
    y = d * (1 / sqrt(var + epsilon)) * scale + bias, all in float32 in this
    order (the ONNX function body). `scale` and the optional
    `bias` broadcast unidirectionally to the normalised shape
    x.shape[axis:]. Properties: `axis` (default -1), `epsilon` (default 1e-5).
    """

    name = "nn.layernorm"

    input = operand_def(FloatTensor)
    scale = operand_def(FloatTensor)
    bias = opt_operand_def(FloatTensor)
    output = result_def(FloatTensor)

    axis = opt_prop_def(IntegerAttr)
    epsilon = opt_prop_def(FloatAttr)

    traits = traits_def(Pure())

    assembly_format = GENERIC_FORMAT

    def __init__(
        self,
        input: SSAValue,
        scale: SSAValue,
        bias: SSAValue | None = None,
        *,
        axis: int = -1,
        epsilon: float = 1e-5,
    ):
        props: dict[str, Attribute] = {}
        if axis != -1:
            props["axis"] = i64_attr(axis)
        if epsilon != 1e-5:
            props["epsilon"] = f32_attr(epsilon)
        super().__init__(
            operands=[input, scale, bias], properties=props, result_types=[input.type]
        )

    @property
    def attrs(self) -> tuple[int, float]:
        """(axis, epsilon) with defaults filled in."""
        return int_value(self.axis, -1), float_value(self.epsilon, 1e-5)

    def infer_shape(self) -> Shape:
        x = shape_of(self.input)
        axis, _ = self.attrs
        if len(x) == 0:
            raise VerifyException(f"'{self.name}': input must have rank >= 1")
        axis = normalize_axis(self.name, axis, len(x))
        normalized = x[axis:]
        operands = [("scale", self.scale)]
        if self.bias is not None:
            operands.append(("bias", self.bias))
        for what, value in operands:
            s = shape_of(value)
            if not broadcasts_to(s, normalized):
                raise VerifyException(
                    f"'{self.name}': {what} of shape {fmt_shape(s)} does not "
                    f"broadcast to the normalised shape {fmt_shape(normalized)}"
                )
        return x


@irdl_op_definition
class LRNOp(NNOp):
    """Local response normalisation across channels, ONNX `LRN`.

    For an input [N, C, d1, ..., dk] (rank >= 2), with
    lo = floor((size - 1) / 2) and hi = ceil((size - 1) / 2),

        square_sum[n, c, ...] = sum_{c' = max(0, c - lo)}^{min(C - 1, c + hi)}
                                x[n, c', ...]^2
        y = x / (bias + alpha / size * square_sum) ^ beta

    Properties: `size` (required, >= 1), `alpha` (default 1e-4), `beta`
    (default 0.75), `bias` (default 1.0).
    """

    name = "nn.lrn"

    input = operand_def(FloatTensor)
    output = result_def(FloatTensor)

    size = prop_def(IntegerAttr)
    alpha = opt_prop_def(FloatAttr)
    beta = opt_prop_def(FloatAttr)
    bias = opt_prop_def(FloatAttr)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(
        self,
        input: SSAValue,
        size: int,
        *,
        alpha: float = 1e-4,
        beta: float = 0.75,
        bias: float = 1.0,
    ):
        props: dict[str, Attribute] = {"size": i64_attr(size)}
        if alpha != 1e-4:
            props["alpha"] = f32_attr(alpha)
        if beta != 0.75:
            props["beta"] = f32_attr(beta)
        if bias != 1.0:
            props["bias"] = f32_attr(bias)
        super().__init__(operands=[input], properties=props, result_types=[input.type])

    @property
    def attrs(self) -> tuple[int, float, float, float]:
        """(size, alpha, beta, bias) with defaults filled in."""
        return (
            self.size.value.data,
            float_value(self.alpha, 1e-4),
            float_value(self.beta, 0.75),
            float_value(self.bias, 1.0),
        )

    def infer_shape(self) -> Shape:
        x = shape_of(self.input)
        if len(x) < 2:
            raise VerifyException(f"'{self.name}': input must have a channel axis")
        if self.attrs[0] < 1:
            raise VerifyException(
                f"'{self.name}': size must be >= 1, got {self.attrs[0]}"
            )
        return x


class AxisUnaryOp(UnaryOp):
    """A unary op along one axis (`axis`, default -1) of a tensor of rank >= 1."""

    axis = opt_prop_def(IntegerAttr)

    def __init__(self, input: SSAValue, axis: int = -1):
        super().__init__(input, {"axis": i64_attr(axis)} if axis != -1 else None)

    @property
    def attrs(self) -> int:
        """The axis, default -1 (not normalised)."""
        return int_value(self.axis, -1)

    def infer_shape(self) -> Shape:
        x = shape_of(self.input)
        if len(x) == 0:
            raise VerifyException(f"'{self.name}': input must have rank >= 1")
        normalize_axis(self.name, self.attrs, len(x))
        return x


@irdl_op_definition
class SoftmaxOp(AxisUnaryOp):
    """Softmax along one axis, ONNX `Softmax` (opset 13).

    y = exp(x - max(x)) / sum(exp(x - max(x))), max and sum over `axis`
    (default -1), evaluated in float32 with the maximum subtracted first.
    """

    name = "nn.softmax"


@irdl_op_definition
class LogSoftmaxOp(AxisUnaryOp):
    """Log of the softmax along one axis, ONNX `LogSoftmax` (opset 13).

    With d = x - max(x): y = d - log(sum(exp(d))), max and sum over `axis`
    (default -1), in float32 in this order.
    """

    name = "nn.log_softmax"


# --------------------------------------------------------------------------- #
# Elementwise
# --------------------------------------------------------------------------- #


@irdl_op_definition
class AddOp(BinaryOp):
    """ONNX `Add`: y = lhs + rhs with numpy broadcasting."""

    name = "nn.add"


@irdl_op_definition
class SubOp(BinaryOp):
    """ONNX `Sub`: y = lhs - rhs with numpy broadcasting."""

    name = "nn.sub"


@irdl_op_definition
class MulOp(BinaryOp):
    """ONNX `Mul`: y = lhs * rhs with numpy broadcasting."""

    name = "nn.mul"


@irdl_op_definition
class DivOp(BinaryOp):
    """ONNX `Div`: y = lhs / rhs with numpy broadcasting (IEEE division)."""

    name = "nn.div"


@irdl_op_definition
class ReluOp(NumericUnaryOp):
    """ONNX `Relu`: y = max(x, 0) (float or integer elements)."""

    name = "nn.relu"


@irdl_op_definition
class LeakyReluOp(UnaryOp):
    """ONNX `LeakyRelu`: y = x if x >= 0 else alpha * x (alpha default 0.01)."""

    name = "nn.leaky_relu"

    alpha = opt_prop_def(FloatAttr)

    def __init__(self, input: SSAValue, alpha: float = 0.01):
        super().__init__(input, {"alpha": f32_attr(alpha)} if alpha != 0.01 else None)

    @property
    def attrs(self) -> float:
        """alpha, default 0.01."""
        return float_value(self.alpha, 0.01)


@irdl_op_definition
class ClipOp(NumericUnaryOp):
    """ONNX `Clip`: y = min(max(x, min), max).

    `min` and `max` are optional float properties; a missing bound is
    -inf / +inf. If min > max, every element becomes max (as in ONNX). On
    integer elements the bounds become ceil(min) and floor(max) (a missing
    bound is the type's limit).
    """

    name = "nn.clip"

    min = opt_prop_def(FloatAttr)
    max = opt_prop_def(FloatAttr)

    def __init__(
        self, input: SSAValue, min: float | None = None, max: float | None = None
    ):
        props: dict[str, Attribute] = {}
        if min is not None:
            props["min"] = f32_attr(min)
        if max is not None:
            props["max"] = f32_attr(max)
        super().__init__(input, props)

    @property
    def attrs(self) -> tuple[float, float]:
        """(min, max) with the missing bounds as -inf / +inf."""
        return float_value(self.min, float("-inf")), float_value(self.max, float("inf"))


@irdl_op_definition
class SigmoidOp(UnaryOp):
    """ONNX `Sigmoid`: y = 1 / (1 + exp(-x))."""

    name = "nn.sigmoid"


@irdl_op_definition
class TanhOp(UnaryOp):
    """ONNX `Tanh`: y = tanh(x)."""

    name = "nn.tanh"


@irdl_op_definition
class GeluOp(UnaryOp):
    """ONNX `Gelu` (opset 20).

    `approximate = "none"` (default): y = x * 0.5 * (1 + erf(x / sqrt(2))).
    `approximate = "tanh"`: y = x * 0.5 * (1 + tanh(sqrt(2 / pi) *
    (x + 0.044715 * x^3))).
    """

    name = "nn.gelu"

    approximate = opt_prop_def(StringAttr)

    def __init__(self, input: SSAValue, approximate: str = "none"):
        props = (
            {"approximate": StringAttr(approximate)} if approximate != "none" else None
        )
        super().__init__(input, props)

    @property
    def attrs(self) -> str:
        """The approximation, "none" or "tanh"."""
        return "none" if self.approximate is None else self.approximate.data

    def infer_shape(self) -> Shape:
        if self.attrs not in ("none", "tanh"):
            raise VerifyException(
                f'\'{self.name}\': approximate must be "none" or "tanh", '
                f'got "{self.attrs}"'
            )
        return shape_of(self.input)


@irdl_op_definition
class ErfOp(UnaryOp):
    """ONNX `Erf`: y = erf(x) = 2 / sqrt(pi) * integral_0^x exp(-t^2) dt."""

    name = "nn.erf"


@irdl_op_definition
class ExpOp(UnaryOp):
    """ONNX `Exp`: y = exp(x)."""

    name = "nn.exp"


@irdl_op_definition
class SqrtOp(UnaryOp):
    """ONNX `Sqrt`: y = sqrt(x) (NaN for x < 0)."""

    name = "nn.sqrt"


@irdl_op_definition
class PowOp(BinaryOp):
    """ONNX `Pow`: y = lhs ^ rhs with numpy broadcasting (C `pow`).

    As in ONNX, the exponent may have another element type than the base
    (e.g. f32 ^ i64); the result has the base's. A float base is raised in
    its own precision (the exponent converted to it); an integer base is
    raised in float64 and truncated toward zero like `nn.cast`
    (3 ^ -1 = 0).
    """

    name = "nn.pow"

    def verify_element_types(self) -> None:
        check_same_element_type(self.name, [self.lhs, self.output])
        check_not_bool(self.name, self.lhs)
        check_not_bool(self.name, self.rhs)


@irdl_op_definition
class MinOp(BinaryOp):
    """ONNX `Min` of two operands: y = min(lhs, rhs), broadcasting; NaN wins.

    ONNX's variadic `Min` becomes a chain of these.
    """

    name = "nn.min"


@irdl_op_definition
class MaxOp(BinaryOp):
    """ONNX `Max` of two operands: y = max(lhs, rhs), broadcasting; NaN wins.

    ONNX's variadic `Max` becomes a chain of these.
    """

    name = "nn.max"


@irdl_op_definition
class NegOp(NumericUnaryOp):
    """ONNX `Neg`: y = -x (integers wrap: -INT_MIN = INT_MIN)."""

    name = "nn.neg"


@irdl_op_definition
class AbsOp(NumericUnaryOp):
    """ONNX `Abs`: y = |x| (integers wrap: |INT_MIN| = INT_MIN)."""

    name = "nn.abs"


@irdl_op_definition
class LogOp(UnaryOp):
    """ONNX `Log`: y = ln(x) (-inf for 0, NaN for x < 0)."""

    name = "nn.log"


@irdl_op_definition
class ReciprocalOp(UnaryOp):
    """ONNX `Reciprocal`: y = 1 / x (IEEE: 1/0 = inf)."""

    name = "nn.reciprocal"


@irdl_op_definition
class SoftplusOp(UnaryOp):
    """ONNX `Softplus`: y = ln(exp(x) + 1), evaluated without overflow."""

    name = "nn.softplus"


@irdl_op_definition
class SoftsignOp(UnaryOp):
    """ONNX `Softsign`: y = x / (1 + |x|)."""

    name = "nn.softsign"


@irdl_op_definition
class EluOp(UnaryOp):
    """ONNX `Elu`: y = x if x >= 0 else alpha * (exp(x) - 1) (alpha default 1.0)."""

    name = "nn.elu"

    alpha = opt_prop_def(FloatAttr)

    def __init__(self, input: SSAValue, alpha: float = 1.0):
        super().__init__(input, {"alpha": f32_attr(alpha)} if alpha != 1.0 else None)

    @property
    def attrs(self) -> float:
        """alpha, default 1.0."""
        return float_value(self.alpha, 1.0)


SELU_ALPHA = 1.67326319217681884765625
SELU_GAMMA = 1.05070102214813232421875


@irdl_op_definition
class SeluOp(UnaryOp):
    """ONNX `Selu`: y = gamma * x if x > 0 else gamma * alpha * (exp(x) - 1).

    Defaults: alpha = 1.67326319217681884765625, gamma =
    1.05070102214813232421875 (ONNX's float32 constants).
    """

    name = "nn.selu"

    alpha = opt_prop_def(FloatAttr)
    gamma = opt_prop_def(FloatAttr)

    def __init__(
        self, input: SSAValue, alpha: float = SELU_ALPHA, gamma: float = SELU_GAMMA
    ):
        props: dict[str, Attribute] = {}
        if alpha != SELU_ALPHA:
            props["alpha"] = f32_attr(alpha)
        if gamma != SELU_GAMMA:
            props["gamma"] = f32_attr(gamma)
        super().__init__(input, props)

    @property
    def attrs(self) -> tuple[float, float]:
        """(alpha, gamma) with defaults filled in."""
        return float_value(self.alpha, SELU_ALPHA), float_value(self.gamma, SELU_GAMMA)


@irdl_op_definition
class HardSigmoidOp(UnaryOp):
    """ONNX `HardSigmoid`: y = max(0, min(1, alpha * x + beta)).

    Defaults: alpha = 0.2, beta = 0.5.
    """

    name = "nn.hard_sigmoid"

    alpha = opt_prop_def(FloatAttr)
    beta = opt_prop_def(FloatAttr)

    def __init__(self, input: SSAValue, alpha: float = 0.2, beta: float = 0.5):
        props: dict[str, Attribute] = {}
        if alpha != 0.2:
            props["alpha"] = f32_attr(alpha)
        if beta != 0.5:
            props["beta"] = f32_attr(beta)
        super().__init__(input, props)

    @property
    def attrs(self) -> tuple[float, float]:
        """(alpha, beta) with defaults filled in."""
        return float_value(self.alpha, 0.2), float_value(self.beta, 0.5)


@irdl_op_definition
class HardSwishOp(UnaryOp):
    """ONNX `HardSwish`: y = x * max(0, min(1, x / 6 + 0.5)).

    As ONNX's function body, `x / 6` is `alpha * x` with alpha = 1/6 rounded
    to the element type.
    """

    name = "nn.hard_swish"


@irdl_op_definition
class PReluOp(NNOp):
    """ONNX `PRelu`: y = x if x >= 0 else slope * x.

    `slope` broadcasts unidirectionally to the input (e.g. [C, 1, 1] for an
    NCHW input); the result has the input's shape.
    """

    name = "nn.prelu"

    input = operand_def(FloatTensor)
    slope = operand_def(FloatTensor)
    output = result_def(FloatTensor)

    traits = traits_def(Pure())

    assembly_format = GENERIC_FORMAT

    def __init__(self, input: SSAValue, slope: SSAValue):
        super().__init__(operands=[input, slope], result_types=[input.type])

    def infer_shape(self) -> Shape:
        x, s = shape_of(self.input), shape_of(self.slope)
        if not broadcasts_to(s, x):
            raise VerifyException(
                f"'{self.name}': slope of shape {fmt_shape(s)} does not broadcast "
                f"to the input shape {fmt_shape(x)}"
            )
        return x


# --------------------------------------------------------------------------- #
# Comparison and selection
# --------------------------------------------------------------------------- #


@irdl_op_definition
class EqualOp(CompareOp):
    """ONNX `Equal`: y = (lhs == rhs) as i1, broadcasting (NaN is unequal).

    The operands may be float, integer or i1 tensors.
    """

    name = "nn.equal"


@irdl_op_definition
class LessOp(CompareOp):
    """ONNX `Less`: y = (lhs < rhs) as i1, broadcasting (false with NaN).

    The operands are float or integer tensors (not i1).
    """

    name = "nn.less"

    def verify_element_types(self) -> None:
        super().verify_element_types()
        check_not_bool(self.name, self.lhs)


@irdl_op_definition
class GreaterOp(CompareOp):
    """ONNX `Greater`: y = (lhs > rhs) as i1, broadcasting (false with NaN).

    The operands are float or integer tensors (not i1).
    """

    name = "nn.greater"

    def verify_element_types(self) -> None:
        super().verify_element_types()
        check_not_bool(self.name, self.lhs)


@irdl_op_definition
class NotOp(NNOp):
    """ONNX `Not`: logical negation of a tensor of i1."""

    name = "nn.not"

    input = operand_def(BoolTensor)
    output = result_def(BoolTensor)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue):
        super().__init__(operands=[input], result_types=[input.type])

    def infer_shape(self) -> Shape:
        return shape_of(self.input)


@irdl_op_definition
class WhereOp(NNOp):
    """ONNX `Where`: y = x where cond else y, all three broadcasting (numpy).

    `cond` is a tensor of i1; `x`, `y` and the result have one element type
    (any).
    """

    name = "nn.where"

    cond = operand_def(BoolTensor)
    x = operand_def(AnyTensor)
    y = operand_def(AnyTensor)
    output = result_def(AnyTensor)

    traits = traits_def(Pure())

    assembly_format = GENERIC_FORMAT

    def __init__(self, cond: SSAValue, x: SSAValue, y: SSAValue):
        shape = broadcast_shapes(self.name, shape_of(cond), shape_of(x), shape_of(y))
        super().__init__(operands=[cond, x, y], result_types=[tensor_like(x, shape)])

    def verify_element_types(self) -> None:
        check_same_element_type(self.name, [self.x, self.y, self.output])

    def infer_shape(self) -> Shape:
        return broadcast_shapes(
            self.name, shape_of(self.cond), shape_of(self.x), shape_of(self.y)
        )


# --------------------------------------------------------------------------- #
# Pooling
# --------------------------------------------------------------------------- #


class Pool2dOp(NNOp):
    """Common part of the 2-D window pools on NCHW tensors.

    Properties: `kernel_shape` [kh, kw] (required), `strides` [sh, sw]
    (default 1), `pads` [top, left, bottom, right] (default 0), `ceil_mode`
    (default false). The output size is `shapes.pool_out_dim`.
    """

    input = operand_def(FloatTensor)
    output = result_def(FloatTensor)

    kernel_shape = prop_def(DenseArrayBase)
    strides = opt_prop_def(DenseArrayBase)
    pads = opt_prop_def(DenseArrayBase)
    ceil_mode = opt_prop_def(BoolAttr)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def pool_dilations(self) -> tuple[int, ...]:
        return (1, 1)

    def infer_shape(self) -> Shape:
        x = shape_of(self.input)
        kernel = tuple(self.kernel_shape.get_values())
        strides = ints(self.strides, (1, 1))
        pads = ints(self.pads, (0, 0, 0, 0))
        dilations = self.pool_dilations()
        ceil_mode = bool_value(self.ceil_mode, False)
        return pool2d_shape(self.name, x, kernel, strides, pads, dilations, ceil_mode)


def _pool_props(
    kernel_shape: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    ceil_mode: bool,
) -> dict[str, Attribute]:
    props: dict[str, Attribute] = {"kernel_shape": i64_array(kernel_shape)}
    if tuple(strides) != (1, 1):
        props["strides"] = i64_array(strides)
    if tuple(pads) != (0, 0, 0, 0):
        props["pads"] = i64_array(pads)
    if ceil_mode:
        props["ceil_mode"] = bool_attr(True)
    return props


@irdl_op_definition
class MaxPool2dOp(Pool2dOp):
    """2-D max pooling, ONNX `MaxPool` (NCHW, explicit pads, no indices).

    y[n, c, i, j] = max over the window taps (i*sh + a*dh - top,
    j*sw + b*dw - left) that lie inside the input; padding never wins (it
    acts as -inf). Properties as `Pool2dOp` plus `dilations` [dh, dw].
    """

    name = "nn.maxpool2d"

    dilations = opt_prop_def(DenseArrayBase)

    def __init__(
        self,
        input: SSAValue,
        kernel_shape: Sequence[int],
        *,
        strides: Sequence[int] = (1, 1),
        pads: Sequence[int] = (0, 0, 0, 0),
        dilations: Sequence[int] = (1, 1),
        ceil_mode: bool = False,
    ):
        props = _pool_props(kernel_shape, strides, pads, ceil_mode)
        if tuple(dilations) != (1, 1):
            props["dilations"] = i64_array(dilations)
        super().__init__(operands=[input], properties=props, result_types=[input.type])
        self.set_result_type(tensor_like(input, self.infer_shape()))

    def pool_dilations(self) -> tuple[int, ...]:
        return ints(self.dilations, (1, 1))

    @property
    def attrs(
        self,
    ) -> tuple[
        tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...], bool
    ]:
        """(kernel_shape, strides, pads, dilations, ceil_mode), defaults filled in."""
        return (
            tuple(self.kernel_shape.get_values()),
            ints(self.strides, (1, 1)),
            ints(self.pads, (0, 0, 0, 0)),
            ints(self.dilations, (1, 1)),
            bool_value(self.ceil_mode, False),
        )


@irdl_op_definition
class AvgPool2dOp(Pool2dOp):
    """2-D average pooling, ONNX `AveragePool` (NCHW, explicit pads).

    y[n, c, i, j] = (sum of the window's input elements) / count, where the
    padding contributes zeros and count is the number of window taps inside
    the input (`count_include_pad` false, the default) or inside the padded
    input [0, H + top + bottom) x [0, W + left + right) (true). Taps that a
    `ceil_mode` window has beyond the padded input never count.
    """

    name = "nn.avgpool2d"

    count_include_pad = opt_prop_def(BoolAttr)

    def __init__(
        self,
        input: SSAValue,
        kernel_shape: Sequence[int],
        *,
        strides: Sequence[int] = (1, 1),
        pads: Sequence[int] = (0, 0, 0, 0),
        ceil_mode: bool = False,
        count_include_pad: bool = False,
    ):
        props = _pool_props(kernel_shape, strides, pads, ceil_mode)
        if count_include_pad:
            props["count_include_pad"] = bool_attr(True)
        super().__init__(operands=[input], properties=props, result_types=[input.type])
        self.set_result_type(tensor_like(input, self.infer_shape()))

    @property
    def attrs(
        self,
    ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], bool, bool]:
        """(kernel_shape, strides, pads, ceil_mode, count_include_pad)."""
        return (
            tuple(self.kernel_shape.get_values()),
            ints(self.strides, (1, 1)),
            ints(self.pads, (0, 0, 0, 0)),
            bool_value(self.ceil_mode, False),
            bool_value(self.count_include_pad, False),
        )


@irdl_op_definition
class GlobalAvgPoolOp(NNOp):
    """ONNX `GlobalAveragePool`: the mean over all spatial axes.

    [N, C, d1, ..., dk] -> [N, C, 1, ..., 1] (NCHW -> NCx1x1), rank >= 3.
    """

    name = "nn.global_avgpool"

    input = operand_def(FloatTensor)
    output = result_def(FloatTensor)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue):
        super().__init__(operands=[input], result_types=[input.type])
        self.set_result_type(tensor_like(input, self.infer_shape()))

    def infer_shape(self) -> Shape:
        x = shape_of(self.input)
        if len(x) < 3:
            raise VerifyException(
                f"'{self.name}': expects an N x C x spatial input of rank >= 3, "
                f"got {fmt_shape(x)}"
            )
        return (x[0], x[1]) + (1,) * (len(x) - 2)


# --------------------------------------------------------------------------- #
# Layout
# --------------------------------------------------------------------------- #


@irdl_op_definition
class ReshapeOp(NNOp):
    """Reinterpret a tensor with the result's shape (row-major order).

    The target shape is the result type; at most one dimension of each side
    may be dynamic. With no dynamic dimension the element counts agree; with
    one on each side, one static count must divide the other (the dynamic
    dimension scales, e.g. batch -> batch * heads in attention), and the
    executor checks the actual sizes at run time.
    """

    name = "nn.reshape"

    input = operand_def(AnyTensor)
    output = result_def(AnyTensor)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, shape: Sequence[int]):
        super().__init__(operands=[input], result_types=[tensor_like(input, shape)])

    def infer_shape(self) -> Shape:
        return shape_of(self.output)

    def verify_(self) -> None:
        src, dst = shape_of(self.input), shape_of(self.output)
        if sum(d == DYN for d in src) > 1 or sum(d == DYN for d in dst) > 1:
            raise VerifyException(
                f"'{self.name}': at most one dynamic dimension per side is supported"
            )
        src_static = [d for d in src if d != DYN]
        dst_static = [d for d in dst if d != DYN]
        n_src, n_dst = 1, 1
        for d in src_static:
            n_src *= d
        for d in dst_static:
            n_dst *= d
        if DYN in src and DYN in dst:
            # the dynamic dims may differ by the ratio of the static counts
            # (e.g. batch -> batch * heads); the executor checks at run time
            ok = n_src == 0 or n_dst == 0 or n_src % n_dst == 0 or n_dst % n_src == 0
        elif DYN not in src and DYN not in dst:
            ok = n_src == n_dst
        elif DYN in src:
            ok = n_src == 0 or n_dst % n_src == 0
        else:
            ok = n_dst == 0 or n_src % n_dst == 0
        if not ok:
            raise VerifyException(
                f"'{self.name}': cannot reshape {fmt_shape(src)} into {fmt_shape(dst)}"
            )
        if self.input.type.element_type != self.output.type.element_type:
            raise VerifyException(f"'{self.name}': element types differ")


@irdl_op_definition
class TransposeOp(NNOp):
    """Permute the axes: result dim i is input dim `perm[i]` (ONNX `Transpose`)."""

    name = "nn.transpose"

    input = operand_def(AnyTensor)
    output = result_def(AnyTensor)

    perm = prop_def(DenseArrayBase)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, perm: Sequence[int]):
        super().__init__(
            operands=[input],
            properties={"perm": i64_array(perm)},
            result_types=[input.type],
        )
        self.set_result_type(tensor_like(input, self.infer_shape()))

    def infer_shape(self) -> Shape:
        x = shape_of(self.input)
        perm = tuple(self.perm.get_values())
        if sorted(perm) != list(range(len(x))):
            raise VerifyException(
                f"'{self.name}': perm {list(perm)} is not a permutation of "
                f"{len(x)} axes"
            )
        return tuple(x[p] for p in perm)


@irdl_op_definition
class FlattenOp(NNOp):
    """ONNX `Flatten`: a 2-D view [prod(d[:axis]), prod(d[axis:])].

    `axis` (default 1) is in [-rank, rank]; a negative axis counts from the
    end, axis 0 gives [1, N] and axis rank gives [N, 1]. Row-major order is
    kept. A product with a dynamic dimension is dynamic.
    """

    name = "nn.flatten"

    input = operand_def(AnyTensor)
    output = result_def(AnyTensor)

    axis = opt_prop_def(IntegerAttr)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, axis: int = 1):
        props = {"axis": i64_attr(axis)} if axis != 1 else {}
        super().__init__(operands=[input], properties=props, result_types=[input.type])
        self.set_result_type(tensor_like(input, self.infer_shape()))

    @property
    def attrs(self) -> int:
        """The axis, default 1 (not normalised)."""
        return int_value(self.axis, 1)

    def infer_shape(self) -> Shape:
        x = shape_of(self.input)
        axis = self.attrs
        if not -len(x) <= axis <= len(x):
            raise VerifyException(
                f"'{self.name}': axis {axis} is out of range [-{len(x)}, {len(x)}]"
            )
        if axis < 0:
            axis += len(x)
        return (dims_product(x[:axis]), dims_product(x[axis:]))


@irdl_op_definition
class ConcatOp(NNOp):
    """ONNX `Concat`: join tensors along `axis` (required, may be negative).

    All operands have the same rank and agree on every other dimension; the
    result's `axis` dimension is the sum of theirs (dynamic if one is).
    """

    name = "nn.concat"

    inputs = var_operand_def(AnyTensor)
    output = result_def(AnyTensor)

    axis = prop_def(IntegerAttr)

    traits = traits_def(Pure())

    assembly_format = GENERIC_FORMAT

    def __init__(self, inputs: Sequence[SSAValue], axis: int):
        super().__init__(
            operands=[list(inputs)],
            properties={"axis": i64_attr(axis)},
            result_types=[inputs[0].type],
        )
        self.set_result_type(tensor_like(inputs[0], self.infer_shape()))

    @property
    def attrs(self) -> int:
        """The axis (not normalised)."""
        return self.axis.value.data

    def infer_shape(self) -> Shape:
        if len(self.inputs) == 0:
            raise VerifyException(f"'{self.name}': expects at least one operand")
        shapes = [shape_of(v) for v in self.inputs]
        rank = len(shapes[0])
        if any(len(s) != rank for s in shapes):
            raise VerifyException(
                f"'{self.name}': operands must have the same rank, got "
                + ", ".join(fmt_shape(s) for s in shapes)
            )
        if rank == 0:
            raise VerifyException(f"'{self.name}': operands must have rank >= 1")
        axis = normalize_axis(self.name, self.attrs, rank)
        out: list[int] = []
        for i in range(rank):
            dims = [s[i] for s in shapes]
            if i == axis:
                out.append(DYN if DYN in dims else sum(dims))
                continue
            static = {d for d in dims if d != DYN}
            if len(static) > 1:
                raise VerifyException(
                    f"'{self.name}': operands differ in dimension {i} outside the "
                    "concatenation axis: " + ", ".join(fmt_shape(s) for s in shapes)
                )
            out.append(static.pop() if static else DYN)
        return tuple(out)


@irdl_op_definition
class SplitOp(NNOp):
    """ONNX `Split`: cut a tensor along `axis` (default 0) into consecutive parts.

    The result types give the part sizes: result k has the input's shape
    except along `axis`, where its (static) size s_k says how many elements
    it takes; the sizes sum to the input's dimension.
    """

    name = "nn.split"

    input = operand_def(AnyTensor)
    outputs = var_result_def(AnyTensor)

    axis = opt_prop_def(IntegerAttr)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, sizes: Sequence[int], axis: int = 0):
        x = shape_of(input)
        ax = normalize_axis(self.name, axis, len(x))
        types = [tensor_like(input, (*x[:ax], size, *x[ax + 1 :])) for size in sizes]
        props = {"axis": i64_attr(axis)} if axis != 0 else {}
        super().__init__(operands=[input], properties=props, result_types=[types])

    @property
    def attrs(self) -> int:
        """The axis, default 0 (not normalised)."""
        return int_value(self.axis, 0)

    def sizes(self) -> tuple[int, ...]:
        """The part sizes along the (normalised) axis."""
        axis = self.attrs % len(shape_of(self.input))
        return tuple(shape_of(r)[axis] for r in self.outputs)

    def infer_shape(self) -> Shape:
        return shape_of(self.input)

    def verify_(self) -> None:
        self.verify_element_types()
        x = shape_of(self.input)
        if len(self.outputs) == 0:
            raise VerifyException(f"'{self.name}': expects at least one result")
        if len(x) == 0:
            raise VerifyException(f"'{self.name}': input must have rank >= 1")
        axis = normalize_axis(self.name, self.attrs, len(x))
        for k, r in enumerate(self.outputs):
            s = shape_of(r)
            if len(s) != len(x) or s[axis] == DYN:
                raise VerifyException(
                    f"'{self.name}': result {k} has shape {fmt_shape(s)}, expected "
                    f"rank {len(x)} with a static size along axis {axis}"
                )
            expected = (*x[:axis], s[axis], *x[axis + 1 :])
            check_shape(self.name, f"result {k}", s, expected)
        total = sum(self.sizes())
        if x[axis] != DYN and total != x[axis]:
            raise VerifyException(
                f"'{self.name}': split sizes {list(self.sizes())} sum to {total}, "
                f"but the input has {x[axis]} along axis {axis}"
            )


@irdl_op_definition
class SliceOp(NNOp):
    """ONNX `Slice` with constant `starts`, `ends`, `axes`, `steps`.

    For each listed axis a (default: 0, 1, ..., len(starts) - 1) with size d
    and step s (default 1, never 0): negative start/end add d; then for
    s > 0 both clamp to [0, d], for s < 0 start clamps to [0, d-1] and end to
    [-1, d-1]; the result takes elements start, start + s, ... strictly
    before end, max(0, ceil((end - start) / s)) of them. Out-of-range ends
    (e.g. INT64_MAX) therefore mean "to the end". Other axes are kept.
    """

    name = "nn.slice"

    input = operand_def(AnyTensor)
    output = result_def(AnyTensor)

    starts = prop_def(DenseArrayBase)
    ends = prop_def(DenseArrayBase)
    axes = opt_prop_def(DenseArrayBase)
    steps = opt_prop_def(DenseArrayBase)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(
        self,
        input: SSAValue,
        starts: Sequence[int],
        ends: Sequence[int],
        axes: Sequence[int] | None = None,
        steps: Sequence[int] | None = None,
    ):
        props: dict[str, Attribute] = {
            "starts": i64_array(starts),
            "ends": i64_array(ends),
        }
        if axes is not None:
            props["axes"] = i64_array(axes)
        if steps is not None:
            props["steps"] = i64_array(steps)
        super().__init__(operands=[input], properties=props, result_types=[input.type])
        self.set_result_type(tensor_like(input, self.infer_shape()))

    @property
    def attrs(
        self,
    ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        """(starts, ends, axes, steps) with defaults filled in (axes as given)."""
        starts = tuple(self.starts.get_values())
        return (
            starts,
            tuple(self.ends.get_values()),
            ints(self.axes, range(len(starts))),
            ints(self.steps, (1,) * len(starts)),
        )

    def infer_shape(self) -> Shape:
        x = shape_of(self.input)
        starts, ends, axes, steps = self.attrs
        if not len(starts) == len(ends) == len(axes) == len(steps):
            raise VerifyException(
                f"'{self.name}': starts, ends, axes and steps must have the same "
                f"length, got {len(starts)}, {len(ends)}, {len(axes)}, {len(steps)}"
            )
        axes = check_axes(self.name, "axes", axes, len(x))
        if 0 in steps:
            raise VerifyException(f"'{self.name}': steps must not be 0")
        out = list(x)
        for a, start, end, step in zip(axes, starts, ends, steps, strict=True):
            out[a] = slice_out_dim(x[a], start, end, step)
        return tuple(out)


@irdl_op_definition
class GatherOp(NNOp):
    """ONNX `Gather`: pick slices of `data` along `axis` (default 0).

    With r = rank(data) and q = rank(indices), the result has shape
    data.shape[:axis] + indices.shape + data.shape[axis+1:] and
    y[i_0..i_{axis-1}, j_0..j_{q-1}, k...] = data[i..., idx[j...], k...].
    `indices` has any integer element type; a negative index adds
    data.shape[axis]; an index outside [-d, d) is an execution error.
    """

    name = "nn.gather"

    data = operand_def(AnyTensor)
    indices = operand_def(TensorType.constr(IntegerType))
    output = result_def(AnyTensor)

    axis = opt_prop_def(IntegerAttr)

    traits = traits_def(Pure())

    assembly_format = GENERIC_FORMAT

    def __init__(self, data: SSAValue, indices: SSAValue, axis: int = 0):
        props = {"axis": i64_attr(axis)} if axis != 0 else {}
        super().__init__(
            operands=[data, indices], properties=props, result_types=[data.type]
        )
        self.set_result_type(tensor_like(data, self.infer_shape()))

    @property
    def attrs(self) -> int:
        """The axis, default 0 (not normalised)."""
        return int_value(self.axis, 0)

    def verify_element_types(self) -> None:
        check_same_element_type(self.name, [self.data, self.output])

    def infer_shape(self) -> Shape:
        x, idx = shape_of(self.data), shape_of(self.indices)
        if len(x) == 0:
            raise VerifyException(f"'{self.name}': data must have rank >= 1")
        axis = normalize_axis(self.name, self.attrs, len(x))
        return (*x[:axis], *idx, *x[axis + 1 :])


PAD_MODES = ("constant", "reflect", "edge")


@irdl_op_definition
class PadOp(NNOp):
    """ONNX `Pad` with constant pads (opset 11+, all axes).

    `pads` (required) holds 2 * rank values in ONNX's order [x1_begin,
    x2_begin, ..., x1_end, x2_end, ...]; the result has size
    d + begin + end on each axis. Negative pads crop: the input is first
    cut by the negative amounts, then the positive amounts are added to
    the cropped tensor according to `mode`:

    - "constant" (default): new elements are `value` (f32, default 0.0,
      converted to the element type; on integer tensors it must be integral);
    - "reflect": mirror without repeating the edge (numpy's "reflect";
      a pad must be <= the cropped size - 1);
    - "edge": repeat the edge element (the cropped size must be >= 1).

    Float, integer and i1 tensors are accepted.
    """

    name = "nn.pad"

    input = operand_def(NumericTensor)
    output = result_def(NumericTensor)

    pads = prop_def(DenseArrayBase)
    mode = opt_prop_def(StringAttr)
    value = opt_prop_def(FloatAttr)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(
        self,
        input: SSAValue,
        pads: Sequence[int],
        mode: str = "constant",
        value: float = 0.0,
    ):
        props: dict[str, Attribute] = {"pads": i64_array(pads)}
        if mode != "constant":
            props["mode"] = StringAttr(mode)
        if value != 0.0:
            props["value"] = f32_attr(value)
        super().__init__(operands=[input], properties=props, result_types=[input.type])
        self.set_result_type(tensor_like(input, self.infer_shape()))

    @property
    def attrs(self) -> tuple[tuple[int, ...], str, float]:
        """(pads, mode, value) with defaults filled in."""
        mode = "constant" if self.mode is None else self.mode.data
        return tuple(self.pads.get_values()), mode, float_value(self.value, 0.0)

    def infer_shape(self) -> Shape:
        x = shape_of(self.input)
        pads, mode, value = self.attrs
        rank = len(x)
        if len(pads) != 2 * rank:
            raise VerifyException(
                f"'{self.name}': pads has {len(pads)} values, expected 2 x rank = "
                f"{2 * rank}"
            )
        if mode not in PAD_MODES:
            raise VerifyException(
                f'\'{self.name}\': mode must be "constant", "reflect" or "edge", '
                f'got "{mode}"'
            )
        elt = element_type(self.input)
        if isinstance(elt, IntegerType) and not float(value).is_integer():
            raise VerifyException(
                f"'{self.name}': value {value} is not an integer, but the tensor "
                f"holds {elt}"
            )
        out: list[int] = []
        for i, d in enumerate(x):
            begin, end = pads[i], pads[rank + i]
            if d == DYN:
                out.append(DYN)
                continue
            cropped = d + min(begin, 0) + min(end, 0)
            if cropped < 0:
                raise VerifyException(
                    f"'{self.name}': pads {list(pads)} crop axis {i} of size {d} "
                    "below 0"
                )
            grow = max(begin, 0) + max(end, 0)
            if mode == "reflect" and max(begin, end) > cropped - 1 and grow > 0:
                raise VerifyException(
                    f"'{self.name}': reflect pads {begin}, {end} on axis {i} must "
                    f"be smaller than the (cropped) size {cropped}"
                )
            if mode == "edge" and cropped == 0 and grow > 0:
                raise VerifyException(
                    f"'{self.name}': edge padding of axis {i} needs a non-empty "
                    "(cropped) axis"
                )
            out.append(cropped + grow)
        return tuple(out)


@irdl_op_definition
class ExpandOp(NNOp):
    """ONNX `Expand`: broadcast the input to a larger shape (numpy rules).

    The target shape is the result type: the result shape must equal
    broadcast(input shape, result shape), i.e. the input broadcasts
    unidirectionally to the result (ONNX's shape input may have 1s where
    the input is larger; the importer puts the broadcast shape into the
    result type). At run time a dynamic result dimension takes the size of
    the input's (aligned) dimension, or 1 if the input has no such axis.
    Any element type.
    """

    name = "nn.expand"

    input = operand_def(AnyTensor)
    output = result_def(AnyTensor)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, shape: Sequence[int]):
        target = broadcast_shapes(self.name, shape_of(input), tuple(shape))
        super().__init__(operands=[input], result_types=[tensor_like(input, target)])

    def infer_shape(self) -> Shape:
        return broadcast_shapes(self.name, shape_of(self.input), shape_of(self.output))


# --------------------------------------------------------------------------- #
# Conversion
# --------------------------------------------------------------------------- #


def is_cast_type(ty: Attribute) -> bool:
    """Whether `nn.cast` converts from and to `ty`: f16/f32/f64, i1, and
    signless or signed integers of 8, 16, 32 or 64 bits, ui8, ui16."""
    if isinstance(ty, Float16Type | Float32Type | Float64Type):
        return True
    if not isinstance(ty, IntegerType):
        return False
    width, signedness = ty.width.data, ty.signedness.data
    if width == 1:
        return signedness == Signedness.SIGNLESS
    if signedness == Signedness.UNSIGNED:
        return width in (8, 16)
    return width in (8, 16, 32, 64)


@irdl_op_definition
class CastOp(NNOp):
    """ONNX `Cast`: convert the elements to the result's element type.

    Supported element types, in any direction: f16, f32, f64, i1 and
    (signless or signed) i8, i16, i32, i64, ui8, ui16. Rules:

    - float -> float rounds to nearest even (overflow gives +-inf);
    - integer -> float rounds to nearest even;
    - float -> integer truncates toward zero; a NaN, infinite or
      out-of-range value (undefined in ONNX) gives what ONNX Runtime gives
      on x86-64: the value is first converted to int64 (for i64) or int32
      (narrower types), out-of-range becoming INT64_MIN / INT32_MIN, then
      wrapped like an integer;
    - integer -> integer wraps (two's complement, keeps the low bits);
    - anything -> i1 is x != 0 (NaN is true); i1 -> anything is 0 or 1.
    """

    name = "nn.cast"

    input = operand_def(AnyTensor)
    output = result_def(AnyTensor)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(self, input: SSAValue, element_type: Attribute):
        super().__init__(
            operands=[input],
            result_types=[TensorType(element_type, shape_of(input))],
        )

    def verify_element_types(self) -> None:
        for what, value in (("input", self.input), ("result", self.output)):
            ty = element_type(value)
            if not is_cast_type(ty):
                raise VerifyException(
                    f"'{self.name}': cannot cast {what} elements of type {ty} "
                    "(supported: f16, f32, f64, i1, i8, i16, i32, i64, ui8, ui16)"
                )

    def infer_shape(self) -> Shape:
        return shape_of(self.input)


# --------------------------------------------------------------------------- #
# Reductions
# --------------------------------------------------------------------------- #


class ReduceOp(NNOp):
    """Common part of the reductions (ONNX `Reduce*`, opset 18).

    Properties: `axes` (array<i64>, each in [-rank, rank), no repeats; a
    missing or empty list reduces all axes) and `keepdims` (default true:
    reduced axes stay with size 1; false: they are removed).
    """

    input = operand_def(FloatTensor)
    output = result_def(FloatTensor)

    axes = opt_prop_def(DenseArrayBase)
    keepdims = opt_prop_def(BoolAttr)

    traits = traits_def(Pure())

    assembly_format = "$input attr-dict `:` functional-type(operands, results)"

    def __init__(
        self, input: SSAValue, axes: Sequence[int] | None = None, keepdims: bool = True
    ):
        props: dict[str, Attribute] = {}
        if axes:
            props["axes"] = i64_array(axes)
        if not keepdims:
            props["keepdims"] = bool_attr(False)
        super().__init__(operands=[input], properties=props, result_types=[input.type])
        self.set_result_type(tensor_like(input, self.infer_shape()))

    @property
    def attrs(self) -> tuple[tuple[int, ...], bool]:
        """(normalised axes, all of them if none are given; keepdims)."""
        rank = len(shape_of(self.input))
        axes = ints(self.axes, ())
        axes = check_axes(self.name, "axes", axes, rank) if axes else tuple(range(rank))
        return axes, bool_value(self.keepdims, True)

    def infer_shape(self) -> Shape:
        x = shape_of(self.input)
        axes, keepdims = self.attrs
        if keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(x))
        return tuple(d for i, d in enumerate(x) if i not in axes)


@irdl_op_definition
class ReduceMeanOp(ReduceOp):
    """ONNX `ReduceMean`: the sum over `axes` divided by their element count."""

    name = "nn.reduce_mean"


@irdl_op_definition
class ReduceSumOp(ReduceOp):
    """ONNX `ReduceSum`: the sum over `axes`."""

    name = "nn.reduce_sum"


@irdl_op_definition
class ReduceMaxOp(ReduceOp):
    """ONNX `ReduceMax`: the maximum over `axes`."""

    name = "nn.reduce_max"


NN_OPS = [
    ConstantOp,
    Conv2dOp,
    GemmOp,
    MatMulOp,
    BatchNormOp,
    LayerNormOp,
    SoftmaxOp,
    AddOp,
    SubOp,
    MulOp,
    DivOp,
    PowOp,
    ReluOp,
    LeakyReluOp,
    ClipOp,
    SigmoidOp,
    TanhOp,
    GeluOp,
    ErfOp,
    ExpOp,
    SqrtOp,
    MaxPool2dOp,
    AvgPool2dOp,
    GlobalAvgPoolOp,
    ReshapeOp,
    TransposeOp,
    FlattenOp,
    ConcatOp,
    SplitOp,
    SliceOp,
    GatherOp,
    ReduceMeanOp,
    ReduceSumOp,
    ReduceMaxOp,
    # added for the ONNX model zoo and Transformer encoders
    ConvTranspose2dOp,
    LRNOp,
    LogSoftmaxOp,
    PReluOp,
    EluOp,
    SeluOp,
    SoftplusOp,
    SoftsignOp,
    NegOp,
    AbsOp,
    LogOp,
    ReciprocalOp,
    HardSigmoidOp,
    HardSwishOp,
    MinOp,
    MaxOp,
    EqualOp,
    LessOp,
    GreaterOp,
    NotOp,
    WhereOp,
    PadOp,
    ExpandOp,
    CastOp,
]

NN = Dialect("nn", NN_OPS, [])
