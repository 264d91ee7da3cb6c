"""Low-bit post-training quantization against the accuracy targets (issue 4).

For each model and seed: the trained digits model (`qopt.models`), exported
to ONNX and imported, calibrated on `--calib` training inputs (minmax), and
quantized with activations int8 (unsigned 8-bit after a relu), then run on
the test split with the `q` reference executor. Per target, "plain" is
qopt-calibrate + qopt-quantize alone, "best" the PTQ pipeline below:

- pot4 / spot2 / W4A8 (int4 weights): qopt-adaround (inputs=quantized,
  bias-correct=true: the defaults) before qopt-quantize;
- mixed <= 2.5 bits (int2 / int8 weights): plain is
  qopt-mixed-precision{granularity=outliers criterion=hessian} with a
  budget per layer and nearest rounding; best is one budget for the model
  (budget=model) followed by qopt-adaround on the recorded `!q.mixed`
  grids. The bits column is the model's average storage bits per weight.

Targets (mean over the seeds, test accuracy, points below float): pot4
within 0.7, spot2 within 0.3, mixed within 1.0, W4A8 within 0.5.

    python bench/ptq_targets.py [--models digits-lenet,digits-mlp]
        [--seeds 0-4] [--calib 1024] [--iters 1000] [--verbose] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

TARGETS = {"pot4": 0.7, "spot2": 0.3, "mixed": 1.0, "int4": 0.5}
LABELS = {
    "pot4": "pot4 W / A8",
    "spot2": "spot2 W / A8",
    "mixed": "mixed <= 2.5 bits / A8",
    "int4": "W4A8",
}
MIXED = {"avg_bits": 2.5, "granularity": "outliers", "criterion": "hessian"}


@dataclass
class Row:
    model: str
    seed: int
    target: str
    float_acc: float
    plain: float
    best: float
    plain_bits: float
    best_bits: float


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def _accuracy(module, x: np.ndarray, y: np.ndarray) -> float:
    from qopt.backends.reference.runner import run_function

    return 100.0 * float((run_function(module, [x])[0].argmax(1) == y).mean())


def _weight_bits(module) -> float:
    """Average storage bits per weight of the q.conv2d / q.matmul weights."""
    from qopt.qdialect import q

    bits = count = 0
    for op in module.walk():
        if isinstance(op, q.Conv2dOp | q.MatmulOp):
            w = op.operands[1]
            shape = w.type.get_shape()  # type: ignore[attr-defined]
            bits += q.qtype_of(w).storage_bits(shape)
            count += int(np.prod(shape))
    return bits / max(count, 1)


def run_seed(model: str, seed: int, calib_n: int, iters: int, tmp: str) -> list[Row]:
    from xdsl.context import Context

    from qopt.frontends.onnx import import_onnx
    from qopt.models.data import load_digits_split
    from qopt.models.train import export_onnx, get_model, write_calibration
    from qopt.passes.adaround import AdaRoundPass
    from qopt.passes.calibrate import CalibratePass
    from qopt.passes.mixed_precision import MixedPrecisionPass
    from qopt.passes.quantize import QuantizePass

    onnx_path = export_onnx(get_model(model, seed), os.path.join(tmp, f"{model}.onnx"))
    calib = str(write_calibration(os.path.join(tmp, "calib.npz"), calib_n, model, seed))
    split = load_digits_split(seed)
    x, y = split.x_test, split.y_test
    module = import_onnx(str(onnx_path))
    CalibratePass(data=calib).apply(Context(), module)
    float_acc = _accuracy(module, x, y)

    def finish(m, weights: str = "int8") -> tuple[float, float]:
        QuantizePass(weights=weights, activations="int8").apply(Context(), m)
        return _accuracy(m, x, y), _weight_bits(m)

    rows = []
    for fmt in ("pot4", "spot2", "mixed", "int4"):
        plain, best = module.clone(), module.clone()
        if fmt == "mixed":
            MixedPrecisionPass(data=calib, **MIXED).apply(Context(), plain)
            MixedPrecisionPass(data=calib, budget="model", **MIXED).apply(
                Context(), best
            )
            AdaRoundPass(data=calib, iters=iters).apply(Context(), best)
            (p, pb), (b, bb) = finish(plain), finish(best)
        else:
            AdaRoundPass(data=calib, weights=fmt, iters=iters).apply(Context(), best)
            (p, pb), (b, bb) = finish(plain, fmt), finish(best, fmt)
        rows.append(Row(model, seed, fmt, float_acc, p, b, pb, bb))
    return rows


def table(rows: list[Row], markdown: bool) -> str:
    head = [
        "model",
        "target",
        "float %",
        "plain %",
        "plain drop",
        "best %",
        "best drop",
        "allowed",
        "bits",
        "met",
    ]
    lines = []
    models = list(dict.fromkeys(r.model for r in rows))
    for model in models:
        for fmt in TARGETS:
            sel = [r for r in rows if r.model == model and r.target == fmt]
            if not sel:
                continue
            f = np.mean([r.float_acc for r in sel])
            p = np.mean([r.plain for r in sel])
            b = np.mean([r.best for r in sel])
            bits = np.mean([r.best_bits for r in sel])
            met = (
                "yes"
                if f - b <= TARGETS[fmt] + 1e-9
                else f"no ({f - b - TARGETS[fmt]:.2f} short)"
            )
            lines.append(
                [
                    model,
                    LABELS[fmt],
                    f"{f:.2f}",
                    f"{p:.2f}",
                    f"{p - f:+.2f}",
                    f"{b:.2f}",
                    f"{b - f:+.2f}",
                    f"-{TARGETS[fmt]}",
                    f"{bits:.3f}",
                    met,
                ]
            )
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(x) for x in col) for col in zip(head, *lines, strict=True)]
    fmt_line = "  ".join(f"{{:{w}}}" for w in widths)
    return "\n".join(fmt_line.format(*line) for line in [head, *lines])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="digits-lenet,digits-mlp")
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--calib", type=int, default=1024)
    parser.add_argument("--iters", type=int, default=1000)
    parser.add_argument("--verbose", action="store_true", help="print every seed")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    rows: list[Row] = []
    start = time.perf_counter()
    for model in args.models.split(","):
        for seed in _seeds(args.seeds):
            with tempfile.TemporaryDirectory() as tmp:
                got = run_seed(model, seed, args.calib, args.iters, tmp)
            rows.extend(got)
            if args.verbose:
                for r in got:
                    print(
                        f"{model} seed {seed} {r.target:5s} float {r.float_acc:.2f} "
                        f"plain {r.plain:.2f} ({r.plain_bits:.3f} b) "
                        f"best {r.best:.2f} ({r.best_bits:.3f} b)",
                        file=sys.stderr,
                        flush=True,
                    )
    print(
        f"seeds {args.seeds}, {args.calib} calibration inputs, {args.iters} "
        f"AdaRound steps per layer, activations int8; mean test accuracy "
        f"({time.perf_counter() - start:.0f} s)"
    )
    print(table(rows, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
