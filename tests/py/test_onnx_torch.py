"""PyTorch models exported with `torch.onnx.export(..., dynamo=False)`,
imported and run by qopt, compared with PyTorch itself.

- a residual CNN (conv + batchnorm folded by the exporter, skip connections,
  pools, linear head) with a dynamic batch (`dynamic_axes`): one import,
  batches 1 and 7;
- `nn.TransformerEncoderLayer` with batch_first both ways, norm_first both
  ways, relu and gelu, at opsets 14 (LayerNormalization decomposed), 17
  and 20: the exporter's shape arithmetic (Shape, Gather, Concat, Cast, Mod,
  ...) is folded by the importer.

Tolerance: max |error| <= 1e-4 * max(1, max |reference|).
"""

from __future__ import annotations

import io
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from qopt.backends.reference import run_function  # noqa: E402
from qopt.frontends.onnx import import_onnx  # noqa: E402


def export(model, example, dynamic_axes=None, opset=17) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes=dynamic_axes,
            opset_version=opset,
        )
    return buffer.getvalue()


def assert_close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    scale = max(1.0, float(np.abs(want).max()))
    err = float(np.abs(got.astype(np.float64) - want).max())
    assert err <= 1e-4 * scale, f"max error {err:.3g} (scale {scale:.3g})"


class Block(torch.nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(cout)
        self.conv2 = torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(cout)
        self.skip = (
            torch.nn.Sequential(
                torch.nn.Conv2d(cin, cout, 1, stride, bias=False),
                torch.nn.BatchNorm2d(cout),
            )
            if stride != 1 or cin != cout
            else torch.nn.Identity()
        )

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.skip(x))


class ResidualCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, 1, 1),
            torch.nn.BatchNorm2d(8),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
        )
        self.blocks = torch.nn.Sequential(Block(8, 8, 1), Block(8, 16, 2))
        self.head = torch.nn.Linear(16, 10)

    def forward(self, x):
        y = self.blocks(self.stem(x))
        y = torch.nn.functional.adaptive_avg_pool2d(y, 1).flatten(1)
        return self.head(y)


def _randomize_bn(model):
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
    return model


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    model = _randomize_bn(ResidualCNN()).eval()
    data = export(
        model, torch.randn(2, 3, 16, 16), {"x": {0: "batch"}, "y": {0: "batch"}}
    )
    return model, data


def test_residual_cnn_dynamic_batch(cnn):
    model, data = cnn
    module = import_onnx(data)
    fn = next(op for op in module.walk() if op.name == "func.func")
    assert str(fn.function_type) == "(tensor<?x3x16x16xf32>) -> tensor<?x10xf32>"
    for batch in (1, 7):
        x = torch.randn(batch, 3, 16, 16)
        with torch.no_grad():
            want = model(x).numpy()
        assert_close(run_function(module, [x.numpy()])[0], want)


def test_residual_cnn_through_qopt_run(cnn, tmp_path):
    """`qopt-run model.onnx` with a batch of 7 (and qopt-opt's printed IR)."""
    model, data = cnn
    path = tmp_path / "cnn.onnx"
    path.write_bytes(data)
    x = torch.randn(7, 3, 16, 16)
    np.save(tmp_path / "x.npy", x.numpy())
    proc = subprocess.run(
        [sys.executable, "-m", "qopt.tools.qopt_run", str(path), "-i",
         str(tmp_path / "x.npy"), "-q", "-o", str(tmp_path / "y.npz")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with torch.no_grad():
        want = model(x).numpy()
    assert_close(np.load(tmp_path / "y.npz")["result0"], want)
    proc = subprocess.run(
        [sys.executable, "-m", "qopt.tools.qopt_opt", str(path), "-o",
         str(tmp_path / "cnn.mlir")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "cnn.mlir").read_text()
    assert "func.func @main(%x: tensor<?x3x16x16xf32>) -> tensor<?x10xf32>" in text
    assert "nn.conv2d" in text and "nn.gemm" in text


class EncoderLayer(torch.nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.layer = torch.nn.TransformerEncoderLayer(
            d_model=32, nhead=4, dim_feedforward=64, dropout=0.0, **kwargs
        )

    def forward(self, x):
        return self.layer(x)


def _encoder(batch_first: bool, norm_first: bool, activation: str, opset: int):
    torch.manual_seed(1)
    model = EncoderLayer(
        batch_first=batch_first, norm_first=norm_first, activation=activation
    ).eval()
    axis = 0 if batch_first else 1
    example = torch.randn(2, 5, 32) if batch_first else torch.randn(5, 2, 32)
    data = export(model, example, {"x": {axis: "batch"}, "y": {axis: "batch"}}, opset)
    return model, data


def _input(batch_first: bool, batch: int):
    return torch.randn(batch, 5, 32) if batch_first else torch.randn(5, batch, 32)


@pytest.mark.parametrize("opset", [14, 17, 20])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [True, False])
def test_transformer_encoder_layer(batch_first, norm_first, activation, opset):
    model, data = _encoder(batch_first, norm_first, activation, opset)
    module = import_onnx(data, batch=3)
    names = {op.name for op in module.walk()}
    assert {"nn.matmul", "nn.softmax"} <= names
    assert names <= {
        "builtin.module", "func.func", "func.return", "nn.constant", "nn.matmul",
        "nn.gemm", "nn.add", "nn.mul", "nn.div", "nn.sub", "nn.pow", "nn.sqrt",
        "nn.reduce_mean", "nn.layernorm", "nn.softmax", "nn.relu", "nn.erf",
        "nn.gelu", "nn.reshape", "nn.transpose", "nn.gather", "nn.split",
        "nn.slice",
    }, names  # fmt: skip
    x = _input(batch_first, 3)
    with torch.no_grad():
        want = model(x).numpy()
    assert_close(run_function(module, [x.numpy()])[0], want)


@pytest.mark.parametrize("batch_first", [True, False])
def test_transformer_encoder_layer_dynamic_batch(batch_first):
    model, data = _encoder(batch_first, False, "gelu", 17)
    module = import_onnx(data)
    for batch in (1, 7):
        x = _input(batch_first, batch)
        with torch.no_grad():
            want = model(x).numpy()
        assert_close(run_function(module, [x.numpy()])[0], want)


class MaskedEncoder(torch.nn.Module):
    """Two encoder layers with a key padding mask: Where, Equal, Expand and
    ConstantOfShape on a boolean run-time input."""

    def __init__(self):
        super().__init__()
        layer = torch.nn.TransformerEncoderLayer(
            d_model=32, nhead=4, dim_feedforward=64, dropout=0.0, batch_first=True
        )
        self.encoder = torch.nn.TransformerEncoder(
            layer, num_layers=2, enable_nested_tensor=False
        )

    def forward(self, x, mask):
        return self.encoder(x, src_key_padding_mask=mask)


def test_transformer_encoder_with_padding_mask():
    torch.manual_seed(2)
    model = MaskedEncoder().eval()
    x = torch.randn(2, 5, 32)
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[1, 3:] = True
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (x, mask),
            buffer,
            dynamo=False,
            input_names=["x", "mask"],
            output_names=["y"],
            opset_version=17,
        )
    module = import_onnx(buffer.getvalue())
    assert "nn.where" in {op.name for op in module.walk()}
    with torch.no_grad():
        want = model(x, mask).numpy()
    assert_close(run_function(module, [x.numpy(), mask.numpy()])[0], want)
