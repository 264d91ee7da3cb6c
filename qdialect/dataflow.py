"""The `dataflow` dialect: streaming hardware units on quantized streams.

A `dataflow` graph is a pipeline of hardware units connected by streams
(`!dataflow.stream<8x8x16, 4 x !q.uniform<u8:f32, 0.5>>`): each inference
(one *frame*) flows through a stream as its elements in a fixed order, a
*beat* of `lanes` elements per clock cycle. Units are matrix-vector units
with PE x SIMD folding, sliding-window line buffers, pooling, requantize,
threshold and table units, residual adds, width converters and FIFOs; the
folding of every unit is in the types (lanes) and properties (pe, simd),
so an RTL generator and the cost model read everything from the IR.

Element values are the integer levels of the `q` element types, with the
exact integer semantics of the `q` ops the units come from
(`docs/dialects/q.md`); `docs/dialects/dataflow.md` gives the element order
of every stream, the semantics, the folding and the cycle model of every op.
Streams are point to point: every stream value has exactly one use
(`dataflow.fork` duplicates one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    IntAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
    i64,
)
from xdsl.ir import (
    Attribute,
    Dialect,
    ParametrizedAttribute,
    SSAValue,
    TypeAttribute,
)
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_result_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from qopt.qdialect import q
from qopt.qdialect.packing import check_packed, hex_to_levels
from qopt.qdialect.qtypes import (
    MixedType,
    QuantizedType,
    ThresholdsType,
    UniformType,
)
from qopt.qdialect.shapes import (
    DYN,
    Shape,
    conv_out_dim,
    fmt_shape,
    num_elements,
    pool2d_shape,
)

FORMAT = "operands attr-dict `:` functional-type(operands, results)"

POOL_KINDS = ("max", "sum")


# --------------------------------------------------------------------------- #
# Layout: tensors <-> frames
# --------------------------------------------------------------------------- #


def frame_axes(rank: int) -> tuple[int, ...]:
    """Tensor axes (batch excluded) in stream order for a tensor of `rank`.

    Rank-4 tensors are NCHW images and stream pixel by pixel, channels
    innermost (frame H x W x C); other tensors stream in row-major order of
    their non-batch dimensions.
    """
    return (2, 3, 1) if rank == 4 else tuple(range(1, rank))


def frame_of(shape: Sequence[int]) -> Shape:
    """The frame shape of a tensor of `shape` (batch first)."""
    return tuple(shape[a] for a in frame_axes(len(shape)))


def with_axes(qtype: QuantizedType, axes: Sequence[int]) -> QuantizedType:
    """`qtype` with its quantized axes renumbered (scales unchanged)."""
    params = list(qtype.parameters)
    params[1] = ArrayAttr([IntAttr(a) for a in axes])
    return type(qtype).new(params)


def _remap(qtype: QuantizedType, new_axis: Callable[[int], int]) -> QuantizedType:
    """`qtype` with its scale axes and threshold axes renumbered."""
    out = with_axes(qtype, [new_axis(a.data) for a in qtype.axes.data])
    if isinstance(out, ThresholdsType) and out.threshold_axis is not None:
        params = list(out.parameters)
        params[-1] = ArrayAttr([IntAttr(new_axis(out.threshold_axis))])
        out = type(out).new(params)
    return out


def element_for_frame(qtype: QuantizedType, rank: int) -> QuantizedType:
    """The stream element type of a tensor element type (axes renumbered)."""
    order = frame_axes(rank)
    axes = [a.data for a in qtype.axes.data]
    if isinstance(qtype, ThresholdsType) and qtype.threshold_axis is not None:
        axes.append(qtype.threshold_axis)
    if any(a not in order for a in axes):
        raise VerifyException(f"a stream element cannot vary along the batch: {qtype}")
    return _remap(qtype, order.index)


def element_for_tensor(qtype: QuantizedType, rank: int) -> QuantizedType:
    """The tensor element type of a stream element type (inverse)."""
    order = frame_axes(rank)
    return _remap(qtype, lambda a: order[a])


def _ints(attr: DenseArrayBase | None, default: Sequence[int]) -> tuple[int, ...]:
    return tuple(default) if attr is None else tuple(int(v) for v in attr.get_values())


def _i64_array(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


# --------------------------------------------------------------------------- #
# The stream type
# --------------------------------------------------------------------------- #


@irdl_attr_definition
class StreamType(ParametrizedAttribute, TypeAttribute):
    """A stream of frames: `!dataflow.stream<8x8x16, 4 x !q.uniform<u8:f32, 0.5>>`.

    One frame (one inference) is a tensor of the `frame` shape whose
    elements flow in row-major order of that shape, `lanes` elements per
    beat (one beat per cycle at most); lanes divide the innermost dimension,
    so a beat never straddles two rows of it. The element type is a `q`
    type whose quantized axes (per tensor or per axis) index the frame.
    """

    name = "dataflow.stream"

    frame: ArrayAttr[IntAttr]
    lanes: IntAttr
    element_type: Attribute

    def __init__(self, frame: Sequence[int], lanes: int, element: QuantizedType):
        super().__init__(
            ArrayAttr([IntAttr(int(d)) for d in frame]), IntAttr(lanes), element
        )

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            frame = parser.parse_dimension_list()
            parser.parse_punctuation(",")
            lanes = parser.parse_integer(allow_negative=False, allow_boolean=False)
            parser.parse_shape_delimiter()
            element = parser.parse_type()
        return (ArrayAttr([IntAttr(d) for d in frame]), IntAttr(lanes), element)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(f"{fmt_shape(self.shape)}, {self.lanes.data} x ")
            printer.print_attribute(self.element_type)

    def verify(self) -> None:
        shape = self.shape
        if not shape or any(d < 1 or d == DYN for d in shape):
            raise VerifyException(
                f"dataflow.stream: the frame needs static dimensions >= 1, got "
                f"{fmt_shape(shape)}"
            )
        lanes = self.lanes.data
        if lanes < 1 or shape[-1] % lanes:
            raise VerifyException(
                f"dataflow.stream: {lanes} lanes must divide the innermost "
                f"dimension {shape[-1]}"
            )
        elem = self.element_type
        if not isinstance(elem, QuantizedType) or isinstance(elem, MixedType):
            raise VerifyException(
                f"dataflow.stream: elements must be a q type other than q.mixed, "
                f"got {elem}"
            )
        if not elem.is_per_tensor and elem.quantized_axis is None:
            raise VerifyException(
                "dataflow.stream: elements are quantized per tensor or per axis"
            )
        elem.verify_shape(shape)

    @property
    def shape(self) -> Shape:
        return tuple(d.data for d in self.frame.data)

    @property
    def elem(self) -> QuantizedType:
        assert isinstance(self.element_type, QuantizedType)
        return self.element_type

    @property
    def numel(self) -> int:
        return num_elements(self.shape)

    @property
    def beats(self) -> int:
        """Beats per frame."""
        return self.numel // self.lanes.data

    @property
    def bits(self) -> int:
        """Bits of one element."""
        return self.elem.element_bits

    def with_lanes(self, lanes: int) -> StreamType:
        return StreamType(self.shape, lanes, self.elem)


def stream_of(value: SSAValue) -> StreamType:
    if not isinstance(value.type, StreamType):
        raise VerifyException(f"expected a dataflow stream, got {value.type}")
    return value.type


def _err(op: IRDLOperation, message: str) -> VerifyException:
    return VerifyException(f"'{op.name}': {message}")


def constant_of(value: SSAValue) -> q.ConstantOp:
    """The `q.constant` that defines `value` (a unit's ROM), or VerifyException."""
    owner = value.owner
    if not isinstance(owner, q.ConstantOp):
        raise VerifyException("weights, biases and thresholds must be q.constant ROMs")
    return owner


# --------------------------------------------------------------------------- #
# Ops
# --------------------------------------------------------------------------- #


class DataflowOp(IRDLOperation):
    """Common base: properties in the attribute dictionary; every stream
    result has exactly one use; op-specific rules in `verify_unit`."""

    irdl_options = (ParsePropInAttrDict(),)

    traits = traits_def(Pure())

    assembly_format = FORMAT

    def verify_(self) -> None:
        try:
            for i, r in enumerate(self.results):
                uses = r.uses.get_length()
                if isinstance(r.type, StreamType) and uses != 1:
                    raise VerifyException(
                        f"stream result {i} has {uses} uses; streams are point to "
                        "point (use dataflow.fork)"
                    )
            self.verify_unit()
        except VerifyException as e:
            if str(e).startswith(f"'{self.name}'"):
                raise
            raise _err(self, str(e)) from None

    def verify_unit(self) -> None:
        """Op-specific checks."""


def _same_stream_shape(op: DataflowOp, a: StreamType, b: StreamType) -> None:
    if a.shape != b.shape:
        raise _err(
            op,
            f"the result frame {fmt_shape(b.shape)} differs from the input frame "
            f"{fmt_shape(a.shape)}",
        )


def _same_lanes(op: DataflowOp, a: StreamType, b: StreamType) -> None:
    if a.lanes.data != b.lanes.data:
        raise _err(
            op, f"input and result lanes differ ({a.lanes.data} and {b.lanes.data})"
        )


@irdl_op_definition
class InputOp(DataflowOp):
    """Tensor of levels -> stream: the design's input port.

    A `[N, C, H, W]` tensor streams as N frames `H x W x C` (channels
    innermost), any other `[N, ...]` tensor as N frames of its other
    dimensions in row-major order. The element type's quantized axes are
    renumbered to the frame.
    """

    name = "dataflow.input"

    input = operand_def(TensorType)
    output = result_def(StreamType)

    def __init__(self, input: SSAValue, lanes: int = 1):
        ty = input.type
        assert isinstance(ty, TensorType)
        elem = element_for_frame(q.qtype_of(input), ty.get_num_dims())
        super().__init__(
            operands=[input],
            result_types=[StreamType(frame_of(ty.get_shape()), lanes, elem)],
        )

    def verify_unit(self) -> None:
        shape = self.input.type.get_shape()
        if len(shape) < 2:
            raise _err(self, "the input needs a batch dimension and rank >= 2")
        st = stream_of(self.output)
        if st.shape != frame_of(shape):
            raise _err(
                self,
                f"a tensor of shape {fmt_shape(shape)} streams as frames "
                f"{fmt_shape(frame_of(shape))}, got {fmt_shape(st.shape)}",
            )
        if st.elem != element_for_frame(q.qtype_of(self.input), len(shape)):
            raise _err(
                self, "the stream element type must be the tensor's, on the frame"
            )


@irdl_op_definition
class OutputOp(DataflowOp):
    """Stream -> tensor of levels: the design's output port (inverse of input)."""

    name = "dataflow.output"

    input = operand_def(StreamType)
    output = result_def(TensorType)

    def __init__(self, input: SSAValue, batch: int = DYN, rank: int | None = None):
        st = stream_of(input)
        rank = rank or (4 if len(st.shape) == 3 else len(st.shape) + 1)
        order = frame_axes(rank)
        shape = [batch] + [0] * (rank - 1)
        for f, a in enumerate(order):
            shape[a] = st.shape[f]
        elem = element_for_tensor(st.elem, rank)
        super().__init__(operands=[input], result_types=[TensorType(elem, shape)])

    def verify_unit(self) -> None:
        shape = self.output.type.get_shape()
        st = stream_of(self.input)
        if len(shape) < 2 or frame_of(shape) != st.shape:
            raise _err(
                self,
                f"frames {fmt_shape(st.shape)} do not form a tensor of shape "
                f"{fmt_shape(shape)}",
            )
        if element_for_frame(q.qtype_of(self.output), len(shape)) != st.elem:
            raise _err(self, "the tensor element type must be the stream's")


@irdl_op_definition
class FifoOp(DataflowOp):
    """A first-in first-out buffer of `depth` beats; values pass unchanged."""

    name = "dataflow.fifo"

    input = operand_def(StreamType)
    output = result_def(StreamType)
    depth = prop_def(IntegerAttr)

    def __init__(self, input: SSAValue, depth: int):
        super().__init__(
            operands=[input],
            properties={"depth": IntegerAttr(depth, i64)},
            result_types=[input.type],
        )

    def verify_unit(self) -> None:
        if self.input.type != self.output.type:
            raise _err(self, "the result type must equal the input type")
        if self.depth.value.data < 1:
            raise _err(self, f"depth {self.depth.value.data} must be >= 1")


@irdl_op_definition
class ForkOp(DataflowOp):
    """Duplicates a stream: every result receives every beat."""

    name = "dataflow.fork"

    input = operand_def(StreamType)
    outputs = var_result_def(StreamType)

    def __init__(self, input: SSAValue, count: int):
        super().__init__(operands=[input], result_types=[[input.type] * count])

    def verify_unit(self) -> None:
        if len(self.outputs) < 2:
            raise _err(self, "a fork has at least two results")
        if any(r.type != self.input.type for r in self.outputs):
            raise _err(self, "every result type must equal the input type")


@irdl_op_definition
class DwcOp(DataflowOp):
    """Data width converter: the same elements in the same order, repacked
    from the input's lanes to the result's."""

    name = "dataflow.dwc"

    input = operand_def(StreamType)
    output = result_def(StreamType)

    def __init__(self, input: SSAValue, lanes: int):
        super().__init__(
            operands=[input], result_types=[stream_of(input).with_lanes(lanes)]
        )

    def verify_unit(self) -> None:
        a, b = stream_of(self.input), stream_of(self.output)
        _same_stream_shape(self, a, b)
        if a.elem != b.elem:
            raise _err(self, "the element type must not change")
        if a.lanes == b.lanes:
            raise _err(self, f"input and result have the same lanes ({a.lanes.data})")


@irdl_op_definition
class ReshapeOp(DataflowOp):
    """A new frame shape for the same elements in the same order (wiring only).

    A per-axis element type must keep its axis innermost with the same size
    (the channel of every element is unchanged).
    """

    name = "dataflow.reshape"

    input = operand_def(StreamType)
    output = result_def(StreamType)

    def __init__(self, input: SSAValue, frame: Sequence[int]):
        st = stream_of(input)
        elem = st.elem
        if not elem.is_per_tensor:
            elem = with_axes(elem, [len(frame) - 1])
        super().__init__(
            operands=[input], result_types=[StreamType(frame, st.lanes.data, elem)]
        )

    def verify_unit(self) -> None:
        a, b = stream_of(self.input), stream_of(self.output)
        _same_lanes(self, a, b)
        if a.numel != b.numel:
            raise _err(
                self,
                f"frames {fmt_shape(a.shape)} and {fmt_shape(b.shape)} differ in size",
            )
        want = a.elem
        if not want.is_per_tensor:
            if want.quantized_axis != len(a.shape) - 1 or a.shape[-1] != b.shape[-1]:
                raise _err(
                    self, "a per-axis element type must stay on the innermost axis"
                )
            want = with_axes(want, [len(b.shape) - 1])
        if b.elem != want:
            raise _err(self, "the element type must not change")


def _window_props(
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
) -> dict[str, Attribute]:
    return {
        "kernel_shape": _i64_array(kernel),
        "strides": _i64_array(strides),
        "pads": _i64_array(pads),
        "dilations": _i64_array(dilations),
    }


@irdl_op_definition
class SwuOp(DataflowOp):
    """Sliding-window unit (line buffer) for convolutions.

    Input frames `H x W x C`, result frames `OH x OW x (kh*kw*C)`: for every
    output position in raster order, the window's elements in order
    (i, j, c) = element x[y*sh + i*dh - pt, x*sw + j*dw - pl, c], and the
    input's zero point where that lies in the padding. Properties as
    `q.conv2d`: kernel_shape, strides (1,1), pads (0,0,0,0), dilations (1,1).
    Input lanes fold the channels; result lanes divide the channels (a
    channel fold) or are a multiple of them (several taps per beat).
    """

    name = "dataflow.swu"

    input = operand_def(StreamType)
    output = result_def(StreamType)

    kernel_shape = prop_def(DenseArrayBase)
    strides = opt_prop_def(DenseArrayBase)
    pads = opt_prop_def(DenseArrayBase)
    dilations = opt_prop_def(DenseArrayBase)

    def __init__(
        self,
        input: SSAValue,
        kernel: Sequence[int],
        strides: Sequence[int] = (1, 1),
        pads: Sequence[int] = (0, 0, 0, 0),
        dilations: Sequence[int] = (1, 1),
        lanes: int | None = None,
    ):
        st = stream_of(input)
        h, w, c = st.shape
        oh = conv_out_dim(h, kernel[0], strides[0], pads[0], pads[2], dilations[0])
        ow = conv_out_dim(w, kernel[1], strides[1], pads[1], pads[3], dilations[1])
        window = kernel[0] * kernel[1] * c
        super().__init__(
            operands=[input],
            properties=_window_props(kernel, strides, pads, dilations),
            result_types=[
                StreamType((oh, ow, window), lanes or st.lanes.data, st.elem)
            ],
        )

    @property
    def window(self) -> tuple[tuple[int, ...], ...]:
        """(kernel, strides, pads, dilations) with defaults."""
        return (
            _ints(self.kernel_shape, ()),
            _ints(self.strides, (1, 1)),
            _ints(self.pads, (0, 0, 0, 0)),
            _ints(self.dilations, (1, 1)),
        )

    def verify_unit(self) -> None:
        a, b = stream_of(self.input), stream_of(self.output)
        kernel, strides, pads, dilations = self.window
        if len(a.shape) != 3:
            raise _err(
                self, f"the input frame must be H x W x C, got {fmt_shape(a.shape)}"
            )
        if (
            len(kernel) != 2
            or len(strides) != 2
            or len(dilations) != 2
            or len(pads) != 4
        ):
            raise _err(
                self, "kernel_shape, strides and dilations need 2 values, pads 4"
            )
        if min(kernel) < 1 or min(strides) < 1 or min(dilations) < 1 or min(pads) < 0:
            raise _err(self, "kernel, strides and dilations must be >= 1 and pads >= 0")
        h, w, c = a.shape
        oh = conv_out_dim(h, kernel[0], strides[0], pads[0], pads[2], dilations[0])
        ow = conv_out_dim(w, kernel[1], strides[1], pads[1], pads[3], dilations[1])
        if oh < 1 or ow < 1:
            raise _err(self, "the window does not fit the input")
        want = (oh, ow, kernel[0] * kernel[1] * c)
        if b.shape != want:
            raise _err(
                self,
                f"the result frame must be {fmt_shape(want)}, got {fmt_shape(b.shape)}",
            )
        lanes = b.lanes.data
        if lanes % c and c % lanes:
            raise _err(
                self,
                f"result lanes {lanes} must divide the {c} channels or be a multiple "
                "of them",
            )
        if not a.elem.is_per_tensor or b.elem != a.elem:
            raise _err(self, "the element type must be per tensor and unchanged")


@irdl_op_definition
class MvuOp(DataflowOp):
    """Matrix-vector unit with PE x SIMD folding.

    The input frame `[..., MW]` is a sequence of V vectors of MW elements;
    for each the unit computes acc[o] = sum_k (x[k] - zx) * (W[o, k] - zw[o])
    + bias[o] for o < MH, exactly (`q.conv2d` / `q.matmul` semantics), and the
    result frame is `[..., MH]`. W is a `[MH, MW]` `q.constant` (per tensor
    or per axis 0) and bias an optional `[MH]` `q.constant`. `simd` input
    lanes and `pe` result lanes: each cycle, PE rows times SIMD columns.
    """

    name = "dataflow.mvu"

    input = operand_def(StreamType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    output = result_def(StreamType)

    pe = prop_def(IntegerAttr)
    simd = prop_def(IntegerAttr)

    def __init__(
        self,
        input: SSAValue,
        weight: SSAValue,
        bias: SSAValue | None = None,
        pe: int = 1,
        out_type: QuantizedType | None = None,
    ):
        """Builds the unit with the narrowest accumulator unless `out_type`."""
        st = stream_of(input)
        xtype, wtype = st.elem, q.qtype_of(weight)
        mh, _ = weight.type.get_shape()
        lo, hi = q.linear_range(xtype, wtype, weight.type.get_shape(), (1,))
        if bias is not None:
            btype = q.qtype_of(bias)
            lo, hi = lo + btype.min_level, hi + btype.max_level
        w_scales = None if wtype.is_per_tensor else wtype.scale_values
        scales = [xtype.scale * s for s in (w_scales or [wtype.scale])]
        axis = len(st.shape) - 1 if w_scales else None
        acc = q.accumulator_type(
            q.signed_width(lo, hi), scales, axis, xtype.expressed_type
        )
        super().__init__(
            operands=[input, weight, bias],
            properties={
                "pe": IntegerAttr(pe, i64),
                "simd": IntegerAttr(st.lanes.data, i64),
            },
            result_types=[StreamType((*st.shape[:-1], mh), pe, out_type or acc)],
        )

    @property
    def folding(self) -> tuple[int, int]:
        """(PE, SIMD)."""
        return self.pe.value.data, self.simd.value.data

    def verify_unit(self) -> None:
        a, b = stream_of(self.input), stream_of(self.output)
        wshape = self.weight.type.get_shape()
        if len(wshape) != 2:
            raise _err(self, f"the weight must be [MH, MW], got {fmt_shape(wshape)}")
        mh, mw = wshape
        if a.shape[-1] != mw or b.shape != (*a.shape[:-1], mh):
            raise _err(
                self,
                f"a [{mh}, {mw}] weight maps frames [..., {mw}] to [..., {mh}], "
                f"got {fmt_shape(a.shape)} -> {fmt_shape(b.shape)}",
            )
        pe, simd = self.folding
        if simd != a.lanes.data or pe != b.lanes.data:
            raise _err(
                self,
                f"simd {simd} and pe {pe} must equal the input lanes {a.lanes.data} "
                f"and the result lanes {b.lanes.data}",
            )
        constant_of(self.weight)
        if self.bias is not None:
            constant_of(self.bias)
        xtype, wtype, rtype = a.elem, q.qtype_of(self.weight), b.elem
        if not xtype.is_per_tensor:
            raise _err(self, "the input must have one scale (per tensor)")
        if not wtype.is_per_tensor and wtype.quantized_axis != 0:
            raise _err(self, "the weight must be quantized per tensor or per axis 0")
        w_scales = wtype.scale_values
        want = [xtype.scale * s for s in w_scales]
        if rtype.is_per_tensor:
            got = [rtype.scale]
            if len(set(want)) != 1:
                raise _err(self, "the result needs one scale per output channel")
            want = want[:1]
        else:
            if rtype.quantized_axis != len(b.shape) - 1:
                raise _err(self, "the result must be quantized per innermost axis")
            got = list(rtype.scale_values)
        if got != want:
            raise _err(
                self,
                "the result scales must be the input scale times the weight scales",
            )
        lo, hi = q.linear_range(xtype, wtype, wshape, (1,))
        if self.bias is not None:
            btype = q.qtype_of(self.bias)
            if self.bias.type.get_shape() != (mh,) or not isinstance(
                btype, UniformType
            ):
                raise _err(self, f"the bias must be a q.uniform [{mh}] tensor")
            if any(btype.zp_values) or (
                (btype.is_per_tensor and [btype.scale] * len(got) != got)
                or (not btype.is_per_tensor and list(btype.scale_values) != got)
            ):
                raise _err(self, "the bias needs zero point 0 and the result's scales")
            lo, hi = lo + btype.min_level, hi + btype.max_level
        q._check_width(self, rtype, lo, hi)


def _check_elementwise(op: DataflowOp) -> tuple[StreamType, StreamType]:
    a, b = stream_of(op.operands[0]), stream_of(op.results[0])
    _same_stream_shape(op, a, b)
    _same_lanes(op, a, b)
    return a, b


@irdl_op_definition
class RequantOp(DataflowOp):
    """Requantize unit: y = clamp(((x - zx) * M + r) >> s) + zo, qmin, qmax).

    `q.requantize` semantics; M and s per tensor or per channel (the
    innermost frame axis). M = 1 everywhere is a shift-only unit.
    """

    name = "dataflow.requant"

    input = operand_def(StreamType)
    output = result_def(StreamType)

    multiplier = prop_def(DenseArrayBase)
    shift = prop_def(DenseArrayBase)

    def __init__(
        self,
        input: SSAValue,
        out_type: QuantizedType,
        multiplier: Sequence[int],
        shift: Sequence[int],
    ):
        st = stream_of(input)
        super().__init__(
            operands=[input],
            properties={
                "multiplier": _i64_array(multiplier),
                "shift": _i64_array(shift),
            },
            result_types=[StreamType(st.shape, st.lanes.data, out_type)],
        )

    def channel_params(self) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.array(self.multiplier.get_values(), dtype=np.int64),
            np.array(self.shift.get_values(), dtype=np.int64),
        )

    @property
    def shift_only(self) -> bool:
        return bool(np.all(self.channel_params()[0] == 1))

    def verify_unit(self) -> None:
        a, b = _check_elementwise(self)
        xtype, otype = a.elem, b.elem
        if not isinstance(xtype, UniformType | ThresholdsType):
            raise _err(self, "the input must be q.uniform or q.thresholds")
        if not isinstance(otype, UniformType):
            raise _err(self, "the result must be q.uniform")
        if not otype.is_per_tensor:
            raise _err(self, "the result must have one scale (per tensor)")
        mult, shift = self.channel_params()
        n = len(xtype.scale_values)
        if len(mult) != len(shift) or len(mult) not in (1, n):
            raise _err(self, f"multiplier and shift need 1 or {n} values")
        if np.any(mult < 1) or np.any(mult > q.MAX_MULTIPLIER):
            raise _err(self, "multipliers must be in [1, 2^32)")
        if np.any(shift < 0) or np.any(shift > q.MAX_SHIFT):
            raise _err(self, f"shifts must be in [0, {q.MAX_SHIFT}]")
        so = otype.scale
        for i, sx in enumerate(xtype.scale_values):
            m, s = int(mult[i % len(mult)]), int(shift[i % len(shift)])
            ideal = sx / so * 2.0**s
            if ideal < 0.5 or abs(m - ideal) > 1.0 + 1e-9 * ideal:
                raise _err(
                    self,
                    f"multiplier {m} >> {s} does not match the scale ratio {sx / so!r}",
                )
        lo, hi = q.centred_range(xtype)
        if max(abs(lo), abs(hi)) * int(mult.max()) >= 1 << 62:
            raise _err(self, "input range times multiplier overflows 62 bits")


@irdl_op_definition
class ThresholdOp(DataflowOp):
    """Threshold unit: y = min_level(y) + #{j : x - zx >= T[c, j]}.

    T is a `[C, n]` (one row per channel of the innermost axis) or `[1, n]`
    `q.constant` of signed q.uniform levels with zero point 0 and the input's
    scales, rows non-decreasing; the result has exactly n + 1 levels
    (per-tensor q.uniform or q.thresholds codes).
    """

    name = "dataflow.threshold"

    input = operand_def(StreamType)
    thresholds = operand_def(TensorType)
    output = result_def(StreamType)

    def __init__(self, input: SSAValue, thresholds: SSAValue, out_type: QuantizedType):
        st = stream_of(input)
        super().__init__(
            operands=[input, thresholds],
            result_types=[StreamType(st.shape, st.lanes.data, out_type)],
        )

    def verify_unit(self) -> None:
        a, b = _check_elementwise(self)
        xtype, otype = a.elem, b.elem
        ttype = q.qtype_of(self.thresholds)
        rows, n = self.thresholds.type.get_shape()
        if not isinstance(xtype, UniformType | ThresholdsType):
            raise _err(self, "the input must be q.uniform or q.thresholds")
        if not otype.is_per_tensor or not isinstance(
            otype, UniformType | ThresholdsType
        ):
            raise _err(
                self, "the result must be a per-tensor q.uniform or q.thresholds"
            )
        if otype.max_level - otype.min_level != n:
            raise _err(
                self,
                f"{n} thresholds give {n + 1} codes, the result type has "
                f"{otype.max_level - otype.min_level + 1} levels",
            )
        if rows not in (1, a.shape[-1]):
            raise _err(self, f"thresholds need 1 or {a.shape[-1]} rows, got {rows}")
        if (
            not isinstance(ttype, UniformType)
            or any(ttype.zp_values)
            or not ttype.is_signed
        ):
            raise _err(self, "thresholds must be signed q.uniform with zero point 0")
        if ttype.is_per_tensor != xtype.is_per_tensor or (
            not ttype.is_per_tensor and ttype.quantized_axis != 0
        ):
            raise _err(
                self,
                "thresholds must be per tensor, or per axis 0 for a per-axis input",
            )
        if ttype.scale_values != xtype.scale_values:
            raise _err(self, "thresholds must have the input's scales")
        levels = constant_of(self.thresholds).levels()
        if np.any(np.diff(levels, axis=1) < 0):
            raise _err(self, "every row of thresholds must be non-decreasing")


@irdl_op_definition
class LutOp(DataflowOp):
    """Table lookup unit: y = table[x - min_level(x)] (`q.lut` semantics)."""

    name = "dataflow.lut"

    input = operand_def(StreamType)
    output = result_def(StreamType)
    table = prop_def(StringAttr)

    def __init__(self, input: SSAValue, table: str, out_type: QuantizedType):
        st = stream_of(input)
        super().__init__(
            operands=[input],
            properties={"table": StringAttr(table)},
            result_types=[StreamType(st.shape, st.lanes.data, out_type)],
        )

    def table_levels(self) -> np.ndarray:
        xtype = stream_of(self.input).elem
        n = xtype.max_level - xtype.min_level + 1
        return hex_to_levels(stream_of(self.output).elem, (n,), self.table.data)

    def verify_unit(self) -> None:
        a, b = _check_elementwise(self)
        xtype, otype = a.elem, b.elem
        if (
            not isinstance(xtype, UniformType | ThresholdsType)
            or not xtype.is_per_tensor
        ):
            raise _err(self, "the input must be a per-tensor q.uniform or q.thresholds")
        if not otype.is_per_tensor:
            raise _err(self, "the result must have one scale (per tensor)")
        n = xtype.max_level - xtype.min_level + 1
        if n > 1 << 16:
            raise _err(self, f"the input has {n} levels; tables take at most 65536")
        problem = check_packed(otype, (n,), self.table.data)
        if problem is not None:
            raise _err(self, f"the table ({n} entries) {problem}")


@irdl_op_definition
class ClampOp(DataflowOp):
    """Clamp unit: clamp(level, min, max) on levels (`q.clamp`; relu is
    clamp(zp, max_level)). The type is unchanged."""

    name = "dataflow.clamp"

    input = operand_def(StreamType)
    output = result_def(StreamType)
    min = prop_def(IntegerAttr)
    max = prop_def(IntegerAttr)

    def __init__(self, input: SSAValue, lo: int, hi: int):
        super().__init__(
            operands=[input],
            properties={"min": IntegerAttr(lo, i64), "max": IntegerAttr(hi, i64)},
            result_types=[input.type],
        )

    def verify_unit(self) -> None:
        if self.input.type != self.output.type:
            raise _err(self, "the result type must equal the input type")
        lo, hi = self.min.value.data, self.max.value.data
        if lo > hi:
            raise _err(self, f"min {lo} is larger than max {hi}")
        elem = stream_of(self.input).elem
        if isinstance(elem, ThresholdsType):
            raise _err(self, "cannot clamp q.thresholds codes")
        if not np.all(elem.representable(np.array([lo, hi]))):
            raise _err(self, f"bounds [{lo}, {hi}] are not levels of {elem}")


@irdl_op_definition
class PoolOp(DataflowOp):
    """Pooling unit over frames `H x W x C` -> `OH x OW x C`.

    kind "max": max of levels over each window, padding never wins, type
    unchanged (`q.maxpool2d`); kind "sum": sum of x - zx over each window,
    padding contributes 0, a signed accumulator with scale sx / (kh*kw)
    (`q.avgpool2d`). Properties as `q.maxpool2d`: kernel_shape, strides,
    pads, dilations (max only), ceil_mode.
    """

    name = "dataflow.pool"

    input = operand_def(StreamType)
    output = result_def(StreamType)

    kind = prop_def(StringAttr)
    kernel_shape = prop_def(DenseArrayBase)
    strides = opt_prop_def(DenseArrayBase)
    pads = opt_prop_def(DenseArrayBase)
    dilations = opt_prop_def(DenseArrayBase)
    ceil_mode = opt_prop_def(IntegerAttr)

    def __init__(
        self,
        input: SSAValue,
        kind: str,
        kernel: Sequence[int],
        strides: Sequence[int] = (1, 1),
        pads: Sequence[int] = (0, 0, 0, 0),
        dilations: Sequence[int] = (1, 1),
        ceil_mode: bool = False,
        out_type: QuantizedType | None = None,
    ):
        st = stream_of(input)
        h, w, c = st.shape
        _, _, oh, ow = pool2d_shape(
            self.name, (1, c, h, w), kernel, strides, pads, dilations, ceil_mode
        )
        props = _window_props(kernel, strides, pads, dilations)
        props["kind"] = StringAttr(kind)
        props["ceil_mode"] = IntegerAttr(int(ceil_mode), 1)
        super().__init__(
            operands=[input],
            properties=props,
            result_types=[StreamType((oh, ow, c), st.lanes.data, out_type or st.elem)],
        )

    @property
    def window(
        self,
    ) -> tuple[
        tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...], bool
    ]:
        """(kernel, strides, pads, dilations, ceil_mode) with defaults."""
        return (
            _ints(self.kernel_shape, ()),
            _ints(self.strides, (1, 1)),
            _ints(self.pads, (0, 0, 0, 0)),
            _ints(self.dilations, (1, 1)),
            bool(self.ceil_mode.value.data) if self.ceil_mode is not None else False,
        )

    def verify_unit(self) -> None:
        a, b = stream_of(self.input), stream_of(self.output)
        kind = self.kind.data
        if kind not in POOL_KINDS:
            raise _err(self, f"kind must be max or sum, got '{kind}'")
        if len(a.shape) != 3:
            raise _err(
                self, f"the input frame must be H x W x C, got {fmt_shape(a.shape)}"
            )
        h, w, c = a.shape
        kernel, strides, pads, dilations, ceil = self.window
        _, _, oh, ow = pool2d_shape(
            self.name, (1, c, h, w), kernel, strides, pads, dilations, ceil
        )
        if b.shape != (oh, ow, c):
            raise _err(
                self,
                f"the result frame must be {fmt_shape((oh, ow, c))}, got "
                f"{fmt_shape(b.shape)}",
            )
        _same_lanes(self, a, b)
        for i, size in enumerate((h, w)):
            start = np.arange(b.shape[i]) * strides[i] - pads[i]
            taps = start[:, None] + np.arange(kernel[i]) * dilations[i]
            if not np.all(((taps >= 0) & (taps < size)).any(axis=1)):
                raise _err(self, "a pooling window lies entirely in the padding")
        xtype, otype = a.elem, b.elem
        if kind == "max":
            if xtype.quantized_axis not in (None, 2):
                raise _err(self, "scales must not vary inside a pooling window")
            if otype != xtype:
                raise _err(self, "a max pool keeps the element type")
            return
        if not xtype.is_per_tensor or not otype.is_per_tensor:
            raise _err(self, "a sum pool takes and gives per-tensor types")
        if dilations != (1, 1):
            raise _err(self, "a sum pool has no dilations")
        n = kernel[0] * kernel[1]
        if otype.scale != xtype.scale / n:
            raise _err(self, f"the result scale must be the input scale / {n}")
        lo, hi = q.centred_range(xtype)
        q._check_width(self, otype, n * lo, n * hi)


@irdl_op_definition
class AddOp(DataflowOp):
    """Residual add: y = ((a - za) << ka) + ((b - zb) << kb) (`q.add`), on
    two streams of one frame shape and lanes, beat by beat."""

    name = "dataflow.add"

    lhs = operand_def(StreamType)
    rhs = operand_def(StreamType)
    output = result_def(StreamType)

    def __init__(self, lhs: SSAValue, rhs: SSAValue, out_type: QuantizedType):
        st = stream_of(lhs)
        super().__init__(
            operands=[lhs, rhs],
            result_types=[StreamType(st.shape, st.lanes.data, out_type)],
        )

    def alignment(self) -> tuple[int, int]:
        """(ka, kb): the left shifts of the two operands."""
        so = stream_of(self.output).elem.scale
        return (
            q._pow2_exponent(stream_of(self.lhs).elem.scale / so) or 0,
            q._pow2_exponent(stream_of(self.rhs).elem.scale / so) or 0,
        )

    def verify_unit(self) -> None:
        a, b, o = stream_of(self.lhs), stream_of(self.rhs), stream_of(self.output)
        if not a.shape == b.shape == o.shape:
            raise _err(self, "operands and result must have one frame shape")
        if not a.lanes == b.lanes == o.lanes:
            raise _err(self, "operands and result must have the same lanes")
        at, bt, ot = a.elem, b.elem, o.elem
        for what, t in (("lhs", at), ("rhs", bt), ("result", ot)):
            allowed = UniformType if what == "result" else UniformType | ThresholdsType
            if not isinstance(t, allowed) or not t.is_per_tensor:
                kinds = "q.uniform" if what == "result" else "q.uniform or q.thresholds"
                raise _err(self, f"the {what} must be a per-tensor {kinds}")
        so = ot.scale
        for what, t in (("lhs", at), ("rhs", bt)):
            k = q._pow2_exponent(t.scale / so)
            if k is None or k < 0 or t.scale != so * 2.0**k:
                raise _err(
                    self,
                    f"the {what} scale {t.scale!r} must be the result scale {so!r} "
                    "times a power of two >= 1",
                )
        lo, hi = q.AddOp.result_range(at, bt, so)
        q._check_width(self, ot, lo, hi)


DATAFLOW_OPS: list[type[DataflowOp]] = [
    InputOp,
    OutputOp,
    FifoOp,
    ForkOp,
    DwcOp,
    ReshapeOp,
    SwuOp,
    MvuOp,
    RequantOp,
    ThresholdOp,
    LutOp,
    ClampOp,
    PoolOp,
    AddOp,
]

Dataflow = Dialect("dataflow", DATAFLOW_OPS, [StreamType])

__all__ = ["DATAFLOW_OPS", "Dataflow", "StreamType"]
