"""RTL generators of the `dataflow` units: one `hw.module` per unit.

`UNIT_BUILDERS` maps every dataflow op class that becomes hardware (all but
`dataflow.input`, `dataflow.output` and `dataflow.reshape`, which are wiring)
to its builder `build(op, name) -> hw.HWModuleOp`. The builders live in
`compute.py` (mvu, requant, threshold, lut, clamp, dwc) and `stream_units.py`
(swu, pool, fifo, fork, add); `common.py` holds the shared building blocks.
Port conventions and timing: docs/backends/hw.md.
"""

from collections.abc import Callable

from xdsl.dialects.hw import HWModuleOp
from xdsl.ir import Operation

from qopt.backends.hw.units import compute, stream_units

UnitBuilderFn = Callable[[Operation, str], HWModuleOp]

UNIT_BUILDERS: dict[type[Operation], UnitBuilderFn] = {
    **compute.BUILDERS,
    **stream_units.BUILDERS,
}

__all__ = ["UNIT_BUILDERS", "UnitBuilderFn"]
