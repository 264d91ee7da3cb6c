"""The PyTorch frontend (`qopt.frontends.torch`): modules imported through
`torch.onnx.export` into memory, run by qopt's reference executor and
compared with PyTorch itself.

- a residual CNN (batchnorm folded by the exporter), an MLP, a bare
  `nn.TransformerEncoderLayer` and every model of `qopt.models.zoo`, each
  imported once with a dynamic batch and run on batches 1 and 5;
- static batches, several inputs and outputs, names, mode and fast-path
  restoration;
- errors: one line, `TorchImportError` (a failed export) or `OnnxImportError`
  (an exported op qopt does not import);
- the command line for saved TorchScript modules.

Tolerance: max |error| <= 1e-5 * max(1, max |reference|).
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from qopt.backends.reference import run_function  # noqa: E402
from qopt.frontends.onnx import OnnxImportError  # noqa: E402
from qopt.frontends.torch import (  # noqa: E402
    TorchImportError,
    import_module,
    import_torchscript,
    parse_shape,
)


def assert_close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = max(1.0, float(np.abs(want).max()))
    err = float(np.abs(got.astype(np.float64) - want).max())
    assert err <= 1e-5 * scale, f"max error {err:.3g} (scale {scale:.3g})"


def torch_out(model, *xs):
    with torch.no_grad():
        out = model(*(torch.from_numpy(x) for x in xs))
    return out


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
            torch.nn.Conv2d(3, 8, 3, 1, 1), torch.nn.BatchNorm2d(8), torch.nn.ReLU()
        )
        self.blocks = torch.nn.Sequential(Block(8, 8, 1), Block(8, 16, 2))
        self.pool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(16, 10)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Flatten(),
            torch.nn.Linear(48, 32),
            torch.nn.GELU(),
            torch.nn.Dropout(0.5),
            torch.nn.Linear(32, 16),
            torch.nn.Tanh(),
            torch.nn.Linear(16, 4),
            torch.nn.Softmax(dim=1),
        )

    def forward(self, x):
        return self.net(x)


def _randomize_bn(model: torch.nn.Module) -> None:
    """Batchnorm statistics that are not the identity (so folding matters)."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def _check_batches(model, module, shape, batches=(1, 5)):
    for batch in batches:
        x = np.random.default_rng(batch).standard_normal((batch, *shape))
        x = x.astype(np.float32)
        (got,) = run_function(module, [x])
        assert_close(got, torch_out(model.eval(), x).numpy())


def test_residual_cnn_dynamic_batch():
    torch.manual_seed(0)
    model = ResidualCNN()
    _randomize_bn(model)
    module = import_module(model, torch.randn(2, 3, 16, 16))
    text = str(module)
    assert "func.func @main(%x: tensor<?x3x16x16xf32>) -> tensor<?x10xf32>" in text
    assert "nn.batchnorm" not in text  # folded into the convolutions
    _check_batches(model, module, (3, 16, 16))


def test_mlp_dynamic_batch_and_eval_mode():
    torch.manual_seed(1)
    model = MLP()
    model.train()
    module = import_module(model, torch.randn(2, 3, 4, 4))
    assert model.training  # the mode is restored after the export
    assert "dropout" not in str(module).lower()
    _check_batches(model, module, (3, 4, 4))
    model.train()


@pytest.mark.parametrize("batch_first", [True, False])
def test_transformer_encoder_layer(batch_first):
    torch.manual_seed(2)
    layer = torch.nn.TransformerEncoderLayer(
        d_model=16, nhead=4, dim_feedforward=32, batch_first=batch_first
    )
    example = torch.randn(2, 5, 16) if batch_first else torch.randn(5, 2, 16)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    if batch_first:
        module = import_module(layer, example)
        text = str(module)
        assert "func.func @main(%src: tensor<?x5x16xf32>) -> tensor<?x5x16xf32>" in text
        _check_batches(layer, module, (5, 16))
    else:  # the batch is axis 1: fix it (axis 0 is the sequence)
        module = import_module(layer, example, dynamic_batch=False)
        assert "tensor<5x2x16xf32>" in str(module)
        x = np.random.default_rng(0).standard_normal((5, 2, 16)).astype(np.float32)
        (got,) = run_function(module, [x])
        assert_close(got, torch_out(layer.eval(), x).numpy())
    assert torch.backends.mha.get_fastpath_enabled() == fastpath


ZOO = ["digits-mlp", "digits-lenet", "digits-resnet", "digits-transformer",
       "mnist1d-cnn"]  # fmt: skip


@pytest.mark.parametrize("name", ZOO)
def test_zoo_models(name):
    from qopt.models.train import build_model

    torch.manual_seed(3)
    model = build_model(name)
    module = import_module(model, torch.randn(2, *model.input_shape))
    _check_batches(model, module, tuple(model.input_shape))


def test_static_batch_and_names():
    torch.manual_seed(4)
    model = torch.nn.Linear(6, 3)
    module = import_module(
        model,
        torch.randn(4, 6),
        dynamic_batch=False,
        input_names=["features"],
        output_names=["logits"],
    )
    text = str(module)
    assert "func.func @main(%features: tensor<4x6xf32>) -> tensor<4x3xf32>" in text
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    assert_close(run_function(module, [x])[0], torch_out(model, x).numpy())


class TwoInTwoOut(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(4, 3)
        self.b = torch.nn.Linear(2, 3)

    def forward(self, x, y):
        s = self.a(x) + self.b(y)
        return torch.relu(s), s.sum(dim=1)


def test_several_inputs_and_outputs():
    torch.manual_seed(5)
    model = TwoInTwoOut()
    module = import_module(model, (torch.randn(2, 4), torch.randn(2, 2)))
    text = str(module)
    assert "func.func @main(%x: tensor<?x4xf32>, %y: tensor<?x2xf32>)" in text
    assert "-> (tensor<?x3xf32>, tensor<?xf32>)" in text
    for batch in (1, 5):
        r = np.random.default_rng(batch)
        x = r.standard_normal((batch, 4)).astype(np.float32)
        y = r.standard_normal((batch, 2)).astype(np.float32)
        got = run_function(module, [x, y])
        want = torch_out(model, x, y)
        assert_close(got[0], want[0].numpy())
        assert_close(got[1], want[1].numpy())


class _FFT(torch.nn.Module):
    def forward(self, x):
        return torch.fft.rfft(x).abs()


class _ArgMax(torch.nn.Module):
    def forward(self, x):
        return torch.argmax(x, 1)


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda: import_module("model", torch.randn(2)), TorchImportError,
         "expected a torch.nn.Module, got str"),
        (lambda: import_module(torch.nn.Linear(3, 2), [1.0, 2.0]), TorchImportError,
         "torch module Linear: example input 0 is a float, not a tensor"),
        (lambda: import_module(torch.nn.Linear(3, 2), torch.randn(2, 4)),
         TorchImportError,
         "torch module Linear: running the module on the example inputs failed: "
         "RuntimeError: mat1 and mat2 shapes cannot be multiplied"),
        (lambda: import_module(torch.nn.Linear(3, 2), torch.randn(2, 3), opset=99),
         TorchImportError,
         "torch module Linear: torch.onnx.export (opset 99) failed: RuntimeError: "
         "Unsupported onnx_opset_version: 99"),
        (lambda: import_module(_FFT(), torch.randn(2, 8)), TorchImportError,
         "torch module _FFT: torch.onnx.export (opset 17) failed: "
         "UnsupportedOperatorError: Exporting the operator 'aten::fft_rfft'"),
        (lambda: import_module(_ArgMax(), torch.randn(2, 4)), OnnxImportError,
         "torch module _ArgMax: unsupported ONNX ops (1 type, 1 node): ArgMax x1"),
        (lambda: import_module(torch.nn.Linear(3, 2), torch.randn(2, 3),
                               input_names=["a", "b"]), TorchImportError,
         "torch module Linear: 2 input names given for 1 inputs"),
    ],
)  # fmt: skip
def test_errors_are_one_line(call, error, message, capfd):
    with pytest.raises(error) as info:
        call()
    text = str(info.value)
    assert "\n" not in text
    assert message in text, text
    out, _ = capfd.readouterr()
    assert "Torch IR graph" not in out  # the exporter's dump is silenced


def test_torch_import_error_is_an_onnx_import_error():
    assert issubclass(TorchImportError, OnnxImportError)


# --------------------------------------------------------------------------- #
# TorchScript files and the command line
# --------------------------------------------------------------------------- #


def _save_script(tmp_path, scripted: bool):
    torch.manual_seed(6)
    model = ResidualCNN().eval()
    _randomize_bn(model)
    example = torch.randn(2, 3, 16, 16)
    with warnings.catch_warnings():  # TorchScript is deprecated, still works
        warnings.simplefilter("ignore", DeprecationWarning)
        if scripted:
            module = torch.jit.script(model)
        else:
            module = torch.jit.trace(model, example)
    path = tmp_path / "model.pt"
    module.save(str(path))
    return model, path


@pytest.mark.parametrize("scripted", [False, True])
def test_import_torchscript(tmp_path, scripted):
    model, path = _save_script(tmp_path, scripted)
    module = import_torchscript(path, [(2, 3, 16, 16)])
    assert "tensor<?x3x16x16xf32>" in str(module)
    _check_batches(model, module, (3, 16, 16))


def test_parse_shape():
    assert parse_shape("2x3x32x32") == (2, 3, 32, 32)
    assert parse_shape("7") == (7,)
    for bad in ("", "2x", "2x0", "ax3", "2*3"):
        with pytest.raises(TorchImportError, match="--input-shape expects"):
            parse_shape(bad)


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "qopt.frontends.torch", *map(str, args)],
        capture_output=True,
        text=True,
    )


def test_cli_imports_a_torchscript_file(tmp_path):
    model, path = _save_script(tmp_path, scripted=False)
    out = tmp_path / "model.mlir"
    proc = _cli(path, "--input-shape", "2x3x16x16", "-o", out)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "func.func @main(%input: tensor<?x3x16x16xf32>) -> tensor<?x10xf32>" in text
    # the printed IR runs (qopt-run) and matches torch
    x = np.random.default_rng(0).standard_normal((3, 3, 16, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    run = subprocess.run(
        [sys.executable, "-m", "qopt.tools.qopt_run", str(out), "-i",
         str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npz"), "-q"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    got = np.load(tmp_path / "y.npz")["result0"]
    assert_close(got, torch_out(model, x).numpy())
    # static batch: printed to stdout
    proc = _cli(path, "--input-shape", "2x3x16x16", "--static-batch")
    assert proc.returncode == 0, proc.stderr
    assert "tensor<2x3x16x16xf32>" in proc.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        ([], "give the shape of every input (--input-shape)"),
        (["--input-shape", "2x3xq"], "--input-shape expects positive sizes"),
        (["--input-shape", "2x5x16x16"], "running the module on the example inputs "
         "failed"),
    ],
)  # fmt: skip
def test_cli_errors(tmp_path, args, message):
    _, path = _save_script(tmp_path, scripted=False)
    out = tmp_path / "out.mlir"
    proc = _cli(path, *args, "-o", out)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qopt-torch: error: "), lines
    assert message in lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_cli_not_a_torchscript_file(tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"not a model")
    proc = _cli(path, "--input-shape", "1x3")
    assert proc.returncode == 2
    assert "not a TorchScript module saved with torch.jit.save" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = _cli(tmp_path / "missing.pt", "--input-shape", "1x3")
    assert proc.returncode == 2
    assert "cannot read" in proc.stderr
