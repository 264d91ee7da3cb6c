"""`qopt-mixed-precision`: mixed-precision weights under an average-bits budget.

    qopt-opt m.mlir --pass-pipeline='builtin.module(qopt-calibrate{data=c.npz},
        qopt-mixed-precision{avg-bits=2.5 granularity=outliers low=int2 high=int8
            criterion=hessian budget=model data=c.npz},
        qopt-adaround{data=c.npz}, qopt-quantize)'

Intra-layer (granularity row, block:N, outliers): in every layer with
constant weights, a few sensitive weights get the `high` format and the
rest the `low` one, at a hardware-friendly granularity, within a budget of
`avg-bits` storage bits per weight counted as `!q.mixed` counts them (each
element at its format's code width, the map excluded:
`MixedType.average_bits`). The pass records the decision on the layer as
`q.weight_type = !q.mixed<[iL<-qL:qL> << s, iH<-qH:qH>]:f32:axis, {scales},
MAP>`, and `qopt-quantize` quantizes the weights to exactly that type
(whatever its `weights` option says); `qopt-adaround` rounds onto it.

Whole layers (`granularity=layer`): each layer gets one format of
`candidates` (any weight formats, default `low,high`), recorded as that
format's q type with qopt-quantize's per-channel scales (`!q.uniform`,
`!q.pot`, `!q.spot`); see "Whole layers" below.

Layout: the weight as `qopt-quantize` sees it: conv OIHW (scales per output
channel, axis 0); gemm W = alpha·B' as [K, N] and a constant 2-D matmul
operand [K, N] (scales per column, axis 1). So `row` is one output channel
of a conv but one *input feature* of a matrix (all its neurons), and
`block:N` is N consecutive elements of the last axis (kernel width of a
conv, output neurons of a matrix; N must divide it).

Granularity (`granularity`): `row`, `block:N`, `outliers` or
`outliers:F` (at most a fraction F of a layer's weights are outliers), or
`layer`.

Budget (`budget`):

- `layer` (default): per layer (so the whole model meets it too): with n
  weights and code widths bL < bH, the number of high elements is the
  largest h <= (avg-bits - bL)·n / (bH - bL) that the granularity allows
  (whole rows or blocks; single elements for outliers, also at most
  floor(F·n)). So the layer's average bL + (bH - bL)·h/n never exceeds
  avg-bits, and one more unit would. avg-bits below bL is an error; at or
  above bH all are high.
- `model` (needs `data`): one budget for all the layers' weights together:
  bL·N + (bH - bL)·(high elements) <= avg-bits·N, N the weights of all the
  layers. Each unit u of layer l is worth g_l · e_u, its (h-weighted, as
  the criterion says) squared low-format error e_u times the layer's gain
  g_l: the model's output MSE per unit of the layer's own error, measured
  with the whole-layer sensitivity sweep (`passes/sensitivity.py`: the
  layer alone at `high`, nearest rounding, on `data`; g_l = output MSE /
  sum of h·(w - Q_high(w))^2). The units are taken by decreasing value per
  added bit while they fit, then the best units that still fit in what is
  left; outlier caps hold per layer. So the model's average never exceeds
  avg-bits and the layers' own averages differ (LeNet at 2.5 bits: the
  first conv and the output layer get far more int8 weights than fc1).

Scores within a layer (the units with the largest scores get `high`):

- `criterion=magnitude`: row/block: the squared quantization error of the
  unit under the low format, sum (w - Q_low(w))^2; outliers: |w| (with
  budget=model: the squared error, as for rows);
- `criterion=hessian` (option `data` required, same archive as
  qopt-calibrate): a second-order estimate: h_i · (w_i - Q_low(w_i))^2
  summed over the unit (per element for outliers), where h_i ≈ E[x_k^2] is
  the diagonal of the layer's Hessian for the input feature k that w_i
  multiplies (gemm/matmul: feature k of the input row; conv: input channel,
  averaged over samples and pixels), measured by running the entry function
  on the data with the reference executor. A layer the data does not
  reach is left alone.

Scales. Q_low uses, per channel, the low step t_c minimising the squared
error over the channel (candidates max|w|/qL · 2^(-j/32), j = 0..127). After
the assignment t_c is searched again over the channel's low elements only.
The type has one shift s per layer for the low format: the channel scale
is sc = max(t_c / 2^s, max|w_c| / qH) (the high format covers the
channel's largest weight), the low levels are multiples of 2^s, and s in
0..16 minimises the layer's total squared error (h-weighted for hessian).

Whole layers (`granularity=layer`, needs `data`): the sensitivity sweep
measures, for every candidate format f and layer l, the model's output MSE
c(l, f) with layer l alone at f (nearest rounding, others float, on
`data`); the assignment minimising sum_l c(l, f_l) (noise powers add up)
with sum_l n_l·bits(f_l) <= avg-bits·N is found exactly (a dynamic
programme over the Pareto front of total bits and cost). bits(f) is the
code width (intN: N, potN: N, spotK: 4K, ternary: 2). avg-bits below the
narrowest candidate is an error.

Formats: `low`, `high` are int2..int16 (symmetric narrow range, as
qopt-quantize's intN), low narrower than high. Layers: `nn.conv2d`
(constant 4-D weight), `nn.gemm` (transA false, constant 2-D B),
`nn.matmul` with a constant 2-D right operand (granularity=layer: those
qopt-adaround rounds, i.e. gemm with alpha 1); layers that already carry
`q.weight_scales` or `q.weight_type` are skipped (and not counted).

Options: avg-bits (2.5), granularity (row), low (int2), high (int8),
criterion (magnitude), budget (layer), candidates (granularity=layer;
comma-separated weight formats, default low,high), data, batch-size (256),
entry. Errors (bad options, a block size that does not divide a layer,
missing data) are one line.

Requires: `nn` IR; qopt-quantize afterwards (weight-granularity=channel).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.interpreter import Interpreter, PythonValues
from xdsl.ir import Operation, OpResult, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import InterpretationError, PassFailedException

from qopt.backends.reference.nn import dense_to_numpy, numpy_dtype
from qopt.passes.calibrate import CalibrationError, load_calibration_data
from qopt.passes.entry import entry_function
from qopt.passes.quant_formats import (
    WEIGHT_SCALES_ATTR,
    WEIGHT_TYPE_ATTR,
    WeightFormat,
    parse_weight_format,
    quantize_weights,
    weight_scales,
)
from qopt.passes.sensitivity import (
    SensitivityError,
    layer_names,
    layer_sensitivity,
    model_layers,
)
from qopt.qdialect import nn
from qopt.qdialect.qtypes import LevelsAttr, MixedType
from qopt.qdialect.shapes import DYN

SEARCH_STEPS = 128
STEPS_PER_OCTAVE = 32
MAX_SHIFT = 16


class MixedPrecisionError(Exception):
    """Bad input; the message is one line."""


@dataclass(frozen=True)
class Granularity:
    kind: str  # row, block, outliers
    block: int = 0
    fraction: float = 1.0


def parse_mixed_granularity(text: str) -> Granularity:
    text = text.strip()
    if text in ("row", "outliers"):
        return Granularity(text)
    m = re.fullmatch(r"block:([0-9]+)", text)
    if m and int(m.group(1)) >= 1:
        return Granularity("block", int(m.group(1)))
    m = re.fullmatch(r"outliers:([0-9.eE+-]+)", text)
    if m:
        try:
            f = float(m.group(1))
        except ValueError:
            f = -1.0
        if 0.0 <= f <= 1.0:
            return Granularity("outliers", 0, f)
    raise ValueError(
        f"unknown granularity '{text}' (row, block:N, outliers, outliers:F "
        "with 0 <= F <= 1, layer)"
    )


def _int_format(name: str, option: str) -> WeightFormat:
    fmt = parse_weight_format(name)
    if fmt.kind != "int":
        raise ValueError(f"option '{option}' must be int2..int16, got '{name}'")
    return fmt


# --------------------------------------------------------------------------- #
# numerics (on the weight in channels-first form [C, rest])
# --------------------------------------------------------------------------- #


def _round_low(rows: np.ndarray, t: np.ndarray, q: int) -> np.ndarray:
    safe = np.where(t > 0, t, 1.0)[:, None]
    return np.clip(np.rint(rows / safe), -q, q) * safe


def low_steps(rows: np.ndarray, q: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Per row, the step t minimising sum over `mask` of (w - t·clip(rint(w/t)))^2."""
    a = np.abs(rows)
    if mask is not None:
        a = np.where(mask, a, 0.0)
    amax = a.max(axis=1) if rows.size else np.zeros(len(rows))
    base = amax / q
    best = np.full(len(rows), np.inf)
    chosen = base.copy()
    for k in range(SEARCH_STEPS):
        t = base * 2.0 ** (-k / STEPS_PER_OCTAVE)
        err = (rows - _round_low(rows, t, q)) ** 2
        if mask is not None:
            err = np.where(mask, err, 0.0)
        err = err.sum(axis=1)
        better = err < best
        best = np.where(better, err, best)
        chosen = np.where(better, t, chosen)
    return np.where(amax > 0, chosen, 0.0)


def budget_units(
    avg: float,
    low_bits: int,
    high_bits: int,
    units: int,
    size: int,
    cap: int | None = None,
) -> int:
    """Largest number of high units (of `size` elements each, `units` in all)
    within an average of `avg` bits per element."""
    n = units * size
    if avg < low_bits:
        raise ValueError(f"avg-bits {avg} is below the low format's {low_bits} bits")
    # exact integer arithmetic on (avg - low) * n / (high - low) / size
    frac = (avg - low_bits) * n / ((high_bits - low_bits) * size)
    h = min(units, math.floor(frac + 1e-9))
    while h > 0 and low_bits * n + (high_bits - low_bits) * h * size > avg * n:
        h -= 1
    if cap is not None:
        h = min(h, cap)
    return max(h, 0)


def extra_bits(avg: float, low_bits: int, n: int) -> int:
    """The largest integer E with low_bits·n + E <= avg·n: the bits that
    high-precision units may add to `n` weights at `low_bits`."""
    if avg < low_bits:
        raise ValueError(f"avg-bits {avg} is below the low format's {low_bits} bits")
    e = math.floor((avg - low_bits) * n + 1e-9)
    while e > 0 and low_bits * n + e > avg * n:
        e -= 1
    return max(e, 0)


@dataclass
class Decision:
    qtype: MixedType
    high: np.ndarray  # boolean, weight layout: element is high precision


@dataclass
class Plan:
    """A layer's units and their scores under the low format (weight layout
    as qopt-quantize sees it, scales on `axis`)."""

    w: np.ndarray
    axis: int
    hess: np.ndarray | None
    units: int
    size: int  # elements per unit (1 for outliers)
    score: np.ndarray  # [units]
    error: np.ndarray  # [units]: the (h-weighted) squared low-format error
    cap: int | None  # most high units (outliers:F)
    t: np.ndarray  # the low step per channel

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The weight and the Hessian diagonal as [channels, rest]."""
        shape, axis = self.w.shape, self.axis
        h_w = np.ones_like(self.w) if self.hess is None else self.hess
        h_w = np.broadcast_to(h_w, shape)
        rows = np.moveaxis(self.w, axis, 0).reshape(shape[axis], -1)
        h_rows = np.moveaxis(h_w, axis, 0).reshape(shape[axis], -1)
        return rows, h_rows


def plan(
    w: np.ndarray,
    axis: int,
    low: WeightFormat,
    gran: Granularity,
    hess: np.ndarray | None = None,
) -> Plan:
    """Score the units of the weight `w` (see the module docstring)."""
    w = np.asarray(w, dtype=np.float64)
    shape = w.shape
    n = w.size
    q_lo = (1 << (low.bits - 1)) - 1
    p = Plan(w, axis, hess, 0, 0, np.zeros(0), np.zeros(0), None, np.zeros(0))
    rows, h_rows = p.rows()
    p.t = low_steps(rows, q_lo)
    err_rows = h_rows * (rows - _round_low(rows, p.t, q_lo)) ** 2
    moved = (shape[axis], *tuple(d for i, d in enumerate(shape) if i != axis))
    err = np.moveaxis(err_rows.reshape(moved), 0, axis)
    if gran.kind == "outliers":
        p.units, p.size = n, 1
        p.error = err.reshape(-1)
        p.score = np.abs(w).reshape(-1) if hess is None else p.error
        p.cap = math.floor(gran.fraction * n + 1e-9)
        return p
    if gran.kind == "row":
        p.units = shape[0]
    else:
        if shape[-1] % gran.block:
            raise ValueError(
                f"block size {gran.block} does not divide the last weight "
                f"axis ({shape[-1]})"
            )
        p.units = n // gran.block
    p.size = n // p.units
    p.error = err.reshape(p.units, p.size).sum(axis=1)
    p.score = p.error
    return p


def high_mask(p: Plan, gran: Granularity, chosen: np.ndarray) -> np.ndarray:
    """The elements (weight layout) of the chosen units (boolean [units])."""
    if gran.kind == "outliers":
        return chosen.reshape(p.w.shape)
    return np.repeat(chosen, p.size).reshape(p.w.shape)


def mixed_type(
    p: Plan,
    low: WeightFormat,
    high: WeightFormat,
    gran: Granularity,
    chosen: np.ndarray,
    expressed=None,
) -> Decision:
    """The `!q.mixed` type with the chosen units (boolean [units]) in `high`."""
    shape, axis = p.w.shape, p.axis
    q_lo = (1 << (low.bits - 1)) - 1
    q_hi = (1 << (high.bits - 1)) - 1
    mask = high_mask(p, gran, chosen)
    rows, h_rows = p.rows()
    mask_rows = np.moveaxis(mask, axis, 0).reshape(shape[axis], -1)
    low_rows = ~mask_rows
    t2 = low_steps(rows, q_lo, low_rows)
    t = np.where(low_rows.any(axis=1), t2, p.t)
    amax = np.abs(rows).max(axis=1) if rows.size else np.zeros(len(rows))
    floor_scale = amax / q_hi
    best = (np.inf, 0, None)
    for s in range(MAX_SHIFT + 1):
        sc = np.maximum(t / 2.0**s, floor_scale)
        sc = np.where(sc > 0, sc, 1.0)
        lo_val = np.clip(np.rint(rows / sc[:, None] / 2.0**s), -q_lo, q_lo)
        lo_val = lo_val * 2.0**s * sc[:, None]
        hi_val = np.clip(np.rint(rows / sc[:, None]), -q_hi, q_hi) * sc[:, None]
        e = (h_rows * (rows - np.where(mask_rows, hi_val, lo_val)) ** 2).sum()
        if e < best[0]:
            best = (e, s, sc)
    _, shift, scales = best
    formats = [
        LevelsAttr.int_(low.bits, True, -q_lo, q_lo, shift=shift),
        LevelsAttr.int_(high.bits, True, -q_hi, q_hi),
    ]
    if gran.kind == "outliers":
        assignment = np.flatnonzero(chosen)
    else:
        assignment = chosen.astype(np.int64)
    qtype = MixedType(
        formats,
        gran.kind,
        assignment,
        [float(x) for x in scales],
        block_size=gran.block if gran.kind == "block" else 0,
        axis=axis,
        expressed=expressed,
    )
    return Decision(qtype, mask)


def top_units(score: np.ndarray, count: int) -> np.ndarray:
    """Boolean [units]: the `count` largest scores (stable on ties)."""
    chosen = np.zeros(len(score), dtype=bool)
    chosen[np.argsort(-score, kind="stable")[:count]] = True
    return chosen


def decide(
    w: np.ndarray,
    axis: int,
    low: WeightFormat,
    high: WeightFormat,
    gran: Granularity,
    avg_bits: float,
    hess: np.ndarray | None = None,
    expressed=None,
) -> Decision:
    """The mixed type of the weight `w` (quantize layout, scales on `axis`)
    within a budget of `avg_bits` for this layer alone."""
    p = plan(w, axis, low, gran, hess)
    count = budget_units(avg_bits, low.bits, high.bits, p.units, p.size, p.cap)
    return mixed_type(p, low, high, gran, top_units(p.score, count), expressed)


def allocate(
    plans: Sequence[Plan],
    weights: Sequence[float],
    low_bits: int,
    high_bits: int,
    avg_bits: float,
) -> list[np.ndarray]:
    """One budget for all the layers: the chosen units (boolean [units] per
    plan), greedily by score per added bit, `weights[l]` · error of each unit
    of layer l (its estimated share of the model's output error).

    The units are taken in decreasing order of weight · error / (size ·
    (bH - bL)) while the total stays within avg-bits · n (n all the weights
    of the plans); then, while bits are left, the best remaining units of
    the layers whose units still fit. Outlier caps hold per layer."""
    n = sum(p.w.size for p in plans)
    budget = extra_bits(avg_bits, low_bits, n)
    step = high_bits - low_bits
    chosen = [np.zeros(p.units, dtype=bool) for p in plans]
    # each layer's candidates, best first (a cap keeps only its best units)
    orders = []
    for p in plans:
        order = np.argsort(-p.error, kind="stable")
        orders.append(order if p.cap is None else order[: p.cap])
    layer_of = np.concatenate(
        [np.full(len(o), i, dtype=np.int64) for i, o in enumerate(orders)]
    )
    unit_of = np.concatenate(orders) if orders else np.zeros(0, dtype=np.int64)
    cost = np.array([plans[i].size * step for i in layer_of], dtype=np.int64)
    gain = np.array([weights[i] for i in layer_of], dtype=np.float64)
    err = np.concatenate([p.error[o] for p, o in zip(plans, orders, strict=True)])
    density = gain * err / np.maximum(cost, 1)
    ranked = np.argsort(-density, kind="stable")
    total = np.cumsum(cost[ranked])
    k = int(np.searchsorted(total, budget, side="right"))
    taken = ranked[:k]
    for i in range(len(plans)):
        chosen[i][unit_of[taken[layer_of[taken] == i]]] = True
    left = budget - (int(total[k - 1]) if k else 0)
    rest = ranked[k:]
    # fill what is left with the densest units that still fit, layer by layer
    _, first = np.unique(layer_of[rest], return_index=True)
    for i in layer_of[rest][np.sort(first)]:
        c = plans[i].size * step
        if c > left:
            continue
        units = unit_of[rest[layer_of[rest] == i]]
        m = min(left // c, len(units))
        chosen[i][units[:m]] = True
        left -= m * c
    return chosen


def _layer_bits(fmt: WeightFormat) -> int:
    """Storage bits of one weight of `fmt` (its q type's code width)."""
    return fmt.levels_attr.code_bits


def choose_formats(
    costs: Sequence[Sequence[float]],
    sizes: Sequence[int],
    bits: Sequence[int],
    avg_bits: float,
) -> list[int]:
    """Per layer, the index of its format: the assignment with the smallest
    total cost (costs[layer][format]) whose storage, sum of sizes[layer] ·
    bits[format], is at most avg_bits · sum(sizes); exact (a dynamic
    programme over the Pareto front of (bits, cost))."""
    n = sum(sizes)
    cap = extra_bits(avg_bits, 0, n)
    front: list[tuple[int, float, tuple[int, ...]]] = [(0, 0.0, ())]
    for size, row in zip(sizes, costs, strict=True):
        grown = [
            (b + size * bits[f], c + row[f], (*pick, f))
            for b, c, pick in front
            for f in range(len(bits))
            if b + size * bits[f] <= cap
        ]
        grown.sort(key=lambda e: (e[0], e[1]))
        front = []
        for entry in grown:
            if not front or entry[1] < front[-1][1]:
                front.append(entry)
        if not front:
            low = min(bits)
            raise ValueError(
                f"avg-bits {avg_bits} is below the narrowest candidate's {low} bits"
            )
    return list(min(front, key=lambda e: (e[1], e[0]))[2])


# --------------------------------------------------------------------------- #
# layers and data
# --------------------------------------------------------------------------- #


def _const(value: SSAValue | None) -> np.ndarray | None:
    if not isinstance(value, OpResult) or not isinstance(value.op, nn.ConstantOp):
        return None
    array = dense_to_numpy(value.op.value)
    if not np.issubdtype(array.dtype, np.floating):
        return None
    return array.astype(np.float64)


def layer_weight(op: Operation) -> tuple[np.ndarray, int, SSAValue] | None:
    """(weight as qopt-quantize sees it, its scale axis, layer input)."""
    if WEIGHT_SCALES_ATTR in op.attributes or WEIGHT_TYPE_ATTR in op.attributes:
        return None
    if isinstance(op, nn.Conv2dOp):
        w = _const(op.weight)
        return (w, 0, op.input) if w is not None and w.ndim == 4 else None
    if isinstance(op, nn.GemmOp):
        alpha, _, trans_a, trans_b = op.attrs
        b = _const(op.b)
        if trans_a or b is None or b.ndim != 2:
            return None
        w = (b.T if trans_b else b) * float(np.float32(alpha))
        return w, 1, op.a
    if isinstance(op, nn.MatMulOp):
        w = _const(op.rhs)
        if w is None or w.ndim != 2 or _const(op.lhs) is not None:
            return None
        return w, 1, op.lhs
    return None


class _SquareMeans(Interpreter.Listener):
    """Accumulates E[x^2] per input feature of the target layers."""

    def __init__(self, targets: dict[int, Operation]):
        self.targets = targets
        self.sums: dict[int, np.ndarray] = {}
        self.counts: dict[int, int] = {}

    def will_interpret_op(self, op: Operation, args: PythonValues) -> None:
        if id(op) not in self.targets:
            return
        x = np.asarray(args[0], dtype=np.float64)
        if isinstance(op, nn.Conv2dOp):
            s = (x * x).sum(axis=(0, 2, 3))
            c = x.shape[0] * x.shape[2] * x.shape[3]
        else:
            flat = x.reshape(-1, x.shape[-1])
            s = (flat * flat).sum(axis=0)
            c = flat.shape[0]
        key = id(op)
        self.sums[key] = s if key not in self.sums else self.sums[key] + s
        self.counts[key] = self.counts.get(key, 0) + c

    def hessian(self, op: Operation, w: np.ndarray) -> np.ndarray | None:
        key = id(op)
        if key not in self.sums:
            return None
        ex2 = self.sums[key] / max(self.counts[key], 1)
        if isinstance(op, nn.Conv2dOp):
            group = op.attrs[3]
            o, cg = w.shape[0], w.shape[1]
            g = np.arange(o) // (o // group)
            chans = g[:, None] * cg + np.arange(cg)[None, :]
            return ex2[chans][:, :, None, None]
        return ex2[:, None]


def _measure(
    module: ModuleOp,
    fn: func.FuncOp,
    data: str,
    batch_size: int,
    listener: _SquareMeans,
) -> None:
    from qopt.backends.reference.runner import interpreter_for

    arrays = load_calibration_data(data, fn)
    types = fn.function_type.inputs.data
    dtypes = [numpy_dtype(t.element_type) for t in types]  # type: ignore[attr-defined]
    static = {
        t.get_shape()[0]
        for t in types
        if isinstance(t, TensorType) and t.get_shape()[0] != DYN
    }
    size = static.pop() if static else batch_size
    samples = arrays[0].shape[0]
    if samples % size and static:
        raise MixedPrecisionError(
            f"the data has {samples} samples, not a multiple of the static "
            f"batch size {size}"
        )
    interpreter = interpreter_for(module, listener)
    name = fn.sym_name.data
    for start in range(0, samples, size):
        inputs = tuple(
            np.asarray(a[start : start + size]).astype(d, copy=False)
            for a, d in zip(arrays, dtypes, strict=True)
        )
        try:
            with np.errstate(all="ignore"):
                interpreter.call_op(name, inputs)
        except (InterpretationError, IndexError, TypeError, ArithmeticError) as e:
            raise MixedPrecisionError(
                f"running @{name} on the data failed: {' '.join(str(e).split())}"
            ) from None


def _parse_candidates(text: str, low: str, high: str) -> list[WeightFormat]:
    names = [t for t in (x.strip() for x in text.split(",")) if t] or [low, high]
    formats = [parse_weight_format(n) for n in names]
    if len({f.name for f in formats}) != len(formats):
        raise ValueError(f"option 'candidates' repeats a format: '{text}'")
    return formats


@dataclass(frozen=True)
class MixedPrecisionPass(ModulePass):
    """Mixed-precision weights under an average-bits budget: per layer
    (budget=layer) or for the whole model (budget=model), the most
    sensitive rows, blocks or outlier weights get the `high` format and the
    rest the `low` one, recorded as `q.weight_type = !q.mixed<...>`; or
    (granularity=layer) each layer gets one format of `candidates`, chosen
    from a whole-layer sensitivity sweep, recorded as its q type.
    qopt-quantize then emits exactly the recorded types. The module
    docstring gives the budget, the criteria and the scales.

    Requires: `nn` IR (and `data` for criterion=hessian, budget=model and
    granularity=layer); qopt-quantize after.
    """

    name = "qopt-mixed-precision"

    avg_bits: float = 2.5
    granularity: str = "row"
    low: str = "int2"
    high: str = "int8"
    criterion: str = "magnitude"
    budget: str = "layer"
    candidates: str = ""
    data: str | None = None
    batch_size: int = 256
    entry: str | None = None

    def __post_init__(self) -> None:
        lo = _int_format(self.low, "low")
        hi = _int_format(self.high, "high")
        if lo.bits >= hi.bits:
            raise ValueError(
                f"option 'low' ({self.low}) must be narrower than 'high' ({self.high})"
            )
        if self.criterion not in ("magnitude", "hessian"):
            raise ValueError(
                f"unknown criterion '{self.criterion}' (magnitude, hessian)"
            )
        if self.budget not in ("layer", "model"):
            raise ValueError(f"unknown budget '{self.budget}' (layer, model)")
        if self.granularity.strip() == "layer":
            formats = _parse_candidates(self.candidates, self.low, self.high)
            narrowest = min(_layer_bits(f) for f in formats)
            if not (math.isfinite(self.avg_bits) and self.avg_bits >= narrowest):
                raise ValueError(
                    f"option 'avg-bits' must be at least the narrowest candidate's "
                    f"{narrowest} bits, got {self.avg_bits}"
                )
            if self.data is None:
                raise ValueError("granularity=layer needs option 'data'")
        else:
            parse_mixed_granularity(self.granularity)
            if self.candidates:
                raise ValueError("option 'candidates' is for granularity=layer")
            if not (math.isfinite(self.avg_bits) and self.avg_bits >= lo.bits):
                raise ValueError(
                    f"option 'avg-bits' must be at least the low format's {lo.bits} "
                    f"bits, got {self.avg_bits}"
                )
        if self.criterion == "hessian" and self.data is None:
            raise ValueError("criterion=hessian needs option 'data'")
        if self.budget == "model" and self.data is None:
            raise ValueError("budget=model needs option 'data'")
        if self.batch_size < 1:
            raise ValueError(f"option 'batch-size' must be >= 1, got {self.batch_size}")

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        try:
            fn = entry_function(op, self.entry, "mix", MixedPrecisionError)
            if self.granularity.strip() == "layer":
                self.whole_layers(op, fn)
            else:
                self.mix(op, fn)
        except (MixedPrecisionError, CalibrationError, SensitivityError) as e:
            raise PassFailedException(" ".join(str(e).split())) from None

    def sweep(
        self, module: ModuleOp, fn: func.FuncOp, fmt: WeightFormat
    ) -> dict[int, float]:
        """The output MSE of the model with each layer alone at `fmt` (the
        whole-layer sensitivity sweep on `data`), by id of the layer op."""
        assert self.data is not None
        result = layer_sensitivity(
            module, self.data, fmt, entry=self.entry, batch_size=self.batch_size
        )
        layers = model_layers(fn, fmt)
        names = layer_names(layers)
        return {
            id(layer.op): result[n].mse for layer, n in zip(layers, names, strict=True)
        }

    def mix(self, module: ModuleOp, fn: func.FuncOp) -> None:
        gran = parse_mixed_granularity(self.granularity)
        lo = _int_format(self.low, "low")
        hi = _int_format(self.high, "high")
        layers = [
            (layer, found)
            for layer in fn.body.walk()
            if (found := layer_weight(layer)) is not None
        ]
        listener = _SquareMeans({id(layer): layer for layer, _ in layers})
        if self.criterion == "hessian":
            assert self.data is not None
            _measure(module, fn, self.data, self.batch_size, listener)
        plans = []
        for layer, (w, axis, _) in layers:
            hess = None
            if self.criterion == "hessian":
                hess = listener.hessian(layer, w)
                if hess is None:
                    continue  # not reached by the data
            try:
                if self.budget == "layer":
                    d = decide(w, axis, lo, hi, gran, self.avg_bits, hess, _elt(layer))
                    layer.attributes[WEIGHT_TYPE_ATTR] = d.qtype
                    continue
                plans.append((layer, plan(w, axis, lo, gran, hess)))
            except ValueError as e:
                raise MixedPrecisionError(f"{_where(layer)}: {e}") from None
        if not plans:
            return
        gains = self.gains(module, fn, plans, hi)
        chosen = allocate([p for _, p in plans], gains, lo.bits, hi.bits, self.avg_bits)
        for (layer, p), pick in zip(plans, chosen, strict=True):
            d = mixed_type(p, lo, hi, gran, pick, _elt(layer))
            layer.attributes[WEIGHT_TYPE_ATTR] = d.qtype

    def gains(
        self,
        module: ModuleOp,
        fn: func.FuncOp,
        plans: Sequence[tuple[Operation, Plan]],
        probe: WeightFormat,
    ) -> list[float]:
        """Per layer, the model's output MSE per unit of the layer's
        (h-weighted) squared weight error, measured with the layer alone at
        `probe` (nearest rounding, qopt-quantize's scales)."""
        mse = self.sweep(module, fn, probe)
        gains: list[float | None] = []
        for layer, p in plans:
            levels, qtype = quantize_weights(p.w, probe, p.axis)
            delta = p.w - levels * qtype.scale_array(p.w.shape)
            h = 1.0 if p.hess is None else p.hess
            local = float((h * delta**2).sum())
            out = mse.get(id(layer))
            gains.append(out / local if out is not None and local > 0 else None)
        known = [g for g in gains if g is not None and g > 0]
        fallback = float(np.mean(known)) if known else 1.0
        return [g if g is not None and g > 0 else fallback for g in gains]

    def whole_layers(self, module: ModuleOp, fn: func.FuncOp) -> None:
        """granularity=layer: one candidate format per layer."""
        formats = _parse_candidates(self.candidates, self.low, self.high)
        found = {
            id(layer.op): layer.op
            for layer in model_layers(fn, formats[0])
            if layer_weight(layer.op) is not None
        }
        if not found:
            return
        mse = [self.sweep(module, fn, f) for f in formats]
        ops = list(found.values())
        weights = [layer_weight(o) for o in ops]
        costs = [[m[id(o)] for m in mse] for o in ops]
        sizes = [w.size for w, _, _ in weights]  # type: ignore[misc]
        bits = [_layer_bits(f) for f in formats]
        try:
            picks = choose_formats(costs, sizes, bits, self.avg_bits)
        except ValueError as e:
            raise MixedPrecisionError(str(e)) from None
        for o, (w, axis, _), pick in zip(ops, weights, picks, strict=True):  # type: ignore[misc]
            fmt = formats[pick]
            scales = weight_scales(w, fmt, axis)
            o.attributes[WEIGHT_TYPE_ATTR] = fmt.qtype(
                [float(x) for x in scales], axis, _elt(o)
            )


def _elt(layer: Operation):
    return layer.results[0].type.element_type  # type: ignore[attr-defined]


def _where(layer: Operation) -> str:
    name = layer.results[0].name_hint
    return f"'{layer.name}'" + (f" %{name}" if name else "")
