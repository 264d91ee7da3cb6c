"""Run an `nn` function as a `torch.nn.Module` (for training passes).

`TorchGraph(fn)` translates the ops of one `func.func` on `nn` IR into a
module that executes them op by op in torch, so that gradient-based passes
(`qopt-qat`) can fine-tune the model's float constants: every float
`nn.constant` becomes an `nn.Parameter` (integer and boolean constants
become buffers), and `write_back()` stores the parameters' current values
into the constants again (bit-exact: the values round to the constant's
element type once).

Every `nn` op has one torch function (`TORCH_OPS`) that follows the numpy
reference executor (`qopt.backends.reference.nn`, ONNX semantics): pads
`[top, left, bottom, right]`, ONNX `ceil_mode` pooling, average pools
dividing by the taps inside the (padded) input, integer results wrapped to
their width, float-to-integer casts by the reference's own rules (not
differentiable). The float results agree with the reference executor to
float32 rounding (about 1e-6 relative; `tests/py/test_qat.py` checks all
models of `qopt.models.zoo`).

A function holding an op without a torch function (another dialect's op,
an unregistered op) is rejected at construction with one line that names
every such op and its count (`GraphError`).

Subclasses change how ops run by overriding `bind_arguments` (the function
arguments) and `execute` (one op); `forward` walks the block in order.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    Float16Type,
    Float32Type,
    Float64Type,
    IntegerType,
    Signedness,
    TensorType,
)
from xdsl.ir import Attribute, Operation, SSAValue

from qopt.backends.reference.nn import (
    cast_array,
    dense_to_numpy,
    numpy_dtype,
    numpy_to_dense,
    pool_padding,
)
from qopt.qdialect import nn
from qopt.qdialect.shapes import DYN, num_elements, slice_bounds

Tensor = torch.Tensor
Env = dict[SSAValue, Tensor]


class GraphError(Exception):
    """IR that the torch translation cannot run; the message is one line."""


# --------------------------------------------------------------------------- #
# Types
# --------------------------------------------------------------------------- #


def torch_dtype(element_type: Attribute) -> torch.dtype:
    """The torch dtype holding values of a builtin element type (integers as
    int64, `i1` as bool), as the reference executor's numpy dtypes."""
    return {
        np.dtype(np.float32): torch.float32,
        np.dtype(np.float64): torch.float64,
        np.dtype(np.float16): torch.float16,
        np.dtype(np.bool_): torch.bool,
    }.get(numpy_dtype(element_type), torch.int64)


def _element(value: SSAValue) -> Attribute:
    ty = value.type
    assert isinstance(ty, TensorType)
    return ty.element_type


def _shape(value: SSAValue) -> tuple[int, ...]:
    """The static shape with dynamic dimensions as -1."""
    ty = value.type
    assert isinstance(ty, TensorType)
    return tuple(-1 if d == DYN else d for d in ty.get_shape())


def wrap(t: Tensor, element_type: Attribute) -> Tensor:
    """Integers reduced to the width of an iN/uiN type (as `wrap_integers`)."""
    if not isinstance(element_type, IntegerType) or t.dtype != torch.int64:
        return t
    width = element_type.width.data
    if width == 1 or width >= 64:
        return t
    mask = (1 << width) - 1
    wrapped = t & mask
    if element_type.signedness.data != Signedness.UNSIGNED:
        half = 1 << (width - 1)
        wrapped = ((wrapped + half) & mask) - half
    return wrapped


def _result(op: Operation, t: Tensor, index: int = 0) -> Tensor:
    """`t` in the dtype of the op's result (integers wrapped)."""
    elt = _element(op.results[index])
    return wrap(t.to(torch_dtype(elt)), elt)


# --------------------------------------------------------------------------- #
# Windows
# --------------------------------------------------------------------------- #


def pad_nchw(x: Tensor, pads: Sequence[int], value: float = 0.0) -> Tensor:
    """Pad H and W of an NCHW tensor by [top, left, bottom, right]."""
    if not any(pads):
        return x
    return F.pad(x, (pads[1], pads[3], pads[0], pads[2]), value=value)


def maxpool2d(
    x: Tensor,
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    ceil_mode: bool,
) -> Tensor:
    """ONNX MaxPool: padding never wins (it reads as -inf)."""
    (oh, ow), applied = pool_padding(
        x.shape, kernel, strides, pads, dilations, ceil_mode
    )
    low = -math.inf if x.is_floating_point() else torch.iinfo(x.dtype).min
    xp = pad_nchw(x, applied, low)
    y = F.max_pool2d(xp, tuple(kernel), tuple(strides), 0, tuple(dilations))
    return y[:, :, :oh, :ow]


def window_sums(
    x: Tensor,
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    ceil_mode: bool,
) -> tuple[Tensor, tuple[int, int, int, int]]:
    """Zero-padded window sums of an NCHW tensor and the padding applied."""
    (oh, ow), applied = pool_padding(x.shape, kernel, strides, pads, (1, 1), ceil_mode)
    xp = pad_nchw(x, applied)
    c = x.shape[1]
    ones = torch.ones((c, 1, *kernel), dtype=x.dtype)
    sums = F.conv2d(xp, ones, stride=tuple(strides), groups=c)
    return sums[:, :, :oh, :ow], applied


def avgpool2d(
    x: Tensor,
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    ceil_mode: bool,
    count_include_pad: bool,
) -> Tensor:
    """ONNX AveragePool: window sums over the count of taps inside the input
    (or the padded input with `count_include_pad`)."""
    sums, applied = window_sums(x, kernel, strides, pads, ceil_mode)
    h, w = x.shape[2], x.shape[3]
    hp, wp = h + applied[0] + applied[2], w + applied[1] + applied[3]
    mask = torch.zeros((1, 1, hp, wp), dtype=x.dtype)
    if count_include_pad:
        mask[..., : h + pads[0] + pads[2], : w + pads[1] + pads[3]] = 1
    else:
        mask[..., pads[0] : pads[0] + h, pads[1] : pads[1] + w] = 1
    ones = torch.ones((1, 1, *kernel), dtype=x.dtype)
    counts = F.conv2d(mask, ones, stride=tuple(strides))
    return sums / counts[:, :, : sums.shape[2], : sums.shape[3]]


def conv2d(
    x: Tensor,
    w: Tensor,
    b: Tensor | None,
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    group: int,
) -> Tensor:
    """ONNX Conv (NCHW, OIHW, pads [top, left, bottom, right])."""
    return F.conv2d(pad_nchw(x, pads), w, b, tuple(strides), 0, tuple(dilations), group)


# --------------------------------------------------------------------------- #
# One torch function per nn op
# --------------------------------------------------------------------------- #

OpFn = Callable[[Any, list[Tensor]], tuple[Tensor, ...]]


def _conv2d(op: nn.Conv2dOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    strides, pads, dilations, group = op.attrs
    return (
        conv2d(a[0], a[1], a[2] if op.bias else None, strides, pads, dilations, group),
    )


def _conv_transpose2d(op: nn.ConvTranspose2dOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    strides, pads, dilations, group, output_padding = op.attrs
    y = F.conv_transpose2d(
        a[0],
        a[1],
        a[2] if op.bias is not None else None,
        tuple(strides),
        0,
        tuple(output_padding),
        group,
        tuple(dilations),
    )
    h, w = y.shape[2], y.shape[3]
    return (y[:, :, pads[0] : h - pads[2], pads[1] : w - pads[3]],)


def _gemm(op: nn.GemmOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    alpha, beta, ta, tb = op.attrs
    x = a[0].T if ta else a[0]
    w = a[1].T if tb else a[1]
    y = x @ w
    if alpha != 1.0:
        y = y * float(np.float32(alpha))
    if op.c is not None:
        y = y + (a[2] if beta == 1.0 else a[2] * float(np.float32(beta)))
    return (y,)


def _batchnorm(op: nn.BatchNormOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    x, scale, bias, mean, var = a
    eps = float(np.float32(nn.float_value(op.epsilon, 1e-5)))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    inv = scale / torch.sqrt(var + eps)
    return ((x - mean.reshape(shape)) * inv.reshape(shape) + bias.reshape(shape),)


def _layernorm(op: nn.LayerNormOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    x = a[0]
    axis, epsilon = op.attrs
    axes = tuple(range(axis % x.ndim, x.ndim))
    mean = x.mean(dim=axes, keepdim=True)
    d = x - mean
    var = (d * d).mean(dim=axes, keepdim=True)
    y = d / torch.sqrt(var + float(np.float32(epsilon))) * a[1]
    if op.bias is not None:
        y = y + a[2]
    return (y,)


def _lrn(op: nn.LRNOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    x = a[0]
    size, alpha, beta, bias = op.attrs
    lo = (size - 1) // 2
    squares = F.pad(x * x, [0, 0] * (x.ndim - 2) + [lo, size - 1 - lo])
    sums = squares.unfold(1, size, 1).sum(dim=-1)
    return (x * (bias + alpha / size * sums) ** -beta,)


def _axis(fn: Callable[[Tensor, int], Tensor]) -> OpFn:
    return lambda op, a: (fn(a[0], op.attrs),)


def _binary(fn: Callable[[Tensor, Tensor], Tensor]) -> OpFn:
    return lambda op, a: (_result(op, fn(a[0], a[1])),)


def _unary(fn: Callable[[Tensor], Tensor]) -> OpFn:
    return lambda op, a: (_result(op, fn(a[0])),)


def _div(op: nn.DivOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    x, y = a
    if x.is_floating_point():
        return (x / y,)
    if bool((y == 0).any()):
        raise GraphError("nn.div: integer division by zero")
    return (_result(op, torch.div(x, y, rounding_mode="trunc")),)


def _pow(op: nn.PowOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    x, y = a
    if x.is_floating_point():
        return (torch.pow(x, y.to(x.dtype)),)
    real = torch.pow(x.to(torch.float64), y.to(torch.float64))
    return (torch.from_numpy(cast_array(real.numpy(), _element(op.output))),)


def _clip(op: nn.ClipOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    x = a[0]
    lo, hi = op.attrs
    if not x.is_floating_point():
        lo = math.ceil(lo) if lo > -math.inf else None
        hi = math.floor(hi) if hi < math.inf else None
    else:
        lo = None if lo == -math.inf else float(lo)
        hi = None if hi == math.inf else float(hi)
    if lo is None and hi is None:
        return (x,)
    return (torch.clamp(x, lo, hi),)


def _gelu(op: nn.GeluOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    return (F.gelu(a[0], approximate=op.attrs),)


def _elu(op: nn.EluOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    x = a[0]
    return (torch.where(x >= 0, x, op.attrs * torch.expm1(x)),)


def _selu(op: nn.SeluOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    x = a[0]
    alpha, gamma = op.attrs
    return (gamma * torch.where(x > 0, x, alpha * torch.expm1(x)),)


def _hard_sigmoid(op: nn.HardSigmoidOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    alpha, beta = op.attrs
    return (torch.clamp(alpha * a[0] + beta, 0.0, 1.0),)


def _hard_swish(op: nn.HardSwishOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    x = a[0]
    return (x * torch.clamp(x * float(np.float32(1 / 6)) + 0.5, 0.0, 1.0),)


def _leaky_relu(op: nn.LeakyReluOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    x = a[0]
    return (torch.where(x >= 0, x, op.attrs * x),)


def _relu(op: nn.ReluOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    return (torch.clamp(a[0], min=0),)


def _cast(op: nn.CastOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    elt = _element(op.output)
    dtype = torch_dtype(elt)
    x = a[0]
    if dtype.is_floating_point:
        return (x.to(dtype),)
    # to integers or i1: the reference's rules (not differentiable)
    return (torch.from_numpy(cast_array(x.detach().numpy(), elt)),)


def _maxpool(op: nn.MaxPool2dOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    return (maxpool2d(a[0], *op.attrs),)


def _avgpool(op: nn.AvgPool2dOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    return (avgpool2d(a[0], *op.attrs),)


def _global_avgpool(op: nn.GlobalAvgPoolOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    x = a[0]
    return (x.mean(dim=tuple(range(2, x.ndim)), keepdim=True),)


def _reshape(op: nn.ReshapeOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    return (a[0].reshape(_shape(op.output)),)


def _transpose(op: nn.TransposeOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    return (a[0].permute(*op.perm.get_values()),)


def _flatten(op: nn.FlattenOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    x = a[0]
    axis = op.attrs + x.ndim if op.attrs < 0 else op.attrs
    shape = (num_elements(x.shape[:axis]), num_elements(x.shape[axis:]))
    return (x.reshape(shape),)


def _concat(op: nn.ConcatOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    return (torch.cat(a, dim=op.attrs),)


def _split(op: nn.SplitOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    x = a[0]
    axis = op.attrs % x.ndim
    sizes = list(op.sizes())
    if DYN in sizes or sum(sizes) != x.shape[axis]:
        raise GraphError(
            f"nn.split: sizes {sizes} do not split the {x.shape[axis]} elements "
            f"along axis {axis}"
        )
    return tuple(torch.split(x, sizes, dim=axis))


def _slice(op: nn.SliceOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    x = a[0]
    starts, ends, axes, steps = op.attrs
    for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
        axis %= x.ndim
        lo, _, length = slice_bounds(x.shape[axis], start, end, step)
        index = torch.arange(length, dtype=torch.int64) * step + lo
        x = x.index_select(axis, index)
    return (x,)


def _gather(op: nn.GatherOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    data, indices = a
    axis = op.attrs % data.ndim
    size = data.shape[axis]
    idx = indices.to(torch.int64)
    if idx.numel() and (int(idx.min()) < -size or int(idx.max()) >= size):
        raise GraphError(
            f"nn.gather: index out of range [-{size}, {size}) along axis {axis}"
        )
    idx = torch.where(idx < 0, idx + size, idx)
    picked = data.index_select(axis, idx.reshape(-1))
    shape = (*data.shape[:axis], *idx.shape, *data.shape[axis + 1 :])
    return (picked.reshape(shape),)


def _pad(op: nn.PadOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    x = a[0]
    pads, mode, value = op.attrs
    rank = x.ndim
    for axis in range(rank):
        begin, end = pads[axis], pads[rank + axis]
        if begin == 0 and end == 0:
            continue
        size = x.shape[axis]
        lo, hi = max(0, -begin), size - max(0, -end)
        if hi < lo:
            raise GraphError(f"nn.pad: pads {list(pads)} crop axis {axis} below 0")
        width = (max(0, begin), max(0, end))
        if mode == "constant":
            x = x.narrow(axis, lo, hi - lo)
            moved = x.movedim(axis, -1)
            fill = value if x.is_floating_point() else int(value)
            moved = F.pad(moved, width, value=fill)
            x = moved.movedim(-1, axis)
        else:
            numpy_mode = "reflect" if mode == "reflect" else "edge"
            index = np.pad(np.arange(lo, hi), width, mode=numpy_mode)
            x = x.index_select(axis, torch.from_numpy(index))
    return (x,)


def _expand(op: nn.ExpandOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    x = a[0]
    shape = list(_shape(op.output))
    offset = len(shape) - x.ndim
    for i, d in enumerate(shape):
        if d == -1:
            shape[i] = x.shape[i - offset] if i >= offset else 1
    return (x.expand(shape).clone(),)


def _reduce(fn: Callable[..., Tensor]) -> OpFn:
    def run(op: nn.ReduceOp, a: list[Tensor]) -> tuple[Tensor, ...]:
        axes, keepdims = op.attrs
        if not axes:
            return (a[0],)
        return (_result(op, fn(a[0], dim=tuple(axes), keepdim=keepdims)),)

    return run


def _where(op: nn.WhereOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    return (_result(op, torch.where(a[0], a[1], a[2])),)


def _prelu(op: nn.PReluOp, a: list[Tensor]) -> tuple[Tensor, ...]:
    x, slope = a
    return (torch.where(x < 0, slope * x, x),)


def _neg(x: Tensor) -> Tensor:
    return -x


TORCH_OPS: dict[type[Operation], OpFn] = {
    nn.Conv2dOp: _conv2d,
    nn.ConvTranspose2dOp: _conv_transpose2d,
    nn.GemmOp: _gemm,
    nn.MatMulOp: _binary(torch.matmul),
    nn.BatchNormOp: _batchnorm,
    nn.LayerNormOp: _layernorm,
    nn.LRNOp: _lrn,
    nn.SoftmaxOp: _axis(lambda x, axis: torch.softmax(x, axis)),
    nn.LogSoftmaxOp: _axis(lambda x, axis: torch.log_softmax(x, axis)),
    nn.AddOp: _binary(torch.add),
    nn.SubOp: _binary(torch.sub),
    nn.MulOp: _binary(torch.mul),
    nn.DivOp: _div,
    nn.PowOp: _pow,
    nn.MinOp: _binary(torch.minimum),
    nn.MaxOp: _binary(torch.maximum),
    nn.ReluOp: _relu,
    nn.LeakyReluOp: _leaky_relu,
    nn.ClipOp: _clip,
    nn.SigmoidOp: _unary(torch.sigmoid),
    nn.TanhOp: _unary(torch.tanh),
    nn.GeluOp: _gelu,
    nn.ErfOp: _unary(torch.erf),
    nn.ExpOp: _unary(torch.exp),
    nn.SqrtOp: _unary(torch.sqrt),
    nn.NegOp: _unary(_neg),
    nn.AbsOp: _unary(torch.abs),
    nn.LogOp: _unary(torch.log),
    nn.ReciprocalOp: _unary(torch.reciprocal),
    nn.SoftplusOp: _unary(lambda x: torch.logaddexp(torch.zeros_like(x), x)),
    nn.SoftsignOp: _unary(lambda x: x / (1 + torch.abs(x))),
    nn.EluOp: _elu,
    nn.SeluOp: _selu,
    nn.HardSigmoidOp: _hard_sigmoid,
    nn.HardSwishOp: _hard_swish,
    nn.PReluOp: _prelu,
    nn.EqualOp: _binary(torch.eq),
    nn.LessOp: _binary(torch.lt),
    nn.GreaterOp: _binary(torch.gt),
    nn.NotOp: _unary(torch.logical_not),
    nn.WhereOp: _where,
    nn.CastOp: _cast,
    nn.MaxPool2dOp: _maxpool,
    nn.AvgPool2dOp: _avgpool,
    nn.GlobalAvgPoolOp: _global_avgpool,
    nn.ReshapeOp: _reshape,
    nn.TransposeOp: _transpose,
    nn.FlattenOp: _flatten,
    nn.ConcatOp: _concat,
    nn.SplitOp: _split,
    nn.SliceOp: _slice,
    nn.GatherOp: _gather,
    nn.PadOp: _pad,
    nn.ExpandOp: _expand,
    nn.ReduceMeanOp: _reduce(torch.mean),
    nn.ReduceSumOp: _reduce(torch.sum),
    nn.ReduceMaxOp: _reduce(torch.amax),
}
"""The torch function of every `nn` op: (op, operand tensors) -> results."""


def run_op(op: Operation, args: list[Tensor]) -> tuple[Tensor, ...]:
    """Run one `nn` op (not nn.constant) on torch tensors."""
    return TORCH_OPS[type(op)](op, args)


def unsupported_ops(fn: func.FuncOp) -> list[str]:
    """`'name' (count)` of every op in `fn` without a torch function."""
    counts = Counter(
        op.name
        for op in fn.body.walk()
        if not isinstance(op, nn.ConstantOp | func.ReturnOp)
        and type(op) not in TORCH_OPS
    )
    return [f"'{name}' ({n})" if n > 1 else f"'{name}'" for name, n in counts.items()]


# --------------------------------------------------------------------------- #
# The module
# --------------------------------------------------------------------------- #


def _is_float(value: SSAValue) -> bool:
    ty = value.type
    return isinstance(ty, TensorType) and isinstance(
        ty.element_type, Float16Type | Float32Type | Float64Type
    )


class TorchGraph(torch.nn.Module):
    """The entry function `fn` of `nn` IR as a torch module.

    `forward(*inputs)` takes one tensor (or array) per argument and returns
    the function's results as a tuple. Float constants are parameters
    (`constant_parameters`), the rest buffers; `write_back()` stores the
    parameters into the IR's constants.
    """

    def __init__(self, fn: func.FuncOp):
        super().__init__()
        missing = unsupported_ops(fn)
        if missing:
            raise GraphError(
                f"@{fn.sym_name.data} has ops that cannot run in torch: "
                + ", ".join(missing)
            )
        block = fn.body.blocks.first
        if block is None:
            raise GraphError(f"@{fn.sym_name.data} has no body")
        self.fn = fn
        self.ops: list[Operation] = list(block.ops)
        self.args = list(block.args)
        self.params = torch.nn.ParameterList()
        self.constant_index: dict[nn.ConstantOp, int] = {}
        self.buffer_names: dict[nn.ConstantOp, str] = {}
        for op in self.ops:
            if not isinstance(op, nn.ConstantOp):
                continue
            array = dense_to_numpy(op.value)
            tensor = torch.from_numpy(np.array(array))
            if _is_float(op.output):
                self.constant_index[op] = len(self.params)
                self.params.append(torch.nn.Parameter(tensor))
            else:
                name = f"const{len(self.buffer_names)}"
                self.register_buffer(name, tensor, persistent=False)
                self.buffer_names[op] = name

    # ------------------------------------------------------------ constants

    def constant(self, op: nn.ConstantOp) -> Tensor:
        """The current value of a constant (its parameter or buffer)."""
        index = self.constant_index.get(op)
        if index is not None:
            return self.params[index]
        return getattr(self, self.buffer_names[op])

    def parameter(self, value: SSAValue) -> torch.nn.Parameter | None:
        """The parameter of a float `nn.constant` result, else None."""
        op = value.owner
        if isinstance(op, nn.ConstantOp) and op in self.constant_index:
            return self.params[self.constant_index[op]]
        return None

    def write_back(self) -> None:
        """Store every parameter's value into its `nn.constant`."""
        for op, index in self.constant_index.items():
            array = self.params[index].detach().numpy()
            ty = op.output.type
            assert isinstance(ty, TensorType)
            op.value = numpy_to_dense(array, ty)  # type: ignore[misc]

    # ---------------------------------------------------------------- running

    def inputs(self, values: Sequence[Any]) -> list[Tensor]:
        """The inputs as tensors of the arguments' dtypes."""
        if len(values) != len(self.args):
            raise GraphError(
                f"@{self.fn.sym_name.data} takes {len(self.args)} arguments, "
                f"{len(values)} given"
            )
        out = []
        for arg, v in zip(self.args, values, strict=True):
            t = v if isinstance(v, Tensor) else torch.from_numpy(np.asarray(v))
            out.append(t.to(torch_dtype(_element(arg))))
        return out

    def bind_arguments(self, env: Env, inputs: list[Tensor]) -> None:
        for arg, t in zip(self.args, inputs, strict=True):
            env[arg] = t

    def execute(self, op: Operation, env: Env) -> None:
        """Run one op on the values in `env` and store its results."""
        if isinstance(op, nn.ConstantOp):
            env[op.output] = self.constant(op)
            return
        results = run_op(op, [env[v] for v in op.operands])
        for value, t in zip(op.results, results, strict=True):
            env[value] = t

    def forward(self, *values: Any) -> tuple[Tensor, ...]:
        env: Env = {}
        self.bind_arguments(env, self.inputs(values))
        outputs: tuple[Tensor, ...] = ()
        for op in self.ops:
            if isinstance(op, func.ReturnOp):
                outputs = tuple(env[v] for v in op.operands)
            else:
                self.execute(op, env)
        return outputs
