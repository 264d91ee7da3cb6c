"""qopt-autoquant on the trained digits LeNet (seed 0): the stage it stops
at, the formats of the q model it outputs, and the report's numbers
against the q reference executor on the validation split."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp

from qopt.backends.reference.runner import run_function
from qopt.passes.calibrate import CalibratePass
from qopt.passes.entry import entry_function
from qopt.qdialect import nn, q
from qopt.qdialect.qtypes import PotType, UniformType

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("onnx")

from qopt.passes.autoquant import REPORT_ATTR, AutoQuantPass
from qopt.passes.sensitivity import layer_sensitivity


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    from qopt.frontends.onnx import import_onnx
    from qopt.models.data import load_digits_split
    from qopt.models.train import export_onnx, get_model, write_calibration

    tmp = tmp_path_factory.mktemp("autoquant")
    module = import_onnx(str(export_onnx(get_model("digits-lenet", 0), tmp / "l.onnx")))
    calib = write_calibration(tmp / "calib.npz", 256, "digits", 0)
    CalibratePass(data=str(calib)).apply(Context(), module)
    split = load_digits_split(0)
    files = {}
    for key, array in (
        ("data", split.x_train),
        ("labels", split.y_train),
        ("val_data", split.x_val),
        ("val_labels", split.y_val),
    ):
        np.save(tmp / f"{key}.npy", array)
        files[key] = str(tmp / f"{key}.npy")
    return module, files, split


def report(module: ModuleOp) -> dict:
    attr = module.attributes[REPORT_ATTR]
    out = {}
    for key, value in attr.data.items():  # type: ignore[attr-defined]
        if isinstance(value, IntegerAttr):  # met: an i1
            out[key] = bool(value.value.data)
        elif hasattr(value, "value"):
            out[key] = value.value.data
        elif hasattr(value, "data") and isinstance(value.data, str):
            out[key] = value.data
        else:
            out[key] = [v.data for v in value.data]
    return out


def autoquant(module: ModuleOp, files: dict, **options) -> ModuleOp:
    out = module.clone()
    AutoQuantPass(**files, **options).apply(Context(), out)
    out.verify()
    return out


def val_accuracy(module: ModuleOp, split) -> float:
    fn = entry_function(module, None, "run", ValueError)
    logits = run_function(module, [split.x_val], fn.sym_name.data)[0]
    return 100.0 * float((logits.argmax(axis=1) == split.y_val).mean())


def weight_types(module: ModuleOp) -> list:
    return [
        q.qtype_of(op.weight if isinstance(op, q.Conv2dOp) else op.rhs)
        for op in module.walk()
        if isinstance(op, q.Conv2dOp | q.MatmulOp)
    ]


def test_stage_one_suffices_at_int8(lenet, capfd):
    module, files, split = lenet
    out = autoquant(module, files, weights="int8", equalize=True, bias_correct=True)
    r = report(out)
    assert r["stage"] == "ptq" and r["met"] and r["high_layers"] == []
    assert not any(isinstance(op, nn.Conv2dOp | nn.GemmOp) for op in out.walk())
    assert all(isinstance(t, UniformType) and t.width == 8 for t in weight_types(out))
    # the report is the accuracy of the q model it outputs
    assert r["accuracy"] == pytest.approx(val_accuracy(out, split))
    assert r["float"] == pytest.approx(val_accuracy(module, split))
    assert r["drop"] <= 0.5
    table = capfd.readouterr().err
    assert "ptq    none" in table and "CLE + BC" in table


def test_stage_two_keeps_the_most_sensitive_layers_at_int8(lenet):
    module, files, split = lenet
    out = autoquant(module, files, weights="pot4")
    r = report(out)
    assert r["stage"] == "mixed" and r["met"]
    assert 1 <= len(r["high_layers"]) <= 2  # at most half of the 4 layers
    assert r["drop"] <= 0.5
    assert r["accuracy"] == pytest.approx(val_accuracy(out, split))
    # the first high layer is the one the sweep finds most sensitive
    sweep = layer_sensitivity(module, split.x_val, "pot4", labels=split.y_val)
    worst = max(sweep.values(), key=lambda s: (s.drop, s.mse))
    assert r["high_layers"][0] == worst.name
    names = list(sweep)
    types = weight_types(out)
    assert len(types) == len(names) == 4
    for name, t in zip(names, types, strict=True):
        if name in r["high_layers"]:
            assert isinstance(t, UniformType) and t.width == 8
        else:
            assert isinstance(t, PotType)


def test_stage_three_trains(lenet, capfd):
    """Ternary weights lose ~47 points; one layer at int8 is not enough
    (max-high=1), so QAT runs and meets the budget."""
    module, files, split = lenet
    out = autoquant(module, files, weights="ternary", max_high=1)
    r = report(out)
    assert r["stage"] == "qat" and r["met"]
    assert len(r["high_layers"]) == 1
    assert r["accuracy"] == pytest.approx(val_accuracy(out, split))
    table = capfd.readouterr().err
    lines = [line.split() for line in table.splitlines()]
    stages = [
        words[0] for words in lines if words and words[0] in ("ptq", "mixed", "qat")
    ]
    assert stages == ["ptq", "mixed", "qat"]
    ptq = float(next(w for w in lines if w and w[0] == "ptq")[2].rstrip("%"))
    assert ptq < r["float"] - 20
