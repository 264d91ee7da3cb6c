"""The peers of `bench/accuracy.py`: other tools' post-training quantization of
the same trained models, on the same calibration data.

- **ONNX Runtime** `quantize_static` (QDQ format, per-channel int8 weights,
  uint8 activations, `MinMax` / `Entropy` / `Percentile` calibration) on the
  same ONNX file qopt imports, after ORT's recommended `quant_pre_process`
  (ONNX shape inference and graph optimisation; its symbolic shape inference
  is skipped, it fails on the Transformer's attention reshapes), evaluated
  with an onnxruntime CPU session (one thread).
- **PyTorch** `torch.ao.quantization` post-training static quantization, FX
  graph mode, the default `x86` qconfig mapping (per-channel symmetric int8
  weights, histogram-calibrated uint8 activations with `reduce_range`, i.e.
  7-bit activation levels, as torch's x86 default), evaluated in torch on
  the `x86` engine.
- **AIMET** (`aimet-torch`, Qualcomm): `QuantizationSimModel` with the
  per-channel default config (`default_config_per_channel.json`), after
  `prepare_model` and batchnorm folding, at W8A8 and W4A8, with its PTQ
  algorithms: min-max ranges (`plain`), SQNR ranges (`tf_enhanced`),
  cross-layer equalization (`cle`), AdaRound (`adaround`).
  aimet-torch 2.x has no bias correction for torch models any more. AIMET
  pins its own torch, so it usually lives in a separate virtual environment:
  `bench/accuracy.py --aimet-python VENV/bin/python` runs this file there
  (`python bench/peers.py aimet JOB.json OUT.npz`); in-process when
  `aimet_torch` imports.

Each peer returns logits (val, test) and top-1 predictions (augmented set);
`bench/accuracy.py` computes every metric the same way for every tool.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]
"""float32 inputs -> float32 logits."""

ORT_METHODS = ("MinMax", "Entropy", "Percentile")
AIMET_CANDIDATES = ("plain", "tf_enhanced", "cle", "adaround")
CALIB_BATCH = 64


def one_line(e: BaseException) -> str:
    """`Type: message` on one line, at most 200 characters."""
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text if len(text) <= 200 else text[:197] + "..."


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the peers' prints, warnings and info logging."""
    level = logging.root.manager.disable
    with (
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(level)


def batched(fn: Callable[[np.ndarray], np.ndarray], size: int = 2048) -> Predict:
    """`fn` applied to slices of at most `size` samples, concatenated."""

    def run(x: np.ndarray) -> np.ndarray:
        return np.concatenate([fn(x[i : i + size]) for i in range(0, len(x), size)])

    return run


# --------------------------------------------------------------- ONNX Runtime


def ort_quantize(onnx_path: Path, calib: np.ndarray, method: str) -> Predict:
    """ONNX Runtime's static QDQ quantization of `onnx_path` calibrated on
    `calib` with `method` (MinMax, Entropy, Percentile), as a predictor."""
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(
                {"input": calib[i : i + CALIB_BATCH]}
                for i in range(0, len(calib), CALIB_BATCH)
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as tmp, quiet():
        pre = os.path.join(tmp, "pre.onnx")
        out = os.path.join(tmp, "q.onnx")
        quant_pre_process(str(onnx_path), pre, skip_symbolic_shape=True)
        quantize_static(
            pre,
            out,
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=getattr(CalibrationMethod, method),
        )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        session = ort.InferenceSession(out, opts, providers=["CPUExecutionProvider"])
    return batched(lambda x: session.run(None, {"input": x})[0])


# ------------------------------------------------------------------ torch.ao


def torch_ao_quantize(model, calib: np.ndarray) -> tuple[Predict, str]:
    """torch.ao FX post-training static quantization (x86 defaults) of a torch
    module calibrated on `calib`: the predictor and a note naming the
    weight layers left in float (empty if none)."""
    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = "x86"
    x = torch.from_numpy(calib)
    with quiet(), torch.no_grad():
        prepared = prepare_fx(
            copy.deepcopy(model).eval(), get_default_qconfig_mapping("x86"), (x[:1],)
        )
        for i in range(0, len(x), CALIB_BATCH):
            prepared(x[i : i + CALIB_BATCH])
        converted = convert_fx(prepared)
    # modules FX called as leaves and left float, with weight layers inside
    weighted = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d)
    kept = [
        f"{node.target} ({type(module).__name__})"
        for node in converted.graph.nodes
        if node.op == "call_module"
        for module in [converted.get_submodule(node.target)]
        if any(isinstance(m, weighted) for m in module.modules())
    ]
    note = f"kept float: {', '.join(kept)}" if kept else ""

    def run(a: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return converted(torch.from_numpy(a)).numpy()

    return batched(run), note


# --------------------------------------------------------------------- AIMET


def aimet_missing() -> str | None:
    """Why aimet_torch does not import here (None if it does)."""
    try:
        import aimet_torch  # noqa: F401
    except Exception as e:  # an install can fail in many ways
        return one_line(e)
    return None


def aimet_quantize(model, calib: np.ndarray, bits: int, algo: str, iters: int):
    """AIMET's quantization simulation of `model` (W`bits`A8, per-channel
    weights) with PTQ algorithm `algo` (AIMET_CANDIDATES): the sim model."""
    import aimet_torch
    import torch
    from aimet_torch.adaround.adaround_weight import Adaround, AdaroundParameters
    from aimet_torch.batch_norm_fold import fold_all_batch_norms
    from aimet_torch.common.defs import QuantScheme
    from aimet_torch.cross_layer_equalization import equalize_model
    from aimet_torch.model_preparer import prepare_model
    from aimet_torch.quantsim import QuantizationSimModel

    config = os.path.join(
        os.path.dirname(aimet_torch.__file__),
        "common",
        "quantsim_config",
        "default_config_per_channel.json",
    )
    x = torch.from_numpy(calib)
    dummy = x[:1]
    scheme = (
        QuantScheme.post_training_tf
        if algo == "plain"
        else QuantScheme.post_training_tf_enhanced
    )
    model = prepare_model(copy.deepcopy(model).eval())
    if algo == "cle":
        equalize_model(model, dummy_input=dummy)  # folds batchnorm too
    else:
        fold_all_batch_norms(model, None, dummy_input=dummy)
    with tempfile.TemporaryDirectory() as tmp:
        encodings = None
        if algo == "adaround":
            loader = torch.utils.data.DataLoader(
                torch.utils.data.TensorDataset(x), batch_size=CALIB_BATCH
            )
            params = AdaroundParameters(
                data_loader=loader,
                num_batches=len(loader),
                default_num_iterations=iters,
                forward_fn=lambda m, batch: m(batch[0]),
            )
            model = Adaround.apply_adaround(
                model,
                dummy,
                params,
                path=tmp,
                filename_prefix="adaround",
                default_param_bw=bits,
                default_quant_scheme=scheme,
                default_config_file=config,
            )
            encodings = os.path.join(tmp, "adaround.encodings")
        sim = QuantizationSimModel(
            model,
            dummy,
            quant_scheme=scheme,
            default_output_bw=8,
            default_param_bw=bits,
            config_file=config,
        )
        if encodings is not None:
            sim.set_and_freeze_param_encodings(encodings)

    def calibrate(m) -> None:
        with torch.no_grad():
            for i in range(0, len(x), CALIB_BATCH):
                m(x[i : i + CALIB_BATCH])

    sim.compute_encodings(calibrate)
    return sim.model


def run_aimet(job: dict) -> dict[str, np.ndarray]:
    """Every case x bits x AIMET candidate of `job` (see `aimet_job` in
    bench/accuracy.py): arrays `<model>/<seed>/<bits>/<algo>/{val,test,aug}`
    (val/test logits, aug top-1) and `<...>/<algo>/error` for failures."""
    import torch

    from qopt.models.zoo import ZOO

    torch.set_num_threads(1)
    from aimet_torch.common.utils import AimetLogger

    AimetLogger.set_level_for_all_areas(logging.ERROR)
    out: dict[str, np.ndarray] = {}
    for case in job["cases"]:
        model = ZOO[case["model"]]()
        stored = torch.load(case["weights"], weights_only=True)
        model.load_state_dict(stored["state_dict"])
        model.eval()
        data = np.load(case["eval"])
        calib = np.load(case["calib"])["input"]
        for bits in job["bits"]:
            for algo in AIMET_CANDIDATES:
                key = f"{case['model']}/{case['seed']}/{bits}/{algo}"
                try:
                    with quiet():
                        sim = aimet_quantize(model, calib, bits, algo, job["iters"])
                        predict = batched(
                            lambda a, sim=sim: sim(torch.from_numpy(a)).detach().numpy()
                        )
                        out[f"{key}/val"] = predict(data["x_val"])
                        out[f"{key}/test"] = predict(data["x_test"])
                        out[f"{key}/aug"] = predict(data["x_aug"]).argmax(1)
                except Exception as e:  # reported in the table, never a crash
                    out[f"{key}/error"] = np.array(one_line(e))
                print(key, flush=True)
    return out


def main(argv: list[str]) -> int:
    """`peers.py aimet JOB.json OUT.npz`: run AIMET in this interpreter."""
    if len(argv) != 4 or argv[1] != "aimet":
        print("usage: python bench/peers.py aimet JOB.json OUT.npz", file=sys.stderr)
        return 2
    missing = aimet_missing()
    if missing is not None:
        print(f"aimet_torch does not import: {missing}", file=sys.stderr)
        return 3
    job = json.loads(Path(argv[2]).read_text())
    try:
        results = run_aimet(job)
    except Exception:
        traceback.print_exc()
        return 1
    np.savez(argv[3], **results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
