"""The `xdsl.universe` entry point: plain `xdsl-opt` sees qopt's dialects and passes."""

from xdsl.universe import Universe

from qopt.passes import get_all_passes
from qopt.qdialect import get_all_dialects

QOPT_UNIVERSE = Universe(all_dialects=get_all_dialects(), all_passes=get_all_passes())
