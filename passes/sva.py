"""`qopt-sva`: successive vector approximation (multiplierless weights).

    qopt-opt m.mlir --pass-pipeline='builtin.module(qopt-calibrate{data=c.npz},
        qopt-sva{terms=2}, qopt-quantize{weights=spot2})'

For every layer with constant weights, each weight *vector* w (a conv
filter: one output channel's weights; a gemm/matmul neuron: one column of
the [K, N] weight matrix) is approximated by matching pursuit over
generalized bit-planes. Starting from r = w, each step picks one ternary
vector c in {-1, 0, +1}^n and one power-of-two amplitude 2^e shared by the
whole vector:

- for a given e, the optimal c is c_i = sign(r_i) where |r_i| > 2^e / 2,
  else 0;
- e is chosen among floor(log2 max|r|) - 4 .. floor(log2 max|r|) + 1 to
  minimise ||r - 2^e c||^2 (the first, i.e. largest, e wins ties);
- r <- r - 2^e c.

After at most K = `terms` steps, w ~ sum_k 2^(e_k) c_k: every weight is a
sum of at most K signed powers of two drawn from the K exponents of its
vector, so hardware needs K shifts per vector (not per weight). A vector
stops early when a step would not reduce ||r|| (or r = 0), and, with
`threshold` > 0, as soon as ||r|| / ||w|| < threshold (variable terms).

Representation. The vector's scale is s = 2^(e_min) (its smallest used
exponent) and its levels w / s = sum_k c_k 2^(e_k - e_min) are integers
whose terms have exponents 0..6: exactly the levels of qopt-quantize's
`spotK` format (K `pot i4` terms, exponents 0..6; `pot4` for K = 1). To
stay inside that range the exponents of one vector must span at most 6
octaves: steps after the first only consider exponents within
[max e - 6, min e + 6] of the exponents already chosen (clipping the search,
not the result). The pass

- replaces the float weights by the approximation (exact in f32: at most
  8 significant bits times a power of two); a weight constant with other
  users is copied first;
- records `q.weight_format = "spotK"` (`"pot4"` for K = 1) and per-channel
  `q.weight_scales` (2^e_min per vector; 1 for an all-zero vector), so that
  `qopt-quantize{weights=spotK}` (per-channel granularity) rounds every
  weight to exactly its approximation (bit-exact, no tie can occur);
- records `q.sva_exponents = array<i64: ...>`: K shifts e_k - e_min
  (0..6) per vector in the order chosen (row-major [vectors, K]), -1 for
  an unused step.

Layers: `nn.conv2d` (constant 4-D weight), `nn.gemm` (transA false,
constant 2-D B, alpha = 1; vectors are the columns of B' = transB ? B^T : B),
`nn.matmul` with a constant 2-D right operand (vectors are its columns).
Layers that already carry `q.weight_scales` (e.g. from `qopt-adaround`) are
skipped.

Options: `terms` (1..3, default 2), `threshold` (>= 0, default 0: always K
terms), `entry`.

Requires: `nn` IR (calibrated or not: the `#q.range` attributes are kept,
they were measured with the float weights; re-run qopt-calibrate after this
pass for ranges of the approximated model). Follow with qopt-quantize with
`weights=spotK` (the recorded format) and weight-granularity=channel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import DenseArrayBase, ModuleOp, StringAttr, f64, i64
from xdsl.ir import Operation, OpResult, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

from qopt.backends.reference.nn import dense_to_numpy, numpy_dtype, numpy_to_dense
from qopt.passes.quant_formats import WEIGHT_FORMAT_ATTR, WEIGHT_SCALES_ATTR
from qopt.qdialect import nn

SVA_EXPONENTS_ATTR = "q.sva_exponents"
"""Op attribute (`array<i64: ...>`): K shifts per weight vector, -1 unused."""

MAX_SPAN = 6
"""Exponent span of one vector: spot terms are `pot i4` (exponents 0..6)."""

CANDIDATES = range(-4, 2)
"""Exponent candidates relative to floor(log2 max|r|)."""

FORMAT_OF_TERMS = {1: "pot4", 2: "spot2", 3: "spot3"}


class SvaError(Exception):
    """Bad input; the message is one line."""


def sva_vectors(
    rows: np.ndarray, terms: int, threshold: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SVA of each row of `rows` ([C, n]): the approximation [C, n] (float64),
    the chosen exponents [C, terms] (int64, absolute; unused steps hold the
    sentinel INT_MIN) and the residual norm after each step [C, terms + 1]
    (column 0: ||w||)."""
    w = np.asarray(rows, dtype=np.float64)
    c_count = w.shape[0]
    unused = np.iinfo(np.int64).min
    approx = np.zeros_like(w)
    r = w.copy()
    exps = np.full((c_count, terms), unused, dtype=np.int64)
    norms = np.zeros((c_count, terms + 1))
    norm0 = np.sqrt((w * w).sum(axis=1))
    norms[:, 0] = norm0
    active = norm0 > 0
    lo = np.full(c_count, np.iinfo(np.int64).max // 2)  # min chosen exponent
    hi = np.full(c_count, np.iinfo(np.int64).min // 2)  # max chosen exponent
    for k in range(terms):
        err_now = (r * r).sum(axis=1)
        if threshold > 0:
            active &= np.sqrt(err_now) >= threshold * norm0
        amax = np.abs(r).max(axis=1) if r.size else np.zeros(c_count)
        active &= amax > 0
        base = np.floor(np.log2(np.where(amax > 0, amax, 1.0))).astype(np.int64)
        best_err = np.full(c_count, np.inf)
        best_e = np.zeros(c_count, dtype=np.int64)
        best_c = np.zeros_like(r)
        for d in CANDIDATES:
            e = base + d
            ok = (
                (e >= hi - MAX_SPAN) & (e <= lo + MAX_SPAN)
                if k
                else np.ones_like(active)
            )
            a = np.ldexp(1.0, e)[:, None]
            c = np.sign(r) * (np.abs(r) > a / 2)
            err = ((r - a * c) ** 2).sum(axis=1)
            err = np.where(ok, err, np.inf)
            better = err < best_err
            best_err = np.where(better, err, best_err)
            best_e = np.where(better, e, best_e)
            best_c = np.where(better[:, None], c, best_c)
        step = active & (best_err < err_now)
        active = step
        a = np.ldexp(1.0, best_e)[:, None]
        delta = np.where(step[:, None], a * best_c, 0.0)
        approx += delta
        r -= delta
        exps[:, k] = np.where(step, best_e, unused)
        lo = np.where(step, np.minimum(lo, best_e), lo)
        hi = np.where(step, np.maximum(hi, best_e), hi)
        norms[:, k + 1] = np.sqrt((r * r).sum(axis=1))
    return approx, exps, norms


def scales_and_shifts(exps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-vector scale 2^e_min (1 if no term) and shifts e_k - e_min (-1 unused)."""
    unused = np.iinfo(np.int64).min
    used = exps != unused
    e_min = np.where(used, exps, np.iinfo(np.int64).max).min(axis=1)
    has = used.any(axis=1)
    e_min = np.where(has, e_min, 0)
    scales = np.where(has, np.ldexp(1.0, e_min), 1.0)
    shifts = np.where(used, exps - e_min[:, None], -1)
    return scales, shifts


def _const(value: SSAValue | None) -> np.ndarray | None:
    if not isinstance(value, OpResult) or not isinstance(value.op, nn.ConstantOp):
        return None
    array = dense_to_numpy(value.op.value)
    if not np.issubdtype(array.dtype, np.floating):
        return None
    return array


def _layer(op: Operation) -> tuple[SSAValue, np.ndarray, bool] | None:
    """(weight value, weight array, vectors are rows (True) or columns)."""
    if WEIGHT_SCALES_ATTR in op.attributes:
        return None
    if isinstance(op, nn.Conv2dOp):
        w = _const(op.weight)
        return (op.weight, w, True) if w is not None and w.ndim == 4 else None
    if isinstance(op, nn.GemmOp):
        alpha, _, trans_a, trans_b = op.attrs
        w = _const(op.b)
        if trans_a or w is None or w.ndim != 2 or float(alpha) != 1.0:
            return None
        return op.b, w, bool(trans_b)
    if isinstance(op, nn.MatMulOp):
        w = _const(op.rhs)
        if w is None or w.ndim != 2 or _const(op.lhs) is not None:
            return None
        return op.rhs, w, False
    return None


def _set_weight(op: Operation, weight: SSAValue, new: np.ndarray) -> None:
    const = weight.op  # type: ignore[attr-defined]
    assert isinstance(const, nn.ConstantOp)
    dense = numpy_to_dense(np.ascontiguousarray(new), weight.type)
    if weight.has_one_use():
        const.value = dense  # type: ignore[misc]
        return
    copy = nn.ConstantOp(dense)
    copy.output.name_hint = weight.name_hint
    const.parent_block().insert_op_after(copy, const)  # type: ignore[union-attr]
    index = list(op.operands).index(weight)
    op.operands[index] = copy.output


def approximate_layer(op: Operation, terms: int, threshold: float) -> bool:
    """Apply SVA to one layer; False if it is not a layer with constant weights."""
    found = _layer(op)
    if found is None:
        return False
    weight, w, by_rows = found
    dtype = numpy_dtype(weight.type.element_type)  # type: ignore[attr-defined]
    rows = w.reshape(w.shape[0], -1) if by_rows else w.T
    approx, exps, _ = sva_vectors(rows, terms, threshold)
    scales, shifts = scales_and_shifts(exps)
    new = approx.reshape(w.shape) if by_rows else approx.T
    stored = new.astype(dtype)
    if not np.array_equal(stored.astype(np.float64), new):
        raise SvaError(
            f"'{op.name}': the approximation is not exact in {dtype} "
            "(exponents out of range)"
        )
    _set_weight(op, weight, stored)
    op.attributes[WEIGHT_FORMAT_ATTR] = StringAttr(FORMAT_OF_TERMS[terms])
    op.attributes[WEIGHT_SCALES_ATTR] = DenseArrayBase.from_list(
        f64, [float(s) for s in scales]
    )
    op.attributes[SVA_EXPONENTS_ATTR] = DenseArrayBase.from_list(
        i64, [int(x) for x in shifts.reshape(-1)]
    )
    return True


@dataclass(frozen=True)
class SvaPass(ModulePass):
    """Successive vector approximation of constant conv/gemm/matmul weights:
    each output channel's weights become a sum of at most `terms` ternary
    vectors times shared powers of two; records `q.weight_format = "spotK"`,
    per-channel `q.weight_scales` and `q.sva_exponents` for qopt-quantize.
    The module docstring gives the algorithm and the representation.

    Requires: `nn` IR; follow with qopt-quantize{weights=spotK}.
    """

    name = "qopt-sva"

    terms: int = 2
    threshold: float = 0.0
    entry: str | None = None

    def __post_init__(self) -> None:
        if self.terms not in FORMAT_OF_TERMS:
            raise ValueError(
                f"option 'terms' must be 1, 2 or 3 (pot4, spot2, spot3), got "
                f"{self.terms}"
            )
        if not (math.isfinite(self.threshold) and 0 <= self.threshold < 1):
            raise ValueError(
                f"option 'threshold' must be in [0, 1), got {self.threshold}"
            )

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        fns = [
            f
            for f in op.body.block.ops
            if isinstance(f, func.FuncOp)
            and f.body.blocks
            and (self.entry is None or f.sym_name.data == self.entry)
        ]
        if self.entry is not None and not fns:
            raise PassFailedException(f"no function @{self.entry} to approximate")
        try:
            for fn in fns:
                for layer in list(fn.body.walk()):
                    approximate_layer(layer, self.terms, float(self.threshold))
        except SvaError as e:
            raise PassFailedException(" ".join(str(e).split())) from None
