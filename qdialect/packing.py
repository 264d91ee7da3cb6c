"""Dense bit packing of quantized storage codes into hex strings.

Codes are written in row-major element order into one little-endian bit
stream: element i takes the next `widths[i]` bits, least significant bit
first, and the stream is padded with zero bits to whole bytes. A uniform
int4 tensor thus stores two elements per byte, low nibble first; a mixed
tensor stores each element at its own format's width.
"""

from __future__ import annotations

import numpy as np

from qopt.qdialect.qtypes import QuantizedType


def pack_codes(codes: np.ndarray, widths: np.ndarray) -> bytes:
    """Pack unsigned `codes` of per-element bit `widths` into bytes."""
    codes = np.asarray(codes, dtype=np.uint64).ravel()
    widths = np.asarray(widths, dtype=np.int64).ravel()
    if codes.size == 0:
        return b""
    maxw = int(widths.max())
    positions = np.arange(maxw, dtype=np.uint64)
    bits = ((codes[:, None] >> positions) & np.uint64(1)).astype(np.uint8)
    keep = np.arange(maxw)[None, :] < widths[:, None]
    return np.packbits(bits[keep], bitorder="little").tobytes()


def unpack_codes(data: bytes, widths: np.ndarray) -> np.ndarray:
    """Inverse of `pack_codes`: unsigned codes (int64) of the given widths."""
    widths = np.asarray(widths, dtype=np.int64).ravel()
    if widths.size == 0:
        return np.zeros(0, dtype=np.int64)
    maxw = int(widths.max())
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    bits = np.concatenate([bits, np.zeros(maxw, dtype=np.uint8)])
    offsets = np.cumsum(widths) - widths
    index = offsets[:, None] + np.arange(maxw)[None, :]
    keep = np.arange(maxw)[None, :] < widths[:, None]
    field = np.where(keep, bits[index], 0).astype(np.uint64)
    codes = (field << np.arange(maxw, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)
    return codes.astype(np.int64)


def packed_size(qtype: QuantizedType, shape: tuple[int, ...]) -> int:
    """Bytes of the packed storage of a tensor."""
    return (qtype.storage_bits(shape) + 7) // 8


def levels_to_hex(qtype: QuantizedType, levels: np.ndarray) -> str:
    """Encode and pack a tensor of levels as `0x...` (upper-case hex)."""
    levels = np.asarray(levels, dtype=np.int64)
    codes = qtype.encode(levels)
    data = pack_codes(codes, qtype.code_widths(levels.shape))
    return "0x" + data.hex().upper()


def hex_to_levels(qtype: QuantizedType, shape: tuple[int, ...], text: str) -> np.ndarray:
    """Unpack and decode `0x...` into a tensor of levels of `shape`."""
    data = bytes.fromhex(text[2:])
    codes = unpack_codes(data, qtype.code_widths(shape)).reshape(shape)
    return qtype.decode(codes)
