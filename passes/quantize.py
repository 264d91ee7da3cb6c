"""`qopt-quantize`: rewrite calibrated `nn` float IR into `q` integer IR.

    qopt-opt m.mlir --pass-pipeline='builtin.module(qopt-calibrate{data=c.npz},
        qopt-quantize{weights=int8 activations=int8 weight-granularity=channel})'

The entry function (`entry=NAME`; default: the module's only function with
a body, else `@main`) is rewritten op by op, in order. Its signature stays
float, so `qopt-run` compares float inputs and outputs with the float model.

Options (format names: `passes/quant_formats.py`, also in q.md):

- `weights` (int8): `int2`..`int16`, `pot3`, `pot4`, `pot5`, `spot2`,
  `spot3`, `ternary`, `binary` (±scale, one bit per weight, scale mean|w|);
- `activations` (int8): `int2`..`int16` (zero point 0; unsigned `uN` for a
  value whose calibrated range is non-negative), `uint2`..`uint16`
  (asymmetric unsigned with a zero point, like ONNX Runtime's QUInt8),
  `thr2`..`thr8` (N-bit threshold codes `!q.thresholds<uN...>` with
  equiprobable bins on the calibration data and a least-squares scale and
  zero point; needs `qopt-calibrate{quantiles=R}` with R >= 2^N);
- `weight-granularity` (channel): `tensor` or `channel` (one scale per output
  channel: axis 0 of an OIHW conv weight, the output-feature axis of a gemm
  or matmul weight). `group:G` is rejected: `q.conv2d` and `q.matmul` take
  per-tensor or per-channel weight scales only (per-block scales would give
  each partial sum its own scale; splitting the reduction into one layer per
  block is left for a later pass);
- `bias-bits` (32): the bias is a signed integer of this width (saturating)
  at the accumulator scale sx·sw, zero point 0; 0 picks the narrowest width
  that holds its levels (and so a narrower accumulator);
- `mult-bits` (16): precision of the `q.requantize` multipliers
  (`q.requant_params`);
- `recipe=FILE`: per-layer overrides (`passes/quant_recipe.py`), e.g.
  `conv* : weights=pot4/channel acts=uint8; fc_out : weights=int8`; the
  first matching rule wins;
- `lut` (true): unary nonlinearities on an already quantized value of at
  most 256 levels become `q.lut` tables;
- `entry`: the function to rewrite.

Rewrite rules. "Quantized" values live in a map from float values to their
`q` versions; every rewritten op's float result is replaced by a
`q.dequantize` of its `q` result (so float consumers and the function's
return keep working) and dead code is removed at the end (`dce`: no float
weights, no unused dequantize is left).

1. Arguments: every float argument is quantized at the start of the
   function (`q.quantize`) to the activation type of its range; all its
   users then see the quantized value.
2. `nn.conv2d(x, W, b)` with constant W (and b): `q.conv2d(xq, Wq, bq)`
   (accumulator from bit growth) + `q.requantize` to the activation type of
   the conv's range (for `thrN` activations, `q.threshold`: integer
   compares of the accumulator with thresholds in accumulator units, and
   everywhere below where a requantize produces an activation). If the
   conv's only user is `nn.relu` or `nn.clip` with min 0 (directly, or
   after a chain of single-use `nn.reshape`, `nn.flatten`, `nn.transpose`,
   which are then applied to the quantized value), the output type comes
   from that op's range and the op is dropped:
   the requantize saturation is the relu when the output zero point is the
   lowest level (always the case for a non-negative range); otherwise a
   `q.relu` follows, and a clip's upper bound below the top level becomes a
   `q.clamp`. Threshold codes absorb the relu (or clip) exactly: the
   thresholds of a relu's range lie in (0, hi], where relu(x) >= t iff
   x >= t (other thresholds are a one-line error). A conv with non-constant
   weights stays float.
3. `nn.gemm(a, B, C)` (transA false; B constant; C constant and constant
   along M, i.e. of shape [], [N], [1, N] or [1]): `q.matmul(aq, Wq, bq)`
   with W = alpha·B' (B transposed if transB) as a [K, N] constant, per
   column, bias beta·C; + requantize, relu fused as for conv.
   `nn.matmul(a, B)` with a of rank >= 2 and constant B of rank >= 2
   likewise; when its only user is an `nn.add` of a constant that is a row
   [N] (shape [N] or [1, ..., 1, N]), that constant becomes the bias (and a
   relu after the add is fused).
4. `nn.maxpool2d` of a quantized value: `q.maxpool2d` on the same type.
   `nn.avgpool2d` whose windows all count kh·kw taps (count_include_pad, or
   no padding; no partial ceil-mode window) and `nn.global_avgpool` of a
   rank-4 input with static H, W: `q.avgpool2d` (window sums) +
   `q.requantize` to the pool's range (the division by kh·kw is in the
   multiplier). Other average pools stay float.
5. `nn.add(a, b)` of float tensors (residual): both operands quantized
   (a constant operand with the activation type of its own values), the
   one with the coarser scale requantized to the finer scale sc = min(sa, sb)
   (into a signed type wide enough not to saturate) unless the ratio is
   already a power of two, then `q.add` (exact: equal scales or a shift)
   and `q.requantize` to the add's range (relu fused as for conv).
6. `nn.relu` of a quantized value: the identity if its zero point is the
   lowest level (unsigned, zero point 0; threshold codes with zero point
   0), else `q.relu`; `nn.clip(lo, hi)`
   of a quantized value: `q.clamp` with the levels of lo and hi (exact:
   quantization is monotone), the identity if those are the extreme levels.
   The type is kept.
7. Layout ops `nn.reshape`, `nn.flatten`, `nn.transpose`, `nn.slice`,
   `nn.split` of a quantized value pass it through on the quantized element
   type (the `nn` verifiers accept any element type and the reference
   executor moves levels). `nn.concat` with a quantized input: every input
   is quantized and requantized to the activation type of the concat's range
   (equal input types), then concatenated.
8. With `lut=true`, `nn.sigmoid`, `tanh`, `gelu`, `erf`, `exp`, `softplus`,
   `softsign`, `elu`, `selu`, `hard_sigmoid`, `hard_swish`, `leaky_relu`,
   `neg`, `abs`, `sqrt`, `log`, `reciprocal` of a quantized per-tensor
   uniform value (or threshold codes) with at most 256 levels: `q.lut`
   whose table is the op's own
   reference implementation on every input level, quantized to the
   activation type of the op's range.
9. Everything else stays float (softmax, layernorm, ...): its operands are
   the dequantized values, and where a rewritten op needs its result, a
   `q.quantize` to the activation type of its range is inserted.

Weights rounded by `qopt-adaround` carry `q.weight_format` and
`q.weight_scales` on their layer op: the layer then uses exactly those
scales (its float weights are already grid values, so the nearest rounding
gives the learned levels bit-exactly); a different format or granularity for
that layer is a one-line error. A layer carrying `q.weight_type` (a q
type recorded by `qopt-mixed-precision`, e.g. `!q.mixed<...>`, in the
layout above: conv OIHW, gemm/matmul [K, N]) has its weights quantized to
exactly that type, whatever the `weights` option says.

Activation ranges per channel are reduced to their hull [min lo, max hi]
(the integer ops take per-tensor activations).

Requires: `nn` IR with a `#q.range` on every float value that the rewrite
quantizes (run `qopt-calibrate` first); a missing range is a one-line error
naming the op. `dynamic` ranges are rejected ("dynamic ranges are not
supported by qopt-quantize yet"): run-time scales need ops that the `q`
dialect does not have yet.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    DenseArrayBase,
    Float16Type,
    Float32Type,
    Float64Type,
    ModuleOp,
    StringAttr,
    TensorType,
)
from xdsl.interpreter import Interpreter
from xdsl.ir import Attribute, Block, BlockArgument, Operation, OpResult, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.transforms.dead_code_elimination import region_dce
from xdsl.utils.exceptions import PassFailedException, VerifyException

from qopt.backends.reference.nn import dense_to_numpy
from qopt.passes.entry import entry_function
from qopt.passes.quant_formats import (
    MAX_THRESHOLD_BITS,
    WEIGHT_FORMAT_ATTR,
    WEIGHT_SCALES_ATTR,
    WEIGHT_TYPE_ATTR,
    ActFormat,
    QuantileSummary,
    WeightFormat,
    parse_act_format,
    parse_granularity,
    parse_weight_format,
    quantize_bias,
    quantize_weights,
    summary_from_samples,
)
from qopt.passes.quant_recipe import Recipe, RecipeError, load_recipe
from qopt.qdialect import nn, q
from qopt.qdialect.calib import RANGE_ATTR, RANGES_ATTR, value_range
from qopt.qdialect.qtypes import QuantizedType, ThresholdsType, UniformType
from qopt.qdialect.shapes import DYN, pool2d_shape, shape_of

LUT_OPS: tuple[type[Operation], ...] = (
    nn.SigmoidOp,
    nn.TanhOp,
    nn.GeluOp,
    nn.ErfOp,
    nn.ExpOp,
    nn.SoftplusOp,
    nn.SoftsignOp,
    nn.EluOp,
    nn.SeluOp,
    nn.HardSigmoidOp,
    nn.HardSwishOp,
    nn.LeakyReluOp,
    nn.NegOp,
    nn.AbsOp,
    nn.SqrtOp,
    nn.LogOp,
    nn.ReciprocalOp,
)
"""Unary elementwise ops that become a `q.lut` on a quantized input."""

LUT_MAX_LEVELS = 256
"""Largest input level count for which a table is built (8-bit inputs)."""

LAYOUT_OPS: tuple[type[Operation], ...] = (
    nn.ReshapeOp,
    nn.FlattenOp,
    nn.TransposeOp,
    nn.SliceOp,
    nn.SplitOp,
)
"""Ops that move elements without computing: quantized values pass through."""

FUSIBLE_LAYOUT_OPS: tuple[type[Operation], ...] = (
    nn.ReshapeOp,
    nn.FlattenOp,
    nn.TransposeOp,
)
"""Layout ops that may sit between a layer and the relu fused into it."""

_FLOATS = (Float16Type, Float32Type, Float64Type)


class QuantizeError(Exception):
    """Input the pass cannot rewrite; the message is one line."""


@dataclass(frozen=True)
class LayerConfig:
    """The formats that apply to one layer."""

    weights: WeightFormat
    granularity: str
    acts: ActFormat
    bias_bits: int


@dataclass(frozen=True)
class _Fused:
    """A relu (or clip with min 0) folded into the layer before it, possibly
    through a chain of single-use layout ops (reshape, flatten, transpose)."""

    op: Operation
    hi: float | None  # a clip's finite upper bound
    chain: tuple[Operation, ...] = ()


def _is_float_tensor(value: SSAValue) -> bool:
    ty = value.type
    return isinstance(ty, TensorType) and isinstance(ty.element_type, _FLOATS)


def _const(value: SSAValue | None) -> np.ndarray | None:
    """The float array of an `nn.constant` defining `value`, else None."""
    if not isinstance(value, OpResult) or not isinstance(value.op, nn.ConstantOp):
        return None
    array = dense_to_numpy(value.op.value)
    if not np.issubdtype(array.dtype, np.floating):
        return None
    return array


def _name(value: SSAValue) -> str:
    return f"%{value.name_hint}" if value.name_hint else ""


def describe(value: SSAValue) -> str:
    """`'nn.conv2d' %c1`, `result 1 of 'nn.split' %s`, `argument %x of @main`."""
    if isinstance(value, BlockArgument):
        owner = value.owner
        fn = owner.parent_op() if isinstance(owner, Block) else None
        where = f" of @{fn.sym_name.data}" if isinstance(fn, func.FuncOp) else ""
        label = _name(value) or f"#{value.index}"
        return f"argument {label}{where}"
    assert isinstance(value, OpResult)
    op = value.op
    text = f"'{op.name}'" + (f" {_name(value)}" if value.name_hint else "")
    if len(op.results) > 1:
        text = f"result {value.index} of {text}"
    return text


def _describe_op(op: Operation) -> str:
    return describe(op.results[0]) if op.results else f"'{op.name}'"


def _hint(value: SSAValue, suffix: str = "") -> str | None:
    return f"{value.name_hint}{suffix}" if value.name_hint else None


def _with_hint(value: SSAValue, hint: str | None) -> SSAValue:
    if hint:
        value.name_hint = hint
    return value


def _is_pow2(ratio: float) -> bool:
    mant, _ = math.frexp(ratio)
    return mant == 0.5


def _bias_row(c: np.ndarray, n: int) -> np.ndarray | None:
    """A constant that is the same for every row as a vector [n], else None."""
    if c.ndim == 0 or (c.ndim >= 1 and all(d == 1 for d in c.shape[:-1])):
        last = c.reshape(-1) if c.ndim else c.reshape(1)
        if last.shape[0] in (1, n):
            return np.broadcast_to(last, (n,)).copy()
    return None


class _Rewrite:
    """The rewrite of one function (see the module docstring)."""

    def __init__(
        self,
        fn: func.FuncOp,
        default: LayerConfig,
        recipe: Recipe | None,
        mult_bits: int,
        lut: bool,
    ):
        self.fn = fn
        block = fn.body.blocks.first
        assert block is not None
        self.block = block
        self.default = default
        self.recipe = recipe
        self.mult_bits = mult_bits
        self.lut = lut
        self.qmap: dict[SSAValue, SSAValue] = {}
        self.erased: set[int] = set()
        self._interpreter: Interpreter | None = None

    # ------------------------------------------------------------- settings

    def config(self, *name_lists: Sequence[str]) -> LayerConfig:
        """The first recipe rule matching the first list of names that any
        rule matches, merged into the pass options."""
        if self.recipe is not None:
            for names in name_lists:
                rule = self.recipe.match(names)
                if rule is not None:
                    d = self.default
                    return LayerConfig(
                        rule.weights or d.weights,
                        rule.granularity or d.granularity,
                        rule.acts or d.acts,
                        d.bias_bits if rule.bias_bits is None else rule.bias_bits,
                    )
        return self.default

    @staticmethod
    def names(op: Operation) -> list[str]:
        hint = op.results[0].name_hint if op.results else None
        return [hint or "", op.name]

    def value_config(self, value: SSAValue) -> LayerConfig:
        """The settings of the layer (or argument) that produces `value`."""
        if isinstance(value, BlockArgument):
            return self.config([value.name_hint or ""])
        assert isinstance(value, OpResult)
        return self.config(self.names(value.op))

    def layer_config(self, op: Operation, fused: _Fused | None) -> LayerConfig:
        if fused is None:
            return self.config(self.names(op))
        return self.config(self.names(op), self.names(fused.op))

    # --------------------------------------------------------------- ranges

    def real_range(self, value: SSAValue) -> tuple[float, float]:
        """The calibrated (or, for a constant, actual) range of `value`."""
        c = _const(value)
        if c is not None:
            finite = c[np.isfinite(c)]
            if finite.size == 0:
                return 0.0, 0.0
            return float(finite.min()), float(finite.max())
        attr = value_range(value)
        if attr is None:
            raise QuantizeError(
                f"{describe(value)} has no calibrated range (q.range): run "
                "qopt-calibrate first"
            )
        return min(attr.low_values), max(attr.high_values)

    def act_type(self, value: SSAValue, acts: ActFormat) -> QuantizedType:
        """The activation type of `value` in format `acts`: from its range,
        and for `thrN` from its calibrated quantiles (a constant's own)."""
        lo, hi = self.real_range(value)
        elt = value.type.element_type  # type: ignore[attr-defined]
        summary = self.quantiles(value) if acts.thresholds else None
        try:
            return acts.qtype(lo, hi, elt, summary)
        except ValueError as e:
            raise QuantizeError(f"{describe(value)}: {e}") from None

    @staticmethod
    def quantiles(value: SSAValue) -> QuantileSummary | None:
        """The distribution of `value`: a constant's values, else the
        quantiles that calibration recorded in its `#q.stats` (or None)."""
        c = _const(value)
        if c is not None:
            if not np.isfinite(c).any():
                return None
            return summary_from_samples(c, 1 << MAX_THRESHOLD_BITS)
        attr = value_range(value)
        stats = attr.statistics if attr is not None else None
        return QuantileSummary.from_stats(stats) if stats is not None else None

    def check_dynamic(self) -> None:
        values: list[SSAValue] = list(self.block.args)
        for op in self.block.ops:
            values.extend(op.results)
        for v in values:
            attr = value_range(v)
            if attr is not None and attr.is_dynamic:
                raise QuantizeError(
                    f"{describe(v)}: dynamic ranges are not supported by "
                    "qopt-quantize yet (calibrate without dynamic=true)"
                )

    # ------------------------------------------------------------- building

    def insert(self, ops: Sequence[Operation], before: Operation) -> None:
        Rewriter.insert_op(list(ops), InsertPoint.before(before))

    def get_q(
        self, value: SSAValue, before: Operation, acts: ActFormat | None = None
    ) -> SSAValue:
        """The quantized version of a float value: the one already known, a
        `q.constant` for an `nn.constant` (with `acts`, default the consumer's
        format), or a new `q.quantize` with the activation type of its range."""
        if value in self.qmap:
            return self.qmap[value]
        c = _const(value)
        if c is not None:
            qtype = self.act_type(value, acts or self.default.acts)
            op: Operation = q.ConstantOp.from_levels(qtype.quantize(c), qtype)
            hint = _hint(value, "_q")
        else:
            qtype = self.act_type(value, self.value_config(value).acts)
            op = q.QuantizeOp(value, qtype)
            hint = _hint(value, "_q")
        self.insert([op], before)
        result = _with_hint(op.results[0], hint)
        self.qmap[value] = result
        return result

    def replace(self, old: SSAValue, new: SSAValue, before: Operation) -> None:
        """Replace the float value `old` by a dequantize of the q value `new`."""
        deq = q.DequantizeOp(new)
        self.insert([deq], before)
        _with_hint(deq.output, _hint(old, "_dq"))
        if old.name_hint and not new.name_hint:
            new.name_hint = old.name_hint
        old.replace_all_uses_with(deq.output)
        self.qmap[deq.output] = new

    def erase(self, *ops: Operation) -> None:
        for op in ops:
            self.erased.add(id(op))
            Rewriter.erase_op(op)

    def weights(
        self,
        w: np.ndarray,
        cfg: LayerConfig,
        axis: int,
        like: SSAValue,
        before: Operation,
    ) -> SSAValue:
        """A q.constant of the weights `w` (per channel of `axis` unless the
        layer's granularity is tensor), named like the float constant."""
        elt = like.type.element_type  # type: ignore[attr-defined]
        recorded = self.recorded_type(
            before, elt, w.shape, QuantizeError, _describe_op(before)
        )
        if recorded is not None:
            qtype: QuantizedType = recorded
            levels = qtype.quantize(w)
        else:
            per_axis = axis if cfg.granularity == "channel" else None
            scales = self.recorded_scales(before, cfg, w.shape[axis], per_axis)
            levels, qtype = quantize_weights(w, cfg.weights, per_axis, elt, scales)
        const = q.ConstantOp.from_levels(levels, qtype)
        self.insert([const], before)
        return _with_hint(const.output, like.name_hint)

    @staticmethod
    def recorded_type(
        op: Operation,
        elt: Attribute,
        shape: Sequence[int],
        error: Callable[[str], Exception],
        where: str,
    ) -> QuantizedType | None:
        """The weight q type a previous pass recorded on `op` (`q.weight_type`,
        e.g. `qopt-mixed-precision`), checked against the weights' expressed
        type and shape; `error(message)` builds the exception for a bad one."""
        recorded = op.attributes.get(WEIGHT_TYPE_ATTR)
        if recorded is None:
            return None
        if not isinstance(recorded, QuantizedType) or recorded.expressed_type != elt:
            raise error(
                f"{where}: {WEIGHT_TYPE_ATTR} must be a q type expressed in {elt}"
            )
        recorded.verify_shape(shape)
        return recorded

    @staticmethod
    def recorded_scales(
        op: Operation, cfg: LayerConfig, channels: int, axis: int | None
    ) -> list[float] | None:
        """The weight scales that `qopt-adaround` recorded on `op` (its
        weights lie on that grid), checked against the layer's settings."""
        scales = op.attributes.get(WEIGHT_SCALES_ATTR)
        if scales is None:
            return None
        fmt = op.attributes.get(WEIGHT_FORMAT_ATTR)
        name = fmt.data if isinstance(fmt, StringAttr) else None
        if not isinstance(scales, DenseArrayBase) or name is None:
            raise QuantizeError(
                f"{_describe_op(op)}: {WEIGHT_SCALES_ATTR} must be an "
                f"array<f64: ...> beside a string {WEIGHT_FORMAT_ATTR}"
            )
        if name != cfg.weights.name:
            raise QuantizeError(
                f"{_describe_op(op)}: its weights were rounded for '{name}' "
                f"(qopt-adaround) but are quantized as '{cfg.weights.name}': use "
                "the same weight format in both passes"
            )
        values = [float(v) for v in scales.get_values()]
        want = channels if axis is not None else 1
        if len(values) != want or not all(v > 0 and math.isfinite(v) for v in values):
            granularity = "channel" if axis is not None else "tensor"
            raise QuantizeError(
                f"{_describe_op(op)}: {WEIGHT_SCALES_ATTR} holds {len(values)} "
                f"scales, weight-granularity={granularity} needs {want} positive "
                "ones: use the same granularity in qopt-adaround and qopt-quantize"
            )
        return values

    def bias(
        self,
        b: np.ndarray,
        xq: SSAValue,
        wq: SSAValue,
        cfg: LayerConfig,
        hint: str | None,
        before: Operation,
    ) -> SSAValue:
        sx = q.qtype_of(xq).scale
        wtype = q.qtype_of(wq)
        scales = [sx * s for s in wtype.scale_values]
        levels, btype = quantize_bias(
            b, scales, cfg.bias_bits, not wtype.is_per_tensor, wtype.expressed_type
        )
        const = q.ConstantOp.from_levels(levels, btype)
        self.insert([const], before)
        return _with_hint(const.output, hint)

    def fused_relu(self, value: SSAValue) -> _Fused | None:
        """The relu (or clip with min 0) that is the only user of `value`,
        directly or after a chain of single-use reshape/flatten/transpose."""
        chain: list[Operation] = []
        user = value.get_user_of_unique_use() if value.has_one_use() else None
        while isinstance(user, FUSIBLE_LAYOUT_OPS) and len(user.results) == 1:
            chain.append(user)
            out = user.results[0]
            user = out.get_user_of_unique_use() if out.has_one_use() else None
        if isinstance(user, nn.ReluOp) and _is_float_tensor(user.output):
            return _Fused(user, None, tuple(chain))
        if isinstance(user, nn.ClipOp) and _is_float_tensor(user.output):
            lo, hi = user.attrs
            if lo == 0.0 and hi > 0.0:
                return _Fused(user, hi if math.isfinite(hi) else None, tuple(chain))
        return None

    def output_type(
        self, result: SSAValue, fused: _Fused | None, cfg: LayerConfig
    ) -> QuantizedType:
        final = fused.op.results[0] if fused is not None else result
        return self.act_type(final, cfg.acts)

    def emit(
        self,
        ops: list[Operation],
        acc: SSAValue,
        out_type: QuantizedType,
        fused: _Fused | None,
        layer_ops: Sequence[Operation],
    ) -> None:
        """Requantize `acc` to `out_type` (or threshold it, for threshold
        codes), add a relu/clamp for a fused relu that saturation does not
        implement and the fused layout chain, insert all before the layer's
        first op, replace the layer's (or the relu's) float result and erase
        the layer.

        Names: the accumulator takes the name of the layer's result (`%conv1`)
        when a fused relu gives the final value its own name (`%relu1`), else
        that name + `_acc`; the final value takes the final name."""
        anchor = layer_ops[0]
        final = fused.op.results[0] if fused is not None else layer_ops[-1].results[0]
        name = final.name_hint
        layer = anchor.results[0].name_hint if anchor.results else None
        if layer and layer != name:
            acc.name_hint = layer
        else:
            acc.name_hint = f"{name}_acc" if name else None
        req = self.convert(acc, out_type)
        ops = [*ops, req]
        result: SSAValue = req.results[0]
        result.name_hint = f"{name}_rq" if name else None
        erase: list[Operation] = []
        if fused is not None and isinstance(out_type, ThresholdsType):
            t = out_type.threshold_array()
            if np.any(t <= 0) or (fused.hi is not None and np.any(t > fused.hi)):
                raise QuantizeError(
                    f"{_describe_op(fused.op)}: the threshold codes of its range "
                    f"have thresholds outside (0, {fused.hi or 'inf'}], so the "
                    "relu cannot be fused into the thresholds"
                )
        elif fused is not None:
            assert isinstance(out_type, UniformType)
            dtype = np.dtype(np.float64)
            zero = int(out_type.quantize(np.zeros(1, dtype))[0])
            top = out_type.qmax
            if fused.hi is not None:
                top = int(out_type.quantize(np.array([fused.hi], dtype))[0])
            post: Operation | None = None
            if top < out_type.qmax:
                post = q.ClampOp(result, zero, top)
            elif zero > out_type.qmin:
                post = q.ReluOp(result)
            if post is not None:
                ops.append(post)
                result = post.results[0]
                result.name_hint = f"{name}_relu" if name else None
        if fused is not None:
            for layout in fused.chain:
                moved = self.quantized_layout(layout, result)
                ops.append(moved)
                result = moved.results[0]
            erase = [fused.op, *reversed(fused.chain)]
        result.name_hint = name
        self.insert(ops, anchor)
        self.replace(final, result, anchor)
        self.erase(*erase, *reversed(layer_ops))

    @staticmethod
    def quantized_layout(op: Operation, xq: SSAValue) -> Operation:
        """A copy of the layout op `op` on the quantized value `xq`."""
        elt = q.qtype_of(xq)
        new = type(op).create(
            operands=[xq],
            result_types=[TensorType(elt, shape_of(r)) for r in op.results],
            properties=dict(op.properties),
            attributes={
                k: v
                for k, v in op.attributes.items()
                if k not in (RANGE_ATTR, RANGES_ATTR)
            },
        )
        for old, result in zip(op.results, new.results, strict=True):
            result.name_hint = old.name_hint
        return new

    # ------------------------------------------------------------- the rules

    def conv(self, op: nn.Conv2dOp) -> None:
        w = _const(op.weight)
        b = _const(op.bias) if op.bias is not None else None
        if w is None or (op.bias is not None and b is None):
            return
        fused = self.fused_relu(op.output)
        cfg = self.layer_config(op, fused)
        out_type = self.output_type(op.output, fused, cfg)
        xq = self.get_q(op.input, op)
        wq = self.weights(w, cfg, 0, op.weight, op)
        bq = None
        if b is not None:
            assert op.bias is not None
            bq = self.bias(b, xq, wq, cfg, op.bias.name_hint, op)
        strides, pads, dilations, group = op.attrs
        acc = q.Conv2dOp(
            xq,
            wq,
            bq,
            strides=strides,
            pads=pads,
            dilations=dilations,
            group=group,
        )
        self.finish_linear(acc, out_type, fused, [op])

    def convert(self, value: SSAValue, target: QuantizedType) -> Operation:
        """`q.requantize` of `value` to a uniform `target`, or `q.threshold`
        to threshold codes."""
        if isinstance(target, ThresholdsType):
            return q.ThresholdOp(value, target)
        assert isinstance(target, UniformType)
        return q.RequantizeOp(value, target, mult_bits=self.mult_bits)

    def finish_linear(
        self,
        acc_op: Operation,
        out_type: QuantizedType,
        fused: _Fused | None,
        layer_ops: list[Operation],
    ) -> None:
        self.emit([acc_op], acc_op.results[0], out_type, fused, layer_ops)

    def gemm(self, op: nn.GemmOp) -> None:
        alpha, beta, trans_a, trans_b = op.attrs
        b = _const(op.b)
        if trans_a or b is None or b.ndim != 2:
            return
        w = (b.T if trans_b else b).astype(np.float64) * float(np.float32(alpha))
        n = w.shape[1]
        row = None
        if op.c is not None:
            c = _const(op.c)
            if c is None:
                return
            row = _bias_row(c.astype(np.float64) * float(np.float32(beta)), n)
            if row is None:
                return
        fused = self.fused_relu(op.output)
        cfg = self.layer_config(op, fused)
        out_type = self.output_type(op.output, fused, cfg)
        xq = self.get_q(op.a, op)
        wq = self.weights(w, cfg, 1, op.b, op)
        bq = None
        if row is not None:
            assert op.c is not None
            bq = self.bias(row, xq, wq, cfg, op.c.name_hint, op)
        acc = q.MatmulOp(xq, wq, bq)
        self.finish_linear(acc, out_type, fused, [op])

    def matmul(self, op: nn.MatMulOp) -> None:
        w = _const(op.rhs)
        if w is None or w.ndim < 2 or len(shape_of(op.lhs)) < 2:
            return
        if _const(op.lhs) is not None:
            return  # constant folding's business
        layer_ops: list[Operation] = [op]
        row, bias_hint = None, None
        add = self.bias_add(op.output, w.shape[-1])
        if add is not None:
            add_op, row, bias_hint = add
            layer_ops.append(add_op)
        fused = self.fused_relu(layer_ops[-1].results[0])
        names = [self.names(o) for o in layer_ops]
        if fused is not None:
            names.append(self.names(fused.op))
        cfg = self.config(*names)
        out_type = self.output_type(layer_ops[-1].results[0], fused, cfg)
        xq = self.get_q(op.lhs, op)
        wq = self.weights(w, cfg, w.ndim - 1, op.rhs, op)
        bq = None
        if row is not None:
            bq = self.bias(row, xq, wq, cfg, bias_hint, op)
        acc = q.MatmulOp(xq, wq, bq)
        self.finish_linear(acc, out_type, fused, layer_ops)

    @staticmethod
    def bias_add(
        value: SSAValue, n: int
    ) -> tuple[nn.AddOp, np.ndarray, str | None] | None:
        """The `nn.add` of a constant row [n] that is the only user of
        `value` (a matmul result), with the row and the constant's name."""
        if not value.has_one_use():
            return None
        add = value.get_user_of_unique_use()
        if not isinstance(add, nn.AddOp) or add.lhs is add.rhs:
            return None
        if shape_of(add.output) != shape_of(value):
            return None  # the constant would broadcast the result
        other = add.rhs if add.lhs is value else add.lhs
        c = _const(other)
        if c is None:
            return None
        row = _bias_row(c.astype(np.float64), n)
        return None if row is None else (add, row, other.name_hint)

    def maxpool(self, op: nn.MaxPool2dOp) -> None:
        if op.input not in self.qmap:
            return
        kernel, strides, pads, dilations, ceil_mode = op.attrs
        pool = q.MaxPool2dOp(
            self.qmap[op.input], kernel, strides, pads, dilations, ceil_mode
        )
        self.pass_through(op, pool)

    def pass_through(self, op: Operation, new: Operation) -> None:
        self.insert([new], op)
        for old, result in zip(op.results, new.results, strict=True):
            result.name_hint = old.name_hint
            self.replace(old, result, op)
        self.erase(op)

    def avgpool(self, op: nn.AvgPool2dOp | nn.GlobalAvgPoolOp) -> None:
        x = shape_of(op.input)
        if isinstance(op, nn.GlobalAvgPoolOp):
            if len(x) != 4 or DYN in x[2:]:
                return
            kernel, strides, pads, ceil_mode = (x[2], x[3]), (1, 1), (0,) * 4, False
        else:
            kernel, strides, pads, ceil_mode, include_pad = op.attrs
            if not include_pad and any(pads):
                return
            if ceil_mode:
                if DYN in x[2:]:
                    return
                floor = pool2d_shape(
                    op.name, x, kernel, strides, pads, (1, 1), ceil_mode=False
                )
                if floor[2:] != shape_of(op.output)[2:]:
                    return  # a partial window would count fewer taps
        cfg = self.config(self.names(op))
        out_type = self.act_type(op.output, cfg.acts)
        xq = self.get_q(op.input, op)
        acc = q.AvgPool2dOp(xq, kernel, strides, pads, ceil_mode)
        self.emit([acc], acc.output, out_type, None, [op])

    def add(self, op: nn.AddOp) -> None:
        if not _is_float_tensor(op.output):
            return
        if _const(op.lhs) is not None and _const(op.rhs) is not None:
            return
        fused = self.fused_relu(op.output)
        cfg = self.layer_config(op, fused)
        out_type = self.output_type(op.output, fused, cfg)
        a = self.get_q(op.lhs, op, cfg.acts)
        b = self.get_q(op.rhs, op, cfg.acts)
        sc = min(q.qtype_of(a).scale, q.qtype_of(b).scale)
        ops: list[Operation] = []
        a, b = (self.align(v, sc, ops) for v in (a, b))
        total = q.AddOp(a, b)
        self.emit([*ops, total], total.output, out_type, fused, [op])

    def align(self, value: SSAValue, scale: float, ops: list[Operation]) -> SSAValue:
        """`value` itself if its scale is `scale` times a power of two, else a
        requantize of it to `scale` in a signed type that holds all of it."""
        t = q.qtype_of(value)
        ratio = t.scale / scale
        if _is_pow2(ratio):
            return value
        lo, hi = q.centred_range(t)
        width = q.signed_width(math.floor(lo * ratio) - 2, math.ceil(hi * ratio) + 2)
        target = UniformType(width, True, scale, expressed=t.expressed_type)
        req = q.RequantizeOp(value, target, mult_bits=self.mult_bits)
        req.output.name_hint = _hint(value, "_aligned")
        ops.append(req)
        return req.output

    def relu_clip(self, op: nn.ReluOp | nn.ClipOp) -> None:
        if op.input not in self.qmap:
            return
        xq = self.qmap[op.input]
        t = q.qtype_of(xq)
        if isinstance(t, ThresholdsType) and isinstance(op, nn.ReluOp):
            if t.zero_point == 0:  # every code is >= 0 in real value
                op.output.replace_all_uses_with(op.input)
                self.erase(op)
            else:
                self.pass_through(op, q.ReluOp(xq))
            return
        if not isinstance(t, UniformType) or not t.is_per_tensor:
            return
        if isinstance(op, nn.ReluOp):
            lo_level, hi_level = t.zero_point, t.qmax
        else:
            lo, hi = op.attrs
            if lo > hi:
                return
            dtype = np.dtype(np.float64)
            lo_level, hi_level = (
                int(v) for v in t.quantize(np.array([lo, hi], dtype=dtype))
            )
        lo_level, hi_level = max(lo_level, t.qmin), min(hi_level, t.qmax)
        if lo_level == t.qmin and hi_level == t.qmax:
            op.output.replace_all_uses_with(op.input)  # the identity on levels
            self.erase(op)
            return
        if isinstance(op, nn.ReluOp):
            new: Operation = q.ReluOp(xq)
        else:
            new = q.ClampOp(xq, lo_level, hi_level)
        self.pass_through(op, new)

    def layout(self, op: Operation) -> None:
        source = op.operands[0]
        if source not in self.qmap or len(op.operands) != 1:
            return
        self.pass_through(op, self.quantized_layout(op, self.qmap[source]))

    def concat(self, op: nn.ConcatOp) -> None:
        if not any(v in self.qmap for v in op.inputs):
            return
        cfg = self.config(self.names(op))
        target = self.act_type(op.output, cfg.acts)
        ops: list[Operation] = []
        inputs = []
        for v in op.inputs:
            xq = self.get_q(v, op, cfg.acts)
            if xq.type.element_type != target:  # type: ignore[attr-defined]
                req = self.convert(xq, target)
                req.results[0].name_hint = _hint(xq, "_rq")
                ops.append(req)
                xq = req.results[0]
            inputs.append(xq)
        new = nn.ConcatOp(inputs, op.attrs)
        self.insert(ops, op)
        self.pass_through(op, new)

    def table(self, op: Operation) -> None:
        source = op.operands[0]
        if not self.lut or source not in self.qmap:
            return
        xq = self.qmap[source]
        t = q.qtype_of(xq)
        if not isinstance(t, UniformType | ThresholdsType) or not t.is_per_tensor:
            return
        if t.max_level - t.min_level + 1 > LUT_MAX_LEVELS:
            return
        cfg = self.config(self.names(op))
        out_type = self.act_type(op.results[0], cfg.acts)
        interpreter = self.interpreter()

        def fn(real: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                return np.asarray(interpreter.run_op(op, (real,))[0])

        lut = q.LutOp.from_function(xq, fn, out_type)
        self.pass_through(op, lut)

    def interpreter(self) -> Interpreter:
        if self._interpreter is None:
            from qopt.backends.reference.runner import interpreter_for

            module = self.fn.parent_op()
            assert isinstance(module, ModuleOp)
            self._interpreter = interpreter_for(module)
        return self._interpreter

    # ------------------------------------------------------------------ run

    def rules(self) -> list[tuple[tuple[type[Operation], ...], Callable]]:
        return [
            ((nn.Conv2dOp,), self.conv),
            ((nn.GemmOp,), self.gemm),
            ((nn.MatMulOp,), self.matmul),
            ((nn.MaxPool2dOp,), self.maxpool),
            ((nn.AvgPool2dOp, nn.GlobalAvgPoolOp), self.avgpool),
            ((nn.AddOp,), self.add),
            ((nn.ReluOp, nn.ClipOp), self.relu_clip),
            (LAYOUT_OPS, self.layout),
            ((nn.ConcatOp,), self.concat),
            (LUT_OPS, self.table),
        ]

    def quantize_arguments(self) -> None:
        first = self.block.first_op
        for arg in self.block.args:
            if not _is_float_tensor(arg) or arg.first_use is None:
                continue
            qtype = self.act_type(arg, self.value_config(arg).acts)
            quant = q.QuantizeOp(arg, qtype)
            deq = q.DequantizeOp(quant.output)
            _with_hint(quant.output, _hint(arg, "_q"))
            _with_hint(deq.output, _hint(arg, "_dq"))
            if first is None:
                Rewriter.insert_op([quant, deq], InsertPoint.at_end(self.block))
            else:
                self.insert([quant, deq], first)
            arg.replace_uses_with_if(
                deq.output, lambda use, quant=quant: use.operation is not quant
            )
            self.qmap[deq.output] = quant.output

    def run(self) -> None:
        self.check_dynamic()
        self.quantize_arguments()
        rules = self.rules()
        for op in list(self.block.ops):
            if id(op) in self.erased:
                continue
            for kinds, rule in rules:
                if isinstance(op, kinds):
                    try:
                        rule(op)
                    except (VerifyException, ValueError) as e:
                        raise QuantizeError(
                            f"{_describe_op(op)}: cannot quantize: {e}"
                        ) from None
                    break
        region_dce(self.fn.body)


@dataclass(frozen=True)
class QuantizePass(ModulePass):
    """Rewrite calibrated `nn` float IR into `q` integer IR: quantized
    arguments, integer conv/gemm/matmul with requantize (relu fused), pools,
    residual adds aligned to one scale, layout ops on quantized values,
    tables for unary nonlinearities, float fallback (dequantize/quantize)
    around everything else.

    Options: `weights` (int2..int16, pot3..pot5, spot2, spot3, ternary,
    binary), `activations` (int2..int16, uint2..uint16, thr2..thr8),
    `weight-granularity`
    (tensor, channel), `bias-bits` (0 = narrowest, or 2..32), `mult-bits`
    (1..32), `recipe` (per-layer overrides), `lut`, `entry`. The module
    docstring gives the exact rules and `passes/quant_formats.py` the types.

    Requires: `nn` IR with `#q.range` on every float value the rewrite
    quantizes (run qopt-calibrate first; with `quantiles=R` for thrN
    activations); no dynamic ranges.
    """

    name = "qopt-quantize"

    weights: str = "int8"
    activations: str = "int8"
    weight_granularity: str = "channel"
    bias_bits: int = 32
    mult_bits: int = 16
    recipe: str | None = None
    lut: bool = True
    entry: str | None = None

    def __post_init__(self) -> None:
        parse_weight_format(self.weights)
        parse_act_format(self.activations)
        parse_granularity(self.weight_granularity)
        if not (self.bias_bits == 0 or 2 <= self.bias_bits <= 32):
            raise ValueError(
                f"option 'bias-bits' must be 0 or 2..32, got {self.bias_bits}"
            )
        if not 1 <= self.mult_bits <= 32:
            raise ValueError(
                f"option 'mult-bits' must be in 1..32, got {self.mult_bits}"
            )
        if self.recipe is not None:
            load_recipe(self.recipe)

    def layer_defaults(self) -> LayerConfig:
        return LayerConfig(
            parse_weight_format(self.weights),
            parse_granularity(self.weight_granularity),
            parse_act_format(self.activations),
            self.bias_bits,
        )

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        try:
            recipe = load_recipe(self.recipe) if self.recipe is not None else None
            fn = entry_function(op, self.entry, "quantize", QuantizeError)
            _Rewrite(fn, self.layer_defaults(), recipe, self.mult_bits, self.lut).run()
        except (QuantizeError, RecipeError) as e:
            raise PassFailedException(" ".join(str(e).split())) from None
