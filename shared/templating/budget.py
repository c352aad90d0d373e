"""Per-render budgets: wall-clock time and memory, charged as the render goes.

A render (Go or Jinja, nested ``tpl``/``include`` renders included) owns one :class:`Budget`,
made from its :class:`~shared.templating.runtime.Limits`:

* **time** (``max_seconds``): checked before every function call, range/for iteration and
  template call. A costly function (scrypt, bcrypt, key generation; :func:`costly`) starts
  only while the render is within its budget, so a render ends at most one such call past
  its budget (an RSA-4096 key, the longest, takes 0.3-4 s; those C calls release the GIL).
* **memory** (``max_memory`` bytes): every value a function builds is charged (strings by
  length, containers by :data:`SLOT_BYTES` per element), cumulatively; a costly call's
  working memory (scrypt's 64 MiB) must fit the budget. Values a function would expand
  (``toJson`` of a list holding the same big list many times, printing such a value) are
  measured before they are built (:func:`expanded_size`).

Past a bound the render stops with :class:`BudgetExceeded` (a
:class:`~shared.templating.errors.TemplateLimitError`) naming the render, the bound and what
was being done. :func:`refusals` counts refused renders per kind, for metrics.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from shared.templating.errors import TemplateLimitError

__all__ = [
    "SLOT_BYTES",
    "Budget",
    "BudgetExceeded",
    "Cost",
    "costly",
    "count_refusal",
    "current",
    "expanded_size",
    "guard_result",
    "refusals",
    "result_size",
    "traverses",
]

#: bytes charged per element of a list or mapping a function builds (an object and a slot)
SLOT_BYTES = 64
#: the bound on a value's size when no render is running (a function called directly)
DEFAULT_MAX_VALUE = 1 << 20

F = TypeVar("F", bound=Callable[..., Any])

_now = time.monotonic


@dataclass(frozen=True, slots=True)
class Cost:
    """What one call of a costly function needs: its working memory (bytes) and a typical
    duration (seconds, for messages and docs; the wall clock is what is charged)."""

    memory: int = 0
    seconds: float = 0.0


def costly(memory: int = 0, seconds: float = 0.0) -> Callable[[F], F]:
    """Mark a template function as costly: it starts only within the render's time budget
    and its working memory must fit the memory budget."""

    def mark(fn: F) -> F:
        fn.ripple_cost = Cost(memory, seconds)  # type: ignore[attr-defined]
        return fn

    return mark


def traverses(fn: F) -> F:
    """Mark a template function whose work follows the whole depth of its arguments
    (serialisers, deep copies and comparisons): their expanded size is checked first."""
    fn.ripple_traverses = True  # type: ignore[attr-defined]
    return fn


class BudgetExceeded(TemplateLimitError):
    """A render went past its time or memory budget, or a value past its size bound."""


class Budget:
    """The budget of one render (shared by its nested renders)."""

    __slots__ = (
        "allocated",
        "costly",
        "deadline",
        "max_memory",
        "max_seconds",
        "max_value",
        "name",
        "started",
    )

    def __init__(
        self, name: str, max_seconds: float, max_memory: int, max_value: int = DEFAULT_MAX_VALUE
    ) -> None:
        self.name = name
        self.max_seconds = max_seconds
        self.max_memory = max_memory
        self.max_value = max_value
        self.started = _now()
        self.deadline = self.started + max_seconds if max_seconds > 0 else float("inf")
        self.allocated = 0
        self.costly: set[str] = set()  # the costly functions called so far

    def elapsed(self) -> float:
        return _now() - self.started

    def check_time(self, doing: str = "") -> None:
        """Raise :class:`BudgetExceeded` once the render is past its time budget.

        The message is the same whenever the same template runs out of time (no elapsed
        time, no position: where the clock ran out depends on the machine's speed), so a
        status showing it does not change from one render to the next."""
        if _now() > self.deadline:
            calls = f" (costly calls: {', '.join(sorted(self.costly))})" if self.costly else ""
            raise BudgetExceeded(
                f"render time budget exceeded: the limit is {self.max_seconds:g} s{calls}",
                kind="time",
            )

    def charge(self, size: int, doing: str) -> None:
        """Count ``size`` bytes of values built; raise past the memory budget."""
        self.allocated += size
        if self.allocated > self.max_memory:
            raise BudgetExceeded(
                f"render memory budget exceeded: {_mib(self.allocated)} of values built, the "
                f"limit is {_mib(self.max_memory)} (at {doing})",
                kind="memory",
            )

    def before(self, fn: Callable[..., Any], name: str, args: tuple[Any, ...] | list[Any]) -> None:
        """What the engine checks before calling template function ``name``."""
        self.check_time(name)
        cost: Cost | None = getattr(fn, "ripple_cost", None)
        if cost is not None:
            self.costly.add(name)
        if cost is not None and cost.memory > self.max_memory:
            raise BudgetExceeded(
                f"{name} needs {_mib(cost.memory)} of working memory: over the render "
                f"memory budget (the limit is {_mib(self.max_memory)})",
                kind="memory",
            )
        if getattr(fn, "ripple_traverses", False):
            for arg in args:
                self.check_expansion(arg, name)

    def after(self, result: Any, name: str) -> None:
        """What the engine charges for the value ``name`` returned."""
        size = result_size(result)
        if size:
            self.charge(size, name)

    def check_expansion(self, value: Any, doing: str) -> None:
        """Refuse a value whose expanded size (shared parts counted each time they appear)
        is over the value bound: printing or serialising it would build that much."""
        if type(value) in _FLAT:
            return
        size = expanded_size(value, self.max_value)
        if size > self.max_value:
            raise BudgetExceeded(
                f"{doing}: the value expands to more than "
                f"{self.max_value} characters (nested lists or maps repeated by reference)",
                kind="size",
            )


_FLAT = frozenset({str, bytes, int, float, bool, type(None)})


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n < (1 << 30) else f"{n / (1 << 30):.1f} GiB"


def result_size(value: Any) -> int:
    """Bytes charged for a value a function returned (shallow: its parts were charged
    when they were built)."""
    t = type(value)
    if t is str or t is bytes or t is bytearray:
        return len(value)
    if isinstance(value, list | tuple | dict | set | frozenset):
        return SLOT_BYTES * len(value)
    if isinstance(value, str | bytes):
        return len(value)
    return 0


def _leaf_size(v: Any) -> int | None:
    """The size of a value without parts (None for a list, map or struct)."""
    if isinstance(v, str | bytes | bytearray):
        return len(v) + 1
    if isinstance(v, dict | list | tuple | set | frozenset) or hasattr(v, "go_fields"):
        return None
    return 1


def _parts(v: Any) -> list[tuple[int, Any]]:
    """(own size, part) of each part of a list, map or struct."""
    if isinstance(v, dict):
        return [(len(k) if isinstance(k, str) else 0, x) for k, x in v.items()]
    if isinstance(v, list | tuple | set | frozenset):
        return [(0, x) for x in v]
    return [(len(k), x) for k, x in v.go_fields()]


def expanded_size(value: Any, limit: int) -> int:
    """Characters and nodes ``value`` amounts to when printed or serialised, every shared
    part counted each time it appears (a value that contains itself is infinite: ``limit
    + 1``). Each distinct list or map is visited once (sizes are remembered), so the cost
    is that of the value as it is held in memory, whatever it expands to."""
    leaf = _leaf_size(value)
    if leaf is not None:
        return leaf
    sizes: dict[int, int] = {}
    open_: set[int] = set()  # on the current path
    stack = [value]
    while stack:
        v = stack[-1]
        vid = id(v)
        if vid in sizes:
            stack.pop()
            continue
        parts = _parts(v)
        if vid not in open_:
            open_.add(vid)
            pending = False
            for _, x in parts:
                if _leaf_size(x) is None and id(x) not in sizes:
                    if id(x) in open_:
                        return limit + 1  # contains itself
                    stack.append(x)
                    pending = True
            if pending:
                continue
        total = 1
        for own, x in parts:
            leaf = _leaf_size(x)
            total += own + 1 + (leaf if leaf is not None else sizes[id(x)])
        sizes[vid] = total
        open_.discard(vid)
        stack.pop()
        if total > limit:
            return total
    return sizes[id(value)]


def guard_result(size: int, doing: str) -> None:
    """Refuse before building a string of ``size`` characters over the value bound (for
    functions whose result can be much larger than their arguments)."""
    limit = _current.get()
    bound = limit.max_value if limit is not None else DEFAULT_MAX_VALUE
    if size > bound:
        raise BudgetExceeded(
            f"{doing}: the result would be {size} characters, over the limit of {bound}",
            kind="size",
        )


_current: contextvars.ContextVar[Budget | None] = contextvars.ContextVar(
    "ripple_template_budget", default=None
)


def current() -> Budget | None:
    """The budget of the render running in this context (None outside a render)."""
    return _current.get()


@contextmanager
def running(budget: Budget) -> Iterator[Budget]:
    """Make ``budget`` the current one for the duration of a render (an outer render's
    budget stays the current one: nested renders share it)."""
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


# -- counters --------------------------------------------------------------------------------
_lock = threading.Lock()
_refusals: dict[str, int] = {}


def count_refusal(kind: str) -> None:
    with _lock:
        _refusals[kind] = _refusals.get(kind, 0) + 1


def refusals() -> dict[str, int]:
    """Renders refused so far in this process, per bound (time, memory, size, output,
    iterations, depth, arithmetic)."""
    with _lock:
        return dict(_refusals)
