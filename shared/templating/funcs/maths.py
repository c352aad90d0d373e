"""sprig integer and float arithmetic (numeric.go, functions.go)."""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from shared.templating.funcs._base import (
    FunctionError,
    GoInt,
    gofunc,
    to_float64,
    to_int64,
    wrap64,
)
from shared.templating.funcs.lists import until_step

__all__ = ["MATH_FUNCS"]

_DIV0 = "runtime error: integer divide by zero"


@gofunc("any")
def add1(i: Any) -> int:
    return wrap64(to_int64(i) + 1)


@gofunc("...any")
def add(*xs: Any) -> int:
    return wrap64(sum(to_int64(x) for x in xs))


@gofunc("any", "any")
def sub(a: Any, b: Any) -> int:
    return wrap64(to_int64(a) - to_int64(b))


def _go_div(a: int, b: int) -> int:
    if b == 0:
        raise FunctionError(_DIV0)
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


@gofunc("any", "any")
def div(a: Any, b: Any) -> int:
    return wrap64(_go_div(to_int64(a), to_int64(b)))


@gofunc("any", "any")
def mod(a: Any, b: Any) -> int:
    x, y = to_int64(a), to_int64(b)
    if y == 0:
        raise FunctionError(_DIV0)
    return wrap64(x - _go_div(x, y) * y)


@gofunc("any", "...any")
def mul(a: Any, *xs: Any) -> int:
    v = to_int64(a)
    for x in xs:
        v = wrap64(v * to_int64(x))
    return v


@gofunc("int", "int")
def rand_int(lo: int, hi: int) -> GoInt:
    if hi - lo <= 0:
        raise FunctionError("invalid argument to Intn")
    return GoInt(secrets.randbelow(hi - lo) + lo)


def _dec(v: Any) -> Decimal:
    f = to_float64(v)
    if math.isnan(f) or math.isinf(f):
        raise FunctionError(f"Cannot create a Decimal from {f}")
    return Decimal(repr(f))


def _decimal_op(op: str) -> Callable[..., float]:
    def run(a: Any, xs: tuple[Any, ...]) -> float:
        acc = _dec(a)
        for x in xs:
            d = _dec(x)
            if op == "+":
                acc = acc + d
            elif op == "-":
                acc = acc - d
            elif op == "*":
                acc = acc * d
            else:
                if d == 0:
                    raise FunctionError("decimal division by 0")
                try:
                    acc = (acc / d).quantize(Decimal(1).scaleb(-16), rounding=ROUND_HALF_UP)
                except InvalidOperation:
                    acc = acc / d
        return float(acc)

    return run


@gofunc("any")
def add1f(i: Any) -> float:
    return _decimal_op("+")(i, (1,))


@gofunc("...any")
def addf(*xs: Any) -> float:
    return _decimal_op("+")(0.0, xs)


@gofunc("any", "...any")
def subf(a: Any, *xs: Any) -> float:
    return _decimal_op("-")(a, xs)


@gofunc("any", "...any")
def divf(a: Any, *xs: Any) -> float:
    return _decimal_op("/")(a, xs)


@gofunc("any", "...any")
def mulf(a: Any, *xs: Any) -> float:
    return _decimal_op("*")(a, xs)


@gofunc("any", "...any")
def max_(a: Any, *xs: Any) -> int:
    v = to_int64(a)
    for x in xs:
        v = max(v, to_int64(x))
    return v


@gofunc("any", "...any")
def min_(a: Any, *xs: Any) -> int:
    v = to_int64(a)
    for x in xs:
        v = min(v, to_int64(x))
    return v


def _go_fmax(a: float, b: float) -> float:
    if (math.isinf(a) and a > 0) or (math.isinf(b) and b > 0):
        return math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return max(a, b)


def _go_fmin(a: float, b: float) -> float:
    if (math.isinf(a) and a < 0) or (math.isinf(b) and b < 0):
        return -math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return min(a, b)


@gofunc("any", "...any")
def maxf(a: Any, *xs: Any) -> float:
    v = to_float64(a)
    for x in xs:
        v = _go_fmax(v, to_float64(x))
    return v


@gofunc("any", "...any")
def minf(a: Any, *xs: Any) -> float:
    v = to_float64(a)
    for x in xs:
        v = _go_fmin(v, to_float64(x))
    return v


@gofunc("any")
def ceil(a: Any) -> float:
    f = to_float64(a)
    return f if math.isinf(f) or math.isnan(f) else float(math.ceil(f))


@gofunc("any")
def floor(a: Any) -> float:
    f = to_float64(a)
    return f if math.isinf(f) or math.isnan(f) else float(math.floor(f))


@gofunc("any", "int", "...float64")
def round_(a: Any, places: int, *opt: float) -> float:
    round_on = opt[0] if opt else 0.5
    val = to_float64(a)
    pow10 = math.pow(10, places)
    digit = pow10 * val
    if math.isinf(digit) or math.isnan(digit):
        return digit / pow10
    frac = math.modf(digit)[0]
    r = math.ceil(digit) if frac >= round_on else math.floor(digit)
    return r / pow10


@gofunc("...int")
def seq(*params: int) -> str:
    n = len(params)
    if n == 1:
        start, end = 1, int(params[0])
        inc = -1 if end < start else 1
        vals = until_step(start, end + inc, inc)
    elif n == 2:
        start, end = int(params[0]), int(params[1])
        step = -1 if end < start else 1
        vals = until_step(start, end + step, step)
    elif n == 3:
        start, step, end = int(params[0]), int(params[1]), int(params[2])
        inc = 1
        if end < start:
            inc = -1
            if step > 0:
                return ""
        vals = until_step(start, end + inc, step)
    else:
        return ""
    return " ".join(str(int(v)) for v in vals)


MATH_FUNCS: dict[str, Callable[..., Any]] = {
    "add1": add1,
    "add": add,
    "sub": sub,
    "div": div,
    "mod": mod,
    "mul": mul,
    "randInt": rand_int,
    "add1f": add1f,
    "addf": addf,
    "subf": subf,
    "divf": divf,
    "mulf": mulf,
    "biggest": max_,
    "max": max_,
    "min": min_,
    "maxf": maxf,
    "minf": minf,
    "ceil": ceil,
    "floor": floor,
    "round": round_,
    "seq": seq,
}
