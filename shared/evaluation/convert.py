"""Data crossing the Python/Lua boundary: only plain data, never a Python object.

Python -> Lua (:func:`plain`): the object is reduced to dict / list / str / int / float / bool
before ``LuaRuntime.table_from(..., recursive=True)`` builds the tables:

* every list element is kept (ints, floats, strings, booleans, maps and nested lists);
  Sveltos drops ints, nulls and nested lists, Ripple keeps them (BRIEF §4);
* ``null`` list elements are DROPPED (later elements shift down), as gopher-lua's
  ``json.decode`` does: a Lua array cannot hold nil without breaking ``#`` and ``ipairs``;
* a ``null`` map value is an absent key (nil), as in Sveltos;
* any other Python value (datetime from YAML, bytes, ...) becomes its string form
  (datetimes as RFC 3339), so Lua never receives a Python object;
* map keys become strings.

Lua -> Python (:func:`from_lua`) follows libsveltos ``ToGoValue``: a table without an array
part is a map (keys stringified; an empty table is ``{}``), otherwise a list of indices
1..n (holes become ``None``, non-integer keys dropped). Integral numbers come back as ``int``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import lupa.lua51 as lua51

_SCALARS = (str, bool, int, float)


def _is_plain(value: Any) -> bool:
    """True when ``value`` needs no change before crossing into Lua (the fast path).

    ``None`` as a map value is fine (``table_from`` leaves the key absent); ``None`` as a list
    element is not (it must be dropped, not left as a hole).
    """
    t = type(value)
    if t is dict:
        for k, v in value.items():
            tv = type(v)
            if tv is str or tv is int or tv is bool or tv is float or v is None:
                if type(k) is not str:
                    return False
                continue
            if type(k) is not str or not _is_plain(v):
                return False
        return True
    if t is list:
        for v in value:
            tv = type(v)
            if tv is str or tv is int or tv is bool or tv is float:
                continue
            if v is None or not _is_plain(v):
                return False
        return True
    return t is str or t is int or t is bool or t is float


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, _SCALARS):
        return value
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None and value.utcoffset() == _dt.timedelta(0):
            return value.replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            (k if type(k) is str else str(_scalar(k))): _normalise(v)
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value if v is not None]
    return _scalar(value)


def plain(value: Any) -> Any:
    """``value`` reduced to plain data for Lua (the same object when it already is)."""
    if _is_plain(value):
        return value
    return _normalise(value)


def from_lua(value: Any, depth: int = 0) -> Any:
    """A Lua value (as lupa hands it over) converted to plain Python data."""
    if depth > 100:
        raise ValueError("nesting deeper than 100 levels")
    kind = lua51.lua_type(value)
    if kind is None:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if kind != "table":
        raise ValueError(f"a Lua {kind} cannot be converted to data")
    n = len(value)
    if n == 0 and value[1] is None:
        return {str(_key(k)): from_lua(v, depth + 1) for k, v in value.items()}
    return [from_lua(value[i], depth + 1) for i in range(1, n + 1)]


def restore(converted: Any, original: Any) -> Any:
    """``converted`` (an object back from Lua) with the losses of the round trip undone
    where ``original`` shows them: an empty table that was a list is ``[]`` again, a float
    that Lua returned as an integral number is the float again. Returns ``original`` itself
    when the script changed nothing."""
    out = _restore(converted, original)
    return original if out == original else out


def _restore(converted: Any, original: Any) -> Any:
    if isinstance(original, list):
        if converted == {}:
            return []
        if isinstance(converted, list):
            kept = [v for v in original if v is not None]
            if len(kept) == len(converted):
                return [_restore(c, o) for c, o in zip(converted, kept, strict=True)]
        return converted
    if isinstance(original, dict) and isinstance(converted, dict):
        return {k: _restore(v, original.get(k)) for k, v in converted.items()}
    if isinstance(original, float) and type(converted) is int and original == converted:
        return original
    return converted


def _key(k: Any) -> Any:
    if isinstance(k, float) and k.is_integer():
        return int(k)
    return k
