"""Numerics of the `nn` graph passes: `nn-fold-batchnorm` and `nn-canonicalize`.

Each test builds a graph, runs it with the reference executor, applies the
pass and runs it again on the same inputs.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    Builtin,
    DenseIntOrFPElementsAttr,
    Float16Type,
    Float64Type,
    IntegerType,
    ModuleOp,
    Signedness,
    TensorType,
    f16,
    f32,
    f64,
    i1,
    i8,
    i32,
    i64,
)
from xdsl.dialects.func import Func
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.irdl import irdl_op_definition
from xdsl.parser import Parser
from xdsl.printer import Printer

from qopt.backends.reference.nn import dense_to_numpy, numpy_to_dense
from qopt.backends.reference.runner import run_function
from qopt.passes import get_all_passes
from qopt.passes.canonicalize import NNCanonicalizePass
from qopt.passes.fold_batchnorm import FoldBatchNormPass
from qopt.qdialect import nn
from qopt.qdialect.shapes import DYN

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "conv_bn_relu.mlir"
TOL = 1e-5


# --------------------------------------------------------------------------- #
# Building graphs
# --------------------------------------------------------------------------- #


class Graph:
    """A `func.func @main` under construction, with numpy-valued constants."""

    def __init__(self, *arg_shapes: Sequence[int]):
        self.block = Block(arg_types=[TensorType(f32, s) for s in arg_shapes])

    @property
    def args(self) -> tuple[SSAValue, ...]:
        return tuple(self.block.args)

    def add(self, op: Operation) -> SSAValue:
        self.block.add_op(op)
        return op.results[0]

    def const(self, value: np.ndarray) -> SSAValue:
        value = np.asarray(value, dtype=np.float32)
        attr = numpy_to_dense(value, TensorType(f32, value.shape))
        assert attr is not None
        return self.add(nn.ConstantOp(attr))

    def make(self, cls: type[Operation], operands, properties=None) -> SSAValue:
        """Create `cls` with the result type its own shape inference computes."""
        properties = properties or {}
        probe = cls.create(
            operands=operands, result_types=[operands[0].type], properties=properties
        )
        shape = probe.infer_shape()
        probe.erase()
        return self.add(
            cls.create(
                operands=operands,
                result_types=[TensorType(f32, shape)],
                properties=properties,
            )
        )

    def module(self, *results: SSAValue) -> ModuleOp:
        self.block.add_op(func.ReturnOp(*results))
        ty = func.FunctionType.from_lists(
            [a.type for a in self.block.args], [r.type for r in results]
        )
        fn = func.FuncOp.from_region("main", ty.inputs, ty.outputs, Region(self.block))
        module = ModuleOp([fn])
        module.verify()
        return module


def conv(g: Graph, x, w, b=None, *, strides=(1, 1), pads=(0,) * 4, dil=(1, 1), group=1):
    props = {
        "strides": nn.i64_array(strides),
        "pads": nn.i64_array(pads),
        "dilations": nn.i64_array(dil),
        "group": nn.i64_attr(group),
    }
    return g.make(nn.Conv2dOp, [x, w] + ([b] if b is not None else []), props)


def gemm(g: Graph, a, b, c=None, *, alpha=1.0, beta=1.0, trans_a=False, trans_b=False):
    props: dict[str, Attribute] = {}
    if alpha != 1.0:
        props["alpha"] = nn.f32_attr(alpha)
    if beta != 1.0:
        props["beta"] = nn.f32_attr(beta)
    if trans_a:
        props["transA"] = nn.bool_attr(True)
    if trans_b:
        props["transB"] = nn.bool_attr(True)
    return g.make(nn.GemmOp, [a, b] + ([c] if c is not None else []), props)


def batchnorm(g: Graph, x, rng: np.random.Generator, channels: int, eps=1e-5):
    scale = g.const(rng.uniform(0.5, 1.5, channels))
    bias = g.const(rng.normal(0, 0.2, channels))
    mean = g.const(rng.normal(0, 0.3, channels))
    var = g.const(rng.uniform(0.3, 2.0, channels))
    return g.add(nn.BatchNormOp(x, scale, bias, mean, var, epsilon=eps))


def ops_named(module: ModuleOp, name: str) -> list[Operation]:
    return [op for op in module.walk() if op.name == name]


def body_names(module: ModuleOp) -> list[str]:
    fn = next(op for op in module.walk() if isinstance(op, func.FuncOp))
    return [op.name for op in fn.body.block.ops]


def context() -> Context:
    ctx = Context()
    for dialect in (Builtin, Func, nn.NN):
        ctx.load_dialect(dialect)
    return ctx


def print_module(module: ModuleOp) -> str:
    buffer = StringIO()
    Printer(stream=buffer).print_op(module)
    return buffer.getvalue()


def parse_module(text: str) -> ModuleOp:
    return Parser(context(), text).parse_module()


def fold(module: ModuleOp) -> ModuleOp:
    FoldBatchNormPass().apply(context(), module)
    module.verify()
    return module


def canonicalize(module: ModuleOp, **options) -> ModuleOp:
    NNCanonicalizePass(**options).apply(context(), module)
    module.verify()
    return module


def max_diff(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
    assert len(a) == len(b)
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))


# --------------------------------------------------------------------------- #
# nn-fold-batchnorm
# --------------------------------------------------------------------------- #


def test_passes_are_registered():
    passes = get_all_passes()
    assert passes["nn-fold-batchnorm"]() is FoldBatchNormPass
    assert passes["nn-canonicalize"]() is NNCanonicalizePass
    assert FoldBatchNormPass.name == "nn-fold-batchnorm"
    assert NNCanonicalizePass.name == "nn-canonicalize"
    assert NNCanonicalizePass().fold_limit == 1 << 20


CONV_CASES = {
    # name: (cin, cout, kernel, strides, pads, dilations, group, bias)
    "3x3_pad1_bias": (3, 8, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1, True),
    "3x3_pad1_no_bias": (3, 8, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1, False),
    "1x1": (4, 6, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1, True),
    "depthwise": (4, 4, 3, (1, 1), (1, 1, 1, 1), (1, 1), 4, True),
    "depthwise_no_bias_stride2": (5, 5, 3, (2, 2), (1, 0, 1, 0), (1, 1), 5, False),
    "grouped_mult": (6, 9, 3, (2, 1), (1, 1, 0, 0), (1, 1), 3, False),
    "dilated_groups": (4, 4, 3, (1, 1), (2, 2, 2, 2), (2, 2), 2, True),
}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
@pytest.mark.parametrize("seed", [0, 1])
def test_fold_conv_bn_relu(case: str, seed: int):
    cin, cout, k, strides, pads, dil, group, has_bias = CONV_CASES[case]
    rng = np.random.default_rng(seed)
    g = Graph((DYN, cin, 7, 6))
    std = (2.0 / (cin // group * k * k)) ** 0.5
    w = g.const(rng.normal(0, std, (cout, cin // group, k, k)))
    b = g.const(rng.normal(0, 0.1, cout)) if has_bias else None
    y = conv(g, g.args[0], w, b, strides=strides, pads=pads, dil=dil, group=group)
    y = batchnorm(g, y, rng, cout)
    y = g.add(nn.ReluOp(y))
    module = g.module(y)

    inputs = [rng.standard_normal((3, cin, 7, 6)).astype(np.float32)]
    before = run_function(module, inputs)
    fold(module)
    after = run_function(module, inputs)

    assert not ops_named(module, "nn.batchnorm")
    assert body_names(module) == [
        "nn.constant",
        "nn.constant",
        "nn.conv2d",
        "nn.relu",
        "func.return",
    ]
    (new_conv,) = ops_named(module, "nn.conv2d")
    assert isinstance(new_conv, nn.Conv2dOp) and new_conv.bias is not None
    assert new_conv.attrs == (strides, pads, dil, group)
    assert max_diff(before, after) <= TOL
    # a different batch size runs as well
    other = [rng.standard_normal((1, cin, 7, 6)).astype(np.float32)]
    assert run_function(module, other)[0].shape[0] == 1


GEMM_CASES = {
    # name: (trans_a, trans_b, alpha, beta, C shape or None, M static?)
    "plain_no_c": (False, False, 1.0, 1.0, None, False),
    "trans_b_c_n": (False, True, 1.0, 1.0, "N", False),
    "trans_a_trans_b_alpha_beta": (True, True, 0.5, 2.0, "1N", False),
    "c_mn_alpha_beta": (False, True, 1.5, 0.25, "MN", True),
    "c_m1": (False, False, 2.0, 1.0, "M1", True),
    "c_scalar_trans_a": (True, False, 1.0, -1.0, "scalar", False),
}


@pytest.mark.parametrize("case", sorted(GEMM_CASES))
@pytest.mark.parametrize("seed", [0, 1])
def test_fold_gemm_bn(case: str, seed: int):
    trans_a, trans_b, alpha, beta, c_kind, m_static = GEMM_CASES[case]
    rng = np.random.default_rng(seed)
    m, k, n = 5, 12, 7
    dm = m if m_static else DYN
    g = Graph((k, dm) if trans_a else (dm, k))
    b = g.const(rng.normal(0, k**-0.5, (n, k) if trans_b else (k, n)))
    c_shapes = {"N": (n,), "1N": (1, n), "MN": (m, n), "M1": (m, 1), "scalar": ()}
    c = None if c_kind is None else g.const(rng.normal(0, 0.3, c_shapes[c_kind]))
    y = gemm(
        g, g.args[0], b, c, alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b
    )
    y = batchnorm(g, y, rng, n)
    module = g.module(y)

    x = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    before = run_function(module, [x])
    fold(module)
    after = run_function(module, [x])

    assert not ops_named(module, "nn.batchnorm")
    (new_gemm,) = ops_named(module, "nn.gemm")
    assert isinstance(new_gemm, nn.GemmOp) and new_gemm.c is not None
    assert new_gemm.attrs == (1.0, 1.0, trans_a, trans_b)
    assert max_diff(before, after) <= TOL


def test_fold_chain_and_shared_constants():
    """Two conv+bn blocks in a row sharing the batchnorm statistics."""
    rng = np.random.default_rng(7)
    g = Graph((DYN, 4, 6, 6))
    scale = g.const(rng.uniform(0.5, 1.5, 4))
    bias = g.const(rng.normal(0, 0.2, 4))
    mean = g.const(rng.normal(0, 0.3, 4))
    var = g.const(rng.uniform(0.3, 2.0, 4))
    y = g.args[0]
    for _ in range(2):
        w = g.const(rng.normal(0, 0.3, (4, 4, 3, 3)))
        y = conv(g, y, w, pads=(1, 1, 1, 1))
        y = g.add(nn.BatchNormOp(y, scale, bias, mean, var))
        y = g.add(nn.ReluOp(y))
    module = g.module(y)
    x = [rng.standard_normal((2, 4, 6, 6)).astype(np.float32)]
    before = run_function(module, x)
    fold(module)
    assert not ops_named(module, "nn.batchnorm")
    # only the two new weights and two new biases are left
    assert len(ops_named(module, "nn.constant")) == 4
    assert max_diff(before, run_function(module, x)) <= TOL


def test_fold_leaves_conv_with_other_users():
    rng = np.random.default_rng(3)
    g = Graph((DYN, 2, 4, 4))
    w = g.const(rng.normal(0, 0.5, (3, 2, 1, 1)))
    y = conv(g, g.args[0], w)
    z = batchnorm(g, y, rng, 3)
    module = g.module(z, y)
    text = print_module(module)
    fold(module)
    assert print_module(module) == text


def test_folded_constants_round_trip_through_text():
    rng = np.random.default_rng(11)
    g = Graph((DYN, 3, 5, 5))
    w = g.const(rng.normal(0, 0.3, (6, 3, 3, 3)))
    y = batchnorm(g, conv(g, g.args[0], w), rng, 6)
    module = fold(g.module(y))
    reparsed = parse_module(print_module(module))
    x = [rng.standard_normal((2, 3, 5, 5)).astype(np.float32)]
    np.testing.assert_array_equal(
        run_function(module, x)[0], run_function(reparsed, x)[0]
    )


def _load_example_builder():
    spec = importlib.util.spec_from_file_location(
        "make_conv_bn_relu", ROOT / "examples" / "make_conv_bn_relu.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_example_conv_bn_relu_fold_within_1e5():
    """The issue's acceptance: folding changes no output by more than 1e-5."""
    module = parse_module(EXAMPLE.read_text())
    assert len(ops_named(module, "nn.batchnorm")) == 1
    rng = np.random.default_rng(2024)
    for batch in (1, 4, 16):
        x = [rng.standard_normal((batch, 3, 8, 8)).astype(np.float32)]
        before = run_function(module, x)
        folded = fold(parse_module(EXAMPLE.read_text()))
        assert not ops_named(folded, "nn.batchnorm")
        after = run_function(folded, x)
        assert after[0].shape == (batch, 10)
        assert max_diff(before, after) <= TOL
        # canonicalize afterwards changes nothing numerically
        canon = canonicalize(folded)
        np.testing.assert_array_equal(run_function(canon, x)[0], after[0])


def test_example_file_is_generated_by_its_script():
    builder = _load_example_builder()
    generated = [
        op.value for op in builder.build().walk() if isinstance(op, nn.ConstantOp)
    ]
    parsed = [
        op.value
        for op in parse_module(EXAMPLE.read_text()).walk()
        if isinstance(op, nn.ConstantOp)
    ]
    assert [a.data.data for a in generated] == [a.data.data for a in parsed]


# --------------------------------------------------------------------------- #
# nn-canonicalize
# --------------------------------------------------------------------------- #


def test_constant_folding_equals_execution():
    rng = np.random.default_rng(5)
    g = Graph()
    a = g.const(rng.normal(0, 1, (2, 3)))
    b = g.const(rng.normal(0, 1, (3,)))
    s = g.add(nn.AddOp(a, b))
    m = g.add(nn.MulOp(s, a))
    t = g.make(nn.TransposeOp, [m], {"perm": nn.i64_array((1, 0))})
    r = g.add(nn.ReshapeOp(t, (6, 1)))
    w = g.const(rng.normal(0, 1, (1, 4)))
    c = g.const(rng.normal(0, 1, (4,)))
    y = gemm(g, r, w, c, alpha=0.5, beta=2.0)
    z = g.add(nn.ReluOp(y))
    d = g.add(nn.DivOp(z, g.const(np.full((4,), 3.0))))
    module = g.module(d, t)
    expected = run_function(module, [])

    canonicalize(module)
    assert body_names(module) == ["nn.constant", "nn.constant", "func.return"]
    ret = next(op for op in module.walk() if isinstance(op, func.ReturnOp))
    values = [dense_to_numpy(v.owner.value) for v in ret.arguments]
    for got, want in zip(values, expected, strict=True):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)


def test_fold_limit():
    g = Graph()
    a = g.const(np.arange(4.0).reshape(2, 2))
    small = g.add(nn.ReshapeOp(g.const(np.ones(3)), (3, 1)))
    big = g.add(nn.ReluOp(a))
    module = g.module(small, big)
    canonicalize(module, fold_limit=3)
    assert ops_named(module, "nn.relu") and not ops_named(module, "nn.reshape")
    canonicalize(module, fold_limit=0)
    assert ops_named(module, "nn.relu")
    canonicalize(module)
    assert not ops_named(module, "nn.relu")


@irdl_op_definition
class NoExecutorOp(nn.UnaryOp):
    """A Pure `nn`-style op with no reference implementation (test only)."""

    name = "nn.test_no_executor"


def test_op_without_executor_is_not_folded():
    g = Graph()
    y = g.add(NoExecutorOp(g.const(np.ones((2, 2)))))
    module = g.module(y)
    canonicalize(module)
    assert ops_named(module, "nn.test_no_executor")


def test_identities_removed_and_outputs_unchanged():
    rng = np.random.default_rng(9)
    g = Graph((DYN, 2, 3))
    x = g.args[0]
    y = g.add(nn.ReshapeOp(x, (DYN, 2, 3)))
    y = g.make(nn.TransposeOp, [y], {"perm": nn.i64_array((0, 1, 2))})
    y = g.make(nn.TransposeOp, [y], {"perm": nn.i64_array((0, 2, 1))})
    y = g.make(nn.TransposeOp, [y], {"perm": nn.i64_array((1, 0, 2))})
    y = g.make(nn.TransposeOp, [y], {"perm": nn.i64_array((1, 0, 2))})
    y = g.add(nn.ReshapeOp(y, (DYN, 6)))
    y = g.add(nn.ReshapeOp(y, (DYN, 2, 3)))
    y = g.add(nn.MulOp(y, g.const(np.ones((3,)))))
    y = g.add(nn.AddOp(g.const(np.zeros((1, 1))), y))
    y = g.add(nn.SubOp(y, g.const(np.zeros(()))))
    y = g.add(nn.DivOp(y, g.const(np.ones((1, 2, 3)))))
    y = g.add(nn.ReluOp(y))
    g.add(nn.ReluOp(x))  # dead
    module = g.module(y)
    x_in = [rng.standard_normal((4, 2, 3)).astype(np.float32)]
    before = run_function(module, x_in)

    canonicalize(module)
    assert body_names(module) == [
        "nn.transpose",
        "nn.reshape",
        "nn.relu",
        "func.return",
    ]
    (t,) = ops_named(module, "nn.transpose")
    assert isinstance(t, nn.TransposeOp)
    # result dim i = x dim perm[i]; the outer perm indexes the inner one
    p1, p2, p3 = (0, 2, 1), (1, 0, 2), (1, 0, 2)
    composed = [p1[p2[p3[i]]] for i in range(3)]
    assert list(t.perm.get_values()) == composed == [0, 2, 1]
    np.testing.assert_array_equal(run_function(module, x_in)[0], before[0])


def test_reshape_merge_that_does_not_verify_is_kept():
    g = Graph((DYN, 6))
    y = g.add(nn.ReshapeOp(g.args[0], (12,)))
    y = g.add(nn.ReshapeOp(y, (DYN, 4)))
    module = g.module(y)
    canonicalize(module)
    assert len(ops_named(module, "nn.reshape")) == 2


def test_broadcasting_identity_is_kept():
    g = Graph((2,))
    y = g.add(nn.MulOp(g.args[0], g.const(np.ones((3, 2)))))
    module = g.module(y)
    canonicalize(module)
    assert ops_named(module, "nn.mul")
    out = run_function(module, [np.array([1.0, 2.0], np.float32)])[0]
    assert out.shape == (3, 2)


@pytest.mark.parametrize(
    ("element_type", "values"),
    [
        (f32, np.array([[1.5, -2.25], [0.1, 3e38]], np.float32)),
        (f64, np.array([0.1, -1e-300, 7.0])),
        (f16, np.array([0.5, -2.0, 65504.0], np.float16)),
        (i64, np.array([-(2**62), 0, 5])),
        (i32, np.array([[-7, 2**31 - 1]])),
        (i8, np.array([-128, 127, 3])),
        (i1, np.array([True, False, True])),
    ],
)
def test_numpy_to_dense_round_trip(element_type: Attribute, values: np.ndarray):
    ty = TensorType(element_type, values.shape)
    attr = numpy_to_dense(values, ty)
    assert isinstance(attr, DenseIntOrFPElementsAttr)
    back = dense_to_numpy(attr)
    assert back.shape == values.shape
    if isinstance(element_type, Float16Type | Float64Type) or element_type == f32:
        np.testing.assert_array_equal(back, values.astype(back.dtype))
    else:
        np.testing.assert_array_equal(back.astype(np.int64), values.astype(np.int64))
    # and the attribute prints and parses back to the same bytes
    op = nn.ConstantOp(attr)
    text = StringIO()
    Printer(stream=text).print_op(op)
    reparsed = Parser(context(), text.getvalue()).parse_op()
    assert isinstance(reparsed, nn.ConstantOp)
    assert reparsed.value.data.data == attr.data.data


def test_numpy_to_dense_rejects_mismatches():
    assert numpy_to_dense(np.zeros(3), TensorType(f32, [DYN])) is None
    assert numpy_to_dense(np.zeros(3), TensorType(f32, [4])) is None
    ui = IntegerType(8, Signedness.UNSIGNED)
    attr = numpy_to_dense(np.array([0, 255]), TensorType(ui, [2]))
    assert attr is not None and attr.get_values() == (0, 255)
