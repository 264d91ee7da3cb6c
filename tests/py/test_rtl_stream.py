"""Lane packing and the streaming-port check (qopt.backends.rtl.stream)."""

from __future__ import annotations

import numpy as np
import pytest
import rtl_designs as designs
from xdsl.dialects.builtin import IntegerType, i1

from qopt.backends.rtl import RtlError
from qopt.backends.rtl.stream import (
    check_stream_module,
    pack_lanes,
    unpack_lanes,
    words_for,
)


def test_lane_zero_is_in_the_low_bits():
    words = pack_lanes(np.array([[0x12, 0x34, 0x56]]), 8)
    assert words.dtype == np.uint32
    assert words.tolist() == [[0x563412]]
    # negative values are two's complement, masked to the lane
    assert pack_lanes(np.array([[-1, 0, 1]]), 4).tolist() == [[0x10F]]


def test_lanes_cross_word_boundaries():
    # 3 lanes x 21 bits = 63 bits: lane 1 straddles the first two words
    x = np.array([[1, (1 << 20) + 3, 5]])
    words = pack_lanes(x, 21)
    value = int(words[0, 0]) | int(words[0, 1]) << 32
    assert value == 1 | ((1 << 20) + 3) << 21 | 5 << 42
    assert words_for(63) == 2


@pytest.mark.parametrize("width", [1, 3, 8, 13, 32, 33, 63, 64])
@pytest.mark.parametrize("lanes", [1, 3, 7])
def test_pack_unpack_round_trip(width: int, lanes: int):
    rng = np.random.default_rng(width * 10 + lanes)
    low, high = -(1 << (width - 1)), (1 << (width - 1)) - 1
    x = rng.integers(low, high, size=(50, lanes), endpoint=True, dtype=np.int64)
    words = pack_lanes(x, width)
    assert words.shape == (50, words_for(lanes * width))
    np.testing.assert_array_equal(unpack_lanes(words, lanes, width, signed=True), x)
    if width < 64:
        unsigned = unpack_lanes(words, lanes, width, signed=False)
        np.testing.assert_array_equal(unsigned, x & ((1 << width) - 1))


def test_unsigned_values_up_to_the_lane_width_pack():
    x = np.array([[255, 0], [128, 127]], np.uint8)
    words = pack_lanes(x, 8)
    np.testing.assert_array_equal(unpack_lanes(words, 2, 8, signed=False), x)
    np.testing.assert_array_equal(
        unpack_lanes(words, 2, 8, signed=True), [[-1, 0], [-128, 127]]
    )


@pytest.mark.parametrize(
    ("values", "width", "message"),
    [
        ([[256]], 8, "value 256 does not fit in 8-bit lanes"),
        ([[-129]], 8, "value -129 does not fit in 8-bit lanes"),
        ([[1.5]], 8, "must be integers, got float64"),
        ([1, 2], 8, "2-d [items, lanes] array"),
        ([[1]], 65, "lane width 65 is outside 1..64 bits"),
        ([[1]], 0, "lane width 0 is outside"),
    ],
)
def test_pack_rejects(values, width: int, message: str):
    with pytest.raises(RtlError, match=message.replace("[", r"\[")):
        pack_lanes(np.array(values), width)


def test_designs_follow_the_stream_convention():
    for module in (designs.mac(), designs.alu(), designs.rom()):
        top = list(module.ops)[-1]
        ports = check_stream_module(top)
        assert ports.in_bits > 0 and ports.out_bits > 0
    mac_top = list(designs.mac().ops)[-1]
    assert check_stream_module(mac_top).in_bits == 32
    assert check_stream_module(mac_top).out_bits == designs.MAC_WIDTH


def _module(inputs, outputs):
    b = designs.HwBuilder("m", inputs, outputs)
    values = [b.const(0, t.width.data) for _, t in outputs]
    return b.output(*values)


def test_stream_check_names_the_bad_port():
    inputs, outputs = designs.stream_ports(8, 8)
    with pytest.raises(RtlError, match="no input port 'out_ready'"):
        check_stream_module(_module(inputs[:-1], outputs))
    with pytest.raises(RtlError, match="extra output port 'debug'"):
        check_stream_module(_module(inputs, [*outputs, ("debug", i1)]))
    wide_valid = [(n, IntegerType(2) if n == "in_valid" else t) for n, t in inputs]
    with pytest.raises(RtlError, match="port 'in_valid' must be i1"):
        check_stream_module(_module(wide_valid, outputs))
    plain_clock = [(n, i1 if n == "clk" else t) for n, t in inputs]
    with pytest.raises(RtlError, match=r"port 'clk' must be !seq\.clock"):
        check_stream_module(_module(plain_clock, outputs))
