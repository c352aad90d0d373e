"""The Kubernetes protobuf encoding of the kinds client-go writes with typed clients.

What goes over the wire (``application/vnd.kubernetes.protobuf``, apimachinery's
``runtime/serializer/protobuf``): the four magic bytes ``k8s\\x00``, then a
``runtime.Unknown`` message ``{1: TypeMeta {1: apiVersion, 2: kind}, 2: raw, 3:
contentEncoding, 4: contentType}`` whose ``raw`` is the object's own message. (Watch streams
are always JSON: see :mod:`services.fleet.responses`.)

Objects are converted between that form and the fleet's JSON dicts with the schemas of
:mod:`services.fleet.protoschemas` (field numbers from k8s.io/api ``core/v1/generated.proto``
and apimachinery ``meta/v1/generated.proto``). JSON conventions follow the Go types:
``[]byte`` is base64, ``metav1.Time`` is RFC 3339 with seconds, ``fieldsV1`` a JSON
document, and a zero scalar is left out (``omitempty``) unless the Go field is a pointer.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import sys
from typing import Any

from services.fleet import wire
from services.fleet.protoschemas import (
    BOOL,
    BYTES,
    BYTES_MAP,
    FIELDS_V1,
    INT,
    MESSAGE,
    STRING,
    STRING_MAP,
    TIME,
    Field,
    Message,
    lookup,
)

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
_MAPS = (STRING_MAP, BYTES_MAP)
_SCALARS = (STRING, BYTES, BOOL, INT)
_OMIT_ZERO = (*_SCALARS, TIME)


class ProtobufError(ValueError):
    """A protobuf body the fleet cannot read: malformed, or of a kind it has no schema for."""


class UnknownKind(ProtobufError):
    def __init__(self, api_version: str, kind: str) -> None:
        super().__init__(f"no protobuf schema for {kind} ({api_version or 'no apiVersion'})")
        self.api_version = api_version
        self.kind = kind


# -- messages <-> dicts ----------------------------------------------------------------------


def decode(msg: Message, data: bytes) -> dict[str, Any]:
    """One message of type ``msg`` -> its JSON form."""
    out: dict[str, Any] = {}
    for number, wire_type, value in wire.fields(data):
        f = msg.by_number.get(number)
        if f is None:
            continue  # a field this schema does not know: skipped, as Go does
        if wire_type != f.wire_type:
            raise wire.WireError(
                f"{msg.name}.{f.name}: wire type {wire_type}, expected {f.wire_type}"
            )
        if f.kind in _MAPS:
            assert isinstance(value, bytes)
            key, item = _map_entry(f, value)
            out.setdefault(f.name, {})[key] = item
        elif f.repeated:
            out.setdefault(f.name, []).append(_value(f, value))
        else:
            out[f.name] = _value(f, value)
    for f in msg.fields:  # Go's omitempty: a zero non-pointer field is not in the JSON
        if f.name in out and (
            out[f.name] is None or (not out[f.name] and f.kind in _OMIT_ZERO and not f.presence)
        ):
            del out[f.name]
    return out


def _value(f: Field, value: int | bytes) -> Any:
    if f.kind == INT:
        assert isinstance(value, int)
        return wire.signed(value)
    if f.kind == BOOL:
        return bool(value)
    assert isinstance(value, bytes)
    if f.kind == STRING:
        return _text(value, f.name)
    if f.kind == BYTES:
        return base64.b64encode(value).decode()
    if f.kind == MESSAGE:
        assert f.message is not None
        return decode(f.message, value)
    if f.kind == TIME:
        return _time(value)
    if f.kind == FIELDS_V1:
        raw = _field(value, 1)
        if not isinstance(raw, bytes):
            raw = b""
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            raise wire.WireError(f"{f.name}: Raw is not JSON") from None
    raise AssertionError(f"no decoder for {f.kind}")


def _field(message: bytes, number: int) -> int | bytes | None:
    """The last value of field ``number`` in ``message`` (proto2: the last one wins)."""
    found: int | bytes | None = None
    for n, _, value in wire.fields(message):
        if n == number:
            found = value
    return found


def _text(value: bytes, name: str) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise wire.WireError(f"{name}: invalid UTF-8") from None


def _map_entry(f: Field, entry: bytes) -> tuple[str, str]:
    key, item = "", b""
    for number, _, value in wire.fields(entry):
        if number == 1 and isinstance(value, bytes):
            key = sys.intern(_text(value, f.name))  # like the JSON decoder: shared key strings
        elif number == 2 and isinstance(value, bytes):
            item = value
    if f.kind == BYTES_MAP:
        return key, base64.b64encode(item).decode()
    return key, _text(item, f"{f.name}[{key}]")


def _time(value: bytes) -> str | None:
    if not value:
        return None  # the zero time: an empty message
    seconds = _field(value, 1)
    seconds = wire.signed(seconds) if isinstance(seconds, int) else 0
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode(msg: Message, obj: dict[str, Any]) -> bytes:
    """The JSON form of a ``msg`` -> its message (fields in number order, map keys sorted,
    as Go writes them). Raises ``TypeError``/``ValueError`` on values of the wrong type."""
    out = bytearray()
    for f in msg.fields:
        value = obj.get(f.name)
        if value is None:
            continue
        if f.kind in _MAPS:
            if not isinstance(value, dict):
                raise TypeError(f"{msg.name}.{f.name}: expected an object")
            for key in sorted(value):
                entry = bytearray()
                wire.put_string(entry, 1, key)
                _put(entry, 2, BYTES if f.kind == BYTES_MAP else STRING, None, value[key])
                wire.put_bytes(out, f.number, entry)
        elif f.repeated:
            if not isinstance(value, list):
                raise TypeError(f"{msg.name}.{f.name}: expected a list")
            for item in value:
                _put(out, f.number, f.kind, f.message, item)
        elif f.presence or f.kind not in _SCALARS or value:
            _put(out, f.number, f.kind, f.message, value)
    return bytes(out)


def _put(out: bytearray, number: int, kind: str, msg: Message | None, value: Any) -> None:
    if kind == STRING:
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {type(value).__name__}")
        wire.put_string(out, number, value)
    elif kind == BYTES:
        wire.put_bytes(out, number, base64.b64decode(value, validate=True))
    elif kind in (INT, BOOL):
        if not isinstance(value, int):  # bool is an int
            raise TypeError(f"expected an integer, got {type(value).__name__}")
        wire.put_int(out, number, int(value))
    elif kind == MESSAGE:
        assert msg is not None
        if not isinstance(value, dict):
            raise TypeError(f"{msg.name}: expected an object")
        wire.put_bytes(out, number, encode(msg, value))
    elif kind == TIME:
        stamp = dt.datetime.fromisoformat(value)
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.UTC)
        ts = bytearray()
        wire.put_int(ts, 1, int(stamp.timestamp()))
        wire.put_int(ts, 2, 0)  # metav1.Time has second precision: Go writes nanos 0
        wire.put_bytes(out, number, ts)
    elif kind == FIELDS_V1:
        raw = bytearray()
        wire.put_bytes(raw, 1, json.dumps(value, separators=(",", ":")).encode())
        wire.put_bytes(out, number, raw)
    else:
        raise AssertionError(f"no encoder for {kind}")


# -- the envelope ----------------------------------------------------------------------------


def unwrap(body: bytes) -> tuple[str, str, bytes]:
    """``k8s\\x00`` + runtime.Unknown -> (apiVersion, kind, raw message)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the protobuf magic bytes k8s\\x00")
    api_version = kind = ""
    raw = b""
    for number, _, value in wire.fields(body[len(MAGIC) :]):
        if number == 1 and isinstance(value, bytes):
            for n, _, v in wire.fields(value):
                if n == 1 and isinstance(v, bytes):
                    api_version = _text(v, "apiVersion")
                elif n == 2 and isinstance(v, bytes):
                    kind = _text(v, "kind")
        elif number == 2 and isinstance(value, bytes):
            raw = value
    return api_version, kind, raw


def wrap(api_version: str, kind: str, raw: bytes) -> bytes:
    """runtime.Unknown as Go writes it (empty contentEncoding and contentType included)."""
    type_meta = bytearray()
    wire.put_string(type_meta, 1, api_version)
    wire.put_string(type_meta, 2, kind)
    out = bytearray(MAGIC)
    wire.put_bytes(out, 1, type_meta)
    wire.put_bytes(out, 2, raw)
    wire.put_string(out, 3, "")
    wire.put_string(out, 4, "")
    return bytes(out)


def decode_object(body: bytes) -> dict[str, Any]:
    """An enveloped body -> the object's JSON form (``apiVersion`` and ``kind`` included).

    Raises :class:`UnknownKind` for a kind without a schema, :class:`ProtobufError` for
    malformed bytes."""
    try:
        api_version, kind, raw = unwrap(body)
        msg = lookup(api_version, kind)
        if msg is None:
            raise UnknownKind(api_version, kind)
        obj = decode(msg, raw)
    except wire.WireError as exc:
        raise ProtobufError(str(exc)) from None
    return {"apiVersion": api_version, "kind": kind, **obj}


def encode_object(obj: dict[str, Any], api_version: str, kind: str) -> bytes | None:
    """An object's JSON form -> its enveloped bytes; None when ``kind`` has no schema or
    the object does not fit it (the caller answers JSON then)."""
    msg = lookup(api_version, kind)
    if msg is None:
        return None
    try:
        return wrap(api_version, kind, encode(msg, obj))
    except (TypeError, ValueError, binascii.Error):
        return None
