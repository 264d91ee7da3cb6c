"""Check and export qopt's hw/comb/seq IR with real CIRCT (the `circt` wheel).

    verify_with_circt(module)          # CIRCT parses and verifies the IR
    text = circt_export_verilog(module)  # CIRCT's ExportVerilog
    qopt-opt design.mlir -t circt-verilog

xDSL prints hw/comb/seq in their custom assembly format, which is also CIRCT's;
CIRCT rejects xDSL's generic format, so the module is printed in the custom
format (`circt_text`) and parsed by the wheel's MLIR parser, which runs CIRCT's
verifiers. Export then lowers `seq` to `sv` (`lower-seq-to-sv`), by default
turns `hw.array` values into plain bit vectors (lowering option
`disallowPackedArrays` with `hw-legalize-modules`: Yosys 0.23 cannot parse
multi-dimensional packed arrays; CIRCT cannot legalize `hw.bitcast` of an
array, so such IR needs `packed_arrays=True`), tidies names
(`prettify-verilog`) and runs ExportVerilog without location comments.

Parsing or verification errors come back as one RtlError line with the line
of the printed IR they point at; a missing wheel is a ToolMissingError. The
wheel 1.62 exists for CPython up to 3.11, not 3.12 (`pip install circt`, or
qopt's `hw` extra).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from types import ModuleType
from typing import IO

from xdsl.context import Context
from xdsl.dialects import hw
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.printer import Printer
from xdsl.utils.target import Target

from qopt.backends.rtl import RtlError, ToolMissingError

EXPORT_PIPELINE = "builtin.module(lower-seq-to-sv, hw.module(prettify-verilog))"
"""CIRCT passes run before ExportVerilog (seq registers become sv always_ff)."""

FLAT_ARRAYS_PIPELINE = (
    "builtin.module(lower-seq-to-sv, hw.module(hw-legalize-modules), "
    "hw.module(prettify-verilog))"
)
"""The same, with hw.array values legalized into bit vectors."""

# Yosys 0.23 rejects `automatic logic` locals that CIRCT 1.62 writes in always blocks.
LOWERING_OPTIONS = "locationInfoStyle=none,disallowLocalVariables"
"""ExportVerilog options: no `// file:line` comments (the IR text is transient)."""


def load_circt() -> ModuleType:
    """The `circt` Python package, or ToolMissingError saying how to get it."""
    try:
        import circt
    except ImportError:
        raise ToolMissingError(
            "the circt Python package is not installed: pip install circt "
            "(circt 1.62 has wheels up to CPython 3.11; qopt's 'hw' extra)"
        ) from None
    return circt


def circt_available() -> bool:
    """Whether the `circt` wheel can be imported."""
    try:
        load_circt()
    except ToolMissingError:
        return False
    return True


def with_name_hints(module: ModuleOp | hw.HWModuleOp) -> ModuleOp:
    """A copy of `module` whose named comb ops carry `sv.namehint` attributes.

    CIRCT keeps SSA names only for registers, wires and instances; ExportVerilog
    names the wires it spills after `sv.namehint`, so the values keep the
    names of the IR.
    """
    copy = (
        module.clone() if isinstance(module, ModuleOp) else ModuleOp([module.clone()])
    )
    for op in copy.walk():
        if (
            op.name.startswith("comb.")
            and len(op.results) == 1
            and op.results[0].name_hint
            and "sv.namehint" not in op.attributes
        ):
            op.attributes["sv.namehint"] = StringAttr(op.results[0].name_hint)
    return copy


def _spill_signed_division(parsed) -> None:
    """Give every comb.divs / comb.mods result its own `hw.wire`.

    CIRCT 1.62's ExportVerilog inlines `$signed(a) / $signed(b)` into larger
    expressions (a mux, a register's enable) where SystemVerilog's rules make
    the division unsigned (llvm/circt#6961, fixed after 1.62); a wire keeps it
    in an assignment of its own.
    """
    from circt import ir
    from circt.dialects import hw as circt_hw

    for top in parsed.body.operations:
        for region in top.regions:
            for block in region.blocks:
                for op in list(block.operations):
                    if op.operation.name not in ("comb.divs", "comb.mods"):
                        continue
                    result = op.operation.results[0]
                    attributes = op.operation.attributes
                    name = (
                        ir.StringAttr(attributes["sv.namehint"]).value
                        if "sv.namehint" in attributes
                        else "_" + op.operation.name.split(".")[1]
                    )
                    with op.operation.location:
                        wire = circt_hw.WireOp(
                            result,
                            name=ir.StringAttr.get(name),
                            ip=ir.InsertionPoint.at_block_terminator(block),
                        )
                    result.replace_all_uses_with(wire.result)
                    wire.operation.operands[0] = result


def circt_text(module: ModuleOp | hw.HWModuleOp) -> str:
    """`module` in xDSL's custom format, the text CIRCT parses."""
    if isinstance(module, hw.HWModuleOp):
        module = ModuleOp([module.clone()])
    stream = io.StringIO()
    Printer(stream=stream).print_op(module)
    return stream.getvalue() + "\n"


def _diagnostic(message: str, location: str, text: str) -> str:
    """One line: the message and, when the location is a line, that line's text."""
    line = ""
    found = re.search(r":(\d+):\d+", location)
    if found:
        number = int(found.group(1))
        lines = text.splitlines()
        if 1 <= number <= len(lines):
            line = f" (line {number}: {lines[number - 1].strip()})"
    return " ".join(f"{message}{line}".split())


def _first_error(error, text: str) -> str:
    """CIRCT's first error diagnostic (else the exception text) on one line."""
    diagnostics = getattr(error, "error_diagnostics", None)
    if not diagnostics:
        return " ".join(str(error).split())
    first = diagnostics[0]
    return _diagnostic(first.message, str(first.location), text)


def _parse(text: str):
    """Parse `text` in the current CIRCT context (parsing runs the verifiers)."""
    from circt import ir

    try:
        parsed = ir.Module.parse(text)
        parsed.operation.verify()
    except ir.MLIRError as e:
        raise RtlError(f"circt rejects the IR: {_first_error(e, text)}") from None
    return parsed


def verify_with_circt(module: ModuleOp | hw.HWModuleOp) -> None:
    """Parse and verify `module` with CIRCT; RtlError with CIRCT's first error."""
    circt = load_circt()
    from circt import ir

    with ir.Context() as ctx, ir.Location.unknown():
        circt.register_dialects(ctx)
        _parse(circt_text(module))


def circt_export_verilog(
    module: ModuleOp | hw.HWModuleOp, packed_arrays: bool = False
) -> str:
    """SystemVerilog for `module` from CIRCT's ExportVerilog.

    `packed_arrays` keeps hw.array values as multi-dimensional packed arrays
    (fine for Verilator, not for Yosys 0.23).
    """
    circt = load_circt()
    from circt import ir, passmanager

    text = circt_text(with_name_hints(module))
    errors: list[str] = []

    def on_diagnostic(diagnostic) -> bool:
        if diagnostic.severity == ir.DiagnosticSeverity.ERROR:
            errors.append(
                _diagnostic(diagnostic.message, str(diagnostic.location), text)
            )
        return True

    with ir.Context() as ctx, ir.Location.unknown():
        circt.register_dialects(ctx)
        parsed = _parse(text)
        _spill_signed_division(parsed)
        ctx.attach_diagnostic_handler(on_diagnostic)
        options = LOWERING_OPTIONS + ("" if packed_arrays else ",disallowPackedArrays")
        parsed.operation.attributes["circt.loweringOptions"] = ir.StringAttr.get(
            options
        )
        pipeline = EXPORT_PIPELINE if packed_arrays else FLAT_ARRAYS_PIPELINE
        try:
            passmanager.PassManager.parse(pipeline).run(parsed.operation)
        except ir.MLIRError as e:
            errors.append(_first_error(e, text))
        if not errors:
            out = io.StringIO()
            circt.export_verilog(parsed, out)
    if errors:
        hint = ""
        if "packed array" in errors[0] and not packed_arrays:
            hint = (
                " (keep packed arrays: packed_arrays=True, "
                "or -t circt-verilog{packed-arrays=true})"
            )
        raise RtlError(f"circt cannot export the IR: {errors[0]}{hint}")
    return out.getvalue()


@dataclass(frozen=True)
class CirctVerilogTarget(Target):
    """`-t circt-verilog`: SystemVerilog from CIRCT's ExportVerilog.

    `-t circt-verilog{packed-arrays=true}` keeps multi-dimensional packed arrays.
    """

    name = "circt-verilog"

    packed_arrays: bool = False

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        output.write(circt_export_verilog(module, self.packed_arrays))
