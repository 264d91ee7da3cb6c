"""RTL backend: SystemVerilog from CIRCT `hw`/`comb`/`seq` IR, and the tools around it.

- `verilog`: qopt's own SystemVerilog emitter (`emit_verilog`, qopt-opt `-t verilog`);
- `circt`: parse, verify and export the same IR with the `circt` wheel
  (`-t circt-verilog`);
- `stream`: the streaming-port conventions every top-level module follows
  and the packing of lanes into bit vectors (docs/backends/rtl.md);
- `verilator`: simulate a streaming design with random stalls (`simulate`);
- `yosys`: Xilinx 7-series synthesis report (`synth_report`).

The external tools (circt, Verilator, Yosys) are found at run time; when one is
missing, `ToolMissingError` says which package provides it.
"""

from collections.abc import Callable

from xdsl.utils.exceptions import DiagnosticException
from xdsl.utils.target import Target


class RtlError(DiagnosticException):
    """A design, an input or a tool run the RTL backend cannot handle (one line)."""


class ToolMissingError(RtlError):
    """An external tool (circt, Verilator, Yosys, a C++ compiler) is not installed."""


def get_all_targets() -> dict[str, Callable[[], type[Target]]]:
    """The `-t` targets of the RTL backend, name -> factory (imports lazily)."""

    def verilog() -> type[Target]:
        from qopt.backends.rtl.verilog import VerilogTarget

        return VerilogTarget

    def circt_verilog() -> type[Target]:
        from qopt.backends.rtl.circt import CirctVerilogTarget

        return CirctVerilogTarget

    return {"verilog": verilog, "circt-verilog": circt_verilog}


__all__ = ["RtlError", "ToolMissingError", "get_all_targets"]
