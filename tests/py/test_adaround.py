"""qopt-adaround on a trained digits LeNet (ONNX -> nn, calibrated): the
learned rounding lowers each layer's output reconstruction error against
nearest rounding at int4, pot4 and spot2, stays within one grid step of it on
representable levels, survives qopt-quantize bit-exactly, keeps the model's
W4A8 accuracy, and is deterministic."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from qopt.backends.reference.nn import dense_to_numpy
from qopt.backends.reference.runner import run_function
from qopt.passes.adaround import AdaRoundPass, Layer, capture, find_layers
from qopt.passes.calibrate import CalibratePass
from qopt.passes.entry import entry_function
from qopt.passes.quant_formats import (
    WEIGHT_SCALES_ATTR,
    grid_neighbours,
    parse_weight_format,
)
from qopt.passes.quantize import QuantizePass
from qopt.qdialect import nn, q

ITERS = 1000  # the default


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    pytest.importorskip("sklearn")
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from qopt.frontends.onnx import import_onnx
    from qopt.models.data import load_digits_split
    from qopt.models.train import export_onnx, get_model, write_calibration

    tmp = tmp_path_factory.mktemp("adaround")
    model = get_model("digits-lenet", 0)
    module = import_onnx(str(export_onnx(model, tmp / "lenet.onnx")))
    calib = str(write_calibration(tmp / "calib.npz", 256, "digits", 0))
    CalibratePass(data=calib).apply(Context(), module)
    return module, calib, load_digits_split(0)


def layers_of(module: ModuleOp, fmt: str) -> list[Layer]:
    fn = entry_function(module, None, "round", ValueError)
    return find_layers(fn, AdaRoundPass(data="-", weights=fmt).layer_defaults())


def rounded(module: ModuleOp, calib: str, **options) -> ModuleOp:
    out = module.clone()
    AdaRoundPass(data=calib, **options).apply(Context(), out)
    out.verify()
    return out


def quantized(module: ModuleOp, **options) -> ModuleOp:
    out = module.clone()
    QuantizePass(**options).apply(Context(), out)
    out.verify()
    return out


def weight_matrix(layer: Layer) -> np.ndarray:
    """The layer's current weight constant as its [G, K, N/G] matrix."""
    w = dense_to_numpy(layer.weight.op.value).astype(np.float64)  # type: ignore[attr-defined]
    if isinstance(layer.op, nn.Conv2dOp):
        g = layer.matrix.shape[0]
        return w.reshape(g, w.shape[0] // g, -1).transpose(0, 2, 1)
    if isinstance(layer.op, nn.GemmOp) and layer.op.attrs[3]:
        return w.T[None]
    return w[None]


def level_index(levels: np.ndarray, fmt_name: str) -> np.ndarray:
    """Position of each level in the sorted level set of the format."""
    fmt = parse_weight_format(fmt_name)
    if fmt.kind == "int":
        return levels
    return np.searchsorted(fmt.levels_attr.levels, levels)


@pytest.mark.parametrize(
    ("fmt", "min_gain"), [("int4", 0.5), ("pot4", 0.3), ("spot2", 0.3)]
)
def test_reconstruction_error_drops(lenet, fmt, min_gain, capsys):
    """The layers' output MSE on the *test* inputs (held out from the
    calibration set the rounding was learned on) drops by `min_gain` on
    average over the four layers, and by at least 10 % in every layer."""
    module, calib, split = lenet
    fn = entry_function(module, None, "round", ValueError)
    reference = layers_of(module, fmt)
    capture(module, fn, [split.x_test], reference, 256)
    learned = layers_of(rounded(module, calib, weights=fmt, iters=ITERS), fmt)
    assert [type(a.op) for a in learned] == [type(r.op) for r in reference]
    assert len(reference) == 4  # conv1, conv2, fc1, fc2
    report, gains = [], []
    for ref, new in zip(reference, learned, strict=True):
        s = ref.column_scales()
        near = ref.fmt.levels_attr.nearest(ref.matrix / s)
        scales = new.op.attributes[WEIGHT_SCALES_ATTR].get_values()  # type: ignore[attr-defined]
        assert np.array_equal(np.asarray(scales), ref.scales)
        grid = weight_matrix(new)
        levels = np.rint(grid / s).astype(np.int64)
        # the weights are the grid values s * level (in f32), on the format
        assert np.array_equal(grid, (levels * s.astype(np.float32)).astype(np.float32))
        assert ref.fmt.levels_attr.contains(levels).all()
        # one of the two neighbours of w / s, so at most one step from nearest
        lo, hi = grid_neighbours(ref.matrix / s, ref.fmt)
        assert ((levels == lo) | (levels == hi)).all()
        step = np.abs(level_index(levels, fmt) - level_index(near, fmt))
        assert step.max() <= 1
        err_near = ref.recon(ref.matrix - near * s)
        err_ada = ref.recon(ref.matrix - levels * s)
        flipped = (levels != near).mean()
        report.append(
            f"{fmt} {ref.op.name}: nearest {err_near:.4g} adaround {err_ada:.4g}"
            f" ({1 - err_ada / err_near:.0%} lower, {flipped:.0%} flipped)"
        )
        assert err_ada <= 0.9 * err_near, report[-1]
        gains.append(1 - err_ada / err_near)
    with capsys.disabled():
        print("\n" + "\n".join(report))
    assert np.mean(gains) >= min_gain


def test_quantize_reproduces_the_learned_levels(lenet):
    module, calib, _ = lenet
    for fmt in ("int4", "pot4", "spot2"):
        ada = rounded(module, calib, weights=fmt, iters=50)
        layers = layers_of(ada, fmt)
        consts = [
            op.weight.owner if isinstance(op, q.Conv2dOp) else op.rhs.owner
            for op in quantized(ada, weights=fmt).walk()
            if isinstance(op, q.Conv2dOp | q.MatmulOp)
        ]
        assert len(consts) == len(layers) == 4
        for layer, const in zip(layers, consts, strict=True):
            assert isinstance(const, q.ConstantOp)
            recorded = np.asarray(
                layer.op.attributes[WEIGHT_SCALES_ATTR].get_values()  # type: ignore[attr-defined]
            )
            layer.scales = recorded
            levels = np.rint(weight_matrix(layer) / layer.column_scales())
            got = const.levels()
            if isinstance(layer.op, nn.Conv2dOp):
                want = levels.transpose(0, 2, 1).reshape(got.shape)
            else:
                want = levels[0]  # q.matmul takes [K, N]
            assert np.array_equal(got, want.astype(np.int64))
            scales = q.qtype_of(const.output).scale_values
            assert np.array_equal(np.asarray(scales), recorded)


def test_no_iterations_is_nearest_rounding(lenet):
    module, calib, _ = lenet
    plain = quantized(module, weights="pot4")
    ada = quantized(rounded(module, calib, weights="pot4", iters=0), weights="pot4")
    a = [op for op in plain.walk() if isinstance(op, q.ConstantOp)]
    b = [op for op in ada.walk() if isinstance(op, q.ConstantOp)]
    assert [str(x) for x in a] == [str(x) for x in b]


def test_w4a8_accuracy(lenet, capsys):
    module, calib, split = lenet
    x, y = split.x_test, split.y_test
    near = quantized(module, weights="int4", activations="int8")
    ada = quantized(rounded(module, calib, weights="int4", iters=ITERS), weights="int4")
    acc_near = float((run_function(near, [x])[0].argmax(1) == y).mean())
    acc_ada = float((run_function(ada, [x])[0].argmax(1) == y).mean())
    with capsys.disabled():
        print(f"\nW4A8 test accuracy: nearest {acc_near:.4f} adaround {acc_ada:.4f}")
    assert acc_ada >= acc_near - 0.002


def test_deterministic(lenet):
    module, calib, _ = lenet
    a = rounded(module, calib, weights="spot2", iters=60)
    b = rounded(module, calib, weights="spot2", iters=60)
    assert str(a) == str(b)
