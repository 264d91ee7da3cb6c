"""Exact numerics of the QONNX quantizers, for the QONNX importer.

The level functions below compute, with numpy on the operands' own dtypes,
exactly what QONNX's reference executor (`qonnx.custom_op.general`, qonnx
1.0) and Brevitas compute, up to the integer level (before the rescale):

- `quant_levels`: Quant / IntQuant: ``R(clamp(x / scale + zeropt))``, the
  division and the addition in the input's float type, the clamp on the
  float value, then the rounding mode `R`; a signed 1-bit quantizer is
  bipolar (``x / scale + zeropt >= 0 ? 1 : -1``), as qonnx executes it;
- `bipolar_levels`: BipolarQuant: ``x >= 0 ? 1 : -1``;
- `trunc_v2_levels` / `trunc_v1_levels`: Trunc (qonnx opsets 2 and 1).

Each is a monotone non-decreasing function of x (the float operations and
every rounding mode are monotone), so it is exactly the count of thresholds
below x plus its lowest level: `monotone_thresholds` finds, by bisection on
the ordered bit patterns of the float type, the smallest float at which each
level is reached. A `!q.thresholds` type with those thresholds reproduces
the level function bit for bit on every non-NaN input, whatever the
rounding mode, zero point or double rounding (Trunc) involved.

Nothing here builds IR.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _half_even(x: np.ndarray) -> np.ndarray:
    return np.round(x)


def _up(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.ceil(np.abs(x))


def _half_up(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _half_down(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.ceil(np.abs(x) - 0.5)


def _to_zero(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x))


def _dpu(x: np.ndarray) -> np.ndarray:
    return np.where((x < 0.0) & (x - np.floor(x) == 0.5), np.ceil(x), np.round(x))


ROUNDING_MODES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "ROUND": _half_even,
    "HALF_EVEN": _half_even,
    "CEIL": np.ceil,
    "FLOOR": np.floor,
    "UP": _up,
    "DOWN": np.fix,
    "ROUND_TO_ZERO": _to_zero,
    "HALF_UP": _half_up,
    "HALF_DOWN": _half_down,
    "DPU": _dpu,
}
"""Rounding modes by (upper-case) name: QONNX's (ROUND = HALF_EVEN, CEIL,
FLOOR, UP = away from zero, DOWN = toward zero, HALF_UP and HALF_DOWN = ties
away from / toward zero) and Brevitas' (ROUND_TO_ZERO = DOWN; DPU = half to
even except negative ties, which go up), each as its reference computes it
(`HALF_UP` is ``sign(x) * floor(|x| + 0.5)`` in the float type, with the
double rounding of ``|x| + 0.5`` that implies)."""

HALF_EVEN = ("ROUND", "HALF_EVEN")


def rounding(mode: str) -> Callable[[np.ndarray], np.ndarray] | None:
    """The rounding function of a mode name (any case), or None."""
    return ROUNDING_MODES.get(str(mode).upper())


def int_bounds(signed: bool, narrow: bool, bits: int) -> tuple[int, int]:
    """QONNX's [min_int, max_int] of a bit width (narrow drops the lowest
    signed level, or the highest unsigned one)."""
    if signed:
        return -(1 << (bits - 1)) + int(narrow), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1 - int(narrow)


def _min_int(signed: bool, narrow: bool, bit_width: np.ndarray) -> np.ndarray:
    # computed like QONNX's min_int/max_int: on the bit width's own dtype
    if signed and narrow:
        return -(2 ** (bit_width - 1)) + 1
    if signed:
        return -(2 ** (bit_width - 1))
    return 0 * bit_width


def _max_int(signed: bool, narrow: bool, bit_width: np.ndarray) -> np.ndarray:
    if not signed and not narrow:
        return (2**bit_width) - 1
    if not signed:
        return (2**bit_width) - 2
    return (2 ** (bit_width - 1)) - 1


def _clamp(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    y = np.where(y > hi, np.asarray(hi).astype(y.dtype), y)
    return np.where(y < lo, np.asarray(lo).astype(y.dtype), y)


def quant_levels(
    x: np.ndarray,
    scale: np.ndarray,
    zeropt: np.ndarray,
    bit_width: np.ndarray,
    signed: bool,
    narrow: bool,
    mode: str,
) -> np.ndarray:
    """The integer levels of QONNX Quant (float array of integer values)."""
    fn = rounding(mode)
    assert fn is not None, mode
    with np.errstate(all="ignore"):
        y = x / scale
        y = y + zeropt
        if float(np.ravel(bit_width)[0]) == 1 and signed:
            ones = np.ones(y.shape, dtype=y.dtype)
            return np.where(y >= 0.0, ones, -ones)
        y = _clamp(
            y,
            _min_int(signed, narrow, bit_width),
            _max_int(signed, narrow, bit_width),
        )
        return fn(y)


def bipolar_levels(x: np.ndarray) -> np.ndarray:
    """The levels (+1 / -1) of QONNX BipolarQuant."""
    ones = np.ones(x.shape, dtype=x.dtype)
    return np.where(x >= 0.0, ones, -ones)


def trunc_scale_v2(scale: np.ndarray, output_scale: np.ndarray) -> np.ndarray:
    """Trunc v2's power of two between the input and output scales."""
    with np.errstate(all="ignore"):
        return 2 ** np.round(np.log2(output_scale / scale))


def trunc_v2_levels(
    x: np.ndarray,
    scale: np.ndarray,
    zeropt: np.ndarray,
    output_scale: np.ndarray,
    output_bit_width: np.ndarray,
    signed: bool,
    narrow: bool,
    mode: str,
) -> np.ndarray:
    """The integer levels of QONNX Trunc v2 (before subtracting
    ``zeropt / trunc_scale`` and multiplying by the output scale)."""
    fn = rounding(mode)
    assert fn is not None, mode
    with np.errstate(all="ignore"):
        y = x / scale
        y = y + zeropt
        y = np.round(y)
        y = y / trunc_scale_v2(scale, output_scale)
        y = _clamp(
            y,
            _min_int(signed, narrow, output_bit_width),
            _max_int(signed, narrow, output_bit_width),
        )
        return fn(y)


def trunc_v1_scale(
    input_bit_width: np.ndarray, output_bit_width: np.ndarray
) -> np.ndarray:
    return 2.0 ** (input_bit_width - output_bit_width)


def trunc_v1_levels(
    x: np.ndarray,
    scale: np.ndarray,
    zeropt: np.ndarray,
    input_bit_width: np.ndarray,
    output_bit_width: np.ndarray,
    mode: str,
    input_bounds: tuple[int, int] | None = None,
) -> np.ndarray:
    """The integer levels of QONNX Trunc v1 (before subtracting zeropt and
    multiplying by the scale). QONNX v1 does not clamp; with `input_bounds`
    the rounded input integer is first clamped to them (the input bit width
    the op promises), which bounds the levels."""
    fn = rounding(mode)
    assert fn is not None, mode
    with np.errstate(all="ignore"):
        y = x / scale
        y = y + zeropt
        y = np.round(y)
        if input_bounds is not None:
            lo, hi = input_bounds
            y = _clamp(y, np.asarray(lo), np.asarray(hi))
        y = y / trunc_v1_scale(input_bit_width, output_bit_width)
        return fn(y)


# --------------------------------------------------------------------------- #
# Thresholds of a monotone level function
# --------------------------------------------------------------------------- #

_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


class ThresholdError(ValueError):
    """A level the function reaches only at an infinity (or never)."""


def _bits(dtype: np.dtype) -> tuple[np.uint64, np.uint64]:
    width = np.dtype(dtype).itemsize * 8
    sign = np.uint64(1 << (width - 1))
    mask = np.uint64((1 << width) - 1)
    return sign, mask


def float_keys(values: np.ndarray) -> np.ndarray:
    """Unsigned keys whose order is the order of the (non-NaN) floats
    (-0.0 sorts just below +0.0)."""
    values = np.asarray(values)
    sign, mask = _bits(values.dtype)
    bits = values.view(_UINT[values.dtype.itemsize]).astype(np.uint64)
    return np.where(bits & sign, ~bits & mask, bits | sign)


def from_keys(keys: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The floats of `float_keys`."""
    dtype = np.dtype(dtype)
    sign, mask = _bits(dtype)
    keys = np.asarray(keys, dtype=np.uint64)
    bits = np.where(keys & sign, keys ^ sign, ~keys & mask)
    return bits.astype(_UINT[dtype.itemsize]).view(dtype)


def monotone_thresholds(
    fn: Callable[[np.ndarray], np.ndarray], dtype: np.dtype, lo: int, hi: int
) -> np.ndarray:
    """Thresholds t_1..t_n (n = hi - lo, float64) with
    ``fn(x) == lo + #{j : x >= t_j}`` for every non-NaN `x` of `dtype`.

    `fn` maps a 1-D array of `dtype` to integer levels in [lo, hi] and must
    be monotone non-decreasing. t_j is the smallest float with
    ``fn(t_j) >= lo + j``. Raises ThresholdError if a level is reached only at
    +inf (or never), or already at -inf.
    """
    dtype = np.dtype(dtype)
    targets = np.arange(lo + 1, hi + 1, dtype=np.float64)
    if targets.size == 0:
        return targets
    ends = np.array([-np.inf, np.inf], dtype=dtype)
    f_ends = np.asarray(fn(ends), dtype=np.float64)
    if f_ends[0] != lo:
        raise ThresholdError(f"the level at -inf is {f_ends[0]:g}, not {lo}")
    if f_ends[1] != hi:
        raise ThresholdError(f"the level at +inf is {f_ends[1]:g}, not {hi}")
    k_lo, k_hi = (np.uint64(k) for k in float_keys(ends))
    a = np.full(targets.shape, k_lo, dtype=np.uint64)  # fn(a) < target
    b = np.full(targets.shape, k_hi, dtype=np.uint64)  # fn(b) >= target
    while True:
        gap = b - a
        if not np.any(gap > 1):
            break
        mid = a + gap // np.uint64(2)
        ok = np.asarray(fn(from_keys(mid, dtype)), dtype=np.float64) >= targets
        b = np.where(ok, mid, b)
        a = np.where(ok, a, mid)
    t = from_keys(b, dtype).astype(np.float64) + 0.0  # -0.0 -> 0.0 (equal)
    if not np.all(np.isfinite(t)):
        j = int(np.argmin(np.isfinite(t)))
        raise ThresholdError(
            f"level {lo + j + 1} is reached only at +inf (a scale too large for "
            f"{dtype.name})"
        )
    return t


__all__ = [
    "HALF_EVEN",
    "ROUNDING_MODES",
    "ThresholdError",
    "bipolar_levels",
    "float_keys",
    "from_keys",
    "int_bounds",
    "monotone_thresholds",
    "quant_levels",
    "rounding",
    "trunc_scale_v2",
    "trunc_v1_levels",
    "trunc_v1_scale",
    "trunc_v2_levels",
]
