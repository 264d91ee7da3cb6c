"""`qopt sim` and `qopt synth` (tools/qopt_main.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rtl_designs as designs

from qopt.backends.rtl import ToolMissingError
from qopt.backends.rtl.verilator import find_verilator
from qopt.backends.rtl.verilog import emit_verilog
from qopt.backends.rtl.yosys import find_yosys
from qopt.tools.qopt_main import main


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.getbasetemp() / "rtl-build"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def verilator():
    try:
        return find_verilator()
    except ToolMissingError as e:
        pytest.skip(str(e))


@pytest.fixture
def yosys():
    try:
        return find_yosys()
    except ToolMissingError as e:
        pytest.skip(str(e))


@pytest.fixture
def mac_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """mac as IR and as SystemVerilog, and 200 input items."""
    ir = tmp_path / "mac.mlir"
    ir.write_text(str(designs.mac()))
    sv = tmp_path / "mac.sv"
    sv.write_text(emit_verilog(designs.mac()))
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(5).integers(-128, 128, (200, 4)))
    return ir, sv, x


def test_sim_writes_the_outputs_and_a_summary(
    verilator, mac_files, tmp_path: Path, build_dir: Path, capsys
):
    ir, sv, x = mac_files
    y = tmp_path / "y.npy"
    common = ["--out-lanes", "1", "--build-dir", str(build_dir)]
    assert main(["sim", str(ir), "--input", str(x), "--output", str(y), *common]) == 0
    expected = designs.mac_model(np.load(x))
    np.testing.assert_array_equal(np.load(y), expected)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "simulated mac:"
    assert out[1].split() == [
        "items",
        "200",
        "in,",
        "200",
        "out",
        "(1",
        "lanes",
        "of",
        "20",
        "bits,",
        "signed)",
    ]
    assert out[3].split()[:3] == ["initiation", "interval", "1.000"]
    assert out[4].split()[:2] == ["latency", "3"]

    # the same design as SystemVerilog (--top required), outputs printed
    assert (
        main(
            ["sim", str(sv), "--top", "mac", "--input", str(x), "--stall", "0", *common]
        )
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert [int(v) for v in out[:200]] == expected[:, 0].tolist()
    assert "cycles               203 (1.015 per item, stalls in 0 / out 0" in out[202]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "missing.npy"], "cannot read 'missing.npy': no such file"),
        (["--input", "{x}", "--stall", "1.5"], "stall_prob_in must be in [0, 1)"),
        (
            ["--input", "{x}", "--out-lanes", "3"],
            "out_data is 20 bits wide, not 3 lanes x 6 bits",
        ),
        (["--input", "{x}", "--top", "other"], "verilator failed: %Error: "),
    ],
)
def test_sim_errors_are_one_line_and_write_nothing(
    verilator, mac_files, args, message: str, tmp_path: Path, build_dir: Path, capsys
):
    ir, _, x = mac_files
    y = tmp_path / "y.npy"
    args = [a.replace("{x}", str(x)) for a in args]
    code = main(
        ["sim", str(ir), "--output", str(y), "--build-dir", str(build_dir), *args]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("qopt: error: ") and err.count("\n") == 1
    assert message in err
    assert not y.exists()


def test_design_errors(tmp_path: Path, capsys):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((3, 1), int))
    assert main(["sim", "nope.sv", "--input", str(x)]) == 2
    assert (
        capsys.readouterr().err == "qopt: error: cannot read 'nope.sv': no such file\n"
    )
    sv = tmp_path / "d.sv"
    sv.write_text("module d; endmodule\n")
    assert main(["synth", str(sv)]) == 2
    assert (
        capsys.readouterr().err == "qopt: error: give the top-level module with --top\n"
    )
    empty = tmp_path / "e.mlir"
    empty.write_text("builtin.module {}\n")
    assert main(["synth", str(empty)]) == 2
    assert "holds no hw.module" in capsys.readouterr().err
    bad = tmp_path / "bad.mlir"
    bad.write_text("hw.module @m(in %a: i8, out y: i8) {\n  hw.output %b : i8\n}\n")
    assert main(["synth", str(bad)]) == 2
    assert "bad.mlir:4:1: values used but not defined: [%b]" in capsys.readouterr().err
    npz = tmp_path / "x.npz"
    np.savez(npz, a=np.zeros(3))
    assert main(["sim", str(bad), "--input", str(npz)]) == 2
    assert "not an .npz archive" in capsys.readouterr().err


def test_synth_prints_the_resource_table(
    yosys, tmp_path: Path, build_dir: Path, capsys
):
    ir = tmp_path / "mul.mlir"
    ir.write_text(str(designs.multiplier(16)))
    assert main(["synth", str(ir), "--build-dir", str(build_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("synth_xilinx -family xc7 -top mul_by_16 (Yosys ")
    table = dict(line.split() for line in out[2:])
    assert list(table) == [
        "LUT",
        "FF",
        "CARRY4",
        "DSP48E1",
        "RAMB18",
        "RAMB36",
        "LUTRAM",
        "SRL",
        "MUXF",
        "cells",
    ]
    assert table["FF"] == "13" and table["DSP48E1"] == "0"
    ir.write_text(str(designs.multiplier(None)))
    assert main(["synth", str(ir), "--no-dsp", "--build-dir", str(build_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "-nodsp" in out[0]
    assert dict(line.split() for line in out[2:])["DSP48E1"] == "0"
