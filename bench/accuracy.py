"""Accuracy benchmark: qopt's quantization of the reference models, side by
side with ONNX Runtime, PyTorch (torch.ao) and AIMET.

For every model of `qopt.models` and every seed (the seed fixes the training
run and the train / val / test split), the trained model is exported to ONNX
(`export_onnx`), imported by qopt's ONNX frontend and prepared with
`nn-fold-batchnorm, nn-canonicalize`. Each row quantizes it to one weight
format with int8 activations:

    FP32 | W8A8 | W4A8 | pot3 | pot4 | spot2 | spot3 | ternary |
    mixed (<= 2.5 bits per weight) | binary (when qopt-quantize has it)

twice: **plain** (min-max calibration, nearest rounding) and **best**: a
small list of candidate pipelines per row (`candidates_for`: MSE
calibration, cross-layer equalization + bias correction, AdaRound, QAT
(`qopt-qat`, 10 epochs on the training split), SVA for spot,
mixed-precision options), the winner picked per seed by validation
accuracy (ties: the smaller cross-entropy against the labels on the
validation split, then the earlier candidate); the test split is never
used to choose. Every pipeline is a string `qopt-opt model.onnx
--pass-pipeline='...'` runs as is (`--verbose` prints them, the JSON keeps
them). Calibration, bias correction, AdaRound and the Hessian scores all use
the same 1,024 training-split inputs (`calib.npz`), and so do the peers
(`bench/peers.py`): ONNX Runtime `quantize_static` (W8A8), torch.ao FX PTQ
(W8A8) and AIMET (W8A8 and W4A8; in a separate venv via `--aimet-python`).

Metrics per row, over the seeds: test accuracy (mean ± population std),
its difference to the FP32 test accuracy (mean over seeds of the per-seed
difference), top-1 agreement with the float torch model on augmented test
inputs (`qopt.models.data.augmented`: `--augmented` inputs in all, split
evenly over the seeds), and for qopt the average storage bits per weight of
the quantized layers (`!q.mixed` maps excluded).

    python bench/accuracy.py                           # the full table
    python bench/accuracy.py --quick --models digits-lenet --rows w8a8,w4a8
    python bench/accuracy.py --markdown --json build/accuracy.json \\
        --aimet-python /path/to/aimet-venv/bin/python

Artefacts (ONNX, calibration and evaluation arrays) go to
`build/accuracy/<model>-seed<seed>/`; results are cached in
`build/accuracy/results/`, keyed by the sources of qopt and of these
scripts, so a rerun after a code change recomputes (`--no-cache`: always).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from string import Template

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))  # peers.py beside this file

import peers  # noqa: E402

MODELS = (
    "digits-mlp",
    "digits-lenet",
    "digits-resnet",
    "digits-transformer",
    "mnist1d-cnn",
)
PREP = "nn-fold-batchnorm, nn-canonicalize"
CALIB_SIZE = 1024
QAT_EPOCHS = 10
RUN_BATCH = 2048

# ---------------------------------------------------------------- pipelines

CALIBRATE = "qopt-calibrate{data=$calib}"
CALIBRATE_MSE = "qopt-calibrate{data=$calib method=mse}"
QUANTIZE = "qopt-quantize{weights=$w activations=int8}"
ADAROUND = "qopt-adaround{data=$calib weights=$w bias-correct=true iters=$iters}"
QAT = (
    "qopt-qat{data=$train labels=$labels weights=$w activations=int8 "
    f"epochs={QAT_EPOCHS} label-smoothing=$smoothing}}"
)


@dataclass(frozen=True)
class Candidate:
    """One qopt pipeline for a row. `passes` is a `string.Template` over
    $calib (calibration .npz), $train / $labels (the training split and its
    labels, .npz / .npy), $smoothing (the label smoothing the float model
    was trained with: QAT fine-tunes the same objective), $w (the row's
    weight format) and $iters (AdaRound steps per layer)."""

    label: str
    passes: str

    def pipeline(self, case: Case, weights: str, iters: int) -> str:
        """The full `--pass-pipeline` for the case's imported ONNX model."""
        from qopt.models.train import CONFIGS

        passes = Template(self.passes).substitute(
            calib=case.rel("calib.npz"),
            train=case.rel("train.npz"),
            labels=case.rel("labels.npy"),
            smoothing=CONFIGS[case.model].label_smoothing,
            w=weights,
            iters=iters,
        )
        return f"builtin.module({PREP}, {passes})"


@dataclass(frozen=True)
class Row:
    """A row of the table: a weight format with int8 activations."""

    key: str
    label: str
    weights: str  # qopt-quantize's `weights` ("" for FP32)
    peer_bits: int | None = None  # weight bits of the peers' version of it

    @property
    def is_float(self) -> bool:
        return not self.weights


ROWS = (
    Row("fp32", "FP32", ""),
    Row("w8a8", "W8A8", "int8", 8),
    Row("w4a8", "W4A8", "int4", 4),
    Row("pot3", "pot3 A8", "pot3"),
    Row("pot4", "pot4 A8", "pot4"),
    Row("spot2", "spot2 A8", "spot2"),
    Row("spot3", "spot3 A8", "spot3"),
    Row("ternary", "ternary A8", "ternary"),
    Row("mixed", "mixed ≤2.5b A8", "int2"),
    Row("binary", "binary A8", "binary"),
)
ROW_BY_KEY = {r.key: r for r in ROWS}


def candidates_for(row: Row) -> tuple[Candidate, ...]:
    """The pipelines tried for `row`; the first one is "plain"."""
    if row.key == "mixed":
        # int2 weights with the most sensitive units in int8, <= 2.5 bits per
        # weight; qopt-quantize takes each layer's recorded !q.mixed type
        def mixed(options: str) -> str:
            return f"qopt-mixed-precision{{avg-bits=2.5{options}}}"

        hessian = mixed(" granularity=outliers criterion=hessian data=$calib")
        # one budget for the whole model: the sensitive layers get more bits
        pooled = mixed(
            " granularity=outliers criterion=hessian budget=model data=$calib"
        )
        return (
            Candidate("plain", f"{mixed('')}, {CALIBRATE}, {QUANTIZE}"),
            Candidate(
                "row/hessian",
                f"{mixed(' criterion=hessian data=$calib')}, {CALIBRATE_MSE}, "
                f"{QUANTIZE}",
            ),
            Candidate(
                "outliers/magnitude",
                f"{mixed(' granularity=outliers')}, {CALIBRATE_MSE}, {QUANTIZE}",
            ),
            Candidate("outliers/hessian", f"{hessian}, {CALIBRATE_MSE}, {QUANTIZE}"),
            Candidate(
                "outliers/hessian+adaround",
                f"{hessian}, {CALIBRATE_MSE}, {ADAROUND}, {QUANTIZE}",
            ),
            Candidate(
                "outliers/hessian+qat", f"{hessian}, {CALIBRATE_MSE}, {QAT}, {QUANTIZE}"
            ),
            Candidate(
                "model-budget+adaround",
                f"{pooled}, {CALIBRATE_MSE}, {ADAROUND}, {QUANTIZE}",
            ),
        )
    found = [
        Candidate("plain", f"{CALIBRATE}, {QUANTIZE}"),
        Candidate("mse", f"{CALIBRATE_MSE}, {QUANTIZE}"),
        Candidate(
            "cle+bc",
            "qopt-equalize, qopt-bias-correct{data=$calib weights=$w}, "
            f"{CALIBRATE_MSE}, {QUANTIZE}",
        ),
        Candidate("adaround", f"{CALIBRATE_MSE}, {ADAROUND}, {QUANTIZE}"),
        Candidate("qat", f"{CALIBRATE_MSE}, {QAT}, {QUANTIZE}"),
    ]
    if row.weights.startswith("spot"):
        terms = row.weights[4:]
        found.append(
            Candidate("sva", f"qopt-sva{{terms={terms}}}, {CALIBRATE_MSE}, {QUANTIZE}")
        )
    return tuple(found)


def weight_format_problem(name: str) -> str | None:
    """Why qopt-quantize rejects weights=`name` (None if it takes it)."""
    from qopt.passes.quant_formats import parse_weight_format

    try:
        parse_weight_format(name)
    except ValueError as e:
        return str(e)
    return None


# -------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """One model trained with one seed, and its files under `dir`."""

    model: str
    seed: int
    dir: Path

    def rel(self, name: str) -> str:
        """Path of file `name`, relative to the working directory if inside it
        (so that the pipelines read well and run from there)."""
        path = (self.dir / name).resolve()
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            return str(path)

    @property
    def onnx(self) -> Path:
        return self.dir / "model.onnx"

    @property
    def weights(self) -> Path:
        """The trained state dict (qopt.models' cache file)."""
        return Path((self.dir / "weights.txt").read_text().strip())

    def data(self) -> dict[str, np.ndarray]:
        with np.load(self.dir / "eval.npz") as f:
            return dict(f)


def prepare(model: str, seed: int, n_aug: int, root: Path) -> Case:
    """Train (or load) `model` for `seed` and write its ONNX, calibration set,
    training split, and evaluation arrays (val, test, augmented test inputs,
    with the float torch model's logits) under root/<model>-seed<seed>/."""
    from qopt.models.data import augmented, load_dataset
    from qopt.models.train import (
        cache_path,
        dataset_of,
        export_onnx,
        get_trained,
        predict,
        write_calibration,
    )

    case = Case(model, seed, root / f"{model}-seed{seed}")
    case.dir.mkdir(parents=True, exist_ok=True)
    trained = get_trained(model, seed)
    (case.dir / "weights.txt").write_text(f"{cache_path(model, seed).resolve()}\n")
    export_onnx(trained.model, case.onnx)
    write_calibration(case.dir / "calib.npz", CALIB_SIZE, model, seed)
    split = load_dataset(dataset_of(model), seed)
    np.savez(case.dir / "train.npz", input=split.x_train)
    np.save(case.dir / "labels.npy", split.y_train)
    x_aug = augmented(split.x_test, seed, n_aug)
    np.savez(
        case.dir / "eval.npz",
        x_val=split.x_val,
        y_val=split.y_val,
        x_test=split.x_test,
        y_test=split.y_test,
        x_aug=x_aug,
        f_val=predict(trained.model, split.x_val),
        f_test=predict(trained.model, split.x_test),
        f_aug=predict(trained.model, x_aug),
    )
    return case


# ------------------------------------------------------------------ metrics


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy (natural log) of softmax(`logits`) against `labels`."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


def val_scores(data: dict[str, np.ndarray], val) -> dict[str, float]:
    """Accuracy and cross-entropy on val (the choice and its tie-break), and
    the mean squared logit error to the float model there."""
    return {
        "val_acc": float((val.argmax(1) == data["y_val"]).mean()),
        "val_loss": cross_entropy(val, data["y_val"]),
        "val_mse": float(((val - data["f_val"]) ** 2).mean()),
    }


def scores(data: dict[str, np.ndarray], val, test, aug_top1) -> dict[str, float]:
    """`val_scores`, accuracy on test, top-1 agreement with the float model
    on the augmented set."""
    return {
        **val_scores(data, val),
        "test_acc": float((test.argmax(1) == data["y_test"]).mean()),
        "agreement": float((aug_top1 == data["f_aug"].argmax(1)).mean()),
    }


def pick_best(candidates: Sequence[dict]) -> dict | None:
    """The candidate with the best validation accuracy; ties: the smaller
    validation cross-entropy, then the earlier one. None if all failed.

    The digits validation split holds 180 images, so candidates often tie on
    accuracy; the cross-entropy against the labels still tells them apart and,
    unlike a distance to the float model's logits, does not penalise a
    candidate (QAT) for being better than the float model."""
    ok = [c for c in candidates if "error" not in c]
    if not ok:
        return None
    return min(ok, key=lambda c: (-c["val_acc"], c["val_loss"]))


# --------------------------------------------------------------------- qopt


@functools.cache
def _context():
    from xdsl.context import Context

    from qopt.tools.qopt_opt import all_dialects

    ctx = Context()
    for name, factory in all_dialects().items():
        ctx.register_dialect(name, factory)
    return ctx


def apply_pipeline(module, text: str) -> None:
    from qopt.tools.pipeline import build_pipeline
    from qopt.tools.qopt_opt import all_passes

    build_pipeline(text, all_passes()).apply(_context(), module)


def run_module(module, x: np.ndarray) -> np.ndarray:
    """Logits of the module's function on `x`, RUN_BATCH samples at a time."""
    from qopt.backends.reference.runner import run_function

    return np.concatenate(
        [
            run_function(module, [x[i : i + RUN_BATCH]])[0]
            for i in range(0, len(x), RUN_BATCH)
        ]
    ).astype(np.float32)


def weight_bits(module) -> tuple[float | None, int]:
    """Average storage bits per weight over the integer conv/matmul layers
    (None if there are none) and the number of weight layers left float."""
    from xdsl.ir import OpResult

    from qopt.qdialect import nn, q

    bits = count = float_layers = 0
    for op in module.walk():
        if isinstance(op, q.Conv2dOp | q.MatmulOp):
            w = op.operands[1]
            if isinstance(w, OpResult) and isinstance(w.op, q.ConstantOp):
                shape = w.type.get_shape()
                bits += q.qtype_of(w).storage_bits(shape)
                count += math.prod(shape)
        elif isinstance(op, nn.Conv2dOp | nn.GemmOp | nn.MatMulOp):
            w = op.operands[1]
            float_layers += isinstance(w, OpResult) and isinstance(w.op, nn.ConstantOp)
    return (bits / count if count else None), float_layers


def qopt_case(case: Case, rows: Sequence[Row], iters: int) -> list[dict]:
    """qopt's records of one case: FP32, and plain + best of every row."""
    from qopt.frontends.onnx import import_onnx

    def imported(pipeline: str):
        module = import_onnx(str(case.onnx))
        apply_pipeline(module, pipeline)
        return module

    data = case.data()
    base = imported(f"builtin.module({PREP})")
    common = {"model": case.model, "seed": case.seed, "tool": "qopt"}
    records = [
        {
            **common,
            "row": "fp32",
            "method": "qopt nn (float)",
            "pipeline": f"builtin.module({PREP})",
            **scores(
                data,
                run_module(base, data["x_val"]),
                run_module(base, data["x_test"]),
                run_module(base, data["x_aug"]).argmax(1),
            ),
        }
    ]
    for row in rows:
        if row.is_float:
            continue
        tried = []
        modules = {}
        for cand in candidates_for(row):
            pipeline = cand.pipeline(case, row.weights, iters)
            entry = {"label": cand.label, "pipeline": pipeline}
            start = time.perf_counter()
            try:
                module = imported(pipeline)
                val = run_module(module, data["x_val"])
            except Exception as e:  # a failing pass is reported, not fatal
                entry["error"] = peers.one_line(e)
            else:
                entry.update(val_scores(data, val))
                modules[cand.label] = (module, val)
            entry["seconds"] = time.perf_counter() - start
            tried.append(entry)
        best = pick_best(tried)
        for method, chosen in (("plain", tried[0]), ("best", best)):
            record = {**common, "row": row.key, "method": f"qopt {method}"}
            record["candidates"] = tried
            if chosen is None or "error" in chosen:
                reason = chosen["error"] if chosen else "every candidate failed"
                records.append({**record, "error": reason})
                continue
            module, val = modules[chosen["label"]]
            bits, float_layers = weight_bits(module)
            records.append(
                {
                    **record,
                    "algorithm": chosen["label"],
                    "pipeline": chosen["pipeline"],
                    "weight_bits": bits,
                    "float_layers": float_layers,
                    **scores(
                        data,
                        val,
                        run_module(module, data["x_test"]),
                        run_module(module, data["x_aug"]).argmax(1),
                    ),
                }
            )
    return records


# -------------------------------------------------------------------- peers


def peer_case(case: Case, rows: Sequence[Row]) -> list[dict]:
    """ONNX Runtime (three calibration methods) and torch.ao at W8A8."""
    import torch

    from qopt.models.train import build_model

    if not any(r.peer_bits == 8 for r in rows):
        return []
    data = case.data()
    calib = np.load(case.dir / "calib.npz")["input"]
    common = {"model": case.model, "seed": case.seed, "row": "w8a8"}
    records = []

    def evaluate(tool: str, method: str, make) -> None:
        try:
            predict, note = make()
            found = {
                "tool": tool,
                "method": method,
                **scores(
                    data,
                    predict(data["x_val"]),
                    predict(data["x_test"]),
                    predict(data["x_aug"]).argmax(1),
                ),
            }
            if note:
                found["note"] = note
        except Exception as e:  # a peer that fails on a model gets n/a
            found = {"tool": tool, "method": method, "error": peers.one_line(e)}
        records.append({**common, **found})

    for method in peers.ORT_METHODS:
        evaluate(
            "onnxruntime",
            f"ORT {method}",
            lambda m=method: (peers.ort_quantize(case.onnx, calib, m), ""),
        )
    model = build_model(case.model)
    model.load_state_dict(torch.load(case.weights, weights_only=True)["state_dict"])
    evaluate("torch.ao", "torch.ao x86", lambda: peers.torch_ao_quantize(model, calib))
    return records


def aimet_records(case: Case, rows: Sequence[Row], out: dict) -> list[dict]:
    """ "AIMET plain" and "AIMET best" records of one case from the arrays of
    `peers.run_aimet`."""
    data = case.data()
    records = []
    for row in rows:
        if row.peer_bits is None:
            continue
        tried = []
        for algo in peers.AIMET_CANDIDATES:
            key = f"{case.model}/{case.seed}/{row.peer_bits}/{algo}"
            if f"{key}/error" in out:
                tried.append({"label": algo, "error": str(out[f"{key}/error"])})
                continue
            tried.append(
                {
                    "label": algo,
                    **scores(
                        data, out[f"{key}/val"], out[f"{key}/test"], out[f"{key}/aug"]
                    ),
                }
            )
        common = {"model": case.model, "seed": case.seed, "row": row.key}
        for method, chosen in (("plain", tried[0]), ("best", pick_best(tried))):
            record = {**common, "tool": "aimet", "method": f"AIMET {method}"}
            record["candidates"] = [
                {k: c[k] for k in ("label", "val_acc", "error") if k in c}
                for c in tried
            ]
            if chosen is None or "error" in chosen:
                reason = chosen["error"] if chosen else "every candidate failed"
                records.append({**record, "error": reason})
            else:
                records.append({**record, **chosen, "algorithm": chosen["label"]})
    return records


class AimetPeer:
    """AIMET on every case: from the result cache; else in this interpreter
    when aimet_torch imports (in `finish`); else with `python` (another
    venv's interpreter), started in the background by `start` so that it runs
    beside qopt's tasks. `finish` returns the records, or a reason why AIMET
    did not run."""

    def __init__(self, cases: Sequence[Case], cfg: Config):
        self.cases = cases
        self.rows = cfg.rows
        self.python = cfg.aimet_python
        self.log = cfg.root / "aimet.log"
        bits = sorted({r.peer_bits for r in cfg.rows if r.peer_bits}, reverse=True)
        self.job = {
            "cases": [
                {
                    "model": c.model,
                    "seed": c.seed,
                    "weights": str(c.weights),
                    "eval": str(c.dir / "eval.npz"),
                    "calib": str(c.dir / "calib.npz"),
                }
                for c in cases
            ],
            "bits": bits,
            "iters": cfg.iters,
        }
        key = task_key(
            {**self.job, "python": self.python, "n": len(cases[0].data()["x_aug"])},
            "peers",
        )
        self.cache = cfg.root / "results" / f"aimet-{key}.json" if cfg.cache else None
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        if not self.job["bits"] or (self.cache and self.cache.exists()):
            return
        if peers.aimet_missing() is None or self.python is None:
            return
        job_path = self.log.with_suffix(".json")
        job_path.write_text(json.dumps(self.job))
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [
                    self.python,
                    str(HERE / "peers.py"),
                    "aimet",
                    str(job_path),
                    str(self.log.with_suffix(".npz")),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )

    def finish(self) -> tuple[list[dict], str | None]:
        if not self.job["bits"]:
            return [], None
        if self.cache and self.cache.exists():
            return json.loads(self.cache.read_text()), None
        if self.process is not None:
            code = self.process.wait()
            if code != 0:
                lines = self.log.read_text().strip().splitlines()[-1:] or ["no output"]
                return [], f"{self.python} exited with {code}: {lines[0][:200]}"
            with np.load(self.log.with_suffix(".npz")) as f:
                out = dict(f)
        elif peers.aimet_missing() is None:
            out = peers.run_aimet(self.job)
        else:
            return [], (
                f"aimet_torch does not import here ({peers.aimet_missing()}); "
                "install the `aimet` extra in a separate venv, pass --aimet-python"
            )
        records = [r for c in self.cases for r in aimet_records(c, self.rows, out)]
        if self.cache is not None:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            self.cache.write_text(json.dumps(records))
        return records, None


# -------------------------------------------------------------------- tasks


SOURCES = {
    "qopt": ("passes", "qdialect", "backends", "frontends", "models", "tools"),
    "peers": ("models",),
}
VERSIONS = {
    "qopt": ("xdsl", "numpy", "torch", "onnx"),
    "peers": ("numpy", "torch", "onnx", "onnxruntime"),
}


@functools.cache
def code_digest(kind: str) -> str:
    """Hash of what decides the results of `kind` ("qopt", "peers"): the
    sources of qopt (or only of its models for the peers), these scripts, and
    the versions of the libraries."""
    h = hashlib.sha256()
    for folder in SOURCES[kind]:
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix in (".py", ".lark"):
                h.update(path.relative_to(REPO).as_posix().encode())
                h.update(path.read_bytes())
    for path in (HERE / "accuracy.py", HERE / "peers.py"):
        h.update(path.read_bytes())
    for package in VERSIONS[kind]:
        try:
            h.update(f"{package}={version(package)}".encode())
        except PackageNotFoundError:
            h.update(f"{package}=-".encode())
    return h.hexdigest()[:16]


def task_key(spec: dict, kind: str) -> str:
    text = json.dumps({**spec, "code": code_digest(kind)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_task(spec: dict) -> list[dict]:
    """One part ("qopt" or "peers") of one case, from the result cache when it
    holds it (`spec["cache"]` a folder, or None)."""
    import torch

    torch.set_num_threads(1)
    case = Case(spec["model"], spec["seed"], Path(spec["dir"]))
    rows = [ROW_BY_KEY[k] for k in spec["rows"]]
    cache = Path(spec["cache"]) if spec["cache"] else None
    key_spec = {k: v for k, v in spec.items() if k not in ("cache", "dir")}
    path = None
    if cache is not None:
        key = task_key(key_spec, spec["part"])
        path = cache / f"{case.model}-seed{case.seed}-{spec['part']}-{key}.json"
        if path.exists():
            return json.loads(path.read_text())
    if spec["part"] == "qopt":
        records = qopt_case(case, rows, spec["iters"])
    else:
        records = peer_case(case, rows)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(records))
    return records


def run_tasks(specs: Sequence[dict], jobs: int) -> list[dict]:
    """Every task, `jobs` processes at a time, with a progress bar on a
    terminal."""
    from tqdm import tqdm

    bar = tqdm(
        total=len(specs),
        desc="accuracy",
        unit="task",
        disable=not sys.stderr.isatty(),
    )
    records: list[dict] = []
    if jobs <= 1:
        for spec in specs:
            bar.set_postfix_str(f"{spec['model']} seed {spec['seed']} {spec['part']}")
            records += run_task(spec)
            bar.update()
    else:
        import multiprocessing

        with ProcessPoolExecutor(
            jobs, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            futures = [pool.submit(run_task, s) for s in specs]
            for future in as_completed(futures):
                records += future.result()
                bar.update()
    bar.close()
    return records


# -------------------------------------------------------------- aggregation

METHOD_ORDER = (
    "qopt nn (float)",
    "qopt plain",
    "qopt best",
    "ORT MinMax",
    "ORT Entropy",
    "ORT Percentile",
    "torch.ao x86",
    "AIMET plain",
    "AIMET best",
)


def _mean(values: Iterable[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def aggregate(records: Sequence[dict]) -> list[dict]:
    """One row per (model, table row, method): metrics over the seeds."""
    fp32 = {
        (r["model"], r["seed"]): r["test_acc"]
        for r in records
        if r["row"] == "fp32" and "error" not in r
    }
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["model"], r["row"], r["method"])].append(r)
    row_index = {r.key: i for i, r in enumerate(ROWS)}
    out = []
    for (model, row, method), group in sorted(
        groups.items(),
        key=lambda kv: (
            MODELS.index(kv[0][0]) if kv[0][0] in MODELS else len(MODELS),
            kv[0][0],
            row_index[kv[0][1]],
            METHOD_ORDER.index(kv[0][2]) if kv[0][2] in METHOD_ORDER else 99,
        ),
    ):
        group = sorted(group, key=lambda r: r["seed"])
        ok = [r for r in group if "error" not in r]
        errors = sorted({r["error"] for r in group if "error" in r})
        test = [r["test_acc"] for r in ok]
        agg = {
            "model": model,
            "row": row,
            "weights": ROW_BY_KEY[row].weights or "float",
            "activations": "float" if row == "fp32" else "int8",
            "method": method,
            "tool": group[0]["tool"],
            "seeds": [r["seed"] for r in ok],
            "failed_seeds": [r["seed"] for r in group if "error" in r],
            "errors": errors,
            "test_acc": test,
            "val_acc": [r["val_acc"] for r in ok],
            "agreement": [r["agreement"] for r in ok],
            "test_acc_mean": _mean(test),
            "test_acc_std": float(np.std(test)) if test else None,
            "delta_vs_fp32": _mean(
                r["test_acc"] - fp32[(model, r["seed"])]
                for r in ok
                if (model, r["seed"]) in fp32
            ),
            "agreement_mean": _mean(r["agreement"] for r in ok),
            "weight_bits": _mean(r.get("weight_bits") for r in ok),
            "algorithms": dict(Counter(r["algorithm"] for r in ok if "algorithm" in r)),
            "pipelines": {str(r["seed"]): r["pipeline"] for r in ok if "pipeline" in r},
            "notes": sorted({r["note"] for r in ok if r.get("note")}),
            "failed_candidates": {
                c["label"]: c["error"]
                for r in group
                for c in r.get("candidates", ())
                if "error" in c
            },
            "candidates": {
                str(r["seed"]): r["candidates"] for r in group if "candidates" in r
            },
        }
        agg["status"] = "ok" if ok else f"n/a ({'; '.join(errors)})"
        out.append(agg)
    return out


def not_run_rows(models: Sequence[str], rows: Sequence[Row], reason: str) -> list[dict]:
    """Rows saying that AIMET did not run, and why."""
    return [
        {
            "model": m,
            "row": r.key,
            "weights": r.weights,
            "activations": "int8",
            "method": "AIMET",
            "tool": "aimet",
            "status": f"not run ({reason})",
        }
        for m in models
        for r in rows
        if r.peer_bits is not None
    ]


# -------------------------------------------------------------------- table

HEADER = (
    "model",
    "row",
    "method",
    "test acc %",
    "Δ vs FP32",
    "agreement %",
    "W bits",
    "chosen on val",
)


def _pct(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "-"
    v = round(100 * v, 2) + 0.0  # no "-0.00"
    return f"{v:+.2f}" if signed else f"{v:.2f}"


def _cells(a: dict) -> list[str]:
    row = ROW_BY_KEY[a["row"]].label
    if a["status"] != "ok":
        return [a["model"], row, a["method"], a["status"], "", "", "", ""]
    acc = f"{_pct(a['test_acc_mean'])} ± {_pct(a['test_acc_std'])}"
    if a["failed_seeds"]:
        acc += f" ({len(a['seeds'])} seeds; failed: {'; '.join(a['errors'])})"
    chosen = ", ".join(
        f"{k} x{n}" for k, n in sorted(a["algorithms"].items(), key=lambda kv: -kv[1])
    )
    if a["method"].endswith("plain"):
        chosen = ""
    notes = list(a["notes"])
    if a["method"].endswith("best"):
        notes += [
            f"{label} failed: {error[:60]}"
            for label, error in a["failed_candidates"].items()
        ]
    if notes:
        chosen = "; ".join([*([chosen] if chosen else []), *notes])
    bits = a.get("weight_bits")
    return [
        a["model"],
        row,
        a["method"],
        acc,
        "" if a["row"] == "fp32" else _pct(a["delta_vs_fp32"], signed=True),
        _pct(a["agreement_mean"]),
        "" if bits is None else f"{bits:.2f}",
        chosen,
    ]


def format_table(cells: list[list[str]], header: Sequence[str], markdown: bool) -> str:
    cells = [list(header), *cells]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = []
    for k, row in enumerate(cells):
        padded = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        if markdown:
            lines.append("| " + " | ".join(padded) + " |")
            if k == 0:
                lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        else:
            lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def table(rows: Sequence[dict], markdown: bool) -> str:
    return format_table([_cells(a) for a in rows], HEADER, markdown)


def summary(rows: Sequence[dict], markdown: bool) -> str:
    """Acceptance view: per row, qopt's mean test accuracy and its difference
    to FP32 for each model (plain and best)."""
    models = [m for m in MODELS if any(a["model"] == m for a in rows)]
    by_key = {(a["model"], a["row"], a["method"]): a for a in rows}
    cells = []
    for row in ROWS:
        for method in ("qopt nn (float)", "qopt plain", "qopt best"):
            found = [by_key.get((m, row.key, method)) for m in models]
            if not any(found):
                continue
            line = [row.label, method.removeprefix("qopt ")]
            for a in found:
                if a is None or a["status"] != "ok":
                    line.append("n/a" if a else "")
                elif row.is_float:
                    line.append(_pct(a["test_acc_mean"]))
                else:
                    d = _pct(a["delta_vs_fp32"], signed=True)
                    line.append(f"{_pct(a['test_acc_mean'])} ({d})")
            cells.append(line)
    return format_table(cells, ["row", "method", *models], markdown)


# --------------------------------------------------------------------- main


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part[1:]:
            lo, hi = part.split("-", 1)
            seeds.extend(range(int(lo), int(hi) + 1))
        elif part:
            seeds.append(int(part))
    return seeds


@dataclass
class Config:
    """What to run (the command-line options)."""

    models: list[str]
    seeds: list[int]
    rows: list[Row]
    augmented: int = 10_000
    iters: int = 1000
    jobs: int = 2
    peers: tuple[str, ...] = ("ort", "torch", "aimet")
    aimet_python: str | None = None
    root: Path = Path("build") / "accuracy"
    cache: bool = True


def benchmark(cfg: Config) -> list[dict]:
    """Run everything `cfg` asks for: the aggregated rows."""
    n_aug = max(1, math.ceil(cfg.augmented / len(cfg.seeds)))
    cases = [prepare(m, s, n_aug, cfg.root) for m in cfg.models for s in cfg.seeds]
    row_keys = [r.key for r in cfg.rows]
    base = {"rows": row_keys, "augmented": n_aug, "iters": cfg.iters}
    cache = str(cfg.root / "results") if cfg.cache else None
    specs = [
        {**base, "model": c.model, "seed": c.seed, "dir": str(c.dir), "cache": cache}
        for c in cases
    ]
    tasks = [{**s, "part": "qopt"} for s in specs]
    if {"ort", "torch"} & set(cfg.peers):
        tasks += [{**s, "part": "peers"} for s in specs]
    aimet = AimetPeer(cases, cfg) if "aimet" in cfg.peers else None
    if aimet is not None:
        aimet.start()
    records = run_tasks(tasks, cfg.jobs)
    records = [
        r
        for r in records
        if r.get("tool") != "onnxruntime" or "ort" in cfg.peers
        if r.get("tool") != "torch.ao" or "torch" in cfg.peers
    ]
    extra = []
    if aimet is not None:
        found, reason = aimet.finish()
        records += found
        if reason is not None:
            extra = not_run_rows(cfg.models, cfg.rows, reason)
    return aggregate(records) + extra


def print_report(report: dict, markdown: bool, verbose: bool) -> None:
    """The tables (and with `verbose` every pipeline) of a run's report."""
    print(
        f"seeds {','.join(map(str, report['seeds']))}; test acc mean ± std over "
        f"seeds; agreement with the float model on {report['augmented']} "
        f"augmented test inputs; AdaRound {report['iters']} steps per layer; "
        f"{report['seconds']:.0f} s"
    )
    for key, problem in report["skipped_rows"].items():
        print(f"row {key}: not run ({problem})")
    rows = report["rows"]
    print(table(rows, markdown))
    print()
    print(summary(rows, markdown))
    if verbose:
        print()
        for a in rows:
            for seed, pipe in a.get("pipelines", {}).items():
                print(f"{a['model']} seed {seed} {a['row']} {a['method']}: {pipe}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    p.add_argument("--seeds", default="0-4", help="0-4 or 0,2 (default 0-4)")
    p.add_argument(
        "--rows",
        default=",".join(r.key for r in ROWS),
        help=f"comma-separated, of {','.join(ROW_BY_KEY)} (FP32 is always run)",
    )
    p.add_argument("--quick", action="store_true", help="one seed (the first)")
    p.add_argument(
        "--augmented",
        type=int,
        default=10_000,
        help="augmented inputs in all, split over the seeds (default 10000)",
    )
    p.add_argument(
        "--iters",
        type=int,
        default=1000,
        help="AdaRound steps per layer, for qopt and AIMET alike (default 1000)",
    )
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument(
        "--peers", default="ort,torch,aimet", help="of ort,torch,aimet ('' for none)"
    )
    p.add_argument(
        "--aimet-python",
        default=os.environ.get("QOPT_AIMET_PYTHON"),
        help="python of a venv with aimet-torch (default $QOPT_AIMET_PYTHON)",
    )
    p.add_argument("--out", type=Path, default=Path("build") / "accuracy")
    p.add_argument("--no-cache", action="store_true", help="recompute every result")
    p.add_argument("--json", type=Path, help="write the rows as JSON to this file")
    p.add_argument(
        "--from-json",
        type=Path,
        help="print the tables of a --json file instead of running",
    )
    p.add_argument("--markdown", action="store_true", help="Markdown tables")
    p.add_argument(
        "--verbose", action="store_true", help="print every pipeline after the table"
    )
    args = p.parse_args(argv)
    if args.from_json:
        print_report(
            json.loads(args.from_json.read_text()), args.markdown, args.verbose
        )
        return 0

    models = [m for m in args.models.split(",") if m]
    unknown = [m for m in models if m not in MODELS]
    keys = [k for k in args.rows.split(",") if k]
    unknown += [k for k in keys if k not in ROW_BY_KEY]
    if unknown:
        p.error(f"unknown model or row: {', '.join(unknown)}")
    try:
        seeds = parse_seeds(args.seeds)
    except ValueError:
        seeds = []
    if not seeds:
        p.error(f"--seeds takes 0-4 or 0,2, got '{args.seeds}'")
    if args.quick:
        seeds = seeds[:1]
    rows = [ROW_BY_KEY["fp32"]] + [ROW_BY_KEY[k] for k in keys if k != "fp32"]
    skipped = {}
    for row in rows:
        if not row.is_float and (problem := weight_format_problem(row.weights)):
            skipped[row.key] = problem
    rows = [r for r in rows if r.key not in skipped]
    cfg = Config(
        models=models,
        seeds=seeds,
        rows=rows,
        augmented=args.augmented,
        iters=args.iters,
        jobs=max(1, args.jobs),
        peers=tuple(x for x in args.peers.split(",") if x),
        aimet_python=args.aimet_python,
        root=args.out,
        cache=not args.no_cache,
    )
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # for the worker processes
    start = time.perf_counter()
    result = benchmark(cfg)
    seconds = time.perf_counter() - start

    n_aug = math.ceil(cfg.augmented / len(seeds)) * len(seeds)
    report = {
        "seeds": seeds,
        "augmented": n_aug,
        "iters": cfg.iters,
        "skipped_rows": skipped,
        "seconds": seconds,
        "rows": result,
    }
    print_report(report, args.markdown, args.verbose)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
