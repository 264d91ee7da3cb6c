"""Numerics of `qopt-calibrate` and its attributes `#q.range` / `#q.stats`.

Every method is checked against an independent numpy computation on data
with a known distribution: minmax and the statistics exactly, percentile
against `np.percentile`, mse against a brute-force search of the true
quantization error, entropy against a direct (bin by bin) implementation of
TensorRT's KL calibration. Also: per-channel ranges, independence of the
batch size, the attribute syntax (round trip, verifier), data errors.
"""

from __future__ import annotations

import io
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import Builtin, ModuleOp, UnitAttr
from xdsl.dialects.func import Func
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import PassFailedException, VerifyException

from qopt.passes import calibrate
from qopt.passes.calibrate import (
    HIST_BINS,
    MSE_CANDIDATES,
    CalibratePass,
    ValueStats,
    entropy_divergences,
    entropy_thresholds,
    mse_error_matrix,
)
from qopt.qdialect.calib import (
    RANGES_ATTR,
    RangeAttr,
    StatsAttr,
    set_value_range,
    value_range,
)
from qopt.qdialect.nn import NN
from qopt.qdialect.q import Q

# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #

GRAPH = """
func.func @main(%x: tensor<?x4x3x3xf32>) -> (tensor<?x4x3x3xf32>, tensor<?x4x3x3xf32>) {
  %two = nn.constant dense<2.0> : tensor<f32>
  %zero = nn.constant dense<0.0> : tensor<f32>
  %y = nn.mul %x, %two : (tensor<?x4x3x3xf32>, tensor<f32>) -> tensor<?x4x3x3xf32>
  %r = nn.relu %y : (tensor<?x4x3x3xf32>) -> tensor<?x4x3x3xf32>
  %m = nn.sub %zero, %r : (tensor<f32>, tensor<?x4x3x3xf32>) -> tensor<?x4x3x3xf32>
  func.return %r, %m : tensor<?x4x3x3xf32>, tensor<?x4x3x3xf32>
}
"""

VECTOR = """
func.func @main(%x: tensor<?xf32>) -> tensor<?xf32> {
  %r = nn.relu %x : (tensor<?xf32>) -> tensor<?xf32>
  func.return %r : tensor<?xf32>
}
"""


def context() -> Context:
    ctx = Context(allow_unregistered=True)
    for dialect in (Builtin, Func, NN, Q):
        ctx.load_dialect(dialect)
    return ctx


def parse(text: str) -> ModuleOp:
    return Parser(context(), text).parse_module()


def values(module: ModuleOp) -> dict[str, object]:
    """Every named SSA value of the module's function by name."""
    out = {}
    for op in module.walk():
        for r in op.results:
            if r.name_hint:
                out[r.name_hint] = r
        for region in op.regions:
            for block in region.blocks:
                for a in block.args:
                    if a.name_hint:
                        out[a.name_hint] = a
    return out


def calibrate_module(
    text: str, tmp_path: Path, arrays: dict[str, np.ndarray], **options
) -> tuple[ModuleOp, dict[str, RangeAttr | None]]:
    path = tmp_path / "calib.npz"
    np.savez(path, **arrays)
    module = parse(text)
    CalibratePass(data=str(path), **options).apply(context(), module)
    module.verify()
    return module, {k: value_range(v) for k, v in values(module).items()}


def per_tensor(attr: RangeAttr | None) -> tuple[float, float]:
    assert attr is not None and attr.is_per_tensor
    return attr.low, attr.high


def quant_mse(x: np.ndarray, t: float, bits: int, signed: bool) -> float:
    """True mean squared error of uniform quantization clipping at t."""
    if signed:
        levels = (1 << (bits - 1)) - 1
        s = t / levels
        q = np.clip(np.round(x / s), -levels, levels) * s
    else:
        levels = (1 << bits) - 1
        s = t / levels
        q = np.clip(np.round(x / s), 0, levels) * s
    return float(np.mean((x - q) ** 2))


@pytest.fixture
def activations() -> np.ndarray:
    """[N, C, H, W] data, channel c scaled by c + 1 and shifted."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((300, 4, 3, 3)).astype(np.float32)
    scale = np.array([1, 2, 3, 4], np.float32).reshape(1, 4, 1, 1)
    return (x * scale + np.float32(0.5)).astype(np.float32)


# --------------------------------------------------------------------------- #
# minmax and statistics
# --------------------------------------------------------------------------- #


def test_minmax_exact_and_stats(tmp_path: Path, activations: np.ndarray):
    _, ranges = calibrate_module(GRAPH, tmp_path, {"x": activations})
    x = activations.astype(np.float64)
    y = (activations * np.float32(2)).astype(np.float64)
    r = np.maximum(y, 0)
    for name, v in (("x", x), ("y", y), ("r", r), ("m", -r)):
        attr = ranges[name]
        assert per_tensor(attr) == (v.min(), v.max()), name
        assert attr.method_name == "minmax" and not attr.is_dynamic
        stats = attr.statistics
        assert stats is not None
        mn, mx, mean, std, count = stats.values
        assert (mn, mx, count) == (v.min(), v.max(), v.size)
        assert mean == pytest.approx(v.mean(), rel=1e-12, abs=1e-12)
        assert std == pytest.approx(v.std(), rel=1e-12)
    # constants get nothing
    assert ranges["two"] is None and ranges["zero"] is None


def test_constant_only_values_are_skipped(tmp_path: Path):
    text = """
    func.func @main(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
      %c = nn.constant dense<[1.0, -3.0]> : tensor<2xf32>
      %d = nn.mul %c, %c : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
      %y = nn.add %x, %d : (tensor<?x2xf32>, tensor<2xf32>) -> tensor<?x2xf32>
      func.return %y : tensor<?x2xf32>
    }
    """
    x = np.array([[0, 0], [1, -1]], np.float32)
    _, ranges = calibrate_module(text, tmp_path, {"x": x})
    assert ranges["c"] is None and ranges["d"] is None
    assert per_tensor(ranges["y"]) == (1.0, 9.0)


def test_non_finite_results_are_left_out(tmp_path: Path):
    text = """
    func.func @main(%x: tensor<?x3xf32>) -> (tensor<?x3xf32>, tensor<?x3xf32>) {
      %q = nn.div %x, %x : (tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
      %z = nn.sub %x, %x : (tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
      %n = nn.div %z, %z : (tensor<?x3xf32>, tensor<?x3xf32>) -> tensor<?x3xf32>
      func.return %q, %n : tensor<?x3xf32>, tensor<?x3xf32>
    }
    """
    x = np.array([[0, 2, -3], [4, 0, 5]], np.float32)
    for method in ("minmax", "percentile", "mse", "entropy"):
        _, ranges = calibrate_module(text, tmp_path, {"x": x}, method=method)
        q = ranges["q"]
        assert q is not None and q.statistics.values[4] == 4  # 0/0 left out
        assert q.statistics.values[:2] == (1.0, 1.0)
        assert ranges["n"] is None  # all NaN: no range
        assert per_tensor(ranges["z"]) == (0.0, 0.0)  # always zero: empty range


# --------------------------------------------------------------------------- #
# percentile
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("p", [99.99, 99.0, 90.0, 50.0, 100.0])
def test_percentile_equals_numpy(tmp_path: Path, activations: np.ndarray, p: float):
    _, ranges = calibrate_module(
        GRAPH, tmp_path, {"x": activations}, method="percentile", percentile=p
    )
    y = (activations * np.float32(2)).astype(np.float64)
    r = np.maximum(y, 0)
    lo, hi = (100 - p) / 2, (100 + p) / 2
    assert per_tensor(ranges["y"]) == (np.percentile(y, lo), np.percentile(y, hi))
    assert per_tensor(ranges["r"]) == (0.0, np.percentile(r, p))
    assert per_tensor(ranges["m"]) == (np.percentile(-r, 100 - p), 0.0)


def test_percentile_histogram_fallback(
    tmp_path: Path, activations: np.ndarray, monkeypatch: pytest.MonkeyPatch
):
    """Tails too large to keep: a 65536-bin histogram, within one bin."""
    monkeypatch.setattr(calibrate, "EXACT_PERCENTILE_LIMIT", 1)
    _, ranges = calibrate_module(
        GRAPH, tmp_path, {"x": activations}, method="percentile", percentile=99.0
    )
    y = (activations * np.float32(2)).astype(np.float64)
    r = np.maximum(y, 0)
    width_y = (y.max() - y.min()) / calibrate.FINE_BINS
    lo, hi = per_tensor(ranges["y"])
    assert abs(lo - np.percentile(y, 0.5)) <= width_y
    assert abs(hi - np.percentile(y, 99.5)) <= width_y
    assert abs(per_tensor(ranges["r"])[1] - np.percentile(r, 99.0)) <= r.max() / (
        calibrate.FINE_BINS
    )


# --------------------------------------------------------------------------- #
# mse
# --------------------------------------------------------------------------- #


def test_mse_error_matrix_is_the_exact_integral():
    """M[k, j] against a dense sampling of bin j (values spread evenly)."""
    levels, bins, candidates = 7, 64, 16
    matrix = mse_error_matrix(levels, bins, candidates)
    for k, j in [(0, 0), (3, 5), (3, 20), (15, 63), (7, 31), (1, 2)]:
        t = (k + 1) / candidates
        points = (j + (np.arange(200_000) + 0.5) / 200_000) / bins
        s = t / levels
        q = np.clip(np.round(points / s), -levels, levels) * s
        expected = np.mean((points - q) ** 2)
        assert matrix[k, j] == pytest.approx(expected, rel=1e-6, abs=1e-15), (k, j)


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("dist", ["laplace", "gauss_outliers", "uniform"])
def test_mse_no_worse_than_minmax_and_near_brute_force(
    tmp_path: Path, bits: int, dist: str
):
    rng = np.random.default_rng(3)
    if dist == "laplace":
        x = rng.laplace(size=40_000)
    elif dist == "gauss_outliers":
        x = np.concatenate([rng.standard_normal(40_000), [25.0, -30.0, 20.0]])
    else:
        x = rng.uniform(-2, 1, 40_000)
    x = x.astype(np.float32)
    _, ranges = calibrate_module(
        VECTOR, tmp_path, {"x": x}, method="mse", bits=bits, **{"batch_size": 999}
    )
    x64 = x.astype(np.float64)
    for name, v, signed in (("x", x64, True), ("r", np.maximum(x64, 0), False)):
        lo, hi = per_tensor(ranges[name])
        amax = np.abs(v).max()
        if signed:
            assert lo == -hi
        else:
            assert lo == 0.0
        # the grid of the pass, searched by brute force on the true error
        grid = amax * np.arange(1, MSE_CANDIDATES + 1) / MSE_CANDIDATES
        assert np.isclose(grid, hi, rtol=0, atol=1e-12 * amax).any()
        errors = np.array([quant_mse(v, t, bits, signed) for t in grid])
        chosen = quant_mse(v, hi, bits, signed)
        assert chosen <= quant_mse(v, amax, bits, signed) * (1 + 1e-9)
        assert chosen <= errors.min() * 1.003, (name, hi, grid[np.argmin(errors)])
        if dist != "uniform":
            assert chosen < 0.99 * quant_mse(v, amax, bits, signed)


# --------------------------------------------------------------------------- #
# entropy
# --------------------------------------------------------------------------- #


def direct_kl(hist: np.ndarray, levels: int, start: int | None = None) -> np.ndarray:
    """TensorRT's KL divergence for every cut, bin by bin (slow, obvious)."""
    bins = len(hist)
    out = np.full(bins + 1, np.inf)
    for i in range(levels if start is None else start, bins + 1):
        kept = hist[:i].astype(np.float64)
        p = kept.copy()
        p[-1] += hist[i:].sum()
        level = (np.arange(i) * levels) // i
        q = np.zeros(i)
        for k in range(levels):
            in_level = level == k
            nonzero = in_level & (kept > 0)
            if nonzero.any():
                q[nonzero] = kept[in_level].sum() / nonzero.sum()
        if q.sum() == 0:
            continue
        p, q = p / p.sum(), q / q.sum()
        used = p > 0
        if (q[used] == 0).any():
            continue
        out[i] = np.sum(p[used] * np.log(p[used] / q[used]))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_entropy_divergences_match_direct_implementation(seed: int):
    rng = np.random.default_rng(seed)
    x = np.abs(np.concatenate([rng.standard_normal(5000), rng.uniform(-20, 20, 5)]))
    hist = np.histogram(x, bins=256, range=(0, x.max()))[0]
    if seed == 2:
        hist[90:130] = 0  # empty bins: cuts ending there have Q = 0 where P > 0
    for levels, start in ((8, None), (16, None), (64, None), (64, 32), (512, 128)):
        fast = entropy_divergences(hist, levels, start)
        slow = direct_kl(hist, levels, start)
        assert np.array_equal(np.isfinite(fast), np.isfinite(slow))
        finite = np.isfinite(slow)
        np.testing.assert_allclose(fast[finite], slow[finite], rtol=1e-9, atol=1e-12)
        best_slow = len(slow) - 1 - np.argmin(slow[::-1])
        best_fast = len(fast) - 1 - np.argmin(fast[::-1])
        assert best_fast == best_slow


def test_entropy_clips_gaussian_outliers(tmp_path: Path):
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.standard_normal(100_000), [50.0, -50.0, 45.0, -40.0]])
    x = x.astype(np.float32)
    _, ranges = calibrate_module(VECTOR, tmp_path, {"x": x}, method="entropy")
    lo, hi = per_tensor(ranges["x"])
    assert lo == -hi
    assert 2.5 < hi < 10.0  # the outliers at 40..50 are clipped
    # the same threshold as the direct implementation on numpy's histogram
    a = np.abs(x.astype(np.float64))
    amax = a.max()
    hist = np.histogram(a[a > 0], bins=HIST_BINS, range=(0, amax))[0]
    slow = direct_kl(hist, 128)
    best = len(slow) - 1 - np.argmin(slow[::-1])
    assert hi == amax * best / HIST_BINS
    # one-signed values use 2^bits levels on [0, T], cuts from 2^(bits-1) on
    r_lo, r_hi = per_tensor(ranges["r"])
    assert r_lo == 0.0 and 2.5 < r_hi < 10.0
    r = np.maximum(x.astype(np.float64), 0)
    hist = np.histogram(r[r > 0], bins=HIST_BINS, range=(0, r.max()))[0]
    slow = direct_kl(hist, 256, 128)
    best = len(slow) - 1 - np.argmin(slow[::-1])
    assert r_hi == r.max() * best / HIST_BINS


def test_entropy_with_more_levels_than_bins_keeps_amax():
    hist = np.ones((2, HIST_BINS))
    amax = np.array([3.0, 5.0])
    assert list(entropy_thresholds(hist, amax, 1 << 14, 1 << 13)) == [3.0, 5.0]


# --------------------------------------------------------------------------- #
# per channel, batching, options
# --------------------------------------------------------------------------- #


def test_per_channel(tmp_path: Path, activations: np.ndarray):
    x = activations.astype(np.float64)
    channels = np.moveaxis(x, 1, 0).reshape(4, -1)
    _, ranges = calibrate_module(
        GRAPH, tmp_path, {"x": activations}, granularity="channel"
    )
    attr = ranges["x"]
    assert attr.channel_axis == 1
    assert attr.low_values == tuple(channels.min(axis=1))
    assert attr.high_values == tuple(channels.max(axis=1))
    # statistics stay per tensor
    assert attr.statistics.values[:2] == (x.min(), x.max())

    _, ranges = calibrate_module(
        GRAPH,
        tmp_path,
        {"x": activations},
        granularity="channel",
        method="percentile",
        percentile=99.0,
    )
    assert ranges["x"].low_values == tuple(np.percentile(channels, 0.5, axis=1))
    assert ranges["x"].high_values == tuple(np.percentile(channels, 99.5, axis=1))

    # mse and entropy per channel: the per-tensor method on each channel
    for method in ("mse", "entropy"):
        _, ranges = calibrate_module(
            GRAPH, tmp_path, {"x": activations}, granularity="channel", method=method
        )
        for c in range(4):
            alone = ValueStats(None)
            alone.observe_first(channels[c])
            alone.plan(method, 99.99)
            alone.observe_second(channels[c])
            lows, highs = alone.bounds(method, 8)
            assert ranges["x"].low_values[c] == lows[0]
            assert ranges["x"].high_values[c] == highs[0]


def test_rank_one_values_stay_per_tensor(tmp_path: Path):
    x = np.linspace(-1, 2, 50).astype(np.float32)
    _, ranges = calibrate_module(VECTOR, tmp_path, {"x": x}, granularity="channel")
    assert per_tensor(ranges["x"]) == (-1.0, 2.0)


@pytest.mark.parametrize("method", ["minmax", "percentile", "mse", "entropy"])
def test_batch_size_does_not_change_ranges(
    tmp_path: Path, activations: np.ndarray, method: str
):
    results = []
    for batch_size in (1, 7, 300, 1000):
        _, ranges = calibrate_module(
            GRAPH,
            tmp_path,
            {"x": activations},
            method=method,
            percentile=99.0,
            batch_size=batch_size,
            granularity="channel",
        )
        results.append(
            {k: (v.low_values, v.high_values) for k, v in ranges.items() if v}
        )
    assert all(r == results[0] for r in results[1:])


def test_dynamic_and_rerun(tmp_path: Path, activations: np.ndarray):
    module, ranges = calibrate_module(GRAPH, tmp_path, {"x": activations}, dynamic=True)
    assert all(v.is_dynamic for v in ranges.values() if v is not None)
    # a second run replaces the attributes
    CalibratePass(data=str(tmp_path / "calib.npz"), method="mse").apply(
        context(), module
    )
    again = {k: value_range(v) for k, v in values(module).items()}
    assert all(v.method_name == "mse" and not v.is_dynamic for v in again.values() if v)


def test_progress_bar_on_a_terminal(
    tmp_path: Path, activations: np.ndarray, monkeypatch: pytest.MonkeyPatch
):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    calibrate_module(GRAPH, tmp_path, {"x": activations}, batch_size=50)
    assert "qopt-calibrate" in terminal.getvalue()

    quiet = io.StringIO()
    monkeypatch.setattr(sys, "stderr", quiet)
    calibrate_module(GRAPH, tmp_path, {"x": activations}, batch_size=50)
    assert quiet.getvalue() == ""


def test_registered_and_options():
    from qopt.passes import get_all_passes

    assert get_all_passes()["qopt-calibrate"]() is CalibratePass
    for bad in (
        {"data": ""},
        {"data": "c.npz", "bits": 1},
        {"data": "c.npz", "bits": 17},
        {"data": "c.npz", "percentile": 0.0},
        {"data": "c.npz", "percentile": 100.5},
        {"data": "c.npz", "batch_size": 0},
        {"data": "c.npz", "method": "max"},
        {"data": "c.npz", "granularity": "row"},
    ):
        with pytest.raises(ValueError):
            CalibratePass(**bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- #
# data errors
# --------------------------------------------------------------------------- #


def _fails(tmp_path: Path, text: str, filename: str, match: str, **options) -> None:
    module = parse(text)
    with pytest.raises(PassFailedException, match=match) as info:
        CalibratePass(data=str(tmp_path / filename), **options).apply(context(), module)
    assert "\n" not in str(info.value)


TWO_ARGS = """
func.func @main(%a: tensor<?x2xf32>, %b: tensor<?x2xi64>) -> tensor<?x2xf32> {
  %r = nn.relu %a : (tensor<?x2xf32>) -> tensor<?x2xf32>
  func.return %r : tensor<?x2xf32>
}
"""


def test_bad_data(tmp_path: Path):
    ok = np.zeros((3, 2), np.float32)
    ints = np.zeros((3, 2), np.int64)
    _fails(tmp_path, TWO_ARGS, "missing.npz", "No such file or directory")
    (tmp_path / "junk.npz").write_text("junk")
    _fails(tmp_path, TWO_ARGS, "junk.npz", r"is not a \.npy or \.npz file")
    np.save(tmp_path / "one.npy", ok)
    _fails(tmp_path, TWO_ARGS, "one.npy", "holds one array but @main takes 2")
    np.savez(tmp_path / "three.npz", ok, ints, ok)
    _fails(tmp_path, TWO_ARGS, "three.npz", "holds 3 arrays but @main takes 2")
    np.savez(tmp_path / "shape.npz", np.zeros((3, 3), np.float32), ints)
    _fails(tmp_path, TWO_ARGS, "shape.npz", "has shape 3x3, the argument is")
    np.savez(tmp_path / "count.npz", ok, ints[:2])
    _fails(tmp_path, TWO_ARGS, "count.npz", "has 2 samples, the first array 3")
    np.savez(tmp_path / "empty.npz", ok[:0], ints[:0])
    _fails(tmp_path, TWO_ARGS, "empty.npz", "holds no samples")
    np.savez(tmp_path / "floats.npz", ok, ok)
    _fails(tmp_path, TWO_ARGS, "floats.npz", "float32 values, the argument expects i")
    np.savez(tmp_path / "strings.npz", np.full((3, 2), "a"), ints)
    _fails(tmp_path, TWO_ARGS, "strings.npz", "expects real numbers")
    bad = ok.copy()
    bad[0, 0] = np.inf
    np.savez(tmp_path / "inf.npz", bad, ints)
    _fails(tmp_path, TWO_ARGS, "inf.npz", "NaN or infinite")
    np.savez(tmp_path / "ok.npz", ok, ints)
    _fails(tmp_path, TWO_ARGS, "ok.npz", "no function @f", entry="f")


def test_names_win_over_order(tmp_path: Path):
    a = np.array([[1, 2], [3, 4]], np.float32)
    b = np.array([[0, 1], [1, 0]], np.int64)
    np.savez(tmp_path / "calib.npz", b=b, a=a)
    module = parse(TWO_ARGS)
    CalibratePass(data=str(tmp_path / "calib.npz")).apply(context(), module)
    assert per_tensor(value_range(values(module)["a"])) == (1.0, 4.0)
    assert value_range(values(module)["b"]) is None


def test_run_time_error_is_one_line(tmp_path: Path):
    text = """
    func.func @main(%x: tensor<?x2xf32>, %i: tensor<?x2xi64>) -> tensor<?x2x2xf32> {
      %e = nn.gather %x, %i {axis = 0 : i64}
          : (tensor<?x2xf32>, tensor<?x2xi64>) -> tensor<?x2x2xf32>
      func.return %e : tensor<?x2x2xf32>
    }
    """
    np.savez(
        tmp_path / "calib.npz",
        np.zeros((2, 2), np.float32),
        np.full((2, 2), 9, np.int64),
    )
    _fails(tmp_path, text, "calib.npz", "running @main on the calibration data failed")


# --------------------------------------------------------------------------- #
# attributes
# --------------------------------------------------------------------------- #


def _print(attr) -> str:
    out = io.StringIO()
    Printer(stream=out).print_attribute(attr)
    return out.getvalue()


def _parse_attr(text: str):
    return Parser(context(), text).parse_attribute()


TRICKY = [
    0.0,
    -0.0,
    5e-324,
    1e-300,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    1e300,
    0.1,
    1 / 3,
    -123456.789e10,
    1e-5,
    3.0,
]


def test_attribute_round_trip_exact():
    rng = np.random.default_rng(5)
    randoms = list(rng.standard_normal(20) * 10.0 ** rng.integers(-300, 300, 20))
    for v in TRICKY + randoms:
        lo, hi = sorted((v, -v))
        for attr in (
            RangeAttr(lo, hi),
            RangeAttr(lo, hi, method="mse", dynamic=True),
            RangeAttr([lo, v], [hi, abs(v) + 0.0], axis=1, method="entropy"),
            RangeAttr(
                lo, hi, method="minmax", stats=StatsAttr(lo, hi, v, abs(v), 12345678901)
            ),
        ):
            text = _print(attr)
            back = _parse_attr(text)
            assert back == attr, text
            for a, b in zip(back.low_values, attr.low_values, strict=True):
                assert math.copysign(1, a) == math.copysign(1, b) and a == b
    assert _print(RangeAttr(0.0, 1e-5)) == "#q.range<0.0, 1.0e-05>"
    assert (
        _print(RangeAttr([-1.0, -2.0], [2.0, 1.5], axis=1, method="mse"))
        == "#q.range<axis = 1, [-1.0, -2.0], [2.0, 1.5], mse>"
    )


def test_attribute_verifier():
    for bad in (
        lambda: RangeAttr(1.0, 0.0),
        lambda: RangeAttr(0.0, math.inf),
        lambda: RangeAttr(math.nan, 0.0),
        lambda: RangeAttr([0.0], [1.0, 2.0], axis=1),
        lambda: RangeAttr([], [], axis=0),
        lambda: RangeAttr(0.0, 1.0, method="dynamic"),
        lambda: RangeAttr(0.0, 1.0, method="a b"),
        lambda: StatsAttr(1.0, 0.0, 0.5, 0.1, 3),
        lambda: StatsAttr(0.0, 1.0, 0.5, -0.1, 3),
        lambda: StatsAttr(0.0, 1.0, 0.5, 0.1, 0),
        lambda: StatsAttr(0.0, math.inf, 0.5, 0.1, 3),
    ):
        with pytest.raises(VerifyException):
            bad()


def test_value_range_on_multi_result_ops():
    module = parse(
        """
        func.func @main(%x: tensor<?x4xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>) {
          %a, %b = nn.split %x {axis = 1 : i64}
              : (tensor<?x4xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>)
          func.return %a, %b : tensor<?x2xf32>, tensor<?x2xf32>
        }
        """
    )
    v = values(module)
    r = RangeAttr(-1.0, 1.0)
    set_value_range(v["b"], r)
    op = v["a"].op
    assert list(op.attributes[RANGES_ATTR].data) == [UnitAttr(), r]
    assert value_range(v["a"]) is None and value_range(v["b"]) == r
    set_value_range(v["b"], None)
    assert RANGES_ATTR not in op.attributes
    set_value_range(v["x"], r)
    assert value_range(v["x"]) == r
    set_value_range(v["x"], None)
    assert value_range(v["x"]) is None
    module.verify()
