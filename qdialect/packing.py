"""Dense bit packing of quantized storage codes into hex strings.

Codes are written in row-major element order into one little-endian bit
stream: element i takes the next `widths[i]` bits, least significant bit
first, and the stream is padded with zero bits to whole bytes. A uniform
int4 tensor thus stores two elements per byte, low nibble first; a mixed
tensor stores each element at its own format's width. The text form is
`0x` followed by the bytes in order, two upper-case hex digits each.

Packing and unpacking work on 64-bit words (every code of 1..64 bits spans
at most two words), so they take O(n) memory and no Python loop per element.
"""

from __future__ import annotations

import numpy as np

from qopt.qdialect.qtypes import QuantizedType
from qopt.qdialect.shapes import fmt_shape

_ALL_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


def _layout(widths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(word index, bit offset in the word, mask, total bits) of each code."""
    if widths.size and (widths.min() < 1 or widths.max() > 64):
        raise ValueError("code widths must be in [1, 64]")
    offsets = np.cumsum(widths) - widths
    total = int(offsets[-1] + widths[-1]) if widths.size else 0
    word = offsets >> 6
    bit = (offsets & 63).astype(np.uint64)
    mask = np.where(
        widths >= 64,
        _ALL_ONES,
        (np.uint64(1) << np.minimum(widths, 63).astype(np.uint64)) - np.uint64(1),
    )
    return word, bit, mask, total


def pack_codes(codes: np.ndarray, widths: np.ndarray) -> bytes:
    """Pack unsigned `codes` of per-element bit `widths` (1..64) into bytes.

    Bits of a code above its width are ignored (a negative int64 code is
    taken as its two's complement bit pattern).
    """
    codes = np.asarray(codes).ravel()
    codes = codes.astype(np.int64, copy=False).view(np.uint64)
    widths = np.broadcast_to(np.asarray(widths, dtype=np.int64).ravel(), codes.shape)
    if codes.size == 0:
        return b""
    word, bit, mask, total = _layout(widths)
    codes = codes & mask
    words = np.zeros(total // 64 + 2, dtype=np.uint64)
    # Codes are in stream order, so the words they start in never decrease:
    # OR-reduce the low parts of each run of codes that start in one word.
    starts = np.flatnonzero(np.concatenate([[True], word[1:] != word[:-1]]))
    words[word[starts]] = np.bitwise_or.reduceat(codes << bit, starts)
    # A code that crosses a word boundary spills its high bits into the next
    # word; at most one code crosses each boundary.
    spill = (bit > 0) & (bit.astype(np.int64) + widths > 64)
    if np.any(spill):
        high = codes[spill] >> (np.uint64(64) - bit[spill])
        words[word[spill] + 1] |= high
    return words.astype("<u8").tobytes()[: (total + 7) // 8]


def unpack_codes(data: bytes, widths: np.ndarray) -> np.ndarray:
    """Inverse of `pack_codes`: the unsigned codes (as int64) of the given widths.

    A 64-bit code above 2^63 comes back as its two's complement int64.
    """
    widths = np.asarray(widths, dtype=np.int64).ravel()
    if widths.size == 0:
        return np.zeros(0, dtype=np.int64)
    word, bit, mask, total = _layout(widths)
    if len(data) * 8 < total:
        raise ValueError(f"{len(data)} bytes hold fewer than {total} bits")
    nwords = total // 64 + 2
    padded = np.zeros(nwords * 8, dtype=np.uint8)
    padded[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    words = padded.view("<u8").astype(np.uint64)
    low = words[word] >> bit
    # The next word's bits, for codes that cross a boundary (bit > 0 only:
    # a shift by 64 is undefined).
    shift_up = np.where(bit > 0, np.uint64(64) - bit, np.uint64(0))
    high = np.where(bit > 0, words[word + 1] << shift_up, np.uint64(0))
    return ((low | high) & mask).view(np.int64)


def packed_size(qtype: QuantizedType, shape: tuple[int, ...]) -> int:
    """Bytes of the packed storage of a tensor."""
    return (qtype.storage_bits(shape) + 7) // 8


def levels_to_hex(qtype: QuantizedType, levels: np.ndarray) -> str:
    """Encode and pack a tensor of levels as `0x...` (upper-case hex).

    Raises ValueError if a level is not representable at its position.
    """
    levels = np.asarray(levels, dtype=np.int64)
    bad = ~np.asarray(qtype.representable(levels))
    if np.any(bad):
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"element {first} holds level {int(levels.ravel()[first])}, "
            f"which {qtype} cannot represent"
        )
    codes = qtype.encode(levels)
    data = pack_codes(codes, qtype.code_widths(levels.shape))
    return "0x" + data.hex().upper()


def hex_to_codes(qtype: QuantizedType, shape: tuple[int, ...], text: str) -> np.ndarray:
    """Unpack `0x...` into the storage codes of a tensor of `shape`."""
    data = bytes.fromhex(text[2:])
    return unpack_codes(data, qtype.code_widths(shape)).reshape(shape)


def hex_to_levels(
    qtype: QuantizedType, shape: tuple[int, ...], text: str
) -> np.ndarray:
    """Unpack and decode `0x...` into a tensor of levels of `shape`."""
    return qtype.decode(hex_to_codes(qtype, shape, text))


def check_packed(qtype: QuantizedType, shape: tuple[int, ...], text: str) -> str | None:
    """Why `text` is not the canonical packed storage of a tensor, or None.

    It must be `0x` and an even number of hex digits, of exactly the packed
    size; every element must hold a representable level in its canonical
    code (so a tensor of levels has exactly one text form), and the padding
    bits of the last byte must be zero.
    """
    if not text.startswith("0x") or len(text) % 2:
        return "must be an even-length hex string starting with 0x"
    try:
        data = bytes.fromhex(text[2:])
    except ValueError:
        return "is not a valid hex string"
    want = packed_size(qtype, shape)
    if len(data) != want:
        return f"holds {len(data)} bytes, {fmt_shape(shape)} x {qtype} needs {want}"
    widths = qtype.code_widths(shape)
    codes = unpack_codes(data, widths).reshape(shape)
    levels = qtype.decode(codes)
    bad = ~np.asarray(qtype.representable(levels))
    if np.any(bad):
        first = int(np.flatnonzero(bad)[0])
        return (
            f"element {first} holds level {int(levels.ravel()[first])}, "
            f"which {qtype} cannot represent"
        )
    recoded = np.asarray(qtype.encode(levels)).reshape(shape)
    mismatch = recoded != codes
    if np.any(mismatch):
        first = int(np.flatnonzero(mismatch)[0])
        return (
            f"element {first} has code {int(codes.ravel()[first])}, not the "
            f"canonical code {int(recoded.ravel()[first])} of level "
            f"{int(levels.ravel()[first])}"
        )
    total = int(np.sum(widths))
    if total % 8 and data[-1] >> (total % 8):
        return "has non-zero padding bits"
    return None
