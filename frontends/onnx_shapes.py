"""Symbolic dimensions for the ONNX importer.

A dimension is an `int` or a `Sym`: `coef * s1 * s2 * ...`, a product of
named symbols (the dynamic dimensions of the graph inputs, e.g. `batch`)
with an integer coefficient. Shapes are tuples of dimensions. The importer
propagates them through the graph so that shape arithmetic exported by
PyTorch (`Shape`, `Gather`, `Mul`, `Concat`, `Reshape`, ...) can be folded
even when the batch is dynamic: `Reshape(x, [batch * 4, 5, 8])` of an
`x : [batch, 5, 32]` becomes `nn.reshape` to `tensor<?x5x8xf32>`.

Arithmetic that a monomial cannot express (`batch + 1`, `batch % 2`)
yields an *opaque* symbol: an unknown value that is never equal to any
other. Partially known integer tensors (shape vectors) are numpy object
arrays whose elements are ints or Syms.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from qopt.qdialect.shapes import DYN

_opaque_ids = itertools.count()


@dataclass(frozen=True)
class Sym:
    """`coef * prod(syms)`; `positive` for products of dimension sizes."""

    coef: int
    syms: tuple[str, ...]
    positive: bool = True

    @staticmethod
    def named(name: str) -> Sym:
        return Sym(1, (name,))

    @staticmethod
    def opaque() -> Sym:
        """An unknown value (the result of arithmetic a monomial cannot express)."""
        return Sym(1, (f"?{next(_opaque_ids)}",), positive=False)

    def __str__(self) -> str:
        body = "*".join(self.syms)
        return body if self.coef == 1 else f"{self.coef}*{body}"

    # ---- arithmetic with ints and Syms (elementwise on object arrays) ----

    def __mul__(self, other: object) -> Dim:
        if isinstance(other, bool | np.bool_):
            other = int(other)
        if isinstance(other, int | np.integer):
            if other == 0:
                return 0
            return Sym(
                self.coef * int(other),
                self.syms,
                self.positive and other > 0,
            )
        if isinstance(other, Sym):
            return Sym(
                self.coef * other.coef,
                tuple(sorted(self.syms + other.syms)),
                self.positive and other.positive,
            )
        return NotImplemented

    __rmul__ = __mul__

    def _opaque_op(self, other: object) -> Sym:
        if isinstance(other, int | np.integer | Sym):
            return Sym.opaque()
        return NotImplemented

    def __add__(self, other: object) -> Dim:
        if isinstance(other, int | np.integer) and other == 0:
            return self
        return self._opaque_op(other)

    __radd__ = __add__

    def __sub__(self, other: object) -> Dim:
        if isinstance(other, int | np.integer) and other == 0:
            return self
        if other == self and self.positive:
            return 0
        return self._opaque_op(other)

    def __rsub__(self, other: object) -> Dim:
        return self._opaque_op(other)

    def __floordiv__(self, other: object) -> Dim:
        if isinstance(other, int | np.integer | Sym):
            q = div_exact(self, other)
            return Sym.opaque() if q is None else q
        return NotImplemented

    def __rfloordiv__(self, other: object) -> Dim:
        if isinstance(other, int | np.integer):
            q = div_exact(int(other), self)
            return Sym.opaque() if q is None else q
        return NotImplemented

    __truediv__ = __floordiv__
    __rtruediv__ = __rfloordiv__

    def __mod__(self, other: object) -> Dim:
        if isinstance(other, int | np.integer | Sym):
            q = div_exact(self, other)
            return 0 if q is not None else Sym.opaque()
        return NotImplemented

    def __rmod__(self, other: object) -> Dim:
        return self._opaque_op(other)

    def __neg__(self) -> Dim:
        return Sym(-self.coef, self.syms, False)

    def __pos__(self) -> Dim:
        return self

    def __int__(self) -> int:
        raise TypeError(f"the dimension {self} is not known at import time")

    __index__ = __int__

    def __float__(self) -> float:
        raise TypeError(f"the dimension {self} is not known at import time")


Dim = int | Sym
SymShape = tuple[Dim, ...]


def is_static(shape: Iterable[Dim]) -> bool:
    return all(isinstance(d, int) for d in shape)


def ir_shape(shape: Iterable[Dim]) -> tuple[int, ...]:
    """The IR shape: every Sym becomes a dynamic dimension (`?`)."""
    return tuple(d if isinstance(d, int) else DYN for d in shape)


def fmt_dims(shape: Sequence[Dim]) -> str:
    return "x".join(str(d) for d in shape) if len(shape) else "scalar"


def prod(dims: Iterable[Dim]) -> Dim:
    out: Dim = 1
    for d in dims:
        out = out * d
    return out


def div_exact(a: Dim, b: Dim) -> Dim | None:
    """a / b when it divides exactly as monomials, else None."""
    if isinstance(b, int) and b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return a // b if a % b == 0 else None
    if isinstance(a, int):
        return 0 if a == 0 else None
    if isinstance(b, int):
        if a.coef % b:
            return None
        return Sym(a.coef // b, a.syms, a.positive and b > 0)
    rest = list(a.syms)
    for s in b.syms:
        if s not in rest:
            return None
        rest.remove(s)
    if a.coef % b.coef:
        return None
    coef = a.coef // b.coef
    if not rest:
        return coef
    return Sym(coef, tuple(rest), a.positive and b.positive)


def same_dim(a: Dim, b: Dim) -> bool:
    """Equal as values: equal ints, or the same (non-opaque) monomial."""
    if isinstance(a, int) or isinstance(b, int):
        return isinstance(a, int) and isinstance(b, int) and a == b
    return a == b and a.positive


def merge_dim(mine: Dim, other: int) -> Dim:
    """A dimension refined by another source that may know it statically."""
    if isinstance(mine, Sym) and other != DYN and other >= 0:
        return other
    return mine


def broadcast(*shapes: Sequence[Dim]) -> SymShape | None:
    """Numpy broadcasting of symbolic shapes; None if incompatible."""
    rank = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        ints = {d for d in dims if isinstance(d, int) and d != 1}
        if len(ints) > 1:
            return None
        if ints:
            out.append(ints.pop())
            continue
        syms = [d for d in dims if isinstance(d, Sym)]
        out.append(syms[0] if syms else 1)
    return tuple(out)


# --------------------------------------------------------------------------- #
# Partially known integer tensors
# --------------------------------------------------------------------------- #


def is_partial(array: np.ndarray) -> bool:
    """Whether a known value holds unknown (symbolic) elements."""
    return array.dtype == object


def to_partial(values: Sequence[Dim]) -> np.ndarray:
    """An int64 array if every value is known, else an object array."""
    if all(isinstance(v, int | np.integer) for v in values):
        return np.array([int(v) for v in values], dtype=np.int64)
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v if isinstance(v, Sym) else int(v)
    return out


def normalise_partial(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """An object array with no Sym left becomes a plain array of `dtype`."""
    if array.dtype != object:
        return array
    if any(isinstance(v, Sym) for v in array.flat):
        return array
    return np.array(array.tolist(), dtype=dtype).reshape(array.shape)


def settle(array: np.ndarray) -> np.ndarray:
    """An object array whose elements all became known, as a plain array
    (bool if they are all booleans, else int64); others are returned as is."""
    if array.dtype != object or any(isinstance(v, Sym) for v in array.flat):
        return array
    values = array.tolist()
    flat = list(array.flat)
    kind = (
        np.bool_
        if flat and all(isinstance(v, bool | np.bool_) for v in flat)
        else np.int64
    )
    return np.array(values, dtype=kind).reshape(array.shape)


def partial_list(array: np.ndarray) -> list[Dim]:
    """The elements of a 0-d or 1-d known tensor as ints and Syms."""
    return [v if isinstance(v, Sym) else int(v) for v in np.ravel(array).tolist()]
