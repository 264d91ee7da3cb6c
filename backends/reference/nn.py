"""Reference implementations of the `nn` ops: numpy, float32, batch-vectorised.

Each implementation follows ONNX's definition of the op it mirrors (see
`docs/dialects/nn.md`). Convolutions go through im2col + one matmul.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    Float16Type,
    Float32Type,
    Float64Type,
    IntegerType,
    Signedness,
    TensorType,
)
from xdsl.interpreter import Interpreter, InterpreterFunctions, impl, register_impls
from xdsl.ir import Attribute

from qopt.qdialect import nn
from qopt.qdialect.shapes import DYN

PyValues = tuple[Any, ...]


def numpy_dtype(element_type: Attribute) -> np.dtype:
    """The numpy dtype that holds values of a builtin element type."""
    if isinstance(element_type, Float32Type):
        return np.dtype(np.float32)
    if isinstance(element_type, Float64Type):
        return np.dtype(np.float64)
    if isinstance(element_type, Float16Type):
        return np.dtype(np.float16)
    if isinstance(element_type, IntegerType):
        if element_type.width.data == 1:
            return np.dtype(np.bool_)
        return np.dtype(np.int64)
    # quantized element types hold integer levels
    return np.dtype(np.int64)


def dense_to_numpy(attr: DenseIntOrFPElementsAttr) -> np.ndarray:
    """The value of a dense attribute as a numpy array of its type's shape."""
    ty = attr.get_type()
    dtype = numpy_dtype(ty.get_element_type())
    elt = ty.get_element_type()
    if isinstance(elt, IntegerType):
        width = elt.width.data
        raw = np.frombuffer(attr.data.data, dtype=f"<i{max(1, width // 8)}" if width > 1 else np.int8)
        if elt.signedness.data == Signedness.UNSIGNED:
            raw = np.frombuffer(attr.data.data, dtype=f"<u{max(1, width // 8)}")
        values = raw.astype(dtype)
    else:
        values = np.frombuffer(attr.data.data, dtype=np.dtype(dtype).newbyteorder("<"))
        values = values.astype(dtype)
    shape = ty.get_shape()
    if values.size == 1 and int(np.prod(shape)) != 1:
        return np.broadcast_to(values.reshape(()), shape).copy()
    return values.reshape(shape)


def result_shape(op, index: int = 0) -> tuple[int, ...]:
    """The result's static shape with dynamic dimensions as -1 (for reshape)."""
    ty = op.results[index].type
    assert isinstance(ty, TensorType)
    return tuple(-1 if d == DYN else d for d in ty.get_shape())


def im2col(
    x: np.ndarray,
    kernel: tuple[int, int],
    strides: tuple[int, ...],
    pads: tuple[int, ...],
    dilations: tuple[int, ...],
    pad_value: float = 0.0,
) -> tuple[np.ndarray, int, int]:
    """Windows of an NCHW tensor as [N, OH, OW, C, kh, kw] (a strided view).

    Returns the windows and (OH, OW). Padding is [top, left, bottom, right].
    """
    kh, kw = kernel
    sh, sw = strides
    dh, dw = dilations
    xp = np.pad(
        x,
        ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])),
        constant_values=pad_value,
    )
    n, c, h, w = xp.shape
    oh = (h - dh * (kh - 1) - 1) // sh + 1
    ow = (w - dw * (kw - 1) - 1) // sw + 1
    s = xp.strides
    windows = np.lib.stride_tricks.as_strided(
        xp,
        shape=(n, oh, ow, c, kh, kw),
        strides=(s[0], s[2] * sh, s[3] * sw, s[1], s[2] * dh, s[3] * dw),
        writeable=False,
    )
    return windows, oh, ow


def conv2d(
    x: np.ndarray,
    w: np.ndarray,
    strides: tuple[int, ...],
    pads: tuple[int, ...],
    dilations: tuple[int, ...],
    group: int,
    acc_dtype: Any = np.float32,
) -> np.ndarray:
    """Grouped 2-D convolution via im2col + matmul; returns [N, O, OH, OW].

    Shared with the `q` executor, which calls it with integer arrays and an
    int64 accumulator.
    """
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    windows, oh, ow = im2col(x, (kh, kw), strides, pads, dilations)
    og = o // group
    out = np.empty((n, o, oh, ow), dtype=acc_dtype)
    for g in range(group):
        cols = windows[:, :, :, g * cg : (g + 1) * cg].reshape(n * oh * ow, cg * kh * kw)
        wg = w[g * og : (g + 1) * og].reshape(og, cg * kh * kw)
        res = cols.astype(acc_dtype) @ wg.astype(acc_dtype).T
        out[:, g * og : (g + 1) * og] = res.reshape(n, oh, ow, og).transpose(0, 3, 1, 2)
    return out


@register_impls
class NNFunctions(InterpreterFunctions):
    """Implementations of every `nn` op for xDSL's interpreter."""

    @impl(nn.ConstantOp)
    def run_constant(self, interp: Interpreter, op: nn.ConstantOp, args: PyValues):
        return (dense_to_numpy(op.value),)

    @impl(nn.Conv2dOp)
    def run_conv2d(self, interp: Interpreter, op: nn.Conv2dOp, args: PyValues):
        x, w = args[0], args[1]
        strides, pads, dilations, group = op.attrs
        y = conv2d(x, w, strides, pads, dilations, group)
        if op.bias is not None:
            y += args[2].reshape(1, -1, 1, 1)
        return (y.astype(np.float32),)

    @impl(nn.GemmOp)
    def run_gemm(self, interp: Interpreter, op: nn.GemmOp, args: PyValues):
        alpha, beta, ta, tb = op.attrs
        a = args[0].T if ta else args[0]
        b = args[1].T if tb else args[1]
        y = np.float32(alpha) * (a @ b)
        if op.c is not None:
            y = y + np.float32(beta) * args[2]
        return (y.astype(np.float32),)

    @impl(nn.BatchNormOp)
    def run_batchnorm(self, interp: Interpreter, op: nn.BatchNormOp, args: PyValues):
        x, scale, bias, mean, var = args
        eps = np.float32(nn.float_value(op.epsilon, 1e-5))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        inv = scale / np.sqrt(var + eps)
        y = (x - mean.reshape(shape)) * inv.reshape(shape) + bias.reshape(shape)
        return (y.astype(np.float32),)

    @impl(nn.AddOp)
    def run_add(self, interp: Interpreter, op: nn.AddOp, args: PyValues):
        return (np.add(args[0], args[1]),)

    @impl(nn.SubOp)
    def run_sub(self, interp: Interpreter, op: nn.SubOp, args: PyValues):
        return (np.subtract(args[0], args[1]),)

    @impl(nn.MulOp)
    def run_mul(self, interp: Interpreter, op: nn.MulOp, args: PyValues):
        return (np.multiply(args[0], args[1]),)

    @impl(nn.DivOp)
    def run_div(self, interp: Interpreter, op: nn.DivOp, args: PyValues):
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.divide(args[0], args[1]),)

    @impl(nn.ReluOp)
    def run_relu(self, interp: Interpreter, op: nn.ReluOp, args: PyValues):
        return (np.maximum(args[0], np.float32(0)),)

    @impl(nn.ReshapeOp)
    def run_reshape(self, interp: Interpreter, op: nn.ReshapeOp, args: PyValues):
        return (args[0].reshape(result_shape(op)),)

    @impl(nn.TransposeOp)
    def run_transpose(self, interp: Interpreter, op: nn.TransposeOp, args: PyValues):
        return (np.ascontiguousarray(args[0].transpose(op.perm.get_values())),)
