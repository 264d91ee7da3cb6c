"""Compile time of `qopt compile` on the digits CNN with the pot4 recipe.

The model, its calibration data and labels are those of `qopt demo`
(digits-lenet, seed 0, trained or taken from the model cache; this is not
timed). Each run is a fresh `qopt compile` process, exactly as `qopt demo`
runs it (pot4: qopt-equalize + qopt-adaround; accuracy on the 359 test
digits; target II 576), timed from outside (wall clock, Python start-up
and imports included) and per stage from its summary.json:

- run `cold`: an empty Verilator cache, so Verilator's runtime library and
  the design are both compiled (a fresh machine);
- run `warm` (and further runs): the runtime library cached, the design
  built again (its build folder is removed before the run).

Yosys is left out unless `--synth` is given (a separate stage, about 70 s
of CPU on this design). The acceptance
limit is 90 s for the whole compile, Verilator build included, on 2 cores.

    python bench/compile_time.py                 # cold + warm, table
    python bench/compile_time.py --repeat 3 --synth --markdown
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT = 90.0
"""Seconds the whole compile may take on 2 cores (issue 6)."""


def run_compile(data: dict[str, Path], out: Path, cache: Path, synth: bool):
    """One `qopt compile` process: (wall seconds, summary dict)."""
    from qopt.tools.demo import DEMO_II

    command = [
        sys.executable,
        "-m",
        "qopt.tools.qopt_main",
        "compile",
        str(data["model"]),
        "--calib",
        str(data["calib"]),
        "--labels",
        str(data["labels"]),
        "--val",
        str(data["val"]),
        "--val-labels",
        str(data["val_labels"]),
        "--recipe",
        "pot4",
        "--target-ii",
        str(DEMO_II),
        "--cache-dir",
        str(cache),
        "-o",
        str(out),
    ]
    if not synth:
        command.append("--no-synth")
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"qopt compile failed:\n{done.stderr}")
    return wall, json.loads((out / "summary.json").read_text())


def table(columns: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(columns) + " |"]
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(columns) - 1)) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        cells = [r[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--repeat", type=int, default=2, help="runs (first one cold)")
    p.add_argument("--synth", action="store_true", help="include the Yosys stage")
    p.add_argument("--markdown", action="store_true", help="a Markdown table")
    p.add_argument("--work", type=Path, help="keep the runs here (default: temp)")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")

    from qopt.tools.demo import DEMO_II, MODEL, prepare

    work = args.work or Path(tempfile.mkdtemp(prefix="qopt-compile-time-"))
    data, accuracy, _ = prepare(work / "data")
    cache = work / "rtl"
    shutil.rmtree(cache, ignore_errors=True)
    runs = []
    for i in range(args.repeat):
        if i > 0:  # keep Verilator's runtime library, rebuild the design
            for build in cache.glob("main-*"):
                shutil.rmtree(build)
        runs.append(run_compile(data, work / f"run{i}", cache, args.synth))
        print(f"  run {i + 1}: {runs[-1][0]:.1f} s", file=sys.stderr, flush=True)

    names = [s["name"] for s in runs[0][1]["stages"]]
    columns = ["stage", *("cold" if i == 0 else f"warm {i}" for i in range(len(runs)))]
    rows = []
    for k, name in enumerate(names):
        rows.append([name, *(f"{r[1]['stages'][k]['seconds']:.2f}" for r in runs)])
    totals = [sum(s["seconds"] for s in r[1]["stages"]) for r in runs]
    rows.append(["stages total", *(f"{t:.2f}" for t in totals)])
    rows.append(
        [
            "start-up, report",
            *(f"{r[0] - t:.2f}" for r, t in zip(runs, totals, strict=True)),
        ]
    )
    rows.append(["wall clock", *(f"{r[0]:.2f}" for r in runs)])

    summary = runs[0][1]
    acc = summary["accuracy"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"qopt compile {MODEL}.onnx --recipe pot4 --target-ii {DEMO_II}"
        f"{'' if args.synth else ' --no-synth'}; {os.cpu_count()} cores, "
        f"load average {load:.1f}; float test accuracy {100 * accuracy:.2f} %, "
        f"quantized {100 * acc['quantized_accuracy']:.2f} %"
    )
    print(table(columns, rows, args.markdown))
    worst = max(r[0] for r in runs)
    verdict = "within" if worst <= LIMIT else "OVER"
    print(f"slowest run {worst:.1f} s: {verdict} the {LIMIT:.0f} s limit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
