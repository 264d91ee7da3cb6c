"""The Python API of the `nn` dialect: builders infer result types, the
`attrs` helpers fill in defaults, and built IR prints, parses and verifies.

The text-level behaviour (syntax, verifier messages) is covered by
`tests/filecheck/nn/`; the numerics by `test_nn_executor.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    Builtin,
    DenseIntOrFPElementsAttr,
    IntegerType,
    ModuleOp,
    Signedness,
    TensorType,
    f16,
    f32,
    f64,
    i1,
    i32,
    i64,
)
from xdsl.dialects.func import Func
from xdsl.ir import Block, Operation, Region
from xdsl.parser import Parser
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from qopt.backends.reference.nn import dense_to_numpy
from qopt.backends.reference.runner import run_function
from qopt.qdialect import nn
from qopt.qdialect.shapes import DYN

D = DYN


def block_with(*types: TensorType) -> Block:
    return Block(arg_types=types)


def ft(*shape: int) -> TensorType:
    return TensorType(f32, shape)


def module_of(block: Block, ops: Sequence[Operation]) -> ModuleOp:
    """Put `ops` in `func.func @main` over the block's arguments, returning the last."""
    for op in ops:
        block.add_op(op)
    last = ops[-1]
    block.add_op(func.ReturnOp(*last.results))
    fn = func.FuncOp(
        "main",
        ([a.type for a in block.args], [r.type for r in last.results]),
        Region(block),
    )
    return ModuleOp([fn])


def reparse(module: ModuleOp) -> ModuleOp:
    ctx = Context()
    ctx.load_dialect(Builtin)
    ctx.load_dialect(Func)
    ctx.load_dialect(nn.NN)
    parsed = Parser(ctx, str(module)).parse_module()
    parsed.verify()
    return parsed


def test_every_op_is_registered_pure_and_documented():
    names = [op.name for op in nn.NN_OPS]
    assert len(names) == len(set(names))
    assert set(names) >= {
        "nn.matmul",
        "nn.leaky_relu",
        "nn.clip",
        "nn.sigmoid",
        "nn.tanh",
        "nn.gelu",
        "nn.erf",
        "nn.exp",
        "nn.sqrt",
        "nn.pow",
        "nn.softmax",
        "nn.layernorm",
        "nn.maxpool2d",
        "nn.avgpool2d",
        "nn.global_avgpool",
        "nn.flatten",
        "nn.concat",
        "nn.split",
        "nn.slice",
        "nn.gather",
        "nn.reduce_mean",
        "nn.reduce_sum",
        "nn.reduce_max",
        "nn.conv_transpose2d",
        "nn.lrn",
        "nn.log_softmax",
        "nn.prelu",
        "nn.elu",
        "nn.selu",
        "nn.softplus",
        "nn.softsign",
        "nn.neg",
        "nn.abs",
        "nn.log",
        "nn.reciprocal",
        "nn.hard_sigmoid",
        "nn.hard_swish",
        "nn.min",
        "nn.max",
        "nn.equal",
        "nn.less",
        "nn.greater",
        "nn.not",
        "nn.where",
        "nn.pad",
        "nn.expand",
        "nn.cast",
    }
    for op in nn.NN_OPS:
        assert op.__doc__ and len(op.__doc__) > 20, op.name
        assert op.has_trait(Pure), op.name
    assert {op.name for op in nn.NN_OPS} == {o.name for o in nn.NN.operations}


@pytest.mark.parametrize(
    ("build", "arg_types", "expected"),
    [
        (lambda a: nn.MatMulOp(a[0], a[1]), [ft(D, 4, 3), ft(3, 5)], (D, 4, 5)),
        (lambda a: nn.MatMulOp(a[0], a[1]), [ft(3), ft(2, 3, 4)], (2, 4)),
        (lambda a: nn.MatMulOp(a[0], a[1]), [ft(3), ft(3)], ()),
        (lambda a: nn.PowOp(a[0], a[1]), [ft(D, 1, 4), ft(3, 1)], (D, 3, 4)),
        (lambda a: nn.LeakyReluOp(a[0], 0.2), [ft(D, 7)], (D, 7)),
        (lambda a: nn.ClipOp(a[0], 0.0, 6.0), [ft(2, 7)], (2, 7)),
        (lambda a: nn.GeluOp(a[0], "tanh"), [ft(2, 7)], (2, 7)),
        (lambda a: nn.SoftmaxOp(a[0], 1), [ft(2, 7, 3)], (2, 7, 3)),
        (
            lambda a: nn.LayerNormOp(a[0], a[1], axis=-2),
            [ft(D, 5, 8), ft(5, 8)],
            (D, 5, 8),
        ),
        (
            lambda a: nn.MaxPool2dOp(
                a[0], (3, 3), strides=(2, 2), pads=(1, 1, 1, 1), ceil_mode=True
            ),
            [ft(D, 4, 8, 8)],
            (D, 4, 5, 5),
        ),
        (
            lambda a: nn.MaxPool2dOp(a[0], (2, 2), dilations=(2, 2)),
            [ft(1, 4, 8, 8)],
            (1, 4, 6, 6),
        ),
        (
            lambda a: nn.AvgPool2dOp(
                a[0], (2, 3), strides=(2, 1), pads=(0, 1, 1, 1), count_include_pad=True
            ),
            [ft(1, 4, 7, 8)],
            (1, 4, 4, 8),
        ),
        (lambda a: nn.GlobalAvgPoolOp(a[0]), [ft(D, 4, 7, 8)], (D, 4, 1, 1)),
        (lambda a: nn.FlattenOp(a[0]), [ft(D, 4, 7, 8)], (D, 224)),
        (lambda a: nn.FlattenOp(a[0], -1), [ft(2, 4, 7, D)], (56, D)),
        (lambda a: nn.FlattenOp(a[0], 0), [ft(2, 4)], (1, 8)),
        (lambda a: nn.ConcatOp(a, -1), [ft(D, 4, 2), ft(D, 4, 3)], (D, 4, 5)),
        (lambda a: nn.ConcatOp(a, 0), [ft(D, 4), ft(3, 4)], (D, 4)),
        (
            lambda a: nn.SliceOp(a[0], [-1], [-(2**63)], [1], [-2]),
            [ft(D, 7)],
            (D, 4),
        ),
        (lambda a: nn.SliceOp(a[0], [0, 2], [2, 100]), [ft(D, 7)], (D, 5)),
        (
            lambda a: nn.GatherOp(a[0], a[1], 1),
            [ft(D, 7, 3), TensorType(i64, (2, 2))],
            (D, 2, 2, 3),
        ),
        (lambda a: nn.GatherOp(a[0], a[1]), [ft(5, 3), TensorType(i64, ())], (3,)),
        (lambda a: nn.ReduceMeanOp(a[0], [1]), [ft(D, 7, 3)], (D, 1, 3)),
        (lambda a: nn.ReduceSumOp(a[0], [-1, 1], keepdims=False), [ft(D, 7, 3)], (D,)),
        (lambda a: nn.ReduceMaxOp(a[0]), [ft(2, 7, 3)], (1, 1, 1)),
        (lambda a: nn.ReduceMaxOp(a[0], keepdims=False), [ft(2, 7, 3)], ()),
        (
            lambda a: nn.Conv2dOp(a[0], a[1], strides=(2, 2), pads=(1, 1, 1, 1)),
            [ft(D, 3, 9, 9), ft(8, 3, 3, 3)],
            (D, 8, 5, 5),
        ),
        (lambda a: nn.GemmOp(a[0], a[1], trans_b=True), [ft(D, 3), ft(5, 3)], (D, 5)),
    ],
)
def test_builders_infer_result_types(build, arg_types, expected):
    block = block_with(*arg_types)
    op = build(list(block.args))
    assert op.results[0].type == TensorType(f32, expected)
    module = module_of(block, [op])
    module.verify()
    reparsed = reparse(module)
    assert str(reparsed) == str(module)


def test_split_builder_and_sizes():
    block = block_with(ft(D, 6, 2))
    op = nn.SplitOp(block.args[0], [1, 2, 3], axis=-2)
    assert [r.type for r in op.results] == [ft(D, 1, 2), ft(D, 2, 2), ft(D, 3, 2)]
    assert op.sizes() == (1, 2, 3)
    module = module_of(block, [op])
    module.verify()
    assert str(reparse(module)) == str(module)


def test_builders_only_print_non_default_properties():
    block = block_with(ft(1, 4, 8, 8), ft(8))
    x = block.args[0]
    assert str(nn.SoftmaxOp(x).properties) == "{}"
    assert nn.GeluOp(x).approximate is None
    assert nn.LeakyReluOp(x).alpha is None
    assert nn.MaxPool2dOp(x, (2, 2)).strides is None
    assert set(nn.AvgPool2dOp(x, (2, 2), ceil_mode=True).properties) == {
        "kernel_shape",
        "ceil_mode",
    }
    assert set(nn.LayerNormOp(x, block.args[1]).properties) == set()


def test_attrs_fill_in_defaults():
    block = block_with(ft(1, 4, 8, 8), ft(8))
    x = block.args[0]
    assert nn.SoftmaxOp(x).attrs == -1
    assert nn.LeakyReluOp(x).attrs == pytest.approx(0.01)
    assert nn.ClipOp(x).attrs == (float("-inf"), float("inf"))
    assert nn.ClipOp(x, max=6.0).attrs == (float("-inf"), 6.0)
    assert nn.GeluOp(x).attrs == "none"
    assert nn.LayerNormOp(x, block.args[1]).attrs == (-1, pytest.approx(1e-5))
    assert nn.MaxPool2dOp(x, (2, 2)).attrs == (
        (2, 2),
        (1, 1),
        (0, 0, 0, 0),
        (1, 1),
        False,
    )
    assert nn.AvgPool2dOp(x, (3, 3), pads=(1, 1, 1, 1)).attrs == (
        (3, 3),
        (1, 1),
        (1, 1, 1, 1),
        False,
        False,
    )
    assert nn.FlattenOp(x).attrs == 1
    assert nn.SliceOp(x, [0, 1], [2, 3]).attrs == ((0, 1), (2, 3), (0, 1), (1, 1))
    assert nn.ReduceMeanOp(x).attrs == ((0, 1, 2, 3), True)
    assert nn.ReduceMeanOp(x, [-1], keepdims=False).attrs == ((3,), False)


@pytest.mark.parametrize(
    ("build", "arg_types", "message"),
    [
        (
            lambda a: nn.MatMulOp(a[0], a[1]),
            [ft(4, 3), ft(4, 5)],
            "contracted dimensions",
        ),
        (
            lambda a: nn.MatMulOp(a[0], a[1]),
            [ft(2, 4, 3), ft(3, 3, 5)],
            "batch dimensions",
        ),
        (
            lambda a: nn.ConcatOp(a, 0),
            [ft(2, 4), ft(3, 5)],
            "outside the concatenation axis",
        ),
        (lambda a: nn.SoftmaxOp(a[0], 2), [ft(2, 4)], "axis 2 is out of range"),
        (
            lambda a: nn.SliceOp(a[0], [0], [1], [0], [0]),
            [ft(2, 4)],
            "steps must not be 0",
        ),
        (lambda a: nn.MaxPool2dOp(a[0], (2, 2)), [ft(2, 4, 4)], "rank-4 NCHW"),
        (lambda a: nn.ReduceSumOp(a[0], [0, -2]), [ft(2, 4)], "repeats an axis"),
    ],
)
def test_builders_reject_bad_operands(build, arg_types, message):
    block = block_with(*arg_types)
    with pytest.raises(VerifyException, match=message):
        build(list(block.args)).verify()  # builders may raise early


def test_element_types_must_agree():
    block = block_with(ft(2, 3), TensorType(f16, (2, 3)))
    op = nn.AddOp(block.args[0], block.args[1])
    with pytest.raises(VerifyException, match="same element type"):
        op.verify()


def test_built_graph_runs():
    """A graph built with the Python API runs like the parsed one."""
    block = block_with(ft(D, 2, 6, 6))
    x = block.args[0]
    pool = nn.MaxPool2dOp(x, (2, 2), strides=(2, 2))
    flat = nn.FlattenOp(pool.output)
    parts = nn.SplitOp(flat.output, [10, 8], axis=1)
    mean = nn.ReduceMeanOp(parts.results[0], [1], keepdims=False)
    module = module_of(block, [pool, flat, parts, mean])
    module.verify()
    rng = np.random.default_rng(0)
    for batch in (1, 5):
        data = rng.standard_normal((batch, 2, 6, 6)).astype(np.float32)
        out = run_function(module, [data])[0]
        ref = data.reshape(batch, 2, 3, 2, 3, 2).max(axis=(3, 5)).reshape(batch, 18)
        np.testing.assert_allclose(out, ref[:, :10].mean(axis=1), rtol=1e-6)


def it(*shape: int) -> TensorType:
    return TensorType(i64, shape)


def bt(*shape: int) -> TensorType:
    return TensorType(i1, shape)


@pytest.mark.parametrize(
    ("build", "arg_types", "expected"),
    [
        (
            lambda a: nn.ConvTranspose2dOp(
                a[0], a[1], strides=(3, 2), pads=(1, 1, 1, 1), output_padding=(1, 1)
            ),
            [ft(D, 3, 7, 6), ft(3, 4, 3, 3)],
            ft(D, 4, 20, 12),
        ),
        (
            lambda a: nn.ConvTranspose2dOp(a[0], a[1], a[2], group=2, dilations=(2, 1)),
            [ft(1, 4, D, 5), ft(4, 3, 3, 2), ft(6)],
            ft(1, 6, D, 6),
        ),
        (lambda a: nn.LRNOp(a[0], 5), [ft(D, 8, 4, 4)], ft(D, 8, 4, 4)),
        (lambda a: nn.LogSoftmaxOp(a[0], 1), [ft(2, 7, 3)], ft(2, 7, 3)),
        (
            lambda a: nn.PReluOp(a[0], a[1]),
            [ft(D, 3, 4, 4), ft(3, 1, 1)],
            ft(D, 3, 4, 4),
        ),
        (lambda a: nn.EluOp(a[0], 2.0), [ft(D, 7)], ft(D, 7)),
        (lambda a: nn.SeluOp(a[0]), [ft(D, 7)], ft(D, 7)),
        (lambda a: nn.SoftplusOp(a[0]), [ft(2, 7)], ft(2, 7)),
        (lambda a: nn.SoftsignOp(a[0]), [ft(2, 7)], ft(2, 7)),
        (lambda a: nn.NegOp(a[0]), [it(2, 7)], it(2, 7)),
        (lambda a: nn.AbsOp(a[0]), [ft(2, 7)], ft(2, 7)),
        (lambda a: nn.LogOp(a[0]), [ft(2, 7)], ft(2, 7)),
        (lambda a: nn.ReciprocalOp(a[0]), [ft(2, 7)], ft(2, 7)),
        (lambda a: nn.HardSigmoidOp(a[0], 0.25), [ft(2, 7)], ft(2, 7)),
        (lambda a: nn.HardSwishOp(a[0]), [ft(2, 7)], ft(2, 7)),
        (lambda a: nn.ReluOp(a[0]), [it(D, 7)], it(D, 7)),
        (lambda a: nn.MinOp(a[0], a[1]), [ft(D, 1, 4), ft(3, 1)], ft(D, 3, 4)),
        (lambda a: nn.MaxOp(a[0], a[1]), [it(3), it(2, 1)], it(2, 3)),
        (lambda a: nn.AddOp(a[0], a[1]), [it(D, 3), it(3)], it(D, 3)),
        (lambda a: nn.PowOp(a[0], a[1]), [ft(2, 3), it(3)], ft(2, 3)),
        (lambda a: nn.EqualOp(a[0], a[1]), [ft(D, 1, 4), ft(3, 1)], bt(D, 3, 4)),
        (lambda a: nn.LessOp(a[0], a[1]), [it(4), it(2, 1)], bt(2, 4)),
        (lambda a: nn.GreaterOp(a[0], a[1]), [ft(4), ft()], bt(4)),
        (lambda a: nn.NotOp(a[0]), [bt(D, 4)], bt(D, 4)),
        (
            lambda a: nn.WhereOp(a[0], a[1], a[2]),
            [bt(2, 1, 4), it(3, 1), it(4)],
            it(2, 3, 4),
        ),
        (lambda a: nn.PadOp(a[0], (0, 1, 0, 2)), [ft(D, 3)], ft(D, 6)),
        (
            lambda a: nn.PadOp(a[0], (0, -1, 2, 0, 2, 3), "reflect"),
            [ft(2, 4, 5)],
            ft(2, 5, 10),
        ),
        (lambda a: nn.PadOp(a[0], (1, 1), "constant", -1.0), [it(3)], it(5)),
        (lambda a: nn.ExpandOp(a[0], (2, 1, 6)), [ft(3, 1)], ft(2, 3, 6)),
        (lambda a: nn.ExpandOp(a[0], (D, 4)), [it(1, 1)], it(D, 4)),
        (lambda a: nn.CastOp(a[0], i64), [ft(D, 3)], it(D, 3)),
        (lambda a: nn.CastOp(a[0], f16), [bt(2)], TensorType(f16, (2,))),
    ],
)
def test_new_builders_infer_result_types(build, arg_types, expected):
    block = block_with(*arg_types)
    op = build(list(block.args))
    assert op.results[0].type == expected
    module = module_of(block, [op])
    module.verify()
    assert str(reparse(module)) == str(module)


def test_new_builders_only_print_non_default_properties():
    block = block_with(ft(1, 4, 8, 8), ft(4, 2, 3, 3))
    x, w = block.args
    assert set(nn.LRNOp(x, 5).properties) == {"size"}
    assert set(nn.LRNOp(x, 5, bias=2.0).properties) == {"size", "bias"}
    assert nn.LogSoftmaxOp(x).axis is None
    assert nn.EluOp(x).alpha is None
    assert set(nn.SeluOp(x).properties) == set()
    assert set(nn.HardSigmoidOp(x).properties) == set()
    assert set(nn.PadOp(x, (0,) * 8).properties) == {"pads"}
    assert set(nn.ConvTranspose2dOp(x, w).properties) == set()
    assert set(nn.ConvTranspose2dOp(x, w, output_padding=(0, 0)).properties) == set()


def test_new_attrs_fill_in_defaults():
    block = block_with(ft(1, 4, 8, 8), ft(4, 2, 3, 3))
    x, w = block.args
    assert nn.LRNOp(x, 3).attrs == (
        3,
        pytest.approx(1e-4),
        pytest.approx(0.75),
        pytest.approx(1.0),
    )
    assert nn.LogSoftmaxOp(x).attrs == -1
    assert nn.EluOp(x).attrs == 1.0
    assert nn.SeluOp(x).attrs == (nn.SELU_ALPHA, nn.SELU_GAMMA)
    assert nn.HardSigmoidOp(x).attrs == (pytest.approx(0.2), pytest.approx(0.5))
    assert nn.PadOp(x, (0,) * 8).attrs == ((0,) * 8, "constant", 0.0)
    assert nn.PadOp(x, (1,) * 8, "edge").attrs == ((1,) * 8, "edge", 0.0)
    assert nn.ConvTranspose2dOp(x, w).attrs == (
        (1, 1),
        (0, 0, 0, 0),
        (1, 1),
        1,
        (0, 0),
    )


@pytest.mark.parametrize(
    ("build", "arg_types", "message"),
    [
        (
            lambda a: nn.ConvTranspose2dOp(a[0], a[1], output_padding=(2, 0)),
            [ft(1, 4, 5, 5), ft(4, 2, 3, 3)],
            "output_padding",
        ),
        (lambda a: nn.LRNOp(a[0], 0), [ft(1, 4, 5, 5)], "size must be >= 1"),
        (lambda a: nn.PReluOp(a[0], a[1]), [ft(2, 3), ft(2)], "does not broadcast"),
        (lambda a: nn.PadOp(a[0], (1, 1)), [ft(2, 3)], "pads has 2 values"),
        (lambda a: nn.PadOp(a[0], (3, 0), "reflect"), [ft(3)], "reflect pads"),
        (lambda a: nn.ExpandOp(a[0], (3,)), [ft(2)], "not broadcast-compatible"),
        (lambda a: nn.CastOp(a[0], IntegerType(4)), [ft(2)], "cannot cast result"),
        (lambda a: nn.LessOp(a[0], a[1]), [bt(2), bt(2)], "not i1"),
        (lambda a: nn.AddOp(a[0], a[1]), [it(2), ft(2)], "same element type"),
    ],
)
def test_new_builders_reject_bad_operands(build, arg_types, message):
    block = block_with(*arg_types)
    with pytest.raises(VerifyException, match=message):
        build(list(block.args)).verify()


@pytest.mark.parametrize(
    ("element", "ok"),
    [
        (f16, True),
        (f32, True),
        (f64, True),
        (i1, True),
        (IntegerType(8), True),
        (IntegerType(16, Signedness.SIGNED), True),
        (i32, True),
        (i64, True),
        (IntegerType(8, Signedness.UNSIGNED), True),
        (IntegerType(16, Signedness.UNSIGNED), True),
        (IntegerType(32, Signedness.UNSIGNED), False),
        (IntegerType(4), False),
        (IntegerType(1, Signedness.UNSIGNED), False),
    ],
)
def test_cast_element_types(element, ok):
    assert nn.is_cast_type(element) == ok


@pytest.mark.parametrize(
    ("element", "values"),
    [
        (f32, [float("-inf"), float("nan"), 1.0]),
        (f32, [1234567.0, -50331652.0, 0.5]),
        (f32, [float("inf")] * 3),  # a splat
        (f16, [float("inf"), -2.0, float("nan")]),
        (f64, [float("-inf"), 123456789.0, 0.1]),
    ],
)
def test_constants_with_special_values_round_trip(element, values):
    """xDSL prints NaN, infinities and large integral floats as hex bit
    patterns that its parser misreads; `nn.constant` prints those constants
    as the hex string of their bytes."""
    ty = TensorType(element, (3,))
    const = nn.ConstantOp(DenseIntOrFPElementsAttr.from_list(ty, values))
    module = module_of(Block(), [const])
    text = str(module)
    assert 'dense<"0x' in text
    reparsed = reparse(module)
    back = next(op for op in reparsed.walk() if isinstance(op, nn.ConstantOp))
    before = dense_to_numpy(const.value)
    assert dense_to_numpy(back.value).tobytes() == before.tobytes()
    assert str(reparsed) == text


def test_readable_constants_stay_readable():
    ty = TensorType(f32, (2,))
    const = nn.ConstantOp(DenseIntOrFPElementsAttr.from_list(ty, [1.5, -0.25]))
    assert "dense<[1.500000e+00, -2.500000e-01]>" in str(module_of(Block(), [const]))
