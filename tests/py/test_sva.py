"""Numerics of `qopt-sva` (successive vector approximation).

The matching pursuit itself (residual decreasing with K, every weight a sum
of at most K signed powers of two from its vector's K exponents, exponent
span within spot's 0..6), bit-exact quantization by `qopt-quantize` of the
approximated weights, and, on trained digits models, the weight MSE and the
accuracy against per-weight spot rounding (`qopt-quantize{weights=spotK}`).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from xdsl.context import Context

from qopt.backends.reference.nn import dense_to_numpy
from qopt.backends.reference.runner import run_function
from qopt.passes.calibrate import CalibratePass
from qopt.passes.quant_formats import parse_weight_format, quantize_weights
from qopt.passes.quantize import QuantizePass
from qopt.passes.sva import (
    MAX_SPAN,
    SvaPass,
    _layer,
    scales_and_shifts,
    sva_vectors,
)
from qopt.qdialect import nn, q
from qopt.tools.qopt_opt import all_dialects

UNUSED = np.iinfo(np.int64).min


@pytest.fixture(scope="module")
def ctx() -> Context:
    c = Context()
    for name, factory in all_dialects().items():
        c.register_dialect(name, factory)
    return c


def _weights(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.1, size=(32, 75))
    w[3] *= 20.0  # channels of very different magnitudes
    w[5, :10] = 0.0
    w[7] = 0.0  # an all-zero channel
    return w.astype(np.float32).astype(np.float64)


def test_residual_decreases_with_terms():
    w = _weights()
    previous = None
    for k in range(1, 6):
        approx, _exps, norms = sva_vectors(w, k)
        assert np.all(np.diff(norms, axis=1) <= 1e-15)  # monotone per step
        residual = np.linalg.norm(w - approx, axis=1)
        assert np.allclose(residual, norms[:, -1])
        if previous is not None:
            # greedy: the K-term result extends the (K-1)-term one
            assert np.all(residual <= previous + 1e-15)
            assert np.sum(residual) < np.sum(previous)
        previous = residual
    assert np.all(previous[7] == 0)


@pytest.mark.parametrize("terms", [1, 2, 3])
def test_each_weight_is_a_sum_of_terms_from_the_vector_exponents(terms):
    w = _weights(1)
    approx, exps, _ = sva_vectors(w, terms)
    combos = np.array(list(itertools.product([-1, 0, 1], repeat=terms)), float)
    for row in range(len(w)):
        e = exps[row]
        used = e != UNUSED
        if not used.any():
            assert np.all(approx[row] == 0)
            continue
        assert e[used].max() - e[used].min() <= MAX_SPAN
        amps = np.where(used, np.ldexp(1.0, np.where(used, e, 0)), 0.0)
        sums = combos @ amps  # every value sum_k c_k 2^e_k
        assert np.isin(approx[row], sums).all()
    scales, shifts = scales_and_shifts(exps)
    levels = approx / scales[:, None]
    assert np.array_equal(levels, np.rint(levels))
    fmt = parse_weight_format({1: "pot4", 2: "spot2", 3: "spot3"}[terms])
    assert fmt.levels_attr.contains(levels.astype(np.int64)).all()
    assert shifts.min() >= -1 and shifts.max() <= MAX_SPAN


def test_threshold_stops_vectors_early():
    w = _weights(2)
    _full, exps_full, _norms_full = sva_vectors(w, 3)
    approx, exps, norms = sva_vectors(w, 3, threshold=0.5)
    n_terms = (exps != UNUSED).sum(axis=1)
    rel = np.linalg.norm(w - approx, axis=1) / np.maximum(norms[:, 0], 1e-300)
    nonzero = norms[:, 0] > 0
    # a vector stops as soon as it is below the threshold, never before
    stopped = nonzero & (n_terms < 3)
    assert stopped.any()
    assert np.all(rel[stopped] < 0.5)
    for row in np.flatnonzero(nonzero):
        k = n_terms[row]
        if k > 0:
            assert norms[row, k - 1] >= 0.5 * norms[row, 0]
    assert (exps_full != UNUSED).sum() > (exps != UNUSED).sum()


# --------------------------------------------------------------------------- #
# trained digits models
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    pytest.importorskip("sklearn")
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from qopt.models.data import load_digits_split
    from qopt.models.train import write_calibration

    tmp = tmp_path_factory.mktemp("digits-sva")
    calib = write_calibration(tmp / "calib.npz", 256, "digits", 0)
    return load_digits_split(0), tmp, calib


def _model(ctx, digits, name):
    from qopt.frontends.onnx import import_onnx
    from qopt.models.train import export_onnx, get_trained

    _split, tmp, calib = digits
    trained = get_trained(name, 0, cache=tmp / "cache")
    module = import_onnx(str(export_onnx(trained.model, tmp / f"{name}.onnx")))
    CalibratePass(data=str(calib)).apply(ctx, module)
    return module, trained


def _accuracy(module, split) -> float:
    out = run_function(module, [split.x_test])[0]
    return float((out.argmax(1) == split.y_test).mean())


def _weight_mse(module, terms: int) -> tuple[float, float]:
    """(SVA, per-weight spot rounding) mean squared weight error."""
    fmt = parse_weight_format(f"spot{terms}")
    se_sva = se_spot = 0.0
    n = 0
    for op in module.walk():
        found = _layer(op)
        if found is None:
            continue
        _, w, by_rows = found
        rows = (w.reshape(w.shape[0], -1) if by_rows else w.T).astype(np.float64)
        approx, _, _ = sva_vectors(rows, terms)
        levels, qtype = quantize_weights(rows, fmt, 0)
        spot = qtype.dequantize(levels).astype(np.float64)
        se_sva += float(((rows - approx) ** 2).sum())
        se_spot += float(((rows - spot) ** 2).sum())
        n += rows.size
    return se_sva / n, se_spot / n


# measured (seed 0): name, K -> (SVA accuracy, spot accuracy)
MEASURED = {
    ("digits-mlp", 2): (0.964, 0.969),
    ("digits-mlp", 3): (0.958, 0.964),
    ("digits-lenet", 2): (0.891, 0.967),
    ("digits-lenet", 3): (0.950, 0.972),
}


@pytest.mark.parametrize("name", ["digits-mlp", "digits-lenet"])
def test_sva_on_trained_digits_models(ctx, digits, name):
    split = digits[0]
    module, _trained = _model(ctx, digits, name)
    float_acc = _accuracy(module, split)
    for terms in (2, 3):
        spot = module.clone()
        QuantizePass(weights=f"spot{terms}").apply(ctx, spot)
        spot_acc = _accuracy(spot, split)

        approx = module.clone()
        SvaPass(terms=terms).apply(ctx, approx)
        sva_float_acc = _accuracy(approx, split)
        quant = approx.clone()
        QuantizePass(weights=f"spot{terms}").apply(ctx, quant)
        quant.verify()
        sva_acc = _accuracy(quant, split)

        # bit-exact: every quantized weight dequantizes to the approximation
        expected = []
        for op in approx.walk():
            if "q.sva_exponents" in op.attributes:
                weight = op.weight if isinstance(op, nn.Conv2dOp) else op.b
                w = dense_to_numpy(weight.op.value).astype(np.float64)
                if isinstance(op, nn.GemmOp) and op.attrs[3]:
                    w = w.T
                expected.append(w)
        got = [
            q.qtype_of(op.operands[1]).dequantize(op.operands[1].op.levels())
            for op in quant.walk()
            if isinstance(op, q.Conv2dOp | q.MatmulOp)
        ]
        assert expected and len(got) == len(expected)
        for g, w in zip(got, expected, strict=True):
            assert np.array_equal(g.astype(np.float64), w)

        mse_sva, mse_spot = _weight_mse(module, terms)
        print(
            f"\n{name} K={terms}: float {float_acc:.4f}  spot{terms} {spot_acc:.4f}"
            f"  sva {sva_acc:.4f} (float weights {sva_float_acc:.4f})"
            f"  weight MSE sva {mse_sva:.3g} vs spot {mse_spot:.3g}"
        )
        # as measured: K shared exponents per vector are far coarser than K
        # free exponents per weight (spot rounding has ~20-30x lower MSE)
        assert mse_sva > 5 * mse_spot
        assert sva_acc == pytest.approx(sva_float_acc, abs=0.01)
        want_sva, want_spot = MEASURED[(name, terms)]
        assert sva_acc >= want_sva - 0.03
        assert spot_acc >= want_spot - 0.03
        assert spot_acc >= float_acc - 0.02
