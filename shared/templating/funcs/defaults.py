"""sprig defaults and flow control (defaults.go): default, empty, coalesce, ternary, fail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.templating.funcs._base import FunctionError, gofunc, is_empty

__all__ = ["DEFAULT_FUNCS"]


@gofunc("any", "...any")
def default(d: Any, *given: Any) -> Any:
    if not given or is_empty(given[0]):
        return d
    return given[0]


@gofunc("any")
def empty(v: Any) -> bool:
    return is_empty(v)


@gofunc("...any")
def coalesce(*vs: Any) -> Any:
    for v in vs:
        if not is_empty(v):
            return v
    return None


@gofunc("...any")
def all_(*vs: Any) -> bool:
    return all(not is_empty(v) for v in vs)


@gofunc("...any")
def any_(*vs: Any) -> bool:
    return any(not is_empty(v) for v in vs)


@gofunc("any", "any", "bool")
def ternary(vt: Any, vf: Any, cond: bool) -> Any:
    return vt if cond else vf


@gofunc("string")
def fail(msg: str) -> str:
    raise FunctionError(msg)


DEFAULT_FUNCS: dict[str, Callable[..., Any]] = {
    "default": default,
    "empty": empty,
    "coalesce": coalesce,
    "all": all_,
    "any": any_,
    "ternary": ternary,
    "fail": fail,
}
