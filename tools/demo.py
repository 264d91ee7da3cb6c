"""`qopt demo`: the digits CNN from training to a checked design, one command.

    qopt demo [-o build/demo] [--target-ii N] [--no-sim] [--no-synth]

1. trains the digits CNN (`digits-lenet` of qopt.models, seed 0: two conv +
   batchnorm + relu + maxpool layers and two fully connected ones, on
   scikit-learn's 8x8 digits) or takes it from the model cache
   (`qopt.models.train.get_trained`: `$QOPT_CACHE`, else build/models);
2. writes into `DIR/data/`: `digits-lenet.onnx`, `calib.npz` and
   `labels.npy` (the 1,259 training digits and their classes), `test.npz`
   and `test-labels.npy` (the 359 test digits);
3. runs `qopt compile` on it with the pot4 recipe (power-of-two weights,
   uint8 activations, CLE + AdaRound on the training digits), the accuracy check on
   the test digits, for a target II of `DEMO_II` cycles, into `DIR`.

It prints the float model's test accuracy, then the compile's stages and
its final table: accuracy, resources (LUTs), cycles per inference and the
Verilator check. The LUTs are the cost model's estimate and Yosys's count
(synth_xilinx of the whole flattened design: about 70 s of CPU;
`--no-synth` skips it). Needs the `models` extra (torch, scikit-learn,
onnx), Verilator (`--no-sim` skips it) and Yosys.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

import numpy as np

from qopt.tools.errors import ToolError, write_atomically

MODEL = "digits-lenet"
SEED = 0
DEMO_II = 576
"""Cycles per inference of the demo design. LeNet's 8x8 input streams one
pixel per cycle, so 64 is the fastest it can go; at 576 the convolutions
get PE x SIMD foldings of 8 x 1 and 16 x 2 and the design about 4,800 LUTs
(estimated; Yosys counts about 12,500), which Verilator builds in about 20 s
on 2 busy cores."""


def _npz(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, input=np.ascontiguousarray(array, np.float32))
    write_atomically(str(path), buffer.getvalue())


def _npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array, np.int64))
    write_atomically(str(path), buffer.getvalue())


def prepare(folder: Path) -> tuple[dict[str, Path], float, bool]:
    """Train (or load) the model and write its ONNX and data into `folder`:
    (paths by role, float test accuracy, whether it came from the cache)."""
    try:
        from qopt.models.data import load_digits_split
        from qopt.models.train import export_onnx, get_trained
    except ImportError as e:
        raise ToolError(
            f"the demo needs the models extra ({e.name} is missing): "
            "pip install -e '.[models]'"
        ) from None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ToolError(f"cannot create '{folder}': {e.strerror or e}") from None
    trained = get_trained(MODEL, SEED)
    split = load_digits_split(SEED)
    paths = {
        "model": folder / f"{MODEL}.onnx",
        "calib": folder / "calib.npz",
        "labels": folder / "labels.npy",
        "val": folder / "test.npz",
        "val_labels": folder / "test-labels.npy",
    }
    tmp = folder / f".{MODEL}.onnx.tmp"
    try:
        export_onnx(trained.model, tmp)
        os.replace(tmp, paths["model"])
    finally:
        tmp.unlink(missing_ok=True)
    _npz(paths["calib"], split.x_train)
    _npy(paths["labels"], split.y_train)
    _npz(paths["val"], split.x_test)
    _npy(paths["val_labels"], split.y_test)
    return paths, trained.test_acc, trained.cached


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `qopt demo`."""
    from qopt.tools.compile import add_hardware_arguments

    p.add_argument(
        "-o",
        "--output",
        default=str(Path("build") / "demo"),
        metavar="DIR",
        help="build folder (default build/demo; the model and data go to DIR/data)",
    )
    add_hardware_arguments(p, target_ii=DEMO_II)


def run_demo(args: argparse.Namespace) -> None:
    """`qopt demo`: train, export, compile, print."""
    from qopt.tools.compile import Options, compile_model, final_table

    out = Path(args.output)
    print(f"qopt demo: {MODEL} (seed {SEED}) -> {out}", file=sys.stderr, flush=True)
    paths, accuracy, cached = prepare(out / "data")
    source = "from the cache" if cached else "trained now"
    print(
        f"  model: float test accuracy {100 * accuracy:.2f} % ({source}); "
        f"{paths['model']}",
        file=sys.stderr,
        flush=True,
    )
    opts = Options(
        model=str(paths["model"]),
        calib=str(paths["calib"]),
        labels=str(paths["labels"]),
        val=str(paths["val"]),
        val_labels=str(paths["val_labels"]),
        recipe="pot4",
        target_ii=args.target_ii,
        lut_budget=args.lut_budget,
        out=str(out),
        sim_samples=args.sim_samples,
        sim=not args.no_sim,
        synth=not args.no_synth,
        cache_dir=args.cache_dir,
    )
    print(final_table(compile_model(opts)))
