"""Conformance of the ONNX importer on the models that ship with `onnx`.

Every model of `onnx/backend/test/data/{light,real,pytorch-converted}` is
imported and run by qopt's reference executor and compared with ONNX
Runtime on the same seeded random inputs (max |error| <= 1e-4 * max(1,
max |reference|)). The light models' ConstantOfShape weight fills are
replaced by seeded random weights first (`onnx_testing.randomize_fills`).
`real/` holds only pointers to the light files: those cases reuse the light
results. The old (opset 6) PyTorch exports that ONNX Runtime cannot load are
compared with the outputs shipped next to them (computed by PyTorch).

Models with unsupported ops (3-D convolutions and pools) must fail with the
unsupported-ops error, and only those. `pytest -s` prints the coverage
table (model, ops, supported, max error); bench/README.md keeps a copy
(`python bench/frontend.py --coverage`).
"""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")

from qopt.frontends import onnx_testing as T

MODELS = T.test_models(("light", "real", "pytorch-converted"))

# models whose unsupported ops are expected (3-D convolution and pooling)
EXPECTED_UNSUPPORTED = {
    "AvgPool3d",
    "AvgPool3d_stride",
    "AvgPool3d_stride1_pad0_gpu_input",
    "Conv3d",
    "Conv3d_dilated",
    "Conv3d_dilated_strided",
    "Conv3d_groups",
    "Conv3d_no_bias",
    "Conv3d_stride",
    "Conv3d_stride_padding",
    "MaxPool3d",
    "MaxPool3d_stride",
    "MaxPool3d_stride_padding",
}

_ROWS: dict[str, T.CoverageRow] = {}


@pytest.fixture(scope="module", autouse=True)
def coverage_table():
    yield
    rows = [_ROWS[k] for k in sorted(_ROWS, key=lambda k: list(_ROWS).index(k))]
    if rows:
        print("\n\nONNX conformance coverage\n" + T.coverage_table(rows))


def test_the_test_data_is_there():
    suites = {m.suite for m in MODELS}
    assert {"light", "real", "pytorch-converted"} <= suites
    assert len([m for m in MODELS if m.suite == "light"]) == 9


@pytest.mark.parametrize("tm", MODELS, ids=lambda m: f"{m.suite}/{m.name}")
def test_model(tm: T.TestModel):
    row = T.evaluate(tm)
    _ROWS[f"{tm.suite}/{tm.name}"] = row
    if tm.name in EXPECTED_UNSUPPORTED:
        assert not row.supported, f"{tm.name} imports now: update the test"
        assert "unsupported ONNX ops" in row.message and "[3-D]" in row.message
        return
    assert row.supported, row.message
    if tm.suite == "light":
        # the file as shipped (ConstantOfShape fills folded) imports too
        from qopt.frontends.onnx import import_onnx

        import_onnx(tm.path)
    assert row.ok, (
        f"max error {row.max_error:.3g} > {T.TOLERANCE} * {row.scale:.3g} "
        f"(reference: {row.reference})"
    )
