"""Benchmark of the ONNX frontend against ONNX Runtime, side by side.

For each model of `onnx/backend/test/data/light` (weights randomized, see
`qopt.frontends.onnx_testing`), on one batch of seeded random inputs:

- import: `import_onnx(path)` — read the file, build the `nn` IR, verify it;
- run: the reference executor (`run_function`) on the imported module;
- ORT: `onnxruntime.InferenceSession(path)` creation + one `run`;
- ratio: (import + run) / (ORT session + run);
- max error of qopt against ORT (tolerance 1e-4 * max(1, |reference|)).

Times are the best of `--repeat` runs (default 3), measured in one process
after a warm-up (library imports excluded on both sides).

    python bench/frontend.py [--models resnet50,vgg19] [--repeat 3] [--markdown]
    python bench/frontend.py --coverage [--markdown]   # the conformance table
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time

import numpy as np


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def bench(names: list[str] | None, repeat: int) -> list[dict]:
    import onnx
    import onnxruntime as ort

    from qopt.backends.reference import run_function
    from qopt.frontends import onnx_testing as T
    from qopt.frontends.onnx import import_onnx

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    providers = ["CPUExecutionProvider"]

    def ort_session(path: str):
        return ort.InferenceSession(path, opts, providers=providers)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for tm in T.test_models(("light",)):
            if names and tm.name not in names:
                continue
            model = T.load(tm.path)
            path = os.path.join(tmp, f"{tm.name}.onnx")
            onnx.save(model, path)
            feeds = T.random_inputs(model)
            inputs = list(feeds.values())
            size = os.path.getsize(path) / 2**20
            del model
            ort_session(path)  # warm-up of the library code paths
            gc.collect()

            # interleaved, so that the machine's load hits both sides alike
            best = {"import": [], "run": [], "ort": [], "ort_run": []}
            for _ in range(repeat):
                t, module = _timed(lambda path=path: import_onnx(path))
                best["import"].append(t)
                t, got = _timed(lambda m=module, x=inputs: run_function(m, x))
                best["run"].append(t)
                t, sess = _timed(lambda path=path: ort_session(path))
                t_run, want = _timed(lambda sess=sess, f=feeds: sess.run(None, f))
                best["ort"].append(t + t_run)
                best["ort_run"].append(t_run)
                # ORT's pool threads spin after a run: end them before numpy runs
                del sess
                gc.collect()
            t_import, t_run = min(best["import"]), min(best["run"])
            t_ort, t_ort_run = min(best["ort"]), min(best["ort_run"])
            err = T.max_error(got, want)
            fn = module.body.block.first_op
            rows.append(
                {
                    "model": tm.name,
                    "MB": size,
                    "ops": len(fn.body.block.ops),
                    "import": t_import,
                    "run": t_run,
                    "qopt": t_import + t_run,
                    "ort_session_run": t_ort,
                    "ort_run": t_ort_run,
                    "ratio": (t_import + t_run) / t_ort,
                    "max_err": err,
                    "ok": err <= T.TOLERANCE * T.reference_scale(want),
                }
            )
            print("  ".join(_row(rows[-1])), file=sys.stderr, flush=True)
    return rows


HEADER = (
    "model",
    "size MB",
    "IR ops",
    "import s",
    "run s",
    "import+run s",
    "ORT session+run s",
    "ORT run s",
    "ratio",
    "max error",
)


def _row(r: dict) -> list[str]:
    return [
        r["model"],
        f"{r['MB']:.1f}",
        str(r["ops"]),
        f"{r['import']:.3f}",
        f"{r['run']:.3f}",
        f"{r['qopt']:.3f}",
        f"{r['ort_session_run']:.3f}",
        f"{r['ort_run']:.3f}",
        f"{r['ratio']:.2f}x",
        f"{r['max_err']:.1e}" + ("" if r["ok"] else " (!)"),
    ]


def table(rows: list[dict], markdown: bool) -> str:
    cells = [list(HEADER), *(_row(r) for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER))]
    lines = []
    for k, row in enumerate(cells):
        padded = [
            c.ljust(w) if i == 0 or markdown else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        if markdown:
            lines.append("| " + " | ".join(padded) + " |")
            if k == 0:
                lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        else:
            lines.append("  ".join(padded))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="", help="comma-separated model names")
    p.add_argument("--repeat", type=int, default=3, help="best of N runs")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument(
        "--coverage",
        action="store_true",
        help="print the conformance coverage table of light/, real/ and "
        "pytorch-converted/ instead (as tests/py/test_onnx_conformance.py)",
    )
    args = p.parse_args(argv)
    if args.coverage:
        from qopt.frontends import onnx_testing as T

        rows = [T.evaluate(tm) for tm in T.test_models()]
        print(T.coverage_table(rows, args.markdown))
        return 0 if all(r.ok or not r.supported for r in rows) else 1
    names = [n for n in args.models.split(",") if n] or None
    np.random.seed(0)
    rows = bench(names, max(1, args.repeat))
    print(table(rows, args.markdown))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
