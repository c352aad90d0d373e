"""sprig string functions: documented behaviour and argument errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.templating.errors import FunctionError
from shared.templating.values import GoInt

F = dict[str, Callable[..., Any]]


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("hello", (), "Hello!"),
        ("trim", ("  padded \n",), "padded"),
        ("upper", ("Hello",), "HELLO"),
        ("lower", ("Hello",), "hello"),
        ("title", ("hello world-x_y",), "Hello World-X_y"),
        ("untitle", ("Hello World",), "hello world"),
        ("swapcase", ("Hello",), "hELLO"),
        ("initials", ("First Try",), "FT"),
        ("nospace", ("h e l l o ",), "hello"),
        ("abbrev", (5, "hello world"), "he..."),
        ("abbrev", (3, "hello world"), "hello world"),
        ("abbrevboth", (5, 10, "1234 5678 9123"), "...5678..."),
        ("trunc", (3, "hello"), "hel"),
        ("trunc", (-2, "hello"), "lo"),
        ("trunc", (-999, "hello"), "hello"),
        ("trunc", (0, "hello"), ""),
        ("substr", (1, 3, "hello"), "el"),
        ("substr", (0, 10, "foo"), "foo"),
        ("substr", (-1, 2, "hello"), "he"),
        ("repeat", (3, "ab"), "ababab"),
        ("trimAll", ("$", "$$5.00$"), "5.00"),
        ("trimall", ("$", "$5$"), "5"),
        ("trimPrefix", ("foo-", "foo-bar"), "bar"),
        ("trimSuffix", ("-bar", "foo-bar"), "foo"),
        ("contains", ("ell", "hello"), True),
        ("hasPrefix", ("he", "hello"), True),
        ("hasSuffix", ("lo", "hello"), True),
        ("quote", ("a", 1, None, "b"), '"a" "1" "b"'),
        ("quote", ('"a"',), '"\\"a\\""'),
        ("squote", ("a", 2), "'a' '2'"),
        ("cat", ("a", None, 1, "c"), "a 1 c"),
        ("indent", (2, "a\nb"), "  a\n  b"),
        ("nindent", (2, "a"), "\n  a"),
        ("replace", (" ", "-", "a b c"), "a-b-c"),
        ("plural", ("one", "many", 1), "one"),
        ("plural", ("one", "many", 2), "many"),
        ("toString", (None,), "<nil>"),
        ("toString", ([3, 1],), "[3 1]"),
        ("toString", (3.7,), "3.7"),
        ("toStrings", ([1, None, "a"],), ["1", "a"]),
        ("split", ("$", "foo$bar"), {"_0": "foo", "_1": "bar"}),
        ("splitList", (",", "a,b,,c"), ["a", "b", "", "c"]),
        ("splitn", (",", 2, "a,b,,c"), {"_0": "a", "_1": "b,,c"}),
        ("join", (",", [1, None, "x"]), "1,x"),
        ("join", ("-", "solo"), "solo"),
        ("sortAlpha", (["c", "a", "B"],), ["B", "a", "c"]),
        ("sortAlpha", ([2, 1],), ["1", "2"]),
        ("snakecase", ("FirstName",), "first_name"),
        ("snakecase", ("HTTPServer",), "http_server"),
        ("snakecase", ("NoHTTPS",), "no_https"),
        ("snakecase", ("GO-PATH",), "go_path"),
        ("kebabcase", ("FirstName",), "first-name"),
        ("camelcase", ("http_server",), "HttpServer"),
        ("camelcase", ("_complex__case_",), "_Complex_Case_"),
        ("camelcase", ("some words",), "SomeWords"),
        ("wrap", (5, "Hello World"), "Hello\nWorld"),
        ("wrapWith", (5, "\t", "Hello World"), "Hello\tWorld"),
    ],
)
def test_string_functions(fn: F, name: str, args: tuple[Any, ...], expected: Any) -> None:
    assert fn[name](*args) == expected


def test_byte_semantics(fn: F) -> None:
    # Go strings are bytes: trunc cuts bytes, not characters
    assert fn["trunc"](2, "日本") == "日本".encode()[:2].decode("utf-8", "surrogateescape")


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("contains", ("4", 42), "wrong type for value; expected string; got int64"),
        ("upper", (None,), "invalid value; expected string"),
        ("trunc", ("3", "x"), "expected int; got string"),
        ("repeat", (-1, "x"), "negative Repeat count"),
        ("substr", (4, 2, "hello"), "slice bounds out of range"),
        ("plural", ("a", "b"), "wrong number of args"),
    ],
)
def test_string_errors(fn: F, name: str, args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(FunctionError, match=message):
        fn[name](*args)


@pytest.mark.parametrize("name", ["randAlphaNum", "randAlpha", "randAscii", "randNumeric"])
def test_random_strings_have_the_right_shape(fn: F, name: str) -> None:
    s = fn[name](GoInt(12))
    assert isinstance(s, str) and len(s) == 12
    if name == "randNumeric":
        assert s.isdigit()
    if name == "randAlpha":
        assert s.isalpha() and s.isascii()


def test_shuffle_keeps_the_characters(fn: F) -> None:
    assert sorted(fn["shuffle"]("abcdef")) == list("abcdef")


SNAKE = {
    "HTTPServer": "http_server",
    "_camelCase": "_camel_case",
    "Wi_thF": "wi_th_f",
    "_AnotherTES_TCaseP": "_another_tes_t_case_p",
    "HELLO____WORLD": "hello____world",
    "http2xx": "http_2xx",
    "HTTP2XX": "http_2xx",
    "HTTP20xOK": "http_20x_ok",
    "HTTP20XStatus": "http_20x_status",
    "  sentence case  ": "__sentence_case__",
    " Mixed-hyphen case _and SENTENCE_case": "_mixed_hyphen_case__and_sentence_case",
    "": "",
}


@pytest.mark.parametrize(("text", "expected"), SNAKE.items())
def test_snake_and_kebab_case(fn: F, text: str, expected: str) -> None:
    assert fn["snakecase"](text) == expected
    assert fn["kebabcase"](text) == expected.replace("_", "-")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("GOLANG_IS_GREAT", "GolangIsGreat"), ("all", "All"), ("a", "A"), ("", "")],
)
def test_camel_case(fn: F, text: str, expected: str) -> None:
    assert fn["camelcase"](text) == expected


def test_indent_negative_is_an_error(fn: F) -> None:
    with pytest.raises(FunctionError, match="negative Repeat count"):
        fn["indent"](-1, "x")
