"""Each predefined function of Go text/template."""

from __future__ import annotations

from typing import Any

import pytest

from shared.templating import TemplateExecError
from tests.templating.conftest import render

DATA = {
    "s": "abc",
    "n": 3,
    "f": 1.5,
    "l": [1, 2, 3],
    "m": {"b": 2, "a": 1},
    "t": True,
    "z": "",
    "nil": None,
    "jp": "日本",
}


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("{{and 1 0 2}}", "0"),
        ("{{and 1 2}}", "2"),
        ("{{or 0 .z 5}}", "5"),
        ("{{or 0 .z}}", ""),
        ("{{and .s .n}}", "3"),
        ("{{not .t}} {{not .z}} {{not .l}}", "false true false"),
        ("{{len .s}} {{len .l}} {{len .m}} {{len .jp}}", "3 3 2 6"),
        ('{{index .l 1}} {{index .m "b"}} {{index .s 0}}', "2 2 97"),
        ('{{index .m "missing"}}', "<no value>"),
        ("{{slice .s 1 2}} {{slice .l 1}} {{slice .l 0 2 3}}", "b [2 3] [1 2]"),
        ('{{print "a" 1 2 "b" 3.5 true}}', "a1 2b3.5 true"),
        ('{{println "a" 1}}', "a 1\n"),
        ('{{printf "%s-%d-%v" .s .n .l}}', "abc-3-[1 2 3]"),
        ('{{"x" | printf "%s-%s" "y"}}', "y-x"),
        ('{{eq .n 3}} {{eq .n 1 2 3}} {{eq .s "abc"}} {{eq .nil nil}}', "true true true true"),
        (
            '{{ne .n 3}} {{lt .n 4}} {{le .n 3}} {{gt .f 1.0}} {{ge .s "b"}}',
            "false true true true false",
        ),
        ("{{html \"<a href='x'>&</a>\"}}", "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"),
        ('{{js "a\'b\\"<c>="}}', "a\\'b\\\"\\u003Cc\\u003E\\u003D"),
        ('{{urlquery "a b&c/d"}}', "a+b%26c%2Fd"),
        ("{{html .missing}}", "&lt;no value&gt;"),
        ("{{print .missing}}", "<nil>"),
    ],
)
def test_builtin(text: str, want: str) -> None:
    assert render(text, DATA) == want


@pytest.mark.parametrize(
    "text",
    [
        "{{eq .n .f}}",  # int vs float: incompatible types
        "{{eq .l .l}}",  # non-comparable
        "{{lt .t .t}}",  # bools do not order
        "{{index .l 5}}",
        "{{index .m 1}}",
        "{{len .n}}",
        "{{len .missing}}",
        "{{slice .s 2 1}}",
        "{{call .s}}",
        "{{not}}",
        "{{ne 1}}",
        '{{printf .n "x"}}',
    ],
)
def test_builtin_errors(text: str) -> None:
    with pytest.raises(TemplateExecError):
        render(text, DATA)


def test_and_or_short_circuit() -> None:
    # the second operand would fail (len of an int) if it were evaluated
    assert render("{{or 1 (len .n)}}|{{and 0 (len .n)}}", DATA) == "1|0"


def test_eq_missing_is_false_without_error() -> None:
    assert render('{{eq .missing "x"}}', DATA) == "false"


def test_index_of_nested_and_typed_results() -> None:
    data: dict[str, Any] = {"m": {"a": [{"b": "x"}]}}
    assert render('{{index .m "a" 0 "b"}}', data) == "x"
    assert render('{{printf "%T %T %T" (index "hi" 0) (len "x") 3}}', data) == "uint8 int int"
