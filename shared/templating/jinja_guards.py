"""What the Jinja sandbox checks before Python builds a value: the Jinja flavour's share of
the render budget (:mod:`shared.templating.budget`).

Python computes ``10 ** 30000000`` or ``"x" * 10 ** 9`` in one C call that nothing can
interrupt, so each operation whose result can be much larger than its operands is sized
first and refused past a bound: integers of more than :data:`MAX_INT_BITS` bits, strings and
sequences over the render's value bound (``Limits.max_output``), format widths and fill
widths (``%0100000000d``, ``"{:>100000000}"``, ``center(10 ** 9)``), replacements that
multiply a string (``replace("", s)``), and printing or serialising a value that holds the
same list many times. Every function, filter and method call also checks the time budget
and is charged with the size of what it returned.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeGuard

import jinja2

from shared.templating.budget import Budget, BudgetExceeded, current, result_size

__all__ = [
    "MAX_INT_BITS",
    "check_binop",
    "check_call",
    "check_filter",
    "compare",
    "concat",
    "finalize",
    "guard_filter",
]

#: the largest integer a Jinja expression may compute (a Go template's are 64 bits)
MAX_INT_BITS = 4096

_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[a-zA-Z%]")
_FORMAT_SPEC = re.compile(r"\{[^{}]*?(?::([^{}]*))?\}")
_NUMBERS = re.compile(r"\d+")


def _refuse(what: str, size: int, bound: int, unit: str = "characters") -> BudgetExceeded:
    return BudgetExceeded(
        f"{what}: the result would be {size} {unit}, over the limit of {bound}",
        kind="arithmetic",
    )


def _is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _sized(v: Any) -> bool:
    return isinstance(v, str | bytes | list | tuple)


def _bits(v: int) -> int:
    return abs(v).bit_length()


def check_binop(budget: Budget, op: str, left: Any, right: Any) -> None:
    """Refuse ``left <op> right`` before Python computes it when its result is too large."""
    bound = budget.max_value
    if op == "**":
        if _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
            bits = (_bits(left) - 1) * right + 1
            if bits > MAX_INT_BITS:
                raise _refuse(f"{left!r:.20} ** {right}", bits, MAX_INT_BITS, "bits")
    elif op == "*":
        if _is_int(left) and _is_int(right):
            bits = _bits(left) + _bits(right)
            if bits > MAX_INT_BITS:
                raise _refuse("multiplication", bits, MAX_INT_BITS, "bits")
        elif _sized(left) and _is_int(right) and len(left) * right > bound:
            raise _refuse("repetition", len(left) * right, bound)
        elif _sized(right) and _is_int(left) and len(right) * left > bound:
            raise _refuse("repetition", len(right) * left, bound)
    elif op == "+":
        if _is_int(left) and _is_int(right):
            if max(_bits(left), _bits(right)) + 1 > MAX_INT_BITS:
                raise _refuse("addition", max(_bits(left), _bits(right)) + 1, MAX_INT_BITS)
        elif _sized(left) and _sized(right) and len(left) + len(right) > bound:
            raise _refuse("concatenation", len(left) + len(right), bound)
    elif op == "%" and isinstance(left, str):
        check_printf(left, right, bound, "%")
        for arg in right if isinstance(right, tuple) else (right,):
            budget.check_expansion(arg, "%")


def check_printf(fmt: str, args: Any, bound: int, what: str) -> None:
    """Refuse a printf-style format whose widths or precisions exceed ``bound``."""
    values = list(args) if isinstance(args, tuple | list) else [args]
    star = any(_is_int(v) and v > bound for v in values)
    for m in _PRINTF.finditer(fmt):
        for group in m.groups():
            if group == "*" and star:
                raise _refuse(f"{what} width", max(v for v in values if _is_int(v)), bound)
            if group and group.isdigit() and int(group) > bound:
                raise _refuse(f"{what} width", int(group), bound)


def check_format(fmt: str, args: Any, kwargs: Any, bound: int) -> None:
    """Refuse a ``str.format`` template whose field widths exceed ``bound``."""
    for m in _FORMAT_SPEC.finditer(fmt):
        spec = m.group(1) or ""
        for number in _NUMBERS.findall(spec):
            if int(number) > bound:
                raise _refuse("format width", int(number), bound)
    if "{" in fmt.replace("{{", ""):
        nested = [*args, *(kwargs or {}).values()]
        if any(_is_int(v) and v > bound for v in nested):
            raise _refuse("format width", max(v for v in nested if _is_int(v)), bound)


def _width_arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name)


def check_method(budget: Budget, owner: str, name: str, args: tuple[Any, ...], kw: Any) -> None:
    """Refuse a ``str`` method call whose result is too large (``"x".center(10 ** 9)``)."""
    bound = budget.max_value
    if name in ("center", "ljust", "rjust", "zfill"):
        width = _width_arg(args, kw, 0, "width")
        if _is_int(width) and width > bound:
            raise _refuse(f"str.{name}", width, bound)
    elif name == "expandtabs":
        size = _width_arg(args, kw, 0, "tabsize")
        if _is_int(size) and size * (owner.count("\t") + 1) + len(owner) > bound:
            raise _refuse("str.expandtabs", size * (owner.count("\t") + 1), bound)
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
            count = len(owner) + 1 if old == "" else owner.count(old)
            size = len(owner) + count * (len(new) - len(old))
            if size > bound:
                raise _refuse("str.replace", size, bound)
    elif name == "join" and args:
        parts = args[0]
        if isinstance(parts, list | tuple) and all(isinstance(p, str) for p in parts):
            size = sum(map(len, parts)) + len(owner) * max(len(parts) - 1, 0)
            if size > bound:
                raise _refuse("str.join", size, bound)
    elif name in ("format", "format_map"):
        check_format(owner, args, kw if name == "format" else (args[0] if args else {}), bound)


def check_call(budget: Budget, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Before any call from a template: the time budget, a helper's declared cost and the
    depth of its arguments, and ``str`` methods that can multiply their string."""
    target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
    name = str(getattr(obj, "ripple_name", None) or getattr(target, "__name__", type(obj).__name__))
    budget.check_time(name)
    owner = getattr(target, "__self__", None)
    if isinstance(owner, str):
        check_method(budget, owner, name, args, kwargs)
    elif getattr(obj, "ripple_cost", None) or getattr(obj, "ripple_traverses", False):
        budget.before(obj, name, [*args, *kwargs.values()])


#: Jinja filters with an argument that sets the size of their result (argument index)
_WIDTH_FILTERS = {"center": 1, "indent": 1, "wordwrap": 1, "batch": 1, "slice": 1}
#: work allowed to ``sum`` of lists (each addition copies what was summed so far)
_MAX_SUM_WORK = 10_000_000
#: Jinja filters that print or serialise their value whole
_DEEP_FILTERS = frozenset({"tojson", "pprint", "string", "list", "unique", "join", "sum"})


def check_filter(budget: Budget, name: str, args: tuple[Any, ...], kwargs: Any) -> None:
    """Before a filter: time, and the filters whose result can outgrow their input."""
    budget.check_time(f"filter {name}")
    bound = budget.max_value
    index = _WIDTH_FILTERS.get(name)
    if index is not None:
        width = args[index] if len(args) > index else next(iter(kwargs.values()), None)
        value = args[0] if args else ""
        if isinstance(width, str) and name == "indent":
            width = len(width)
        if _is_int(width) and width > 0:
            lines = value.count("\n") + 1 if isinstance(value, str) else 1
            size = width * lines if name == "indent" else width
            if name == "wordwrap":
                wrapstring = kwargs.get("wrapstring") or (args[3] if len(args) > 3 else "\n")
                size = len(value) + (len(value) // width + 1) * len(str(wrapstring))
            if size > bound:
                raise _refuse(f"filter {name}", size, bound)
    elif name == "sum" and args:
        start = kwargs.get("start", args[2] if len(args) > 2 else 0)
        if isinstance(start, list | tuple) and isinstance(args[0], list | tuple):
            lengths = [len(x) if _sized(x) else 1 for x in args[0]]
            if len(lengths) * sum(lengths) > _MAX_SUM_WORK:
                raise _refuse("filter sum of lists", len(lengths) * sum(lengths), _MAX_SUM_WORK)
    elif name == "format" and args and isinstance(args[0], str):
        check_printf(args[0], tuple(args[1:]) or tuple(kwargs.values()), bound, "format")
    elif name == "join" and args and hasattr(args[0], "__len__"):
        budget.check_expansion(args[0], "filter join")
        sep = args[1] if len(args) > 1 else kwargs.get("d", "")
        size = len(str(sep)) * max(len(args[0]) - 1, 0)
        if size > bound:
            raise _refuse("filter join", size, bound)
    elif name == "replace" and len(args) >= 3 and isinstance(args[0], str):
        check_method(budget, args[0], "replace", tuple(args[1:3]), {})
    elif name in _DEEP_FILTERS and args:
        budget.check_expansion(args[0], f"filter {name}")


def guard_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a Jinja filter) checked before it runs and charged for what it returns."""
    pass_arg = getattr(fn, "jinja_pass_arg", None)
    skip = 1 if pass_arg is not None else 0  # the context/environment Jinja passes first

    def guarded(*args: Any, **kwargs: Any) -> Any:
        budget = current()
        if budget is None:
            return fn(*args, **kwargs)
        check_filter(budget, name, args[skip:], kwargs)
        result = fn(*args, **kwargs)
        charge(budget, result, f"filter {name}")
        return result

    guarded.__name__ = getattr(fn, "__name__", name)
    guarded.__doc__ = fn.__doc__
    if pass_arg is not None:
        guarded.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    for attr in ("ripple_cost", "ripple_traverses", "ripple_name"):
        if hasattr(fn, attr):
            setattr(guarded, attr, getattr(fn, attr))
    return guarded


def charge(budget: Budget, result: Any, doing: str) -> None:
    """Charge a value built by a call, and refuse one over the value bound."""
    if (_sized(result) or isinstance(result, dict)) and len(result) > budget.max_value:
        raise BudgetExceeded(
            f"{doing}: the result of {len(result)} characters or items exceeds the "
            f"limit of {budget.max_value}",
            kind="size",
        )
    size = result_size(result)
    if size:
        budget.charge(size, doing)


def concat(*parts: Any) -> str:
    """Jinja's ``~``: every operand printed, the total measured before it is joined."""
    budget = current()
    texts = []
    size = 0
    for part in parts:
        if budget is not None and not isinstance(part, str):
            budget.check_expansion(part, "~")
        text = part if isinstance(part, str) else str(part)
        size += len(text)
        texts.append(text)
    if budget is not None:
        if size > budget.max_value:
            raise _refuse("~", size, budget.max_value)
        budget.charge(size, "~")
    return "".join(texts)


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gteq": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lteq": lambda a, b: a <= b,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}


def compare(left: Any, *ops: Any) -> bool:
    """Jinja's comparisons (``a == b``, ``a in b`` ...): lists and maps are measured first
    (comparing two values that repeat the same list by reference walks all of it)."""
    budget = current()
    if budget is not None:
        for operand in (left, *ops[1::2]):
            if isinstance(operand, list | tuple | dict):
                budget.check_expansion(operand, "comparison")
    for op, right in zip(ops[::2], ops[1::2], strict=True):
        if not _COMPARE[op](left, right):
            return False
        left = right
    return True


@jinja2.pass_context
def finalize(context: Any, value: Any) -> Any:
    """What ``{{ value }}`` prints: a list or map is measured before it is turned into text.
    (It takes the context so that Jinja evaluates no output at compile time, outside any
    budget: ``{{ "x"|center(10 ** 9) }}`` is computed when rendered, or refused.)"""
    if isinstance(value, list | tuple | dict | set):
        budget = current()
        if budget is not None:
            budget.check_expansion(value, "printing a value")
    return value
