"""QONNX import (`qopt.frontends.qonnx`): quantizers become `q` types, and the
imported function computes what QONNX computes, integer for integer.

The QONNX graphs are built here with `onnx.helper` (Brevitas-style: Quant on
weights with per-channel scales and narrow ranges, 2 to 8 bits, Quant on
activations signed and unsigned with zero points, every rounding mode,
BipolarQuant, Trunc, MultiThreshold, QuantizeLinear/DequantizeLinear pairs).
They are checked against:

- an independent numpy implementation of the QONNX operators written in this
  file from the QONNX specification (`ref_quant`, ...), driven node by node
  by `reference_run` (standard nodes run in `onnx.reference`): always;
- QONNX's own executor (`qonnx.core.onnx_exec.execute_onnx`), when `qonnx`
  is installed;
- Brevitas' own forward pass, for a model exported with `export_qonnx`, when
  `brevitas` is installed.

What "bit-exact" means here:
- **integers**: every `q.quantize` / `q.constant` result of the imported IR
  (its levels minus the zero point, so that `!q.uniform` and
  `!q.thresholds` codes compare alike) equals the reference's integers
  ``round(x / scale + zeropt) - zeropt`` for the same float input, exactly;
- **floats**: models whose scales are powers of two and whose inputs lie on a
  grid make every float operation exact, so the whole run equals the
  reference bit for bit (and is full of exact rounding ties); with random
  scales, the outputs agree within 1e-6 relative (the float convolutions
  of the reference and of qopt may sum in another order).
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto
from onnx import helper as h
from onnx import numpy_helper as nh
from xdsl.interpreter import Interpreter

from qopt.backends.reference import run_function
from qopt.backends.reference.runner import interpreter_for
from qopt.frontends.onnx import OnnxImportError, import_onnx
from qopt.qdialect.qtypes import QuantizedType, ThresholdsType, UniformType

QONNX = "qonnx.custom_op.general"
FINN = "finn.custom_op.general"

# --------------------------------------------------------------------------- #
# The QONNX operators in numpy, from the specification (independent of qopt)
# --------------------------------------------------------------------------- #

F32 = np.float32


def _round_half_up(y):
    return np.where(y >= 0, np.floor(y + F32(0.5)), np.ceil(y - F32(0.5)))


def _round_half_down(y):
    return np.where(y >= 0, np.ceil(y - F32(0.5)), np.floor(y + F32(0.5)))


REF_ROUNDING = {
    "ROUND": np.rint,  # half to even
    "HALF_EVEN": np.rint,
    "CEIL": np.ceil,
    "FLOOR": np.floor,
    "UP": lambda y: np.where(y >= 0, np.ceil(y), np.floor(y)),  # away from 0
    "DOWN": np.trunc,  # toward 0
    "ROUND_TO_ZERO": np.trunc,  # Brevitas' name for DOWN
    "HALF_UP": _round_half_up,  # ties away from 0
    "HALF_DOWN": _round_half_down,  # ties toward 0
}


def spec_bounds(signed: bool, narrow: bool, bits: int) -> tuple[int, int]:
    if signed:
        return -(2 ** (bits - 1)) + int(narrow), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1 - int(narrow)


def ref_quant(x, scale, zeropt, bits, signed=True, narrow=False, mode="ROUND"):
    """QONNX Quant: (integers y_int - zeropt, float output)."""
    y = x / scale + zeropt  # in float32, as the specification's numpy code
    if bits == 1 and signed:  # qonnx executes a signed 1-bit Quant as bipolar
        y = np.where(y >= 0, F32(1), F32(-1))
    else:
        lo, hi = spec_bounds(signed, narrow, bits)
        y = np.clip(y, F32(lo), F32(hi))
        y = REF_ROUNDING[mode.upper()](y)
    centred = y - zeropt
    return centred.astype(np.int64), (centred * scale).astype(F32)


def ref_bipolar(x, scale):
    y = np.where(x >= 0, F32(1), F32(-1))
    return y.astype(np.int64), (y * scale).astype(F32)


def ref_trunc_v2(x, scale, zeropt, in_bits, out_scale, out_bits, signed, narrow, mode):
    y = np.rint(x / scale + zeropt)
    shift = F32(2.0) ** np.rint(np.log2(out_scale / scale))
    y = y / shift
    lo, hi = spec_bounds(signed, narrow, int(out_bits))
    y = REF_ROUNDING[mode.upper()](np.clip(y, F32(lo), F32(hi)))
    centred = y - zeropt / shift
    return centred.astype(np.int64), (centred * out_scale).astype(F32)


def ref_trunc_v1(x, scale, zeropt, in_bits, out_bits, mode):
    y = np.rint(x / scale + zeropt)
    y = REF_ROUNDING[mode.upper()](y / F32(2.0 ** (int(in_bits) - int(out_bits))))
    centred = y - zeropt
    return centred.astype(np.int64), (centred * scale).astype(F32)


def ref_multithreshold(x, thresholds, out_scale=1.0, out_bias=0.0, axis=1):
    xm = np.moveaxis(x, axis, -1)[..., None]
    codes = (xm >= thresholds).sum(axis=-1).astype(x.dtype)
    codes = np.moveaxis(codes, -1, axis)
    return codes.astype(np.int64), (F32(out_scale) * codes + F32(out_bias)).astype(F32)


def _attrs(node) -> dict:
    out = {}
    for a in node.attribute:
        v = h.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _ref_node(node, args, version):
    a = _attrs(node)
    if node.op_type in ("Quant", "IntQuant"):
        x, s, z, b = args
        return ref_quant(
            x,
            s,
            z,
            int(b),
            bool(a.get("signed", 1)),
            bool(a.get("narrow", 0)),
            a.get("rounding_mode", "ROUND"),
        )
    if node.op_type == "BipolarQuant":
        return ref_bipolar(*args)
    if node.op_type == "Trunc" and version >= 2:
        return ref_trunc_v2(
            *args,
            bool(a.get("signed", 1)),
            bool(a.get("narrow", 0)),
            a.get("rounding_mode", "FLOOR"),
        )
    if node.op_type == "Trunc":
        return ref_trunc_v1(*args, a.get("rounding_mode", "FLOOR"))
    if node.op_type == "MultiThreshold":
        x, t = args
        layout = a.get("data_layout") or {2: "NC", 3: "NWC", 4: "NCHW"}[x.ndim]
        return ref_multithreshold(
            x, t, a.get("out_scale", 1.0), a.get("out_bias", 0.0), layout.index("C")
        )
    raise NotImplementedError(node.op_type)


def reference_run(model, feeds: dict) -> tuple[dict, dict]:
    """Run `model` node by node: QONNX ops with the numpy functions above,
    standard ops with onnx.reference. Returns (all values, the integers of
    every QONNX node by node name)."""
    from onnx.reference import ReferenceEvaluator

    opsets = {o.domain: o.version for o in model.opset_import}
    values = {t.name: nh.to_array(t) for t in model.graph.initializer}
    values.update(feeds)
    ints = {}
    for node in model.graph.node:
        args = [values[i] for i in node.input]
        if node.domain in (QONNX, FINN):
            centred, y = _ref_node(node, args, opsets.get(node.domain, 1))
            ints[node.name] = centred
            values[node.output[0]] = y
            continue
        ev = ReferenceEvaluator(node, opsets={"": opsets.get("", 13)})
        outs = ev.run(None, dict(zip(node.input, args, strict=True)))
        for name, v in zip(node.output, outs, strict=False):
            values[name] = np.asarray(v)
    return values, ints


# --------------------------------------------------------------------------- #
# Model building and running
# --------------------------------------------------------------------------- #


def tensor_info(name, shape, elem=TensorProto.FLOAT):
    return h.make_tensor_value_info(name, elem, shape)


def make_model(nodes, inputs, outputs, inits, opset=13, qonnx_opset=2, domain=QONNX):
    graph = h.make_graph(
        nodes,
        "g",
        [tensor_info(n, s) for n, s in inputs],
        [tensor_info(n, None) for n in outputs],
        [nh.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    model = h.make_model(
        graph,
        opset_imports=[h.make_opsetid("", opset), h.make_opsetid(domain, qonnx_opset)],
    )
    model.ir_version = 8
    return model


def quant(name, x, s, z, b, y, signed=1, narrow=0, mode="ROUND", domain=QONNX):
    return h.make_node(
        "Quant",
        [x, s, z, b],
        [y],
        name=name,
        domain=domain,
        signed=signed,
        narrow=narrow,
        rounding_mode=mode,
    )


class Capture(Interpreter.Listener):
    """The operands and results of every q.quantize and q.constant."""

    def __init__(self):
        self.args = None
        self.ops = []

    def will_interpret_op(self, op, args):
        self.args = args

    def did_interpret_op(self, op, results):
        if op.name in ("q.quantize", "q.constant"):
            self.ops.append((op, self.args, results[0]))


def run_capture(module, inputs):
    cap = Capture()
    interp = interpreter_for(module, cap)
    with np.errstate(all="ignore"):
        outs = interp.call_op("main", tuple(np.asarray(i) for i in inputs))
    return [np.asarray(o) for o in outs], cap.ops


def qtype_of(op) -> QuantizedType:
    return op.results[0].type.element_type


def centred(qtype: QuantizedType, levels: np.ndarray) -> np.ndarray:
    """Levels minus zero points: the integers QONNX computes (y_int - zeropt)."""
    levels = np.asarray(levels, dtype=np.int64)
    return levels - qtype.zero_point_array(levels.shape)


def loc(op) -> str:
    return op.location.desc.data


def captured_ints(ops) -> dict:
    return {loc(op): centred(qtype_of(op), r) for op, _, r in ops}


def close(got, want, rel=1e-6):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    scale = max(1.0, float(np.abs(want).max()))
    err = float(np.abs(got - want).max())
    assert err <= rel * scale, f"max error {err:.3g} (scale {scale:.3g})"


# --------------------------------------------------------------------------- #
# The QONNX executor, if installed
# --------------------------------------------------------------------------- #


def qonnx_run(model, feeds, monkeypatch):
    """QONNX's own executor (standard nodes in onnxruntime); the single-node
    models it builds get an IR version onnxruntime reads."""
    pytest.importorskip("qonnx")
    import qonnx.core.onnx_exec as ox
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    make = ox.qonnx_make_model

    def make_readable(graph, **kwargs):
        m = make(graph, **kwargs)
        m.ir_version = min(m.ir_version, 10)
        return m

    monkeypatch.setattr(ox, "qonnx_make_model", make_readable)
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for node in model.graph.node:  # qonnx executes FINN's ops under its own name
        if node.domain == FINN:
            node.domain = QONNX
    for o in model.opset_import:
        if o.domain == FINN:
            o.domain = QONNX
    for vi in model.graph.input:  # its shape inference wants static shapes
        if vi.name in feeds:
            dims = vi.type.tensor_type.shape.dim
            for d, size in zip(dims, np.shape(feeds[vi.name]), strict=True):
                d.Clear()
                d.dim_value = size
    mw = ModelWrapper(model).transform(InferShapes())
    return ox.execute_onnx(mw, feeds)


# --------------------------------------------------------------------------- #
# Quant on activations: every rounding mode, zero points, narrow ranges
# --------------------------------------------------------------------------- #


def _activation_inputs(scale: float, zp: float, lo: int, hi: int) -> np.ndarray:
    """Random values, every exact tie (k + 1/2 around each level), values one
    ulp around the ties, saturation and special values."""
    r = np.random.default_rng(7)
    k = np.arange(lo - 3, hi + 4, dtype=np.float64) - zp
    ties = ((k + 0.5) * scale).astype(F32)
    near = np.concatenate(
        [np.nextafter(ties, F32(-np.inf)), np.nextafter(ties, F32(np.inf))]
    )
    exact = (k * scale).astype(F32)
    rand = (r.standard_normal(4000) * (hi - lo) * scale / 3).astype(F32)
    special = np.array([0.0, -0.0, np.inf, -np.inf, 1e30, -1e30, 1e-40], F32)
    return np.concatenate([ties, near, exact, rand, special]).astype(F32)


MODES = ["ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN"]


@pytest.mark.parametrize("mode", [*MODES, "ROUND_TO_ZERO", "round"])
@pytest.mark.parametrize(
    "bits,signed,narrow,zp",
    [(8, 1, 0, 0), (8, 1, 1, 0), (4, 0, 0, 0), (4, 0, 1, 0), (8, 0, 0, 87),
     (5, 1, 0, -3), (2, 1, 1, 0), (3, 0, 0, 5)],
)  # fmt: skip
def test_quant_activation_is_exact(mode, bits, signed, narrow, zp):
    scale = 0.0625 if mode in ("CEIL", "UP") else 0.037
    model = make_model(
        [quant("q", "x", "s", "z", "b", "y", signed, narrow, mode)],
        [("x", ["n"])],
        ["y"],
        {"s": F32(scale), "z": F32(zp), "b": F32(bits)},
    )
    module = import_onnx(model)
    lo, hi = spec_bounds(bool(signed), bool(narrow), bits)
    x = _activation_inputs(scale, zp, lo, hi)
    (y,), ops = run_capture(module, [x])
    want_ints, want = ref_quant(x, F32(scale), F32(zp), bits, signed, narrow, mode)
    assert np.array_equal(captured_ints(ops)["q"], want_ints)
    assert np.array_equal(y, want)  # bit for bit, including -0.0 vs 0.0 aside
    qtype = qtype_of(ops[0][0])
    if mode.upper() in ("ROUND", "HALF_EVEN") and zp == 0:
        assert isinstance(qtype, UniformType)
        assert (qtype.width, qtype.is_signed, qtype.qmin, qtype.qmax) == (
            bits,
            bool(signed),
            lo,
            hi,
        )
        assert qtype.scale == float(F32(scale)) and qtype.zero_point == 0
    else:  # exact as thresholds: codes = level - lo, zero point zp - lo
        assert isinstance(qtype, ThresholdsType)
        assert qtype.count == hi - lo
        assert qtype.zero_point == zp - lo and qtype.scale == float(F32(scale))


def test_quant_activation_uniform_type_text():
    model = make_model(
        [
            quant("qi", "x", "s", "z", "b8", "a", signed=1, narrow=1),
            quant("qu", "a", "s2", "z", "b4", "y", signed=0),
        ],
        [("x", ["batch", 4])],
        ["y"],
        {"s": F32(0.5), "s2": F32(0.25), "z": F32(0), "b8": F32(8), "b4": F32(4)},
    )
    text = str(import_onnx(model))
    assert (
        "q.quantize %x : (tensor<?x4xf32>) -> tensor<?x4x!q.uniform<i8<-127:127>:f32,"
        " 0.5>>" in text
    )
    assert "tensor<?x4x!q.uniform<u4:f32, 0.25>>" in text
    assert text.count("q.dequantize") == 2


def test_quant_activation_per_channel():
    """Per-channel activation scales (ROUND, zero point 0): !q.uniform per axis."""
    s = np.array([0.5, 0.25, 0.125], F32).reshape(1, 3, 1, 1)
    model = make_model(
        [quant("q", "x", "s", "z", "b", "y")],
        [("x", ["n", 3, 2, 2])],
        ["y"],
        {"s": s, "z": F32(0), "b": F32(6)},
    )
    module = import_onnx(model)
    assert "!q.uniform<i6:f32:1, {0.5, 0.25, 0.125}>" in str(module)
    x = (np.random.default_rng(0).standard_normal((5, 3, 2, 2)) * 4).astype(F32)
    x[0, :, 0, 0] = [0.25, 0.375, 0.0625]  # ties
    (y,), ops = run_capture(module, [x])
    want_ints, want = ref_quant(x, s, F32(0), 6)
    assert np.array_equal(captured_ints(ops)["q"], want_ints)
    assert np.array_equal(y, want)


# --------------------------------------------------------------------------- #
# Quant on weights: q.constant with the exact levels
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 8])
@pytest.mark.parametrize("narrow", [0, 1])
@pytest.mark.parametrize("mode", ["ROUND", "FLOOR", "HALF_UP"])
def test_quant_weight_per_channel(bits, narrow, mode):
    r = np.random.default_rng(bits)
    w = r.standard_normal((4, 3, 3, 3)).astype(F32)
    q = 2 ** (bits - 1) - 1
    s = (np.abs(w).reshape(4, -1).max(axis=1) / q).astype(F32).reshape(4, 1, 1, 1)
    w[0, 0, 0, :] = (np.array([0.5, 1.5, -2.5]) * s[0, 0, 0, 0]).astype(F32)  # ties
    model = make_model(
        [
            quant("wq", "w", "s", "z", "b", "wd", narrow=narrow, mode=mode),
            h.make_node("Conv", ["x", "wd"], ["y"], name="conv", pads=[1, 1, 1, 1]),
        ],
        [("x", ["n", 3, 5, 5])],
        ["y"],
        {"w": w, "s": s, "z": F32(0), "b": F32(bits)},
    )
    module = import_onnx(model)
    text = str(module)
    rng = f"i{bits}<{-q}:{q}>" if narrow else f"i{bits}"
    assert "%w_q = q.constant" in text
    assert f"tensor<4x3x3x3x!q.uniform<{rng}:f32:0, {{" in text
    x = r.standard_normal((2, 3, 5, 5)).astype(F32)
    (y,), ops = run_capture(module, [x])
    want_ints, _ = ref_quant(w, s, F32(0), bits, True, bool(narrow), mode)
    assert np.array_equal(captured_ints(ops)["w"], want_ints)
    values, _ = reference_run(model, {"x": x})
    assert np.array_equal(run_function(module, [x])[0], y)
    close(y, values["y"])


def test_quant_weight_zero_point_and_unsigned():
    w = np.linspace(-1, 3, 24, dtype=F32).reshape(4, 6)
    s = np.array([0.02, 0.03, 0.05, 0.07], F32).reshape(4, 1)
    z = np.array([10, 20, 30, 40], F32).reshape(4, 1)
    model = make_model(
        [quant("wq", "w", "s", "z", "b", "wd", signed=0),
         h.make_node("Gemm", ["x", "wd"], ["y"], name="fc", transB=1)],
        [("x", ["n", 6])],
        ["y"],
        {"w": w, "s": s, "z": z, "b": F32(7)},
    )  # fmt: skip
    module = import_onnx(model)
    assert "!q.uniform<u7:f32:0, {0.019999999552965164:10, 0.029999999329447746:20" in (
        str(module)
    )
    x = np.random.default_rng(1).standard_normal((3, 6)).astype(F32)
    (y,), ops = run_capture(module, [x])
    want_ints, _ = ref_quant(w, s, z, 7, False)
    assert np.array_equal(captured_ints(ops)["w"], want_ints)
    close(y, reference_run(model, {"x": x})[0]["y"])


def test_quant_bias_32_bits():
    """Brevitas' Int32Bias: a 32-bit Quant of a constant bias."""
    bias = np.array([0.5, -0.25, 0.125], F32)
    s = np.array([1e-4, 2e-4, 3e-4], F32)
    model = make_model(
        [quant("bq", "bias", "s", "z", "b", "bd"),
         h.make_node("Add", ["x", "bd"], ["y"], name="add")],
        [("x", ["n", 3])],
        ["y"],
        {"bias": bias, "s": s, "z": F32(0), "b": F32(32)},
    )  # fmt: skip
    module = import_onnx(model)
    assert "!q.uniform<i32:f32:0, {" in str(module)
    x = np.zeros((1, 3), F32)
    (y,), ops = run_capture(module, [x])
    want_ints, want = ref_quant(bias, s, F32(0), 32)
    assert np.array_equal(captured_ints(ops)["bias"], want_ints)
    assert np.array_equal(y[0], want)


# --------------------------------------------------------------------------- #
# A Brevitas-style CNN and an MLP, end to end
# --------------------------------------------------------------------------- #


def cnn_model(exact: bool, batch="batch"):
    """Quant(x) int8 -> Conv(Quant(w) per-channel int4 narrow) + b -> Relu ->
    Quant uint4 -> MaxPool -> Quant int6 zero point 3 (thresholds) ->
    Flatten -> Gemm(Quant(w2) per-row int3 narrow, Quant(b2) int32) ->
    Quant int8 FLOOR (thresholds)."""
    r = np.random.default_rng(3)
    if exact:  # power-of-two scales and weights on their grids
        s_in, s_act, s_pool, s_out = 2.0**-4, 2.0**-2, 2.0**-1, 2.0**-3
        s_w = (2.0 ** -r.integers(2, 5, 4)).astype(F32).reshape(4, 1, 1, 1)
        w1 = (r.integers(-7, 8, (4, 3, 3, 3)) * s_w).astype(F32)
        s_w2 = (2.0 ** -r.integers(3, 6, 5)).astype(F32).reshape(5, 1)
        w2 = (r.integers(-3, 4, (5, 16)) * s_w2).astype(F32)
        b1 = (r.integers(-8, 8, 4) * 2.0**-3).astype(F32)
    else:
        s_in, s_act, s_pool, s_out = 0.037, 0.21, 0.43, 0.11
        w1 = (r.standard_normal((4, 3, 3, 3)) * 0.3).astype(F32)
        s_w = (np.abs(w1).reshape(4, -1).max(1) / 7).astype(F32).reshape(4, 1, 1, 1)
        w2 = (r.standard_normal((5, 16)) * 0.3).astype(F32)
        s_w2 = (np.abs(w2).max(1) / 3).astype(F32).reshape(5, 1)
        b1 = (r.standard_normal(4) * 0.2).astype(F32)
    b2 = (r.standard_normal(5) * 0.1).astype(F32)
    s_b2 = (F32(s_pool) * s_w2.ravel()).astype(F32)
    nodes = [
        quant("q_in", "x", "s_in", "zero", "b8", "xq"),
        quant("q_w1", "w1", "s_w1", "zero", "b4", "w1q", narrow=1),
        h.make_node("Conv", ["xq", "w1q", "b1"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        h.make_node("Relu", ["c"], ["r"], name="relu"),
        quant("q_act", "r", "s_act", "zero", "b4", "rq", signed=0),
        h.make_node("MaxPool", ["rq"], ["p"], name="pool", kernel_shape=[2, 2],
                    strides=[2, 2]),
        quant("q_pool", "p", "s_pool", "three", "b6", "pq"),
        h.make_node("Flatten", ["pq"], ["f"], name="flatten"),
        quant("q_w2", "w2", "s_w2", "zero", "b3", "w2q", narrow=1),
        quant("q_b2", "b2", "s_b2", "zero", "b32", "b2q"),
        h.make_node("Gemm", ["f", "w2q", "b2q"], ["g"], name="fc", transB=1),
        quant("q_out", "g", "s_out", "zero", "b8", "y", mode="FLOOR"),
    ]  # fmt: skip
    inits = {
        "s_in": F32(s_in), "s_act": F32(s_act), "s_pool": F32(s_pool),
        "s_out": F32(s_out), "s_w1": s_w, "s_w2": s_w2, "s_b2": s_b2,
        "zero": F32(0), "three": F32(3), "b3": F32(3), "b4": F32(4),
        "b6": F32(6), "b8": F32(8), "b32": F32(32),
        "w1": w1, "b1": b1, "w2": w2, "b2": b2,
    }  # fmt: skip
    return make_model(nodes, [("x", [batch, 3, 4, 4])], ["y"], inits)


def cnn_input(exact: bool, n: int) -> np.ndarray:
    r = np.random.default_rng(11 + n)
    if exact:  # multiples of 1/32: many exact ties at the input scale 1/16
        return (r.integers(-160, 160, (n, 3, 4, 4)) / 32).astype(F32)
    return r.standard_normal((n, 3, 4, 4)).astype(F32) * 2


QUANT_NODES = ["q_in", "q_act", "q_pool", "q_out"]
WEIGHTS = {"w1": "q_w1", "w2": "q_w2", "b2": "q_b2"}


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("n", [1, 5])
def test_cnn_matches_reference(exact, n):
    model = cnn_model(exact)
    module = import_onnx(model)
    text = str(module)
    assert "func.func @main(%x: tensor<?x3x4x4xf32>) -> tensor<?x5xf32>" in text
    assert "tensor<4x3x3x3x!q.uniform<i4<-7:7>:f32:0, {" in text
    assert "tensor<5x16x!q.uniform<i3<-3:3>:f32:0, {" in text
    assert "tensor<5x!q.uniform<i32:f32:0, {" in text
    assert "!q.uniform<i8:f32, " in text and "!q.uniform<u4:f32, " in text
    assert "!q.thresholds<u6:f32, " in text and "!q.thresholds<u8:f32, " in text
    x = cnn_input(exact, n)
    (y,), ops = run_capture(module, [x])
    values, ref_ints = reference_run(model, {"x": x})
    got = captured_ints(ops)
    # every quantizer's integers, for the same float input
    for op, args, result in ops:
        if op.name != "q.quantize":
            continue
        node = next(nd for nd in model.graph.node if nd.name == loc(op))
        inits = {t.name: nh.to_array(t) for t in model.graph.initializer}
        params = [inits[i] for i in node.input[1:]]
        a = _attrs(node)
        want, _ = ref_quant(
            np.asarray(args[0]), *params[:2], int(params[2]), a["signed"],
            a["narrow"], a["rounding_mode"],
        )  # fmt: skip
        assert np.array_equal(centred(qtype_of(op), result), want), loc(op)
    for weight, node in WEIGHTS.items():
        assert np.array_equal(got[weight], ref_ints[node]), weight
    if exact:  # exact float arithmetic: the whole run is bit for bit
        for name in QUANT_NODES:
            assert np.array_equal(got[name], ref_ints[name]), name
        assert np.array_equal(y, values["y"])
        # the exact grid exercises rounding ties
        xs = x / F32(2.0**-4)
        assert np.any(xs != np.rint(xs))
    else:
        close(y, values["y"])


@pytest.mark.parametrize("exact", [True, False])
def test_cnn_matches_qonnx_executor(exact, monkeypatch):
    model = cnn_model(exact, batch=3)
    module = import_onnx(model)
    x = cnn_input(exact, 3)
    ref = qonnx_run(model, {"x": x}, monkeypatch)
    (y,), _ = run_capture(module, [x])
    if exact:
        assert np.array_equal(y, ref["y"])
    else:
        close(y, ref["y"])
    # the output quantizer's integers, recovered from both float outputs
    s_out = F32(2.0**-3 if exact else 0.11)
    assert np.array_equal(np.rint(y / s_out), np.rint(ref["y"] / s_out))


def mlp_model(domain=FINN, batch="batch"):
    """FINN-style MLP: MatMul with int2 weights (per column) -> MultiThreshold
    per channel (out_scale 0.5, out_bias -4: zero point 8) -> MatMul with
    BipolarQuant weights -> MultiThreshold global (out_bias not a multiple of
    out_scale: nn.add) -> MatMul with int5 HALF_UP weights (zero point) ->
    BipolarQuant activation."""
    r = np.random.default_rng(5)
    w1 = r.standard_normal((16, 8)).astype(F32)
    s1 = (np.abs(w1).max(0) / 1).astype(F32).reshape(1, 8)
    t1 = np.sort(r.standard_normal((8, 15)) * 3, axis=1).astype(F32)
    t1 = t1[:, ::-1].copy()  # unsorted rows: MultiThreshold counts anyway
    w2 = r.standard_normal((8, 6)).astype(F32)
    t2 = np.sort(r.standard_normal((1, 3)), axis=1).astype(F32)
    w3 = r.standard_normal((6, 4)).astype(F32)
    nodes = [
        quant("q_w1", "w1", "s1", "zero", "two", "w1q", domain=domain),
        h.make_node("MatMul", ["x", "w1q"], ["m1"], name="mm1"),
        h.make_node("MultiThreshold", ["m1", "t1"], ["a1"], name="mt1", domain=domain,
                    out_dtype="INT4", out_scale=0.5, out_bias=-4.0),
        h.make_node("BipolarQuant", ["w2", "s2"], ["w2q"], name="q_w2", domain=domain),
        h.make_node("MatMul", ["a1", "w2q"], ["m2"], name="mm2"),
        h.make_node("MultiThreshold", ["m2", "t2"], ["a2"], name="mt2", domain=domain,
                    out_dtype="UINT2", out_scale=0.3, out_bias=0.1),
        quant("q_w3", "w3", "s3", "z3", "five", "w3q", signed=0, mode="HALF_UP",
              domain=domain),
        h.make_node("MatMul", ["a2", "w3q"], ["m3"], name="mm3"),
        h.make_node("BipolarQuant", ["m3", "s4"], ["y"], name="q_out", domain=domain),
    ]  # fmt: skip
    inits = {
        "w1": w1, "s1": s1, "t1": t1, "w2": w2, "s2": F32(0.75), "t2": t2,
        "w3": w3, "s3": F32(0.1), "z3": F32(15), "s4": F32(0.5),
        "zero": F32(0), "two": F32(2), "five": F32(5),
    }  # fmt: skip
    return make_model(
        nodes, [("x", [batch, 16])], ["y"], inits, qonnx_opset=1, domain=domain
    )


@pytest.mark.parametrize("domain", [FINN, QONNX])
def test_mlp_matches_reference(domain):
    model = mlp_model(domain)
    module = import_onnx(model)
    text = str(module)
    # int2 weights per column (axis 1 of a [K, N] MatMul weight)
    assert "tensor<16x8x!q.uniform<i2:f32:1, {" in text
    # per-channel thresholds (sorted), zero point 8 = -out_bias / out_scale
    assert "!q.thresholds<u4:f32:1, 0.5:8, [[" in text
    # bias 0.1 is not a multiple of 0.3: zero point 0 and a float add
    assert "!q.thresholds<u2:f32, 0.30000001192092896, [" in text
    assert "nn.add" in text
    # bipolar: weights as i2<-1:1>, the activation as codes 0 / 2, zero point 1
    assert "tensor<8x6x!q.uniform<i2<-1:1>:f32, 0.75>>" in text
    assert "!q.thresholds<u2:f32, 0.5:1, [0.0, 0.0]>" in text
    # unsigned 5-bit weights with a zero point
    assert "tensor<6x4x!q.uniform<u5:f32, 0.10000000149011612:15>>" in text
    x = (np.random.default_rng(2).standard_normal((7, 16)) * 2).astype(F32)
    (y,), ops = run_capture(module, [x])
    values, ref_ints = reference_run(model, {"x": x})
    got = captured_ints(ops)
    assert np.array_equal(got["w1"], ref_ints["q_w1"])
    assert np.array_equal(got["w2"], ref_ints["q_w2"])
    assert np.array_equal(got["w3"], ref_ints["q_w3"])
    # thresholds codes: the reference's on qopt's own float inputs
    for op, args, result in ops:
        if loc(op) == "mt1":
            want, _ = ref_multithreshold(np.asarray(args[0]), mlp_t(model, "t1"))
            assert np.array_equal(np.asarray(result), want)
        if loc(op) == "mt2":
            want, _ = ref_multithreshold(np.asarray(args[0]), mlp_t(model, "t2"))
            assert np.array_equal(np.asarray(result), want)
        if loc(op) == "q_out":
            want, _ = ref_bipolar(np.asarray(args[0]), F32(0.5))
            assert np.array_equal(centred(qtype_of(op), result), want)
    close(y, values["y"])
    assert set(np.unique(y)) <= {F32(-0.5), F32(0.5)}


def mlp_t(model, name):
    return next(nh.to_array(t) for t in model.graph.initializer if t.name == name)


def test_mlp_matches_qonnx_executor(monkeypatch):
    model = mlp_model(FINN, batch=7)
    module = import_onnx(model)
    x = (np.random.default_rng(2).standard_normal((7, 16)) * 2).astype(F32)
    ref = qonnx_run(model, {"x": x}, monkeypatch)
    (y,), _ = run_capture(module, [x])
    assert np.array_equal(y, ref["y"])


# --------------------------------------------------------------------------- #
# MultiThreshold layouts and output scaling
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "shape,layout,axis",
    [((2, 3, 4, 4), None, 1), ((2, 4, 4, 3), "NHWC", 3), ((2, 3), None, 1),
     ((2, 5, 3), None, 2), ((2, 3, 5), "NCW", 1)],
)  # fmt: skip
@pytest.mark.parametrize("scale,bias", [(1.0, 0.0), (1.0, -8.0), (0.25, -0.5)])
def test_multithreshold(shape, layout, axis, scale, bias, monkeypatch):
    r = np.random.default_rng(4)
    t = r.standard_normal((3, 15)).astype(F32)  # unsorted rows
    attrs = {"out_dtype": "INT4", "out_scale": scale, "out_bias": bias}
    if layout:
        attrs["data_layout"] = layout
    model = make_model(
        [h.make_node("MultiThreshold", ["x", "t"], ["y"], name="mt", domain=QONNX,
                     **attrs)],
        [("x", list(shape))],
        ["y"],
        {"t": t},
    )  # fmt: skip
    module = import_onnx(model)
    text = str(module)
    zp = int(-bias / scale)
    head = f"!q.thresholds<u4:f32:{axis}, {scale!r}" + (f":{zp}" if zp else "")
    assert head + ", [[" in text, text
    assert "nn.add" not in text
    x = r.standard_normal(shape).astype(F32)
    x.ravel()[:5] = np.sort(t[0])[:5]  # exactly at thresholds
    (y,), ops = run_capture(module, [x])
    codes, want = ref_multithreshold(x, t, scale, bias, axis)
    assert np.array_equal(np.asarray(ops[0][2]), codes)
    assert np.array_equal(y, want)
    ref = qonnx_run(model, {"x": x}, monkeypatch) if _has_qonnx() else None
    if ref is not None:
        assert np.array_equal(y, ref["y"])


def _has_qonnx() -> bool:
    try:
        import qonnx  # noqa: F401
    except ImportError:
        return False
    return True


def test_multithreshold_global_and_bias_fallback():
    t = np.array([[0.5, -1.0, 2.0]], F32)
    model = make_model(
        [h.make_node("MultiThreshold", ["x", "t"], ["y"], name="mt", domain=QONNX,
                     out_dtype="UINT2", out_scale=0.1, out_bias=-0.2)],
        [("x", ["n", 4])],
        ["y"],
        {"t": t},
    )  # fmt: skip
    module = import_onnx(model)
    text = str(module)
    x = np.array([[-1.0, 0.5, 2.0, 3.0], [-2.0, 0.4, 1.9, 0.0]], F32)
    (y,), _ = run_capture(module, [x])
    _, want = ref_multithreshold(x, t, 0.1, -0.2)
    assert np.array_equal(y, want)
    # 0.1 * (code - 2) rounds differently from 0.1 * code - 0.2 in float32 for
    # some code, so qopt keeps zero point 0 and adds the bias; else zp 2
    if "nn.add" in text:
        assert "!q.thresholds<u2:f32, 0.10000000149011612, [-1.0, 0.5, 2.0]>" in text
    else:
        assert "!q.thresholds<u2:f32, 0.10000000149011612:2, [-1.0, 0.5, 2.0]>" in text


# --------------------------------------------------------------------------- #
# BipolarQuant and Trunc
# --------------------------------------------------------------------------- #


def test_bipolar_activation_and_weights():
    w = np.array([[0.3, -0.2], [0.0, -0.0], [1.5, -7.0]], F32)
    s = np.array([0.5, 0.25], F32).reshape(1, 2)
    model = make_model(
        [h.make_node("BipolarQuant", ["x", "sx"], ["a"], name="bx", domain=QONNX),
         h.make_node("BipolarQuant", ["w", "sw"], ["wq"], name="bw", domain=QONNX),
         h.make_node("MatMul", ["a", "wq"], ["y"], name="mm")],
        [("x", ["n", 3])],
        ["y"],
        {"sx": F32(2.0), "w": w, "sw": s},
    )  # fmt: skip
    module = import_onnx(model)
    text = str(module)
    assert "!q.thresholds<u2:f32, 2.0:1, [0.0, 0.0]>" in text
    assert "tensor<3x2x!q.uniform<i2<-1:1>:f32:1, {0.5, 0.25}>>" in text
    x = np.array([[0.0, -0.0, -1e-30], [3.0, -2.0, np.inf]], F32)
    (y,), ops = run_capture(module, [x])
    ints = captured_ints(ops)
    assert np.array_equal(ints["bx"], [[1, 1, -1], [1, -1, 1]])
    assert np.array_equal(ints["w"], [[1, -1], [1, 1], [1, -1]])
    values, _ = reference_run(model, {"x": x})
    assert np.array_equal(y, values["y"])


@pytest.mark.parametrize("mode", ["FLOOR", "ROUND", "CEIL", "round"])
@pytest.mark.parametrize("signed,narrow", [(1, 0), (0, 0), (1, 1)])
def test_trunc_v2_average_pool(mode, signed, narrow, monkeypatch):
    """Brevitas' TruncAvgPool: a 4-bit activation, a 2x2 average pool, Trunc
    from 6 to 4 bits at 4x the scale."""
    s = F32(0.39)
    model = make_model(
        [quant("q", "x", "s", "zero", "b4", "a", signed=signed),
         h.make_node("AveragePool", ["a"], ["p"], name="pool", kernel_shape=[2, 2],
                     strides=[2, 2]),
         h.make_node("Trunc", ["p", "s_in", "zero", "b6", "s", "b4"], ["y"],
                     name="trunc", domain=QONNX, rounding_mode=mode, signed=signed,
                     narrow=narrow)],
        [("x", ["n", 2, 4, 4])],
        ["y"],
        {"s": s, "s_in": F32(s / 4), "zero": F32(0), "b4": F32(4), "b6": F32(6)},
    )  # fmt: skip
    module = import_onnx(model)
    lo, hi = spec_bounds(bool(signed), bool(narrow), 4)
    assert f"!q.thresholds<u4:f32, {float(s)!r}" in str(module)
    x = (np.random.default_rng(9).standard_normal((6, 2, 4, 4)) * 2).astype(F32)
    (y,), ops = run_capture(module, [x])
    values, ref_ints = reference_run(model, {"x": x})
    got = captured_ints(ops)
    assert np.array_equal(got["trunc"], ref_ints["trunc"])
    assert np.array_equal(y, values["y"])
    assert got["trunc"].min() >= lo and got["trunc"].max() <= hi
    if _has_qonnx():
        assert np.array_equal(y, qonnx_run(model, {"x": x}, monkeypatch)["y"])


def test_trunc_v1_within_its_input_bit_width():
    """Trunc v1 (qonnx opset 1): exact for inputs inside the input bit width."""
    s = F32(0.5)
    model = make_model(
        [h.make_node("Trunc", ["x", "s", "zero", "b8", "b4"], ["y"], name="trunc",
                     domain=QONNX, rounding_mode="FLOOR")],
        [("x", ["n", 64])],
        ["y"],
        {"s": s, "zero": F32(0), "b8": F32(8), "b4": F32(4)},
        qonnx_opset=1,
    )  # fmt: skip
    module = import_onnx(model)
    ints = np.arange(-128, 128).reshape(4, 64)
    x = (ints * s).astype(F32)
    (y,), ops = run_capture(module, [x])
    want_ints, want = ref_trunc_v1(x, s, F32(0), F32(8), F32(4), "FLOOR")
    assert np.array_equal(captured_ints(ops)["trunc"], want_ints)
    assert np.array_equal(y, want)
    assert np.array_equal(want_ints, np.floor(ints / 16))


# --------------------------------------------------------------------------- #
# QuantizeLinear / DequantizeLinear
# --------------------------------------------------------------------------- #


def qdq_mlp(opset: int, exact: bool):
    """x -> Q/DQ uint8 (zero point) -> MatMul(DQ(int8 weights per column)) +
    DQ(int32 bias) -> Relu -> Q/DQ int8 -> Gemm(DQ(per-tensor int8))."""
    r = np.random.default_rng(opset)
    s_x = F32(2.0**-5 if exact else 0.0371)
    s_w = (2.0 ** -r.integers(4, 7, 6) if exact else r.uniform(0.01, 0.03, 6)).astype(
        F32
    )
    w = r.integers(-127, 128, (8, 6)).astype(np.int8)
    b = r.integers(-300, 300, 6).astype(np.int32)
    s_b = (s_x * s_w).astype(F32)
    w2 = r.integers(-128, 128, (6, 3)).astype(np.int8)
    axis = {"axis": 1} if opset >= 13 else {}
    per_col = opset >= 13
    nodes = [
        h.make_node("QuantizeLinear", ["x", "s_x", "z_x"], ["xq"], name="qx"),
        h.make_node("DequantizeLinear", ["xq", "s_x", "z_x"], ["xd"], name="dqx"),
        h.make_node("DequantizeLinear", ["w", "s_w" if per_col else "s_w0"],
                    ["wd"], name="dqw", **axis),
        h.make_node("MatMul", ["xd", "wd"], ["m"], name="mm"),
        h.make_node("DequantizeLinear", ["b", "s_b" if per_col else "s_b0"],
                    ["bd"], name="dqb", **({"axis": 0} if per_col else {})),
        h.make_node("Add", ["m", "bd"], ["a"], name="add"),
        h.make_node("Relu", ["a"], ["r"], name="relu"),
        h.make_node("QuantizeLinear", ["r", "s_r", "z_r"], ["rq"], name="qr"),
        h.make_node("DequantizeLinear", ["rq", "s_r", "z_r"], ["rd"], name="dqr"),
        h.make_node("DequantizeLinear", ["w2", "s_w2"], ["w2d"], name="dqw2"),
        h.make_node("MatMul", ["rd", "w2d"], ["y"], name="fc"),
    ]  # fmt: skip
    inits = {
        "s_x": s_x, "z_x": np.uint8(128), "w": w, "s_w": s_w, "s_w0": s_w[0],
        "b": b, "s_b": s_b, "s_b0": s_b[0], "s_r": F32(2.0**-3 if exact else 0.05),
        "z_r": np.int8(-5), "w2": w2, "s_w2": F32(2.0**-6 if exact else 0.013),
    }  # fmt: skip
    graph = h.make_graph(
        nodes,
        "qdq",
        [tensor_info("x", ["batch", 8])],
        [tensor_info("y", None)],
        [nh.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])
    model.ir_version = 8 if opset < 21 else 10
    return model


def ort_run(model, feeds):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts)
    return sess.run(None, feeds)


@pytest.mark.parametrize("opset", [10, 13, 19, 21])
@pytest.mark.parametrize("exact", [True, False])
def test_qdq_mlp_matches_onnxruntime(opset, exact):
    model = qdq_mlp(opset, exact)
    module = import_onnx(model)
    text = str(module)
    assert "tensor<?x8x!q.uniform<u8:f32, " in text and ":128>>" in text
    assert (
        "tensor<8x6x!q.uniform<i8:f32:1, {"
        if opset >= 13
        else "tensor<8x6x!q.uniform<i8:f32, "
    ) in text
    assert "!q.uniform<i32:f32" in text
    assert ":-5>>" in text  # the int8 activation's zero point
    x = (np.random.default_rng(0).integers(-200, 200, (5, 8)) / 32).astype(F32)
    if not exact:
        x = (x * F32(1.37)).astype(F32)
    (y,), ops = run_capture(module, [x])
    (want,) = ort_run(model, {"x": x})
    if exact:
        assert np.array_equal(y, want)
    else:
        close(y, want)
    # the quantized input: ONNX QuantizeLinear's integers
    q_x = next(r for op, _, r in ops if loc(op) == "qx")
    s_x = F32(2.0**-5 if exact else 0.0371)
    ref = np.clip(np.rint(x / s_x) + 128, 0, 255)
    assert np.array_equal(q_x, ref)


def test_qdq_int4_and_blocked_opset21():
    r = np.random.default_rng(1)
    w = r.integers(-8, 8, (4, 8)).astype(np.int8)
    s = r.uniform(0.01, 0.1, (4, 2)).astype(F32)
    z = np.zeros((4, 2), np.int8)
    w4 = onnx.helper.make_tensor("w", TensorProto.INT4, (4, 8), w.ravel().tolist())
    z4 = onnx.helper.make_tensor("z", TensorProto.INT4, (4, 2), z.ravel().tolist())
    nodes = [
        h.make_node("DequantizeLinear", ["w", "s", "z"], ["wd"], name="dq", axis=1,
                    block_size=4),
        h.make_node("MatMul", ["x", "wd"], ["y"], name="mm"),
        h.make_node("QuantizeLinear", ["y", "sy", "zy"], ["yq"], name="qy"),
        h.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["yd"], name="dqy"),
    ]  # fmt: skip
    graph = h.make_graph(
        nodes,
        "g",
        [tensor_info("x", ["n", 4])],
        [tensor_info("yd", None)],
        [w4, z4, nh.from_array(s, "s"), nh.from_array(F32(0.05), "sy"),
         h.make_tensor("zy", TensorProto.UINT4, (), [3])],
    )  # fmt: skip
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 21)])
    model.ir_version = 10
    module = import_onnx(model)
    text = str(module)
    assert "tensor<4x8x!q.uniform<i4:f32:{0:1, 1:4}, {{" in text
    assert "-> tensor<?x8x!q.uniform<u4:f32, 0.05000000074505806:3>>" in text
    x = r.standard_normal((3, 4)).astype(F32)
    (yd,), ops = run_capture(module, [x])
    (want,) = ort_run(model, {"x": x})
    close(yd, want)
    # the levels: ONNX's round(y / sy) + 3, saturated to u4, on qopt's own y
    (y_in, levels) = next((a[0], r) for op, a, r in ops if loc(op) == "qy")
    ref = np.clip(np.rint(np.asarray(y_in) / F32(0.05)) + 3, 0, 15)
    assert np.array_equal(levels, ref)
    # the weights: the int4 initializer's values
    w_levels = next(r for op, _, r in ops if loc(op) == "w")
    assert np.array_equal(w_levels, w)


# --------------------------------------------------------------------------- #
# Errors: one line, naming the node
# --------------------------------------------------------------------------- #


def _quant_model(**over):
    inits = {"s": F32(0.5), "z": F32(0), "b": F32(8)}
    inits.update(over.pop("inits", {}))
    node = quant("bad", "x", "s", "z", "b", "y", **over)
    return make_model([node], [("x", ["n", 4])], ["y"], inits)


@pytest.mark.parametrize(
    "model,message",
    [
        (_quant_model(inits={"b": F32(2.5)}),
         "node 'bad' (Quant): the bit width 2.5 is not an integer"),
        (_quant_model(inits={"b": F32(17)}),
         "node 'bad' (Quant): the bit width 17 is outside 1..16"),
        (_quant_model(inits={"s": F32(-0.5)}),
         "node 'bad' (Quant): the scale must be positive and finite (-0.5)"),
        (_quant_model(inits={"s": np.array([0.5, 0.0, 1, 1], F32)}),
         "the scale must be positive and finite (0)"),
        (_quant_model(inits={"z": F32(0.5)}),
         "node 'bad' (Quant): the zero point 0.5 is not an integer"),
        (_quant_model(signed=0, inits={"z": F32(300)}),
         "node 'bad' (Quant): the zero point 300 is outside the level range [0, 255]"),
        (_quant_model(inits={"s": np.float64(0.5)}),
         "the scale is float64 but the input is float32"),
        (_quant_model(mode="STOCHASTIC_ROUND"),
         "unsupported ONNX ops (1 type, 1 node): qonnx.custom_op.general.Quant "
         "[rounding STOCHASTIC_ROUND] x1 (bad)"),
        (_quant_model(mode="FLOOR", inits={"s": np.array([0.5, 0.25, 1, 1], F32)}),
         "qonnx.custom_op.general.Quant [per-channel thresholds] x1 (bad: rounding "
         "mode FLOOR with per-channel scales"),
    ],
)  # fmt: skip
def test_quant_errors(model, message):
    with pytest.raises(OnnxImportError) as info:
        import_onnx(model)
    text = str(info.value)
    assert "\n" not in text
    assert message in text, text


def test_scale_computed_at_run_time_is_an_error():
    model = make_model(
        [quant("bad", "x", "s", "z", "b", "y")],
        [("x", ["n", 4]), ("s", [])],
        ["y"],
        {"z": F32(0), "b": F32(8)},
    )
    with pytest.raises(OnnxImportError, match="the scale must be a constant, but 's'"):
        import_onnx(model)


def test_weight_kept_as_graph_input_needs_inline_params():
    """Brevitas exports parameters as graph inputs with initializers."""
    w = np.ones((2, 4), F32)
    model = make_model(
        [quant("wq", "w", "s", "z", "b", "wd"),
         h.make_node("MatMul", ["x", "wd"], ["y"], name="mm")],
        [("x", ["n", 2]), ("w", [2, 4])],
        ["y"],
        {"w": w, "s": F32(0.5), "z": F32(0), "b": F32(32)},
    )  # fmt: skip
    with pytest.raises(OnnxImportError, match=r"outside 1\.\.16.*--inline-params"):
        import_onnx(model)
    assert "q.constant" in str(import_onnx(model, inline_params=True))


def test_other_errors():
    cases = []
    # FloatQuant is not supported
    cases.append((
        make_model(
            [h.make_node("FloatQuant", ["x", "s", "e", "m", "b", "mx"], ["y"],
                         name="fq", domain=QONNX)],
            [("x", ["n", 4])], ["y"],
            {"s": F32(1), "e": F32(4), "m": F32(3), "b": F32(7), "mx": F32(240)},
        ),
        "qonnx.custom_op.general.FloatQuant x1 (fq)",
    ))  # fmt: skip
    # a QuantizeLinear output read by another op than DequantizeLinear
    cases.append((
        make_model(
            [h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="ql"),
             h.make_node("Reshape", ["q", "shape"], ["y"], name="rs")],
            [("x", ["n", 4])], ["y"],
            {"s": F32(0.5), "z": np.int8(0), "shape": np.array([-1], np.int64)},
        ),
        "QuantizeLinear [output not read by DequantizeLinear] x1 (ql: its quantized "
        "output is read by Reshape",
    ))  # fmt: skip
    # Q and DQ disagree
    cases.append((
        make_model(
            [h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="ql"),
             h.make_node("DequantizeLinear", ["q", "s2", "z"], ["y"], name="dql")],
            [("x", ["n", 4])], ["y"],
            {"s": F32(0.5), "s2": F32(0.25), "z": np.int8(0)},
        ),
        "node 'dql' (DequantizeLinear): its scale / zero point",
    ))  # fmt: skip
    # MultiThreshold rows that fit no axis
    cases.append((
        make_model(
            [h.make_node("MultiThreshold", ["x", "t"], ["y"], name="mt",
                         domain=QONNX)],
            [("x", ["n", 4])], ["y"], {"t": np.zeros((3, 2), F32)},
        ),
        "node 'mt' (MultiThreshold): 3 threshold rows for 4 channels (axis 1)",
    ))  # fmt: skip
    # Trunc v2 with v1's inputs
    cases.append((
        make_model(
            [h.make_node("Trunc", ["x", "s", "z", "b8", "b4"], ["y"], name="tr",
                         domain=QONNX)],
            [("x", ["n", 4])], ["y"],
            {"s": F32(1), "z": F32(0), "b8": F32(8), "b4": F32(4)},
        ),
        "node 'tr' (Trunc): Trunc version 2 (the model's qonnx.custom_op.general "
        "opset) takes 6 inputs, got 5",
    ))  # fmt: skip
    for model, message in cases:
        with pytest.raises(OnnxImportError) as info:
            import_onnx(model)
        text = str(info.value)
        assert "\n" not in text and message in text, text


def test_cli_error_exit_status(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "bad.onnx"
    onnx.save(_quant_model(inits={"b": F32(2.5)}), path)
    out = tmp_path / "out.mlir"
    proc = subprocess.run(
        [sys.executable, "-m", "qopt.tools.qopt_opt", str(path), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("qopt-opt: error: ")
    assert "the bit width 2.5 is not an integer" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


# --------------------------------------------------------------------------- #
# Brevitas
# --------------------------------------------------------------------------- #


def _brevitas_model():
    torch = pytest.importorskip("torch")
    pytest.importorskip("brevitas")
    warnings.filterwarnings("ignore", module="brevitas")
    import brevitas.nn as qnn
    from brevitas.quant import (
        Int8WeightPerChannelFloat,
        Int32Bias,
        ShiftedUint8ActPerTensorFloat,
    )

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = qnn.QuantIdentity(
                act_quant=ShiftedUint8ActPerTensorFloat, return_quant_tensor=True
            )
            self.conv = qnn.QuantConv2d(
                3, 6, 3, padding=1, weight_bit_width=4, bias=True,
                weight_quant=Int8WeightPerChannelFloat, return_quant_tensor=False,
            )  # fmt: skip
            self.relu = qnn.QuantReLU(bit_width=4, return_quant_tensor=True)
            self.pool = qnn.TruncAvgPool2d(kernel_size=2, bit_width=6)
            self.mid = qnn.QuantIdentity(bit_width=8, return_quant_tensor=True)
            self.fc = qnn.QuantLinear(
                6 * 4 * 4, 5, bias=True, weight_bit_width=3, bias_quant=Int32Bias,
                return_quant_tensor=False,
            )  # fmt: skip

        def forward(self, x):
            x = self.relu(self.conv(self.inp(x)))
            x = self.mid(self.pool(x))
            return self.fc(x.flatten(1))

    torch.manual_seed(0)
    net = Net()
    net.train()
    with torch.no_grad():
        for _ in range(4):  # let the activation scales learn some statistics
            net(torch.randn(8, 3, 8, 8))
    return torch, net.eval()


def test_brevitas_export_matches_brevitas_and_qonnx(monkeypatch, tmp_path):
    torch, net = _brevitas_model()
    from brevitas.export import export_qonnx

    x = torch.randn(4, 3, 8, 8)
    path = tmp_path / "net.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_qonnx(net, x, export_path=str(path), dynamo=False)
        with torch.no_grad():
            want = net(x).numpy()
    model = onnx.load(path)
    module = import_onnx(model, inline_params=True)
    text = str(module)
    assert "tensor<6x3x3x3x!q.uniform<i4<-7:7>:f32:0, {" in text
    assert "tensor<5x!q.uniform<i32:f32, " in text  # Int32Bias
    assert "!q.uniform<u4:f32, " in text  # QuantReLU
    assert "!q.thresholds<u8:f32, " in text  # ShiftedUint8: a zero point
    assert "!q.uniform<i8:f32, " in text
    assert "!q.thresholds<u6:f32, " in text  # TruncAvgPool2d
    xn = x.numpy()
    (y,), ops = run_capture(module, [xn])
    close(y, want, rel=1e-5)
    inp = model.graph.input[0].name
    ref = qonnx_run(model, {inp: xn}, monkeypatch)
    close(y, ref[model.graph.output[0].name])
    # every activation quantizer's integers, for qopt's own float inputs
    nodes = {nd.name: nd for nd in model.graph.node}
    inits = {t.name: nh.to_array(t) for t in model.graph.initializer}
    checked = 0
    for op, args, result in ops:
        node = nodes.get(loc(op))
        if op.name != "q.quantize" or node is None or node.op_type != "Quant":
            continue
        a = _attrs(node)
        s, z, b = (inits[i] for i in node.input[1:])
        want_ints, _ = ref_quant(
            np.asarray(args[0]), s, z, int(b), a["signed"], a["narrow"],
            a["rounding_mode"],
        )  # fmt: skip
        assert np.array_equal(centred(qtype_of(op), result), want_ints), loc(op)
        checked += 1
    assert checked >= 3
