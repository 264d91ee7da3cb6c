"""`qopt-adaround`: learn the rounding of each weight (AdaRound) before quantizing.

    qopt-opt m.mlir --pass-pipeline='builtin.module(qopt-calibrate{data=c.npz},
        qopt-adaround{data=c.npz weights=int4 iters=1000},
        qopt-quantize{weights=int4})'

AdaRound (Nagel et al., "Up or Down? Adaptive Rounding for Post-Training
Quantization", ICML 2020) chooses, for every weight w of a layer, one of the
two neighbouring representable values of the weight format around w / s (s
the channel's scale): lo <= w / s <= hi, two adjacent levels of the sorted
level set (the uniform grid -q..q of `intN`; the pot or spot levels, whose
steps are not uniform). The choice minimises the reconstruction error of the
layer's output on the calibration inputs, ||W x - W~ x||^2, with the
relaxation W~ = s * (lo + h(V) * (hi - lo)), h(V) = clip(sigmoid(V) * 1.2 -
0.1, 0, 1) (the rectified sigmoid), V initialised so that W~ = W, and the
loss

    recon + reg * sum(1 - |2 h(V) - 1|^beta)

minimised with Adam (torch, CPU) for `iters` steps per layer: no regulariser
for the first 20 % of the steps, then beta falls linearly from 20 to 2 (the
paper's schedule). The result rounds up where h(V) >= 0.5.

`recon` is the squared error summed over a layer's output features and
averaged over its output positions (samples, and pixels of a convolution).
With X the layer's inputs as rows (im2col patches of a convolution, per
group), recon = tr(D' G D) / n with D the weight difference [K, N] and
G = X' X the Gram matrix over all n rows: the pass runs the float model once
(the reference executor, `batch-size` samples at a time) and keeps only G per
layer, so every step is exact over the whole calibration set and the result
is deterministic (no sampling: the same IR and data give the same levels).

Layers: the ones `qopt-quantize` gives integer weights, with the same
conditions: `nn.conv2d` with constant weight and bias (per output channel:
axis 0), `nn.gemm` with transA false, alpha 1, constant B and a bias constant
along M (weight alpha·B' as [K, N], per column), `nn.matmul` of a non-constant
input of rank >= 2 by a constant rank-2 [K, N] weight. The inputs are the
float model's (every layer sees the float output of the one before).

Each layer's scales are those `qopt-quantize` would compute for the layer's
format and granularity (`weights`, `weight-granularity`, `recipe` with the
same rule matching; `passes/quant_formats.py`). The pass replaces the float
weight constant by the chosen grid values s * level (each exactly the
dequantized level in the expressed type) and records on the layer op

    q.weight_format = "int4", q.weight_scales = array<f64: s0, s1, ...>

`qopt-quantize` then uses exactly those scales (and rejects a different
format or granularity for that layer), and its nearest rounding reproduces
the learned levels bit-exactly.

Options: `data` (required; as qopt-calibrate: an .npz with one array per
argument or an .npy), `weights` (int8), `weight-granularity` (channel),
`recipe`, `iters` (1000, >= 0; 0 gives nearest rounding), `lr` (0.01, the
Adam step), `reg` (0.01, the regulariser weight), `batch-size` (256: samples
per run of the float model when the batch is dynamic), `entry`.

Requires: `nn` IR that the reference executor runs (calibrated or not: the
ranges are not used).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
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
from xdsl.utils.exceptions import InterpretationError, PassFailedException

from qopt.backends.reference.nn import im2col, numpy_dtype, numpy_to_dense
from qopt.passes.calibrate import CalibrationError, load_calibration_data
from qopt.passes.entry import entry_function
from qopt.passes.quant_formats import (
    WEIGHT_FORMAT_ATTR,
    WEIGHT_SCALES_ATTR,
    WeightFormat,
    grid_neighbours,
    parse_act_format,
    parse_granularity,
    parse_weight_format,
    weight_scales,
)
from qopt.passes.quant_recipe import RecipeError, load_recipe
from qopt.passes.quantize import (
    LayerConfig,
    QuantizeError,
    _bias_row,
    _const,
    _Rewrite,
)
from qopt.qdialect import nn
from qopt.qdialect.shapes import DYN, shape_of

ZETA, GAMMA = 1.1, -0.1
"""The stretch of the rectified sigmoid: h = clip(sigmoid(V) (ZETA - GAMMA) + GAMMA,
0, 1)."""

WARMUP = 0.2
"""Fraction of the steps without the rounding regulariser."""

BETA_START, BETA_END = 20.0, 2.0
"""The regulariser's exponent, annealed linearly after the warm-up."""


class AdaRoundError(Exception):
    """Input the pass cannot handle; the message is one line."""


# --------------------------------------------------------------------------- #
# One layer
# --------------------------------------------------------------------------- #


@dataclass
class Layer:
    """A layer to round: its weight as groups of [K, N/G] matrices (the
    columns are output channels), its format and scales, and the Gram matrix
    of its inputs per group, accumulated over `rows` input rows."""

    op: Operation
    weight: OpResult  # the nn.constant result
    fmt: WeightFormat
    axis: int | None  # of the stored weight tensor; None: per tensor
    matrix: np.ndarray  # [G, K, N/G] float64
    scales: np.ndarray  # [N] (one per column) or [1]
    gram: np.ndarray = field(default_factory=lambda: np.zeros(0))
    rows: int = 0

    def observe(self, x: np.ndarray) -> None:
        """Add the inputs `x` of one batch to the Gram matrix."""
        cols = self.columns(np.asarray(x, dtype=np.float64))
        g = np.einsum("gri,grj->gij", cols, cols)
        self.gram = g if self.rows == 0 else self.gram + g
        self.rows += cols.shape[1]

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

    def column_scales(self) -> np.ndarray:
        """The scale of every column of `matrix`, as [G, 1, N/G]."""
        groups, _, per = self.matrix.shape
        s = np.broadcast_to(self.scales, (groups * per,))
        return s.reshape(groups, 1, per)

    def recon(self, delta: np.ndarray) -> float:
        """tr(D' G D) / rows: the output's squared error summed over the
        features, averaged over the rows (D = weight difference [G, K, N/G])."""
        return float(np.einsum("gki,gkl,gli->", delta, self.gram, delta)) / max(
            self.rows, 1
        )


def round_layer(
    layer: Layer, iters: int, lr: float, reg: float, bar=None
) -> np.ndarray:
    """The learned levels of `layer` (as `matrix`, int64)."""
    s = layer.column_scales()
    t = layer.matrix / s
    lo, hi = grid_neighbours(t, layer.fmt)
    step = (hi - lo).astype(np.float64)
    frac = np.where(step > 0, (t - lo) / np.where(step > 0, step, 1.0), 0.0)
    if iters == 0 or layer.rows == 0:
        return layer.fmt.levels_attr.nearest(t)  # qopt-quantize's rounding

    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        dt = torch.float64
        frac = np.clip(frac, 1e-6, 1 - 1e-6)
        v0 = -np.log((ZETA - GAMMA) / (frac - GAMMA) - 1.0)
        v = torch.tensor(v0, dtype=dt, requires_grad=True)
        w = torch.tensor(layer.matrix, dtype=dt)
        base = torch.tensor(lo * s, dtype=dt)
        span = torch.tensor(step * s, dtype=dt)
        gram = torch.tensor(layer.gram / layer.rows, dtype=dt)
        live = torch.tensor(step > 0, dtype=dt)
        opt = torch.optim.Adam([v], lr=lr)
        warm = int(WARMUP * iters)
        for i in range(iters):
            h = torch.clamp(torch.sigmoid(v) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)
            d = w - (base + h * span)
            loss = torch.einsum("gki,gkl,gli->", d, gram, d)
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
# Finding the layers and their inputs
# --------------------------------------------------------------------------- #


def _layer(op: Operation, rewrite: _Rewrite) -> Layer | None:
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
        return _make(op, op.weight, cfg, 0, w, matrix.transpose(0, 2, 1))
    if isinstance(op, nn.GemmOp):
        alpha, beta, trans_a, trans_b = op.attrs
        b = _const(op.b)
        if trans_a or b is None or b.ndim != 2 or float(np.float32(alpha)) != 1.0:
            return None
        if op.c is not None:
            c = _const(op.c)
            if c is None:
                return None
            n = b.shape[0] if trans_b else b.shape[1]
            if _bias_row(c.astype(np.float64) * float(np.float32(beta)), n) is None:
                return None
        cfg = rewrite.layer_config(op, rewrite.fused_relu(op.output))
        matrix = (b.T if trans_b else b).astype(np.float64)
        return _make(op, op.b, cfg, 0 if trans_b else 1, b, matrix[None])
    if isinstance(op, nn.MatMulOp):
        w = _const(op.rhs)
        if w is None or w.ndim != 2 or len(shape_of(op.lhs)) < 2:
            return None
        if _const(op.lhs) is not None:
            return None
        names = [rewrite.names(op)]
        last: SSAValue = op.output
        add = rewrite.bias_add(op.output, w.shape[-1])
        if add is not None:
            names.append(rewrite.names(add[0]))
            last = add[0].output
        fused = rewrite.fused_relu(last)
        if fused is not None:
            names.append(rewrite.names(fused.op))
        cfg = rewrite.config(*names)
        return _make(op, op.rhs, cfg, 1, w, w.astype(np.float64)[None])
    return None


def _make(
    op: Operation,
    weight: SSAValue,
    cfg: LayerConfig,
    axis: int,
    stored: np.ndarray,
    matrix: np.ndarray,
) -> Layer:
    assert isinstance(weight, OpResult)
    per_channel = cfg.granularity == "channel"
    # the scales as qopt-quantize computes them: on the [K, N] weight of a
    # gemm/matmul (axis 1), on the OIHW weight of a conv (axis 0)
    if isinstance(op, nn.Conv2dOp):
        scales = weight_scales(stored, cfg.weights, 0 if per_channel else None)
    else:
        kn = matrix[0]
        scales = weight_scales(kn, cfg.weights, 1 if per_channel else None)
    return Layer(op, weight, cfg.weights, axis if per_channel else None, matrix, scales)


class _Capture(Interpreter.Listener):
    """Feeds the first operand of every layer op to its Gram matrix."""

    def __init__(self, layers: dict[int, Layer]):
        self.layers = layers
        self.op: Operation | None = None

    def will_interpret_op(self, op: Operation, args: PythonValues) -> None:
        self.op = op
        layer = self.layers.get(id(op))
        if layer is not None:
            layer.observe(args[0])


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


def find_layers(fn: func.FuncOp, default: LayerConfig, recipe=None) -> list[Layer]:
    """The layers of `fn` that AdaRound rounds, in order."""
    rewrite = _Rewrite(fn, default, recipe, 16, False)
    layers = []
    for op in fn.body.blocks.first.ops:  # type: ignore[union-attr]
        try:
            layer = _layer(op, rewrite)
        except ValueError as e:
            raise AdaRoundError(f"'{op.name}': {e}") from None
        if layer is not None:
            layers.append(layer)
    return layers


def capture(
    module: ModuleOp,
    fn: func.FuncOp,
    arrays: Sequence[np.ndarray],
    layers: Sequence[Layer],
    batch_size: int,
) -> None:
    """Run `fn` on the data and accumulate every layer's input Gram matrix."""
    from qopt.backends.reference.runner import interpreter_for

    types = fn.function_type.inputs.data
    static = {
        t.get_shape()[0]
        for t in types
        if isinstance(t, TensorType) and t.get_shape() and t.get_shape()[0] != DYN
    }
    samples = arrays[0].shape[0]
    size = batch_size
    if static:
        size = static.pop()
        if static or size < 1 or samples % size:
            raise AdaRoundError(
                f"the data has {samples} samples, which the static batch size "
                f"of @{fn.sym_name.data} does not divide"
            )
    dtypes = [numpy_dtype(t.element_type) for t in types]  # type: ignore[attr-defined]
    listener = _Capture({id(layer.op): layer for layer in layers})
    interpreter = interpreter_for(module, listener)
    name = fn.sym_name.data
    with _progress(samples, "qopt-adaround: inputs") as bar:
        for start in range(0, samples, size):
            batch = slice(start, min(start + size, samples))
            inputs = tuple(
                np.asarray(a[batch]).astype(d, copy=False)
                for a, d in zip(arrays, dtypes, strict=True)
            )
            try:
                with np.errstate(all="ignore"):
                    interpreter.call_op(name, inputs)
            except InterpretationError as e:
                raise AdaRoundError(
                    f"running @{name} on the data failed: " + " ".join(str(e).split())
                ) from None
            except (ValueError, IndexError, TypeError, ArithmeticError) as e:
                where = listener.op.name if listener.op is not None else f"@{name}"
                raise AdaRoundError(
                    f"running @{name} on the data failed in {where}: "
                    + " ".join(str(e).split())
                ) from None
            bar.update(batch.stop - batch.start)


def apply_levels(layer: Layer, levels: np.ndarray) -> None:
    """Replace the layer's float weight by the grid values of `levels` (as
    `matrix`) and record the format and scales on the layer op."""
    const = layer.weight.op
    assert isinstance(const, nn.ConstantOp)
    elt = layer.weight.type.element_type  # type: ignore[attr-defined]
    dtype = numpy_dtype(elt)
    s = layer.column_scales().astype(dtype)
    # the dequantized levels in the expressed type, as q.dequantize computes them
    grid = (levels.astype(dtype) * s).astype(dtype)
    stored_shape = layer.weight_shape
    if isinstance(layer.op, nn.Conv2dOp):
        stored = grid.transpose(0, 2, 1).reshape(stored_shape)
    elif isinstance(layer.op, nn.GemmOp) and layer.op.attrs[3]:
        stored = grid[0].T
    else:
        stored = grid[0]
    new = numpy_to_dense(np.ascontiguousarray(stored), layer.weight.type)
    if layer.weight.has_one_use():
        const.value = new  # type: ignore[misc]
    else:
        copy = nn.ConstantOp(new)  # other users keep the float weight
        copy.output.name_hint = layer.weight.name_hint
        const.parent_block().insert_op_after(copy, const)  # type: ignore[union-attr]
        index = list(layer.op.operands).index(layer.weight)
        layer.op.operands[index] = copy.output
    layer.op.attributes[WEIGHT_FORMAT_ATTR] = StringAttr(layer.fmt.name)
    layer.op.attributes[WEIGHT_SCALES_ATTR] = DenseArrayBase.from_list(
        f64, [float(x) for x in layer.scales]
    )


# --------------------------------------------------------------------------- #
# The pass
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class AdaRoundPass(ModulePass):
    """Learn, per weight of every conv2d/gemm/matmul that qopt-quantize gives
    integer weights, whether to round down or up onto the weight format's grid
    (AdaRound: rectified-sigmoid relaxation, annealed rounding regulariser,
    Adam), minimising the layer's output reconstruction error on the float
    model's inputs of the calibration data; replace the float weights by the
    chosen grid values and record `q.weight_format` and `q.weight_scales` on
    the layer, which qopt-quantize then honours (bit-exact levels).

    Options: `data` (required), `weights`, `weight-granularity`, `recipe`
    (as qopt-quantize), `iters` (Adam steps per layer), `lr`, `reg`,
    `batch-size` (samples per run of the float model), `entry`. The module
    docstring gives the method.

    Requires: `nn` IR that the reference executor runs; run it before
    qopt-quantize with the same weight options.
    """

    name = "qopt-adaround"

    data: str
    weights: str = "int8"
    weight_granularity: str = "channel"
    recipe: str | None = None
    iters: int = 1000
    lr: float = 0.01
    reg: float = 0.01
    batch_size: int = 256
    entry: str | None = None

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("option 'data' must name an .npz or .npy file")
        parse_weight_format(self.weights)
        parse_granularity(self.weight_granularity)
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
            parse_act_format("int8"),  # unused: AdaRound rounds weights only
            32,
        )

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        try:
            recipe = load_recipe(self.recipe) if self.recipe is not None else None
            fn = entry_function(op, self.entry, "round", AdaRoundError)
            layers = find_layers(fn, self.layer_defaults(), recipe)
            if not layers:
                return
            arrays = load_calibration_data(self.data, fn)
            capture(op, fn, arrays, layers, self.batch_size)
            total = self.iters * len(layers)
            with _progress(total, "qopt-adaround") as bar:
                for layer in layers:
                    levels = round_layer(layer, self.iters, self.lr, self.reg, bar)
                    apply_levels(layer, levels)
        except (AdaRoundError, CalibrationError, QuantizeError, RecipeError) as e:
            raise PassFailedException(" ".join(str(e).split())) from None
