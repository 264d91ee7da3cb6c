"""`qopt-equalize`: cross-layer equalization of consecutive layers (Nagel et
al. 2019, "Data-Free Quantization Through Weight Equalization and Bias
Correction", section 4.1).

    qopt-opt m.mlir -p 'qopt-equalize{iterations=10 threshold=1e-4},qopt-calibrate{...}'

A pair is two layers with constant weights, layer1 -> chain -> layer2:

- layer1: `nn.conv2d` (any `group`, depthwise included) or `nn.gemm`
  (transA false; C absent, or a constant of shape [N] or [1, N]);
- layer2: `nn.conv2d` (any `group`) or `nn.gemm` (transA false);
- chain: zero or more of `nn.relu`, `nn.clip` with min 0 and no max
  (clip(0, inf)), `nn.maxpool2d`, `nn.avgpool2d`, `nn.global_avgpool`, and at
  most one `nn.flatten` / `nn.reshape` from [N, C, H, W] to [N, C·H·W]
  (channel i of the conv is the contiguous block of gemm input features
  i·H·W .. (i+1)·H·W - 1). Each of these maps channel i to channel i and
  commutes with a positive per-channel scale;
- layer1's result and every value of the chain have exactly one user, and
  the weight / bias constants of both layers have exactly one user.

With r1_i = max|W1 row of output channel i| (conv: W1[i]; gemm: column i of
alpha·B, B as [K, N]) and r2_i = max|W2 entries that read input channel i|
(conv group 1: W2[:, i]; grouped conv: the rows of i's group at column
i mod C/G; gemm: rows of the feature block of channel i of B as [K, N]),

    s_i = (1 / r2_i) · sqrt(r1_i · r2_i) = sqrt(r1_i / r2_i)  (1 if r1_i or r2_i is 0)
    W1[i] /= s_i,  b1[i] /= s_i,  W2[.., i, ..] *= s_i

after which both ranges are sqrt(r1_i · r2_i). As relu, clip(0, inf) and the
pools commute with positive per-channel scales, layer2's result is unchanged
(up to float rounding of the new weights). The pairs are visited in program
order, and the sweep over all pairs is repeated (a layer in the middle of a
chain belongs to two pairs) at most `iterations` times, until no scale of a
sweep differs from 1 by more than `threshold`. The arithmetic is float64,
rounded once to the element type of each constant at the end.

Calibration: the values from layer1's result through the chain are scaled
per channel, so their `q.range` / `q.ranges` attributes are removed (stale);
run qopt-equalize before qopt-calibrate. A `q.bn_stats` attribute on layer1
(the per-channel mean and std of its pre-activation result, used by
`qopt-bias-correct mode=analytic`) is scaled by 1/s_i with it.

Anything else is left untouched: this is an optimisation and never fails.

Requires: verified `nn` IR. Options: iterations (>= 1), threshold (>= 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import (
    DenseArrayBase,
    DictionaryAttr,
    ModuleOp,
    TensorType,
    f64,
)
from xdsl.ir import Operation, OpResult, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from qopt.backends.reference.nn import dense_to_numpy, numpy_to_dense
from qopt.qdialect import nn
from qopt.qdialect.calib import RANGE_ATTR, RANGES_ATTR
from qopt.qdialect.shapes import DYN, shape_of

BN_STATS_ATTR = "q.bn_stats"
"""Op attribute `{mean = array<f64: ...>, std = array<f64: ...>}` on a conv or
gemm: its result (before any activation) per output channel is modelled as
N(mean, std^2), as a batchnorm with bias beta and scale gamma makes it
(mean = beta, std = |gamma|)."""

_CHAIN_OPS = (
    nn.ReluOp,
    nn.ClipOp,
    nn.MaxPool2dOp,
    nn.AvgPool2dOp,
    nn.GlobalAvgPoolOp,
    nn.FlattenOp,
    nn.ReshapeOp,
)


def _const(value: SSAValue | None) -> np.ndarray | None:
    """float64 array of a single-use float `nn.constant` defining `value`."""
    if not isinstance(value, OpResult) or not isinstance(value.op, nn.ConstantOp):
        return None
    if not value.has_one_use():
        return None
    array = dense_to_numpy(value.op.value)
    if not np.issubdtype(array.dtype, np.floating):
        return None
    return array.astype(np.float64)


@dataclass
class _Layer:
    """A conv2d or gemm with its weights as float64 arrays (being edited)."""

    op: nn.Conv2dOp | nn.GemmOp
    w: np.ndarray  # conv: OIHW; gemm: B as stored
    b: np.ndarray | None  # conv bias [O]; gemm C as stored
    out_axis: int  # axis of w indexing output channels
    in_axis: int  # axis of w indexing input channels / features
    group: int = 1
    alpha: float = 1.0
    touched: bool = False

    @property
    def out_channels(self) -> int:
        return self.w.shape[self.out_axis]

    @property
    def in_features(self) -> int:
        return (
            self.w.shape[1] * self.group
            if isinstance(self.op, nn.Conv2dOp)
            else self.w.shape[self.in_axis]
        )


def _layer(op: Operation, as_layer1: bool) -> _Layer | None:
    if isinstance(op, nn.Conv2dOp):
        w = _const(op.weight)
        if w is None or w.ndim != 4:
            return None
        b = None
        if op.bias is not None:
            b = _const(op.bias)
            if b is None or b.shape != (w.shape[0],):
                return None
        group = op.attrs[3]
        return _Layer(op, w, b, 0, 1, group=group)
    if isinstance(op, nn.GemmOp):
        alpha, _, trans_a, trans_b = op.attrs
        w = _const(op.b)
        if trans_a or w is None or w.ndim != 2:
            return None
        out_axis, in_axis = (0, 1) if trans_b else (1, 0)
        b = None
        if op.c is not None:
            b = _const(op.c)
            if b is None:
                return None
            n = w.shape[out_axis]
            if as_layer1 and b.shape not in ((n,), (1, n)):
                return None
        return _Layer(op, w, b, out_axis, in_axis, alpha=float(np.float32(alpha)))
    return None


@dataclass
class _Pair:
    layer1: _Layer
    layer2: _Layer
    block: int  # gemm input features per channel of layer1 (1 without flatten)
    chain: list[Operation] = field(default_factory=list)


def _chain_to_layer1(layer2: Operation, x: SSAValue) -> tuple[Operation, list, int]:
    """Walk from layer2's input back to the op that starts the chain."""
    chain: list[Operation] = []
    block = 1
    value = x
    while True:
        if not isinstance(value, OpResult) or not value.has_one_use():
            return None, chain, block  # type: ignore[return-value]
        op = value.op
        if not isinstance(op, _CHAIN_OPS):
            return op, chain, block
        if isinstance(op, nn.ClipOp):
            lo, hi = op.attrs
            if lo != 0.0 or hi != float("inf"):
                return None, chain, block  # type: ignore[return-value]
        if isinstance(op, nn.FlattenOp | nn.ReshapeOp):
            src, dst = shape_of(op.operands[0]), shape_of(op.results[0])
            if block != 1 or len(src) != 4 or len(dst) != 2:
                return None, chain, block  # type: ignore[return-value]
            if DYN in src[1:] or dst[1] != src[1] * src[2] * src[3]:
                return None, chain, block  # type: ignore[return-value]
            if isinstance(op, nn.FlattenOp) and op.attrs not in (1, -3):
                return None, chain, block  # type: ignore[return-value]
            if isinstance(op, nn.ReshapeOp) and src[0] != dst[0]:
                return None, chain, block  # type: ignore[return-value]
            block = src[2] * src[3]
        chain.append(op)
        value = op.operands[0]


def _in_channel_index(layer2: _Layer, channels: int, block: int) -> list[tuple]:
    """For each input channel i of layer2, the index of w touching it."""
    w = layer2.w
    if isinstance(layer2.op, nn.Conv2dOp):
        g = layer2.group
        cg = w.shape[1]
        og = w.shape[0] // g
        out = []
        for i in range(channels):
            grp, j = divmod(i, cg)
            out.append((slice(grp * og, (grp + 1) * og), j))
        return out
    sl = []
    for i in range(channels):
        idx: list[object] = [slice(None), slice(None)]
        idx[layer2.in_axis] = slice(i * block, (i + 1) * block)
        sl.append(tuple(idx))
    return sl


def _find_pairs(module: ModuleOp) -> list[_Pair]:
    layers: dict[int, _Layer] = {}

    def get(op: Operation, as_layer1: bool) -> _Layer | None:
        if id(op) not in layers:
            lay = _layer(op, as_layer1)
            if lay is None:
                return None
            layers[id(op)] = lay
        lay = layers[id(op)]
        if as_layer1 and isinstance(op, nn.GemmOp) and lay.b is not None:
            n = lay.out_channels
            if lay.b.shape not in ((n,), (1, n)):
                return None
        return lay

    pairs = []
    for op in module.walk():
        if not isinstance(op, nn.Conv2dOp | nn.GemmOp):
            continue
        x = op.input if isinstance(op, nn.Conv2dOp) else op.a
        first, chain, block = _chain_to_layer1(op, x)
        if first is None or not isinstance(first, nn.Conv2dOp | nn.GemmOp):
            continue
        if block != 1 and not (
            isinstance(first, nn.Conv2dOp) and isinstance(op, nn.GemmOp)
        ):
            continue
        if any(isinstance(c, nn.FlattenOp | nn.ReshapeOp) for c in chain) and (
            block == 1
        ):
            continue
        if isinstance(first, nn.GemmOp) and any(
            isinstance(c, nn.MaxPool2dOp | nn.AvgPool2dOp | nn.GlobalAvgPoolOp)
            for c in chain
        ):
            continue
        layer2 = get(op, False)
        layer1 = get(first, True)
        if layer1 is None or layer2 is None or layer1 is layer2:
            continue
        if layer1.out_channels * block != layer2.in_features:
            continue
        pairs.append(_Pair(layer1, layer2, block, chain))
    return pairs


def _sweep(pairs: list[_Pair], scales: dict[int, np.ndarray]) -> float:
    """One equalization of every pair; the largest |s_i - 1|."""
    worst = 0.0
    for pair in pairs:
        l1, l2 = pair.layer1, pair.layer2
        c = l1.out_channels
        w1 = np.moveaxis(np.abs(l1.w), l1.out_axis, 0).reshape(c, -1)
        r1 = w1.max(axis=1) * abs(l1.alpha) if w1.size else np.zeros(c)
        index = _in_channel_index(l2, c, pair.block)
        r2 = np.array([np.abs(l2.w[ix]).max(initial=0.0) for ix in index])
        ok = (r1 > 0) & (r2 > 0) & np.isfinite(r1) & np.isfinite(r2)
        s = np.ones(c)
        s[ok] = np.sqrt(r1[ok] / r2[ok])
        shape = [1] * l1.w.ndim
        shape[l1.out_axis] = c
        l1.w = l1.w / s.reshape(shape)
        if l1.b is not None:
            l1.b = l1.b / s.reshape((1,) * (l1.b.ndim - 1) + (c,))
        for i, ix in enumerate(index):
            l2.w[ix] = l2.w[ix] * s[i]
        l1.touched = l2.touched = True
        key = id(pair.layer1.op)
        scales[key] = scales.get(key, np.ones(c)) * s
        worst = max(worst, float(np.abs(s - 1.0).max(initial=0.0)))
    return worst


def _replace_constant(op: Operation, index: int, value: np.ndarray) -> None:
    old = op.operands[index]
    assert isinstance(old, OpResult) and isinstance(old.type, TensorType)
    ty = old.type
    attr = numpy_to_dense(value, TensorType(ty.get_element_type(), value.shape))
    if attr is None:
        return
    new = nn.ConstantOp(attr)
    new.output.name_hint = old.name_hint
    new.attributes.update(old.op.attributes)
    Rewriter.insert_op(new, InsertPoint.before(old.op))
    old.replace_all_uses_with(new.output)
    Rewriter.erase_op(old.op)


def _scale_bn_stats(op: Operation, s: np.ndarray) -> None:
    stats = op.attributes.get(BN_STATS_ATTR)
    if not isinstance(stats, DictionaryAttr):
        return
    new = {}
    for key, arr in stats.data.items():
        if isinstance(arr, DenseArrayBase) and len(arr.get_values()) == len(s):
            vals = np.asarray(arr.get_values(), dtype=np.float64) / s
            new[key] = DenseArrayBase.from_list(f64, [float(v) for v in vals])
        else:
            new[key] = arr
    op.attributes[BN_STATS_ATTR] = DictionaryAttr(new)


@dataclass(frozen=True)
class EqualizePass(ModulePass):
    """Cross-layer equalization (Nagel et al., data-free quantization): for
    each pair conv/gemm -> (relu | clip(0, inf) | pools | flatten)* ->
    conv/gemm with constant weights, scale output channel i of the first
    layer by 1/s_i and input channel i of the second by s_i,
    s_i = sqrt(r1_i / r2_i) with r the per-channel max|w|, repeated over all
    pairs until max|s_i - 1| < threshold or `iterations` sweeps. The float
    function is unchanged. Stale `q.range`s of scaled values are removed.

    Options: `iterations` (10), `threshold` (1e-4). See the module docstring.

    Requires: verified `nn` IR; run before qopt-calibrate.
    """

    name = "qopt-equalize"

    iterations: int = 10
    threshold: float = 1e-4

    def __post_init__(self) -> None:
        if self.iterations < 1:
            raise ValueError(
                f"option 'iterations' must be at least 1, got {self.iterations}"
            )
        if not self.threshold >= 0:
            raise ValueError(
                f"option 'threshold' must be non-negative, got {self.threshold}"
            )

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        pairs = _find_pairs(op)
        if not pairs:
            return
        scales: dict[int, np.ndarray] = {}
        for _ in range(self.iterations):
            if _sweep(pairs, scales) < self.threshold:
                break
        done: set[int] = set()
        for pair in pairs:
            for lay in (pair.layer1, pair.layer2):
                if id(lay) in done:
                    continue
                done.add(id(lay))
                layer_op = lay.op
                w = lay.w
                if isinstance(layer_op, nn.Conv2dOp):
                    _replace_constant(layer_op, 1, w)
                    if lay.b is not None:
                        _replace_constant(layer_op, 2, lay.b)
                else:
                    _replace_constant(layer_op, 1, w)
                    if lay.b is not None:
                        _replace_constant(layer_op, 2, lay.b)
            s = scales.get(id(pair.layer1.op))
            if s is not None:
                _scale_bn_stats(pair.layer1.op, s)
            for stale in [pair.layer1.op, *pair.chain]:
                stale.attributes.pop(RANGE_ATTR, None)
                stale.attributes.pop(RANGES_ATTR, None)
