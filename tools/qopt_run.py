"""`qopt-run`: execute a function of an IR file on numpy inputs.

    qopt-run model.mlir --input x.npy [--input y.npy ...] [--entry main]
             [--pass-pipeline 'builtin.module(...)' | -p a,b]
             [--output results.npz] [--precision 6] [--quiet]

An ONNX model (`model.onnx`) is imported first (with `--batch N`, `--dim
NAME=VALUE` and `--inline-params` as in qopt-opt). The IR (`-` reads stdin)
is parsed and verified, optionally transformed by a
pass pipeline (same syntax and errors as qopt-opt), and `func.func @ENTRY` is
run by qopt's reference executor. Each `--input` gives arguments in order:

- a `.npy` file: one argument;
- a `.npz` file: one argument per array, in the order they are stored;
- an inline array literal starting with `[` (`"[[1, 2], [3, 4]]"`), or a
  single number (`2.5`) for a 0-d tensor.

Values are converted to the argument's element type (float inputs to an
integer argument are refused). The results are printed on stdout:

    result 0: tensor<2x3xf32>
      1.000000, 0.000000, 3.500000
      4.000000, 5.000000, 6.000000

one header per result (its index and declared type, plus `(shape AxB)` when
the type has dynamic dimensions), then one indented line per innermost row in
row-major order, values separated by `, `. Floats are printed with fixed
PRECISION decimals (default 6; values smaller than half a unit of the last
decimal print as 0.000000, never -0.000000), integers (including the integer
levels of quantized types) as integers, booleans as `true`/`false`; a 0-d
result is one line, an empty one prints `(empty)`. There are no brackets, so
FileCheck patterns need no escaping.

`--output FILE` also writes the results as an `.npz` archive with arrays
`result0`, `result1`, ... (written to a temporary file and renamed).

Errors (missing files, wrong number/shape/dtype of inputs, unknown entry,
malformed or invalid IR, a bad pipeline) are one `qopt-run: error:` line on
stderr (a parse error adds the source line and caret) and exit status 2.
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import re
import sys
from collections.abc import Sequence

import numpy as np
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import DYNAMIC_INDEX, ModuleOp, TensorType
from xdsl.ir import Attribute
from xdsl.parser import Parser
from xdsl.utils.exceptions import DiagnosticException, ParseError

from qopt.tools.errors import (
    INTERNAL_ERROR,
    USAGE_ERROR,
    ToolError,
    one_line,
    report,
    report_internal,
    write_atomically,
)
from qopt.tools.pipeline import build_passes

TOOL = "qopt-run"

_NUMBER = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?\Z")


# ------------------------------------------------------------------ inputs


def _inline_array(text: str) -> np.ndarray:
    try:
        value = ast.literal_eval(text)
        array = np.array(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ToolError(f"--input '{text}' is not a valid array literal") from None
    if array.dtype.kind not in "biuf":
        raise ToolError(f"--input '{text}' is not a valid array literal of numbers")
    return array


def load_inputs(specs: Sequence[str]) -> list[np.ndarray]:
    """The function arguments given by the --input options, in order."""
    arrays: list[np.ndarray] = []
    for spec in specs:
        if spec.lstrip().startswith("["):
            arrays.append(_inline_array(spec))
            continue
        if not os.path.exists(spec) and _NUMBER.match(spec.strip()):
            arrays.append(_inline_array(spec))
            continue
        try:
            loaded = np.load(spec, allow_pickle=False)
        except OSError as e:
            raise ToolError(f"cannot read input '{spec}': {e.strerror or e}") from None
        except (ValueError, EOFError) as e:
            raise ToolError(
                f"input '{spec}' is not a .npy or .npz file ({one_line(str(e))})"
            ) from None
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                if not loaded.files:
                    raise ToolError(f"input '{spec}' holds no arrays")
                arrays.extend(loaded[name] for name in loaded.files)
        else:
            arrays.append(loaded)
    return arrays


# ------------------------------------------------------------------ results


def _format_values(values: np.ndarray, precision: int) -> list[str]:
    if values.dtype.kind == "b":
        words = np.where(values, "true", "false")
    elif values.dtype.kind in "iu":
        words = values.astype(object).astype(str)
    elif values.dtype.kind == "f":
        rounded = np.round(values.astype(np.float64), precision) + 0.0  # no -0
        words = np.array([f"{v:.{precision}f}" for v in rounded.ravel()]).reshape(
            values.shape
        )
    else:
        words = values.astype(str)
    if words.ndim == 0:
        return [str(words)]
    if words.size == 0:
        return ["(empty)"]
    rows = words.reshape(-1, words.shape[-1])
    return [", ".join(row) for row in rows]


def format_result(
    index: int, value: np.ndarray, declared: Attribute | None, precision: int = 6
) -> str:
    """The printed form of one result: a header line, then one line per row."""
    value = np.asarray(value)
    shape = "x".join(map(str, value.shape)) if value.ndim else "scalar"
    if declared is None:
        header = f"result {index}: {value.dtype} (shape {shape})"
    else:
        header = f"result {index}: {declared}"
        if isinstance(declared, TensorType) and DYNAMIC_INDEX in declared.get_shape():
            header += f" (shape {shape})"
    lines = [header]
    lines.extend("  " + line for line in _format_values(value, precision))
    return "\n".join(lines) + "\n"


def save_results(path: str, results: Sequence[np.ndarray]) -> None:
    """`results` as an .npz archive (`result0`, `result1`, ...) at `path`."""
    buffer = io.BytesIO()
    np.savez(buffer, **{f"result{i}": np.asarray(r) for i, r in enumerate(results)})
    write_atomically(path, buffer.getvalue())


# ------------------------------------------------------------------ driver


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=TOOL,
        description="Run a function of an IR file on numpy inputs with qopt's "
        "reference executor and print (or save) its results.",
    )
    p.add_argument(
        "input_file",
        metavar="FILE",
        help="the IR (.mlir; '-' reads stdin) or an ONNX model (.onnx)",
    )
    p.add_argument(
        "-i",
        "--input",
        action="append",
        default=[],
        metavar="ARRAY",
        help="an argument: a .npy file, a .npz file (all its arrays, in order), "
        "an inline literal such as '[[1,2],[3,4]]', or a number; repeat in "
        "argument order",
    )
    p.add_argument(
        "--entry", default="main", help="the func.func to run (default: main)"
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT.npz",
        help="also write the results to an .npz archive (result0, result1, ...)",
    )
    p.add_argument(
        "--pass-pipeline",
        metavar="PIPELINE",
        help="passes to apply before running, in MLIR's textual syntax",
    )
    p.add_argument("-p", "--passes", default="", help="passes, xDSL's flat syntax")
    p.add_argument(
        "--precision",
        type=int,
        default=6,
        help="decimals printed for float results (default 6)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="do not print results")
    p.add_argument(
        "--allow-unregistered-dialect",
        action="store_true",
        help="parse ops of unknown dialects (they cannot run)",
    )
    from qopt.frontends.onnx_cli import add_import_arguments

    add_import_arguments(p)
    return p


def read_module(
    path: str, allow_unregistered: bool = False
) -> tuple[Context, ModuleOp]:
    """Parse and verify the IR at `path` ('-': stdin) with every dialect loaded."""
    from qopt.tools.qopt_opt import all_dialects

    if path == "-":
        text, name = sys.stdin.read(), "stdin"
    else:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise ToolError(f"cannot read '{path}': {e.strerror or e}") from None
        except UnicodeDecodeError:
            raise ToolError(f"'{path}' is not a text IR file") from None
        name = path
    ctx = Context(allow_unregistered=allow_unregistered)
    for dialect, factory in all_dialects().items():
        ctx.register_dialect(dialect, factory)
    module = Parser(ctx, text, name).parse_module()
    return ctx, module


def import_module(args: argparse.Namespace) -> tuple[Context, ModuleOp]:
    """Import an ONNX model (verified by the importer) with every dialect loaded."""
    from qopt.frontends.onnx import OnnxImportError
    from qopt.frontends.onnx_cli import import_from_args
    from qopt.tools.qopt_opt import all_dialects

    ctx = Context(allow_unregistered=args.allow_unregistered_dialect)
    for dialect, factory in all_dialects().items():
        ctx.register_dialect(dialect, factory)
    try:
        module = import_from_args(args.input_file, args, args.input_file)
    except OnnxImportError as e:
        raise ToolError(one_line(str(e))) from None
    return ctx, module


def _verify(module: ModuleOp, what: str) -> None:
    from qopt.tools.qopt_opt import diagnostic_text

    try:
        module.verify()
    except DiagnosticException as e:
        raise ToolError(f"{what} does not verify: {diagnostic_text(e)}") from None


def _entry_types(module: ModuleOp, entry: str) -> list[Attribute]:
    for op in module.walk():
        if isinstance(op, func.FuncOp) and op.sym_name.data == entry:
            return list(op.function_type.outputs.data)
    return []


def run(args: argparse.Namespace) -> None:
    from qopt.backends.reference import ExecutionError, run_function
    from qopt.tools.qopt_opt import all_passes, diagnostic_text

    if args.pass_pipeline is not None and args.passes:
        raise ToolError("give the passes with either -p or --pass-pipeline, not both")
    if args.precision < 0 or args.precision > 30:
        raise ToolError("--precision must be between 0 and 30")
    pipeline = args.pass_pipeline if args.pass_pipeline is not None else args.passes
    passes = build_passes(pipeline, all_passes()) if pipeline.strip() else ()

    if args.input_file.endswith(".onnx"):
        ctx, module = import_module(args)
    else:
        from qopt.frontends.onnx_cli import given_import_arguments

        given = given_import_arguments(args)
        if given:
            raise ToolError(f"{given[0]} applies only to an ONNX input (.onnx)")
        ctx, module = read_module(args.input_file, args.allow_unregistered_dialect)
        _verify(module, "the input")
    inputs = load_inputs(args.input)
    for p in passes:
        try:
            p.apply(ctx, module)
        except DiagnosticException as e:
            raise ToolError(f"pass '{p.name}' failed: {diagnostic_text(e)}") from None
        _verify(module, f"the IR after pass '{p.name}'")

    try:
        results = run_function(module, inputs, args.entry)
    except ExecutionError as e:
        raise ToolError(one_line(str(e))) from None

    declared = _entry_types(module, args.entry)
    if args.output is not None:
        save_results(args.output, results)
    if not args.quiet:
        out = sys.stdout
        for i, value in enumerate(results):
            ty = declared[i] if i < len(declared) else None
            out.write(format_result(i, value, ty, args.precision))
        out.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `qopt-run`; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        run(args)
    except ToolError as e:
        report(TOOL, str(e))
        return USAGE_ERROR
    except ParseError as e:
        from qopt.tools.qopt_opt import parse_error_text

        report(TOOL, parse_error_text(e))
        return USAGE_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as e:
        report_internal(TOOL, e)
        return INTERNAL_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
