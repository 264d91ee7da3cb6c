"""Deterministic training, caching and ONNX export of the reference models.

- `train(name, seed, epochs=None)` trains one model of `qopt.models.zoo.ZOO`
  from scratch and returns a `TrainResult` (the model in eval mode and its
  train / val / test accuracy). Same name, seed and epochs -> bit-identical
  weights on a given machine: the seed fixes the initialisation, the data
  split, the batch order and the augmentation; torch runs with one thread
  and deterministic algorithms, and the caller's RNG state is left as it was.
- `get_model(name, seed)` returns the trained model from the cache folder
  (`$QOPT_CACHE`, default `build/models/`), training and storing it on a miss.
  The cache key hashes the hyper-parameters, the source of this package and
  the versions of torch and the data packages, so any change retrains.
- `export_onnx(model, path)` writes opset-17 ONNX (TorchScript exporter, batch
  norm folded unless `keep_batchnorm=True`) with input `input` and output
  `output`, batch dimension dynamic.
- `write_calibration(path, n, dataset, seed)` writes `n` training inputs as an
  .npz holding one array `input` (what `qopt-run --input` and the calibration
  passes read).

CLI::

    python -m qopt.models.train --model digits-lenet --seed 0 --out build/models/
    python -m qopt.models.train --all --seeds 0,1,2,3,4     # accuracy table
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import hashlib
import inspect
import io
import json
import os
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from qopt.models import data, zoo
from qopt.models.data import Split, load_dataset, shift
from qopt.models.zoo import ZOO

DEFAULT_CACHE = Path("build") / "models"
THREADS = 1


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one model: Adam with a one-cycle learning rate,
    cross-entropy (optionally label-smoothed), random shifts of up to `shift`
    pixels of the training inputs each epoch."""

    epochs: int
    lr: float = 3e-3
    batch_size: int = 64
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    shift: int = 0
    model_args: dict[str, Any] = field(default_factory=dict)


CONFIGS: dict[str, TrainConfig] = {
    "digits-mlp": TrainConfig(
        epochs=60, lr=3e-3, weight_decay=1e-4, label_smoothing=0.1
    ),
    "digits-lenet": TrainConfig(epochs=100, lr=5e-3, shift=1),
    "digits-resnet": TrainConfig(epochs=60, lr=5e-3, shift=1),
    "digits-transformer": TrainConfig(epochs=100, lr=3e-3, shift=1),
    "mnist1d-cnn": TrainConfig(epochs=60, lr=5e-3, shift=1, label_smoothing=0.1),
}


@dataclass
class TrainResult:
    """A trained model (eval mode) and how it did."""

    name: str
    seed: int
    model: nn.Module
    epochs: int
    train_acc: float
    val_acc: float
    test_acc: float
    seconds: float  # training time, data loading excluded
    cached: bool = False

    def metrics(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "seed": self.seed,
            "epochs": self.epochs,
            "train_acc": self.train_acc,
            "val_acc": self.val_acc,
            "test_acc": self.test_acc,
            "seconds": self.seconds,
        }


def _check_name(name: str) -> None:
    if name not in ZOO:
        raise ValueError(f"unknown model '{name}' (known: {', '.join(ZOO)})")


def build_model(name: str) -> nn.Module:
    """An untrained model of the zoo (initialised from torch's global RNG)."""
    _check_name(name)
    return ZOO[name](**CONFIGS[name].model_args)


def dataset_of(name: str) -> str:
    _check_name(name)
    return ZOO[name].dataset  # type: ignore[attr-defined]


@contextlib.contextmanager
def deterministic(seed: int, threads: int = THREADS) -> Iterator[None]:
    """Seeded torch RNG, fixed thread count and deterministic algorithms,
    all restored on exit."""
    prev_threads = torch.get_num_threads()
    prev_det = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(prev_det)
            torch.set_num_threads(prev_threads)


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
    """Logits of `model` (eval mode) on float32 inputs `x`, as numpy."""
    model.eval()
    outs = [
        model(torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size]))).numpy()
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(outs) if outs else np.zeros((0, 10), np.float32)


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of `model` on (x, y)."""
    return float((predict(model, x).argmax(axis=1) == y).mean())


def _fit(
    model: nn.Module, split: Split, cfg: TrainConfig, epochs: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x_train, y_train = split.train
    n = len(x_train)
    batches = n // cfg.batch_size  # drop the last partial batch (BatchNorm)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=max(1, epochs * batches)
    )
    y_all = torch.from_numpy(y_train)
    for _ in range(epochs):
        x = x_train
        if cfg.shift:
            spatial = x.ndim - 2
            x = shift(x, rng.integers(-cfg.shift, cfg.shift + 1, size=(n, spatial)))
        x_all = torch.from_numpy(x)
        order = torch.from_numpy(rng.permutation(n))
        model.train()
        for b in range(batches):
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            loss = F.cross_entropy(
                model(x_all[idx]), y_all[idx], label_smoothing=cfg.label_smoothing
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()


def train(name: str, seed: int = 0, epochs: int | None = None) -> TrainResult:
    """Train model `name` of the zoo from scratch with `seed` (deterministic);
    `epochs` overrides the configured number (tests use a few)."""
    _check_name(name)
    cfg = CONFIGS[name]
    epochs = cfg.epochs if epochs is None else epochs
    split = load_dataset(dataset_of(name), seed)
    with deterministic(seed):
        start = time.perf_counter()
        model = build_model(name)
        _fit(model, split, cfg, epochs, seed)
        seconds = time.perf_counter() - start
        return TrainResult(
            name=name,
            seed=seed,
            model=model,
            epochs=epochs,
            train_acc=accuracy(model, *split.train),
            val_acc=accuracy(model, *split.val),
            test_acc=accuracy(model, *split.test),
            seconds=seconds,
        )


# ------------------------------------------------------------------ cache

# (bound here, so that the key does not change when a test replaces `train`)
_TRAINING_CODE = (deterministic, build_model, _fit, train, accuracy, predict)


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "-"


def cache_key(name: str, epochs: int | None = None) -> str:
    """12 hex digits identifying what training `name` would produce."""
    _check_name(name)
    cfg = CONFIGS[name]
    if epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=epochs)
    h = hashlib.sha256()
    h.update(json.dumps([name, dataclasses.asdict(cfg), THREADS]).encode())
    for package in ("torch", "numpy", "scikit-learn", "mnist1d"):
        h.update(f"{package}={_version(package)};".encode())
    h.update(_code_digest().encode())
    return h.hexdigest()[:12]


@functools.cache
def _code_digest() -> str:
    """Hash of the code that decides the trained weights: the models and the
    data modules whole, and of this module what training runs."""
    h = hashlib.sha256()
    for module in (zoo, data):
        h.update(inspect.getsource(module).encode())
    for function in _TRAINING_CODE:
        h.update(inspect.getsource(function).encode())
    return h.hexdigest()


def cache_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """`path`, else $QOPT_CACHE, else build/models (relative to the cwd)."""
    if path is not None:
        return Path(path)
    env = os.environ.get("QOPT_CACHE")
    return Path(env) if env else DEFAULT_CACHE


def cache_path(
    name: str,
    seed: int,
    epochs: int | None = None,
    cache: str | os.PathLike[str] | None = None,
) -> Path:
    return cache_dir(cache) / f"{name}-seed{seed}-{cache_key(name, epochs)}.pt"


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def get_trained(
    name: str,
    seed: int = 0,
    *,
    epochs: int | None = None,
    cache: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Like `train`, but from the cache when it holds this model (then
    `cached` is True and `seconds` is the original training time)."""
    path = cache_path(name, seed, epochs, cache)
    if path.exists():
        stored = torch.load(path, weights_only=True)
        model = build_model(name)
        model.load_state_dict(stored["state_dict"])
        model.eval()
        m = stored["metrics"]
        return TrainResult(
            name=name,
            seed=seed,
            model=model,
            epochs=int(m["epochs"]),
            train_acc=float(m["train_acc"]),
            val_acc=float(m["val_acc"]),
            test_acc=float(m["test_acc"]),
            seconds=float(m["seconds"]),
            cached=True,
        )
    result = train(name, seed, epochs)
    buffer = io.BytesIO()
    torch.save(
        {"state_dict": result.model.state_dict(), "metrics": result.metrics()}, buffer
    )
    _write_atomically(path, buffer.getvalue())
    return result


def get_model(
    name: str,
    seed: int = 0,
    *,
    epochs: int | None = None,
    cache: str | os.PathLike[str] | None = None,
) -> nn.Module:
    """The trained model `name` for `seed` (eval mode), from the cache or
    trained and cached on a miss."""
    return get_trained(name, seed, epochs=epochs, cache=cache).model


# ------------------------------------------------------------------ export


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    dynamic_batch: bool = True,
    *,
    example: torch.Tensor | None = None,
    keep_batchnorm: bool = False,
) -> Path:
    """Write `model` (put in eval mode) as opset-17 ONNX at `path`: input
    `input`, output `output`, batch dimension `batch` dynamic unless
    `dynamic_batch` is False (then the batch is that of `example`, default 1).

    By default the exporter folds each BatchNorm into the convolution before
    it. `keep_batchnorm=True` keeps them as `BatchNormalization` nodes
    (inference mode, running statistics), so that `nn-fold-batchnorm` folds
    them itself and records their `q.bn_stats` for data-free quantization:
    the export then uses `TrainingMode.PRESERVE`, which traces the model in
    the eval mode it is in but skips the exporter's eval-only Conv+BN fusion
    (`_jit_pass_onnx_eval_peephole`)."""
    path = Path(path)
    model.eval()
    if example is None:
        shape = model.input_shape  # type: ignore[attr-defined]
        example = torch.zeros((2 if dynamic_batch else 1, *shape))
    path.parent.mkdir(parents=True, exist_ok=True)
    dynamic_axes = (
        {"input": {0: "batch"}, "output": {0: "batch"}} if dynamic_batch else None
    )
    # In eval mode without gradients, nn.TransformerEncoderLayer takes a fused
    # "fast path" (aten::_transformer_encoder_layer_fwd) that has no ONNX
    # export: turn it off while tracing, so the layers export as plain ops.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # (the TorchScript exporter warns that it is deprecated, and tracing
            # attention warns about Python-level shape checks it treats as
            # constants, which is right for fixed model sizes)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            # (PRESERVE makes it suggest turning constant folding off, which
            # matters for training graphs only: the model is in eval mode)
            warnings.filterwarnings(
                "ignore", "It is recommended that constant folding", UserWarning
            )
            torch.onnx.export(
                model,
                (example,),
                str(path),
                dynamo=False,
                opset_version=17,
                input_names=["input"],
                output_names=["output"],
                dynamic_axes=dynamic_axes,
                training=(
                    torch.onnx.TrainingMode.PRESERVE
                    if keep_batchnorm
                    else torch.onnx.TrainingMode.EVAL
                ),
            )
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return path


def write_calibration(
    path: str | os.PathLike[str], n: int = 256, dataset: str = "digits", seed: int = 0
) -> Path:
    """`n` inputs of the training split of `dataset` ("digits", "mnist1d", or a
    model name) for `seed`, as an .npz with one float32 array `input`."""
    if dataset in ZOO:
        dataset = dataset_of(dataset)
    x = load_dataset(dataset, seed).x_train
    if not 0 < n <= len(x):
        raise ValueError(f"n must be in 1..{len(x)} for '{dataset}', got {n}")
    buffer = io.BytesIO()
    np.savez(buffer, input=np.ascontiguousarray(x[:n], dtype=np.float32))
    path = Path(path)
    _write_atomically(path, buffer.getvalue())
    return path


# ------------------------------------------------------------------ CLI


def _parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        if "-" in part.strip()[1:]:
            lo, hi = part.split("-", 1)
            seeds.extend(range(int(lo), int(hi) + 1))
        else:
            seeds.append(int(part))
    return seeds


def _table(names: list[str], seeds: list[int], epochs: int | None, cache) -> None:
    print(
        "| model | params | test acc % (mean ± std) | min | val acc % "
        "| train time (s) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in names:
        results = [get_trained(name, s, epochs=epochs, cache=cache) for s in seeds]
        test = np.array([r.test_acc for r in results]) * 100
        val = np.array([r.val_acc for r in results]) * 100
        secs = np.array([r.seconds for r in results])
        params = sum(p.numel() for p in results[0].model.parameters())
        print(
            f"| {name} | {params} | {test.mean():.2f} ± {test.std():.2f} | "
            f"{test.min():.2f} | {val.mean():.2f} | {secs.mean():.1f} |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qopt.models.train",
        description="Train a reference model (or take it from the cache), print "
        "its test accuracy, write its ONNX and a calibration set.",
    )
    parser.add_argument("--model", choices=list(ZOO), help="model to train")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, help="override the configured epochs")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_CACHE, help="folder for .onnx and .npz"
    )
    parser.add_argument("--calib", type=int, default=256, help="calibration inputs")
    parser.add_argument("--cache", type=Path, help="cache folder ($QOPT_CACHE)")
    parser.add_argument(
        "--no-cache", action="store_true", help="always train, never store"
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="print a table of test accuracy over --seeds for every model",
    )
    parser.add_argument("--seeds", default="0-4", help="seeds for --all: 0-4 or 0,3")
    args = parser.parse_args(argv)

    if args.all:
        names = [args.model] if args.model else list(ZOO)
        _table(names, _parse_seeds(args.seeds), args.epochs, args.cache)
        return 0
    if args.model is None:
        parser.error("--model is required (or --all)")

    if args.no_cache:
        result = train(args.model, args.seed, args.epochs)
    else:
        result = get_trained(
            args.model, args.seed, epochs=args.epochs, cache=args.cache
        )
    stem = f"{args.model}-seed{args.seed}"
    onnx_path = export_onnx(result.model, args.out / f"{stem}.onnx")
    calib_path = write_calibration(
        args.out / f"{stem}-calib.npz", args.calib, args.model, args.seed
    )
    source = "cache" if result.cached else "trained"
    print(
        f"{args.model} seed {args.seed}: test accuracy {result.test_acc:.4f} "
        f"(val {result.val_acc:.4f}, train {result.train_acc:.4f}; "
        f"{result.epochs} epochs, {result.seconds:.1f} s, {source})"
    )
    print(f"wrote {onnx_path}")
    print(f"wrote {calib_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
