"""Guards of the house rules: every op, type and pass has its FileCheck tests."""

from pathlib import Path

import pytest

from qopt.passes import get_all_passes
from qopt.qdialect import get_all_dialects

FILECHECK = Path(__file__).resolve().parents[1] / "filecheck"


def _text(*parts: str) -> str:
    return "\n".join((FILECHECK / p).read_text() for p in parts)


@pytest.mark.parametrize("dialect", sorted(get_all_dialects()))
def test_every_op_round_trips_in_a_filecheck_test(dialect: str):
    d = get_all_dialects()[dialect]()
    text = _text(f"{dialect}/ops.mlir")
    assert "--print-op-generic" in text, (
        "ops.mlir must also round-trip the generic format"
    )
    missing = [op.name for op in d.operations if f"{op.name} " not in text]
    assert not missing, f"ops without a round-trip test: {missing}"


@pytest.mark.parametrize("dialect", sorted(get_all_dialects()))
def test_every_verifier_has_an_invalid_test(dialect: str):
    d = get_all_dialects()[dialect]()
    text = _text(f"{dialect}/invalid.mlir")
    # every op with its own verifier appears in at least one error case
    missing = [
        op.name
        for op in d.operations
        if any(
            k in vars(op) for k in ("verify_", "verify_q", "verify_unit", "infer_shape")
        )
        if op.name not in text
    ]
    assert not missing, f"ops without an error test: {missing}"


def test_every_dataflow_op_runs_and_has_a_cost_model():
    """Each dataflow op has a reference implementation, a pipeline depth in
    the cycle model, and appears in the FileCheck tests of the passes."""
    from qopt.backends.hw import cost_model
    from qopt.backends.reference.dataflow import DataflowFunctions
    from qopt.qdialect.dataflow import DATAFLOW_OPS, MvuOp, RequantOp

    impls = {op for op, _ in DataflowFunctions._impls()}
    missing = [op.name for op in DATAFLOW_OPS if op not in impls]
    assert not missing, f"dataflow ops without an implementation: {missing}"
    text = _text("passes/qopt-lower-dataflow.mlir", "passes/qopt-tile.mlir")
    for op in DATAFLOW_OPS:
        assert op in cost_model.DEPTH or op in (MvuOp, RequantOp), op.name
        assert f"{op.name} " in text, f"{op.name} is in no pass test"


def test_every_q_type_round_trips():
    d = get_all_dialects()["q"]()
    text = _text("q/types.mlir", "q/calib.mlir")
    assert "--print-op-generic" in text
    missing = [
        a.name
        for a in d.attributes
        if a.name not in text.replace("!q.", "q.").replace("#q.", "q.")
    ]
    assert not missing, f"types without a round-trip test: {missing}"


@pytest.mark.parametrize("name", sorted(get_all_passes()))
def test_every_pass_has_a_filecheck_test(name: str):
    path = FILECHECK / "passes" / f"{name}.mlir"
    assert path.exists(), f"missing {path}"
    assert "RUN:" in path.read_text()
    cls = get_all_passes()[name]()
    assert cls.name == name
    assert cls.__doc__ and len(cls.__doc__.split()) > 10, f"{name} needs a docstring"
