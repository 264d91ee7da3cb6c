"""The `nn` dialect: the float graph of a neural network, as imported.

Every op works on builtin ranked tensors of floats (`tensor<1x3x32x32xf32>`),
with ONNX's semantics (layouts NCHW and OIHW, numpy broadcasting). Each op's
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
    FloatAttr,
    IntegerAttr,
    IntegerType,
    TensorType,
    f32,
    i64,
)
from xdsl.ir import Attribute, Dialect, SSAValue
from xdsl.irdl import (
    AnyAttr,
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

from qopt.qdialect.shapes import (
    DYN,
    Shape,
    broadcast_shapes,
    check_shape,
    conv_out_dim,
    fmt_shape,
    shape_of,
)

FloatTensor = TensorType.constr(AnyFloat)
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


def tensor_like(value: SSAValue, shape: Sequence[int]) -> TensorType:
    """A tensor type of `shape` with the element type of `value`."""
    ty = value.type
    assert isinstance(ty, TensorType)
    return TensorType(ty.element_type, shape)


# --------------------------------------------------------------------------- #
# Op base classes
# --------------------------------------------------------------------------- #


class NNOp(IRDLOperation):
    """Common base: properties print inside the attribute dictionary."""

    irdl_options = (ParsePropInAttrDict(),)

    def infer_shape(self) -> Shape:
        """The result shape implied by operands and properties."""
        raise NotImplementedError

    def verify_(self) -> None:
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


class BinaryOp(NNOp):
    """An elementwise op of two float tensors with numpy broadcasting."""

    lhs = operand_def(FloatTensor)
    rhs = operand_def(FloatTensor)
    output = result_def(FloatTensor)

    traits = traits_def(Pure())

    assembly_format = GENERIC_FORMAT

    def __init__(self, lhs: SSAValue, rhs: SSAValue):
        shape = broadcast_shapes(self.name, shape_of(lhs), shape_of(rhs))
        super().__init__(operands=[lhs, rhs], result_types=[tensor_like(lhs, shape)])

    def infer_shape(self) -> Shape:
        return broadcast_shapes(self.name, shape_of(self.lhs), shape_of(self.rhs))


# --------------------------------------------------------------------------- #
# Constants
# --------------------------------------------------------------------------- #


@irdl_op_definition
class ConstantOp(NNOp):
    """A constant tensor (weights, biases, shapes).

    Syntax: `%w = nn.constant dense<...> : tensor<4x3xf32>`. xDSL prints a
    large `dense` as one hex string, so weights round-trip bit-exactly.
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
        printer.print_string(" ")
        printer.print_attribute(self.value)
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
        self.output.type = tensor_like(input, self.infer_shape())

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
        x, w = shape_of(self.input), shape_of(self.weight)
        strides, pads, dilations, group = self.attrs
        if len(x) != 4 or len(w) != 4:
            raise VerifyException(
                f"'{self.name}': expects a rank-4 input and weight, got "
                f"{fmt_shape(x)} and {fmt_shape(w)}"
            )
        if len(strides) != 2 or len(dilations) != 2 or len(pads) != 4:
            raise VerifyException(
                f"'{self.name}': strides and dilations need 2 values, pads 4"
            )
        if min(strides) < 1 or min(dilations) < 1 or min(pads) < 0:
            raise VerifyException(
                f"'{self.name}': strides and dilations must be >= 1 and pads >= 0"
            )
        if group < 1 or w[0] % group != 0:
            raise VerifyException(
                f"'{self.name}': group {group} must divide the {w[0]} output channels"
            )
        if x[1] != DYN and x[1] != w[1] * group:
            raise VerifyException(
                f"'{self.name}': input has {x[1]} channels, weight expects "
                f"{w[1]} x group {group}"
            )
        if self.bias is not None and shape_of(self.bias) != (w[0],):
            raise VerifyException(
                f"'{self.name}': bias has shape {fmt_shape(shape_of(self.bias))}, "
                f"expected {w[0]}"
            )
        oh = conv_out_dim(x[2], w[2], strides[0], pads[0], pads[2], dilations[0])
        ow = conv_out_dim(x[3], w[3], strides[1], pads[1], pads[3], dilations[1])
        if (oh != DYN and oh < 1) or (ow != DYN and ow < 1):
            raise VerifyException(f"'{self.name}': the window does not fit the input")
        return (x[0], w[0], oh, ow)


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
        self.output.type = tensor_like(a, self.infer_shape())

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
                f"'{self.name}': expects 2-D operands, got {fmt_shape(a)} and {fmt_shape(b)}"
            )
        m, k = (a[1], a[0]) if ta else a
        k2, n = (b[1], b[0]) if tb else b
        if k != DYN and k2 != DYN and k != k2:
            raise VerifyException(
                f"'{self.name}': inner dimensions differ ({k} and {k2})"
            )
        if self.c is not None:
            c = shape_of(self.c)
            if broadcast_shapes(self.name, c, (m, n)) != (m, n) and len(c) <= 2:
                raise VerifyException(
                    f"'{self.name}': C of shape {fmt_shape(c)} does not broadcast to "
                    f"{fmt_shape((m, n))}"
                )
        return (m, n)


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
            if len(s) != 1 or not (x[1] == DYN or s[0] == x[1]):
                raise VerifyException(
                    f"'{self.name}': {name} has shape {fmt_shape(s)}, expected {x[1]}"
                )
        return x


# --------------------------------------------------------------------------- #
# Elementwise
# --------------------------------------------------------------------------- #


@irdl_op_definition
class AddOp(BinaryOp):
    """lhs + rhs with numpy broadcasting."""

    name = "nn.add"


@irdl_op_definition
class SubOp(BinaryOp):
    """lhs - rhs with numpy broadcasting."""

    name = "nn.sub"


@irdl_op_definition
class MulOp(BinaryOp):
    """lhs * rhs with numpy broadcasting."""

    name = "nn.mul"


@irdl_op_definition
class DivOp(BinaryOp):
    """lhs / rhs with numpy broadcasting (IEEE division)."""

    name = "nn.div"


@irdl_op_definition
class ReluOp(UnaryOp):
    """max(x, 0)."""

    name = "nn.relu"


# --------------------------------------------------------------------------- #
# Layout
# --------------------------------------------------------------------------- #


@irdl_op_definition
class ReshapeOp(NNOp):
    """Reinterpret a tensor with the result's shape (row-major order).

    The target shape is the result type; at most one dimension of each side
    may be dynamic, and the static element counts must agree.
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
        if (DYN in src) == (DYN in dst):
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
        self.output.type = tensor_like(input, self.infer_shape())

    def infer_shape(self) -> Shape:
        x = shape_of(self.input)
        perm = tuple(self.perm.get_values())
        if sorted(perm) != list(range(len(x))):
            raise VerifyException(
                f"'{self.name}': perm {list(perm)} is not a permutation of "
                f"{len(x)} axes"
            )
        return tuple(x[p] for p in perm)


NN_OPS = [
    ConstantOp,
    Conv2dOp,
    GemmOp,
    BatchNormOp,
    AddOp,
    SubOp,
    MulOp,
    DivOp,
    ReluOp,
    ReshapeOp,
    TransposeOp,
]

NN = Dialect("nn", NN_OPS, [])
