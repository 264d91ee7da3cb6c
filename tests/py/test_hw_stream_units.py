"""RTL of the stream units (swu, pool, fifo, fork, add) against the reference.

Every unit is built from a single-op `dataflow` function, checked by CIRCT,
and simulated in Verilator on random frames under random input gaps and
output stalls; its output beats must equal the `dataflow` reference
executor's bit for bit. The fork and the add run inside a small wrapper that
gives each of their streams its own random stalls (a register slice that
takes beats at random cycles) and zips the fork's results into one stream.
Without stalls every output beat must leave at the cycle that the cycle
model (`cost_model.schedule` of the same function) gives, and no input beat
may be taken later than the model delivers it. Two small designs (pool ->
swu -> fifo, and a residual block fork -> pool | fifo -> add with the FIFO
depth of `insert_fifos`) are wired by hand and checked the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from xdsl.dialects import func, hw
from xdsl.dialects.builtin import (
    FlatSymbolRefAttr,
    IntegerType,
    ModuleOp,
    TensorType,
    i1,
)
from xdsl.ir import Block, Operation, Region, SSAValue

from qopt.backends.hw import cost_model as cm
from qopt.backends.hw.units import stream_units as su
from qopt.backends.hw.units.common import UnitBuilder, stream_prefixes
from qopt.backends.reference.runner import run_function
from qopt.backends.rtl import ToolMissingError
from qopt.backends.rtl.verilator import SimResult, find_verilator, simulate
from qopt.backends.rtl.verilog import emit_verilog
from qopt.passes.tile import insert_fifos
from qopt.qdialect import dataflow as df
from qopt.qdialect.qtypes import QuantizedType, UniformType
from qopt.qdialect.shapes import DYN

FRAMES = 3

U8 = UniformType(8, False, 0.5, zero_point=7)
I4 = UniformType(4, True, 0.25, zero_point=-1)
I8 = UniformType(8, True, 0.125, zero_point=-3)


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("stream-units")


@pytest.fixture(autouse=True)
def _needs_verilator():
    try:
        find_verilator()
    except ToolMissingError as e:
        pytest.skip(str(e))


# --------------------------------------------------------------------------- #
# Single-op designs and their streams
# --------------------------------------------------------------------------- #

Input = tuple[tuple[int, ...], QuantizedType, int]
"""(tensor shape without the batch, element type, lanes) of a design input."""


def single_op(
    inputs: Sequence[Input], make: Callable[..., Operation | list[Operation]]
) -> tuple[ModuleOp, func.FuncOp, Operation]:
    """func @main: dataflow.input per tensor -> the unit(s) -> dataflow.output.

    `make` builds one unit, or several (a list) of which the last gives the
    outputs; returns the module, the function and that last unit.
    """
    arg_types = [TensorType(elem, [DYN, *shape]) for shape, elem, _ in inputs]
    block = Block(arg_types=arg_types)
    streams = []
    for arg, (_, _, lanes) in zip(block.args, inputs, strict=True):
        port = df.InputOp(arg, lanes)
        block.add_op(port)
        streams.append(port.output)
    made = make(*streams)
    units = made if isinstance(made, list) else [made]
    block.add_ops(units)
    outs = []
    for result in units[-1].results:
        port = df.OutputOp(result)
        block.add_op(port)
        outs.append(port.output)
    block.add_op(func.ReturnOp(*outs))
    fn = func.FuncOp("main", (arg_types, [o.type for o in outs]), Region(block))
    module = ModuleOp([fn])
    module.verify()
    return module, fn, units[-1]


def beats(x: np.ndarray, lanes: int) -> np.ndarray:
    """Tensors of levels as stream beats [items, lanes] (NCHW streams as HWC)."""
    frames = x.transpose(0, 2, 3, 1) if x.ndim == 4 else x
    return np.ascontiguousarray(frames).reshape(-1, lanes)


def levels(rng, elem: QuantizedType, shape: Sequence[int]) -> np.ndarray:
    return rng.integers(elem.min_level, elem.max_level + 1, (FRAMES, *shape))


def write(module: ModuleOp | hw.HWModuleOp, name: str, build_dir: Path) -> Path:
    path = build_dir / f"{name}.sv"
    path.write_text(emit_verilog(module))
    return path


def circt_check(module: ModuleOp | hw.HWModuleOp) -> None:
    pytest.importorskip("circt", reason="the circt wheel is not installed")
    from qopt.backends.rtl.circt import circt_export_verilog, verify_with_circt

    verify_with_circt(module)
    assert "module" in circt_export_verilog(module)


def run(
    path: Path,
    top: str,
    x: np.ndarray,
    want: np.ndarray,
    signed: bool,
    build_dir: Path,
    stalls: tuple[float, float],
    seed: int = 1,
) -> SimResult:
    return simulate(
        [path],
        top,
        x,
        out_lanes=want.shape[1],
        signed=signed,
        n_outputs=len(want),
        stall_prob_in=stalls[0],
        stall_prob_out=stalls[1],
        seed=seed,
        measure_ii=False,
        build_dir=build_dir,
    )


def check_single_stream_unit(
    inputs: Input, make: Callable[..., Operation], name: str, build_dir: Path
) -> tuple[Operation, SimResult, np.ndarray]:
    """The unit's RTL equals the reference under stalls and the model without.

    Returns the unit, the no-stall simulation and the model's output times.
    """
    module, fn, unit = single_op([inputs], make)
    shape, elem, lanes = inputs
    x = levels(np.random.default_rng(len(name)), elem, shape)
    out = df.stream_of(unit.results[0])
    want = beats(run_function(module, [x])[0], out.lanes.data)
    design = su.BUILDERS[type(unit)](unit, name)
    circt_check(design)
    path = write(design, name, build_dir)
    signed = bool(out.elem.levels_attr.is_signed)
    for seed, stalls in ((1, (0.3, 0.3)), (2, (0.05, 0.6)), (3, (0.6, 0.05))):
        stalled = run(
            path, name, beats(x, lanes), want, signed, build_dir, stalls, seed
        )
        assert np.array_equal(stalled.outputs, want)
    calm = run(path, name, beats(x, lanes), want, signed, build_dir, (0.0, 0.0))
    assert np.array_equal(calm.outputs, want)
    times = cm.schedule(fn, frames=FRAMES).times
    model = times[unit.results[0]]
    assert np.array_equal(calm.out_cycles, model)
    # the unit never holds back a beat that its producer delivers in the model
    assert np.all(calm.in_cycles <= times[unit.operands[0]])
    return unit, calm, model


# --------------------------------------------------------------------------- #
# Sliding windows and pools
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class WindowCase:
    """A sliding window or pool over frames of `shape` (C, H, W)."""

    shape: tuple[int, int, int]
    elem: QuantizedType
    lanes: int
    kernel: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    out_lanes: int = 0  # swu result lanes
    kind: str = "max"  # pool
    ceil: bool = False  # pool


SWU_CASES = {
    "pad_one_tap_per_beat": WindowCase(
        (2, 5, 5), U8, 1, (3, 3), pads=(1, 1, 1, 1), out_lanes=2
    ),
    "whole_window_per_beat": WindowCase((4, 6, 5), I4, 2, (3, 3), out_lanes=36),
    "stride_dilation_channel_fold": WindowCase(
        (3, 7, 6), U8, 3, (3, 2), (2, 2), (1, 0, 2, 1), (2, 1), out_lanes=1
    ),
    "taps_straddle_kernel_rows": WindowCase(
        (2, 4, 5), U8, 1, (2, 3), pads=(0, 1, 1, 1), out_lanes=4
    ),
    "stride_skips_rows": WindowCase((2, 6, 6), U8, 2, (1, 1), (2, 2), out_lanes=2),
    "kernel_taller_than_input": WindowCase(
        (1, 2, 4), I4, 1, (3, 3), pads=(1, 1, 1, 1), out_lanes=3
    ),
}


SLOW_CASES = {
    "taps_straddle_kernel_rows",
    "kernel_taller_than_input",
    "stride_skips_rows",
    "max_2x2",
    "sum_signed",
}


def cases(table: dict[str, WindowCase]) -> list:
    return [
        pytest.param(k, marks=pytest.mark.slow if k in SLOW_CASES else ())
        for k in sorted(table)
    ]


@pytest.mark.parametrize("case", cases(SWU_CASES))
def test_swu_is_bit_exact_under_stalls_and_on_the_model_without(case, build_dir):
    c = SWU_CASES[case]

    def make(s: SSAValue) -> Operation:
        return df.SwuOp(s, c.kernel, c.strides, c.pads, c.dilations, c.out_lanes)

    unit, calm, _ = check_single_stream_unit(
        (c.shape, c.elem, c.lanes), make, f"swu_{case}", build_dir
    )
    out = df.stream_of(unit.results[0])
    assert len(calm.out_cycles) == FRAMES * out.beats
    # steady state: one frame every unit II cycles
    per_frame = calm.out_cycles.reshape(FRAMES, -1)
    assert set(np.diff(per_frame[:, 0])) == {cm.unit_ii(unit)}


POOL_CASES = {
    "max_2x2": WindowCase((4, 6, 6), I8, 2, (2, 2), (2, 2)),
    "max_pad_ceil_dilation": WindowCase(
        (2, 7, 6), U8, 1, (3, 2), (2, 2), (1, 1, 1, 0), (1, 2), ceil=True
    ),
    "sum_3x3_pad": WindowCase((3, 5, 4), U8, 3, (3, 3), pads=(1, 1, 1, 1), kind="sum"),
    "sum_signed": WindowCase((2, 4, 4), I4, 1, (2, 2), pads=(0, 0, 1, 1), kind="sum"),
    # windows that tile the input: partial results (build_partial_pool)
    "max_tiles_drop_edges": WindowCase((2, 7, 5), U8, 1, (3, 2), (3, 2)),
    "sum_tiles_signed": WindowCase((4, 4, 6), I4, 4, (2, 2), (2, 2), kind="sum"),
    "sum_global": WindowCase((3, 3, 3), U8, 3, (3, 3), (3, 3), kind="sum"),
}


def pool_op(c: WindowCase, s: SSAValue) -> df.PoolOp:
    """The pool of case `c` on stream `s` (a sum wide enough for its window)."""
    out_type = None
    if c.kind == "sum":
        n = c.kernel[0] * c.kernel[1]
        lo, hi = (
            c.elem.min_level - c.elem.zero_point,
            c.elem.max_level - c.elem.zero_point,
        )
        width = max(abs(n * lo) - 1, n * hi).bit_length() + 1
        out_type = UniformType(width, True, c.elem.scale / n)
    return df.PoolOp(
        s, c.kind, c.kernel, c.strides, c.pads, c.dilations, c.ceil, out_type
    )


@pytest.mark.parametrize("case", cases(POOL_CASES))
def test_pool_is_bit_exact_under_stalls_and_on_the_model_without(case, build_dir):
    c = POOL_CASES[case]
    check_single_stream_unit(
        (c.shape, c.elem, c.lanes),
        lambda s: pool_op(c, s),
        f"pool_{case}",
        build_dir,
    )


@pytest.mark.parametrize(
    ("case", "partial"),
    [
        ("max_2x2", True),
        ("max_tiles_drop_edges", True),
        ("sum_global", True),
        ("sum_signed", False),  # padding
        ("max_pad_ceil_dilation", False),
    ],
)
def test_tiling_pools_keep_partial_results_not_rows(case, partial):
    """A pool whose windows tile the input stores OW x C partial results
    (one register per output column and channel group), the others input
    rows of the line buffer."""
    c = POOL_CASES[case]
    _, _, unit = single_op([(c.shape, c.elem, c.lanes)], lambda s: pool_op(c, s))
    assert cm.pool_reduces_in_place(unit) is partial
    module = su.build_pool(unit, "pool")
    names = {r.name_hint for op in module.walk() for r in op.results}
    out = df.stream_of(unit.output)
    groups = c.shape[0] // c.lanes
    partials = {f"partial{k}" for k in range(out.shape[1] * groups)}
    assert (partials <= names) is partial
    assert any(n and n.startswith("buf_") for n in names) is not partial


def test_max_pool_keeps_per_channel_levels(build_dir):
    """Scales and zero points may vary along the channels of a max pool."""
    elem = UniformType(6, True, [0.5, 0.25, 1.0], [0, -3, 5], axis=1)

    def make(s: SSAValue) -> Operation:
        return df.PoolOp(s, "max", (2, 2), (1, 1), (1, 0, 0, 1))

    unit, _, _ = check_single_stream_unit(
        ((3, 3, 4), elem, 3), make, "pool_per_channel", build_dir
    )
    assert df.stream_of(unit.results[0]).elem == df.stream_of(unit.operands[0]).elem


def test_line_buffer_holds_what_the_schedule_needs(build_dir):
    """The line buffer takes every input beat when the model's schedule
    delivers it. Here the output (900 beats a frame) is much slower than the
    input (25 beats): the whole frame arrives before the first row is free,
    so the documented min(H, (kh-1)*dh + 1 + sh) = 4 rows would stall the
    producer at the fifth row (the outputs would still come on time).
    """
    inputs = ((4, 5, 5), U8, 4)

    def make(s: SSAValue) -> Operation:
        return df.SwuOp(s, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), lanes=1)

    module, fn, unit = single_op([inputs], make)
    win = su.swu_window(unit)
    assert su.line_buffer_rows(unit, win) == 5
    times = cm.schedule(fn, frames=FRAMES).times
    x = levels(np.random.default_rng(0), U8, inputs[0])
    want = beats(run_function(module, [x])[0], 1)
    short = su.build_window("swu_short", win, 4, 8, 8, su.swu_combine(win, U8, 8))
    path = write(short, "swu_short", build_dir)
    sim = run(path, "swu_short", beats(x, 4), want, False, build_dir, (0.3, 0.3))
    assert np.array_equal(sim.outputs, want)
    sim = run(path, "swu_short", beats(x, 4), want, False, build_dir, (0.0, 0.0))
    assert np.array_equal(sim.out_cycles, times[unit.results[0]])
    late = np.flatnonzero(sim.in_cycles > times[unit.input])
    assert late[0] == 20  # the first beat of row 4
    assert sim.in_cycles[20] > 300


# --------------------------------------------------------------------------- #
# FIFO
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("depth", [1, pytest.param(2, marks=pytest.mark.slow), 5])
def test_fifo_holds_depth_beats_and_adds_one_cycle(depth, build_dir):
    inputs = ((6,), I4, 3)
    _, calm, _ = check_single_stream_unit(
        inputs,
        lambda s: df.FifoOp(s, depth),
        f"fifo_{depth}",
        build_dir,
    )
    assert np.array_equal(calm.out_cycles, calm.in_cycles + 1)
    # a slow consumer: the FIFO fills to exactly `depth` beats, never more
    module, _, _ = single_op([inputs], lambda s: df.FifoOp(s, depth))
    x = np.random.default_rng(5).integers(-8, 8, (200, 6))
    want = beats(run_function(module, [x])[0], 3)
    path = Path(build_dir) / f"fifo_{depth}.sv"
    sim = run(path, f"fifo_{depth}", beats(x, 3), want, True, build_dir, (0.0, 0.7))
    assert np.array_equal(sim.outputs, want)
    cycles = np.arange(sim.cycles)
    arrived = np.searchsorted(sim.in_cycles, cycles, side="right")
    left = np.searchsorted(sim.out_cycles, cycles, side="right")
    assert (arrived - left).max() == depth
    assert np.all(sim.out_cycles > sim.in_cycles)


# --------------------------------------------------------------------------- #
# Fork and add, in wrappers with a random stall on each stream
# --------------------------------------------------------------------------- #


def instance(
    u: UnitBuilder,
    label: str,
    module: hw.HWModuleOp,
    inputs: dict[str, SSAValue],
) -> dict[str, SSAValue]:
    """An hw.instance of `module` with clk/rst; its outputs by port name."""
    ports = module.module_type.ports.data
    args = [("clk", u["clk"]), ("rst", u["rst"])] + [
        (p.port_name.data, inputs[p.port_name.data])
        for p in ports
        if p.dir.data == hw.Direction.INPUT and p.port_name.data not in ("clk", "rst")
    ]
    results = [
        (p.port_name.data, p.type) for p in ports if p.dir.data == hw.Direction.OUTPUT
    ]
    op = hw.InstanceOp(label, FlatSymbolRefAttr(module.sym_name.data), args, results)
    u.builder.insert(op)
    return {name: r for (name, _), r in zip(results, op.results, strict=True)}


def throttle(name: str, bits: int, seed: int) -> hw.HWModuleOp:
    """A one-beat register slice that takes beats only in random cycles (an
    LFSR bit): an AXI-Stream producer and consumer with random stalls."""
    u = UnitBuilder.stream(name, [bits], [bits])
    lfsr_hold = u.feedback(16)
    feedback = u.xor(*(u.extract(lfsr_hold, k, 1) for k in (0, 2, 3, 5)))
    shifted = u.concat(feedback, u.extract(lfsr_hold, 1, 15))
    lfsr = u.reg(shifted, seed, "lfsr")
    u.close(lfsr_hold, lfsr)
    go = u.extract(lfsr, 0, 1)
    full_hold = u.feedback(1)
    ready = u.and_(go, u.or_(u.not_(full_hold), u["out_ready"]), name="in_ready_w")
    fire = u.and_(u["in_valid"], ready)
    keep = u.and_(full_hold, u.not_(u["out_ready"]))
    full = u.reg(u.or_(fire, keep), 0, "full")
    u.close(full_hold, full)
    data = u.reg_en(u["in_data"], fire, None, "data")
    return u.output(in_ready=ready, out_data=data, out_valid=full)


def zip_streams(
    u: UnitBuilder, streams: list[tuple[SSAValue, SSAValue]]
) -> tuple[SSAValue, SSAValue, list[SSAValue]]:
    """(data, valid) streams joined into one: (data, valid, each one's ready)."""
    valids = [v for _, v in streams]
    readies = [
        u.and_(u["out_ready"], *(v for j, v in enumerate(valids) if j != i))
        for i in range(len(streams))
    ]
    data = u.pack([d for d, _ in streams])
    return data, u.and_(*valids), readies


def wrapped(
    top: str,
    bits_in: int,
    bits_out: int,
    body: Callable[[UnitBuilder], tuple[SSAValue, SSAValue, SSAValue]],
    modules: list[hw.HWModuleOp],
) -> ModuleOp:
    u = UnitBuilder.stream(top, [bits_in], [bits_out])
    in_ready, data, valid = body(u)
    return ModuleOp(
        [*modules, u.output(in_ready=in_ready, out_data=data, out_valid=valid)]
    )


def fork_design(unit: df.ForkOp, stalls: bool, bits: int, top: str) -> ModuleOp:
    """in -> fork -> (a random stall per result) -> zip -> out."""
    n = len(unit.outputs)
    fork = su.build_fork(unit, f"{top}_fork")
    slices = [throttle(f"{top}_stall{i}", bits, 0xACE1 + 977 * i) for i in range(n)]

    def body(u: UnitBuilder):
        pending = [u.feedback(1) for _ in range(n)]  # the fork's out readies
        ports = {"in_data": u["in_data"], "in_valid": u["in_valid"]}
        f = instance(
            u, "fork", fork, ports | {f"out{i}_ready": pending[i] for i in range(n)}
        )
        streams = []
        for i in range(n):
            data, valid = f[f"out{i}_data"], f[f"out{i}_valid"]
            if stalls:
                ready = u.feedback(1)
                s = instance(
                    u, f"stall{i}", slices[i],
                    {"in_data": data, "in_valid": valid, "out_ready": ready},
                )  # fmt: skip
                u.close(pending[i], s["in_ready"])
                pending[i] = ready
                data, valid = s["out_data"], s["out_valid"]
            streams.append((data, valid))
        data, valid, readies = zip_streams(u, streams)
        for hold, ready in zip(pending, readies, strict=True):
            u.close(hold, ready)
        return f["in_ready"], data, valid

    return wrapped(top, bits, n * bits, body, [fork, *(slices if stalls else [])])


def test_fork_gives_every_consumer_every_beat(build_dir):
    inputs = ((4, 3, 2), I8, 2)
    module, fn, unit = single_op([inputs], lambda s: df.ForkOp(s, 3))
    x = levels(np.random.default_rng(7), I8, inputs[0])
    refs = run_function(module, [x])
    want = np.concatenate([beats(r, 2) for r in refs], axis=1)
    assert np.array_equal(want, np.tile(beats(x, 2), 3))
    for stalls in (True, False):
        top = f"fork3_{'stalled' if stalls else 'calm'}"
        design = fork_design(unit, stalls, 16, top)
        circt_check(design)
        path = write(design, top, build_dir)
        for seed in (1, 2):
            sim = run(path, top, beats(x, 2), want, True, build_dir, (0.3, 0.3), seed)
            assert np.array_equal(sim.outputs, want)
    calm = run(path, top, beats(x, 2), want, True, build_dir, (0.0, 0.0))
    model = cm.schedule(fn, frames=FRAMES).times[unit.outputs[0]]
    assert np.array_equal(calm.out_cycles, calm.in_cycles)  # depth 0
    assert np.array_equal(calm.out_cycles, model)


def add_design(unit: df.AddOp, stalls: bool, lanes: int, top: str) -> ModuleOp:
    """in (lhs lanes, then rhs lanes) -> fork -> (a random stall per operand)
    -> add -> out."""
    a = df.stream_of(unit.lhs)
    half = lanes * a.bits
    fork = su.build_fork(df.ForkOp(_detached_stream(2 * lanes, a), 2), f"{top}_fork")
    add = su.build_add(unit, f"{top}_add")
    slices = [throttle(f"{top}_stall{i}", half, 0xBEEF + 401 * i) for i in range(2)]

    def body(u: UnitBuilder):
        pending = [u.feedback(1), u.feedback(1)]  # the fork's out readies
        ports = {"in_data": u["in_data"], "in_valid": u["in_valid"]}
        f = instance(
            u,
            "fork",
            fork,
            ports | {"out0_ready": pending[0], "out1_ready": pending[1]},
        )
        add_ports = {"out_ready": u["out_ready"]}
        for i in range(2):
            data = u.extract(f[f"out{i}_data"], i * half, half)
            valid = f[f"out{i}_valid"]
            if stalls:
                ready = u.feedback(1)
                s = instance(
                    u, f"stall{i}", slices[i],
                    {"in_data": data, "in_valid": valid, "out_ready": ready},
                )  # fmt: skip
                u.close(pending[i], s["in_ready"])
                pending[i] = ready
                data, valid = s["out_data"], s["out_valid"]
            add_ports |= {f"in{i}_data": data, f"in{i}_valid": valid}
        r = instance(u, "add", add, add_ports)
        for i in range(2):
            u.close(pending[i], r[f"in{i}_ready"])
        return f["in_ready"], r["out_data"], r["out_valid"]

    out_bits = lanes * df.stream_of(unit.output).bits
    modules = [fork, add, *(slices if stalls else [])]
    return wrapped(top, 2 * half, out_bits, body, modules)


def _detached_stream(lanes: int, like: df.StreamType) -> SSAValue:
    """A block argument of a stream type with `lanes` lanes (a fork's input)."""
    st = df.StreamType((lanes,), lanes, like.elem)
    return Block(arg_types=[st]).args[0]


def test_add_aligns_and_joins_two_streams(build_dir):
    lhs = UniformType(8, False, 1.0, zero_point=3)
    rhs = UniformType(8, True, 0.25, zero_point=-2)
    out = UniformType(12, True, 0.25)
    shape, lanes = (2, 3, 4), 2
    module, fn, unit = single_op(
        [(shape, lhs, lanes), (shape, rhs, lanes)],
        lambda a, b: df.AddOp(a, b, out),
    )
    assert unit.alignment() == (2, 0)
    rng = np.random.default_rng(11)
    xa, xb = levels(rng, lhs, shape), levels(rng, rhs, shape)
    want = beats(run_function(module, [xa, xb])[0], lanes)
    both = np.concatenate([beats(xa, lanes), beats(xb, lanes)], axis=1)
    assert np.array_equal(want, ((both[:, :2] - 3) << 2) + (both[:, 2:] + 2))
    for stalls in (True, False):
        top = f"add_{'stalled' if stalls else 'calm'}"
        design = add_design(unit, stalls, lanes, top)
        circt_check(design)
        path = write(design, top, build_dir)
        for seed in (1, 2):
            sim = run(path, top, both, want, True, build_dir, (0.3, 0.3), seed)
            assert np.array_equal(sim.outputs, want)
    calm = run(path, top, both, want, True, build_dir, (0.0, 0.0))
    model = cm.schedule(fn, frames=FRAMES).times[unit.output]
    assert np.array_equal(calm.out_cycles, calm.in_cycles + 1)  # depth 1
    assert np.array_equal(calm.out_cycles, model)


def test_units_have_the_interface_ports():
    """Port names and order of HW_INTERFACE: clk, rst, inputs, readies."""
    _, _, fork = single_op([((4,), I8, 2)], lambda s: df.ForkOp(s, 2))
    names = [p.port_name.data for p in su.build_fork(fork, "f").module_type.ports]
    assert names == [
        "clk", "rst", "in_data", "in_valid", "out0_ready", "out1_ready",
        "in_ready", "out0_data", "out0_valid", "out1_data", "out1_valid",
    ]  # fmt: skip
    _, _, add = single_op(
        [((4,), I8, 2), ((4,), I8, 2)],
        lambda a, b: df.AddOp(a, b, UniformType(10, True, 0.125)),
    )
    module = su.build_add(add, "a")
    ports = {p.port_name.data: p.type for p in module.module_type.ports}
    assert list(ports) == [
        "clk", "rst", "in0_data", "in0_valid", "in1_data", "in1_valid",
        "out_ready", "in0_ready", "in1_ready", "out_data", "out_valid",
    ]  # fmt: skip
    assert ports["out_data"] == IntegerType(20) and ports["in1_valid"] == i1


# --------------------------------------------------------------------------- #
# Designs of several stream units
# --------------------------------------------------------------------------- #


def stitch(fn: func.FuncOp, top: str) -> ModuleOp:
    """The units of a one-input, one-output dataflow function, wired by streams.

    A stream is its producer's (data, valid) and the ready placeholder its
    producer reads, which the stream's one consumer closes.
    """
    units = [op for op in fn.body.block.ops if type(op) in su.BUILDERS]
    modules = [su.BUILDERS[type(op)](op, f"{top}_{k}") for k, op in enumerate(units)]
    port = next(op for op in fn.body.block.ops if isinstance(op, df.InputOp))
    sink = next(op for op in fn.body.block.ops if isinstance(op, df.OutputOp))
    st_in, st_out = df.stream_of(port.output), df.stream_of(sink.input)
    u = UnitBuilder.stream(
        top, [st_in.lanes.data * st_in.bits], [st_out.lanes.data * st_out.bits]
    )
    streams = {port.output: (u["in_data"], u["in_valid"], None)}
    in_ready = None
    for k, (op, module) in enumerate(zip(units, modules, strict=True)):
        ins = stream_prefixes(len(op.operands), "in")
        outs = stream_prefixes(len(op.results), "out")
        ports = {}
        for p, v in zip(ins, op.operands, strict=True):
            ports[f"{p}_data"], ports[f"{p}_valid"], _ = streams[v]
        holds = [u.feedback(1) for _ in outs]
        ports |= {f"{p}_ready": h for p, h in zip(outs, holds, strict=True)}
        r = instance(u, f"u{k}", module, ports)
        for p, v in zip(ins, op.operands, strict=True):
            hold = streams.pop(v)[2]
            if hold is None:
                in_ready = r[f"{p}_ready"]
            else:
                u.close(hold, r[f"{p}_ready"])
        for p, v, h in zip(outs, op.results, holds, strict=True):
            streams[v] = (r[f"{p}_data"], r[f"{p}_valid"], h)
    data, valid, hold = streams.pop(sink.input)
    assert hold is not None and in_ready is not None and not streams
    u.close(hold, u["out_ready"])
    top_op = u.output(in_ready=in_ready, out_data=data, out_valid=valid)
    return ModuleOp([*modules, top_op])


def check_design(fn: func.FuncOp, module: ModuleOp, top: str, build_dir: Path):
    """The stitched design equals the reference and, without stalls, the model."""
    design = stitch(fn, top)
    circt_check(design)
    path = write(design, top, build_dir)
    port = next(op for op in fn.body.block.ops if isinstance(op, df.InputOp))
    sink = next(op for op in fn.body.block.ops if isinstance(op, df.OutputOp))
    st_in, st_out = df.stream_of(port.output), df.stream_of(sink.input)
    x = levels(np.random.default_rng(3), st_in.elem, port.input.type.get_shape()[1:])
    want = beats(run_function(module, [x])[0], st_out.lanes.data)
    signed = bool(st_out.elem.levels_attr.is_signed)
    xb = beats(x, st_in.lanes.data)
    for seed in (1, 2):
        sim = run(path, top, xb, want, signed, build_dir, (0.3, 0.3), seed)
        assert np.array_equal(sim.outputs, want)
    calm = run(path, top, xb, want, signed, build_dir, (0.0, 0.0))
    sched = cm.schedule(fn, frames=FRAMES)
    assert np.array_equal(calm.out_cycles, sched.times[sink.input])
    assert np.all(calm.in_cycles <= sched.times[port.output])
    est = cm.estimate(fn)
    assert calm.out_cycles[len(want) // FRAMES - 1] + 1 == est.latency
    return calm, est


def test_chained_units_run_on_the_design_schedule(build_dir):
    """pool -> swu -> fifo: the swu's buffer is sized from the pool's bursts."""
    elem = UniformType(8, True, 0.5, zero_point=-3)

    def make(s: SSAValue) -> Operation:
        pool = df.PoolOp(s, "max", (2, 2), (2, 2))
        swu = df.SwuOp(pool.output, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), lanes=2)
        return [pool, swu, df.FifoOp(swu.output, 3)]

    module, fn, _ = single_op([((2, 8, 8), elem, 2)], make)
    calm, est = check_design(fn, module, "chain", build_dir)
    assert est.ii == 144  # the swu: 16 pixels x 9 beats
    ends = calm.out_cycles.reshape(FRAMES, -1)[:, -1]
    assert list(np.diff(ends)) == [est.ii] * (FRAMES - 1)


def test_residual_block_joins_through_the_model_fifo(build_dir):
    """fork -> (max pool 3x3 | skip) -> add: the skip waits in the FIFO that
    the model sizes (`insert_fifos`), and nothing stalls in the model."""
    elem = UniformType(8, True, 0.5, zero_point=-3)
    out = UniformType(10, True, 0.5)

    def make(s: SSAValue) -> list[Operation]:
        fork = df.ForkOp(s, 2)
        pool = df.PoolOp(fork.outputs[0], "max", (3, 3), (1, 1), (1, 1, 1, 1))
        return [fork, pool, df.AddOp(pool.output, fork.outputs[1], out)]

    module, fn, _ = single_op([((2, 5, 6), elem, 1)], make)
    insert_fifos(fn)
    module.verify()
    (fifo,) = [op for op in fn.body.block.ops if isinstance(op, df.FifoOp)]
    assert fifo.depth.value.data > 1
    _, est = check_design(fn, module, "residual", build_dir)
    assert est.ii == 60
