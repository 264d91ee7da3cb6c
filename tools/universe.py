"""The `xdsl.universe` entry point: plain `xdsl-opt` sees qopt's dialects, passes and
SystemVerilog targets (`-t verilog`, `-t circt-verilog`)."""

from xdsl.universe import Universe

from qopt.backends.rtl import get_all_targets
from qopt.passes import get_all_passes
from qopt.qdialect import get_all_dialects

QOPT_UNIVERSE = Universe(
    all_dialects=get_all_dialects(),
    all_passes=get_all_passes(),
    all_targets=get_all_targets(),
)
