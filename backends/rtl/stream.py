"""The streaming interface of qopt's top-level hardware modules, and lane packing.

Every top-level module that qopt simulates or synthesizes has these ports
(docs/backends/rtl.md has the timing diagram):

| port        | dir | type          | meaning                                        |
|-------------|-----|---------------|------------------------------------------------|
| `clk`       | in  | `!seq.clock`  | rising-edge clock                              |
| `rst`       | in  | `i1`          | synchronous reset, active high                 |
| `in_data`   | in  | `i(N*W)`      | N input lanes of W bits, packed                |
| `in_valid`  | in  | `i1`          | `in_data` holds an item                        |
| `in_ready`  | out | `i1`          | the module takes the item this cycle           |
| `out_data`  | out | `i(M*V)`      | M output lanes of V bits, packed               |
| `out_valid` | out | `i1`          | `out_data` holds an item                       |
| `out_ready` | in  | `i1`          | the consumer takes the item this cycle         |

An item moves on a rising edge where valid and ready are both high
(AXI-Stream). A producer keeps valid high and its data unchanged until the
item is taken, and valid never waits for ready.

Lane `i` of a packed word occupies bits `[i*W + W-1 : i*W]`: lane 0 is in the
least significant bits (the same order as numpy's `[..., lane]` index when the
word is read as a little-endian integer). Each lane holds a two's-complement
(signed) or plain binary (unsigned) W-bit value; packing only masks, so both
read back correctly when the reader says which one it wants.

`pack_lanes` / `unpack_lanes` convert between `[items, lanes]` integer arrays
and little-endian 32-bit words (the layout Verilator uses for wide ports),
vectorised over the items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import IntegerType
from xdsl.dialects.hw import HWModuleOp
from xdsl.dialects.seq import ClockType

from qopt.backends.rtl import RtlError

CLOCK = "clk"
RESET = "rst"
IN_DATA = "in_data"
IN_VALID = "in_valid"
IN_READY = "in_ready"
OUT_DATA = "out_data"
OUT_VALID = "out_valid"
OUT_READY = "out_ready"

INPUT_PORTS = (CLOCK, RESET, IN_DATA, IN_VALID, OUT_READY)
"""The inputs of a streaming module, in the order qopt declares them."""
OUTPUT_PORTS = (IN_READY, OUT_DATA, OUT_VALID)
"""The outputs of a streaming module, in the order qopt declares them."""

MAX_LANE_WIDTH = 64
"""Lanes travel through numpy int64 arrays, so a lane has at most 64 bits."""


@dataclass(frozen=True)
class StreamPorts:
    """The data widths of a streaming module's two streams, in bits."""

    in_bits: int
    out_bits: int


def check_stream_module(module: HWModuleOp) -> StreamPorts:
    """Check that `module` has exactly the streaming ports; return the data widths.

    Raises RtlError naming the first missing, extra or mistyped port.
    """
    name = module.sym_name.data
    inputs: dict[str, object] = {}
    outputs: dict[str, object] = {}
    for port in module.module_type.ports.data:
        side = inputs if port.dir.data.is_input_like() else outputs
        side[port.port_name.data] = port.type
    for kind, have, want in (
        ("input", inputs, INPUT_PORTS),
        ("output", outputs, OUTPUT_PORTS),
    ):
        for port in want:
            if port not in have:
                raise RtlError(
                    f"hw.module @{name} has no {kind} port '{port}' "
                    "(streaming modules have clk, rst, in_data, in_valid, in_ready, "
                    "out_data, out_valid, out_ready)"
                )
        for port in have:
            if port not in want:
                raise RtlError(
                    f"hw.module @{name} has the extra {kind} port '{port}' "
                    "beyond the streaming ports"
                )
    if not isinstance(inputs[CLOCK], ClockType):
        raise RtlError(f"hw.module @{name}: port 'clk' must be !seq.clock")
    for port, typ in (*inputs.items(), *outputs.items()):
        if port == CLOCK:
            continue
        if not isinstance(typ, IntegerType):
            raise RtlError(f"hw.module @{name}: port '{port}' must be an integer")
        if port not in (IN_DATA, OUT_DATA) and typ.width.data != 1:
            raise RtlError(f"hw.module @{name}: port '{port}' must be i1")
    in_type, out_type = inputs[IN_DATA], outputs[OUT_DATA]
    assert isinstance(in_type, IntegerType) and isinstance(out_type, IntegerType)
    return StreamPorts(in_type.width.data, out_type.width.data)


def words_for(bits: int) -> int:
    """How many 32-bit words hold `bits` bits."""
    return (bits + 31) // 32


def _check_width(width: int) -> None:
    if not 1 <= width <= MAX_LANE_WIDTH:
        raise RtlError(f"lane width {width} is outside 1..{MAX_LANE_WIDTH} bits")


def pack_lanes(values: np.ndarray, width: int) -> np.ndarray:
    """`[items, lanes]` integers as `[items, words]` little-endian uint32 words.

    Lane `i` goes to bits `[i*width, (i+1)*width)`. Values must fit in `width`
    bits, signed or unsigned (`-2**(width-1) <= v < 2**width`); RtlError otherwise.
    """
    _check_width(width)
    values = np.asarray(values)
    if values.ndim != 2:
        raise RtlError(
            f"stream items must be a 2-d [items, lanes] array, got shape {values.shape}"
        )
    if values.dtype == np.bool_:
        values = values.astype(np.int64)
    if not np.issubdtype(values.dtype, np.integer):
        raise RtlError(f"stream items must be integers, got {values.dtype}")
    if values.dtype == np.uint64 and width < 64:
        too_big = values >= np.uint64(1 << width)
        if too_big.any():
            raise RtlError(
                f"value {values[too_big][0]} does not fit in {width}-bit lanes"
            )
    signed = values.astype(np.int64)
    if width < 64 and values.size:
        low, high = -(1 << (width - 1)), (1 << width) - 1
        bad = (signed < low) | (signed > high)
        if bad.any():
            raise RtlError(
                f"value {signed[bad][0]} does not fit in {width}-bit lanes "
                f"({low}..{high})"
            )
    items, lanes = signed.shape
    raw = signed.view(np.uint64)
    bits = (raw[:, :, None] >> np.arange(width, dtype=np.uint64)) & np.uint64(1)
    n_words = words_for(lanes * width)
    flat = np.zeros((items, n_words * 32), np.uint8)
    flat[:, : lanes * width] = bits.reshape(items, lanes * width)
    packed = np.packbits(flat, axis=1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u4").astype(np.uint32)


def unpack_lanes(
    words: np.ndarray, lanes: int, width: int, signed: bool = True
) -> np.ndarray:
    """`[items, words]` uint32 words as `[items, lanes]` int64 lane values.

    The inverse of `pack_lanes`; `signed` reads each lane as two's complement.
    """
    _check_width(width)
    words = np.asarray(words, np.uint32)
    items = words.shape[0]
    if words.shape[1] * 32 < lanes * width:
        raise RtlError(
            f"{words.shape[1]} words hold fewer than {lanes} lanes of {width} bits"
        )
    as_bytes = np.ascontiguousarray(words.astype("<u4")).view(np.uint8)
    bits = np.unpackbits(as_bytes, axis=1, bitorder="little")[:, : lanes * width]
    bits = bits.reshape(items, lanes, width).astype(np.uint64)
    raw = (bits << np.arange(width, dtype=np.uint64)).sum(axis=2, dtype=np.uint64)
    values = raw.view(np.int64)
    if signed and width < 64:
        sign = np.int64(1 << (width - 1))
        values = (values ^ sign) - sign
    return values
