"""Reference implementations of the `q` ops: exact integer math on levels.

Values are int64 numpy arrays of levels. Dot products run through a float64
BLAS matmul when every partial sum fits in 53 bits (then float64 is exact),
otherwise in int64; the verifiers guarantee that no result overflows its
accumulator type, so no wrap-around can occur.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from xdsl.interpreter import Interpreter, InterpreterFunctions, impl, register_impls

from qopt.backends.reference.nn import conv2d, im2col
from qopt.qdialect import q
from qopt.qdialect.qtypes import QuantizedType
from qopt.qdialect.shapes import pool_out_dim

PyValues = tuple[Any, ...]

EXACT_FLOAT_BITS = 52


def _centred(x: np.ndarray, qtype: QuantizedType) -> np.ndarray:
    return np.asarray(x, dtype=np.int64) - qtype.zero_point_array(x.shape)


def _acc_dtype(op) -> type:
    width = q.qtype_of(op.results[0]).levels_attr.width.data
    return np.float64 if width <= EXACT_FLOAT_BITS else np.int64


def _check_range(op, values: np.ndarray) -> np.ndarray:
    """Assert the values fit the result type (a verifier bug otherwise)."""
    rtype = q.qtype_of(op.results[0])
    if values.size and (values.min() < rtype.min_level or values.max() > rtype.max_level):
        raise AssertionError(f"{op.name}: result outside {rtype}; the bit-growth rule is broken")
    return values


@register_impls
class QFunctions(InterpreterFunctions):
    """Implementations of every `q` op for xDSL's interpreter."""

    @impl(q.ConstantOp)
    def run_constant(self, interp: Interpreter, op: q.ConstantOp, args: PyValues):
        return (op.levels(),)

    @impl(q.QuantizeOp)
    def run_quantize(self, interp: Interpreter, op: q.QuantizeOp, args: PyValues):
        return (q.qtype_of(op.output).quantize(args[0]),)

    @impl(q.DequantizeOp)
    def run_dequantize(self, interp: Interpreter, op: q.DequantizeOp, args: PyValues):
        return (q.qtype_of(op.input).dequantize(args[0]),)

    @impl(q.Conv2dOp)
    def run_conv2d(self, interp: Interpreter, op: q.Conv2dOp, args: PyValues):
        x = _centred(args[0], q.qtype_of(op.input))
        w = _centred(args[1], q.qtype_of(op.weight))
        strides, pads, dilations, group = op.attrs
        acc = conv2d(x, w, strides, pads, dilations, group, acc_dtype=_acc_dtype(op))
        acc = np.rint(acc).astype(np.int64) if acc.dtype != np.int64 else acc
        if op.bias is not None:
            acc = acc + args[2].reshape(1, -1, 1, 1)
        return (_check_range(op, acc),)

    @impl(q.MatmulOp)
    def run_matmul(self, interp: Interpreter, op: q.MatmulOp, args: PyValues):
        dtype = _acc_dtype(op)
        a = _centred(args[0], q.qtype_of(op.lhs)).astype(dtype)
        b = _centred(args[1], q.qtype_of(op.rhs)).astype(dtype)
        acc = np.matmul(a, b)
        acc = np.rint(acc).astype(np.int64) if dtype != np.int64 else acc
        if op.bias is not None:
            acc = acc + args[2]
        return (_check_range(op, acc),)

    @impl(q.RequantizeOp)
    def run_requantize(self, interp: Interpreter, op: q.RequantizeOp, args: PyValues):
        xtype, otype = q.qtype_of(op.input), q.qtype_of(op.output)
        x = _centred(args[0], xtype)
        mult, shift = op.channel_params()
        if len(mult) > 1:
            axis = xtype.axes.data[0].data
            shape = [1] * x.ndim
            shape[axis] = len(mult)
            mult, shift = mult.reshape(shape), shift.reshape(shape)
        rounding = np.where(shift > 0, np.left_shift(1, np.maximum(shift - 1, 0)), 0)
        y = (x * mult + rounding) >> shift
        y = np.clip(y + otype.zero_point, otype.qmin, otype.qmax)
        return (y.astype(np.int64),)

    @impl(q.AddOp)
    def run_add(self, interp: Interpreter, op: q.AddOp, args: PyValues):
        ka, kb = op.alignment()
        a = _centred(args[0], q.qtype_of(op.lhs)) << ka
        b = _centred(args[1], q.qtype_of(op.rhs)) << kb
        return (_check_range(op, a + b),)

    @impl(q.ClampOp)
    def run_clamp(self, interp: Interpreter, op: q.ClampOp, args: PyValues):
        return (np.clip(args[0], op.min.value.data, op.max.value.data),)

    @impl(q.ReluOp)
    def run_relu(self, interp: Interpreter, op: q.ReluOp, args: PyValues):
        x = args[0]
        return (np.maximum(x, q.qtype_of(op.input).zero_point_array(x.shape)),)

    @impl(q.MaxPool2dOp)
    def run_maxpool2d(self, interp: Interpreter, op: q.MaxPool2dOp, args: PyValues):
        kernel, strides, pads, dilations, ceil = op.window
        x = np.asarray(args[0], dtype=np.int64)
        out_shape = _pool_out(x.shape, op)
        extra = _ceil_extra(x.shape, out_shape, kernel, strides, pads, dilations)
        fill = np.iinfo(np.int64).min
        windows, oh, ow = im2col(x, kernel, strides, _grow(pads, extra), dilations, pad_value=fill)
        y = windows[:, : out_shape[2], : out_shape[3]].max(axis=(4, 5))
        return (np.ascontiguousarray(y.transpose(0, 3, 1, 2)),)

    @impl(q.AvgPool2dOp)
    def run_avgpool2d(self, interp: Interpreter, op: q.AvgPool2dOp, args: PyValues):
        kernel, strides, pads, dilations, ceil = op.window
        x = _centred(args[0], q.qtype_of(op.input))
        out_shape = _pool_out(x.shape, op)
        extra = _ceil_extra(x.shape, out_shape, kernel, strides, pads, dilations)
        windows, oh, ow = im2col(x, kernel, strides, _grow(pads, extra), dilations)
        y = windows[:, : out_shape[2], : out_shape[3]].sum(axis=(4, 5))
        return (_check_range(op, np.ascontiguousarray(y.transpose(0, 3, 1, 2))),)

    @impl(q.LutOp)
    def run_lut(self, interp: Interpreter, op: q.LutOp, args: PyValues):
        table = op.table_levels()
        return (table[np.asarray(args[0], dtype=np.int64) - q.qtype_of(op.input).min_level],)


def _pool_out(shape: tuple[int, ...], op) -> tuple[int, ...]:
    """Output shape of a pool for a concrete input shape."""
    kernel, strides, pads, dilations, ceil = op.window
    oh = pool_out_dim(shape[2], kernel[0], strides[0], pads[0], pads[2], dilations[0], ceil)
    ow = pool_out_dim(shape[3], kernel[1], strides[1], pads[1], pads[3], dilations[1], ceil)
    return (shape[0], shape[1], oh, ow)


def _ceil_extra(shape, out_shape, kernel, strides, pads, dilations) -> tuple[int, int]:
    """Extra bottom/right padding so that ceil-mode windows fit."""
    need_h = (out_shape[2] - 1) * strides[0] + dilations[0] * (kernel[0] - 1) + 1
    need_w = (out_shape[3] - 1) * strides[1] + dilations[1] * (kernel[1] - 1) + 1
    return (
        max(0, need_h - (shape[2] + pads[0] + pads[2])),
        max(0, need_w - (shape[3] + pads[1] + pads[3])),
    )


def _grow(pads: tuple[int, ...], extra: tuple[int, int]) -> tuple[int, ...]:
    return (pads[0], pads[1], pads[2] + extra[0], pads[3] + extra[1])
