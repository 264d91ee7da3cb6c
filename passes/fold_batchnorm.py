"""`nn-fold-batchnorm`: fold inference batch normalisation into the layer before.

An `nn.batchnorm` y = s * (x - mean) / sqrt(var + eps) + beta is folded into
the `nn.conv2d` or `nn.gemm` that produces x, when all of these hold:

- x is the result of an `nn.conv2d`, or of an `nn.gemm` (result [M, N]; the
  batchnorm channel axis 1 is N), and the batchnorm is its only user;
- scale, bias, mean and var of the batchnorm are `nn.constant`s of shape [C]
  with C the layer's output channels;
- the conv weight (gemm B) is an `nn.constant`, and so is the conv bias
  (gemm C), if there is one;
- every factor k = s / sqrt(var + eps) is finite.

With k per output channel, the layer gets new constant operands

    conv: w' = w * k (per output channel, weight axis 0; any `group`)
          b' = (b - mean) * k + beta                    (b = 0 if absent)
    gemm: B' = alpha * B * k (along N: axis 1 of B, axis 0 if transB)
          C' = (beta_gemm * C - mean) * k + beta        (C = 0 if absent;
               C' has the broadcast shape of C and [N])

and the gemm's alpha and beta become the defaults (1); strides, pads,
dilations, group, transA and transB are kept. A missing bias is created.
The arithmetic is done in float64 (epsilon is taken at its f32 value, as
the reference executor does) and rounded once to the element type of the
weight (float32 for f32 graphs); a new C keeps the element type of the old
one. The batchnorm and the old layer are replaced by the new layer, and the
constants that this leaves unused are erased. The new layer records what
the batchnorm knew about its output distribution, y ~ N(beta, gamma^2) per
channel, as `q.bn_stats = {mean = array<f64: beta>, std = array<f64: |gamma|>}`
so that `qopt-bias-correct{mode=analytic}` still works after folding.

Anything else (batchnorm after another op, non-constant statistics or
weights, a layer result with other users) is left untouched: this is an
optimisation and never fails.

Requires: verified `nn` IR. No options.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from qopt.backends.reference.nn import dense_to_numpy, numpy_to_dense
from qopt.passes.equalize import BN_STATS_ATTR
from qopt.qdialect import nn


def _constant(value: SSAValue | None) -> tuple[nn.ConstantOp, np.ndarray] | None:
    """The `nn.constant` defining `value` and its float64 array, else None."""
    if not isinstance(value, OpResult) or not isinstance(value.op, nn.ConstantOp):
        return None
    array = dense_to_numpy(value.op.value)
    if not np.issubdtype(array.dtype, np.floating):
        return None
    return value.op, array.astype(np.float64)


def _new_constant(value: np.ndarray, like: SSAValue) -> nn.ConstantOp | None:
    """An `nn.constant` holding `value` with the element type of `like`."""
    ty = like.type
    assert isinstance(ty, TensorType)
    attr = numpy_to_dense(value, TensorType(ty.get_element_type(), value.shape))
    return None if attr is None else nn.ConstantOp(attr)


class FoldBatchNormPattern(RewritePattern):
    """conv2d/gemm with constant operands followed by batchnorm -> one layer."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, bn: nn.BatchNormOp, rewriter: PatternRewriter, /):
        layer = bn.input.owner
        if not isinstance(layer, nn.Conv2dOp | nn.GemmOp):
            return
        if not bn.input.has_one_use():
            return
        stats = [_constant(v) for v in (bn.scale, bn.bias, bn.mean, bn.var)]
        if any(s is None for s in stats):
            return
        (scale, beta, mean, var) = (s[1] for s in stats)
        eps = float(np.float32(nn.float_value(bn.epsilon, 1e-5)))
        with np.errstate(all="ignore"):
            k = scale / np.sqrt(var + eps)
        if not np.all(np.isfinite(k)):
            return

        if isinstance(layer, nn.Conv2dOp):
            new_ops = self._fold_conv(layer, bn, k, beta, mean)
        else:
            new_ops = self._fold_gemm(layer, bn, k, beta, mean)
        if new_ops is None:
            return
        # what the batchnorm knew about its output: y ~ N(beta, gamma^2) per
        # channel; qopt-bias-correct{mode=analytic} reads it after folding
        new_ops[-1].attributes[BN_STATS_ATTR] = DictionaryAttr(
            {
                "mean": DenseArrayBase.from_list(f64, [float(v) for v in beta]),
                "std": DenseArrayBase.from_list(f64, [abs(float(v)) for v in scale]),
            }
        )

        old_constants = [s[0] for s in stats]
        old_constants += [
            v.op
            for v in layer.operands[1:]
            if isinstance(v, OpResult) and isinstance(v.op, nn.ConstantOp)
        ]
        rewriter.replace(bn, new_ops)
        rewriter.erase(layer)
        erased: set[int] = set()
        for const in old_constants:
            if id(const) not in erased and const.output.first_use is None:
                erased.add(id(const))
                rewriter.erase(const)

    @staticmethod
    def _fold_conv(
        conv: nn.Conv2dOp,
        bn: nn.BatchNormOp,
        k: np.ndarray,
        beta: np.ndarray,
        mean: np.ndarray,
    ) -> list[Operation] | None:
        w = _constant(conv.weight)
        if w is None or w[1].ndim != 4 or w[1].shape[0] != k.shape[0]:
            return None
        if conv.bias is None:
            b = np.zeros_like(k)
        else:
            bias = _constant(conv.bias)
            if bias is None or bias[1].shape != k.shape:
                return None
            b = bias[1]
        w_const = _new_constant(w[1] * k.reshape(-1, 1, 1, 1), conv.weight)
        b_const = _new_constant((b - mean) * k + beta, conv.bias or conv.weight)
        if w_const is None or b_const is None:
            return None
        w_const.output.name_hint = conv.weight.name_hint
        b_const.output.name_hint = (conv.bias or bn.bias).name_hint
        new_conv = nn.Conv2dOp.create(
            operands=[conv.input, w_const.output, b_const.output],
            result_types=[bn.output.type],
            properties=dict(conv.properties),
            attributes=dict(conv.attributes),
        )
        new_conv.output.name_hint = conv.output.name_hint
        return [w_const, b_const, new_conv]

    @staticmethod
    def _fold_gemm(
        gemm: nn.GemmOp,
        bn: nn.BatchNormOp,
        k: np.ndarray,
        beta: np.ndarray,
        mean: np.ndarray,
    ) -> list[Operation] | None:
        alpha, beta_gemm, _, trans_b = gemm.attrs
        b = _constant(gemm.b)
        if b is None or b[1].ndim != 2:
            return None
        n_axis = 0 if trans_b else 1
        if b[1].shape[n_axis] != k.shape[0]:
            return None
        k_b = k.reshape(-1, 1) if trans_b else k.reshape(1, -1)
        new_b = np.float64(np.float32(alpha)) * b[1] * k_b
        if gemm.c is None:
            c = np.zeros_like(k)
        else:
            c_const = _constant(gemm.c)
            if c_const is None:
                return None
            c = c_const[1]
        try:
            np.broadcast_shapes(c.shape, k.shape)
        except ValueError:
            return None
        new_c = (np.float64(np.float32(beta_gemm)) * c - mean) * k + beta
        b_const = _new_constant(new_b, gemm.b)
        c_const_op = _new_constant(new_c, gemm.c or gemm.b)
        if b_const is None or c_const_op is None:
            return None
        b_const.output.name_hint = gemm.b.name_hint
        c_const_op.output.name_hint = (gemm.c or bn.bias).name_hint
        props = {
            name: value
            for name, value in gemm.properties.items()
            if name not in ("alpha", "beta")
        }
        new_gemm = nn.GemmOp.create(
            operands=[gemm.a, b_const.output, c_const_op.output],
            result_types=[bn.output.type],
            properties=props,
            attributes=dict(gemm.attributes),
        )
        new_gemm.output.name_hint = gemm.output.name_hint
        return [b_const, c_const_op, new_gemm]


@dataclass(frozen=True)
class FoldBatchNormPass(ModulePass):
    """Fold `nn.batchnorm` into a preceding conv2d/gemm with constant weights.

    See the module docstring for the exact conditions and arithmetic.
    """

    name = "nn-fold-batchnorm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(FoldBatchNormPattern()).rewrite_module(op)
