"""The reference models (`qopt.models`): data splits, deterministic training,
the cache, ONNX export checked against ONNX Runtime, calibration sets, the CLI.

Training here is short (one or two epochs), except for two full runs of the
fastest models that guard the accuracy; the whole file takes well under a
minute on two cores. Needs the `models` extra (scikit-learn, mnist1d) and
onnxruntime; skipped without them.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("mnist1d")
torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from qopt.models import data, train  # noqa: E402
from qopt.models.zoo import ZOO  # noqa: E402


def state(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = state(a), state(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)


# ------------------------------------------------------------------ data


def test_digits_split_shapes_and_determinism() -> None:
    s = data.load_digits_split(0)
    again = data.load_digits_split(0)
    other = data.load_digits_split(1)
    sizes = (len(s.x_train), len(s.x_val), len(s.x_test))
    assert sum(sizes) == 1797
    assert len(s.x_test) == pytest.approx(0.2 * 1797, abs=10)
    assert len(s.x_val) == pytest.approx(0.1 * 1797, abs=10)
    for x, y in (s.train, s.val, s.test):
        assert x.dtype == np.float32 and x.shape[1:] == (1, 8, 8)
        assert y.dtype == np.int64 and y.shape == (len(x),)
        assert x.min() >= 0.0 and x.max() <= 1.0
    for a, b in zip(
        (s.x_train, s.y_train, s.x_test, s.y_test),
        (again.x_train, again.y_train, again.x_test, again.y_test),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(s.y_test, other.y_test)
    assert s.num_classes == 10
    # stratified: every class is ~20 % of the test split
    counts = np.bincount(s.y_test, minlength=10)
    totals = counts + np.bincount(s.y_train, minlength=10)
    totals += np.bincount(s.y_val, minlength=10)
    assert np.all(np.abs(counts - 0.2 * totals) <= 1)


def test_stratified_split_is_a_partition() -> None:
    y = np.repeat(np.arange(5), [10, 11, 12, 13, 14])
    parts = data.stratified_split(y, (0.2, 0.1), seed=3)
    joined = np.sort(np.concatenate(parts))
    np.testing.assert_array_equal(joined, np.arange(len(y)))
    again = data.stratified_split(y, (0.2, 0.1), seed=3)
    for a, b in zip(parts, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_mnist1d_split_and_rng_left_alone() -> None:
    data._mnist1d.cache_clear()
    np.random.seed(1234)
    random.seed(1234)
    expected_np, expected_py = np.random.random(), random.random()
    np.random.seed(1234)
    random.seed(1234)
    s = data.load_mnist1d(0)
    # generating the data set did not reseed the caller's global generators
    assert np.random.random() == expected_np
    assert random.random() == expected_py
    assert len(s.x_train) + len(s.x_val) == 4000
    assert len(s.x_val) == pytest.approx(400, abs=5)
    assert s.x_train.shape[1:] == s.x_val.shape[1:] == (1, 40)
    assert s.x_test.shape == (1000, 1, 40)
    assert s.x_train.dtype == np.float32 and s.y_train.dtype == np.int64
    val_counts = np.bincount(s.y_val, minlength=10)
    totals = val_counts + np.bincount(s.y_train, minlength=10)
    assert np.all(np.abs(val_counts - 0.1 * totals) <= 1)  # stratified
    other = data.load_mnist1d(1)
    np.testing.assert_array_equal(s.x_test, other.x_test)  # canonical test set
    assert not np.array_equal(s.y_val, other.y_val)


def test_shift() -> None:
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    x = np.concatenate([x, x])
    out = data.shift(x, np.array([[1, 0], [0, -1]]))
    np.testing.assert_array_equal(out[0, 0], [[0, 0, 0], [0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(out[1, 0], [[1, 2, 0], [4, 5, 0], [7, 8, 0]])
    signal = np.arange(1, 6, dtype=np.float32).reshape(1, 1, 5)
    np.testing.assert_array_equal(
        data.shift(signal, np.array([[-2]])), [[[3, 4, 5, 0, 0]]]
    )


def test_augmented() -> None:
    x = data.load_digits_split(0).x_test
    a = data.augmented(x, seed=5, n=3000)
    assert a.shape == (3000, 1, 8, 8) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0  # images stay in [0, 1]
    np.testing.assert_array_equal(a, data.augmented(x, seed=5, n=3000))
    assert not np.array_equal(a, data.augmented(x, seed=6, n=3000))
    signals = data.load_mnist1d(0).x_test
    b = data.augmented(signals, seed=0, n=500)
    assert b.shape == (500, 1, 40) and b.min() < 0.0  # not clipped


# ------------------------------------------------------------------ training


def test_training_is_deterministic() -> None:
    threads = torch.get_num_threads()
    torch.manual_seed(99)
    rng_before = torch.get_rng_state()
    a = train.train("digits-lenet", seed=0, epochs=2)
    b = train.train("digits-lenet", seed=0, epochs=2)
    c = train.train("digits-lenet", seed=1, epochs=2)
    assert_same_weights(a.model, b.model)
    assert a.test_acc == b.test_acc
    assert not np.array_equal(
        state(a.model)["fc2.weight"], state(c.model)["fc2.weight"]
    )
    # the caller's torch state is as it was
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert torch.get_num_threads() == threads
    assert not a.model.training


@pytest.mark.parametrize(
    ("name", "minimum"), [("digits-mlp", 0.95), ("digits-lenet", 0.96)]
)
def test_full_training_accuracy(name: str, minimum: float) -> None:
    result = train.train(name, seed=0)
    assert result.test_acc >= minimum
    assert result.epochs == train.CONFIGS[name].epochs


def test_unknown_model() -> None:
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        train.train("nope", 0)


# ------------------------------------------------------------------ cache


def test_cache_returns_the_same_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QOPT_CACHE", str(tmp_path))
    first = train.get_trained("digits-mlp", 0, epochs=1)
    assert not first.cached
    stored = list(tmp_path.glob("digits-mlp-seed0-*.pt"))
    assert stored == [train.cache_path("digits-mlp", 0, epochs=1)]

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("retrained although the model was cached")

    monkeypatch.setattr(train, "train", no_training)
    second = train.get_trained("digits-mlp", 0, epochs=1)
    assert second.cached
    assert_same_weights(first.model, second.model)
    assert second.test_acc == first.test_acc
    assert second.seconds == first.seconds
    model = train.get_model("digits-mlp", 0, epochs=1)
    assert_same_weights(first.model, model)
    assert not model.training
    # other seeds and epochs are other entries
    assert train.cache_path("digits-mlp", 1, epochs=1) != stored[0]
    assert train.cache_path("digits-mlp", 0, epochs=2) != stored[0]
    assert train.cache_key("digits-mlp") != train.cache_key("digits-lenet")


def test_cache_folder_argument_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QOPT_CACHE", str(tmp_path / "env"))
    assert train.cache_dir() == tmp_path / "env"
    assert train.cache_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("QOPT_CACHE")
    assert train.cache_dir() == Path("build") / "models"


# ------------------------------------------------------------------ ONNX


@pytest.mark.parametrize("name", list(ZOO))
def test_onnx_matches_torch(name: str, tmp_path: Path) -> None:
    model = train.train(name, seed=0, epochs=1).model  # BatchNorm stats set
    path = train.export_onnx(model, tmp_path / f"{name}.onnx")
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["output"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    ops = {node.op_type for node in proto.graph.node}
    assert "BatchNormalization" not in ops  # folded into the convolutions

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x_test = data.load_dataset(ZOO[name].dataset, 0).x_test
    for batch in (1, 37, 64):
        x = x_test[:batch]
        got = session.run(["output"], {"input": x})[0]
        want = train.predict(model, x)
        assert got.shape == (batch, 10)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_onnx_static_batch(tmp_path: Path) -> None:
    model = train.build_model("digits-lenet").eval()
    path = train.export_onnx(model, tmp_path / "static.onnx", dynamic_batch=False)
    dims = onnx.load(path).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims] == [1, 1, 8, 8]


# ------------------------------------------------------------------ calibration, CLI


def test_write_calibration(tmp_path: Path) -> None:
    path = train.write_calibration(tmp_path / "c.npz", 100, "digits", seed=0)
    with np.load(path) as npz:
        assert npz.files == ["input"]
        x = npz["input"]
    assert x.shape == (100, 1, 8, 8) and x.dtype == np.float32
    np.testing.assert_array_equal(x, data.load_digits_split(0).x_train[:100])
    path = train.write_calibration(tmp_path / "s.npz", 10, "mnist1d-cnn")
    with np.load(path) as npz:
        assert npz["input"].shape == (10, 1, 40)
    with pytest.raises(ValueError, match="n must be in"):
        train.write_calibration(tmp_path / "x.npz", 0)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--model", "digits-resnet", "--seed", "2", "--epochs", "1"]
    args += ["--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")]
    args += ["--calib", "32"]
    assert train.main(args) == 0
    out = capsys.readouterr().out
    assert "digits-resnet seed 2: test accuracy 0." in out
    assert "trained" in out
    onnx_path = tmp_path / "out" / "digits-resnet-seed2.onnx"
    assert onnx_path.exists()
    with np.load(tmp_path / "out" / "digits-resnet-seed2-calib.npz") as npz:
        assert npz["input"].shape == (32, 1, 8, 8)
    assert train.main(args) == 0  # second time from the cache
    assert "cache)" in capsys.readouterr().out
