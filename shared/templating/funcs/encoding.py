"""Encodings: base64/base32 (sprig) and JSON as Go's encoding/json writes and reads it."""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json
import math
from collections.abc import Callable
from typing import Any

from shared.templating.funcs._base import FunctionError, gofunc
from shared.templating.gofmt import format_float
from shared.templating.values import OBJECT_REFERENCE_FIELDS, GoStruct

__all__ = [
    "ENCODING_FUNCS",
    "JSONError",
    "go_json_dumps",
    "go_json_loads",
    "json_float",
]

_B64 = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_B32 = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def _b(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _s(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _b64_error(src: bytes) -> int | None:
    """Offset of Go's ``illegal base64 data at input byte N`` (StdEncoding), or None."""
    si = 0
    n = len(src)
    while True:
        j = 0
        while j < 4:
            if si == n:
                if j == 0:
                    return None
                return si - j
            c = src[si]
            si += 1
            if c in _B64:
                j += 1
                continue
            if c in (0x0A, 0x0D):
                continue
            if c != 0x3D:  # '='
                return si - 1
            if j in (0, 1):
                return si - 1
            if j == 2:
                while si < n and src[si] in (0x0A, 0x0D):
                    si += 1
                if si == n:
                    return n
                if src[si] != 0x3D:
                    return si - 1
                si += 1
            while si < n and src[si] in (0x0A, 0x0D):
                si += 1
            return si if si < n else None


def _b32_error(src: bytes) -> int | None:
    """Offset of Go's ``illegal base32 data at input byte N`` (StdEncoding), or None."""
    src = src.replace(b"\r", b"").replace(b"\n", b"")
    olen = len(src)
    rest = src
    while rest:
        j = 0
        while j < 8:
            if not rest:
                return olen - len(rest) - j
            c = rest[0]
            rest = rest[1:]
            if c == 0x3D and j >= 2 and len(rest) < 8:
                if len(rest) + j < 7:
                    return olen
                for k in range(7 - j):
                    if len(rest) > k and rest[k] != 0x3D:
                        return olen - len(rest) + k - 1
                if j in (1, 3, 6):
                    return olen - len(rest) - 1
                return None
            if c not in _B32:
                return olen - len(rest) - 1
            j += 1
    return None


@gofunc("string")
def b64enc(s: str) -> str:
    return base64.b64encode(_b(s)).decode("ascii")


@gofunc("string")
def b64dec(s: str) -> str:
    data = _b(s)
    bad = _b64_error(data)
    if bad is not None:
        return f"illegal base64 data at input byte {bad}"
    try:
        return _s(base64.b64decode(data.replace(b"\r", b"").replace(b"\n", b"")))
    except (binascii.Error, ValueError):
        return "illegal base64 data at input byte 0"


@gofunc("string")
def b32enc(s: str) -> str:
    return base64.b32encode(_b(s)).decode("ascii")


@gofunc("string")
def b32dec(s: str) -> str:
    data = _b(s)
    bad = _b32_error(data)
    if bad is not None:
        return f"illegal base32 data at input byte {bad}"
    try:
        return _s(base64.b32decode(data.replace(b"\r", b"").replace(b"\n", b"")))
    except (binascii.Error, ValueError):
        return "illegal base32 data at input byte 0"


# ---------------------------------------------------------------------------------------
# JSON (encoding/json)


class JSONError(Exception):
    """json.Marshal / json.Unmarshal error with Go's message."""


def json_float(f: float) -> str:
    if math.isnan(f) or math.isinf(f):
        raise JSONError(f"json: unsupported value: {format_float(f)}")
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        s = format_float(f, "e", -1)
        mant, _, exp = s.partition("e")
        sign = exp[0]
        digits = exp[1:].lstrip("0") or "0"
        return f"{mant}e{sign}{digits}"
    return format_float(f, "f", -1)


def _json_str(s: str, escape_html: bool) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif o < 0x20:
            out.append(
                {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x08: "\\b", 0x0C: "\\f"}.get(
                    o, f"\\u{o:04x}"
                )
            )
        elif (escape_html and ch in "<>&") or o in (0x2028, 0x2029):
            out.append(f"\\u{o:04x}")
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_key(k: Any) -> str:
    if isinstance(k, str):
        return k
    if isinstance(k, bool):
        raise JSONError("json: unsupported type: map[bool]interface {}")
    if isinstance(k, int):
        return str(int(k))
    raise JSONError(f"json: unsupported type: map[{type(k).__name__}]interface {{}}")


def _struct_json(v: GoStruct) -> dict[str, Any]:
    names = dict(OBJECT_REFERENCE_FIELDS)
    out: dict[str, Any] = {}
    for name, value in v.go_fields():
        if name in names:
            if value in ("", None):
                continue
            out[names[name]] = value
        else:
            out[name] = value
    return out


def _rfc3339nano(t: _dt.datetime) -> str:
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        base += ("." + f"{t.microsecond:06d}").rstrip("0")
    off = t.utcoffset()
    if not off:
        return base + "Z"
    secs = int(off.total_seconds())
    sign = "-" if secs < 0 else "+"
    secs = abs(secs)
    return f"{base}{sign}{secs // 3600:02d}:{(secs % 3600) // 60:02d}"


def go_json_dumps(
    v: Any, *, escape_html: bool = True, indent: str | None = None, _level: int = 0
) -> str:
    """json.Marshal (or MarshalIndent with ``indent``) of a template value."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        return json_float(v)
    if isinstance(v, str):
        return _json_str(v, escape_html)
    if isinstance(v, bytes | bytearray):
        return '"' + base64.b64encode(bytes(v)).decode("ascii") + '"'
    if isinstance(v, _dt.datetime):
        return '"' + _rfc3339nano(v) + '"'
    if isinstance(v, _dt.timedelta):
        return str((v.days * 86400 + v.seconds) * 10**9 + v.microseconds * 1000)
    if isinstance(v, GoStruct):
        stringer = getattr(v, "go_string", None)
        if callable(stringer):  # e.g. *semver.Version marshals as its string
            return _json_str(str(stringer()), escape_html)
        v = _struct_json(v)
    if isinstance(v, complex):
        raise JSONError("json: unsupported type: complex128")
    if isinstance(v, dict | list | tuple):
        nl = ""
        pad = ""
        inner = ""
        if indent is not None:
            nl = "\n"
            pad = indent * _level
            inner = indent * (_level + 1)
        if isinstance(v, dict):
            if not v:
                return "{}"
            items = sorted(((_json_key(k), x) for k, x in v.items()), key=lambda kv: _b(kv[0]))
            sep = ": " if indent is not None else ":"
            parts = [
                inner
                + _json_str(k, escape_html)
                + sep
                + go_json_dumps(x, escape_html=escape_html, indent=indent, _level=_level + 1)
                for k, x in items
            ]
            return "{" + nl + ("," + nl).join(parts) + nl + pad + "}"
        if not v:
            return "[]"
        parts = [
            inner + go_json_dumps(x, escape_html=escape_html, indent=indent, _level=_level + 1)
            for x in v
        ]
        return "[" + nl + ("," + nl).join(parts) + nl + pad + "]"
    if callable(v):
        raise JSONError("json: unsupported type: func()")
    raise JSONError(f"json: unsupported type: {type(v).__name__}")


def _parse_int(s: str) -> Any:
    v = int(s)
    if -(1 << 63) <= v < (1 << 63):
        return v
    return float(s)


def _reject_constant(s: str) -> Any:
    raise ValueError(f"invalid character '{s[0]}' looking for beginning of value")


def go_json_loads(text: str, *, ints: bool = True) -> Any:
    """json.Unmarshal into interface{}; integers stay integers unless ``ints`` is False."""
    try:
        return json.loads(
            text,
            parse_int=_parse_int if ints else float,
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as e:
        if e.pos >= len(text.rstrip()):
            raise JSONError("unexpected end of JSON input") from None
        ch = text[e.pos]
        if "Extra data" in e.msg:
            raise JSONError(f"invalid character '{ch}' after top-level value") from None
        raise JSONError(f"invalid character '{ch}' looking for beginning of value") from None
    except ValueError as e:
        raise JSONError(str(e)) from None
    except RecursionError:
        raise JSONError("exceeded max depth") from None


def unmarshal_type_error(value: Any, target: str) -> str:
    kind = {dict: "object", list: "array", str: "string", bool: "bool"}.get(type(value), "number")
    return f"json: cannot unmarshal {kind} into Go value of type {target}"


# ---------------------------------------------------------------------------------------
# template functions


def _to_json(escape_html: bool, indent: str | None, must: bool) -> Callable[..., str]:
    @gofunc("any")
    def to_json(v: Any) -> str:
        try:
            return go_json_dumps(v, escape_html=escape_html, indent=indent)
        except JSONError as e:
            if must:
                raise FunctionError(str(e)) from None
            return ""

    return to_json


@gofunc("string")
def from_json(s: str) -> Any:
    try:
        return go_json_loads(s)
    except JSONError:
        return None


@gofunc("string")
def must_from_json(s: str) -> Any:
    try:
        return go_json_loads(s)
    except JSONError as e:
        raise FunctionError(str(e)) from None


@gofunc("string")
def sveltos_from_json(s: str) -> dict[str, Any]:
    """libsveltos fromJson: a map, with the decode error under ``Error``."""
    try:
        v = go_json_loads(s)
    except JSONError as e:
        return {"Error": str(e)}
    if v is None:
        return {}
    if not isinstance(v, dict):
        return {"Error": unmarshal_type_error(v, "map[string]interface {}")}
    return v


@gofunc("string")
def sveltos_from_json_array(s: str) -> list[Any]:
    try:
        v = go_json_loads(s)
    except JSONError as e:
        return [str(e)]
    if v is None:
        return []
    if not isinstance(v, list):
        return [unmarshal_type_error(v, "[]interface {}")]
    return v


ENCODING_FUNCS: dict[str, Callable[..., Any]] = {
    "b64enc": b64enc,
    "b64dec": b64dec,
    "b32enc": b32enc,
    "b32dec": b32dec,
    "toJson": _to_json(True, None, False),
    "mustToJson": _to_json(True, None, True),
    "toPrettyJson": _to_json(True, "  ", False),
    "mustToPrettyJson": _to_json(True, "  ", True),
    "toRawJson": _to_json(False, None, False),
    "mustToRawJson": _to_json(False, None, True),
    "fromJson": from_json,
    "mustFromJson": must_from_json,
}
