"""The whole-layer sensitivity sweep (`qopt.passes.sensitivity`) on the
trained digits LeNet: names that recipes match, values against an
independent computation (the layer's weights replaced by qopt-quantize's
own levels), the ranking of the layers at pot4, accuracy and agreement
drops, activation quantization, and one-line errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from xdsl.context import Context

from qopt.backends.reference.nn import dense_to_numpy, numpy_to_dense
from qopt.backends.reference.runner import run_function
from qopt.passes.calibrate import CalibratePass
from qopt.passes.quant_formats import parse_weight_format, quantize_weights
from qopt.passes.quant_recipe import load_recipe
from qopt.passes.sensitivity import SensitivityError, layer_sensitivity
from qopt.qdialect import nn

NAMES = [
    "conv1_conv1.0_Conv_output",
    "conv2_conv2.0_Conv_output",
    "fc1_Gemm_output",
    "output",
]


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    pytest.importorskip("sklearn")
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from qopt.frontends.onnx import import_onnx
    from qopt.models.data import load_digits_split
    from qopt.models.train import export_onnx, get_model, write_calibration

    tmp = tmp_path_factory.mktemp("sensitivity")
    module = import_onnx(str(export_onnx(get_model("digits-lenet", 0), tmp / "m.onnx")))
    calib = str(write_calibration(tmp / "calib.npz", 256, "digits", 0))
    return module, calib, load_digits_split(0), tmp


def by_hand(module, name: str, fmt: str, x: np.ndarray) -> np.ndarray:
    """The model's output with the layer `name` alone at `fmt`: its weight
    constant replaced by qopt-quantize's levels times scales (per channel,
    in the layout qopt-quantize uses)."""
    m = module.clone()
    op = next(o for o in m.walk() if o.results and o.results[0].name_hint == name)
    weight = op.operands[1]
    w = dense_to_numpy(weight.owner.value).astype(np.float64)
    transposed = isinstance(op, nn.GemmOp) and op.attrs[3]
    kn = w.T if transposed else w
    axis = 0 if isinstance(op, nn.Conv2dOp) else 1
    levels, qtype = quantize_weights(kn, parse_weight_format(fmt), axis)
    deq = qtype.dequantize(levels)
    weight.owner.value = numpy_to_dense(
        np.ascontiguousarray(deq.T if transposed else deq), weight.type
    )
    return run_function(m, [x])[0]


def test_values_match_an_independent_computation(lenet):
    module, _, split, _ = lenet
    x, y = split.x_test, split.y_test
    before = str(module)
    # one batch, as run_function runs it (the float sums depend on the batch)
    result = layer_sensitivity(module, x, "pot4", labels=y, batch_size=len(x))
    assert str(module) == before  # the module is not changed
    assert list(result) == NAMES
    ref = run_function(module, [x])[0].astype(np.float64)
    float_acc = 100 * float((ref.argmax(1) == y).mean())
    for name, s in result.items():
        out = by_hand(module, name, "pot4", x).astype(np.float64)
        mse = float(((out - ref) ** 2).mean())
        assert math.isclose(s.mse, mse, rel_tol=1e-9)
        sqnr = 10 * math.log10((ref**2).sum() / ((out - ref) ** 2).sum())
        assert math.isclose(s.sqnr_db, sqnr, rel_tol=1e-6)
        acc = 100 * float((out.argmax(1) == y).mean())
        assert s.accuracy == pytest.approx(acc)
        assert s.float_accuracy == pytest.approx(float_acc)
        assert s.drop == pytest.approx(float_acc - acc)
        assert s.agreement == pytest.approx(
            100 * float((out.argmax(1) == ref.argmax(1)).mean())
        )
    assert [s.weights for s in result.values()] == [72, 1152, 2048, 320]
    assert [s.op for s in result.values()] == [
        "nn.conv2d",
        "nn.conv2d",
        "nn.gemm",
        "nn.gemm",
    ]


def test_pot4_ranking_and_formats(lenet, capsys):
    """Measured (seed 0, test split, accuracy points): pot4 conv1 +5.29,
    conv2 +3.06, fc1 -0.28, fc2 -0.28; int16 costs nothing."""
    module, _, split, _ = lenet
    x, y = split.x_test, split.y_test
    pot4 = layer_sensitivity(module, x, "pot4", labels=y)
    spot2 = layer_sensitivity(module, x, "spot2", labels=y)
    int16 = layer_sensitivity(module, x, "int16", labels=y)
    with capsys.disabled():
        for name in NAMES:
            print(
                f"\n{name}: pot4 {pot4[name].drop:+.2f} ({pot4[name].sqnr_db:.1f} dB)"
                f" spot2 {spot2[name].drop:+.2f} ({spot2[name].sqnr_db:.1f} dB)"
            )
    conv1, conv2, fc1, fc2 = (pot4[n] for n in NAMES)
    assert conv1.drop > 4.0 and conv2.drop > 2.0
    assert fc1.drop < 1.0 and fc2.drop < 1.0
    assert conv1.sqnr_db < conv2.sqnr_db < fc1.sqnr_db
    for name in NAMES:
        assert spot2[name].sqnr_db > pot4[name].sqnr_db + 5
        assert int16[name].drop == 0.0 and int16[name].agreement == 100.0
        assert int16[name].sqnr_db > 60


def test_without_labels_the_drop_is_disagreement(lenet):
    module, _, split, _ = lenet
    result = layer_sensitivity(module, split.x_test, "pot4", layers=[NAMES[0]])
    (s,) = result.values()
    assert s.accuracy is None and s.float_accuracy is None
    assert s.drop == pytest.approx(100.0 - s.agreement)
    assert s.drop > 3.0


def test_names_are_what_recipes_match(lenet, tmp_path):
    module, _, split, _ = lenet
    result = layer_sensitivity(module, split.x_test[:8], "int8")
    for name, s in result.items():
        path = tmp_path / "r.txt"
        path.write_text(f"{name} : weights=pot4\n")
        recipe = load_recipe(str(path))
        assert recipe.match([name, s.op]) is not None


def test_activations_and_data_from_a_file(lenet):
    module, calib, _, _ = lenet
    with pytest.raises(SensitivityError, match="has no calibrated range"):
        layer_sensitivity(module, calib, "int8", activations="int8")
    calibrated = module.clone()
    CalibratePass(data=calib).apply(Context(), calibrated)
    plain = layer_sensitivity(calibrated, calib, "int8")
    acts = layer_sensitivity(calibrated, calib, "int8", activations="int4")
    for name in NAMES:
        # a 4-bit output is far noisier than 8-bit weights alone
        assert acts[name].mse > 10 * plain[name].mse


def test_errors(lenet):
    module, _, split, _ = lenet
    x = split.x_test
    with pytest.raises(SensitivityError, match="unknown weight format 'pot9'"):
        layer_sensitivity(module, x, "pot9")
    with pytest.raises(SensitivityError, match="no layer named fc9 \\(layers: conv1"):
        layer_sensitivity(module, x, "int8", layers=["fc9"])
    with pytest.raises(SensitivityError, match="2 input arrays given, @main takes 1"):
        layer_sensitivity(module, [x, x], "int8")
    with pytest.raises(SensitivityError, match="3 labels for 359 samples"):
        layer_sensitivity(module, x, "int8", labels=np.zeros(3))
    with pytest.raises(SensitivityError, match="cannot read"):
        layer_sensitivity(module, "/nonexistent.npz", "int8")
