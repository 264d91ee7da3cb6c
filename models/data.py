"""Offline data sets for the reference models, with deterministic splits.

Nothing here downloads anything:

- `load_digits_split(seed)`: scikit-learn's bundled 8x8 digits (1,797 images),
  as float32 ``N x 1 x 8 x 8`` images in [0, 1] (pixel / 16) and int64 labels,
  split 70 / 10 / 20 % into train / val / test, stratified by label. The split
  depends only on `seed`.
- `load_mnist1d(seed)`: MNIST-1D generated offline by the `mnist1d` package
  with its default arguments (4,000 train + 1,000 test signals of length 40,
  already centred to mean 0 and standard deviation 1), as float32
  ``N x 1 x 40`` signals. The canonical test set is kept; `seed` draws a
  stratified 10 % validation set out of the 4,000 training signals.
- `augmented(x, seed, n)`: `n` perturbed copies of inputs drawn from `x`
  (shift by up to one pixel along each spatial axis, Gaussian noise, small
  intensity scaling), to measure top-1 agreement between a quantized model
  and its float original on many more inputs than the test split holds.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

import numpy as np

DIGITS_SHAPE = (1, 8, 8)
MNIST1D_LENGTH = 40
MNIST1D_SHAPE = (1, MNIST1D_LENGTH)


@dataclass(frozen=True)
class Split:
    """Train / validation / test arrays (inputs float32, labels int64)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def train(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x_train, self.y_train

    @property
    def val(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x_val, self.y_val

    @property
    def test(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x_test, self.y_test

    @property
    def num_classes(self) -> int:
        return int(self.y_train.max()) + 1


def stratified_split(
    y: np.ndarray, fractions: tuple[float, ...], seed: int
) -> list[np.ndarray]:
    """Indices of `y` cut into len(fractions) + 1 parts, stratified by label.

    Part i takes round(fractions[i] * count) samples of every class; the last
    part takes the rest. Each part's indices are in a seeded random order.
    """
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        start = 0
        for i, fraction in enumerate(fractions):
            count = round(fraction * len(members))
            parts[i].append(members[start : start + count])
            start += count
        parts[-1].append(members[start:])
    return [rng.permutation(np.concatenate(p)).astype(np.int64) for p in parts]


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32).reshape(-1, *DIGITS_SHAPE)
    return x, y.astype(np.int64)


def load_digits_split(seed: int = 0) -> Split:
    """The 8x8 digits split 70 / 10 / 20 % (train / val / test) by `seed`."""
    x, y = _digits()
    test, val, train = stratified_split(y, (0.2, 0.1), seed)
    return Split(x[train], y[train], x[val], y[val], x[test], y[test])


@functools.cache
def _mnist1d() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset seeds the global `random` and `numpy.random` generators:
    # keep the caller's streams as they were.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)

    def signals(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=np.float32)[:, None, :]

    return (
        signals(data["x"]),
        np.asarray(data["y"], dtype=np.int64),
        signals(data["x_test"]),
        np.asarray(data["y_test"], dtype=np.int64),
    )


def load_mnist1d(seed: int = 0) -> Split:
    """MNIST-1D: the canonical 1,000 test signals; `seed` picks 10 % of the
    4,000 training signals as the validation set."""
    x, y, x_test, y_test = _mnist1d()
    val, train = stratified_split(y, (0.1,), seed)
    return Split(x[train], y[train], x[val], y[val], x_test.copy(), y_test.copy())


def load_dataset(name: str, seed: int = 0) -> Split:
    """`load_digits_split` for "digits", `load_mnist1d` for "mnist1d"."""
    loaders = {"digits": load_digits_split, "mnist1d": load_mnist1d}
    if name not in loaders:
        raise ValueError(f"unknown data set '{name}' (known: {', '.join(loaders)})")
    return loaders[name](seed)


def shift(x: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Each sample of ``x`` (N x C x spatial...) moved by its integer offsets
    (N x len(spatial)), with zeros shifted in."""
    out = np.zeros_like(x)
    spatial = x.shape[2:]
    for combo in {tuple(o) for o in offsets.tolist()}:
        rows = np.flatnonzero((offsets == combo).all(axis=1))
        src = [slice(None), slice(None)]
        dst = [slice(None)]  # after the sample indices
        for d, size in zip(combo, spatial, strict=True):
            src.append(slice(max(0, -d), size - max(0, d)))
            dst.append(slice(max(0, d), size - max(0, -d)))
        out[(rows, *dst)] = x[rows][tuple(src)]
    return out


def augmented(
    x: np.ndarray,
    seed: int,
    n: int,
    *,
    max_shift: int = 1,
    noise: float = 0.1,
    scale: float = 0.1,
    clip: tuple[float, float] | str | None = "auto",
) -> np.ndarray:
    """`n` perturbed inputs drawn (with replacement) from `x`, as float32.

    Each is a random sample of `x` shifted by -max_shift..max_shift pixels
    along every spatial axis (zeros shifted in), multiplied by a factor in
    [1 - scale, 1 + scale] and given Gaussian noise of standard deviation
    `noise` times the standard deviation of `x`. With ``clip="auto"`` the
    result is clipped to [0, 1] when `x` lies in [0, 1] (images), and left
    alone otherwise; a pair clips to that range, None never clips.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 3:
        raise ValueError(f"expected N x C x spatial... inputs, got shape {x.shape}")
    rng = np.random.default_rng(seed)
    picked = x[rng.integers(0, len(x), size=n)]
    offsets = rng.integers(-max_shift, max_shift + 1, size=(n, x.ndim - 2))
    out = shift(picked, offsets)
    factors = rng.uniform(1 - scale, 1 + scale, size=(n,) + (1,) * (x.ndim - 1))
    out = out * factors.astype(np.float32)
    out += rng.normal(0.0, noise * float(x.std()), size=out.shape).astype(np.float32)
    if clip == "auto":
        clip = (0.0, 1.0) if x.min() >= 0.0 and x.max() <= 1.0 else None
    if clip is not None:
        lo, hi = clip  # type: ignore[misc]
        np.clip(out, lo, hi, out=out)
    return out.astype(np.float32, copy=False)
