"""The Jinja2 flavour: ImmutableSandboxedEnvironment + StrictUndefined, bounded.

Same data as Go templates (``Resource``, ``Resources``, ``MatchingResource`` with keys
``Name``/``Namespace``/``Kind``/``APIVersion``, ``CloudEvent(s)``, ``Cluster``). The Sveltos and
sprig helpers are globals (``toYaml(Resource)``) and, where Jinja has no filter of that name,
filters that take the piped value as their LAST argument, as Go pipelines do
(``{{ Resource.metadata.name | trunc(5) }}`` is ``trunc 5 .Resource.metadata.name``).

Bounds: output size, loop iterations (every ``for`` loop is counted), and the render's time
and memory budget (:mod:`shared.templating.budget`): every call, filter and loop step checks
the time; operators, comparisons, ``~``, filters and ``str`` methods whose result can outgrow
their operands are sized before Python computes them (:mod:`shared.templating.jinja_guards`).
"""

from __future__ import annotations

import contextvars
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

import jinja2
import jinja2.ext
from jinja2 import nodes as jn
from jinja2.sandbox import ImmutableSandboxedEnvironment

from shared.templating import jinja_guards as guards
from shared.templating.budget import Budget, BudgetExceeded, running
from shared.templating.engine import MUTATING_FUNCTIONS, Limits, deep_copy, function_set
from shared.templating.errors import (
    FunctionError,
    TemplateError,
    TemplateExecError,
    TemplateLimitError,
    TemplateSyntaxError,
)

__all__ = ["jinja_environment", "render_jinja"]

_LOOP_GUARD = "ripple_loop_guard"
_CONCAT = "ripple_concat"
_COMPARE = "ripple_compare"


class _Budget:
    __slots__ = ("budget", "iterations", "limits", "name")

    def __init__(self, name: str, limits: Limits) -> None:
        self.name = name
        self.limits = limits
        self.iterations = 0
        self.budget: Budget = limits.budget(name)


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "ripple_jinja_budget", default=None
)


def _loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    budget = _budget.get()
    for item in iterable:
        if budget is not None:
            budget.iterations += 1
            if budget.iterations > budget.limits.max_iterations:
                raise TemplateLimitError(
                    f"jinja template {budget.name}: loop iterations exceed the limit of "
                    f"{budget.limits.max_iterations}",
                    kind="iterations",
                )
            if not budget.iterations & 15:
                budget.budget.check_time("for")
        yield item


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox with Ripple's bounds: the iterable of every ``for`` loop goes through the
    iteration counter, ``~`` and comparisons through sized versions, the arithmetic that
    can grow (``*``, ``**``, ``+``, ``%``) is sized first, and every call checks the time
    budget and is charged for its result."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def _parse(self, source: str, name: str | None, filename: str | None) -> jn.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(jn.For):
            loop.iter = self._call(_LOOP_GUARD, [cast(jn.Expr, loop.iter)], loop.lineno)
        for node in list(tree.find_all(jn.Concat)):
            node.nodes = [self._call(_CONCAT, list(node.nodes), node.lineno)]
        for cmp in list(tree.find_all(jn.Compare)):
            args: list[jn.Expr] = [cmp.expr]
            for op in cmp.ops:
                args += [jn.Const(op.op, lineno=cmp.lineno), op.expr]
            cmp.expr = self._call(_COMPARE, args, cmp.lineno)
            cmp.ops = [jn.Operand("eq", jn.Const(True, lineno=cmp.lineno), lineno=cmp.lineno)]
        return tree

    def _call(self, name: str, args: list[jn.Expr], lineno: int) -> jn.Call:
        call = jn.Call(jn.Name(name, "load", lineno=lineno), args, [], None, None, lineno=lineno)
        call.set_environment(self)
        return call

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = _budget.get()
        if budget is not None:
            guards.check_binop(budget.budget, operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget.get()
        if budget is None:
            return super().call(__context, __obj, *args, **kwargs)
        guards.check_call(budget.budget, __obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        guards.charge(budget.budget, result, getattr(__obj, "__name__", "call"))
        return result


def _as_filter(fn: Callable[..., Any]) -> Callable[..., Any]:
    def flt(value: Any, *args: Any) -> Any:
        return fn(*args, value)

    flt.__name__ = getattr(fn, "__name__", "filter")
    for attr in ("ripple_cost", "ripple_traverses", "ripple_name"):
        if hasattr(fn, attr):
            setattr(flt, attr, getattr(fn, attr))
    return flt


_env_lock = threading.Lock()
_envs: dict[str, jinja2.Environment] = {}


def jinja_environment(funcs: str = "sveltos") -> jinja2.Environment:
    """The shared sandboxed environment with the helper functions of ``funcs``."""
    with _env_lock:
        env = _envs.get(funcs)
        if env is not None:
            return env
        env = _Sandbox(
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            extensions=[jinja2.ext.loopcontrols],
            finalize=guards.finalize,
            optimized=False,  # no constant folding: nothing is computed outside a render
        )
        env.globals.pop("lipsum", None)  # unbounded text generator, of no use here
        for name, fn in function_set(funcs).items():
            if getattr(fn, "needs_context", False):
                continue
            if getattr(fn, "ripple_cost", None) is not None:
                fn.ripple_name = name  # type: ignore[attr-defined]  # for budget messages
            env.globals[name] = fn
            if name not in env.filters:
                env.filters[name] = _as_filter(fn)
        for name, flt in list(env.filters.items()):
            env.filters[name] = guards.guard_filter(name, flt)
        env.globals[_LOOP_GUARD] = _loop_guard
        env.globals[_CONCAT] = guards.concat
        env.globals[_COMPARE] = guards.compare
        _envs[funcs] = env
        return env


_cache_lock = threading.Lock()
_cache: OrderedDict[tuple[str, str], tuple[jinja2.Template, bool]] = OrderedDict()
_CACHE_MAX = 512


def _mutates(env: jinja2.Environment, text: str) -> bool:
    """Does the template call a helper that changes its argument in place?"""
    tree = env.parse(text)
    used = {n.name for n in tree.find_all(jn.Name)} | {f.name for f in tree.find_all(jn.Filter)}
    return bool(used & MUTATING_FUNCTIONS)


def _compile(text: str, funcs: str, name: str) -> tuple[jinja2.Template, bool]:
    key = (text, funcs)
    with _cache_lock:
        got = _cache.get(key)
        if got is not None:
            _cache.move_to_end(key)
            return got
    env = jinja_environment(funcs)
    try:
        compiled = (env.from_string(text), _mutates(env, text))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateSyntaxError(f"jinja template {name}:{exc.lineno}: {exc.message}") from None
    with _cache_lock:
        _cache[key] = compiled
        while len(_cache) > _CACHE_MAX:
            _cache.popitem(last=False)
    return compiled


def _template_line(exc: BaseException) -> int | None:
    """The template line of an error (Jinja rewrites tracebacks to ``<template>`` frames)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_jinja(
    text: str,
    data: dict[str, Any],
    *,
    name: str = "tpl",
    funcs: str = "sveltos",
    limits: Limits | None = None,
) -> str:
    """Render a Jinja2 template in the sandbox; raises TemplateError subclasses."""
    lim = limits or Limits()
    tmpl, mutates = _compile(text, funcs, name)
    if mutates:
        data = deep_copy(data)
    state = _Budget(name, lim)
    token = _budget.set(state)
    out: list[str] = []
    size = 0
    try:
        with running(state.budget):
            for chunk in tmpl.generate(**data):
                size += len(chunk)
                if size > lim.max_output:
                    raise TemplateLimitError(
                        f"jinja template {name}: output exceeds the limit of {lim.max_output} "
                        "characters",
                        "".join(out),
                        kind="output",
                    )
                out.append(chunk)
    except BudgetExceeded as exc:
        line = _template_line(exc) if exc.kind != "time" else None  # see Budget.check_time
        where = f"{name}:{line}" if line else name
        raise TemplateLimitError(
            f"jinja template {where}: {exc}", "".join(out), kind=exc.kind
        ) from None
    except TemplateLimitError:
        raise
    except RecursionError:
        raise TemplateLimitError(
            f"jinja template {name}: nesting too deep", "".join(out), kind="depth"
        ) from None
    except MemoryError:
        raise TemplateLimitError(
            f"jinja template {name}: out of memory", "".join(out), kind="memory"
        ) from None
    except Exception as exc:
        where = f"{name}:{_template_line(exc)}" if _template_line(exc) else name
        if isinstance(exc, jinja2.exceptions.SecurityError):
            msg = f"unsafe operation: {exc}"
        elif isinstance(exc, jinja2.UndefinedError):
            msg = str(exc.message)
        elif isinstance(exc, jinja2.TemplateError | FunctionError | TemplateError):
            msg = str(exc)
        else:
            msg = f"{type(exc).__name__}: {exc}"
        raise TemplateExecError(f"jinja template {where}: {msg}", "".join(out)) from None
    finally:
        _budget.reset(token)
    return "".join(out)
