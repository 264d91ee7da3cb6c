"""`qopt-qat`: quantization-aware training of the network `qopt-quantize` makes.

    qopt-opt m.mlir --pass-pipeline='builtin.module(qopt-calibrate{data=c.npz},
        qopt-qat{data=train.npy labels=labels.npy weights=pot4 activations=uint8
                 epochs=10},
        qopt-quantize{weights=pot4 activations=uint8})'

Post-training quantization rounds a network trained in float; at low
precision (pot4, ternary, binary weights; 4-bit activations) the rounding
error costs accuracy that no choice of ranges or roundings gets back.
Quantization-aware training (Jacob et al. 2018; LSQ, Esser et al. 2020;
PACT, Choi et al. 2018) fine-tunes the network *through* its quantizers, so
the weights and ranges adapt to the grid.

The pass runs the entry function in torch (`passes/torch_graph.py`) with
fake quantization exactly where `qopt-quantize` quantizes, and with the
same formats per layer (the options `weights`, `activations`,
`weight-granularity`, `bias-bits`, `mult-bits`, `recipe`, `lut` mean what
they mean for qopt-quantize, with the same rule matching):

- the function arguments, every conv2d / gemm / matmul that qopt-quantize
  gives integer weights (with its bias, fused relu and bias add), pools,
  residual adds, relu / clip and layout ops of quantized values, concats and
  table lookups follow qopt-quantize's rules (its module docstring); a value
  that only float ops read stays float;
- weights: the layer's q type (the scales that `weight_scales` computes from
  the weights before training, or those recorded by qopt-adaround /
  qopt-sva in `q.weight_scales`, or the type in `q.weight_type`), fixed
  during training; each step quantizes the current float weights with that
  type's own rounding (nearest level of the format: int, pot, spot,
  ternary, binary, mixed) and passes the gradient straight through (STE);
- activations: one learnable range per quantized value, initialised from
  its calibrated `#q.range` (the hull of a per-channel range): the upper
  bound of a non-negative value, max(-lo, hi) of a signed `intN` value,
  both bounds of a signed `uintN` value. The scale is derived from the
  range by the format's formula (`ActFormat`), and the range is trained by
  the gradient of LSQ / PACT through that scale (straight-through inside the
  range, zero outside for the input, the clipped level for the scale).
  Threshold codes (`thrN`) keep the thresholds, scale and zero point that
  qopt-quantize fits to the calibrated quantiles (they are not trained; the
  weights learn to live with them), with a straight-through gradient
  between the real values of the lowest and the highest code.

The forward pass is the integer network itself, not an approximation of
it: each quantized value's levels are computed as the `q` reference
executor computes them (conv / matmul accumulators in float64, exact for
integers below 2^53; requantization by the integer multiplier and shift of
`requant_params` with half-up rounding; `q.threshold` compares with the
integer thresholds of `q.integer_thresholds`; power-of-two alignment of
residual adds; tables), and the float surrogate s that carries the
gradient is replaced by the exact dequantized value in the forward
direction (`y = exact + (s - s.detach())`, bit-exact since s - s = 0).
So the loss is the loss of the deployed
model, and after the pass `qopt-quantize` with the same options produces a
q model whose logits equal the trained model's (float rounding of the ops
that stay float aside).

Training: cross-entropy of the first result (logits [N, classes]) against
`labels` (with `label-smoothing`, best the value the float model was
trained with), Adam (`lr`) on every float constant of the function and
every range, `epochs` passes over the data in `batch-size` batches, shuffled by
`seed`; torch runs single-threaded with deterministic algorithms inside a
forked RNG (the same IR, data and options give the same result). With a
static batch dimension the batch size is that dimension (the remainder of
each shuffled epoch is left out).

Write-back, so that qopt-quantize reproduces the trained network bit for
bit:

- each layer's float weight constant becomes the grid values s * level of
  its trained levels (copied first if other ops use it) and the layer op
  gets `q.weight_format` and `q.weight_scales` (as qopt-adaround records
  them; a layer with `q.weight_type` keeps it);
- every other float constant (biases, ...) takes its trained value;
- every trained range is written as `#q.range<lo, hi, qat>`
  (`qopt.qdialect.calib.set_value_range`), from which qopt-quantize derives
  the trained scale and zero point exactly (ranges of threshold codes and
  empty ranges keep their calibrated attribute).

Layers whose weights cannot be written back as grid values keep their
weights (fake-quantized, not trained): gemm with alpha != 1, and layers
with `q.sva_exponents` (qopt-sva's shared exponents per vector, which a
per-weight update would break).

Options: `data` (required; an .npz with one array per argument or an .npy,
as qopt-calibrate), `labels` (required; an .npy of integer class labels, one
per sample), `weights` (int8), `activations` (int8), `weight-granularity`
(channel), `bias-bits` (32), `mult-bits` (16), `recipe`, `lut` (true),
`epochs` (10), `lr` (1e-3), `batch-size` (64), `label-smoothing` (0),
`seed` (0), `entry`.

Requires: calibrated `nn` IR (every value qopt-quantize quantizes has a
static `#q.range`), whose ops all run in torch (`passes/torch_graph.py`).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
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
from xdsl.ir import Block, Operation, OpResult, SSAValue
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException, VerifyException

from qopt.backends.reference.nn import numpy_dtype, numpy_to_dense
from qopt.passes.calibrate import CalibrationError, load_calibration_data
from qopt.passes.entry import entry_function
from qopt.passes.quant_formats import (
    MAX_THRESHOLD_BITS,
    TINY,
    WEIGHT_FORMAT_ATTR,
    WEIGHT_SCALES_ATTR,
    ActFormat,
    parse_act_format,
    parse_granularity,
    parse_weight_format,
    quantize_bias,
    summary_from_samples,
    weight_scales,
)
from qopt.passes.quant_recipe import RecipeError, load_recipe
from qopt.passes.quantize import (
    LAYOUT_OPS,
    LUT_MAX_LEVELS,
    LUT_OPS,
    LayerConfig,
    QuantizeError,
    _bias_row,
    _const,
    _Fused,
    _is_float_tensor,
    _is_pow2,
    _Rewrite,
    describe,
)
from qopt.qdialect import nn, q
from qopt.qdialect.calib import RangeAttr, set_value_range
from qopt.qdialect.qtypes import QuantizedType, ThresholdsType, UniformType
from qopt.qdialect.shapes import DYN, shape_of

ActType = UniformType | ThresholdsType
"""The types of quantized activations."""

SVA_EXPONENTS_ATTR = "q.sva_exponents"
"""qopt-sva's shared exponents per weight vector (such layers are frozen)."""

RANGE_METHOD = "qat"
"""The method name of the ranges the pass writes."""

EXACT_FLOAT_BOUND = float(1 << 53)
"""Integer accumulators below this magnitude are exact in float64."""


class QatError(Exception):
    """Input the pass cannot handle; the message is one line."""


# --------------------------------------------------------------------------- #
# Exact integer arithmetic on torch tensors (levels held as float64)
# --------------------------------------------------------------------------- #


def _torch():
    import torch

    return torch


def quantize_levels(x, t: ActType):
    """`q.quantize` of real values `x` to a per-tensor activation type:
    uniform: x / s in the expressed type, round half to even, + zero point,
    saturate; threshold codes: #{j : x >= t_j}."""
    torch = _torch()
    if isinstance(t, ThresholdsType):
        edges = torch.from_numpy(t.threshold_array().reshape(-1))
        return torch.searchsorted(edges, x.detach().to(torch.float64), right=True).to(
            torch.float64
        )
    dtype = x.dtype
    v = x.detach() / torch.tensor(t.scale, dtype=dtype)
    levels = torch.round(v).to(torch.float64) + t.zero_point
    return torch.clamp(levels, t.qmin, t.qmax)


def threshold_levels(acc, scales: Sequence[float], axis: int | None, out):
    """`q.threshold` of the integer accumulator `acc` (float64, exact) with
    scales `scales` to the codes `out`: #{j : acc >= T[c, j]} with the
    integer thresholds of `q.integer_thresholds`."""
    torch = _torch()
    per_axis = axis if len(scales) > 1 else None
    xtype = UniformType(
        62,
        True,
        list(scales) if per_axis is not None else scales[0],
        axis=per_axis,
        expressed=out.expressed_type,
    )
    table = torch.from_numpy(q.integer_thresholds(xtype, out).astype(np.float64))
    if table.shape[0] == 1:
        return torch.searchsorted(table[0], acc.contiguous(), right=True).to(
            torch.float64
        )
    moved = acc.movedim(axis, -1)
    codes = (moved.unsqueeze(-1) >= table).sum(dim=-1)
    return codes.movedim(-1, axis).to(torch.float64)


def convert_levels(acc, scales, axis, out, mult_bits: int):
    """The levels of `out` for the accumulator `acc`: `q.requantize` to a
    uniform type, `q.threshold` to threshold codes."""
    if isinstance(out, ThresholdsType):
        return threshold_levels(acc, scales, axis, out)
    return requantize_levels(acc, scales, axis, out, mult_bits)


def dequantize_levels(levels, t: ActType, dtype):
    """`q.dequantize`: (level - zero point) in the expressed type times the
    scale in that type."""
    torch = _torch()
    centred = (levels - t.zero_point).to(dtype)
    return centred * torch.tensor(t.scale, dtype=dtype)


def requantize_levels(
    acc, scales: Sequence[float], axis: int | None, out: UniformType, mult_bits: int
):
    """`q.requantize` of the integer accumulator `acc` (float64, exact) with
    scales `scales` (one, or one per index of `axis`) to `out`: multiplier
    and shift of `requant_params`, half-up rounding, + zero point, saturate."""
    torch = _torch()
    params = [q.requant_params(s / out.scale, mult_bits) for s in scales]
    mult = torch.tensor([m for m, _ in params], dtype=torch.int64)
    shift = torch.tensor([s for _, s in params], dtype=torch.int64)
    if axis is not None and len(params) > 1:
        shape = [1] * acc.ndim
        shape[axis] = len(params)
        mult, shift = mult.reshape(shape), shift.reshape(shape)
    else:
        mult, shift = mult[0], shift[0]
    rounding = torch.where(
        shift > 0, torch.bitwise_left_shift(1, (shift - 1).clamp(min=0)), 0
    )
    x = torch.round(acc).to(torch.int64)
    y = torch.bitwise_right_shift(x * mult + rounding, shift) + out.zero_point
    return torch.clamp(y, out.qmin, out.qmax).to(torch.float64)


def fake_quantize(x, scale, t: ActType):
    """The differentiable surrogate of quantizing `x` to `t`: uniform: round
    with a straight-through gradient, saturate, rescale (LSQ's gradient for
    the scale); threshold codes: the identity between the real values of
    the lowest and highest code, saturated outside."""
    torch = _torch()
    lo, hi, zp = t.min_level, t.max_level, t.zero_point
    if isinstance(t, ThresholdsType):
        return torch.clamp(x, t.scale * (lo - zp), t.scale * (hi - zp))
    v = x / scale
    r = v + (torch.round(v) - v).detach()
    return (torch.clamp(r + zp, lo, hi) - zp) * scale


def join(surrogate, exact):
    """`exact` in the forward direction (bit for bit: s - s is exactly 0),
    the gradient of `surrogate`."""
    return exact.to(surrogate.dtype) + (surrogate - surrogate.detach())


# --------------------------------------------------------------------------- #
# Quantized values and quantizers
# --------------------------------------------------------------------------- #


@dataclass
class QT:
    """A quantized value: its real value (forward: the exact dequantized
    levels; backward: the surrogate's gradient), its levels (float64, exact
    integers) and its type."""

    value: object  # torch.Tensor
    levels: object  # torch.Tensor
    qtype: ActType


@dataclass
class ActQuant:
    """The learnable range of one quantized value.

    `mode`: `unsigned` (range [0, hi], hi learned), `signed` (intN of a
    signed value: [-a, a], a learned), `asymmetric` (uintN of a signed
    value: [lo, hi], both learned) or `fixed` (the type `fixed`: an empty
    range, scale 1; or threshold codes, fitted to the calibrated quantiles
    and not trained). `index` is the position of hi (or a) in the module's
    range parameters, lo follows it."""

    value: SSAValue
    fmt: ActFormat
    mode: str
    index: int
    lo: float
    hi: float
    floor: float  # smallest width a learned bound may shrink to
    fixed: ActType | None = None

    def bounds(self, ranges) -> tuple[float, float]:
        """The current [lo, hi] (float64 values of the parameters)."""
        if self.mode == "fixed":
            return self.lo, self.hi
        first = float(ranges[self.index].item())
        if self.mode == "unsigned":
            return 0.0, first
        if self.mode == "signed":
            return -first, first
        return float(ranges[self.index + 1].item()), first

    def qtype(self, ranges) -> ActType:
        if self.fixed is not None:
            return self.fixed
        lo, hi = self.bounds(ranges)
        elt = self.value.type.element_type  # type: ignore[attr-defined]
        return self.fmt.qtype(lo, hi, elt)  # type: ignore[return-value]

    def scale(self, ranges, exact: float):
        """The scale as a differentiable function of the range parameters
        (forward value: `exact`, the type's own scale)."""
        torch = _torch()
        fixed = torch.tensor(exact, dtype=torch.float64)
        if self.mode == "fixed":
            return fixed
        n = self.fmt.bits
        first = ranges[self.index]
        if self.mode == "unsigned":
            s = first / ((1 << n) - 1)
        elif self.mode == "signed":
            s = first / ((1 << (n - 1)) - 1)
        else:
            s = (first - ranges[self.index + 1]) / ((1 << n) - 1)
        return join(s, fixed)

    def clamp(self, ranges) -> None:
        """Keep the learned bounds valid after an optimizer step."""
        if self.mode == "fixed":
            return
        torch = _torch()
        with torch.no_grad():
            first = ranges[self.index]
            if self.mode == "asymmetric":
                lo = ranges[self.index + 1]
                lo.clamp_(max=0.0)
                first.clamp_(min=0.0)
                first.copy_(torch.maximum(first, lo + self.floor))
            else:
                first.clamp_(min=self.floor)


@dataclass
class LayerWeights:
    """The weight of one conv2d / gemm / matmul layer: its parameter, the
    layout qopt-quantize quantizes (conv OIHW; gemm alpha·B' as [K, N];
    matmul B), and the fixed q type."""

    op: Operation
    value: OpResult  # the nn.constant result
    layout: Callable  # stored torch tensor -> layout tensor
    layout_np: Callable[[np.ndarray], np.ndarray]  # as qopt-quantize computes it
    qtype: QuantizedType
    fmt_name: str | None  # None: the layer carries q.weight_type
    frozen: bool


# --------------------------------------------------------------------------- #
# The quantized graph
# --------------------------------------------------------------------------- #


class QatGraph:
    """The network qopt-quantize would make of the entry function, run in
    torch (see the module docstring): `graph` holds the function's float
    constants as parameters, `ranges` the learnable activation ranges, and
    `plan` mirrors qopt-quantize's rules op by op."""

    def __init__(
        self,
        fn: func.FuncOp,
        default: LayerConfig,
        recipe,
        mult_bits: int,
        lut: bool,
    ):
        import torch

        from qopt.passes.torch_graph import TorchGraph

        self.graph = TorchGraph(fn)
        self.fn = fn
        self.ops = self.graph.ops
        self.args = self.graph.args
        self.rewrite = _Rewrite(fn, default, recipe, mult_bits, lut)
        self.default = default
        self.mult_bits = mult_bits
        self.lut = lut
        self.ranges = torch.nn.ParameterList()
        self.acts: list[ActQuant] = []
        self.value_quant: dict[SSAValue, ActQuant] = {}
        self.const_acts: dict[SSAValue, ActFormat] = {}
        self.layers: list[LayerWeights] = []
        self.steps: dict[Operation, Callable] = {}
        self.skipped: set[Operation] = set()
        self.formats: dict[SSAValue, ActFormat] = {}  # what qopt-quantize's qmap holds
        self.arg_quants: dict[SSAValue, ActQuant] = {}
        self._types: dict[int, ActType] = {}
        self._interpreter = None
        self.rewrite.check_dynamic()
        self.plan()

    # ------------------------------------------------------------ planning

    def new_act(self, value: SSAValue, fmt: ActFormat) -> ActQuant:
        """A learnable quantizer for `value`, from its calibrated range."""
        import torch

        lo, hi = self.rewrite.real_range(value)
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        index = len(self.ranges)
        width = hi - lo
        floor = max(width * 1e-4, TINY)
        fixed: ActType | None = None
        if fmt.thresholds:
            mode = "fixed"
            fixed = self.rewrite.act_type(value, fmt)  # type: ignore[assignment]
        elif not width > TINY:
            mode = "fixed"
            elt = value.type.element_type  # type: ignore[attr-defined]
            fixed = fmt.qtype(lo, hi, elt)  # type: ignore[assignment]
        elif lo >= 0.0:
            mode = "unsigned"
            self.ranges.append(
                torch.nn.Parameter(torch.tensor(hi, dtype=torch.float64))
            )
        elif fmt.asymmetric:
            mode = "asymmetric"
            self.ranges.append(
                torch.nn.Parameter(torch.tensor(hi, dtype=torch.float64))
            )
            self.ranges.append(
                torch.nn.Parameter(torch.tensor(lo, dtype=torch.float64))
            )
        else:
            mode = "signed"
            a = max(-lo, hi)
            self.ranges.append(torch.nn.Parameter(torch.tensor(a, dtype=torch.float64)))
        aq = ActQuant(value, fmt, mode, index, lo, hi, floor, fixed)
        self.acts.append(aq)
        self.value_quant[value] = aq
        self.formats[value] = fmt
        return aq

    def plan_output(
        self, value: SSAValue, fmt: ActFormat, fused: _Fused | None
    ) -> ActQuant:
        """The quantizer of a layer's output; threshold codes must absorb a
        fused relu (thresholds in (0, hi]), as qopt-quantize requires."""
        out = self.new_act(value, fmt)
        if fused is not None and isinstance(out.fixed, ThresholdsType):
            t = out.fixed.threshold_array()
            if np.any(t <= 0) or (fused.hi is not None and np.any(t > fused.hi)):
                raise QatError(
                    f"{describe(fused.op.results[0])}: the threshold codes of its "
                    f"range have thresholds outside (0, {fused.hi or 'inf'}], so "
                    "the relu cannot be fused into the thresholds"
                )
        return out

    def plan_q(self, value: SSAValue, acts: ActFormat | None = None) -> None:
        """qopt-quantize's `get_q` at planning time: a constant is quantized
        with `acts` (default: the option) on its own range, any other value
        not yet quantized gets a quantizer with its producer's format."""
        if value in self.formats:
            return
        if _const(value) is not None:
            self.const_acts[value] = self.formats[value] = acts or self.default.acts
            return
        self.new_act(value, self.rewrite.value_config(value).acts)

    def plan(self) -> None:
        """Decide, op by op in order as qopt-quantize's `run`, what runs
        quantized: the arguments' quantizers, then one step per rewritten op
        (the others run as float torch functions)."""
        rw = self.rewrite
        for arg in self.args:
            if not _is_float_tensor(arg) or arg.first_use is None:
                continue
            self.arg_quants[arg] = self.new_act(arg, rw.value_config(arg).acts)
        rules: list[tuple[tuple[type[Operation], ...], Callable]] = [
            ((nn.Conv2dOp,), self.plan_conv),
            ((nn.GemmOp,), self.plan_gemm),
            ((nn.MatMulOp,), self.plan_matmul),
            ((nn.MaxPool2dOp,), self.plan_maxpool),
            ((nn.AvgPool2dOp, nn.GlobalAvgPoolOp), self.plan_avgpool),
            ((nn.AddOp,), self.plan_add),
            ((nn.ReluOp, nn.ClipOp), self.plan_relu_clip),
            (LAYOUT_OPS, self.plan_layout),
            ((nn.ConcatOp,), self.plan_concat),
            (LUT_OPS, self.plan_table),
        ]
        for op in self.ops:
            if op in self.skipped:
                continue
            for kinds, rule in rules:
                if isinstance(op, kinds):
                    try:
                        step = rule(op)
                    except (VerifyException, ValueError) as e:
                        raise QatError(
                            f"'{op.name}': cannot quantize: {' '.join(str(e).split())}"
                        ) from None
                    if step is not None:
                        self.steps[op] = step
                    break

    def skip(self, *ops: Operation) -> None:
        self.skipped.update(ops)

    # -- layers

    def plan_weights(
        self,
        op: Operation,
        value: SSAValue,
        cfg: LayerConfig,
        axis: int,
        layout: Callable,
        layout_np: Callable[[np.ndarray], np.ndarray],
        frozen: bool,
    ) -> LayerWeights:
        """The weight q type of a layer, as qopt-quantize's `weights`."""
        assert isinstance(value, OpResult)
        w = layout_np(_const(value))  # type: ignore[arg-type]
        elt = value.type.element_type  # type: ignore[attr-defined]
        recorded = _Rewrite.recorded_type(op, elt, w.shape, QatError, f"'{op.name}'")
        if recorded is not None:
            qtype: QuantizedType = recorded
            name = None
        else:
            per_axis = axis if cfg.granularity == "channel" else None
            scales = _Rewrite.recorded_scales(op, cfg, w.shape[axis], per_axis)
            if scales is None:
                scales = [float(s) for s in weight_scales(w, cfg.weights, per_axis)]
            qtype = cfg.weights.qtype(scales, per_axis, elt)
            name = cfg.weights.name
        frozen = frozen or SVA_EXPONENTS_ATTR in op.attributes
        layer = LayerWeights(op, value, layout, layout_np, qtype, name, frozen)
        self.layers.append(layer)
        return layer

    def check_bound(self, op: Operation, k: int, xfmt_bits: int, wtype: QuantizedType):
        """Refuse accumulators that float64 could not hold exactly."""
        wmax = max(abs(wtype.min_level), abs(wtype.max_level)) + max(
            abs(z) for z in wtype.zp_values
        )
        bound = float(k) * float(1 << xfmt_bits) * float(wmax) + float(1 << 32)
        if bound >= EXACT_FLOAT_BOUND:
            raise QatError(
                f"'{op.name}': accumulators of {k} products may exceed 2^53, which "
                "the float64 emulation of qopt-qat cannot hold exactly"
            )

    def plan_conv(self, op: nn.Conv2dOp):
        w = _const(op.weight)
        b = _const(op.bias) if op.bias is not None else None
        if w is None or (op.bias is not None and b is None):
            return None
        rw = self.rewrite
        fused = rw.fused_relu(op.output)
        cfg = rw.layer_config(op, fused)
        out = self.plan_output(self.final(op, fused), cfg.acts, fused)
        self.plan_q(op.input)
        layer = self.plan_weights(
            op, op.weight, cfg, 0, lambda t: t, lambda a: a, False
        )
        self.check_bound(op, int(np.prod(w.shape[1:])), 16, layer.qtype)
        self.skip_fused(fused)
        strides, pads, dilations, group = op.attrs

        def step(env, qenv):
            from qopt.passes.torch_graph import conv2d

            xq = self.get_q(op.input, env, qenv)
            wlev, wsur = self.weight(layer, env)
            acc_scales = self.acc_scales(xq, layer.qtype)
            bias = None
            blev = None
            if op.bias is not None:
                bias = env[op.bias]
                blev = self.bias_levels(bias.detach().numpy(), acc_scales, layer, cfg)
            torch = _torch()
            x = xq.levels - xq.qtype.zero_point
            acc = conv2d(x, wlev, None, strides, pads, dilations, group)
            if blev is not None:
                acc = acc + torch.from_numpy(blev).reshape(1, -1, 1, 1)
            sur = conv2d(xq.value, wsur, bias, strides, pads, dilations, group)
            self.finish(acc, acc_scales, 1, sur, out, fused, env, qenv)

        return step

    def plan_gemm(self, op: nn.GemmOp):
        alpha, beta, trans_a, trans_b = op.attrs
        b = _const(op.b)
        if trans_a or b is None or b.ndim != 2:
            return None
        n = b.shape[0] if trans_b else b.shape[1]
        row_of: Callable[[np.ndarray], np.ndarray | None] | None = None
        if op.c is not None:
            c = _const(op.c)
            if c is None:
                return None
            beta64 = float(np.float32(beta))

            def row_of(c: np.ndarray) -> np.ndarray | None:
                return _bias_row(c.astype(np.float64) * beta64, n)

            if row_of(c) is None:
                return None
        rw = self.rewrite
        fused = rw.fused_relu(op.output)
        cfg = rw.layer_config(op, fused)
        out = self.plan_output(self.final(op, fused), cfg.acts, fused)
        self.plan_q(op.a)
        alpha64 = float(np.float32(alpha))

        def layout(t):
            t = t.T if trans_b else t
            return t * alpha64 if alpha64 != 1.0 else t

        def layout_np(a: np.ndarray) -> np.ndarray:
            return (a.T if trans_b else a).astype(np.float64) * alpha64

        layer = self.plan_weights(op, op.b, cfg, 1, layout, layout_np, alpha64 != 1.0)
        self.check_bound(op, b.size // n, 16, layer.qtype)
        self.skip_fused(fused)

        def step(env, qenv):
            torch = _torch()
            xq = self.get_q(op.a, env, qenv)
            wlev, wsur = self.weight(layer, env)
            acc_scales = self.acc_scales(xq, layer.qtype)
            acc = torch.matmul(xq.levels - xq.qtype.zero_point, wlev)
            sur = torch.matmul(xq.value, wsur)
            if op.c is not None and row_of is not None:
                c = env[op.c]
                row = row_of(c.detach().numpy())
                assert row is not None
                acc = acc + torch.from_numpy(
                    self.bias_levels(row, acc_scales, layer, cfg)
                )
                sur = sur + (c if beta == 1.0 else c * float(np.float32(beta)))
            self.finish(acc, acc_scales, acc.ndim - 1, sur, out, fused, env, qenv)

        return step

    def plan_matmul(self, op: nn.MatMulOp):
        w = _const(op.rhs)
        if w is None or w.ndim < 2 or len(shape_of(op.lhs)) < 2:
            return None
        if _const(op.lhs) is not None:
            return None
        rw = self.rewrite
        layer_ops: list[Operation] = [op]
        add = rw.bias_add(op.output, w.shape[-1])
        if add is not None:
            layer_ops.append(add[0])
        last = layer_ops[-1].results[0]
        fused = rw.fused_relu(last)
        names = [rw.names(o) for o in layer_ops]
        if fused is not None:
            names.append(rw.names(fused.op))
        cfg = rw.config(*names)
        final = fused.op.results[0] if fused is not None else last
        out = self.plan_output(final, cfg.acts, fused)
        self.plan_q(op.lhs)
        layer = self.plan_weights(
            op, op.rhs, cfg, w.ndim - 1, lambda t: t, lambda a: a, False
        )
        self.check_bound(op, w.shape[-2], 16, layer.qtype)
        self.skip(*layer_ops[1:])
        self.skip_fused(fused)
        n = w.shape[-1]

        def step(env, qenv):
            torch = _torch()
            xq = self.get_q(op.lhs, env, qenv)
            wlev, wsur = self.weight(layer, env)
            acc_scales = self.acc_scales(xq, layer.qtype)
            acc = torch.matmul(xq.levels - xq.qtype.zero_point, wlev)
            sur = torch.matmul(xq.value, wsur)
            if add is not None:
                add_op = add[0]
                const = add_op.rhs if add_op.lhs is op.output else add_op.lhs
                c = env[const]
                row = _bias_row(c.detach().numpy().astype(np.float64), n)
                assert row is not None
                acc = acc + torch.from_numpy(
                    self.bias_levels(row, acc_scales, layer, cfg)
                )
                sur = sur + c
            self.finish(acc, acc_scales, acc.ndim - 1, sur, out, fused, env, qenv)

        return step

    @staticmethod
    def final(op: Operation, fused: _Fused | None) -> SSAValue:
        return fused.op.results[0] if fused is not None else op.results[0]

    def skip_fused(self, fused: _Fused | None) -> None:
        if fused is not None:
            self.skip(fused.op, *fused.chain)

    # -- pools, adds, relu, layout, concat, tables

    def plan_maxpool(self, op: nn.MaxPool2dOp):
        if op.input not in self.formats:
            return None
        self.formats[op.output] = self.formats[op.input]

        def step(env, qenv):
            from qopt.passes.torch_graph import run_op

            xq = qenv[op.input]
            self.store(
                op.output,
                xq.qtype,
                run_op(op, [xq.levels])[0],
                run_op(op, [xq.value])[0],
                env,
                qenv,
            )

        return step

    def plan_avgpool(self, op: nn.AvgPool2dOp | nn.GlobalAvgPoolOp):
        from qopt.qdialect.shapes import pool2d_shape

        x = shape_of(op.input)
        if isinstance(op, nn.GlobalAvgPoolOp):
            if len(x) != 4 or DYN in x[2:]:
                return None
            kernel, strides, pads, ceil_mode = (x[2], x[3]), (1, 1), (0,) * 4, False
        else:
            kernel, strides, pads, ceil_mode, include_pad = op.attrs
            if not include_pad and any(pads):
                return None
            if ceil_mode:
                if DYN in x[2:]:
                    return None
                floor = pool2d_shape(
                    op.name, x, kernel, strides, pads, (1, 1), ceil_mode=False
                )
                if floor[2:] != shape_of(op.output)[2:]:
                    return None
        cfg = self.rewrite.config(self.rewrite.names(op))
        out = self.new_act(op.output, cfg.acts)
        self.plan_q(op.input)
        taps = kernel[0] * kernel[1]

        def step(env, qenv):
            from qopt.passes.torch_graph import run_op, window_sums

            xq = self.get_q(op.input, env, qenv)
            sums, _ = window_sums(
                xq.levels - xq.qtype.zero_point, kernel, strides, pads, ceil_mode
            )
            sur = run_op(op, [xq.value])[0]
            self.finish(sums, [xq.qtype.scale / taps], None, sur, out, None, env, qenv)

        return step

    def plan_add(self, op: nn.AddOp):
        if not _is_float_tensor(op.output):
            return None
        if _const(op.lhs) is not None and _const(op.rhs) is not None:
            return None
        rw = self.rewrite
        fused = rw.fused_relu(op.output)
        cfg = rw.layer_config(op, fused)
        out = self.plan_output(self.final(op, fused), cfg.acts, fused)
        self.plan_q(op.lhs, cfg.acts)
        self.plan_q(op.rhs, cfg.acts)
        self.skip_fused(fused)

        def step(env, qenv):
            torch = _torch()
            a = self.get_q(op.lhs, env, qenv, cfg.acts)
            b = self.get_q(op.rhs, env, qenv, cfg.acts)
            sc = min(a.qtype.scale, b.qtype.scale)
            aligned = [self.align(v, sc) for v in (a, b)]
            so = min(s for _, s in aligned)
            acc = 0
            for levels, s in aligned:
                k = q._pow2_exponent(s / so) or 0
                acc = acc + torch.round(levels).to(torch.int64) * (1 << k)
            self.finish(
                acc.to(torch.float64),
                [so],
                None,
                a.value + b.value,
                out,
                fused,
                env,
                qenv,
            )

        return step

    def align(self, xq: QT, scale: float):
        """Centred levels of `xq` on `scale` times a power of two (qopt-quantize's
        `align`: a requantize to `scale` unless the ratio is a power of two)."""
        t = xq.qtype
        centred = xq.levels - t.zero_point
        ratio = t.scale / scale
        if _is_pow2(ratio):
            return centred, t.scale
        lo, hi = q.centred_range(t)
        width = q.signed_width(math.floor(lo * ratio) - 2, math.ceil(hi * ratio) + 2)
        target = UniformType(width, True, scale, expressed=t.expressed_type)
        return requantize_levels(
            centred, [t.scale], None, target, self.mult_bits
        ), scale

    def plan_relu_clip(self, op: nn.ReluOp | nn.ClipOp):
        if op.input not in self.formats:
            return None
        if isinstance(op, nn.ClipOp):
            lo, hi = op.attrs
            if lo > hi or self.formats[op.input].thresholds:
                return None  # qopt-quantize clamps uniform levels only
        self.formats[op.output] = self.formats[op.input]

        def step(env, qenv):
            from qopt.passes.torch_graph import run_op

            xq = qenv[op.input]
            t = xq.qtype
            if isinstance(op, nn.ReluOp):
                lo_level, hi_level = t.zero_point, t.max_level
            else:
                bounds = t.quantize(np.array(op.attrs, dtype=np.float64))
                lo_level, hi_level = (int(v) for v in bounds)
            lo_level = max(lo_level, t.min_level)
            hi_level = min(hi_level, t.max_level)
            if lo_level == t.min_level and hi_level == t.max_level:
                env[op.output] = env[op.input]  # the identity on levels
                qenv[op.output] = xq
                return
            torch = _torch()
            levels = torch.clamp(xq.levels, lo_level, hi_level)
            self.store(op.output, t, levels, run_op(op, [xq.value])[0], env, qenv)

        return step

    def plan_layout(self, op: Operation):
        source = op.operands[0]
        if source not in self.formats or len(op.operands) != 1:
            return None
        for r in op.results:
            self.formats[r] = self.formats[source]

        def step(env, qenv):
            from qopt.passes.torch_graph import run_op

            xq = qenv[source]
            levels = run_op(op, [xq.levels])
            values = run_op(op, [xq.value])
            for r, lev, val in zip(op.results, levels, values, strict=True):
                self.store(r, xq.qtype, lev, val, env, qenv)

        return step

    def plan_concat(self, op: nn.ConcatOp):
        if not any(v in self.formats for v in op.inputs):
            return None
        cfg = self.rewrite.config(self.rewrite.names(op))
        out = self.new_act(op.output, cfg.acts)
        for v in op.inputs:
            self.plan_q(v, cfg.acts)

        def step(env, qenv):
            torch = _torch()
            t = self.act_type(out)
            levels, values = [], []
            for v in op.inputs:
                xq = self.get_q(v, env, qenv, cfg.acts)
                lev = xq.levels
                if xq.qtype != t:  # q.requantize or q.threshold
                    lev = convert_levels(
                        lev - xq.qtype.zero_point,
                        [xq.qtype.scale],
                        None,
                        t,
                        self.mult_bits,
                    )
                levels.append(lev)
                values.append(xq.value)
            axis = op.attrs
            sur = fake_quantize(torch.cat(values, dim=axis), self.act_scale(out, t), t)
            lev = torch.cat(levels, dim=axis)
            self.store(op.output, t, lev, sur, env, qenv)

        return step

    def plan_table(self, op: Operation):
        source = op.operands[0]
        if not self.lut or source not in self.formats:
            return None
        fmt = self.formats[source]
        if not fmt.thresholds and (1 << fmt.bits) > LUT_MAX_LEVELS:
            return None  # threshold codes have at most 2^8 levels
        cfg = self.rewrite.config(self.rewrite.names(op))
        out = self.new_act(op.results[0], cfg.acts)

        def step(env, qenv):
            from qopt.passes.torch_graph import run_op

            torch = _torch()
            xq = qenv[source]
            t = self.act_type(out)
            xt = xq.qtype
            table_in = np.arange(xt.min_level, xt.max_level + 1, dtype=np.int64)
            real = xt.dequantize(table_in)
            with np.errstate(all="ignore"):
                fx = np.asarray(self.interpreter().run_op(op, (real,))[0])
            table = torch.from_numpy(
                t.quantize(fx.astype(real.dtype)).astype(np.float64)
            )
            index = (xq.levels - xt.min_level).to(torch.int64)
            levels = table[index]
            sur = fake_quantize(run_op(op, [xq.value])[0], self.act_scale(out, t), t)
            self.store(op.results[0], t, levels, sur, env, qenv)

        return step

    def interpreter(self):
        if self._interpreter is None:
            from qopt.backends.reference.runner import interpreter_for

            module = self.fn.parent_op()
            assert isinstance(module, ModuleOp)
            self._interpreter = interpreter_for(module)
        return self._interpreter

    # ------------------------------------------------------------ running

    def act_type(self, aq: ActQuant) -> ActType:
        key = id(aq)
        t = self._types.get(key)
        if t is None:
            t = aq.qtype(self.ranges)
            self._types[key] = t
        return t

    def act_scale(self, aq: ActQuant, t: ActType):
        return aq.scale(self.ranges, t.scale)

    def quantize_value(self, x, aq: ActQuant) -> QT:
        """q.quantize of a float value with its learnable range."""
        t = self.act_type(aq)
        levels = quantize_levels(x, t)
        exact = dequantize_levels(levels, t, x.dtype)
        return QT(join(fake_quantize(x, self.act_scale(aq, t), t), exact), levels, t)

    def get_q(self, value: SSAValue, env, qenv, acts: ActFormat | None = None) -> QT:
        """The quantized version of `value` (qopt-quantize's `get_q`)."""
        found = qenv.get(value)
        if found is not None:
            return found
        if value in self.const_acts:
            torch = _torch()
            x = env[value]
            c = x.detach().numpy()
            finite = c[np.isfinite(c)]
            lo, hi = (
                (float(finite.min()), float(finite.max()))
                if finite.size
                else (0.0, 0.0)
            )
            elt = value.type.element_type  # type: ignore[attr-defined]
            fmt = self.const_acts[value]
            summary = None
            if fmt.thresholds and finite.size:
                summary = summary_from_samples(c, 1 << MAX_THRESHOLD_BITS)
            t = fmt.qtype(lo, hi, elt, summary)
            levels = torch.from_numpy(t.quantize(c).astype(np.float64))
            xq = QT(join(x, dequantize_levels(levels, t, x.dtype)), levels, t)
        else:
            xq = self.quantize_value(env[value], self.value_quant[value])
        qenv[value] = xq
        return xq

    def store(self, value: SSAValue, t: ActType, levels, sur, env, qenv) -> None:
        """Record a quantized result: float users see its dequantized value."""
        xq = QT(join(sur, dequantize_levels(levels, t, sur.dtype)), levels, t)
        env[value] = xq.value
        qenv[value] = xq

    def weight(self, layer: LayerWeights, env):
        """(levels as float64 in the layer's layout, the STE weight in the
        stored layout) of a layer's current weights."""
        torch = _torch()
        param = env[layer.value]
        w = layer.layout_np(param.detach().numpy())
        levels = layer.qtype.quantize(w)
        grid = torch.from_numpy(np.asarray(layer.qtype.dequantize(levels)))
        centred = levels - layer.qtype.zero_point_array(levels.shape)
        sur = join(layer.layout(param), grid)
        return torch.from_numpy(centred.astype(np.float64)), sur

    @staticmethod
    def acc_scales(xq: QT, wtype: QuantizedType) -> list[float]:
        """The accumulator scales sx * sw (as q.conv2d / q.matmul build them)."""
        sx = xq.qtype.scale
        if wtype.is_per_tensor:
            return [sx * wtype.scale]
        return [sx * s for s in wtype.scale_values]

    @staticmethod
    def bias_levels(
        b: np.ndarray, scales: list[float], layer: LayerWeights, cfg: LayerConfig
    ) -> np.ndarray:
        levels, _ = quantize_bias(
            b,
            scales,
            cfg.bias_bits,
            not layer.qtype.is_per_tensor,
            layer.qtype.expressed_type,
        )
        return levels.astype(np.float64)

    def finish(
        self,
        acc,
        scales: list[float],
        axis: int | None,
        sur,
        out: ActQuant,
        fused: _Fused | None,
        env,
        qenv,
    ) -> None:
        """Requantize (or threshold) the accumulator to the output's type,
        apply the fused relu / clip and layout chain (qopt-quantize's
        `emit`), store. Threshold codes absorb the relu (`plan_output`)."""
        from qopt.passes.torch_graph import run_op

        torch = _torch()
        t = self.act_type(out)
        levels = convert_levels(acc, scales, axis, t, self.mult_bits)
        if fused is not None:
            sur = torch.clamp(sur, 0.0, fused.hi) if fused.hi else torch.relu(sur)
        if fused is not None and isinstance(t, UniformType):
            dtype = np.dtype(np.float64)
            zero = int(t.quantize(np.zeros(1, dtype))[0])
            top = t.qmax
            if fused.hi is not None:
                top = int(t.quantize(np.array([fused.hi], dtype))[0])
            if top < t.qmax:
                levels = torch.clamp(levels, zero, top)
            elif zero > t.qmin:
                levels = torch.clamp(levels, min=t.zero_point)
        sur = fake_quantize(sur, self.act_scale(out, t), t)
        if fused is not None:
            for layout in fused.chain:
                levels = run_op(layout, [levels])[0]
                sur = run_op(layout, [sur])[0]
        self.store(out.value, t, levels, sur, env, qenv)

    def __call__(self, *values):
        """The function's results on `values` (one batch per argument)."""
        from qopt.passes.torch_graph import GraphError

        env: dict = {}
        qenv: dict = {}
        self._types = {}
        current: Operation | None = None
        try:
            inputs = self.graph.inputs(values)
            for arg, t in zip(self.args, inputs, strict=True):
                aq = self.arg_quants.get(arg)
                if aq is None:
                    env[arg] = t
                else:
                    xq = self.quantize_value(t, aq)
                    env[arg] = xq.value
                    qenv[arg] = xq
            # constants first: a layer reads its bias even where the IR defines
            # the constant after the layer (qopt-quantize folds it in regardless)
            for op in self.ops:
                if isinstance(op, nn.ConstantOp):
                    env[op.output] = self.graph.constant(op)
            for op in self.ops:
                current = op
                if op in self.skipped or isinstance(op, nn.ConstantOp):
                    continue
                if isinstance(op, func.ReturnOp):
                    return tuple(env[v] for v in op.operands)
                self.run(op, env, qenv)
        except (GraphError, RuntimeError, ValueError, IndexError) as e:
            where = f" in {current.name}" if current is not None else ""
            raise QatError(
                f"running @{self.fn.sym_name.data} in torch failed{where}: "
                + " ".join(str(e).split())
            ) from None
        return ()

    def run(self, op: Operation, env, qenv) -> None:
        """One op: its planned quantized step, or the float torch function."""
        from qopt.passes.torch_graph import run_op

        step = self.steps.get(op)
        if step is not None:
            step(env, qenv)
            return
        results = run_op(op, [env[v] for v in op.operands])
        for value, r in zip(op.results, results, strict=True):
            env[value] = r

    # ------------------------------------------------------------ training

    def trainable(self) -> list:
        frozen = {
            id(self.graph.parameter(layer.value))
            for layer in self.layers
            if layer.frozen
        }
        params = [p for p in self.graph.params if id(p) not in frozen]
        return params + list(self.ranges)

    def clamp_ranges(self) -> None:
        for aq in self.acts:
            aq.clamp(self.ranges)

    # ------------------------------------------------------------ write-back

    def write_back_all(self) -> None:
        """Store the trained constants, the grid weights with their format
        and scales, and the trained ranges into the IR."""
        self.graph.write_back()
        for layer in self.layers:
            if not layer.frozen:
                self.write_weights(layer)
        for aq in self.acts:
            lo, hi = aq.bounds(self.ranges)
            if aq.mode == "fixed":
                continue
            set_value_range(aq.value, RangeAttr(lo, hi, method=RANGE_METHOD))

    def write_weights(self, layer: LayerWeights) -> None:
        param = self.graph.parameter(layer.value)
        assert param is not None
        w = layer.layout_np(param.detach().numpy())
        grid = np.asarray(layer.qtype.dequantize(layer.qtype.quantize(w)))
        op = layer.op
        stored = grid.T if isinstance(op, nn.GemmOp) and op.attrs[3] else grid
        const = layer.value.op
        assert isinstance(const, nn.ConstantOp)
        ty = layer.value.type
        assert isinstance(ty, TensorType)
        dtype = numpy_dtype(ty.element_type)
        new = numpy_to_dense(np.ascontiguousarray(stored.astype(dtype)), ty)
        if layer.value.has_one_use():
            const.value = new  # type: ignore[misc]
        else:
            copy = nn.ConstantOp(new)
            copy.output.name_hint = layer.value.name_hint
            block = const.parent_block()
            assert isinstance(block, Block)
            block.insert_op_after(copy, const)
            index = list(op.operands).index(layer.value)
            op.operands[index] = copy.output
        if layer.fmt_name is not None:
            scales = layer.qtype.scale_values
            op.attributes[WEIGHT_FORMAT_ATTR] = StringAttr(layer.fmt_name)
            op.attributes[WEIGHT_SCALES_ATTR] = DenseArrayBase.from_list(
                f64, [float(s) for s in scales]
            )


# --------------------------------------------------------------------------- #
# Data and training
# --------------------------------------------------------------------------- #


def load_labels(path: str, samples: int, classes: int) -> np.ndarray:
    """The integer labels of `path` (.npy), one per sample, in [0, classes)."""
    name = os.path.basename(path)
    if not os.path.exists(path):
        raise QatError(f"cannot read '{path}': No such file or directory")
    try:
        labels = np.load(path, allow_pickle=False)
    except OSError as e:
        raise QatError(f"cannot read '{path}': {e.strerror or e}") from None
    except (ValueError, EOFError):
        raise QatError(f"'{path}' is not a .npy file") from None
    if not isinstance(labels, np.ndarray) or labels.ndim != 1:
        raise QatError(f"'{name}' must hold a 1-D array of class labels")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise QatError(f"'{name}' holds {labels.dtype} values, not integer labels")
    if labels.shape[0] != samples:
        raise QatError(
            f"'{name}' holds {labels.shape[0]} labels but the data has {samples} "
            "samples"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise QatError(
            f"'{name}' holds labels outside 0..{classes - 1} (the logits have "
            f"{classes} classes)"
        )
    return labels.astype(np.int64)


def logits_classes(fn: func.FuncOp) -> int:
    """The number of classes of the first result, which must be [N, C] floats."""
    outputs = fn.function_type.outputs.data
    ty = outputs[0] if outputs else None
    if (
        not isinstance(ty, TensorType)
        or len(ty.get_shape()) != 2
        or ty.get_shape()[1] == DYN
        or numpy_dtype(ty.element_type).kind != "f"
    ):
        raise QatError(
            f"@{fn.sym_name.data} must return logits [N, classes] (a 2-D float "
            f"tensor with a static class axis) as its first result, got {ty}"
        )
    return ty.get_shape()[1]


def batch_size_of(fn: func.FuncOp, samples: int, wanted: int) -> int:
    """`wanted`, or the static batch dimension of the arguments."""
    static = {
        t.get_shape()[0]
        for t in fn.function_type.inputs.data
        if isinstance(t, TensorType) and t.get_shape() and t.get_shape()[0] != DYN
    }
    if not static:
        return wanted
    size = static.pop()
    if static or size > samples:
        raise QatError(
            f"the static batch size of @{fn.sym_name.data} does not fit the "
            f"{samples} samples of the data"
        )
    return size


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seeded torch RNG, one thread and deterministic algorithms, all
    restored on exit."""
    import torch

    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(det)
            torch.set_num_threads(threads)


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


@dataclass
class TrainLog:
    """The mean loss and accuracy (of the quantized network, on the batches
    as trained) of every epoch."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)


def train(
    graph: QatGraph,
    arrays: Sequence[np.ndarray],
    labels: np.ndarray,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    label_smoothing: float = 0.0,
) -> TrainLog:
    """Fine-tune `graph` with Adam on cross-entropy (see the module docstring)."""
    import torch
    import torch.nn.functional as F

    log = TrainLog()
    samples = len(labels)
    size = batch_size_of(graph.fn, samples, batch_size)
    static = size != batch_size
    stop = samples - samples % size if static else samples
    steps = len(range(0, stop, size))
    with deterministic(seed), _progress(epochs * steps, "qopt-qat") as bar:
        data = [torch.from_numpy(np.array(a)) for a in arrays]
        target = torch.from_numpy(labels)
        generator = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(graph.trainable(), lr=lr)
        for _ in range(epochs):
            order = torch.randperm(samples, generator=generator)
            total, right = 0.0, 0
            for start in range(0, stop, size):
                index = order[start : start + size]
                logits = graph(*(a[index] for a in data))[0]
                loss = F.cross_entropy(
                    logits.float(), target[index], label_smoothing=label_smoothing
                )
                opt.zero_grad()
                loss.backward()
                opt.step()
                graph.clamp_ranges()
                total += float(loss.detach()) * len(index)
                right += int((logits.argmax(dim=1) == target[index]).sum())
                bar.update(1)
            log.loss.append(total / max(stop, 1))
            log.accuracy.append(right / max(stop, 1))
    return log


def predict(
    graph: QatGraph, arrays: Sequence[np.ndarray], batch_size: int = 256
) -> np.ndarray:
    """The first result of the quantized network on the data (numpy; with a
    static batch dimension, the samples must fill whole batches)."""
    import torch

    samples = arrays[0].shape[0]
    size = batch_size_of(graph.fn, samples, batch_size)
    if samples % size and size != batch_size:
        raise QatError(f"{samples} samples do not fill batches of {size}")
    outs = []
    with torch.no_grad():
        for start in range(0, samples, size):
            batch = [np.ascontiguousarray(a[start : start + size]) for a in arrays]
            outs.append(graph(*batch)[0].numpy())
    return np.concatenate(outs)


# --------------------------------------------------------------------------- #
# The pass
# --------------------------------------------------------------------------- #


def _torch_available() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise QatError("qopt-qat needs PyTorch: pip install 'qopt[torch]'") from None


@dataclass(frozen=True)
class QatPass(ModulePass):
    """Quantization-aware training: fine-tune the float constants and the
    activation ranges of the network that qopt-quantize makes (same options,
    same per-layer formats) through straight-through fake quantization whose
    forward pass is the exact integer network, with cross-entropy on
    `labels`; write back grid weights (`q.weight_format`,
    `q.weight_scales`), trained biases and trained ranges (`#q.range<..,
    qat>`) so that a following qopt-quantize with the same options
    reproduces the trained network bit-exactly.

    Options: `data`, `labels` (required), `weights`, `activations`,
    `weight-granularity`, `bias-bits`, `mult-bits`, `recipe`, `lut` (as
    qopt-quantize), `epochs`, `lr`, `batch-size`, `label-smoothing`,
    `seed`, `entry`. The module docstring gives the method.

    Requires: calibrated `nn` IR whose ops all run in torch; PyTorch.
    """

    name = "qopt-qat"

    data: str
    labels: str
    weights: str = "int8"
    activations: str = "int8"
    weight_granularity: str = "channel"
    bias_bits: int = 32
    mult_bits: int = 16
    recipe: str | None = None
    lut: bool = True
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    label_smoothing: float = 0.0
    seed: int = 0
    entry: str | None = None

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("option 'data' must name an .npz or .npy file")
        if not self.labels:
            raise ValueError("option 'labels' must name an .npy file of class labels")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(
                "option 'label-smoothing' must be in [0, 1), got "
                f"{self.label_smoothing}"
            )
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
        if self.epochs < 0:
            raise ValueError(f"option 'epochs' must be >= 0, got {self.epochs}")
        if not self.lr > 0:
            raise ValueError(f"option 'lr' must be > 0, got {self.lr}")
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
            self.bias_bits,
        )

    def build(self, op: ModuleOp) -> tuple[QatGraph, list[np.ndarray], np.ndarray]:
        """The quantized graph of the entry function, its data and labels."""
        from qopt.passes.torch_graph import GraphError

        recipe = load_recipe(self.recipe) if self.recipe is not None else None
        fn = entry_function(op, self.entry, "train", QatError)
        classes = logits_classes(fn)
        arrays = load_calibration_data(self.data, fn)
        labels = load_labels(self.labels, arrays[0].shape[0], classes)
        _torch_available()
        try:
            graph = QatGraph(
                fn, self.layer_defaults(), recipe, self.mult_bits, self.lut
            )
        except GraphError as e:
            raise QatError(str(e)) from None
        return graph, arrays, labels

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        try:
            graph, arrays, labels = self.build(op)
            train(
                graph,
                arrays,
                labels,
                self.epochs,
                self.lr,
                self.batch_size,
                self.seed,
                self.label_smoothing,
            )
            graph.write_back_all()
        except (QatError, CalibrationError, QuantizeError, RecipeError) as e:
            raise PassFailedException(" ".join(str(e).split())) from None
