"""Compiling one script, rule or template without running it: the static checks.

Each check returns ``None`` (it compiles) or a :class:`Failure` (the line inside the text
when known, and the compiler's message). The engines are those of the services: Lua in the
agent's sandbox (:class:`shared.evaluation.sandbox.LuaSandbox`, same limits), CEL with
cel-python as :mod:`shared.evaluation.cel` compiles it, Go templates with
:func:`shared.templating.compile_template` (Sveltos' functions) and the Jinja2 flavour with
the project's sandboxed environment. Results are cached by text (the manager sees the same
definition many times); the checks are thread-safe (one Lua runtime per thread).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

import celpy
import jinja2
from celpy.celparser import CELParseError

from shared.evaluation.errors import LuaScriptError
from shared.evaluation.sandbox import LuaSandbox
from shared.templating import TemplateError, compile_template
from shared.templating.jinja import jinja_environment

#: distinct texts remembered per kind of check
CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a text does not compile; ``line`` is 1-based inside the text (None: unknown)."""

    message: str
    line: int | None = None

    def at(self) -> str:
        return f"line {self.line}: " if self.line is not None else ""


_local = threading.local()


def _sandbox() -> LuaSandbox:
    sandbox: LuaSandbox | None = getattr(_local, "sandbox", None)
    if sandbox is None:
        sandbox = _local.sandbox = LuaSandbox()
    return sandbox


@lru_cache(maxsize=CACHE_SIZE)
def lua(code: str) -> Failure | None:
    """A Lua script compiled (loaded, never run) in the agent's sandbox."""
    try:
        _sandbox().compile(0, code, "script")
    except LuaScriptError as exc:
        return Failure(exc.message, exc.line)
    return None


@lru_cache(maxsize=CACHE_SIZE)
def cel(rule: str) -> Failure | None:
    """A CEL rule parsed as :mod:`shared.evaluation.cel` parses it."""
    env = celpy.Environment()
    try:
        env.program(env.compile(rule))
    except Exception as exc:  # celpy raises CELParseError and others
        line = getattr(exc, "line", None)
        column = getattr(exc, "column", None)
        where = f"syntax error at column {column}" if column is not None else "syntax error"
        text = str(exc).strip()
        if not isinstance(exc, CELParseError):
            where = text.splitlines()[0] if text else type(exc).__name__
        return Failure(where, line if isinstance(line, int) else None)
    return None


_GO_ERROR = re.compile(r"^template: tpl:(?P<line>\d+):(?:\d+:)? ?(?P<message>.*)$", re.DOTALL)


@lru_cache(maxsize=CACHE_SIZE)
def go_template(text: str) -> Failure | None:
    """A Go text/template parsed with Sveltos' function map (undefined functions fail, as
    in Go)."""
    if "{{" not in text:
        return None
    try:
        compile_template(text, name="tpl", funcs="sveltos", missingkey="error")
    except TemplateError as exc:
        message = str(exc)
        m = _GO_ERROR.match(message)
        if m:
            return Failure(m.group("message").strip(), int(m.group("line")))
        return Failure(message.removeprefix("template: "))
    return None


@lru_cache(maxsize=1)
def _jinja() -> jinja2.Environment:
    return jinja_environment("sveltos")


@lru_cache(maxsize=CACHE_SIZE)
def jinja_template(text: str) -> Failure | None:
    """A template of the project's Jinja2 flavour parsed in its sandboxed environment."""
    try:
        _jinja().parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return Failure(exc.message or "syntax error", exc.lineno)
    return None


def template(text: str, flavour: str) -> Failure | None:
    """A template of either flavour (``go`` or ``jinja``)."""
    return jinja_template(text) if flavour == "jinja" else go_template(text)
