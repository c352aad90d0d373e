"""TOML output in the layout of BurntSushi/toml's encoder (libsveltos ``toToml``)."""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any

from shared.templating.gofmt import format_float
from shared.templating.values import GoStruct

__all__ = ["TOMLEncodeError", "dump_toml"]

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")
_INDENT = "  "


class TOMLEncodeError(Exception):
    """A value TOML cannot represent (the message is BurntSushi's)."""


def _key(k: str) -> str:
    return k if _BARE.match(k) else _string(k)


def _string(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\u{o:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _is_table(v: Any) -> bool:
    return isinstance(v, dict | GoStruct)


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(_is_table(x) for x in v)


def _as_dict(v: Any) -> dict[str, Any]:
    return v.as_dict() if isinstance(v, GoStruct) else dict(v)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        s = format_float(v, "f", -1)
        return s if "." in s else s + ".0"
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, _dt.datetime):
        return v.isoformat().replace("+00:00", "Z")
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v if x is not None) + "]"
    if isinstance(v, dict | GoStruct):
        d = _as_dict(v)
        return (
            "{"
            + ", ".join(f"{_key(k)} = {_value(d[k])}" for k in sorted(d) if d[k] is not None)
            + "}"
        )
    raise TOMLEncodeError(f"toml: cannot encode a value of type {type(v).__name__}")


def _table(d: dict[str, Any], path: list[str], out: list[str]) -> None:
    ind = _INDENT * max(len(path), 0)
    keys = sorted(d)
    for k in keys:
        v = d[k]
        if v is None or _is_table(v) or _is_table_array(v):
            continue
        out.append(f"{ind}{_key(k)} = {_value(v)}\n")
    for k in keys:
        v = d[k]
        if _is_table(v):
            sub = [*path, k]
            if out and not path:  # a blank line before each top-level table
                out.append("\n")
            out.append(f"{_INDENT * len(path)}[{'.'.join(_key(p) for p in sub)}]\n")
            _table(_as_dict(v), sub, out)
    for k in keys:
        v = d[k]
        if _is_table_array(v):
            sub = [*path, k]
            for item in v:
                if out:
                    out.append("\n")
                out.append(f"{_INDENT * len(path)}[[{'.'.join(_key(p) for p in sub)}]]\n")
                _table(_as_dict(item), sub, out)


def dump_toml(v: Any) -> str:
    if not isinstance(v, dict | GoStruct):
        raise TOMLEncodeError("toml: top-level values must be Go maps or structs")
    out: list[str] = []
    _table(_as_dict(v), [], out)
    return "".join(out)
