"""Shape arithmetic shared by the `nn` and `q` verifiers.

Shapes are tuples of ints; a dynamic dimension is `DYN` (xDSL's
`DYNAMIC_INDEX`, printed `?`). Every function here propagates dynamic
dimensions instead of guessing them, so a dynamic batch stays dynamic.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import DYNAMIC_INDEX, TensorType
from xdsl.ir import Attribute, SSAValue
from xdsl.utils.exceptions import VerifyException

DYN = DYNAMIC_INDEX

Shape = tuple[int, ...]


def shape_of(value: SSAValue | Attribute) -> Shape:
    """The shape of a tensor-typed value or of a tensor type."""
    ty = value.type if isinstance(value, SSAValue) else value
    if not isinstance(ty, TensorType):
        raise VerifyException(f"expected a ranked tensor, got {ty}")
    return ty.get_shape()


def fmt_shape(shape: Sequence[int]) -> str:
    """Print a shape the way MLIR does (`1x?x8`)."""
    return "x".join("?" if d == DYN else str(d) for d in shape) or "scalar"


def dims_compatible(a: int, b: int) -> bool:
    """Two dimensions agree if they are equal or either is dynamic."""
    return a == b or a == DYN or b == DYN


def check_shape(op_name: str, what: str, actual: Sequence[int], expected: Sequence[int]):
    """Raise a VerifyException unless `actual` agrees with `expected`.

    A static dimension in `actual` where `expected` is dynamic is accepted
    (refinement); the converse, `?` where a static size is known, is too, so
    that importers may keep a batch dimension dynamic.
    """
    if len(actual) != len(expected) or not all(
        dims_compatible(a, e) for a, e in zip(actual, expected)
    ):
        raise VerifyException(
            f"'{op_name}': {what} has shape {fmt_shape(actual)}, "
            f"expected {fmt_shape(expected)}"
        )


def broadcast_shapes(op_name: str, *shapes: Sequence[int]) -> Shape:
    """Numpy broadcasting of shapes, with dynamic dimensions."""
    rank = max(len(s) for s in shapes)
    out: list[int] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        static = {d for d in dims if d not in (1, DYN)}
        if len(static) > 1:
            raise VerifyException(
                f"'{op_name}': shapes "
                + ", ".join(fmt_shape(s) for s in shapes)
                + " are not broadcast-compatible"
            )
        if static:
            out.append(static.pop())
        elif DYN in dims:
            out.append(DYN)
        else:
            out.append(1)
    return tuple(out)


def normalize_axis(op_name: str, axis: int, rank: int) -> int:
    """Map a possibly negative axis into [0, rank), or raise."""
    if not -rank <= axis < rank:
        raise VerifyException(f"'{op_name}': axis {axis} is out of range for rank {rank}")
    return axis % rank


def conv_out_dim(size: int, kernel: int, stride: int, pad_lo: int, pad_hi: int, dilation: int) -> int:
    """Output length of a convolution or pooling window along one axis."""
    if size == DYN:
        return DYN
    return (size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) // stride + 1


def pool_out_dim(
    size: int, kernel: int, stride: int, pad_lo: int, pad_hi: int, dilation: int, ceil_mode: bool
) -> int:
    """Output length of a pooling window, with ONNX's `ceil_mode`.

    With ceil_mode a last, partial window is kept only if it starts inside the
    input or the leading padding (ONNX and PyTorch drop a window that would
    start in the trailing padding).
    """
    if size == DYN:
        return DYN
    span = size + pad_lo + pad_hi - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pad_lo:
        out -= 1
    return out


def num_elements(shape: Sequence[int]) -> int:
    """Number of elements of a static shape (DYN must not occur)."""
    n = 1
    for d in shape:
        n *= d
    return n
