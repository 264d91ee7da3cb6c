"""The accuracy benchmark's machinery (bench/accuracy.py) on one tiny
configuration: the digits MLP, one seed, FP32 and W8A8, a few augmented
inputs, ONNX Runtime as the peer and AIMET absent."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def accuracy():
    spec = importlib.util.spec_from_file_location(
        "bench_accuracy", ROOT / "bench" / "accuracy.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_accuracy"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run(accuracy, tmp_path_factory):
    for name in ("sklearn", "torch", "onnx", "onnxruntime"):
        pytest.importorskip(name)
    tmp = tmp_path_factory.mktemp("accuracy")
    mp = pytest.MonkeyPatch()
    mp.setenv("QOPT_CACHE", str(tmp / "models"))
    mp.delenv("QOPT_AIMET_PYTHON", raising=False)
    out = tmp / "rows.json"
    try:
        code = accuracy.main(
            [
                "--models=digits-mlp",
                "--seeds=0",
                "--rows=w8a8",
                "--augmented=300",
                "--iters=50",
                "--jobs=1",
                "--peers=ort,aimet",
                f"--out={tmp / 'bench'}",
                f"--json={out}",
            ]
        )
    finally:
        mp.undo()
    assert code == 0
    return json.loads(out.read_text()), tmp


def _row(rows, row, method):
    found = [r for r in rows if r["row"] == row and r["method"] == method]
    assert len(found) == 1, (row, method)
    return found[0]


def test_rows_have_the_documented_structure(run):
    result, _ = run
    assert result["seeds"] == [0]
    assert result["augmented"] == 300
    rows = result["rows"]
    methods = {(r["row"], r["method"]) for r in rows}
    assert methods == {
        ("fp32", "qopt nn (float)"),
        ("w8a8", "qopt plain"),
        ("w8a8", "qopt best"),
        ("w8a8", "ORT MinMax"),
        ("w8a8", "ORT Entropy"),
        ("w8a8", "ORT Percentile"),
        ("w8a8", "AIMET"),
    }
    for r in rows:
        assert r["model"] == "digits-mlp"
        if r["tool"] == "aimet":
            # no aimet_torch here and no --aimet-python: said, not crashed
            assert r["status"].startswith("not run (aimet_torch does not import")
            continue
        assert r["status"] == "ok"
        assert r["seeds"] == [0] and r["failed_seeds"] == []
        assert len(r["test_acc"]) == len(r["agreement"]) == 1
        assert 0.9 < r["test_acc_mean"] <= 1.0
        assert r["test_acc_std"] == 0.0
        assert 0.9 < r["agreement_mean"] <= 1.0
    fp32 = _row(rows, "fp32", "qopt nn (float)")
    # qopt's imported float model agrees with torch on every input
    assert fp32["agreement_mean"] == 1.0
    assert fp32["delta_vs_fp32"] == 0.0


def test_w8a8_is_within_two_points_of_fp32(run):
    rows = run[0]["rows"]
    fp32 = _row(rows, "fp32", "qopt nn (float)")["test_acc_mean"]
    for method in ("qopt plain", "qopt best", "ORT MinMax"):
        r = _row(rows, "w8a8", method)
        assert abs(r["test_acc_mean"] - fp32) <= 0.02, method
        assert r["delta_vs_fp32"] == pytest.approx(r["test_acc_mean"] - fp32)
    plain = _row(rows, "w8a8", "qopt plain")
    assert plain["weight_bits"] == 8.0


def test_best_is_chosen_on_validation_among_the_candidates(run):
    rows = run[0]["rows"]
    best = _row(rows, "w8a8", "qopt best")
    tried = best["candidates"]["0"]
    labels = [c["label"] for c in tried]
    assert labels[0] == "plain" and "adaround" in labels
    (winner,) = best["algorithms"]
    top = max(c["val_acc"] for c in tried if "error" not in c)
    chosen = tried[labels.index(winner)]
    assert chosen["val_acc"] == top == best["val_acc"][0]
    assert best["pipelines"]["0"] == chosen["pipeline"]


def test_the_plain_pipeline_runs_in_qopt_opt(run):
    """The recorded pipeline string, given to qopt-opt on the ONNX file,
    gives the model whose test accuracy the row reports."""
    from qopt.backends.reference.runner import run_function
    from qopt.tools.qopt_opt import main as qopt_opt
    from qopt.tools.qopt_run import read_module

    result, tmp = run
    plain = _row(result["rows"], "w8a8", "qopt plain")
    pipeline = plain["pipelines"]["0"]
    assert pipeline.startswith("builtin.module(nn-fold-batchnorm, nn-canonicalize, ")
    assert "qopt-quantize{weights=int8 activations=int8}" in pipeline
    case = tmp / "bench" / "digits-mlp-seed0"
    out = tmp / "q.mlir"
    argv = [str(case / "model.onnx"), f"--pass-pipeline={pipeline}", "-o", str(out)]
    assert qopt_opt(argv) == 0
    _, module = read_module(str(out))
    data = np.load(case / "eval.npz")
    logits = run_function(module, [data["x_test"]])[0]
    acc = float((logits.argmax(1) == data["y_test"]).mean())
    assert acc == plain["test_acc"][0]


def test_pick_best_breaks_ties_by_validation_loss_then_order(accuracy):
    tried = [
        {"label": "plain", "val_acc": 0.9, "val_loss": 0.5},
        {"label": "a", "error": "PassFailedException: no"},
        {"label": "b", "val_acc": 0.95, "val_loss": 0.4},
        {"label": "c", "val_acc": 0.95, "val_loss": 0.3},
        {"label": "d", "val_acc": 0.95, "val_loss": 0.3},
    ]
    assert accuracy.pick_best(tried)["label"] == "c"
    assert accuracy.pick_best(tried[:2])["label"] == "plain"
    assert accuracy.pick_best(tried[1:2]) is None


def test_qat_fine_tunes_the_training_objective(accuracy, tmp_path):
    """QAT's candidate uses the label smoothing the float model was trained
    with (0.1 for the MLP, none for LeNet)."""
    row = accuracy.ROW_BY_KEY["w8a8"]
    (qat,) = [c for c in accuracy.candidates_for(row) if c.label == "qat"]
    for model, smoothing in (("digits-mlp", "0.1"), ("digits-lenet", "0.0")):
        case = accuracy.Case(model, 0, tmp_path)
        text = qat.pipeline(case, "int8", 10)
        assert f"epochs=10 label-smoothing={smoothing}}}" in text


def test_cross_entropy(accuracy):
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    expected = (-np.log(np.exp(2) / (np.exp(2) + 2)) + np.log(3)) / 2
    assert accuracy.cross_entropy(logits, np.array([0, 1])) == pytest.approx(expected)
    # invariant to a shift of the logits (stable for large values)
    shifted = accuracy.cross_entropy(logits + 1000, np.array([0, 1]))
    assert shifted == pytest.approx(expected)


def test_a_failing_method_becomes_n_a(accuracy):
    common = {"model": "digits-mlp", "tool": "torch.ao"}
    fp32 = {**common, "tool": "qopt", "row": "fp32", "method": "qopt nn (float)"}
    records = [
        {**fp32, "seed": s, "test_acc": 0.9, "val_acc": 0.9, "agreement": 1.0}
        for s in (0, 1)
    ]
    records += [
        {**common, "row": "w8a8", "method": "torch.ao x86", "seed": s, "error": "E"}
        for s in (0, 1)
    ]
    records += [
        {**common, "row": "w4a8", "method": "torch.ao x86", "seed": 0, "error": "F"},
        {
            **common,
            "row": "w4a8",
            "method": "torch.ao x86",
            "seed": 1,
            "test_acc": 0.8,
            "val_acc": 0.8,
            "agreement": 0.7,
        },
    ]
    rows = {(r["row"], r["method"]): r for r in accuracy.aggregate(records)}
    assert rows[("w8a8", "torch.ao x86")]["status"] == "n/a (E)"
    partial = rows[("w4a8", "torch.ao x86")]
    assert partial["status"] == "ok"
    assert partial["seeds"] == [1] and partial["failed_seeds"] == [0]
    assert partial["delta_vs_fp32"] == pytest.approx(-0.1)
    table = accuracy.table(list(rows.values()), markdown=True)
    assert "| n/a (E)" in table
    assert "80.00 ± 0.00 (1 seeds; failed: F)" in table
