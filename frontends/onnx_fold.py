"""Import-time evaluation of ONNX nodes whose inputs are all known.

Each folder takes the node and its inputs as numpy arrays (None for a
missing optional input) and returns the outputs. Shape arithmetic works on
partially known integer vectors too: object arrays whose unknown elements
are `Sym`s (see `onnx_shapes`), so `Shape -> Gather -> Mul -> Concat`
chains stay symbolic in the dynamic batch. A folder raises `CannotFold` when
it cannot evaluate (the node is then converted to IR, or reported); ops
without a folder here are evaluated with `onnx.reference` by the importer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from qopt.frontends.onnx import (
    CannotFold,
    Node,
    Unsupported,
    onnx_np_dtype,
    register_fold,
)
from qopt.frontends.onnx_shapes import Sym, is_partial, normalise_partial
from qopt.qdialect.shapes import slice_bounds

Arrays = list[np.ndarray | None]


def _partial(*arrays: np.ndarray | None) -> bool:
    return any(a is not None and is_partial(a) for a in arrays)


def _need(arrays: Arrays, i: int) -> np.ndarray:
    if i >= len(arrays) or arrays[i] is None:
        raise CannotFold()
    return arrays[i]  # type: ignore[return-value]


def _ints(array: np.ndarray) -> list[int]:
    if is_partial(array):
        raise CannotFold()
    return [int(v) for v in np.ravel(array)]


def _elementwise(fn: Callable, *arrays: np.ndarray) -> np.ndarray:
    """Apply a Python function elementwise (object arrays, with broadcasting)."""
    out = np.frompyfunc(fn, len(arrays), 1)(*arrays)
    return np.asarray(out, dtype=object)


def _like(result: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return normalise_partial(np.asarray(result), dtype)


# --------------------------------------------------------------------------- #
# Constants
# --------------------------------------------------------------------------- #


@register_fold("Constant")
def fold_constant(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    from onnx import numpy_helper

    a = n.attrs
    if "value" in a:
        return [numpy_helper.to_array(a["value"])]
    if "value_float" in a:
        return [np.array(a["value_float"], dtype=np.float32)]
    if "value_floats" in a:
        return [np.array(a["value_floats"], dtype=np.float32)]
    if "value_int" in a:
        return [np.array(a["value_int"], dtype=np.int64)]
    if "value_ints" in a:
        return [np.array(a["value_ints"], dtype=np.int64)]
    if "sparse_value" in a:
        raise Unsupported("sparse constants", "sparse_value")
    raise Unsupported("string constants", "string")


@register_fold("ConstantOfShape")
def fold_constant_of_shape(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    from onnx import numpy_helper

    shape = _ints(_need(arrays, 0))
    value = n.attrs.get("value")
    fill = (
        np.zeros((), dtype=np.float32)
        if value is None
        else numpy_helper.to_array(value).reshape(())
    )
    # a zero-stride view: the constant is stored as a splat
    return [np.broadcast_to(fill, shape)]


@register_fold("Identity")
def fold_identity(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    return [_need(arrays, 0)]


@register_fold("Dropout")
def fold_dropout(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    x = _need(arrays, 0)
    if len(arrays) > 2 and arrays[2] is not None and bool(np.ravel(arrays[2])[0]):
        raise Unsupported("training mode", "training_mode")
    return [x, np.ones(x.shape, dtype=np.bool_)]


def _cast(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if is_partial(array):
        if dtype.kind in "iu":
            return array
        raise CannotFold()
    if dtype.kind in "iu" and array.dtype.kind == "f":
        # ONNX (like C) truncates toward zero
        return np.trunc(array).astype(dtype)
    return array.astype(dtype)


@register_fold("Cast")
def fold_cast(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    try:
        dtype = onnx_np_dtype(int(n.attrs["to"]))
    except KeyError:
        raise n.error("attribute 'to' is missing") from None
    if dtype.kind not in "biuf":
        raise Unsupported(f"cast to {dtype}", f"to {dtype}")
    return [_cast(_need(arrays, 0), dtype)]


@register_fold("CastLike")
def fold_cast_like(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    target = _need(arrays, 1)
    if is_partial(target):
        raise CannotFold()
    return [_cast(_need(arrays, 0), target.dtype)]


# --------------------------------------------------------------------------- #
# Layout
# --------------------------------------------------------------------------- #


def axes_of(n: Node, arrays: Arrays, input_index: int, since: int) -> list[int] | None:
    """Axes from the attribute (before opset `since`) or from an input."""
    if n.version < since:
        axes = n.attrs.get("axes")
        return None if axes is None else [int(a) for a in axes]
    if input_index < len(arrays) and arrays[input_index] is not None:
        return _ints(arrays[input_index])  # type: ignore[arg-type]
    return None


@register_fold("Unsqueeze")
def fold_unsqueeze(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    x = _need(arrays, 0)
    axes = axes_of(n, arrays, 1, 13) or []
    rank = x.ndim + len(axes)
    return [np.expand_dims(x, tuple(a % rank for a in axes))]


@register_fold("Squeeze")
def fold_squeeze(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    x = _need(arrays, 0)
    axes = axes_of(n, arrays, 1, 13)
    if axes is None:
        return [np.squeeze(x)]
    return [np.squeeze(x, axis=tuple(a % x.ndim for a in axes))]


@register_fold("Concat")
def fold_concat(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    parts = [a for a in arrays if a is not None]
    axis = int(n.attrs.get("axis", 0))
    dtype = next((a.dtype for a in parts if not is_partial(a)), np.dtype(np.int64))
    if _partial(*parts):
        parts = [a.astype(object) for a in parts]
    return [_like(np.concatenate(parts, axis=axis), dtype)]


def slice_params(
    n: Node, arrays: Arrays, rank: int
) -> tuple[list[int], list[int], list[int], list[int]]:
    """(starts, ends, axes, steps) of a Slice, from attributes or inputs."""
    if n.version < 10:
        starts = [int(v) for v in n.attrs.get("starts", [])]
        ends = [int(v) for v in n.attrs.get("ends", [])]
        axes = n.attrs.get("axes")
        steps = None
    else:
        starts = _ints(_need(arrays, 1))
        ends = _ints(_need(arrays, 2))
        axes = _ints(arrays[3]) if len(arrays) > 3 and arrays[3] is not None else None
        steps = _ints(arrays[4]) if len(arrays) > 4 and arrays[4] is not None else None
    axes = list(range(len(starts))) if axes is None else [int(a) for a in axes]
    steps = [1] * len(starts) if steps is None else steps
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise n.error("starts, ends, axes and steps differ in length")
    return starts, ends, [a % rank for a in axes], steps


@register_fold("Slice")
def fold_slice(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    x = _need(arrays, 0)
    starts, ends, axes, steps = slice_params(n, arrays, x.ndim)
    index = [slice(None)] * x.ndim
    for a, start, end, step in zip(axes, starts, ends, steps, strict=True):
        if step == 0:
            raise n.error("a slice step is 0")
        lo, hi, _ = slice_bounds(x.shape[a], start, end, step)
        index[a] = slice(lo, None if hi < 0 else hi, step)
    return [x[tuple(index)]]


def reshape_target(x_shape: Sequence, target: Sequence, allowzero: bool) -> list:
    """ONNX Reshape's output dims from a target with 0s and one -1 (ints only)."""
    out = []
    for i, d in enumerate(target):
        if isinstance(d, int) and d == 0 and not allowzero:
            out.append(x_shape[i])
        else:
            out.append(d)
    return out


@register_fold("Reshape")
def fold_reshape(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    x = _need(arrays, 0)
    if n.version < 5:
        target = [int(v) for v in n.attrs.get("shape", [])]
    else:
        target = _ints(_need(arrays, 1))
    allowzero = bool(n.attrs.get("allowzero", 0))
    return [x.reshape(reshape_target(x.shape, target, allowzero))]


@register_fold("Flatten")
def fold_flatten(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    x = _need(arrays, 0)
    axis = int(n.attrs.get("axis", 1)) % (x.ndim + 1) if x.ndim else 0
    lead = math.prod(x.shape[:axis])
    return [x.reshape(lead, -1) if lead else x.reshape(0, math.prod(x.shape[axis:]))]


@register_fold("Transpose")
def fold_transpose(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    x = _need(arrays, 0)
    perm = n.attrs.get("perm")
    return [np.transpose(x, None if perm is None else [int(p) for p in perm])]


def split_sizes(n: Node, arrays: Arrays, size: int) -> list[int]:
    """The part sizes of a Split along an axis of `size` elements."""
    n_out = n.n_outputs
    if n.version >= 13 and len(arrays) > 1 and arrays[1] is not None:
        sizes = _ints(arrays[1])
    elif n.version < 13 and n.attrs.get("split"):
        sizes = [int(s) for s in n.attrs["split"]]
    elif n.version >= 18 and "num_outputs" in n.attrs:
        k = int(n.attrs["num_outputs"])
        chunk = -(-size // k)
        sizes = [chunk] * (k - 1) + [size - chunk * (k - 1)]
    else:
        if size % n_out:
            raise n.error(f"cannot split {size} elements into {n_out} equal parts")
        sizes = [size // n_out] * n_out
    if sum(sizes) != size or any(s < 0 for s in sizes):
        raise n.error(f"split sizes {sizes} do not add up to {size}")
    return sizes


@register_fold("Split")
def fold_split(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    x = _need(arrays, 0)
    axis = int(n.attrs.get("axis", 0)) % x.ndim
    sizes = split_sizes(n, arrays, x.shape[axis])
    return np.split(x, np.cumsum(sizes)[:-1], axis=axis)


@register_fold("Expand")
def fold_expand(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    x = _need(arrays, 0)
    shape = _ints(_need(arrays, 1))
    return [np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(shape)))]


@register_fold("Tile")
def fold_tile(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    return [np.tile(_need(arrays, 0), _ints(_need(arrays, 1)))]


@register_fold("Range")
def fold_range(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    start, limit, delta = (_need(arrays, i) for i in range(3))
    if _partial(start, limit, delta):
        raise CannotFold()
    return [np.arange(start.item(), limit.item(), delta.item(), dtype=start.dtype)]


@register_fold("Gather")
def fold_gather(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    data, indices = _need(arrays, 0), _need(arrays, 1)
    if is_partial(indices):
        raise CannotFold()
    axis = int(n.attrs.get("axis", 0)) % data.ndim
    size = data.shape[axis]
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size and (idx.min() < -size or idx.max() >= size):
        raise n.error(f"index out of range [-{size}, {size})")
    return [np.take(data, np.where(idx < 0, idx + size, idx), axis=axis)]


# --------------------------------------------------------------------------- #
# Arithmetic (shape arithmetic included)
# --------------------------------------------------------------------------- #


def _binary(name: str, np_fn: Callable, py_fn: Callable):
    def fold(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
        a, b = _need(arrays, 0), _need(arrays, 1)
        if _partial(a, b):
            dtype = a.dtype if not is_partial(a) else b.dtype
            return [_like(_elementwise(py_fn, a, b), dtype)]
        with np.errstate(all="ignore"):
            out = np_fn(a, b)
        return [np.asarray(out).astype(np.result_type(a.dtype, b.dtype), copy=False)]

    fold.__name__ = f"fold_{name.lower()}"
    register_fold(name)(fold)
    return fold


def _trunc_div(a, b):
    if isinstance(a, Sym) or isinstance(b, Sym):
        return a // b
    q = abs(int(a)) // abs(int(b))
    return q if (a >= 0) == (b >= 0) else -q


def _np_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        if np.any(b == 0):
            raise CannotFold()
        q = np.abs(a) // np.abs(b)
        return np.where((a >= 0) == (b >= 0), q, -q)
    return np.divide(a, b)


_binary("Add", np.add, lambda a, b: a + b)
_binary("Sub", np.subtract, lambda a, b: a - b)
_binary("Mul", np.multiply, lambda a, b: a * b)
_binary("Div", _np_div, _trunc_div)


@register_fold("Mod")
def fold_mod(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    a, b = _need(arrays, 0), _need(arrays, 1)
    fmod = bool(n.attrs.get("fmod", 0))
    if _partial(a, b):
        if fmod:
            raise CannotFold()
        return [_like(_elementwise(lambda x, y: x % y, a, b), np.dtype(np.int64))]
    if not fmod and a.dtype.kind == "f":
        raise n.error("floating-point Mod needs fmod=1")
    if a.dtype.kind in "iu" and np.any(b == 0):
        raise CannotFold()
    return [np.fmod(a, b) if fmod else np.mod(a, b)]


@register_fold("Pow")
def fold_pow(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    a, b = _need(arrays, 0), _need(arrays, 1)
    if _partial(a, b):
        raise CannotFold()
    with np.errstate(all="ignore"):
        return [np.power(a, b.astype(a.dtype)).astype(a.dtype)]


@register_fold("Neg")
def fold_neg(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    a = _need(arrays, 0)
    if is_partial(a):
        return [_like(_elementwise(lambda x: -x, a), np.dtype(np.int64))]
    return [np.negative(a)]


def _unary(name: str, fn: Callable) -> None:
    def fold(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
        a = _need(arrays, 0)
        if is_partial(a):
            raise CannotFold()
        with np.errstate(all="ignore"):
            return [np.asarray(fn(a)).astype(a.dtype, copy=False)]

    fold.__name__ = f"fold_{name.lower()}"
    register_fold(name)(fold)


_unary("Abs", np.abs)
_unary("Sqrt", np.sqrt)
_unary("Exp", np.exp)
_unary("Log", np.log)
_unary("Floor", np.floor)
_unary("Ceil", np.ceil)
_unary("Round", np.round)  # half to even, as ONNX
_unary("Reciprocal", np.reciprocal)
_unary("Relu", lambda x: np.maximum(x, 0))
_unary("Sign", np.sign)


def _variadic(name: str, fn: Callable) -> None:
    def fold(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
        parts = [a for a in arrays if a is not None]
        if not parts or _partial(*parts):
            raise CannotFold()
        out = parts[0]
        for p in parts[1:]:
            out = fn(out, p)
        return [np.asarray(out).astype(parts[0].dtype, copy=False)]

    fold.__name__ = f"fold_{name.lower()}"
    register_fold(name)(fold)


_variadic("Max", np.maximum)
_variadic("Min", np.minimum)
_variadic("Sum", np.add)


def _equal(x, y):
    if isinstance(x, Sym) or isinstance(y, Sym):
        if isinstance(x, Sym) and isinstance(y, Sym) and x == y and x.positive:
            return True
        s, other = (x, y) if isinstance(x, Sym) else (y, x)
        if s.positive and isinstance(other, int) and other <= 0:
            return False
        return Sym.opaque()
    return bool(x == y)


def _compare(name: str, np_fn: Callable, py_fn: Callable | None = None) -> None:
    def fold(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
        a, b = _need(arrays, 0), _need(arrays, 1)
        if _partial(a, b):
            if py_fn is None:
                raise CannotFold()
            return [_like(_elementwise(py_fn, a, b), np.dtype(np.bool_))]
        return [np.asarray(np_fn(a, b), dtype=np.bool_)]

    fold.__name__ = f"fold_{name.lower()}"
    register_fold(name)(fold)


_compare("Equal", np.equal, _equal)
_compare("Less", np.less)
_compare("Greater", np.greater)
_compare("LessOrEqual", np.less_equal)
_compare("GreaterOrEqual", np.greater_equal)
_compare("And", np.logical_and)
_compare("Or", np.logical_or)
_compare("Xor", np.logical_xor)


@register_fold("Not")
def fold_not(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    a = _need(arrays, 0)
    if is_partial(a):
        return [
            _like(
                _elementwise(
                    lambda x: Sym.opaque() if isinstance(x, Sym) else not x, a
                ),
                np.dtype(np.bool_),
            )
        ]
    return [np.logical_not(a)]


@register_fold("Where")
def fold_where(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    c, x, y = (_need(arrays, i) for i in range(3))
    if _partial(c, x, y):

        def pick(cond, a, b):
            if isinstance(cond, Sym):
                return a if (a == b and not isinstance(a, Sym)) else Sym.opaque()
            return a if cond else b

        dtype = x.dtype if not is_partial(x) else np.dtype(np.int64)
        return [_like(_elementwise(pick, c, x, y), dtype)]
    return [np.where(c, x, y)]


def _reduce(name: str, fn: Callable, since: int) -> None:
    def fold(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
        x = _need(arrays, 0)
        axes = axes_of(n, arrays, 1, since)
        keepdims = bool(n.attrs.get("keepdims", 1))
        if not axes:
            if n.attrs.get("noop_with_empty_axes", 0):
                return [x]
            axes = list(range(x.ndim))
        axis = tuple(a % x.ndim for a in axes)
        if is_partial(x):
            if name != "ReduceProd" or x.ndim != 1:
                raise CannotFold()
            out = math.prod(x.tolist())
            array = np.empty((1,) if keepdims else (), dtype=object)
            array[...] = out
            return [_like(array, np.dtype(np.int64))]
        return [np.asarray(fn(x, axis=axis, keepdims=keepdims)).astype(x.dtype)]

    fold.__name__ = f"fold_{name.lower()}"
    register_fold(name)(fold)


_reduce("ReduceProd", np.prod, 18)
_reduce("ReduceMin", np.min, 18)
_reduce("ReduceMax", np.max, 18)
_reduce("ReduceMean", np.mean, 18)
_reduce("ReduceSum", np.sum, 13)


def reference_fold(n: Node, arrays: Arrays) -> Sequence[np.ndarray]:
    """Evaluate with `onnx.reference` (ops qopt only folds)."""
    if _partial(*arrays):
        raise CannotFold()
    out = n.imp._reference_fold(n, arrays)
    if out is None:
        raise CannotFold()
    return [v.known if v is not None else None for v in out]  # type: ignore[misc]


for _op in ("NonZero", "OneHot", "CumSum", "ReduceL1", "ReduceL2", "Trilu", "EyeLike"):
    register_fold(_op)(reference_fold)
