"""RTL generators of the compute units: mvu, requant, threshold, lut, clamp, dwc.

Each builder turns one `dataflow` op into one `hw.module` with the unit ports
of `common.UnitBuilder.stream` and the step order and depth of the cycle model
(docs/dialects/dataflow.md), so that without stalls the unit emits every beat
exactly when the model says. Arithmetic is exact: every intermediate value
gets the width of its exact range, computed from the constant weights, biases
and parameters (not only from the types), and the result is sign- or
zero-extended to the stream's element bits.

- `mvu`: per step (nf, sf) PE x SIMD products of the centred input and
  weight levels (register), a balanced adder tree per PE row with one
  register per level, and an accumulator that adds the bias at sf = 0 and
  emits beat (v, nf) after sf = SF-1: depth 2 + ceil(log2 SIMD). A product
  lane whose weight is the same in every step is constant logic: a power of
  two is wiring, pot/spot/binary weights are shifts and adds/subtracts in
  the tree (a zero weight disappears), int weights a `comb.mul` by the
  constant. A lane whose weight changes reads it from a ROM indexed by the
  step (one word per step): pot/spot/binary weights (and powers of two) as
  a (shift choice, sign) field per canonical signed digit, a mux of shifted
  inputs and no multiplier; other int weights as magnitude and sign into
  an unsigned `comb.mul` of the operands' own widths (DSP inferable). Signs
  are XORs plus one count of negated products per row (-v = ~v + 1).
  `q.mixed` weights keep the most frequent format in the lanes and give
  each PE row side lanes for the others (`mixed_side_lanes`). Units with
  several neuron folds keep input beats in a ring (`_vector_buffer`).
- `requant`: (x - zx) * M, (+ r) >> s, + zo and clamp (depth 3; 2 without a
  multiplier when every M is 1). Per-channel parameters are constants per
  lane when each lane always sees the same channel, else ROMs indexed by the
  channel group. In a design whose matrix units have no integer weights
  (pot/spot/binary only) the multipliers are shifts and adds of the
  constant's signed digits, or for a ROM-held M a LUT array multiplier, so
  the design needs no DSP.
- `threshold`: comparators against the thresholds plus the input zero point
  (register), then the count (depth 2). `lut`: a ROM read (depth 1).
  `clamp`: two comparisons (depth 1).
- `dwc`: width conversion with depth 1: a held input beat emitted piece by
  piece (fewer output lanes) or pieces collected into the output beat
  (more); the lane counts must divide each other.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from xdsl.dialects import hw
from xdsl.dialects.builtin import i1
from xdsl.ir import Operation, SSAValue

from qopt.backends.hw import cost_model as cm
from qopt.backends.hw.units.common import (
    UnitBuilder,
    UnitError,
    clog2,
    csd_digits,
    width_of,
)
from qopt.qdialect import dataflow as df
from qopt.qdialect import q
from qopt.qdialect.qtypes import MixedType, QuantizedType


def signed_width(lo: int, hi: int) -> int:
    """Bits of a two's complement integer holding [lo, hi]."""
    return max(int(lo).bit_length(), int(hi).bit_length()) + 1


def element_signed(elem: QuantizedType) -> bool:
    """Whether a stream element's storage is two's complement (any level < 0)."""
    return elem.min_level < 0


def plain_levels(elem: QuantizedType, what: str) -> None:
    """Stream elements must be stored as their level (integer codes, no shift)."""
    for fmt in elem.level_sets():
        if fmt.kind.data != "int" or fmt.shift.data != 0:
            raise UnitError(f"{what}: {elem} is not stored as plain integer levels")


def stream_range(value: SSAValue) -> tuple[int, int]:
    """The levels a stream can carry: exact for a matrix unit's accumulator
    (behind wiring, converters, FIFOs and forks), else its type's range."""
    owner = value.owner
    while isinstance(owner, df.DwcOp | df.FifoOp | df.ReshapeOp | df.ForkOp):
        owner = owner.input.owner
    if isinstance(owner, df.MvuOp):
        lo, hi = mvu_row_ranges(owner)
        return int(lo.min()), int(hi.max())
    elem = df.stream_of(value).elem
    return elem.min_level, elem.max_level


# --------------------------------------------------------------------------- #
# Matrix-vector unit
# --------------------------------------------------------------------------- #


@dataclass
class Weights:
    """The centred weights of a matrix unit and the format kind of each."""

    centred: np.ndarray  # [MH, MW] int64: W - zw
    shifted: np.ndarray  # [MH, MW] bool: pot/spot/binary (no multiplier)
    bias: np.ndarray  # [MH] int64
    formats: np.ndarray | None  # [MH, MW] format index of a q.mixed weight


def mvu_weights(op: df.MvuOp) -> Weights:
    wtype = q.qtype_of(op.weight)
    w = df.constant_of(op.weight).levels()
    centred = w - wtype.zero_point_array(w.shape)
    kinds = np.array([f.kind.data != "int" for f in wtype.level_sets()])
    formats = None
    if isinstance(wtype, MixedType):
        formats = np.asarray(wtype.format_index(w.shape))
        shifted = kinds[formats]
    else:
        shifted = np.full(w.shape, kinds[0])
    mh = w.shape[0]
    bias = (
        df.constant_of(op.bias).levels().astype(np.int64)
        if op.bias is not None
        else np.zeros(mh, np.int64)
    )
    return Weights(centred.astype(np.int64), shifted, bias, formats)


def mvu_row_ranges(op: df.MvuOp) -> tuple[np.ndarray, np.ndarray]:
    """Exact [lo, hi] of every output row: sum of product extremes + bias."""
    xlo, xhi = q.centred_range(df.stream_of(op.input).elem)
    wt = mvu_weights(op)
    a, b = xlo * wt.centred, xhi * wt.centred
    lo = np.minimum(a, b).sum(axis=1) + wt.bias
    hi = np.maximum(a, b).sum(axis=1) + wt.bias
    return lo, hi


@dataclass
class Node:
    """A value of the adder tree: it stands for -value when `neg`, and a
    product leaf for -value when its 1-bit `flip` is set (a weight's sign
    read from the ROM)."""

    value: SSAValue
    lo: int
    hi: int
    neg: bool = False
    flip: SSAValue | None = None


def settle(b: UnitBuilder, node: Node | None, carries: list[SSAValue]) -> Node | None:
    """A leaf without `flip`: -v = ~v + 1, so the value becomes v XOR flip and
    the flip bit joins `carries` (added once per row, not once per lane)."""
    if node is None or node.flip is None:
        return node
    flip = node.flip
    if node.neg:  # -(+-v) = -+v
        flip = b.not_(flip)
    lo, hi = min(node.lo, -node.hi - 1), max(node.hi, -node.lo - 1)
    w = signed_width(lo, hi)
    mask = b.sext(flip, w) if w > 1 else flip
    carries.append(flip)
    return Node(b.xor(b.resize(node.value, w, True), mask), lo, hi)


@dataclass
class XLane:
    """A centred input lane in [lo, hi] and, once asked for, its magnitude."""

    value: SSAValue
    lo: int
    hi: int
    _magnitude: tuple[SSAValue, SSAValue | None] | None = None

    def magnitude(self, b: UnitBuilder) -> tuple[SSAValue, SSAValue | None]:
        """(|x| unsigned, the sign bit or None when x >= 0), built once."""
        if self._magnitude is None:
            bits = max(abs(self.lo), abs(self.hi)).bit_length() or 1
            if self.lo >= 0:
                self._magnitude = (b.resize(self.value, bits, False), None)
            else:
                w = width_of(self.value)
                sign = b.extract(self.value, w - 1, 1)
                mag = b.mux(sign, b.neg(self.value), self.value)
                self._magnitude = (b.resize(mag, bits, False), sign)
        return self._magnitude


def combine(b: UnitBuilder, a: Node | None, c: Node | None) -> Node | None:
    """a + c (either may be None: zero), subtracting instead of negating."""
    if a is None or c is None:
        return a or c
    if a.neg == c.neg:
        lo, hi = a.lo + c.lo, a.hi + c.hi
        w = signed_width(lo, hi)
        v = b.add(b.resize(a.value, w, True), b.resize(c.value, w, True))
        return Node(v, lo, hi, a.neg)
    p, n = (c, a) if a.neg else (a, c)
    lo, hi = p.lo - n.hi, p.hi - n.lo
    w = signed_width(lo, hi)
    return Node(b.sub(b.resize(p.value, w, True), b.resize(n.value, w, True)), lo, hi)


def shifted_term(b: UnitBuilder, x: SSAValue, lo: int, hi: int, k: int) -> Node:
    """x << k (x signed in [lo, hi]) as wiring."""
    tlo, thi = lo << k, hi << k
    w = signed_width(tlo, thi)
    return Node(b.shl_const(b.resize(x, w, True), k, w), tlo, thi)


def constant_product(
    b: UnitBuilder, x: SSAValue, xlo: int, xhi: int, w: int, shifted: bool
) -> Node | None:
    """x * w for a constant w: none for 0, shifts and adds for pot/spot/binary
    weights and powers of two, else a multiplier by the constant."""
    if w == 0:
        return None
    mag = abs(w)
    digits = csd_digits(mag)
    if shifted or len(digits) == 1:
        node = None
        for k, d in digits:
            term = shifted_term(b, x, xlo, xhi, k)
            term.neg = d < 0
            node = combine(b, node, term)
        assert node is not None
        if w < 0:
            node.neg = not node.neg
        return node
    lo, hi = q.product_range((xlo, xhi), (w, w))
    width = signed_width(lo, hi)
    return Node(b.mul_const(x, w, width, signed=True, dsp=True), lo, hi)


@dataclass
class Field:
    """A bit field of the weight ROM word."""

    low: int
    width: int


class WeightRom:
    """The varying weights of one step, packed into one ROM word per step."""

    def __init__(self, steps: int):
        self.steps = steps
        self.words = [0] * steps
        self.width = 0

    def field(self, values: np.ndarray, bits: int = 0) -> Field:
        """Append a field holding values[t] (non-negative) in step t's word,
        of `bits` bits (default: as many as the largest value needs)."""
        bits = bits or max(1, int(values.max()).bit_length())
        f = Field(self.width, bits)
        for t, v in enumerate(values):
            self.words[t] |= int(v) << f.low
        self.width += bits
        return f


def varying_product(
    b: UnitBuilder,
    source: Callable[[SSAValue], XLane],
    xlo: int,
    xhi: int,
    weights: np.ndarray,
    shifted: bool,
    rom: WeightRom,
    fields: list[Callable[[SSAValue], Node | None]],
) -> None:
    """Plan the product of a lane whose weight is `weights[t]` in step t and
    whose input (in [xlo, xhi]) `source` gives from the ROM word.

    Appends its ROM fields and, to `fields`, functions that build the
    product's terms from the ROM word.
    """
    digit_lists = [csd_digits(abs(int(v))) for v in weights]
    if not shifted and max(len(d) for d in digit_lists) > 1:
        # |x| * |w / 2^tz| on an unsigned multiplier of the operands' own
        # widths, the sign as a flip, the common factor 2^tz as wiring
        tz = min(d[0][0] for d in digit_lists if d)
        reduced = weights >> tz
        mags, negs = np.abs(reduced), reduced < 0
        fm = rom.field(mags)
        fs = rom.field(negs.astype(np.int64)) if negs.any() and not negs.all() else None
        top = max(abs(xlo), abs(xhi)) * int(mags.max())
        pu = max(1, top.bit_length())
        plo, phi = 0, top << tz

        def product(word: SSAValue) -> Node:
            xm, xs = source(word).magnitude(b)
            wm = b.extract(word, fm.low, fm.width)
            p = b.mul(b.resize(xm, pu, False), b.resize(wm, pu, False))
            w = signed_width(plo, phi)
            v = b.shl_const(b.resize(p, w, False), tz, w)
            flips = [
                f for f in (xs, None if fs is None else b.extract(word, fs.low, 1)) if f
            ]
            flip = (b.xor(*flips) if len(flips) > 1 else flips[0]) if flips else None
            return Node(v, plo, phi, bool(negs.all()), flip)

        fields.append(product)
        return
    # pot/spot/binary weights and powers of two: per canonical signed digit
    # a field choosing among the digit's shifts (and zero) and a sign field:
    # a mux of shifted copies of the input, no multiplier
    terms = max(len(d) for d in digit_lists)
    for j in range(terms):
        shifts = np.array(
            [d[j][0] if j < len(d) else -1 for d in digit_lists], dtype=np.int64
        )
        signs = np.array(
            [
                (d[j][1] < 0) != (v < 0) if j < len(d) else False
                for d, v in zip(digit_lists, weights, strict=True)
            ]
        )
        choices = sorted(set(shifts.tolist()))  # -1: a zero term
        if choices == [-1]:
            continue
        index = np.searchsorted(choices, shifts)
        fi = rom.field(index) if len(choices) > 1 else None
        live = signs[shifts >= 0]
        fs = (
            rom.field(signs.astype(np.int64)) if live.any() and not live.all() else None
        )
        always_neg = bool(live.all())

        def product(
            word: SSAValue,
            choices=choices,
            fi=fi,
            fs=fs,
            always_neg=always_neg,
        ) -> Node:
            tlo, thi = min(xlo << max(choices), 0), max(xhi << max(choices), 0)
            w = signed_width(tlo, thi)
            x = b.resize(source(word).value, w, True)
            options = [
                b.const(0, w) if k < 0 else b.shl_const(x, k, w) for k in choices
            ]
            v = (
                options[0]
                if fi is None
                else b.select(options, b.extract(word, fi.low, fi.width))
            )
            flip = None if fs is None else b.extract(word, fs.low, 1)
            return Node(v, tlo, thi, always_neg, flip)

        fields.append(product)


def _lane_sum(b: UnitBuilder, nodes: list[Node | None]) -> Node | None:
    out = None
    for n in nodes:
        out = combine(b, out, n)
    return out


@dataclass
class SideLane:
    """A product lane of one PE row for the non-bulk formats of a q.mixed
    weight: in step t it multiplies input lane columns[t] by weights[t]."""

    weights: np.ndarray
    columns: np.ndarray
    shifted: bool


def mixed_side_lanes(
    folded: np.ndarray, formats: np.ndarray, kinds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[list[SideLane]]]:
    """Split `folded` [PE, SIMD, steps] mixed weights into the bulk format
    (the most frequent; the other formats' weights become 0 there) and, per
    PE row and other format, as many side lanes as that row needs in its
    busiest step: the j-th weight of the format in step t goes to side lane
    j. So the many low-bit weights keep their narrow datapath and only the
    few high-bit ones pay for a wide multiplier (with an input mux when
    their column changes from step to step)."""
    pe, _, steps = folded.shape
    counts = np.bincount(formats.ravel())
    bulk = int(np.argmax(counts))
    bulk_weights = np.where(formats == bulk, folded, 0)
    bulk_kinds = np.where(formats == bulk, kinds, kinds[formats == bulk][0])
    lanes: list[list[SideLane]] = [[] for _ in range(pe)]
    for f in range(len(counts)):
        if f == bulk or not counts[f]:
            continue
        for p in range(pe):
            at = formats[p] == f  # [SIMD, steps]
            need = int(at.sum(axis=0).max())
            # column of the j-th weight of format f in each step
            order = np.argsort(~at, axis=0, kind="stable")  # [SIMD, steps]
            for j in range(need):
                cols = order[j]
                used = at[cols, np.arange(steps)]
                weights = np.where(used, folded[p, cols, np.arange(steps)], 0)
                # an unused step keeps the previous column (fewer ROM bits)
                cols = np.where(
                    used, cols, np.maximum.accumulate(np.where(used, cols, 0))
                )
                shifted = bool(kinds[formats == f][0])
                lanes[p].append(SideLane(weights, cols, shifted))
    return bulk_weights, bulk_kinds, lanes


def _lane_source(
    b: UnitBuilder,
    rom: WeightRom,
    xlanes: list[XLane],
    col: int | None,
    columns: np.ndarray | None,
) -> Callable[[SSAValue], XLane]:
    """The input of a product lane: a fixed input lane, or for a side lane
    whose column changes, a mux of the input lanes by a ROM field."""
    if col is not None:
        return lambda word: xlanes[col]
    assert columns is not None
    field = rom.field(columns)
    chosen: list[XLane] = []

    def source(word: SSAValue) -> XLane:
        if not chosen:
            pick = b.select(
                [xl.value for xl in xlanes], b.extract(word, field.low, field.width)
            )
            chosen.append(XLane(pick, xlanes[0].lo, xlanes[0].hi))
        return chosen[0]

    return source


def build_mvu(op: Operation, name: str) -> hw.HWModuleOp:
    assert isinstance(op, df.MvuOp)
    xs, ys = df.stream_of(op.input), df.stream_of(op.output)
    xtype = xs.elem
    plain_levels(xtype, f"mvu {name} input")
    pe, simd = op.folding
    mh, mw = op.weight.type.get_shape()
    nf, sf = mh // pe, mw // simd
    steps = nf * sf
    bx, bo = xs.bits, ys.bits
    xlo, xhi = q.centred_range(xtype)
    bxh = signed_width(xlo, xhi)
    wt = mvu_weights(op)
    # lane (p, s) in step (n, f) multiplies row n*PE+p, column f*SIMD+s
    folded = wt.centred.reshape(nf, pe, sf, simd).transpose(1, 3, 0, 2)
    folded = folded.reshape(pe, simd, steps)
    kinds = wt.shifted.reshape(nf, pe, sf, simd).transpose(1, 3, 0, 2)
    kinds = kinds.reshape(pe, simd, steps)

    b = UnitBuilder.stream(name, [simd * bx], [pe * bo])
    out_ready = b["out_ready"]
    fire = b.feedback(i1)
    sf_i, sf_last = b.counter(fire, sf, "sf")
    nf_en = b.and_(fire, sf_last)
    nf_i, nf_last = b.counter(nf_en, nf, "nf")
    nf_first = b.eq_const(nf_i, 0, "nf_first") if nf > 1 else b.const(1, 1)
    step_i, _ = b.counter(fire, steps, "step")

    # centred input lanes
    x_in = [
        b.sub(
            b.resize(v, bxh, element_signed(xtype)),
            b.const(xtype.zero_point, bxh),
        )
        if xtype.zero_point
        else b.resize(v, bxh, element_signed(xtype))
        for v in b.lanes(b["in_data"], simd, bx)
    ]
    if nf > 1:
        beat, step_valid, in_ready = _vector_buffer(
            b, op, b.pack(x_in, "x_centred"), fire, nf_first, sf_last, nf_last, sf
        )
        x = b.lanes(beat, simd, bxh, "xs")
    else:
        x, step_valid, in_ready = x_in, b["in_valid"], None

    # products: constant lanes as logic, varying lanes from the weight ROM;
    # with mixed weights the lanes carry the bulk format and side lanes the
    # others (see mixed_side_lanes)
    rom = WeightRom(steps)
    xlanes = [XLane(v, xlo, xhi) for v in x]
    side: list[list[SideLane]] = [[] for _ in range(pe)]
    if wt.formats is not None and steps > 1:
        fmt = wt.formats.reshape(nf, pe, sf, simd).transpose(1, 3, 0, 2)
        folded, kinds, side = mixed_side_lanes(
            folded, fmt.reshape(pe, simd, steps), kinds
        )
    plans: list[list[list[Callable[[SSAValue], Node | None]]]] = []
    consts: list[list[Node | None]] = []
    for p in range(pe):
        plans.append([])
        consts.append([])
        lanes = [(folded[p, s], bool(kinds[p, s].all()), None) for s in range(simd)]
        lanes += [(lane.weights, lane.shifted, lane.columns) for lane in side[p]]
        for k, (wv, shifted, columns) in enumerate(lanes):
            lane_fields: list[Callable[[SSAValue], Node | None]] = []
            if columns is None:
                col = k
            elif np.all(columns == columns[0]):
                col = int(columns[0])
            else:
                col = None
            if col is not None and np.all(wv == wv[0]):
                consts[p].append(
                    constant_product(b, x[col], xlo, xhi, int(wv[0]), shifted)
                )
            else:
                consts[p].append(None)
                source = _lane_source(b, rom, xlanes, col, columns)
                varying_product(b, source, xlo, xhi, wv, shifted, rom, lane_fields)
            plans[p].append(lane_fields)
    word = b.rom(rom.words, rom.width, step_i, "weights") if rom.width else None
    leaves: list[list[Node | None]] = []
    for p in range(pe):
        row: list[Node | None] = []
        carries: list[SSAValue] = []
        for k in range(len(plans[p])):
            parts = [consts[p][k]]
            if word is not None:
                parts += [settle(b, make(word), carries) for make in plans[p][k]]
            if k < simd:
                row.append(_lane_sum(b, parts))
            else:  # a side lane joins a lane of its row
                row[k % simd] = _lane_sum(b, [row[k % simd], *parts])
        if carries:
            # the +1 of every negated product, once per row
            cw = len(carries).bit_length()
            count = Node(b.add(*(b.zext(c, cw + 1) for c in carries)), 0, len(carries))
            at = next((i for i, n in enumerate(row) if n is not None), 0)
            row[at] = combine(b, row[at], count)
        leaves.append(row)

    # pipeline: products, adder tree levels, then the accumulator
    pipe = b.pipe(step_valid, "s")
    first = b.eq_const(sf_i, 0) if sf > 1 else b.const(1, 1)
    flags = [first, sf_last] + ([nf_i] if nf > 1 else [])

    def register(rows: list[list[Node | None]], flags: list[SSAValue]):
        flat = [n.value for row in rows for n in row if n is not None]
        regs = pipe.stage(flat + flags)
        it = iter(regs)
        out = [
            [None if n is None else Node(next(it), n.lo, n.hi, n.neg) for n in row]
            for row in rows
        ]
        return out, list(it)

    rows, flags = register(leaves, flags)
    for _ in range(math.ceil(math.log2(simd)) if simd > 1 else 0):
        rows = [
            [
                combine(b, row[i], row[i + 1] if i + 1 < len(row) else None)
                for i in range(0, len(row), 2)
            ]
            for row in rows
        ]
        rows, flags = register(rows, flags)
    partials = [row[0] for row in rows]
    first_r, last_r = flags[0], flags[1]
    nf_r = flags[2] if nf > 1 else None

    # accumulator: bias at sf = 0, result after sf = SF-1
    out_valid = b.feedback(i1)
    acc_en = b.or_(b.not_(out_valid), out_ready, name="acc_en")
    take = b.and_(acc_en, pipe.valid, name="take")
    row_lo, row_hi = mvu_row_ranges(op)
    outs = []
    for p in range(pe):
        bias = wt.bias.reshape(nf, pe)[:, p]
        node = partials[p]
        lo = min(0, int(bias.min())) + (min(0, node.lo) if node else 0) * sf
        hi = max(0, int(bias.max())) + (max(0, node.hi) if node else 0) * sf
        lo = min(lo, int(row_lo.reshape(nf, pe)[:, p].min()))
        hi = max(hi, int(row_hi.reshape(nf, pe)[:, p].max()))
        ba = min(signed_width(lo, hi), bo)
        acc = b.feedback(ba)
        if nf_r is not None and not np.all(bias == bias[0]):
            start = b.rom([int(v) for v in bias], ba, nf_r, f"bias{p}")
        else:
            start = b.const(int(bias[0]), ba)
        base = b.mux(first_r, start, acc)
        if node is None:
            total = base
        elif node.neg:
            total = b.sub(base, b.resize(node.value, ba, True))
        else:
            total = b.add(base, b.resize(node.value, ba, True))
        value = b.reg(b.mux(take, total, acc), None, f"acc{p}")
        b.close(acc, value)
        outs.append(b.resize(value, bo, True))
    valid_next = b.mux(acc_en, b.and_(pipe.valid, last_r), out_valid)
    valid_q = b.reg(valid_next, 0, "out_valid_q")
    b.close(out_valid, valid_q)
    pipe_ready = pipe.close(acc_en)
    b.close(fire, b.and_(step_valid, pipe_ready))
    if in_ready is None:
        in_ready = pipe_ready
    return b.output(
        in_ready=in_ready,
        out_data=b.pack(outs, "out_beat"),
        out_valid=valid_q,
    )


def _vector_buffer(
    b: UnitBuilder,
    op: df.MvuOp,
    beat: SSAValue,
    fire: SSAValue,
    nf_first: SSAValue,
    sf_last: SSAValue,
    nf_last: SSAValue,
    sf: int,
) -> tuple[SSAValue, SSAValue, SSAValue]:
    """The input side of a unit with several neuron folds: a ring of input
    beats that keeps the current vector for the folds nf > 0 and takes the
    next vectors' beats as they arrive, as many as the cycle model lets wait
    (so the producer is never stalled where the model says it is not). A
    step of fold 0 reads the beat straight from the port when none waits.

    Returns (the step's input beat, whether the step has its input, in_ready).
    """
    fn = op.parent_op()
    assert isinstance(fn, Operation)
    sched = cm.schedule(fn, frames=3)
    waiting = cm.fifo_depth(sched.times[op.input], sched.consumed[(op, 0)])
    size = sf + waiting + 1
    bits = clog2(size)
    cbits = clog2(size + 1)

    def inc(v: SSAValue) -> SSAValue:
        last = b.eq_const(v, size - 1)
        return b.mux(last, b.const(0, bits), b.add(v, b.const(1, bits)))

    occ, avail = b.feedback(cbits), b.feedback(cbits)
    wptr, rptr, base = b.feedback(bits), b.feedback(bits), b.feedback(bits)
    in_ready = b.icmp("ult", occ, b.const(size, cbits), "in_ready_q")
    in_fire = b.and_(b["in_valid"], in_ready, name="in_fire")
    have = b.icmp("ne", avail, b.const(0, cbits), "have")
    step_valid = b.mux(nf_first, b.or_(have, in_fire), b.const(1, 1), "step_valid")
    words = [
        b.reg_en(beat, b.and_(in_fire, b.eq_const(wptr, k)), None, f"xbuf{k}")
        for k in range(size)
    ]
    stored = b.select(words, rptr, "x_stored")
    bypass = b.and_(nf_first, b.not_(have))
    step_beat = b.mux(bypass, beat, stored, "x_step")
    done = b.and_(fire, sf_last, nf_last, name="vector_done")
    one = b.const(1, cbits)
    zero = b.const(0, cbits)
    occ_next = b.sub(
        b.add(occ, b.mux(in_fire, one, zero)), b.mux(done, b.const(sf, cbits), zero)
    )
    used = b.and_(fire, nf_first)
    avail_next = b.sub(b.add(avail, b.mux(in_fire, one, zero)), b.mux(used, one, zero))
    next_read = inc(rptr)
    rptr_step = b.mux(sf_last, b.mux(nf_last, next_read, base), next_read)
    wptr_next = b.mux(in_fire, inc(wptr), wptr)
    b.close(occ, b.reg(occ_next, 0, "occupied"))
    b.close(avail, b.reg(avail_next, 0, "waiting"))
    b.close(wptr, b.reg(wptr_next, 0, "wptr"))
    b.close(base, b.reg(b.mux(done, next_read, base), 0, "vector_base"))
    b.close(rptr, b.reg(b.mux(fire, rptr_step, rptr), 0, "rptr"))
    return step_beat, step_valid, in_ready


# --------------------------------------------------------------------------- #
# Elementwise units
# --------------------------------------------------------------------------- #


@dataclass
class Channels:
    """Which channel each lane sees: lane i of beat group g is channel g*L + i."""

    lanes: int
    groups: int

    @staticmethod
    def of(st: df.StreamType) -> Channels:
        lanes = st.lanes.data
        return Channels(lanes, st.shape[-1] // lanes)

    def per_lane(self, values: np.ndarray) -> np.ndarray:
        """[C] (or [1]: the same for every channel) -> [lanes, groups]."""
        values = np.broadcast_to(
            np.asarray(values, np.int64), (self.groups * self.lanes,)
        )
        return values.reshape(self.groups, self.lanes).T


def channel_zero_points(st: df.StreamType) -> np.ndarray:
    """The input zero point of each channel (innermost axis); UnitError if it
    varies along another axis."""
    zp = np.broadcast_to(st.elem.zero_point_array(st.shape), st.shape)
    zp = zp.reshape(-1, st.shape[-1])
    if np.any(zp != zp[0]):
        raise UnitError(
            f"zero points of {st.elem} vary along an axis other than the channels"
        )
    return zp[0].astype(np.int64)


class LaneParams:
    """Per-lane parameters: a constant when a lane always sees the same
    value, else a ROM read at the channel group."""

    def __init__(self, b: UnitBuilder, group: SSAValue):
        self.b = b
        self.group = group

    def get(self, values: np.ndarray, width: int, name: str) -> SSAValue:
        """values[g] for the current group g, in `width` bits."""
        if np.all(values == values[0]):
            return self.b.const(int(values[0]), width)
        return self.b.rom([int(v) for v in values], width, self.group, name)


def _elementwise_start(
    name: str, op: Operation
) -> tuple[UnitBuilder, df.StreamType, df.StreamType, SSAValue, SSAValue]:
    """Builder, streams, the group counter and the input fire signal
    (connected later through `fire`)."""
    xs, ys = df.stream_of(op.operands[0]), df.stream_of(op.results[0])
    b = UnitBuilder.stream(name, [xs.lanes.data * xs.bits], [ys.lanes.data * ys.bits])
    fire = b.feedback(i1)
    group, _ = b.counter(fire, Channels.of(xs).groups, "group")
    return b, xs, ys, group, fire


def _finish_elementwise(
    b: UnitBuilder, pipe, fire: SSAValue, outs: list[SSAValue]
) -> hw.HWModuleOp:
    ready = pipe.close(b["out_ready"])
    b.close(fire, b.and_(b["in_valid"], ready))
    return b.output(
        in_ready=ready, out_data=b.pack(outs, "out_beat"), out_valid=pipe.valid
    )


def build_requant(op: Operation, name: str) -> hw.HWModuleOp:
    assert isinstance(op, df.RequantOp)
    b, xs, ys, group, fire = _elementwise_start(name, op)
    plain_levels(xs.elem, f"requant {name} input")
    plain_levels(ys.elem, f"requant {name} result")
    ch = Channels.of(xs)
    mult, shift = op.channel_params()
    mult, shift = ch.per_lane(mult), ch.per_lane(shift)
    zx = ch.per_lane(channel_zero_points(xs))
    rnd = np.where(shift > 0, np.left_shift(1, np.maximum(shift - 1, 0)), 0)
    otype = ys.elem
    zo, qmin, qmax = otype.zero_point, otype.min_level, otype.max_level
    xlo, xhi = stream_range(op.input)
    dsp = not cm.multiplier_free(op)
    shift_only = op.shift_only
    params = LaneParams(b, group)
    x_signed = element_signed(xs.elem)
    lanes = b.lanes(b["in_data"], ch.lanes, xs.bits)
    pipe = b.pipe(b["in_valid"], "s")

    # per lane: ranges, then stage values
    stage1, stage2_in = [], []
    for i, x in enumerate(lanes):
        clo, chi = xlo - zx[i].max(), xhi - zx[i].min()
        cw = signed_width(clo, chi)
        xc = b.resize(x, cw, x_signed)
        zv = params.get(zx[i], cw, f"zx{i}")
        xc = b.sub(xc, zv) if np.any(zx[i]) else xc
        plo = min(int(min(clo * m, chi * m)) for m in mult[i])
        phi = max(int(max(clo * m, chi * m)) for m in mult[i])
        pw = signed_width(plo, phi + int(rnd[i].max()))
        if np.all(mult[i] == 1):
            p = b.resize(xc, pw, True)
        elif np.all(mult[i] == mult[i][0]):
            p = b.mul_const(xc, int(mult[i][0]), pw, signed=True, dsp=dsp)
        else:
            m = params.get(mult[i], int(mult[i].max()).bit_length(), f"m{i}")
            p = b.mul_var(xc, m, pw, signed=True, dsp=dsp)
        sw = max(1, int(shift[i].max()).bit_length())
        s_v = params.get(shift[i], sw, f"s{i}")
        r_v = params.get(rnd[i], pw, f"r{i}")
        tlo = min(
            (plo + int(r)) >> int(s) for r, s in zip(rnd[i], shift[i], strict=True)
        )
        thi = max(
            (phi + int(r)) >> int(s) for r, s in zip(rnd[i], shift[i], strict=True)
        )
        stage1.append((p, s_v, r_v, pw, sw, tlo, thi))
    if not shift_only:
        regs = pipe.stage([v for p, s_v, r_v, *_ in stage1 for v in (p, s_v, r_v)])
        stage1 = [
            (regs[3 * i], regs[3 * i + 1], regs[3 * i + 2], *rest)
            for i, (_, _, _, *rest) in enumerate(stage1)
        ]
    for p, s_v, r_v, pw, _, tlo, thi in stage1:
        summed = b.add(p, r_v) if not _is_zero(r_v) else p
        t = _shift_right(b, summed, s_v, pw)
        tw = signed_width(tlo, thi)
        stage2_in.append((b.resize(t, tw, True), tlo, thi))
    regs = pipe.stage([t for t, _, _ in stage2_in])
    outs = []
    for t, (_, tlo, thi) in zip(regs, stage2_in, strict=True):
        # clamp t to [qmin - zo, qmax - zo], then add zo
        lo, hi = qmin - zo, qmax - zo
        w = signed_width(min(tlo, lo, qmin), max(thi, hi, qmax))
        tv = b.resize(t, w, True)
        if tlo < lo:
            tv = b.mux(b.icmp("slt", tv, b.const(lo, w)), b.const(lo, w), tv)
        if thi > hi:
            tv = b.mux(b.icmp("sgt", tv, b.const(hi, w)), b.const(hi, w), tv)
        y = b.add(tv, b.const(zo, w)) if zo else tv
        outs.append(b.resize(y, ys.bits, True))
    outs = pipe.stage(outs)
    return _finish_elementwise(b, pipe, fire, outs)


def _is_zero(v: SSAValue) -> bool:
    owner = v.owner
    return isinstance(owner, hw.ConstantOp) and owner.value.value.data == 0


def _shift_right(b: UnitBuilder, value: SSAValue, amount: SSAValue, width: int):
    """value >> amount (arithmetic); a constant amount is wiring."""
    owner = amount.owner
    if not isinstance(owner, hw.ConstantOp):
        return b.shrs(value, b.resize(amount, width, signed=False))
    k = owner.value.value.data & ((1 << width_of(amount)) - 1)
    if k == 0:
        return value
    if k >= width:
        return b.sext(b.extract(value, width - 1, 1), width)
    return b.sext(b.extract(value, k, width - k), width)


def build_threshold(op: Operation, name: str) -> hw.HWModuleOp:
    assert isinstance(op, df.ThresholdOp)
    b, xs, ys, group, fire = _elementwise_start(name, op)
    plain_levels(xs.elem, f"threshold {name} input")
    plain_levels(ys.elem, f"threshold {name} result")
    ch = Channels.of(xs)
    table = df.constant_of(op.thresholds).levels().astype(np.int64)
    n = table.shape[1]
    # x - zx >= T  <=>  x >= T + zx
    zx = channel_zero_points(xs)
    rows = np.broadcast_to(table, (xs.shape[-1], n)) + zx[:, None]
    xlo, xhi = xs.elem.min_level, xs.elem.max_level
    # a threshold below the input's range is always met, above never
    rows = np.clip(rows, xlo, xhi + 1)
    w = signed_width(min(xlo, int(rows.min())), max(xhi, int(rows.max())))
    x_signed = element_signed(xs.elem)
    params = LaneParams(b, group)
    pipe = b.pipe(b["in_valid"], "s")
    counts = []
    for i, x in enumerate(b.lanes(b["in_data"], ch.lanes, xs.bits)):
        xv = b.resize(x, w, x_signed)
        lane_rows = rows.reshape(ch.groups, ch.lanes, n)[:, i, :]  # [groups, n]
        bits = []
        for j in range(n):
            column = lane_rows[:, j]
            if np.all(column == xlo):
                bits.append(b.const(1, 1))
            elif np.all(column == xhi + 1):
                bits.append(b.const(0, 1))
            else:
                t = params.get(column, w, f"t{i}_{j}")
                bits.append(b.icmp("sge", xv, t))
        counts.append(bits)
    regs = pipe.stage([v for bits in counts for v in bits])
    cw = max(1, n.bit_length())
    outs = []
    for i in range(ch.lanes):
        bits = regs[i * n : (i + 1) * n]
        total = b.add(*(b.zext(v, cw) for v in bits))
        ow = max(cw + 1, ys.bits + 1)
        y = b.add(b.resize(total, ow, False), b.const(ys.elem.min_level, ow))
        outs.append(b.resize(y, ys.bits, True))
    return _finish_elementwise(b, pipe, fire, pipe.stage(outs))


def build_lut(op: Operation, name: str) -> hw.HWModuleOp:
    assert isinstance(op, df.LutOp)
    b, xs, ys, _, fire = _elementwise_start(name, op)
    plain_levels(xs.elem, f"lut {name} input")
    table = op.table_levels()
    entries = len(table)
    lo = xs.elem.min_level
    ib = clog2(entries)
    pipe = b.pipe(b["in_valid"], "s")
    outs = []
    for x in b.lanes(b["in_data"], xs.lanes.data, xs.bits):
        index = b.sub(x, b.const(lo, xs.bits)) if lo else x
        index = b.resize(index, max(ib, 1), signed=False)
        outs.append(b.rom([int(v) for v in table], ys.bits, index))
    return _finish_elementwise(b, pipe, fire, pipe.stage(outs))


def build_clamp(op: Operation, name: str) -> hw.HWModuleOp:
    assert isinstance(op, df.ClampOp)
    b, xs, _, _, fire = _elementwise_start(name, op)
    plain_levels(xs.elem, f"clamp {name} input")
    lo, hi = op.min.value.data, op.max.value.data
    signed = element_signed(xs.elem)
    pipe = b.pipe(b["in_valid"], "s")
    outs = [
        b.clamp(x, lo, hi, signed)
        for x in b.lanes(b["in_data"], xs.lanes.data, xs.bits)
    ]
    return _finish_elementwise(b, pipe, fire, pipe.stage(outs))


# --------------------------------------------------------------------------- #
# Data width converter
# --------------------------------------------------------------------------- #


def build_dwc(op: Operation, name: str) -> hw.HWModuleOp:
    assert isinstance(op, df.DwcOp)
    xs, ys = df.stream_of(op.input), df.stream_of(op.output)
    lin, lout, bits = xs.lanes.data, ys.lanes.data, xs.bits
    b = UnitBuilder.stream(name, [lin * bits], [lout * bits])
    if lin % lout == 0:
        return _dwc_down(b, lin // lout, lout * bits)
    if lout % lin == 0:
        return _dwc_up(b, lout // lin, lin * bits)
    raise UnitError(
        f"dwc {name}: {lin} -> {lout} lanes (neither divides the other) is not "
        "supported; choose foldings whose lane counts divide each other"
    )


def _dwc_down(b: UnitBuilder, ratio: int, piece_bits: int) -> hw.HWModuleOp:
    """Emit a held input beat in `ratio` pieces, the first straight from the
    input (depth 1); the next beat is taken while the last piece leaves."""
    out_valid = b.feedback(i1)
    out_en = b.or_(b.not_(out_valid), b["out_ready"], name="out_en")
    busy = b.feedback(i1)
    ptr = b.feedback(clog2(ratio))
    ptr_last = b.eq_const(ptr, ratio - 1, "ptr_last")
    from_buf = b.and_(busy, out_en, name="from_buf")
    in_ready = b.or_(b.not_(busy), b.and_(from_buf, ptr_last), name="in_ready_q")
    in_fire = b.and_(b["in_valid"], in_ready, name="in_fire")
    from_in = b.and_(in_fire, b.not_(busy), out_en, name="from_in")
    held = b.reg_en(b["in_data"], in_fire, None, "held")
    pieces = b.lanes(held, ratio, piece_bits, "piece")
    piece = b.select(pieces, ptr, "next_piece")
    first = b.extract(b["in_data"], 0, piece_bits)
    load = b.or_(from_buf, from_in)
    data = b.reg_en(b.mux(from_buf, piece, first), load, None, "out_beat")
    valid_q = b.reg(b.mux(out_en, load, out_valid), 0, "out_valid_q")
    b.close(out_valid, valid_q)
    one = b.const(1, clog2(ratio))
    zero = b.const(0, clog2(ratio))
    step = b.add(ptr, one)
    # pointer: 1 after a piece straight from the input, 0 after a new held beat
    ptr_next = b.mux(
        from_in,
        one,
        b.mux(in_fire, zero, b.mux(from_buf, b.mux(ptr_last, zero, step), ptr)),
    )
    b.close(ptr, b.reg(ptr_next, 0, "ptr"))
    busy_next = b.mux(
        in_fire,
        b.const(1, 1),
        b.and_(busy, b.not_(b.and_(from_buf, ptr_last))),
    )
    b.close(busy, b.reg(busy_next, 0, "busy"))
    return b.output(in_ready=in_ready, out_data=data, out_valid=valid_q)


def _dwc_up(b: UnitBuilder, ratio: int, piece_bits: int) -> hw.HWModuleOp:
    """Collect `ratio` input beats into one output beat; the last one goes
    straight into the output register with the held ones (depth 1)."""
    out_valid = b.feedback(i1)
    out_en = b.or_(b.not_(out_valid), b["out_ready"], name="out_en")
    in_fire = b.feedback(i1)
    count, count_last = b.counter(in_fire, ratio, "count")
    in_ready = b.or_(b.not_(count_last), out_en, name="in_ready_q")
    b.close(in_fire, b.and_(b["in_valid"], in_ready))
    fire = b.and_(b["in_valid"], in_ready, name="in_fire")
    held = [
        b.reg_en(b["in_data"], b.and_(fire, b.eq_const(count, k)), None, f"held{k}")
        for k in range(ratio - 1)
    ]
    load = b.and_(fire, count_last, name="load")
    data = b.reg_en(b.pack([*held, b["in_data"]]), load, None, "out_beat")
    valid_q = b.reg(b.mux(out_en, load, out_valid), 0, "out_valid_q")
    b.close(out_valid, valid_q)
    return b.output(in_ready=in_ready, out_data=data, out_valid=valid_q)


BUILDERS: dict[type[Operation], Callable[[Operation, str], hw.HWModuleOp]] = {
    df.MvuOp: build_mvu,
    df.RequantOp: build_requant,
    df.ThresholdOp: build_threshold,
    df.LutOp: build_lut,
    df.ClampOp: build_clamp,
    df.DwcOp: build_dwc,
}
