"""The `nn` reference executor against PyTorch and ONNX Runtime.

Every test writes a small function in MLIR text, so the parser and the
verifiers (which recompute each result shape) run as well; the result types
in the text are the shapes of the reference's outputs. The function is run
with `run_function` on seeded random inputs and compared with
`torch.nn.functional` (float64 where the reference itself would be the less
accurate side) or with ONNX Runtime on a one-node ONNX model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from xdsl.context import Context
from xdsl.dialects.builtin import (
    Builtin,
    DenseIntOrFPElementsAttr,
    ModuleOp,
    TensorType,
    f32,
)
from xdsl.dialects.func import Func
from xdsl.parser import Parser

from qopt.backends.reference.nn import dense_to_numpy, erf64, erfc64
from qopt.backends.reference.runner import ExecutionError, run_function
from qopt.qdialect.nn import NN

RTOL = 1e-5
ATOL = 1e-5
ONNX_OPSET = 20

# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #

ELEMENT = {
    np.dtype(np.float32): "f32",
    np.dtype(np.float16): "f16",
    np.dtype(np.float64): "f64",
    np.dtype(np.int64): "i64",
    np.dtype(np.int32): "i32",
    np.dtype(np.int16): "i16",
    np.dtype(np.int8): "i8",
    np.dtype(np.uint8): "ui8",
    np.dtype(np.uint16): "ui16",
    np.dtype(np.bool_): "i1",
}


def held_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype the executor holds values of `dtype` in (integers as int64)."""
    if dtype == np.bool_ or np.issubdtype(dtype, np.floating):
        return np.dtype(dtype)
    return np.dtype(np.int64)


def tensor_type(shape: Sequence[int | None], elt: str = "f32") -> str:
    """`tensor<2x?x3xf32>` text; None is a dynamic dimension."""
    dims = ["?" if d is None else str(d) for d in shape]
    return "tensor<" + "".join(f"{d}x" for d in dims) + elt + ">"


def dyn_batch(shape: Sequence[int]) -> tuple[int | None, ...]:
    """The shape with a dynamic leading (batch) dimension."""
    return (None, *shape[1:])


def parse(text: str) -> ModuleOp:
    """Parse and verify a module in custom or generic format."""
    ctx = Context()
    ctx.load_dialect(Builtin)
    ctx.load_dialect(Func)
    ctx.load_dialect(NN)
    module = Parser(ctx, text).parse_module()
    module.verify()
    return module


def single_op_text(
    op: str,
    arg_types: Sequence[str],
    result_types: Sequence[str],
    attrs: str = "",
) -> str:
    """A `func.func @main` whose body is the one op `op` on all arguments."""
    args = ", ".join(f"%a{i}: {t}" for i, t in enumerate(arg_types))
    names = ", ".join(f"%r{i}" for i in range(len(result_types)))
    operands = ", ".join(f"%a{i}" for i in range(len(arg_types)))
    results = ", ".join(result_types)
    attr_text = f" {{{attrs}}}" if attrs else ""
    return (
        f"func.func @main({args}) -> ({results}) {{\n"
        f"  {names} = {op} {operands}{attr_text} : "
        f"({', '.join(arg_types)}) -> ({results})\n"
        f"  func.return {names} : {results}\n"
        "}\n"
    )


def run_nn(
    op: str,
    inputs: Sequence[np.ndarray],
    expected: Sequence[np.ndarray] | np.ndarray,
    attrs: str = "",
    arg_shapes: Sequence[Sequence[int | None]] | None = None,
    result_shapes: Sequence[Sequence[int | None]] | None = None,
    rtol: float = RTOL,
    atol: float = ATOL,
) -> list[np.ndarray]:
    """Run one `nn` op on `inputs` and compare with `expected`.

    The declared types default to the inputs' and the expected outputs'
    shapes (so the verifier checks its shape inference against the
    reference); `arg_shapes` / `result_shapes` override them, e.g. with a
    dynamic batch.
    """
    if isinstance(expected, np.ndarray):
        expected = [expected]
    arg_shapes = arg_shapes or [x.shape for x in inputs]
    result_shapes = result_shapes or [e.shape for e in expected]
    arg_types = [
        tensor_type(s, ELEMENT[np.asarray(x).dtype])
        for s, x in zip(arg_shapes, inputs, strict=True)
    ]
    result_types = [
        tensor_type(s, ELEMENT[np.asarray(e).dtype])
        for s, e in zip(result_shapes, expected, strict=True)
    ]
    module = parse(single_op_text(op, arg_types, result_types, attrs))
    outputs = run_function(module, inputs)
    assert len(outputs) == len(expected)
    for out, ref in zip(outputs, expected, strict=True):
        ref = np.asarray(ref)
        assert out.dtype == held_dtype(ref.dtype)
        assert out.shape == ref.shape
        if np.issubdtype(ref.dtype, np.floating):
            np.testing.assert_allclose(out, ref, rtol=rtol, atol=atol)
        else:  # integers and booleans are exact
            np.testing.assert_array_equal(out, ref.astype(out.dtype))
    return outputs


def randn(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x))


def t64(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))


def onnx_type(x: np.ndarray) -> int:
    return helper.np_dtype_to_tensor_dtype(np.asarray(x).dtype)


def ort_run(
    op_type: str,
    inputs: Sequence[np.ndarray | None],
    n_outputs: int = 1,
    constants: Sequence[int] = (),
    **attrs,
) -> list[np.ndarray]:
    """Run a one-node ONNX model with ONNX Runtime (CPU).

    `inputs[i]` is None for an omitted optional input; the inputs whose
    index is in `constants` become initializers.
    """
    inputs = list(inputs)
    while inputs and inputs[-1] is None:  # trailing optional inputs are left out
        inputs.pop()
    names, graph_inputs, initializers = [], [], []
    for i, x in enumerate(inputs):
        if x is None:
            names.append("")
            continue
        name = f"x{i}"
        names.append(name)
        if i in constants:
            initializers.append(numpy_helper.from_array(np.asarray(x), name))
        else:
            graph_inputs.append(
                helper.make_tensor_value_info(name, onnx_type(x), np.shape(x))
            )
    outputs = [f"y{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, names, outputs, **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        graph_inputs,
        [helper.make_empty_tensor_value_info(o) for o in outputs],
        initializer=initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], ir_version=9
    )
    session = ort.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    feeds = {
        f"x{i}": np.asarray(x)
        for i, x in enumerate(inputs)
        if x is not None and i not in constants
    }
    return session.run(None, feeds)


def array_text(values: Sequence[int]) -> str:
    return "array<i64" + (": " + ", ".join(map(str, values)) if values else "") + ">"


# --------------------------------------------------------------------------- #
# Convolution and linear layers
# --------------------------------------------------------------------------- #

CONV_CASES = [
    # (N, C, H, W, O, kh, kw, strides, pads [t, l, b, r], dilations, group)
    (2, 3, 9, 9, 4, 3, 3, (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (1, 3, 8, 7, 5, 3, 2, (2, 1), (1, 1, 1, 1), (1, 1), 1),
    (2, 4, 11, 10, 6, 3, 3, (2, 3), (1, 0, 2, 1), (2, 1), 2),  # asym pads, dil
    (3, 6, 7, 7, 6, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 6),  # depthwise
    (2, 4, 10, 9, 8, 5, 3, (3, 2), (2, 1, 0, 1), (1, 2), 4),  # group, odd pads
    (2, 2, 5, 5, 3, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),  # 1x1
]


@pytest.mark.parametrize("case", CONV_CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv2d(case, with_bias):
    n, c, h, w, o, kh, kw, strides, pads, dilations, group = case
    rng = np.random.default_rng(hash((case, with_bias)) % 2**32)
    x = randn(rng, n, c, h, w)
    wt = randn(rng, o, c // group, kh, kw)
    b = randn(rng, o)
    xp = F.pad(t64(x), (pads[1], pads[3], pads[0], pads[2]))
    ref = F.conv2d(
        xp, t64(wt), t64(b) if with_bias else None, strides, 0, dilations, group
    )
    attrs = (
        f"strides = {array_text(strides)}, pads = {array_text(pads)}, "
        f"dilations = {array_text(dilations)}, group = {group} : i64"
    )
    inputs = [x, wt, b] if with_bias else [x, wt]
    run_nn("nn.conv2d", inputs, ref.numpy().astype(np.float32), attrs)


@pytest.mark.parametrize("batch", [1, 5])
def test_conv2d_dynamic_batch(batch):
    rng = np.random.default_rng(batch)
    x, wt = randn(rng, batch, 3, 8, 8), randn(rng, 4, 3, 3, 3)
    ref = F.conv2d(t64(x), t64(wt), padding=1).numpy().astype(np.float32)
    run_nn(
        "nn.conv2d",
        [x, wt],
        ref,
        "pads = array<i64: 1, 1, 1, 1>",
        arg_shapes=[dyn_batch(x.shape), wt.shape],
        result_shapes=[dyn_batch(ref.shape)],
    )


@pytest.mark.parametrize(
    ("ta", "tb", "alpha", "beta", "c_shape"),
    [
        (False, False, 1.0, 1.0, (4, 5)),
        (True, False, 0.5, 2.0, (5,)),
        (False, True, 1.0, 0.25, (4, 1)),
        (True, True, -1.5, 1.0, (1, 1)),
        (False, False, 1.0, 1.0, None),
    ],
)
def test_gemm(ta, tb, alpha, beta, c_shape):
    rng = np.random.default_rng(7)
    a = randn(rng, *((3, 4) if ta else (4, 3)))
    b = randn(rng, *((5, 3) if tb else (3, 5)))
    ref = alpha * ((t64(a).T if ta else t64(a)) @ (t64(b).T if tb else t64(b)))
    inputs = [a, b]
    if c_shape is not None:
        c = randn(rng, *c_shape)
        ref = ref + beta * t64(c)
        inputs.append(c)
    attrs = []
    if alpha != 1.0:
        attrs.append(f"alpha = {alpha} : f32")
    if beta != 1.0:
        attrs.append(f"beta = {beta} : f32")
    if ta:
        attrs.append("transA = true")
    if tb:
        attrs.append("transB = true")
    run_nn("nn.gemm", inputs, ref.numpy().astype(np.float32), ", ".join(attrs))


@pytest.mark.parametrize(
    ("lhs", "rhs"),
    [
        ((4, 3), (3, 5)),
        ((3,), (3,)),  # dot product -> scalar
        ((3,), (2, 3, 4)),  # 1-D lhs, batched rhs
        ((2, 5, 3), (3,)),  # batched lhs, 1-D rhs
        ((2, 1, 4, 3), (5, 3, 6)),  # broadcast batch dims of different rank
        ((6, 4, 3), (3, 2)),
    ],
)
def test_matmul(lhs, rhs):
    rng = np.random.default_rng(len(lhs) * 10 + len(rhs))
    a, b = randn(rng, *lhs), randn(rng, *rhs)
    ref = torch.matmul(t64(a), t64(b)).numpy().astype(np.float32)
    run_nn("nn.matmul", [a, b], ref)


@pytest.mark.parametrize("batch", [1, 5])
def test_matmul_dynamic_batch(batch):
    rng = np.random.default_rng(batch)
    a, b = randn(rng, batch, 7, 4), randn(rng, 4, 3)
    ref = (t64(a) @ t64(b)).numpy().astype(np.float32)
    run_nn(
        "nn.matmul",
        [a, b],
        ref,
        arg_shapes=[dyn_batch(a.shape), b.shape],
        result_shapes=[dyn_batch(ref.shape)],
    )


# --------------------------------------------------------------------------- #
# Normalisation
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("shape", [(2, 3), (2, 4, 5), (3, 6, 4, 4)])
def test_batchnorm(shape):
    rng = np.random.default_rng(len(shape))
    c = shape[1]
    x = randn(rng, *shape)
    scale, bias, mean = randn(rng, c), randn(rng, c), randn(rng, c)
    var = rng.uniform(0.5, 2.0, c).astype(np.float32)
    ref = F.batch_norm(
        t64(x), t64(mean), t64(var), t64(scale), t64(bias), False, 0.0, 1e-3
    )
    run_nn(
        "nn.batchnorm",
        [x, scale, bias, mean, var],
        ref.numpy().astype(np.float32),
        "epsilon = 1.000000e-03 : f32",
    )


@pytest.mark.parametrize(
    ("shape", "axis"), [((2, 5, 8), -1), ((2, 5, 8), 1), ((3, 4, 6), -2), ((4, 6), 0)]
)
@pytest.mark.parametrize("with_bias", [True, False])
def test_layernorm(shape, axis, with_bias):
    rng = np.random.default_rng(len(shape) + axis + 10 * with_bias)
    x = randn(rng, *shape) + np.float32(3.0)  # a mean far from 0
    norm = shape[axis % len(shape) :]
    scale, bias = randn(rng, *norm), randn(rng, *norm)
    ref = F.layer_norm(
        t64(x), norm, t64(scale), t64(bias) if with_bias else None, eps=1e-5
    )
    attrs = f"axis = {axis} : i64" if axis != -1 else ""
    inputs = [x, scale, bias] if with_bias else [x, scale]
    expected = ref.numpy().astype(np.float32)
    run_nn("nn.layernorm", inputs, expected, attrs, atol=2e-5)
    # ONNX Runtime computes it the same way in float32
    onnx_ref = ort_run(
        "LayerNormalization",
        [x, scale, bias if with_bias else None],
        axis=axis,
        epsilon=1e-5,
    )[0]
    run_nn("nn.layernorm", inputs, onnx_ref, attrs, atol=2e-5)


def test_layernorm_broadcast_scale_and_epsilon():
    """A scale of shape [D] under axis -2 broadcasts over the normalised axes."""
    rng = np.random.default_rng(3)
    x, scale, bias = randn(rng, 2, 3, 4, 5), randn(rng, 5), randn(rng, 1, 5)
    ref = ort_run("LayerNormalization", [x, scale, bias], axis=-2, epsilon=0.5)[0]
    attrs = "axis = -2 : i64, epsilon = 5.000000e-01 : f32"
    run_nn("nn.layernorm", [x, scale, bias], ref, attrs)


@pytest.mark.parametrize("batch", [1, 5])
def test_layernorm_dynamic_batch(batch):
    rng = np.random.default_rng(batch)
    x, scale = randn(rng, batch, 3, 8), randn(rng, 8)
    ref = F.layer_norm(t64(x), (8,), t64(scale)).numpy().astype(np.float32)
    run_nn(
        "nn.layernorm",
        [x, scale],
        ref,
        arg_shapes=[dyn_batch(x.shape), scale.shape],
        result_shapes=[dyn_batch(x.shape)],
    )


@pytest.mark.parametrize(("shape", "axis"), [((3, 7), -1), ((2, 5, 4), 1), ((6,), 0)])
def test_softmax(shape, axis):
    rng = np.random.default_rng(len(shape))
    x = randn(rng, *shape, scale=20.0)  # large values: the max is subtracted
    ref = F.softmax(t64(x), dim=axis).numpy().astype(np.float32)
    attrs = f"axis = {axis} : i64" if axis != -1 else ""
    out = run_nn("nn.softmax", [x], ref, attrs, atol=1e-6)[0]
    np.testing.assert_allclose(out.sum(axis=axis), 1.0, rtol=1e-5)


def test_softmax_extreme_values():
    x = np.array([[1000.0, 0.0, -1000.0], [-1e30, -1e30, -1e30]], dtype=np.float32)
    ref = F.softmax(t64(x), dim=-1).numpy().astype(np.float32)
    run_nn("nn.softmax", [x], ref)


# --------------------------------------------------------------------------- #
# Elementwise
# --------------------------------------------------------------------------- #

BROADCAST_PAIRS = [
    ((2, 3, 4), (2, 3, 4)),
    ((2, 3, 4), (4,)),  # rank difference
    ((3, 1), (1, 4)),
    ((5, 1, 3, 1), (4, 1, 2)),  # both broadcast, rank difference
    ((), (2, 3)),  # scalar lhs
]


@pytest.mark.parametrize(("lhs", "rhs"), BROADCAST_PAIRS)
@pytest.mark.parametrize(
    ("op", "fn"),
    [
        ("nn.add", np.add),
        ("nn.sub", np.subtract),
        ("nn.mul", np.multiply),
        ("nn.div", np.divide),
    ],
)
def test_binary_broadcasting(op, fn, lhs, rhs):
    rng = np.random.default_rng(len(lhs) + 7 * len(rhs))
    a, b = randn(rng, *lhs), randn(rng, *rhs)
    if op == "nn.div":
        b = np.where(np.abs(b) < 0.1, np.float32(0.5), b)
    ref = fn(a.astype(np.float64), b.astype(np.float64)).astype(np.float32)
    run_nn(op, [a, b], ref)


@pytest.mark.parametrize(("lhs", "rhs"), BROADCAST_PAIRS)
def test_pow(lhs, rhs):
    rng = np.random.default_rng(len(lhs) + 7 * len(rhs))
    a = rng.uniform(0.1, 3.0, lhs).astype(np.float32)
    b = rng.uniform(-2.0, 2.0, rhs).astype(np.float32)
    ref = torch.pow(t64(a), t64(b)).numpy().astype(np.float32)
    run_nn("nn.pow", [a, b], ref)


def test_pow_integer_exponent_negative_base():
    a = np.array([-2.0, -0.5, 3.0, 0.0], dtype=np.float32)
    b = np.array([3.0, 2.0, -1.0, 2.0], dtype=np.float32)
    ref = ort_run("Pow", [a, b])[0]
    run_nn("nn.pow", [a, b], ref, rtol=1e-6, atol=0)


def test_add_dynamic_batch():
    rng = np.random.default_rng(0)
    for batch in (1, 5):
        a, b = randn(rng, batch, 3, 4), randn(rng, 3, 1)
        run_nn(
            "nn.add",
            [a, b],
            a + b,
            arg_shapes=[dyn_batch(a.shape), b.shape],
            result_shapes=[dyn_batch(a.shape)],
        )


def gelu64(x: torch.Tensor, approximate: str) -> torch.Tensor:
    """GELU in float64 without the cancellation of 1 + erf(x) for x << 0."""
    if approximate == "tanh":
        z = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)
        return x * torch.sigmoid(2.0 * z)
    return 0.5 * x * torch.erfc(-x / math.sqrt(2.0))


UNARY_INPUT = np.concatenate(
    [
        np.linspace(-12.0, 12.0, 241, dtype=np.float32),
        np.array([0.0, -0.0, 1e-6, -1e-6, 30.0, -30.0, 88.0, -100.0], np.float32),
    ]
).reshape(1, -1)


@pytest.mark.parametrize(
    ("op", "attrs", "torch_fn"),
    [
        ("nn.relu", "", F.relu),
        ("nn.leaky_relu", "", lambda x: F.leaky_relu(x, 0.01)),
        ("nn.leaky_relu", "alpha = 2.000000e-01 : f32", lambda x: F.leaky_relu(x, 0.2)),
        ("nn.sigmoid", "", torch.sigmoid),
        ("nn.tanh", "", torch.tanh),
        ("nn.exp", "", torch.exp),
        ("nn.erf", "", torch.erf),
        ("nn.gelu", "", lambda x: gelu64(x, "none")),
        ("nn.gelu", 'approximate = "none"', lambda x: gelu64(x, "none")),
        ("nn.gelu", 'approximate = "tanh"', lambda x: gelu64(x, "tanh")),
    ],
)
def test_unary_against_float64(op, attrs, torch_fn):
    """Each result is within ~2 ulp of the exact (float64) value."""
    x = UNARY_INPUT
    ref = torch_fn(t64(x)).numpy()
    with np.errstate(over="ignore"):
        ref32 = ref.astype(np.float32)
    run_nn(op, [x], ref32, attrs, rtol=3e-7, atol=1e-30)


@pytest.mark.parametrize(
    ("op", "attrs", "torch_fn"),
    [
        ("nn.sigmoid", "", torch.sigmoid),
        ("nn.tanh", "", torch.tanh),
        ("nn.erf", "", torch.erf),
        ("nn.gelu", "", lambda x: F.gelu(x, approximate="none")),
        ("nn.gelu", 'approximate = "tanh"', lambda x: F.gelu(x, approximate="tanh")),
    ],
)
def test_unary_against_torch_float32(op, attrs, torch_fn):
    """Agreement with PyTorch's own float32 evaluation (absolute 1e-6)."""
    rng = np.random.default_rng(11)
    x = randn(rng, 4, 3, 5, 5, scale=3.0)
    ref = torch_fn(t(x)).numpy()
    run_nn(op, [x], ref, attrs, rtol=0, atol=1e-6)


def test_gelu_matches_onnxruntime():
    rng = np.random.default_rng(5)
    x = randn(rng, 3, 64, scale=4.0)
    for approximate in ("none", "tanh"):
        ref = ort_run("Gelu", [x], approximate=approximate)[0]
        run_nn("nn.gelu", [x], ref, f'approximate = "{approximate}"', atol=1e-6)


def test_erf_accuracy():
    """The vectorised erf/erfc are within 1.2e-7 relative of math.erf/erfc."""
    x = np.concatenate(
        [np.linspace(-6, 6, 120001), np.logspace(-20, 0.7, 2001), [0.5, -0.5]]
    )
    erf = np.array([math.erf(v) for v in x])
    erfc = np.array([math.erfc(v) for v in x])
    assert np.max(np.abs(erf64(x) - erf) / np.maximum(np.abs(erf), 1e-300)) < 1.2e-7
    assert np.max(np.abs(erfc64(x) - erfc) / erfc) < 1.2e-7
    assert np.max(np.abs(erf64(x).astype(np.float32) - erf)) < 1e-7
    special = erf64(np.array([np.inf, -np.inf, np.nan]))
    assert special[0] == 1.0 and special[1] == -1.0 and np.isnan(special[2])


@pytest.mark.parametrize(
    ("lo", "hi"), [(0.0, 6.0), (None, 0.5), (-0.5, None), (None, None), (1.0, -1.0)]
)
def test_clip(lo, hi):
    rng = np.random.default_rng(2)
    x = randn(rng, 3, 10, scale=4.0)
    attrs = []
    if lo is not None:
        attrs.append(f"min = {lo} : f32")
    if hi is not None:
        attrs.append(f"max = {hi} : f32")
    inputs = [
        x,
        None if lo is None else np.float32(lo),
        None if hi is None else np.float32(hi),
    ]
    ref = ort_run("Clip", inputs, constants=(1, 2))[0]
    run_nn("nn.clip", [x], ref, ", ".join(attrs), rtol=0, atol=0)


def test_sqrt():
    x = np.array([[0.0, 1e-30, 0.25, 2.0, 1e30, -1.0]], dtype=np.float32)
    out = run_function(
        parse(
            single_op_text("nn.sqrt", [tensor_type(x.shape)], [tensor_type(x.shape)])
        ),
        [x],
    )[0]
    ref = np.sqrt(x.astype(np.float64)[:, :5]).astype(np.float32)
    np.testing.assert_allclose(out[:, :5], ref, rtol=1e-7)
    assert np.isnan(out[0, 5])


# --------------------------------------------------------------------------- #
# Pooling
# --------------------------------------------------------------------------- #

POOL_CASES = [
    # (H, W, kernel, strides, pads [t, l, b, r], dilations, ceil_mode)
    ((8, 8), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), False),
    ((9, 7), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False),
    ((9, 7), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True),
    ((6, 6), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True),
    ((5, 5), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), True),
    ((10, 11), (3, 2), (2, 3), (1, 0, 2, 1), (1, 1), True),  # asymmetric pads
    ((10, 11), (3, 2), (3, 2), (2, 1, 0, 0), (1, 1), False),  # odd pads
    ((5, 6), (2, 2), (2, 2), (0, 0, 1, 1), (1, 1), True),
    ((7, 7), (7, 7), (1, 1), (0, 0, 0, 0), (1, 1), False),  # one window
    # ceil_mode drops a last window that would start in the trailing padding
    ((3, 5), (2, 2), (2, 2), (1, 1, 1, 1), (1, 1), True),
]
DILATED_CASES = [
    ((11, 10), (3, 2), (2, 1), (1, 1, 0, 1), (2, 3), False),
    ((11, 10), (3, 3), (2, 2), (2, 1, 2, 1), (2, 2), True),
]


def pool_attrs(kernel, strides, pads, ceil_mode, dilations=None) -> list[str]:
    attrs = [f"kernel_shape = {array_text(kernel)}", f"strides = {array_text(strides)}"]
    attrs.append(f"pads = {array_text(pads)}")
    if dilations is not None:
        attrs.append(f"dilations = {array_text(dilations)}")
    attrs.append(f"ceil_mode = {'true' if ceil_mode else 'false'}")
    return attrs


@pytest.mark.parametrize("case", POOL_CASES + DILATED_CASES)
def test_maxpool2d(case):
    (h, w), kernel, strides, pads, dilations, ceil_mode = case
    rng = np.random.default_rng(h * w)
    x = randn(rng, 2, 3, h, w) - np.float32(5.0)  # all negative: padding must lose
    ref = ort_run(
        "MaxPool",
        [x],
        kernel_shape=kernel,
        strides=strides,
        pads=[pads[0], pads[1], pads[2], pads[3]],
        dilations=dilations,
        ceil_mode=int(ceil_mode),
    )[0]
    attrs = ", ".join(pool_attrs(kernel, strides, pads, ceil_mode, dilations))
    run_nn("nn.maxpool2d", [x], ref, attrs, rtol=0, atol=0)
    symmetric = pads[0] == pads[2] and pads[1] == pads[3]
    if symmetric and 2 * max(pads) <= min(kernel):  # PyTorch's limits
        ref_torch = F.max_pool2d(
            t(x), kernel, strides, pads[:2], dilations, ceil_mode=ceil_mode
        ).numpy()
        np.testing.assert_array_equal(ref, ref_torch)


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("count_include_pad", [False, True])
def test_avgpool2d(case, count_include_pad):
    (h, w), kernel, strides, pads, _, ceil_mode = case
    rng = np.random.default_rng(h * w + count_include_pad)
    x = randn(rng, 2, 3, h, w) + np.float32(2.0)
    ref = ort_run(
        "AveragePool",
        [x],
        kernel_shape=kernel,
        strides=strides,
        pads=list(pads),
        ceil_mode=int(ceil_mode),
        count_include_pad=int(count_include_pad),
    )[0]
    attrs = pool_attrs(kernel, strides, pads, ceil_mode)
    attrs.append(f"count_include_pad = {'true' if count_include_pad else 'false'}")
    run_nn("nn.avgpool2d", [x], ref, ", ".join(attrs), atol=1e-6)
    if pads[0] == pads[2] and pads[1] == pads[3]:
        ref_torch = F.avg_pool2d(
            t64(x),
            kernel,
            strides,
            pads[:2],
            ceil_mode=ceil_mode,
            count_include_pad=count_include_pad,
        ).numpy()
        np.testing.assert_allclose(ref, ref_torch, rtol=1e-6)


def test_avgpool2d_default_properties():
    """Without strides/pads/ceil_mode/count_include_pad: stride 1, no padding."""
    rng = np.random.default_rng(0)
    x = randn(rng, 1, 2, 5, 6)
    ref = F.avg_pool2d(t64(x), (2, 3), 1).numpy().astype(np.float32)
    run_nn("nn.avgpool2d", [x], ref, "kernel_shape = array<i64: 2, 3>")


@pytest.mark.parametrize("batch", [1, 5])
def test_pools_dynamic_batch(batch):
    rng = np.random.default_rng(batch)
    x = randn(rng, batch, 3, 9, 9)
    attrs = (
        "kernel_shape = array<i64: 3, 3>, strides = array<i64: 2, 2>, "
        "pads = array<i64: 1, 1, 1, 1>, ceil_mode = true"
    )
    for op, fn in (("nn.maxpool2d", F.max_pool2d), ("nn.avgpool2d", F.avg_pool2d)):
        kwargs = {"count_include_pad": False} if op == "nn.avgpool2d" else {}
        ref = fn(t(x), 3, 2, 1, ceil_mode=True, **kwargs).numpy()
        run_nn(
            op,
            [x],
            ref,
            attrs,
            arg_shapes=[dyn_batch(x.shape)],
            result_shapes=[dyn_batch(ref.shape)],
            atol=1e-6,
        )


@pytest.mark.parametrize(
    "shape", [(2, 3, 5, 7), (1, 4, 1, 1), (2, 3, 6), (2, 2, 3, 4, 5)]
)
def test_global_avgpool(shape):
    rng = np.random.default_rng(len(shape))
    x = randn(rng, *shape)
    ref = ort_run("GlobalAveragePool", [x])[0]
    run_nn("nn.global_avgpool", [x], ref, atol=1e-6)


def test_global_avgpool_dynamic_batch():
    rng = np.random.default_rng(1)
    for batch in (1, 5):
        x = randn(rng, batch, 3, 4, 4)
        ref = x.astype(np.float64).mean(axis=(2, 3), keepdims=True).astype(np.float32)
        run_nn(
            "nn.global_avgpool",
            [x],
            ref,
            arg_shapes=[dyn_batch(x.shape)],
            result_shapes=[(None, 3, 1, 1)],
        )


# --------------------------------------------------------------------------- #
# Layout
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("shape", "target"), [((2, 3, 4), (6, 4)), ((2, 12), (2, 3, 2, 2))]
)
def test_reshape(shape, target):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    run_nn("nn.reshape", [x], x.reshape(target), rtol=0, atol=0)


def test_reshape_dynamic_batch():
    for batch in (1, 5):
        x = np.arange(batch * 12, dtype=np.float32).reshape(batch, 3, 4)
        run_nn(
            "nn.reshape",
            [x],
            x.reshape(batch, 12),
            arg_shapes=[(None, 3, 4)],
            result_shapes=[(None, 12)],
            rtol=0,
            atol=0,
        )


@pytest.mark.parametrize("perm", [(1, 0, 2), (2, 0, 1), (0, 3, 1, 2)])
def test_transpose(perm):
    shape = (2, 3, 4, 5)[: len(perm)]
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    attrs = f"perm = {array_text(perm)}"
    run_nn("nn.transpose", [x], x.transpose(perm), attrs, rtol=0, atol=0)


@pytest.mark.parametrize("axis", [0, 1, 2, 3, 4, -1, -4])
def test_flatten(axis):
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    ref = ort_run("Flatten", [x], axis=axis)[0]
    attrs = f"axis = {axis} : i64" if axis != 1 else ""
    run_nn("nn.flatten", [x], ref, attrs, rtol=0, atol=0)


def test_flatten_dynamic_batch():
    for batch in (1, 5):
        x = np.arange(batch * 24, dtype=np.float32).reshape(batch, 2, 3, 4)
        run_nn(
            "nn.flatten",
            [x],
            x.reshape(batch, 24),
            arg_shapes=[dyn_batch(x.shape)],
            result_shapes=[(None, 24)],
            rtol=0,
            atol=0,
        )


@pytest.mark.parametrize(
    ("shapes", "axis"),
    [
        ([(2, 3, 4), (2, 1, 4), (2, 5, 4)], 1),
        ([(2, 3), (4, 3)], 0),
        ([(2, 3, 4), (2, 3, 1)], -1),
        ([(3,)], 0),
    ],
)
def test_concat(shapes, axis):
    rng = np.random.default_rng(len(shapes))
    xs = [randn(rng, *s) for s in shapes]
    ref = np.concatenate(xs, axis=axis)
    run_nn("nn.concat", xs, ref, f"axis = {axis} : i64", rtol=0, atol=0)


def test_concat_dynamic_batch_and_integers():
    for batch in (1, 5):
        a = np.arange(batch * 2, dtype=np.float32).reshape(batch, 2)
        b = np.ones((batch, 3), np.float32)
        run_nn(
            "nn.concat",
            [a, b],
            np.concatenate([a, b], axis=1),
            "axis = 1 : i64",
            arg_shapes=[(None, 2), (None, 3)],
            result_shapes=[(None, 5)],
            rtol=0,
            atol=0,
        )
    # shape arithmetic on i64 tensors
    a, b = np.array([1, 2], np.int64), np.array([-1], np.int64)
    run_nn("nn.concat", [a, b], np.array([1, 2, -1], np.int64), "axis = 0 : i64")


@pytest.mark.parametrize(
    ("shape", "axis", "sizes"),
    [
        ((2, 6, 3), 1, (1, 2, 3)),
        ((5, 4), 0, (5,)),
        ((2, 3, 8), -1, (4, 4)),
        ((7,), 0, (3, 4)),
    ],
)
def test_split(shape, axis, sizes):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    refs = ort_run(
        "Split", [x, np.array(sizes, np.int64)], len(sizes), constants=(1,), axis=axis
    )
    attrs = f"axis = {axis} : i64" if axis != 0 else ""
    run_nn("nn.split", [x], refs, attrs, rtol=0, atol=0)


def test_split_dynamic_batch():
    for batch in (1, 5):
        x = np.arange(batch * 6, dtype=np.float32).reshape(batch, 6)
        run_nn(
            "nn.split",
            [x],
            [x[:, :2], x[:, 2:]],
            "axis = 1 : i64",
            arg_shapes=[(None, 6)],
            result_shapes=[(None, 2), (None, 4)],
            rtol=0,
            atol=0,
        )


INT64_MAX, INT64_MIN = 2**63 - 1, -(2**63)

SLICE_CASES = [
    # (shape, starts, ends, axes, steps)
    ((5, 6), (1,), (4,), (0,), None),
    ((5, 6), (1, -4), (-1, 100), None, None),  # negative start, end clamped
    ((5, 6), (-1,), (INT64_MIN,), (1,), (-1,)),  # full reversal
    ((5, 6), (4, 5), (0, -100), (0, 1), (-2, -3)),  # negative steps
    ((4, 5, 6), (0, 1), (INT64_MAX, 5), (-1, 1), (2, 3)),  # negative axis
    ((4, 5, 6), (10,), (20,), (2,), None),  # empty: start past the end
    ((4, 5, 6), (-100,), (3,), (2,), (1,)),  # start clamped to 0
    ((4, 5, 6), (2,), (2,), (0,), (-1,)),  # empty with a negative step
    ((4, 5, 6), (100,), (-100,), (0,), (-1,)),  # start clamped to d-1
]


@pytest.mark.parametrize("case", SLICE_CASES)
def test_slice(case):
    shape, starts, ends, axes, steps = case
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    inputs = [x, np.array(starts, np.int64), np.array(ends, np.int64)]
    inputs.append(None if axes is None else np.array(axes, np.int64))
    inputs.append(None if steps is None else np.array(steps, np.int64))
    ref = ort_run("Slice", inputs, constants=(1, 2, 3, 4))[0]
    attrs = [f"starts = {array_text(starts)}", f"ends = {array_text(ends)}"]
    if axes is not None:
        attrs.append(f"axes = {array_text(axes)}")
    if steps is not None:
        attrs.append(f"steps = {array_text(steps)}")
    run_nn("nn.slice", [x], ref, ", ".join(attrs), rtol=0, atol=0)


def test_slice_dynamic_batch():
    for batch in (1, 5):
        x = np.arange(batch * 8, dtype=np.float32).reshape(batch, 8)
        run_nn(
            "nn.slice",
            [x],
            x[:, 6:1:-2],
            "starts = array<i64: 6>, ends = array<i64: 1>, axes = array<i64: 1>, "
            "steps = array<i64: -2>",
            arg_shapes=[(None, 8)],
            result_shapes=[(None, 3)],
            rtol=0,
            atol=0,
        )


@pytest.mark.parametrize(
    ("shape", "indices", "axis"),
    [
        ((5, 3), np.array([0, 4, -1, 2], np.int64), 0),
        ((2, 5, 3), np.array([[1, -2], [0, 4]], np.int64), 1),
        ((2, 5, 3), np.array(2, np.int64), -1),  # scalar index removes the axis
        ((4, 3), np.array([-4, 3, 3], np.int32), 0),
        ((4, 3), np.array([1, 0], np.int8), 1),
    ],
)
def test_gather(shape, indices, axis):
    rng = np.random.default_rng(len(shape))
    x = randn(rng, *shape)
    if indices.dtype in (np.int32, np.int64):
        ref = ort_run("Gather", [x, indices], axis=axis)[0]
    else:  # ONNX Runtime only takes int32/int64 indices
        wrapped = np.where(indices < 0, indices + shape[axis], indices)
        ref = np.take(x, wrapped.astype(np.int64), axis=axis)
    attrs = f"axis = {axis} : i64" if axis != 0 else ""
    run_nn("nn.gather", [x, indices], ref, attrs, rtol=0, atol=0)


def test_gather_constant_indices_dynamic_batch():
    text = """
    func.func @main(%x: tensor<?x5xf32>) -> tensor<?x2xf32> {
      %i = nn.constant dense<[4, -5]> : tensor<2xi64>
      %y = nn.gather %x, %i {axis = 1 : i64}
          : (tensor<?x5xf32>, tensor<2xi64>) -> tensor<?x2xf32>
      func.return %y : tensor<?x2xf32>
    }
    """
    module = parse(text)
    for batch in (1, 5):
        x = np.arange(batch * 5, dtype=np.float32).reshape(batch, 5)
        np.testing.assert_array_equal(run_function(module, [x])[0], x[:, [4, 0]])


def test_gather_index_out_of_range_is_an_execution_error():
    text = single_op_text(
        "nn.gather",
        [tensor_type((4, 3)), tensor_type((2,), "i64")],
        [tensor_type((2, 3))],
    )
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ExecutionError, match="out of range"):
        run_function(parse(text), [x, np.array([0, 4])])
    with pytest.raises(ExecutionError, match="out of range"):
        run_function(parse(text), [x, np.array([-5, 0])])


# --------------------------------------------------------------------------- #
# Reductions
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("op", "onnx_op"),
    [
        ("nn.reduce_mean", "ReduceMean"),
        ("nn.reduce_sum", "ReduceSum"),
        ("nn.reduce_max", "ReduceMax"),
    ],
)
@pytest.mark.parametrize(
    ("axes", "keepdims"),
    [
        ((1,), True),
        ((1,), False),
        ((-1, 0), True),
        ((0, 2), False),
        (None, True),
        (None, False),
        ((), True),
    ],
)
def test_reductions(op, onnx_op, axes, keepdims):
    rng = np.random.default_rng(len(axes or ()) + keepdims)
    x = randn(rng, 3, 4, 5)
    inputs = [x, None if not axes else np.array(axes, np.int64)]
    ref = ort_run(onnx_op, inputs, constants=(1,), keepdims=int(keepdims))[0]
    attrs = []
    if axes is not None:
        attrs.append(f"axes = {array_text(axes)}")
    if not keepdims:
        attrs.append("keepdims = false")
    run_nn(op, [x], ref, ", ".join(attrs), atol=1e-6)


def test_reduce_mean_dynamic_batch():
    for batch in (1, 5):
        x = np.arange(batch * 6, dtype=np.float32).reshape(batch, 2, 3)
        run_nn(
            "nn.reduce_mean",
            [x],
            x.mean(axis=-1),
            "axes = array<i64: -1>, keepdims = false",
            arg_shapes=[dyn_batch(x.shape)],
            result_shapes=[(None, 2)],
        )


# --------------------------------------------------------------------------- #
# Whole graphs
# --------------------------------------------------------------------------- #

CNN = """
func.func @main(%x: tensor<?x3x10x10xf32>, %w: tensor<8x3x3x3xf32>, %b: tensor<8xf32>,
                %g: tensor<8xf32>, %beta: tensor<8xf32>, %mu: tensor<8xf32>,
                %var: tensor<8xf32>, %fw: tensor<5x8xf32>, %fb: tensor<5xf32>)
    -> tensor<?x5xf32> {
  %c = nn.conv2d %x, %w, %b {pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>}
      : (tensor<?x3x10x10xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>)
      -> tensor<?x8x5x5xf32>
  %n = nn.batchnorm %c, %g, %beta, %mu, %var
      : (tensor<?x8x5x5xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>,
         tensor<8xf32>) -> tensor<?x8x5x5xf32>
  %r = nn.relu %n : (tensor<?x8x5x5xf32>) -> tensor<?x8x5x5xf32>
  %p = nn.maxpool2d %r
      {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, ceil_mode = true}
      : (tensor<?x8x5x5xf32>) -> tensor<?x8x3x3xf32>
  %a = nn.global_avgpool %p : (tensor<?x8x3x3xf32>) -> tensor<?x8x1x1xf32>
  %f = nn.flatten %a : (tensor<?x8x1x1xf32>) -> tensor<?x8xf32>
  %l = nn.gemm %f, %fw, %fb {transB = true}
      : (tensor<?x8xf32>, tensor<5x8xf32>, tensor<5xf32>) -> tensor<?x5xf32>
  %s = nn.softmax %l : (tensor<?x5xf32>) -> tensor<?x5xf32>
  func.return %s : tensor<?x5xf32>
}
"""


@pytest.mark.parametrize("batch", [1, 5])
def test_small_cnn_dynamic_batch(batch):
    """conv -> batchnorm -> relu -> maxpool -> global pool -> gemm -> softmax."""
    rng = np.random.default_rng(batch)
    x = randn(rng, batch, 3, 10, 10)
    w, b = randn(rng, 8, 3, 3, 3), randn(rng, 8)
    g, beta, mu = randn(rng, 8), randn(rng, 8), randn(rng, 8)
    var = rng.uniform(0.5, 1.5, 8).astype(np.float32)
    fw, fb = randn(rng, 5, 8), randn(rng, 5)
    out = run_function(parse(CNN), [x, w, b, g, beta, mu, var, fw, fb])[0]
    y = F.conv2d(t64(x), t64(w), t64(b), stride=2, padding=1)
    y = F.batch_norm(y, t64(mu), t64(var), t64(g), t64(beta), False, 0.0, 1e-5)
    y = F.max_pool2d(F.relu(y), 2, 2, ceil_mode=True)
    y = F.adaptive_avg_pool2d(y, 1).flatten(1)
    y = F.softmax(F.linear(y, t64(fw), t64(fb)), dim=-1)
    assert out.shape == (batch, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out, y.numpy(), rtol=RTOL, atol=1e-6)


def test_constants_round_trip_bit_exactly():
    """Weights printed by xDSL (hex) parse back to the same float32 bits."""
    rng = np.random.default_rng(0)
    w = randn(rng, 4, 3, 3, 3)
    w.flat[0] = np.float32(1) / np.float32(3)
    w.flat[1] = np.float32(-0.0)
    w.flat[2] = np.finfo(np.float32).tiny
    attr = DenseIntOrFPElementsAttr.from_list(
        TensorType(f32, w.shape), w.flatten().tolist()
    )
    text = f"""
    func.func @main(%x: tensor<1x3x5x5xf32>) -> tensor<1x4x3x3xf32> {{
      %w = nn.constant {attr}
      %y = nn.conv2d %x, %w
          : (tensor<1x3x5x5xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x3x3xf32>
      func.return %y : tensor<1x4x3x3xf32>
    }}
    """
    module = parse(text)
    printed = str(module)
    reparsed = parse(printed)
    x = randn(rng, 1, 3, 5, 5)
    out1 = run_function(module, [x])[0]
    out2 = run_function(reparsed, [x])[0]
    np.testing.assert_array_equal(out1, out2)
    ref = F.conv2d(t64(x), t64(w)).numpy().astype(np.float32)
    np.testing.assert_allclose(out1, ref, rtol=RTOL, atol=ATOL)
    constant = next(op for op in reparsed.walk() if op.name == "nn.constant")
    assert dense_to_numpy(constant.value).tobytes() == w.tobytes()


@pytest.mark.parametrize(
    ("literal", "element", "values"),
    [
        ("[true, false, true]", "i1", [True, False, True]),
        ("[1, -2, 7]", "i4", [1, -2, 7]),
        ("[1, -128, 127]", "i8", [1, -128, 127]),
        ("[0, 200, 255]", "ui8", [0, 200, 255]),
        ("[1, -2048, 2047]", "i12", [1, -2048, 2047]),
        ("[0, 4000, 4095]", "ui12", [0, 4000, 4095]),
        ("[1, -32768, 300]", "i16", [1, -32768, 300]),
        ("[1, -8388608, 8388607]", "i24", [1, -8388608, 8388607]),
        ("[1, -2147483648, 5]", "i32", [1, -(2**31), 5]),
        ("[1, -9223372036854775808, 5]", "i64", [1, -(2**63), 5]),
        ("-3", "i12", [-3, -3, -3]),  # splat
        ("[1.500000e+00, -2.000000e+00, 0.000000e+00]", "f32", [1.5, -2.0, 0.0]),
        ("2.500000e-01", "f32", [0.25, 0.25, 0.25]),  # splat
    ],
)
def test_constants_of_every_integer_width_decode(literal, element, values):
    """Each element width is read with xDSL's storage size (1, 2, 4 or 8 bytes)."""
    text = f"""
    func.func @main() -> tensor<3x{element}> {{
      %c = nn.constant dense<{literal}> : tensor<3x{element}>
      func.return %c : tensor<3x{element}>
    }}
    """
    out = run_function(parse(text), [])[0]
    assert out.tolist() == values


# --------------------------------------------------------------------------- #
# Transposed convolution
# --------------------------------------------------------------------------- #

CONV_TRANSPOSE_CASES = [
    # (N, C, H, W, O, kh, kw, strides, pads [t, l, b, r], dilations, group,
    #  output_padding)
    (1, 2, 4, 4, 3, 3, 3, (1, 1), (0, 0, 0, 0), (1, 1), 1, (0, 0)),
    (2, 3, 7, 6, 4, 3, 3, (3, 2), (1, 1, 1, 1), (1, 1), 1, (1, 1)),  # zoo case
    (2, 4, 5, 6, 6, 3, 2, (2, 1), (0, 1, 2, 0), (1, 1), 2, (1, 0)),  # asym, groups
    (1, 3, 4, 5, 6, 2, 3, (3, 2), (1, 0, 0, 2), (2, 1), 3, (2, 1)),  # dilated
    (2, 4, 3, 3, 4, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 4, (1, 1)),  # depthwise
    (1, 2, 3, 3, 2, 1, 1, (2, 2), (0, 0, 0, 0), (1, 1), 1, (1, 1)),  # 1x1, gaps
    (1, 2, 3, 3, 2, 2, 2, (3, 3), (0, 1, 0, 0), (1, 1), 1, (2, 2)),  # stride > k
    (1, 1, 1, 1, 2, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1, (0, 0)),  # 1x1 input
]


def conv_transpose_attrs(strides, pads, dilations, group, output_padding) -> str:
    return (
        f"strides = {array_text(strides)}, pads = {array_text(pads)}, "
        f"dilations = {array_text(dilations)}, group = {group} : i64, "
        f"output_padding = {array_text(output_padding)}"
    )


@pytest.mark.parametrize("case", CONV_TRANSPOSE_CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv_transpose2d(case, with_bias):
    n, c, h, w, o, kh, kw, strides, pads, dilations, group, out_pad = case
    rng = np.random.default_rng(hash((case, with_bias)) % 2**32)
    x = randn(rng, n, c, h, w)
    wt = randn(rng, c, o // group, kh, kw)
    b = randn(rng, o)
    inputs = [x, wt, b] if with_bias else [x, wt]
    ref = ort_run(
        "ConvTranspose",
        inputs,
        kernel_shape=[kh, kw],
        strides=list(strides),
        pads=list(pads),
        dilations=list(dilations),
        group=group,
        output_padding=list(out_pad),
    )[0]
    attrs = conv_transpose_attrs(strides, pads, dilations, group, out_pad)
    run_nn("nn.conv_transpose2d", inputs, ref, attrs)
    # PyTorch (float64) agrees where its symmetric padding can express the pads
    if pads[0] == pads[2] and pads[1] == pads[3]:
        ref64 = F.conv_transpose2d(
            t64(x),
            t64(wt),
            t64(b) if with_bias else None,
            strides,
            pads[:2],
            out_pad,
            group,
            dilations,
        )
        np.testing.assert_allclose(ref, ref64.numpy(), rtol=1e-5, atol=1e-5)


def test_conv_transpose2d_output_padding_below_dilation():
    """output_padding may reach max(stride, dilation) - 1 (ORT rejects
    output_padding >= stride, PyTorch and ONNX allow it)."""
    rng = np.random.default_rng(4)
    x, wt, b = randn(rng, 2, 3, 4, 5), randn(rng, 3, 2, 2, 3), randn(rng, 2)
    ref = F.conv_transpose2d(
        t64(x), t64(wt), t64(b), (1, 2), (1, 0), (1, 2), 1, (2, 3)
    ).numpy()
    attrs = conv_transpose_attrs((1, 2), (1, 0, 1, 0), (2, 3), 1, (1, 2))
    run_nn("nn.conv_transpose2d", [x, wt, b], ref.astype(np.float32), attrs)


@pytest.mark.parametrize("batch", [1, 5])
def test_conv_transpose2d_dynamic_batch(batch):
    rng = np.random.default_rng(batch)
    x, wt = randn(rng, batch, 4, 5, 5), randn(rng, 4, 3, 3, 3)
    ref = F.conv_transpose2d(t64(x), t64(wt), stride=2, padding=1, output_padding=1)
    ref = ref.numpy().astype(np.float32)
    run_nn(
        "nn.conv_transpose2d",
        [x, wt],
        ref,
        "strides = array<i64: 2, 2>, pads = array<i64: 1, 1, 1, 1>, "
        "output_padding = array<i64: 1, 1>",
        arg_shapes=[dyn_batch(x.shape), wt.shape],
        result_shapes=[dyn_batch(ref.shape)],
    )


# --------------------------------------------------------------------------- #
# LRN, LogSoftmax, PRelu
# --------------------------------------------------------------------------- #


def lrn64(x: np.ndarray, size: int, alpha: float, beta: float, bias: float):
    """ONNX's LRN formula channel by channel, in float64."""
    x = x.astype(np.float64)
    lo, hi = (size - 1) // 2, -(-(size - 1) // 2)
    channels = x.shape[1]
    y = np.empty_like(x)
    for c in range(channels):
        window = x[:, max(0, c - lo) : min(channels - 1, c + hi) + 1]
        square_sum = (window**2).sum(axis=1)
        y[:, c] = x[:, c] / (bias + alpha / size * square_sum) ** beta
    return y


def onnx_reference_run(op_type: str, inputs: Sequence[np.ndarray], **attrs):
    """Run a one-node model with ONNX's own reference implementation."""
    names = [f"x{i}" for i in range(len(inputs))]
    node = helper.make_node(op_type, names, ["y"], **attrs)
    graph = helper.make_graph(
        [node],
        "g",
        [
            helper.make_tensor_value_info(n, onnx_type(x), np.shape(x))
            for n, x in zip(names, inputs, strict=True)
        ],
        [helper.make_empty_tensor_value_info("y")],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], ir_version=9
    )
    evaluator = ReferenceEvaluator(model)
    return evaluator.run(None, dict(zip(names, inputs, strict=True)))


@pytest.mark.parametrize(
    ("shape", "size", "alpha", "beta", "bias"),
    [
        ((2, 8, 5, 5), 5, 1e-4, 0.75, 1.0),  # AlexNet, Inception v1
        ((2, 8, 5, 5), 5, 5e-4, 0.75, 2.0),  # ZFNet-512
        ((7, 7, 3, 4), 1, 0.5, 0.5, 1.0),
        ((7, 7, 3, 4), 2, 0.5, 0.75, 1.0),  # even: no channel before, one after
        ((7, 7, 3, 4), 3, 1.0, 1.0, 0.5),
        ((7, 7, 3, 4), 4, 0.3, 0.6, 1.5),  # even: one channel before, two after
        ((3, 3, 2, 2), 7, 2.0, 0.75, 1.0),  # window wider than the channels
    ],
)
def test_lrn(shape, size, alpha, beta, bias):
    """Odd sizes against ORT; even sizes (which ORT rejects) against ONNX's
    reference implementation (whose channel loop runs over the batch size, so
    these inputs have N = C)."""
    rng = np.random.default_rng(size)
    x = randn(rng, *shape, scale=2.0)
    params = {"size": size, "alpha": alpha, "beta": beta, "bias": bias}
    if size % 2:
        ref = ort_run("LRN", [x], **params)[0]
    else:
        ref = onnx_reference_run("LRN", [x], **params)[0]
    attrs = (
        f"size = {size} : i64, alpha = {alpha} : f32, beta = {beta} : f32, "
        f"bias = {bias} : f32"
    )
    run_nn("nn.lrn", [x], ref, attrs)
    ref64 = lrn64(x, size, np.float32(alpha), np.float32(beta), np.float32(bias))
    np.testing.assert_allclose(ref, ref64, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 5), (2, 5, 3), (1, 6, 2, 3, 2)])
def test_lrn_other_ranks_and_defaults(shape):
    """ORT only runs 4-D LRN; other ranks follow the same formula."""
    rng = np.random.default_rng(len(shape))
    x = randn(rng, *shape, scale=3.0)
    ref = lrn64(x, 3, np.float32(1e-4), np.float32(0.75), np.float32(1.0))
    run_nn("nn.lrn", [x], ref.astype(np.float32), "size = 3 : i64")


@pytest.mark.parametrize(("shape", "axis"), [((3, 7), -1), ((2, 5, 4), 1), ((6,), 0)])
def test_log_softmax(shape, axis):
    rng = np.random.default_rng(len(shape))
    x = randn(rng, *shape, scale=20.0)
    ref = F.log_softmax(t64(x), dim=axis).numpy().astype(np.float32)
    attrs = f"axis = {axis} : i64" if axis != -1 else ""
    run_nn("nn.log_softmax", [x], ref, attrs, atol=2e-5)
    run_nn("nn.log_softmax", [x], ort_run("LogSoftmax", [x], axis=axis)[0], attrs)


def test_log_softmax_extreme_values():
    x = np.array([[1000.0, 0.0, -1000.0], [-1e30, -1e30, -1e30]], dtype=np.float32)
    ref = F.log_softmax(t64(x), dim=-1).numpy().astype(np.float32)
    run_nn("nn.log_softmax", [x], ref)


@pytest.mark.parametrize(
    ("shape", "slope_shape"),
    [
        ((2, 3, 4, 5), (3, 1, 1)),  # per channel (PyTorch's PReLU)
        ((2, 3, 4, 5), (1,)),
        ((2, 3, 4, 5), ()),
        ((2, 3, 4, 5), (5,)),
        ((2, 3, 4, 5), (2, 3, 4, 5)),
        ((4, 6), (1, 6)),
    ],
)
def test_prelu(shape, slope_shape):
    rng = np.random.default_rng(len(shape) + len(slope_shape))
    x = randn(rng, *shape)
    slope = randn(rng, *slope_shape)
    ref = ort_run("PRelu", [x, slope])[0]
    run_nn("nn.prelu", [x, slope], ref, rtol=0, atol=0)


def test_prelu_dynamic_batch():
    rng = np.random.default_rng(0)
    for batch in (1, 5):
        x, slope = randn(rng, batch, 3, 4), randn(rng, 3, 1)
        run_nn(
            "nn.prelu",
            [x, slope],
            np.where(x < 0, slope * x, x),
            arg_shapes=[dyn_batch(x.shape), slope.shape],
            result_shapes=[dyn_batch(x.shape)],
        )


# --------------------------------------------------------------------------- #
# More unary ops
# --------------------------------------------------------------------------- #

SELU_ALPHA, SELU_GAMMA = 1.67326319217681884765625, 1.05070102214813232421875


def selu64(x, alpha=SELU_ALPHA, gamma=SELU_GAMMA):
    return gamma * torch.where(x > 0, x, alpha * torch.expm1(x))


@pytest.mark.parametrize(
    ("op", "attrs", "onnx_op", "onnx_attrs", "ref_fn"),
    [
        ("nn.elu", "", "Elu", {}, lambda x: F.elu(x)),
        (
            "nn.elu",
            "alpha = 2.000000e+00 : f32",
            "Elu",
            {"alpha": 2.0},
            lambda x: F.elu(x, 2.0),
        ),
        ("nn.selu", "", "Selu", {}, selu64),
        (
            "nn.selu",
            "alpha = 1.500000e+00 : f32, gamma = 2.000000e+00 : f32",
            "Selu",
            {"alpha": 1.5, "gamma": 2.0},
            lambda x: selu64(x, 1.5, 2.0),
        ),
        ("nn.softplus", "", "Softplus", {}, lambda x: F.softplus(x, threshold=1e9)),
        ("nn.softsign", "", "Softsign", {}, F.softsign),
        ("nn.neg", "", "Neg", {}, torch.neg),
        ("nn.abs", "", "Abs", {}, torch.abs),
        ("nn.reciprocal", "", "Reciprocal", {}, torch.reciprocal),
        (
            "nn.hard_sigmoid",
            "",
            "HardSigmoid",
            {},
            lambda x: torch.clamp(0.2 * x + 0.5, 0, 1),
        ),
        (
            "nn.hard_sigmoid",
            "alpha = 0.166666672 : f32, beta = 2.500000e-01 : f32",
            "HardSigmoid",
            {"alpha": 1 / 6, "beta": 0.25},
            lambda x: torch.clamp(float(np.float32(1 / 6)) * x + 0.25, 0, 1),
        ),
        ("nn.hard_swish", "", "HardSwish", {}, F.hardswish),
    ],
)
def test_more_unary(op, attrs, onnx_op, onnx_attrs, ref_fn):
    """Against ONNX Runtime (float32) and the exact value (float64)."""
    x = UNARY_INPUT
    with np.errstate(over="ignore", divide="ignore"):
        ref_ort = ort_run(onnx_op, [x], **onnx_attrs)[0]
        ref64 = ref_fn(t64(x)).numpy().astype(np.float32)
    run_nn(op, [x], ref_ort, attrs, rtol=1e-6, atol=1e-6)
    # float32 evaluation: a few rounding steps (1e-6 is about 8 ulp)
    run_nn(op, [x], ref64, attrs, rtol=1e-6, atol=1e-37)


def test_log():
    x = np.array(
        [[1e-38, 1e-6, 0.5, 1.0, 2.0, 1e30, 0.0, -1.0, np.inf]], dtype=np.float32
    )
    ref = ort_run("Log", [x])[0]
    out = run_nn("nn.log", [x], ref, rtol=1e-6, atol=0)[0]
    assert out[0, 6] == -np.inf and np.isnan(out[0, 7]) and out[0, 8] == np.inf
    ref64 = np.log(x[:, :6].astype(np.float64)).astype(np.float32)
    np.testing.assert_allclose(out[:, :6], ref64, rtol=2e-7)


def test_reciprocal_of_zero():
    x = np.array([0.0, -0.0, 4.0], dtype=np.float32)
    out = run_nn("nn.reciprocal", [x], np.array([np.inf, -np.inf, 0.25], np.float32))
    assert np.signbit(out[0][1])


INT_EDGES = np.array(
    [0, 1, -1, 7, -7, 2**31, -(2**31) - 1, 2**63 - 1, -(2**63)], dtype=np.int64
)


@pytest.mark.parametrize(("op", "onnx_op"), [("nn.neg", "Neg"), ("nn.abs", "Abs")])
def test_unary_on_integers(op, onnx_op):
    """Neg and Abs wrap like ONNX Runtime: -INT64_MIN = |INT64_MIN| = INT64_MIN."""
    run_nn(op, [INT_EDGES], ort_run(onnx_op, [INT_EDGES])[0])
    small = np.array([-128, -1, 0, 127], np.int8)
    run_nn(op, [small], ort_run(onnx_op, [small])[0])


def test_relu_and_clip_on_integers():
    run_nn("nn.relu", [INT_EDGES], np.maximum(INT_EDGES, 0))  # ORT has no int Relu
    small = np.arange(-8, 9, dtype=np.int64)
    for lo, hi in [(0, 6), (-3, None), (None, 5), (4, 2)]:
        attrs = []
        if lo is not None:
            attrs.append(f"min = {lo}.0 : f32")
        if hi is not None:
            attrs.append(f"max = {hi}.0 : f32")
        bounds = [
            None if lo is None else np.int64(lo),
            None if hi is None else np.int64(hi),
        ]
        ref = ort_run("Clip", [small, *bounds], constants=(1, 2))[0]
        run_nn("nn.clip", [small], ref, ", ".join(attrs))
        # ORT 1.31's int64 Clip gets values beyond int32 wrong: numpy instead
        lo64 = np.iinfo(np.int64).min if lo is None else lo
        hi64 = np.iinfo(np.int64).max if hi is None else hi
        ref = np.minimum(np.maximum(INT_EDGES, lo64), hi64)
        run_nn("nn.clip", [INT_EDGES], ref, ", ".join(attrs))
    # fractional float bounds round inward on integers
    x = np.arange(-4, 5, dtype=np.int64)
    run_nn("nn.clip", [x], np.clip(x, -2, 2), "min = -2.5 : f32, max = 2.5 : f32")


# --------------------------------------------------------------------------- #
# Binary ops on integers, min, max
# --------------------------------------------------------------------------- #

INT_PAIRS = [((2, 3, 4), (4,)), ((3, 1), (1, 4)), ((), (2, 3))]


@pytest.mark.parametrize(("lhs", "rhs"), INT_PAIRS)
@pytest.mark.parametrize(
    ("op", "onnx_op"),
    [
        ("nn.add", "Add"),
        ("nn.sub", "Sub"),
        ("nn.mul", "Mul"),
        ("nn.div", "Div"),
        ("nn.min", "Min"),
        ("nn.max", "Max"),
    ],
)
@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_binary_on_integers(op, onnx_op, lhs, rhs, dtype):
    """Integer arithmetic as ONNX Runtime: i32 wraps, division truncates."""
    rng = np.random.default_rng(len(lhs) + 7 * len(rhs))
    info = np.iinfo(dtype)
    big = rng.integers(info.min // 2, info.max // 2, lhs, dtype=dtype)
    a = np.where(rng.random(lhs) < 0.5, big, rng.integers(-20, 20, lhs)).astype(dtype)
    b = rng.integers(-9, 9, rhs, dtype=dtype)
    b = np.where(b == 0, dtype(3), b).astype(dtype)
    run_nn(op, [a, b], ort_run(onnx_op, [a, b])[0])


def test_integer_division_truncates_and_rejects_zero():
    a = np.array([7, -7, 7, -7, 0, -(2**63)], np.int64)
    b = np.array([2, 2, -2, -2, 5, 2], np.int64)
    run_nn("nn.div", [a, b], np.array([3, -3, -3, 3, 0, -(2**62)], np.int64))
    text = single_op_text(
        "nn.div", [tensor_type((2,), "i64")] * 2, [tensor_type((2,), "i64")]
    )
    with pytest.raises(ExecutionError, match="integer division by zero"):
        run_function(parse(text), [np.array([1, 2]), np.array([1, 0])])


def test_integer_pow():
    a = np.array([2, -2, 3, 2, 0, 1, -1, 10], np.int64)
    b = np.array([3, 3, -1, 0, 0, -5, -3, 18], np.int64)
    run_nn("nn.pow", [a, b], ort_run("Pow", [a, b])[0])


def test_pow_with_an_integer_exponent():
    """ONNX lets the exponent have its own type: f32 ^ i64 stays f32."""
    a = np.array([[2.0, -2.0, 3.0, 0.5]], np.float32)
    b = np.array([3, 2, -1, 4], np.int64)
    run_nn("nn.pow", [a, b], ort_run("Pow", [a, b])[0], rtol=1e-7, atol=0)


@pytest.mark.parametrize(("lhs", "rhs"), BROADCAST_PAIRS)
@pytest.mark.parametrize(("op", "onnx_op"), [("nn.min", "Min"), ("nn.max", "Max")])
def test_min_max(op, onnx_op, lhs, rhs):
    rng = np.random.default_rng(len(lhs) + 7 * len(rhs))
    a, b = randn(rng, *lhs), randn(rng, *rhs)
    run_nn(op, [a, b], ort_run(onnx_op, [a, b])[0], rtol=0, atol=0)


def test_min_max_propagate_nan():
    a = np.array([np.nan, 1.0, np.nan, -0.0, 2.0], np.float32)
    b = np.array([0.0, np.nan, np.nan, 0.0, -np.inf], np.float32)
    for op, onnx_op in (("nn.min", "Min"), ("nn.max", "Max")):
        out = run_nn(op, [a, b], ort_run(onnx_op, [a, b])[0])[0]
        assert np.isnan(out[:3]).all()


# --------------------------------------------------------------------------- #
# Comparison and selection
# --------------------------------------------------------------------------- #

SPECIAL_FLOATS = np.array(
    [0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 1e-45, 3.5], np.float32
)


@pytest.mark.parametrize(
    ("op", "onnx_op"),
    [("nn.equal", "Equal"), ("nn.less", "Less"), ("nn.greater", "Greater")],
)
def test_comparisons(op, onnx_op):
    # every pair of special floats
    a, b = SPECIAL_FLOATS.reshape(-1, 1), SPECIAL_FLOATS
    run_nn(op, [a, b], ort_run(onnx_op, [a, b])[0])
    # integers with broadcasting
    rng = np.random.default_rng(0)
    i, j = rng.integers(-3, 3, (2, 3, 4)), rng.integers(-3, 3, (3, 1))
    run_nn(op, [i, j], ort_run(onnx_op, [i, j])[0])
    # a dynamic batch
    for batch in (1, 4):
        x, y = randn(rng, batch, 3), randn(rng, 3)
        y[0] = x[0, 0]
        run_nn(
            op,
            [x, y],
            ort_run(onnx_op, [x, y])[0],
            arg_shapes=[dyn_batch(x.shape), y.shape],
            result_shapes=[dyn_batch(x.shape)],
        )


def test_equal_and_not_on_booleans():
    a = np.array([[True], [False]])
    b = np.array([True, False, True])
    run_nn("nn.equal", [a, b], ort_run("Equal", [a, b])[0])
    run_nn("nn.not", [a], ort_run("Not", [a])[0])


@pytest.mark.parametrize(
    ("cond", "x", "y"),
    [
        ((2, 3), (2, 3), (2, 3)),
        ((2, 1, 4), (3, 1), (4,)),  # all three broadcast
        ((), (2, 3), ()),
        ((3, 1), (), (1, 5)),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_where(cond, x, y, dtype):
    rng = np.random.default_rng(len(cond) + 3 * len(x) + 9 * len(y))
    c = rng.random(cond) < 0.5
    a = (rng.standard_normal(x) * 10).astype(dtype)
    b = (rng.standard_normal(y) * 10).astype(dtype)
    run_nn("nn.where", [c, a, b], ort_run("Where", [c, a, b])[0], rtol=0, atol=0)


def test_attention_mask_graph():
    """The masking pattern of a Transformer encoder: where(mask == 0, -inf, s).

    -inf is written as the hex string of its bytes, the form `nn.constant`
    prints it in.
    """
    text = """
    func.func @main(%s: tensor<?x4x4xf32>, %m: tensor<?x1x4xi64>) -> tensor<?x4x4xf32> {
      %zero = nn.constant dense<0> : tensor<i64>
      %ninf = nn.constant dense<"0x000080FF"> : tensor<f32>
      %pad = nn.equal %m, %zero : (tensor<?x1x4xi64>, tensor<i64>) -> tensor<?x1x4xi1>
      %keep = nn.not %pad : (tensor<?x1x4xi1>) -> tensor<?x1x4xi1>
      %masked = nn.where %keep, %s, %ninf
          : (tensor<?x1x4xi1>, tensor<?x4x4xf32>, tensor<f32>) -> tensor<?x4x4xf32>
      %p = nn.softmax %masked : (tensor<?x4x4xf32>) -> tensor<?x4x4xf32>
      func.return %p : tensor<?x4x4xf32>
    }
    """
    module = parse(text)
    rng = np.random.default_rng(0)
    for batch in (1, 3):
        s = randn(rng, batch, 4, 4)
        m = np.ones((batch, 1, 4), np.int64)
        m[:, :, 3] = 0
        out = run_function(module, [s, m])[0]
        ref = F.softmax(t64(s).masked_fill(t(m == 0), float("-inf")), dim=-1).numpy()
        np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-7)
        assert (out[..., 3] == 0).all()


# --------------------------------------------------------------------------- #
# Pad, Expand, Cast
# --------------------------------------------------------------------------- #

PAD_CASES = [
    # (shape, pads, mode, value)
    ((2, 3, 8, 8), (0, 0, 3, 1, 0, 0, 4, 2), "constant", 2.0),  # ConstantPad2d
    ((2, 3, 8, 8), (0, 0, 3, 1, 0, 0, 4, 2), "reflect", 0.0),  # ReflectionPad2d
    ((2, 3, 8, 8), (0, 0, 3, 1, 0, 0, 4, 2), "edge", 0.0),  # ReplicationPad2d
    ((1, 2, 3, 4), (0, 0, 0, 2, 0, 0, 1, 3), "reflect", 0.0),  # operator_pad
    ((2, 6), (0, -1, 0, 3), "reflect", 0.0),  # crop, then reflect
    ((2, 6), (0, 3, 0, -2), "reflect", 0.0),
    ((2, 6), (1, -2, -1, 3), "edge", 0.0),
    ((2, 6), (-1, -3, 2, -3), "constant", -1.5),  # crop a whole axis
    ((3, 4, 5), (1, 0, 2, 0, 3, 1), "constant", 0.0),
    ((3, 4, 5), (2, 3, 4, 2, 0, 0), "reflect", 0.0),  # pad = size - 1
    ((1, 1), (2, 2, 2, 2), "edge", 0.0),
]


@pytest.mark.parametrize("case", PAD_CASES)
def test_pad(case):
    shape, pads, mode, value = case
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    ref = ort_run(
        "Pad",
        [x, np.array(pads, np.int64), np.float32(value)],
        constants=(1, 2),
        mode=mode,
    )[0]
    attrs = [f"pads = {array_text(pads)}"]
    if mode != "constant":
        attrs.append(f'mode = "{mode}"')
    if value != 0.0:
        attrs.append(f"value = {value} : f32")
    run_nn("nn.pad", [x], ref, ", ".join(attrs), rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_pad_integers_and_booleans(dtype):
    x = (np.arange(6).reshape(2, 3) % 4).astype(dtype)
    for mode, value in (("constant", 1.0), ("reflect", 0.0), ("edge", 0.0)):
        pads = [1, 1, 1, 2]
        fill = np.array(value).astype(dtype)
        ref = ort_run("Pad", [x, np.array(pads), fill], constants=(1, 2), mode=mode)[0]
        attrs = f'pads = {array_text(pads)}, mode = "{mode}"'
        if value:
            attrs += f", value = {value} : f32"
        run_nn("nn.pad", [x], ref, attrs)


def test_pad_dynamic_dimension_checked_at_run_time():
    text = single_op_text(
        "nn.pad",
        [tensor_type((None, 3))],
        [tensor_type((None, 3))],
        'pads = array<i64: 2, 0, 1, 0>, mode = "reflect"',
    )
    module = parse(text)
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(
        run_function(module, [x])[0], np.pad(x, ((2, 1), (0, 0)), mode="reflect")
    )
    with pytest.raises(ExecutionError, match="must be smaller than the"):
        run_function(module, [x[:2]])


@pytest.mark.parametrize(
    ("shape", "target", "result"),
    [
        ((3, 1), (2, 1, 6), (2, 3, 6)),  # ONNX's target may have 1s
        ((3, 1), (3, 4), (3, 4)),
        ((4,), (2, 3, 4), (2, 3, 4)),
        ((2, 3), (1,), (2, 3)),  # a shorter target
        ((), (2, 2), (2, 2)),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_expand(shape, target, result, dtype):
    x = np.arange(np.prod(shape), dtype=dtype).reshape(shape)
    ref = ort_run("Expand", [x, np.array(target, np.int64)], constants=(1,))[0]
    assert ref.shape == result
    run_nn("nn.expand", [x], ref)


def test_expand_dynamic_dimensions():
    text = single_op_text(
        "nn.expand", [tensor_type((None, 1, 4))], [tensor_type((None, 3, 4))]
    )
    module = parse(text)
    for batch in (1, 5):
        x = np.arange(batch * 4, dtype=np.float32).reshape(batch, 1, 4)
        out = run_function(module, [x])[0]
        np.testing.assert_array_equal(out, np.broadcast_to(x, (batch, 3, 4)))
    # a dynamic result dimension takes the input's size
    text = single_op_text(
        "nn.expand", [tensor_type((None, 1))], [tensor_type((2, None, 3))]
    )
    x = np.arange(4, dtype=np.float32).reshape(4, 1)
    out = run_function(parse(text), [x])[0]
    np.testing.assert_array_equal(out, np.broadcast_to(x, (2, 4, 3)))


CAST_FLOATS = np.array(
    [
        1.5, -1.5, 2.5, -2.7, 0.0, -0.0, 0.4, 255.9, 256.0, -129.0, 40000.5,
        -40000.5, 65504.0, 65520.0, 70000.0, 3e9, -3e9, 1e10, -1e10, 1e-8,
        np.nan, np.inf, -np.inf,
    ],
    dtype=np.float32,
)  # fmt: skip
CAST_INTS = np.array(
    [0, 1, -1, 127, 128, -129, 255, 256, 65535, 65536, 2049, 2**24 + 1,
     2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, -(2**63)],
    dtype=np.int64,
)  # fmt: skip
CAST_TYPES = [
    np.float32,
    np.float16,
    np.float64,
    np.int64,
    np.int32,
    np.int16,
    np.int8,
    np.uint8,
    np.uint16,
    np.bool_,
]


@pytest.mark.parametrize("src", CAST_TYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("dst", CAST_TYPES, ids=lambda d: np.dtype(d).name)
def test_cast(src, dst):
    """Every supported pair against ONNX Runtime, with rounding, overflow,
    NaN and out-of-range values (those give ORT's x86-64 results)."""
    if np.issubdtype(src, np.floating):
        with np.errstate(over="ignore"):  # 70000 and 1e10 overflow f16
            x = CAST_FLOATS.astype(src)
    elif src == np.bool_:
        x = np.array([True, False, True])
    else:
        x = CAST_INTS.astype(src)
    x = x.reshape(1, -1)
    ref = ort_run("Cast", [x], to=helper.np_dtype_to_tensor_dtype(np.dtype(dst)))[0]
    assert ref.dtype == dst
    text = single_op_text(
        "nn.cast",
        [tensor_type(x.shape, ELEMENT[np.dtype(src)])],
        [tensor_type(x.shape, ELEMENT[np.dtype(dst)])],
    )
    out = run_function(parse(text), [x])[0]
    assert out.dtype == held_dtype(np.dtype(dst))
    np.testing.assert_array_equal(out, ref.astype(out.dtype))


def test_cast_dynamic_batch():
    text = single_op_text(
        "nn.cast", [tensor_type((None, 2))], [tensor_type((None, 2), "i32")]
    )
    module = parse(text)
    for batch in (1, 4):
        x = np.full((batch, 2), -2.5, np.float32)
        np.testing.assert_array_equal(
            run_function(module, [x])[0], np.full((batch, 2), -2)
        )


def test_shape_arithmetic_on_integers():
    """Integer shape arithmetic of an exported Transformer (Shape -> Gather ->
    Cast -> Div -> Cast -> Concat) runs when it is not constant-folded."""
    text = """
    func.func @main(%shape: tensor<3xi64>) -> tensor<4xi64> {
      %i = nn.constant dense<2> : tensor<1xi64>
      %d = nn.gather %shape, %i : (tensor<3xi64>, tensor<1xi64>) -> tensor<1xi64>
      %f = nn.cast %d : (tensor<1xi64>) -> tensor<1xf32>
      %h = nn.constant dense<2.000000e+00> : tensor<1xf32>
      %q = nn.div %f, %h : (tensor<1xf32>, tensor<1xf32>) -> tensor<1xf32>
      %r = nn.cast %q : (tensor<1xf32>) -> tensor<1xi64>
      %b = nn.slice %shape {starts = array<i64: 0>, ends = array<i64: 2>}
          : (tensor<3xi64>) -> tensor<2xi64>
      %two = nn.constant dense<2> : tensor<1xi64>
      %y = nn.concat %b, %two, %r {axis = 0 : i64}
          : (tensor<2xi64>, tensor<1xi64>, tensor<1xi64>) -> tensor<4xi64>
      func.return %y : tensor<4xi64>
    }
    """
    out = run_function(parse(text), [np.array([3, 7, 33], np.int64)])[0]
    np.testing.assert_array_equal(out, [3, 7, 2, 16])


# --------------------------------------------------------------------------- #
# The node tests that ONNX ships (onnx/backend/test/data)
# --------------------------------------------------------------------------- #

ONNX_DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"

# test directory -> (nn op, properties); the ops are single-node models whose
# inputs and initializers become the function's arguments in order
ONNX_NODE_TESTS = {
    "pytorch-converted/test_ConvTranspose2d": (
        "nn.conv_transpose2d",
        "strides = array<i64: 3, 2>, pads = array<i64: 1, 1, 1, 1>, "
        "output_padding = array<i64: 1, 1>",
    ),
    "pytorch-converted/test_ConvTranspose2d_no_bias": (
        "nn.conv_transpose2d",
        "strides = array<i64: 2, 3>, pads = array<i64: 1, 1, 1, 1>, "
        "output_padding = array<i64: 1, 1>",
    ),
    "pytorch-operator/test_operator_convtranspose": (
        "nn.conv_transpose2d",
        "strides = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, "
        "output_padding = array<i64: 2, 2>",
    ),
    "pytorch-converted/test_PReLU_1d": ("nn.prelu", ""),
    "pytorch-converted/test_PReLU_1d_multiparam": ("nn.prelu", ""),
    "pytorch-converted/test_PReLU_2d": ("nn.prelu", ""),
    "pytorch-converted/test_PReLU_2d_multiparam": ("nn.prelu", ""),
    "pytorch-converted/test_PReLU_3d": ("nn.prelu", ""),
    "pytorch-converted/test_PReLU_3d_multiparam": ("nn.prelu", ""),
    "pytorch-converted/test_ELU": ("nn.elu", "alpha = 2.000000e+00 : f32"),
    "pytorch-converted/test_SELU": ("nn.selu", ""),
    "pytorch-operator/test_operator_selu": ("nn.selu", ""),
    "pytorch-converted/test_Softplus": ("nn.softplus", ""),
    "pytorch-converted/test_Softsign": ("nn.softsign", ""),
    "pytorch-converted/test_LogSoftmax": ("nn.log_softmax", "axis = 1 : i64"),
    "pytorch-converted/test_log_softmax_dim3": ("nn.log_softmax", ""),
    "pytorch-converted/test_log_softmax_lastdim": ("nn.log_softmax", ""),
    "pytorch-converted/test_ConstantPad2d": (
        "nn.pad",
        "pads = array<i64: 0, 0, 3, 1, 0, 0, 4, 2>, value = 2.000000e+00 : f32",
    ),
    "pytorch-converted/test_ZeroPad2d": (
        "nn.pad",
        "pads = array<i64: 0, 0, 3, 1, 0, 0, 4, 2>",
    ),
    "pytorch-converted/test_ReflectionPad2d": (
        "nn.pad",
        'pads = array<i64: 0, 0, 3, 1, 0, 0, 4, 2>, mode = "reflect"',
    ),
    "pytorch-converted/test_ReplicationPad2d": (
        "nn.pad",
        'pads = array<i64: 0, 0, 3, 1, 0, 0, 4, 2>, mode = "edge"',
    ),
    "pytorch-operator/test_operator_pad": (
        "nn.pad",
        'pads = array<i64: 0, 0, 0, 2, 0, 0, 1, 3>, mode = "reflect"',
    ),
    "pytorch-operator/test_operator_max": ("nn.max", ""),
    "pytorch-operator/test_operator_min": ("nn.min", ""),
}


def onnx_test_arrays(directory: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """The graph inputs (test data, then initializers by name) and the output."""
    model = onnx.load(str(directory / "model.onnx"))
    initializers = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    data = directory / "test_data_set_0"
    fed = iter(
        numpy_helper.to_array(onnx.load_tensor(str(data / f"input_{i}.pb")))
        for i in range(len(list(data.glob("input_*.pb"))))
    )
    names = [i.name for i in model.graph.input]
    inputs = [initializers[n] if n in initializers else next(fed) for n in names]
    output = numpy_helper.to_array(onnx.load_tensor(str(data / "output_0.pb")))
    return inputs, output


@pytest.mark.parametrize("name", sorted(ONNX_NODE_TESTS))
def test_onnx_node_test_data(name):
    """The stored outputs of ONNX's own node tests (opset 6 PyTorch exports)."""
    directory = ONNX_DATA / name
    if not directory.exists():
        pytest.skip(f"{directory} is not in this onnx package")
    op, attrs = ONNX_NODE_TESTS[name]
    inputs, expected = onnx_test_arrays(directory)
    if op == "nn.prelu" and inputs[1].size > 1:
        # opset 6 PRelu applies a [C] slope per channel: make that explicit
        inputs[1] = inputs[1].reshape(-1, *([1] * (inputs[0].ndim - 2)))
    run_nn(op, inputs, expected, attrs, rtol=1e-5, atol=1e-6)
