"""Number formats of `qopt-quantize`: names, q types, scales and levels.

The same names are used in the pass options and in recipes:

weights (`WeightFormat`), one q element type each:

- `int2` .. `int16`: `!q.uniform<iN<-q:q>:f32...>` with q = 2^(N-1) - 1,
  symmetric narrow range (`int8`: -127..127);
- `pot3`, `pot4`, `pot5`: `!q.pot<iN:f32...>` with the default exponents
  0..2^(N-1)-2 of the code (N bits, sign included): levels 0 and ±1..±4
  (`pot3`), ±1..±64 (`pot4`), ±1..±16384 (`pot5`);
- `spot2`, `spot3`: `!q.spot<K x i4:f32...>`, sums of K `pot4` terms
  (exponents 0..6): levels up to 128 (`spot2`) or 192 (`spot3`);
- `ternary`: `!q.uniform<i2<-1:1>:f32...>`, levels -1, 0, 1 (the type of
  `int2`; the scale is searched instead of max|w|).

A `spotK` weight is K `pot4` codes (4K bits); its levels are the integers of
at most K non-zero signed binary digits below 2^7 (`spot2`: 96 = 64 + 32,
60 = 64 - 4, 7 = 8 - 1, but not 11 = 8 + 2 + 1), so it spans the same
dynamic range as `pot4` / `int8` with relative precision that grows with K.

Weight scales (per output channel, or per tensor; `weight_scales`):

- uniform (`intN`): `max|w| / (2^(N-1) - 1)`;
- `potN`, `spotK`, `ternary`: the scale minimising the squared error
  sum (w - s·nearest_level(w / s))^2 over the candidates
  `s_k = max|w| / max_level · 2^(-k/32)`, k = 0..63: two octaves below the
  scale that maps the largest weight onto the largest level (a smaller scale
  clips the largest weights onto the top level in exchange for finer steps
  around zero; pot levels repeat every octave, so two octaves see every
  alignment of the grid). The steps are 1/32 octave because the error of
  the irregular spot grids is a jagged function of the scale: with 1/8
  octave, spot2 (spot3) loses 7 % (18 %) of squared error against a
  brute-force search on Gaussian weights; with 1/32, under 1 % (2 %); pot
  and ternary lose under 0.1 %. `ternary` searches four octaves, k = 0..127,
  because its optimum sits far below max|w| (about 0.7 · mean|w| as the
  threshold for Gaussian weights, TWN). The first (largest) scale wins ties;
- an all-zero channel gets scale 1 (every level is 0).

activations (`ActFormat`), from a calibrated range [lo, hi] widened to
contain 0, [lo', hi'] = [min(lo, 0), max(hi, 0)]:

- `intN` (N = 2..16): zero point 0; if lo >= 0 (after relu, a sigmoid, ...)
  unsigned `!q.uniform<uN:f32, hi'/(2^N - 1)>`, else signed full range
  `!q.uniform<iN:f32, max(-lo', hi')/(2^(N-1) - 1)>`;
- `uintN` (N = 2..16): asymmetric unsigned as ONNX Runtime's QUInt8:
  scale = (hi' - lo') / (2^N - 1), zero point = round(-lo' / scale);
- a range of width 0 (or below 1e-30) gets scale 1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import AnyFloat, f32

from qopt.qdialect.qtypes import (
    LevelsAttr,
    PotType,
    QuantizedType,
    SpotType,
    UniformType,
)

WEIGHT_FORMATS_HELP = "int2..int16, pot3, pot4, pot5, spot2, spot3, ternary"
ACT_FORMATS_HELP = "int2..int16, uint2..uint16"

SPOT_TERM_WIDTH = 4
"""Each spot term is a `pot i4` code: exponents 0..6."""

SEARCH_STEPS_PER_OCTAVE = 32
"""Candidate scales per factor of two in the pot/spot/ternary scale search."""

TINY = 1e-30
"""Ranges and weights below this magnitude count as zero."""


@dataclass(frozen=True)
class WeightFormat:
    """A weight format: `kind` is int, pot, spot or ternary; `bits` is the
    integer or pot code width (sign included), or the number of spot terms."""

    name: str
    kind: str
    bits: int

    @property
    def levels_attr(self) -> LevelsAttr:
        if self.kind == "int":
            q = (1 << (self.bits - 1)) - 1
            return LevelsAttr.int_(self.bits, True, -q, q)
        if self.kind == "ternary":
            return LevelsAttr.int_(2, True, -1, 1)
        if self.kind == "pot":
            return LevelsAttr.pot(self.bits, True)
        return LevelsAttr.pot(SPOT_TERM_WIDTH, True, terms=self.bits)

    @property
    def max_level(self) -> int:
        return self.levels_attr.max_level

    @property
    def searches_scale(self) -> bool:
        """Whether the scale comes from the squared-error search."""
        return self.kind != "int"

    @property
    def search_octaves(self) -> int:
        return 4 if self.kind == "ternary" else 2

    def qtype(
        self,
        scales: Sequence[float],
        axis: int | None,
        expressed: AnyFloat = f32,
    ) -> QuantizedType:
        """The q element type with these scales (per tensor if axis is None)."""
        scale: float | list[float] = (
            float(scales[0]) if axis is None else [float(s) for s in scales]
        )
        if self.kind == "int":
            q = (1 << (self.bits - 1)) - 1
            return UniformType(
                self.bits, True, scale, axis=axis, low=-q, high=q, expressed=expressed
            )
        if self.kind == "ternary":
            return UniformType(
                2, True, scale, axis=axis, low=-1, high=1, expressed=expressed
            )
        if self.kind == "pot":
            return PotType(self.bits, scale, axis=axis, expressed=expressed)
        return SpotType(
            self.bits, SPOT_TERM_WIDTH, scale, axis=axis, expressed=expressed
        )


@dataclass(frozen=True)
class ActFormat:
    """An activation format: N bits, symmetric (`intN`) or asymmetric (`uintN`)."""

    name: str
    bits: int
    asymmetric: bool

    def qtype(self, lo: float, hi: float, expressed: AnyFloat = f32) -> UniformType:
        """The per-tensor type of a value whose real range is [lo, hi]."""
        lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
        n = self.bits
        if self.asymmetric:
            top = (1 << n) - 1
            scale = (hi - lo) / top
            if not scale > TINY:
                return UniformType(n, False, 1.0, expressed=expressed)
            zp = min(max(round(-lo / scale), 0), top)
            return UniformType(n, False, scale, zp, expressed=expressed)
        if lo >= 0.0:
            scale = hi / ((1 << n) - 1)
            signed = False
        else:
            scale = max(-lo, hi) / ((1 << (n - 1)) - 1)
            signed = True
        if not scale > TINY:
            scale = 1.0
        return UniformType(n, signed, scale, expressed=expressed)


_INT = re.compile(r"(u?int)([0-9]+)\Z")


def parse_weight_format(name: str) -> WeightFormat:
    """The weight format called `name`, or ValueError."""
    text = name.strip()
    m = _INT.match(text)
    if m and m.group(1) == "int" and 2 <= int(m.group(2)) <= 16:
        return WeightFormat(text, "int", int(m.group(2)))
    if text in ("pot3", "pot4", "pot5"):
        return WeightFormat(text, "pot", int(text[3:]))
    if text in ("spot2", "spot3"):
        return WeightFormat(text, "spot", int(text[4:]))
    if text == "ternary":
        return WeightFormat(text, "ternary", 2)
    raise ValueError(f"unknown weight format '{name}' ({WEIGHT_FORMATS_HELP})")


def parse_act_format(name: str) -> ActFormat:
    """The activation format called `name`, or ValueError."""
    text = name.strip()
    m = _INT.match(text)
    if m and 2 <= int(m.group(2)) <= 16:
        return ActFormat(text, int(m.group(2)), m.group(1) == "uint")
    try:
        parse_weight_format(text)
    except ValueError:
        pass
    else:
        raise ValueError(
            f"'{name}' is a weight format; activations take {ACT_FORMATS_HELP}"
        )
    raise ValueError(f"unknown activation format '{name}' ({ACT_FORMATS_HELP})")


def parse_granularity(text: str) -> str:
    """`tensor` or `channel`; `group:G` is recognised and rejected (ValueError)."""
    text = text.strip()
    if text in ("tensor", "channel"):
        return text
    m = re.fullmatch(r"group:([0-9]+)", text)
    if m and int(m.group(1)) >= 1:
        raise ValueError(
            f"weight granularity '{text}' is not supported: q.conv2d and q.matmul "
            "take per-tensor or per-output-channel weight scales (per-block scales "
            "would give every partial sum its own scale); use channel"
        )
    raise ValueError(f"unknown weight granularity '{text}' (tensor, channel, group:G)")


# --------------------------------------------------------------------------- #
# Weights
# --------------------------------------------------------------------------- #


def _channel_max(w: np.ndarray, axis: int | None) -> np.ndarray:
    """max|w| per index of `axis` (shape [C]), or of the tensor (shape [1])."""
    a = np.abs(w.astype(np.float64))
    if axis is None:
        return np.array([a.max() if a.size else 0.0])
    other = tuple(i for i in range(w.ndim) if i != axis)
    return a.max(axis=other) if a.size else np.zeros(w.shape[axis])


def _channels_first(w: np.ndarray, axis: int | None) -> np.ndarray:
    """w as [C, rest] (C = 1 per tensor), float64."""
    w = w.astype(np.float64)
    if axis is None:
        return w.reshape(1, -1)
    return np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)


def weight_scales(w: np.ndarray, fmt: WeightFormat, axis: int | None) -> np.ndarray:
    """The scale per channel of `axis` (or one per tensor) for `fmt`."""
    amax = _channel_max(w, axis)
    base = amax / fmt.max_level
    if fmt.searches_scale:
        rows = _channels_first(w, axis)
        levels = fmt.levels_attr
        steps = SEARCH_STEPS_PER_OCTAVE * fmt.search_octaves
        best = np.full(len(base), np.inf)
        chosen = base.copy()
        for k in range(steps):
            s = base * 2.0 ** (-k / SEARCH_STEPS_PER_OCTAVE)
            safe = np.where(s > TINY, s, 1.0)[:, None]
            q = levels.nearest(rows / safe)
            err = ((rows - q * safe) ** 2).sum(axis=1)
            better = err < best
            best = np.where(better, err, best)
            chosen = np.where(better, s, chosen)
        base = chosen
    return np.where(amax > TINY, base, 1.0)


def quantize_weights(
    w: np.ndarray,
    fmt: WeightFormat,
    axis: int | None,
    expressed: AnyFloat = f32,
    scales: Sequence[float] | None = None,
) -> tuple[np.ndarray, QuantizedType]:
    """Levels and q type of the weight tensor `w` (per channel of `axis`,
    or per tensor if None). The levels are the type's own quantization of w
    (x / scale in the expressed type, then the format's rounding). `scales`
    (one per channel, or one) replaces `weight_scales` (e.g. the scales that
    `qopt-adaround` recorded for the weights it rounded onto their grid)."""
    if scales is None:
        scales = weight_scales(w, fmt, axis)
    qtype = fmt.qtype([float(s) for s in scales], axis, expressed)
    levels = qtype.quantize(w)
    return levels, qtype


WEIGHT_FORMAT_ATTR = "q.weight_format"
"""Op attribute (string) written by `qopt-adaround`: the weight format whose
grid the layer's float weights were rounded onto."""

WEIGHT_SCALES_ATTR = "q.weight_scales"
"""Op attribute (`array<f64: ...>`, one per output channel or one per tensor)
written by `qopt-adaround`: the scales of that grid, which `qopt-quantize`
then uses instead of recomputing them, so that its nearest rounding gives
exactly the learned levels."""


WEIGHT_TYPE_ATTR = "q.weight_type"
"""Op attribute (a q element type, e.g. `!q.mixed<...>`) written by
`qopt-mixed-precision`: the exact type of the layer's weights in the layout
`qopt-quantize` uses (conv OIHW; gemm/matmul [K, N]); `qopt-quantize`
quantizes the weights to it instead of using its `weights` option."""


def grid_neighbours(t: np.ndarray, fmt: WeightFormat) -> tuple[np.ndarray, np.ndarray]:
    """The two neighbouring levels lo <= t <= hi of each real `t` (in level
    units) in the sorted level set of `fmt` (the uniform grid -q..q, or the
    pot/spot levels); a level itself gives lo = t, and a value beyond the
    extreme levels gives lo = hi = that extreme level."""
    t = np.asarray(t, dtype=np.float64)
    if fmt.kind in ("int", "ternary"):
        top = float(fmt.max_level)
        lo = np.clip(np.floor(t), -top, top)
        hi = np.clip(lo + 1.0, -top, top)
        lo = np.where(t >= top, top, lo)
        hi = np.where(t <= -top, -top, hi)
        return lo.astype(np.int64), hi.astype(np.int64)
    levels = fmt.levels_attr.levels
    idx = np.clip(np.searchsorted(levels, t, side="right"), 1, len(levels) - 1)
    lo, hi = levels[idx - 1], levels[idx]
    lo = np.where(t >= levels[-1], levels[-1], np.where(t <= levels[0], levels[0], lo))
    hi = np.where(t <= levels[0], levels[0], hi)
    return lo.astype(np.int64), hi.astype(np.int64)


def quantize_bias(
    b: np.ndarray,
    scales: Sequence[float],
    bits: int,
    per_axis: bool,
    expressed: AnyFloat = f32,
) -> tuple[np.ndarray, UniformType]:
    """Levels and type of a bias [N] at the accumulator scales (zero point 0).

    `bits` = 0 picks the narrowest signed width that holds the levels;
    otherwise the levels saturate to the signed `bits`-bit range.
    """
    s = np.asarray(scales, dtype=np.float64)
    levels = np.rint(b.astype(np.float64) / s)
    if bits == 0:
        lo, hi = int(min(levels.min(initial=0), 0)), int(max(levels.max(initial=0), 0))
        width = 1
        while not (-(1 << (width - 1)) <= lo and hi <= (1 << (width - 1)) - 1):
            width += 1
    else:
        width = bits
        levels = np.clip(levels, -(1 << (width - 1)), (1 << (width - 1)) - 1)
    scale: float | list[float] = [float(x) for x in s] if per_axis else float(s[0])
    btype = UniformType(
        width, True, scale, axis=0 if per_axis else None, expressed=expressed
    )
    return levels.astype(np.int64), btype
