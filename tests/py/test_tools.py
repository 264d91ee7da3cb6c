"""qopt-opt and qopt-run as users run them: exit codes, stderr, output files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from xdsl.dialects.builtin import TensorType, f32, i8, i32

from qopt.tools import errors
from qopt.tools.errors import ToolError, write_atomically
from qopt.tools.qopt_run import format_result, load_inputs

GOOD = """\
func.func @main(%x: tensor<2x3xf32>, %y: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %s = nn.add %x, %y : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %dead = nn.relu %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r = nn.relu %s : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %r : tensor<2x3xf32>
}
"""

UNPARSABLE = GOOD.replace("nn.relu %s", "nn.no_such_op %s")

INVALID = """\
func.func @main(%x: tensor<2x3xf32>, %y: tensor<2x4xf32>) -> tensor<2x3xf32> {
  %s = nn.add %x, %y : (tensor<2x3xf32>, tensor<2x4xf32>) -> tensor<2x3xf32>
  func.return %s : tensor<2x3xf32>
}
"""


def run_tool(
    tool: str, *args: str | os.PathLike, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    module = {"qopt-opt": "qopt.tools.qopt_opt", "qopt-run": "qopt.tools.qopt_run"}
    return subprocess.run(
        [sys.executable, "-m", module[tool], *map(str, args)],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], tool: str) -> str:
    """Exit 2, nothing on stdout, one `tool: error:` line on stderr."""
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"{tool}: error: ")
    return lines[0]


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.mlir"
    path.write_text(GOOD)
    return path


# --------------------------------------------------------------------------
# qopt-opt
# --------------------------------------------------------------------------


def test_opt_prints_module(good: Path) -> None:
    proc = run_tool("qopt-opt", good, "--pass-pipeline=builtin.module(dce)")
    assert proc.returncode == 0, proc.stderr
    assert "nn.add" in proc.stdout
    assert "%dead" not in proc.stdout
    assert proc.stderr == ""


def test_opt_reads_stdin() -> None:
    for args in (("-",), ()):
        proc = run_tool("qopt-opt", *args, "-p", "dce", stdin=GOOD)
        assert proc.returncode == 0, proc.stderr
        assert "nn.add" in proc.stdout and "%dead" not in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pass-pipeline=builtin.module(nosuch)"], "unknown pass 'nosuch' (known: "),
        (["-p", "dce,nosuch"], "unknown pass 'nosuch'"),
        (["--pass-pipeline=builtin.module(dce{x=1})"], "pass 'dce' has no option 'x'"),
        (
            ["--pass-pipeline=builtin.module(convert-scf-to-openmp{collapse=x})"],
            "option 'collapse' expects an integer, got 'x'",
        ),
        (
            ["--pass-pipeline=builtin.module(dce"],
            "malformed pass pipeline at column 19: unexpected end",
        ),
        (["-p", "dce{"], "malformed pass pipeline at column 5"),
        (["--pass-pipeline=func.func(dce)"], "must be anchored on builtin.module"),
        (["-p", "dce", "--pass-pipeline=dce"], "either -p or --pass-pipeline"),
        (["-t", "nosuchtarget"], None),
    ],
)
def test_opt_pipeline_errors(good: Path, args: list[str], message: str | None) -> None:
    proc = run_tool("qopt-opt", good, *args)
    if message is None:  # argparse's own usage errors: exit 2, no traceback
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        return
    line = assert_one_line_error(proc, "qopt-opt")
    assert message in line


def test_opt_missing_input(tmp_path: Path) -> None:
    proc = run_tool("qopt-opt", tmp_path / "nope.mlir")
    line = assert_one_line_error(proc, "qopt-opt")
    assert line.endswith("nope.mlir': No such file or directory")


def test_opt_input_is_a_directory(tmp_path: Path) -> None:
    proc = run_tool("qopt-opt", tmp_path, "-f", "mlir")
    assert_one_line_error(proc, "qopt-opt")


def test_opt_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "model.txt"
    path.write_text(GOOD)
    line = assert_one_line_error(run_tool("qopt-opt", path), "qopt-opt")
    assert "Unrecognized file extension 'txt'" in line
    assert run_tool("qopt-opt", path, "-f", "mlir").returncode == 0


def test_opt_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.mlir"
    path.write_text(UNPARSABLE)
    proc = run_tool("qopt-opt", path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"qopt-opt: error: {path}:4:")
    assert lines[0].endswith("Operation nn.no_such_op is not registered")


def test_opt_parsing_diagnostics_exit_zero(tmp_path: Path) -> None:
    path = tmp_path / "bad.mlir"
    path.write_text(UNPARSABLE)
    proc = run_tool("qopt-opt", path, "--parsing-diagnostics")
    assert proc.returncode == 0
    assert "Operation nn.no_such_op is not registered" in proc.stdout


def test_opt_verify_error(tmp_path: Path) -> None:
    path = tmp_path / "invalid.mlir"
    path.write_text(INVALID)
    proc = run_tool("qopt-opt", path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("qopt-opt: error: the input does not verify: 'nn.add'")


def test_opt_verify_diagnostics_exit_zero(tmp_path: Path) -> None:
    path = tmp_path / "invalid.mlir"
    path.write_text(INVALID)
    proc = run_tool("qopt-opt", path, "--verify-diagnostics")
    assert proc.returncode == 0
    assert "'nn.add'" in proc.stdout


def test_opt_split_input_file(tmp_path: Path) -> None:
    path = tmp_path / "split.mlir"
    path.write_text(GOOD + "\n// -----\n" + GOOD.replace("@main", "@other"))
    proc = run_tool("qopt-opt", path, "--split-input-file", "-p", "dce")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("// -----") == 1
    assert "@main" in proc.stdout and "@other" in proc.stdout


def test_opt_output_file(good: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "result.mlir"
    out.parent.mkdir()
    proc = run_tool("qopt-opt", good, "-p", "dce", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "nn.add" in out.read_text()
    assert sorted(os.listdir(out.parent)) == ["result.mlir"]
    assert stat.S_IMODE(out.stat().st_mode) & 0o644 == 0o644


@pytest.mark.parametrize(
    ("source", "args"),
    [
        (GOOD, ["-p", "nosuchpass"]),
        (GOOD, ["--pass-pipeline=builtin.module(dce"]),
        (UNPARSABLE, []),
        (INVALID, []),
        (GOOD, ["-p", "apply-pdl{pdl-file=/no/such/file.mlir}"]),  # pass crashes
        (GOOD + "\n// -----\n" + INVALID, ["--split-input-file"]),
    ],
)
def test_opt_failure_leaves_no_output(
    tmp_path: Path, source: str, args: list[str]
) -> None:
    path = tmp_path / "in.mlir"
    path.write_text(source)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = run_tool("qopt-opt", path, *args, "-o", out_dir / "out.mlir")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert os.listdir(out_dir) == []
    # and an existing file is left untouched
    (out_dir / "out.mlir").write_text("previous\n")
    proc = run_tool("qopt-opt", path, *args, "-o", out_dir / "out.mlir")
    assert proc.returncode != 0
    assert (out_dir / "out.mlir").read_text() == "previous\n"
    assert os.listdir(out_dir) == ["out.mlir"]


def test_opt_unwritable_output(good: Path, tmp_path: Path) -> None:
    proc = run_tool("qopt-opt", good, "-o", tmp_path / "missing" / "out.mlir")
    line = assert_one_line_error(proc, "qopt-opt")
    assert "cannot write" in line


def test_opt_pass_crash_is_one_line(good: Path) -> None:
    proc = run_tool("qopt-opt", good, "-p", "apply-pdl{pdl-file=/no/such.mlir}")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith(
        "qopt-opt: internal error while running pass 'apply-pdl': AssertionError"
    )


def test_opt_traceback_on_request(good: Path) -> None:
    env = {**os.environ, "QOPT_TRACEBACK": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "qopt.tools.qopt_opt",
            str(good),
            "-p",
            "apply-pdl{pdl-file=/no/such.mlir}",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr


def test_opt_in_process_main(good: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from qopt.tools.qopt_opt import main

    assert main([str(good), "--pass-pipeline", "builtin.module(dce)"]) == 0
    assert "nn.add" in capsys.readouterr().out
    assert main([str(good), "-p", "nosuch"]) == 2
    assert capsys.readouterr().err.startswith("qopt-opt: error: unknown pass")


def test_registries_do_not_need_the_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from xdsl.universe import XDSL_UNIVERSE, Universe

    from qopt.tools import qopt_opt

    monkeypatch.setattr(Universe, "get_multiverse", staticmethod(lambda: XDSL_UNIVERSE))
    assert "nn-canonicalize" not in XDSL_UNIVERSE.all_passes
    passes, dialects = qopt_opt.all_passes(), qopt_opt.all_dialects()
    assert {"nn-canonicalize", "nn-fold-batchnorm", "dce"} <= set(passes)
    assert {"nn", "q", "func", "arith"} <= set(dialects)


# --------------------------------------------------------------------------
# qopt-run
# --------------------------------------------------------------------------


@pytest.fixture
def xy(tmp_path: Path) -> tuple[Path, Path]:
    x = tmp_path / "x.npy"
    y = tmp_path / "y.npy"
    np.save(x, np.array([[1, -2, 3], [-4, 5, -6]], np.float32))
    np.save(y, np.full((2, 3), 0.25, np.float32))
    return x, y


def test_run_prints_results(good: Path, xy: tuple[Path, Path]) -> None:
    proc = run_tool("qopt-run", good, "--input", xy[0], "--input", xy[1])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "result 0: tensor<2x3xf32>\n"
        "  1.250000, 0.000000, 3.250000\n"
        "  0.000000, 5.250000, 0.000000\n"
    )
    assert proc.stderr == ""


def test_run_stdin_npz_inline_and_output(tmp_path: Path, xy: tuple[Path, Path]) -> None:
    both = tmp_path / "xy.npz"
    np.savez(both, a=np.load(xy[0]), b=np.load(xy[1]))
    out = tmp_path / "res.npz"
    proc = run_tool("qopt-run", "-", "--input", both, "--output", out, stdin=GOOD)
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as saved:
        assert saved.files == ["result0"]
        np.testing.assert_array_equal(
            saved["result0"], np.array([[1.25, 0, 3.25], [0, 5.25, 0]], np.float32)
        )
        assert saved["result0"].dtype == np.float32
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    inline = run_tool(
        "qopt-run", "-", "-i", "[[1,-2,3],[-4,5,-6]]", "-i", xy[1], stdin=GOOD
    )
    assert inline.stdout == proc.stdout


def test_run_entry_and_types(tmp_path: Path) -> None:
    source = tmp_path / "many.mlir"
    source.write_text(
        "func.func @many(%a: tensor<?x2xf32>, %b: tensor<3xi8>, %c: tensor<i1>)"
        " -> (tensor<?x2xf32>, tensor<3xi8>, tensor<i1>) {\n"
        "  func.return %a, %b, %c : tensor<?x2xf32>, tensor<3xi8>, tensor<i1>\n}\n"
    )
    b = tmp_path / "b.npy"
    np.save(b, np.array([-128, 0, 127], np.int64))
    proc = run_tool(
        "qopt-run", source, "--entry", "many", "-i", "[[1.5, -0.0000001]]", "-i", b,
        "-i", "[[1]]",
    )  # fmt: skip
    assert proc.returncode == 2  # tensor<i1> is 0-d: a 1x1 input does not fit
    assert "argument 2 has shape 1x1" in proc.stderr
    c = tmp_path / "c.npy"
    np.save(c, np.array(True))
    proc = run_tool(
        "qopt-run", source, "--entry", "many", "-i", "[[1.5, -0.0000001]]", "-i", b,
        "-i", c,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "result 0: tensor<?x2xf32> (shape 1x2)\n"
        "  1.500000, 0.000000\n"
        "result 1: tensor<3xi8>\n"
        "  -128, 0, 127\n"
        "result 2: tensor<i1>\n"
        "  true\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "X"], "@main takes 2 arguments, 1 given"),
        (["--input", "X", "--input", "WIDE"], "argument 1 has shape 3x3"),
        (
            ["--input", "X", "--input", "X", "--entry", "nope"],
            "no function named @nope",
        ),
        (["--input", "X", "--input", "MISSING"], "cannot read input"),
        (["--input", "X", "--input", "JUNK"], "is not a .npy or .npz file"),
        (["--input", "[1, 2", "--input", "X"], "is not a valid array literal"),
        (["--input", "['a']", "--input", "X"], "is not a valid array literal"),
        (["--input", "X", "--input", "X", "-p", "nosuch"], "unknown pass 'nosuch'"),
        (["-p", "dce", "--pass-pipeline", "dce"], "either -p or --pass-pipeline"),
        (["--input", "X", "--input", "X", "--output", "NODIR"], "cannot write"),
        (["--precision", "-1"], "--precision must be between 0 and 30"),
    ],
)
def test_run_errors(
    good: Path, tmp_path: Path, xy: tuple[Path, Path], args: list[str], message: str
) -> None:
    (tmp_path / "junk.npy").write_text("junk")
    np.save(tmp_path / "wide.npy", np.ones((3, 3), np.float32))
    names = {
        "X": xy[0],
        "WIDE": tmp_path / "wide.npy",
        "MISSING": tmp_path / "missing.npy",
        "JUNK": tmp_path / "junk.npy",
        "NODIR": tmp_path / "no" / "dir.npz",
    }
    proc = run_tool("qopt-run", good, *[str(names.get(a, a)) for a in args])
    line = assert_one_line_error(proc, "qopt-run")
    assert message in line


def test_run_bad_ir(tmp_path: Path) -> None:
    for source, first in [
        (UNPARSABLE, "qopt-run: error: stdin:4:"),
        (INVALID, "qopt-run: error: the input does not verify: 'nn.add'"),
    ]:
        proc = run_tool("qopt-run", "-", stdin=source)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        assert proc.stderr.startswith(first)
    proc = run_tool("qopt-run", tmp_path / "nope.mlir")
    assert_one_line_error(proc, "qopt-run")


def test_run_failure_leaves_no_output(good: Path, tmp_path: Path, xy) -> None:
    out = tmp_path / "out"
    out.mkdir()
    proc = run_tool("qopt-run", good, "--input", xy[0], "--output", out / "r.npz")
    assert proc.returncode == 2
    assert os.listdir(out) == []


# --------------------------------------------------------------------------
# Formatting and helpers, in process
# --------------------------------------------------------------------------


def test_format_result_floats() -> None:
    value = np.array([[1.0, -1e-9, np.nan], [np.inf, -np.inf, 2.5]], np.float32)
    assert format_result(0, value, TensorType(f32, [2, 3])) == (
        "result 0: tensor<2x3xf32>\n  1.000000, 0.000000, nan\n  inf, -inf, 2.500000\n"
    )
    assert format_result(3, np.array([0.123456789]), TensorType(f32, [1]), 3) == (
        "result 3: tensor<1xf32>\n  0.123\n"
    )


def test_format_result_integers_and_shapes() -> None:
    levels = np.arange(-4, 4, dtype=np.int64).reshape(2, 2, 2)
    assert format_result(1, levels, TensorType(i8, [2, 2, 2])) == (
        "result 1: tensor<2x2x2xi8>\n  -4, -3\n  -2, -1\n  0, 1\n  2, 3\n"
    )
    assert format_result(0, np.array(7), TensorType(i32, [])) == (
        "result 0: tensor<i32>\n  7\n"
    )
    assert format_result(0, np.zeros((0, 3), np.float32), TensorType(f32, [0, 3])) == (
        "result 0: tensor<0x3xf32>\n  (empty)\n"
    )
    assert format_result(0, np.array([True, False]), None) == (
        "result 0: bool (shape 2)\n  true, false\n"
    )


def test_load_inputs(tmp_path: Path) -> None:
    np.savez(tmp_path / "ab.npz", first=np.ones(2), second=np.zeros(3))
    np.save(tmp_path / "c.npy", np.arange(4))
    arrays = load_inputs(
        [str(tmp_path / "ab.npz"), str(tmp_path / "c.npy"), "[[1, 2]]", "-2.5"]
    )
    assert [a.shape for a in arrays] == [(2,), (3,), (4,), (1, 2), ()]
    assert arrays[4] == -2.5
    with pytest.raises(ToolError, match="holds no arrays"):
        np.savez(tmp_path / "empty.npz")
        load_inputs([str(tmp_path / "empty.npz")])


def test_write_atomically(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    write_atomically(str(target), "one")
    assert target.read_text() == "one"
    target.chmod(0o600)
    write_atomically(str(target), b"two")
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["f.txt"]
    with pytest.raises(ToolError, match="cannot write"):
        write_atomically(str(tmp_path / "no" / "f.txt"), "x")


def test_one_line() -> None:
    assert errors.one_line("a\n  b\tc ") == "a b c"
