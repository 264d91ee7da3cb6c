"""RTL generators of the stream units: swu, pool, fifo, fork and add.

Each builder turns one `dataflow` op into one `hw.module` with the unit
ports of `common.UnitBuilder.stream` and the timing of the cycle model
(`docs/dialects/dataflow.md`): without stalls an output beat leaves exactly
`depth` cycles after the step that makes it starts, so measured cycles equal
the model; under arbitrary stalls on every side (AXI-Stream: valid never
waits for ready, data held while stalled) nothing is lost, duplicated or
deadlocked. Ready signals are combinational from the consumer's ready (the
ready chain of `common.UnitBuilder.pipeline`); valid and data come from
registers, except in the fork (depth 0), whose outputs are its input.

- **fifo** (depth 1): D registers in a ring with a read and a write pointer
  and a count; `out_valid = count != 0`, so a beat taken at cycle t leaves
  from cycle t+1 on. `in_ready = count < D | out_ready`: the FIFO takes a
  beat whenever at most D beats are stored at the end of the cycle, which
  is the occupancy `cost_model.fifo_depth` counts (beats arrived and not yet
  consumed), so a FIFO of the depth the passes compute never stalls its
  producer in the model's schedule. D = 1 is one register stage.
- **fork** (depth 0): every result carries the input's data; result i is
  valid while the input is valid and consumer i has not taken the beat yet
  (a `done` bit per result). The input beat is taken when every consumer has
  taken it or takes it now (`in_ready = AND_i (done_i | out<i>_ready)`); the
  `done` bits clear then. Consumers may take the beat in different cycles,
  each one exactly once; without stalls the beat passes in the same cycle.
- **add** (depth 1): a join (`in0_ready = ready & in1_valid`, `in1_ready =
  ready & in0_valid`: both operands' beat k are taken together) and one
  register stage computing `((a - za) << ka) + ((b - zb) << kb)` per lane
  modulo 2^bo (exact: the verifier checks that the result fits).
- **swu** and **pool** (depth 2): a line buffer and a step engine. The
  buffer holds `rows` input rows in a ring (input row g of the stream in
  slot g mod rows, one register per input beat). Steps run in the model's
  order, one output beat each: (y, x, beat) for swu, (y, x, channel group)
  for pool. A step starts when the input beat it needs has arrived (the
  beat arriving in the same cycle counts, as T = max(T-1 + 1, R)) and the
  pipeline can take it; stage 1 registers the buffer addresses of its taps
  and their padding flags, stage 2 reads the buffer and registers the
  output beat (swu: the taps' channels, the input's zero point in padding;
  pool: the max of the levels, padding never wins, or the sum of x - zx,
  padding 0). Input beats go to the buffer whenever a slot is free; rows are
  released when the last step of the last output row that needs them reads
  the buffer. The buffer size comes from the cycle model: the most rows
  occupied at once in the model's schedule of the enclosing function (the
  unit's input beats at the times `cost_model.schedule` gives; standalone:
  frames every unit II cycles), at least the documented
  `min(H, (kh-1)·dh + 1 + sh)` rows. So the unit takes every input beat when
  the model delivers it (the model assumes no unit is stalled by its
  consumer, and the FIFO depths at joins rely on it). The documented size
  alone can stall the producer: a swu whose output is much slower than its
  input receives the whole frame before its first row is free.
- **pool whose windows tile the input** (stride = kernel, no dilation or
  padding; `cost_model.pool_reduces_in_place`; depth 2): no line buffer but
  OW x C partial results of the current output row (`build_partial_pool`):
  each input beat is folded into its window's partial result as it arrives,
  and the beat of the window's last pixel sends the result out, 2 cycles
  later as in the model.

The line buffer, partial result and FIFO storage are registers read
through `hw.array_get` (mux trees): xDSL 0.74 has no memory op
(`seq.firmem`, `seq.hlmem`), so nothing here is inferred as LUTRAM or BRAM
by synthesis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects import func, hw
from xdsl.dialects.hw import HWModuleOp
from xdsl.ir import Operation, SSAValue

from qopt.backends.hw import cost_model as cm
from qopt.backends.hw.units.common import UnitBuilder, clog2, width_of
from qopt.qdialect import dataflow as df
from qopt.qdialect.qtypes import QuantizedType

SCHEDULE_FRAMES = 4
"""Frames of the model's schedule that size a line buffer (steady state from
the second frame on)."""


def _is_signed(elem: QuantizedType) -> bool:
    """Whether levels of `elem` are stored as two's complement."""
    return bool(elem.levels_attr.is_signed)


def _bits(lo: int, hi: int) -> int:
    """Signed bits that hold every integer in [lo, hi]."""
    return max(abs(lo) - 1 if lo < 0 else 0, hi).bit_length() + 1


# --------------------------------------------------------------------------- #
# Small hardware helpers
# --------------------------------------------------------------------------- #


def _array(u: UnitBuilder, values: Sequence[SSAValue]) -> SSAValue | None:
    """An hw.array of `values` padded to a power of two (None for one value)."""
    if len(values) == 1:
        return None
    padded = list(values) + [values[-1]] * ((1 << clog2(len(values))) - len(values))
    return u.op(hw.ArrayCreateOp(*reversed(padded)))


def _get(
    u: UnitBuilder,
    array: SSAValue | None,
    values: Sequence[SSAValue],
    index: SSAValue,
    name: str | None = None,
) -> SSAValue:
    """`values[index]` from the array `_array(u, values)` built once."""
    if array is None:
        return values[0]
    index = u.resize(index, clog2(len(values)), signed=False)
    return u.op(hw.ArrayGetOp(array, index), name)


def _first(u: UnitBuilder, value: SSAValue, count: int) -> SSAValue:
    """`value == 0` for a 0..count-1 counter (always true when count == 1)."""
    return u.const(1, 1) if count == 1 else u.eq_const(value, 0)


def _mod_add(u: UnitBuilder, value: SSAValue, k: SSAValue | int, mod: int) -> SSAValue:
    """(value + k) mod `mod` for value and k in [0, mod), at value's width."""
    bits = width_of(value)
    if isinstance(k, int):
        if k == 0:
            return value
        k = u.const(k, bits + 1)
    else:
        k = u.resize(k, bits + 1, signed=False)
    total = u.add(u.zext(value, bits + 1), k)
    wraps = u.icmp("uge", total, u.const(mod, bits + 1))
    wrapped = u.mux(wraps, u.sub(total, u.const(mod, bits + 1)), total)
    return u.extract(wrapped, 0, bits)


def _reg_loop(
    u: UnitBuilder,
    width: int,
    update: Callable[[SSAValue], SSAValue],
    enable: SSAValue | None,
    reset: int,
    name: str,
) -> SSAValue:
    """A register r that loads `update(r)` (when `enable`, else every cycle)."""
    hold = u.feedback(width)
    nxt = update(hold)
    reg = (
        u.reg(nxt, reset, name)
        if enable is None
        else u.reg_en(nxt, enable, reset, name)
    )
    u.close(hold, reg)
    return reg


def _lane_const(value: int, bits: int, lanes: int) -> int:
    """`lanes` copies of the `bits`-bit value packed (lane 0 lowest)."""
    word = value & ((1 << bits) - 1)
    return sum(word << (i * bits) for i in range(lanes))


# --------------------------------------------------------------------------- #
# Sliding windows: geometry and the line buffer size
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Window:
    """The static structure of a window engine (swu or pool).

    Each output position (y, x) takes `steps` = `tap_beats` x `groups`
    steps (tap beat outer, channel group inner). A step reads `reads` taps;
    read u of tap beat tb is tap t = tb * reads + u = i * kw + j, and from
    each tap pixel the channel group g of `chunk` = C / groups channels.
    A step needs input beat `beats_per_pixel - 1` (swu) or g (pool, where
    input beats are channel groups) of the window's last pixel.
    """

    size: tuple[int, int, int]
    lanes_in: int
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...]
    dilations: tuple[int, ...]
    out: tuple[int, int]
    reads: int
    tap_beats: int
    groups: int
    need_group: bool

    @property
    def beats_per_pixel(self) -> int:
        return self.size[2] // self.lanes_in

    @property
    def chunk(self) -> int:
        return self.size[2] // self.groups

    @property
    def beats_in(self) -> int:
        h, w, _ = self.size
        return h * w * self.beats_per_pixel

    @property
    def extent(self) -> int:
        """Rows one window spans: (kh - 1) * dh + 1."""
        return (self.kernel[0] - 1) * self.dilations[0] + 1

    def tap_offsets(self, read: int) -> tuple[list[int], list[int]]:
        """Row and column offsets (i * dh, j * dw) of read `read`, per tap beat."""
        kw = self.kernel[1]
        taps = [divmod(tb * self.reads + read, kw) for tb in range(self.tap_beats)]
        return (
            [i * self.dilations[0] for i, _ in taps],
            [j * self.dilations[1] for _, j in taps],
        )

    def last_taps(self, axis: int) -> np.ndarray:
        """Per output row (axis 0) or column (1): the window's last tap inside
        the input (as `cost_model.last_pixels`)."""
        start = np.arange(self.out[axis]) * self.strides[axis] - self.pads[axis]
        size, d = self.size[axis], self.dilations[axis]
        taps = np.minimum(self.kernel[axis] - 1, (size - 1 - start) // d)
        return np.clip(start + taps * d, 0, size - 1)

    def need_offsets(self) -> np.ndarray:
        """The input beat (within its pixel) that each step of a window needs."""
        g = self.beats_per_pixel
        per_group = (
            np.arange(self.groups) if self.need_group else np.full(self.groups, g - 1)
        )
        return np.tile(per_group, self.tap_beats)

    def needs(self) -> np.ndarray:
        """Input beat (in the frame) each step of a frame needs, in step order."""
        w, g = self.size[1], self.beats_per_pixel
        pix = self.last_taps(0)[:, None] * w + self.last_taps(1)[None, :]
        return (pix.reshape(-1, 1) * g + self.need_offsets()[None, :]).ravel()

    def row_ends(self) -> np.ndarray:
        """Per output row y: input rows 0 .. row_ends[y]-1 are not needed after it."""
        h, sh, pt = self.size[0], self.strides[0], self.pads[0]
        y = np.arange(self.out[0])
        ends = np.clip((y + 1) * sh - pt, 0, h)
        ends[-1] = h
        return ends


def _input_times(op: Operation, frames: int, beats: int) -> np.ndarray:
    """Arrival cycles of the unit's input beats in the model's schedule.

    The schedule of the enclosing function when there is one; else frames
    every unit II cycles, one beat per cycle.
    """
    fn = op.parent_op()
    if isinstance(fn, func.FuncOp):
        times = cm.schedule(fn, frames=frames).times
        if op.operands[0] in times:
            return times[op.operands[0]]
    period = cm.unit_ii(op)
    return (np.arange(frames)[:, None] * period + np.arange(beats)[None, :]).ravel()


def line_buffer_rows(op: Operation, win: Window) -> int:
    """Input rows the line buffer of `op` holds (see the module docstring)."""
    h = win.size[0]
    frames = SCHEDULE_FRAMES
    times = _input_times(op, frames, win.beats_in)
    index = np.arange(frames)[:, None] * win.beats_in + win.needs()[None, :]
    start = cm.engine(times[index.ravel()]).reshape(frames, win.out[0], -1)
    row_of = np.searchsorted(win.row_ends(), np.arange(h), side="right")
    release = (start[:, row_of, -1] + 1).ravel()  # the read after the last step
    first = times.reshape(frames * h, -1)[:, 0]
    documented = min(h, win.extent + win.strides[0])
    return max(documented, cm.fifo_depth(first, release))


# --------------------------------------------------------------------------- #
# The window engine
# --------------------------------------------------------------------------- #

Combine = Callable[[UnitBuilder, list[SSAValue], list[SSAValue]], SSAValue]
"""(chunks read per tap, their in-the-input flags) -> the output beat."""


def build_window(
    name: str,
    win: Window,
    rows: int,
    bits: int,
    out_bits: int,
    combine: Combine,
) -> HWModuleOp:
    """A line buffer of `rows` input rows and the step engine of `win`."""
    h, w, _ = win.size
    g_in = win.beats_per_pixel
    oh, ow = win.out
    sh, sw = win.strides
    pt, pl = win.pads[0], win.pads[1]
    u = UnitBuilder.stream(name, [win.lanes_in * bits], [out_bits])

    # Ready chain: stage 2 (the output register), stage 1 (tap addresses).
    v1_hold, v2_hold = u.feedback(1), u.feedback(1)
    ld2 = u.or_(u.not_(v2_hold), u["out_ready"], name="ld2")
    ld1 = u.or_(u.not_(v1_hold), ld2, name="ld1")
    moves = u.and_(ld2, v1_hold, name="reads")  # stage 1 reads the buffer

    # Rows released by the read of an output row's last step.
    rel_bits = clog2(h + 1)
    rel_hold = u.feedback(rel_bits)
    released = u.mux(moves, rel_hold, u.const(0, rel_bits), "released")

    # Write side: ring of `rows` rows, one register per input beat.
    fire_hold = u.feedback(1)
    wgrp, wgrp_last = u.counter(fire_hold, g_in, "wgrp")
    wcol, wcol_last = u.counter(u.and_(fire_hold, wgrp_last), w, "wcol")
    wslot, _ = u.counter(u.and_(fire_hold, wgrp_last, wcol_last), rows, "wslot")
    row_start = u.and_(_first(u, wgrp, g_in), _first(u, wcol, w), name="row_start")
    ab = _bits(-h, rows + 1)
    ahead_hold = u.feedback(ab)  # rows started - rows released (may be < 0)
    after = u.sub(ahead_hold, u.zext(released, ab), "ahead_after")
    has_slot = u.icmp("slt", after, u.const(rows, ab), "has_slot")
    in_ready = u.or_(u.not_(row_start), has_slot, name="in_ready")
    fire = u.and_(u["in_valid"], in_ready, name="in_fire")
    u.close(fire_hold, fire)
    starts_row = u.and_(fire, row_start)
    ahead = u.reg(u.add(after, u.zext(starts_row, ab)), 0, "ahead")
    u.close(ahead_hold, ahead)

    def decoded(value: SSAValue, count: int) -> list[SSAValue]:
        if count == 1:
            return [u.const(1, 1)]
        return [u.eq_const(value, k) for k in range(count)]

    by_slot, by_col, by_grp = (
        decoded(wslot, rows),
        decoded(wcol, w),
        decoded(wgrp, g_in),
    )
    beat = u["in_data"]
    pixels: list[SSAValue] = []
    for s in range(rows):
        for x in range(w):
            at = u.and_(fire, by_slot[s], by_col[x])
            words = [
                u.reg_en(beat, u.and_(at, by_grp[q]), None, f"buf_{s}_{x}_{q}")
                for q in range(g_in)
            ]
            pixels.append(u.pack(words))
    pixel_array = _array(u, pixels)

    # Step side: counters in step order (y, x, tap beat, group).
    start_hold = u.feedback(1)
    grp, grp_last = u.counter(start_hold, win.groups, "g")
    tb, tb_last = u.counter(u.and_(start_hold, grp_last), win.tap_beats, "tb")
    window_end = u.and_(start_hold, grp_last, tb_last, name="window_end")
    xo, x_last = u.counter(window_end, ow, "x")
    row_end = u.and_(window_end, x_last, name="row_end")
    yo, y_last = u.counter(row_end, oh, "y")
    frame_end = u.and_(row_end, y_last, name="frame_end")

    hi = max(
        (oh - 1) * sh + win.extent + sh,
        (ow - 1) * sw + (win.kernel[1] - 1) * win.dilations[1] + 1 + sw,
        h,
        w,
    )
    cw = _bits(-max(pt, pl, 1), hi)
    col0 = _reg_loop(
        u,
        cw,
        lambda r: u.mux(x_last, u.const(-pl, cw), u.add(r, u.const(sw, cw))),
        window_end,
        -pl,
        "col0",
    )
    row0 = _reg_loop(
        u,
        cw,
        lambda r: u.mux(y_last, u.const(-pt, cw), u.add(r, u.const(sh, cw))),
        row_end,
        -pt,
        "row0",
    )
    # Slot of input row 0 of the output frame, and of the window's top row.
    sb = max(1, clog2(rows))
    base = _reg_loop(
        u, sb, lambda r: _mod_add(u, r, h % rows, rows), frame_end, 0, "frame_slot"
    )
    next_base = _mod_add(u, base, h % rows, rows)
    slot0 = _reg_loop(
        u,
        sb,
        lambda r: u.mux(
            y_last,
            _mod_add(u, next_base, -pt % rows, rows),
            _mod_add(u, r, sh % rows, rows),
        ),
        row_end,
        -pt % rows,
        "row0_slot",
    )

    # Beats of the current output frame that have arrived (the current one too).
    beats_in = win.beats_in
    aw = _bits(-beats_in, beats_in + rows * w * g_in + 1)
    avail_hold = u.feedback(aw)
    avail = u.add(avail_hold, u.zext(fire, aw), name="arrived")
    row_need = u.rom([int(r) * w * g_in for r in win.last_taps(0)], aw, yo)
    col_need = u.rom([int(x) * g_in for x in win.last_taps(1)], aw, xo)
    need_off = win.need_offsets()
    if win.need_group:
        group_need = u.rom([int(v) for v in need_off[: win.groups]], aw, grp)
    else:
        group_need = u.const(g_in - 1, aw)
    need = u.add(row_need, col_need, group_need, name="need")
    start = u.and_(ld1, u.icmp("sgt", avail, need), name="start")
    u.close(start_hold, start)
    frame_beats = u.mux(frame_end, u.const(beats_in, aw), u.const(0, aw))
    u.close(avail_hold, u.reg(u.sub(avail, frame_beats), 0, "avail"))

    # Stage 1: the taps' buffer addresses and in-the-input flags.
    ib = max(1, clog2(rows * w))
    s1_index: list[SSAValue] = []
    s1_inside: list[SSAValue] = []
    for r in range(win.reads):
        dis, djs = win.tap_offsets(r)
        di = u.rom(dis, cw, tb)
        dj = u.rom(djs, cw, tb)
        di_slot = u.rom([d % rows for d in dis], sb, tb)
        row = u.add(row0, di, name=f"tap{r}_row")
        col = u.add(col0, dj, name=f"tap{r}_col")
        inside = u.and_(
            u.icmp("sge", row, u.const(0, cw)),
            u.icmp("slt", row, u.const(h, cw)),
            u.icmp("sge", col, u.const(0, cw)),
            u.icmp("slt", col, u.const(w, cw)),
            name=f"tap{r}_inside",
        )
        slot = _mod_add(u, slot0, di_slot, rows)
        index = u.add(
            u.mul(u.resize(slot, ib, signed=False), u.const(w, ib)),
            u.resize(col, ib, signed=True),
            name=f"tap{r}_index",
        )
        s1_index.append(u.reg_en(index, start, None, f"s1_index{r}"))
        s1_inside.append(u.reg_en(inside, start, None, f"s1_inside{r}"))
    s1_group = u.reg_en(grp, start, None, "s1_group")
    rel_ends = win.row_ends()
    rel_counts = np.diff(np.concatenate([[0], rel_ends]))
    rel = u.rom([int(v) for v in rel_counts], rel_bits, yo)
    s1_rel = u.reg_en(
        u.mux(row_end, rel, u.const(0, rel_bits)), start, 0, "s1_released"
    )
    u.close(rel_hold, s1_rel)
    v1 = u.reg(u.mux(ld1, start, v1_hold), 0, "s1_valid")
    u.close(v1_hold, v1)

    # Stage 2: read the buffer, combine, register the output beat.
    chunk_bits = win.chunk * bits
    chunks = []
    for r in range(win.reads):
        pixel = _get(u, pixel_array, pixels, s1_index[r], f"tap{r}_pixel")
        parts = [
            u.extract(pixel, k * chunk_bits, chunk_bits) for k in range(win.groups)
        ]
        chunks.append(u.select(parts, s1_group, f"tap{r}_chunk"))
    result = combine(u, chunks, s1_inside)
    out_data = u.reg_en(result, moves, None, "out_beat")
    v2 = u.reg(u.mux(ld2, v1, v2_hold), 0, "out_valid_q")
    u.close(v2_hold, v2)
    return u.output(in_ready=in_ready, out_data=out_data, out_valid=v2)


# --------------------------------------------------------------------------- #
# Builders
# --------------------------------------------------------------------------- #


def swu_window(op: df.SwuOp) -> Window:
    """The step structure of a sliding-window unit."""
    a, b = df.stream_of(op.input), df.stream_of(op.output)
    kernel, strides, pads, dilations = op.window
    c, lanes = a.shape[2], b.lanes.data
    taps = kernel[0] * kernel[1]
    if lanes % c == 0:  # several whole taps per beat
        reads, tap_beats, groups = lanes // c, taps * c // lanes, 1
    else:  # a channel group of one tap per beat
        reads, tap_beats, groups = 1, taps, c // lanes
    return Window(
        a.shape, a.lanes.data, kernel, strides, pads, dilations, b.shape[:2],
        reads, tap_beats, groups, need_group=False,
    )  # fmt: skip


def pool_window(op: df.PoolOp) -> Window:
    """The step structure of a pooling unit: all taps of one channel group."""
    a, b = df.stream_of(op.input), df.stream_of(op.output)
    kernel, strides, pads, dilations, _ = op.window
    c, lanes = a.shape[2], a.lanes.data
    return Window(
        a.shape, lanes, kernel, strides, pads, dilations, b.shape[:2],
        kernel[0] * kernel[1], 1, c // lanes, need_group=True,
    )  # fmt: skip


def swu_combine(win: Window, elem: QuantizedType, bits: int) -> Combine:
    """A swu's output beat: its taps' channels, the zero point in the padding."""
    pad = _lane_const(elem.zero_point, bits, win.chunk)

    def combine(u: UnitBuilder, chunks: list[SSAValue], inside: list[SSAValue]):
        width = win.chunk * bits
        taps = [
            u.mux(ok, chunk, u.const(pad, width), f"tap{r}_value")
            for r, (chunk, ok) in enumerate(zip(chunks, inside, strict=True))
        ]
        return u.pack(taps, name="window_beat")

    return combine


def build_swu(op: Operation, name: str) -> HWModuleOp:
    """Sliding-window unit: line buffer + one output beat per step, depth 2."""
    assert isinstance(op, df.SwuOp)
    a, b = df.stream_of(op.input), df.stream_of(op.output)
    win = swu_window(op)
    combine = swu_combine(win, a.elem, a.bits)
    rows = line_buffer_rows(op, win)
    return build_window(name, win, rows, a.bits, b.lanes.data * a.bits, combine)


def build_partial_pool(op: df.PoolOp, name: str) -> HWModuleOp:
    """Pooling by partial results, for windows that tile the input.

    Input beat (r, c, g) (row, column, channel group) folds into partial
    result (c // kw, g) of the current output row: it starts the partial
    result at the window's first pixel and updates it (max, or sum of
    x - zx) at the others; at the window's last pixel the result goes to
    the output register instead. Rows and columns beyond the last whole
    window are dropped. Stage 1 registers the beat and its position, stage 2
    reads and writes the partial result and registers the output beat, so
    an output beat leaves 2 cycles after the input beat of the window's last
    pixel arrives: the pool's step timing in the cycle model. Storage:
    OW x C partial results instead of input rows.
    """
    a, b = df.stream_of(op.input), df.stream_of(op.output)
    kernel, _, _, _, _ = op.window
    kh, kw = kernel
    (h, w, c), (oh, ow) = a.shape, b.shape[:2]
    lanes, bx, bo = a.lanes.data, a.bits, b.bits
    groups = c // lanes
    signed = _is_signed(a.elem)
    is_max = op.kind.data == "max"
    acc_bits = bx if is_max else bo
    u = UnitBuilder.stream(name, [lanes * bx], [lanes * bo])

    # Ready chain: stage 2 (output register), stage 1 (the input beat).
    v1_hold, v2_hold, emit1_hold = u.feedback(1), u.feedback(1), u.feedback(1)
    ld2 = u.or_(u.not_(v2_hold), u["out_ready"], name="ld2")
    moves = u.and_(v1_hold, u.or_(u.not_(emit1_hold), ld2), name="moves")
    in_ready = u.or_(u.not_(v1_hold), moves, name="in_ready")
    fire = u.and_(u["in_valid"], in_ready, name="in_fire")

    # Position of the input beat: group, column, row.
    grp, grp_last = u.counter(fire, groups, "grp")
    col, col_last = u.counter(u.and_(fire, grp_last), w, "col")
    row, _ = u.counter(u.and_(fire, grp_last, col_last), h, "row")
    words = ow * groups  # partial results
    ib = max(1, clog2(words))

    def flag(values: Sequence[bool], index: SSAValue, label: str) -> SSAValue:
        return u.rom([int(v) for v in values], 1, index, label)

    cols, rows = range(w), range(h)
    use = u.and_(
        flag([x < ow * kw for x in cols], col, "col_used"),
        flag([y < oh * kh for y in rows], row, "row_used"),
    )
    first = u.and_(
        flag([x % kw == 0 for x in cols], col, "first_col"),
        flag([y % kh == 0 for y in rows], row, "first_row"),
    )
    last = u.and_(
        flag([x % kw == kw - 1 for x in cols], col, "last_col"),
        flag([y % kh == kh - 1 for y in rows], row, "last_row"),
    )
    base = u.rom([(x // kw) * groups for x in cols], ib, col)
    index = u.add(base, u.resize(grp, ib, signed=False), name="slot")

    s1_data = u.reg_en(u["in_data"], fire, None, "s1_data")
    s1_index = u.reg_en(index, fire, None, "s1_slot")
    s1_use = u.reg_en(use, fire, None, "s1_use")
    s1_first = u.reg_en(first, fire, None, "s1_first")
    emit = u.and_(use, last)
    s1_emit = u.reg_en(emit, fire, 0, "s1_emit")
    u.close(emit1_hold, s1_emit)
    v1 = u.reg(u.or_(fire, u.and_(v1_hold, u.not_(moves))), 0, "s1_valid")
    u.close(v1_hold, v1)

    # Stage 2: partial result read, combined with the beat, written back.
    acc_hold = [u.feedback(lanes * acc_bits) for _ in range(words)]
    old = _get(u, _array(u, acc_hold), acc_hold, s1_index, "partial")
    results = []
    lanes_x, lanes_p = u.lanes(s1_data, lanes, bx), u.lanes(old, lanes, acc_bits)
    for x, p in zip(lanes_x, lanes_p, strict=True):
        if is_max:
            above = u.icmp("sgt" if signed else "ugt", x, p)
            both = u.mux(above, x, p)
        else:
            x = u.sub(u.resize(x, bo, signed), u.const(a.elem.zero_point, bo))
            both = u.add(p, x)
        results.append(u.mux(s1_first, x, both))
    new = u.pack(results, name="pooled")
    write = u.and_(moves, s1_use, name="write")
    for k, hold in enumerate(acc_hold):
        at = write if words == 1 else u.and_(write, u.eq_const(s1_index, k))
        u.close(hold, u.reg_en(new, at, None, f"partial{k}"))
    out_load = u.and_(moves, s1_emit, name="out_load")
    out_data = u.reg_en(new, out_load, None, "out_beat")
    v2 = u.reg(
        u.or_(out_load, u.and_(v2_hold, u.not_(u["out_ready"]))), 0, "out_valid_q"
    )
    u.close(v2_hold, v2)
    return u.output(in_ready=in_ready, out_data=out_data, out_valid=v2)


def build_pool(op: Operation, name: str) -> HWModuleOp:
    """Pooling unit (max or sum of x - zx), depth 2: partial results when
    the windows tile the input, else a line buffer + reduction."""
    assert isinstance(op, df.PoolOp)
    if cm.pool_reduces_in_place(op):
        return build_partial_pool(op, name)
    a, b = df.stream_of(op.input), df.stream_of(op.output)
    win = pool_window(op)
    bx, bo, lanes = a.bits, b.bits, a.lanes.data
    signed = _is_signed(a.elem)
    is_max = op.kind.data == "max"

    def combine(u: UnitBuilder, chunks: list[SSAValue], inside: list[SSAValue]):
        results = []
        for lane in range(lanes):
            values = [u.extract(chunk, lane * bx, bx) for chunk in chunks]
            if is_max:
                lowest = u.const(-(1 << (bx - 1)) if signed else 0, bx)
                best = None
                for value, ok in zip(values, inside, strict=True):
                    value = u.mux(ok, value, lowest)
                    if best is None:
                        best = value
                        continue
                    above = u.icmp("sgt" if signed else "ugt", value, best)
                    best = u.mux(above, value, best)
                assert best is not None
                results.append(best)
                continue
            zero = u.const(0, bo)
            zx = u.const(a.elem.zero_point, bo)
            terms = [
                u.mux(ok, u.sub(u.resize(value, bo, signed), zx), zero)
                for value, ok in zip(values, inside, strict=True)
            ]
            results.append(u.add(*terms))
        return u.pack(results, name="pooled")

    rows = line_buffer_rows(op, win)
    return build_window(name, win, rows, bx, lanes * bo, combine)


def build_fifo(op: Operation, name: str) -> HWModuleOp:
    """FIFO of `depth` beats, depth 1 in the cycle model (registered output)."""
    assert isinstance(op, df.FifoOp)
    st = df.stream_of(op.input)
    bits = st.lanes.data * st.bits
    depth = op.depth.value.data
    u = UnitBuilder.stream(name, [bits], [bits])
    if depth == 1:
        ready, values, valid = u.pipeline(
            u["in_valid"], [u["in_data"]], [lambda _, v: v], u["out_ready"], "q"
        )
        return u.output(in_ready=ready, out_data=values[0], out_valid=valid)
    cb = clog2(depth + 1)
    count_hold = u.feedback(cb)
    out_valid = u.icmp("ne", count_hold, u.const(0, cb), "out_valid_q")
    taken = u.and_(out_valid, u["out_ready"], name="taken")
    in_ready = u.or_(
        u.icmp("ult", count_hold, u.const(depth, cb)), u["out_ready"], name="in_ready"
    )
    fire = u.and_(u["in_valid"], in_ready, name="in_fire")
    count = u.reg(
        u.sub(u.add(count_hold, u.zext(fire, cb)), u.zext(taken, cb)), 0, "count"
    )
    u.close(count_hold, count)
    write, _ = u.counter(fire, depth, "write")
    read, _ = u.counter(taken, depth, "read")
    entries = [
        u.reg_en(u["in_data"], u.and_(fire, u.eq_const(write, k)), None, f"entry{k}")
        for k in range(depth)
    ]
    out_data = _get(u, _array(u, entries), entries, read, "head")
    return u.output(in_ready=in_ready, out_data=out_data, out_valid=out_valid)


def build_fork(op: Operation, name: str) -> HWModuleOp:
    """Fork to n consumers, depth 0: a beat leaves when every consumer took it."""
    assert isinstance(op, df.ForkOp)
    st = df.stream_of(op.input)
    bits = st.lanes.data * st.bits
    n = len(op.outputs)
    u = UnitBuilder.stream(name, [bits], [bits] * n)
    holds = [u.feedback(1) for _ in range(n)]
    valids = [
        u.and_(u["in_valid"], u.not_(done), name=f"out{i}_valid_w")
        for i, done in enumerate(holds)
    ]
    in_ready = u.and_(
        *(u.or_(done, u[f"out{i}_ready"]) for i, done in enumerate(holds)),
        name="in_ready",
    )
    fire = u.and_(u["in_valid"], in_ready, name="in_fire")
    for i, (done, valid) in enumerate(zip(holds, valids, strict=True)):
        taken = u.or_(done, u.and_(valid, u[f"out{i}_ready"]))
        reg = u.reg(u.mux(fire, u.const(0, 1), taken), 0, f"done{i}")
        u.close(done, reg)
    outputs = {"in_ready": in_ready}
    for i, valid in enumerate(valids):
        outputs[f"out{i}_data"] = u["in_data"]
        outputs[f"out{i}_valid"] = valid
    return u.output(**outputs)


def build_add(op: Operation, name: str) -> HWModuleOp:
    """Residual add `((a - za) << ka) + ((b - zb) << kb)` of two streams, depth 1."""
    assert isinstance(op, df.AddOp)
    a, b, o = (df.stream_of(v) for v in (op.lhs, op.rhs, op.output))
    lanes, bo = o.lanes.data, o.bits
    shifts = op.alignment()
    u = UnitBuilder.stream(name, [lanes * a.bits, lanes * b.bits], [lanes * bo])

    def stage(u: UnitBuilder, values: list[SSAValue]) -> list[SSAValue]:
        sums = []
        operands = list(zip(values, (a, b), shifts, strict=True))
        for lane in range(lanes):
            terms = []
            for data, st, k in operands:
                x = u.extract(data, lane * st.bits, st.bits)
                x = u.resize(x, bo, _is_signed(st.elem))
                centred = u.sub(x, u.const(st.elem.zero_point, bo))
                terms.append(u.shl_const(centred, k, bo))
            sums.append(u.add(*terms))
        return [u.pack(sums, name="sum")]

    both = u.and_(u["in0_valid"], u["in1_valid"], name="both_valid")
    ready, values, valid = u.pipeline(
        both, [u["in0_data"], u["in1_data"]], [stage], u["out_ready"], "q"
    )
    return u.output(
        in0_ready=u.and_(ready, u["in1_valid"], name="in0_ready_w"),
        in1_ready=u.and_(ready, u["in0_valid"], name="in1_ready_w"),
        out_data=values[0],
        out_valid=valid,
    )


BUILDERS: dict[type[Operation], Callable[[Operation, str], HWModuleOp]] = {
    df.SwuOp: build_swu,
    df.PoolOp: build_pool,
    df.FifoOp: build_fifo,
    df.ForkOp: build_fork,
    df.AddOp: build_add,
}
"""Builder of each stream unit's hw.module: `build(op, module name)`."""

__all__ = [
    "BUILDERS",
    "Combine",
    "Window",
    "build_window",
    "line_buffer_rows",
    "pool_window",
    "swu_combine",
    "swu_window",
]
