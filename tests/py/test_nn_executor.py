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

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper
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
    np.dtype(np.int64): "i64",
    np.dtype(np.int32): "i32",
    np.dtype(np.int8): "i8",
}


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
        assert out.dtype == ref.dtype
        assert out.shape == ref.shape
        np.testing.assert_allclose(out, ref, rtol=rtol, atol=atol)
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
