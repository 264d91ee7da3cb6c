"""Yosys synth_xilinx resource reports (qopt.backends.rtl.yosys)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import rtl_designs as designs

from qopt.backends.rtl import RtlError, ToolMissingError
from qopt.backends.rtl.verilog import emit_verilog
from qopt.backends.rtl.yosys import RESOURCES, classify, find_yosys, synth_report


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.getbasetemp() / "rtl-build"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def yosys():
    try:
        return find_yosys()
    except ToolMissingError as e:
        pytest.skip(str(e))


def _sv(module, name: str, build_dir: Path) -> Path:
    path = build_dir / "src" / f"{name}-own.sv"
    path.parent.mkdir(exist_ok=True)
    path.write_text(emit_verilog(module))
    return path


def test_classify_sums_cells_into_resources():
    report = classify(
        {
            "LUT1": 1,
            "LUT2": 2,
            "LUT6": 3,
            "FDRE": 4,
            "FDSE": 1,
            "FDCE": 2,
            "CARRY4": 5,
            "DSP48E1": 2,
            "RAMB18E1": 1,
            "RAMB36E1": 3,
            "RAM32M": 2,
            "RAM64X1D": 1,
            "SRLC32E": 4,
            "SRL16E": 1,
            "MUXF7": 6,
            "MUXF8": 1,
            "IBUF": 9,
            "BUFG": 1,
        }
    )
    assert report == {
        "LUT": 6,
        "FF": 7,
        "CARRY4": 5,
        "DSP48E1": 2,
        "RAMB18": 1,
        "RAMB36": 3,
        "LUTRAM": 3,
        "SRL": 5,
        "MUXF": 7,
        "cells": 49,
    }
    assert list(report) == [*RESOURCES, "cells"]


def test_power_of_two_multiplier_is_a_shift(yosys, build_dir: Path):
    pow2 = _sv(designs.multiplier(16), "mul_by_16", build_dir)
    general = _sv(designs.multiplier(None), "mul_general", build_dir)
    shift = synth_report([pow2], "mul_by_16", build_dir=build_dir)
    dsp = synth_report([general], "mul_general", build_dir=build_dir)
    assert shift["DSP48E1"] == 0 and dsp["DSP48E1"] == 1
    # x * 16 keeps 12 product bits (the low 4 are zero) and the valid bit
    assert shift["FF"] == 13 and shift["CARRY4"] == 0
    lut_only = synth_report(
        [general], "mul_general", use_dsp=False, build_dir=build_dir
    )
    assert lut_only["DSP48E1"] == 0
    assert lut_only["FF"] == 17  # 16 product bits and the valid bit
    assert shift["LUT"] * 20 < lut_only["LUT"]
    assert lut_only["CARRY4"] > 0


def test_mac_report(yosys, build_dir: Path):
    path = build_dir / "src" / "mac-synth.sv"
    path.parent.mkdir(exist_ok=True)
    path.write_text(emit_verilog(designs.mac()))
    report = synth_report([path], "mac", build_dir=build_dir)
    assert set(report) == {*RESOURCES, "cells"}
    # flattened: the skid buffer's 2 x 21 registers are counted with mac's
    assert report["FF"] >= 2 * (designs.MAC_WIDTH + 1)
    assert report["DSP48E1"] >= 1
    assert report["RAMB18"] == report["RAMB36"] == 0
    # the second report comes from the cache, also for a copy elsewhere (the
    # key is the contents); another option is another synthesis
    assert synth_report([path], "mac", build_dir=build_dir) == report
    copy = build_dir / "src" / "mac-copy.sv"
    copy.write_text(path.read_text())
    assert synth_report([copy], "mac", build_dir=build_dir) == report
    assert len(list((build_dir / "yosys").glob("mac-*.json"))) == 1
    synth_report([path], "mac", use_dsp=False, build_dir=build_dir)
    assert len(list((build_dir / "yosys").glob("mac-*.json"))) == 2


def test_yosys_errors_are_one_line(yosys, build_dir: Path):
    path = _sv(designs.multiplier(16), "mul_by_16", build_dir)
    with pytest.raises(RtlError, match="Yosys failed: ERROR: Module `nope' not found"):
        synth_report([path], "nope", build_dir=build_dir)
    broken = build_dir / "src" / "broken-synth.sv"
    broken.write_text("module broken(input logic a\nendmodule\n")
    with pytest.raises(RtlError, match=r"Yosys failed: .*broken-synth\.sv:2: ERROR"):
        synth_report([broken], "broken", build_dir=build_dir)
    with pytest.raises(RtlError, match="is not a module name"):
        synth_report([path], "a b", build_dir=build_dir)


def test_missing_yosys_is_a_clear_error(monkeypatch):
    find_yosys.cache_clear()
    monkeypatch.setenv("PATH", os.devnull)
    try:
        with pytest.raises(ToolMissingError, match="apt-get install yosys"):
            synth_report(["x.sv"], "x")
    finally:
        find_yosys.cache_clear()
