"""`qopt-bias-correct`: fold the expected output error of weight quantization
into the float bias (Nagel et al. 2019, data-free quantization, section 4.2).

    qopt-opt m.mlir --pass-pipeline='builtin.module(qopt-equalize,
        qopt-bias-correct{data=calib.npz weights=pot4},
        qopt-calibrate{data=calib.npz}, qopt-quantize{weights=pot4})'

The pass runs on float `nn` IR, before `qopt-quantize`. For every layer L
with constant weights W, W~ is what `qopt-quantize` makes of W with the same
`weights` / `weight-granularity` options (`quant_formats.quantize_weights`,
dequantized): the quantized layer computes W~ x, whose expected error per
output channel is E[W~ x] - E[W x] = (W~ - W) E[x]. The pass subtracts it
from L's bias (creating a zero bias if there is none), so that the later
`qopt-quantize`, which quantizes the same unchanged weights to the same W~,
gives a model whose mean output per channel matches the float model.
Activation quantization error is not corrected.

Layers: `nn.conv2d` (any group; constant weight; constant bias or none) and
`nn.gemm` (transA false; constant B; C absent or a constant row of shape
[N] or [1, N]; W = alpha·B as [K, N], bias beta·C, as `qopt-quantize` does:
C' = C - delta / beta, skipped if beta is 0). Layers carrying
`q.weight_scales` (weights already rounded onto a grid by `qopt-adaround`)
are skipped.

Modes:

- `empirical` (default; option `data` required, same archive format as
  `qopt-calibrate`): the entry function runs on the data with the reference
  executor; delta_o is the mean over samples (and output pixels) of
  L(x; W~ - W, no bias) on L's float input x. For a conv this is exact,
  zero padding included (it is the mean of the actual error convolution).
- `analytic` (data-free): E[x] per input channel from the distribution of
  the layer that produces x. L's input must be, through single-channel-wise
  ops `nn.maxpool2d`, `nn.avgpool2d`, `nn.global_avgpool`, `nn.flatten` /
  `nn.reshape` ([N, C, H, W] -> [N, C·H·W]), an `nn.relu` or `nn.clip`
  (min 0, max a) of a value y ~ N(mu_c, sigma_c^2) per channel, where y is
  the result of an `nn.batchnorm` (mu = its bias beta, sigma = |scale
  gamma|: run before nn-fold-batchnorm), or of an op carrying a `q.bn_stats`
  attribute `{mean = array<f64: ...>, std = array<f64: ...>}` (the
  batchnorm parameters recorded by the importer or a test; `qopt-equalize`
  keeps it up to date). Then, with Phi / phi the standard normal cdf / pdf:
  relu, no pool: E[x] = mu Phi(mu/sigma) + sigma phi(mu/sigma) (the paper's
  clipped normal mean); a max pool of n = kh·kw taps (modelled as n
  independent samples) and/or a clip max a:
  E[x] = integral over t in [0, a] of (1 - Phi((t - mu)/sigma)^n) dt
  (trapezoid rule, 4097 points up to min(a, mu + 10 sigma)); average pools
  keep the mean. delta = (W~ - W) E[x] summed over the kernel taps: zero
  padding is ignored (border outputs see fewer non-zero inputs), which
  slightly over-corrects near borders. A layer whose input is not such a
  chain is skipped.

Calibration: the corrected layers' results change slightly, so their
`q.range` is removed; run qopt-bias-correct before qopt-calibrate.

Options: mode (empirical), data, weights (int8), weight-granularity
(channel), batch-size (256), entry. Errors (bad option, missing data, a
failing run) are one line.

Requires: `nn` IR; weights and weight-granularity equal to those given to
qopt-quantize (recipes are not read).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import DenseArrayBase, DictionaryAttr, ModuleOp, TensorType
from xdsl.interpreter import Interpreter, PythonValues
from xdsl.ir import Operation, OpResult, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.utils.exceptions import InterpretationError, PassFailedException

from qopt.backends.reference.nn import (
    conv2d,
    dense_to_numpy,
    erfc64,
    numpy_dtype,
    numpy_to_dense,
)
from qopt.passes.calibrate import CalibrationError, load_calibration_data
from qopt.passes.entry import entry_function
from qopt.passes.equalize import BN_STATS_ATTR
from qopt.passes.quant_formats import (
    WEIGHT_SCALES_ATTR,
    WeightFormat,
    parse_granularity,
    parse_weight_format,
    quantize_weights,
)
from qopt.qdialect import nn
from qopt.qdialect.calib import RANGE_ATTR, RANGES_ATTR
from qopt.qdialect.shapes import DYN, shape_of


class BiasCorrectError(Exception):
    """Bad input; the message is one line."""


def _const(value: SSAValue | None) -> np.ndarray | None:
    if not isinstance(value, OpResult) or not isinstance(value.op, nn.ConstantOp):
        return None
    array = dense_to_numpy(value.op.value)
    if not np.issubdtype(array.dtype, np.floating):
        return None
    return array.astype(np.float64)


@dataclass
class _Target:
    """A layer to correct: W as used by the quantizer and its error."""

    op: nn.Conv2dOp | nn.GemmOp
    dw: np.ndarray  # conv: OIHW; gemm: [K, N]
    bias: np.ndarray  # conv: [O]; gemm: C row [N] (before beta)
    beta: float = 1.0
    sum: np.ndarray | None = None
    count: int = 0

    @property
    def input(self) -> SSAValue:
        return self.op.input if isinstance(self.op, nn.Conv2dOp) else self.op.a

    def error(self, x: np.ndarray) -> np.ndarray:
        """Per-channel error summed over samples (and pixels); adds the count."""
        x = x.astype(np.float64)
        if isinstance(self.op, nn.Conv2dOp):
            strides, pads, dilations, group = self.op.attrs
            y = conv2d(x, self.dw, strides, pads, dilations, group, np.float64)
            self.count += y.shape[0] * y.shape[2] * y.shape[3]
            return y.sum(axis=(0, 2, 3))
        self.count += x.shape[0]
        return (x @ self.dw).sum(axis=0)


def _target(op: Operation, fmt: WeightFormat, per_channel: bool) -> _Target | None:
    if WEIGHT_SCALES_ATTR in op.attributes:
        return None
    if isinstance(op, nn.Conv2dOp):
        w = _const(op.weight)
        if w is None or w.ndim != 4:
            return None
        if op.bias is None:
            b = np.zeros(w.shape[0])
        else:
            b = _const(op.bias)
            if b is None or b.shape != (w.shape[0],):
                return None
        axis, like = 0, op.weight
    elif isinstance(op, nn.GemmOp):
        alpha, beta, trans_a, trans_b = op.attrs
        bmat = _const(op.b)
        if trans_a or bmat is None or bmat.ndim != 2:
            return None
        w = (bmat.T if trans_b else bmat) * float(np.float32(alpha))
        n = w.shape[1]
        if op.c is None:
            b = np.zeros(n)
        else:
            c = _const(op.c)
            if c is None or c.shape not in ((n,), (1, n)) or beta == 0:
                return None
            b = c.reshape(n)
        axis, like = 1, op.b
    else:
        return None
    elt = like.type.element_type  # type: ignore[attr-defined]
    levels, qtype = quantize_weights(w, fmt, axis if per_channel else None, elt)
    wq = np.asarray(qtype.dequantize(levels), dtype=np.float64)
    beta = float(np.float32(op.attrs[1])) if isinstance(op, nn.GemmOp) else 1.0
    return _Target(op, wq - w, b, beta)


def _write_bias(t: _Target, delta: np.ndarray) -> None:
    op = t.op
    index = 2
    old = op.operands[2] if len(op.operands) > 2 else None
    if isinstance(op, nn.GemmOp):
        new_b = t.bias - delta / t.beta
        like = op.c or op.b
    else:
        new_b = t.bias - delta
        like = op.bias or op.weight
    ty = like.type
    assert isinstance(ty, TensorType)
    shape = shape_of(old) if old is not None else (len(new_b),)
    attr = numpy_to_dense(
        new_b.reshape(shape), TensorType(ty.get_element_type(), shape)
    )
    if attr is None:
        return
    const = nn.ConstantOp(attr)
    Rewriter.insert_op(const, InsertPoint.before(op))
    if old is not None:
        const.output.name_hint = old.name_hint
        operands = list(op.operands)
        operands[index] = const.output
        op.operands = operands
        if isinstance(old, OpResult) and old.first_use is None:
            Rewriter.erase_op(old.op)
    else:
        hint = op.results[0].name_hint
        const.output.name_hint = f"{hint}_bias" if hint else None
        new = type(op).create(
            operands=[*op.operands, const.output],
            result_types=[r.type for r in op.results],
            properties=dict(op.properties),
            attributes=dict(op.attributes),
        )
        new.results[0].name_hint = op.results[0].name_hint
        Rewriter.replace_op(op, new)
        t.op = new  # type: ignore[assignment]
    t.op.attributes.pop(RANGE_ATTR, None)
    t.op.attributes.pop(RANGES_ATTR, None)


# ------------------------------------------------------------------ analytic


def _phi_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * erfc64(-z / math.sqrt(2.0))


def expected_activation(
    mu: np.ndarray, sigma: np.ndarray, taps: int = 1, top: float = math.inf
) -> np.ndarray:
    """E[max of `taps` iid clip(y, 0, top)], y ~ N(mu, sigma^2), per channel."""
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.abs(np.asarray(sigma, dtype=np.float64))
    out = np.empty_like(mu)
    for i, (m, s) in enumerate(zip(mu, sigma, strict=True)):
        if s <= 0:
            out[i] = min(max(m, 0.0), top)
        elif taps == 1 and top == math.inf:
            z = np.array([m / s])
            pdf = math.exp(-0.5 * z[0] ** 2) / math.sqrt(2 * math.pi)
            out[i] = m * _phi_cdf(z)[0] + s * pdf
        else:
            hi = min(top, max(m + 10 * s, 0.0))
            if hi <= 0:
                out[i] = 0.0
                continue
            t = np.linspace(0.0, hi, 4097)
            f = 1.0 - _phi_cdf((t - m) / s) ** taps
            out[i] = float(np.sum((f[1:] + f[:-1]) * np.diff(t)) / 2)
    return out


def _gaussian_source(value: SSAValue) -> tuple[np.ndarray, np.ndarray] | None:
    if not isinstance(value, OpResult):
        return None
    op = value.op
    if isinstance(op, nn.BatchNormOp):
        gamma, beta = _const(op.scale), _const(op.bias)
        if gamma is None or beta is None:
            return None
        return beta.reshape(-1), np.abs(gamma.reshape(-1))
    stats = op.attributes.get(BN_STATS_ATTR)
    if isinstance(stats, DictionaryAttr):
        mean, std = stats.data.get("mean"), stats.data.get("std")
        if isinstance(mean, DenseArrayBase) and isinstance(std, DenseArrayBase):
            m = np.asarray(mean.get_values(), dtype=np.float64)
            s = np.asarray(std.get_values(), dtype=np.float64)
            if m.shape == s.shape:
                return m, s
    return None


def _analytic_mean(x: SSAValue, features: int) -> np.ndarray | None:
    """E[x] per input channel (conv) or feature (gemm), or None."""
    block = 1
    taps = 1
    value = x
    while isinstance(value, OpResult):
        op = value.op
        if isinstance(op, nn.FlattenOp | nn.ReshapeOp):
            src, dst = shape_of(op.operands[0]), shape_of(op.results[0])
            if block != 1 or len(src) != 4 or len(dst) != 2 or DYN in src[1:]:
                return None
            block = src[2] * src[3]
        elif isinstance(op, nn.MaxPool2dOp):
            kernel = op.properties.get("kernel_shape")
            if not isinstance(kernel, DenseArrayBase):
                return None
            taps *= int(np.prod(kernel.get_values()))
        elif not isinstance(op, nn.AvgPool2dOp | nn.GlobalAvgPoolOp):
            break
        value = op.operands[0]
    else:
        return None
    op = value.op
    if isinstance(op, nn.ReluOp):
        top = math.inf
    elif isinstance(op, nn.ClipOp) and op.attrs[0] == 0.0:
        top = op.attrs[1]
    else:
        return None
    src = _gaussian_source(op.operands[0])
    if src is None:
        return None
    mean = expected_activation(src[0], src[1], taps, top)
    if len(mean) * block != features:
        return None
    return np.repeat(mean, block)


def _analytic_delta(t: _Target) -> np.ndarray | None:
    if isinstance(t.op, nn.Conv2dOp):
        group = t.op.attrs[3]
        features = t.dw.shape[1] * group
        ex = _analytic_mean(t.input, features)
        if ex is None:
            return None
        o, cg = t.dw.shape[:2]
        og = o // group
        per_in = t.dw.sum(axis=(2, 3))  # [O, Cg]
        delta = np.empty(o)
        for ch in range(o):
            g = ch // og
            delta[ch] = per_in[ch] @ ex[g * cg : (g + 1) * cg]
        return delta
    ex = _analytic_mean(t.input, t.dw.shape[0])
    return None if ex is None else ex @ t.dw


# ------------------------------------------------------------------ the pass


class _Recorder(Interpreter.Listener):
    def __init__(self, targets: dict[int, _Target]):
        self.targets = targets

    def will_interpret_op(self, op: Operation, args: PythonValues) -> None:
        t = self.targets.get(id(op))
        if t is not None:
            e = t.error(np.asarray(args[0]))
            t.sum = e if t.sum is None else t.sum + e


@dataclass(frozen=True)
class BiasCorrectPass(ModulePass):
    """Bias correction (Nagel et al., data-free quantization) on float `nn`
    IR before qopt-quantize: for each conv2d / gemm with constant weights,
    subtract the expected error (W~ - W) E[x] of quantizing its weights in
    format `weights` from its bias, with E[x] measured on `data`
    (mode=empirical) or derived from the batchnorm statistics of the
    preceding layer through a relu (mode=analytic, data-free). See the
    module docstring for the exact definitions.

    Options: `mode` (empirical, analytic), `data`, `weights`,
    `weight-granularity`, `batch-size`, `entry`.

    Requires: `nn` IR; the same weight options as the later qopt-quantize;
    run before qopt-calibrate (corrected layers lose their `q.range`).
    """

    name = "qopt-bias-correct"

    mode: str = "empirical"
    data: str | None = None
    weights: str = "int8"
    weight_granularity: str = "channel"
    batch_size: int = 256
    entry: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("empirical", "analytic"):
            raise ValueError(f"unknown mode '{self.mode}' (empirical, analytic)")
        if self.mode == "empirical" and not self.data:
            raise ValueError(
                "mode=empirical needs option 'data' (an .npz or .npy file); "
                "use mode=analytic for data-free correction"
            )
        parse_weight_format(self.weights)
        parse_granularity(self.weight_granularity)
        if self.batch_size < 1:
            raise ValueError(
                f"option 'batch-size' must be at least 1, got {self.batch_size}"
            )

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        try:
            self._apply(op)
        except (BiasCorrectError, CalibrationError, ValueError) as e:
            raise PassFailedException(" ".join(str(e).split())) from None

    def _apply(self, module: ModuleOp) -> None:
        fn = entry_function(module, self.entry, "correct", BiasCorrectError)
        fmt = parse_weight_format(self.weights)
        per_channel = parse_granularity(self.weight_granularity) == "channel"
        block = fn.body.blocks.first
        assert block is not None
        targets: dict[int, _Target] = {}
        for inner in block.ops:
            t = _target(inner, fmt, per_channel)
            if t is not None:
                targets[id(inner)] = t
        if self.mode == "analytic":
            deltas = [(t, _analytic_delta(t)) for t in targets.values()]
        else:
            assert self.data is not None
            self._measure(module, fn, targets)
            deltas = [
                (t, t.sum / t.count if t.sum is not None and t.count else None)
                for t in targets.values()
            ]
        for t, delta in deltas:
            if delta is not None:
                _write_bias(t, delta)

    def _measure(
        self, module: ModuleOp, fn: func.FuncOp, targets: dict[int, _Target]
    ) -> None:
        from qopt.backends.reference.runner import interpreter_for

        assert self.data is not None
        arrays = load_calibration_data(self.data, fn)
        types = fn.function_type.inputs.data
        dtypes = [numpy_dtype(t.element_type) for t in types]  # type: ignore[attr-defined]
        static = {
            t.get_shape()[0]
            for t in types
            if isinstance(t, TensorType) and t.get_shape()[0] != DYN
        }
        size = static.pop() if static else self.batch_size
        samples = arrays[0].shape[0]
        if samples % size and static:
            raise BiasCorrectError(
                f"the data has {samples} samples, not a multiple of the static "
                f"batch size {size}"
            )
        interpreter = interpreter_for(module, _Recorder(targets))
        name = fn.sym_name.data
        for start in range(0, samples, size):
            inputs = tuple(
                np.asarray(a[start : start + size]).astype(d, copy=False)
                for a, d in zip(arrays, dtypes, strict=True)
            )
            try:
                with np.errstate(all="ignore"):
                    interpreter.call_op(name, inputs)
            except (
                InterpretationError,
                IndexError,
                TypeError,
                ArithmeticError,
            ) as e:
                raise BiasCorrectError(
                    f"running @{name} on the data failed: {' '.join(str(e).split())}"
                ) from None
