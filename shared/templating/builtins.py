"""Go text/template's predefined functions (``and``, ``eq``, ``index``, ``len`` ...).

They receive evaluated arguments in which :data:`MISSING` stands for Go's invalid
``reflect.Value`` (a missing map key, the result of a nil pipeline) and ``None`` for a nil
interface. ``BuiltinError`` becomes ``error calling <name>: <message>``.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote_plus

from shared.templating import gofmt
from shared.templating.values import GoInt, GoStruct, GoUint8

__all__ = [
    "ARITY",
    "BUILTINS",
    "MISSING",
    "BuiltinError",
    "is_true",
    "printable",
    "type_name",
]


class _Missing:
    """Go's invalid reflect.Value (``<no value>``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


class BuiltinError(Exception):
    """A builtin's Go error return."""


def type_name(v: Any) -> str:
    if v is MISSING:
        return "<nil>"
    return gofmt.type_name(v)


def _iface(v: Any) -> Any:
    return None if v is MISSING else v


def is_true(v: Any) -> bool:
    """Go's truth: false, 0, nil, and empty strings, maps and slices are false."""
    if v is None or v is MISSING:
        return False
    t = type(v)
    if t is bool:
        return bool(v)
    if t is str or t is list or t is dict or t is bytes or t is tuple:
        return len(v) > 0
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, int | float | complex):
        return v != 0
    if isinstance(v, str | list | dict | bytes | tuple):
        return len(v) > 0
    return True


# --------------------------------------------------------------------------------------
# comparisons

_BOOL, _COMPLEX, _INT, _FLOAT, _STRING, _UINT, _INVALID = range(7)


def _basic_kind(v: Any) -> int:
    if isinstance(v, bool):
        return _BOOL
    if isinstance(v, GoUint8):
        return _UINT
    if isinstance(v, int):
        return _INT
    if isinstance(v, float):
        return _FLOAT
    if isinstance(v, complex):
        return _COMPLEX
    if isinstance(v, str):
        return _STRING
    return _INVALID


_ERR_BAD_COMPARISON_TYPE = "invalid type for comparison"
_ERR_NO_COMPARISON = "missing argument for comparison"


def _bad_comparison(a: Any, b: Any) -> BuiltinError:
    return BuiltinError(f"incompatible types for comparison: {type_name(a)} and {type_name(b)}")


def _comparable(v: Any) -> bool:
    return not isinstance(v, list | dict | bytes | tuple)


def eq(arg1: Any, *arg2: Any) -> bool:
    if not arg2:
        raise BuiltinError(_ERR_NO_COMPARISON)
    k1 = _basic_kind(arg1)
    for arg in arg2:
        k2 = _basic_kind(arg)
        truth = False
        if k1 != k2:
            if k1 in (_INT, _UINT) and k2 in (_INT, _UINT):
                truth = int(arg1) == int(arg)
            elif (
                arg1 is not MISSING and arg is not MISSING and arg1 is not None and arg is not None
            ):
                raise _bad_comparison(arg1, arg)
        elif k1 != _INVALID:
            truth = arg1 == arg
        else:
            nil1 = arg1 is None or arg1 is MISSING
            nil2 = arg is None or arg is MISSING
            if nil1 or nil2:
                truth = nil1 == nil2
            else:
                if not _comparable(arg):
                    raise BuiltinError(
                        gofmt.sprintf("non-comparable type %s: %v", arg, type_name(arg))
                    )
                if not _comparable(arg1):
                    raise BuiltinError(
                        gofmt.sprintf("non-comparable type %s: %v", arg1, type_name(arg1))
                    )
                if type_name(arg1) != type_name(arg):
                    raise BuiltinError(
                        f"non-comparable types {gofmt.format_value(arg1)}: {type_name(arg1)}, "
                        f"{type_name(arg)}: {gofmt.format_value(arg)}"
                    )
                truth = arg1 == arg
        if truth:
            return True
    return False


def ne(arg1: Any, arg2: Any) -> bool:
    return not eq(arg1, arg2)


def lt(arg1: Any, arg2: Any) -> bool:
    k1 = _basic_kind(arg1)
    if k1 == _INVALID:
        raise BuiltinError(_ERR_BAD_COMPARISON_TYPE)
    k2 = _basic_kind(arg2)
    if k2 == _INVALID:
        raise BuiltinError(_ERR_BAD_COMPARISON_TYPE)
    if k1 != k2:
        if k1 in (_INT, _UINT) and k2 in (_INT, _UINT):
            return int(arg1) < int(arg2)
        raise _bad_comparison(arg1, arg2)
    if k1 in (_BOOL, _COMPLEX):
        raise BuiltinError(_ERR_BAD_COMPARISON_TYPE)
    if k1 == _STRING:
        return _go_str_bytes(arg1) < _go_str_bytes(arg2)
    return bool(arg1 < arg2)


def _go_str_bytes(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def le(arg1: Any, arg2: Any) -> bool:
    return lt(arg1, arg2) or eq(arg1, arg2)


def gt(arg1: Any, arg2: Any) -> bool:
    return not le(arg1, arg2)


def ge(arg1: Any, arg2: Any) -> bool:
    return not lt(arg1, arg2)


# --------------------------------------------------------------------------------------
# index, slice, len


def _index_arg(index: Any, cap: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int):
        if index is MISSING or index is None:
            raise BuiltinError("cannot index slice/array with nil")
        raise BuiltinError(f"cannot index slice/array with type {type_name(index)}")
    x = int(index)
    if x < 0 or x > cap:
        raise BuiltinError(f"index out of range: {x}")
    return x


def index(item: Any, *indexes: Any) -> Any:
    if item is MISSING or item is None:
        raise BuiltinError("index of untyped nil")
    for idx in indexes:
        if item is None or item is MISSING:
            raise BuiltinError("index of nil pointer")
        if isinstance(item, list | tuple):
            x = _index_arg(idx, len(item))
            if x >= len(item):
                raise BuiltinError("reflect: slice index out of range")
            item = item[x]
        elif isinstance(item, str):
            raw = _go_str_bytes(item)
            x = _index_arg(idx, len(raw))
            if x >= len(raw):
                raise BuiltinError("reflect: string index out of range")
            item = GoUint8(raw[x])
        elif isinstance(item, bytes):
            x = _index_arg(idx, len(item))
            if x >= len(item):
                raise BuiltinError("reflect: slice index out of range")
            item = GoUint8(item[x])
        elif isinstance(item, dict):
            if idx is MISSING or idx is None:
                raise BuiltinError("value is nil; should be of type string")
            if not isinstance(idx, str):
                raise BuiltinError(f"value has type {type_name(idx)}; should be string")
            item = item.get(idx)
        else:
            raise BuiltinError(f"can't index item of type {type_name(item)}")
    return item


def slice_(item: Any, *indexes: Any) -> Any:
    if item is MISSING or item is None:
        raise BuiltinError("slice of untyped nil")
    if len(indexes) > 3:
        raise BuiltinError(f"too many slice indexes: {len(indexes)}")
    raw: Any
    if isinstance(item, str):
        if len(indexes) == 3:
            raise BuiltinError("cannot 3-index slice a string")
        raw = _go_str_bytes(item)
    elif isinstance(item, list | tuple | bytes):
        raw = item
    else:
        raise BuiltinError(f"can't slice item of type {type_name(item)}")
    cap = len(raw)
    idx = [0, len(raw), cap]
    for i, x in enumerate(indexes):
        idx[i] = _index_arg(x, cap)
    if idx[0] > idx[1]:
        raise BuiltinError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise BuiltinError(f"invalid slice index: {idx[1]} > {idx[2]}")
    part = raw[idx[0] : idx[1]]
    if isinstance(item, str):
        return part.decode("utf-8", "surrogateescape")
    return list(part) if isinstance(item, tuple) else part


def length(item: Any) -> int:
    if item is None:
        raise BuiltinError("len of nil pointer")
    if item is MISSING:
        raise BuiltinError("reflect: call of reflect.Value.Type on zero Value")
    if isinstance(item, str):
        return GoInt(len(_go_str_bytes(item)))
    if isinstance(item, list | tuple | dict | bytes):
        return GoInt(len(item))
    raise BuiltinError(f"len of type {type_name(item)}")


def not_(arg: Any) -> bool:
    return not is_true(arg)


def call(fn: Any, *args: Any, callee: str = "") -> Any:
    """``call fn args...``; ``callee`` names fn in errors (the executor passes it)."""
    if fn is None or fn is MISSING:
        raise BuiltinError("call of nil")
    if not callable(fn):
        raise BuiltinError(f"non-function {callee} of type {type_name(fn)}".replace("  ", " "))
    return fn(*[_iface(a) for a in args])


# --------------------------------------------------------------------------------------
# printing and escaping


def printable(v: Any) -> Any:
    return None if v is MISSING else v


def _eval_args(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    conv = ["<no value>" if (a is None or a is MISSING) else a for a in args]
    return gofmt.sprint(*conv)


_HTML_ESC = {
    '"': "&#34;",
    "'": "&#39;",
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "\x00": "\ufffd",
}


def html_escape_string(s: str) -> str:
    if not any(c in s for c in "\"'&<>\x00"):
        return s
    return "".join(_HTML_ESC.get(c, c) for c in s)


def html(*args: Any) -> str:
    return html_escape_string(_eval_args(args))


_JS_ESC = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}


def js_escape_string(s: str) -> str:
    out = []
    for c in s:
        o = ord(c)
        if c in _JS_ESC:
            out.append(_JS_ESC[c])
        elif o < 0x20:
            out.append(f"\\u00{o:02X}")
        elif o < 0x80:
            out.append(c)
        elif 0xDC80 <= o <= 0xDCFF or not c.isprintable():
            out.append("\\uFFFD" if 0xDC80 <= o <= 0xDCFF else f"\\u{o:04X}")
        else:
            out.append(c)
    return "".join(out)


def js(*args: Any) -> str:
    return js_escape_string(_eval_args(args))


def urlquery(*args: Any) -> str:
    s = _eval_args(args)
    return quote_plus(s.encode("utf-8", "surrogateescape"), safe="")


def print_(*args: Any) -> str:
    return gofmt.sprint(*[_iface(a) for a in args])


def println(*args: Any) -> str:
    return gofmt.sprintln(*[_iface(a) for a in args])


def printf(fmt: Any, *args: Any) -> str:
    return gofmt.sprintf(fmt, *[_iface(a) for a in args])


#: name -> implementation (and/or are evaluated by the executor: they short-circuit)
BUILTINS: Final[dict[str, Callable[..., Any]]] = {
    "and": lambda *a: a[-1],
    "or": lambda *a: a[-1],
    "not": not_,
    "len": length,
    "index": index,
    "slice": slice_,
    "print": print_,
    "printf": printf,
    "println": println,
    "eq": eq,
    "ne": ne,
    "lt": lt,
    "le": le,
    "gt": gt,
    "ge": ge,
    "html": html,
    "js": js,
    "urlquery": urlquery,
    "call": call,
}

#: name -> (fixed argument count, variadic)
ARITY: Final[dict[str, tuple[int, bool]]] = {
    "and": (1, True),
    "or": (1, True),
    "not": (1, False),
    "len": (1, False),
    "index": (1, True),
    "slice": (1, True),
    "print": (0, True),
    "printf": (1, True),
    "println": (0, True),
    "eq": (1, True),
    "ne": (2, False),
    "lt": (2, False),
    "le": (2, False),
    "gt": (2, False),
    "ge": (2, False),
    "html": (0, True),
    "js": (0, True),
    "urlquery": (0, True),
    "call": (1, True),
}

_ = (math, _dt, GoStruct)
