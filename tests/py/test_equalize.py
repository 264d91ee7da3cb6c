# ruff: noqa: E501
"""qopt-equalize: the float function is unchanged, channel ranges balance."""

import itertools
import json

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.parser import Parser

from qopt.backends.reference.nn import dense_to_numpy
from qopt.backends.reference.runner import run_function
from qopt.passes.equalize import EqualizePass
from qopt.qdialect import nn
from qopt.qdialect.calib import RANGE_ATTR
from qopt.tools.universe import QOPT_UNIVERSE  # noqa: F401  (dialects load)


def _ctx() -> Context:
    from qopt.qdialect import get_all_dialects

    ctx = Context()
    for name, factory in get_all_dialects().items():
        ctx.register_dialect(name, factory)
    from xdsl.dialects import builtin, func

    ctx.load_dialect(builtin.Builtin)
    ctx.load_dialect(func.Func)
    return ctx


def _dense(a: np.ndarray) -> str:
    return f"dense<{json.dumps(a.astype(np.float32).tolist())}>"


def _ty(shape) -> str:
    return "tensor<" + "x".join("?" if d is None else str(d) for d in shape) + "xf32>"


def _random_model(seed: int = 0):
    """conv 3->8 (relu, maxpool) -> depthwise conv 8 (clip 0..inf) ->
    conv 8->6 (relu) -> flatten -> gemm 24->5 (relu) -> gemm 5->4,
    with badly scaled channels."""
    rng = np.random.default_rng(seed)
    scale = lambda n: np.exp(rng.normal(0, 1.5, n))  # noqa: E731
    w1 = rng.normal(size=(8, 3, 3, 3)) * scale(8)[:, None, None, None]
    b1 = rng.normal(size=8)
    wd = rng.normal(size=(8, 1, 3, 3)) * scale(8)[:, None, None, None]
    bd = rng.normal(size=8)
    w2 = rng.normal(size=(6, 8, 1, 1)) * scale(8)[None, :, None, None]
    b2 = rng.normal(size=6)
    g1 = rng.normal(size=(5, 24)) * scale(24)[None, :]
    c1 = rng.normal(size=5)
    g2 = rng.normal(size=(5, 4)) * scale(5)[:, None]
    c2 = rng.normal(size=4)
    text = f"""
func.func @main(%x: {_ty((None, 3, 8, 8))}) -> {_ty((None, 4))} {{
  %w1 = nn.constant {_dense(w1)} : {_ty(w1.shape)}
  %b1 = nn.constant {_dense(b1)} : {_ty(b1.shape)}
  %y1 = nn.conv2d %x, %w1, %b1 {{pads = array<i64: 1, 1, 1, 1>}} : ({_ty((None, 3, 8, 8))}, {_ty(w1.shape)}, {_ty(b1.shape)}) -> {_ty((None, 8, 8, 8))}
  %r1 = nn.relu %y1 {{q.range = #q.range<0.0, 1.0>}} : ({_ty((None, 8, 8, 8))}) -> {_ty((None, 8, 8, 8))}
  %p1 = nn.maxpool2d %r1 {{kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>}} : ({_ty((None, 8, 8, 8))}) -> {_ty((None, 8, 4, 4))}
  %wd = nn.constant {_dense(wd)} : {_ty(wd.shape)}
  %bd = nn.constant {_dense(bd)} : {_ty(bd.shape)}
  %yd = nn.conv2d %p1, %wd, %bd {{pads = array<i64: 1, 1, 1, 1>, group = 8 : i64}} : ({_ty((None, 8, 4, 4))}, {_ty(wd.shape)}, {_ty(bd.shape)}) -> {_ty((None, 8, 4, 4))}
  %rd = nn.clip %yd {{min = 0.0 : f32}} : ({_ty((None, 8, 4, 4))}) -> {_ty((None, 8, 4, 4))}
  %w2 = nn.constant {_dense(w2)} : {_ty(w2.shape)}
  %b2 = nn.constant {_dense(b2)} : {_ty(b2.shape)}
  %y2 = nn.conv2d %rd, %w2, %b2 {{strides = array<i64: 2, 2>}} : ({_ty((None, 8, 4, 4))}, {_ty(w2.shape)}, {_ty(b2.shape)}) -> {_ty((None, 6, 2, 2))}
  %r2 = nn.relu %y2 : ({_ty((None, 6, 2, 2))}) -> {_ty((None, 6, 2, 2))}
  %f = nn.flatten %r2 : ({_ty((None, 6, 2, 2))}) -> {_ty((None, 24))}
  %g1 = nn.constant {_dense(g1)} : {_ty(g1.shape)}
  %c1 = nn.constant {_dense(c1)} : {_ty(c1.shape)}
  %h = nn.gemm %f, %g1, %c1 {{transB = true}} : ({_ty((None, 24))}, {_ty(g1.shape)}, {_ty(c1.shape)}) -> {_ty((None, 5))}
  %hr = nn.relu %h : ({_ty((None, 5))}) -> {_ty((None, 5))}
  %g2 = nn.constant {_dense(g2)} : {_ty(g2.shape)}
  %c2 = nn.constant {_dense(c2)} : {_ty(c2.shape)}
  %o = nn.gemm %hr, %g2, %c2 : ({_ty((None, 5))}, {_ty(g2.shape)}, {_ty(c2.shape)}) -> {_ty((None, 4))}
  func.return %o : {_ty((None, 4))}
}}
"""
    return Parser(_ctx(), text).parse_module()


def _layers(module):
    return [op for op in module.walk() if isinstance(op, nn.Conv2dOp | nn.GemmOp)]


def _imbalance(module) -> list[float]:
    """Per pair layer1 -> layer2: max/min over channels of r1_i / r2_i
    (1 when perfectly balanced)."""
    out = []
    layers = _layers(module)
    for l1, l2 in itertools.pairwise(layers):
        w1 = dense_to_numpy(l1.operands[1].owner.value).astype(np.float64)
        w2 = dense_to_numpy(l2.operands[1].owner.value).astype(np.float64)
        if isinstance(l1, nn.GemmOp) and not l1.attrs[3]:
            w1 = w1.T
        r1 = np.abs(w1.reshape(w1.shape[0], -1)).max(1)
        c = len(r1)
        if isinstance(l2, nn.GemmOp):
            w2 = w2 if not l2.attrs[3] else w2.T  # [K, N]
            r2 = np.abs(w2.reshape(c, -1)).max(1)
        elif l2.attrs[3] == 1:
            r2 = np.abs(w2).max(axis=(0, 2, 3))
        else:
            r2 = np.abs(w2).reshape(c, -1).max(1)
        ratio = r1 / r2
        out.append(float(ratio.max() / ratio.min()))
    return out


def _apply(module, **opts):
    out = module.clone()
    EqualizePass(**opts).apply(Context(), out)
    out.verify()
    return out


def test_random_model_output_unchanged_and_balanced():
    module = _random_model()
    x = np.random.default_rng(1).normal(size=(16, 3, 8, 8)).astype(np.float32)
    before = run_function(module, [x])[0]
    eq = _apply(module, iterations=50, threshold=1e-6)
    after = run_function(eq, [x])[0]
    assert np.abs(after - before).max() <= 1e-4 * np.abs(before).max()
    imb0, imb1 = _imbalance(module), _imbalance(eq)
    assert len(imb0) == 4
    for a, b in zip(imb0, imb1, strict=True):
        assert a > 2.0
        assert b < 1.01, (imb0, imb1)
    # the stale range of the scaled relu output is dropped
    relus = [op for op in eq.walk() if isinstance(op, nn.ReluOp)]
    assert all(RANGE_ATTR not in op.attributes for op in relus)


def test_one_iteration_already_balances_a_single_chain_partly():
    module = _random_model(3)
    one = _imbalance(_apply(module, iterations=1))
    many = _imbalance(_apply(module, iterations=20, threshold=0.0))
    assert max(many) <= max(one) + 1e-9


def test_bn_stats_follow_the_scale():
    from xdsl.dialects.builtin import DenseArrayBase, DictionaryAttr, f64

    from qopt.passes.equalize import BN_STATS_ATTR

    module = _random_model()
    first = _layers(module)[0]
    first.attributes[BN_STATS_ATTR] = DictionaryAttr(
        {
            "mean": DenseArrayBase.from_list(f64, [1.0] * 8),
            "std": DenseArrayBase.from_list(f64, [2.0] * 8),
        }
    )
    w0 = dense_to_numpy(first.weight.owner.value)
    eq = _apply(module)
    first2 = _layers(eq)[0]
    w1 = dense_to_numpy(first2.weight.owner.value)
    s = np.abs(w0).reshape(8, -1).max(1) / np.abs(w1).reshape(8, -1).max(1)
    mean = np.array(first2.attributes[BN_STATS_ATTR].data["mean"].get_values())
    np.testing.assert_allclose(mean, 1.0 / s, rtol=1e-5)


def test_bad_options():
    with pytest.raises(ValueError, match="iterations"):
        EqualizePass(iterations=0)
    with pytest.raises(ValueError, match="threshold"):
        EqualizePass(threshold=-1.0)


@pytest.mark.slow
def test_trained_digits_lenet(tmp_path):
    pytest.importorskip("torch")
    from qopt.frontends.onnx import import_onnx
    from qopt.models.data import load_digits_split
    from qopt.models.train import export_onnx, get_model

    path = export_onnx(get_model("digits-lenet", 0), tmp_path / "lenet.onnx")
    module = import_onnx(path)
    x = load_digits_split(0).x_test
    before = run_function(module, [x])[0]
    eq = _apply(module)
    after = run_function(eq, [x])[0]
    assert np.abs(after - before).max() <= 1e-4 * np.abs(before).max()
    imb0, imb1 = _imbalance(module), _imbalance(eq)
    assert len(imb0) == 3
    for a, b in zip(imb0, imb1, strict=True):
        assert b < a and b < 1.01, (imb0, imb1)
