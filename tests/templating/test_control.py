"""Control structures, variables, templates, printing and missing keys."""

from __future__ import annotations

import pytest

from shared.templating import TemplateExecError, TemplateSyntaxError
from tests.templating.conftest import render

DATA = {
    "x": "xyz",
    "l": [3, 4, 5],
    "m": {"b": 2, "a": 1, "c": {"y": [1, 2], "z": 1}},
    "e": [],
    "n": 3,
    "null": None,
    "fl": [1000000.0, 123456.7, 15.0, 1e-05, -0.0],
}


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("{{if .x}}yes{{end}}", "yes"),
        ("{{if .e}}yes{{else}}no{{end}}", "no"),
        ("{{if .e}}1{{else if .x}}2{{else}}3{{end}}", "2"),
        ("{{if .missing}}1{{else if .e}}2{{else}}3{{end}}", "3"),
        ('{{if "0"}}t{{end}}{{if "false"}}t{{end}}{{if 0}}f{{end}}{{if 0.0}}f{{end}}', "tt"),
        ("{{with .m.c}}{{.z}}{{end}}", "1"),
        ("{{with .e}}x{{else}}empty{{end}}", "empty"),
        ("{{with .e}}x{{else with .x}}{{.}}{{end}}", "xyz"),
        ("{{with $v := .n}}{{$v}}{{.}}{{end}}", "33"),
        ("{{range .l}}{{.}},{{end}}", "3,4,5,"),
        ("{{range $i, $v := .l}}{{$i}}={{$v}} {{end}}", "0=3 1=4 2=5 "),
        ("{{range $k, $v := .m}}{{$k}} {{end}}", "a b c "),
        ("{{range .e}}x{{else}}none{{end}}", "none"),
        ("{{range .missing}}x{{else}}none{{end}}", "none"),
        ("{{range 3}}{{.}}{{end}}", "012"),
        ("{{range .n}}{{.}}{{end}}", "012"),
        ("{{range .l}}{{if eq . 4}}{{break}}{{end}}{{.}}{{end}}", "3"),
        ("{{range .l}}{{if eq . 4}}{{continue}}{{end}}{{.}}{{end}}", "35"),
        ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2"),
        ("{{$x := 1}}{{if true}}{{$x := 2}}{{end}}{{$x}}", "1"),
        ('{{$x := 1}}{{$x = "s"}}{{$x}}', "s"),
        ("{{$x := 9}}{{range $x = .l}}{{end}}{{$x}}", "5"),
        ("{{range .l}}{{$}}{{end}}", "3"),  # $ is the data: m is not printed; see next
        ('{{define "T"}}[{{.}}]{{end}}{{template "T" .x}}', "[xyz]"),
        ('{{template "T" .x}}{{define "T"}}<{{.}}>{{end}}', "<xyz>"),
        ('{{define "T"}}{{.x}}{{end}}{{template "T"}}', "<no value>"),
        ('a{{block "B" .x}}({{.}}){{end}}b', "a(xyz)b"),
        ("{{/* a comment */}}ok", "ok"),
        ("{{.m}}", "map[a:1 b:2 c:map[y:[1 2] z:1]]"),
        (
            "{{.l}} {{.e}} {{.null}} {{.missing}} {{.missing.deeper}}",
            "[3 4 5] [] <no value> <no value> <no value>",
        ),
        ("{{range .fl}}{{.}} {{end}}", "1e+06 123456.7 15 1e-05 -0 "),
        ("{{true}} {{1.5}} {{0x10}} {{'a'}} {{1e3}}", "true 1.5 16 97 1000"),
        ("{{(index .l 1)}} {{(.m).b}} {{.m.c.z}}", "4 2 1"),
        ("{{.range}} {{.if}}", "R I"),
    ],
)
def test_render(text: str, want: str) -> None:
    data = dict(DATA)
    if ".range" in text:
        data = {"range": "R", "if": "I"}
    if "{{$}}" in text:
        data = {"l": [1]}
        want = "map[l:[1]]"
    assert render(text, data) == want


def test_block_overridden_by_extra() -> None:
    got = render(
        'a{{block "inner" .x}}bar{{.}}{{end}}b',
        DATA,
        extra=[("override", '{{define "inner"}}OVERRIDE({{.}}){{end}}')],
    )
    assert got == "aOVERRIDE(xyz)b"


def test_exec_named_template() -> None:
    assert render('{{define "x"}}X={{.x}}{{end}}root', DATA, exec_name="x") == "X=xyz"
    with pytest.raises(TemplateExecError, match='no template "nope"'):
        render("root", DATA, exec_name="nope")


def test_delimiters() -> None:
    assert render("[[.x]]{{.x}}", DATA, delims=("[[", "]]")) == "xyz{{.x}}"


@pytest.mark.parametrize(
    ("mode", "text", "want"),
    [
        ("default", "{{.nope}}", "<no value>"),
        ("invalid", "{{.nope}}", "<no value>"),
        ("zero", "{{.nope}}", "<no value>"),
        ("default", "{{.nope.deeper}}", "<no value>"),
    ],
)
def test_missingkey_modes(mode: str, text: str, want: str) -> None:
    assert render(text, DATA, missingkey=mode) == want


def test_missingkey_error_and_zero_chain() -> None:
    with pytest.raises(TemplateExecError, match='map has no entry for key "nope"'):
        render("{{.nope}}", DATA, missingkey="error")
    with pytest.raises(TemplateExecError, match="nil pointer evaluating interface"):
        render("{{.nope.deeper}}", DATA, missingkey="zero")
    with pytest.raises(TemplateExecError, match="nil pointer evaluating interface"):
        render("{{.null.foo}}", DATA)
    with pytest.raises(TemplateExecError, match="nil data; no entry"):
        render("{{.x}}", None, missingkey="error")
    # missingkey=error also applies inside if/with/range pipelines
    with pytest.raises(TemplateExecError):
        render("{{if .args}}x{{end}}", DATA, missingkey="error")


@pytest.mark.parametrize(
    "text",
    [
        "{{range .x}}{{end}}",  # a string cannot be ranged over
        "{{range $i, $v := 3}}{{end}}",
        "{{$x = 1}}",  # assignment to an undeclared variable: exec time
        "{{nil}}",
        "{{1 2}}",
        "{{.x 1}}",
        '{{template "nope"}}',
        "{{18446744073709551615}}",
    ],
)
def test_exec_errors(text: str) -> None:
    with pytest.raises(TemplateExecError):
        render(text, DATA)


@pytest.mark.parametrize(
    "text",
    [
        "{{}}",
        "{{end}}",
        "{{if .x}}",
        "{{break}}",
        "{{range .l}}{{else}}{{continue}}{{end}}",
        "{{$x}}",
        "{{.a-b}}",
        "{{.ports.0}}",
        "{{undefinedfn}}",
        "{{ /* x */ }}",
        '{{define "a"}}1{{end}}{{define "a"}}2{{end}}',
        "{{'ab'}}",
        "{{(1}}",
        "{{1|2}}",
    ],
)
def test_parse_errors(text: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        render(text, DATA)


def test_empty_redefinition_is_ignored() -> None:
    assert render('{{define "a"}}1{{end}}{{define "a"}} {{end}}{{template "a"}}', DATA) == "1"
