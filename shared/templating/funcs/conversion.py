"""sprig type conversion and reflection functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.templating.funcs._base import (
    GoInt,
    go_kind,
    gofunc,
    parse_go_int,
    to_float64,
    to_int,
    to_int64,
)
from shared.templating.gofmt import format_value, type_name

__all__ = ["CONVERSION_FUNCS"]


@gofunc("string")
def atoi(s: str) -> GoInt:
    if "_" in s or (s[1:2].lower() in ("x", "o", "b") and s[:1] == "0"):
        return GoInt(0)
    try:
        return GoInt(parse_go_int(s, 10))
    except ValueError:
        return GoInt(0)


@gofunc("any")
def int64_(v: Any) -> int:
    return to_int64(v)


@gofunc("any")
def int_(v: Any) -> GoInt:
    return to_int(v)


@gofunc("any")
def float64_(v: Any) -> float:
    return to_float64(v)


@gofunc("any")
def to_decimal(v: Any) -> int:
    try:
        return parse_go_int(format_value(v), 8)
    except ValueError:
        return 0


@gofunc("any")
def type_of(v: Any) -> str:
    return type_name(v)


@gofunc("string", "any")
def type_is(target: str, v: Any) -> bool:
    return target == type_name(v)


@gofunc("string", "any")
def type_is_like(target: str, v: Any) -> bool:
    t = type_name(v)
    return target == t or "*" + target == t


@gofunc("any")
def kind_of(v: Any) -> str:
    return go_kind(v)


@gofunc("string", "any")
def kind_is(target: str, v: Any) -> bool:
    return target == go_kind(v)


CONVERSION_FUNCS: dict[str, Callable[..., Any]] = {
    "atoi": atoi,
    "int64": int64_,
    "int": int_,
    "float64": float64_,
    "toDecimal": to_decimal,
    "typeOf": type_of,
    "typeIs": type_is,
    "typeIsLike": type_is_like,
    "kindOf": kind_of,
    "kindIs": kind_is,
}
