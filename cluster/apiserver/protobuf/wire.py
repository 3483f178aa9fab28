"""Protobuf wire-format primitives: varints and (field number, wire type, value) records.

Every malformed input raises ``cluster.errors.BadRequest``; nothing else escapes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from cluster.errors import BadRequest

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5

Record = tuple[int, int, "int | bytes"]


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode the unsigned varint at ``pos``; return (value, next position)."""
    value = shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise BadRequest("protobuf: truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise BadRequest("protobuf: varint longer than 10 bytes")


def records(buf: bytes) -> Iterator[Record]:
    """Yield each field of one message: varint/fixed values as ints, length-delimited ones as bytes."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise BadRequest("protobuf: field number 0 is not allowed")
        if wire == VARINT:
            value, pos = read_varint(buf, pos)
            yield number, wire, value
        elif wire == LEN:
            size, pos = read_varint(buf, pos)
            if pos + size > end:
                raise BadRequest(f"protobuf: field {number} runs past the end of its message")
            yield number, wire, bytes(buf[pos : pos + size])
            pos += size
        elif wire in (I64, I32):
            width = 8 if wire == I64 else 4
            if pos + width > end:
                raise BadRequest(f"protobuf: truncated fixed-width field {number}")
            yield number, wire, int.from_bytes(buf[pos : pos + width], "little")
            pos += width
        else:
            raise BadRequest(f"protobuf: unsupported wire type {wire} for field {number}")


def signed(value: int) -> int:
    """Reinterpret a two's-complement varint as a signed integer (int32 negatives use 64 bits)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def double(value: int) -> float:
    return struct.unpack("<d", value.to_bytes(8, "little"))[0]


def single(value: int) -> float:
    return struct.unpack("<f", value.to_bytes(4, "little"))[0]
