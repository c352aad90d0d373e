"""sprig regex functions (RE2 syntax, Go's match iteration) and path/URL functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.templating.errors import FunctionError

F = dict[str, Callable[..., Any]]


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("regexMatch", ("^[a-z]+\\d$", "abc1"), True),
        ("regexMatch", ("^x", "abc"), False),
        ("regexFind", ("[0-9]+", "ab123cd45"), "123"),
        ("regexFind", ("z", "abc"), ""),
        ("regexFindAll", ("a+", "baaacaa", -1), ["aaa", "aa"]),
        ("regexFindAll", ("a", "aaaa", 2), ["a", "a"]),
        ("regexFindAll", ("a*", "baaac", -1), ["", "aaa", ""]),
        ("regexReplaceAll", ("a(x*)b", "-ab-axxb-", "${1}W"), "-W-xxW-"),
        ("regexReplaceAll", ("(?P<n>\\d+)", "a1b22", "<$n>"), "a<1>b<22>"),
        ("regexReplaceAll", ("a", "aa", "$$"), "$$"),
        ("regexReplaceAllLiteral", ("a(x*)b", "-ab-axxb-", "${1}"), "-${1}-${1}-"),
        ("regexSplit", ("[,;]", "a,b;c", -1), ["a", "b", "c"]),
        ("regexSplit", ("/", "foo/bar/baz", 2), ["foo", "bar/baz"]),
        ("regexSplit", ("/", "foo", 0), []),
        ("regexSplit", ("x*", "", -1), [""]),
        ("regexQuoteMeta", ("1.2.3",), "1\\.2\\.3"),
    ],
)
def test_regex(fn: F, name: str, args: tuple[Any, ...], expected: Any) -> None:
    assert fn[name](*args) == expected


def test_bad_pattern(fn: F) -> None:
    with pytest.raises(FunctionError, match="error parsing regexp: missing closing \\)"):
        fn["mustRegexMatch"]("(", "x")
    with pytest.raises(FunctionError, match="error parsing regexp"):
        fn["regexFind"]("[", "x")


@pytest.mark.parametrize(
    ("name", "arg", "expected"),
    [
        ("base", "/a/b.txt", "b.txt"),
        ("base", "", "."),
        ("base", "/", "/"),
        ("dir", "/a/b.txt", "/a"),
        ("dir", "foo/bar/baz", "foo/bar"),
        ("dir", "x", "."),
        ("ext", "b.tar.gz", ".gz"),
        ("ext", "/a.b/c", ""),
        ("clean", "/foo/../foo/../bar", "/bar"),
        ("clean", "a//b/./c/..", "a/b"),
        ("clean", "", "."),
        ("isAbs", "/foo", True),
        ("osIsAbs", "foo", False),
        ("osBase", "foo/bar", "bar"),
    ],
)
def test_paths(fn: F, name: str, arg: str, expected: Any) -> None:
    assert fn[name](arg) == expected


def test_url_parse_and_join(fn: F) -> None:
    u = fn["urlParse"]("proto://auth@host:80/path?query#fragment")
    assert u == {
        "scheme": "proto",
        "host": "host:80",
        "hostname": "host",
        "path": "/path",
        "query": "query",
        "opaque": "",
        "fragment": "fragment",
        "userinfo": "auth",
    }
    assert fn["urlJoin"](u) == "proto://auth@host:80/path?query#fragment"
    assert fn["urlJoin"]({"scheme": "http", "host": "h", "path": "/x"}) == "http://h/x"
    with pytest.raises(FunctionError):
        fn["urlJoin"]({"host": 5})
