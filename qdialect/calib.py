"""Calibration attributes of the `q` dialect: `#q.range` and `#q.stats`.

`qopt-calibrate` runs the float graph on calibration data and writes, for
every float value it observed, the range that a quantizer should map to the
integer levels:

    #q.range<-1.5, 3.25>                                    per tensor
    #q.range<0.0, 6.0, percentile, dynamic>                 method, dynamic
    #q.range<axis = 1, [-1.0, -2.0], [2.0, 1.5], mse>       per channel
    #q.range<-1.5, 3.25, minmax, stats = #q.stats<min = -1.5, max = 3.25,
              mean = 0.875, std = 1.25, count = 24>>

- `lo, hi` (or, per channel, `axis = A, [lo0, ...], [hi0, ...]`, element `i`
  along axis `A` using pair `i`) is the real interval, `lo <= hi`, finite;
- an optional identifier names the method that chose it (the pass writes
  `minmax`, `percentile`, `mse` or `entropy`);
- `dynamic` asks the quantizer for ranges computed at run time, per batch;
- `stats = #q.stats<...>` holds what was observed: the smallest and largest
  finite value, the mean and the (population) standard deviation, and the
  number of finite elements, over the whole tensor; optionally (calibration
  with `quantiles=R`) the distribution in R equiprobable bins:
  `quantiles = [q_1, ..., q_{R-1}], counts = [...], means = [...]`, bin k
  holding the elements x with #{j : x >= q_j} = k.

Floats print as the shortest decimal that reads back as the same float64
(`fmt_float`), so the text round-trips exactly. Ops carry the attribute as
the discardable attribute `q.range` (one result) or `q.ranges = [...]` (one
entry per result, `unit` for a result without a range); function arguments
carry it in `func.func`'s `arg_attrs` (`%x: tensor<...> {q.range = ...}`).
`value_range()` and `set_value_range()` read and write it for any SSA value.
`docs/dialects/q.md` ("Calibration attributes") describes the meaning.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    DictionaryAttr,
    IntAttr,
    NoneAttr,
    StringAttr,
    UnitAttr,
    f64,
    i64,
)
from xdsl.ir import Attribute, BlockArgument, OpResult, ParametrizedAttribute, SSAValue
from xdsl.irdl import irdl_attr_definition
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from qopt.qdialect.qtypes import fmt_float

RANGE_ATTR = "q.range"
"""Discardable attribute of a one-result op (and key in a function's arg_attrs)."""

RANGES_ATTR = "q.ranges"
"""Discardable attribute of an op with several results: one entry per result."""

METHODS = ("minmax", "percentile", "mse", "entropy")
"""The methods `qopt-calibrate` writes (any other identifier verifies too)."""

_RESERVED = ("axis", "dynamic", "stats")
_METHOD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _f64_array(values: Sequence[float]) -> DenseArrayBase:
    return DenseArrayBase.from_list(f64, [float(v) for v in values])


def _i64_array(values: Sequence[int]) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, [int(v) for v in values])


def _parse_float(parser: AttrParser) -> float:
    return float(parser.parse_number())


def _parse_verified(cls: type[ParametrizedAttribute], parser: AttrParser, body):
    """Parse with `body` and verify at once: a broken rule is a located error."""
    start = parser.pos
    try:
        params = body()
        cls.new(params)
    except VerifyException as e:
        parser.raise_error(str(e), start, parser.pos)
    return params


@irdl_attr_definition
class StatsAttr(ParametrizedAttribute):
    """What calibration observed of one value (all elements, finite ones only).

    Syntax: `#q.stats<min = M, max = M, mean = M, std = S, count = N>`; every
    field is required and printed in this order. `std` is the population
    standard deviation (divisor `count`). Optionally the distribution in R
    bins follows: `, quantiles = [q_1, ...], counts = [c_0, ...],
    means = [m_0, ...]` (R - 1 sorted edges, R counts summing to `count`,
    R means; bin k holds the x with #{j : x >= q_j} = k).
    """

    name = "q.stats"

    min_value: DenseArrayBase
    max_value: DenseArrayBase
    mean: DenseArrayBase
    std: DenseArrayBase
    count: IntAttr
    quantiles: DenseArrayBase
    bin_counts: DenseArrayBase
    bin_means: DenseArrayBase

    FIELDS: ClassVar[tuple[str, ...]] = ("min", "max", "mean", "std", "count")
    BIN_FIELDS: ClassVar[tuple[str, ...]] = ("quantiles", "counts", "means")

    def __init__(
        self,
        min_value: float,
        max_value: float,
        mean: float,
        std: float,
        count: int,
        quantiles: Sequence[float] = (),
        bin_counts: Sequence[int] = (),
        bin_means: Sequence[float] = (),
    ):
        super().__init__(
            _f64_array([min_value]),
            _f64_array([max_value]),
            _f64_array([mean]),
            _f64_array([std]),
            IntAttr(int(count)),
            _f64_array(quantiles),
            _i64_array(bin_counts),
            _f64_array(bin_means),
        )

    @property
    def values(self) -> tuple[float, float, float, float, int]:
        """(min, max, mean, std, count)."""
        floats = (self.min_value, self.max_value, self.mean, self.std)
        return (*(float(a.get_values()[0]) for a in floats), self.count.data)

    @property
    def has_quantiles(self) -> bool:
        return bool(self.bin_counts.get_values())

    @property
    def quantile_values(self) -> np.ndarray:
        """The R - 1 bin edges (float64)."""
        return np.array(self.quantiles.get_values(), dtype=np.float64)

    @property
    def bin_count_values(self) -> np.ndarray:
        """The R bin counts (int64)."""
        return np.array(self.bin_counts.get_values(), dtype=np.int64)

    @property
    def bin_mean_values(self) -> np.ndarray:
        """The R bin means (float64)."""
        return np.array(self.bin_means.get_values(), dtype=np.float64)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        def body() -> Sequence[Attribute]:
            values: list[float | int] = []
            with parser.in_angle_brackets():
                for i, key in enumerate(cls.FIELDS):
                    if i:
                        parser.parse_punctuation(",")
                    parser.parse_keyword(key)
                    parser.parse_punctuation("=")
                    if key == "count":
                        values.append(
                            parser.parse_integer(
                                allow_negative=False, allow_boolean=False
                            )
                        )
                    else:
                        values.append(_parse_float(parser))
                bins: list[list[float] | list[int]] = []
                if parser.parse_optional_punctuation(",") is not None:
                    for i, key in enumerate(cls.BIN_FIELDS):
                        if i:
                            parser.parse_punctuation(",")
                        parser.parse_keyword(key)
                        parser.parse_punctuation("=")
                        item = (
                            (lambda: parser.parse_integer(allow_boolean=False))
                            if key == "counts"
                            else (lambda: _parse_float(parser))
                        )
                        bins.append(
                            parser.parse_comma_separated_list(
                                parser.Delimiter.SQUARE, item
                            )
                        )
            return cls(*values, *bins).parameters  # type: ignore[arg-type]

        return _parse_verified(cls, parser, body)

    def print_parameters(self, printer: Printer) -> None:
        mn, mx, mean, std, count = self.values
        text = (
            f"<min = {fmt_float(mn)}, max = {fmt_float(mx)}, "
            f"mean = {fmt_float(mean)}, std = {fmt_float(std)}, count = {count}"
        )
        if self.has_quantiles:

            def floats(values: np.ndarray) -> str:
                return "[" + ", ".join(fmt_float(v) for v in values) + "]"

            counts = ", ".join(str(int(c)) for c in self.bin_count_values)
            text += (
                f", quantiles = {floats(self.quantile_values)}, counts = [{counts}]"
                f", means = {floats(self.bin_mean_values)}"
            )
        printer.print_string(text + ">")

    def verify(self) -> None:
        for a in (self.min_value, self.max_value, self.mean, self.std):
            if len(a.get_values()) != 1:
                raise VerifyException("q.stats: each statistic is one float")
        mn, mx, mean, std, count = self.values
        if not all(math.isfinite(v) for v in (mn, mx, mean, std)):
            raise VerifyException("q.stats: statistics must be finite")
        if count < 1:
            raise VerifyException(f"q.stats: count must be at least 1, got {count}")
        if mn > mx:
            raise VerifyException(f"q.stats: min {mn!r} is larger than max {mx!r}")
        if std < 0:
            raise VerifyException(f"q.stats: std must be >= 0, got {std!r}")
        self._verify_bins(mn, mx, count)

    def _verify_bins(self, mn: float, mx: float, count: int) -> None:
        q = self.quantile_values
        counts, means = self.bin_count_values, self.bin_mean_values
        if not (len(q) or len(counts) or len(means)):
            return
        if not len(counts) == len(means) == len(q) + 1 or len(q) < 1:
            raise VerifyException(
                f"q.stats: {len(q)} quantiles need {len(q) + 1} counts and means "
                f"(at least 2 bins), got {len(counts)} and {len(means)}"
            )
        if not (np.all(np.isfinite(q)) and np.all(np.isfinite(means))):
            raise VerifyException("q.stats: quantiles and means must be finite")
        if np.any(np.diff(q) < 0) or q[0] < mn or q[-1] > mx:
            raise VerifyException(
                "q.stats: quantiles must be non-decreasing and inside [min, max]"
            )
        if np.any(counts < 0) or int(counts.sum()) != count:
            raise VerifyException(
                f"q.stats: bin counts must be >= 0 and sum to count = {count}, "
                f"got {int(counts.sum())}"
            )
        if np.any(means < mn) or np.any(means > mx):
            raise VerifyException("q.stats: bin means must lie inside [min, max]")


@irdl_attr_definition
class RangeAttr(ParametrizedAttribute):
    """The real range a quantizer maps to the levels of one value.

    Syntax (optional parts in brackets, in this order):

        #q.range<LO, HI [, METHOD] [, dynamic] [, stats = #q.stats<...>]>
        #q.range<axis = A, [LO, ...], [HI, ...] [, METHOD] [, dynamic] [, stats = ...]>

    Parameters: `axis` (-1 per tensor), `lows`/`highs` (float64, one each
    per tensor, one per index along `axis` otherwise), `method` (empty when
    not given), `dynamic` (0/1), `stats` (a StatsAttr or none).
    """

    name = "q.range"

    axis: IntAttr
    lows: DenseArrayBase
    highs: DenseArrayBase
    method: StringAttr
    dynamic: IntAttr
    stats: StatsAttr | NoneAttr

    def __init__(
        self,
        lows: float | Sequence[float],
        highs: float | Sequence[float],
        axis: int | None = None,
        method: str | None = None,
        dynamic: bool = False,
        stats: StatsAttr | None = None,
    ):
        if axis is None:
            lows, highs = [float(lows)], [float(highs)]  # type: ignore[arg-type]
        super().__init__(
            IntAttr(-1 if axis is None else int(axis)),
            _f64_array(lows),  # type: ignore[arg-type]
            _f64_array(highs),  # type: ignore[arg-type]
            StringAttr(method or ""),
            IntAttr(int(bool(dynamic))),
            NoneAttr() if stats is None else stats,
        )

    # -- accessors ----------------------------------------------------------- #

    @property
    def channel_axis(self) -> int | None:
        """The axis of a per-channel range, None per tensor."""
        return None if self.axis.data < 0 else self.axis.data

    @property
    def is_per_tensor(self) -> bool:
        return self.axis.data < 0

    @property
    def low_values(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.lows.get_values())

    @property
    def high_values(self) -> tuple[float, ...]:
        return tuple(float(v) for v in self.highs.get_values())

    @property
    def low(self) -> float:
        """The lower bound of a per-tensor range."""
        if not self.is_per_tensor:
            raise ValueError(f"{self} is per channel")
        return self.low_values[0]

    @property
    def high(self) -> float:
        """The upper bound of a per-tensor range."""
        if not self.is_per_tensor:
            raise ValueError(f"{self} is per channel")
        return self.high_values[0]

    @property
    def method_name(self) -> str | None:
        return self.method.data or None

    @property
    def is_dynamic(self) -> bool:
        return bool(self.dynamic.data)

    @property
    def statistics(self) -> StatsAttr | None:
        return self.stats if isinstance(self.stats, StatsAttr) else None

    # -- text -------------------------------------------------------------- #

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        def float_list() -> list[float]:
            return parser.parse_comma_separated_list(
                parser.Delimiter.SQUARE, lambda: _parse_float(parser)
            )

        def body() -> Sequence[Attribute]:
            axis = None
            method = None
            dynamic = False
            stats = None
            with parser.in_angle_brackets():
                if parser.parse_optional_keyword("axis") is not None:
                    parser.parse_punctuation("=")
                    axis = parser.parse_integer(
                        allow_negative=False, allow_boolean=False
                    )
                    parser.parse_punctuation(",")
                    lows: float | list[float] = float_list()
                    parser.parse_punctuation(",")
                    highs: float | list[float] = float_list()
                else:
                    lows = _parse_float(parser)
                    parser.parse_punctuation(",")
                    highs = _parse_float(parser)
                while parser.parse_optional_punctuation(",") is not None:
                    start = parser.pos
                    word = parser.parse_identifier(" (a method, 'dynamic' or 'stats')")
                    if word == "stats" and stats is None:
                        parser.parse_punctuation("=")
                        attr_start = parser.pos
                        attr = parser.parse_attribute()
                        if not isinstance(attr, StatsAttr):
                            parser.raise_error(
                                "expected a #q.stats<...> attribute",
                                attr_start,
                                parser.pos,
                            )
                        stats = attr
                    elif word == "dynamic" and not dynamic and stats is None:
                        dynamic = True
                    elif (
                        word not in _RESERVED
                        and method is None
                        and not dynamic
                        and stats is None
                    ):
                        method = word
                    else:
                        parser.raise_error(
                            f"unexpected '{word}': the order is METHOD, dynamic, "
                            "stats = ..., each at most once",
                            start,
                            parser.pos,
                        )
            return cls(lows, highs, axis, method, dynamic, stats).parameters

        return _parse_verified(cls, parser, body)

    def print_parameters(self, printer: Printer) -> None:
        def floats(values: Sequence[float]) -> str:
            return "[" + ", ".join(fmt_float(v) for v in values) + "]"

        if self.is_per_tensor:
            text = f"{fmt_float(self.low)}, {fmt_float(self.high)}"
        else:
            text = (
                f"axis = {self.axis.data}, {floats(self.low_values)}, "
                f"{floats(self.high_values)}"
            )
        if self.method.data:
            text += f", {self.method.data}"
        if self.is_dynamic:
            text += ", dynamic"
        printer.print_string("<" + text)
        if isinstance(self.stats, StatsAttr):
            printer.print_string(", stats = ")
            printer.print_attribute(self.stats)
        printer.print_string(">")

    def verify(self) -> None:
        lows, highs = self.low_values, self.high_values
        axis = self.axis.data
        if axis < -1:
            raise VerifyException(f"q.range: axis must be >= 0, got {axis}")
        if axis == -1 and len(lows) != 1:
            raise VerifyException("q.range: a per-tensor range has one low bound")
        if len(lows) != len(highs):
            raise VerifyException(
                f"q.range: {len(lows)} low bounds but {len(highs)} high bounds"
            )
        if not lows:
            raise VerifyException("q.range: a per-channel range needs bounds")
        for i, (lo, hi) in enumerate(zip(lows, highs, strict=True)):
            where = "" if axis == -1 else f" (index {i})"
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise VerifyException(f"q.range: bounds must be finite{where}")
            if lo > hi:
                raise VerifyException(
                    f"q.range: low bound {fmt_float(lo)} is larger than high "
                    f"bound {fmt_float(hi)}{where}"
                )
        method = self.method.data
        if method and (not _METHOD_NAME.match(method) or method in _RESERVED):
            raise VerifyException(f"q.range: '{method}' is not a method name")
        if self.dynamic.data not in (0, 1):
            raise VerifyException("q.range: dynamic is 0 or 1")


CALIB_ATTRIBUTES = [RangeAttr, StatsAttr]
"""Registered in the `q` dialect (`qopt.qdialect.q.Q`)."""


# --------------------------------------------------------------------------- #
# Reading and writing ranges of SSA values
# --------------------------------------------------------------------------- #


def _arg_dicts(fn: func.FuncOp) -> list[dict[str, Attribute]]:
    n = len(fn.function_type.inputs.data)
    if fn.arg_attrs is None:
        return [{} for _ in range(n)]
    return [dict(d.data) for d in fn.arg_attrs.data]


def value_range(value: SSAValue) -> RangeAttr | None:
    """The `#q.range` recorded for `value` (an op result or a function
    argument), or None."""
    if isinstance(value, OpResult):
        op = value.op
        if len(op.results) == 1:
            attr = op.attributes.get(RANGE_ATTR)
        else:
            ranges = op.attributes.get(RANGES_ATTR)
            attr = (
                ranges.data[value.index]
                if isinstance(ranges, ArrayAttr) and value.index < len(ranges.data)
                else None
            )
        return attr if isinstance(attr, RangeAttr) else None
    if isinstance(value, BlockArgument):
        fn = value.block.parent_op()
        if isinstance(fn, func.FuncOp) and value.block is fn.body.blocks.first:
            attr = _arg_dicts(fn)[value.index].get(RANGE_ATTR)
            return attr if isinstance(attr, RangeAttr) else None
    return None


def set_value_range(value: SSAValue, attr: RangeAttr | None) -> None:
    """Record (or, with None, remove) the range of an op result or of an
    argument of a `func.func`."""
    if isinstance(value, OpResult):
        op = value.op
        if len(op.results) == 1:
            if attr is None:
                op.attributes.pop(RANGE_ATTR, None)
            else:
                op.attributes[RANGE_ATTR] = attr
            return
        old = op.attributes.get(RANGES_ATTR)
        entries: list[Attribute] = (
            list(old.data)
            if isinstance(old, ArrayAttr) and len(old.data) == len(op.results)
            else [UnitAttr()] * len(op.results)
        )
        entries[value.index] = UnitAttr() if attr is None else attr
        if all(isinstance(e, UnitAttr) for e in entries):
            op.attributes.pop(RANGES_ATTR, None)
        else:
            op.attributes[RANGES_ATTR] = ArrayAttr(entries)
        return
    if isinstance(value, BlockArgument):
        fn = value.block.parent_op()
        if isinstance(fn, func.FuncOp) and value.block is fn.body.blocks.first:
            dicts = _arg_dicts(fn)
            if attr is None:
                dicts[value.index].pop(RANGE_ATTR, None)
            else:
                dicts[value.index][RANGE_ATTR] = attr
            fn.arg_attrs = (
                ArrayAttr([DictionaryAttr(d) for d in dicts]) if any(dicts) else None
            )
            return
    raise ValueError("only op results and function arguments carry a q.range")
