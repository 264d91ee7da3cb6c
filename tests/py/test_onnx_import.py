"""The ONNX importer op by op: single-node models against ONNX Runtime.

Each case builds a small model with `onnx.helper` at a given opset, runs it
with ONNX Runtime and with qopt (import, then the reference executor) on the
same inputs, and compares. The opsets cover the semantic changes: Softmax /
LogSoftmax (flatten-to-2-D before 13), Split (attribute, input,
num_outputs), Slice (attributes before 10), Squeeze/Unsqueeze (attributes
before 13), Pad (attributes before 11, axes from 18), Clip (attributes
before 11), Reduce* (axes attribute before 13/18).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qopt.backends.reference import run_function
from qopt.frontends.onnx import (
    ImportOptions,
    OnnxImportError,
    import_onnx,
    supported_ops,
)

ort = pytest.importorskip("onnxruntime")

RNG = np.random.default_rng(0)


def rand(*shape, low=None, high=None, dtype=np.float32):
    if low is not None:
        return RNG.uniform(low, high, shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


def ir_version(opset: int) -> int:
    return 8 if opset <= 18 else 9 if opset <= 20 else 10


def make_model(nodes, inputs, outputs, opset, inits=None, out_types=None):
    """A model of `nodes` with typed inputs (from arrays) and outputs."""
    inits = inits or {}
    out_types = out_types or {}
    graph = helper.make_graph(
        nodes,
        "test",
        [
            helper.make_tensor_value_info(
                k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape
            )
            for k, v in inputs.items()
        ],
        [
            helper.make_tensor_value_info(o, out_types.get(o, TensorProto.FLOAT), None)
            for o in outputs
        ],
        [numpy_helper.from_array(v, k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version(opset)
    return model


def run_ort(model, inputs):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(
        model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    return sess.run(None, inputs)


def check(
    nodes,
    inputs,
    opset,
    inits=None,
    outputs=("y",),
    out_types=None,
    rtol=1e-5,
    **options,
):
    """qopt matches ONNX Runtime on this model; returns the module."""
    if not isinstance(nodes, list):
        nodes = [nodes]
    model = make_model(nodes, inputs, list(outputs), opset, inits, out_types)
    want = run_ort(model, inputs)
    module = import_onnx(model, **options)
    got = run_function(module, list(inputs.values()))
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape, (g.shape, w.shape)
        if w.dtype == np.bool_ or np.issubdtype(w.dtype, np.integer):
            np.testing.assert_array_equal(g, w)
        else:
            scale = max(1.0, float(np.abs(w).max()) if w.size else 1.0)
            np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-5 * scale)
    return module


def node(op, ins, outs=("y",), **attrs):
    return helper.make_node(op, list(ins), list(outs), **attrs)


# --------------------------------------------------------------------------
# Opset-dependent semantics
# --------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize(
    "opset, axis",
    [(9, None), (11, 0), (11, 1), (11, 2), (11, -1), (13, None), (13, 0), (13, 1)],
)
def test_softmax_axis_semantics(op, opset, axis):
    attrs = {} if axis is None else {"axis": axis}
    check(node(op, ["x"], **attrs), {"x": rand(2, 3, 4)}, opset)


@pytest.mark.parametrize(
    "opset, attrs, extra, sizes",
    [
        (11, {"axis": 1, "split": [1, 3]}, None, [1, 3]),
        (11, {"axis": 1}, None, [2, 2]),
        (13, {"axis": -1}, np.array([2, 3], np.int64), [2, 3]),
        (13, {"axis": 1}, None, [2, 2]),
        (18, {"axis": 2, "num_outputs": 2}, None, [3, 2]),
    ],
)
def test_split_forms(opset, attrs, extra, sizes):
    x = rand(2, 4, 5)
    inits = {} if extra is None else {"split": extra}
    ins = ["x"] + (["split"] if extra is not None else [])
    outs = [f"y{i}" for i in range(len(sizes))]
    check(node("Split", ins, outs, **attrs), {"x": x}, opset, inits, outputs=outs)


@pytest.mark.parametrize(
    "opset, starts, ends, axes, steps",
    [
        (9, [0, 1], [2, -1], [0, 2], None),
        (9, [1], [1000], None, None),
        (10, [-3, 0], [-1, 100], [1, 2], [1, 2]),
        (13, [5, -1], [0, -1000], [2, 1], [-2, -1]),
        (13, [0], [2**63 - 1], [-1], [3]),
    ],
)
def test_slice_attributes_and_inputs(opset, starts, ends, axes, steps):
    x = rand(3, 4, 6)
    if opset < 10:
        attrs = {"starts": starts, "ends": ends}
        if axes is not None:
            attrs["axes"] = axes
        check(node("Slice", ["x"], **attrs), {"x": x}, opset)
        return
    inits = {
        "starts": np.array(starts, np.int64),
        "ends": np.array(ends, np.int64),
        "axes": np.array(axes, np.int64),
    }
    ins = ["x", "starts", "ends", "axes"]
    if steps is not None:
        inits["steps"] = np.array(steps, np.int64)
        ins.append("steps")
    check(node("Slice", ins), {"x": x}, opset, inits)


@pytest.mark.parametrize("opset", [11, 13])
def test_unsqueeze_squeeze(opset):
    x = rand(3, 1, 4)
    if opset < 13:
        nodes = [
            node("Unsqueeze", ["x"], ["u"], axes=[0, -1]),
            node("Squeeze", ["u"], ["y"], axes=[0, 2]),
            node("Squeeze", ["x"], ["z"]),
        ]
        check(nodes, {"x": x}, opset, outputs=["u", "y", "z"])
    else:
        inits = {"ua": np.array([0, -1], np.int64), "sa": np.array([0, 2], np.int64)}
        nodes = [
            node("Unsqueeze", ["x", "ua"], ["u"]),
            node("Squeeze", ["u", "sa"], ["y"]),
            node("Squeeze", ["x"], ["z"]),
        ]
        check(nodes, {"x": x}, opset, inits, outputs=["u", "y", "z"])


@pytest.mark.parametrize(
    "opset, mode, value, axes",
    [
        (9, "constant", 1.5, None),
        (9, "reflect", None, None),
        (11, "constant", 0.25, None),
        (11, "edge", None, None),
        (13, "reflect", None, None),
        (18, "constant", -2.0, [1, 3]),
    ],
)
def test_pad_forms(opset, mode, value, axes):
    x = rand(1, 2, 4, 5)
    full = [0, 1, 2, 1, 0, 0, 1, 2]
    if opset < 11:
        attrs = {"mode": mode, "pads": full}
        if value is not None:
            attrs["value"] = value
        check(node("Pad", ["x"], **attrs), {"x": x}, opset)
        return
    pads = full if axes is None else [1, 1, 0, 2]
    inits = {"pads": np.array(pads, np.int64)}
    ins = ["x", "pads"]
    if value is not None:
        inits["value"] = np.array(value, np.float32)
        ins.append("value")
    if axes is not None:
        inits["axes"] = np.array(axes, np.int64)
        ins.append("axes")
    check(node("Pad", ins, mode=mode), {"x": x}, opset, inits)


@pytest.mark.parametrize(
    "opset, lo, hi",
    [(9, -0.5, 0.7), (9, None, 0.3), (11, -0.2, None), (13, None, 0.1), (13, 0.0, 6.0)],
)
def test_clip_attributes_and_inputs(opset, lo, hi):
    x = rand(3, 4) * 4
    if opset < 11:
        attrs = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
        check(node("Clip", ["x"], **attrs), {"x": x}, opset)
        return
    inits = {}
    ins = ["x", "", ""]
    if lo is not None:
        inits["lo"] = np.array(lo, np.float32)
        ins[1] = "lo"
    if hi is not None:
        inits["hi"] = np.array(hi, np.float32)
        ins[2] = "hi"
    while ins[-1] == "":
        ins.pop()
    check(node("Clip", ins), {"x": x}, opset, inits)


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin"])
@pytest.mark.parametrize(
    "opset, axes, keepdims",
    [(11, [1], 1), (13, [0, -1], 0), (18, [1, 2], 1), (18, None, 0)],
)
def test_reduce_axes_attribute_and_input(op, opset, axes, keepdims):
    x = rand(2, 3, 4)
    as_input = opset >= (13 if op == "ReduceSum" else 18)
    if as_input and axes is not None:
        check(
            node(op, ["x", "axes"], keepdims=keepdims),
            {"x": x},
            opset,
            {"axes": np.array(axes, np.int64)},
        )
    elif axes is not None:
        check(node(op, ["x"], axes=axes, keepdims=keepdims), {"x": x}, opset)
    else:
        check(node(op, ["x"], keepdims=keepdims), {"x": x}, opset)


def test_reduce_noop_with_empty_axes():
    check(node("ReduceMean", ["x"], noop_with_empty_axes=1), {"x": rand(2, 3)}, 18)


# --------------------------------------------------------------------------
# Linear layers, normalisation, pooling
# --------------------------------------------------------------------------


@pytest.mark.parametrize("opset", [9, 13])
@pytest.mark.parametrize(
    "attrs, cshape",
    [
        ({}, (5,)),
        ({"transA": 1}, (1, 5)),
        ({"transB": 1, "alpha": 0.5, "beta": 2.0}, (3, 5)),
        ({"transA": 1, "transB": 1}, ()),
    ],
)
def test_gemm(opset, attrs, cshape):
    a = rand(4, 3) if attrs.get("transA") else rand(3, 4)
    b = rand(5, 4) if attrs.get("transB") else rand(4, 5)
    check(
        node("Gemm", ["a", "b", "c"], **attrs),
        {"a": a},
        opset,
        {"b": b, "c": rand(*cshape)},
    )


@pytest.mark.parametrize(
    "ashape, bshape", [((4,), (4, 3)), ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (4,))]
)
def test_matmul(ashape, bshape):
    check(node("MatMul", ["a", "b"]), {"a": rand(*ashape), "b": rand(*bshape)}, 13)


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"pads": [1, 2, 0, 1], "strides": [2, 1]},
        {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
        {"auto_pad": "SAME_LOWER", "strides": [2, 2]},
        {"auto_pad": "VALID", "dilations": [2, 1]},
        {"group": 2, "pads": [1, 1, 1, 1]},
    ],
)
def test_conv2d(attrs):
    group = attrs.get("group", 1)
    x, w, b = rand(2, 4, 7, 8), rand(6, 4 // group, 3, 3), rand(6)
    check(node("Conv", ["x", "w", "b"], **attrs), {"x": x}, 11, {"w": w, "b": b})


@pytest.mark.parametrize(
    "attrs", [{}, {"pads": [2, 1], "strides": [2]}, {"dilations": [2]}]
)
def test_conv1d(attrs):
    x, w = rand(2, 3, 11), rand(4, 3, 3)
    check(node("Conv", ["x", "w"], **attrs), {"x": x}, 13, {"w": w})


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]},
        {"strides": [2, 2], "output_shape": [10, 12]},
        {"group": 2, "strides": [2, 1], "dilations": [1, 2]},
    ],
)
def test_conv_transpose(attrs):
    group = attrs.get("group", 1)
    x, w, b = rand(1, 4, 5, 6), rand(4, 6 // group, 3, 3), rand(6)
    check(
        node("ConvTranspose", ["x", "w", "b"], **attrs), {"x": x}, 13, {"w": w, "b": b}
    )


def test_conv_transpose_1d():
    check(
        node("ConvTranspose", ["x", "w"], strides=[2]),
        {"x": rand(2, 3, 5)},
        13,
        {"w": rand(3, 2, 3)},
    )


@pytest.mark.parametrize(
    "op, attrs",
    [
        ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2]}),
        ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
        (
            "MaxPool",
            {"kernel_shape": [2, 2], "dilations": [2, 2], "pads": [1, 1, 1, 1]},
        ),
        (
            "MaxPool",
            {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]},
        ),
        ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
        (
            "AveragePool",
            {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1},
        ),
        ("AveragePool", {"kernel_shape": [2, 3], "strides": [2, 2], "ceil_mode": 1}),
        ("AveragePool", {"kernel_shape": [3, 3], "auto_pad": "SAME_LOWER"}),
    ],
)
def test_pool2d(op, attrs):
    check(node(op, ["x"], **attrs), {"x": rand(2, 3, 9, 8)}, 12)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pool1d(op):
    check(
        node(op, ["x"], kernel_shape=[3], strides=[2], pads=[1, 1]),
        {"x": rand(2, 3, 10)},
        13,
    )


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pools(op):
    check(node(op, ["x"]), {"x": rand(2, 3, 5, 4)}, 13)


@pytest.mark.parametrize("opset", [9, 15])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (2, 3, 4, 4)])
def test_batchnorm(opset, shape):
    c = shape[1]
    inits = {
        "s": rand(c),
        "b": rand(c),
        "m": rand(c),
        "v": rand(c, low=0.5, high=2.0),
    }
    check(
        node("BatchNormalization", ["x", "s", "b", "m", "v"], epsilon=1e-3),
        {"x": rand(*shape)},
        opset,
        inits,
    )


@pytest.mark.parametrize("axis, bias", [(-1, True), (1, False)])
def test_layernorm(axis, bias):
    x = rand(2, 3, 4) + 3
    norm = x.shape[axis % 3 :]
    inits = {"s": rand(*norm)}
    ins = ["x", "s"]
    if bias:
        inits["b"] = rand(*norm)
        ins.append("b")
    check(node("LayerNormalization", ins, axis=axis, epsilon=1e-4), {"x": x}, 17, inits)


def test_lrn():
    check(
        node("LRN", ["x"], size=3, alpha=1e-3, beta=0.7, bias=2.0),
        {"x": rand(2, 5, 3, 3)},
        13,
    )


# --------------------------------------------------------------------------
# Elementwise
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "op, opset, attrs, positive",
    [
        ("Relu", 13, {}, False),
        ("Sigmoid", 13, {}, False),
        ("Tanh", 13, {}, False),
        ("Erf", 13, {}, False),
        ("Exp", 13, {}, False),
        ("Sqrt", 13, {}, True),
        ("Log", 13, {}, True),
        ("Neg", 13, {}, False),
        ("Abs", 13, {}, False),
        ("Reciprocal", 13, {}, True),
        ("Softplus", 13, {}, False),
        ("Softsign", 13, {}, False),
        ("HardSwish", 14, {}, False),
        ("LeakyRelu", 13, {"alpha": 0.2}, False),
        ("Elu", 13, {"alpha": 0.7}, False),
        ("Selu", 13, {}, False),
        ("HardSigmoid", 13, {"alpha": 0.3, "beta": 0.4}, False),
        ("Gelu", 20, {}, False),
        ("Gelu", 20, {"approximate": "tanh"}, False),
    ],
)
def test_unary(op, opset, attrs, positive):
    x = rand(3, 4, low=0.1, high=3.0) if positive else rand(3, 4) * 3
    check(node(op, ["x"], **attrs), {"x": x}, opset)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Pow"])
def test_binary_broadcast(op):
    a = rand(2, 3, 4, low=0.5, high=2.0)
    b = rand(3, 1, low=0.5, high=2.0)
    check(node(op, ["a", "b"]), {"a": a, "b": b}, 13)


def test_pow_with_integer_exponent():
    check(node("Pow", ["x", "e"]), {"x": rand(3, 4)}, 13, {"e": np.array(3, np.int64)})


def test_legacy_broadcast_axis():
    # opset 6 Add with broadcast=1, axis=1: B [3] aligned at axis 1 of A [2,3,4,5]
    model = make_model(
        [node("Add", ["a", "b"], broadcast=1, axis=1)],
        {"a": rand(2, 3, 4, 5)},
        ["y"],
        6,
        {"b": rand(3)},
    )
    module = import_onnx(model)
    a = rand(2, 3, 4, 5)
    b = numpy_helper.to_array(model.graph.initializer[0])
    got = run_function(module, [a])[0]
    np.testing.assert_allclose(got, a + b.reshape(3, 1, 1), rtol=1e-6)


@pytest.mark.parametrize("op", ["Sum", "Mean", "Min", "Max"])
def test_variadic(op):
    ins = {"a": rand(2, 3), "b": rand(3), "c": rand(2, 1)}
    check(node(op, list(ins)), ins, 13)


def test_single_input_sum():
    check(node("Sum", ["a"]), {"a": rand(2, 3)}, 13)


@pytest.mark.parametrize(
    "op", ["Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"]
)
def test_compare(op):
    a = np.round(rand(3, 4))
    b = np.round(rand(4))
    check(node(op, ["a", "b"]), {"a": a, "b": b}, 13, out_types={"y": TensorProto.BOOL})


def test_where_not_cast():
    nodes = [
        node("Greater", ["a", "b"], ["g"]),
        node("Not", ["g"], ["n"]),
        node("Where", ["n", "a", "b"], ["y"]),
        node("Cast", ["a"], ["i"], to=TensorProto.INT32),
        node("Cast", ["i"], ["z"], to=TensorProto.FLOAT),
    ]
    check(nodes, {"a": rand(3, 4) * 5, "b": rand(4)}, 13, outputs=["y", "z"])


@pytest.mark.parametrize("target", [[2, 3, 4], [3, 1], [1, 1, 4]])
def test_expand(target):
    check(
        node("Expand", ["x", "s"]),
        {"x": rand(3, 1)},
        13,
        {"s": np.array(target, np.int64)},
    )


def test_gather_runtime_indices_on_constant_data():
    idx = np.array([[0, 4, -1], [2, 2, 1]], np.int64)
    check(node("Gather", ["w", "i"]), {"i": idx}, 13, {"w": rand(5, 3)})


@pytest.mark.parametrize(
    "axis, idx", [(1, np.array(2, np.int64)), (0, np.array([-1, 0], np.int64))]
)
def test_gather_constant_indices(axis, idx):
    check(node("Gather", ["x", "i"], axis=axis), {"x": rand(3, 4, 2)}, 13, {"i": idx})


# --------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "opset, target, allowzero",
    [(13, [0, -1], 0), (13, [-1, 4], 0), (14, [2, 0, 2, -1], 0), (14, [3, 2, 2, 2], 1)],
)
def test_reshape(opset, target, allowzero):
    attrs = {"allowzero": allowzero} if opset >= 14 else {}
    check(
        node("Reshape", ["x", "s"], **attrs),
        {"x": rand(2, 3, 4)},
        opset,
        {"s": np.array(target, np.int64)},
    )


@pytest.mark.parametrize("axis", [0, 2, -1, 3])
def test_flatten(axis):
    check(node("Flatten", ["x"], axis=axis), {"x": rand(2, 3, 4)}, 13)


@pytest.mark.parametrize("perm", [None, [0, 2, 1]])
def test_transpose(perm):
    attrs = {} if perm is None else {"perm": perm}
    check(node("Transpose", ["x"], **attrs), {"x": rand(2, 3, 4)}, 13)


def test_concat_with_constant():
    check(node("Concat", ["x", "c"], axis=-1), {"x": rand(2, 3)}, 13, {"c": rand(2, 2)})


@pytest.mark.parametrize(
    "op, attrs",
    [
        ("DepthToSpace", {"mode": "DCR"}),
        ("DepthToSpace", {"mode": "CRD"}),
        ("SpaceToDepth", {}),
    ],
)
def test_depth_space(op, attrs):
    shape = (1, 8, 2, 3) if op == "DepthToSpace" else (1, 2, 4, 6)
    check(node(op, ["x"], blocksize=2, **attrs), {"x": rand(*shape)}, 13)


@pytest.mark.parametrize("opset", [9, 12])
def test_dropout_and_identity(opset):
    nodes = [node("Dropout", ["x"], ["d"]), node("Identity", ["d"], ["y"])]
    check(nodes, {"x": rand(2, 3)}, opset)


# --------------------------------------------------------------------------
# Folding
# --------------------------------------------------------------------------


def test_shape_arithmetic_is_folded():
    # y = reshape(x, [shape(x)[0] * shape(x)[1], -1]) + constant fill
    nodes = [
        node("Shape", ["x"], ["s"]),
        node("Gather", ["s", "i0"], ["d0"]),
        node("Gather", ["s", "i1"], ["d1"]),
        node("Mul", ["d0", "d1"], ["p"]),
        node("Unsqueeze", ["p", "ax"], ["pu"]),
        node("Concat", ["pu", "m1"], ["t"], axis=0),
        node("Reshape", ["x", "t"], ["r"]),
        node("Shape", ["r"], ["rs"]),
        node(
            "ConstantOfShape",
            ["rs"],
            ["fill"],
            value=numpy_helper.from_array(np.array([0.5], np.float32)),
        ),
        node("Range", ["r0", "r1", "r2"], ["rg"]),
        node("Cast", ["rg"], ["rgf"], to=TensorProto.FLOAT),
        node("Add", ["r", "fill"], ["a"]),
        node("Add", ["a", "rgf"], ["y"]),
    ]
    inits = {
        "i0": np.array(0, np.int64),
        "i1": np.array(1, np.int64),
        "ax": np.array([0], np.int64),
        "m1": np.array([-1], np.int64),
        "r0": np.array(0, np.int64),
        "r1": np.array(4, np.int64),
        "r2": np.array(1, np.int64),
    }
    module = check(nodes, {"x": rand(2, 3, 4)}, 13, inits)
    names = {op.name for op in module.walk()}
    assert names == {
        "builtin.module",
        "func.func",
        "func.return",
        "nn.constant",
        "nn.reshape",
        "nn.add",
    }


def test_constant_node_forms():
    nodes = [
        node("Constant", [], ["a"], value_float=2.0),
        node("Constant", [], ["b"], value_floats=[1.0, 2.0, 3.0]),
        node(
            "Constant",
            [],
            ["c"],
            value=numpy_helper.from_array(np.ones((2, 3), np.float32)),
        ),
        node("Mul", ["x", "a"], ["t"]),
        node("Add", ["t", "b"], ["u"]),
        node("Add", ["u", "c"], ["y"]),
    ]
    check(nodes, {"x": rand(2, 3)}, 13)


def test_everything_folds_to_a_constant():
    nodes = [node("Relu", ["c"], ["r"]), node("Add", ["x", "r"], ["y"])]
    module = check(nodes, {"x": rand(3)}, 13, {"c": rand(3)})
    assert "nn.relu" not in {op.name for op in module.walk()}


# --------------------------------------------------------------------------
# Options, names and errors
# --------------------------------------------------------------------------


def _param_input_model():
    """IR version 8: 'w' is a graph input with an initializer (overridable)."""
    w = rand(3)
    graph = helper.make_graph(
        [node("Add", ["x", "w"])],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
            helper.make_tensor_value_info("w", TensorProto.FLOAT, [3]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model, w


def test_parameter_inputs_stay_arguments_unless_inlined():
    model, w = _param_input_model()
    x = rand(2, 3)
    module = import_onnx(model)
    fn = next(op for op in module.walk() if op.name == "func.func")
    assert len(fn.body.block.args) == 2
    w2 = rand(3)
    np.testing.assert_allclose(run_function(module, [x, w2])[0], x + w2)
    inlined = import_onnx(model, inline_params=True)
    fn = next(op for op in inlined.walk() if op.name == "func.func")
    assert len(fn.body.block.args) == 1
    np.testing.assert_allclose(run_function(inlined, [x])[0], x + w)


def test_old_ir_initializer_inputs_are_constants():
    model, _w = _param_input_model()
    model.ir_version = 3
    module = import_onnx(model)
    fn = next(op for op in module.walk() if op.name == "func.func")
    assert len(fn.body.block.args) == 1


def test_dynamic_batch_and_fixed_dims():
    graph = helper.make_graph(
        [node("Relu", ["x"], ["r"]), node("Flatten", ["r"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "C", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    with pytest.raises(OnnxImportError, match=r"'C' at axis 1.*--dim C=VALUE"):
        import_onnx(model)
    module = import_onnx(model, dims={"C": 3})
    fn = next(op for op in module.walk() if op.name == "func.func")
    assert str(fn.function_type) == "(tensor<?x3x4xf32>) -> tensor<?x12xf32>"
    for batch in (1, 7):
        x = rand(batch, 3, 4)
        np.testing.assert_allclose(
            run_function(module, [x])[0], np.maximum(x, 0).reshape(batch, 12)
        )
    fixed = import_onnx(model, ImportOptions(batch=5, dims={"x[1]": 3}))
    fn = next(op for op in fixed.walk() if op.name == "func.func")
    assert str(fn.function_type) == "(tensor<5x3x4xf32>) -> tensor<5x12xf32>"
    static = import_onnx(model, dims={"N": 2, "C": 3})
    fn = next(op for op in static.walk() if op.name == "func.func")
    assert str(fn.function_type) == "(tensor<2x3x4xf32>) -> tensor<2x12xf32>"
    with pytest.raises(OnnxImportError, match="no dynamic batch dimension"):
        import_onnx(model, dims={"N": 2, "C": 3}, batch=4)


def test_names_become_locations_and_ssa_names():
    from io import StringIO

    from xdsl.context import Context
    from xdsl.dialects.builtin import Builtin
    from xdsl.dialects.func import Func
    from xdsl.parser import Parser
    from xdsl.printer import Printer

    from qopt.qdialect.nn import NN

    model = make_model(
        [helper.make_node("Relu", ["x"], ["conv1/out"], name="conv1/relu")],
        {"x": rand(2)},
        ["conv1/out"],
        13,
    )
    module = import_onnx(model)
    text = StringIO()
    Printer(stream=text, print_debuginfo=True).print_op(module)
    printed = text.getvalue()
    assert 'loc("conv1/relu")' in printed
    assert "%conv1_out = nn.relu %x" in printed
    ctx = Context()
    for d in (Builtin, Func, NN):
        ctx.load_dialect(d)
    again = Parser(ctx, printed).parse_module()
    text2 = StringIO()
    Printer(stream=text2, print_debuginfo=True).print_op(again)
    assert text2.getvalue() == printed


def test_unsupported_ops_are_listed_with_counts_and_names():
    s = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "s")
    nodes = [
        helper.make_node("Upsample", ["x", "s"], ["u"], name="up1"),
        helper.make_node("Upsample", ["u", "s"], ["u2"], name="up2"),
        helper.make_node("Foo", ["u2"], ["f"], domain="com.example", name="foo"),
        helper.make_node("Upsample", ["f", "s"], ["y"], name="up3"),
        helper.make_node("Upsample", ["x", "s"], ["z"], name="up4"),
        helper.make_node("Conv", ["v", "w"], ["c"], name="conv3d"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2]),
            helper.make_tensor_value_info("v", TensorProto.FLOAT, [1, 1, 3, 3, 3]),
        ],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in "yzc"],
        [s, numpy_helper.from_array(rand(1, 1, 2, 2, 2), "w")],
    )
    model = helper.make_model(
        graph,
        opset_imports=[
            helper.make_opsetid("", 9),
            helper.make_opsetid("com.example", 1),
        ],
    )
    with pytest.raises(OnnxImportError) as info:
        import_onnx(model)
    message = str(info.value)
    assert "\n" not in message
    assert "unsupported ONNX ops (3 types, 6 nodes)" in message
    assert "Upsample x4 (up1, up2, up3, ...)" in message
    assert "com.example.Foo x1 (foo)" in message
    assert "Conv [3-D] x1 (conv3d)" in message


def test_supported_op_list_covers_the_issue():
    ops = set(supported_ops())
    wanted = {
        "Conv", "Relu", "LRN", "MaxPool", "Reshape", "Gemm", "Dropout", "Softmax",
        "BatchNormalization", "Unsqueeze", "Mul", "Add", "Concat", "AveragePool",
        "GlobalAveragePool", "Sum", "Transpose", "MatMul", "LayerNormalization",
        "Erf", "Gelu", "Split", "Slice", "Gather", "Where", "Pow", "Sqrt",
        "ReduceMean", "Expand", "Shape", "ConstantOfShape", "Cast", "Pad",
        "ConvTranspose", "PRelu", "LogSoftmax", "Flatten", "Squeeze", "Clip",
    }  # fmt: skip
    assert wanted <= ops, wanted - ops


def test_model_file_is_read_with_external_data(tmp_path):
    w = rand(64)
    model = make_model([node("Add", ["x", "w"])], {"x": rand(64)}, ["y"], 13, {"w": w})
    path = tmp_path / "m.onnx"
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        location="m.data",
        size_threshold=0,
    )
    assert (tmp_path / "m.data").exists()
    x = rand(64)
    np.testing.assert_allclose(run_function(import_onnx(path), [x])[0], x + w)
    with open(path, "rb") as stream:  # a stream with a name finds its folder too
        np.testing.assert_allclose(run_function(import_onnx(stream), [x])[0], x + w)


def test_other_domains_plug_in():
    """A converter registered for another domain (as QONNX's will be)."""
    from qopt.frontends import onnx as onnx_frontend
    from qopt.qdialect import nn

    @onnx_frontend.register_op("Twice", domain="com.example.test")
    def twice(n):
        x = n.input(0)
        return n.out(nn.AddOp(n.ssa(x), n.ssa(x)), x.shape)

    try:
        graph = helper.make_graph(
            [helper.make_node("Twice", ["x"], ["y"], domain="com.example.test")],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        module = import_onnx(model)
        x = rand(4, 3)
        np.testing.assert_allclose(run_function(module, [x])[0], 2 * x)
    finally:
        del onnx_frontend._REGISTRY[("com.example.test", "Twice")]


@pytest.mark.parametrize("repeats", [[2, 1, 3], [1, 1, 1], [3, 2, 1]])
def test_tile(repeats):
    check(
        node("Tile", ["x", "r"]),
        {"x": rand(2, 3, 4)},
        13,
        {"r": np.array(repeats, np.int64)},
    )


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5)])
def test_instance_norm(shape):
    c = shape[1]
    check(
        node("InstanceNormalization", ["x", "s", "b"], epsilon=1e-3),
        {"x": rand(*shape) + 2},
        13,
        {"s": rand(c), "b": rand(c)},
    )
