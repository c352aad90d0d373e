"""Public API of the Go template engine: compile once (cached), render many.

>>> t = compile_template("{{ .a }}-{{ len .b }}", funcs="builtin")
>>> t.render({"a": "x", "b": [1, 2]})
'x-2'
"""

from __future__ import annotations

import copy
import importlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from shared.templating import nodes as N
from shared.templating.budget import BudgetExceeded, running
from shared.templating.budget import current as current_budget
from shared.templating.builtins import BUILTINS, MISSING
from shared.templating.errors import TemplateExecError, TemplateLimitError, TemplateOptionError
from shared.templating.executor import Compiler, Limits, Run, State
from shared.templating.expressions import ExpressionCompiler
from shared.templating.gofmt import go_quote
from shared.templating.parser import parse

__all__ = [
    "MUTATING_FUNCTIONS",
    "CompiledTemplate",
    "FuncSet",
    "Limits",
    "cache_clear",
    "cache_info",
    "compile_template",
    "function_set",
    "parse_into",
]

FuncSet = Literal["builtin", "sprig", "sveltos", "sveltos-addon"]
MissingKey = Literal["error", "default", "zero", "invalid"]

#: functions that change their arguments in place (data is copied before they run)
MUTATING_FUNCTIONS = frozenset(
    {
        "set",
        "unset",
        "merge",
        "mergeOverwrite",
        "mustMerge",
        "mustMergeOverwrite",
        "getResource",
        "copy",
        "setField",
        "removeField",
        "chainSetField",
        "chainRemoveField",
    }
)

_funcs_lock = threading.Lock()
_funcs_cache: dict[tuple[str, bool], dict[str, Callable[..., Any]]] = {}


def function_set(name: str, *, txt: bool = False) -> dict[str, Callable[..., Any]]:
    """The non-builtin functions of a set (from ``shared.templating.funcs``), cached."""
    key = (name, txt)
    got = _funcs_cache.get(key)
    if got is not None:
        return got
    if name not in ("builtin", "sprig", "sveltos", "sveltos-addon"):
        raise ValueError(f"unknown function set {name!r}")
    funcs: dict[str, Callable[..., Any]] = {}
    if name != "builtin":
        try:
            module = importlib.import_module("shared.templating.funcs")
        except ImportError:
            module = None
        function_map = getattr(module, "function_map", None)
        if function_map is not None:
            funcs = dict(function_map(name, txt=txt))
    with _funcs_lock:
        _funcs_cache[key] = funcs
    return funcs


class CompiledTemplate:
    """A parsed and compiled template set; :meth:`render` never parses."""

    def __init__(
        self,
        name: str,
        compiler: Compiler,
        limits: Limits,
        used_functions: frozenset[str],
    ) -> None:
        self.name = name
        self._compiler = compiler
        self.limits = limits
        self.used_functions = used_functions
        #: True when a function that mutates its argument is referenced
        self.mutates = bool(used_functions & MUTATING_FUNCTIONS)

    @property
    def template_names(self) -> list[str]:
        return sorted(self._compiler.templates)

    def render(
        self, data: Any, *, exec_name: str | None = None, limits: Limits | None = None
    ) -> str:
        """Execute the root template (or ``exec_name``) with ``data`` as dot."""
        name = exec_name if exec_name is not None else self.name
        run = self._compiler.templates.get(name)
        if run is None:
            raise TemplateExecError(
                f"template: no template {go_quote(name)} associated with template "
                f"{go_quote(self.name)}"
            )
        dot = MISSING if data is None else data
        lim = limits or self.limits
        outer = current_budget()  # a render inside a render shares its budget
        st = State(name, dot, lim, outer if outer is not None else lim.budget(name))
        with running(st.budget):
            try:
                st.budget.check_time(name)
                run(st, dot)
            except RecursionError:
                raise TemplateLimitError(
                    f"template: {name}: nesting too deep", "".join(st.out), kind="depth"
                ) from None
            except BudgetExceeded as exc:  # past the budget between two actions
                raise TemplateLimitError(
                    f"template: {name}: {exc}", "".join(st.out), kind=exc.kind
                ) from None
            return st.output()


def _used_functions(trees: Iterable[N.ListNode]) -> frozenset[str]:
    found: set[str] = set()

    def walk(n: Any) -> None:
        if isinstance(n, N.IdentifierNode):
            found.add(n.ident)
        elif isinstance(n, N.ListNode):
            for c in n.nodes:
                walk(c)
        elif isinstance(n, N.ActionNode):
            walk(n.pipe)
        elif isinstance(n, N.PipeNode):
            for c in n.cmds:
                walk(c)
        elif isinstance(n, N.CommandNode):
            for c in n.args:
                walk(c)
        elif isinstance(n, N.ChainNode):
            walk(n.node)
        elif isinstance(n, N.BranchNode):
            walk(n.pipe)
            walk(n.list)
            if n.else_list is not None:
                walk(n.else_list)
        elif isinstance(n, N.TemplateNode) and n.pipe is not None:
            walk(n.pipe)

    for t in trees:
        walk(t)
    return frozenset(found)


def _associate(trees: dict[str, N.ListNode], name: str, tree: N.ListNode) -> None:
    old = trees.get(name)
    if old is not None and N.is_empty_tree(tree):
        return
    trees[name] = tree


def _build(
    text: str,
    name: str,
    funcs: str,
    missingkey: str,
    delims: tuple[str, str],
    extra: tuple[tuple[str, str], ...],
    txt: bool,
    html: bool,
    limits: Limits,
) -> CompiledTemplate:
    fmap = function_set(funcs, txt=txt)
    names = set(BUILTINS) | set(fmap)
    trees: dict[str, N.ListNode] = {}
    for tname, ttext in ((name, text), *extra):
        parsed, order, _ = parse(tname, ttext, funcs=names, delims=delims)
        for n in order:
            _associate(trees, n, parsed[n])
    compiler = Compiler(fmap, missingkey, html_mode=html)
    for n, tree in trees.items():
        compiler.templates[n] = compiler.compile_list(tree)
    return CompiledTemplate(name, compiler, limits, _used_functions(trees.values()))


_CACHE_MAX = 1024
_cache_lock = threading.Lock()
_cache: OrderedDict[tuple[Any, ...], CompiledTemplate] = OrderedDict()
_stats = {"hits": 0, "misses": 0}


def compile_template(
    text: str,
    *,
    name: str = "tpl",
    funcs: FuncSet | str = "sveltos",
    missingkey: MissingKey | str = "error",
    delims: Sequence[str] = ("{{", "}}"),
    extra: Iterable[tuple[str, str]] = (),
    txt: bool = False,
    html: bool = False,
    limits: Limits | None = None,
) -> CompiledTemplate:
    """Parse and compile ``text`` (cached by content and options).

    ``funcs``: builtin | sprig | sveltos (event-manager's map) | sveltos-addon.
    ``missingkey``: error (Sveltos) | default | zero | invalid.
    ``extra``: (name, text) pairs parsed afterwards into the same set (they may override
    ``block`` defaults). ``html``: escape action output as html/template does in text.
    Raises TemplateSyntaxError.
    """
    if missingkey not in ("error", "default", "zero", "invalid"):
        # Go's Template.Option panics with this message; it names the option given
        raise TemplateOptionError(
            f"template: {name}: unrecognized option: missingkey={missingkey} "
            "(missingkey takes error, default, zero or invalid)"
        )
    left, right = (delims[0] or "{{"), (delims[1] or "}}")
    extra_t = tuple((str(n), str(t)) for n, t in extra)
    lim = limits or Limits()
    key = (text, name, funcs, missingkey, left, right, extra_t, txt, html, lim)
    with _cache_lock:
        got = _cache.get(key)
        if got is not None:
            _cache.move_to_end(key)
            _stats["hits"] += 1
            return got
    compiled = _build(text, name, funcs, missingkey, (left, right), extra_t, txt, html, lim)
    with _cache_lock:
        _stats["misses"] += 1
        _cache[key] = compiled
        while len(_cache) > _CACHE_MAX:
            _cache.popitem(last=False)
    return compiled


def cache_info() -> dict[str, int]:
    with _cache_lock:
        return {"size": len(_cache), **_stats}


def cache_clear() -> None:
    with _cache_lock:
        _cache.clear()
        _stats["hits"] = _stats["misses"] = 0


def parse_into(compiler: ExpressionCompiler, name: str, text: str) -> Run:
    """Parse ``text`` against a running set (sprig ``tpl``); returns its compiled root
    (:meth:`Compiler.compile_source <shared.templating.executor.Compiler.compile_source>`)."""
    return compiler.compile_source(name, text)


def deep_copy(data: Any) -> Any:
    """A copy of template data, so that mutating helpers never touch the caller's."""
    return copy.deepcopy(data)


_ = Mapping
