"""The protobuf wire format, as much of it as the fleet needs (proto2, no reflection).

A message is a sequence of fields; each field starts with a *tag*, the varint
``number << 3 | wire_type``, followed by its value:

- wire type 0 (``VARINT``): a base-128 varint, least significant group first, the high bit
  of each byte saying "more follows". Negative ``int32``/``int64`` values are sent as their
  64-bit two's complement (always ten bytes); ``bool`` is 0 or 1.
- wire type 2 (``LEN``): a varint length, then that many bytes: strings (UTF-8), bytes,
  nested messages and map entries (a map is a repeated message ``{1: key, 2: value}``).
- wire types 1 and 5 (fixed 64/32 bits) are skipped when read; the Kubernetes messages the
  fleet reads use none.

Repeated fields repeat their tag; a field absent from the bytes has its zero value.
"""

from __future__ import annotations

from collections.abc import Iterator

VARINT = 0
I64 = 1
LEN = 2
I32 = 5

_MASK64 = (1 << 64) - 1


class WireError(ValueError):
    """Bytes that are not a well-formed protobuf message."""


# -- writing ---------------------------------------------------------------------------------


def put_varint(out: bytearray, value: int) -> None:
    value &= _MASK64  # negative numbers: 64-bit two's complement (ten bytes)
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def put_tag(out: bytearray, number: int, wire_type: int) -> None:
    put_varint(out, number << 3 | wire_type)


def put_int(out: bytearray, number: int, value: int) -> None:
    """An ``int32``/``int64``/``bool`` field."""
    put_tag(out, number, VARINT)
    put_varint(out, value)


def put_bytes(out: bytearray, number: int, value: bytes | bytearray) -> None:
    """A length-delimited field: bytes, an encoded message or a map entry."""
    put_tag(out, number, LEN)
    put_varint(out, len(value))
    out += value


def put_string(out: bytearray, number: int, value: str) -> None:
    put_bytes(out, number, value.encode())


# -- reading ---------------------------------------------------------------------------------


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """-> (value, position after it); the value is unsigned (see :func:`signed`)."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise WireError(f"truncated varint at byte {pos}")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & _MASK64, pos
        shift += 7
        if shift >= 70:
            raise WireError(f"varint longer than ten bytes at byte {pos}")


def signed(value: int) -> int:
    """An unsigned 64-bit varint read back as the ``int64``/``int32`` it encodes."""
    return value - (1 << 64) if value >= 1 << 63 else value


def fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """The fields of one message in wire order: (number, wire type, value); the value is an
    int for ``VARINT`` and the payload bytes for ``LEN``. Fixed-width fields are skipped."""
    pos, end = 0, len(buf)
    while pos < end:
        tag, pos = read_varint(buf, pos)
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            raise WireError(f"field number 0 at byte {pos}")
        if wire_type == VARINT:
            value, pos = read_varint(buf, pos)
            yield number, wire_type, value
        elif wire_type == LEN:
            size, pos = read_varint(buf, pos)
            if pos + size > end:
                raise WireError(f"field {number}: {size} bytes announced, {end - pos} left")
            yield number, wire_type, buf[pos : pos + size]
            pos += size
        elif wire_type == I64:
            pos += 8
        elif wire_type == I32:
            pos += 4
        else:  # 3 and 4 are the deprecated groups, 6 and 7 do not exist
            raise WireError(f"field {number}: unsupported wire type {wire_type}")
        if pos > end:
            raise WireError(f"field {number}: truncated fixed-width value")
