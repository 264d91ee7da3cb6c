"""Verilator simulation of streaming designs with random stalls.

qopt's SystemVerilog and CIRCT's (when the circt wheel is installed) must both
match the numpy model of each design on 1000 random items under random input
gaps and output stalls, with identical cycle-by-cycle handshakes; the
testbench must catch designs that break the AXI-Stream rules or deadlock.
Builds are shared by the tests of a session (one folder under pytest's base
temporary folder).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rtl_designs as designs
from xdsl.dialects import hw

from qopt.backends.rtl import RtlError, ToolMissingError
from qopt.backends.rtl.verilator import find_verilator, simulate
from qopt.backends.rtl.verilog import emit_verilog

ITEMS = 1000


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    """Build cache shared by every RTL test module of the session."""
    path = tmp_path_factory.getbasetemp() / "rtl-build"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(autouse=True)
def _needs_verilator():
    try:
        find_verilator()
    except ToolMissingError as e:
        pytest.skip(str(e))


def _write(module, flavor: str, build_dir: Path) -> tuple[Path, str]:
    """The design's SystemVerilog file (qopt's or CIRCT's) and its top."""
    top = list(module.ops)[-1]
    assert isinstance(top, hw.HWModuleOp)
    name = top.sym_name.data
    if flavor == "circt":
        pytest.importorskip("circt", reason="the circt wheel is not installed")
        from qopt.backends.rtl.circt import circt_export_verilog

        text = circt_export_verilog(module)
    else:
        text = emit_verilog(module)
    path = build_dir / "src" / f"{name}-{flavor}.sv"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path, name


CASES = {
    "mac": (designs.mac, (-128, 128, 4), designs.mac_model, {"out_lanes": 1}),
    "alu": (designs.alu, (-128, 128, 2), designs.alu_model, {"out_width": 8}),
    "rom": (designs.rom, (0, 16, 4), designs.rom_model, {"signed": False}),
    "half_rate": (designs.half_rate, (-128, 128, 1), lambda x: designs.wrap(-x, 8), {}),
}


def _inputs(case: str, seed: int = 0) -> np.ndarray:
    low, high, lanes = CASES[case][1]
    return np.random.default_rng(seed).integers(low, high, (ITEMS, lanes))


@pytest.mark.parametrize("case", sorted(CASES))
def test_both_emitters_match_numpy_under_random_stalls(case: str, build_dir: Path):
    make, _, model, layout = CASES[case]
    x = _inputs(case)
    expected = model(x)
    path, top = _write(make(), "own", build_dir)
    own = simulate([path], top, x, seed=7, build_dir=build_dir, **layout)
    np.testing.assert_array_equal(own.outputs, expected)
    assert own.cycles > ITEMS  # stalls cost cycles
    assert np.all(np.diff(own.in_cycles) > 0) and np.all(np.diff(own.out_cycles) > 0)
    assert np.all(own.out_cycles > own.in_cycles)  # one output per input, later

    path, top = _write(make(), "circt", build_dir)
    circt = simulate([path], top, x, seed=7, build_dir=build_dir, **layout)
    np.testing.assert_array_equal(circt.outputs, expected)
    # the same logic: the same handshakes in the same cycles
    np.testing.assert_array_equal(circt.in_cycles, own.in_cycles)
    np.testing.assert_array_equal(circt.out_cycles, own.out_cycles)
    assert (circt.ii, circt.latency) == (own.ii, own.latency)


def test_throughput_and_latency(build_dir: Path):
    x = _inputs("mac")
    path, top = _write(designs.mac(), "own", build_dir)
    calm = simulate(
        [path], top, x, 1, stall_prob_in=0, stall_prob_out=0, build_dir=build_dir
    )
    # two register stages and the skid buffer: an item per cycle, 3 cycles deep
    assert (calm.ii, calm.latency) == (1.0, 3)
    np.testing.assert_array_equal(calm.in_cycles, np.arange(ITEMS))
    np.testing.assert_array_equal(calm.out_cycles, np.arange(ITEMS) + 3)
    assert calm.cycles == ITEMS + 3
    assert calm.cycles_per_item == pytest.approx((ITEMS + 3) / ITEMS)

    # other stall patterns: other timing, the same outputs
    busy = simulate(
        [path],
        top,
        x,
        1,
        stall_prob_in=0.5,
        stall_prob_out=0.6,
        seed=3,
        build_dir=build_dir,
    )
    np.testing.assert_array_equal(busy.outputs, calm.outputs)
    assert busy.cycles > calm.cycles and busy.ii == 1.0
    assert np.all(busy.out_cycles - busy.in_cycles >= 3)
    assert busy.build.cached

    # ready = !valid: the stage takes an item every other cycle
    path, top = _write(designs.half_rate(), "own", build_dir)
    half = simulate([path], top, _inputs("half_rate"), build_dir=build_dir)
    assert (half.ii, half.latency) == (2.0, 1)


def test_protocol_violations_and_deadlocks_are_caught(build_dir: Path):
    x = np.arange(5)[:, None]
    path, top = _write(designs.valid_toggler(), "own", build_dir)
    with pytest.raises(
        RtlError,
        match=r"simulation failed: out_valid fell before "
        r"out_ready took the item \(cycle \d+\)",
    ):
        simulate([path], top, x, build_dir=build_dir)
    with pytest.raises(RtlError, match="produced more outputs than expected"):
        simulate([path], top, x, n_outputs=1, stall_prob_out=0, build_dir=build_dir)
    path, top = _write(designs.never_ready(), "own", build_dir)
    with pytest.raises(
        RtlError,
        match="no handshake for 200 cycles: 0 of 5 inputs taken, 0 of 5 outputs",
    ):
        simulate([path], top, x, timeout_cycles=200, build_dir=build_dir)


@pytest.mark.parametrize(
    ("inputs", "options", "message"),
    [
        (np.zeros((4, 3), int), {}, "in_data is 32 bits wide, not 3 lanes x 10 bits"),
        (
            np.zeros((4, 4), int),
            {"out_lanes": 3},
            "out_data is 20 bits wide, not 3 lanes x 6 bits",
        ),
        (np.full((4, 4), 300), {"out_lanes": 1}, "value 300 does not fit in 8-bit"),
        (np.zeros((4, 4), int), {"stall_prob_out": 1.0}, "stall_prob_out must be in"),
        (np.zeros((0, 4), int), {}, "non-empty [items, lanes] array"),
        (np.zeros((4, 4), int), {"out_lanes": 1, "n_outputs": 0}, "n_outputs must"),
    ],
)
def test_bad_stream_layouts(inputs, options, message: str, build_dir: Path):
    path, top = _write(designs.mac(), "own", build_dir)
    with pytest.raises(RtlError, match=message.replace("[", r"\[")):
        simulate([path], top, inputs, build_dir=build_dir, **options)


def test_designs_outside_the_convention_fail_before_compiling(build_dir: Path):
    src = build_dir / "src"
    src.mkdir(exist_ok=True)
    no_ready = src / "no_ready.sv"
    no_ready.write_text(
        "module no_ready(input logic clk, input logic rst, input logic [7:0] "
        "in_data, input logic in_valid, output logic in_ready, output logic "
        "[7:0] out_data, output logic out_valid);\n"
        "  assign in_ready = 1'b1;\n  assign out_data = in_data;\n"
        "  assign out_valid = in_valid;\nendmodule\n"
    )
    with pytest.raises(RtlError, match="module 'no_ready' has no port 'out_ready'"):
        simulate([no_ready], "no_ready", np.zeros((3, 1), int), build_dir=build_dir)
    extra = src / "extra.sv"
    extra.write_text(
        no_ready.read_text().replace(
            "no_ready(", "extra(input logic out_ready, input logic mode, "
        )
    )
    with pytest.raises(RtlError, match="has the input port 'mode' beyond the stream"):
        simulate([extra], "extra", np.zeros((3, 1), int), build_dir=build_dir)
    broken = src / "broken.sv"
    broken.write_text("module broken(input logic clk\nendmodule\n")
    with pytest.raises(RtlError, match=r"verilator failed: %Error: .*broken\.sv:2"):
        simulate([broken], "broken", np.zeros((3, 1), int), build_dir=build_dir)
    with pytest.raises(RtlError, match="cannot read"):
        simulate([src / "missing.sv"], "x", np.zeros((3, 1), int), build_dir=build_dir)


def test_missing_verilator_is_a_clear_error(monkeypatch):
    find_verilator.cache_clear()
    monkeypatch.setenv("PATH", os.devnull)
    try:
        with pytest.raises(
            ToolMissingError,
            match=r"Verilator needs 'perl'.*"
            "apt-get install perl",
        ):
            find_verilator()
    finally:
        find_verilator.cache_clear()
