"""Go fmt printing (shared.templating.gofmt)."""

from __future__ import annotations

from typing import Any

import pytest

from shared.templating.gofmt import format_value, sprint, sprintf, sprintln, type_name
from shared.templating.values import GoInt


@pytest.mark.parametrize(
    ("fmt", "args", "expected"),
    [
        ("%T", (GoInt(3),), "int"),
        ("%T", (3,), "int64"),
        ("%s", (17,), "%!s(int64=17)"),
        ("%d", (1.5,), "%!d(float64=1.5)"),
        ("%v", ({"one": 1, "three": 3, "two": 2},), "map[one:1 three:3 two:2]"),
        ("%#v", ({"V": "v"},), 'map[string]interface {}{"V":"v"}'),
        ("%#v", ([3, 4, 5],), "[]interface {}{3, 4, 5}"),
        ("%q", ("x",), '"x"'),
        ("%x", ("hi",), "6869"),
        ("%v %v", (1,), "1 %!v(MISSING)"),
        ("%d", (1, GoInt(2)), "1%!(EXTRA int=2)"),
        ("%6s|%-6s|", ("a", "b"), "     a|b     |"),
        ("%03d", (7,), "007"),
        ("%.3s", ("abcdef",), "abc"),
        ("%e", (1234.5678,), "1.234568e+03"),
        ("%g", (1e21,), "1e+21"),
        ("%5.2f", (1.5,), " 1.50"),
        ("%04x", (127,), "007f"),
        ("%g", (1 + 7j,), "(1+7i)"),
        ("%v", (None,), "<nil>"),
        ("%d", (None,), "%!d(<nil>)"),
        ("%#08x", (255,), "0x000000ff"),
        ("%+d", (5,), "+5"),
        ("%x", (-255,), "-ff"),
        ("%s", ([GoInt(1), "a"],), "[%!s(int=1) a]"),
        ("%q", (97,), "'a'"),
        ("%U", (0x41,), "U+0041"),
        ("%08.3f", (-3.14159,), "-003.142"),
        ("%*d", (5, 3), "    3"),
        ("%[2]d %[1]d", (1, 2), "2 1"),
        ("%", (), "%!(NOVERB)"),
        ("100%%", (), "100%"),
        ("%t", (True,), "true"),
        ("%q", ("a\nb\x00é",), '"a\\nb\\x00é"'),
        ("%+q", ("é",), '"\\u00e9"'),
        ("%v", ([None, 1],), "[<nil> 1]"),
        ("%x", (b"hi",), "6869"),
        ("%v", (b"hi",), "[104 105]"),
        ("%s", (b"hi",), "hi"),
    ],
)
def test_sprintf(fmt: str, args: tuple[Any, ...], expected: str) -> None:
    assert sprintf(fmt, *args) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1000000.0, "1e+06"),
        (100000.0, "100000"),
        (123456.7, "123456.7"),
        (1234567.0, "1.234567e+06"),
        (12345678.9, "1.23456789e+07"),
        (15.0, "15"),
        (1e-05, "1e-05"),
        (0.0001, "0.0001"),
        (-0.0, "-0"),
        (0.30000000000000004, "0.30000000000000004"),
        (9223372036854775808.0, "9.223372036854776e+18"),
        (float("inf"), "+Inf"),
        (float("nan"), "NaN"),
        (True, "true"),
        ({"c": {"y": [1, 2], "z": 1}}, "map[c:map[y:[1 2] z:1]]"),
        ([], "[]"),
        ({}, "map[]"),
        (None, "<nil>"),
    ],
)
def test_format_value(value: Any, expected: str) -> None:
    assert format_value(value) == expected


def test_sprint_spacing() -> None:
    assert sprint("a", 1, 2, "b", 3.5, True) == "a1 2b3.5 true"
    assert sprint("a", "b") == "ab"
    assert sprint(None) == "<nil>"
    assert sprintln(1, "a") == "1 a\n"


def test_type_names() -> None:
    assert type_name(None) == "<nil>"
    assert type_name(1.0) == "float64"
    assert type_name("s") == "string"
    assert type_name([]) == "[]interface {}"
    assert type_name({}) == "map[string]interface {}"
    assert type_name(True) == "bool"


@pytest.mark.parametrize(
    ("fmt", "args", "expected"),
    [
        ("%x", (1.0,), "0x1p+00"),
        ("%b", (8.0,), "4503599627370496p-49"),
        ("%x", (3.0,), "0x1.8p+01"),
        ("%X", (255.5,), "0X1.FFP+07"),
        ("%q", ("a\udc80b",), '"a\\x80b"'),
        ("%.2v", (3.14159,), "3.1"),
        ("%v", (1 + 2j,), "(1+2i)"),
        ("%6.2f|%-8.3e|", (3.14159, 1234.5), "  3.14|1.234e+03|"),
        ("%+v", (None,), "<nil>"),
        ("%t", (None,), "%!t(<nil>)"),
    ],
)
def test_sprintf_more(fmt: str, args: tuple[Any, ...], expected: str) -> None:
    assert sprintf(fmt, *args) == expected


def test_structs_and_stringers() -> None:
    from shared.templating.values import object_reference

    ref = object_reference({"kind": "Service", "name": "web"})
    assert format_value(ref) == "{Service  web    }"
    assert sprintf("%+v", ref).startswith("{Kind:Service Namespace: Name:web")
    assert type_name(ref) == "v1.ObjectReference"
