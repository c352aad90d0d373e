"""Shared helpers of the function library: Go argument typing, sprig/cast conversions.

Go checks a function's argument types before calling it (``wrong type for value;
expected string; got int64``); :func:`gofunc` declares the Go parameter types of a Python
function and performs the same check. Integers are lenient: any Go integer kind is
accepted where Go would want ``int`` or ``int64`` (Ripple keeps JSON integers as integers,
BRIEF section 4), and an integer is accepted for ``float64``.
"""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

from shared.templating.errors import FunctionError
from shared.templating.gofmt import format_value, type_name
from shared.templating.values import GoInt, GoStruct

__all__ = [
    "FunctionError",
    "GoInt",
    "GoIntSlice",
    "GoListSlice",
    "GoStringSlice",
    "deep_copy",
    "deep_equal",
    "go_kind",
    "gofunc",
    "is_empty",
    "is_int",
    "parse_go_int",
    "strslice",
    "strval",
    "to_float64",
    "to_int",
    "to_int64",
    "wrap64",
]

F = TypeVar("F", bound=Callable[..., Any])


class GoStringSlice(list[Any]):
    """A Go ``[]string`` (what ``splitList``, ``toStrings``, ``keys`` ... return)."""

    go_type = "[]string"


class GoIntSlice(list[Any]):
    """A Go ``[]int`` (``until``, ``untilStep``)."""

    go_type = "[]int"


class GoListSlice(list[Any]):
    """A Go ``[][]interface {}`` (``chunk``)."""

    go_type = "[][]interface {}"


_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1


def wrap64(v: int) -> int:
    """Two's complement wrap to int64, as Go arithmetic does."""
    v = int(v)
    if _INT64_MIN <= v <= _INT64_MAX:
        return v
    return ((v + (1 << 63)) % (1 << 64)) - (1 << 63)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def go_kind(v: Any) -> str:
    """reflect.Kind name of a value (sprig ``kindOf``)."""
    if v is None:
        return "invalid"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return str(getattr(type(v), "go_type", "int64"))
    if isinstance(v, float):
        return "float64"
    if isinstance(v, complex):
        return "complex128"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list | tuple | bytes | bytearray):
        return "slice"
    if isinstance(v, dict):
        return "map"
    if isinstance(v, GoStruct) and str(v.go_type_name).startswith("*"):
        return "ptr"
    if isinstance(v, _dt.datetime | GoStruct):
        return "struct"
    if isinstance(v, _dt.timedelta):
        return "int64"
    if callable(v):
        return "func"
    return "ptr"


# ---------------------------------------------------------------------------------------
# argument checking


def _check(expected: str, v: Any) -> Any:
    """Convert/check one argument against a Go parameter type; raise like reflect does."""
    if expected == "any":
        return v
    if v is None:
        if expected in ("[]interface {}", "map[string]interface {}"):
            return None
        raise FunctionError(f"invalid value; expected {expected}")
    ok: bool
    if expected == "string":
        ok = isinstance(v, str)
    elif expected in ("int", "int64", "uint32"):
        if isinstance(v, float) and v.is_integer():
            v = int(v)  # Go accepts an integral float constant (3.0) for an int
        ok = is_int(v)
        if ok:
            v = GoInt(v) if expected == "int" else int(v)
    elif expected == "float64":
        ok = isinstance(v, float) or is_int(v)
        if ok:
            v = float(v)
    elif expected == "bool":
        ok = isinstance(v, bool)
    elif expected == "map[string]interface {}":
        ok = isinstance(v, dict)
    elif expected == "[]interface {}":
        ok = isinstance(v, list)
    elif expected == "time.Time":
        ok = isinstance(v, _dt.datetime)
    else:  # pragma: no cover - programming error
        raise AssertionError(expected)
    if not ok:
        raise FunctionError(f"wrong type for value; expected {expected}; got {type_name(v)}")
    return v


def gofunc(*params: str) -> Callable[[F], F]:
    """Declare Go parameter types; a trailing ``...T`` is variadic.

    The wrapper checks the argument count and types as Go's reflect-based call does.
    """
    variadic = bool(params) and params[-1].startswith("...")
    fixed = params[:-1] if variadic else params
    vtype = params[-1][3:] if variadic else ""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any) -> Any:
            n = len(args)
            if (variadic and n < len(fixed)) or (not variadic and n != len(fixed)):
                want = f"at least {len(fixed)}" if variadic else str(len(fixed))
                raise FunctionError(f"wrong number of args: want {want} got {n}")
            conv = [_check(t, a) for t, a in zip(fixed, args, strict=False)]
            conv.extend(_check(vtype, a) for a in args[len(fixed) :])
            return fn(*conv)

        wrapper.go_params = params  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return deco


# ---------------------------------------------------------------------------------------
# sprig conversions (spf13/cast semantics)


def parse_go_int(s: str, base: int = 0) -> int:
    """strconv.ParseInt(s, base, 64); raises ValueError."""
    t = s
    neg = False
    if t[:1] in ("+", "-"):
        neg = t[0] == "-"
        t = t[1:]
    if not t:
        raise ValueError(s)
    b = base
    underscores = False
    if base == 0:
        b = 10
        low = t.lower()
        if low.startswith("0x"):
            b, t = 16, t[2:]
        elif low.startswith("0o"):
            b, t = 8, t[2:]
        elif low.startswith("0b"):
            b, t = 2, t[2:]
        elif t.startswith("0") and len(t) > 1:
            b, t = 8, t[1:]
        underscores = True
    if underscores and "_" in t:
        if t.startswith("_") or t.endswith("_") or "__" in t:
            raise ValueError(s)
        t = t.replace("_", "")
    if not t or not all(c.isascii() and c.isalnum() for c in t):
        raise ValueError(s)
    v = int(t, b)
    v = -v if neg else v
    if not _INT64_MIN <= v <= _INT64_MAX:
        raise ValueError(s)
    return v


def _trim_zero_decimal(s: str) -> str:
    found_zero = False
    for i in range(len(s), 0, -1):
        c = s[i - 1]
        if c == ".":
            return s[: i - 1] if found_zero else s
        if c == "0":
            found_zero = True
        else:
            return s
    return s


def to_int64(v: Any) -> int:
    """cast.ToInt64: numbers truncate, strings parse (base prefixes allowed), else 0."""
    if isinstance(v, bool):
        return 1 if v else 0
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return _INT64_MIN
        return wrap64(int(v))
    if isinstance(v, str):
        try:
            return parse_go_int(_trim_zero_decimal(v), 0)
        except ValueError:
            return 0
    if isinstance(v, _dt.timedelta):
        return (v.days * 86400 + v.seconds) * 10**9 + v.microseconds * 1000
    return 0


def to_int(v: Any) -> GoInt:
    return GoInt(to_int64(v))


def to_float64(v: Any) -> float:
    """cast.ToFloat64."""
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return _parse_go_float(v)
        except ValueError:
            return 0.0
    return 0.0


def _parse_go_float(s: str) -> float:
    t = s
    low = t.lower().lstrip("+-")
    if low in ("inf", "infinity", "nan"):
        return float(t)
    if "_" in t or not t or any(c.isspace() for c in t):
        raise ValueError(s)
    if low.startswith("0x"):
        return float.fromhex(t)
    return float(t)


def strval(v: Any) -> str:
    """sprig ``strval``: strings as is, []byte decoded, everything else with %v."""
    if isinstance(v, str):
        return v
    if isinstance(v, bytes | bytearray):
        return bytes(v).decode("utf-8", "surrogateescape")
    if isinstance(v, BaseException):
        return str(v)
    return format_value(v)


def strslice(v: Any) -> list[str]:
    """sprig ``strslice``: a list's non-nil elements as strings; a scalar as one string."""
    if isinstance(v, list | tuple):
        return [strval(x) for x in v if x is not None]
    if v is None:
        return []
    return [strval(v)]


def is_empty(v: Any) -> bool:
    """sprig ``empty``: the zero value of its type."""
    if v is None:
        return True
    if isinstance(v, bool):
        return not v
    if isinstance(v, int | float | complex):
        return v == 0
    if isinstance(v, str | list | tuple | dict | bytes | bytearray):
        return len(v) == 0
    if isinstance(v, _dt.timedelta):
        return v == _dt.timedelta(0)
    return False


def deep_equal(a: Any, b: Any) -> bool:
    """reflect.DeepEqual: equal types and equal values (an int is not an int64)."""
    if a is None or b is None:
        return a is None and b is None
    if type_name(a) != type_name(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == b
    try:
        return bool(a == b)
    except Exception:
        return False


def deep_copy(v: Any) -> Any:
    """Copy of nested maps and lists (scalars shared)."""
    if isinstance(v, dict):
        return {k: deep_copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [deep_copy(x) for x in v]
    return copy.copy(v) if isinstance(v, bytearray) else v
