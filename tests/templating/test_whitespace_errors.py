"""Trim markers, and the positions Go puts in error messages."""

from __future__ import annotations

import pytest

from shared.templating import TemplateExecError, TemplateSyntaxError
from tests.templating.conftest import render


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("x \r\n\t{{- 3}}", "x3"),
        ("{{3 -}}\n\n\ty", "3y"),
        ("x {{- 3 -}} y", "x3y"),
        ("x {{-3}} y", "x -3 y"),  # no space after the dash: a negative number
        ("x {{-3 -}} y", "x -3y"),
        ("a\u00a0{{- 3}}", "a\u00a03"),  # Unicode spaces are not trimmed
        ("a  {{- /* c */ -}}  b", "ab"),
        ("list:\n{{- range .}}\n  - {{.}}\n{{- end}}\ndone", "list:\n  - 1\n  - 2\ndone"),
    ],
)
def test_trimming(text: str, want: str) -> None:
    assert render(text, [1, 2]) == want


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{.x}}", 'template: tpl:1:2: executing "tpl" at <.x>: map has no entry for key "x"'),
        (
            "line1\n  {{ .a.b }}",
            'template: tpl:2:7: executing "tpl" at <.a.b>: map has no entry for key "a"',
        ),
        (
            "{{ index 1 2 }}",
            'template: tpl:1:3: executing "tpl" at <index 1 2>: error calling index: '
            "can't index item of type int",
        ),
        (
            '{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}',
            'template: tpl:1:25: executing "r" at <{{template "r" .}}>: '
            "exceeded maximum template depth (100)",
        ),
        ("日本{{.x}}", 'template: tpl:1:8: executing "tpl" at <.x>: map has no entry for key "x"'),
    ],
)
def test_exec_error_positions(text: str, message: str) -> None:
    with pytest.raises(TemplateExecError) as info:
        render(text, {}, missingkey="error")
    assert str(info.value) == message


def test_error_names_the_template() -> None:
    with pytest.raises(TemplateExecError, match=r"^template: default-c1-trigger:1:3: "):
        render("{{ .x }}", {}, missingkey="error", name="default-c1-trigger")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{}}", "template: tpl:1: missing value for command"),
        ("a\n{{\n}}\n", "template: tpl:3: missing value for command"),
        ("line1\n{{", "template: tpl:2: unclosed action"),
        ("{{range .x}}", "template: tpl:1: unexpected EOF"),
        ("{{.a-b}}", "template: tpl:1: bad character U+002D '-'"),
        ("{{foo}}", 'template: tpl:1: function "foo" not defined'),
        ("{{ if eq .t 'abc' }}{{end}}", "template: tpl:1: malformed character constant: 'abc'"),
    ],
)
def test_parse_error_messages(text: str, message: str) -> None:
    with pytest.raises(TemplateSyntaxError) as info:
        render(text, {})
    assert str(info.value) == message


def test_partial_output_is_kept() -> None:
    with pytest.raises(TemplateExecError) as info:
        render("{{.a}} {{.b}}", {"a": 99}, missingkey="error")
    assert info.value.partial_output == "99 "
