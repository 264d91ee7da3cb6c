"""Quantized element types of the `q` dialect.

A quantized value is an integer *level* L; its real value is
`scale * (L - zero_point)`. Formats differ in which levels they can
represent and in how a level is stored:

- `!q.uniform<i8:f32, 0.5:3>`: every integer in [qmin, qmax];
- `!q.pot<i4:f32, 0.5>`: 0 and ±2^e for e in an exponent range;
- `!q.spot<2 x i4:f32, 0.5>`: sums of k terms, each 0 or ±2^e;
- `!q.binary<f32, 0.5>`: -1 and +1 only, one bit each (XNOR-net weights);
- `!q.thresholds<u2:f32, 0.5:1, [t1, t2, t3]>`: codes 0..n chosen by
  comparing the real input with sorted thresholds (non-uniform bins,
  single-scale integer codes);
- `!q.mixed<[i2 << 2, i8]:f32, 0.1, row = "0x..">`: each row, block or
  outlier element uses one of several level sets under one scale.

Scales follow MLIR's `!quant.uniform`: one `scale:zp` per tensor,
`:axis, {s:zp, ...}` per axis, or `:{axis:block, ...}, {{...}}` per
block (sub-channel / per-group). `docs/dialects/q.md` gives the exact
rules. Every type offers the same numpy interface (`QuantizedType`): the
representable levels, storage bits, encode/decode of storage codes,
quantize (float -> level) and dequantize (level -> float).

A type that breaks a rule is reported by the parser at the type's
position (a located error, never a traceback); builders raise
`VerifyException`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import (
    AnyFloat,
    ArrayAttr,
    DenseArrayBase,
    Float16Type,
    Float32Type,
    Float64Type,
    IntAttr,
    StringAttr,
    f64,
    i64,
)
from xdsl.ir import Attribute, ParametrizedAttribute, TypeAttribute
from xdsl.irdl import irdl_attr_definition
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from qopt.qdialect.shapes import DYN, fmt_shape

MAX_WIDTH = 64
"""Widest signed integer storage: data formats use 1..16 bits, accumulators up
to 64. Unsigned integers take at most 63 bits (every level fits an int64)."""

MAX_CODE_WIDTH = 16
"""Widest pot/spot code field and threshold code."""

MAX_EXPONENT = 30
"""Largest pot/spot exponent: a product of two pot levels stays below 2^62."""

MAX_LIST_LEVELS = 1 << 20
"""`LevelsAttr.levels` refuses to list wider integer ranges."""


# --------------------------------------------------------------------------- #
# Printing and parsing helpers
# --------------------------------------------------------------------------- #


def fmt_float(value: float) -> str:
    """Shortest decimal that parses back to the same float64, MLIR-lexable."""
    text = repr(float(value))
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + ("e" + exponent if exponent else "")


def _int_attrs(values: Sequence[int]) -> ArrayAttr[IntAttr]:
    return ArrayAttr([IntAttr(int(v)) for v in values])


def _ints(attr: ArrayAttr[IntAttr]) -> tuple[int, ...]:
    return tuple(a.data for a in attr.data)


def _f64_array(values: Sequence[float]) -> DenseArrayBase:
    return DenseArrayBase.from_list(f64, [float(v) for v in values])


def _i64_array(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


def expressed_dtype(expressed: Attribute) -> np.dtype:
    """The numpy dtype of real values of an expressed type (f16, f32, f64)."""
    if isinstance(expressed, Float64Type):
        return np.dtype(np.float64)
    if isinstance(expressed, Float16Type):
        return np.dtype(np.float16)
    return np.dtype(np.float32)


def _verify_expressed(name: str, expressed: Attribute) -> None:
    if not isinstance(expressed, Float16Type | Float32Type | Float64Type):
        raise VerifyException(
            f"{name}: the expressed type must be f16, f32 or f64, got {expressed}"
        )


def _parse_verified(
    cls: type[ParametrizedAttribute],
    parser: AttrParser,
    body: Callable[[], Sequence[Attribute]],
) -> Sequence[Attribute]:
    """Run `body` (which parses the parameters) and verify the result now, so
    that a broken rule is reported as a located parse error of the type."""
    start = parser.pos
    try:
        params = body()
        cls.new(params)
    except VerifyException as e:
        parser.raise_error(str(e), start, parser.pos)
    return params


def parse_storage(parser: AttrParser) -> tuple[bool, int]:
    """Parse a storage name `iW` (signed) or `uW` (unsigned)."""
    start = parser.pos
    ident = parser.parse_identifier()
    if len(ident) < 2 or ident[0] not in "iu" or not ident[1:].isdigit():
        parser.raise_error(
            f"expected a storage type like i8 or u4, got '{ident}'", start, parser.pos
        )
    return ident[0] == "i", int(ident[1:])


def parse_range(parser: AttrParser) -> tuple[int, int] | None:
    """Parse an optional `<low:high>`."""
    if parser.parse_optional_punctuation("<") is None:
        return None
    low = parser.parse_integer(allow_boolean=False)
    parser.parse_punctuation(":")
    high = parser.parse_integer(allow_boolean=False)
    parser.parse_punctuation(">")
    return low, high


# --------------------------------------------------------------------------- #
# Level sets
# --------------------------------------------------------------------------- #


@irdl_attr_definition
class LevelsAttr(ParametrizedAttribute):
    """A set of integer levels and its storage code; the core of a format.

    Syntax (also used inside the types, without the `#q.levels<>` wrapper):
    - `i8`, `u4`, `i8<-127:127>`: integers in [low, high] (default: the full
      two's complement / unsigned range of the width), stored as the integer
      (two's complement, `width` bits).
    - `pot i4`, `pot u3<0:4>`: 0 and ±2^e for e in [low, high] (default
      [0, min(2^(w-1)-2, 30)] signed, [0, min(2^w-2, 30)] unsigned). The code
      of ±2^e is e - low + 1 in the low w-1 (signed) or w (unsigned) bits,
      with the sign in the top bit if signed; 0 codes zero.
    - `spot 2 x i4<0:5>`: sums of `terms` pot values of that width and
      exponent range; stored as `terms` pot codes of w bits, the term of
      largest magnitude in the lowest bits (see `_level_table` for the
      canonical decomposition).
    - `binary`: the two levels -1 and +1 (no zero), stored in one bit:
      code 0 is -1 and code 1 is +1 (FINN's bipolar encoding, so that a
      product of two binary values is the XNOR of their codes).
    Any of them may end in `<< s`: every level is multiplied by 2^s (used
    by `!q.mixed` to align level sets under one scale); the code is that of
    level >> s.
    """

    name = "q.levels"

    kind: StringAttr
    signed: IntAttr
    width: IntAttr
    low: IntAttr
    high: IntAttr
    terms: IntAttr
    shift: IntAttr

    KINDS: ClassVar[tuple[str, ...]] = ("int", "pot", "spot", "binary")

    @staticmethod
    def int_(
        width: int,
        signed: bool = True,
        low: int | None = None,
        high: int | None = None,
        shift: int = 0,
    ) -> LevelsAttr:
        """Integers in [low, high] (default: the full range of the width)."""
        valid = 1 <= width <= MAX_WIDTH
        lo, hi = LevelsAttr.int_range(width, signed) if valid else (0, 0)
        return LevelsAttr(
            StringAttr("int"),
            IntAttr(int(signed)),
            IntAttr(width),
            IntAttr(lo if low is None else low),
            IntAttr(hi if high is None else high),
            IntAttr(1),
            IntAttr(shift),
        )

    @staticmethod
    def pot(
        width: int,
        signed: bool = True,
        low: int = 0,
        high: int | None = None,
        terms: int = 1,
        shift: int = 0,
    ) -> LevelsAttr:
        """Powers of two (terms == 1) or sums of `terms` powers of two."""
        kind = "pot" if terms == 1 else "spot"
        if high is None:
            high = LevelsAttr.default_high(width, signed, low)
        return LevelsAttr(
            StringAttr(kind),
            IntAttr(int(signed)),
            IntAttr(width),
            IntAttr(low),
            IntAttr(high),
            IntAttr(terms),
            IntAttr(shift),
        )

    @staticmethod
    def binary(shift: int = 0) -> LevelsAttr:
        """The levels -1 and +1 in a one-bit code."""
        return LevelsAttr(
            StringAttr("binary"),
            IntAttr(1),
            IntAttr(1),
            IntAttr(-1),
            IntAttr(1),
            IntAttr(1),
            IntAttr(shift),
        )

    @staticmethod
    def int_range(width: int, signed: bool) -> tuple[int, int]:
        """[min, max] of a two's complement (signed) or unsigned integer."""
        if signed:
            return -(1 << (width - 1)), (1 << (width - 1)) - 1
        return 0, (1 << width) - 1

    @staticmethod
    def max_exponent(width: int, signed: bool, low: int = 0) -> int:
        """Largest exponent a pot code of `width` bits can hold (from `low`)."""
        field = width - 1 if signed else width
        if field < 1 or width > MAX_CODE_WIDTH:
            return low - 1
        return low + (1 << field) - 2

    @staticmethod
    def default_high(width: int, signed: bool, low: int = 0) -> int:
        """Default largest exponent: what the code holds, at most MAX_EXPONENT."""
        return max(low, min(LevelsAttr.max_exponent(width, signed, low), MAX_EXPONENT))

    # -- textual form ------------------------------------------------------ #

    @classmethod
    def parse_body(cls, parser: AttrParser) -> LevelsAttr:
        """Parse `[pot|spot K x] (i|u)W[<lo:hi>] [<< s]` or `binary [<< s]`."""
        if parser.parse_optional_keyword("binary") is not None:
            shift = 0
            if parser.parse_optional_punctuation("<") is not None:
                parser.parse_punctuation("<")
                shift = parser.parse_integer(allow_negative=False, allow_boolean=False)
            return cls.binary(shift)
        kind = "int"
        terms = 1
        if parser.parse_optional_keyword("pot") is not None:
            kind = "pot"
        elif parser.parse_optional_keyword("spot") is not None:
            kind = "spot"
            terms = parser.parse_integer(allow_negative=False, allow_boolean=False)
            parser.parse_keyword("x")
        signed, width = parse_storage(parser)
        low = high = None
        shift = 0
        if parser.parse_optional_punctuation("<") is not None:
            if parser.parse_optional_punctuation("<") is not None:
                shift = parser.parse_integer(allow_negative=False, allow_boolean=False)
            else:
                low = parser.parse_integer(allow_boolean=False)
                parser.parse_punctuation(":")
                high = parser.parse_integer(allow_boolean=False)
                parser.parse_punctuation(">")
                if parser.parse_optional_punctuation("<") is not None:
                    parser.parse_punctuation("<")
                    shift = parser.parse_integer(
                        allow_negative=False, allow_boolean=False
                    )
        if kind == "int":
            return cls.int_(width, signed, low, high, shift)
        levels = cls.pot(width, signed, low or 0, high, terms, shift)
        if kind == "spot" and terms == 1:  # keep `spot 1 x` a spot, to reject it
            levels = LevelsAttr(StringAttr("spot"), *levels.parameters[1:])
        return levels

    def print_body(self, printer: Printer) -> None:
        kind = self.kind.data
        if kind == "binary":
            printer.print_string("binary")
            if self.shift.data:
                printer.print_string(f" << {self.shift.data}")
            return
        if kind == "pot":
            printer.print_string("pot ")
        elif kind == "spot":
            printer.print_string(f"spot {self.terms.data} x ")
        printer.print_string(self.storage_name)
        if not self.is_default_range:
            printer.print_string(f"<{self.low.data}:{self.high.data}>")
        if self.shift.data:
            printer.print_string(f" << {self.shift.data}")

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        def body() -> Sequence[Attribute]:
            with parser.in_angle_brackets():
                attr = cls.parse_body(parser)
            return attr.parameters

        return _parse_verified(cls, parser, body)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            self.print_body(printer)

    # -- semantics --------------------------------------------------------- #

    @property
    def storage_name(self) -> str:
        """`iW` or `uW`."""
        return ("i" if self.signed.data else "u") + str(self.width.data)

    @property
    def is_default_range(self) -> bool:
        w, s = self.width.data, bool(self.signed.data)
        if self.kind.data == "binary":
            return True
        if self.kind.data == "int":
            valid = 1 <= w <= MAX_WIDTH
            return valid and (self.low.data, self.high.data) == self.int_range(w, s)
        return self.low.data == 0 and self.high.data == self.default_high(w, s, 0)

    @property
    def is_signed(self) -> bool:
        return bool(self.signed.data)

    @property
    def signedness(self) -> str:
        return "signed" if self.signed.data else "unsigned"

    def verify(self) -> None:
        kind, w = self.kind.data, self.width.data
        lo, hi, k = self.low.data, self.high.data, self.terms.data
        if kind not in self.KINDS:
            raise VerifyException(f"q.levels: unknown kind '{kind}'")
        if self.signed.data not in (0, 1):
            raise VerifyException("q.levels: signed must be 0 or 1")
        if self.shift.data < 0:
            raise VerifyException("q.levels: shift must be >= 0")
        if self.shift.data > 61:
            raise VerifyException("q.levels: shifted levels must stay below 2^62")
        if kind == "binary":
            if (w, self.signed.data, lo, hi, k) != (1, 1, -1, 1, 1):
                raise VerifyException(
                    "q.levels: binary levels are -1 and +1 in one signed 1-bit "
                    "code with one term"
                )
            return
        if kind == "int":
            if k != 1:
                raise VerifyException("q.levels: integer levels have one term")
            max_w = MAX_WIDTH if self.is_signed else MAX_WIDTH - 1
            if not 1 <= w <= max_w:
                raise VerifyException(
                    f"q.levels: {self.signedness} integer width {w} is not in "
                    f"[1, {max_w}]"
                )
            rlo, rhi = self.int_range(w, self.is_signed)
            if not rlo <= lo <= hi <= rhi:
                raise VerifyException(
                    f"q.levels: range [{lo}:{hi}] is empty or does not fit "
                    f"{self.storage_name} ([{rlo}:{rhi}])"
                )
            if self.shift.data and max(abs(lo), abs(hi)) << self.shift.data >= 1 << 62:
                raise VerifyException("q.levels: shifted levels must stay below 2^62")
            return
        min_w = 2 if self.is_signed else 1
        if not min_w <= w <= MAX_CODE_WIDTH:
            raise VerifyException(
                f"q.levels: {self.signedness} {kind} code width {w} is not in "
                f"[{min_w}, {MAX_CODE_WIDTH}]"
            )
        if kind == "pot" and k != 1:
            raise VerifyException("q.levels: pot levels have one term; use spot")
        if kind == "spot" and not 2 <= k <= 4:
            raise VerifyException(f"q.levels: spot takes 2 to 4 terms, got {k}")
        if not 0 <= lo <= hi:
            raise VerifyException(
                f"q.levels: exponent range [{lo}:{hi}] must satisfy 0 <= low <= high"
            )
        if hi > MAX_EXPONENT:
            raise VerifyException(
                f"q.levels: exponent {hi} is larger than {MAX_EXPONENT}"
            )
        if hi > self.max_exponent(w, self.is_signed, lo):
            raise VerifyException(
                f"q.levels: {hi - lo + 1} exponents [{lo}:{hi}] do not fit a "
                f"{w}-bit {self.signedness} code "
                f"(at most {self.max_exponent(w, self.is_signed, 0) + 1})"
            )
        if self.shift.data + hi > 60 - (k - 1):
            raise VerifyException("q.levels: shifted levels must stay below 2^62")

    @property
    def levels(self) -> np.ndarray:
        """The representable integer levels, sorted ascending (int64)."""
        if (
            self.kind.data == "int"
            and self.high.data - self.low.data >= MAX_LIST_LEVELS
        ):
            raise ValueError(f"{self} has too many levels to list")
        return _level_table(self)[0]

    @property
    def num_levels(self) -> int:
        if self.kind.data == "int":
            return self.high.data - self.low.data + 1
        return len(_level_table(self)[0])

    @property
    def min_level(self) -> int:
        if self.kind.data == "int":
            return self.low.data << self.shift.data
        return int(self.levels[0])

    @property
    def max_level(self) -> int:
        if self.kind.data == "int":
            return self.high.data << self.shift.data
        return int(self.levels[-1])

    @property
    def code_bits(self) -> int:
        """Storage bits per element."""
        return self.width.data * self.terms.data

    def nearest(self, v: np.ndarray, zero_point: np.ndarray | int = 0) -> np.ndarray:
        """Nearest level to each real-valued `v` (in level units), saturating.

        Integer levels: round(v) + zero_point, clamped to [low, high] (v in
        units of 2^shift), where round is half to even (`np.rint`) and the
        zero point is added after rounding, as in ONNX QuantizeLinear.
        Pot/spot levels (zero point 0): the nearest representable level,
        ties going to the smaller magnitude. Binary levels (zero point 0):
        +1 for v >= 0, else -1 (the tie at 0 goes to +1, as sign() in
        XNOR-net and QONNX's BipolarQuant). Values beyond the extreme
        levels give the extreme level; NaN gives an unspecified level.
        """
        v = np.asarray(v, dtype=np.float64)
        if self.kind.data == "binary":
            with np.errstate(invalid="ignore"):
                sign = np.where(v >= 0, 1, -1).astype(np.int64)
            return sign << self.shift.data
        if self.kind.data == "int":
            step = float(1 << self.shift.data)
            with np.errstate(invalid="ignore"):
                r = np.rint(v / step)
                lo, hi = float(self.low.data), float(self.high.data)
                r = np.clip(r + np.asarray(zero_point, dtype=np.float64), lo, hi)
                r = np.where(np.isnan(r), lo, r)
            return r.astype(np.int64) << self.shift.data
        levels = self.levels
        idx = np.clip(np.searchsorted(levels, v), 1, len(levels) - 1)
        lo, hi = levels[idx - 1], levels[idx]
        d_lo, d_hi = np.abs(v - lo), np.abs(hi - v)
        pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & (np.abs(hi) < np.abs(lo)))
        out = np.where(pick_hi, hi, lo)
        out = np.where(v <= levels[0], levels[0], out)
        return np.where(v >= levels[-1], levels[-1], out).astype(np.int64)

    def contains(self, levels: np.ndarray) -> np.ndarray:
        """Elementwise: is each level representable?"""
        levels = np.asarray(levels, dtype=np.int64)
        if self.kind.data == "int":
            aligned = (levels & ((1 << self.shift.data) - 1)) == 0
            return aligned & (levels >= self.min_level) & (levels <= self.max_level)
        return np.isin(levels, self.levels)

    def _pot_code(self, term: np.ndarray) -> np.ndarray:
        """Codes of pot values (0 or ±2^e, e in range)."""
        w, lo = self.width.data, self.low.data
        mag = np.abs(term)
        exp = np.where(mag > 0, np.log2(np.maximum(mag, 1)).astype(np.int64), 0)
        code = np.where(mag > 0, exp - lo + 1, 0)
        if self.is_signed:
            code = code | np.where(term < 0, 1 << (w - 1), 0)
        return code.astype(np.int64)

    def _pot_value(self, code: np.ndarray) -> np.ndarray:
        """Values of pot codes (any field; the sign bit of 0 is ignored)."""
        w, lo = self.width.data, self.low.data
        field = code & ((1 << (w - 1)) - 1) if self.is_signed else code
        exp = np.clip(field + lo - 1, 0, 62)
        mag = np.where(field > 0, np.left_shift(np.int64(1), exp), 0)
        if self.is_signed:
            mag = np.where(code >> (w - 1) & 1, -mag, mag)
        return mag.astype(np.int64)

    def encode(self, levels: np.ndarray) -> np.ndarray:
        """Storage codes (non-negative int64, `code_bits` bits) of levels.

        Levels must be representable (`contains`); others give garbage.
        """
        levels = np.asarray(levels, dtype=np.int64) >> self.shift.data
        w = self.width.data
        if self.kind.data == "int":
            return levels & ((1 << w) - 1) if w < 64 else levels
        if self.kind.data == "pot":
            return self._pot_code(levels)
        if self.kind.data == "binary":
            return (levels > 0).astype(np.int64)
        table_levels, table_codes = _level_table(self)
        unshifted = table_levels >> self.shift.data
        idx = np.clip(np.searchsorted(unshifted, levels), 0, len(unshifted) - 1)
        return table_codes[idx]

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Levels of storage codes (inverse of `encode`)."""
        codes = np.asarray(codes, dtype=np.int64)
        w = self.width.data
        if self.kind.data == "int":
            out = codes
            if self.is_signed and w < 64:
                out = np.where(codes >> (w - 1) & 1, codes - (1 << w), codes)
        elif self.kind.data == "pot":
            out = self._pot_value(codes)
        elif self.kind.data == "binary":
            out = 2 * (codes & 1) - 1
        else:
            out = np.zeros_like(codes)
            for j in range(self.terms.data):
                out = out + self._pot_value((codes >> (w * j)) & ((1 << w) - 1))
        return out.astype(np.int64) << self.shift.data


def _multisets(n: int, k: int) -> np.ndarray:
    """All non-decreasing index tuples of length k over range(n), as [M, k]."""
    idx = np.arange(n, dtype=np.int64)[:, None]
    for _ in range(k - 1):
        last = idx[:, -1]
        counts = n - last
        starts = np.cumsum(counts) - counts
        new = np.arange(int(counts.sum()), dtype=np.int64)
        new = new - np.repeat(starts, counts) + np.repeat(last, counts)
        idx = np.concatenate([np.repeat(idx, counts, axis=0), new[:, None]], axis=1)
    return idx


@lru_cache(maxsize=256)
def _level_table(la: LevelsAttr) -> tuple[np.ndarray, np.ndarray | None]:
    """Sorted levels and, for spot, the code of each level.

    A spot level usually has several decompositions into `terms` pot values;
    its code is that of the canonical one: fewest non-zero terms, then the
    lexicographically smallest magnitudes (largest term first), then positive
    before negative terms. Terms are stored largest magnitude first (lowest
    bits), zero terms last. So 3 = 2 + 1 (not 4 - 1) and -3 = -2 - 1.
    """
    kind, shift = la.kind.data, la.shift.data
    if kind == "int":
        levels = np.arange(la.low.data, la.high.data + 1, dtype=np.int64)
        return levels << shift, None
    if kind == "binary":
        return np.array([-1, 1], dtype=np.int64) << shift, None
    values: list[int] = []
    for e in range(la.high.data, la.low.data - 1, -1):
        values.append(1 << e)
        if la.is_signed:
            values.append(-(1 << e))
    values.append(0)
    term_values = np.array(values, dtype=np.int64)
    if kind == "pot":
        return np.sort(term_values) << shift, None
    k = la.terms.data
    terms = term_values[_multisets(len(term_values), k)]  # [M, k], canonical order
    sums = terms.sum(axis=1)
    nonzero = (terms != 0).sum(axis=1)
    mags = np.abs(terms)
    keys = [-terms[:, j] for j in reversed(range(k))]
    keys += [mags[:, j] for j in reversed(range(k))]
    order = np.lexsort([*keys, nonzero, sums])
    sums, terms = sums[order], terms[order]
    first = np.concatenate([[True], sums[1:] != sums[:-1]])
    levels, best = sums[first], terms[first]
    codes = np.zeros(len(levels), dtype=np.int64)
    w = la.width.data
    for j in range(k):
        codes |= la._pot_code(best[:, j]) << (w * j)
    return levels << shift, codes


# --------------------------------------------------------------------------- #
# Scales: per tensor, per axis, per block
# --------------------------------------------------------------------------- #


class ScaleSpec:
    """Parse and print MLIR-style scale specifications.

    The grid of (scale, zero point) pairs has one dimension per blocked axis;
    along axis a with block size b, element i uses grid index i // b.
    Per-axis quantization is one axis with block size 1.
    """

    @staticmethod
    def parse_axes(parser: AttrParser) -> tuple[list[int], list[int]]:
        """After the expressed type: `:axis` or `:{a:b, ...}` or nothing."""
        if parser.parse_optional_punctuation(":") is None:
            return [], []
        if parser.parse_optional_punctuation("{") is not None:
            axes, blocks = [], []
            while True:
                axes.append(
                    parser.parse_integer(allow_negative=False, allow_boolean=False)
                )
                parser.parse_punctuation(":")
                blocks.append(
                    parser.parse_integer(allow_negative=False, allow_boolean=False)
                )
                if parser.parse_optional_punctuation(",") is None:
                    break
            parser.parse_punctuation("}")
            return axes, blocks
        return [parser.parse_integer(allow_negative=False, allow_boolean=False)], [1]

    @staticmethod
    def parse_pair(parser: AttrParser, with_zp: bool) -> tuple[float, int]:
        scale = float(parser.parse_number())
        zp = 0
        if with_zp and parser.parse_optional_punctuation(":") is not None:
            zp = parser.parse_integer(allow_boolean=False)
        return scale, zp

    @classmethod
    def parse_grid(
        cls, parser: AttrParser, depth: int, with_zp: bool
    ) -> tuple[list[int], list[float], list[int]]:
        """A nest of `depth` brace lists of pairs; returns (grid, scales, zps)."""
        if depth == 0:
            s, z = cls.parse_pair(parser, with_zp)
            return [], [s], [z]
        start = parser.pos
        parser.parse_punctuation("{")
        subs = [cls.parse_grid(parser, depth - 1, with_zp)]
        while parser.parse_optional_punctuation(",") is not None:
            subs.append(cls.parse_grid(parser, depth - 1, with_zp))
        parser.parse_punctuation("}")
        if any(sub[0] != subs[0][0] for sub in subs):
            parser.raise_error(
                "nested scale lists must all have the same length", start, parser.pos
            )
        return (
            [len(subs), *subs[0][0]],
            [s for sub in subs for s in sub[1]],
            [z for sub in subs for z in sub[2]],
        )

    @staticmethod
    def print_axes(
        printer: Printer, axes: Sequence[int], blocks: Sequence[int]
    ) -> None:
        if not axes:
            return
        if len(axes) == 1 and blocks[0] == 1:
            printer.print_string(f":{axes[0]}")
        else:
            pairs = ", ".join(f"{a}:{b}" for a, b in zip(axes, blocks, strict=True))
            printer.print_string(":{" + pairs + "}")

    @staticmethod
    def print_grid(
        printer: Printer,
        grid: Sequence[int],
        scales: Sequence[float],
        zps: Sequence[int],
        with_zp: bool,
    ) -> None:
        def pair(i: int) -> str:
            text = fmt_float(scales[i])
            return text + (f":{zps[i]}" if with_zp and zps[i] != 0 else "")

        def nest(level: int, offset: int) -> str:
            if level == len(grid):
                return pair(offset)
            stride = int(np.prod(grid[level + 1 :], dtype=np.int64))
            inner = (nest(level + 1, offset + j * stride) for j in range(grid[level]))
            return "{" + ", ".join(inner) + "}"

        printer.print_string(nest(0, 0))


@dataclass(frozen=True, init=False)
class QuantizedType(ParametrizedAttribute, TypeAttribute):
    """Common interface of the quantized element types.

    Subclasses define `levels_attr` (their LevelsAttr; `q.mixed` has several
    level sets instead), the scale parameters `axes`, `blocks`, `grid`,
    `scales`, `zero_points` and `expressed_type`.

    The base classes are dataclasses so that their parameters take part in
    the equality and hash of the concrete types (an undecorated base would
    leave its fields out: every `!q.uniform` would compare equal).
    """

    expressed_type: AnyFloat
    axes: ArrayAttr[IntAttr]
    blocks: ArrayAttr[IntAttr]
    grid: ArrayAttr[IntAttr]
    scales: DenseArrayBase
    zero_points: DenseArrayBase

    # -- scale helpers ----------------------------------------------------- #

    @property
    def scale_values(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.scales.get_values())

    @property
    def zp_values(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.zero_points.get_values())

    @property
    def is_per_tensor(self) -> bool:
        return not self.axes.data

    @property
    def scale(self) -> float:
        """The single scale of a per-tensor type."""
        if not self.is_per_tensor:
            raise ValueError(f"{self} has more than one scale")
        return self.scale_values[0]

    @property
    def zero_point(self) -> int:
        """The single zero point of a per-tensor type."""
        if not self.is_per_tensor:
            raise ValueError(f"{self} has more than one zero point")
        return self.zp_values[0]

    @property
    def quantized_axis(self) -> int | None:
        """The axis of a per-axis type (one axis, block size 1), else None."""
        if len(self.axes.data) == 1 and self.blocks.data[0].data == 1:
            return self.axes.data[0].data
        return None

    def _grid_array(self, values: np.ndarray, shape: Sequence[int]) -> np.ndarray:
        """Expand grid values to an array broadcastable against `shape`."""
        if not self.axes.data:
            return values.reshape((1,) * len(shape))
        arr = values.reshape(_ints(self.grid))
        axes, blocks = _ints(self.axes), _ints(self.blocks)
        for k, b in enumerate(blocks):
            arr = np.repeat(arr, b, axis=k)
        full = [1] * len(shape)
        for k, a in enumerate(axes):
            full[a] = arr.shape[k]
        return arr.reshape(full)

    def scale_array(self, shape: Sequence[int]) -> np.ndarray:
        """Per-element scales (float64), broadcastable to `shape`."""
        return self._grid_array(np.array(self.scale_values, dtype=np.float64), shape)

    def zero_point_array(self, shape: Sequence[int]) -> np.ndarray:
        """Per-element zero points (int64), broadcastable to `shape`."""
        return self._grid_array(np.array(self.zp_values, dtype=np.int64), shape)

    def verify_scales(self) -> None:
        _verify_expressed(self.name, self.expressed_type)
        axes, blocks, grid = _ints(self.axes), _ints(self.blocks), _ints(self.grid)
        n = len(self.scale_values)
        if len(axes) != len(blocks) or len(grid) != len(axes):
            raise VerifyException(
                f"{self.name}: axes, block sizes and grid differ in length"
            )
        if any(a < 0 for a in axes) or list(axes) != sorted(set(axes)):
            raise VerifyException(
                f"{self.name}: quantized axes must be distinct, increasing and >= 0"
            )
        if any(b < 1 for b in blocks) or any(g < 1 for g in grid):
            raise VerifyException(f"{self.name}: block sizes must be >= 1")
        want = int(np.prod(grid, dtype=np.int64))
        if n != want or len(self.zp_values) != n:
            raise VerifyException(
                f"{self.name}: expected {want} scales and zero points, got {n} and "
                f"{len(self.zp_values)}"
            )
        for s in self.scale_values:
            if not (math.isfinite(s) and s > 0):
                raise VerifyException(
                    f"{self.name}: scale {s} must be positive and finite"
                )

    def verify_shape(self, shape: Sequence[int]) -> None:
        """Check that the type can describe a tensor of `shape`."""
        for a, b, g in zip(
            _ints(self.axes), _ints(self.blocks), _ints(self.grid), strict=True
        ):
            if a >= len(shape):
                raise VerifyException(
                    f"{self.name}: quantized axis {a} is out of range for shape "
                    f"{fmt_shape(shape)}"
                )
            if shape[a] != DYN and shape[a] != b * g:
                raise VerifyException(
                    f"{self.name}: axis {a} of shape {fmt_shape(shape)} has "
                    f"{shape[a]} elements, the type describes {g} blocks of {b}"
                )

    # -- format interface (overridden where needed) ------------------------ #

    def level_sets(self) -> tuple[LevelsAttr, ...]:
        return (self.levels_attr,)

    @property
    def min_level(self) -> int:
        return min(ls.min_level for ls in self.level_sets())

    @property
    def max_level(self) -> int:
        return max(ls.max_level for ls in self.level_sets())

    @property
    def element_bits(self) -> int:
        """Storage bits of one element (the widest, for mixed formats)."""
        return max(ls.code_bits for ls in self.level_sets())

    def code_widths(self, shape: Sequence[int]) -> np.ndarray:
        """Storage bits of every element of a tensor of `shape`."""
        return np.full(tuple(shape), self.element_bits, dtype=np.int64)

    def storage_bits(self, shape: Sequence[int]) -> int:
        """Total storage bits of a static tensor of `shape` (maps excluded)."""
        return int(np.prod(shape, dtype=np.int64)) * self.element_bits

    def encode(self, levels: np.ndarray) -> np.ndarray:
        """Storage codes of a tensor of representable levels."""
        return self.levels_attr.encode(levels)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Levels of a tensor of storage codes."""
        return self.levels_attr.decode(codes)

    def representable(self, levels: np.ndarray) -> np.ndarray:
        """Elementwise: may each level occur at its position?"""
        return self.levels_attr.contains(levels)

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Real values -> levels: the level set's rounding of x / scale.

        x / scale is computed in the expressed type (as ONNX QuantizeLinear);
        `LevelsAttr.nearest` rounds it, adds the zero point and saturates.
        """
        dtype = expressed_dtype(self.expressed_type)
        x = np.asarray(x, dtype=dtype)
        scale = self.scale_array(x.shape).astype(dtype)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            v = (x / scale).astype(np.float64)
        return self.levels_attr.nearest(v, self.zero_point_array(x.shape))

    def dequantize(self, levels: np.ndarray) -> np.ndarray:
        """Levels -> real values: scale * (level - zero point), in the
        expressed type (the difference is rounded to it, then multiplied)."""
        dtype = expressed_dtype(self.expressed_type)
        levels = np.asarray(levels, dtype=np.int64)
        centred = (levels - self.zero_point_array(levels.shape)).astype(dtype)
        with np.errstate(over="ignore"):
            return centred * self.scale_array(levels.shape).astype(dtype)


def _scale_params(
    axes: Sequence[int],
    blocks: Sequence[int],
    grid: Sequence[int],
    scales: Sequence[float],
    zps: Sequence[int],
) -> tuple[Attribute, ...]:
    return (
        _int_attrs(axes),
        _int_attrs(blocks),
        _int_attrs(grid),
        _f64_array(scales),
        _i64_array(zps),
    )


def _scale_args(
    scale: float | Sequence[float],
    zero_point: int | Sequence[int] = 0,
    axis: int | None = None,
    blocks: dict[int, int] | None = None,
    grid: Sequence[int] | None = None,
) -> tuple[Attribute, ...]:
    """Scale parameters from Python values (per tensor, axis or block).

    Per block: `blocks` maps each blocked axis to its block size and `scale`
    is a nested list (or array) of shape `grid` (one dimension per blocked
    axis, in increasing axis order).
    """
    if blocks is not None:
        axes, sizes = sorted(blocks), [blocks[a] for a in sorted(blocks)]
        scales = [float(s) for s in np.ravel(scale)]
        grid = list(grid) if grid is not None else list(np.shape(scale))
    elif axis is not None:
        axes, sizes = [axis], [1]
        scales = [float(s) for s in np.ravel(scale)]
        grid = [len(scales)]
    else:
        axes, sizes, grid = [], [], []
        scales = [float(scale)]  # type: ignore[arg-type]
    if np.ndim(zero_point):
        zps = [int(z) for z in np.ravel(zero_point)]
    else:
        zps = [int(zero_point)] * len(scales)  # type: ignore[arg-type]
    return _scale_params(axes, sizes, grid, scales, zps)


# --------------------------------------------------------------------------- #
# Uniform, pot and spot: one level set
# --------------------------------------------------------------------------- #


@dataclass(frozen=True, init=False)
class _SingleLevelsType(QuantizedType):
    """Types of the form `<levels:expressed[:axes], scales>`."""

    levels_attr: LevelsAttr

    ALLOWED_KINDS: ClassVar[tuple[str, ...]] = ()
    HAS_ZERO_POINT: ClassVar[bool] = False

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        def body() -> Sequence[Attribute]:
            with parser.in_angle_brackets():
                levels = cls.parse_levels(parser)
                parser.parse_punctuation(":")
                expressed = parser.parse_type()
                axes, blocks = ScaleSpec.parse_axes(parser)
                parser.parse_punctuation(",")
                # zero points parse everywhere; the verifier rejects them
                # where the format has none (a clearer error than a syntax one)
                grid, scales, zps = ScaleSpec.parse_grid(parser, len(axes), True)
            return (expressed, *_scale_params(axes, blocks, grid, scales, zps), levels)

        return _parse_verified(cls, parser, body)

    @classmethod
    def parse_levels(cls, parser: AttrParser) -> LevelsAttr:
        raise NotImplementedError

    def print_levels(self, printer: Printer) -> None:
        raise NotImplementedError

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            self.print_levels(printer)
            printer.print_string(":")
            printer.print_attribute(self.expressed_type)
            ScaleSpec.print_axes(printer, _ints(self.axes), _ints(self.blocks))
            printer.print_string(", ")
            ScaleSpec.print_grid(
                printer,
                _ints(self.grid),
                self.scale_values,
                self.zp_values,
                self.HAS_ZERO_POINT,
            )

    def verify(self) -> None:
        kind = self.levels_attr.kind.data
        if kind not in self.ALLOWED_KINDS:
            raise VerifyException(
                f"{self.name}: levels of kind '{kind}' are not allowed"
            )
        if self.levels_attr.shift.data:
            raise VerifyException(
                f"{self.name}: a level shift is only allowed inside q.mixed"
            )
        self.verify_scales()
        if not self.HAS_ZERO_POINT and any(self.zp_values):
            raise VerifyException(f"{self.name}: zero points must be 0")
        lo, hi = self.levels_attr.low.data, self.levels_attr.high.data
        for z in self.zp_values if self.HAS_ZERO_POINT else ():
            if not lo <= z <= hi:
                raise VerifyException(
                    f"{self.name}: zero point {z} is outside the storage range "
                    f"[{lo}:{hi}]"
                )

    def print_pot_levels(self, printer: Printer) -> None:
        la = self.levels_attr
        printer.print_string(la.storage_name)
        if not la.is_default_range:
            printer.print_string(f"<{la.low.data}:{la.high.data}>")


@irdl_attr_definition
class UniformType(_SingleLevelsType):
    """Uniform integers: real = scale * (level - zero_point), level in [qmin, qmax].

    `!q.uniform<i8:f32, 0.5>`, `!q.uniform<u8:f32, 0.02:128>`,
    `!q.uniform<i8<-127:127>:f32:0, {0.5, 0.25}>`,
    `!q.uniform<i4:f32:{0:1, 1:32}, {{0.5, 0.25}, {0.1, 0.2}}>`.
    Widths 1..16 for data, up to 64 (signed) for accumulators.
    """

    name = "q.uniform"

    ALLOWED_KINDS: ClassVar[tuple[str, ...]] = ("int",)
    HAS_ZERO_POINT: ClassVar[bool] = True

    def __init__(
        self,
        width: int,
        signed: bool,
        scale: float | Sequence[float],
        zero_point: int | Sequence[int] = 0,
        *,
        axis: int | None = None,
        blocks: dict[int, int] | None = None,
        grid: Sequence[int] | None = None,
        low: int | None = None,
        high: int | None = None,
        expressed: AnyFloat | None = None,
    ):
        from xdsl.dialects.builtin import f32

        super().__init__(
            expressed or f32,
            *_scale_args(scale, zero_point, axis, blocks, grid),
            LevelsAttr.int_(width, signed, low, high),
        )

    @classmethod
    def parse_levels(cls, parser: AttrParser) -> LevelsAttr:
        return LevelsAttr.parse_body(parser)

    def print_levels(self, printer: Printer) -> None:
        self.levels_attr.print_body(printer)

    @property
    def width(self) -> int:
        return self.levels_attr.width.data

    @property
    def is_signed(self) -> bool:
        return self.levels_attr.is_signed

    @property
    def qmin(self) -> int:
        return self.levels_attr.low.data

    @property
    def qmax(self) -> int:
        return self.levels_attr.high.data


@irdl_attr_definition
class PotType(_SingleLevelsType):
    """Powers of two: real = scale * level, level in {0} or ±2^e, e in [lo, hi].

    `!q.pot<i4:f32, 0.5>` (exponents 0..6), `!q.pot<i4<0:3>:f32:0, {0.5, 0.25}>`.
    Multiplying by a level is a shift. No zero point.
    """

    name = "q.pot"

    ALLOWED_KINDS: ClassVar[tuple[str, ...]] = ("pot",)

    def __init__(
        self,
        width: int,
        scale: float | Sequence[float],
        *,
        signed: bool = True,
        low: int = 0,
        high: int | None = None,
        axis: int | None = None,
        blocks: dict[int, int] | None = None,
        grid: Sequence[int] | None = None,
        expressed: AnyFloat | None = None,
    ):
        from xdsl.dialects.builtin import f32

        super().__init__(
            expressed or f32,
            *_scale_args(scale, 0, axis, blocks, grid),
            LevelsAttr.pot(width, signed, low, high),
        )

    @classmethod
    def parse_levels(cls, parser: AttrParser) -> LevelsAttr:
        signed, width = parse_storage(parser)
        rng = parse_range(parser)
        return LevelsAttr.pot(width, signed, *(rng or (0, None)))

    def print_levels(self, printer: Printer) -> None:
        self.print_pot_levels(printer)


@irdl_attr_definition
class SpotType(_SingleLevelsType):
    """Sums of k powers of two: real = scale * (t_1 + ... + t_k), t_i pot levels.

    `!q.spot<2 x i4:f32, 0.5>`. Multiplying by a level is k shifts and k-1
    adds. No zero point.
    """

    name = "q.spot"

    ALLOWED_KINDS: ClassVar[tuple[str, ...]] = ("spot",)

    def __init__(
        self,
        terms: int,
        width: int,
        scale: float | Sequence[float],
        *,
        signed: bool = True,
        low: int = 0,
        high: int | None = None,
        axis: int | None = None,
        blocks: dict[int, int] | None = None,
        grid: Sequence[int] | None = None,
        expressed: AnyFloat | None = None,
    ):
        from xdsl.dialects.builtin import f32

        super().__init__(
            expressed or f32,
            *_scale_args(scale, 0, axis, blocks, grid),
            LevelsAttr.pot(width, signed, low, high, terms=terms),
        )

    @classmethod
    def parse_levels(cls, parser: AttrParser) -> LevelsAttr:
        terms = parser.parse_integer(allow_negative=False, allow_boolean=False)
        parser.parse_keyword("x")
        signed, width = parse_storage(parser)
        rng = parse_range(parser)
        levels = LevelsAttr.pot(width, signed, *(rng or (0, None)), terms=terms)
        if terms == 1:  # `1 x i4` would be a pot format: keep it a spot to reject
            levels = LevelsAttr(StringAttr("spot"), *levels.parameters[1:])
        return levels

    def print_levels(self, printer: Printer) -> None:
        printer.print_string(f"{self.levels_attr.terms.data} x ")
        self.print_pot_levels(printer)


@irdl_attr_definition
class BinaryType(_SingleLevelsType):
    """Binary (bipolar) values: real = scale * level, level in {-1, +1}.

    `!q.binary<f32, 0.5>`, `!q.binary<f32:0, {0.5, 0.25}>`. No zero level and
    no zero point; one bit per element (code 0 is -1, code 1 is +1). A
    multiply by a level is a conditional negation; a dot product of binary
    codes is an XNOR and a popcount. Quantizing gives +1 for x >= 0.
    """

    name = "q.binary"

    ALLOWED_KINDS: ClassVar[tuple[str, ...]] = ("binary",)

    def __init__(
        self,
        scale: float | Sequence[float],
        *,
        axis: int | None = None,
        blocks: dict[int, int] | None = None,
        grid: Sequence[int] | None = None,
        expressed: AnyFloat | None = None,
    ):
        from xdsl.dialects.builtin import f32

        super().__init__(
            expressed or f32,
            *_scale_args(scale, 0, axis, blocks, grid),
            LevelsAttr.binary(),
        )

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        def body() -> Sequence[Attribute]:
            with parser.in_angle_brackets():
                expressed = parser.parse_type()
                axes, blocks = ScaleSpec.parse_axes(parser)
                parser.parse_punctuation(",")
                grid, scales, zps = ScaleSpec.parse_grid(parser, len(axes), True)
            return (
                expressed,
                *_scale_params(axes, blocks, grid, scales, zps),
                LevelsAttr.binary(),
            )

        return _parse_verified(cls, parser, body)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_attribute(self.expressed_type)
            ScaleSpec.print_axes(printer, _ints(self.axes), _ints(self.blocks))
            printer.print_string(", ")
            ScaleSpec.print_grid(
                printer, _ints(self.grid), self.scale_values, self.zp_values, False
            )


# --------------------------------------------------------------------------- #
# Threshold codes
# --------------------------------------------------------------------------- #


def _threshold_codes(width: int, count: int) -> LevelsAttr:
    """The codes 0..count of `count` thresholds, checked with a clear message."""
    if not 1 <= width <= MAX_CODE_WIDTH:
        raise VerifyException(
            f"q.thresholds: code width {width} is not in [1, {MAX_CODE_WIDTH}]"
        )
    if not 1 <= count <= (1 << width) - 1:
        raise VerifyException(
            f"q.thresholds: {count} thresholds do not fit u{width} codes "
            f"(1 to {(1 << width) - 1})"
        )
    return LevelsAttr.int_(width, False, 0, count)


@irdl_attr_definition
class ThresholdsType(QuantizedType):
    """Non-uniform bins, uniform codes: code = #{j : x >= t_j}, real = s*(code - zp).

    `!q.thresholds<u2:f32, 0.5:1, [-1.0, 0.25, 2.0]>` (per tensor) or
    `!q.thresholds<u2:f32:1, 0.5, [[...], [...]]>` (one sorted threshold list
    per index of axis 1). Codes are unsigned, 0..n with n thresholds,
    1 <= n < 2^width. The scale and zero point are per tensor. The input x
    (a value of the expressed type) is compared exactly with the thresholds
    (float64 values, as written).
    """

    name = "q.thresholds"

    levels_attr: LevelsAttr
    thresholds: DenseArrayBase
    threshold_axes: ArrayAttr[IntAttr]

    def __init__(
        self,
        width: int,
        scale: float,
        thresholds: np.ndarray | Sequence[float] | Sequence[Sequence[float]],
        zero_point: int = 0,
        *,
        axis: int | None = None,
        expressed: AnyFloat | None = None,
    ):
        from xdsl.dialects.builtin import f32

        t = np.asarray(thresholds, dtype=np.float64)
        super().__init__(
            expressed or f32,
            *_scale_args(scale, zero_point),
            _threshold_codes(width, t.shape[-1]),
            _f64_array(t.ravel().tolist()),
            _int_attrs([] if axis is None else [axis]),
        )

    @property
    def count(self) -> int:
        """Thresholds per list (the largest code)."""
        return self.levels_attr.high.data

    @property
    def threshold_axis(self) -> int | None:
        return self.threshold_axes.data[0].data if self.threshold_axes.data else None

    def threshold_array(self) -> np.ndarray:
        """[n] per tensor, or [channels, n] per axis (float64)."""
        t = np.array(self.thresholds.get_values(), dtype=np.float64)
        return t.reshape(-1, self.count) if self.threshold_axes.data else t

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        def body() -> Sequence[Attribute]:
            with parser.in_angle_brackets():
                start = parser.pos
                signed, width = parse_storage(parser)
                if signed:
                    parser.raise_error(
                        f"q.thresholds codes are unsigned: expected u{width}",
                        start,
                        parser.pos,
                    )
                parser.parse_punctuation(":")
                expressed = parser.parse_type()
                axes: list[int] = []
                if parser.parse_optional_punctuation(":") is not None:
                    axes = [
                        parser.parse_integer(allow_negative=False, allow_boolean=False)
                    ]
                parser.parse_punctuation(",")
                scale, zp = ScaleSpec.parse_pair(parser, True)
                parser.parse_punctuation(",")

                def parse_list() -> list[float]:
                    return parser.parse_comma_separated_list(
                        parser.Delimiter.SQUARE, lambda: float(parser.parse_number())
                    )

                start = parser.pos
                if axes:
                    rows = parser.parse_comma_separated_list(
                        parser.Delimiter.SQUARE, parse_list
                    )
                else:
                    rows = [parse_list()]
                if len({len(r) for r in rows}) != 1:
                    parser.raise_error(
                        "every threshold list must have the same length",
                        start,
                        parser.pos,
                    )
            return (
                expressed,
                *_scale_params([], [], [], [scale], [zp]),
                _threshold_codes(width, len(rows[0])),
                _f64_array([t for r in rows for t in r]),
                _int_attrs(axes),
            )

        return _parse_verified(cls, parser, body)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(f"u{self.levels_attr.width.data}:")
            printer.print_attribute(self.expressed_type)
            if self.threshold_axes.data:
                printer.print_string(f":{self.threshold_axes.data[0].data}")
            printer.print_string(", " + fmt_float(self.scale))
            if self.zero_point:
                printer.print_string(f":{self.zero_point}")
            printer.print_string(", ")
            t = self.threshold_array()

            def row(r: np.ndarray) -> str:
                return "[" + ", ".join(fmt_float(v) for v in r) + "]"

            if self.threshold_axes.data:
                printer.print_string("[" + ", ".join(row(r) for r in t) + "]")
            else:
                printer.print_string(row(t))

    def verify(self) -> None:
        self.verify_scales()
        if self.axes.data:
            raise VerifyException("q.thresholds: the scale must be per tensor")
        la = self.levels_attr
        if la.kind.data != "int" or la.is_signed or la.low.data != 0 or la.shift.data:
            raise VerifyException("q.thresholds: codes are unsigned integers from 0")
        w, n = la.width.data, la.high.data
        if not 1 <= w <= MAX_CODE_WIDTH:
            raise VerifyException(
                f"q.thresholds: code width {w} is not in [1, {MAX_CODE_WIDTH}]"
            )
        if not 1 <= n <= (1 << w) - 1:
            raise VerifyException(
                f"q.thresholds: {n} thresholds do not fit u{w} codes "
                f"(1 to {(1 << w) - 1})"
            )
        axes = _ints(self.threshold_axes)
        if len(axes) > 1:
            raise VerifyException("q.thresholds: at most one threshold axis")
        if axes and axes[0] < 0:
            raise VerifyException("q.thresholds: the threshold axis must be >= 0")
        total = len(self.thresholds.get_values())
        if (not axes and total != n) or (axes and (total == 0 or total % n)):
            raise VerifyException(
                f"q.thresholds: {total} thresholds do not form lists of {n}"
            )
        t = self.threshold_array()
        if not np.all(np.isfinite(t)):
            raise VerifyException("q.thresholds: thresholds must be finite")
        if np.any(np.diff(t, axis=-1) < 0):
            raise VerifyException(
                "q.thresholds: thresholds must be sorted in non-decreasing order"
            )
        if not 0 <= self.zero_point <= n:
            raise VerifyException(
                f"q.thresholds: zero point {self.zero_point} is outside [0:{n}]"
            )

    def verify_shape(self, shape: Sequence[int]) -> None:
        a = self.threshold_axis
        if a is None:
            return
        rows = self.threshold_array().shape[0]
        if a >= len(shape):
            raise VerifyException(
                f"q.thresholds: threshold axis {a} is out of range for shape "
                f"{fmt_shape(shape)}"
            )
        if shape[a] != DYN and shape[a] != rows:
            raise VerifyException(
                f"q.thresholds: axis {a} of shape {fmt_shape(shape)} has "
                f"{shape[a]} elements, the type has {rows} threshold lists"
            )

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """code = #{j : x >= t_j}, x first rounded to the expressed type."""
        dtype = expressed_dtype(self.expressed_type)
        x = np.asarray(x, dtype=dtype).astype(np.float64)
        t = self.threshold_array()
        a = self.threshold_axis
        if a is None:
            return np.searchsorted(t, x, side="right").astype(np.int64)
        moved = np.moveaxis(x, a, 0)
        codes = np.empty(moved.shape, dtype=np.int64)
        for c in range(t.shape[0]):  # one vectorised search per threshold list
            codes[c] = np.searchsorted(t[c], moved[c], side="right")
        return np.moveaxis(codes, 0, a)


# --------------------------------------------------------------------------- #
# Mixed formats inside one tensor
# --------------------------------------------------------------------------- #


@irdl_attr_definition
class MixedType(QuantizedType):
    """Several level sets in one tensor under one scale: real = scale * level.

    `!q.mixed<[i2 << 2, i8]:f32:0, {0.1, 0.2}, row = "0x02">`: the format
    of each element is chosen by the map at a hardware-friendly granularity:
    - `row`: one format index per index of axis 0;
    - `block N`: one per N consecutive elements of the last axis;
    - `outliers`: the map lists the flat (row-major) indices of the elements
      in format 1; every other element is in format 0.
    Row and block maps pack one index per unit in ceil(log2(#formats)) bits
    (at least 1), LSB first; outlier maps hold little-endian uint32 indices,
    strictly increasing. No zero point; scales per tensor, axis or block.
    """

    name = "q.mixed"

    formats: ArrayAttr[LevelsAttr]
    granularity: StringAttr
    block_size: IntAttr
    assignment: StringAttr

    GRANULARITIES: ClassVar[tuple[str, ...]] = ("row", "block", "outliers")

    def __init__(
        self,
        formats: Sequence[LevelsAttr],
        granularity: str,
        assignment: np.ndarray | Sequence[int],
        scale: float | Sequence[float],
        *,
        block_size: int = 0,
        axis: int | None = None,
        blocks: dict[int, int] | None = None,
        grid: Sequence[int] | None = None,
        expressed: AnyFloat | None = None,
    ):
        """`assignment`: format index per unit (row/block) or the outlier indices."""
        from xdsl.dialects.builtin import f32

        hex_map = _encode_map(np.asarray(assignment), granularity, len(formats))
        super().__init__(
            expressed or f32,
            *_scale_args(scale, 0, axis, blocks, grid),
            ArrayAttr(list(formats)),
            StringAttr(granularity),
            IntAttr(block_size),
            StringAttr(hex_map),
        )

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        def body() -> Sequence[Attribute]:
            with parser.in_angle_brackets():
                formats = parser.parse_comma_separated_list(
                    parser.Delimiter.SQUARE, lambda: LevelsAttr.parse_body(parser)
                )
                parser.parse_punctuation(":")
                expressed = parser.parse_type()
                axes, blocks = ScaleSpec.parse_axes(parser)
                parser.parse_punctuation(",")
                grid, scales, zps = ScaleSpec.parse_grid(parser, len(axes), True)
                parser.parse_punctuation(",")
                start = parser.pos
                gran = parser.parse_identifier()
                if gran not in cls.GRANULARITIES:
                    parser.raise_error(
                        f"expected row, block or outliers, got '{gran}'",
                        start,
                        parser.pos,
                    )
                block = 0
                if gran == "block":
                    block = parser.parse_integer(
                        allow_negative=False, allow_boolean=False
                    )
                parser.parse_punctuation("=")
                hex_map = parser.parse_str_literal()
            return (
                expressed,
                *_scale_params(axes, blocks, grid, scales, zps),
                ArrayAttr(formats),
                StringAttr(gran),
                IntAttr(block),
                StringAttr(hex_map),
            )

        return _parse_verified(cls, parser, body)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string("[")
            for i, f in enumerate(self.formats.data):
                if i:
                    printer.print_string(", ")
                f.print_body(printer)
            printer.print_string("]:")
            printer.print_attribute(self.expressed_type)
            ScaleSpec.print_axes(printer, _ints(self.axes), _ints(self.blocks))
            printer.print_string(", ")
            ScaleSpec.print_grid(
                printer, _ints(self.grid), self.scale_values, self.zp_values, False
            )
            gran = self.granularity.data
            printer.print_string(f", {gran}")
            if gran == "block":
                printer.print_string(f" {self.block_size.data}")
            printer.print_string(f' = "{self.assignment.data}"')

    def level_sets(self) -> tuple[LevelsAttr, ...]:
        return tuple(self.formats.data)

    @property
    def index_bits(self) -> int:
        """Bits of one format index in a row/block map."""
        return max(1, (len(self.formats.data) - 1).bit_length())

    def verify(self) -> None:
        self.verify_scales()
        if any(self.zp_values):
            raise VerifyException("q.mixed: zero points must be 0")
        n = len(self.formats.data)
        if n < 2:
            raise VerifyException("q.mixed: needs at least two formats")
        for f in self.formats.data:
            if f.code_bits > MAX_WIDTH or (
                f.kind.data == "int" and f.width.data > MAX_CODE_WIDTH
            ):
                raise VerifyException(
                    f"q.mixed: format {f.storage_name} is wider than "
                    f"{MAX_CODE_WIDTH} bits"
                )
        gran = self.granularity.data
        if gran not in self.GRANULARITIES:
            raise VerifyException(f"q.mixed: unknown granularity '{gran}'")
        if gran == "outliers" and n != 2:
            raise VerifyException(
                "q.mixed: outliers take exactly two formats (bulk, outlier)"
            )
        if gran == "block" and self.block_size.data < 1:
            raise VerifyException("q.mixed: block size must be >= 1")
        if gran != "block" and self.block_size.data != 0:
            raise VerifyException("q.mixed: only block maps have a block size")
        try:
            raw = _decode_hex(self.assignment.data)
        except ValueError as e:
            raise VerifyException(f"q.mixed: bad map: {e}") from None
        if gran == "outliers" and len(raw) % 4:
            raise VerifyException(
                "q.mixed: the outlier map must hold little-endian uint32 indices"
            )

    def unit_count(self, shape: Sequence[int]) -> int:
        """Rows or blocks of a tensor of `shape` (row/block maps)."""
        if self.granularity.data == "row":
            return shape[0]
        return int(np.prod(shape, dtype=np.int64)) // self.block_size.data

    def assignment_array(self, shape: Sequence[int] | None = None) -> np.ndarray:
        """Format index per unit (row/block) or the outlier indices (int64)."""
        raw = _decode_hex(self.assignment.data)
        if self.granularity.data == "outliers":
            return np.frombuffer(raw, dtype="<u4").astype(np.int64)
        bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")
        k = self.index_bits
        units = len(bits) // k if shape is None else self.unit_count(shape)
        bits = bits[: units * k].reshape(units, k).astype(np.int64)
        return (bits << np.arange(k, dtype=np.int64)).sum(axis=1)

    def format_index(self, shape: Sequence[int]) -> np.ndarray:
        """The format index of every element of a tensor of `shape`."""
        shape = tuple(shape)
        gran = self.granularity.data
        if gran == "row":
            per_row = self.assignment_array(shape)
            return np.broadcast_to(
                per_row.reshape((-1,) + (1,) * (len(shape) - 1)), shape
            )
        if gran == "block":
            per_block = self.assignment_array(shape)
            return np.repeat(per_block, self.block_size.data).reshape(shape)
        idx = np.zeros(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
        idx[self.assignment_array()] = 1
        return idx.reshape(shape)

    def verify_shape(self, shape: Sequence[int]) -> None:
        super().verify_shape(shape)
        if any(d == DYN for d in shape):
            raise VerifyException("q.mixed: the tensor shape must be static")
        gran = self.granularity.data
        n = len(self.formats.data)
        if not shape:
            raise VerifyException("q.mixed: a tensor of rank 0 cannot be mixed")
        if gran == "block" and shape[-1] % self.block_size.data:
            raise VerifyException(
                f"q.mixed: block size {self.block_size.data} does not divide the "
                f"last dimension of {fmt_shape(shape)}"
            )
        raw_len = len(_decode_hex(self.assignment.data))
        if gran == "outliers":
            idx = self.assignment_array()
            numel = int(np.prod(shape, dtype=np.int64))
            if len(idx) and (idx.max() >= numel or np.any(np.diff(idx) <= 0)):
                raise VerifyException(
                    "q.mixed: outlier indices must be strictly increasing and "
                    f"below {numel}"
                )
            return
        units = self.unit_count(shape)
        need = (units * self.index_bits + 7) // 8
        if raw_len != need:
            raise VerifyException(
                f"q.mixed: the map holds {raw_len} bytes, {units} {gran}s need {need}"
            )
        if np.any(self.assignment_array(shape) >= n):
            raise VerifyException(f"q.mixed: the map uses a format index >= {n}")

    def code_widths(self, shape: Sequence[int]) -> np.ndarray:
        bits = np.array([f.code_bits for f in self.formats.data], dtype=np.int64)
        return bits[self.format_index(shape)]

    def storage_bits(self, shape: Sequence[int]) -> int:
        return int(self.code_widths(shape).sum())

    def average_bits(self, shape: Sequence[int]) -> float:
        """Mean storage bits per element (the map excluded)."""
        return self.storage_bits(shape) / max(1, int(np.prod(shape, dtype=np.int64)))

    def _per_format(self, values: np.ndarray, fn_name: str) -> np.ndarray:
        index = self.format_index(values.shape)
        out = np.zeros(values.shape, dtype=np.int64)
        for i, f in enumerate(self.formats.data):
            mask = index == i
            out[mask] = getattr(f, fn_name)(values[mask])
        return out

    def encode(self, levels: np.ndarray) -> np.ndarray:
        return self._per_format(np.asarray(levels, dtype=np.int64), "encode")

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return self._per_format(np.asarray(codes, dtype=np.int64), "decode")

    def representable(self, levels: np.ndarray) -> np.ndarray:
        levels = np.asarray(levels, dtype=np.int64)
        index = self.format_index(levels.shape)
        ok = np.zeros(levels.shape, dtype=bool)
        for i, f in enumerate(self.formats.data):
            mask = index == i
            ok[mask] = f.contains(levels[mask])
        return ok

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """The nearest level of x / scale in each element's own format."""
        dtype = expressed_dtype(self.expressed_type)
        x = np.asarray(x, dtype=dtype)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            v = (x / self.scale_array(x.shape).astype(dtype)).astype(np.float64)
        index = self.format_index(x.shape)
        out = np.zeros(x.shape, dtype=np.int64)
        for i, f in enumerate(self.formats.data):
            mask = index == i
            out[mask] = f.nearest(v[mask])
        return out


def _decode_hex(text: str) -> bytes:
    if not text.startswith("0x"):
        raise ValueError("hex data must start with 0x")
    return bytes.fromhex(text[2:])


def _encode_map(assignment: np.ndarray, granularity: str, n_formats: int) -> str:
    if granularity == "outliers":
        return "0x" + np.asarray(assignment, dtype="<u4").tobytes().hex().upper()
    k = max(1, (n_formats - 1).bit_length())
    bits = (assignment.astype(np.int64).ravel()[:, None] >> np.arange(k)) & 1
    packed = np.packbits(bits.ravel().astype(np.uint8), bitorder="little")
    return "0x" + packed.tobytes().hex().upper()


QUANTIZED_TYPES = (
    UniformType,
    PotType,
    SpotType,
    BinaryType,
    ThresholdsType,
    MixedType,
)
Q_ATTRIBUTES = [LevelsAttr, *QUANTIZED_TYPES]
