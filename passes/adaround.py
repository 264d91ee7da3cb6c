"""`qopt-adaround`: learn the rounding of each weight (AdaRound) before quantizing.

    qopt-opt m.mlir --pass-pipeline='builtin.module(qopt-calibrate{data=c.npz},
        qopt-adaround{data=c.npz weights=pot4 activations=int8},
        qopt-quantize{weights=pot4 activations=int8})'

AdaRound (Nagel et al., "Up or Down? Adaptive Rounding for Post-Training
Quantization", ICML 2020) chooses, for every weight w of a layer, one of the
two neighbouring representable values of the weight grid around w / s (s
the channel's scale): lo <= w / s <= hi, two adjacent levels of the sorted
level set (the uniform grid -q..q of `intN`; the pot or spot levels, whose
steps are not uniform; per element for a `!q.mixed` type). The choice
minimises the reconstruction error of the layer's output on the calibration
data with the relaxation W~ = s * (lo + h(V) * (hi - lo)),
h(V) = clip(sigmoid(V) * 1.2 - 0.1, 0, 1) (the rectified sigmoid), V
initialised so that W~ = W, and the loss

    recon + reg * sum(1 - |2 h(V) - 1|^beta)

minimised with Adam (torch, CPU) for `iters` steps per layer: no regulariser
for the first 20 % of the steps, then beta falls linearly from 20 to 2 (the
paper's schedule). The result rounds up where h(V) >= 0.5.

Inputs (`inputs`):

- `quantized` (default; the paper's "asymmetric" reconstruction, as AIMET
  and BRECQ do it): the layers are rounded in order, and layer k sees the
  inputs X_q that the *quantized* model gives it: the model as
  `qopt-quantize` rewrites it (with `weights`, `activations`,
  `weight-granularity`, `recipe`) with layers 0..k-1 already rounded, so
  its input carries their weight error and the activation quantization at
  the calibrated `#q.range`s, bit-exactly as the reference executor runs
  the `q` IR. The target stays the float layer on the float model's inputs
  X: recon = ||X W - X_q W~||^2. Each layer corrects part of the error of
  the layers before it.
- `float`: every layer sees the float model's inputs (X_q = X), so each
  layer is rounded on its own.

`recon` is the squared error summed over the layer's output features and
averaged over its output positions (samples, and pixels of a convolution).
With the inputs as rows (im2col patches of a convolution, per group), it is
exact from second moments over all n rows: recon = (tr(W~' X_q'X_q W~)
- 2 tr(W' X'X_q W~) + tr(W' X'X W)) / n. The pass keeps only those Gram
matrices (and the row sums), accumulated batch by batch with the reference
executor (`batch-size` samples at a time), so every step is exact over the
whole calibration set and the result is deterministic.

`bias-correct=true` (default) also moves the bias of every layer that has one
(conv2d bias, gemm C with N elements, the row of a matmul + add) by the mean
output error E[X W - X_q W~] over the rows, and the rounding minimises the
error left after that correction (recon minus the squared mean error).

Scales (`scales`): `quantize` (default): those `qopt-quantize` would compute
for the layer's format and granularity (`passes/quant_formats.py`);
`output`: per channel (per tensor with `weight-granularity=tensor`), among
the same candidates the pot/spot search uses (max|w| / max_level ·
2^(-k/32), k = 0..63; 0..127 for ternary), the scale whose nearest rounding
gives the smallest output error recon (computed exactly from the Gram
matrices, channel by channel: the error is a sum over output channels);
AdaRound then rounds on that grid.

Layers: the ones `qopt-quantize` gives integer weights, with the same
conditions: `nn.conv2d` with constant weight and bias (per output channel:
axis 0), `nn.gemm` with transA false, alpha 1, constant B and a bias constant
along M (weight B' as [K, N], per column), `nn.matmul` of a non-constant
input of rank >= 2 by a constant rank-2 [K, N] weight. A layer carrying
`q.weight_type` (recorded by `qopt-mixed-precision`: a `!q.mixed`, or a
whole-layer `!q.uniform` / `!q.pot` / `!q.spot`) is rounded onto that type's
grid (its scales, each element in its own level set) and keeps the type.

The pass replaces each float weight constant by the chosen grid values
s * level (each exactly the dequantized level in the expressed type) and
records on the layer op (except for a recorded `q.weight_type`)

    q.weight_format = "int4", q.weight_scales = array<f64: s0, s1, ...>

`qopt-quantize` then uses exactly those scales (and rejects a different
format or granularity for that layer), and its nearest rounding reproduces
the learned levels bit-exactly.

Options: `data` (required; as qopt-calibrate: an .npz with one array per
argument or an .npy), `weights` (int8), `activations` (int8; the format of
qopt-quantize's activations for inputs=quantized), `weight-granularity`
(channel), `recipe`, `inputs` (quantized), `scales` (quantize),
`bias-correct` (true), `iters` (1000, >= 0; 0 gives nearest rounding on
the chosen scales, bias-corrected with bias-correct=true), `lr` (0.01, the
Adam step), `reg` (0.01, the regulariser weight), `batch-size` (256:
samples per run when the batch is dynamic), `entry`.

Measured (bench/ptq_targets.py, digits LeNet, seeds 0-4, W4A8 / pot4 / spot2
test accuracy): see docs/passes.md.

Requires: `nn` IR that the reference executor runs; calibrated
(`#q.range`, qopt-calibrate) for inputs=quantized.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    DenseArrayBase,
    ModuleOp,
    StringAttr,
    TensorType,
    f64,
)
from xdsl.interpreter import Interpreter, PythonValues
from xdsl.ir import Operation, OpResult, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import (
    InterpretationError,
    PassFailedException,
    VerifyException,
)

from qopt.backends.reference.nn import im2col, numpy_dtype, numpy_to_dense
from qopt.passes.calibrate import CalibrationError, load_calibration_data
from qopt.passes.entry import entry_function
from qopt.passes.quant_formats import (
    TINY,
    WEIGHT_FORMAT_ATTR,
    WEIGHT_SCALES_ATTR,
    WEIGHT_TYPE_ATTR,
    WeightFormat,
    parse_act_format,
    parse_granularity,
    parse_weight_format,
    weight_scales,
)
from qopt.passes.quant_recipe import RecipeError, load_recipe
from qopt.passes.quantize import (
    LayerConfig,
    QuantizeError,
    QuantizePass,
    _bias_row,
    _const,
    _Rewrite,
)
from qopt.qdialect import nn, q
from qopt.qdialect.qtypes import LevelsAttr, MixedType, QuantizedType
from qopt.qdialect.shapes import DYN, shape_of

ZETA, GAMMA = 1.1, -0.1
"""The stretch of the rectified sigmoid: h = clip(sigmoid(V) (ZETA - GAMMA) + GAMMA,
0, 1)."""

WARMUP = 0.2
"""Fraction of the steps without the rounding regulariser."""

BETA_START, BETA_END = 20.0, 2.0
"""The regulariser's exponent, annealed linearly after the warm-up."""

STEPS_PER_OCTAVE = 32
"""Candidate scales per factor of two for scales=output (as quant_formats)."""

INPUTS = ("quantized", "float")
SCALES = ("quantize", "output")

LAYER_OPS = (nn.Conv2dOp, nn.GemmOp, nn.MatMulOp)
"""The ops qopt-quantize may turn into q.conv2d / q.matmul."""


class AdaRoundError(Exception):
    """Input the pass cannot handle; the message is one line."""


# --------------------------------------------------------------------------- #
# Grids
# --------------------------------------------------------------------------- #


def level_neighbours(
    t: np.ndarray, levels: LevelsAttr
) -> tuple[np.ndarray, np.ndarray]:
    """The two neighbouring levels lo <= t <= hi of each real `t` (in level
    units) in the sorted level set; a level itself gives lo = t, and a value
    beyond the extreme levels gives lo = hi = that extreme level."""
    t = np.asarray(t, dtype=np.float64)
    first, last = levels.min_level, levels.max_level
    if levels.kind.data == "int":
        step = float(1 << levels.shift.data)
        lo = np.clip(np.floor(t / step) * step, first, last)
        hi = np.clip(lo + step, first, last)
    else:
        table = levels.levels
        idx = np.clip(np.searchsorted(table, t, side="right"), 1, len(table) - 1)
        lo, hi = table[idx - 1], table[idx]
    lo = np.where(t >= last, last, np.where(t <= first, first, lo))
    hi = np.where(t <= first, first, hi)
    return lo.astype(np.int64), hi.astype(np.int64)


@dataclass
class Grid:
    """The values a layer's weights may take, in the [G, K, N/G] matrix
    layout: element e is scale[e] times a level of level_sets[index[e]]
    (index None: one level set)."""

    level_sets: tuple[LevelsAttr, ...]
    scale: np.ndarray  # broadcastable to the matrix
    index: np.ndarray | None = None

    def _each(self, t: np.ndarray, fn: Callable) -> tuple[np.ndarray, ...]:
        if self.index is None:
            return fn(t, self.level_sets[0])
        outs = None
        for i, levels in enumerate(self.level_sets):
            mask = self.index == i
            part = fn(t[mask], levels)
            if outs is None:
                outs = tuple(np.zeros(t.shape, dtype=np.int64) for _ in part)
            for out, p in zip(outs, part, strict=True):
                out[mask] = p
        assert outs is not None
        return outs

    def neighbours(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self._each(t, level_neighbours)
        return lo, hi

    def nearest(self, t: np.ndarray) -> np.ndarray:
        """qopt-quantize's rounding of `t` (in level units)."""
        (out,) = self._each(t, lambda v, levels: (levels.nearest(v),))
        return out


# --------------------------------------------------------------------------- #
# Input statistics
# --------------------------------------------------------------------------- #


@dataclass
class Stats:
    """Second moments of a layer's input rows over `rows` rows, per group:
    qq = X_q'X_q, qf = X_q'X, ff = X'X ([G, K, K]) and the row sums sq, sf
    of X_q and X ([G, K]); X are the float model's inputs, X_q the ones the
    rounded layer sees (X_q is X for inputs=float: then only qq and sq are
    kept)."""

    rows: int = 0
    qq: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sq: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cross: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # qf, ff, sf

    @property
    def qf(self) -> np.ndarray:
        return self.qq if self.cross is None else self.cross[0]

    @property
    def ff(self) -> np.ndarray:
        return self.qq if self.cross is None else self.cross[1]

    @property
    def sf(self) -> np.ndarray:
        return self.sq if self.cross is None else self.cross[2]

    def add(self, xq: np.ndarray, xf: np.ndarray | None = None) -> None:
        """Add rows [G, R, K] (xf None: the same rows for X and X_q)."""
        qq = np.einsum("gri,grj->gij", xq, xq)
        sq = xq.sum(axis=1)
        cross = None
        if xf is not None:
            cross = (
                np.einsum("gri,grj->gij", xq, xf),
                np.einsum("gri,grj->gij", xf, xf),
                xf.sum(axis=1),
            )
        if self.rows == 0:
            self.qq, self.sq, self.cross = qq, sq, cross
        else:
            if (cross is None) != (self.cross is None):
                raise ValueError("mixed float-only and paired input statistics")
            self.qq, self.sq = self.qq + qq, self.sq + sq
            if cross is not None and self.cross is not None:
                self.cross = tuple(
                    a + b for a, b in zip(self.cross, cross, strict=True)
                )  # type: ignore[assignment]
        self.rows += xq.shape[1]


# --------------------------------------------------------------------------- #
# One layer
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Bias:
    """The bias constant of a layer: its output gets `factor` * value (gemm's
    beta) through the op `user` (the layer, or the add of a matmul)."""

    value: OpResult
    factor: float
    user: Operation


@dataclass
class Layer:
    """A layer to round: its weight as groups of [K, N/G] matrices (the
    columns are output channels), its format (None for a recorded
    `q.weight_type`) and grid, and the statistics of its inputs."""

    op: Operation
    weight: OpResult  # the nn.constant result
    fmt: WeightFormat | None
    axis: int | None  # of the stored weight tensor; None: per tensor
    matrix: np.ndarray  # [G, K, N/G] float64
    scales: np.ndarray  # [N] (one per column) or [1]; recorded types: [N]
    grid: Grid
    recorded: QuantizedType | None = None
    stats: Stats = field(default_factory=Stats)
    bias: Bias | None = None

    def observe(self, x: np.ndarray, xf: np.ndarray | None = None) -> None:
        """Add the inputs of one batch: `x` the layer's (X_q), `xf` the float
        model's (None: the same)."""
        cols = self.columns(np.asarray(x, dtype=np.float64))
        fcols = None if xf is None else self.columns(np.asarray(xf, dtype=np.float64))
        self.stats.add(cols, fcols)

    def columns(self, x: np.ndarray) -> np.ndarray:
        """The layer's input rows [G, R, K] for a batch `x`."""
        groups, k, _ = self.matrix.shape
        if isinstance(self.op, nn.Conv2dOp):
            strides, pads, dilations, _ = self.op.attrs
            kh, kw = self.weight_shape[2:]
            windows, oh, ow = im2col(x, (kh, kw), strides, pads, dilations)
            n = x.shape[0]
            cols = np.ascontiguousarray(windows).reshape(n * oh * ow, groups, k)
            return cols.transpose(1, 0, 2)
        return x.reshape(1, -1, k)

    @property
    def weight_shape(self) -> tuple[int, ...]:
        return tuple(shape_of(self.weight))

    @property
    def rows(self) -> int:
        return self.stats.rows

    def column_scales(self) -> np.ndarray:
        """The scale of every column of `matrix`, as [G, 1, N/G]."""
        groups, _, per = self.matrix.shape
        s = np.broadcast_to(self.scales, (groups * per,))
        return s.reshape(groups, 1, per)

    def set_scales(self, scales: np.ndarray) -> None:
        self.scales = scales
        self.grid.scale = self.column_scales()

    def mean_error(self, wq: np.ndarray) -> np.ndarray:
        """E[X W - X_q W~] per output column, [G, N/G]."""
        s = self.stats
        return (
            np.einsum("gk,gki->gi", s.sf, self.matrix)
            - np.einsum("gk,gki->gi", s.sq, wq)
        ) / max(s.rows, 1)

    def column_errors(self, wq: np.ndarray, centred: bool = False) -> np.ndarray:
        """E||X W - X_q W~||^2 per output column [G, N/G] over the rows
        (minus the squared mean error if `centred`)."""
        s = self.stats
        w = self.matrix
        err = (
            np.einsum("gki,gkl,gli->gi", wq, s.qq, wq)
            - 2.0 * np.einsum("gli,gkl,gki->gi", w, s.qf, wq)
            + np.einsum("gki,gkl,gli->gi", w, s.ff, w)
        ) / max(s.rows, 1)
        if centred:
            err = err - self.mean_error(wq) ** 2
        return err

    def error(self, wq: np.ndarray, centred: bool = False) -> float:
        """The output's squared error summed over the features, averaged over
        the rows: E||X W - X_q W~||^2 for the weights `wq` (as `matrix`)."""
        return float(self.column_errors(wq, centred).sum())

    def recon(self, delta: np.ndarray) -> float:
        """tr(D' X_q'X_q D) / rows for a weight difference D (as `matrix`):
        the error of W - D on the layer's own inputs."""
        return float(np.einsum("gki,gkl,gli->", delta, self.stats.qq, delta)) / max(
            self.rows, 1
        )

    def nearest(self) -> np.ndarray:
        """qopt-quantize's rounding of the weights on the current grid."""
        return self.grid.nearest(self.matrix / self.grid.scale)


def search_scales(layer: Layer, centred: bool) -> np.ndarray:
    """Per channel (or per tensor), the candidate scale whose nearest
    rounding gives the smallest output error (scales=output)."""
    assert layer.fmt is not None
    fmt = layer.fmt
    groups, _, per = layer.matrix.shape
    w = layer.matrix
    amax = np.abs(w).max(axis=1).reshape(-1)  # [N]
    if layer.axis is None:
        amax = np.array([amax.max(initial=0.0)])
    base = amax / fmt.max_level
    best = np.full(len(base), np.inf)
    chosen = layer.scales.copy()
    levels = fmt.levels_attr
    for k in range(STEPS_PER_OCTAVE * fmt.search_octaves):
        s = base * 2.0 ** (-k / STEPS_PER_OCTAVE)
        s = np.where(s > TINY, s, 1.0)
        col = np.broadcast_to(s, (groups * per,)).reshape(groups, 1, per)
        wq = levels.nearest(w / col) * col
        err = layer.column_errors(wq, centred).reshape(-1)
        if layer.axis is None:
            err = np.array([err.sum()])
        better = err < best
        best = np.where(better, err, best)
        chosen = np.where(better, s, chosen)
    return np.where(amax > TINY, chosen, 1.0)


def round_layer(
    layer: Layer,
    iters: int,
    lr: float,
    reg: float,
    bar=None,
    centred: bool = False,
) -> np.ndarray:
    """The learned levels of `layer` (as `matrix`, int64)."""
    s = layer.grid.scale
    t = layer.matrix / s
    lo, hi = layer.grid.neighbours(t)
    step = (hi - lo).astype(np.float64)
    frac = np.where(step > 0, (t - lo) / np.where(step > 0, step, 1.0), 0.0)
    if iters == 0 or layer.rows == 0:
        return layer.nearest()  # qopt-quantize's rounding

    import torch

    st = layer.stats
    n = float(st.rows)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        dt = torch.float64
        frac = np.clip(frac, 1e-6, 1 - 1e-6)
        v0 = -np.log((ZETA - GAMMA) / (frac - GAMMA) - 1.0)
        v = torch.tensor(v0, dtype=dt, requires_grad=True)
        w = layer.matrix
        base = torch.tensor(lo * s, dtype=dt)
        span = torch.tensor(step * s, dtype=dt)
        qq = torch.tensor(st.qq / n, dtype=dt)
        # the cross term: sum over rows of (X W)·(X_q W~) = <X_q'X W, W~>
        cross = torch.tensor(np.einsum("gkl,gli->gki", st.qf, w) / n, dtype=dt)
        const = float(np.einsum("gki,gkl,gli->", w, st.ff, w)) / n
        mean_q = torch.tensor(st.sq / n, dtype=dt)
        target_mean = torch.tensor(np.einsum("gk,gki->gi", st.sf, w) / n, dtype=dt)
        live = torch.tensor(step > 0, dtype=dt)
        opt = torch.optim.Adam([v], lr=lr)
        warm = int(WARMUP * iters)
        for i in range(iters):
            h = torch.clamp(torch.sigmoid(v) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)
            wq = base + h * span
            loss = (
                torch.einsum("gki,gkl,gli->", wq, qq, wq)
                - 2.0 * (cross * wq).sum()
                + const
            )
            if centred:
                mean = target_mean - torch.einsum("gk,gki->gi", mean_q, wq)
                loss = loss - (mean * mean).sum()
            if i >= warm and reg > 0:
                rel = (i - warm) / max(iters - warm, 1)
                beta = BETA_END + (BETA_START - BETA_END) * (1.0 - rel)
                loss = loss + reg * (live * (1 - (2 * h - 1).abs().pow(beta))).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if bar is not None and (i + 1) % 50 == 0:
                bar.update(50)
        if bar is not None:
            bar.update(iters % 50)
        up = (v.detach().numpy() >= 0.0) & (step > 0)
    return np.where(up, hi, lo)


# --------------------------------------------------------------------------- #
# Finding the layers
# --------------------------------------------------------------------------- #


def _layer(op: Operation, rewrite: _Rewrite, recorded: bool = True) -> Layer | None:
    """The layer of `op` if qopt-quantize would give it integer weights."""
    if isinstance(op, nn.Conv2dOp):
        w = _const(op.weight)
        if w is None or w.ndim != 4:
            return None
        if op.bias is not None and _const(op.bias) is None:
            return None
        cfg = rewrite.layer_config(op, rewrite.fused_relu(op.output))
        _, _, _, group = op.attrs
        o, cg, kh, kw = w.shape
        matrix = w.astype(np.float64).reshape(group, o // group, cg * kh * kw)
        bias = Bias(op.bias, 1.0, op) if op.bias is not None else None  # type: ignore[arg-type]
        return _make(
            op, op.weight, cfg, 0, w, matrix.transpose(0, 2, 1), bias, recorded
        )
    if isinstance(op, nn.GemmOp):
        alpha, beta, trans_a, trans_b = op.attrs
        b = _const(op.b)
        if trans_a or b is None or b.ndim != 2 or float(np.float32(alpha)) != 1.0:
            return None
        n = b.shape[0] if trans_b else b.shape[1]
        bias = None
        if op.c is not None:
            c = _const(op.c)
            if c is None:
                return None
            if _bias_row(c.astype(np.float64) * float(np.float32(beta)), n) is None:
                return None
            factor = float(np.float32(beta))
            if c.size == n and factor != 0.0:
                bias = Bias(op.c, factor, op)  # type: ignore[arg-type]
        cfg = rewrite.layer_config(op, rewrite.fused_relu(op.output))
        matrix = (b.T if trans_b else b).astype(np.float64)
        return _make(
            op, op.b, cfg, 0 if trans_b else 1, b, matrix[None], bias, recorded
        )
    if isinstance(op, nn.MatMulOp):
        w = _const(op.rhs)
        if w is None or w.ndim != 2 or len(shape_of(op.lhs)) < 2:
            return None
        if _const(op.lhs) is not None:
            return None
        names = [rewrite.names(op)]
        last: SSAValue = op.output
        bias = None
        add = rewrite.bias_add(op.output, w.shape[-1])
        if add is not None:
            names.append(rewrite.names(add[0]))
            last = add[0].output
            other = add[0].rhs if add[0].lhs is op.output else add[0].lhs
            if add[1].size == np.size(_const(other)):
                bias = Bias(other, 1.0, add[0])  # type: ignore[arg-type]
        fused = rewrite.fused_relu(last)
        if fused is not None:
            names.append(rewrite.names(fused.op))
        cfg = rewrite.config(*names)
        return _make(op, op.rhs, cfg, 1, w, w.astype(np.float64)[None], bias, recorded)
    return None


def _make(
    op: Operation,
    weight: SSAValue,
    cfg: LayerConfig,
    axis: int,
    stored: np.ndarray,
    matrix: np.ndarray,
    bias: Bias | None,
    honour_recorded: bool = True,
) -> Layer:
    assert isinstance(weight, OpResult)
    recorded = op.attributes.get(WEIGHT_TYPE_ATTR)
    if recorded is not None and honour_recorded:
        return _recorded_layer(op, weight, axis, matrix, recorded, bias)  # type: ignore[arg-type]
    per_channel = cfg.granularity == "channel"
    # the scales as qopt-quantize computes them: on the [K, N] weight of a
    # gemm/matmul (axis 1), on the OIHW weight of a conv (axis 0)
    if isinstance(op, nn.Conv2dOp):
        scales = weight_scales(stored, cfg.weights, 0 if per_channel else None)
    else:
        kn = matrix[0]
        scales = weight_scales(kn, cfg.weights, 1 if per_channel else None)
    layer = Layer(
        op,
        weight,
        cfg.weights,
        axis if per_channel else None,
        matrix,
        scales,
        Grid((cfg.weights.levels_attr,), np.zeros(0)),
        bias=bias,
    )
    layer.set_scales(scales)
    return layer


def to_matrix(op: Operation, array: np.ndarray, groups: int) -> np.ndarray:
    """An array in qopt-quantize's weight layout (conv OIHW, gemm/matmul
    [K, N]) as the [G, K, N/G] matrix layout."""
    if isinstance(op, nn.Conv2dOp):
        o = array.shape[0]
        return array.reshape(groups, o // groups, -1).transpose(0, 2, 1)
    return array[None]


def _recorded_layer(
    op: Operation,
    weight: OpResult,
    axis: int,
    matrix: np.ndarray,
    recorded: QuantizedType,
    bias: Bias | None,
) -> Layer:
    """A layer whose weights go to the `q.weight_type` recorded on it."""
    groups = matrix.shape[0]
    shape = tuple(shape_of(weight))
    if not isinstance(op, nn.Conv2dOp):
        shape = (matrix.shape[1], matrix.shape[2])  # quantize's [K, N]
    if not isinstance(recorded, QuantizedType) or any(recorded.zp_values):
        raise AdaRoundError(
            f"'{op.name}': {WEIGHT_TYPE_ATTR} must be a q type with zero points 0"
        )
    try:
        recorded.verify_shape(shape)
    except VerifyException as e:
        raise AdaRoundError(f"'{op.name}': {WEIGHT_TYPE_ATTR}: {e}") from None
    full = np.broadcast_to(recorded.scale_array(shape), shape)
    scale = to_matrix(op, np.ascontiguousarray(full), groups)
    index = None
    if isinstance(recorded, MixedType):
        index = to_matrix(
            op, np.ascontiguousarray(recorded.format_index(shape)), groups
        )
    grid = Grid(tuple(recorded.level_sets()), scale, index)
    return Layer(
        op,
        weight,
        None,
        None,
        matrix,
        np.asarray(recorded.scale_values),
        grid,
        recorded,
        bias=bias,
    )


def find_layers(
    fn: func.FuncOp, default: LayerConfig, recipe=None, recorded: bool = True
) -> list[Layer]:
    """The layers of `fn` that AdaRound rounds, in order (`recorded`: on the
    grid of a recorded `q.weight_type`, else on that of their format)."""
    rewrite = _Rewrite(fn, default, recipe, 16, False)
    layers = []
    for op in fn.body.blocks.first.ops:  # type: ignore[union-attr]
        try:
            layer = _layer(op, rewrite, recorded)
        except ValueError as e:
            raise AdaRoundError(f"'{op.name}': {e}") from None
        if layer is not None:
            layers.append(layer)
    return layers


# --------------------------------------------------------------------------- #
# Running the model on the data
# --------------------------------------------------------------------------- #


class _Inputs(Interpreter.Listener):
    """Keeps the first operand of the watched ops, dequantized if it holds
    levels (the value a `q` layer computes with)."""

    def __init__(self, watched: dict[int, Callable[[np.ndarray], None]]):
        self.watched = watched
        self.op: Operation | None = None

    def will_interpret_op(self, op: Operation, args: PythonValues) -> None:
        self.op = op
        sink = self.watched.get(id(op))
        if sink is None:
            return
        x = args[0]
        elt = op.operands[0].type.element_type  # type: ignore[attr-defined]
        if isinstance(elt, QuantizedType):
            x = elt.dequantize(x)
        sink(np.asarray(x))


def _progress(total: int, desc: str):
    """A tqdm bar on a terminal's stderr, else a silent stand-in."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        leave=False,
        disable=not sys.stderr.isatty(),
        file=sys.stderr,
    )


def batch_slices(fn: func.FuncOp, samples: int, batch_size: int) -> list[slice]:
    """The batches of `samples` samples for `fn`: its static batch size if its
    arguments have one (which must divide `samples`), else `batch_size`."""
    types = fn.function_type.inputs.data
    static = {
        t.get_shape()[0]
        for t in types
        if isinstance(t, TensorType) and t.get_shape() and t.get_shape()[0] != DYN
    }
    size = batch_size
    if static:
        size = static.pop()
        if static or size < 1 or samples % size:
            raise AdaRoundError(
                f"the data has {samples} samples, which the static batch size "
                f"of @{fn.sym_name.data} does not divide"
            )
    return [slice(s, min(s + size, samples)) for s in range(0, samples, size)]


class Runner:
    """Runs the entry function of a module batch by batch with listeners."""

    def __init__(self, module: ModuleOp, fn: func.FuncOp, *listeners):
        from qopt.backends.reference.runner import interpreter_for

        self.name = fn.sym_name.data
        types = fn.function_type.inputs.data
        self.dtypes = [numpy_dtype(t.element_type) for t in types]  # type: ignore[attr-defined]
        self.current = _Inputs({})
        self.interpreter = interpreter_for(module, self.current, *listeners)

    def __call__(self, arrays: Sequence[np.ndarray], batch: slice) -> tuple:
        inputs = tuple(
            np.asarray(a[batch]).astype(d, copy=False)
            for a, d in zip(arrays, self.dtypes, strict=True)
        )
        name = self.name
        try:
            with np.errstate(all="ignore"):
                return self.interpreter.call_op(name, inputs)
        except InterpretationError as e:
            raise AdaRoundError(
                f"running @{name} on the data failed: " + " ".join(str(e).split())
            ) from None
        except (ValueError, IndexError, TypeError, ArithmeticError) as e:
            op = self.current.op
            where = op.name if op is not None else f"@{name}"
            raise AdaRoundError(
                f"running @{name} on the data failed in {where}: "
                + " ".join(str(e).split())
            ) from None


def capture(
    module: ModuleOp,
    fn: func.FuncOp,
    arrays: Sequence[np.ndarray],
    layers: Sequence[Layer],
    batch_size: int,
) -> None:
    """Run `fn` on the data and accumulate every layer's input statistics
    with the float model's inputs (inputs=float)."""
    batches = batch_slices(fn, arrays[0].shape[0], batch_size)
    listener = _Inputs({id(layer.op): layer.observe for layer in layers})
    run = Runner(module, fn, listener)
    with _progress(arrays[0].shape[0], "qopt-adaround: inputs") as bar:
        for batch in batches:
            run(arrays, batch)
            bar.update(batch.stop - batch.start)


def quantized_layer_op(
    module: ModuleOp, entry: str, index: int, quantize: QuantizePass
) -> tuple[ModuleOp, func.FuncOp, Operation]:
    """`module` as qopt-quantize rewrites it, and the q.conv2d / q.matmul that
    the `index`-th conv2d/gemm/matmul of the entry function became.

    qopt-quantize rewrites the layer ops in order, each into one q layer op
    (erasing the float op), so the rewritten ones and the q layer ops
    correspond in order."""
    qmod = module.clone()
    fn = entry_function(qmod, entry, "round", AdaRoundError)
    ops = [o for o in fn.body.blocks.first.ops if isinstance(o, LAYER_OPS)]  # type: ignore[union-attr]
    target = ops[index]
    try:
        quantize.apply(Context(), qmod)
    except PassFailedException as e:
        raise AdaRoundError(
            f"inputs=quantized runs qopt-quantize, which failed: {e} (or use "
            "inputs=float)"
        ) from None
    rewritten = [id(o) for o in ops if o.parent is None]
    qops = [o for o in fn.walk() if isinstance(o, q.Conv2dOp | q.MatmulOp)]
    if id(target) not in rewritten or len(rewritten) != len(qops):
        raise AdaRoundError(
            f"'{target.name}': qopt-quantize does not give it integer weights"
        )
    return qmod, fn, qops[rewritten.index(id(target))]


def capture_quantized(
    module: ModuleOp,
    fn: func.FuncOp,
    reference: tuple[ModuleOp, func.FuncOp, list[Layer]],
    arrays: Sequence[np.ndarray],
    k: int,
    layer: Layer,
    quantize: QuantizePass,
    batches: Sequence[slice],
) -> None:
    """Accumulate the statistics of layer `k` with its inputs in the model as
    qopt-quantize rewrites `module` (X_q) and in the float model (X)."""
    ops = [o for o in fn.body.blocks.first.ops if isinstance(o, LAYER_OPS)]  # type: ignore[union-attr]
    qmod, qfn, qop = quantized_layer_op(
        module, fn.sym_name.data, ops.index(layer.op), quantize
    )
    ref_module, ref_fn, ref_layers = reference
    seen: dict[str, np.ndarray] = {}
    run_q = Runner(qmod, qfn, _Inputs({id(qop): lambda x: seen.update(q=x)}))
    run_f = Runner(
        ref_module, ref_fn, _Inputs({id(ref_layers[k].op): lambda x: seen.update(f=x)})
    )
    for batch in batches:
        run_f(arrays, batch)
        run_q(arrays, batch)
        layer.observe(seen.pop("q"), seen.pop("f"))


# --------------------------------------------------------------------------- #
# Writing the result
# --------------------------------------------------------------------------- #


def _replace_constant(user: Operation, value: OpResult, array: np.ndarray) -> None:
    """Give `user` the constant `array` instead of `value` (in place if
    `user` is its only user, else through a copy)."""
    const = value.op
    assert isinstance(const, nn.ConstantOp)
    new = numpy_to_dense(np.ascontiguousarray(array), value.type)  # type: ignore[arg-type]
    if value.has_one_use():
        const.value = new  # type: ignore[misc]
        return
    copy = nn.ConstantOp(new)  # other users keep the old value
    copy.output.name_hint = value.name_hint
    const.parent_block().insert_op_after(copy, const)  # type: ignore[union-attr]
    for i, operand in enumerate(user.operands):
        if operand is value:
            user.operands[i] = copy.output


def apply_levels(layer: Layer, levels: np.ndarray) -> None:
    """Replace the layer's float weight by the grid values of `levels` (as
    `matrix`) and record the format and scales on the layer op (a recorded
    `q.weight_type` stays as it is)."""
    elt = layer.weight.type.element_type  # type: ignore[attr-defined]
    dtype = numpy_dtype(elt)
    s = layer.grid.scale.astype(dtype)
    # the dequantized levels in the expressed type, as q.dequantize computes them
    grid = (levels.astype(dtype) * s).astype(dtype)
    stored_shape = layer.weight_shape
    if isinstance(layer.op, nn.Conv2dOp):
        stored = grid.transpose(0, 2, 1).reshape(stored_shape)
    elif isinstance(layer.op, nn.GemmOp) and layer.op.attrs[3]:
        stored = grid[0].T
    else:
        stored = grid[0]
    _replace_constant(layer.op, layer.weight, stored)
    if layer.fmt is None:
        return
    layer.op.attributes[WEIGHT_FORMAT_ATTR] = StringAttr(layer.fmt.name)
    layer.op.attributes[WEIGHT_SCALES_ATTR] = DenseArrayBase.from_list(
        f64, [float(x) for x in layer.scales]
    )


def correct_bias(layer: Layer, levels: np.ndarray) -> None:
    """Add the mean output error E[X W - X_q W~] to the layer's bias."""
    bias = layer.bias
    if bias is None or layer.rows == 0:
        return
    wq = levels * layer.grid.scale
    delta = layer.mean_error(wq).reshape(-1) / bias.factor
    old = _const(bias.value)
    assert old is not None
    new = (old.astype(np.float64) + delta.reshape(old.shape)).astype(old.dtype)
    _replace_constant(bias.user, bias.value, new)


# --------------------------------------------------------------------------- #
# The pass
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class AdaRoundPass(ModulePass):
    """Learn, per weight of every conv2d/gemm/matmul that qopt-quantize gives
    integer weights, whether to round down or up onto the weight grid
    (AdaRound: rectified-sigmoid relaxation, annealed rounding regulariser,
    Adam), minimising the layer's output reconstruction error against the
    float layer, on the inputs of the quantized model with the layers
    before it already rounded (inputs=quantized) or of the float model;
    replace the float weights by the chosen grid values and record
    `q.weight_format` and `q.weight_scales` on the layer, which
    qopt-quantize then honours (bit-exact levels).

    Options: `data` (required), `weights`, `activations`,
    `weight-granularity`, `recipe` (as qopt-quantize), `inputs`
    (quantized, float), `scales` (quantize, output), `bias-correct`,
    `iters` (Adam steps per layer), `lr`, `reg`, `batch-size`, `entry`. The
    module docstring gives the method.

    Requires: `nn` IR that the reference executor runs, calibrated for
    inputs=quantized; run it before qopt-quantize with the same options.
    """

    name = "qopt-adaround"

    data: str
    weights: str = "int8"
    activations: str = "int8"
    weight_granularity: str = "channel"
    recipe: str | None = None
    inputs: str = "quantized"
    scales: str = "quantize"
    bias_correct: bool = True
    iters: int = 1000
    lr: float = 0.01
    reg: float = 0.01
    batch_size: int = 256
    entry: str | None = None

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("option 'data' must name an .npz or .npy file")
        parse_weight_format(self.weights)
        parse_act_format(self.activations)
        parse_granularity(self.weight_granularity)
        if self.inputs not in INPUTS:
            raise ValueError(f"unknown inputs '{self.inputs}' ({', '.join(INPUTS)})")
        if self.scales not in SCALES:
            raise ValueError(f"unknown scales '{self.scales}' ({', '.join(SCALES)})")
        if self.iters < 0:
            raise ValueError(f"option 'iters' must be >= 0, got {self.iters}")
        if not self.lr > 0:
            raise ValueError(f"option 'lr' must be > 0, got {self.lr}")
        if not self.reg >= 0:
            raise ValueError(f"option 'reg' must be >= 0, got {self.reg}")
        if self.batch_size < 1:
            raise ValueError(
                f"option 'batch-size' must be at least 1, got {self.batch_size}"
            )
        if self.recipe is not None:
            load_recipe(self.recipe)

    def layer_defaults(self) -> LayerConfig:
        return LayerConfig(
            parse_weight_format(self.weights),
            parse_granularity(self.weight_granularity),
            parse_act_format(self.activations),
            32,
        )

    def quantize_pass(self) -> QuantizePass:
        """The qopt-quantize run that gives inputs=quantized its inputs."""
        return QuantizePass(
            weights=self.weights,
            activations=self.activations,
            weight_granularity=self.weight_granularity,
            recipe=self.recipe,
            entry=self.entry,
        )

    def round(self, layer: Layer, bar) -> None:
        """Choose the scales, round, write the weights (and the bias)."""
        centred = self.bias_correct and layer.bias is not None
        if self.scales == "output" and layer.fmt is not None and layer.rows:
            layer.set_scales(search_scales(layer, centred))
        levels = round_layer(layer, self.iters, self.lr, self.reg, bar, centred)
        apply_levels(layer, levels)
        if centred:
            correct_bias(layer, levels)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        try:
            recipe = load_recipe(self.recipe) if self.recipe is not None else None
            fn = entry_function(op, self.entry, "round", AdaRoundError)
            layers = find_layers(fn, self.layer_defaults(), recipe)
            if not layers:
                return
            arrays = load_calibration_data(self.data, fn)
            total = self.iters * len(layers)
            if self.inputs == "float":
                capture(op, fn, arrays, layers, self.batch_size)
                with _progress(total, "qopt-adaround") as bar:
                    for layer in layers:
                        self.round(layer, bar)
                return
            reference = op.clone()
            ref_fn = entry_function(reference, self.entry, "round", AdaRoundError)
            ref = (
                reference,
                ref_fn,
                find_layers(ref_fn, self.layer_defaults(), recipe),
            )
            batches = batch_slices(fn, arrays[0].shape[0], self.batch_size)
            quantize = self.quantize_pass()
            with _progress(total, "qopt-adaround") as bar:
                for k, layer in enumerate(layers):
                    capture_quantized(op, fn, ref, arrays, k, layer, quantize, batches)
                    self.round(layer, bar)
                    layer.stats = Stats()  # free the Gram matrices
        except (AdaRoundError, CalibrationError, QuantizeError, RecipeError) as e:
            raise PassFailedException(" ".join(str(e).split())) from None
