"""Analytical cycle and resource model of `dataflow` designs.

Cycles. Every unit is a sequential engine that performs at most one *step*
per clock cycle, in a fixed order; a step may need an input beat (it cannot
start before that beat has arrived) and may emit an output beat `depth`
cycles after it starts. With T(k) the start of step k and R(k) the arrival
of the beat it needs (-inf if none):

    T(k) = max(T(k-1) + 1, R(k)),  T(-1) = -1
         = k + max(0, max_{j <= k} (R(j) - j))            (vectorised: cummax)

Streams carry at most one beat per cycle. The steps of each unit (per
frame; the same for every frame, frames back to back):

- input: one step per beat, beat b of frame f arrives at f*P + b; depth 0;
- mvu: V*NF*SF steps (v, nf, sf); step (v, 0, sf) needs input beat
  (v, sf); step (v, nf, SF-1) emits beat (v, nf); depth 2 + ceil(log2 SIMD);
- swu: one step per output beat, needing the last input beat of the
  window's last pixel; depth 2;
- pool: one step per output beat (y, x, g), needing input beat g of the
  window's last pixel; depth 2;
- dwc: one step per output beat j, needing input beat
  ((j+1)*Lout - 1) // Lin; depth 1;
- requant: one step per beat; depth 3 (2 if shift-only);
- threshold, lut, clamp, add, fifo: one step per beat (add: both
  operands' beats); depths 2, 1, 1, 1, 1;
- fork, reshape, output: one step per beat; depth 0.

(V vectors of MW elements per frame, NF = MH/PE, SF = MW/SIMD; "the last
pixel" of a window is its last tap inside the input in raster order.)
Inputs of swu, pool and dwc go to their buffers as they arrive; other units
consume a beat when the step that needs it starts. The model assumes that
no unit is stalled by its consumer (true for a chain: backpressure delays
only producers that are ahead), feeds frames every P = II cycles, and runs
two frames.

- II (cycles per frame in steady state) = the largest unit II, where a
  unit's II is max(steps, input beats, output beats) per frame;
- latency = the cycle after the last output beat of frame 0 (the first
  input beat enters at cycle 0); N inferences take latency + (N-1) * II.

An operand of a `dataflow.add` (the join of a residual block) needs a FIFO
as deep as the largest number of its beats that have arrived but not been
consumed at any time of this schedule. With that depth every unit between
the fork and the join runs as scheduled (nothing downstream of it waits for
the other branch), so the fork never stalls on the short branch while the
long branch waits for data: the pipeline cannot deadlock.

Resources (LUT, FF, DSP, BRAM18), per unit, from the folding and the bit
widths (formulas in `docs/dialects/dataflow.md`): multipliers by weight
format (uniform: LUT multiplier up to 32 partial-product bits, else DSPs;
pot: a shifter and a negation, no DSP; spot: K shifters and K-1 adders;
constant weights of a fully parallel unit: shift-adds by their digits;
mixed: every lane has the datapath of the most frequent format and a side
path of the other formats sized by the largest number of their weights in
one fold step), adder trees, accumulators, weight and parameter memories
(registers for one word, LUTRAM up to 64 words, BRAM18 beyond), line
buffers and partial results as register files (as the RTL builds them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import DictionaryAttr, IntegerAttr, i64
from xdsl.ir import Operation, SSAValue

from qopt.qdialect import dataflow as df
from qopt.qdialect import q
from qopt.qdialect.qtypes import LevelsAttr, MixedType

ESTIMATE_ATTR = "dataflow.estimate"
"""Discardable attribute of units and of the function: the model's numbers."""

NEVER = -(1 << 40)

DEPTH = {
    df.InputOp: 0,
    df.OutputOp: 0,
    df.ForkOp: 0,
    df.ReshapeOp: 0,
    df.FifoOp: 1,
    df.DwcOp: 1,
    df.SwuOp: 2,
    df.PoolOp: 2,
    df.ThresholdOp: 2,
    df.LutOp: 1,
    df.ClampOp: 1,
    df.AddOp: 1,
}
"""Pipeline depth (cycles from a step's start to its output beat)."""

LUT_MULT_MAX = 32
"""Largest product of operand bits built as a LUT multiplier (else DSP)."""

DSP_A, DSP_B = 27, 18
"""Operand bits of one DSP multiplier."""

LUTRAM_DEPTH = 64
"""Memories up to this depth are LUTRAM/ROM (64 x 1 bit per LUT)."""

BRAM_WIDTH, BRAM_DEPTH = 36, 512
"""One BRAM18 as 512 x 36."""

CONTROL_LUT = 16
"""Counters and handshake of a folded or windowed unit."""

DSP_LUT = 100
BRAM_LUT = 100
"""LUTs a DSP or a BRAM18 counts as when the tiling compares candidates."""


def depth_of(op: Operation) -> int:
    if isinstance(op, df.MvuOp):
        return 2 + math.ceil(math.log2(op.folding[1]))
    if isinstance(op, df.RequantOp):
        return 2 if op.shift_only else 3
    return DEPTH[type(op)]


# --------------------------------------------------------------------------- #
# Resources
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Resources:
    lut: int = 0
    ff: int = 0
    dsp: int = 0
    bram: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.lut + other.lut,
            self.ff + other.ff,
            self.dsp + other.dsp,
            self.bram + other.bram,
        )

    def scaled(self, n: int) -> Resources:
        return Resources(self.lut * n, self.ff * n, self.dsp * n, self.bram * n)

    @property
    def cost(self) -> int:
        """LUT-equivalents, used to compare candidate foldings."""
        return self.lut + DSP_LUT * self.dsp + BRAM_LUT * self.bram


def total(items: Iterable[Resources]) -> Resources:
    out = Resources()
    for r in items:
        out = out + r
    return out


def memory(depth: int, width: int) -> Resources:
    """A memory of `depth` words of `width` bits."""
    if depth <= 0 or width <= 0:
        return Resources()
    if depth == 1:
        return Resources(ff=width)
    if depth <= LUTRAM_DEPTH:
        return Resources(lut=width * math.ceil(depth / 64))
    return Resources(bram=math.ceil(width / BRAM_WIDTH) * math.ceil(depth / BRAM_DEPTH))


def register_file(words: int, width: int, reads: int = 1) -> Resources:
    """Storage written at run time as the RTL builds it: one register per
    word (xDSL has no memory op to infer LUTRAM or BRAM from), read through
    `reads` mux trees (a LUT6 selects among 4 inputs) and written by a
    decoded enable per word."""
    if words <= 0 or width <= 0:
        return Resources()
    if words == 1:
        return Resources(ff=width)
    mux = reads * width * math.ceil(words / 4)
    return Resources(lut=mux + words, ff=words * width)


def multiplier_free(op: Operation) -> bool:
    """Whether no matrix unit of op's design has integer (multiplied) weights."""
    block = op.parent_block()
    if block is None:
        return False
    for unit in block.ops:
        if isinstance(unit, df.MvuOp):
            formats = q.qtype_of(unit.weight).level_sets()
            if any(f.kind.data == "int" for f in formats):
                return False
    return True


def pool_reduces_in_place(op: df.PoolOp) -> bool:
    """Whether the pool's windows tile the input without overlap or padding
    (stride = kernel, no dilation, no padding, windows inside the input, one
    output beat per input beat of a pixel): then it keeps partial results
    (`stream_units.build_partial_pool`) instead of input rows."""
    a, b = df.stream_of(op.input), df.stream_of(op.output)
    kernel, strides, pads, dilations, _ = op.window
    (h, w, _), (oh, ow) = a.shape, b.shape[:2]
    return (
        tuple(strides) == tuple(kernel)
        and all(d == 1 for d in dilations)
        and all(p == 0 for p in pads)
        and oh * kernel[0] <= h
        and ow * kernel[1] <= w
        and a.lanes.data == b.lanes.data
    )


def value_bits(lo: int, hi: int) -> int:
    """Bits of the values in [lo, hi] (a sign bit only if lo < 0)."""
    return q.signed_width(lo, hi) - (0 if lo < 0 else 1) if hi > 0 or lo < 0 else 1


def multiplier(fmt: LevelsAttr, xrange: tuple[int, int]) -> Resources:
    """One lane's product of an input value and a weight of format `fmt`."""
    bx = value_bits(*xrange)
    pb = q.signed_width(*q.product_range(xrange, (fmt.min_level, fmt.max_level)))
    kind = fmt.kind.data
    if kind == "int":  # a level shift (`<< s`, q.mixed) is wiring
        bw = value_bits(fmt.low.data, fmt.high.data)
        if bx * bw <= LUT_MULT_MAX:
            return Resources(lut=bx * bw)
        big, small = max(bx, bw), min(bx, bw)
        return Resources(dsp=math.ceil(big / DSP_A) * math.ceil(small / DSP_B))
    exponents = fmt.high.data - fmt.low.data + 1
    shifter = pb * (math.ceil((exponents + 1) / 4) + fmt.signed.data)
    if kind == "pot":
        return Resources(lut=shifter)
    terms = fmt.terms.data
    return Resources(lut=terms * shifter + (terms - 1) * pb)


def _product_bits(xrange: tuple[int, int], formats: Iterable[LevelsAttr]) -> int:
    return max(
        q.signed_width(*q.product_range(xrange, (f.min_level, f.max_level)))
        for f in formats
    )


def mvu_shape(op: df.MvuOp) -> tuple[int, int, int]:
    """(V vectors per frame, MH, MW)."""
    mh, mw = op.weight.type.get_shape()
    return df.stream_of(op.input).numel // mw, mh, mw


def mvu_ii(op: df.MvuOp, pe: int, simd: int) -> int:
    v, mh, mw = mvu_shape(op)
    return v * (mh // pe) * (mw // simd)


def side_paths(op: df.MvuOp, pe: int, simd: int) -> dict[int, int]:
    """For a q.mixed weight: lanes of each non-bulk format (the most weights
    of that format in one fold step); the bulk format (most frequent) gets
    every lane."""
    wtype = q.qtype_of(op.weight)
    assert isinstance(wtype, MixedType)
    _, mh, mw = mvu_shape(op)
    index = wtype.format_index((mh, mw)).reshape(mh // pe, pe, mw // simd, simd)
    counts = np.bincount(index.ravel(), minlength=len(wtype.formats.data))
    bulk = int(np.argmax(counts))
    return {
        f: int((index == f).sum(axis=(1, 3)).max())
        for f in range(len(counts))
        if f != bulk and counts[f]
    } | {-1: bulk}


def constant_mvu_resources(
    op: df.MvuOp, xr: tuple[int, int], pb: int, ba: int, bx: int
) -> Resources:
    """A fully parallel matrix-vector unit (PE = MH, SIMD = MW): every weight
    is a constant in logic, as the RTL builds it (units/compute.py,
    `constant_product`): a zero weight is nothing, a power of two (or a pot
    weight) is wiring, a pot/spot weight of K terms is K-1 adders of pb bits;
    an integer weight of K > 1 canonical signed digits is a multiplier by a
    constant, which takes the DSPs of `multiplier` where that gives the
    format DSPs, else K-1 adders of pb bits. Each row adds its non-zero
    products in a tree of (products - 1) adders. No weight or bias memory."""
    # (the units package imports this module: import its digits lazily)
    from qopt.backends.hw.units.common import csd_digits

    wtype = q.qtype_of(op.weight)
    w = df.constant_of(op.weight).levels().astype(np.int64)
    centred = w - wtype.zero_point_array(w.shape)
    values, inverse = np.unique(np.abs(centred), return_inverse=True)
    digits = np.array([len(csd_digits(int(v))) for v in values])[inverse.ravel()]
    digits = digits.reshape(centred.shape)
    formats = wtype.level_sets()
    index = (
        np.asarray(wtype.format_index(w.shape))
        if isinstance(wtype, MixedType)
        else np.zeros(w.shape, np.int64)
    )
    dsp_of = np.array(
        [multiplier(f, xr).dsp if f.kind.data == "int" else 0 for f in formats]
    )[index]
    multiplied = (dsp_of > 0) & (digits > 1)
    terms = int(np.where(multiplied, 0, np.maximum(digits - 1, 0)).sum())
    products = (centred != 0).sum(axis=1)
    tree = int(np.maximum(products - 1, 0).sum())
    width = pb + min(2, math.ceil(math.log2(max(2, int(products.max())))))
    mh, mw = centred.shape
    return Resources(
        lut=terms * pb + tree * width + mh * ba + CONTROL_LUT,
        ff=mw * bx + int(products.sum()) * pb + 2 * mh * ba,
        dsp=int(dsp_of[multiplied].sum()),
    )


def mvu_resources(op: df.MvuOp, pe: int, simd: int) -> Resources:
    xtype = df.stream_of(op.input).elem
    wtype = q.qtype_of(op.weight)
    _, mh, mw = mvu_shape(op)
    nf, sf = mh // pe, mw // simd
    xr = q.centred_range(xtype)
    bx = xtype.element_bits
    ba = df.stream_of(op.output).bits
    formats = wtype.level_sets()
    pb = _product_bits(xr, formats)
    if nf == sf == 1:
        return constant_mvu_resources(op, xr, pb, ba, bx)
    lanes = pe * simd
    if isinstance(wtype, MixedType):
        side = side_paths(op, pe, simd)
        bulk = side.pop(-1)
        mult = multiplier(formats[bulk], xr).scaled(lanes)
        for f, n in side.items():
            mult = mult + multiplier(formats[f], xr).scaled(n)
            mult = mult + Resources(lut=n * pb)  # its input to the adder tree
    else:
        mult = multiplier(formats[0], xr).scaled(lanes)
    tree = Resources(lut=pe * (simd - 1) * (pb + math.ceil(math.log2(simd))))
    acc = Resources(lut=pe * ba, ff=2 * pe * ba)
    regs = Resources(ff=simd * bx + lanes * pb)
    words = nf * sf
    weights = memory(words, math.ceil(wtype.storage_bits((mh, mw)) / words))
    inbuf = register_file(sf, simd * bx) if nf > 1 else Resources()
    bias = Resources()
    if op.bias is not None:
        bias = memory(nf, pe * q.qtype_of(op.bias).element_bits)
    ctrl = Resources(lut=CONTROL_LUT)
    return total((mult, tree, acc, regs, weights, inbuf, bias, ctrl))


def swu_ii(op: df.SwuOp, lanes_in: int, lanes_out: int) -> int:
    a, b = df.stream_of(op.input), df.stream_of(op.output)
    return max(a.numel // lanes_in, b.numel // lanes_out)


def swu_resources(op: df.SwuOp, lanes_in: int, lanes_out: int) -> Resources:
    a = df.stream_of(op.input)
    h, w, c = a.shape
    kernel, strides, _, dilations = op.window
    rows = min(h, (kernel[0] - 1) * dilations[0] + 1 + strides[0])
    bx = a.bits
    ports = max(1, lanes_out // c)
    buf = register_file(rows * w, c * bx, reads=ports)
    groups = Resources(lut=lanes_out * bx * math.ceil(max(1, c // lanes_out) / 4))
    return total((buf, groups, Resources(lut=CONTROL_LUT, ff=lanes_out * bx)))


def unit_ii(op: Operation) -> int:
    """Cycles per frame of a unit in steady state (unstalled)."""
    if isinstance(op, df.MvuOp):
        return mvu_ii(op, *op.folding)
    if isinstance(op, df.SwuOp):
        a, b = df.stream_of(op.input), df.stream_of(op.output)
        return swu_ii(op, a.lanes.data, b.lanes.data)
    beats = [
        df.stream_of(v).beats for v in op.operands if isinstance(v.type, df.StreamType)
    ]
    beats += [
        df.stream_of(r).beats for r in op.results if isinstance(r.type, df.StreamType)
    ]
    return max(beats)


def unit_resources(op: Operation) -> Resources:
    """LUT, FF, DSP and BRAM18 of one unit with its folding."""
    if isinstance(op, df.MvuOp):
        return mvu_resources(op, *op.folding)
    if isinstance(op, df.SwuOp):
        a, b = df.stream_of(op.input), df.stream_of(op.output)
        return swu_resources(op, a.lanes.data, b.lanes.data)
    if isinstance(op, df.InputOp | df.OutputOp | df.ReshapeOp):
        return Resources()
    st = df.stream_of(op.operands[0])
    lanes, bx = st.lanes.data, st.bits
    out = df.stream_of(op.results[0])
    bo = out.bits
    channels = st.shape[-1]
    if isinstance(op, df.ForkOp):
        return Resources(lut=len(op.outputs))
    if isinstance(op, df.FifoOp):
        width, d = lanes * bx, op.depth.value.data
        return register_file(d, width) + Resources(lut=CONTROL_LUT // 2)
    if isinstance(op, df.DwcOp):
        hi = max(lanes, out.lanes.data)
        return Resources(lut=hi * bx + CONTROL_LUT, ff=(lanes + out.lanes.data) * bx)
    if isinstance(op, df.RequantOp):
        mult, _ = op.channel_params()
        bm = int(mult.max()).bit_length()
        per_lane = Resources(lut=bx + 2 * bo, ff=bx + bo)
        if not op.shift_only:
            # a design without multiplied weights keeps its requantizers
            # out of DSPs too (LUT array multipliers)
            per_lane = per_lane + (
                Resources(lut=bx * bm)
                if bx * bm <= LUT_MULT_MAX or multiplier_free(op)
                else Resources(
                    dsp=math.ceil(max(bx, bm) / DSP_A) * math.ceil(min(bx, bm) / DSP_B)
                )
            )
        params = Resources()
        if len(mult) > 1:
            params = memory(channels // lanes, lanes * (bm + 6))
        return per_lane.scaled(lanes) + params
    if isinstance(op, df.ThresholdOp):
        rows, n = op.thresholds.type.get_shape()
        bt = q.qtype_of(op.thresholds).element_bits
        per_lane = Resources(lut=n * (math.ceil(bt / 2) + 1), ff=bo)
        table = memory(channels // lanes, lanes * n * bt) if rows > 1 else Resources()
        return per_lane.scaled(lanes) + table
    if isinstance(op, df.LutOp):
        entries = st.elem.max_level - st.elem.min_level + 1
        return memory(entries, bo).scaled(lanes) + Resources(ff=lanes * bo)
    if isinstance(op, df.ClampOp):
        return Resources(lut=lanes * bx, ff=lanes * bx)
    if isinstance(op, df.AddOp):
        return Resources(lut=lanes * bo, ff=lanes * bo)
    if isinstance(op, df.PoolOp):
        kernel, strides, _, dilations, _ = op.window
        ow = out.shape[1]
        regs = Resources(lut=CONTROL_LUT, ff=lanes * (bx + bo))
        if pool_reduces_in_place(op):  # OW x C partial results
            acc = bx if op.kind.data == "max" else bo
            buf = register_file(ow * channels // lanes, lanes * acc)
            return total((buf, regs, Resources(lut=lanes * acc)))
        h, w = st.shape[:2]
        rows = min(h, (kernel[0] - 1) * dilations[0] + 1 + strides[0])
        taps = kernel[0] * kernel[1]
        buf = register_file(rows * w, channels * bx, reads=taps)
        return total((buf, regs, Resources(lut=taps * lanes * bo)))
    raise TypeError(f"no resource model for {op.name}")


# --------------------------------------------------------------------------- #
# Cycles
# --------------------------------------------------------------------------- #


def engine(need: np.ndarray) -> np.ndarray:
    """Start cycles of sequential steps: T(k) = max(T(k-1) + 1, need(k))."""
    k = np.arange(len(need), dtype=np.int64)
    return k + np.maximum(0, np.maximum.accumulate(need - k))


def last_pixels(
    size: tuple[int, int],
    out: tuple[int, int],
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    pads: tuple[int, ...],
    dilations: tuple[int, ...],
) -> np.ndarray:
    """Raster index of the last input pixel of every window, in window order."""
    last = []
    for i in range(2):
        start = np.arange(out[i]) * strides[i] - pads[i]
        taps = np.minimum(kernel[i] - 1, (size[i] - 1 - start) // dilations[i])
        last.append(np.clip(start + taps * dilations[i], 0, size[i] - 1))
    return (last[0][:, None] * size[1] + last[1][None, :]).ravel()


@dataclass
class Schedule:
    """Beat times of every stream over `frames` frames, and when each unit
    input consumes its beats."""

    period: int
    frames: int
    times: dict[SSAValue, np.ndarray] = field(default_factory=dict)
    consumed: dict[tuple[Operation, int], np.ndarray] = field(default_factory=dict)


def _frames_index(frames: int, per_frame: int, local: np.ndarray) -> np.ndarray:
    """Global indices of per-frame `local` indices over `frames` frames."""
    return (np.arange(frames)[:, None] * per_frame + local[None, :]).ravel()


def _step(op: Operation, sched: Schedule) -> None:
    """Times of op's output beats from its inputs' (see the module doc)."""
    f = sched.frames
    t = sched.times
    d = depth_of(op)
    ins = [t[v] for v in op.operands if isinstance(v.type, df.StreamType)]
    if isinstance(op, df.InputOp):
        beats = df.stream_of(op.output).beats
        t[op.output] = _frames_index(f, sched.period, np.arange(beats))
        return
    x = ins[0]
    if isinstance(op, df.MvuOp):
        v, mh, mw = mvu_shape(op)
        pe, simd = op.folding
        nf, sf = mh // pe, mw // simd
        need = np.full((f * v, nf, sf), NEVER, dtype=np.int64)
        need[:, 0, :] = x.reshape(f * v, sf)
        start = engine(need.ravel()).reshape(f * v, nf, sf)
        t[op.output] = start[:, :, -1].ravel() + d
        sched.consumed[(op, 0)] = start[:, 0, :].ravel()
        return
    if isinstance(op, df.SwuOp | df.PoolOp):
        a, b = df.stream_of(op.input), df.stream_of(op.output)
        h, w, c = a.shape
        oh, ow = b.shape[:2]
        kernel, strides, pads, dilations = op.window[:4]
        pix = last_pixels((h, w), (oh, ow), kernel, strides, pads, dilations)
        groups = c // a.lanes.data
        if isinstance(op, df.SwuOp):
            per_window = b.shape[2] // b.lanes.data
            local = np.repeat(pix * groups + groups - 1, per_window)
        else:
            local = (pix[:, None] * groups + np.arange(groups)[None, :]).ravel()
        t[op.output] = engine(x[_frames_index(f, a.beats, local)]) + d
        sched.consumed[(op, 0)] = x
        return
    if isinstance(op, df.DwcOp):
        lin, lout = (
            df.stream_of(op.input).lanes.data,
            df.stream_of(op.output).lanes.data,
        )
        j = np.arange(f * df.stream_of(op.output).beats)
        t[op.output] = engine(x[((j + 1) * lout - 1) // lin]) + d
        sched.consumed[(op, 0)] = x
        return
    if isinstance(op, df.ForkOp):
        for r in op.outputs:
            t[r] = x
        sched.consumed[(op, 0)] = x
        return
    if isinstance(op, df.OutputOp):
        sched.consumed[(op, 0)] = x
        return
    need = np.maximum.reduce(ins) if len(ins) > 1 else x
    start = engine(need)
    t[op.results[0]] = start + d
    for i in range(len(ins)):
        sched.consumed[(op, i)] = start


def units_of(fn: func.FuncOp) -> list[Operation]:
    return [op for op in fn.body.block.ops if isinstance(op, df.DataflowOp)]


def schedule(fn: func.FuncOp, period: int | None = None, frames: int = 2) -> Schedule:
    """The beat-level schedule of the design in `fn` (frames every `period`
    cycles, default: the design's II)."""
    units = units_of(fn)
    if period is None:
        period = max((unit_ii(op) for op in units), default=1)
    sched = Schedule(period, frames)
    for op in units:
        _step(op, sched)
    return sched


def fifo_depth(arrive: np.ndarray, consume: np.ndarray) -> int:
    """Most beats arrived and not yet consumed at any time (0: none wait)."""
    done = np.searchsorted(np.sort(consume), arrive, side="right")
    return int(max(0, (np.arange(1, len(arrive) + 1) - done).max(initial=0)))


def join_depths(
    fn: func.FuncOp, sched: Schedule | None = None
) -> dict[tuple[Operation, int], int]:
    """FIFO depth each operand of a join (`dataflow.add`) needs: its beats
    wait there until the other operand's arrive."""
    sched = sched or schedule(fn)
    return {
        (op, i): fifo_depth(sched.times[v], sched.consumed[(op, i)])
        for op in units_of(fn)
        if isinstance(op, df.AddOp)
        for i, v in enumerate(op.operands)
    }


# --------------------------------------------------------------------------- #
# Estimates and report
# --------------------------------------------------------------------------- #


@dataclass
class UnitEstimate:
    op: Operation
    name: str
    fold: str
    ii: int
    first: int
    """Cycles from the unit's first input beat to its first output beat (frame 0)."""
    res: Resources


@dataclass
class Estimate:
    units: list[UnitEstimate]
    ii: int
    latency: int
    res: Resources

    def cycles(self, inferences: int) -> int:
        """Cycles for `inferences` back-to-back inputs."""
        return self.latency + (inferences - 1) * self.ii


def fold_of(op: Operation) -> str:
    if isinstance(op, df.MvuOp):
        pe, simd = op.folding
        return f"PE {pe} x SIMD {simd}"
    if isinstance(op, df.SwuOp | df.DwcOp):
        a, b = df.stream_of(op.input), df.stream_of(op.output)
        return f"lanes {a.lanes.data}->{b.lanes.data}"
    if isinstance(op, df.FifoOp):
        return f"depth {op.depth.value.data}"
    streams = [
        v for v in (*op.operands, *op.results) if isinstance(v.type, df.StreamType)
    ]
    return f"lanes {df.stream_of(streams[0]).lanes.data}"


def unit_name(op: Operation, index: int) -> str:
    hint = op.results[0].name_hint if op.results else None
    return f"%{hint}" if hint else f"{op.name.split('.')[1]}#{index}"


def estimate(fn: func.FuncOp) -> Estimate:
    """Cycles and resources of the design in `fn`."""
    sched = schedule(fn)
    rows = []
    latency = 0
    for i, op in enumerate(units_of(fn)):
        ins = [sched.times[v] for v in op.operands if v in sched.times]
        outs = [sched.times[r] for r in op.results if r in sched.times]
        start = min(int(x[0]) for x in ins) if ins else 0
        if isinstance(op, df.OutputOp):
            end = int(ins[0][df.stream_of(op.input).beats - 1])
            latency = max(latency, end + 1)
            first = 0
        else:
            first = int(outs[0][0]) - start
        rows.append(
            UnitEstimate(
                op,
                unit_name(op, i),
                fold_of(op),
                unit_ii(op),
                first,
                unit_resources(op),
            )
        )
    res = total(r.res for r in rows)
    return Estimate(rows, sched.period, latency, res)


def attach(fn: func.FuncOp, est: Estimate) -> None:
    """Record the estimates as `dataflow.estimate` attributes."""

    def dictionary(values: dict[str, int]) -> DictionaryAttr:
        return DictionaryAttr({k: IntegerAttr(int(v), i64) for k, v in values.items()})

    for u in est.units:
        r = u.res
        u.op.attributes[ESTIMATE_ATTR] = dictionary(
            {
                "ii": u.ii,
                "first": u.first,
                "lut": r.lut,
                "ff": r.ff,
                "dsp": r.dsp,
                "bram": r.bram,
            }
        )
    r = est.res
    fn.attributes[ESTIMATE_ATTR] = dictionary(
        {
            "ii": est.ii,
            "latency": est.latency,
            "lut": r.lut,
            "ff": r.ff,
            "dsp": r.dsp,
            "bram": r.bram,
        }
    )


COLUMNS = (
    ("unit", 32),
    ("op", 10),
    ("folding", 18),
    ("II", 6),
    ("first", 6),
    ("LUT", 7),
    ("FF", 7),
    ("DSP", 4),
    ("BRAM", 4),
)


def _row(cells: Iterable[object]) -> str:
    out = []
    for (_, width), cell in zip(COLUMNS, cells, strict=True):
        text = str(cell)[:width]
        out.append(text.rjust(width) if isinstance(cell, int) else text.ljust(width))
    return " ".join(out).rstrip()


def report(est: Estimate, title: str = "") -> str:
    """A per-unit table of the estimates."""
    head = _row(name for name, _ in COLUMNS)
    rule = "-" * len(head)
    lines = [title] if title else []
    lines += [head, rule]
    for u in est.units:
        r = u.res
        kind = u.op.name.split(".")[1]
        lines.append(
            _row((u.name, kind, u.fold, u.ii, u.first, r.lut, r.ff, r.dsp, r.bram))
        )
    r = est.res
    lines += [
        rule,
        _row(("total", "", "", est.ii, "", r.lut, r.ff, r.dsp, r.bram)),
        f"II {est.ii} cycles per inference in steady state, latency {est.latency} "
        f"cycles; {est.cycles(1000)} cycles for 1000 inferences",
    ]
    return "\n".join(lines)


__all__ = [
    "ESTIMATE_ATTR",
    "Estimate",
    "Resources",
    "attach",
    "estimate",
    "join_depths",
    "report",
    "schedule",
]
