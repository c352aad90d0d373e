"""Runtime of the Go template executor: render state, limits, variables, value printing.

Shared by the statement compiler (``executor``) and the expression compiler
(``expressions``); everything here runs on the hot path of a render.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice
from typing import Any, NoReturn

from shared.templating import builtins as B
from shared.templating import gofmt
from shared.templating import nodes as N
from shared.templating.budget import Budget
from shared.templating.builtins import MISSING
from shared.templating.errors import (
    FunctionError,
    TemplateExecError,
    TemplateLimitError,
)
from shared.templating.gofmt import go_quote

__all__ = [
    "ABSENT",
    "NOFINAL",
    "Break",
    "Cmd",
    "Continue",
    "Ev",
    "Limits",
    "Run",
    "State",
    "arity",
    "call_method",
    "culprit",
    "dot_value",
    "fail",
    "format_action_value",
    "html_action_value",
    "last_arg",
    "limit_fail",
    "method_of",
    "nil_value",
    "no_final",
    "noop",
    "over_time",
    "sorted_keys",
    "too_big",
    "var_get",
    "var_set",
]

Run = Callable[["State", Any], None]
Ev = Callable[["State", Any], Any]
Cmd = Callable[["State", Any, Any], Any]

NOFINAL: Any = object()  # Go's missingVal: no value piped in
ABSENT: Any = object()


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds against hostile templates (per render; see :mod:`shared.templating.budget`)."""

    max_output: int = 1 << 20  # characters, of the output and of any one value
    max_iterations: int = 100_000  # range iterations, all loops together
    max_depth: int = 100  # nested {{template}} calls
    max_seconds: float = 5.0  # wall clock (0: unbounded)
    max_memory: int = 64 << 20  # bytes of values built; a costly call's working memory

    def budget(self, name: str) -> Budget:
        """A fresh budget for one render named ``name``."""
        return Budget(name, self.max_seconds, self.max_memory, self.max_output)


class Break(Exception):
    pass


class Continue(Exception):
    pass


class State:
    __slots__ = (
        "budget",
        "checked",
        "ctx",
        "depth",
        "iters",
        "limits",
        "out",
        "root",
        "size",
        "tmpl_name",
        "vars",
    )

    def __init__(
        self, tmpl_name: str, dot: Any, limits: Limits, budget: Budget | None = None
    ) -> None:
        self.out: list[str] = []
        self.size = 0  # characters counted so far (out[:checked])
        self.checked = 0
        self.vars: list[list[Any]] = [["$", dot]]
        self.root = dot  # the data the render started with
        self.depth = 0
        self.iters = 0
        self.tmpl_name = tmpl_name
        self.limits = limits
        self.ctx: Any = None
        #: the render's time and memory budget (nested renders share their caller's)
        self.budget = budget if budget is not None else limits.budget(tmpl_name)

    def check(self) -> None:
        """Count the output written since the last check; raise past the limit."""
        out = self.out
        n = len(out)
        if n != self.checked:
            self.size += sum(map(len, islice(out, self.checked, n)))
            self.checked = n
            if self.size > self.limits.max_output:
                raise TemplateLimitError(
                    f"template: {self.tmpl_name}: output exceeds the limit of "
                    f"{self.limits.max_output} characters",
                    truncated(out, self.limits.max_output),
                    kind="output",
                )

    def output(self) -> str:
        """The whole output (after a final check of its size)."""
        self.check()
        return "".join(self.out)


def truncated(parts: list[str], limit: int) -> str:
    """The first ``limit`` characters of the concatenation, without building all of it."""
    got: list[str] = []
    size = 0
    for p in parts:
        if size + len(p) >= limit:
            got.append(p[: limit - size])
            break
        got.append(p)
        size += len(p)
    return "".join(got)


def fail(st: State, node: N.Node, msg: str) -> NoReturn:
    tree = node.tree
    loc = tree.location(node.pos) if tree is not None else "?"
    raise TemplateExecError(
        f"template: {loc}: executing {go_quote(st.tmpl_name)} at <{node}>: {msg}",
        "".join(st.out),
    )


def format_action_value(v: Any) -> str:
    """What ``{{ pipeline }}`` prints (fmt.Fprint of the value; nil is ``<no value>``)."""
    t = type(v)
    if t is str:
        return v  # type: ignore[no-any-return]
    if v is None or v is MISSING:
        return "<no value>"
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return int.__repr__(v)
    return gofmt.format_value(v)


def html_action_value(v: Any) -> str:
    if v is None or v is MISSING:
        return ""
    s = format_action_value(v)
    return B.html_escape_string(s).replace("+", "&#43;")


def var_get(st: State, node: N.Node, name: str) -> Any:
    vs = st.vars
    i = len(vs) - 1
    while i >= 0:
        e = vs[i]
        if e[0] == name:
            return e[1]
        i -= 1
    fail(st, node, f"undefined variable: {name}")


def var_set(st: State, node: N.Node, name: str, value: Any) -> None:
    vs = st.vars
    i = len(vs) - 1
    while i >= 0:
        e = vs[i]
        if e[0] == name:
            e[1] = value
            return
        i -= 1
    fail(st, node, f"undefined variable: {name}")


_arity_cache: dict[int, tuple[int, int | None]] = {}


def arity(fn: Callable[..., Any], *, cache: bool = True) -> tuple[int, int | None]:
    """(required positional args, max positional args or None when variadic)."""
    key = id(fn)
    got = _arity_cache.get(key) if cache else None
    if got is not None:
        return got
    if not cache:
        key = -1  # a scratch slot: short-lived callables must not be cached by id
    params = getattr(fn, "go_params", None)
    if isinstance(params, tuple | list):
        variadic = bool(params) and str(params[-1]).startswith("...")
        fixed = len(params) - 1 if variadic else len(params)
        got = (fixed, None if variadic else fixed)
        _arity_cache[key] = got
        return got
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        got = (0, None)
    else:
        req = 0
        mx: int | None = 0
        for p in sig.parameters.values():
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                if p.default is p.empty:
                    req += 1
                if mx is not None:
                    mx += 1
            elif p.kind == p.VAR_POSITIONAL:
                mx = None
        if getattr(fn, "needs_context", False):
            req = max(0, req - 1)
            mx = None if mx is None else max(0, mx - 1)
        got = (req, mx)
    _arity_cache[key] = got
    return got


def culprit(msg: str, argv: list[Any], params: Any) -> int | None:
    """Which argument a Go-style type error (``wrong type for value ...``) is about."""
    if not isinstance(params, tuple | list) or not params:
        return None
    if msg.startswith("wrong type for value; expected "):
        want, _, got = msg[len("wrong type for value; expected ") :].partition("; got ")
    elif msg.startswith("invalid value; expected "):
        want, got = msg[len("invalid value; expected ") :], "<nil>"
    else:
        return None
    for i, arg in enumerate(argv):
        if i < len(params) and not str(params[i]).startswith("..."):
            param = str(params[i])
        elif str(params[-1]).startswith("..."):
            param = str(params[-1])[3:]
        else:
            return None
        if param == want and B.type_name(arg) == got:
            return i
    return None


def too_big(st: State, name: str) -> NoReturn:
    raise TemplateLimitError(
        f"template: {st.tmpl_name}: the result of {name} exceeds the limit of "
        f"{st.limits.max_output} characters",
        "".join(st.out),
        kind="size",
    )


def over_time(st: State, node: N.Node, doing: str) -> NoReturn:
    """The render is past its time budget (checked between actions)."""
    try:
        st.budget.check_time(doing)
    except TemplateLimitError as exc:
        limit_fail(st, node, exc)
    raise AssertionError("over_time called within the budget")  # pragma: no cover


def limit_fail(st: State, node: N.Node, exc: TemplateLimitError) -> NoReturn:
    """A bound reached inside a function, located as Go locates errors (the action); the
    time budget names the render only (where the clock ran out is not the template's
    doing, and the message must not change from one render to the next)."""
    if exc.kind == "time":
        raise TemplateLimitError(
            f"template: {st.budget.name}: {exc}", "".join(st.out), kind="time"
        ) from None
    tree = node.tree
    loc = tree.location(node.pos) if tree is not None else "?"
    raise TemplateLimitError(
        f"template: {loc}: executing {go_quote(st.tmpl_name)} at <{node}>: {exc}",
        "".join(st.out),
        kind=exc.kind,
    ) from None


def method_of(v: Any, name: str) -> Callable[..., Any] | None:
    """A Go method (with arguments) of a value that declares ``go_methods()``."""
    methods = getattr(v, "go_methods", None)
    if methods is None or not callable(methods):
        return None
    found = methods().get(name)
    return found if callable(found) else None


def call_method(
    st: State, node: N.Node, name: str, method: Callable[..., Any], argv: list[Any]
) -> Any:
    lo, hi = arity(method, cache=False)
    if len(argv) < lo or (hi is not None and len(argv) > hi):
        fail(st, node, f"wrong number of args for {name}: want {lo} got {len(argv)}")
    try:
        return method(*[None if a is MISSING else a for a in argv])
    except FunctionError as exc:
        fail(st, node, f"error calling {name}: {exc}")
    except (TemplateExecError, TemplateLimitError):
        raise
    except Exception as exc:
        fail(st, node, f"error calling {name}: {exc}")


def noop(st: State, dot: Any) -> None:
    return None


def dot_value(st: State, dot: Any) -> Any:
    return dot


def nil_value(st: State, dot: Any) -> Any:
    return None


def no_final(cmd: Cmd) -> Ev:
    def ev(st: State, dot: Any) -> Any:
        return cmd(st, dot, NOFINAL)

    return ev


def sorted_keys(d: dict[Any, Any]) -> list[Any]:
    try:
        return sorted(d)
    except TypeError:
        return sorted(d, key=lambda k: (type(k).__name__, str(k)))


def last_arg(pipe: N.PipeNode) -> N.Node:
    if pipe.cmds and pipe.cmds[-1].args:
        return pipe.cmds[-1].args[-1]
    return pipe
