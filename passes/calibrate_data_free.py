"""`qopt-calibrate-data-free`: choose the range of every float activation from
an analytic model of its distribution, without calibration data.

    qopt-opt m.mlir --pass-pipeline='builtin.module(nn-fold-batchnorm,
        qopt-equalize, qopt-bias-correct{mode=analytic},
        qopt-calibrate-data-free{input-range=0,1},
        qopt-quantize{weights=int8 activations=int8})'

The pass writes the same `#q.range` attributes as `qopt-calibrate` (on the
same values: the float arguments of the entry function and every float op
result that depends on one; constants and what is computed only from
constants get none), with method `analytic` and without `#q.stats` (nothing
was observed). It models each value, per index of axis 1 (channels of NCHW,
features of [N, F]), by its mean, its variance and a law, and propagates
them through the graph in program order.

Laws. Every law is, per index i, the maximum of `taps` independent copies
of clip(B_i, lo_i, hi_i), where B_i is normal N(c_i, s_i^2) or uniform with
mean c_i and standard deviation s_i (on [c_i - sqrt(3) s_i, c_i + sqrt(3)
s_i]), and lo_i / hi_i may be infinite. Its cdf on [lo, hi) is
F_B(t)^taps, with atoms at lo and hi. The mean and variance of a law are
integrated numerically (midpoint rule on 4096 intervals over its effective
support: [lo, hi] intersected with c ± 8 s for a normal base; the mass
beyond 8 s, at most taps · 6e-16, is put at the ends).

Inputs (options): `input-range=LO,HI` alone makes each float argument
uniform on [LO, HI]; `input-mean=M input-std=S` make it N(M, S^2) (M and S
are one value, or one per index of axis 1), clipped to [LO, HI] if
`input-range` is given too. Digits images (`qopt.models.data`) are in
[0, 1]: `input-range=0,1`.

Propagation, per op (x the variable operand; mean m, variance v):

- `nn.conv2d` (constant weight W [O, C/g, kh, kw], constant or no bias b):
  m_o = b_o + sum W[o, c, :, :] m_c, v_o = sum W[o, c, :, :]^2 v_c over the
  input channels c of o's group: the taps are taken as independent, and
  zero padding is ignored (this is the law of an interior pixel). The
  result is normal N(m, v).
- `nn.gemm` (x = A, transA false, constant B, C constant of shape [], [N]
  or [1, N], or absent): m = alpha m_A B' + beta C, v = alpha^2 v_A B'^2;
  `nn.matmul` (x [N, K], constant [K, N]) likewise. Normal.
- a layer carrying `q.bn_stats = {mean, std}` (recorded by
  nn-fold-batchnorm, kept by qopt-equalize) and `nn.batchnorm`: normal
  N(mean, std^2), resp. N(beta, gamma^2), per channel: what the trained
  batch normalisation makes of its input, whatever came before.
- `nn.relu`, `nn.clip{min, max}`: the law is clipped (lo = max(lo, min),
  hi = min(hi, max); clipping commutes with the maximum of taps), and the
  mean and variance are those of the new law (rectified / clipped normal).
- `nn.maxpool2d`: taps are multiplied by kh · kw (the window's elements
  are taken as independent; padding is ignored).
- `nn.avgpool2d` (n = kh · kw), `nn.global_avgpool` (n = H · W): the mean
  is kept, the variance divided by n (independence). The law is taken as
  normal with this mean and variance, clipped to the input law's [lo, hi].
- `nn.flatten` (axis 1) / `nn.reshape` from [N, C, d...] to [N, C · d...]:
  each channel becomes its block of features; a reshape that keeps axes 0
  and 1 keeps the channels.
- `nn.add`: of two variable values of the same shape (a residual), the sums
  of the means and of the variances (independence), normal, clipped to
  [lo_x + lo_y, hi_x + hi_y]; of a variable value and a constant that is a
  scalar or per index of axis 1, the law is shifted.

Any other op that depends on an argument is an error naming the op (the
model would be a guess and qopt-quantize needs its range), as are the
cases above with other operands (a variable weight, transA, a flatten at
another axis, a channel axis that is dynamic).

Ranges (per tensor, from the laws of all indices, each index weighted
equally): the value is non-negative if every law has lo >= 0, non-positive
if every law has hi <= 0, else signed.

- `method=sigma` (default): [min_i (m_i - k s_i), max_i (m_i + k s_i)]
  with k = `sigmas` (default 6) and s_i = sqrt(v_i), each end kept inside
  the effective support of index i's law.
- `method=mse`: the threshold T that minimises the expected mean squared
  error of uniform quantization at `bits`, exactly as the mse method of
  `qopt-calibrate` chooses it (`calibrate.mse_thresholds`), on the expected
  histogram of |x| (2048 bins on [0, amax], amax the largest |end| of the
  effective supports; exact zeros, which quantize exactly, are left out):
  levels 2^(bits-1) - 1 and range [-T, T] for signed values, 2^bits - 1 and
  [0, T] (or [-T, 0]) otherwise. For a normal law at 8 bits T is 3.92
  standard deviations.

Why sigma with k = 6 is the default: the mse threshold is optimal only if
the model is right, and the independence assumption is not: on the digits
MLP (no batchnorm; correlated pixels) the modelled standard deviations of
the hidden and output layers are 0.2 to 0.9 times the measured ones
(median 0.6, 0.3, 0.25 for fc1, fc2, fc3 of seed 0), so the mse ranges clip
real values. Over seeds 0-4 at W8A8 the relative squared logit error
against FP32 is 4.8e-2 (MLP) and 1.1e-2 (LeNet) with mse, 5.8e-3 and
5.1e-4 with sigma k = 6, for the same test accuracy (`bench/data_free.py`).
At 4-bit activations the wide ranges cost resolution instead: `method=mse
bits=4` loses 0.2 / 0.5 points of accuracy against 0.2 / 2.3 for sigma k =
6 (MLP / LeNet): use mse (or a smaller k) for narrow activations.

Options: input-range, input-mean, input-std, method (sigma), sigmas (6),
bits (8), entry. Bad options are a ValueError, an unsupported graph a
one-line PassFailedException naming the op.

Requires: `nn` IR (run nn-fold-batchnorm first, so that folded layers
carry `q.bn_stats`; qopt-equalize and qopt-bias-correct before this pass,
as they change the float values).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import DenseArrayBase, DictionaryAttr, ModuleOp
from xdsl.ir import Operation, OpResult, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

from qopt.backends.reference.nn import dense_to_numpy, erfc64
from qopt.passes.calibrate import HIST_BINS, _is_float_tensor, mse_thresholds
from qopt.passes.entry import entry_function
from qopt.passes.equalize import BN_STATS_ATTR
from qopt.passes.quantize import describe
from qopt.qdialect import nn
from qopt.qdialect.calib import RANGE_ATTR, RANGES_ATTR, RangeAttr, set_value_range
from qopt.qdialect.shapes import DYN, shape_of

Method = Literal["mse", "sigma"]

SPAN = 8.0
"""Standard deviations of a normal base kept as its effective support."""

GRID = 4096
"""Intervals of the midpoint rule for the mean and variance of a law."""

METHOD_NAME = "analytic"
"""The method written into `#q.range`."""

SUPPORTED = (
    "nn.conv2d, nn.gemm, nn.matmul, nn.batchnorm, nn.relu, nn.clip, "
    "nn.maxpool2d, nn.avgpool2d, nn.global_avgpool, nn.flatten, nn.reshape, "
    "nn.add"
)


class DataFreeError(Exception):
    """A graph the model does not cover; the message is one line."""


# --------------------------------------------------------------------------- #
# Laws and their moments
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Law:
    """Per index i: the maximum of `taps` iid copies of clip(B_i, lo_i, hi_i),
    B_i normal (`uniform` False) or uniform with mean `center` and standard
    deviation `scale`."""

    center: np.ndarray
    scale: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    taps: int = 1
    uniform: bool = False

    @staticmethod
    def normal(mean: np.ndarray, std: np.ndarray) -> Law:
        mean = np.asarray(mean, dtype=np.float64)
        inf = np.full(mean.shape, np.inf)
        return Law(mean, np.abs(np.asarray(std, dtype=np.float64)), -inf, inf)

    def clipped(self, lo: float | np.ndarray, hi: float | np.ndarray) -> Law:
        """The law of clip(x, lo, hi) (clip commutes with the maximum)."""
        new_hi = np.minimum(self.hi, hi)
        new_lo = np.minimum(np.maximum(self.lo, lo), new_hi)
        return replace(self, lo=new_lo, hi=new_hi)

    def shifted(self, c: np.ndarray) -> Law:
        return replace(self, center=self.center + c, lo=self.lo + c, hi=self.hi + c)

    def max_of(self, n: int) -> Law:
        return replace(self, taps=self.taps * n)

    def repeat(self, n: int) -> Law:
        """Each index becomes n consecutive ones (a flatten)."""
        return replace(
            self,
            center=np.repeat(self.center, n),
            scale=np.repeat(self.scale, n),
            lo=np.repeat(self.lo, n),
            hi=np.repeat(self.hi, n),
        )

    def support(self) -> tuple[np.ndarray, np.ndarray]:
        """The effective support [a, b] per index (see the module docstring)."""
        half = (math.sqrt(3.0) if self.uniform else SPAN) * self.scale
        a = np.clip(self.center - half, self.lo, self.hi)
        b = np.clip(self.center + half, self.lo, self.hi)
        return a, b

    def _base_cdf(self, t: np.ndarray, rows: np.ndarray) -> np.ndarray:
        c, s = self.center[rows, None], self.scale[rows, None]
        safe = np.where(s > 0, s, 1.0)
        if self.uniform:
            z = (t - c) / (2 * math.sqrt(3.0) * safe) + 0.5
            f = np.clip(z, 0.0, 1.0)
        else:
            f = 0.5 * erfc64(-(t - c) / (safe * math.sqrt(2.0)))
        return np.where(s > 0, f, (t >= c).astype(np.float64))

    def cdf_inside(self, t: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """F_B(t)^taps for rows `rows` (t [len(rows), T]); the cdf on (lo, hi)."""
        return self._base_cdf(t, rows) ** self.taps

    def unique_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(representative rows, inverse, counts) of the distinct indices."""
        key = np.stack([self.center, self.scale, self.lo, self.hi], axis=1)
        _, first, inverse, counts = np.unique(
            key, axis=0, return_index=True, return_inverse=True, return_counts=True
        )
        return first, inverse.reshape(-1), counts

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """The mean and variance per index (midpoint rule, GRID intervals)."""
        rows, inverse, _ = self.unique_rows()
        a, b = self.support()
        a, b = a[rows, None], b[rows, None]
        t = a + (b - a) * (np.arange(GRID + 1) / GRID)[None, :]
        f = self.cdf_inside(t, rows)
        masses = np.diff(f, axis=1)
        mids = (t[:, 1:] + t[:, :-1]) / 2
        low, high = f[:, :1], 1.0 - f[:, -1:]  # atoms at a and b
        m1 = (masses * mids).sum(1) + (low * a + high * b)[:, 0]
        m2 = (masses * mids * mids).sum(1) + (low * a * a + high * b * b)[:, 0]
        var = np.maximum(m2 - m1 * m1, 0.0)
        return m1[inverse], var[inverse]

    def abs_histogram(self, bins: int) -> tuple[np.ndarray, float]:
        """The expected histogram of |x| over all indices (each weighted
        equally; exact zeros left out) on `bins` equal bins of [0, amax]."""
        a, b = self.support()
        amax = float(max(np.abs(a).max(), np.abs(b).max())) if a.size else 0.0
        if amax <= 0:
            return np.zeros(bins), 0.0
        rows, _, counts = self.unique_rows()
        a, b = a[rows, None], b[rows, None]
        edges = amax * (np.arange(bins + 1) / bins)[None, :]

        def cdf(t: np.ndarray, left: bool) -> np.ndarray:
            inside = self.cdf_inside(np.clip(t, a, b), rows)
            if left:  # P(x < t)
                return np.where(t <= a, 0.0, np.where(t > b, 1.0, inside))
            return np.where(t < a, 0.0, np.where(t >= b, 1.0, inside))

        positive = np.diff(cdf(edges, left=False), axis=1)  # (e_j, e_j+1]
        negative = -np.diff(cdf(-edges, left=True), axis=1)  # [-e_j+1, -e_j)
        hist = (counts[:, None] * (positive + negative)).sum(0) / counts.sum()
        return hist, amax


@dataclass(frozen=True)
class Dist:
    """A value's model per index of axis 1: mean, variance and law."""

    mean: np.ndarray
    var: np.ndarray
    law: Law

    @staticmethod
    def of_law(law: Law) -> Dist:
        mean, var = law.moments()
        return Dist(mean, var, law)

    @staticmethod
    def gaussian(mean: np.ndarray, var: np.ndarray) -> Dist:
        var = np.maximum(np.asarray(var, dtype=np.float64), 0.0)
        mean = np.asarray(mean, dtype=np.float64)
        return Dist(mean, var, Law.normal(mean, np.sqrt(var)))

    def averaged(self, n: int) -> Dist:
        """The mean of n independent elements of each index."""
        var = self.var / n
        law = Law.normal(self.mean, np.sqrt(var)).clipped(self.law.lo, self.law.hi)
        return Dist(self.mean, var, law)

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.var)


def choose_range(
    dist: Dist, method: Method, bits: int, sigmas: float
) -> tuple[float, float]:
    """The per-tensor range of a value modelled by `dist` (module docstring)."""
    law = dist.law
    a, b = law.support()
    if method == "sigma":
        lo = float(np.max([a, dist.mean - sigmas * dist.std], axis=0).min())
        hi = float(np.min([b, dist.mean + sigmas * dist.std], axis=0).max())
        return lo, max(lo, hi)
    nonneg, nonpos = bool((law.lo >= 0).all()), bool((law.hi <= 0).all())
    signed = not (nonneg or nonpos)
    hist, amax = law.abs_histogram(HIST_BINS)
    levels = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    t = float(mse_thresholds(hist[None, :], np.array([amax]), levels)[0])
    if signed:
        return -t, t
    return (0.0, t) if nonneg else (-t, 0.0)


# --------------------------------------------------------------------------- #
# Propagation through the graph
# --------------------------------------------------------------------------- #


def _const(value: SSAValue) -> np.ndarray | None:
    if not isinstance(value, OpResult) or not isinstance(value.op, nn.ConstantOp):
        return None
    return dense_to_numpy(value.op.value).astype(np.float64)


def _channels(value: SSAValue) -> int:
    shape = shape_of(value)
    if len(shape) < 2 or shape[1] == DYN:
        raise DataFreeError(
            f"{describe(value)}: the model needs a static axis 1 (channels or "
            f"features), the type has shape {list(shape)}"
        )
    return shape[1]


def _unsupported(op: Operation, why: str) -> DataFreeError:
    return DataFreeError(f"{describe(op.results[0])}: {why}")


def _need_const(op: Operation, value: SSAValue | None, what: str) -> np.ndarray:
    array = _const(value) if value is not None else None
    if array is None:
        raise _unsupported(op, f"the {what} must be an nn.constant")
    return array


def _bn_stats(op: Operation, channels: int) -> Dist | None:
    stats = op.attributes.get(BN_STATS_ATTR)
    if not isinstance(stats, DictionaryAttr):
        return None
    mean, std = stats.data.get("mean"), stats.data.get("std")
    if not (isinstance(mean, DenseArrayBase) and isinstance(std, DenseArrayBase)):
        raise _unsupported(op, f"{BN_STATS_ATTR} needs arrays 'mean' and 'std'")
    m = np.asarray(mean.get_values(), dtype=np.float64)
    s = np.asarray(std.get_values(), dtype=np.float64)
    if m.shape != (channels,) or s.shape != (channels,):
        raise _unsupported(op, f"{BN_STATS_ATTR} must hold {channels} means and stds")
    return Dist.gaussian(m, s * s)


def _per_channel(
    op: Operation, array: np.ndarray, rank: int, channels: int
) -> np.ndarray:
    """A constant operand that broadcasts as one value per index of axis 1."""
    shape = (1,) * (rank - array.ndim) + array.shape
    if (
        len(shape) == rank
        and all(d == 1 for i, d in enumerate(shape) if i != 1)
        and shape[1] in (1, channels)
    ):
        return np.broadcast_to(array.reshape(-1), (channels,)).astype(np.float64)
    raise _unsupported(
        op, "the constant operand must be a scalar or one value per channel"
    )


def _conv(op: nn.Conv2dOp, x: Dist) -> Dist:
    w = _need_const(op, op.weight, "weight")
    b = np.zeros(w.shape[0]) if op.bias is None else _need_const(op, op.bias, "bias")
    group = op.attrs[3]
    o, cg = w.shape[:2]
    per_in = w.sum(axis=(2, 3))  # [O, C/g]
    per_in2 = (w * w).sum(axis=(2, 3))
    g = np.arange(o) // (o // group)
    cols = g[:, None] * cg + np.arange(cg)[None, :]  # input channel of each tap
    mean = b + (per_in * x.mean[cols]).sum(1)
    var = (per_in2 * x.var[cols]).sum(1)
    return Dist.gaussian(mean, var)


def _gemm(op: nn.GemmOp, x: Dist) -> Dist:
    alpha, beta, trans_a, trans_b = op.attrs
    if trans_a:
        raise _unsupported(op, "transA is not supported (the batch is axis 0)")
    bmat = _need_const(op, op.b, "operand B")
    w = bmat.T if trans_b else bmat  # [K, N]
    mean = alpha * (x.mean @ w)
    var = alpha * alpha * (x.var @ (w * w))
    if op.c is not None:
        c = _need_const(op, op.c, "operand C")
        n = w.shape[1]
        if c.size not in (1, n) or (c.ndim == 2 and c.shape[0] != 1):
            raise _unsupported(op, "operand C must be a scalar, [N] or [1, N]")
        mean = mean + beta * np.broadcast_to(c.reshape(-1), (n,))
    return Dist.gaussian(mean, var)


def _matmul(op: nn.MatMulOp, x: Dist) -> Dist:
    w = _need_const(op, op.rhs, "right operand")
    if len(shape_of(op.lhs)) != 2 or w.ndim != 2:
        raise _unsupported(op, "only [N, K] x constant [K, N] is supported")
    return Dist.gaussian(x.mean @ w, x.var @ (w * w))


def _pool_taps(op: nn.MaxPool2dOp | nn.AvgPool2dOp) -> int:
    return int(np.prod(op.kernel_shape.get_values()))


def _reshape(op: Operation, x: Dist) -> Dist:
    src, dst = shape_of(op.operands[0]), shape_of(op.results[0])
    if isinstance(op, nn.FlattenOp) and op.attrs % len(src) != 1:
        raise _unsupported(op, "only axis 1 is supported")
    if len(dst) >= 2 and tuple(src[:2]) == tuple(dst[:2]):
        return x  # the channels stay
    block = src[2:]
    if len(dst) == 2 and src[1] != DYN and DYN not in block and len(src) > 2:
        n = int(np.prod(block))
        if dst[1] == src[1] * n:
            return Dist(np.repeat(x.mean, n), np.repeat(x.var, n), x.law.repeat(n))
    raise _unsupported(
        op,
        f"only [N, C, ...] -> [N, C * ...] or reshapes that keep axes 0 and 1 are "
        f"supported, got {list(src)} -> {list(dst)}",
    )


def _add(op: nn.AddOp, dists: dict[SSAValue, Dist]) -> Dist:
    lhs, rhs = op.operands
    if lhs in dists and rhs in dists:
        if shape_of(lhs) != shape_of(rhs):
            raise _unsupported(op, "both operands must have the same shape")
        x, y = dists[lhs], dists[rhs]
        mean, var = x.mean + y.mean, x.var + y.var
        law = Law.normal(mean, np.sqrt(var)).clipped(
            x.law.lo + y.law.lo, x.law.hi + y.law.hi
        )
        return Dist(mean, var, law)
    variable, other = (lhs, rhs) if lhs in dists else (rhs, lhs)
    x = dists[variable]
    c = _per_channel(
        op,
        _need_const(op, other, "other operand"),
        len(shape_of(variable)),
        len(x.mean),
    )
    return Dist(x.mean + c, x.var, x.law.shifted(c))


def propagate(op: Operation, dists: dict[SSAValue, Dist]) -> Dist:
    """The model of the result of `op`, whose variable operands are in `dists`."""
    if isinstance(op, nn.Conv2dOp | nn.GemmOp | nn.MatMulOp):
        stats = _bn_stats(op, _channels(op.results[0]))
        if stats is not None:
            return stats
    x = dists.get(op.operands[0]) if op.operands else None
    if isinstance(op, nn.BatchNormOp):
        gamma = _need_const(op, op.scale, "scale").reshape(-1)
        beta = _need_const(op, op.bias, "bias").reshape(-1)
        return Dist.gaussian(beta, gamma * gamma)
    if isinstance(op, nn.AddOp):
        return _add(op, dists)
    if x is None:
        raise _unsupported(op, "the first operand must be the variable value")
    if isinstance(op, nn.Conv2dOp):
        return _conv(op, x)
    if isinstance(op, nn.GemmOp):
        return _gemm(op, x)
    if isinstance(op, nn.MatMulOp):
        return _matmul(op, x)
    if isinstance(op, nn.ReluOp):
        return Dist.of_law(x.law.clipped(0.0, np.inf))
    if isinstance(op, nn.ClipOp):
        lo, hi = op.attrs
        return Dist.of_law(x.law.clipped(lo, hi))
    if isinstance(op, nn.MaxPool2dOp):
        return Dist.of_law(x.law.max_of(_pool_taps(op)))
    if isinstance(op, nn.AvgPool2dOp):
        return x.averaged(_pool_taps(op))
    if isinstance(op, nn.GlobalAvgPoolOp):
        spatial = shape_of(op.input)[2:]
        if DYN in spatial:
            raise _unsupported(op, "the spatial dimensions must be static")
        return x.averaged(int(np.prod(spatial)))
    if isinstance(op, nn.FlattenOp | nn.ReshapeOp):
        return _reshape(op, x)
    raise _unsupported(op, f"no data-free model for this op (supported: {SUPPORTED})")


# --------------------------------------------------------------------------- #
# The pass
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class CalibrateDataFreePass(ModulePass):
    """Record the range of every float activation (`#q.range`, method
    `analytic`) from per-channel means, variances and laws propagated from an
    assumed input distribution through the graph (batchnorm statistics
    reset them), choosing the range by expected quantization mse at `bits`
    or as mean ± `sigmas` standard deviations. No data is read.

    Options: `input-range` (LO,HI: uniform inputs, or the clip of normal
    ones), `input-mean` / `input-std` (normal inputs; one value or one per
    channel), `method` (mse, sigma), `sigmas`, `bits`, `entry`. See the
    module docstring for the exact model.

    Requires: `nn` IR of the supported ops, after nn-fold-batchnorm,
    qopt-equalize and qopt-bias-correct.
    """

    name = "qopt-calibrate-data-free"

    input_range: tuple[int | float, ...] | None = None
    input_mean: tuple[int | float, ...] | None = None
    input_std: tuple[int | float, ...] | None = None
    method: str = "sigma"
    sigmas: float = 6.0
    bits: int = 8
    entry: str | None = None

    def __post_init__(self) -> None:
        if self.method not in ("mse", "sigma"):
            raise ValueError(f"unknown method '{self.method}' (mse, sigma)")
        if (self.input_mean is None) != (self.input_std is None):
            raise ValueError("options 'input-mean' and 'input-std' go together")
        if self.input_range is None and self.input_mean is None:
            raise ValueError(
                "the input distribution is needed: give input-range=LO,HI "
                "and/or input-mean=M input-std=S"
            )
        r = self.input_range
        if r is not None and not (
            len(r) == 2 and all(math.isfinite(v) for v in r) and r[0] < r[1]
        ):
            raise ValueError(
                f"option 'input-range' must be two finite numbers LO,HI with "
                f"LO < HI, got {','.join(str(v) for v in r)}"
            )
        if self.input_mean is not None and self.input_std is not None:
            if len(self.input_mean) != len(self.input_std):
                raise ValueError(
                    f"options 'input-mean' and 'input-std' have {len(self.input_mean)}"
                    f" and {len(self.input_std)} values"
                )
            if not all(math.isfinite(v) for v in self.input_mean):
                raise ValueError("option 'input-mean' must be finite")
            if not all(math.isfinite(v) and v >= 0 for v in self.input_std):
                raise ValueError("option 'input-std' must be finite and >= 0")
        if not (math.isfinite(self.sigmas) and self.sigmas > 0):
            raise ValueError(f"option 'sigmas' must be > 0, got {self.sigmas}")
        if not 2 <= self.bits <= 16:
            raise ValueError(f"option 'bits' must be in 2..16, got {self.bits}")

    def input_dist(self, value: SSAValue) -> Dist:
        """The model of a float argument, from the options."""
        channels = _channels(value)
        if self.input_mean is None or self.input_std is None:
            assert self.input_range is not None
            lo, hi = self.input_range
            mean = np.full(channels, (lo + hi) / 2)
            std = np.full(channels, (hi - lo) / math.sqrt(12.0))
            law = Law(mean, std, np.full(channels, lo), np.full(channels, hi))
            return Dist(mean, std * std, replace(law, uniform=True))
        n = len(self.input_mean)
        if n not in (1, channels):
            raise DataFreeError(
                f"{describe(value)} has {channels} channels, 'input-mean' and "
                f"'input-std' give {n} values"
            )
        mean = np.broadcast_to(np.array(self.input_mean), (channels,)).copy()
        std = np.broadcast_to(np.array(self.input_std), (channels,)).copy()
        law = Law.normal(mean, std)
        if self.input_range is not None:
            return Dist.of_law(law.clipped(*self.input_range))
        return Dist(mean, std * std, law)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        try:
            self._apply(op)
        except DataFreeError as e:
            raise PassFailedException(" ".join(str(e).split())) from None

    def distributions(self, fn: func.FuncOp) -> dict[SSAValue, Dist]:
        """The model of every float value of `fn` that depends on an
        argument (raises DataFreeError where the model does not apply)."""
        block = fn.body.blocks.first
        assert block is not None
        dists: dict[SSAValue, Dist] = {}
        variable: set[SSAValue] = set(block.args)
        for arg in block.args:
            if _is_float_tensor(arg):
                dists[arg] = self.input_dist(arg)
        for inner in block.ops:
            if inner is block.last_op or not any(o in variable for o in inner.operands):
                continue
            variable.update(inner.results)
            if len(inner.results) != 1 or not _is_float_tensor(inner.results[0]):
                raise DataFreeError(
                    f"'{inner.name}' has no data-free model (supported: {SUPPORTED})"
                )
            dists[inner.results[0]] = propagate(inner, dists)
        return dists

    def _apply(self, module: ModuleOp) -> None:
        fn = entry_function(module, self.entry, "calibrate", DataFreeError)
        dists = self.distributions(fn)
        for inner in fn.walk():
            inner.attributes.pop(RANGE_ATTR, None)
            inner.attributes.pop(RANGES_ATTR, None)
        for value, dist in dists.items():
            lo, hi = choose_range(dist, self.method, self.bits, self.sigmas)  # type: ignore[arg-type]
            set_value_range(value, RangeAttr(lo, hi, None, METHOD_NAME))
