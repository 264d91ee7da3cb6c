"""`qopt-lower-dataflow`: integer `q` IR -> streaming `dataflow` units.

    qopt-opt q.mlir --pass-pipeline='builtin.module(qopt-lower-dataflow,
        qopt-tile{target-ii=64})'

Every `q` op of the entry function that computes on quantized activations
becomes a hardware unit on streams (`docs/dialects/dataflow.md`):

- `q.conv2d` -> `dataflow.swu` (sliding window, padding with the input's
  zero point; left out for a 1x1 kernel with stride 1 and no padding) +
  `dataflow.mvu` with the weight as a `[O, kh*kw*C]` `q.constant` whose
  columns follow the window order (i, j, c);
- `q.matmul` (rank-2 input, constant `[K, N]` right operand) ->
  `dataflow.mvu` with the weight `[N, K]`, its columns in the order in
  which the input stream delivers K (a flatten of an image streams
  H, W, C, not C, H, W: the weight absorbs the permutation);
- `q.requantize` -> `dataflow.requant`, or with `threshold-bits=N` and a
  result of at most N bits -> `dataflow.threshold` with the exact integer
  thresholds of the requantize (it is monotone, so
  clamp(f(x)) = qmin + #{L : x >= t_L}, t_L = ceil(((L - zo) * 2^s - r) / M));
- `q.threshold` -> `dataflow.threshold` (its integer thresholds minus the
  input's zero point);
- `q.add` -> `dataflow.add`; `q.clamp`, `q.relu` -> `dataflow.clamp`;
  `q.maxpool2d`, `q.avgpool2d` -> `dataflow.pool` (max / sum);
  `q.lut` -> `dataflow.lut`; `nn.flatten`, `nn.reshape` of a stream ->
  `dataflow.reshape` (wiring).

Quantized tensors enter through `dataflow.input` (after `q.quantize`;
a flatten of an input tensor stays on the host, so an MLP streams its
64 features, not an 8x8x1 image) and leave through `dataflow.output`
(before `q.dequantize`). A stream used twice gets a `dataflow.fork`, and an
add operand whose beats must wait for the other operand (the skip branch of
a residual block) a `dataflow.fifo` sized from the cycle model so that the
pipeline cannot deadlock. Weights are re-laid out, never re-quantized:
per-channel scales move to axis 0, and a `q.mixed` map follows its elements
(a row map stays a row map when rows stay rows, outliers move with their
elements, anything else becomes a per-element `block 1` map). Every unit
starts fully folded (lanes, PE and SIMD 1); `qopt-tile` chooses the folding.

Options: `threshold-bits` (0 = never, default; 1..16), `entry`.

Requires: `q` IR from `qopt-quantize` (constant weights). Unsupported ops
(grouped convolutions, non-constant or batched matmuls, broadcasting adds,
per-block activations, ...) are listed in one error line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException, VerifyException

from qopt.passes.entry import entry_function
from qopt.qdialect import dataflow as df
from qopt.qdialect import nn, q
from qopt.qdialect.qtypes import (
    MixedType,
    QuantizedType,
    ThresholdsType,
    UniformType,
)

LOWERED = (
    q.Conv2dOp,
    q.MatmulOp,
    q.RequantizeOp,
    q.ThresholdOp,
    q.AddOp,
    q.ClampOp,
    q.ReluOp,
    q.MaxPool2dOp,
    q.AvgPool2dOp,
    q.LutOp,
)
"""q ops that become units."""

HOST = (q.QuantizeOp, q.DequantizeOp, q.ConstantOp)
"""q ops that stay outside the design."""

RESHAPES = (nn.FlattenOp, nn.ReshapeOp)


class LowerError(Exception):
    """Unsupported input; the message is one line."""


def _name(value: SSAValue) -> str:
    return f"%{value.name_hint}" if value.name_hint else "%<unnamed>"


def _is_q(value: SSAValue) -> bool:
    ty = value.type
    return isinstance(ty, TensorType) and isinstance(ty.element_type, QuantizedType)


def natural_order(qshape: tuple[int, ...]) -> np.ndarray:
    """Flat (row-major) tensor indices of a frame in stream order."""
    index = np.arange(int(np.prod(qshape, dtype=np.int64))).reshape(qshape)
    if len(qshape) == 3:
        index = index.transpose(1, 2, 0)
    return index.ravel()


@dataclass
class Stream:
    """A lowered value: its stream, tensor shape (batch excluded) and the
    tensor's flat indices in stream order."""

    value: SSAValue
    qshape: tuple[int, ...]
    order: np.ndarray = field(repr=False)

    @property
    def natural(self) -> bool:
        return np.array_equal(self.order, natural_order(self.qshape))


# --------------------------------------------------------------------------- #
# Weights
# --------------------------------------------------------------------------- #


def relayout(
    const: q.ConstantOp, gather: np.ndarray, channel_axis: int
) -> tuple[np.ndarray, QuantizedType]:
    """Levels and type of a `[MH, MW]` weight whose element (r, c) is the old
    element with flat index gather[r, c]; `channel_axis` is the old axis of
    the output channels (per-channel scales move to axis 0)."""
    wtype = q.qtype_of(const.output)
    shape = const.output.type.get_shape()
    levels = const.levels().ravel()[gather]
    if not wtype.is_per_tensor and wtype.quantized_axis != channel_axis:
        raise LowerError(
            f"{_name(const.output)}: weight scales must be per tensor or per output "
            "channel"
        )
    axis = None if wtype.is_per_tensor else 0
    if isinstance(wtype, ThresholdsType):
        raise LowerError(f"{_name(const.output)}: threshold-coded weights")
    if not isinstance(wtype, MixedType):
        return levels, wtype if axis is None else df.with_axes(wtype, [0])
    index = wtype.format_index(shape).ravel()[gather]
    gran = wtype.granularity.data
    if gran == "outliers":
        assignment, block = np.flatnonzero(index.ravel() == 1), 0
    elif np.all(index == index[:, :1]):
        gran, assignment, block = "row", index[:, 0], 0
    else:
        gran, assignment, block = "block", index.ravel(), 1
    scales = wtype.scale_values if axis is not None else wtype.scale_values[0]
    mixed = MixedType(
        list(wtype.formats.data),
        gran,
        assignment,
        scales,
        block_size=block,
        axis=axis,
        expressed=wtype.expressed_type,
    )
    return levels, mixed


def requant_thresholds(
    xtype: QuantizedType, otype: UniformType, mult: np.ndarray, shift: np.ndarray
) -> np.ndarray:
    """Integer thresholds [channels, qmax - qmin] on x - zx that reproduce a
    requantize exactly (Python integers: M * 2^s may exceed 64 bits)."""
    lo, hi = q.centred_range(xtype)
    rows = []
    for m, s in zip(mult.tolist(), shift.tolist(), strict=True):
        r = 1 << (s - 1) if s > 0 else 0
        row = []
        for level in range(otype.qmin + 1, otype.qmax + 1):
            num = (level - otype.zero_point) * (1 << s) - r
            t = -((-num) // m)  # ceil(num / m)
            row.append(min(max(t, lo), hi + 1))
        rows.append(row)
    return np.array(rows, dtype=np.int64)


# --------------------------------------------------------------------------- #
# The rewrite
# --------------------------------------------------------------------------- #


def _unsupported(op: Operation, streamed: set[SSAValue]) -> str | None:
    """Why `op` cannot be lowered (a short tag), or None."""
    if isinstance(op, q.Conv2dOp):
        if op.attrs[3] != 1:
            return "group > 1"
        if not isinstance(op.weight.owner, q.ConstantOp):
            return "non-constant weight"
    if isinstance(op, q.MatmulOp):
        if len(op.lhs.type.get_shape()) != 2 or len(op.rhs.type.get_shape()) != 2:
            return "rank != 2"
        if not isinstance(op.rhs.owner, q.ConstantOp):
            return "non-constant weight"
    if isinstance(op, q.AddOp) and op.lhs.type.get_shape() != op.rhs.type.get_shape():
        return "broadcast"
    if isinstance(op, q.ReluOp) and len(set(q.qtype_of(op.input).zp_values)) > 1:
        return "per-channel zero points"
    if isinstance(op, LOWERED):
        return None
    if isinstance(op, (*RESHAPES, *HOST, func.ReturnOp)):
        return None
    if any(v in streamed for v in op.operands):
        return ""
    return None


class Lowering:
    """Rewrites one function; `run()` returns the new units."""

    def __init__(self, fn: func.FuncOp, threshold_bits: int):
        self.fn = fn
        self.block: Block = fn.body.block
        self.threshold_bits = threshold_bits
        self.streams: dict[SSAValue, Stream] = {}
        self.tensors: dict[SSAValue, SSAValue] = {}

    # -- helpers ----------------------------------------------------------- #

    def insert(self, new: Operation, before: Operation, name: str | None = None):
        self.block.insert_op_before(new, before)
        if name is not None and new.results:
            new.results[0].name_hint = name
        return new

    def stream(self, value: SSAValue, before: Operation) -> Stream:
        """The stream of a q value: lowered already, or a new input port."""
        if value in self.streams:
            return self.streams[value]
        if isinstance(value.owner, q.ConstantOp):
            raise LowerError(f"{_name(value)}: a constant activation")
        port = self.insert(df.InputOp(value), before, f"{value.name_hint or 'in'}_s")
        qshape = tuple(value.type.get_shape()[1:])
        entry = Stream(port.output, qshape, natural_order(qshape))
        self.streams[value] = entry
        return entry

    def tensor(self, value: SSAValue, before: Operation) -> SSAValue:
        """The tensor of a lowered q value, through an output port."""
        if value not in self.tensors:
            entry = self.streams[value]
            if not entry.natural:
                raise LowerError(
                    f"{_name(value)}: a stream in permuted order cannot leave "
                    "the design"
                )
            shape = value.type.get_shape()
            port = df.OutputOp(entry.value, batch=shape[0], rank=len(shape))
            self.insert(port, before, f"{value.name_hint or 'out'}_t")
            self.tensors[value] = port.output
        return self.tensors[value]

    def frame_elem(self, value: SSAValue) -> QuantizedType:
        return df.element_for_frame(q.qtype_of(value), len(value.type.get_shape()))

    def define(self, op: Operation, unit: Operation, entry_of: Stream) -> None:
        """`unit` computes op's result, in the layout of `entry_of`."""
        self.streams[op.results[0]] = Stream(
            unit.results[0], entry_of.qshape, entry_of.order
        )

    # -- rules ------------------------------------------------------------- #

    def lower_conv(self, op: q.Conv2dOp) -> None:
        x = self.stream(op.input, op)
        name = op.output.name_hint or "conv"
        strides, pads, dilations, _ = op.attrs
        w = op.weight.owner
        assert isinstance(w, q.ConstantOp)
        o, c, kh, kw = w.output.type.get_shape()
        gather = (
            np.arange(o * c * kh * kw).reshape(o, c, kh, kw).transpose(0, 2, 3, 1)
        ).reshape(o, -1)
        levels, wtype = relayout(w, gather, 0)
        wc = self.insert(q.ConstantOp.from_levels(levels, wtype), op, f"{name}_w")
        src = x.value
        if (kh, kw) != (1, 1) or strides != (1, 1) or any(pads):
            swu = df.SwuOp(src, (kh, kw), strides, pads, dilations)
            src = self.insert(swu, op, f"{name}_win").output
        bias = self.bias(op.bias, op)
        mvu = df.MvuOp(src, wc.output, bias, out_type=self.frame_elem(op.output))
        self.insert(mvu, op, name)
        qshape = tuple(op.output.type.get_shape()[1:])
        self.streams[op.output] = Stream(mvu.output, qshape, natural_order(qshape))

    def bias(self, value: SSAValue | None, op: Operation) -> SSAValue | None:
        if value is None:
            return None
        if not isinstance(value.owner, q.ConstantOp):
            raise LowerError(f"{_name(value)}: a non-constant bias")
        return value

    def lower_matmul(self, op: q.MatmulOp) -> None:
        x = self.stream(op.lhs, op)
        name = op.output.name_hint or "fc"
        w = op.rhs.owner
        assert isinstance(w, q.ConstantOp)
        k, n = w.output.type.get_shape()
        gather = np.arange(k * n).reshape(k, n)[x.order, :].T
        levels, wtype = relayout(w, gather, 1)
        wc = self.insert(q.ConstantOp.from_levels(levels, wtype), op, f"{name}_w")
        bias = self.bias(op.bias, op)
        mvu = df.MvuOp(x.value, wc.output, bias, out_type=self.frame_elem(op.output))
        self.insert(mvu, op, name)
        self.streams[op.output] = Stream(mvu.output, (n,), natural_order((n,)))

    def lower_requantize(self, op: q.RequantizeOp) -> None:
        x = self.stream(op.input, op)
        name = op.output.name_hint or "requant"
        xtype = df.stream_of(x.value).elem
        if (
            not xtype.is_per_tensor
            and xtype.quantized_axis != len(df.stream_of(x.value).shape) - 1
        ):
            raise LowerError(
                f"{_name(op.output)}: per-channel requantize off the channels"
            )
        otype = self.frame_elem(op.output)
        mult, shift = op.channel_params()
        assert isinstance(otype, UniformType)
        if 0 < otype.width <= self.threshold_bits:
            n = len(xtype.scale_values)
            mult = np.broadcast_to(mult, (n,))
            shift = np.broadcast_to(shift, (n,))
            table = requant_thresholds(xtype, otype, mult, shift)
            lo, hi = q.centred_range(xtype)
            width = q.signed_width(min(lo, int(table.min())), hi + 1)
            axis = None if xtype.is_per_tensor else 0
            scales = xtype.scale_values if axis is not None else xtype.scale
            ttype = UniformType(
                width, True, scales, axis=axis, expressed=xtype.expressed_type
            )
            tc = q.ConstantOp.from_levels(table, ttype)
            self.insert(tc, op, f"{name}_thr")
            unit = df.ThresholdOp(x.value, tc.output, otype)
        else:
            unit = df.RequantOp(x.value, otype, mult.tolist(), shift.tolist())
        self.insert(unit, op, name)
        self.define(op, unit, x)

    def lower_threshold(self, op: q.ThresholdOp) -> None:
        x = self.stream(op.input, op)
        st = df.stream_of(x.value)
        name = op.output.name_hint or "thr"
        xtype = st.elem
        rank = len(op.input.type.get_shape())
        axis = op.channel_axis()
        if axis is not None and df.frame_axes(rank).index(axis) != len(st.shape) - 1:
            raise LowerError(
                f"{_name(op.output)}: thresholds per channel off the channels"
            )
        table = op.threshold_array()
        zx = np.array(xtype.zp_values, dtype=np.int64)[:, None]
        table = table - zx  # compares of x - zx
        lo, hi = q.centred_range(xtype)
        width = q.signed_width(min(lo, int(table.min())), max(hi + 1, int(table.max())))
        per_axis = not xtype.is_per_tensor
        ttype = UniformType(
            width,
            True,
            xtype.scale_values if per_axis else xtype.scale,
            axis=0 if per_axis else None,
            expressed=xtype.expressed_type,
        )
        tc = self.insert(q.ConstantOp.from_levels(table, ttype), op, f"{name}_thr")
        unit = df.ThresholdOp(x.value, tc.output, self.frame_elem(op.output))
        self.insert(unit, op, name)
        self.define(op, unit, x)

    def lower_add(self, op: q.AddOp) -> None:
        a, b = self.stream(op.lhs, op), self.stream(op.rhs, op)
        if not np.array_equal(a.order, b.order):
            raise LowerError(f"{_name(op.output)}: operands stream in different orders")
        unit = df.AddOp(a.value, b.value, self.frame_elem(op.output))
        self.insert(unit, op, op.output.name_hint)
        self.define(op, unit, a)

    def lower_clamp(self, op: q.ClampOp | q.ReluOp) -> None:
        x = self.stream(op.input, op)
        if isinstance(op, q.ClampOp):
            lo, hi = op.min.value.data, op.max.value.data
        else:
            qtype = q.qtype_of(op.input)
            lo, hi = qtype.zp_values[0], qtype.max_level
        unit = df.ClampOp(x.value, lo, hi)
        self.insert(unit, op, op.output.name_hint)
        self.define(op, unit, x)

    def lower_pool(self, op: q.MaxPool2dOp | q.AvgPool2dOp) -> None:
        x = self.stream(op.input, op)
        kernel, strides, pads, dilations, ceil = op.window
        kind = "max" if isinstance(op, q.MaxPool2dOp) else "sum"
        unit = df.PoolOp(
            x.value,
            kind,
            kernel,
            strides,
            pads,
            dilations,
            ceil,
            out_type=self.frame_elem(op.output),
        )
        self.insert(unit, op, op.output.name_hint)
        qshape = tuple(op.output.type.get_shape()[1:])
        self.streams[op.output] = Stream(unit.output, qshape, natural_order(qshape))

    def lower_lut(self, op: q.LutOp) -> None:
        x = self.stream(op.input, op)
        unit = df.LutOp(x.value, op.table.data, self.frame_elem(op.output))
        self.insert(unit, op, op.output.name_hint)
        self.define(op, unit, x)

    def lower_reshape(self, op: Operation) -> None:
        x = self.streams[op.operands[0]]
        shape = op.results[0].type.get_shape()
        if shape[0] != op.operands[0].type.get_shape()[0]:
            raise LowerError(f"{_name(op.results[0])}: a reshape across the batch")
        qshape = tuple(shape[1:])
        entry = Stream(x.value, qshape, x.order)
        frame = df.frame_of(shape) if entry.natural else (int(np.prod(qshape)),)
        if frame != df.stream_of(x.value).shape:
            unit = df.ReshapeOp(x.value, frame)
            self.insert(unit, op, op.results[0].name_hint)
            entry = Stream(unit.output, qshape, x.order)
        self.streams[op.results[0]] = entry

    # -- driver ------------------------------------------------------------ #

    def check(self) -> None:
        """One error listing every op that cannot be lowered."""
        streamed: set[SSAValue] = set()
        bad: dict[str, list[str]] = {}
        for op in self.block.ops:
            if isinstance(op, LOWERED) or (
                isinstance(op, RESHAPES) and op.operands[0] in streamed
            ):
                streamed.update(op.results)
            why = _unsupported(op, streamed)
            if why is not None:
                key = op.name + (f" [{why}]" if why else "")
                bad.setdefault(key, []).append(
                    _name(op.results[0]) if op.results else ""
                )
        if bad:
            listed = ", ".join(
                f"{k} ({len(v)}: {', '.join(v[:3])})" for k, v in sorted(bad.items())
            )
            raise LowerError(f"cannot lower to dataflow: unsupported ops {listed}")

    def run(self) -> None:
        self.check()
        rules = {
            q.Conv2dOp: self.lower_conv,
            q.MatmulOp: self.lower_matmul,
            q.RequantizeOp: self.lower_requantize,
            q.ThresholdOp: self.lower_threshold,
            q.AddOp: self.lower_add,
            q.ClampOp: self.lower_clamp,
            q.ReluOp: self.lower_clamp,
            q.MaxPool2dOp: self.lower_pool,
            q.AvgPool2dOp: self.lower_pool,
            q.LutOp: self.lower_lut,
        }
        lowered: list[Operation] = []
        for op in list(self.block.ops):
            rule = rules.get(type(op))
            if rule is not None:
                rule(op)
                lowered.append(op)
            elif isinstance(op, RESHAPES) and op.operands[0] in self.streams:
                self.lower_reshape(op)
                lowered.append(op)
            else:
                for i, v in enumerate(op.operands):
                    if v in self.streams:
                        op.operands[i] = self.tensor(v, op)
        for op in reversed(lowered):
            self.block.erase_op(op)
        for op in reversed(list(self.block.ops)):
            if isinstance(op, q.ConstantOp) and not op.output.uses:
                self.block.erase_op(op)
        self.fork_shared_streams()

    def fork_shared_streams(self) -> None:
        """A stream with several users gets a `dataflow.fork`."""
        position = {op: i for i, op in enumerate(self.block.ops)}
        for op in list(self.block.ops):
            for r in op.results:
                if not isinstance(r.type, df.StreamType) or r.uses.get_length() < 2:
                    continue
                uses = sorted(r.uses, key=lambda u: (position[u.operation], u.index))
                fork = df.ForkOp(r, len(uses))
                self.block.insert_op_after(fork, op)
                for i, (use, out) in enumerate(zip(uses, fork.outputs, strict=True)):
                    out.name_hint = f"{r.name_hint or 's'}_f{i}"
                    use.operation.operands[use.index] = out


@dataclass(frozen=True)
class LowerDataflowPass(ModulePass):
    """Lowers the `q` ops of a function to `dataflow` units on streams
    (matrix-vector units, sliding windows, pools, requantize or threshold
    units, adds, tables), fully folded, with forks and deadlock-free FIFOs.
    The module docstring gives the rules.

    Requires: `q` IR with constant weights (qopt-quantize).
    """

    name = "qopt-lower-dataflow"

    threshold_bits: int = 0
    entry: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.threshold_bits <= 16:
            raise ValueError(
                f"option 'threshold-bits' must be in [0, 16], got {self.threshold_bits}"
            )

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from qopt.passes.tile import insert_fifos

        fn = entry_function(op, self.entry, "lower to dataflow", PassFailedException)
        try:
            Lowering(fn, self.threshold_bits).run()
            insert_fifos(fn)
            fn.verify()
        except (LowerError, VerifyException) as e:
            raise PassFailedException(" ".join(str(e).split())) from None
