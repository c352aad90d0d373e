"""Arbitrary input never breaks the engine: it renders or fails with a TemplateError."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.templating import TemplateError, compile_template

ATOMS = [
    "{{", "}}", "{{- ", " -}}", " ", ".", ".a", ".b.c", "$x", "$", ":=", "=", "|", "(", ")",
    '"s"', "`r`", "'c'", "1", "-2", "3.5", "0x1F", "1i", "if", "else", "end", "range", "with",
    "define", "template", "block", "break", "continue", "nil", "true", "len", "index", "slice",
    "eq", "lt", "and", "or", "not", "print", "printf", "html", "js", "call", "/*", "*/", "\n",
    "x", ",", '"%d"', "default", "toYaml", "list", "dict", "日本",
]  # fmt: skip
DATA = {"a": [1, "x", None, {"k": 2}], "b": {"c": 3.5}, "s": "str", "n": None}


@settings(max_examples=400, deadline=None)
@given(
    parts=st.lists(st.sampled_from(ATOMS), min_size=1, max_size=25),
    funcs=st.sampled_from(["builtin", "sveltos"]),
    missingkey=st.sampled_from(["default", "error", "zero"]),
)
def test_token_soup(parts: list[str], funcs: str, missingkey: str) -> None:
    text = "".join(parts)
    try:
        out = compile_template(text, funcs=funcs, missingkey=missingkey).render(DATA)
    except TemplateError:
        return
    assert isinstance(out, str)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_any_text(text: str) -> None:
    try:
        compile_template(text, funcs="builtin", missingkey="default").render(DATA)
    except TemplateError:
        pass
