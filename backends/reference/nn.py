"""Reference implementations of the `nn` ops: numpy, float32, batch-vectorised.

Each implementation follows ONNX's definition of the op it mirrors (see
`docs/dialects/nn.md`). Convolutions go through im2col + one matmul,
transposed convolutions through one matmul + col2im. Integer tensors are held
as int64 and wrapped to their type's width (`wrap_integers`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from xdsl.dialects.builtin import (
    BytesAttr,
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
from xdsl.utils.exceptions import InterpretationError

from qopt.qdialect import nn
from qopt.qdialect.shapes import DYN, num_elements, pool_out_dim, slice_bounds

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
        # xDSL stores an iN element in the smallest of 1, 2, 4, 8 bytes that fits
        nbytes = next(b for b in (1, 2, 4, 8) if 8 * b >= elt.width.data)
        kind = "u" if elt.signedness.data == Signedness.UNSIGNED else "i"
        values = np.frombuffer(attr.data.data, dtype=f"<{kind}{nbytes}").astype(dtype)
    else:
        values = np.frombuffer(attr.data.data, dtype=np.dtype(dtype).newbyteorder("<"))
        values = values.astype(dtype)
    shape = ty.get_shape()
    if values.size == 1 and int(np.prod(shape)) != 1:
        return np.broadcast_to(values.reshape(()), shape).copy()
    return values.reshape(shape)


def numpy_to_dense(
    value: np.ndarray, ty: TensorType
) -> DenseIntOrFPElementsAttr | None:
    """A dense attribute of type `ty` holding `value` (rounded to `ty`'s element
    type), or None if `ty` is not a static float/integer tensor of that shape.

    The bytes are numpy's little-endian encoding of the element type, which
    is exactly xDSL's storage, so the constant prints and parses bit-exactly.
    """
    shape = ty.get_shape()
    if any(d == DYN for d in shape) or tuple(np.shape(value)) != tuple(shape):
        return None
    elt = ty.get_element_type()
    array = np.asarray(value)
    if isinstance(elt, Float16Type | Float32Type | Float64Type):
        dtype = np.dtype(elt.format)
    elif isinstance(elt, IntegerType) and elt.width.data <= 64:
        dtype = np.dtype(elt.format)
        width = elt.width.data
        if width < 64:
            # two's-complement wrap to the width, stored the way xDSL
            # normalises values (signless and signed as signed, so i1 true
            # is -1; unsigned as unsigned)
            mask = (1 << width) - 1
            array = array.astype(np.int64) & mask
            if elt.signedness.data != Signedness.UNSIGNED:
                half = 1 << (width - 1)
                array = ((array + half) & mask) - half
    else:
        return None
    data = np.ascontiguousarray(array.astype(dtype, copy=False))
    return DenseIntOrFPElementsAttr(ty, BytesAttr(data.tobytes()))


def result_shape(op, index: int = 0) -> tuple[int, ...]:
    """The result's static shape with dynamic dimensions as -1 (for reshape)."""
    ty = op.results[index].type
    assert isinstance(ty, TensorType)
    return tuple(-1 if d == DYN else d for d in ty.get_shape())


def result_dtype(op, index: int = 0) -> np.dtype:
    """The numpy dtype of a result's element type."""
    ty = op.results[index].type
    assert isinstance(ty, TensorType)
    return numpy_dtype(ty.element_type)


def result_element_type(op, index: int = 0) -> Attribute:
    """The element type of a result."""
    ty = op.results[index].type
    assert isinstance(ty, TensorType)
    return ty.element_type


def as_result(op, value: np.ndarray, index: int = 0) -> np.ndarray:
    """`value` as an array of the result's dtype (float32 for f32); integers
    narrower than 64 bits wrap to the result's width (`wrap_integers`)."""
    array = np.asarray(value).astype(result_dtype(op, index), copy=False)
    return wrap_integers(array, result_element_type(op, index))


def wrap_integers(array: np.ndarray, element_type: Attribute) -> np.ndarray:
    """Integers (held as int64) reduced to the range of an iN/uiN element type.

    Keeps the low N bits: two's complement for signless and signed types,
    modulo 2^N for unsigned ones. Other element types (floats, i1, 64-bit
    integers) are returned unchanged.
    """
    if not isinstance(element_type, IntegerType):
        return array
    width = element_type.width.data
    if width == 1 or width >= 64 or array.dtype != np.int64:
        return array
    mask = (1 << width) - 1
    wrapped = array & mask
    if element_type.signedness.data != Signedness.UNSIGNED:
        half = 1 << (width - 1)
        wrapped = ((wrapped + half) & mask) - half
    return wrapped


def float_to_int(x: np.ndarray, element_type: IntegerType) -> np.ndarray:
    """Float values converted to an integer element type (held as int64).

    Truncates toward zero. NaN, infinities and values outside the range of
    the intermediate type (int64 for 64-bit results, int32 for narrower
    ones) become that type's minimum, as the x86-64 conversion instructions
    that ONNX Runtime uses give; the result then wraps to the element type.
    """
    conv = np.int64 if element_type.width.data >= 64 else np.int32
    low = float(np.iinfo(conv).min)  # -2^63 or -2^31, exact in float64
    t = np.trunc(np.asarray(x, dtype=np.float64))
    in_range = (t >= low) & (t < -low)
    out = np.where(in_range, t, low).astype(np.int64)
    return wrap_integers(out, element_type)


def cast_array(x: np.ndarray, element_type: Attribute) -> np.ndarray:
    """`x` converted to `element_type` with ONNX `Cast`'s rules (see `nn.cast`)."""
    dtype = numpy_dtype(element_type)
    x = np.asarray(x)
    if dtype == np.bool_:
        return x != 0
    if np.issubdtype(dtype, np.floating):
        return x.astype(dtype)
    assert isinstance(element_type, IntegerType)
    if np.issubdtype(x.dtype, np.floating):
        return float_to_int(x, element_type)
    return wrap_integers(x.astype(np.int64), element_type)


def trunc_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer division truncating toward zero (C, ONNX Runtime); b != 0."""
    q = np.floor_divide(a, b)
    inexact = (q * b != a) & ((a < 0) != (b < 0))
    return np.where(inexact, q + 1, q)


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

    All groups go through one batched matmul ([G, N*OH*OW, K] @ [G, K, O/G]).
    Shared with the `q` executor, which calls it with integer arrays and an
    int64 accumulator.
    """
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    windows, oh, ow = im2col(x, (kh, kw), strides, pads, dilations)
    og = o // group
    k = cg * kh * kw
    cols = np.ascontiguousarray(windows).reshape(n * oh * ow, group, k)
    cols = cols.astype(acc_dtype, copy=False).transpose(1, 0, 2)
    wg = w.reshape(group, og, k).astype(acc_dtype, copy=False).transpose(0, 2, 1)
    res = np.matmul(cols, wg)  # [G, N*OH*OW, O/G]
    out = res.reshape(group, n, oh, ow, og).transpose(1, 0, 4, 2, 3)
    return np.ascontiguousarray(out).reshape(n, o, oh, ow)


def pool_padding(
    shape: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    ceil_mode: bool,
) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """(output H, W) of an ONNX pool over an NCHW `shape` and the padding
    [top, left, bottom, right] that makes every window whole (bottom/right
    grown by a ceil-mode overhang)."""
    h, w = shape[2], shape[3]
    out = tuple(
        pool_out_dim(
            (h, w)[i],
            kernel[i],
            strides[i],
            pads[i],
            pads[i + 2],
            dilations[i],
            ceil_mode,
        )
        for i in range(2)
    )
    extra = [
        max(
            0,
            (out[i] - 1) * strides[i]
            + dilations[i] * (kernel[i] - 1)
            + 1
            - ((h, w)[i] + pads[i] + pads[i + 2]),
        )
        for i in range(2)
    ]
    return (out[0], out[1]), (pads[0], pads[1], pads[2] + extra[0], pads[3] + extra[1])


def pool_windows(
    x: np.ndarray,
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    pads: tuple[int, ...],
    dilations: tuple[int, ...],
    ceil_mode: bool,
    pad_value: float,
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Pooling windows of an NCHW tensor as a [N, OH, OW, C, kh, kw] view.

    The output size follows `shapes.pool_out_dim`; a `ceil_mode` window that
    reaches past the padded input reads `pad_value` there. Also returns the
    padding actually applied [top, left, bottom, right] (bottom/right grown
    by the ceil_mode overhang).
    """
    out, applied = pool_padding(x.shape, kernel, strides, pads, dilations, ceil_mode)
    windows, _, _ = im2col(x, kernel, strides, applied, dilations, pad_value)
    return windows[:, : out[0], : out[1]], applied


def avgpool2d(
    x: np.ndarray,
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    pads: tuple[int, ...],
    ceil_mode: bool,
    count_include_pad: bool,
) -> np.ndarray:
    """ONNX AveragePool on NCHW; the divisor comes from a pooled ones-mask."""
    _, _, h, w = x.shape
    dil = (1, 1)
    windows, applied = pool_windows(x, kernel, strides, pads, dil, ceil_mode, 0.0)
    sums = windows.sum(axis=(4, 5), dtype=x.dtype)  # [N, OH, OW, C]
    hp, wp = h + applied[0] + applied[2], w + applied[1] + applied[3]
    mask = np.zeros((1, 1, hp, wp), dtype=x.dtype)
    if count_include_pad:
        mask[..., : h + pads[0] + pads[2], : w + pads[1] + pads[3]] = 1
    else:
        mask[..., pads[0] : pads[0] + h, pads[1] : pads[1] + w] = 1
    mask_windows, _, _ = im2col(mask, kernel, strides, (0, 0, 0, 0), dil)
    counts = mask_windows[:, : sums.shape[1], : sums.shape[2]].sum(axis=(4, 5))
    return np.ascontiguousarray((sums / counts).transpose(0, 3, 1, 2))


def conv_transpose2d(
    x: np.ndarray,
    w: np.ndarray,
    strides: tuple[int, ...],
    pads: tuple[int, ...],
    dilations: tuple[int, ...],
    group: int,
    output_padding: tuple[int, ...],
) -> np.ndarray:
    """ONNX ConvTranspose on NCHW input and [C, O/group, kh, kw] weight.

    One batched matmul forms every input pixel's products with its whole
    kernel ([G, N*H*W, C/G] @ [G, C/G, O/G*kh*kw]); a loop over the kh*kw
    kernel taps adds each tap's products into a strided slice of the full
    output (col2im); the pads are then cropped. Returns [N, O, OH, OW].
    """
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    cg = c // group
    sh, sw = strides
    dh, dw = dilations
    xg = x.reshape(n, group, cg, h * wd).transpose(1, 0, 3, 2)
    xg = xg.reshape(group, n * h * wd, cg)
    wg = w.reshape(group, cg, og * kh * kw)
    cols = np.matmul(xg, wg).reshape(group, n, h, wd, og, kh, kw)
    cols = cols.transpose(1, 0, 4, 5, 6, 2, 3)  # [N, G, O/G, kh, kw, H, W]
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + output_padding[0]
    full_w = (wd - 1) * sw + dw * (kw - 1) + 1 + output_padding[1]
    full = np.zeros((n, group, og, full_h, full_w), dtype=cols.dtype)
    for a in range(kh):
        rows = slice(a * dh, a * dh + (h - 1) * sh + 1, sh)
        for b in range(kw):
            columns = slice(b * dw, b * dw + (wd - 1) * sw + 1, sw)
            full[:, :, :, rows, columns] += cols[:, :, :, a, b]
    full = full.reshape(n, group * og, full_h, full_w)
    return full[:, :, pads[0] : full_h - pads[2], pads[1] : full_w - pads[3]]


def lrn(x: np.ndarray, size: int, alpha: float, beta: float, bias: float) -> np.ndarray:
    """ONNX LRN across axis 1 (window sums of squares over `size` channels)."""
    lo = (size - 1) // 2
    hi = size - 1 - lo
    f = x.dtype.type
    widths = [(0, 0), (lo, hi)] + [(0, 0)] * (x.ndim - 2)
    squares = np.pad(x * x, widths)
    windows = np.lib.stride_tricks.sliding_window_view(squares, size, axis=1)
    sums = windows.sum(axis=-1, dtype=x.dtype)
    scale = f(bias) + f(alpha) / f(size) * sums
    return x * scale ** -f(beta)


def pad(x: np.ndarray, pads: tuple[int, ...], mode: str, value: float) -> np.ndarray:
    """ONNX Pad: crop by the negative pads, then pad by the positive ones."""
    rank = x.ndim
    crop = []
    widths = []
    for i, d in enumerate(x.shape):
        begin, end = pads[i], pads[rank + i]
        lo, hi = max(0, -begin), d - max(0, -end)
        if hi < lo:
            raise InterpretationError(
                f"nn.pad: pads {list(pads)} crop axis {i} of size {d} below 0"
            )
        crop.append(slice(lo, hi))
        width = (max(0, begin), max(0, end))
        if mode == "reflect" and max(width) > 0 and max(width) > hi - lo - 1:
            raise InterpretationError(
                f"nn.pad: reflect pads {begin}, {end} on axis {i} must be smaller "
                f"than the (cropped) size {hi - lo}"
            )
        if mode == "edge" and max(width) > 0 and hi == lo:
            raise InterpretationError(
                f"nn.pad: edge padding of axis {i} needs a non-empty (cropped) axis"
            )
        widths.append(width)
    cropped = x[tuple(crop)]
    if mode == "constant":
        fill = x.dtype.type(value) if x.dtype != np.bool_ else value != 0
        return np.pad(cropped, widths, mode="constant", constant_values=fill)
    return np.pad(cropped, widths, mode=mode)


def maxpool2d(
    x: np.ndarray,
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    pads: tuple[int, ...],
    dilations: tuple[int, ...],
    ceil_mode: bool,
) -> np.ndarray:
    """ONNX MaxPool on NCHW; padding reads as -inf (the lowest value)."""
    low = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
    windows, _ = pool_windows(x, kernel, strides, pads, dilations, ceil_mode, low)
    return np.ascontiguousarray(windows.max(axis=(4, 5)).transpose(0, 3, 1, 2))


# erfc(z) for z >= 0 (Numerical Recipes' Chebyshev fit, relative error
# < 1.2e-7 everywhere), coefficients highest degree first.
_ERFC_POLY = (
    0.17087277,
    -0.82215223,
    1.48851587,
    -1.13520398,
    0.27886807,
    -0.18628806,
    0.09678418,
    0.37409196,
    1.00002368,
    -1.26551223,
)
# Maclaurin series of erf(x) * sqrt(pi) / (2x) in x^2: (-1)^n / (n! (2n + 1)).
_ERF_SERIES = tuple((-1) ** n / (math.factorial(n) * (2 * n + 1)) for n in range(13))
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erfc_nonneg(z: np.ndarray) -> np.ndarray:
    t = 1.0 / (1.0 + 0.5 * z)
    poly = np.zeros_like(t)
    for c in _ERFC_POLY:
        poly = poly * t + c
    return t * np.exp(poly - z * z)


def erfc64(x: np.ndarray) -> np.ndarray:
    """erfc in float64, relative error < 1.2e-7 (also in the tails)."""
    x = np.asarray(x, dtype=np.float64)
    r = _erfc_nonneg(np.abs(x))
    return np.where(x < 0, 2.0 - r, r)


def erf64(x: np.ndarray) -> np.ndarray:
    """erf in float64, relative error < 1.2e-7: a series below |x| = 0.5."""
    x = np.asarray(x, dtype=np.float64)
    ax = np.abs(x)
    small = ax < 0.5
    xs = np.where(small, x, 0.0)
    x2 = xs * xs
    series = np.zeros_like(x2)
    for c in reversed(_ERF_SERIES):
        series = series * x2 + c
    return np.where(
        small, _TWO_OVER_SQRT_PI * xs * series, np.copysign(1.0 - _erfc_nonneg(ax), x)
    )


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without overflow, in the dtype of x."""
    e = np.exp(-np.abs(x))
    one = x.dtype.type(1)
    return np.where(x >= 0, one / (one + e), e / (one + e))


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
        return (as_result(op, np.add(args[0], args[1])),)

    @impl(nn.SubOp)
    def run_sub(self, interp: Interpreter, op: nn.SubOp, args: PyValues):
        return (as_result(op, np.subtract(args[0], args[1])),)

    @impl(nn.MulOp)
    def run_mul(self, interp: Interpreter, op: nn.MulOp, args: PyValues):
        return (as_result(op, np.multiply(args[0], args[1])),)

    @impl(nn.DivOp)
    def run_div(self, interp: Interpreter, op: nn.DivOp, args: PyValues):
        a, b = args
        if np.issubdtype(a.dtype, np.integer):
            if np.any(b == 0):
                raise InterpretationError("nn.div: integer division by zero")
            return (as_result(op, trunc_divide(a, b)),)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.divide(a, b),)

    @impl(nn.MinOp)
    def run_min(self, interp: Interpreter, op: nn.MinOp, args: PyValues):
        return (as_result(op, np.minimum(args[0], args[1])),)

    @impl(nn.MaxOp)
    def run_max(self, interp: Interpreter, op: nn.MaxOp, args: PyValues):
        return (as_result(op, np.maximum(args[0], args[1])),)

    @impl(nn.ReluOp)
    def run_relu(self, interp: Interpreter, op: nn.ReluOp, args: PyValues):
        x = args[0]
        return (np.maximum(x, x.dtype.type(0)),)

    @impl(nn.ReshapeOp)
    def run_reshape(self, interp: Interpreter, op: nn.ReshapeOp, args: PyValues):
        return (args[0].reshape(result_shape(op)),)

    @impl(nn.TransposeOp)
    def run_transpose(self, interp: Interpreter, op: nn.TransposeOp, args: PyValues):
        return (np.ascontiguousarray(args[0].transpose(op.perm.get_values())),)

    @impl(nn.MatMulOp)
    def run_matmul(self, interp: Interpreter, op: nn.MatMulOp, args: PyValues):
        return (as_result(op, np.matmul(args[0], args[1])),)

    @impl(nn.LayerNormOp)
    def run_layernorm(self, interp: Interpreter, op: nn.LayerNormOp, args: PyValues):
        x = args[0]
        axis, epsilon = op.attrs
        axes = tuple(range(axis % x.ndim, x.ndim))
        eps = x.dtype.type(epsilon)
        mean = x.mean(axis=axes, keepdims=True)
        d = x - mean
        var = (d * d).mean(axis=axes, keepdims=True)
        inv_std = x.dtype.type(1) / np.sqrt(var + eps)
        y = d * inv_std * args[1]
        if op.bias is not None:
            y = y + args[2]
        return (as_result(op, y),)

    @impl(nn.SoftmaxOp)
    def run_softmax(self, interp: Interpreter, op: nn.SoftmaxOp, args: PyValues):
        x = args[0]
        axis = op.attrs
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return (as_result(op, e / e.sum(axis=axis, keepdims=True)),)

    @impl(nn.PowOp)
    def run_pow(self, interp: Interpreter, op: nn.PowOp, args: PyValues):
        a, b = args
        with np.errstate(all="ignore"):
            if np.issubdtype(a.dtype, np.floating):
                return (as_result(op, np.power(a, b.astype(a.dtype))),)
            y = np.power(a.astype(np.float64), b.astype(np.float64))
            return (float_to_int(y, result_element_type(op)),)

    @impl(nn.LeakyReluOp)
    def run_leaky_relu(self, interp: Interpreter, op: nn.LeakyReluOp, args: PyValues):
        x = args[0]
        return (as_result(op, np.where(x >= 0, x, x.dtype.type(op.attrs) * x)),)

    @impl(nn.ClipOp)
    def run_clip(self, interp: Interpreter, op: nn.ClipOp, args: PyValues):
        x = args[0]
        lo, hi = op.attrs
        if np.issubdtype(x.dtype, np.integer):
            info = np.iinfo(x.dtype)
            lo = max(math.ceil(lo), info.min) if lo > -math.inf else info.min
            hi = min(math.floor(hi), info.max) if hi < math.inf else info.max
        y = np.minimum(np.maximum(x, x.dtype.type(lo)), x.dtype.type(hi))
        return (as_result(op, y),)

    @impl(nn.SigmoidOp)
    def run_sigmoid(self, interp: Interpreter, op: nn.SigmoidOp, args: PyValues):
        return (as_result(op, sigmoid(args[0])),)

    @impl(nn.TanhOp)
    def run_tanh(self, interp: Interpreter, op: nn.TanhOp, args: PyValues):
        return (as_result(op, np.tanh(args[0])),)

    @impl(nn.GeluOp)
    def run_gelu(self, interp: Interpreter, op: nn.GeluOp, args: PyValues):
        # float64 with cancellation-free forms, rounded once to the result type:
        # x * Phi(x) = x * erfc(-x / sqrt 2) / 2, and 1 + tanh(z) = 2 sigmoid(2z).
        x = np.asarray(args[0], dtype=np.float64)
        if op.attrs == "tanh":
            z = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
            y = x * sigmoid(2.0 * z)
        else:
            y = 0.5 * x * erfc64(-x * math.sqrt(0.5))
        return (as_result(op, y),)

    @impl(nn.ErfOp)
    def run_erf(self, interp: Interpreter, op: nn.ErfOp, args: PyValues):
        return (as_result(op, erf64(args[0])),)

    @impl(nn.ExpOp)
    def run_exp(self, interp: Interpreter, op: nn.ExpOp, args: PyValues):
        with np.errstate(over="ignore"):
            return (as_result(op, np.exp(args[0])),)

    @impl(nn.SqrtOp)
    def run_sqrt(self, interp: Interpreter, op: nn.SqrtOp, args: PyValues):
        with np.errstate(invalid="ignore"):
            return (as_result(op, np.sqrt(args[0])),)

    @impl(nn.LogSoftmaxOp)
    def run_log_softmax(self, interp: Interpreter, op: nn.LogSoftmaxOp, args: PyValues):
        x = args[0]
        d = x - x.max(axis=op.attrs, keepdims=True)
        y = d - np.log(np.exp(d).sum(axis=op.attrs, keepdims=True))
        return (as_result(op, y),)

    @impl(nn.LRNOp)
    def run_lrn(self, interp: Interpreter, op: nn.LRNOp, args: PyValues):
        return (as_result(op, lrn(args[0], *op.attrs)),)

    @impl(nn.ConvTranspose2dOp)
    def run_conv_transpose2d(
        self, interp: Interpreter, op: nn.ConvTranspose2dOp, args: PyValues
    ):
        strides, pads, dilations, group, output_padding = op.attrs
        y = conv_transpose2d(
            args[0], args[1], strides, pads, dilations, group, output_padding
        )
        if op.bias is not None:
            y = y + args[2].reshape(1, -1, 1, 1)
        return (as_result(op, y),)

    @impl(nn.PReluOp)
    def run_prelu(self, interp: Interpreter, op: nn.PReluOp, args: PyValues):
        x, slope = args
        return (as_result(op, np.where(x < 0, slope * x, x)),)

    @impl(nn.EluOp)
    def run_elu(self, interp: Interpreter, op: nn.EluOp, args: PyValues):
        x = args[0]
        alpha = x.dtype.type(op.attrs)
        return (as_result(op, np.where(x >= 0, x, alpha * np.expm1(x))),)

    @impl(nn.SeluOp)
    def run_selu(self, interp: Interpreter, op: nn.SeluOp, args: PyValues):
        x = args[0]
        alpha, gamma = (x.dtype.type(v) for v in op.attrs)
        y = gamma * np.where(x > 0, x, alpha * np.expm1(x))
        return (as_result(op, y),)

    @impl(nn.SoftplusOp)
    def run_softplus(self, interp: Interpreter, op: nn.SoftplusOp, args: PyValues):
        x = args[0]
        return (as_result(op, np.logaddexp(x.dtype.type(0), x)),)

    @impl(nn.SoftsignOp)
    def run_softsign(self, interp: Interpreter, op: nn.SoftsignOp, args: PyValues):
        x = args[0]
        return (as_result(op, x / (x.dtype.type(1) + np.abs(x))),)

    @impl(nn.NegOp)
    def run_neg(self, interp: Interpreter, op: nn.NegOp, args: PyValues):
        return (as_result(op, np.negative(args[0])),)

    @impl(nn.AbsOp)
    def run_abs(self, interp: Interpreter, op: nn.AbsOp, args: PyValues):
        return (as_result(op, np.abs(args[0])),)

    @impl(nn.LogOp)
    def run_log(self, interp: Interpreter, op: nn.LogOp, args: PyValues):
        with np.errstate(divide="ignore", invalid="ignore"):
            return (as_result(op, np.log(args[0])),)

    @impl(nn.ReciprocalOp)
    def run_reciprocal(self, interp: Interpreter, op: nn.ReciprocalOp, args: PyValues):
        x = args[0]
        with np.errstate(divide="ignore"):
            return (as_result(op, x.dtype.type(1) / x),)

    @impl(nn.HardSigmoidOp)
    def run_hard_sigmoid(
        self, interp: Interpreter, op: nn.HardSigmoidOp, args: PyValues
    ):
        x = args[0]
        f = x.dtype.type
        alpha, beta = op.attrs
        y = np.maximum(f(0), np.minimum(f(1), f(alpha) * x + f(beta)))
        return (as_result(op, y),)

    @impl(nn.HardSwishOp)
    def run_hard_swish(self, interp: Interpreter, op: nn.HardSwishOp, args: PyValues):
        x = args[0]
        f = x.dtype.type
        gate = np.maximum(f(0), np.minimum(f(1), f(1 / 6) * x + f(0.5)))
        return (as_result(op, x * gate),)

    @impl(nn.EqualOp)
    def run_equal(self, interp: Interpreter, op: nn.EqualOp, args: PyValues):
        return (np.equal(args[0], args[1]),)

    @impl(nn.LessOp)
    def run_less(self, interp: Interpreter, op: nn.LessOp, args: PyValues):
        return (np.less(args[0], args[1]),)

    @impl(nn.GreaterOp)
    def run_greater(self, interp: Interpreter, op: nn.GreaterOp, args: PyValues):
        return (np.greater(args[0], args[1]),)

    @impl(nn.NotOp)
    def run_not(self, interp: Interpreter, op: nn.NotOp, args: PyValues):
        return (np.logical_not(args[0]),)

    @impl(nn.WhereOp)
    def run_where(self, interp: Interpreter, op: nn.WhereOp, args: PyValues):
        return (as_result(op, np.where(args[0], args[1], args[2])),)

    @impl(nn.CastOp)
    def run_cast(self, interp: Interpreter, op: nn.CastOp, args: PyValues):
        return (cast_array(args[0], result_element_type(op)),)

    @impl(nn.MaxPool2dOp)
    def run_maxpool2d(self, interp: Interpreter, op: nn.MaxPool2dOp, args: PyValues):
        kernel, strides, pads, dilations, ceil_mode = op.attrs
        y = maxpool2d(args[0], kernel, strides, pads, dilations, ceil_mode)
        return (as_result(op, y),)

    @impl(nn.AvgPool2dOp)
    def run_avgpool2d(self, interp: Interpreter, op: nn.AvgPool2dOp, args: PyValues):
        kernel, strides, pads, ceil_mode, count_include_pad = op.attrs
        y = avgpool2d(args[0], kernel, strides, pads, ceil_mode, count_include_pad)
        return (as_result(op, y),)

    @impl(nn.GlobalAvgPoolOp)
    def run_global_avgpool(
        self, interp: Interpreter, op: nn.GlobalAvgPoolOp, args: PyValues
    ):
        x = args[0]
        return (as_result(op, x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)),)

    @impl(nn.FlattenOp)
    def run_flatten(self, interp: Interpreter, op: nn.FlattenOp, args: PyValues):
        x = args[0]
        axis = op.attrs + x.ndim if op.attrs < 0 else op.attrs
        shape = (num_elements(x.shape[:axis]), num_elements(x.shape[axis:]))
        return (x.reshape(shape),)

    @impl(nn.ConcatOp)
    def run_concat(self, interp: Interpreter, op: nn.ConcatOp, args: PyValues):
        return (np.concatenate(args, axis=op.attrs),)

    @impl(nn.SplitOp)
    def run_split(self, interp: Interpreter, op: nn.SplitOp, args: PyValues):
        x = args[0]
        axis = op.attrs % x.ndim
        sizes = op.sizes()
        if sum(sizes) != x.shape[axis]:
            raise InterpretationError(
                f"nn.split: sizes {list(sizes)} do not sum to the input's "
                f"{x.shape[axis]} elements along axis {axis}"
            )
        return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))

    @impl(nn.SliceOp)
    def run_slice(self, interp: Interpreter, op: nn.SliceOp, args: PyValues):
        x = args[0]
        starts, ends, axes, steps = op.attrs
        index = [slice(None)] * x.ndim
        for a, start, end, step in zip(axes, starts, ends, steps, strict=True):
            a %= x.ndim
            lo, hi, _ = slice_bounds(x.shape[a], start, end, step)
            index[a] = slice(lo, None if hi < 0 else hi, step)
        return (x[tuple(index)],)

    @impl(nn.PadOp)
    def run_pad(self, interp: Interpreter, op: nn.PadOp, args: PyValues):
        return (pad(args[0], *op.attrs),)

    @impl(nn.ExpandOp)
    def run_expand(self, interp: Interpreter, op: nn.ExpandOp, args: PyValues):
        x = args[0]
        shape = list(result_shape(op))
        offset = len(shape) - x.ndim
        for i, d in enumerate(shape):
            if d == -1:  # dynamic: the input's size (1 where it has no axis)
                shape[i] = x.shape[i - offset] if i >= offset else 1
        return (np.broadcast_to(x, shape).copy(),)

    @impl(nn.GatherOp)
    def run_gather(self, interp: Interpreter, op: nn.GatherOp, args: PyValues):
        data, indices = args
        axis = op.attrs % data.ndim
        size = data.shape[axis]
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < -size or indices.max() >= size):
            raise InterpretationError(
                f"nn.gather: index out of range [-{size}, {size}) along axis {axis}"
            )
        indices = np.where(indices < 0, indices + size, indices)
        return (np.take(data, indices, axis=axis),)

    def _reduce(self, op: nn.ReduceOp, x: np.ndarray, fn) -> tuple[np.ndarray]:
        axes, keepdims = op.attrs
        return (as_result(op, fn(x, axis=axes, keepdims=keepdims)),)

    @impl(nn.ReduceMeanOp)
    def run_reduce_mean(self, interp: Interpreter, op: nn.ReduceMeanOp, args: PyValues):
        return self._reduce(op, args[0], np.mean)

    @impl(nn.ReduceSumOp)
    def run_reduce_sum(self, interp: Interpreter, op: nn.ReduceSumOp, args: PyValues):
        return self._reduce(op, args[0], np.sum)

    @impl(nn.ReduceMaxOp)
    def run_reduce_max(self, interp: Interpreter, op: nn.ReduceMaxOp, args: PyValues):
        return self._reduce(op, args[0], np.max)
