"""`qopt-opt`: xdsl-opt with qopt's dialects and passes and MLIR pipelines.

    qopt-opt in.mlir --pass-pipeline='builtin.module(nn-canonicalize, dce)'
    qopt-opt in.mlir -p 'nn-canonicalize,dce' -o out.mlir

It is xDSL's `xDSLOptMain` with:

- every dialect and pass of the xDSL multiverse (xDSL's own, qopt's through
  its `xdsl.universe` entry point, any other plugin's), plus qopt's registries
  directly, so qopt's are there even when the entry point is not installed;
- the targets `-t verilog` (qopt's SystemVerilog emitter) and
  `-t circt-verilog` (CIRCT's ExportVerilog) for hw/comb/seq IR (backends/rtl);
- `--pass-pipeline=` in MLIR's textual syntax, parsed by `tools/pipeline.py`;
  `-p` takes the same syntax (and xDSL's flat form, which is a subset);
- errors reported as one `qopt-opt: error: ...` line on stderr, with exit
  status 2: an unknown pass or option, a bad option value, a malformed
  pipeline, a missing input file; malformed IR prints the parser's located
  diagnostic, IR that does not verify prints the message and the offending op;
- `-o FILE` written through a temporary file in the same folder, renamed at
  the end: a failed run never leaves a partial or stale-looking output.

`--verify-diagnostics`, `--parsing-diagnostics` and `--split-input-file` behave
as in xdsl-opt (print the diagnostic on stdout and exit 0).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import IO

from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Dialect
from xdsl.passes import ModulePass, PassPipeline
from xdsl.printer import Printer
from xdsl.universe import Universe
from xdsl.utils.exceptions import (
    ArgSpecParseError,
    DiagnosticException,
    ParseError,
    ShrinkException,
)
from xdsl.xdsl_opt_main import xDSLOptMain

from qopt.tools.errors import (
    INTERNAL_ERROR,
    USAGE_ERROR,
    ToolError,
    one_line,
    report,
    report_internal,
    write_atomically,
)
from qopt.tools.pipeline import build_pipeline

TOOL = "qopt-opt"


def all_dialects() -> dict[str, Callable[[], Dialect]]:
    """The multiverse's dialects, with qopt's whether or not its plugin is installed."""
    from qopt.qdialect import get_all_dialects

    dialects = dict(Universe.get_multiverse().all_dialects)
    for name, factory in get_all_dialects().items():
        dialects.setdefault(name, factory)
    return dialects


def all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """The multiverse's passes, with qopt's whether or not its plugin is installed."""
    from qopt.passes import get_all_passes

    passes = dict(Universe.get_multiverse().all_passes)
    for name, factory in get_all_passes().items():
        passes.setdefault(name, factory)
    return passes


def parse_error_text(e: ParseError) -> str:
    """`<file:line:col>: <message>` on one line."""
    location = str(e).split("\n", 1)[0]
    return f"{location}: {one_line(e.msg)}"


def diagnostic_text(e: BaseException) -> str:
    """A verifier's message on one line."""
    return one_line(str(e)) or type(e).__name__


class QoptOptMain(xDSLOptMain):
    """xDSL's driver with qopt's registries, MLIR pipelines and clean errors."""

    version_format = "qopt-opt, built on xdsl version {xdsl_version}"

    _stage: str
    """What was running when an exception escaped (for the error message)."""

    def __init__(
        self,
        description: str = "qopt's modular optimizer driver (xdsl-opt with "
        "qopt's dialects and passes, and MLIR pass pipelines)",
        args: Sequence[str] | None = None,
    ):
        self._stage = "reading the input"
        super().__init__(description, args)

    # ---------------------------------------------------------------- registries

    def register_all_dialects(self):
        for name, factory in all_dialects().items():
            self.ctx.register_dialect(name, factory)

    def register_all_passes(self):
        for name, factory in all_passes().items():
            self.register_pass(name, factory)

    def register_all_frontends(self):
        super().register_all_frontends()
        # Importers of other formats (`onnx`): file extension -> function from
        # a byte stream to a module. The ONNX importer reads its options
        # (--batch, --dim, --inline-params) when it runs, after parsing.
        try:
            from qopt.frontends import get_all_frontends
        except ImportError:
            return
        for ext, frontend in get_all_frontends().items():
            self.available_frontends.setdefault(ext, frontend)
        if "onnx" in get_all_frontends():
            self.available_frontends["onnx"] = self._import_onnx

    def _import_onnx(self, stream: IO[bytes]) -> ModuleOp:
        """The ONNX frontend with the import options of the command line."""
        from qopt.frontends.onnx import OnnxImportError
        from qopt.frontends.onnx_cli import import_from_args

        try:
            return import_from_args(stream, self.args, self.get_input_name())
        except OnnxImportError as e:
            raise ToolError(one_line(str(e))) from None

    def register_all_targets(self):
        super().register_all_targets()
        # SystemVerilog from hw/comb/seq IR: `-t verilog` (qopt's emitter) and
        # `-t circt-verilog` (CIRCT's ExportVerilog through the circt wheel).
        from qopt.backends.rtl import get_all_targets

        for name, factory in get_all_targets().items():
            self.available_targets.setdefault(name, factory)

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser):
        super().register_all_arguments(arg_parser)
        arg_parser.add_argument(
            "--pass-pipeline",
            type=str,
            default=None,
            metavar="PIPELINE",
            help="passes in MLIR's textual syntax, e.g. "
            "'builtin.module(a{x=1 path=dir/f.npz}, func.func(b), c)'. "
            "Passes inside func.func(...) run on the whole module (xDSL passes "
            "are module passes). Cannot be combined with -p.",
        )
        from qopt.frontends.onnx_cli import add_import_arguments

        add_import_arguments(arg_parser)

    # ------------------------------------------------------------------ pipeline

    def setup_pipeline(self):
        """Build the pipeline from --pass-pipeline or -p (same syntax)."""
        if self.args.pass_pipeline is not None and self.args.passes:
            raise ToolError(
                "give the passes with either -p or --pass-pipeline, not both"
            )
        text = (
            self.args.pass_pipeline
            if self.args.pass_pipeline is not None
            else self.args.passes
        )
        self.pipeline = build_pipeline(text, self.available_passes, self._callback())

    def _callback(self):
        start = time.perf_counter()

        def callback(
            previous: ModulePass | None, module: ModuleOp, following: ModulePass | None
        ) -> None:
            nonlocal start
            if self.args.time_passes and previous is not None:
                duration = time.perf_counter() - start
                print(f"Pass {previous.name} took {duration} seconds")
            if not self.args.disable_verify:
                self._stage = (
                    f"verifying the IR after pass '{previous.name}'"
                    if previous is not None
                    else "verifying the input"
                )
                module.verify()
            if previous and following and self.args.print_between_passes:
                print(f"IR after {previous.name}:")
                Printer(stream=sys.stdout).print_op(module)
                print("\n\n\n")
            if self.args.time_passes and following is not None:
                start = time.perf_counter()

        return callback

    def apply_passes(self, prog: ModuleOp):
        """PassPipeline.apply, remembering which pass runs (for error messages)."""
        pipeline: PassPipeline = self.pipeline
        callback = pipeline.callback or (lambda *_: None)
        passes = pipeline.passes
        callback(None, prog, passes[0] if passes else None)
        for i, p in enumerate(passes):
            self._stage = f"running pass '{p.name}'"
            p.apply(self.ctx, prog)
            callback(p, prog, passes[i + 1] if i + 1 < len(passes) else None)
        self._stage = "printing the output"

    # ----------------------------------------------------------------- input/output

    def get_input_stream(self) -> tuple[IO[bytes], str]:
        path = self.args.input_file
        if path is None or path == "-":
            return sys.stdin.buffer, "mlir"
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed by run()
        except OSError as e:
            raise ToolError(f"cannot read '{path}': {e.strerror or e}") from None
        ext = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
        return stream, ext

    def get_input_name(self):
        path = self.args.input_file
        return "stdin" if path in (None, "-") else path

    def prepare_input(self):
        try:
            return super().prepare_input()
        except ValueError as e:
            known = ", ".join(sorted(self.available_frontends))
            raise ToolError(
                f"{one_line(str(e))} (known: {known}; choose one with -f)"
            ) from None

    def run(self):
        """Parse, transform and print each chunk; write -o only if all succeeded."""
        chunks, file_extension = self.prepare_input()
        if file_extension != "onnx":
            from qopt.frontends.onnx_cli import given_import_arguments

            given = given_import_arguments(self.args)
            if given:
                for chunk, _ in chunks:
                    chunk.close()
                raise ToolError(f"{given[0]} applies only to an ONNX input (.onnx)")
        to_file = self.args.output_file is not None
        out: IO[str] = io.StringIO() if to_file else sys.stdout
        try:
            for i, (chunk, offset) in enumerate(chunks):
                try:
                    if i > 0:
                        out.write("// -----\n")
                    self._stage = "parsing the input"
                    module = self.parse_chunk(chunk, file_extension, offset)
                    if module is not None:
                        self.apply_passes(module)
                        out.write(self.output_resulting_program(module))
                    out.flush()
                except ParseError as e:
                    e.span = dataclasses.replace(e.span, line_offset=offset)
                    if not self.args.parsing_diagnostics:
                        raise
                    print(e)
                except DiagnosticException as e:
                    if not self.args.verify_diagnostics:
                        raise
                    print(e)
                    for note in getattr(e, "__notes__", ()):
                        print(note)
                finally:
                    chunk.close()
        except ShrinkException:
            print("Success, can shrink")
            sys.exit(0)
        if self.args.shrink:
            print("Failure, can't shrink")
            sys.exit(1)
        if to_file:
            assert isinstance(out, io.StringIO)
            write_atomically(self.args.output_file, out.getvalue())

    def output_resulting_program(self, prog: ModuleOp) -> str:
        """Print with the -t target; a bad target option is a one-line error."""
        target = self.args.target
        if target == "mlir":
            return super().output_resulting_program(prog)
        self._stage = f"emitting -t {target}"
        try:
            return super().output_resulting_program(prog)
        except ValueError as e:  # xDSL's Target.from_spec: unknown/bad option
            raise ToolError(f"-t {target}: {one_line(str(e))}") from None

    def describe_failure(self, e: DiagnosticException) -> str:
        """The error message for a diagnostic that escaped run()."""
        stage = self._stage
        if stage == "verifying the input":
            prefix = "the input does not verify"
        elif stage.startswith("verifying the IR after"):
            prefix = (
                "the IR " + stage.removeprefix("verifying the IR ") + " does not verify"
            )
        elif stage.startswith("running pass"):
            prefix = stage.removeprefix("running ") + " failed"
        else:
            prefix = stage
        return f"{prefix}: {diagnostic_text(e)}"


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of `qopt-opt`; returns (and exits with) the exit status."""
    driver: QoptOptMain | None = None
    try:
        driver = QoptOptMain(args=args)
        driver.run()
    except ToolError as e:
        report(TOOL, str(e))
        status = USAGE_ERROR
    except ArgSpecParseError as e:  # xDSL's -t/--target spec parser
        report(TOOL, f"malformed spec: {one_line(str(e))}")
        status = USAGE_ERROR
    except ParseError as e:
        report(TOOL, parse_error_text(e))
        status = USAGE_ERROR
    except DiagnosticException as e:
        assert driver is not None
        report(TOOL, driver.describe_failure(e))
        status = USAGE_ERROR
    except KeyboardInterrupt:
        status = 130
    except BrokenPipeError:  # `qopt-opt ... | head`: not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        status = 0
    except Exception as e:
        report_internal(TOOL, e, f"while {driver._stage}" if driver else "")
        status = INTERNAL_ERROR
    else:
        status = 0
    return status


if __name__ == "__main__":
    sys.exit(main())
