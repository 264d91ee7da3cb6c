"""`qopt-autoquant`: quantize to a target format within an accuracy budget.

    qopt-opt m.mlir --pass-pipeline='builtin.module(qopt-calibrate{data=c.npz},
        qopt-autoquant{max-drop=0.5 data=train.npy labels=train_labels.npy
                       weights=pot4 activations=uint8 high=int8})'

Choosing how hard to quantize is a loop people run by hand: quantize, look
at the accuracy, keep a few sensitive layers at higher precision, and
fine-tune with quantization-aware training when that is not enough. The
pass runs that loop in stages and stops at the first that keeps the
accuracy within `max-drop` points (percent) of the float model:

1. `ptq`: every layer at the target format (`weights`, `activations`,
   `weight-granularity`; `bias-bits`, `mult-bits` and `lut` as
   qopt-quantize), optionally after cross-layer equalization
   (`equalize=true`, `qopt-equalize`) and empirical bias correction for the
   target weights (`bias-correct=true`, `qopt-bias-correct`), each followed
   by a recalibration (`qopt-calibrate{method=METHOD}` on `data`);
2. `mixed`: the whole-layer sensitivity sweep of
   `qopt.passes.sensitivity.layer_sensitivity` (each layer's weights alone at
   the target format, all else float; the accuracy drop on the measurement
   data, ties broken by the output's squared error) orders the layers; the
   most sensitive go to the `high` weight format one at a time, up to
   `max-high` layers (default: half of them, at least one), until the drop
   is met. A layer at `high` carries `q.weight_type` (the `high` type with
   the scales qopt-quantize would compute, in its layout), which
   qopt-quantize honours whatever its `weights` option;
3. `qat`: quantization-aware training (`qopt-qat` with `data`, `labels`,
   `epochs`, `lr`, `batch-size`, `label-smoothing`, `seed`) of the stage-2
   configuration that came closest (the fewest high layers among the most
   accurate); `qat=false` stops after stage 2.

Accuracy is top-1 of the first result (logits [N, classes]) against the
labels, measured on `val-data` / `val-labels` if given, else on `data` /
`labels`, with the `q` reference executor on the model that qopt-quantize
makes (so the numbers are the deployed integer model's); the float
accuracy is the input model's on the same data.

The pass ends by running qopt-quantize with the chosen formats: the output
is `q` IR, with the `high` layers' weights in the `high` format. The module
gets a report

    q.autoquant = {stage = "mixed", met = true, float = 9.721e+01 : f64,
                   accuracy = 9.694e+01 : f64, drop = 2.7e-01 : f64,
                   max_drop = 5.0e-01 : f64, weights = "pot4",
                   activations = "uint8", high = "int8", high_layers = ["conv1"]}

(`met = false` when even the last stage misses the budget: the output is
then the last stage's model), and a table of every configuration tried
goes to stderr. Layers are named as recipes and the sensitivity sweep name
them: the result's name without `%`, else `<op>#<index>`.

Options: `data`, `labels` (required; as qopt-qat), `max-drop` (0.5),
`weights` (pot4), `activations` (uint8), `high` (int8),
`weight-granularity` (channel), `bias-bits` (32), `mult-bits` (16), `lut`
(true), `equalize` (false), `bias-correct` (false), `method` (minmax: the
recalibration method after equalize / bias-correct), `max-high` (-1: half
the layers), `qat` (true), `epochs` (10), `lr` (1e-3), `batch-size` (64),
`label-smoothing` (0), `seed` (0), `val-data`, `val-labels`, `entry`.

Requires: calibrated `nn` IR (as qopt-quantize; with quantiles for `thrN`
activations); PyTorch for stage 3.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    f64,
)
from xdsl.ir import Attribute, Operation
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import PassFailedException

from qopt.passes.bias_correct import BiasCorrectPass
from qopt.passes.calibrate import CalibratePass, CalibrationError, load_calibration_data
from qopt.passes.entry import entry_function
from qopt.passes.equalize import EqualizePass
from qopt.passes.qat import QatError, QatPass, load_labels, logits_classes
from qopt.passes.quant_formats import (
    MAX_THRESHOLD_BITS,
    WEIGHT_FORMAT_ATTR,
    WEIGHT_SCALES_ATTR,
    WEIGHT_TYPE_ATTR,
    WeightFormat,
    parse_act_format,
    parse_granularity,
    parse_weight_format,
    weight_scales,
)
from qopt.passes.quantize import QuantizePass, _const
from qopt.passes.sensitivity import (
    SensitivityError,
    layer_names,
    layer_sensitivity,
    model_layers,
    run_model,
)
from qopt.qdialect import nn
from qopt.qdialect.qtypes import QuantizedType

REPORT_ATTR = "q.autoquant"
"""The module attribute holding the report."""

METHODS = ("minmax", "percentile", "mse", "entropy")


class AutoQuantError(Exception):
    """Input the pass cannot handle; the message is one line."""


def layer_weight_type(
    op: Operation, fmt: WeightFormat, granularity: str
) -> QuantizedType:
    """The q type of a layer's weights at `fmt`, as qopt-quantize makes it:
    in its layout (conv OIHW per axis 0; gemm alpha·B' as [K, N] and matmul
    B per axis 1 / the last), with the scales of `weight_scales`."""
    if isinstance(op, nn.Conv2dOp):
        value, w, axis = op.weight, _const(op.weight), 0
    elif isinstance(op, nn.GemmOp):
        alpha, _, _, trans_b = op.attrs
        value, b = op.b, _const(op.b)
        assert b is not None
        w = (b.T if trans_b else b).astype(np.float64) * float(np.float32(alpha))
        axis = 1
    else:
        assert isinstance(op, nn.MatMulOp)
        value, w = op.rhs, _const(op.rhs)
        assert w is not None
        axis = w.ndim - 1
    assert w is not None
    per_axis = axis if granularity == "channel" else None
    scales = [float(s) for s in weight_scales(w, fmt, per_axis)]
    return fmt.qtype(scales, per_axis, value.type.element_type)  # type: ignore[attr-defined]


@dataclass
class Trial:
    """One configuration tried: its stage, high layers and accuracy (%)."""

    stage: str
    high: tuple[str, ...]
    accuracy: float
    note: str = ""


@dataclass
class Search:
    """The state of one run: data, formats, the trials so far."""

    options: AutoQuantPass
    entry: str
    arrays: list[np.ndarray]
    labels: np.ndarray
    float_accuracy: float
    trials: list[Trial] = field(default_factory=list)

    def quantize_pass(self) -> QuantizePass:
        o = self.options
        return QuantizePass(
            weights=o.weights,
            activations=o.activations,
            weight_granularity=o.weight_granularity,
            bias_bits=o.bias_bits,
            mult_bits=o.mult_bits,
            lut=o.lut,
            entry=self.entry,
        )

    def quantized(self, module: ModuleOp) -> ModuleOp:
        out = module.clone()
        self.quantize_pass().apply(Context(), out)
        return out

    def accuracy(self, module: ModuleOp) -> float:
        """Top-1 accuracy (%) of the q model of the `nn` module `module`."""
        q_model = self.quantized(module)
        fn = entry_function(q_model, self.entry, "measure", AutoQuantError)
        logits = run_model(q_model, fn, self.arrays, self.options.batch_size)
        return 100.0 * float((logits.argmax(axis=1) == self.labels).mean())

    def met(self, accuracy: float) -> bool:
        return self.float_accuracy - accuracy <= self.options.max_drop

    def record(self, stage: str, high: tuple[str, ...], acc: float, note="") -> None:
        self.trials.append(Trial(stage, high, acc, note))


def accuracy_of(logits: np.ndarray, labels: np.ndarray) -> float:
    return 100.0 * float((logits.argmax(axis=1) == labels).mean())


def with_high_layers(
    module: ModuleOp, entry: str, high: WeightFormat, names: set[str], opts
) -> ModuleOp:
    """A copy of `module` whose layers named in `names` carry the `high`
    weight type (and no stale recorded grid of another format)."""
    out = module.clone()
    fn = entry_function(out, entry, "quantize", AutoQuantError)
    target = parse_weight_format(opts.weights)
    layers = model_layers(fn, target, opts.weight_granularity)
    for name, layer in zip(layer_names(layers), layers, strict=True):
        if name not in names:
            continue
        op = layer.op
        op.attributes[WEIGHT_TYPE_ATTR] = layer_weight_type(
            op, high, opts.weight_granularity
        )
        op.attributes.pop(WEIGHT_FORMAT_ATTR, None)
        op.attributes.pop(WEIGHT_SCALES_ATTR, None)
    return out


def _table(search: Search, stage: str, met: bool, acc: float) -> str:
    """The trials as a text table (stderr)."""
    o = search.options
    rows = [("float", "-", f"{search.float_accuracy:.2f}%", "", "")]
    for t in search.trials:
        drop = search.float_accuracy - t.accuracy
        high = ", ".join(t.high) if t.high else "none"
        rows.append((t.stage, high, f"{t.accuracy:.2f}%", f"{drop:.2f}", t.note))
    head = ("stage", f"layers at {o.high}", "accuracy", "drop", "")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]

    def line(r: tuple[str, ...]) -> str:
        cells = [
            r[0].ljust(widths[0]),
            r[1].ljust(widths[1]),
            r[2].rjust(widths[2]),
            r[3].rjust(widths[3]),
        ]
        return ("  " + "  ".join(cells) + ("  " + r[4] if r[4] else "")).rstrip()

    verdict = "within" if met else "NOT within"
    return (
        "\n".join(
            [
                f"qopt-autoquant: @{search.entry}: {o.weights} weights, "
                f"{o.activations} activations, high layers at {o.high}; budget "
                f"{o.max_drop:g} points",
                line(head),
                *(line(r) for r in rows),
                f"  => {stage}: {acc:.2f}% ({verdict} {o.max_drop:g} points of float)",
            ]
        )
        + "\n"
    )


@dataclass(frozen=True)
class AutoQuantPass(ModulePass):
    """Quantize to the target formats within `max-drop` accuracy points of
    the float model, in stages: all layers at the target (optionally after
    equalization and bias correction), then the most sensitive layers at the
    `high` weight format (whole-layer sensitivity sweep), then
    quantization-aware training; end with qopt-quantize and record the
    choice (`q.autoquant` on the module; `q.weight_type` on high layers
    before quantization) and a table on stderr.

    Options: `data`, `labels` (required), `max-drop`, `weights`,
    `activations`, `high`, `weight-granularity`, `bias-bits`, `mult-bits`,
    `lut`, `equalize`, `bias-correct`, `method`, `max-high`, `qat`,
    `epochs`, `lr`, `batch-size`, `label-smoothing`, `seed`, `val-data`,
    `val-labels`, `entry`.
    The module docstring gives the method.

    Requires: calibrated `nn` IR; PyTorch when stage 3 runs.
    """

    name = "qopt-autoquant"

    data: str
    labels: str
    max_drop: float = 0.5
    weights: str = "pot4"
    activations: str = "uint8"
    high: str = "int8"
    weight_granularity: str = "channel"
    bias_bits: int = 32
    mult_bits: int = 16
    lut: bool = True
    equalize: bool = False
    bias_correct: bool = False
    method: str = "minmax"
    max_high: int = -1
    qat: bool = True
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 64
    label_smoothing: float = 0.0
    seed: int = 0
    val_data: str | None = None
    val_labels: str | None = None
    entry: str | None = None

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("option 'data' must name an .npz or .npy file")
        if not self.labels:
            raise ValueError("option 'labels' must name an .npy file of class labels")
        if not (self.max_drop >= 0 and math.isfinite(self.max_drop)):
            raise ValueError(f"option 'max-drop' must be >= 0, got {self.max_drop}")
        parse_weight_format(self.weights)
        parse_weight_format(self.high)
        parse_act_format(self.activations)
        parse_granularity(self.weight_granularity)
        if self.method not in METHODS:
            raise ValueError(
                f"unknown calibration method '{self.method}' ({', '.join(METHODS)})"
            )
        if self.max_high < -1:
            raise ValueError(f"option 'max-high' must be >= -1, got {self.max_high}")
        if (self.val_data is None) != (self.val_labels is None):
            raise ValueError("options 'val-data' and 'val-labels' go together")
        # the options qopt-quantize and qopt-qat check themselves
        self.qat_pass()

    def qat_pass(self) -> QatPass:
        return QatPass(
            data=self.data,
            labels=self.labels,
            weights=self.weights,
            activations=self.activations,
            weight_granularity=self.weight_granularity,
            bias_bits=self.bias_bits,
            mult_bits=self.mult_bits,
            lut=self.lut,
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            label_smoothing=self.label_smoothing,
            seed=self.seed,
            entry=self.entry,
        )

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        try:
            final, report, table = self.run(op)
        except (
            AutoQuantError,
            CalibrationError,
            QatError,
            SensitivityError,
        ) as e:
            raise PassFailedException(" ".join(str(e).split())) from None
        sys.stderr.write(table)
        block = final.body.detach_block(0)
        op.body.detach_block(0).erase()
        op.body.add_block(block)
        op.attributes[REPORT_ATTR] = report

    # ------------------------------------------------------------------ run

    def recalibrate(self, module: ModuleOp, entry: str) -> None:
        acts = parse_act_format(self.activations)
        quantiles = 1 << MAX_THRESHOLD_BITS if acts.thresholds else 0
        CalibratePass(
            data=self.data, method=self.method, quantiles=quantiles, entry=entry
        ).apply(Context(), module)

    def prepared(self, module: ModuleOp, entry: str) -> ModuleOp:
        """Stage 1's float model: equalized and bias-corrected if asked."""
        base = module.clone()
        if self.equalize:
            EqualizePass().apply(Context(), base)
            self.recalibrate(base, entry)
        if self.bias_correct:
            BiasCorrectPass(
                mode="empirical",
                data=self.data,
                weights=self.weights,
                weight_granularity=self.weight_granularity,
                entry=entry,
            ).apply(Context(), base)
            self.recalibrate(base, entry)
        return base

    def measurement(self, fn: func.FuncOp) -> tuple[list[np.ndarray], np.ndarray]:
        data = self.val_data if self.val_data is not None else self.data
        labels = self.val_labels if self.val_labels is not None else self.labels
        arrays = load_calibration_data(data, fn)
        classes = logits_classes(fn)
        return arrays, load_labels(labels, arrays[0].shape[0], classes)

    def run(self, module: ModuleOp) -> tuple[ModuleOp, DictionaryAttr, str]:
        fn = entry_function(module, self.entry, "quantize", AutoQuantError)
        entry = fn.sym_name.data
        arrays, labels = self.measurement(fn)
        float_logits = run_model(module, fn, arrays, self.batch_size)
        search = Search(self, entry, arrays, labels, accuracy_of(float_logits, labels))
        high = parse_weight_format(self.high)

        # stage 1: every layer at the target format
        base = self.prepared(module, entry)
        stage, chosen, best = "ptq", base, search.accuracy(base)
        notes = [
            n for n, on in (("CLE", self.equalize), ("BC", self.bias_correct)) if on
        ]
        search.record("ptq", (), best, " + ".join(notes))
        high_layers: tuple[str, ...] = ()

        # stage 2: the most sensitive layers at the high format
        if not search.met(best):
            limit, order = self.max_high, []
            if limit != 0:
                order = self.sensitivity_order(base, search)
                limit = min(max(1, len(order) // 2) if limit < 0 else limit, len(order))
                stage = "mixed" if limit > 0 else stage
            for k in range(1, limit + 1):
                names = tuple(order[:k])
                candidate = with_high_layers(base, entry, high, set(names), self)
                acc = search.accuracy(candidate)
                search.record("mixed", names, acc)
                if acc > best:  # the fewest layers among the most accurate
                    chosen, best, high_layers = candidate, acc, names
                if search.met(acc):
                    break

            # stage 3: quantization-aware training of the best configuration
            if not search.met(best) and self.qat:
                stage = "qat"
                trained = chosen.clone()
                self.qat_pass().apply(Context(), trained)
                chosen, best = trained, search.accuracy(trained)
                search.record("qat", high_layers, best, f"{self.epochs} epochs")

        met = search.met(best)
        final = search.quantized(chosen)
        report = DictionaryAttr(
            {
                "stage": StringAttr(stage),
                "met": IntegerAttr.from_bool(met),
                "float": FloatAttr(search.float_accuracy, f64),
                "accuracy": FloatAttr(best, f64),
                "drop": FloatAttr(search.float_accuracy - best, f64),
                "max_drop": FloatAttr(self.max_drop, f64),
                "weights": StringAttr(self.weights),
                "activations": StringAttr(self.activations),
                "high": StringAttr(self.high),
                "high_layers": ArrayAttr[Attribute](
                    [StringAttr(n) for n in high_layers]
                ),
            }
        )
        return final, report, _table(search, stage, met, best)

    def sensitivity_order(self, base: ModuleOp, search: Search) -> list[str]:
        """Layer names, most sensitive first (drop, then output error)."""
        result = layer_sensitivity(
            base,
            search.arrays,
            self.weights,
            labels=search.labels,
            weight_granularity=self.weight_granularity,
            entry=search.entry,
            batch_size=self.batch_size,
        )
        ranked = sorted(
            enumerate(result.values()), key=lambda p: (-p[1].drop, -p[1].mse, p[0])
        )
        return [s.name for _, s in ranked]
