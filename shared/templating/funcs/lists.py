"""sprig list functions (list.go) and integer ranges (until, untilStep)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from shared.templating.funcs._base import (
    FunctionError,
    GoInt,
    GoIntSlice,
    GoListSlice,
    deep_equal,
    go_kind,
    gofunc,
    is_empty,
    to_int,
)
from shared.templating.gofmt import type_name

__all__ = ["LIST_FUNCS", "until_step"]

_MAX_RANGE = 1_000_000  # until/untilStep/seq bound (Ripple bounds template work)
_NIL_DEREF = "runtime error: invalid memory address or nil pointer dereference"


def _as_list(v: Any, what: str) -> list[Any]:
    """The elements of a Go slice/array argument, or the sprig error for other kinds."""
    if v is None:
        raise FunctionError(_NIL_DEREF)
    if isinstance(v, list | tuple):
        return list(v)
    if isinstance(v, bytes | bytearray):
        return [GoInt(b) for b in v]
    raise FunctionError(what.format(kind=go_kind(v)))


@gofunc("...any")
def list_(*items: Any) -> list[Any]:
    return list(items)


@gofunc("any", "any")
def push(lst: Any, v: Any) -> list[Any]:
    return [*_as_list(lst, "Cannot push on type {kind}"), v]


@gofunc("any", "any")
def prepend(lst: Any, v: Any) -> list[Any]:
    return [v, *_as_list(lst, "Cannot prepend on type {kind}")]


@gofunc("any")
def first(lst: Any) -> Any:
    items = _as_list(lst, "Cannot find first on type {kind}")
    return items[0] if items else None


@gofunc("any")
def last(lst: Any) -> Any:
    items = _as_list(lst, "Cannot find last on type {kind}")
    return items[-1] if items else None


@gofunc("any")
def rest(lst: Any) -> list[Any]:
    items = _as_list(lst, "Cannot find rest on type {kind}")
    return items[1:]


@gofunc("any")
def initial(lst: Any) -> list[Any]:
    items = _as_list(lst, "Cannot find initial on type {kind}")
    return items[:-1]


@gofunc("any")
def reverse(lst: Any) -> list[Any]:
    return _as_list(lst, "Cannot find reverse on type {kind}")[::-1]


@gofunc("any")
def compact(lst: Any) -> list[Any]:
    return [x for x in _as_list(lst, "Cannot compact on type {kind}") if not is_empty(x)]


def _in_list(haystack: list[Any], needle: Any) -> bool:
    return any(deep_equal(needle, h) for h in haystack)


def _equality_key(v: Any) -> Any:
    """A hashable key equal for two values exactly when :func:`deep_equal` holds (a NaN,
    or a value that cannot be hashed, equals nothing but itself)."""
    if v is None:
        return None
    if isinstance(v, dict):
        return (type_name(v), frozenset((k, _equality_key(x)) for k, x in v.items()))
    if isinstance(v, list | tuple):
        return (type_name(v), tuple(_equality_key(x) for x in v))
    if isinstance(v, float) and v != v:
        return (float, id(v), object())
    try:
        hash(v)
    except TypeError:
        return (type(v), id(v), object())
    return (type_name(v), v)


@gofunc("any")
def uniq(lst: Any) -> list[Any]:
    """sprig uniq: the first of each group of deeply equal elements, in order (linear: the
    elements are compared by key, not pairwise)."""
    out: list[Any] = []
    seen: set[Any] = set()
    for x in _as_list(lst, "Cannot find uniq on type {kind}"):
        key = _equality_key(x)
        if key not in seen:
            seen.add(key)
            out.append(x)
    return out


@gofunc("any", "...any")
def without(lst: Any, *omit: Any) -> list[Any]:
    items = _as_list(lst, "Cannot find without on type {kind}")
    return [x for x in items if not _in_list(list(omit), x)]


@gofunc("any", "any")
def has(needle: Any, haystack: Any) -> bool:
    if haystack is None:
        return False
    return _in_list(_as_list(haystack, "Cannot find has on type {kind}"), needle)


@gofunc("any", "...any")
def slice_(lst: Any, *indices: Any) -> Any:
    items = _as_list(lst, "list should be type of slice or array but {kind}")
    n = len(items)
    if n == 0:
        return None
    start = int(to_int(indices[0])) if indices else 0
    end = int(to_int(indices[1])) if len(indices) >= 2 else n
    if not (0 <= start <= end <= n):
        raise FunctionError("reflect.Value.Slice: slice index out of bounds")
    return items[start:end]


@gofunc("...any")
def concat(*lists: Any) -> list[Any] | None:
    out: list[Any] = []
    for lst in lists:
        out.extend(_as_list(lst, "Cannot concat type {kind} as list"))
    return out if out or lists else None


@gofunc("int", "any")
def chunk(size: int, lst: Any) -> list[Any]:
    items = _as_list(lst, "Cannot chunk type {kind}")
    n = len(items)
    if size <= 0:
        raise FunctionError("runtime error: integer divide by zero")
    count = int(math.floor((n - 1) / size) + 1)
    return GoListSlice(items[i * size : (i + 1) * size] for i in range(count))


def until_step(start: int, stop: int, step: int) -> list[Any]:
    """sprig untilStep: the count is known (and bounded) before anything is built."""
    if (stop < start and step >= 0) or (stop >= start and step <= 0):
        return GoIntSlice()
    count = -((stop - start) // -step)  # ceil((stop - start) / step), both signs alike
    if count > _MAX_RANGE:
        raise FunctionError(f"range too large: more than {_MAX_RANGE} elements")
    return GoIntSlice(GoInt(start + k * step) for k in range(count))


@gofunc("int")
def until(count: int) -> list[Any]:
    return until_step(0, count, -1 if count < 0 else 1)


@gofunc("int", "int", "int")
def until_step_f(start: int, stop: int, step: int) -> list[Any]:
    return until_step(start, stop, step)


LIST_FUNCS: dict[str, Callable[..., Any]] = {
    "list": list_,
    "tuple": list_,
    "append": push,
    "push": push,
    "mustAppend": push,
    "mustPush": push,
    "prepend": prepend,
    "mustPrepend": prepend,
    "first": first,
    "mustFirst": first,
    "rest": rest,
    "mustRest": rest,
    "last": last,
    "mustLast": last,
    "initial": initial,
    "mustInitial": initial,
    "reverse": reverse,
    "mustReverse": reverse,
    "uniq": uniq,
    "mustUniq": uniq,
    "without": without,
    "mustWithout": without,
    "has": has,
    "mustHas": has,
    "slice": slice_,
    "mustSlice": slice_,
    "concat": concat,
    "chunk": chunk,
    "mustChunk": chunk,
    "compact": compact,
    "mustCompact": compact,
    "until": until,
    "untilStep": until_step_f,
}
