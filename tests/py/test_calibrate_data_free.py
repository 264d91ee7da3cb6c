# ruff: noqa: E501
"""qopt-calibrate-data-free: the propagated moments against Monte Carlo, the
range rules, the errors, and data-free W8A8 on the digits models."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects import builtin, func
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser
from xdsl.utils.exceptions import PassFailedException

from qopt.passes.calibrate_data_free import (
    CalibrateDataFreePass,
    Dist,
    Law,
    choose_range,
)
from qopt.qdialect import get_all_dialects
from qopt.qdialect.calib import value_range

RNG = np.random.default_rng(0)


def parse(text: str) -> ModuleOp:
    ctx = Context()
    for name, factory in get_all_dialects().items():
        ctx.register_dialect(name, factory)
    ctx.load_dialect(builtin.Builtin)
    ctx.load_dialect(func.Func)
    return Parser(ctx, text).parse_module()


def _dense(a: np.ndarray) -> str:
    return np.array2string(
        a.astype(np.float32), separator=", ", threshold=10**6, precision=9
    )


GEMM_RELU = """
func.func @main(%x: tensor<?x{k}xf32>) -> tensor<?x{n}xf32> {{
  %w = nn.constant dense<{w}> : tensor<{k}x{n}xf32>
  %c = nn.constant dense<{c}> : tensor<{n}xf32>
  %y = nn.gemm %x, %w, %c : (tensor<?x{k}xf32>, tensor<{k}x{n}xf32>, tensor<{n}xf32>) -> tensor<?x{n}xf32>
  %r = nn.relu %y : (tensor<?x{n}xf32>) -> tensor<?x{n}xf32>
  func.return %r : tensor<?x{n}xf32>
}}
"""


def _fn(module: ModuleOp) -> func.FuncOp:
    return next(op for op in module.walk() if isinstance(op, func.FuncOp))


def test_gemm_relu_moments_match_monte_carlo():
    k, n = 12, 5
    w = RNG.normal(size=(k, n)).astype(np.float32)
    c = RNG.normal(size=n).astype(np.float32)
    module = parse(GEMM_RELU.format(k=k, n=n, w=_dense(w), c=_dense(c)))
    p = CalibrateDataFreePass(input_mean=(0.3,), input_std=(0.5,))
    dists = list(p.distributions(_fn(module)).values())
    x = RNG.normal(0.3, 0.5, size=(400_000, k))
    y = x @ w.astype(np.float64) + c
    r = np.maximum(y, 0)
    for d, sample in zip(dists[1:], (y, r), strict=True):
        np.testing.assert_allclose(d.mean, sample.mean(0), rtol=0.02, atol=0.01)
        np.testing.assert_allclose(d.std, sample.std(0), rtol=0.02)


@pytest.mark.parametrize(
    ("taps", "lo", "hi", "uniform"),
    [
        (1, 0.0, np.inf, False),
        (4, 0.0, np.inf, False),
        (1, 0.0, 1.5, False),
        (4, -0.5, 0.8, True),
    ],
)
def test_law_moments_match_monte_carlo(taps, lo, hi, uniform):
    mu, s = np.array([0.4, -0.7]), np.array([1.0, 0.6])
    law = Law(mu, s, np.full(2, -np.inf), np.full(2, np.inf), uniform=uniform)
    law = law.clipped(lo, hi).max_of(taps)
    mean, var = law.moments()
    n = 400_000
    if uniform:
        half = np.sqrt(3) * s
        base = RNG.uniform(mu - half, mu + half, size=(n, taps, 2))
    else:
        base = RNG.normal(mu, s, size=(n, taps, 2))
    sample = np.clip(base, lo, hi).max(axis=1)
    np.testing.assert_allclose(mean, sample.mean(0), atol=0.005)
    np.testing.assert_allclose(np.sqrt(var), sample.std(0), rtol=0.01)


def test_mse_range_grows_with_bits_and_matches_known_gaussian_clip():
    d = Dist.gaussian(np.zeros(3), np.ones(3))
    highs = [choose_range(d, "mse", b, 6.0)[1] for b in (2, 3, 4, 6, 8, 12)]
    assert all(a < b for a, b in itertools.pairwise(highs)), highs
    # optimal clipping of N(0, 1): levels {-T, 0, T} at 2 bits (narrow
    # range) give T = 1.224 (decision threshold 0.612); 3.92 at 8 bits
    # (Banner et al., ACIQ)
    assert highs[0] == pytest.approx(1.224, abs=0.02)
    assert highs[4] == pytest.approx(3.92, abs=0.02)
    relu = Dist.of_law(d.law.clipped(0.0, np.inf))
    lo, hi = choose_range(relu, "mse", 8, 6.0)
    assert lo == 0.0 and hi > 3.0
    assert choose_range(d, "sigma", 8, 2.5) == (-2.5, 2.5)


def test_conv_bn_stats_and_maxpool_reset_the_model():
    w = RNG.normal(size=(2, 1, 3, 3)).astype(np.float32)
    text = f"""
func.func @main(%x: tensor<?x1x4x4xf32>) -> tensor<?x8xf32> {{
  %w = nn.constant dense<{_dense(w)}> : tensor<2x1x3x3xf32>
  %y = nn.conv2d %x, %w {{pads = array<i64: 1, 1, 1, 1>, q.bn_stats = {{mean = array<f64: 0.5, -1.0>, std = array<f64: 2.0, 0.5>}}}} : (tensor<?x1x4x4xf32>, tensor<2x1x3x3xf32>) -> tensor<?x2x4x4xf32>
  %r = nn.relu %y : (tensor<?x2x4x4xf32>) -> tensor<?x2x4x4xf32>
  %p = nn.maxpool2d %r {{kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>}} : (tensor<?x2x4x4xf32>) -> tensor<?x2x2x2xf32>
  %f = nn.flatten %p : (tensor<?x2x2x2xf32>) -> tensor<?x8xf32>
  func.return %f : tensor<?x8xf32>
}}
"""
    module = parse(text)
    dists = list(
        CalibrateDataFreePass(input_range=(0, 1)).distributions(_fn(module)).values()
    )
    conv, _, pool, flat = dists[1:]
    np.testing.assert_allclose(conv.mean, [0.5, -1.0])
    np.testing.assert_allclose(conv.std, [2.0, 0.5])
    sample = np.maximum(RNG.normal([0.5, -1.0], [2.0, 0.5], (200_000, 4, 2)), 0)
    np.testing.assert_allclose(pool.mean, sample.max(1).mean(0), rtol=0.01)
    np.testing.assert_allclose(flat.mean, np.repeat(pool.mean, 4))
    CalibrateDataFreePass(input_range=(0, 1)).apply(Context(), module)
    ranges = [
        value_range(v)
        for v in (
            _fn(module).args[0],
            *[op.results[0] for op in _fn(module).body.ops if op.results],
        )
    ]
    assert ranges[0] is not None and ranges[0].low == 0.0 and ranges[0].high == 1.0
    assert ranges[1] is None  # the weight constant
    assert all(r is not None and r.method_name == "analytic" for r in ranges[2:])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "the input distribution is needed"),
        ({"input_mean": (0.0,)}, "go together"),
        ({"input_range": (1.0, 0.0)}, "LO < HI"),
        ({"input_range": (0.0, 1.0, 2.0)}, "two finite numbers"),
        ({"input_mean": (0.0,), "input_std": (-1.0,)}, "finite and >= 0"),
        ({"input_range": (0, 1), "method": "kl"}, "unknown method 'kl'"),
        ({"input_range": (0, 1), "bits": 1}, "'bits' must be in 2..16"),
        ({"input_range": (0, 1), "sigmas": 0.0}, "'sigmas' must be > 0"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CalibrateDataFreePass(**kwargs)


def test_unsupported_op_and_variable_weight_are_one_line_errors():
    sig = parse(
        "func.func @main(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {\n"
        "  %s = nn.sigmoid %x : (tensor<?x2xf32>) -> tensor<?x2xf32>\n"
        "  func.return %s : tensor<?x2xf32>\n}"
    )
    with pytest.raises(PassFailedException, match=r"'nn.sigmoid' %s: no data-free"):
        CalibrateDataFreePass(input_range=(0, 1)).apply(Context(), sig)
    mm = parse(
        "func.func @main(%x: tensor<?x2xf32>, %w: tensor<2x2xf32>) -> tensor<?x2xf32> {\n"
        "  %y = nn.matmul %x, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>\n"
        "  func.return %y : tensor<?x2xf32>\n}"
    )
    with pytest.raises(
        PassFailedException, match=r"right operand must be an nn\.constant"
    ):
        CalibrateDataFreePass(input_range=(0, 1)).apply(Context(), mm)


def test_export_keeps_batchnorm_on_request(tmp_path):
    onnx = pytest.importorskip("onnx")
    from qopt.frontends.onnx import import_onnx
    from qopt.models.train import build_model, export_onnx
    from qopt.passes.equalize import BN_STATS_ATTR
    from qopt.passes.fold_batchnorm import FoldBatchNormPass
    from qopt.qdialect import nn

    model = build_model("digits-lenet")
    ops = lambda p: [n.op_type for n in onnx.load(p).graph.node]  # noqa: E731
    assert "BatchNormalization" not in ops(export_onnx(model, tmp_path / "a.onnx"))
    kept = export_onnx(model, tmp_path / "b.onnx", keep_batchnorm=True)
    assert ops(kept).count("BatchNormalization") == 2
    module = import_onnx(kept)
    FoldBatchNormPass().apply(Context(), module)
    convs = [op for op in module.walk() if isinstance(op, nn.Conv2dOp)]
    assert all(BN_STATS_ATTR in c.attributes for c in convs) and len(convs) == 2


def _data_free_vs_float(name: str, seed: int, tmp_path) -> tuple[float, float]:
    from qopt.backends.reference.runner import run_function
    from qopt.frontends.onnx import import_onnx
    from qopt.models.data import load_digits_split
    from qopt.models.train import export_onnx, get_model
    from qopt.passes import get_all_passes
    from qopt.tools.pipeline import build_passes

    net = get_model(name, seed)
    path = tmp_path / f"{name}-{seed}.onnx"
    module = import_onnx(export_onnx(net, path, keep_batchnorm=True))
    split = load_digits_split(seed)
    x, y = split.x_test, split.y_test
    quantized = module.clone()
    pipeline = (
        "builtin.module(nn-fold-batchnorm, qopt-equalize, "
        "qopt-bias-correct{mode=analytic}, qopt-calibrate-data-free{input-range=0,1}, "
        "qopt-quantize{weights=int8 activations=int8})"
    )
    for p in build_passes(pipeline, get_all_passes()):
        p.apply(Context(), quantized)
    acc = lambda m: float((run_function(m, [x])[0].argmax(1) == y).mean())  # noqa: E731
    return acc(module), acc(quantized)


@pytest.mark.parametrize("name", ["digits-mlp", "digits-lenet"])
def test_data_free_w8a8_within_one_point_seed0(name, tmp_path):
    pytest.importorskip("torch")
    fp32, w8a8 = _data_free_vs_float(name, 0, tmp_path)
    assert w8a8 >= fp32 - 0.01, (fp32, w8a8)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits-mlp", "digits-lenet"])
def test_data_free_w8a8_within_one_point_seeds_0_to_4(name, tmp_path):
    pytest.importorskip("torch")
    got = np.array([_data_free_vs_float(name, s, tmp_path) for s in range(5)])
    assert got[:, 1].mean() >= got[:, 0].mean() - 0.01, got
