"""Bad ONNX input through the command line: one error line, exit status 2,
no traceback and no output file (qopt-opt and qopt-run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

TOOLS = {"qopt-opt": "qopt.tools.qopt_opt", "qopt-run": "qopt.tools.qopt_run"}


def run_tool(tool: str, *args) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", TOOLS[tool], *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], tool: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"{tool}: error: ")
    return lines[0]


def fails_cleanly(path: Path, *extra: str) -> str:
    """Both tools reject `path` with one line; qopt-opt writes no -o file."""
    out = path.parent / "out.mlir"
    message = one_line_error(run_tool("qopt-opt", path, *extra, "-o", out), "qopt-opt")
    assert not out.exists()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".out.mlir")]
    run_message = one_line_error(run_tool("qopt-run", path, *extra), "qopt-run")
    assert run_message.removeprefix("qopt-run") == message.removeprefix("qopt-opt")
    return message


def small_model(nodes, inputs, opset=13, inits=(), domains=()):
    graph = helper.make_graph(
        nodes,
        "g",
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        list(inits),
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)]
        + [helper.make_opsetid(d, 1) for d in domains],
    )
    model.ir_version = 8
    return model


def relu_model(shape=(1, 4)):
    return small_model(
        [helper.make_node("Relu", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
    )


def test_text_file_is_not_onnx(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_text("func.func @main() {\n  func.return\n}\n")
    message = fails_cleanly(path)
    assert "not an ONNX model" in message


def test_empty_file(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"")
    assert "the file is empty" in fails_cleanly(path)


def test_truncated_file(tmp_path):
    w = numpy_helper.from_array(np.ones((64, 64), np.float32), "w")
    model = small_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
        inits=[w],
    )
    data = model.SerializeToString()
    path = tmp_path / "model.onnx"
    path.write_bytes(data[: len(data) // 2])
    message = fails_cleanly(path)
    assert "truncated" in message


def test_unsupported_ops_listed_together(tmp_path):
    s = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "s")
    nodes = [
        helper.make_node("Upsample", ["x", "s"], ["u1"], name="up_a"),
        helper.make_node("Upsample", ["u1", "s"], ["u2"], name="up_b"),
        helper.make_node("Relu", ["u2"], ["r"], name="relu"),
        helper.make_node("Upsample", ["r", "s"], ["u3"], name="up_c"),
        helper.make_node("Upsample", ["x", "s"], ["u4"], name="up_d"),
        helper.make_node("MyOp", ["u3"], ["m"], name="mine", domain="com.acme"),
        helper.make_node("Hardmax", ["m"], ["h"], name="hardmax"),
        helper.make_node("Add", ["h", "u4"], ["y"], name="add"),
    ]
    model = small_model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
        opset=9,
        inits=[s],
        domains=["com.acme"],
    )
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    message = fails_cleanly(path)
    assert "unsupported ONNX ops (3 types, 6 nodes)" in message
    assert "Upsample x4 (up_a, up_b, up_c, ...)" in message
    assert "Hardmax x1 (hardmax)" in message
    assert "com.acme.MyOp x1 (mine)" in message


def test_missing_external_data(tmp_path):
    w = numpy_helper.from_array(np.ones((8, 8), np.float32), "w")
    model = small_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        inits=[w],
    )
    path = tmp_path / "model.onnx"
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        location="weights.bin",
        size_threshold=0,
    )
    (tmp_path / "weights.bin").unlink()
    message = fails_cleanly(path)
    assert "external data file 'weights.bin'" in message
    assert "is missing" in message


def test_short_external_data(tmp_path):
    w = numpy_helper.from_array(np.ones((8, 8), np.float32), "w")
    model = small_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        inits=[w],
    )
    path = tmp_path / "model.onnx"
    onnx.save_model(
        model, str(path), save_as_external_data=True, location="w.bin", size_threshold=0
    )
    data = (tmp_path / "w.bin").read_bytes()
    (tmp_path / "w.bin").write_bytes(data[:100])
    assert "too short" in fails_cleanly(path)


def test_unresolvable_dynamic_dimension(tmp_path):
    path = tmp_path / "model.onnx"
    onnx.save(relu_model(("N", "seq")), str(path))
    message = fails_cleanly(path)
    assert "'seq' at axis 1" in message
    assert "--dim seq=VALUE" in message
    proc = run_tool("qopt-opt", path, "--dim", "seq=5")
    assert proc.returncode == 0, proc.stderr
    assert "tensor<?x5xf32>" in proc.stdout


def test_dynamic_shape_needed_at_import_time(tmp_path):
    # a fill of the input's shape: its batch size is only known at run time
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("ConstantOfShape", ["s"], ["c"]),
        helper.make_node("Add", ["x", "c"], ["y"]),
    ]
    model = small_model(
        nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])]
    )
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    message = fails_cleanly(path)
    assert "cannot resolve the dynamic dimension(s) N" in message
    assert "--batch N" in message
    proc = run_tool("qopt-opt", path, "--batch", "3")
    assert proc.returncode == 0, proc.stderr
    assert "tensor<3x4xf32>" in proc.stdout


@pytest.mark.parametrize(
    "args, expected",
    [
        (("--batch", "0"), "--batch expects a positive integer, got '0'"),
        (("--dim", "seq"), "--dim expects NAME=VALUE, got 'seq'"),
        (("--dim", "seq=x"), "--dim seq expects a positive integer, got 'x'"),
        (("--dim", "nope=3"), "--dim names no dynamic dimension of the inputs: nope"),
    ],
)
def test_bad_import_options(tmp_path, args, expected):
    path = tmp_path / "model.onnx"
    onnx.save(relu_model(("N", 4)), str(path))
    assert expected in fails_cleanly(path, *args)


def test_import_options_need_an_onnx_input(tmp_path):
    path = tmp_path / "m.mlir"
    path.write_text(
        "func.func @main(%x: tensor<2xf32>) -> tensor<2xf32> {\n"
        "  func.return %x : tensor<2xf32>\n}\n"
    )
    for tool in TOOLS:
        message = one_line_error(run_tool(tool, path, "--batch", "2"), tool)
        assert "--batch applies only to an ONNX input (.onnx)" in message


def test_missing_model_file(tmp_path):
    for tool in TOOLS:
        message = one_line_error(run_tool(tool, tmp_path / "none.onnx"), tool)
        assert "cannot read" in message


def test_good_model_through_both_tools(tmp_path):
    path = tmp_path / "model.onnx"
    onnx.save(relu_model(("N", 4)), str(path))
    proc = run_tool("qopt-opt", path, "--print-debuginfo")
    assert proc.returncode == 0, proc.stderr
    assert 'loc("x")' in proc.stdout
    proc = run_tool("qopt-run", path, "--input", "[[-1, 2, -3, 4], [5, -6, 7, -8]]")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[:2] == [
        "result 0: tensor<?x4xf32> (shape 2x4)",
        "  0.000000, 2.000000, 0.000000, 4.000000",
    ]
