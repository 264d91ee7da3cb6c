"""`qopt-calibrate`: record the range of every float activation on calibration data.

    qopt-opt m.mlir --pass-pipeline='builtin.module(qopt-calibrate{data=calib.npz
        method=mse bits=8 granularity=tensor})'

The pass runs the entry `func.func` with the reference executor on the
calibration set, batch by batch (each batch is one vectorised run of the
whole function), and records for every float value of the function that
depends on an argument (the float arguments and every float op result;
constants and what is computed only from constants are skipped: the
quantizer handles weights) a `#q.range` chosen by `method`, with the observed
`#q.stats`. The attribute goes on the op as `q.range` (one result) or
`q.ranges = [...]` (several results; `unit` for a result without a range),
and on arguments into `func.func`'s `arg_attrs`. `docs/dialects/q.md`
("Calibration attributes") gives the syntax and meaning.

Data (`data=FILE`): an `.npz` archive with one array per argument (an array
whose name equals an argument's name hint goes to that argument; the others
fill the remaining arguments in the archive's order), or an `.npy` file for a
one-argument function. Axis 0 of every array indexes the samples: all arrays
have the same length N >= 1 along it, and the other dimensions equal the
argument's (static ones). An argument with a static first dimension d fixes
the batch to d samples (N must be a multiple of d); otherwise batches have
`batch-size` samples (the last one may be smaller). Float arguments take
float or integer arrays, integer arguments integer or boolean ones; float
data must be finite. A relative path is taken from the working directory.
`entry=NAME` picks the function (default: the module's only function with a
body, else `@main`).

Options: data (required), method=minmax|percentile|mse|entropy (minmax),
percentile=P (99.99), granularity=tensor|channel (tensor), bits=2..16 (8),
batch-size=N (256), dynamic=true|false (false), quantiles=0|R (0: off; R a
power of two in 2..256), entry=NAME.

Statistics are accumulated per batch, never by keeping activations:

1. first pass over the data (every method): the number of finite elements,
   their min and max (per tensor, and per channel with `granularity=channel`),
   and their mean and standard deviation (Chan's parallel update, float64);
2. second pass (percentile, mse, entropy), with what the first pass found:
   - percentile: the exact tails: per group, the k smallest and/or largest
     elements that the order statistics need (np.partition of the buffer and
     the batch); if a value's tails would hold more than 2^22 elements, a
     histogram of 65536 bins between min and max instead (values spread
     evenly inside a bin; error at most one bin);
   - mse and entropy: a histogram of |x| with 2048 bins of equal width on
     [0, amax], amax = max(|min|, |max|) of the group (exact zeros are not
     counted: they quantize exactly at any range);
   - with `quantiles=R` (any method): per tensor, the count and the sum of
     the elements in each of 65536 equal bins on [min, max]; from it the
     `#q.stats` gets `quantiles`, `counts` and `means` of R equiprobable bins
     (`passes/quant_formats.py`, "Threshold codes": each edge is within one
     of the 65536 bins of the exact quantile). `qopt-quantize` needs them
     for `thrN` activations (R >= 2^N).
Both passes are independent of how the data is batched (except for the float
rounding of mean and std, and of the bin sums).

The sign of a value is decided per tensor from the first pass: non-negative
(min >= 0, e.g. after relu), non-positive (max <= 0), or signed. Methods, on
the finite elements of each group (the tensor, or each index of axis 1):

- `minmax`: [min, max].
- `percentile` (option `percentile` = p, 0 < p <= 100): with P(q) numpy's
  default (linear) `np.percentile(x, q)` in float64: signed values get
  [P((100 - p) / 2), P((100 + p) / 2)] (both tails cut by (100 - p) / 2 %),
  non-negative ones [0, P(p)], non-positive ones [P(100 - p), 0].
- `mse`: the clipping threshold T among amax * k / 512, k = 1..512, that
  minimises the mean squared error of uniform quantization at `bits` on the
  histogram (every bin's elements spread evenly over it, the error integrated
  exactly): signed values are quantized symmetrically with levels
  -(2^(bits-1) - 1)..2^(bits-1) - 1 and scale T / (2^(bits-1) - 1), range
  [-T, T]; non-negative ones with levels 0..2^bits - 1 and scale
  T / (2^bits - 1), range [0, T] ([-T, 0] if non-positive). Ties take the
  largest T.
- `entropy` (TensorRT's KL calibration): with n = 2^(bits-1) levels for
  signed values and 2^bits for one-signed ones, for every cut
  i = 2^(bits-1)..2048 (128..2048 at 8 bits, as TensorRT and NVIDIA's
  pytorch-quantization do, also for one-signed values): P is the first i
  bins with the count of all the bins above added to bin i-1 (the clipped
  distribution); Q is the first i bins as they are, quantized into n levels
  (bin j belongs to level floor(j * n / i); with i < n every bin is a level
  of its own), each level's count spread evenly over its non-empty bins;
  both are normalised to sum 1 and KL(P || Q) = sum over P > 0 of
  P log(P / Q) (infinite where Q = 0: a cut whose last bin is empty while
  there are elements above it). The i with the smallest KL (the largest such
  i on ties) gives T = amax * i / 2048, and the range is [-T, T], [0, T] or
  [-T, 0] as for mse. With 2^(bits-1) > 2048 (bits > 12), or no finite KL,
  T = amax.

`granularity=channel` gives per-channel ranges along axis 1 for values of
rank >= 2 (channels of NCHW, features of [N, F]); other values stay per
tensor. The statistics are always per tensor. `dynamic=true` marks every
range `dynamic`: the quantizer computes those ranges per batch at run time
(see q.md). Non-finite results (inf, NaN) are left out of the statistics; a
value with no finite element gets no range.

Requires: `nn` IR whose entry function runs on the reference executor.
Bad options, files, data or a failing run raise a one-line error.
"""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    Float16Type,
    Float32Type,
    Float64Type,
    ModuleOp,
    TensorType,
)
from xdsl.interpreter import Interpreter, PythonValues
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import InterpretationError, PassFailedException

from qopt.backends.reference.nn import numpy_dtype
from qopt.passes.entry import entry_function
from qopt.passes.quant_formats import (
    MAX_THRESHOLD_BITS,
    histogram_add,
    histogram_edges,
    summary_from_histogram,
)
from qopt.qdialect.calib import (
    RANGE_ATTR,
    RANGES_ATTR,
    RangeAttr,
    StatsAttr,
    set_value_range,
)
from qopt.qdialect.shapes import DYN

Method = Literal["minmax", "percentile", "mse", "entropy"]
Granularity = Literal["tensor", "channel"]

HIST_BINS = 2048
"""Bins of the |x| histogram of the mse and entropy methods."""

MSE_CANDIDATES = 512
"""Clipping thresholds tried by the mse method: amax * k / 512, k = 1..512."""

EXACT_PERCENTILE_LIMIT = 1 << 22
"""Most tail elements kept per value for exact percentiles."""

FINE_BINS = 1 << 16
"""Bins of the percentile fallback histogram (between min and max)."""

CHANNEL_AXIS = 1


class CalibrationError(Exception):
    """Bad calibration data or a failing run; the message is one line."""


# --------------------------------------------------------------------------- #
# Numerics (no IR): thresholds from histograms, numpy's percentile rule
# --------------------------------------------------------------------------- #


def percentile_index(n: int, q: float) -> tuple[int, int, float]:
    """numpy's linear rule: np.percentile(x, q) of n sorted values is
    lerp(x[i], x[j], gamma); returns (i, j, gamma)."""
    virtual = (n - 1) * (q / 100)
    if virtual >= n - 1:
        return n - 1, n - 1, 0.0
    i = math.floor(virtual)
    return i, i + 1, virtual - i


def lerp(a: float, b: float, t: float) -> float:
    """numpy's `_lerp`: a + (b - a) t, from the nearer end."""
    diff = b - a
    if t >= 0.5:
        return b - diff * (1 - t)
    return a + diff * t


def _error_integral(u: np.ndarray, t: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Integral from 0 to u of (x - Q(x))^2, Q the quantizer with step s that
    clips at t = levels * s (u: [B+1] edges; t, s: [K, 1])."""
    uc = np.minimum(u, t)
    k = np.round(uc / s)
    v = uc - k * s
    over = np.maximum(u - t, 0.0)
    return k * (s * s * s / 12.0) + (v * v * v + over * over * over) / 3.0


@functools.lru_cache(maxsize=8)
def mse_error_matrix(
    levels: int, bins: int = HIST_BINS, candidates: int = MSE_CANDIDATES
) -> np.ndarray:
    """M[k, j]: mean squared error of the elements of bin j (of `bins` equal
    bins on [0, 1], spread evenly over the bin) quantized with step T / levels
    and clipped at T = (k + 1) / candidates. The errors scale with amax^2."""
    edges = np.arange(bins + 1, dtype=np.float64) / bins
    t = (np.arange(1, candidates + 1, dtype=np.float64) / candidates)[:, None]
    cumulative = _error_integral(edges[None, :], t, t / levels)
    matrix = np.diff(cumulative, axis=1) * bins
    matrix.setflags(write=False)
    return matrix


def mse_thresholds(hist: np.ndarray, amax: np.ndarray, levels: int) -> np.ndarray:
    """The mse method's clipping thresholds of G groups (hist [G, B] of |x|
    on [0, amax], amax [G]); the largest threshold on ties."""
    hist = np.asarray(hist, dtype=np.float64)
    amax = np.asarray(amax, dtype=np.float64)
    matrix = mse_error_matrix(levels, hist.shape[1])
    errors = hist @ matrix.T  # [G, K], in units of amax^2
    k = errors.shape[1] - np.argmin(errors[:, ::-1], axis=1)  # 1..K
    return np.where(hist.any(axis=1), amax * (k / errors.shape[1]), amax)


def entropy_divergences(
    hist: np.ndarray, levels: int, start: int | None = None
) -> np.ndarray:
    """KL(P || Q) of TensorRT's calibration for every cut i (index i of the
    result) from `start` (default `levels`) on, inf below, of one histogram
    (see the module docstring).

    Computed per level from prefix sums: with C, Z and H the prefix sums of
    the counts h, of h > 0 and of h log h, level k of cut i covers the bins
    [ceil(k i / n), ceil((k + 1) i / n)), holds L = sum h and Z non-empty
    bins, and every non-empty bin of it has q = L / Z.
    """
    h = np.asarray(hist, dtype=np.float64)
    bins = len(h)
    out = np.full(bins + 1, np.inf)
    total = h.sum()
    start = levels if start is None else start
    if start > bins or total <= 0:
        return out
    zero = np.zeros(1)
    c = np.concatenate([zero, np.cumsum(h)])
    z = np.concatenate([zero, np.cumsum(h > 0)])
    with np.errstate(divide="ignore", invalid="ignore"):
        hlogh = np.where(h > 0, h * np.log(np.where(h > 0, h, 1.0)), 0.0)
    hl = np.concatenate([zero, np.cumsum(hlogh)])
    cuts = np.arange(start, bins + 1)  # i
    k = np.arange(levels + 1)
    bounds = -((-k[None, :] * cuts[:, None]) // levels)  # [I, n + 1]
    level_sum = c[bounds[:, 1:]] - c[bounds[:, :-1]]  # L, [I, n]
    level_nonzero = z[bounds[:, 1:]] - z[bounds[:, :-1]]  # Z
    last = h[cuts - 1]  # h[i - 1]
    rows = np.arange(len(cuts))
    last_level = ((cuts - 1) * levels) // cuts  # n - 1 unless i < n
    outliers = total - c[cuts]  # O
    q_total = c[cuts]  # sum of Q before normalising
    with np.errstate(divide="ignore", invalid="ignore"):
        log_q = np.log(level_sum / level_nonzero) - np.log(q_total)[:, None]
        log_q = np.where(level_sum > 0, log_q, 0.0)
        # bins j < i - 1: sum h_j (log(h_j / N) - log(q_j / Qt))
        body_mass = level_sum.copy()
        body_mass[rows, last_level] -= last
        body = (
            hl[cuts - 1]
            - np.log(total) * c[cuts - 1]
            - np.sum(body_mass * log_q, axis=1)
        )
        # bin i - 1, holding the outliers too
        p_last = last + outliers
        tail = np.where(
            p_last > 0,
            np.where(
                last > 0,
                p_last * (np.log(p_last / total) - log_q[rows, last_level]),
                np.inf,
            ),
            0.0,
        )
        divergence = (body + tail) / total
    out[start:] = np.where(q_total > 0, divergence, np.inf)
    return out


def entropy_thresholds(
    hist: np.ndarray, amax: np.ndarray, levels: int, start: int | None = None
) -> np.ndarray:
    """TensorRT's KL thresholds of G groups (hist [G, B] of |x| on [0, amax],
    amax [G]): T = amax * i / B for the best cut i >= start (the largest on
    ties); amax where no cut has a finite divergence."""
    hist = np.asarray(hist, dtype=np.float64)
    amax = np.asarray(amax, dtype=np.float64)
    bins = hist.shape[1]
    out = amax.copy()
    start = levels if start is None else start
    if start > bins:
        return out
    for g in range(hist.shape[0]):
        divergence = entropy_divergences(hist[g], levels, start)
        if np.isfinite(divergence).any():
            best = bins - int(np.argmin(divergence[::-1]))
            out[g] = amax[g] * (best / bins)
    return out


# --------------------------------------------------------------------------- #
# Streaming statistics of one value
# --------------------------------------------------------------------------- #


@dataclass
class _Tail:
    """Exact percentiles: the k smallest or largest elements per group."""

    keep: int
    lowest: bool
    buffer: np.ndarray | None = None

    def update(self, g: np.ndarray, mask: np.ndarray | None) -> None:
        fill = np.inf if self.lowest else -np.inf
        values = g if mask is None else np.where(mask, g, fill)
        if self.buffer is not None:
            values = np.concatenate([self.buffer, values], axis=1)
        width = values.shape[1]
        if width > self.keep:
            if self.lowest:
                values = np.partition(values, self.keep - 1, axis=1)[:, : self.keep]
            else:
                cut = width - self.keep
                values = np.partition(values, cut, axis=1)[:, cut:]
        self.buffer = values

    def order_statistic(self, group: int, n: int, rank: int) -> float:
        """The element of 0-based rank `rank` among the group's n finite ones."""
        assert self.buffer is not None
        row = np.sort(self.buffer[group])
        return float(row[rank] if self.lowest else row[len(row) - n + rank])


class ValueStats:
    """Calibration statistics of one value, accumulated batch by batch."""

    def __init__(self, axis: int | None, quantiles: int = 0):
        self.axis = axis
        self.resolution = quantiles
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.gcount: np.ndarray | None = None
        self.gmin: np.ndarray | None = None
        self.gmax: np.ndarray | None = None
        self.sign = "signed"
        # second pass
        self.hist: np.ndarray | None = None
        self.hist_lo: np.ndarray | None = None
        self.hist_scale: np.ndarray | None = None
        self.hist_bins = 0
        self.hist_abs = False
        self.tails: list[_Tail] = []
        self.quantiles: list[tuple[float, _Tail | None]] = []
        # per-tensor histogram for the quantile summary
        self.qedges: np.ndarray | None = None
        self.qcounts: np.ndarray | None = None
        self.qsums: np.ndarray | None = None

    # -- helpers ------------------------------------------------------------- #

    def _matrix(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The elements as float64 [groups, m] and the finite mask (or None)."""
        x = np.asarray(x)
        if self.axis is None:
            g = x.reshape(1, -1).astype(np.float64)
        else:
            g = np.moveaxis(x, self.axis, 0).reshape(x.shape[self.axis], -1)
            g = g.astype(np.float64)
        if self.gcount is not None and g.shape[0] != len(self.gcount):
            raise CalibrationError(
                f"axis {self.axis} changed size from {len(self.gcount)} to "
                f"{g.shape[0]} between batches"
            )
        finite = np.isfinite(g)
        return g, None if finite.all() else finite

    @property
    def groups(self) -> int:
        return 0 if self.gcount is None else len(self.gcount)

    # -- first pass ---------------------------------------------------------- #

    def observe_first(self, x: np.ndarray) -> None:
        g, mask = self._matrix(x)
        groups = g.shape[0]
        if self.gcount is None:
            self.gcount = np.zeros(groups, dtype=np.int64)
            self.gmin = np.full(groups, np.inf)
            self.gmax = np.full(groups, -np.inf)
        assert self.gmin is not None and self.gmax is not None
        if g.shape[1] == 0:
            return
        if mask is None:
            self.gcount += g.shape[1]
            self.gmin = np.minimum(self.gmin, g.min(axis=1))
            self.gmax = np.maximum(self.gmax, g.max(axis=1))
            values = g.ravel()
        else:
            self.gcount += mask.sum(axis=1)
            self.gmin = np.minimum(self.gmin, np.where(mask, g, np.inf).min(axis=1))
            self.gmax = np.maximum(self.gmax, np.where(mask, g, -np.inf).max(axis=1))
            values = g[mask]
        n = values.size
        if n == 0:
            return
        mean = float(values.mean())
        m2 = float(np.square(values - mean).sum())
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total

    @property
    def observed(self) -> bool:
        return self.count > 0

    def stats(self) -> StatsAttr:
        assert self.gmin is not None and self.gmax is not None
        std = math.sqrt(max(self.m2, 0.0) / self.count)
        lo = float(self.gmin.min())
        hi = float(self.gmax.max())
        mean = min(max(self.mean, lo), hi)
        if self.qcounts is None:
            return StatsAttr(lo, hi, mean, std, self.count)
        assert self.qsums is not None
        summary = summary_from_histogram(
            lo, hi, self.qcounts, self.qsums, self.resolution
        )
        return StatsAttr(
            lo,
            hi,
            mean,
            std,
            self.count,
            summary.quantiles.tolist(),
            summary.counts.tolist(),
            summary.means.tolist(),
        )

    # -- planning the second pass ------------------------------------------- #

    def plan(self, method: str, percentile: float) -> bool:
        """Prepare the second pass; False if it has nothing to observe."""
        assert self.gmin is not None and self.gmax is not None
        assert self.gcount is not None
        has = self.gcount > 0
        lo, hi = float(self.gmin[has].min()), float(self.gmax[has].max())
        self.sign = "nonneg" if lo >= 0 else "nonpos" if hi <= 0 else "signed"
        gmin = np.where(has, self.gmin, 0.0)
        gmax = np.where(has, self.gmax, 0.0)
        if self.resolution:
            self.qedges = histogram_edges(lo, hi)
            self.qcounts = np.zeros(len(self.qedges) + 1, dtype=np.int64)
            self.qsums = np.zeros(len(self.qedges) + 1)
        if method == "minmax":
            return self.resolution > 0
        if method in ("mse", "entropy"):
            amax = np.maximum(np.abs(gmin), np.abs(gmax))
            self._start_histogram(np.zeros_like(amax), amax, HIST_BINS, absolute=True)
            return True
        # percentile
        if self.sign == "signed":
            wanted = [
                ((100.0 - percentile) / 2.0, True),
                ((100.0 + percentile) / 2.0, False),
            ]
        elif self.sign == "nonneg":
            wanted = [(percentile, False)]
        else:
            wanted = [(100.0 - percentile, True)]
        counts = [int(c) for c in self.gcount]
        keeps = []
        for q, lowest in wanted:
            need = 0
            for n in counts:
                if n == 0:
                    continue
                i, j, _ = percentile_index(n, q)
                need = max(need, j + 1 if lowest else n - i)
            keeps.append(max(need, 1))
        if sum(keeps) * self.groups <= EXACT_PERCENTILE_LIMIT:
            for (q, lowest), keep in zip(wanted, keeps, strict=True):
                tail = _Tail(keep, lowest)
                self.tails.append(tail)
                self.quantiles.append((q, tail))
        else:
            self.quantiles = [(q, None) for q, _ in wanted]
            self._start_histogram(gmin, gmax, FINE_BINS, absolute=False)
        return True

    def _start_histogram(
        self, lo: np.ndarray, hi: np.ndarray, bins: int, absolute: bool
    ) -> None:
        width = hi - lo
        self.hist_lo = lo
        self.hist_scale = np.where(width > 0, bins / np.where(width > 0, width, 1), 0)
        self.hist_bins = bins
        self.hist_abs = absolute
        self.hist = np.zeros((len(lo), bins), dtype=np.int64)

    # -- second pass --------------------------------------------------------- #

    def observe_second(self, x: np.ndarray) -> None:
        g, mask = self._matrix(x)
        if g.shape[1] == 0:
            return
        if self.qedges is not None:
            assert self.qcounts is not None and self.qsums is not None
            counts, sums = histogram_add(
                self.qedges, g.ravel() if mask is None else g[mask]
            )
            self.qcounts += counts
            self.qsums += sums
        for tail in self.tails:
            tail.update(g, mask)
        if self.hist is None:
            return
        assert self.hist_lo is not None and self.hist_scale is not None
        bins = self.hist_bins
        if self.hist_abs:
            values = np.abs(g)
            valid = values > 0
            if mask is not None:
                valid &= mask
        else:
            values = g
            valid = mask if mask is not None else np.ones(g.shape, dtype=bool)
        with np.errstate(invalid="ignore"):
            scaled = (values - self.hist_lo[:, None]) * self.hist_scale[:, None]
        index = np.clip(np.where(valid, scaled, 0), 0, bins - 1).astype(np.int64)
        index += (np.arange(g.shape[0]) * bins)[:, None]
        self.hist += np.bincount(index[valid], minlength=g.shape[0] * bins).reshape(
            g.shape[0], bins
        )

    # -- the range ------------------------------------------------------------ #

    def _hist_order_statistic(self, group: int, rank: int) -> float:
        assert self.hist is not None and self.hist_lo is not None
        assert self.gmin is not None and self.gmax is not None
        assert self.hist_scale is not None
        counts = self.hist[group]
        cumulative = np.cumsum(counts)
        b = int(np.searchsorted(cumulative, rank, side="right"))
        before = int(cumulative[b - 1]) if b else 0
        position = (b + (rank - before + 0.5) / counts[b]) if counts[b] else b
        scale = self.hist_scale[group]
        value = self.hist_lo[group] + (position / scale if scale else 0.0)
        return float(min(max(value, self.gmin[group]), self.gmax[group]))

    def _percentile(self, group: int, q: float, tail: _Tail | None) -> float:
        assert self.gcount is not None
        n = int(self.gcount[group])
        i, j, gamma = percentile_index(n, q)
        if tail is not None:
            a, b = tail.order_statistic(group, n, i), tail.order_statistic(group, n, j)
        else:
            a, b = (
                self._hist_order_statistic(group, i),
                self._hist_order_statistic(group, j),
            )
        return lerp(a, b, gamma)

    def bounds(self, method: str, bits: int) -> tuple[list[float], list[float]]:
        """Per-group (lows, highs) chosen by `method` (after both passes)."""
        assert self.gmin is not None and self.gmax is not None
        assert self.gcount is not None
        groups = self.groups
        has = self.gcount > 0
        if method == "minmax":
            return (
                [float(v) if h else 0.0 for v, h in zip(self.gmin, has, strict=True)],
                [float(v) if h else 0.0 for v, h in zip(self.gmax, has, strict=True)],
            )
        if method == "percentile":
            lows, highs = [], []
            for g in range(groups):
                if not has[g]:
                    lows.append(0.0)
                    highs.append(0.0)
                    continue
                found = [self._percentile(g, q, tail) for q, tail in self.quantiles]
                if self.sign == "signed":
                    lo, hi = found
                elif self.sign == "nonneg":
                    lo, hi = 0.0, found[0]
                else:
                    lo, hi = found[0], 0.0
                lows.append(lo)
                highs.append(max(hi, lo))
            return lows, highs
        assert self.hist is not None and self.hist_scale is not None
        amax = np.where(has, np.maximum(np.abs(self.gmin), np.abs(self.gmax)), 0.0)
        signed = self.sign == "signed"
        if method == "mse":
            levels = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
            t = mse_thresholds(self.hist, amax, levels)
        else:
            start = 1 << (bits - 1)
            levels = start if signed else 2 * start
            t = entropy_thresholds(self.hist, amax, levels, start)
        t = [float(v) for v in t]
        if signed:
            return [-v for v in t], t
        if self.sign == "nonneg":
            return [0.0] * groups, t
        return [-v for v in t], [0.0] * groups


# --------------------------------------------------------------------------- #
# Calibration data
# --------------------------------------------------------------------------- #


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _fmt_shape(shape: Sequence[int]) -> str:
    return "x".join("?" if d == DYN else str(d) for d in shape) or "scalar"


def load_calibration_data(path: str, fn: func.FuncOp) -> list[np.ndarray]:
    """The arrays of `path` in argument order, checked against `fn`."""
    args = list(fn.body.blocks.first.args) if fn.body.blocks else []
    types = fn.function_type.inputs.data
    name = os.path.basename(path)
    if not os.path.exists(path):
        raise CalibrationError(f"cannot read '{path}': No such file or directory")
    if not types:
        raise CalibrationError(
            f"@{fn.sym_name.data} takes no arguments: there is nothing to calibrate"
        )
    try:
        loaded = np.load(path, allow_pickle=False, mmap_mode="r")
    except OSError as e:
        raise CalibrationError(f"cannot read '{path}': {e.strerror or e}") from None
    except (ValueError, EOFError):
        raise CalibrationError(f"'{path}' is not a .npy or .npz file") from None
    if isinstance(loaded, np.ndarray):
        if len(types) != 1:
            raise CalibrationError(
                f"'{name}' holds one array but @{fn.sym_name.data} takes "
                f"{len(types)} arguments: give an .npz with one array each"
            )
        arrays: list[tuple[str, np.ndarray]] = [("the array", loaded)]
    else:
        with loaded:
            try:
                items = [(k, loaded[k]) for k in loaded.files]
            except (OSError, ValueError, EOFError) as e:
                raise CalibrationError(
                    f"cannot read '{path}': {' '.join(str(e).split())}"
                ) from None
        if len(items) != len(types):
            raise CalibrationError(
                f"'{name}' holds {_plural(len(items), 'array')} but "
                f"@{fn.sym_name.data} takes {_plural(len(types), 'argument')}"
            )
        hints = [a.name_hint for a in args]
        slots: list[tuple[str, np.ndarray] | None] = [None] * len(types)
        rest = []
        for key, array in items:
            if key in hints and slots[hints.index(key)] is None:
                slots[hints.index(key)] = (f"array '{key}'", array)
            else:
                rest.append((f"array '{key}'", array))
        for i, slot in enumerate(slots):
            if slot is None:
                slots[i] = rest.pop(0)
        arrays = [s for s in slots if s is not None]
    out = []
    samples = None
    for i, ((label, array), ty) in enumerate(zip(arrays, types, strict=True)):
        where = f"'{name}': {label} (argument {i})"
        if not isinstance(ty, TensorType):
            raise CalibrationError(
                f"argument {i} of @{fn.sym_name.data} is not a tensor"
            )
        shape = ty.get_shape()
        if not shape:
            raise CalibrationError(
                f"argument {i} is a 0-d tensor: calibration needs a batch axis"
            )
        if array.ndim != len(shape) or any(
            d != DYN and d != v for d, v in zip(shape[1:], array.shape[1:], strict=True)
        ):
            raise CalibrationError(
                f"{where} has shape {_fmt_shape(array.shape)}, the argument is "
                f"tensor<{_fmt_shape(shape)}> (axis 0 indexes the samples)"
            )
        dtype = numpy_dtype(ty.element_type)
        is_float = np.issubdtype(dtype, np.floating)
        kinds = "fiu" if is_float else "iub"
        if array.dtype.kind not in kinds:
            raise CalibrationError(
                f"{where} holds {array.dtype} values, the argument expects "
                + ("real numbers" if is_float else "integers")
            )
        if samples is None:
            samples = array.shape[0]
        elif array.shape[0] != samples:
            raise CalibrationError(
                f"{where} has {array.shape[0]} samples, the first array {samples}"
            )
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise CalibrationError(f"{where} holds NaN or infinite values")
        out.append(array)
    if not samples:
        raise CalibrationError(f"'{name}' holds no samples (axis 0 has size 0)")
    return out


# --------------------------------------------------------------------------- #
# The pass
# --------------------------------------------------------------------------- #


def _is_float_tensor(value: SSAValue) -> bool:
    ty = value.type
    return isinstance(ty, TensorType) and isinstance(
        ty.element_type, Float16Type | Float32Type | Float64Type
    )


def _channel_axis(value: SSAValue, granularity: str) -> int | None:
    ty = value.type
    assert isinstance(ty, TensorType)
    if granularity == "channel" and len(ty.get_shape()) >= 2:
        return CHANNEL_AXIS
    return None


class _Observer(Interpreter.Listener):
    """Feeds the results of the recorded ops to their statistics."""

    def __init__(self, table: dict[int, list[tuple[int, ValueStats]]]):
        self.table = table
        self.second = False
        self.op: Operation | None = None

    def will_interpret_op(self, op: Operation, args: PythonValues) -> None:
        self.op = op

    def did_interpret_op(self, op: Operation, results: PythonValues) -> None:
        for index, stats in self.table.get(id(op), ()):
            if self.second:
                stats.observe_second(results[index])
            else:
                stats.observe_first(results[index])


def _progress(total: int):
    """A tqdm bar on a terminal's stderr, else a silent stand-in."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc="qopt-calibrate",
        unit="batch",
        leave=False,
        disable=not sys.stderr.isatty(),
        file=sys.stderr,
    )


@dataclass(frozen=True)
class CalibratePass(ModulePass):
    """Run the float graph on calibration data and record the range of every
    float activation (`#q.range` with `#q.stats`) by minmax, percentile, mse
    or entropy, per tensor or per channel.

    Options: `data` (an .npz with one array per argument, or an .npy for one
    argument; axis 0 indexes the samples), `method`, `percentile` (p of the
    percentile method), `granularity` (`channel`: per index of axis 1 for
    rank >= 2), `bits` (the target width of mse and entropy), `batch-size`
    (samples per run when the batch dimension is dynamic), `dynamic` (mark
    the ranges for run-time ranges), `quantiles` (record R equiprobable bins
    in `#q.stats`, for `thrN` activations), `entry` (the function; default:
    the only one, else @main). See the module docstring for the exact
    methods.

    Requires: `nn` IR that the reference executor runs.
    """

    name = "qopt-calibrate"

    data: str
    method: Method = "minmax"
    percentile: float = 99.99
    granularity: Granularity = "tensor"
    bits: int = 8
    batch_size: int = 256
    dynamic: bool = False
    quantiles: int = 0
    entry: str | None = None

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("option 'data' must name an .npz or .npy file")
        if self.method not in ("minmax", "percentile", "mse", "entropy"):
            raise ValueError(
                f"unknown method '{self.method}' (minmax, percentile, mse, entropy)"
            )
        if self.granularity not in ("tensor", "channel"):
            raise ValueError(
                f"unknown granularity '{self.granularity}' (tensor, channel)"
            )
        if not 0 < self.percentile <= 100:
            raise ValueError(
                f"option 'percentile' must be in (0, 100], got {self.percentile}"
            )
        if not 2 <= self.bits <= 16:
            raise ValueError(f"option 'bits' must be in 2..16, got {self.bits}")
        if self.batch_size < 1:
            raise ValueError(
                f"option 'batch-size' must be at least 1, got {self.batch_size}"
            )
        q, top = self.quantiles, 1 << MAX_THRESHOLD_BITS
        if q != 0 and not (2 <= q <= top and q & (q - 1) == 0):
            raise ValueError(
                f"option 'quantiles' must be 0 or a power of two in 2..{top}, got {q}"
            )

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        try:
            self._calibrate(op)
        except CalibrationError as e:
            raise PassFailedException(str(e)) from None

    def _calibrate(self, module: ModuleOp) -> None:
        fn = entry_function(module, self.entry, "calibrate", CalibrationError)
        arrays = load_calibration_data(self.data, fn)
        block = fn.body.blocks.first
        assert block is not None

        # what to record: float values that depend on an argument
        variable: set[SSAValue] = set(block.args)
        arg_stats: list[tuple[int, ValueStats]] = []
        table: dict[int, list[tuple[int, ValueStats]]] = {}
        recorded: list[tuple[SSAValue, ValueStats]] = []
        for arg in block.args:
            if _is_float_tensor(arg):
                stats = ValueStats(_channel_axis(arg, self.granularity), self.quantiles)
                arg_stats.append((arg.index, stats))
                recorded.append((arg, stats))
        for inner in block.ops:
            inner.attributes.pop(RANGE_ATTR, None)
            inner.attributes.pop(RANGES_ATTR, None)
            if not any(o in variable for o in inner.operands):
                continue
            for result in inner.results:
                variable.add(result)
                if _is_float_tensor(result):
                    stats = ValueStats(
                        _channel_axis(result, self.granularity), self.quantiles
                    )
                    table.setdefault(id(inner), []).append((result.index, stats))
                    recorded.append((result, stats))

        batches = self._batches(fn, arrays)
        dtypes = [numpy_dtype(t.element_type) for t in fn.function_type.inputs.data]  # type: ignore[attr-defined]
        observer = _Observer(table)
        interpreter = _interpreter(module, observer)
        passes = 1 if self.method == "minmax" and not self.quantiles else 2
        with _progress(passes * len(batches)) as bar:
            self._run(
                fn, arrays, dtypes, batches, arg_stats, observer, interpreter, bar
            )
            if passes == 2:
                needed = [
                    s.plan(self.method, self.percentile)
                    for _, s in recorded
                    if s.observed
                ]
                if any(needed):
                    observer.second = True
                    self._run(
                        fn,
                        arrays,
                        dtypes,
                        batches,
                        arg_stats,
                        observer,
                        interpreter,
                        bar,
                    )
        for value, stats in recorded:
            if not stats.observed:
                set_value_range(value, None)
                continue
            if passes == 1:
                stats.plan(self.method, self.percentile)
            lows, highs = stats.bounds(self.method, self.bits)
            attr = RangeAttr(
                lows if stats.axis is not None else lows[0],
                highs if stats.axis is not None else highs[0],
                stats.axis,
                self.method,
                self.dynamic,
                stats.stats(),
            )
            set_value_range(value, attr)

    def _batches(self, fn: func.FuncOp, arrays: list[np.ndarray]) -> list[slice]:
        samples = arrays[0].shape[0]
        static = {
            t.get_shape()[0]
            for t in fn.function_type.inputs.data
            if isinstance(t, TensorType) and t.get_shape()[0] != DYN
        }
        if len(static) > 1:
            raise CalibrationError(
                "the arguments have different static batch sizes "
                + ", ".join(str(d) for d in sorted(static))
            )
        if static:
            size = static.pop()
            if size < 1 or samples % size:
                raise CalibrationError(
                    f"the calibration set has {samples} samples, which is not a "
                    f"multiple of the static batch size {size} of "
                    f"@{fn.sym_name.data}"
                )
        else:
            size = self.batch_size
        return [slice(s, min(s + size, samples)) for s in range(0, samples, size)]

    @staticmethod
    def _run(
        fn: func.FuncOp,
        arrays: list[np.ndarray],
        dtypes: list[np.dtype],
        batches: list[slice],
        arg_stats: list[tuple[int, ValueStats]],
        observer: _Observer,
        interpreter: Interpreter,
        bar,
    ) -> None:
        name = fn.sym_name.data
        for batch in batches:
            inputs = tuple(
                np.asarray(a[batch]).astype(d, copy=False)
                for a, d in zip(arrays, dtypes, strict=True)
            )
            for index, stats in arg_stats:
                if observer.second:
                    stats.observe_second(inputs[index])
                else:
                    stats.observe_first(inputs[index])
            observer.op = None
            try:
                with np.errstate(all="ignore"):
                    interpreter.call_op(name, inputs)
            except CalibrationError:
                raise
            except InterpretationError as e:
                raise CalibrationError(
                    f"running @{name} on the calibration data failed: "
                    + " ".join(str(e).split())
                ) from None
            except (ValueError, IndexError, TypeError, ArithmeticError) as e:
                where = observer.op.name if observer.op is not None else f"@{name}"
                raise CalibrationError(
                    f"running @{name} on the calibration data failed in {where}: "
                    + " ".join(str(e).split())
                ) from None
            bar.update(1)


def _interpreter(module: ModuleOp, observer: _Observer) -> Interpreter:
    from qopt.backends.reference.runner import interpreter_for

    return interpreter_for(module, observer)
