"""The ``needs_context`` hook: functions that execute templates (include, tpl)."""

from __future__ import annotations

from typing import Any

from shared.templating.builtins import BUILTINS
from shared.templating.executor import Compiler, Limits, State
from shared.templating.parser import parse


def _include(ctx: Any, name: str, data: Any) -> str:
    return ctx.execute_template(name, data)


def _tpl(ctx: Any, text: str, data: Any) -> str:
    return ctx.render_text(text, data)


def _root(ctx: Any) -> Any:
    return ctx.root_data["top"]


for fn in (_include, _tpl, _root):
    fn.needs_context = True  # type: ignore[attr-defined]

FUNCS = {"include": _include, "tpl": _tpl, "root": _root, "upper": str.upper}


def _render(text: str, data: Any) -> str:
    trees, _, _ = parse("tpl", text, funcs=set(BUILTINS) | set(FUNCS))
    compiler = Compiler(FUNCS, "default")
    for name, tree in trees.items():
        compiler.templates[name] = compiler.compile_list(tree)
    st = State("tpl", data, Limits())
    compiler.templates["tpl"](st, data)
    return "".join(st.out)


def test_include_pipes_into_functions() -> None:
    text = '{{define "t"}}<{{.}}>{{end}}{{include "t" .a | upper}}'
    assert _render(text, {"a": "x"}) == "<X>"


def test_tpl_renders_text_without_changing_the_set() -> None:
    text = '{{tpl "{{define \\"u\\"}}U{{end}}[{{.}}{{template \\"u\\"}}]" .a}}{{root}}'
    assert _render(text, {"a": "x", "top": "T"}) == "[xU]T"


def test_root_data_inside_a_template_call() -> None:
    text = '{{define "t"}}{{root}}{{end}}{{template "t" .a}}'
    assert _render(text, {"a": "x", "top": "T"}) == "T"
