"""Whole-layer sensitivity sweep: how much does quantizing one layer cost?

    from qopt.passes.sensitivity import layer_sensitivity

    result = layer_sensitivity(module, x_val, "pot4", labels=y_val)
    for name, s in result.items():
        print(name, s.drop, s.sqnr_db)

A helper module (not a pass) for `qopt-mixed-precision{granularity=layer}`
and for tools that choose per-layer formats. For every layer that
`qopt-quantize` gives integer weights (`nn.conv2d`, `nn.gemm`, `nn.matmul`
with constant weights, as `qopt-adaround` finds them), the weights of that
layer alone are replaced by qopt-quantize's nearest rounding at the given
format and granularity (its scales: `passes/quant_formats.py`; a recorded
`q.weight_type` or `q.weight_scales` is ignored), every other layer stays
float, and the model runs on the data with the reference executor (batch by
batch, vectorised). With `activations`, the layer's output (after the relu
that qopt-quantize would fuse into it) is also quantized to that format at
its calibrated `#q.range`, as qopt-quantize would (`q.quantize` +
`q.dequantize`).

Measures, on the first result of the function as [samples, -1] (top-1 is
the argmax per sample), against the float model on the same data:

- `drop`: with `labels`, the accuracy lost in points (float accuracy minus
  accuracy, %); without, 100 * (1 - top-1 agreement with the float model);
- `agreement` (%), `accuracy` and `float_accuracy` (%, None without labels);
- `mse`: mean squared output error; `sqnr_db`: 10 log10(sum y^2 /
  sum (y~ - y)^2) (inf when the outputs are equal).

Results are keyed by the layer's name as recipes match it
(`passes/quant_recipe.py`): the name of the layer op's result without `%`
(`conv1` for `%conv1 = nn.conv2d ...`); a layer without a name is
`<op name>#<position among the layers>` (`nn.gemm#3`), and a repeated name
gets `#<position>` too. The dict is in layer order.

Errors (bad data, bad format, a missing range with `activations`) raise
`SensitivityError` with a one-line message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from qopt.passes.adaround import (
    AdaRoundError,
    Layer,
    Runner,
    apply_levels,
    batch_slices,
    find_layers,
)
from qopt.passes.calibrate import CalibrationError, load_calibration_data
from qopt.passes.entry import entry_function
from qopt.passes.quant_formats import (
    ActFormat,
    WeightFormat,
    parse_act_format,
    parse_granularity,
    parse_weight_format,
)
from qopt.passes.quantize import LayerConfig, QuantizeError, _Rewrite, describe
from qopt.qdialect import nn, q
from qopt.qdialect.calib import value_range


class SensitivityError(ValueError):
    """Input the sweep cannot handle; the message is one line."""


@dataclass(frozen=True)
class LayerSensitivity:
    """The cost of quantizing one layer alone (see the module docstring)."""

    name: str
    op: str  # the layer op's name, e.g. "nn.conv2d"
    weights: int  # number of weights of the layer
    drop: float
    agreement: float
    accuracy: float | None
    float_accuracy: float | None
    mse: float
    sqnr_db: float


def layer_names(layers: Sequence[Layer]) -> list[str]:
    """The keys of the layers (see the module docstring)."""
    names = []
    for i, layer in enumerate(layers):
        hint = layer.op.results[0].name_hint
        names.append(hint or f"{layer.op.name}#{i}")
    counts = {n: names.count(n) for n in names}
    return [n if counts[n] == 1 else f"{n}#{i}" for i, n in enumerate(names)]


def _config(weights: WeightFormat, granularity: str = "channel") -> LayerConfig:
    return LayerConfig(weights, granularity, parse_act_format("int8"), 32)


def model_layers(
    fn: func.FuncOp, weights: WeightFormat, granularity: str = "channel"
) -> list[Layer]:
    """The layers of `fn` that qopt-quantize gives integer weights, with the
    grid of `weights` (recorded weight types ignored)."""
    return find_layers(fn, _config(weights, granularity), recorded=False)


def layer_output(fn: func.FuncOp, layer: Layer) -> SSAValue:
    """The value qopt-quantize requantizes the layer to: the layer's result,
    or that of its bias add (matmul) and of the relu it fuses."""
    rewrite = _Rewrite(fn, _config(parse_weight_format("int8")), None, 16, False)
    last: SSAValue = layer.op.results[0]
    if isinstance(layer.op, nn.MatMulOp):
        add = rewrite.bias_add(last, layer.matrix.shape[-1])
        if add is not None:
            last = add[0].output
    fused = rewrite.fused_relu(last)
    return fused.op.results[0] if fused is not None else last


def quantize_output(value: SSAValue, acts: ActFormat) -> None:
    """Insert q.quantize + q.dequantize of `value` at its calibrated range
    for its users (an activation fake-quantized as qopt-quantize would)."""
    attr = value_range(value)
    if attr is None:
        raise SensitivityError(
            f"{describe(value)} has no calibrated range (q.range): run "
            "qopt-calibrate first"
        )
    elt = value.type.element_type  # type: ignore[attr-defined]
    qtype = acts.qtype(min(attr.low_values), max(attr.high_values), elt)
    quant = q.QuantizeOp(value, qtype)
    deq = q.DequantizeOp(quant.output)
    owner = value.owner
    block = owner.parent_block()  # type: ignore[union-attr]
    assert block is not None
    block.insert_ops_after([quant, deq], owner)  # type: ignore[arg-type]
    value.replace_uses_with_if(deq.output, lambda use: use.operation is not quant)


def _arrays(
    data: str | np.ndarray | Sequence[np.ndarray], fn: func.FuncOp
) -> list[np.ndarray]:
    if isinstance(data, str):
        return load_calibration_data(data, fn)
    arrays = [data] if isinstance(data, np.ndarray) else [np.asarray(a) for a in data]
    want = len(fn.function_type.inputs.data)
    if len(arrays) != want or not arrays:
        raise SensitivityError(
            f"{len(arrays)} input arrays given, @{fn.sym_name.data} takes {want}"
        )
    samples = {a.shape[0] if a.ndim else -1 for a in arrays}
    if len(samples) != 1 or samples.pop() < 1:
        raise SensitivityError("the input arrays must have the same number of samples")
    return arrays


def run_model(
    module: ModuleOp,
    fn: func.FuncOp,
    arrays: Sequence[np.ndarray],
    batch_size: int,
) -> np.ndarray:
    """The first result of `fn` on all the data, as float64 [samples, -1]
    (`batch_size` samples per run; SensitivityError if it cannot run)."""
    try:
        run = Runner(module, fn)
        outs = [
            np.asarray(run(arrays, batch)[0], dtype=np.float64)
            for batch in batch_slices(fn, arrays[0].shape[0], batch_size)
        ]
    except AdaRoundError as e:
        raise SensitivityError(str(e)) from None
    out = np.concatenate(outs, axis=0)
    return out.reshape(out.shape[0], -1)


def compare(
    name: str,
    layer: Layer,
    out: np.ndarray,
    ref: np.ndarray,
    labels: np.ndarray | None,
) -> LayerSensitivity:
    """The measures of one layer's output `out` against the float `ref`."""
    top, ref_top = out.argmax(axis=1), ref.argmax(axis=1)
    agreement = 100.0 * float((top == ref_top).mean())
    noise = float(((out - ref) ** 2).sum())
    power = float((ref**2).sum())
    sqnr = math.inf if noise == 0 else 10.0 * math.log10(max(power, 1e-300) / noise)
    accuracy = float_accuracy = None
    drop = 100.0 - agreement
    if labels is not None:
        accuracy = 100.0 * float((top == labels).mean())
        float_accuracy = 100.0 * float((ref_top == labels).mean())
        drop = float_accuracy - accuracy
    return LayerSensitivity(
        name,
        layer.op.name,
        int(layer.matrix.size),
        drop,
        agreement,
        accuracy,
        float_accuracy,
        float(((out - ref) ** 2).mean()),
        sqnr,
    )


def layer_sensitivity(
    module: ModuleOp,
    data: str | np.ndarray | Sequence[np.ndarray],
    weights: str | WeightFormat,
    *,
    labels: np.ndarray | None = None,
    activations: str | ActFormat | None = None,
    weight_granularity: str = "channel",
    layers: Sequence[str] | None = None,
    entry: str | None = None,
    batch_size: int = 256,
) -> dict[str, LayerSensitivity]:
    """Quantize each layer alone at `weights` (others float) and measure the
    drop against the float model (see the module docstring).

    `data`: the function's inputs (one array, a list with one array per
    argument, or an .npz/.npy path as qopt-calibrate takes; axis 0 indexes
    the samples); `labels`: [samples] class indices, for accuracy drops;
    `activations`: also quantize the layer's output (needs `#q.range`);
    `weight_granularity`: `channel` or `tensor`; `layers`: only these names
    (default all); `entry`: the function; `batch_size`: samples per run.
    `module` is not changed. Returns {name: LayerSensitivity} in layer order.
    """
    try:
        fmt = (
            weights
            if isinstance(weights, WeightFormat)
            else parse_weight_format(weights)
        )
        acts = (
            parse_act_format(activations)
            if isinstance(activations, str)
            else activations
        )
        granularity = parse_granularity(weight_granularity)
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        fn = entry_function(module, entry, "measure", SensitivityError)
        arrays = _arrays(data, fn)
        if labels is not None:
            labels = np.asarray(labels).reshape(-1)
            if labels.shape[0] != arrays[0].shape[0]:
                raise SensitivityError(
                    f"{labels.shape[0]} labels for {arrays[0].shape[0]} samples"
                )
        names = layer_names(model_layers(fn, fmt, granularity))
        unknown = sorted(set(layers or ()) - set(names))
        if unknown:
            raise SensitivityError(
                f"no layer named {', '.join(unknown)} (layers: {', '.join(names)})"
            )
        ref = run_model(module, fn, arrays, batch_size)
        result: dict[str, LayerSensitivity] = {}
        for i, name in enumerate(names):
            if layers is not None and name not in layers:
                continue
            copy = module.clone()
            copy_fn = entry_function(copy, entry, "measure", SensitivityError)
            layer = model_layers(copy_fn, fmt, granularity)[i]
            apply_levels(layer, layer.nearest())
            if acts is not None:
                quantize_output(layer_output(copy_fn, layer), acts)
            out = run_model(copy, copy_fn, arrays, batch_size)
            result[name] = compare(name, layer, out, ref, labels)
        return result
    except (AdaRoundError, CalibrationError, QuantizeError, ValueError) as e:
        if isinstance(e, SensitivityError):
            raise
        raise SensitivityError(" ".join(str(e).split())) from None
