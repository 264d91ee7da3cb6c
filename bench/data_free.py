"""Data-free W8A8 quantization of the digits models against FP32 and against
calibration on data (issue 4: "data-free quantization within 1 point of FP32
at W8A8").

For every model and seed (the seed fixes the training run and the split),
the trained model is exported to ONNX with its batchnorms kept
(`export_onnx(..., keep_batchnorm=True)`, so that `nn-fold-batchnorm`
records their `q.bn_stats`), imported, and run through two pipelines
(`qopt-opt` pipeline text, printed with `--verbose` and kept in the JSON):

- data-free: `nn-fold-batchnorm, qopt-equalize,
  qopt-bias-correct{mode=analytic}, qopt-calibrate-data-free{input-range=0,1
  method=M}, qopt-quantize{weights=int8 activations=int8}` (M from
  `--method`, default sigma; the digits pixels are in [0, 1]). No data is read.
- calibrated (for comparison): `nn-fold-batchnorm,
  qopt-calibrate{data=calib.npz}, qopt-quantize{weights=int8
  activations=int8}`, minmax on `--calib` training inputs (1,024, as
  bench/accuracy.py's plain rows).

The table gives the test accuracy (%) of FP32 (the imported float graph on
the reference executor), data-free W8A8, their difference, and calibrated
W8A8, per model and seed, and a mean row per model.

    python bench/data_free.py                         # seeds 0-4, both models
    python bench/data_free.py --seeds 0 --markdown --json build/data_free.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

FLOAT_PREP = "nn-fold-batchnorm"
W8A8 = "qopt-quantize{weights=int8 activations=int8}"


def data_free_pipeline(method: str) -> str:
    return (
        f"builtin.module({FLOAT_PREP}, qopt-equalize, "
        "qopt-bias-correct{mode=analytic}, "
        f"qopt-calibrate-data-free{{input-range=0,1 method={method}}}, {W8A8})"
    )


def calibrated_pipeline(data: str) -> str:
    return f"builtin.module({FLOAT_PREP}, qopt-calibrate{{data={data}}}, {W8A8})"


@dataclass
class Row:
    model: str
    seed: int
    fp32: float
    data_free: float
    calibrated: float
    data_free_pipeline: str
    calibrated_pipeline: str

    @property
    def delta(self) -> float:
        return self.data_free - self.fp32


def _accuracy(module, x: np.ndarray, y: np.ndarray) -> float:
    from qopt.backends.reference.runner import run_function

    return float((run_function(module, [x])[0].argmax(1) == y).mean() * 100)


def _apply(module, text: str):
    from xdsl.context import Context

    from qopt.passes import get_all_passes
    from qopt.tools.pipeline import build_passes

    out = module.clone()
    ctx = Context()
    for p in build_passes(text, get_all_passes()):
        p.apply(ctx, out)
    return out


def run_seed(model: str, seed: int, calib: int, method: str, tmp: str) -> Row:
    from qopt.frontends.onnx import import_onnx
    from qopt.models.data import load_digits_split
    from qopt.models.train import export_onnx, get_model, write_calibration

    net = get_model(model, seed)
    module = import_onnx(
        export_onnx(net, Path(tmp) / "model.onnx", keep_batchnorm=True)
    )
    data = str(write_calibration(Path(tmp) / "calib.npz", calib, model, seed))
    split = load_digits_split(seed)
    x, y = split.x_test, split.y_test
    free, calibrated = data_free_pipeline(method), calibrated_pipeline(data)
    return Row(
        model,
        seed,
        _accuracy(module, x, y),
        _accuracy(_apply(module, free), x, y),
        _accuracy(_apply(module, calibrated), x, y),
        free,
        calibrated.replace(data, "calib.npz"),
    )


def table(rows: list[Row], markdown: bool) -> str:
    head = ["model", "seed", "FP32", "data-free W8A8", "delta", "calibrated W8A8"]
    lines: list[list[str]] = []
    for model in dict.fromkeys(r.model for r in rows):
        mine = [r for r in rows if r.model == model]
        for r in mine:
            lines.append(
                [
                    model,
                    str(r.seed),
                    f"{r.fp32:.2f}",
                    f"{r.data_free:.2f}",
                    f"{r.delta:+.2f}",
                    f"{r.calibrated:.2f}",
                ]
            )
        lines.append(
            [
                model,
                "mean",
                f"{np.mean([r.fp32 for r in mine]):.2f}",
                f"{np.mean([r.data_free for r in mine]):.2f}",
                f"{np.mean([r.delta for r in mine]):+.2f}",
                f"{np.mean([r.calibrated for r in mine]):.2f}",
            ]
        )
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|---|---:|---:|---:|---:|---:|"]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(c) for c in col) for col in zip(head, *lines, strict=True)]
    return "\n".join(
        "  ".join(
            c.rjust(w) if i > 1 else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in [head, *lines]
    )


def _seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.partition("-")
        seeds.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    return seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="digits-mlp,digits-lenet")
    parser.add_argument("--seeds", default="0-4", help="0-4 or 0,3")
    parser.add_argument(
        "--calib", type=int, default=1024, help="inputs of the calibrated row"
    )
    parser.add_argument("--method", default="sigma", choices=["mse", "sigma"])
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the rows")
    parser.add_argument("--verbose", action="store_true", help="print each seed")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    rows: list[Row] = []
    start = time.perf_counter()
    for model in args.models.split(","):
        for seed in _seeds(args.seeds):
            with tempfile.TemporaryDirectory() as tmp:
                row = run_seed(model, seed, args.calib, args.method, tmp)
            rows.append(row)
            if args.verbose:
                print(
                    f"{model} seed {seed}: fp32 {row.fp32:.2f} data-free "
                    f"{row.data_free:.2f} calibrated {row.calibrated:.2f}\n"
                    f"  {row.data_free_pipeline}\n  {row.calibrated_pipeline}",
                    file=sys.stderr,
                    flush=True,
                )
    seconds = time.perf_counter() - start
    print(
        f"seeds {args.seeds}; test accuracy %; data-free: method={args.method}, "
        f"no data; calibrated: minmax on {args.calib} training inputs "
        f"({seconds:.0f} s)"
    )
    print(table(rows, args.markdown))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "seeds": args.seeds,
                    "method": args.method,
                    "calib": args.calib,
                    "rows": [asdict(r) | {"delta": r.delta} for r in rows],
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
