# ruff: noqa: E501
"""qopt-bias-correct: the mean output error of weight quantization goes away."""

import json

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects import builtin, func
from xdsl.parser import Parser

from qopt.backends.reference.runner import run_function
from qopt.passes.bias_correct import BiasCorrectPass, expected_activation
from qopt.passes.calibrate import CalibratePass
from qopt.passes.quantize import QuantizePass
from qopt.qdialect import get_all_dialects


def _parse(text: str):
    ctx = Context()
    for name, factory in get_all_dialects().items():
        ctx.register_dialect(name, factory)
    ctx.load_dialect(builtin.Builtin)
    ctx.load_dialect(func.Func)
    return Parser(ctx, text).parse_module()


def _d(a):
    return f"dense<{json.dumps(np.asarray(a, np.float32).tolist())}>"


def _conv_model(seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(6, 4, 3, 3))
    b = rng.normal(size=6)
    return _parse(f"""
func.func @main(%x: tensor<?x4x6x6xf32>) -> tensor<?x6x6x6xf32> {{
  %w = nn.constant {_d(w)} : tensor<6x4x3x3xf32>
  %b = nn.constant {_d(b)} : tensor<6xf32>
  %y = nn.conv2d %x, %w, %b {{pads = array<i64: 1, 1, 1, 1>}} : (tensor<?x4x6x6xf32>, tensor<6x4x3x3xf32>, tensor<6xf32>) -> tensor<?x6x6x6xf32>
  func.return %y : tensor<?x6x6x6xf32>
}}""")


def _gemm_model(seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(7, 12))
    return _parse(f"""
func.func @main(%x: tensor<?x12xf32>) -> tensor<?x7xf32> {{
  %w = nn.constant {_d(w)} : tensor<7x12xf32>
  %y = nn.gemm %x, %w {{transB = true}} : (tensor<?x12xf32>, tensor<7x12xf32>) -> tensor<?x7xf32>
  func.return %y : tensor<?x7xf32>
}}""")


def _quantized_mean_error(module, data, x, weights):
    ctx = Context()
    m = module.clone()
    CalibratePass(data=data).apply(ctx, m)
    QuantizePass(weights=weights, activations="int16").apply(ctx, m)
    yq = run_function(m, [x])[0]
    return yq


@pytest.mark.parametrize("weights", ["pot4", "int4"])
@pytest.mark.parametrize("make", [_conv_model, _gemm_model])
def test_empirical_removes_mean_error(tmp_path, weights, make):
    module = make()
    shape = (4, 6, 6) if make is _conv_model else (12,)
    rng = np.random.default_rng(5)
    # non-zero-mean inputs (as after a relu) make the weight error biased
    x = np.abs(rng.normal(1.0, 1.0, size=(512, *shape))).astype(np.float32)
    data = str(tmp_path / "d.npz")
    np.savez(data, x=x)
    yf = run_function(module, [x])[0]
    axes = (0, 2, 3) if yf.ndim == 4 else (0,)
    before = _quantized_mean_error(module, data, x, weights)
    corrected = module.clone()
    BiasCorrectPass(data=data, weights=weights).apply(Context(), corrected)
    after = _quantized_mean_error(corrected, data, x, weights)
    err0 = np.abs((before - yf).mean(axis=axes))
    err1 = np.abs((after - yf).mean(axis=axes))
    assert err0.max() > 1e-2
    assert err1.max() < 0.1 * err0.max(), (err0, err1)


def test_expected_activation_matches_sampling():
    rng = np.random.default_rng(0)
    mu, sigma = np.array([-0.5, 0.3, 2.0]), np.array([1.0, 0.5, 0.7])
    y = rng.normal(mu, sigma, size=(400_000, 4, 3))
    np.testing.assert_allclose(
        expected_activation(mu, sigma), np.maximum(y[:, 0], 0).mean(0), atol=5e-3
    )
    np.testing.assert_allclose(
        expected_activation(mu, sigma, taps=4, top=1.0),
        np.clip(y, 0, 1).max(axis=1).mean(0),
        atol=5e-3,
    )


def test_errors():
    with pytest.raises(ValueError, match="unknown mode"):
        BiasCorrectPass(mode="magic", data="x.npz")
    with pytest.raises(ValueError, match="needs option 'data'"):
        BiasCorrectPass()
    with pytest.raises(ValueError, match="unknown weight format"):
        BiasCorrectPass(mode="analytic", weights="int99")


@pytest.mark.slow
def test_data_free_pipeline_on_digits_lenet(tmp_path):
    """equalize + analytic bias correction (batchnorm statistics recorded as
    q.bn_stats from the torch model) + W8A8 quantize: within 1 point of float.
    Activation ranges still come from qopt-calibrate on data."""
    pytest.importorskip("torch")
    from xdsl.dialects.builtin import DenseArrayBase, DictionaryAttr, f64

    from qopt.frontends.onnx import import_onnx
    from qopt.models.data import load_digits_split
    from qopt.models.train import export_onnx, get_model, write_calibration
    from qopt.passes.equalize import BN_STATS_ATTR, EqualizePass
    from qopt.qdialect import nn

    model = get_model("digits-lenet", 0)
    module = import_onnx(export_onnx(model, tmp_path / "lenet.onnx"))
    convs = [op for op in module.walk() if isinstance(op, nn.Conv2dOp)]
    for conv, seq in zip(convs, (model.conv1, model.conv2), strict=True):
        bn = seq[1]
        conv.attributes[BN_STATS_ATTR] = DictionaryAttr(
            {
                "mean": DenseArrayBase.from_list(f64, bn.bias.tolist()),
                "std": DenseArrayBase.from_list(f64, bn.weight.abs().tolist()),
            }
        )
    data = str(write_calibration(tmp_path / "calib.npz", 256, "digits", 0))
    split = load_digits_split(0)
    x, y = split.x_test, split.y_test
    float_acc = (run_function(module, [x])[0].argmax(1) == y).mean()
    ctx = Context()
    m = module.clone()
    EqualizePass().apply(ctx, m)
    before = [
        op.operands[2] for op in m.walk() if isinstance(op, nn.Conv2dOp | nn.GemmOp)
    ]
    BiasCorrectPass(mode="analytic").apply(ctx, m)
    after = [
        op.operands[2] for op in m.walk() if isinstance(op, nn.Conv2dOp | nn.GemmOp)
    ]
    # conv2 and fc1 read a relu of a batchnormed conv: corrected
    assert sum(a is not b for a, b in zip(before, after, strict=True)) == 2
    CalibratePass(data=data).apply(ctx, m)
    QuantizePass(weights="int8", activations="int8").apply(ctx, m)
    acc = (run_function(m, [x])[0].argmax(1) == y).mean()
    assert acc >= float_acc - 0.01, (acc, float_acc)
