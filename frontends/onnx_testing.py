"""Helpers for the ONNX conformance tests and `bench/frontend.py`.

- `test_models()`: the models that ship with the `onnx` package under
  `onnx/backend/test/data` (`light/`, `real/` pointers, `pytorch-converted/`);
- `randomize_fills()`: the light models' weights are `ConstantOfShape`
  fills (every weight is 0.02, so the outputs are nearly uniform); this
  replaces each fill by a seeded random initializer of the same shape, with
  magnitudes that keep activations in range (He-style weights, batchnorm
  variances and scales around 1), so a comparison means something;
- `random_inputs()`, `run_ort()`, `run_qopt()`, `max_error()`: the
  comparison itself (tolerance: max |error| <= 1e-4 * max(1, max |ref|)).

Nothing here is used by the importer itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

TOLERANCE = 1e-4


def data_dir() -> Path:
    """`onnx/backend/test/data` of the installed onnx package."""
    import onnx

    return Path(onnx.__file__).parent / "backend" / "test" / "data"


@dataclass(frozen=True)
class TestModel:
    """One model of the onnx test data: its suite, name and file."""

    suite: str
    name: str
    path: Path


def test_models(suites: Sequence[str] = ("light", "real", "pytorch-converted")):
    """The models of the given suites, in a stable order.

    `real/` holds only `data.json` pointers (to the light files); those are
    resolved and reported under `real/` with the light file's path.
    """
    root = data_dir()
    out: list[TestModel] = []
    for suite in suites:
        folder = root / suite
        if not folder.is_dir():
            continue
        if suite == "light":
            for f in sorted(folder.glob("*.onnx")):
                out.append(TestModel(suite, f.stem.removeprefix("light_"), f))
        elif suite == "real":
            for d in sorted(folder.iterdir()):
                meta = d / "data.json"
                if not meta.exists():
                    continue
                url = json.loads(meta.read_text()).get("url", "")
                target = root.parent.parent.parent.parent / url
                if not target.exists():
                    target = root / "light" / Path(url).name
                if target.exists():
                    out.append(TestModel(suite, d.name.removeprefix("test_"), target))
        else:
            for d in sorted(folder.iterdir()):
                if (d / "model.onnx").exists():
                    out.append(
                        TestModel(suite, d.name.removeprefix("test_"), d / "model.onnx")
                    )
    return out


def _consumers(graph: Any) -> dict[str, list[tuple[Any, int]]]:
    users: dict[str, list[tuple[Any, int]]] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            users.setdefault(name, []).append((node, i))
    return users


def _feeds_sum(name: str, users: dict[str, list[tuple[Any, int]]]) -> bool:
    """Whether a tensor is added to another one (a residual branch)."""
    return any(node.op_type in ("Sum", "Add") for node, _ in users.get(name, []))


def _role(name: str, users: dict[str, list[tuple[Any, int]]], depth: int = 0) -> str:
    """How a weight is used: 'positive' (scales, variances), 'residual' (the
    scale of a batchnorm that ends a residual branch) or 'signed'."""
    for node, i in users.get(name, []):
        if node.op_type == "BatchNormalization" and i == 1:
            return "residual" if _feeds_sum(node.output[0], users) else "positive"
        if node.op_type == "BatchNormalization" and i == 4:
            return "positive"
        if node.op_type == "Mul":
            return "positive"
        if node.op_type in ("Unsqueeze", "Reshape", "Identity") and depth < 3:
            role = _role(node.output[0], users, depth + 1)
            if role == "positive":
                return role
    return "signed"


def randomize_fills(model: Any, seed: int = 0) -> Any:
    """A copy of `model` with every ConstantOfShape fill of a known shape
    replaced by a seeded random initializer of that shape."""
    import onnx
    from onnx import numpy_helper

    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    rng = np.random.default_rng(seed)
    inits = {t.name: t for t in g.initializer}
    users = _consumers(g)
    keep = []
    new_inits = []
    for node in g.node:
        if node.op_type != "ConstantOfShape" or node.input[0] not in inits:
            keep.append(node)
            continue
        shape = [int(d) for d in numpy_helper.to_array(inits[node.input[0]])]
        name = node.output[0]
        if len(shape) >= 2:
            fan_in = int(np.prod(shape[1:])) or 1
            # Gemm weights [out, in] and conv weights [O, C, kh, kw]
            value = rng.standard_normal(shape, dtype=np.float32)
            value *= np.float32(np.sqrt(2.0 / fan_in))
        elif _role(name, users) == "positive":
            value = rng.uniform(0.5, 1.5, shape)
        elif _role(name, users) == "residual":
            # like trained residual networks: branches start small
            value = rng.uniform(0.05, 0.25, shape)
        else:
            value = rng.standard_normal(shape) * 0.1
        new_inits.append(numpy_helper.from_array(value.astype(np.float32), name))
    del g.node[:]
    g.node.extend(keep)
    g.initializer.extend(new_inits)
    if model.ir_version < 4:
        g.input.extend(
            onnx.helper.make_tensor_value_info(t.name, t.data_type, t.dims)
            for t in new_inits
        )
    used = {i for n in g.node for i in n.input}
    dead = [t for t in g.initializer if t.name not in used]
    for t in dead:
        g.initializer.remove(t)
    dead_names = {t.name for t in dead}
    live_inputs = [i for i in g.input if i.name not in dead_names]
    del g.input[:]
    g.input.extend(live_inputs)
    return model


_LINEAR_PATH = {
    "Relu",
    "Reshape",
    "Flatten",
    "Dropout",
    "GlobalAveragePool",
    "AveragePool",
    "MaxPool",
    "Squeeze",
    "Unsqueeze",
    "Identity",
}


def temper_logits(model: Any, target_std: float = 3.0, seed: int = 1) -> Any:
    """Scale the layer that produces the final Softmax's input so that the
    logits have about `target_std` on a random input (random weights make a
    deep network's logits huge, and its softmax one-hot). The layer is the
    nearest Gemm/Conv/MatMul above the Softmax through positively
    homogeneous ops (Relu, pools, reshapes), so the logits scale exactly."""
    import onnx
    from onnx import numpy_helper

    g = model.graph
    outputs = {o.name for o in g.output}
    producer = {o: n for n in g.node for o in n.output}
    softmax = [n for n in g.node if n.op_type == "Softmax" and n.output[0] in outputs]
    inits = {t.name: t for t in g.initializer}
    if not softmax:
        return model
    logits = softmax[0].input[0]
    node = producer.get(logits)
    while node is not None and node.op_type in _LINEAR_PATH:
        node = producer.get(node.input[0])
    if node is None or node.op_type not in ("Gemm", "Conv", "MatMul"):
        return model
    params = [i for i in node.input[1:3] if i in inits]
    if not params:
        return model
    probe = onnx.ModelProto.FromString(model.SerializeToString())
    probe.graph.output.append(onnx.helper.make_tensor_value_info(logits, 1, None))
    feeds = random_inputs(probe, seed)
    values = run_ort(probe, feeds)[-1]
    std = float(np.std(values))
    if not np.isfinite(std) or std == 0:
        return model
    scale = np.float32(target_std / std)
    for name in params:
        t = inits[name]
        t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t) * scale, name))
    return model


def load(path: str | os.PathLike, randomize: bool = True, seed: int = 0) -> Any:
    """A test model; the light ones with random weights and tempered logits."""
    import onnx

    model = onnx.load(os.fspath(path))
    if randomize and any(n.op_type == "ConstantOfShape" for n in model.graph.node):
        model = temper_logits(randomize_fills(model, seed))
    return model


def input_specs(model: Any, batch: int | None = None) -> list[tuple[str, Any, list]]:
    """(name, numpy dtype, shape) of the real inputs (not initializers)."""
    from onnx import helper

    inits = {t.name for t in model.graph.initializer}
    specs = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        shape = []
        for axis, d in enumerate(tt.shape.dim):
            if d.WhichOneof("value") == "dim_value":
                shape.append(d.dim_value)
            else:
                shape.append(batch if batch is not None and axis == 0 else 1)
        specs.append((vi.name, helper.tensor_dtype_to_np_dtype(tt.elem_type), shape))
    return specs


def random_inputs(
    model: Any, seed: int = 1, batch: int | None = None
) -> dict[str, np.ndarray]:
    """Seeded random inputs for the model's real inputs (by name)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, dtype, shape in input_specs(model, batch):
        if np.issubdtype(dtype, np.integer):
            out[name] = rng.integers(0, 2, shape).astype(dtype)
        elif dtype == np.bool_:
            out[name] = rng.integers(0, 2, shape).astype(bool)
        else:
            out[name] = rng.standard_normal(shape).astype(dtype)
    return out


def ort_session(model: Any):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    data = model if isinstance(model, bytes) else model.SerializeToString()
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def run_ort(model: Any, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    return ort_session(model).run(None, inputs)


def run_qopt(module: Any, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    from qopt.backends.reference import run_function

    return run_function(module, list(inputs))


def max_error(got: Sequence[np.ndarray], want: Sequence[np.ndarray]) -> float:
    """max |got - want| over all outputs (inf if shapes differ)."""
    worst = 0.0
    for g, w in zip(got, want, strict=True):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape:
            return float("inf")
        if g.size:
            diff = np.abs(g.astype(np.float64) - w.astype(np.float64))
            worst = max(
                worst, float(np.nanmax(diff)) if not np.isnan(diff).all() else 0
            )
    return worst


def reference_scale(want: Sequence[np.ndarray]) -> float:
    """max(1, max |reference|): the scale of the tolerance."""
    m = 1.0
    for w in want:
        w = np.asarray(w, dtype=np.float64)
        if w.size:
            m = max(m, float(np.nanmax(np.abs(w))))
    return m


def within_tolerance(got: Sequence[np.ndarray], want: Sequence[np.ndarray]) -> bool:
    return max_error(got, want) <= TOLERANCE * reference_scale(want)


def shipped_data(path: str | os.PathLike) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The inputs and expected outputs of `test_data_set_0` next to a model."""
    import onnx
    from onnx import numpy_helper

    folder = Path(path).parent / "test_data_set_0"
    arrays = {}
    for kind in ("input", "output"):
        files = sorted(
            folder.glob(f"{kind}_*.pb"), key=lambda p: int(p.stem.split("_")[1])
        )
        loaded = []
        for f in files:
            t = onnx.TensorProto()
            t.ParseFromString(f.read_bytes())
            loaded.append(numpy_helper.to_array(t))
        arrays[kind] = loaded
    return arrays["input"], arrays["output"]


def reference_case(
    tm: TestModel, model: Any, seed: int = 1
) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    """(inputs, expected outputs, who computed them) for a test model.

    ONNX Runtime on seeded random inputs; for the old (opset 6) PyTorch
    exports ORT cannot load, the shipped test data (computed by PyTorch).
    """
    feeds = random_inputs(model, seed)
    try:
        want = run_ort(model, feeds)
        return list(feeds.values()), list(want), "onnxruntime"
    except Exception:
        folder = Path(tm.path).parent / "test_data_set_0"
        if not folder.is_dir():
            raise
        inputs, outputs = shipped_data(tm.path)
        return inputs, outputs, "shipped data"


@dataclass
class CoverageRow:
    """The outcome of one conformance case."""

    suite: str
    name: str
    nodes: int
    op_types: list[str]
    supported: bool
    message: str = ""
    reference: str = ""
    max_error: float = float("nan")
    scale: float = 1.0
    import_s: float = 0.0
    run_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.supported and self.max_error <= TOLERANCE * self.scale


_EVALUATED: dict[str, CoverageRow] = {}


def evaluate(tm: TestModel, seed: int = 1) -> CoverageRow:
    """Import and run one test model, compare with the reference (cached per
    file, so the `real/` pointers reuse the light results)."""
    import time

    from qopt.frontends.onnx import OnnxImportError, import_onnx, op_counts

    key = os.fspath(tm.path)
    if key in _EVALUATED:
        cached = _EVALUATED[key]
        return CoverageRow(**{**cached.__dict__, "suite": tm.suite, "name": tm.name})
    import onnx

    counts = op_counts(onnx.load(os.fspath(tm.path), load_external_data=False))
    model = load(tm.path)
    row = CoverageRow(
        tm.suite,
        tm.name,
        sum(counts.values()),
        [f"{op}" + (f" x{n}" if n > 1 else "") for op, n in sorted(counts.items())],
        True,
    )
    start = time.perf_counter()
    try:
        module = import_onnx(model, source=tm.name)
    except OnnxImportError as e:
        row.supported = False
        row.message = str(e)
        _EVALUATED[key] = row
        return row
    row.import_s = time.perf_counter() - start
    inputs, want, row.reference = reference_case(tm, model, seed)
    start = time.perf_counter()
    got = run_qopt(module, inputs)
    row.run_s = time.perf_counter() - start
    row.max_error = max_error(got, want)
    row.scale = reference_scale(want)
    _EVALUATED[key] = row
    return row


def coverage_table(rows: Sequence[CoverageRow], markdown: bool = False) -> str:
    """model | nodes | op types | supported | reference | max error."""
    header = ["model", "nodes", "ops", "supported", "reference", "max error"]
    cells = [header]
    for r in rows:
        if r.supported:
            support = "yes"
            err = f"{r.max_error:.1e}" + ("" if r.ok else " FAIL")
        else:
            reason = (
                r.message.split("): ", 1)[-1]
                if "unsupported" in r.message
                else r.message
            )
            support = f"no: {reason}"
            err = "-"
        cells.append(
            [
                f"{r.suite}/{r.name}",
                str(r.nodes),
                ", ".join(r.op_types),
                support,
                r.reference or "-",
                err,
            ]
        )
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c) + " |" for c in cells[1:]]
        return "\n".join(lines)
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    widths[2] = min(widths[2], 60)
    out = []
    for c in cells:
        ops = c[2] if len(c[2]) <= 60 else c[2][:57] + "..."
        row = [c[0], c[1], ops, c[3], c[4], c[5]]
        out.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    return "\n".join(line.rstrip() for line in out)
