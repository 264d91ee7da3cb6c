"""qopt-qat and its torch translation of `nn` IR (passes/torch_graph.py).

- the torch module of every zoo model computes what the numpy reference
  executor computes (float32 rounding apart);
- QAT of the trained digits LeNet and MLP at pot4 weights / uint8
  activations beats plain qopt-quantize on the held-out test split, LeNet
  to within 0.7 points of float;
- the write-back is exact: qopt-quantize after qopt-qat gives a q model whose
  logits (q reference executor) equal the trained torch model's, for every
  weight format and for residual adds, pools, reshape chains, recorded
  weight types (qopt-mixed-precision) and frozen layers;
- deterministic; failure cases are one-line errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.exceptions import PassFailedException

from qopt.backends.reference.nn import dense_to_numpy
from qopt.backends.reference.runner import run_function
from qopt.passes.adaround import AdaRoundPass
from qopt.passes.calibrate import CalibratePass
from qopt.passes.entry import entry_function
from qopt.passes.quant_formats import (
    WEIGHT_FORMAT_ATTR,
    WEIGHT_SCALES_ATTR,
    WEIGHT_TYPE_ATTR,
    parse_weight_format,
)
from qopt.passes.quantize import QuantizePass
from qopt.qdialect import nn, q
from qopt.qdialect.calib import value_range

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("onnx")

from qopt.passes.qat import QatPass, predict, train  # noqa: E402
from qopt.passes.torch_graph import GraphError, TorchGraph  # noqa: E402

ZOO = [
    "digits-mlp",
    "digits-lenet",
    "digits-resnet",
    "digits-transformer",
    "mnist1d-cnn",
]


def dataset(name: str) -> str:
    return "mnist1d" if name.startswith("mnist1d") else "digits"


def imported(name: str, seed: int, tmp) -> ModuleOp:
    from qopt.frontends.onnx import import_onnx
    from qopt.models.train import export_onnx, get_model

    # the Transformer's attention reshapes need a static batch (models/README)
    dynamic = name != "digits-transformer"
    path = export_onnx(get_model(name, seed), tmp / f"{name}.onnx", dynamic)
    return import_onnx(str(path))


def entry(module: ModuleOp) -> str:
    return entry_function(module, None, "run", ValueError).sym_name.data


def calibrated(name: str, seed: int, tmp, samples: int = 256) -> ModuleOp:
    from qopt.models.train import write_calibration

    module = imported(name, seed, tmp)
    calib = write_calibration(tmp / f"calib{seed}.npz", samples, dataset(name), seed)
    CalibratePass(data=str(calib)).apply(Context(), module)
    return module


def training_files(tmp, split, samples: int | None = None) -> tuple[str, str]:
    x, y = split.x_train[:samples], split.y_train[:samples]
    np.save(tmp / "x.npy", x)
    np.save(tmp / "y.npy", y)
    return str(tmp / "x.npy"), str(tmp / "y.npy")


def quantized(module: ModuleOp, **options) -> ModuleOp:
    out = module.clone()
    QuantizePass(**options).apply(Context(), out)
    out.verify()
    return out


def q_logits(module: ModuleOp, x: np.ndarray) -> np.ndarray:
    return run_function(module, [x], entry(module))[0]


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == y).mean())


def qat(module: ModuleOp, data: str, labels: str, **options):
    """(trained copy of `module`, its QatGraph, the training log)."""
    out = module.clone()
    p = QatPass(data=data, labels=labels, **options)
    graph, arrays, y = p.build(out)
    log = train(
        graph, arrays, y, p.epochs, p.lr, p.batch_size, p.seed, p.label_smoothing
    )
    graph.write_back_all()
    out.verify()
    return out, graph, log


# --------------------------------------------------------------------------- #
# The torch translation
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", ZOO)
def test_torch_graph_matches_the_reference_executor(name, tmp_path):
    from qopt.models.data import load_dataset

    module = imported(name, 0, tmp_path)
    x = load_dataset(dataset(name), 0).x_test
    x = x[:1] if name == "digits-transformer" else x[:64]
    want = q_logits(module, x)
    graph = TorchGraph(entry_function(module, None, "run", ValueError))
    with torch.no_grad():
        got = graph(x)[0].numpy()
    assert got.shape == want.shape
    scale = np.abs(want).max()
    assert np.abs(got - want).max() <= 1e-5 * scale, np.abs(got - want).max()
    assert len(list(graph.parameters())) > 0


def test_torch_graph_write_back_round_trips(tmp_path):
    module = imported("digits-mlp", 0, tmp_path)
    fn = entry_function(module, None, "run", ValueError)
    graph = TorchGraph(fn)
    before = [
        dense_to_numpy(op.value) for op in fn.walk() if isinstance(op, nn.ConstantOp)
    ]
    with torch.no_grad():
        for p in graph.params:
            p.mul_(2.0)
    graph.write_back()
    after = [
        dense_to_numpy(op.value) for op in fn.walk() if isinstance(op, nn.ConstantOp)
    ]
    for b, a in zip(before, after, strict=True):
        assert np.array_equal(a, 2 * b)


def test_torch_graph_names_every_unsupported_op(tmp_path):
    module = quantized(calibrated("digits-mlp", 0, tmp_path, 64))
    fn = entry_function(module, None, "run", ValueError)
    with pytest.raises(GraphError) as info:
        TorchGraph(fn)
    message = str(info.value)
    assert "\n" not in message
    for name in (
        "'q.quantize'",
        "'q.matmul' (3)",
        "'q.requantize' (3)",
        "'q.dequantize'",
    ):
        assert name in message


# --------------------------------------------------------------------------- #
# Accuracy and exactness on the trained digits models
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("name", "max_drop"), [("digits-lenet", 0.02), ("digits-mlp", None)]
)
def test_qat_beats_plain_pot4(name, max_drop, tmp_path, capsys):
    from qopt.models.data import load_digits_split

    split = load_digits_split(0)
    module = calibrated(name, 0, tmp_path)
    data, labels = training_files(tmp_path, split)
    options = {"weights": "pot4", "activations": "uint8"}
    float_acc = accuracy(q_logits(module, split.x_test), split.y_test)
    plain = accuracy(q_logits(quantized(module, **options), split.x_test), split.y_test)
    trained, graph, log = qat(module, data, labels, epochs=10, **options)
    q_model = quantized(trained, **options)
    logits = q_logits(q_model, split.x_test)
    acc = accuracy(logits, split.y_test)
    with capsys.disabled():
        print(
            f"\n{name} seed 0 pot4/uint8: float {float_acc:.4f} plain {plain:.4f} "
            f"qat {acc:.4f} (train loss {log.loss[0]:.3f} -> {log.loss[-1]:.3f})"
        )
    assert log.loss[-1] < log.loss[0]
    assert acc > plain
    if max_drop is not None:
        assert acc >= float_acc - max_drop
    # the write-back is exact: the torch model *is* the q model
    torch_logits = predict(graph, [split.x_test])
    assert np.array_equal(torch_logits, logits)


def _formats():
    names = ["int4", "pot3", "spot2", "ternary"]
    try:
        parse_weight_format("binary")
        names.append("binary")
    except ValueError:
        pass
    return names


@pytest.mark.parametrize("weights", _formats())
def test_write_back_is_exact_for_every_weight_format(weights, tmp_path):
    from qopt.models.data import load_digits_split

    split = load_digits_split(0)
    module = calibrated("digits-lenet", 0, tmp_path, 64)
    data, labels = training_files(tmp_path, split, 256)
    options = {"weights": weights, "activations": "int4"}
    trained, graph, _ = qat(module, data, labels, epochs=1, lr=3e-3, **options)
    fmt = parse_weight_format(weights)
    layers = [op for op in trained.walk() if WEIGHT_FORMAT_ATTR in op.attributes]
    assert len(layers) == 4
    for op in layers:
        assert op.attributes[WEIGHT_FORMAT_ATTR].data == weights  # type: ignore[attr-defined]
        scales = np.asarray(op.attributes[WEIGHT_SCALES_ATTR].get_values())  # type: ignore[attr-defined]
        w = dense_to_numpy(op.operands[1].owner.value).astype(np.float64)  # type: ignore[attr-defined]
        if isinstance(op, nn.GemmOp) and op.attrs[3]:
            w = w.T
        shape = [1] * w.ndim
        shape[0 if isinstance(op, nn.Conv2dOp) else 1] = -1
        levels = np.rint(w / scales.reshape(shape))
        # grid values s * level, every level in the format's level set
        assert fmt.levels_attr.contains(levels.astype(np.int64)).all()
    x = split.x_test[:128]
    logits = q_logits(quantized(trained, **options), x)
    assert np.array_equal(predict(graph, [x]), logits)


@pytest.mark.parametrize(
    ("name", "weights", "activations"),
    [("digits-resnet", "int4", "int8"), ("mnist1d-cnn", "spot2", "uint4")],
)
def test_write_back_is_exact_on_residuals_pools_and_reshapes(
    name, weights, activations, tmp_path
):
    from qopt.models.data import load_dataset

    split = load_dataset(dataset(name), 0)
    module = calibrated(name, 0, tmp_path, 64)
    data, labels = training_files(tmp_path, split, 128)
    options = {"weights": weights, "activations": activations}
    trained, graph, _ = qat(module, data, labels, epochs=1, **options)
    x = split.x_test[:64]
    q_model = quantized(trained, **options)
    if name == "digits-resnet":
        assert any(isinstance(op, q.AddOp) for op in q_model.walk())
        assert any(isinstance(op, q.AvgPool2dOp) for op in q_model.walk())
    assert np.array_equal(predict(graph, [x]), q_logits(q_model, x))


@pytest.mark.slow
def test_transformer_agrees_up_to_float_rounding(tmp_path):
    """Softmax, layernorm and attention stay float: torch and numpy round
    them differently, so a level may flip now and then."""
    from qopt.models.data import load_digits_split

    split = load_digits_split(0)
    module = calibrated("digits-transformer", 0, tmp_path, 64)
    data, labels = training_files(tmp_path, split, 64)
    options = {"weights": "int8", "activations": "int8"}
    trained, graph, _ = qat(module, data, labels, epochs=1, **options)
    x = split.x_test[:64]
    q_model = quantized(trained, **options)
    want = np.concatenate([q_logits(q_model, x[i : i + 1]) for i in range(len(x))])
    got = predict(graph, [x])
    assert (got.argmax(axis=1) == want.argmax(axis=1)).all()
    assert (got != want).any(axis=1).mean() <= 0.1


def test_threshold_activations_are_exact(tmp_path):
    """`thrN` codes (fitted to the calibrated quantiles, kept fixed) run as
    `q.threshold` on the accumulators; training adapts the weights to them
    and keeps their calibrated ranges and statistics."""
    from qopt.models.data import load_digits_split

    split = load_digits_split(0)
    module = imported("digits-mlp", 0, tmp_path)
    x = split.x_train[:256]
    np.save(tmp_path / "calib.npy", x)
    CalibratePass(data=str(tmp_path / "calib.npy"), quantiles=16).apply(
        Context(), module
    )
    data, labels = training_files(tmp_path, split, 256)
    options = {"weights": "int4", "activations": "thr3"}
    trained, graph, log = qat(module, data, labels, epochs=2, **options)
    assert log.loss[-1] < log.loss[0]
    assert all(aq.mode == "fixed" for aq in graph.acts)
    assert not any(
        value_range(v).method_name == "qat"  # type: ignore[union-attr]
        for op in trained.walk()
        for v in op.results
        if value_range(v) is not None
    )
    q_model = quantized(trained, **options)
    assert any(isinstance(op, q.ThresholdOp) for op in q_model.walk())
    xt = split.x_test[:128]
    assert np.array_equal(predict(graph, [xt]), q_logits(q_model, xt))


def test_recorded_weight_types_and_frozen_layers(tmp_path):
    """A `q.weight_type` (qopt-mixed-precision) is trained on its own grid and
    kept; a gemm with alpha != 1 keeps its weights; both stay exact."""
    from qopt.models.data import load_digits_split
    from qopt.passes.mixed_precision import MixedPrecisionPass

    split = load_digits_split(0)
    module = calibrated("digits-mlp", 0, tmp_path, 64)
    data, labels = training_files(tmp_path, split, 256)
    MixedPrecisionPass(avg_bits=3.0).apply(Context(), module)
    gemms = [op for op in module.walk() if isinstance(op, nn.GemmOp)]
    last = gemms[-1]
    last.properties["alpha"] = nn.f32_attr(0.5)  # type: ignore[attr-defined]
    frozen = dense_to_numpy(last.b.owner.value)  # type: ignore[attr-defined]
    trained, graph, _ = qat(module, data, labels, epochs=1, weights="int4")
    gemms = [op for op in trained.walk() if isinstance(op, nn.GemmOp)]
    assert all(WEIGHT_TYPE_ATTR in op.attributes for op in gemms)
    assert not any(WEIGHT_FORMAT_ATTR in op.attributes for op in gemms)
    assert np.array_equal(dense_to_numpy(gemms[-1].b.owner.value), frozen)  # type: ignore[attr-defined]
    first = dense_to_numpy(gemms[0].b.owner.value)  # type: ignore[attr-defined]
    before = dense_to_numpy(
        next(op for op in module.walk() if isinstance(op, nn.GemmOp)).b.owner.value  # type: ignore[attr-defined]
    )
    assert not np.array_equal(first, before)
    x = split.x_test[:128]
    q_model = quantized(trained, weights="int4")
    assert np.array_equal(predict(graph, [x]), q_logits(q_model, x))


def test_ranges_are_written_back(tmp_path):
    from qopt.models.data import load_digits_split

    split = load_digits_split(0)
    module = calibrated("digits-mlp", 0, tmp_path, 64)
    data, labels = training_files(tmp_path, split, 128)
    trained, graph, _ = qat(module, data, labels, epochs=1, activations="uint4")
    fn = entry_function(trained, None, "run", ValueError)
    written = [
        value_range(v)
        for v in [
            *fn.body.blocks.first.args,
            *(r for op in fn.walk() for r in op.results),
        ]
        if value_range(v) is not None and value_range(v).method_name == "qat"
    ]
    assert len(written) == len(graph.acts) == 4  # input, two relus, logits
    for aq in graph.acts:
        lo, hi = aq.bounds(graph.ranges)
        attr = value_range(aq.value)
        assert attr is not None and (attr.low, attr.high) == (lo, hi)


def test_deterministic(tmp_path):
    from qopt.models.data import load_digits_split

    split = load_digits_split(0)
    module = calibrated("digits-mlp", 0, tmp_path, 64)
    data, labels = training_files(tmp_path, split, 128)
    a, _, _ = qat(module, data, labels, epochs=1, seed=3)
    b, _, _ = qat(module, data, labels, epochs=1, seed=3)
    c, _, _ = qat(module, data, labels, epochs=1, seed=4)
    assert str(a) == str(b)
    assert str(a) != str(c)


# --------------------------------------------------------------------------- #
# Failures
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from qopt.models.data import load_digits_split

    tmp = tmp_path_factory.mktemp("qat-small")
    split = load_digits_split(0)
    module = calibrated("digits-mlp", 0, tmp, 64)
    data, labels = training_files(tmp, split, 32)
    return module, data, labels, tmp


def fails(module: ModuleOp, **options) -> str:
    with pytest.raises(PassFailedException) as info:
        QatPass(**options).apply(Context(), module.clone())
    message = str(info.value)
    assert "\n" not in message
    return message


def test_label_errors(small):
    module, data, _labels, tmp = small
    assert "cannot read" in fails(module, data=data, labels=str(tmp / "nope.npy"))
    np.save(tmp / "short.npy", np.zeros(31, np.int64))
    assert "holds 31 labels but the data has 32 samples" in fails(
        module, data=data, labels=str(tmp / "short.npy")
    )
    np.save(tmp / "big.npy", np.full(32, 10))
    assert "labels outside 0..9" in fails(
        module, data=data, labels=str(tmp / "big.npy")
    )
    np.save(tmp / "float.npy", np.zeros(32, np.float32))
    assert "not integer labels" in fails(
        module, data=data, labels=str(tmp / "float.npy")
    )
    np.save(tmp / "two.npy", np.zeros((32, 1), np.int64))
    assert "1-D array" in fails(module, data=data, labels=str(tmp / "two.npy"))


def test_option_errors(small):
    _, data, labels, _ = small
    with pytest.raises(ValueError, match="unknown weight format 'pot9'"):
        QatPass(data=data, labels=labels, weights="pot9")
    with pytest.raises(ValueError, match="unknown activation format 'int1'"):
        QatPass(data=data, labels=labels, activations="int1")
    with pytest.raises(ValueError, match="'labels' must name"):
        QatPass(data=data, labels="")
    with pytest.raises(ValueError, match="'epochs' must be >= 0"):
        QatPass(data=data, labels=labels, epochs=-1)


def test_ir_errors(small):
    module, data, labels, _ = small
    uncalibrated = module.clone()
    for op in uncalibrated.walk():
        op.attributes.pop("q.range", None)
    fn = entry_function(uncalibrated, None, "run", ValueError)
    fn.arg_attrs = None
    assert "no calibrated range (q.range): run qopt-calibrate first" in fails(
        uncalibrated, data=data, labels=labels
    )
    # weights rounded by qopt-adaround for pot4 cannot be trained as int4
    ada = module.clone()
    AdaRoundPass(data=data, weights="pot4", iters=0).apply(Context(), ada)
    assert "rounded for 'pot4'" in fails(ada, data=data, labels=labels, weights="int4")
    # q IR has ops that do not run in torch
    message = fails(quantized(module), data=data, labels=labels)
    assert "cannot run in torch: 'q.quantize'" in message
