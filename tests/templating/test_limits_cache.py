"""Bounds against hostile templates; compile once, render many."""

from __future__ import annotations

import pytest

from shared.templating import Limits, TemplateLimitError, compile_template
from shared.templating import parser as template_parser
from tests.templating.conftest import render


def test_output_size_is_bounded() -> None:
    lim = Limits(max_output=1000)
    with pytest.raises(TemplateLimitError, match="output exceeds the limit of 1000"):
        render("{{range .}}0123456789{{end}}", list(range(500)), limits=lim)


def test_default_output_bound_is_one_mib() -> None:
    with pytest.raises(TemplateLimitError):
        render("{{range 50000}}{{range 30}}x{{end}}{{end}}", None)


def test_range_iterations_are_bounded_across_loops() -> None:
    with pytest.raises(TemplateLimitError, match="range iterations exceed the limit of 100000"):
        render("{{range 1000}}{{range 1000}}{{end}}{{end}}", None)


def test_huge_int_range_is_bounded() -> None:
    with pytest.raises(TemplateLimitError):
        render("{{range 100000000000}}{{end}}", None)


def test_recursion_depth_is_bounded() -> None:
    with pytest.raises(Exception, match=r"exceeded maximum template depth \(100\)"):
        render('{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}', None)


def test_deeply_nested_parentheses_are_a_parse_error() -> None:
    with pytest.raises(Exception, match="template: tpl"):
        render("{{" + "(" * 5000 + "1" + ")" * 5000 + "}}", None)


def test_compile_is_cached_and_render_does_not_parse() -> None:
    text = "{{ range . }}{{ . }}{{ end }} cache-test"
    first = compile_template(text, funcs="builtin")
    calls = template_parser.PARSE_CALLS[0]
    assert compile_template(text, funcs="builtin") is first
    for i in range(50):
        assert first.render([i]) == f"{i} cache-test"
    assert template_parser.PARSE_CALLS[0] == calls
    # different options: a different compiled template
    assert compile_template(text, funcs="builtin", missingkey="zero") is not first
    assert template_parser.PARSE_CALLS[0] == calls + 1


def test_string_doubling_is_bounded() -> None:
    text = '{{ $x := "aaaaaaaaaa" }}' + '{{ $x = printf "%s%s" $x $x }}' * 30 + "{{ len $x }}"
    with pytest.raises(TemplateLimitError, match=r"printf: the result would be .* over the limit"):
        render(text, None)
