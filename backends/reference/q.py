"""Reference implementations of the `q` ops: exact integer math on levels.

Values are int64 numpy arrays of levels; every op is vectorised (no Python
loop per element). Dot products run through a float64 BLAS matmul when every
partial sum provably fits in 53 bits (then float64 arithmetic is exact),
otherwise in int64, whose wrap-around arithmetic is exact modulo 2^64 for
the final sums, which the verifiers keep inside the accumulator type. Every
result of a bit-growth op is checked against its type's range.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from xdsl.interpreter import Interpreter, InterpreterFunctions, impl, register_impls

from qopt.qdialect import q
from qopt.qdialect.qtypes import QuantizedType
from qopt.qdialect.shapes import pool_out_dim

PyValues = tuple[Any, ...]

EXACT_FLOAT_BOUND = 1 << 53
"""Integers of smaller magnitude are exact in float64 (and so are their sums
while the running sum stays below it)."""


def _centred(x: np.ndarray, qtype: QuantizedType) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    return x - qtype.zero_point_array(x.shape)


def _dot_dtype(xtype: QuantizedType, wtype: QuantizedType, k: int) -> type:
    """float64 if no partial sum of k products can reach 2^53, else int64."""
    bound = k * max(map(abs, q.centred_range(xtype)))
    bound *= max(map(abs, q.centred_range(wtype)))
    return np.float64 if bound < EXACT_FLOAT_BOUND else np.int64


def level_problem(values: np.ndarray, qtype: QuantizedType) -> str | None:
    """Why `values` is not a tensor of levels of `qtype`, or None."""
    values = np.asarray(values)
    if values.size and not np.issubdtype(values.dtype, np.integer):
        return f"holds {values.dtype} values, not integer levels"
    bad = ~np.asarray(qtype.representable(values.astype(np.int64)))
    if np.any(bad):
        first = int(np.flatnonzero(bad)[0])
        return (
            f"holds level {int(values.ravel()[first])} at element {first}, "
            f"which {qtype} cannot represent"
        )
    return None


def _check_range(op, values: np.ndarray) -> np.ndarray:
    """Assert the values fit the result type (a verifier bug otherwise)."""
    rtype = q.qtype_of(op.results[0])
    if values.size and (
        values.min() < rtype.min_level or values.max() > rtype.max_level
    ):
        raise AssertionError(
            f"{op.name}: result outside {rtype}; the bit-growth rule is broken"
        )
    return values


def windows(
    x: np.ndarray,
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    pad_value: int = 0,
) -> np.ndarray:
    """Windows of an NCHW tensor as a read-only [N, OH, OW, C, kh, kw] view.

    Padding is [top, left, bottom, right]; OH and OW count the windows that
    fit the padded input.
    """
    xp = np.pad(
        x,
        ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])),
        constant_values=pad_value,
    )
    n, c, h, w = xp.shape
    oh = (h - dilations[0] * (kernel[0] - 1) - 1) // strides[0] + 1
    ow = (w - dilations[1] * (kernel[1] - 1) - 1) // strides[1] + 1
    s = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp,
        shape=(n, oh, ow, c, kernel[0], kernel[1]),
        strides=(
            s[0],
            s[2] * strides[0],
            s[3] * strides[1],
            s[1],
            s[2] * dilations[0],
            s[3] * dilations[1],
        ),
        writeable=False,
    )


def conv2d_levels(
    x: np.ndarray,
    w: np.ndarray,
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    group: int,
    dtype: type = np.int64,
) -> np.ndarray:
    """Grouped convolution of integer arrays (NCHW, OIHW) -> int64 [N, O, OH, OW].

    All groups run as one batched matmul in `dtype` (float64 only when the
    caller knows every partial sum is below 2^53).
    """
    o, cg, kh, kw = w.shape
    win = windows(x, (kh, kw), strides, pads, dilations)
    n, oh, ow = win.shape[:3]
    k = cg * kh * kw
    cols = win.reshape(n * oh * ow, group, k).astype(dtype).transpose(1, 0, 2)
    wg = w.reshape(group, o // group, k).astype(dtype).transpose(0, 2, 1)
    res = np.matmul(cols, wg)  # [G, N*OH*OW, O/G]
    if dtype != np.int64:
        res = np.rint(res).astype(np.int64)
    out = res.transpose(1, 0, 2).reshape(n, oh, ow, o).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(out)


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
        xtype, wtype = q.qtype_of(op.input), q.qtype_of(op.weight)
        x, w = _centred(args[0], xtype), _centred(args[1], wtype)
        strides, pads, dilations, group = op.attrs
        dtype = _dot_dtype(xtype, wtype, int(np.prod(w.shape[1:])))
        acc = conv2d_levels(x, w, strides, pads, dilations, group, dtype)
        if op.bias is not None:
            acc = acc + np.asarray(args[2], dtype=np.int64).reshape(1, -1, 1, 1)
        return (_check_range(op, acc),)

    @impl(q.MatmulOp)
    def run_matmul(self, interp: Interpreter, op: q.MatmulOp, args: PyValues):
        atype, btype = q.qtype_of(op.lhs), q.qtype_of(op.rhs)
        a, b = _centred(args[0], atype), _centred(args[1], btype)
        dtype = _dot_dtype(atype, btype, b.shape[-2])
        acc = np.matmul(a.astype(dtype), b.astype(dtype))
        if dtype != np.int64:
            acc = np.rint(acc).astype(np.int64)
        if op.bias is not None:
            acc = acc + np.asarray(args[2], dtype=np.int64)
        return (_check_range(op, acc),)

    @impl(q.RequantizeOp)
    def run_requantize(self, interp: Interpreter, op: q.RequantizeOp, args: PyValues):
        xtype, otype = q.qtype_of(op.input), q.qtype_of(op.output)
        x = _centred(args[0], xtype)
        mult, shift = op.channel_params()
        if len(mult) > 1:
            shape = [1] * x.ndim
            shape[xtype.quantized_axis] = len(mult)
            mult, shift = mult.reshape(shape), shift.reshape(shape)
        else:
            mult, shift = mult[0], shift[0]
        rounding = np.where(shift > 0, np.left_shift(1, np.maximum(shift - 1, 0)), 0)
        y = (x * mult + rounding) >> shift
        y = np.clip(y + otype.zero_point, otype.qmin, otype.qmax)
        return (y.astype(np.int64),)

    @impl(q.ThresholdOp)
    def run_threshold(self, interp: Interpreter, op: q.ThresholdOp, args: PyValues):
        x = np.asarray(args[0], dtype=np.int64)
        table = op.threshold_array()
        axis = op.channel_axis()
        if axis is None:
            return (np.searchsorted(table[0], x, side="right").astype(np.int64),)
        moved = np.moveaxis(x, axis, 0)
        codes = np.empty(moved.shape, dtype=np.int64)
        for c in range(table.shape[0]):  # one vectorised search per channel
            codes[c] = np.searchsorted(table[c], moved[c], side="right")
        return (np.moveaxis(codes, 0, axis),)

    @impl(q.AddOp)
    def run_add(self, interp: Interpreter, op: q.AddOp, args: PyValues):
        ka, kb = op.alignment()
        a = _centred(args[0], q.qtype_of(op.lhs)) << ka
        b = _centred(args[1], q.qtype_of(op.rhs)) << kb
        return (_check_range(op, a + b),)

    @impl(q.ClampOp)
    def run_clamp(self, interp: Interpreter, op: q.ClampOp, args: PyValues):
        x = np.asarray(args[0], dtype=np.int64)
        return (np.clip(x, op.min.value.data, op.max.value.data),)

    @impl(q.ReluOp)
    def run_relu(self, interp: Interpreter, op: q.ReluOp, args: PyValues):
        x = np.asarray(args[0], dtype=np.int64)
        return (np.maximum(x, q.qtype_of(op.input).zero_point_array(x.shape)),)

    @impl(q.MaxPool2dOp)
    def run_maxpool2d(self, interp: Interpreter, op: q.MaxPool2dOp, args: PyValues):
        x = np.asarray(args[0], dtype=np.int64)
        win, out_shape = _pool_windows(x, op, np.iinfo(np.int64).min)
        y = win[:, : out_shape[2], : out_shape[3]].max(axis=(4, 5))
        return (np.ascontiguousarray(y.transpose(0, 3, 1, 2)),)

    @impl(q.AvgPool2dOp)
    def run_avgpool2d(self, interp: Interpreter, op: q.AvgPool2dOp, args: PyValues):
        x = _centred(args[0], q.qtype_of(op.input))
        win, out_shape = _pool_windows(x, op, 0)
        y = win[:, : out_shape[2], : out_shape[3]].sum(axis=(4, 5))
        return (_check_range(op, np.ascontiguousarray(y.transpose(0, 3, 1, 2))),)

    @impl(q.LutOp)
    def run_lut(self, interp: Interpreter, op: q.LutOp, args: PyValues):
        table = op.table_levels()
        x = np.asarray(args[0], dtype=np.int64)
        return (table[x - q.qtype_of(op.input).min_level],)


def _pool_windows(
    x: np.ndarray, op, pad_value: int
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Windows of a pooling op and its output shape for a concrete input.

    With ceil_mode, the last windows may reach past the padded input: the
    bottom/right padding grows (with `pad_value`) until they fit.
    """
    kernel, strides, pads, dilations, ceil = op.window
    oh = pool_out_dim(
        x.shape[2], kernel[0], strides[0], pads[0], pads[2], dilations[0], ceil
    )
    ow = pool_out_dim(
        x.shape[3], kernel[1], strides[1], pads[1], pads[3], dilations[1], ceil
    )
    need_h = (oh - 1) * strides[0] + dilations[0] * (kernel[0] - 1) + 1
    need_w = (ow - 1) * strides[1] + dilations[1] * (kernel[1] - 1) + 1
    extra_h = max(0, need_h - (x.shape[2] + pads[0] + pads[2]))
    extra_w = max(0, need_w - (x.shape[3] + pads[1] + pads[3]))
    grown = (pads[0], pads[1], pads[2] + extra_h, pads[3] + extra_w)
    win = windows(x, kernel, strides, grown, dilations, pad_value)
    return win, (x.shape[0], x.shape[1], oh, ow)
