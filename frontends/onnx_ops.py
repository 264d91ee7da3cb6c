"""The `ai.onnx` op table of the ONNX importer: one converter per op type.

Each converter gets a `Node` and returns its output `Value`s. It reads the
attributes or inputs the op's opset version uses (`n.version` is the
since-version of the definition in force), emits `nn` ops with explicit
symbolic result shapes, and raises `Unsupported` for a case qopt cannot
express (listed with the other unsupported nodes). Lowerings of ops with no
`nn` op of their own:

- Identity, Dropout: the value itself; Constant, ConstantOfShape, Shape,
  Size and shape arithmetic: folded (see `onnx_fold.py`);
- Sum, Mean, variadic Min/Max: chains of `nn.add` / `nn.min` / `nn.max`
  (Mean divides by the count);
- Squeeze, Unsqueeze, Reshape: `nn.reshape`; Flatten: `nn.flatten`;
- 1-D Conv/ConvTranspose/MaxPool/AveragePool: reshape to 2-D with H = 1,
  the 2-D op, reshape back (3-D ones are unsupported);
- Softmax/LogSoftmax before opset 13: reshape to 2-D at `axis`, the op on
  axis 1, reshape back (unless `axis` is the last axis);
- GlobalMaxPool: `nn.reduce_max` over the spatial axes; ReduceMin:
  `-reduce_max(-x)`; LessOrEqual/GreaterOrEqual: `not` of greater/less;
- DepthToSpace/SpaceToDepth: reshape, transpose, reshape; Tile: reshape,
  `nn.expand`, reshape; InstanceNormalization: reduce_mean, sub, mul, add,
  sqrt, div (its ONNX definition).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from qopt.frontends.onnx import (
    Node,
    NodeInfo,
    Unsupported,
    Value,
    ir_element_type,
    onnx_np_dtype,
    register_op,
)
from qopt.frontends.onnx_fold import (
    axes_of,
    slice_params,
    split_sizes,
)
from qopt.frontends.onnx_shapes import (
    Dim,
    Sym,
    SymShape,
    broadcast,
    div_exact,
    fmt_dims,
    ir_shape,
    is_partial,
    prod,
)
from qopt.qdialect import nn
from qopt.qdialect.shapes import slice_bounds

# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def _float(n: Node, v: Value, what: str = "input") -> None:
    if v.dtype.kind != "f":
        raise Unsupported(f"{what} of type {v.dtype}", f"{v.dtype} {what}")


def _numeric(n: Node, v: Value) -> None:
    if v.dtype.kind not in "fiu":
        raise Unsupported(f"input of type {v.dtype}", f"{v.dtype} input")


def _arrays(n: Node) -> list[np.ndarray | None]:
    """Known inputs but the data (input 0) as arrays (None where unknown or
    missing), for the fold helpers that read attributes or inputs."""
    out: list[np.ndarray | None] = [None]
    for i in range(1, n.n_inputs):
        out.append(n.input(i).known if n.has_input(i) else None)
    return out


def _axes(n: Node, input_index: int, since: int) -> list[int] | None:
    if n.version >= since and n.has_input(input_index):
        return [int(a) for a in n.const(input_index, "axes").ravel()]
    return axes_of(n, _arrays(n), input_index, since)


def _static(n: Node, dims: Sequence[Dim], what: str) -> list[int]:
    if any(isinstance(d, Sym) for d in dims):
        raise n.dynamic_error(f"the {what} {fmt_dims(dims)} must be static")
    return [int(d) for d in dims]  # type: ignore[arg-type]


def _keep_batch(x: Value, op_result_shape: Sequence[int]) -> SymShape:
    """The IR result shape with the batch dimension of `x`."""
    return (x.shape[0], *op_result_shape[1:])


def _rank_check(allowed: Sequence[int], what: str = "input"):
    """A precheck: the op is supported for these ranks of its first input."""

    def check(info: NodeInfo) -> str | None:
        rank = info.input_ranks[0] if info.input_ranks else None
        if rank is None and len(info.input_ranks) > 1:
            w = info.input_ranks[1]
            rank = w
        if rank is None:
            ks = info.attrs.get("kernel_shape")
            rank = None if ks is None else len(ks) + 2
        if rank is not None and rank not in allowed:
            return f"{rank - 2}-D" if rank >= 3 else f"rank {rank}"
        return None

    return check


# --------------------------------------------------------------------------- #
# Identity-like
# --------------------------------------------------------------------------- #


@register_op("Identity")
def convert_identity(n: Node):
    return [n.input(0)]


@register_op("Dropout")
def convert_dropout(n: Node):
    if n.has_input(2) and bool(np.ravel(n.const(2, "training_mode"))[0]):
        raise Unsupported("training mode", "training_mode")
    x = n.input(0)
    mask = None
    if n.output_used(1):
        if any(isinstance(d, Sym) for d in x.shape):
            raise Unsupported("the mask output of a dynamic shape", "mask output")
        mask = n.known(np.ones([int(d) for d in x.shape], dtype=np.bool_))
    return [x, mask]


@register_op("Shape")
def convert_shape(n: Node):
    x = n.input(0)
    dims = list(x.shape)
    start = int(n.attr("start", 0)) if n.version >= 15 else 0
    end = n.attr("end") if n.version >= 15 else None
    r = len(dims)
    lo = max(0, min(r, start + r if start < 0 else start))
    hi = (
        r if end is None else max(0, min(r, int(end) + r if int(end) < 0 else int(end)))
    )
    from qopt.frontends.onnx_shapes import to_partial

    return [n.known(to_partial(dims[lo:hi]))]


@register_op("Size")
def convert_size(n: Node):
    from qopt.frontends.onnx_shapes import to_partial

    total = prod(n.input(0).shape)
    return [n.known(to_partial([total]).reshape(()))]


@register_op("ConstantOfShape")
def convert_constant_of_shape(n: Node):
    # reached only when the shape is not fully known
    value = n.input(0)
    if value.is_known:
        raise n.unresolved("shape of ConstantOfShape", value.known)
    raise Unsupported("a shape computed at run time", "run-time shape")


# --------------------------------------------------------------------------- #
# Elementwise
# --------------------------------------------------------------------------- #

_UNARY_FLOAT = {
    "Sigmoid": nn.SigmoidOp,
    "Tanh": nn.TanhOp,
    "Erf": nn.ErfOp,
    "Exp": nn.ExpOp,
    "Sqrt": nn.SqrtOp,
    "Log": getattr(nn, "LogOp", None),
    "Reciprocal": getattr(nn, "ReciprocalOp", None),
    "Softplus": getattr(nn, "SoftplusOp", None),
    "Softsign": getattr(nn, "SoftsignOp", None),
    "HardSwish": getattr(nn, "HardSwishOp", None),
}
_UNARY_NUMERIC = {
    "Relu": nn.ReluOp,
    "Neg": getattr(nn, "NegOp", None),
    "Abs": getattr(nn, "AbsOp", None),
}


def _need_op(cls, name: str):
    if cls is None:
        raise Unsupported(f"the nn dialect has no {name} yet", "no nn op")
    return cls


@register_op(*_UNARY_FLOAT, *_UNARY_NUMERIC)
def convert_unary(n: Node):
    x = n.input(0)
    if n.op_type in _UNARY_FLOAT:
        _float(n, x)
        cls = _need_op(_UNARY_FLOAT[n.op_type], n.op_type)
    else:
        _numeric(n, x)
        cls = _need_op(_UNARY_NUMERIC[n.op_type], n.op_type)
    return n.out(cls(n.ssa(x)), x.shape)


@register_op("LeakyRelu", "Elu", "Selu", "HardSigmoid", "Gelu")
def convert_param_unary(n: Node):
    x = n.input(0)
    _float(n, x)
    a = n.attrs
    s = n.ssa(x)
    if n.op_type == "LeakyRelu":
        op = nn.LeakyReluOp(s, float(a.get("alpha", 0.01)))
    elif n.op_type == "Elu":
        op = _need_op(getattr(nn, "EluOp", None), "Elu")(s, float(a.get("alpha", 1.0)))
    elif n.op_type == "Selu":
        op = _need_op(getattr(nn, "SeluOp", None), "Selu")(
            s,
            alpha=float(a.get("alpha", 1.67326319217681884765625)),
            gamma=float(a.get("gamma", 1.05070102214813232421875)),
        )
    elif n.op_type == "HardSigmoid":
        op = _need_op(getattr(nn, "HardSigmoidOp", None), "HardSigmoid")(
            s, alpha=float(a.get("alpha", 0.2)), beta=float(a.get("beta", 0.5))
        )
    elif n.op_type == "Gelu":
        approximate = a.get("approximate", "none")
        if approximate not in ("none", "tanh"):
            raise Unsupported(
                f"approximate={approximate}", f"approximate={approximate}"
            )
        op = nn.GeluOp(s, approximate)
    else:
        raise n.error("internal: no conversion")
    return n.out(op, x.shape)


@register_op("PRelu")
def convert_prelu(n: Node):
    x, slope = n.input(0), n.input(1)
    _float(n, x)
    cls = _need_op(getattr(nn, "PReluOp", None), "PRelu")
    if (
        slope.rank == 1
        and x.rank >= 3
        and slope.shape[0] != 1
        and slope.shape[0] == x.shape[1]
        and slope.shape[0] != x.shape[-1]
    ):
        # opset < 7 (and PyTorch's old exports): one slope per channel
        slope = n.reshape(slope, (slope.shape[0],) + (1,) * (x.rank - 2))
    return n.out(cls(n.ssa(x), n.ssa(slope)), x.shape)


_BINARY = {
    "Add": nn.AddOp,
    "Sub": nn.SubOp,
    "Mul": nn.MulOp,
    "Div": nn.DivOp,
    "Pow": nn.PowOp,
}


def _legacy_broadcast(n: Node, a: Value, b: Value) -> Value:
    """Before opset 7: `broadcast=1` with `axis` aligns b at that axis."""
    if n.version >= 7 or not n.attr("broadcast", 0) or "axis" not in n.attrs:
        return b
    axis = int(n.attr("axis")) % max(a.rank, 1)
    trailing = a.rank - axis - b.rank
    if trailing > 0:
        return n.reshape(b, tuple(b.shape) + (1,) * trailing)
    return b


def binary(n: Node, cls, a: Value, b: Value) -> Value:
    """An elementwise binary op with numpy broadcasting."""
    if a.dtype != b.dtype:
        if b.is_known and not is_partial(b.known):
            b = n.known(b.known.astype(a.dtype))
        else:
            raise Unsupported(
                f"operands of types {a.dtype} and {b.dtype}", "mixed types"
            )
    if a.dtype.kind not in "fiu":
        raise Unsupported(f"operands of type {a.dtype}", f"{a.dtype}")
    if cls in (nn.PowOp, nn.DivOp) and a.dtype.kind != "f":
        raise Unsupported(f"integer {n.op_type} at run time", "integer")
    shape = broadcast(a.shape, b.shape)
    if shape is None:
        raise n.error(
            f"shapes {fmt_dims(a.shape)} and {fmt_dims(b.shape)} do not broadcast"
        )
    return n.out(cls(n.ssa(a), n.ssa(b)), shape)


@register_op(*_BINARY)
def convert_binary(n: Node):
    a, b = n.input(0), n.input(1)
    b = _legacy_broadcast(n, a, b)
    if n.op_type == "Pow" and b.is_known and b.dtype != a.dtype:
        b = n.known(b.known.astype(a.dtype))
    return binary(n, _BINARY[n.op_type], a, b)


@register_op("Sum", "Mean", "Min", "Max")
def convert_variadic(n: Node):
    values = n.inputs()
    cls = {
        "Sum": nn.AddOp,
        "Mean": nn.AddOp,
        "Min": getattr(nn, "MinOp", None),
        "Max": getattr(nn, "MaxOp", None),
    }[n.op_type]
    cls = _need_op(cls, n.op_type)
    out = values[0]
    for v in values[1:]:
        out = binary(n, cls, out, v)
    if n.op_type == "Mean" and len(values) > 1:
        _float(n, out)
        count = n.known(np.array(len(values), dtype=out.dtype))
        out = binary(n, nn.DivOp, out, count)
    return out


_COMPARE = {
    "Equal": ("EqualOp", False),
    "Less": ("LessOp", False),
    "Greater": ("GreaterOp", False),
    "LessOrEqual": ("GreaterOp", True),
    "GreaterOrEqual": ("LessOp", True),
}


@register_op(*_COMPARE)
def convert_compare(n: Node):
    a, b = n.input(0), n.input(1)
    name, negate = _COMPARE[n.op_type]
    cls = _need_op(getattr(nn, name, None), n.op_type)
    if a.dtype != b.dtype:
        raise Unsupported(f"operands of types {a.dtype} and {b.dtype}", "mixed types")
    shape = broadcast(a.shape, b.shape)
    if shape is None:
        raise n.error(
            f"shapes {fmt_dims(a.shape)} and {fmt_dims(b.shape)} do not broadcast"
        )
    out = n.out(cls(n.ssa(a), n.ssa(b)), shape)
    if negate:
        not_op = _need_op(getattr(nn, "NotOp", None), "Not")
        out = n.out(not_op(n.ssa(out)), shape)
    return out


@register_op("Not")
def convert_not(n: Node):
    x = n.input(0)
    if x.dtype != np.bool_:
        raise n.error(f"Not takes a boolean tensor, got {x.dtype}")
    cls = _need_op(getattr(nn, "NotOp", None), "Not")
    return n.out(cls(n.ssa(x)), x.shape)


@register_op("Where")
def convert_where(n: Node):
    c, x, y = n.input(0), n.input(1), n.input(2)
    cls = _need_op(getattr(nn, "WhereOp", None), "Where")
    if c.dtype != np.bool_:
        raise n.error(f"the condition must be boolean, got {c.dtype}")
    if x.dtype != y.dtype:
        raise n.error(f"X and Y have different types {x.dtype} and {y.dtype}")
    shape = broadcast(c.shape, x.shape, y.shape)
    if shape is None:
        raise n.error("the condition, X and Y do not broadcast")
    return n.out(cls(n.ssa(c), n.ssa(x), n.ssa(y)), shape)


@register_op("Clip")
def convert_clip(n: Node):
    x = n.input(0)
    _numeric(n, x)
    lo = hi = None
    if n.version < 11:
        lo = n.attr("min")
        hi = n.attr("max")
    else:
        if n.has_input(1):
            lo = float(np.ravel(n.const(1, "min"))[0])
        if n.has_input(2):
            hi = float(np.ravel(n.const(2, "max"))[0])
    if lo is not None and np.isneginf(lo):
        lo = None
    if hi is not None and np.isposinf(hi):
        hi = None
    return n.out(
        nn.ClipOp(
            n.ssa(x),
            None if lo is None else float(lo),
            None if hi is None else float(hi),
        ),
        x.shape,
    )


@register_op("Cast", "CastLike")
def convert_cast(n: Node):
    x = n.input(0)
    if n.op_type == "Cast":
        dtype = onnx_np_dtype(int(n.attr("to")))
    else:
        dtype = n.input(1).dtype
    if dtype == x.dtype:
        return [x]
    cls = _need_op(getattr(nn, "CastOp", None), "Cast")
    return n.out(cls(n.ssa(x), ir_element_type(dtype)), x.shape)


# --------------------------------------------------------------------------- #
# Linear layers
# --------------------------------------------------------------------------- #


def _conv_pads(
    n: Node,
    spatial: Sequence[Dim],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    ceil_mode: bool = False,
) -> list[int]:
    """Explicit [begin..., end...] pads from `pads` or `auto_pad`."""
    k = len(kernel)
    auto = n.attr("auto_pad", "NOTSET") or "NOTSET"
    if auto == "NOTSET":
        pads = [int(p) for p in n.attr("pads", [0] * 2 * k)]
        if len(pads) != 2 * k:
            raise n.error(f"pads has {len(pads)} values, expected {2 * k}")
        return pads
    if auto == "VALID":
        return [0] * 2 * k
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise n.error(f"unknown auto_pad '{auto}'")
    dims = _static(n, spatial, "spatial size (needed by auto_pad)")
    begin, end = [], []
    for d, kk, s, dl in zip(dims, kernel, strides, dilations, strict=True):
        out = -(-d // s)
        total = max(0, (out - 1) * s + (kk - 1) * dl + 1 - d)
        small, big = total // 2, total - total // 2
        if auto == "SAME_UPPER":
            begin.append(small)
            end.append(big)
        else:
            begin.append(big)
            end.append(small)
    return begin + end


def _to_2d(n: Node, x: Value) -> Value:
    """[N, C, L] -> [N, C, 1, L]."""
    return n.reshape(x, (x.shape[0], x.shape[1], 1, x.shape[2]))


def _from_2d(n: Node, y: Value) -> Value:
    """[N, C, 1, L] -> [N, C, L]."""
    return n.reshape(y, (y.shape[0], y.shape[1], y.shape[3]))


def _weight_2d(n: Node, w: Value) -> Value:
    return n.reshape(w, (w.shape[0], w.shape[1], 1, w.shape[2]))


@register_op("Conv", precheck=_rank_check((3, 4)))
def convert_conv(n: Node):
    x, w = n.input(0), n.input(1)
    b = n.input(2) if n.has_input(2) else None
    _float(n, x)
    k = w.rank - 2
    if k not in (1, 2) or x.rank != w.rank:
        raise Unsupported(f"{k}-D convolution", f"{k}-D")
    kernel = _static(n, w.shape[2:], "kernel")
    if n.attr("kernel_shape") and list(n.attr("kernel_shape")) != kernel:
        raise n.error(f"kernel_shape {n.attr('kernel_shape')} differs from W {kernel}")
    strides = [int(s) for s in n.attr("strides", [1] * k)]
    dilations = [int(d) for d in n.attr("dilations", [1] * k)]
    group = int(n.attr("group", 1))
    pads = _conv_pads(n, x.shape[2:], kernel, strides, dilations)
    if k == 1:
        x2, w2 = _to_2d(n, x), _weight_2d(n, w)
        strides, dilations = [1, strides[0]], [1, dilations[0]]
        pads = [0, pads[0], 0, pads[1]]
    else:
        x2, w2 = x, w
    op = nn.Conv2dOp(
        n.ssa(x2),
        n.ssa(w2),
        None if b is None else n.ssa(b),
        strides=strides,
        pads=pads,
        dilations=dilations,
        group=group,
    )
    y = n.out(op, _keep_batch(x2, op.results[0].type.get_shape()))
    return _from_2d(n, y) if k == 1 else y


@register_op("ConvTranspose", precheck=_rank_check((3, 4)))
def convert_conv_transpose(n: Node):
    x, w = n.input(0), n.input(1)
    b = n.input(2) if n.has_input(2) else None
    _float(n, x)
    cls = _need_op(getattr(nn, "ConvTranspose2dOp", None), "ConvTranspose")
    k = w.rank - 2
    if k not in (1, 2) or x.rank != w.rank:
        raise Unsupported(f"{k}-D transposed convolution", f"{k}-D")
    kernel = _static(n, w.shape[2:], "kernel")
    strides = [int(s) for s in n.attr("strides", [1] * k)]
    dilations = [int(d) for d in n.attr("dilations", [1] * k)]
    group = int(n.attr("group", 1))
    out_pad = [int(p) for p in n.attr("output_padding", [0] * k)]
    output_shape = n.attr("output_shape")
    auto = n.attr("auto_pad", "NOTSET") or "NOTSET"
    spatial = x.shape[2:]
    if output_shape is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        dims = _static(n, spatial, "spatial size")
        if output_shape is not None:
            target = [int(v) for v in output_shape][-k:]
        else:
            target = [d * s for d, s in zip(dims, strides, strict=True)]
        begin, end = [], []
        for i in range(k):
            total = (
                strides[i] * (dims[i] - 1)
                + out_pad[i]
                + (kernel[i] - 1) * dilations[i]
                + 1
                - target[i]
            )
            if total < 0:
                # the output is larger than the full result: grow output_padding
                out_pad[i] -= total
                total = 0
            if auto == "SAME_UPPER":
                begin.append(total // 2)
                end.append(total - total // 2)
            else:
                begin.append(total - total // 2)
                end.append(total // 2)
        pads = begin + end
    elif auto == "VALID" or auto == "NOTSET":
        pads = (
            [int(p) for p in n.attr("pads", [0] * 2 * k)]
            if auto == "NOTSET"
            else [0] * (2 * k)
        )
    else:
        raise n.error(f"unknown auto_pad '{auto}'")
    if k == 1:
        x2, w2 = _to_2d(n, x), _weight_2d(n, w)
        strides, dilations = [1, strides[0]], [1, dilations[0]]
        pads = [0, pads[0], 0, pads[1]]
        out_pad = [0, out_pad[0]]
    else:
        x2, w2 = x, w
    op = cls(
        n.ssa(x2),
        n.ssa(w2),
        None if b is None else n.ssa(b),
        strides=strides,
        pads=pads,
        dilations=dilations,
        group=group,
        output_padding=out_pad,
    )
    y = n.out(op, _keep_batch(x2, op.results[0].type.get_shape()))
    return _from_2d(n, y) if k == 1 else y


@register_op("Gemm")
def convert_gemm(n: Node):
    a, b = n.input(0), n.input(1)
    c = n.input(2) if n.has_input(2) else None
    _float(n, a)
    if a.rank != 2 or b.rank != 2:
        raise n.error(
            f"expects 2-D A and B, got {fmt_dims(a.shape)} and {fmt_dims(b.shape)}"
        )
    ta, tb = bool(n.attr("transA", 0)), bool(n.attr("transB", 0))
    m = a.shape[1] if ta else a.shape[0]
    nn_ = b.shape[0] if tb else b.shape[1]
    op = nn.GemmOp(
        n.ssa(a),
        n.ssa(b),
        None if c is None else n.ssa(c),
        alpha=float(n.attr("alpha", 1.0)),
        beta=float(n.attr("beta", 1.0)),
        trans_a=ta,
        trans_b=tb,
    )
    return n.out(op, (m, nn_))


def _matmul_shape(n: Node, a: SymShape, b: SymShape) -> SymShape:
    lhs = (1, *a) if len(a) == 1 else tuple(a)
    rhs = (*b, 1) if len(b) == 1 else tuple(b)
    batch = broadcast(lhs[:-2], rhs[:-2])
    if batch is None:
        raise n.error(f"batch dimensions of {fmt_dims(a)} and {fmt_dims(b)} differ")
    out = [*batch, lhs[-2], rhs[-1]]
    if len(b) == 1:
        out.pop(-1)
    if len(a) == 1:
        out.pop(-1 if len(b) == 1 else -2)
    return tuple(out)


@register_op("MatMul")
def convert_matmul(n: Node):
    a, b = n.input(0), n.input(1)
    _float(n, a)
    shape = _matmul_shape(n, a.shape, b.shape)
    return n.out(nn.MatMulOp(n.ssa(a), n.ssa(b)), shape)


# --------------------------------------------------------------------------- #
# Normalisation
# --------------------------------------------------------------------------- #


@register_op("BatchNormalization")
def convert_batchnorm(n: Node):
    x = n.input(0)
    _float(n, x)
    if n.attr("training_mode", 0):
        raise Unsupported("training mode", "training_mode")
    if n.version < 9 and not n.attr("spatial", 1):
        raise Unsupported("spatial=0", "spatial=0")
    if any(n.output_used(i) for i in range(1, n.n_outputs)):
        raise Unsupported("the running statistics outputs", "training outputs")
    if x.rank < 2:
        raise n.error(f"input of shape {fmt_dims(x.shape)} has no channel axis")
    params = [n.ssa(i) for i in range(1, 5)]
    op = nn.BatchNormOp(n.ssa(x), *params, epsilon=float(n.attr("epsilon", 1e-5)))
    return n.out(op, x.shape)


@register_op("LayerNormalization")
def convert_layernorm(n: Node):
    x, scale = n.input(0), n.input(1)
    _float(n, x)
    if n.attr("stash_type", 1) != 1:
        raise Unsupported("stash_type other than float", "stash_type")
    if n.output_used(1) or n.output_used(2):
        raise Unsupported("the Mean / InvStdDev outputs", "statistics outputs")
    bias = n.ssa(2) if n.has_input(2) else None
    op = nn.LayerNormOp(
        n.ssa(x),
        n.ssa(scale),
        bias,
        axis=int(n.attr("axis", -1)),
        epsilon=float(n.attr("epsilon", 1e-5)),
    )
    return [n.out(op, x.shape), None, None]


@register_op("LRN")
def convert_lrn(n: Node):
    x = n.input(0)
    _float(n, x)
    cls = _need_op(getattr(nn, "LRNOp", None), "LRN")
    if "size" not in n.attrs:
        raise n.error("attribute 'size' is missing")
    op = cls(
        n.ssa(x),
        int(n.attr("size")),
        alpha=float(n.attr("alpha", 1e-4)),
        beta=float(n.attr("beta", 0.75)),
        bias=float(n.attr("bias", 1.0)),
    )
    return n.out(op, x.shape)


def _softmax_like(n: Node, cls) -> Value:
    x = n.input(0)
    _float(n, x)
    r = x.rank
    if r == 0:
        raise n.error("input must have rank >= 1")
    axis = int(n.attr("axis", 1 if n.version < 13 else -1))
    if not -r <= axis < r:
        raise n.error(f"axis {axis} is out of range for rank {r}")
    a = axis % r
    if n.version >= 13 or a == r - 1:
        return n.out(cls(n.ssa(x), axis), x.shape)
    # opset < 13: softmax over the flattened trailing block [axis, rank)
    flat = n.reshape(x, (prod(x.shape[:a]), prod(x.shape[a:])))
    y = n.out(cls(n.ssa(flat), 1), flat.shape)
    return n.reshape(y, x.shape)


@register_op("Softmax")
def convert_softmax(n: Node):
    return _softmax_like(n, nn.SoftmaxOp)


@register_op("LogSoftmax")
def convert_log_softmax(n: Node):
    return _softmax_like(n, _need_op(getattr(nn, "LogSoftmaxOp", None), "LogSoftmax"))


# --------------------------------------------------------------------------- #
# Pooling
# --------------------------------------------------------------------------- #


def _pool(n: Node, kind: str) -> Value:
    x = n.input(0)
    _float(n, x)
    k = x.rank - 2
    if k not in (1, 2):
        raise Unsupported(f"{k}-D pooling", f"{k}-D")
    if "kernel_shape" not in n.attrs:
        raise n.error("attribute 'kernel_shape' is missing")
    kernel = [int(v) for v in n.attr("kernel_shape")]
    strides = [int(s) for s in n.attr("strides", [1] * k)]
    dilations = [int(d) for d in n.attr("dilations", [1] * k)]
    ceil_mode = bool(n.attr("ceil_mode", 0))
    if len(kernel) != k:
        raise n.error(f"kernel_shape {kernel} does not fit a {k}-D input")
    pads = _conv_pads(n, x.shape[2:], kernel, strides, dilations)
    if kind == "avg" and any(d != 1 for d in dilations):
        raise Unsupported("dilated average pooling", "dilations")
    if kind == "max" and n.output_used(1):
        raise Unsupported("the Indices output", "Indices output")
    if kind == "max" and n.attr("storage_order", 0) and n.output_used(1):
        raise Unsupported("storage_order", "storage_order")
    if k == 1:
        x2 = _to_2d(n, x)
        kernel, strides, dilations = [1, *kernel], [1, *strides], [1, *dilations]
        pads = [0, pads[0], 0, pads[1]]
    else:
        x2 = x
    if kind == "max":
        op = nn.MaxPool2dOp(
            n.ssa(x2),
            kernel,
            strides=strides,
            pads=pads,
            dilations=dilations,
            ceil_mode=ceil_mode,
        )
    else:
        op = nn.AvgPool2dOp(
            n.ssa(x2),
            kernel,
            strides=strides,
            pads=pads,
            ceil_mode=ceil_mode,
            count_include_pad=bool(n.attr("count_include_pad", 0)),
        )
    y = n.out(op, _keep_batch(x2, op.results[0].type.get_shape()))
    return _from_2d(n, y) if k == 1 else y


@register_op("MaxPool", precheck=_rank_check((3, 4)))
def convert_maxpool(n: Node):
    return [_pool(n, "max"), None]


@register_op("AveragePool", precheck=_rank_check((3, 4)))
def convert_avgpool(n: Node):
    return _pool(n, "avg")


@register_op("GlobalAveragePool")
def convert_global_avgpool(n: Node):
    x = n.input(0)
    _float(n, x)
    if x.rank < 3:
        raise n.error(f"input of shape {fmt_dims(x.shape)} has no spatial axes")
    return n.out(nn.GlobalAvgPoolOp(n.ssa(x)), (*x.shape[:2], *([1] * (x.rank - 2))))


@register_op("GlobalMaxPool")
def convert_global_maxpool(n: Node):
    x = n.input(0)
    _float(n, x)
    if x.rank < 3:
        raise n.error(f"input of shape {fmt_dims(x.shape)} has no spatial axes")
    axes = list(range(2, x.rank))
    return n.out(
        nn.ReduceMaxOp(n.ssa(x), axes, True), (*x.shape[:2], *([1] * (x.rank - 2)))
    )


# --------------------------------------------------------------------------- #
# Reductions
# --------------------------------------------------------------------------- #

_REDUCE_SINCE = {"ReduceMean": 18, "ReduceSum": 13, "ReduceMax": 18, "ReduceMin": 18}


@register_op(*_REDUCE_SINCE)
def convert_reduce(n: Node):
    x = n.input(0)
    _float(n, x)
    axes = _axes(n, 1, _REDUCE_SINCE[n.op_type])
    keepdims = bool(n.attr("keepdims", 1))
    if not axes:
        if n.attr("noop_with_empty_axes", 0):
            return [x]
        axes = list(range(x.rank))
    norm = sorted({a % x.rank for a in axes})
    if keepdims:
        shape = tuple(1 if i in norm else d for i, d in enumerate(x.shape))
    else:
        shape = tuple(d for i, d in enumerate(x.shape) if i not in norm)
    if n.op_type == "ReduceMin":
        neg = _need_op(getattr(nn, "NegOp", None), "Neg")
        nx = n.out(neg(n.ssa(x)), x.shape)
        m = n.out(nn.ReduceMaxOp(n.ssa(nx), axes, keepdims), shape)
        return n.out(neg(n.ssa(m)), shape)
    cls = {
        "ReduceMean": nn.ReduceMeanOp,
        "ReduceSum": nn.ReduceSumOp,
        "ReduceMax": nn.ReduceMaxOp,
    }[n.op_type]
    return n.out(cls(n.ssa(x), axes, keepdims), shape)


# --------------------------------------------------------------------------- #
# Layout
# --------------------------------------------------------------------------- #


@register_op("Reshape")
def convert_reshape(n: Node):
    x = n.input(0)
    if n.version < 5:
        target: list[Dim] = [int(v) for v in n.attr("shape", [])]
    else:
        target = n.dims(1, "shape")
    allowzero = bool(n.attr("allowzero", 0))
    out: list[Dim | None] = []
    for i, d in enumerate(target):
        if isinstance(d, Sym):
            if not d.positive:
                raise n.unresolved("target shape", np.array(target, dtype=object))
            out.append(d)
        elif d == 0 and not allowzero:
            if i >= x.rank:
                raise n.error(
                    f"shape {target} copies axis {i} of a rank-{x.rank} input"
                )
            out.append(x.shape[i])
        elif d == -1:
            out.append(None)
        elif d < 0:
            raise n.error(f"invalid target dimension {d}")
        else:
            out.append(d)
    if out.count(None) > 1:
        raise n.error(f"shape {target} has more than one -1")
    if None in out:
        rest = prod(d for d in out if d is not None)
        q = div_exact(prod(x.shape), rest)
        if q is None:
            raise n.dynamic_error(
                f"cannot infer the -1 in the target shape "
                f"[{', '.join(str(d) for d in target)}] of an input "
                f"{fmt_dims(x.shape)}"
            )
        out[out.index(None)] = q
    shape = tuple(d for d in out if d is not None)
    if len(shape) != len(out):
        raise n.error("internal: unresolved target")
    return n.reshape(x, shape)


@register_op("Flatten")
def convert_flatten(n: Node):
    x = n.input(0)
    axis = int(n.attr("axis", 1))
    if not -x.rank <= axis <= x.rank:
        raise n.error(f"axis {axis} is out of range for rank {x.rank}")
    a = axis + x.rank if axis < 0 else axis
    shape = (prod(x.shape[:a]), prod(x.shape[a:]))
    if sum(isinstance(d, Sym) for d in shape) > 1:
        raise n.dynamic_error("a flatten with two dynamic dimensions")
    return n.out(nn.FlattenOp(n.ssa(x), axis), shape)


@register_op("Squeeze")
def convert_squeeze(n: Node):
    x = n.input(0)
    axes = _axes(n, 1, 13)
    if axes is None:
        if any(isinstance(d, Sym) for d in x.shape):
            raise n.dynamic_error("Squeeze without axes on a dynamic dimension")
        norm = {i for i, d in enumerate(x.shape) if d == 1}
    else:
        norm = {a % x.rank for a in axes}
        bad = [a for a in norm if isinstance(x.shape[a], int) and x.shape[a] != 1]
        if bad:
            raise n.error(f"axis {bad[0]} has size {x.shape[bad[0]]}, not 1")
    return n.reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in norm))


@register_op("Unsqueeze")
def convert_unsqueeze(n: Node):
    x = n.input(0)
    axes = _axes(n, 1, 13)
    if axes is None:
        raise n.error("axes are missing")
    rank = x.rank + len(axes)
    norm = sorted({a % rank for a in axes})
    if len(norm) != len(axes):
        raise n.error(f"axes {axes} repeat an axis")
    dims = iter(x.shape)
    shape = tuple(1 if i in norm else next(dims) for i in range(rank))
    return n.reshape(x, shape)


@register_op("Transpose")
def convert_transpose(n: Node):
    x = n.input(0)
    perm = n.attr("perm")
    perm = list(reversed(range(x.rank))) if perm is None else [int(p) for p in perm]
    if sorted(perm) != list(range(x.rank)):
        raise n.error(f"perm {perm} is not a permutation of {x.rank} axes")
    return n.transpose(x, perm)


@register_op("Concat")
def convert_concat(n: Node):
    values = n.inputs()
    if "axis" not in n.attrs and n.version >= 4:
        raise n.error("attribute 'axis' is missing")
    axis = int(n.attr("axis", 1))
    rank = values[0].rank
    if not -rank <= axis < rank:
        raise n.error(f"axis {axis} is out of range for rank {rank}")
    a = axis % rank
    nonempty = [v for v in values if v.shape[a] != 0]
    values = nonempty or values[:1]
    if len(values) == 1:
        return [values[0]]
    dtypes = {v.dtype for v in values}
    if len(dtypes) > 1:
        raise n.error(f"inputs have different types {sorted(map(str, dtypes))}")
    total: Dim = 0
    for v in values:
        total = total + v.shape[a]
    shape = list(values[0].shape)
    shape[a] = total
    for i in range(rank):
        if i != a:
            shape[i] = next(
                (v.shape[i] for v in values if isinstance(v.shape[i], int)), shape[i]
            )
    return n.out(nn.ConcatOp([n.ssa(v) for v in values], axis), tuple(shape))


@register_op("Split")
def convert_split(n: Node):
    x = n.input(0)
    axis = int(n.attr("axis", 0))
    if not -x.rank <= axis < x.rank:
        raise n.error(f"axis {axis} is out of range for rank {x.rank}")
    a = axis % x.rank
    size = x.shape[a]
    if isinstance(size, Sym):
        raise n.dynamic_error("a split along a dynamic axis")
    arrays = _arrays(n)
    if n.version >= 13 and n.has_input(1):
        arrays[1] = n.const(1, "split")
    sizes = split_sizes(n, arrays, size)
    if len(sizes) != n.n_outputs:
        raise n.error(f"{len(sizes)} split sizes for {n.n_outputs} outputs")
    op = nn.SplitOp(n.ssa(x), sizes, axis)
    n.emit(op)
    outs = []
    for r, s in zip(op.results, sizes, strict=True):
        shape = list(x.shape)
        shape[a] = s
        outs.append(n.out(r, tuple(shape)))
    return outs


@register_op("Slice")
def convert_slice(n: Node):
    x = n.input(0)
    arrays = _arrays(n)
    if n.version >= 10:
        for i, what in ((1, "starts"), (2, "ends"), (3, "axes"), (4, "steps")):
            if n.has_input(i):
                arrays[i] = n.const(i, what)
    starts, ends, axes, steps = slice_params(n, arrays, x.rank)
    if len(set(axes)) != len(axes):
        raise n.error(f"axes {axes} repeat an axis")
    shape = list(x.shape)
    for a, start, end, step in zip(axes, starts, ends, steps, strict=True):
        if step == 0:
            raise n.error("a slice step is 0")
        d = x.shape[a]
        if isinstance(d, int):
            shape[a] = slice_bounds(d, start, end, step)[2]
        elif start == 0 and step == 1 and end >= 2**31 - 1:
            shape[a] = d
        else:
            shape[a] = Sym.opaque()
    i64_max = 2**63 - 1
    ends = [min(max(e, -i64_max), i64_max) for e in ends]
    starts = [min(max(s, -i64_max), i64_max) for s in starts]
    op = nn.SliceOp(n.ssa(x), starts, ends, axes, steps)
    return n.out(op, tuple(shape))


@register_op("Gather")
def convert_gather(n: Node):
    data, indices = n.input(0), n.input(1)
    if indices.dtype.kind not in "iu":
        raise n.error(f"indices must be integers, got {indices.dtype}")
    axis = int(n.attr("axis", 0))
    if not -data.rank <= axis < data.rank:
        raise n.error(f"axis {axis} is out of range for rank {data.rank}")
    a = axis % data.rank
    if indices.is_known:
        size = data.shape[a]
        idx = n.const(1, "indices")
        if (
            isinstance(size, int)
            and idx.size
            and (idx.min() < -size or idx.max() >= size)
        ):
            raise n.error(f"index out of range [-{size}, {size})")
    shape = (*data.shape[:a], *indices.shape, *data.shape[a + 1 :])
    return n.out(nn.GatherOp(n.ssa(data), n.ssa(indices), axis), shape)


@register_op("Expand")
def convert_expand(n: Node):
    x = n.input(0)
    target = n.dims(1, "shape")
    cls = _need_op(getattr(nn, "ExpandOp", None), "Expand")
    shape = broadcast(x.shape, target)
    if shape is None:
        raise n.error(
            f"input {fmt_dims(x.shape)} does not broadcast to {fmt_dims(target)}"
        )
    if tuple(shape) == tuple(x.shape):
        return [x]
    return n.out(cls(n.ssa(x), ir_shape(shape)), shape)


@register_op("Pad")
def convert_pad(n: Node):
    x = n.input(0)
    cls = _need_op(getattr(nn, "PadOp", None), "Pad")
    mode = n.attr("mode", "constant")
    if mode not in ("constant", "reflect", "edge"):
        raise Unsupported(f"mode '{mode}'", f"mode={mode}")
    if n.version < 11:
        pads = [int(p) for p in n.attr("pads", n.attr("paddings", []))]
        value = float(n.attr("value", 0.0))
    else:
        pads = [int(p) for p in n.const(1, "pads").ravel()]
        value = 0.0
        if n.has_input(2):
            v = n.const(2, "constant_value")
            value = float(np.ravel(v)[0]) if v.size else 0.0
        if n.has_input(3):
            axes = [int(a) % x.rank for a in n.const(3, "axes").ravel()]
            k = len(axes)
            if len(pads) != 2 * k:
                raise n.error(f"{len(pads)} pads for {k} axes")
            full = [0] * (2 * x.rank)
            for j, a in enumerate(axes):
                full[a], full[x.rank + a] = pads[j], pads[k + j]
            pads = full
    if len(pads) != 2 * x.rank:
        raise n.error(f"{len(pads)} pads for a rank-{x.rank} input")
    if not any(pads):
        return [x]
    shape = []
    for i, d in enumerate(x.shape):
        grow = pads[i] + pads[x.rank + i]
        shape.append(
            d + grow if isinstance(d, int) else d if grow == 0 else Sym.opaque()
        )
    return n.out(cls(n.ssa(x), pads, mode, value), tuple(shape))


def _depth_space(n: Node, to_space: bool) -> Value:
    x = n.input(0)
    if x.rank != 4:
        raise n.error(f"expects a rank-4 input, got {fmt_dims(x.shape)}")
    bs = int(n.attr("blocksize"))
    b, c, h, w = x.shape
    c, h, w = _static(n, (c, h, w), "C, H, W")
    if to_space:
        if c % (bs * bs):
            raise n.error(f"{c} channels are not divisible by blocksize^2")
        mode = n.attr("mode", "DCR")
        if mode == "DCR":
            t = n.reshape(x, (b, bs, bs, c // (bs * bs), h, w))
            t = n.transpose(t, [0, 3, 4, 1, 5, 2])
        else:
            t = n.reshape(x, (b, c // (bs * bs), bs, bs, h, w))
            t = n.transpose(t, [0, 1, 4, 2, 5, 3])
        return n.reshape(t, (b, c // (bs * bs), h * bs, w * bs))
    if h % bs or w % bs:
        raise n.error("H and W must be divisible by blocksize")
    t = n.reshape(x, (b, c, h // bs, bs, w // bs, bs))
    t = n.transpose(t, [0, 3, 5, 1, 2, 4])
    return n.reshape(t, (b, c * bs * bs, h // bs, w // bs))


@register_op("DepthToSpace")
def convert_depth_to_space(n: Node):
    return _depth_space(n, True)


@register_op("SpaceToDepth")
def convert_space_to_depth(n: Node):
    return _depth_space(n, False)


@register_op("Tile")
def convert_tile(n: Node):
    """Tile with known repeats: reshape to [1, d0, 1, d1, ...], expand to
    [r0, d0, r1, d1, ...], reshape to [r0 * d0, r1 * d1, ...]."""
    x = n.input(0)
    repeats = [int(r) for r in n.const(1, "repeats").ravel()]
    if len(repeats) != x.rank:
        raise n.error(f"{len(repeats)} repeats for a rank-{x.rank} input")
    if all(r == 1 for r in repeats):
        return [x]
    cls = _need_op(getattr(nn, "ExpandOp", None), "Tile")
    interleaved: list[Dim] = []
    expanded: list[Dim] = []
    for r, d in zip(repeats, x.shape, strict=True):
        interleaved += [1, d]
        expanded += [r, d]
    t = n.reshape(x, interleaved)
    t = n.out(cls(n.ssa(t), ir_shape(expanded)), tuple(expanded))
    return n.reshape(t, tuple(r * d for r, d in zip(repeats, x.shape, strict=True)))


@register_op("InstanceNormalization")
def convert_instance_norm(n: Node):
    """y = scale * (x - mean) / sqrt(var + epsilon) + B over the spatial axes,
    as reduce_mean / sub / mul / add / sqrt / div (the ONNX definition)."""
    x, scale, bias = n.input(0), n.input(1), n.input(2)
    _float(n, x)
    if x.rank < 3:
        raise n.error(f"input of shape {fmt_dims(x.shape)} has no spatial axes")
    axes = list(range(2, x.rank))
    stat = (*x.shape[:2], *([1] * len(axes)))
    mean = n.out(nn.ReduceMeanOp(n.ssa(x), axes, True), stat)
    d = binary(n, nn.SubOp, x, mean)
    var = n.out(nn.ReduceMeanOp(n.ssa(binary(n, nn.MulOp, d, d)), axes, True), stat)
    eps = n.known(np.array(float(n.attr("epsilon", 1e-5)), dtype=x.dtype))
    std = n.out(nn.SqrtOp(n.ssa(binary(n, nn.AddOp, var, eps))), stat)
    y = binary(n, nn.DivOp, d, std)
    channel = (x.shape[1], *([1] * len(axes)))
    y = binary(n, nn.MulOp, y, n.reshape(scale, channel))
    return binary(n, nn.AddOp, y, n.reshape(bias, channel))
