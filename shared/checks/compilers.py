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

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import celpy
import jinja2
import re2  # type: ignore[import-untyped]
from celpy.celparser import CELParseError

from shared.evaluation.errors import LuaScriptError
from shared.evaluation.sandbox import LuaSandbox
from shared.templating import TemplateError, compile_template
from shared.templating.jinja import jinja_environment

#: distinct texts whose result is remembered (by digest: a 1 MiB script costs 32 bytes)
CACHE_SIZE = 8192


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a text does not compile; ``line`` is 1-based inside the text (None: unknown)."""

    message: str
    line: int | None = None

    def at(self) -> str:
        return f"line {self.line}: " if self.line is not None else ""


_local = threading.local()
_cache: OrderedDict[tuple[str, bytes], Failure | None] = OrderedDict()
_cache_lock = threading.Lock()


def _cached(kind: str, text: str, check: Callable[[str], Failure | None]) -> Failure | None:
    key = (kind, hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).digest())
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    result = check(text)
    with _cache_lock:
        _cache[key] = result
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def _sandbox() -> LuaSandbox:
    sandbox: LuaSandbox | None = getattr(_local, "sandbox", None)
    if sandbox is None:
        sandbox = _local.sandbox = LuaSandbox()
    return sandbox


def lua(code: str) -> Failure | None:
    """A Lua script compiled (loaded, never run) in the agent's sandbox."""
    return _cached("lua", code, _lua)


def _lua(code: str) -> Failure | None:
    try:
        _sandbox().compile(0, code, "script")
    except LuaScriptError as exc:
        return Failure(exc.message, exc.line)
    return None


def cel(rule: str) -> Failure | None:
    """A CEL rule parsed as :mod:`shared.evaluation.cel` parses it, then its names checked
    as Sveltos' checker would (a plain ``cel.NewEnv`` declaring the one variable
    ``resource``, no extension library): an undeclared name fails there."""
    return _cached("cel", rule, _cel)


#: the variable Sveltos declares; type names usable as values
CEL_VARIABLES = frozenset({"resource"})
CEL_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type", "type"}
)
#: the global functions of CEL's standard library (the rest are methods: ``x.startsWith()``)
CEL_FUNCTIONS = frozenset(
    {"has", "size", "int", "uint", "double", "string", "bytes", "bool", "type", "duration",
     "timestamp", "dyn", "matches"}
)  # fmt: skip
#: macros whose first argument names a variable bound in the others
CEL_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


def _cel(rule: str) -> Failure | None:
    env = celpy.Environment()
    try:
        tree = env.compile(rule)
        env.program(tree)
    except Exception as exc:  # celpy raises CELParseError and others
        line = getattr(exc, "line", None)
        column = getattr(exc, "column", None)
        where = f"syntax error at column {column}" if column is not None else "syntax error"
        text = str(exc).strip()
        if not isinstance(exc, CELParseError):
            where = text.splitlines()[0] if text else type(exc).__name__
        return Failure(where, line if isinstance(line, int) else None)
    return _cel_names(tree)


def _cel_names(tree: Any) -> Failure | None:
    """The first undeclared variable or unknown global function of a parsed rule."""
    bound: set[str] = set()
    for sub in tree.iter_subtrees():
        if sub.data == "member_dot_arg" and len(sub.children) == 3:
            _, method, args = sub.children
            if str(method) in CEL_MACROS and getattr(args, "children", None):
                names = [t for t in args.children[0].iter_subtrees() if t.data == "ident"]
                if len(names) == 1:
                    bound.add(str(names[0].children[0]))
    for sub in tree.iter_subtrees_topdown():
        if sub.data == "ident":
            token = sub.children[0]
            name = str(token)
            if name not in CEL_VARIABLES | CEL_TYPE_NAMES | bound:
                return Failure(
                    f"undeclared reference to {name!r} (the only variable is 'resource')",
                    getattr(token, "line", None),
                )
        elif sub.data == "ident_arg":
            token = sub.children[0]
            if str(token) not in CEL_FUNCTIONS:
                return Failure(
                    f"undeclared reference to function {str(token)!r} (CEL's standard "
                    "library only)",
                    getattr(token, "line", None),
                )
    return None


_STARTED = re.compile(r" started at tpl:(\d+)$")
_GO_ERROR = re.compile(r"^template: tpl:(?P<line>\d+):(?:\d+:)? ?(?P<message>.*)$", re.DOTALL)


def go_template(text: str, funcs: str = "sveltos") -> Failure | None:
    """A Go text/template parsed with Sveltos' function map (undefined functions fail, as
    in Go): event-manager's (``sveltos``) or addon-controller's (``sveltos-addon``, the
    second pass of content annotated ``projectsveltos.io/template``)."""
    if "{{" not in text:
        return None
    return _cached(f"go/{funcs}", text, lambda t: _go_template(t, funcs))


def _go_template(text: str, funcs: str) -> Failure | None:
    try:
        compile_template(text, name="tpl", funcs=funcs, missingkey="error")
    except TemplateError as exc:
        message = str(exc)
        m = _GO_ERROR.match(message)
        if m:
            text, line = m.group("message").strip(), int(m.group("line"))
            started = _STARTED.search(text)  # Go: "unclosed action started at tpl:4" at EOF
            if started:
                text, line = text[: started.start()], int(started.group(1))
            return Failure(re.sub(r"\btpl:(\d+)", r"line \1", text), line)
        return Failure(message.removeprefix("template: "))
    return None


@lru_cache(maxsize=1)
def _jinja() -> jinja2.Environment:
    return jinja_environment("sveltos")


def jinja_template(text: str) -> Failure | None:
    """A template of the project's Jinja2 flavour parsed in its sandboxed environment."""
    return _cached("jinja", text, _jinja_template)


def _jinja_template(text: str) -> Failure | None:
    try:
        _jinja().parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return Failure(exc.message or "syntax error", exc.lineno)
    return None


def go_regexp(pattern: str) -> Failure | None:
    """A regular expression in Go's syntax (RE2), as the agent matches CloudEvents."""
    return _cached("re2", pattern, _go_regexp)


def _go_regexp(pattern: str) -> Failure | None:
    try:
        re2.compile(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        return Failure(f"invalid regular expression {pattern!r}: {reason}")
    return None


def template(text: str, flavour: str) -> Failure | None:
    """A template of either flavour (``go`` or ``jinja``)."""
    return jinja_template(text) if flavour == "jinja" else go_template(text)
