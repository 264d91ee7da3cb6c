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
  `int2`; the scale is searched instead of max|w|);
- `binary`: `!q.binary<f32...>`, levels -1 and +1 (no zero), one bit per
  weight: level sign(w) (+1 for w >= 0).

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
- `binary`: mean|w| over the channel (or tensor). This is XNOR-net's
  choice and also the squared-error optimum: the levels sign(w) do not
  depend on the scale, and sum (w - s·sign(w))^2 is smallest at
  s = sum |w| / count;
- an all-zero channel gets scale 1 (every level is 0); binary weights have
  no zero level, so an all-zero channel is an error (use `ternary`).

activations (`ActFormat`), from a calibrated range [lo, hi] widened to
contain 0, [lo', hi'] = [min(lo, 0), max(hi, 0)]:

- `intN` (N = 2..16): zero point 0; if lo >= 0 (after relu, a sigmoid, ...)
  unsigned `!q.uniform<uN:f32, hi'/(2^N - 1)>`, else signed full range
  `!q.uniform<iN:f32, max(-lo', hi')/(2^(N-1) - 1)>`;
- `uintN` (N = 2..16): asymmetric unsigned as ONNX Runtime's QUInt8:
  scale = (hi' - lo') / (2^N - 1), zero point = round(-lo' / scale);
- `thrN` (N = 2..8): `!q.thresholds<uN:f32, s:zp, [t_1, ...]>`, codes
  #{j : x >= t_j} whose bins hold equal shares of the calibration data:
  see "Threshold codes" below;
- a range of width 0 (or below 1e-30) gets scale 1.

Threshold codes (`thrN`, `fit_thresholds`). Calibration (`qopt-calibrate`
with `quantiles=R`, R a power of two >= 2^N) records the distribution of
the value as a `QuantileSummary`: R - 1 sorted edges q_1..q_{R-1} that cut
the calibration data into R bins of (nearly) equal counts, bin k holding the
x with #{j : x >= q_j} = k, and the count and mean of every bin. It comes
from a histogram of `QUANTILE_HIST_BINS` equal bins on [min, max]
(`histogram_edges`): q_j is the histogram edge whose count of smaller
values is nearest to j·n/R (ties to the lower edge; among edges with the
same count, the middle one, so a threshold between two clusters of values
sits in the middle of the gap). An edge is therefore within one histogram
bin, (max - min) / 65536, of the exact quantile. `summary_from_samples`
builds the same summary from an array (a constant, or QAT's batch).

`fit_thresholds(summary, N)` takes every (R / 2^N)-th edge (the edges of
2^N equiprobable bins, the same edges a summary of resolution 2^N would
have), merges empty bins into the next non-empty one (so duplicate edges
and edges at or below the minimum disappear: the thresholds are the lower
edges of the non-empty bins after the first, strictly increasing), and
chooses the scale s > 0 and the integer zero point zp in [0, n] that
minimise the squared error of the codes over the calibration data,
sum_k count_k · (mean_k - s·(k - zp))^2 (the within-bin variance does not
depend on s and zp): for each zp, s = sum c·d·m / sum c·d^2 with
d = k - zp; the zp of least error wins (the smallest on ties; some zp has
s > 0 because the bin means increase with k). A value whose calibration
data fills fewer than two bins (a constant) gets one threshold at the
middle of [lo', hi'] = [min(lo, 0), max(hi, 0)], s = hi' - lo' and
zp = round(-lo' / s) (s = 1, zp = 0, threshold 0.5 if that range is empty),
so that its value (or 0) is a code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import AnyFloat, f32

from qopt.qdialect.calib import StatsAttr
from qopt.qdialect.qtypes import (
    BinaryType,
    LevelsAttr,
    PotType,
    QuantizedType,
    SpotType,
    ThresholdsType,
    UniformType,
)

WEIGHT_FORMATS_HELP = "int2..int16, pot3, pot4, pot5, spot2, spot3, ternary, binary"
ACT_FORMATS_HELP = "int2..int16, uint2..uint16, thr2..thr8"

MAX_THRESHOLD_BITS = 8
"""Widest `thrN` activation: 2^8 - 1 thresholds per comparator bank."""

QUANTILE_HIST_BINS = 1 << 16
"""Equal-width bins on [min, max] from which the quantile edges are chosen."""

SPOT_TERM_WIDTH = 4
"""Each spot term is a `pot i4` code: exponents 0..6."""

SEARCH_STEPS_PER_OCTAVE = 32
"""Candidate scales per factor of two in the pot/spot/ternary scale search."""

TINY = 1e-30
"""Ranges and weights below this magnitude count as zero."""


@dataclass(frozen=True)
class WeightFormat:
    """A weight format: `kind` is int, pot, spot, ternary or binary; `bits` is
    the integer or pot code width (sign included, 1 for binary), or the
    number of spot terms."""

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
        if self.kind == "binary":
            return LevelsAttr.binary()
        if self.kind == "pot":
            return LevelsAttr.pot(self.bits, True)
        return LevelsAttr.pot(SPOT_TERM_WIDTH, True, terms=self.bits)

    @property
    def max_level(self) -> int:
        return self.levels_attr.max_level

    @property
    def searches_scale(self) -> bool:
        """Whether the scale comes from the squared-error search."""
        return self.kind not in ("int", "binary")

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
        if self.kind == "binary":
            return BinaryType(scale, axis=axis, expressed=expressed)
        if self.kind == "pot":
            return PotType(self.bits, scale, axis=axis, expressed=expressed)
        return SpotType(
            self.bits, SPOT_TERM_WIDTH, scale, axis=axis, expressed=expressed
        )


@dataclass(frozen=True)
class ActFormat:
    """An activation format: N bits, symmetric (`intN`), asymmetric
    (`uintN`) or threshold codes with equiprobable bins (`thrN`)."""

    name: str
    bits: int
    asymmetric: bool
    thresholds: bool = False

    def qtype(
        self,
        lo: float,
        hi: float,
        expressed: AnyFloat = f32,
        summary: QuantileSummary | None = None,
    ) -> QuantizedType:
        """The per-tensor type of a value whose real range is [lo, hi] (and,
        for `thrN`, whose distribution is `summary`; ValueError without it)."""
        if self.thresholds:
            if summary is None:
                raise ValueError(
                    f"activations {self.name} need the calibrated quantiles of the "
                    f"value: run qopt-calibrate with quantiles={1 << self.bits} "
                    "(or more)"
                )
            return thresholds_qtype(summary, self.bits, expressed)
        return self.uniform_qtype(lo, hi, expressed)

    def uniform_qtype(
        self, lo: float, hi: float, expressed: AnyFloat = f32
    ) -> UniformType:
        """The `intN` / `uintN` type of a value whose real range is [lo, hi]."""
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
_THR = re.compile(r"thr([0-9]+)\Z")


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
    if text == "binary":
        return WeightFormat(text, "binary", 1)
    raise ValueError(f"unknown weight format '{name}' ({WEIGHT_FORMATS_HELP})")


def parse_act_format(name: str) -> ActFormat:
    """The activation format called `name`, or ValueError."""
    text = name.strip()
    m = _INT.match(text)
    if m and 2 <= int(m.group(2)) <= 16:
        return ActFormat(text, int(m.group(2)), m.group(1) == "uint")
    m = _THR.match(text)
    if m:
        bits = int(m.group(1))
        if not 2 <= bits <= MAX_THRESHOLD_BITS:
            raise ValueError(
                f"activation format '{name}': threshold codes take "
                f"2..{MAX_THRESHOLD_BITS} bits (thr2..thr{MAX_THRESHOLD_BITS})"
            )
        return ActFormat(text, bits, False, thresholds=True)
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
    if fmt.kind == "binary":
        rows = _channels_first(w, axis)
        base = np.abs(rows).mean(axis=1) if rows.size else base
        if np.any(amax <= TINY):
            where = (
                "the tensor"
                if axis is None
                else (f"channel {int(np.flatnonzero(amax <= TINY)[0])} of axis {axis}")
            )
            raise ValueError(
                f"{where} is all zero: binary weights have no zero level (use ternary)"
            )
    elif fmt.searches_scale:
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
    units) in the sorted level set of `fmt` (the uniform grid -q..q, the
    pot/spot levels, or -1, +1 for binary); a level itself gives lo = t, and
    a value beyond the extreme levels gives lo = hi = that extreme level."""
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


# --------------------------------------------------------------------------- #
# Threshold codes (activations thrN)
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class QuantileSummary:
    """The calibrated distribution of a value in R equiprobable bins.

    `quantiles` holds the R - 1 sorted bin edges (float64), `counts` (int64)
    and `means` (float64) one entry per bin; bin k holds the x with
    #{j : x >= quantiles[j]} = k. An empty bin's mean is its lower edge
    (`low` for bin 0). `low` and `high` are the smallest and largest value.
    """

    low: float
    high: float
    quantiles: np.ndarray
    counts: np.ndarray
    means: np.ndarray

    @property
    def resolution(self) -> int:
        """R, the number of bins."""
        return len(self.counts)

    @staticmethod
    def from_stats(stats: StatsAttr) -> QuantileSummary | None:
        """The summary recorded in a `#q.stats` (None if it has no quantiles)."""
        if not stats.has_quantiles:
            return None
        low, high = stats.values[:2]
        return QuantileSummary(
            low,
            high,
            stats.quantile_values,
            stats.bin_count_values,
            stats.bin_mean_values,
        )


def histogram_edges(
    low: float, high: float, bins: int = QUANTILE_HIST_BINS
) -> np.ndarray:
    """The inner edges e_1 .. e_{B-1} of B equal bins on [low, high] (float64,
    non-decreasing): x falls in bin #{b : x >= e_b}."""
    b = np.arange(1, bins, dtype=np.float64)
    return low + (high - low) * (b / bins)


def histogram_add(
    edges: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Counts (int64) and sums (float64) of `values` in the bins of `edges`."""
    values = np.asarray(values, dtype=np.float64).ravel()
    index = np.searchsorted(edges, values, side="right")
    bins = len(edges) + 1
    counts = np.bincount(index, minlength=bins).astype(np.int64)
    sums = np.bincount(index, weights=values, minlength=bins)
    return counts, sums


def summary_from_histogram(
    low: float,
    high: float,
    counts: np.ndarray,
    sums: np.ndarray,
    resolution: int,
) -> QuantileSummary:
    """The R-bin summary (R = `resolution`) of a histogram of equal bins on
    [low, high] (`histogram_edges`) with per-bin `counts` and `sums`: edge j
    is the histogram edge whose count of smaller values is nearest to
    j·n/R (ties to the lower one; the middle one of edges with equal counts)."""
    counts = np.asarray(counts, dtype=np.int64)
    bins = len(counts)
    edges = histogram_edges(low, high, bins)
    below = np.concatenate([[0], np.cumsum(counts)])  # #{x < e_b}, b = 0..B
    total = np.concatenate([[0.0], np.cumsum(np.asarray(sums, dtype=np.float64))])
    inner = below[1:bins]  # b = 1 .. B-1
    targets = below[-1] * (np.arange(1, resolution, dtype=np.float64) / resolution)
    up = np.searchsorted(inner, targets, side="left")
    has_up = up < len(inner)
    has_down = up > 0
    c_up = inner[np.minimum(up, len(inner) - 1)]
    c_down = inner[np.maximum(up - 1, 0)]
    pick_down = has_down & (~has_up | (targets - c_down <= c_up - targets))
    chosen = np.where(pick_down, c_down, c_up)
    first = np.searchsorted(inner, chosen, side="left")
    last = np.searchsorted(inner, chosen, side="right") - 1
    b = (first + last) // 2 + 1  # edge index in 1 .. B-1
    quantiles = edges[b - 1]
    bounds = np.concatenate([[0], b, [bins]])
    bin_counts = np.diff(below[bounds])
    bin_sums = np.diff(total[bounds])
    left = np.concatenate([[low], quantiles])
    right = np.concatenate([quantiles, [high]])
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.clip(bin_sums / bin_counts, left, right)
    means = np.where(bin_counts > 0, means, left)
    return QuantileSummary(float(low), float(high), quantiles, bin_counts, means)


def summary_from_samples(x: np.ndarray, resolution: int = 256) -> QuantileSummary:
    """The summary of the finite elements of `x` (at least one), computed as
    calibration computes it (`histogram_edges`, `summary_from_histogram`)."""
    values = np.asarray(x, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no finite values to summarise")
    low, high = float(values.min()), float(values.max())
    edges = histogram_edges(low, high)
    counts, sums = histogram_add(edges, values)
    return summary_from_histogram(low, high, counts, sums, resolution)


def fit_thresholds(
    summary: QuantileSummary, bits: int
) -> tuple[np.ndarray, float, int]:
    """(thresholds, scale, zero point) of `thrN` codes (N = `bits`) for the
    distribution `summary` (see the module docstring)."""
    bins = 1 << bits
    resolution = summary.resolution
    if resolution < bins or resolution % bins:
        raise ValueError(
            f"the calibrated quantiles have {resolution} bins, thr{bits} needs "
            f"a multiple of {bins}: run qopt-calibrate with quantiles={bins} "
            "(or more)"
        )
    counts = np.asarray(summary.counts, dtype=np.int64)
    sums = counts * np.asarray(summary.means, dtype=np.float64)
    bounds = np.arange(0, resolution + 1, resolution // bins)
    coarse_counts = np.diff(np.concatenate([[0], np.cumsum(counts)])[bounds])
    coarse_sums = np.diff(np.concatenate([[0.0], np.cumsum(sums)])[bounds])
    edges = np.asarray(summary.quantiles, dtype=np.float64)[bounds[1:-1] - 1]
    nonempty = np.flatnonzero(coarse_counts > 0)
    if len(nonempty) < 2:
        lo, hi = min(summary.low, 0.0), max(summary.high, 0.0)
        if not hi - lo > TINY:
            return np.array([0.5]), 1.0, 0
        scale = hi - lo
        return np.array([(lo + hi) / 2]), scale, round(-lo / scale)
    thresholds = edges[nonempty[1:] - 1]
    c = coarse_counts[nonempty].astype(np.float64)
    m = coarse_sums[nonempty] / c
    codes = np.arange(len(c), dtype=np.float64)
    d = codes[None, :] - codes[:, None]  # [zp, code]
    sdd = (c * d * d).sum(axis=1)
    sdm = (c * d * m).sum(axis=1)
    gain = np.where(sdm > 0, sdm * sdm / sdd, -np.inf)
    zp = int(np.argmax(gain))
    scale = float(sdm[zp] / sdd[zp])
    return thresholds, (scale if scale > TINY else 1.0), zp


def thresholds_qtype(
    summary: QuantileSummary, bits: int, expressed: AnyFloat = f32
) -> ThresholdsType:
    """The `!q.thresholds<uN:...>` type of `thrN` codes for `summary`."""
    thresholds, scale, zp = fit_thresholds(summary, bits)
    return ThresholdsType(bits, scale, thresholds, zp, expressed=expressed)


def threshold_fake_quantize(
    x: np.ndarray, thresholds: np.ndarray, scale: float, zero_point: int
) -> np.ndarray:
    """scale · (#{j : x >= t_j} - zero_point): the real value that `thrN`
    codes give to x (float64; for fake quantization in training)."""
    codes = np.searchsorted(np.asarray(thresholds, dtype=np.float64), x, "right")
    return scale * (codes - zero_point).astype(np.float64)
