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
    return a in (b, DYN) or b == DYN


def check_shape(
    op_name: str, what: str, actual: Sequence[int], expected: Sequence[int]
):
    """Raise a VerifyException unless `actual` agrees with `expected`.

    A static dimension in `actual` where `expected` is dynamic is accepted
    (refinement); the converse, `?` where a static size is known, is too, so
    that importers may keep a batch dimension dynamic.
    """
    if len(actual) != len(expected) or not all(
        dims_compatible(a, e) for a, e in zip(actual, expected, strict=True)
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
        raise VerifyException(
            f"'{op_name}': axis {axis} is out of range for rank {rank}"
        )
    return axis % rank


def conv_out_dim(
    size: int, kernel: int, stride: int, pad_lo: int, pad_hi: int, dilation: int
) -> int:
    """Output length of a convolution or pooling window along one axis."""
    if size == DYN:
        return DYN
    return (size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) // stride + 1


def pool_out_dim(
    size: int,
    kernel: int,
    stride: int,
    pad_lo: int,
    pad_hi: int,
    dilation: int,
    ceil_mode: bool,
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


def dims_product(dims: Sequence[int]) -> int:
    """Product of dimensions; `DYN` if any of them is dynamic."""
    if DYN in dims:
        return DYN
    return num_elements(dims)


def broadcasts_to(src: Sequence[int], dst: Sequence[int]) -> bool:
    """Whether `src` broadcasts unidirectionally to `dst` (ONNX's rule).

    `src` may have fewer axes; each of its (right-aligned) dimensions must be
    1, dynamic, or agree with the one of `dst`.
    """
    if len(src) > len(dst):
        return False
    tail = dst[len(dst) - len(src) :]
    return all(s == 1 or dims_compatible(s, d) for s, d in zip(src, tail, strict=True))


def matmul_shape(op_name: str, lhs: Sequence[int], rhs: Sequence[int]) -> Shape:
    """Result shape of numpy's `matmul` (ONNX `MatMul`), with dynamic dims.

    A 1-D lhs gets a leading 1 and a 1-D rhs a trailing 1, both removed from
    the result again; the batch dimensions (all but the last two) broadcast.
    """
    if len(lhs) == 0 or len(rhs) == 0:
        raise VerifyException(f"'{op_name}': operands must have rank >= 1")
    a = (1, *lhs) if len(lhs) == 1 else tuple(lhs)
    b = (*rhs, 1) if len(rhs) == 1 else tuple(rhs)
    if not dims_compatible(a[-1], b[-2]):
        raise VerifyException(
            f"'{op_name}': contracted dimensions differ ({fmt_shape(lhs)} has "
            f"{a[-1]}, {fmt_shape(rhs)} has {b[-2]})"
        )
    try:
        batch = broadcast_shapes(op_name, a[:-2], b[:-2])
    except VerifyException:
        raise VerifyException(
            f"'{op_name}': batch dimensions {fmt_shape(a[:-2])} and "
            f"{fmt_shape(b[:-2])} are not broadcast-compatible"
        ) from None
    out = [*batch, a[-2], b[-1]]
    if len(rhs) == 1:
        out.pop(-1)
    if len(lhs) == 1:
        out.pop(-1 if len(rhs) == 1 else -2)
    return tuple(out)


def slice_bounds(size: int, start: int, end: int, step: int) -> tuple[int, int, int]:
    """ONNX `Slice` bounds on an axis of static `size`: (start, end, length).

    Negative start/end count from the end; then, for a positive step, both
    clamp to [0, size]; for a negative step, start clamps to [0, size-1] and
    end to [-1, size-1] (-1 meaning "before element 0"). The length is
    max(0, ceil((end - start) / step)).
    """
    if step == 0:
        raise ValueError("slice step must not be 0")
    if start < 0:
        start += size
    if end < 0:
        end += size
    if step > 0:
        start = min(max(start, 0), size)
        end = min(max(end, 0), size)
    else:
        start = min(max(start, 0), size - 1)
        end = min(max(end, -1), size - 1)
    length = max(0, -(-(end - start) // step))
    return start, end, length


def slice_out_dim(size: int, start: int, end: int, step: int) -> int:
    """Length of an ONNX `Slice` along one axis (`DYN` if `size` is)."""
    if size == DYN:
        return DYN
    return slice_bounds(size, start, end, step)[2]


def conv2d_shape(
    name: str,
    x: Shape,
    w: Shape,
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    group: int,
) -> Shape:
    """Result shape of a 2-D convolution (NCHW, OIHW), or VerifyException."""

    def err(message: str) -> VerifyException:
        return VerifyException(f"'{name}': {message}")

    if len(x) != 4 or len(w) != 4:
        raise err(
            f"expects a rank-4 input and weight, got {fmt_shape(x)} and {fmt_shape(w)}"
        )
    if len(strides) != 2 or len(dilations) != 2 or len(pads) != 4:
        raise err("strides and dilations need 2 values, pads 4")
    if min(strides) < 1 or min(dilations) < 1 or min(pads) < 0:
        raise err("strides and dilations must be >= 1 and pads >= 0")
    if group < 1 or w[0] % group:
        raise err(f"group {group} must divide the {w[0]} output channels")
    if x[1] != DYN and x[1] != w[1] * group:
        raise err(f"input has {x[1]} channels, weight expects {w[1]} x group {group}")
    oh = conv_out_dim(x[2], w[2], strides[0], pads[0], pads[2], dilations[0])
    ow = conv_out_dim(x[3], w[3], strides[1], pads[1], pads[3], dilations[1])
    if (oh != DYN and oh < 1) or (ow != DYN and ow < 1):
        raise err("the window does not fit the input")
    return (x[0], w[0], oh, ow)


def pool2d_shape(
    name: str,
    x: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[int],
    dilations: Sequence[int],
    ceil_mode: bool,
) -> Shape:
    """Result shape of a 2-D pooling window over NCHW, or VerifyException.

    Pads must be smaller than the window extent d * (k - 1) + 1, so that no
    window lies entirely in the padding.
    """

    def err(message: str) -> VerifyException:
        return VerifyException(f"'{name}': {message}")

    if len(x) != 4:
        raise err(f"expects a rank-4 NCHW input, got {fmt_shape(x)}")
    if len(kernel) != 2 or len(strides) != 2 or len(dilations) != 2:
        raise err("kernel_shape, strides and dilations need 2 values")
    if len(pads) != 4:
        raise err("pads needs 4 values [top, left, bottom, right]")
    if min(kernel) < 1 or min(strides) < 1 or min(dilations) < 1:
        raise err("kernel_shape, strides and dilations must be >= 1")
    extents = [d * (k - 1) + 1 for k, d in zip(kernel, dilations, strict=True)]
    if min(pads) < 0 or any(p >= extents[i % 2] for i, p in enumerate(pads)):
        raise err(
            f"pads {list(pads)} must be >= 0 and smaller than the window "
            f"extent {extents}"
        )
    out = [
        pool_out_dim(
            x[2 + i],
            kernel[i],
            strides[i],
            pads[i],
            pads[i + 2],
            dilations[i],
            ceil_mode,
        )
        for i in range(2)
    ]
    if any(o != DYN and o < 1 for o in out):
        raise err("the window does not fit the input")
    return (x[0], x[1], out[0], out[1])
