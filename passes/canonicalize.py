"""`nn-canonicalize`: local simplifications of the `nn` float graph.

What it does, applied greedily until nothing changes:

(a) drops an identity `nn.reshape` (operand type == result type) and an
    identity `nn.transpose` (perm = [0, 1, ..., n-1] and operand type ==
    result type);
(b) merges reshape-of-reshape into one reshape from the innermost operand
    (kept only if the merged reshape verifies: the dialect allows one
    dynamic dimension per side), and transpose-of-transpose into one
    transpose with the composed perm (`perm[i] = inner[outer[i]]`), dropped
    entirely if that is the identity;
(c) folds every `Pure` op of the `nn` dialect whose operands are all
    `nn.constant` into a new `nn.constant`, by running the op's reference
    implementation through xDSL's interpreter (`Interpreter.run_op` with the
    executors of `qopt.backends.reference`), so ops added to the dialect
    later fold as soon as they have an executor. Only results with a static
    shape, a float or integer element type and at most `fold-limit` elements
    (all results together) are materialised; an op whose executor fails is
    left alone;
(d) removes the arithmetic identities `x * 1`, `1 * x`, `x + 0`, `0 + x`,
    `x - 0` and `x / 1`, where the constant is an `nn.constant` splat (every
    element equal), and only if the result type equals the type of `x` (so
    broadcasting does not change the shape). `x + 0` turns -0.0 into +0.0;
    this sign-of-zero difference is ignored;
(e) erases unused `Pure` ops (dead code elimination), e.g. constants left
    over by (c).

Requires: nothing beyond verified IR; ops of other dialects are only
touched by the dead code elimination (if they are `Pure` and unused).

Options:
- `fold-limit` (int, default 1<<20): the largest number of elements that
  constant folding may materialise for one op; 0 disables folding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import (
    ModuleOp,
    TensorType,
)
from xdsl.interpreter import Interpreter
from xdsl.ir import Attribute, Operation, OpResult, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.traits import ConstantLike, Pure
from xdsl.transforms.dead_code_elimination import region_dce
from xdsl.utils.exceptions import VerifyException

from qopt.backends.reference.nn import dense_to_numpy, numpy_to_dense
from qopt.backends.reference.runner import interpreter_for
from qopt.qdialect import nn
from qopt.qdialect.shapes import DYN

# --------------------------------------------------------------------------- #
# numpy <-> dense attributes
# --------------------------------------------------------------------------- #


def constant_value(value: SSAValue) -> np.ndarray | None:
    """The array of `value` if an `nn.constant` defines it, else None."""
    if isinstance(value, OpResult) and isinstance(value.op, nn.ConstantOp):
        return dense_to_numpy(value.op.value)
    return None


def _is_splat_of(value: SSAValue, target: float) -> bool:
    array = constant_value(value)
    return array is not None and array.size > 0 and bool(np.all(array == target))


def _static_size(ty: Attribute) -> int | None:
    """The element count of a statically shaped tensor type, else None."""
    if not isinstance(ty, TensorType):
        return None
    shape = ty.get_shape()
    if any(d == DYN for d in shape):
        return None
    return int(np.prod(shape, dtype=np.int64))


# --------------------------------------------------------------------------- #
# (a) identities and (b) merges of layout ops
# --------------------------------------------------------------------------- #


class RemoveIdentityReshape(RewritePattern):
    """`nn.reshape` from a type to the same type is its operand."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.ReshapeOp, rewriter: PatternRewriter, /):
        if op.input.type == op.output.type:
            rewriter.replace(op, [], [op.input])


class RemoveIdentityTranspose(RewritePattern):
    """`nn.transpose` with perm [0, 1, ..., n-1] is its operand."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.TransposeOp, rewriter: PatternRewriter, /):
        perm = tuple(op.perm.get_values())
        if perm == tuple(range(len(perm))) and op.input.type == op.output.type:
            rewriter.replace(op, [], [op.input])


class MergeReshapes(RewritePattern):
    """reshape(reshape(x)) -> reshape(x), if the merged reshape verifies."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.ReshapeOp, rewriter: PatternRewriter, /):
        inner = op.input.owner
        if not isinstance(inner, nn.ReshapeOp):
            return
        source = inner.input
        if source.type == op.output.type:
            rewriter.replace(op, [], [source])
            return
        merged = nn.ReshapeOp.create(
            operands=[source],
            result_types=[op.output.type],
            attributes=dict(op.attributes),
        )
        try:
            merged.verify()
        except VerifyException:
            merged.erase()
            return
        rewriter.replace(op, merged)


class MergeTransposes(RewritePattern):
    """transpose(transpose(x, p), q) -> transpose(x, [p[q[i]] for i])."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.TransposeOp, rewriter: PatternRewriter, /):
        inner = op.input.owner
        if not isinstance(inner, nn.TransposeOp):
            return
        outer_perm = op.perm.get_values()
        inner_perm = inner.perm.get_values()
        perm = [inner_perm[p] for p in outer_perm]
        source = inner.input
        if perm == list(range(len(perm))) and source.type == op.output.type:
            rewriter.replace(op, [], [source])
            return
        merged = nn.TransposeOp.create(
            operands=[source],
            result_types=[op.output.type],
            properties={"perm": nn.i64_array(perm)},
            attributes=dict(op.attributes),
        )
        try:
            merged.verify()
        except VerifyException:
            merged.erase()
            return
        rewriter.replace(op, merged)


# --------------------------------------------------------------------------- #
# (c) constant folding through the reference executor
# --------------------------------------------------------------------------- #


@dataclass
class FoldConstantOperands(RewritePattern):
    """A Pure `nn` op of `nn.constant` operands becomes `nn.constant`s."""

    interpreter: Interpreter
    fold_limit: int

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if op.dialect_name() != "nn" or not op.results:
            return
        if op.has_trait(ConstantLike) or not op.has_trait(Pure):
            return
        if not all(
            isinstance(v, OpResult) and isinstance(v.op, nn.ConstantOp)
            for v in op.operands
        ):
            return
        sizes = [_static_size(r.type) for r in op.results]
        if any(s is None for s in sizes) or sum(sizes) > self.fold_limit:
            return
        args = tuple(dense_to_numpy(v.owner.value) for v in op.operands)
        try:
            values: tuple[Any, ...] = self.interpreter.run_op(op, args)
        except Exception:  # an optimisation: an op that cannot run stays
            return
        constants: list[nn.ConstantOp] = []
        for value, result in zip(values, op.results, strict=True):
            attr = numpy_to_dense(np.asarray(value), result.type)
            if attr is None:
                return
            constants.append(nn.ConstantOp(attr))
        rewriter.replace(op, constants, [c.output for c in constants])


# --------------------------------------------------------------------------- #
# (d) arithmetic identities
# --------------------------------------------------------------------------- #


class RemoveArithIdentity(RewritePattern):
    """x*1, 1*x, x+0, 0+x, x-0, x/1 -> x when the type does not change."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self,
        op: nn.AddOp | nn.SubOp | nn.MulOp | nn.DivOp,
        rewriter: PatternRewriter,
        /,
    ):
        neutral = 0.0 if isinstance(op, nn.AddOp | nn.SubOp) else 1.0
        commutative = isinstance(op, nn.AddOp | nn.MulOp)
        candidates = [(op.lhs, op.rhs)]
        if commutative:
            candidates.append((op.rhs, op.lhs))
        for x, other in candidates:
            if x.type == op.output.type and _is_splat_of(other, neutral):
                rewriter.replace(op, [], [x])
                return


# --------------------------------------------------------------------------- #
# The pass
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class NNCanonicalizePass(ModulePass):
    """Canonicalize the `nn` graph: identities, merges, constant folding, DCE.

    See the module docstring for the exact rules.
    """

    name = "nn-canonicalize"

    fold_limit: int = 1 << 20
    """Largest number of elements constant folding materialises for one op."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        patterns: list[RewritePattern] = [
            RemoveIdentityReshape(),
            RemoveIdentityTranspose(),
            MergeReshapes(),
            MergeTransposes(),
            RemoveArithIdentity(),
        ]
        if self.fold_limit > 0:
            patterns.append(FoldConstantOperands(interpreter_for(op), self.fold_limit))
        walker = PatternRewriteWalker(
            GreedyRewritePatternApplier(patterns, dce_enabled=True),
            post_walk_func=region_dce,
        )
        walker.rewrite_module(op)
