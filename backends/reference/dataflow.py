"""Reference implementations of the `dataflow` ops: what the hardware computes.

A stream value is an int64 array `[N, *frame]` of levels: N frames (one per
inference) in stream order. Timing and folding do not change values, so
FIFOs, forks, width converters and reshapes move data only. Every unit is
vectorised over the batch and the frame; the integer arithmetic is that of
the `q` op the unit implements (the q executor's helpers are reused where
the computation is the same), so a lowered model is bit-exact with its `q`
version.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from xdsl.interpreter import Interpreter, InterpreterFunctions, impl, register_impls

from qopt.backends.reference.q import EXACT_FLOAT_BOUND, _pool_windows, windows
from qopt.qdialect import dataflow as df
from qopt.qdialect import q

PyValues = tuple[Any, ...]


def _levels(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def _check_range(op: df.DataflowOp, values: np.ndarray) -> np.ndarray:
    """Assert the values fit the result element type (a verifier bug otherwise)."""
    elem = df.stream_of(op.results[0]).elem
    if values.size and (values.min() < elem.min_level or values.max() > elem.max_level):
        raise AssertionError(
            f"{op.name}: result outside {elem}; the bit-growth rule is broken"
        )
    return values


def _nchw(x: np.ndarray) -> np.ndarray:
    """[N, H, W, C] frames -> NCHW."""
    return x.transpose(0, 3, 1, 2)


def _nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def _tensor_to_frames(x: np.ndarray) -> np.ndarray:
    return _nhwc(x) if x.ndim == 4 else x


def _frames_to_tensor(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(_nchw(x)) if x.ndim == 4 else x


def _channel_params(op: df.RequantOp, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """Multiplier and shift broadcastable over [N, *frame] (innermost axis)."""
    mult, shift = op.channel_params()
    if len(mult) == 1:
        return mult[0], shift[0]
    return mult.reshape((1,) * (ndim - 1) + (-1,)), shift.reshape(
        (1,) * (ndim - 1) + (-1,)
    )


@register_impls
class DataflowFunctions(InterpreterFunctions):
    """Implementations of every `dataflow` op for xDSL's interpreter."""

    @impl(df.InputOp)
    def run_input(self, interp: Interpreter, op: df.InputOp, args: PyValues):
        return (_tensor_to_frames(_levels(args[0])),)

    @impl(df.OutputOp)
    def run_output(self, interp: Interpreter, op: df.OutputOp, args: PyValues):
        x = _levels(args[0])
        if op.output.type.get_num_dims() == 4:
            return (_frames_to_tensor(x),)
        return (x,)

    @impl(df.FifoOp)
    def run_fifo(self, interp: Interpreter, op: df.FifoOp, args: PyValues):
        return (args[0],)

    @impl(df.ForkOp)
    def run_fork(self, interp: Interpreter, op: df.ForkOp, args: PyValues):
        return tuple(args[0] for _ in op.outputs)

    @impl(df.DwcOp)
    def run_dwc(self, interp: Interpreter, op: df.DwcOp, args: PyValues):
        return (args[0],)

    @impl(df.ReshapeOp)
    def run_reshape(self, interp: Interpreter, op: df.ReshapeOp, args: PyValues):
        x = _levels(args[0])
        return (x.reshape((x.shape[0], *df.stream_of(op.output).shape)),)

    @impl(df.SwuOp)
    def run_swu(self, interp: Interpreter, op: df.SwuOp, args: PyValues):
        x = _levels(args[0])
        kernel, strides, pads, dilations = op.window
        zx = df.stream_of(op.input).elem.zero_point
        win = windows(_nchw(x), kernel, strides, pads, dilations, pad_value=zx)
        n, oh, ow = win.shape[:3]
        # [N, OH, OW, C, kh, kw] -> elements in (i, j, c) order
        out = win.transpose(0, 1, 2, 4, 5, 3).reshape(n, oh, ow, -1)
        return (np.ascontiguousarray(out),)

    @impl(df.MvuOp)
    def run_mvu(self, interp: Interpreter, op: df.MvuOp, args: PyValues):
        xtype = df.stream_of(op.input).elem
        wtype = q.qtype_of(op.weight)
        x = _levels(args[0]) - xtype.zero_point
        w = _levels(args[1])
        w = w - wtype.zero_point_array(w.shape)
        k = w.shape[1]
        bound = k * max(map(abs, q.centred_range(xtype)))
        bound *= max(map(abs, q.centred_range(wtype)))
        if bound < EXACT_FLOAT_BOUND:
            acc = np.rint(x.astype(np.float64) @ w.T.astype(np.float64))
            acc = acc.astype(np.int64)
        else:
            acc = x @ w.T
        if op.bias is not None:
            acc = acc + _levels(args[2])
        return (_check_range(op, acc),)

    @impl(df.RequantOp)
    def run_requant(self, interp: Interpreter, op: df.RequantOp, args: PyValues):
        xtype = df.stream_of(op.input).elem
        otype = df.stream_of(op.output).elem
        x = _levels(args[0])
        x = x - xtype.zero_point_array(x.shape[1:])[None]
        mult, shift = _channel_params(op, x.ndim)
        rounding = np.where(shift > 0, np.left_shift(1, np.maximum(shift - 1, 0)), 0)
        y = (x * mult + rounding) >> shift
        return (np.clip(y + otype.zero_point, otype.qmin, otype.qmax),)

    @impl(df.ThresholdOp)
    def run_threshold(self, interp: Interpreter, op: df.ThresholdOp, args: PyValues):
        xtype = df.stream_of(op.input).elem
        otype = df.stream_of(op.output).elem
        x = _levels(args[0])
        x = x - xtype.zero_point_array(x.shape[1:])[None]
        table = _levels(args[1])
        if table.shape[0] == 1:
            count = np.searchsorted(table[0], x, side="right")
        else:
            count = np.empty_like(x)
            for c in range(table.shape[0]):  # one vectorised search per channel
                count[..., c] = np.searchsorted(table[c], x[..., c], side="right")
        return (count + otype.min_level,)

    @impl(df.LutOp)
    def run_lut(self, interp: Interpreter, op: df.LutOp, args: PyValues):
        table = op.table_levels()
        return (table[_levels(args[0]) - df.stream_of(op.input).elem.min_level],)

    @impl(df.ClampOp)
    def run_clamp(self, interp: Interpreter, op: df.ClampOp, args: PyValues):
        return (np.clip(_levels(args[0]), op.min.value.data, op.max.value.data),)

    @impl(df.PoolOp)
    def run_pool(self, interp: Interpreter, op: df.PoolOp, args: PyValues):
        x = _nchw(_levels(args[0]))
        if op.kind.data == "max":
            win, shape = _pool_windows(x, op, np.iinfo(np.int64).min)
            y = win[:, : shape[2], : shape[3]].max(axis=(4, 5))
            return (np.ascontiguousarray(y),)
        x = x - df.stream_of(op.input).elem.zero_point
        win, shape = _pool_windows(x, op, 0)
        y = win[:, : shape[2], : shape[3]].sum(axis=(4, 5))
        return (_check_range(op, np.ascontiguousarray(y)),)

    @impl(df.AddOp)
    def run_add(self, interp: Interpreter, op: df.AddOp, args: PyValues):
        ka, kb = op.alignment()
        a = _levels(args[0]) - df.stream_of(op.lhs).elem.zero_point
        b = _levels(args[1]) - df.stream_of(op.rhs).elem.zero_point
        return (_check_range(op, (a << ka) + (b << kb)),)
