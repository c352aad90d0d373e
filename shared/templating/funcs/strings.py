"""sprig string functions (strings.go, goutils, xstrings)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.templating.budget import guard_result
from shared.templating.funcs._base import (
    FunctionError,
    GoStringSlice,
    gofunc,
    strslice,
    strval,
)
from shared.templating.gofmt import format_value, go_quote

__all__ = ["STRING_FUNCS"]


def _b(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _s(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _go_space(c: str) -> bool:
    return c in "\t\n\v\f\r \x85\xa0" or (ord(c) > 0xFF and c.isspace())


def _upper(s: str) -> str:
    return "".join(u if len(u := c.upper()) == 1 else c for c in s)


def _lower(s: str) -> str:
    return "".join(u if len(u := c.lower()) == 1 else c for c in s)


@gofunc()
def hello() -> str:
    return "Hello!"


@gofunc("string")
def trim(s: str) -> str:
    i, j = 0, len(s)
    while i < j and _go_space(s[i]):
        i += 1
    while j > i and _go_space(s[j - 1]):
        j -= 1
    return s[i:j]


@gofunc("string")
def upper(s: str) -> str:
    return _upper(s)


@gofunc("string")
def lower(s: str) -> str:
    return _lower(s)


def _is_separator(c: str) -> bool:
    if ord(c) <= 0x7F:
        return not (c.isalnum() or c == "_")
    if c.isalpha() or c.isdigit():
        return False
    return _go_space(c)


@gofunc("string")
def title(s: str) -> str:
    out = []
    prev = " "
    for c in s:
        out.append(_upper(c) if _is_separator(prev) else c)
        prev = c
    return "".join(out)


@gofunc("string")
def untitle(s: str) -> str:
    out = []
    gap = True
    for c in s:
        if _go_space(c):
            gap = True
            out.append(c)
        elif gap:
            out.append(_lower(c))
            gap = False
        else:
            out.append(c)
    return "".join(out)


@gofunc("string")
def swapcase(s: str) -> str:
    out = []
    for c in s:
        if c.isupper() or c.istitle():
            out.append(_lower(c))
        elif c.islower():
            out.append(_upper(c))
        else:
            out.append(c)
    return "".join(out)


@gofunc("string")
def initials(s: str) -> str:
    out = []
    gap = True
    for c in s:
        if _go_space(c):
            gap = True
        elif gap:
            out.append(c)
            gap = False
    return "".join(out)


@gofunc("string")
def nospace(s: str) -> str:
    return "".join(c for c in s if not _go_space(c))


def _abbreviate_full(s: str, offset: int, max_width: int) -> str:
    b = _b(s)
    n = len(b)
    if n == 0:
        return ""
    if max_width < 4:
        raise ValueError("minimum abbreviation width is 4")
    if n <= max_width:
        return s
    offset = min(offset, n)
    if n - offset < max_width - 3:
        offset = n - (max_width - 3)
    if offset <= 4:
        return _s(b[: max_width - 3]) + "..."
    if max_width < 7:
        raise ValueError("minimum abbreviation width with offset is 7")
    if offset + max_width - 3 < n:
        return "..." + _abbreviate_full(_s(b[offset:]), 0, max_width - 3)
    return "..." + _s(b[n - (max_width - 3) :])


@gofunc("int", "string")
def abbrev(width: int, s: str) -> str:
    if width < 4:
        return s
    return _abbreviate_full(s, 0, width)


@gofunc("int", "int", "string")
def abbrevboth(left: int, right: int, s: str) -> str:
    if right < 4 or (left > 0 and right < 7):
        return s
    try:
        return _abbreviate_full(s, left, right)
    except ValueError:
        return ""


@gofunc("int", "string")
def trunc(c: int, s: str) -> str:
    b = _b(s)
    if c < 0 and len(b) + c > 0:
        return _s(b[len(b) + c :])
    if c >= 0 and len(b) > c:
        return _s(b[:c])
    return s


@gofunc("int", "int", "string")
def substr(start: int, end: int, s: str) -> str:
    b = _b(s)
    n = len(b)

    def cut(i: int, j: int) -> str:
        if not (0 <= i <= j <= n):
            raise FunctionError(f"runtime error: slice bounds out of range [{i}:{j}]")
        return _s(b[i:j])

    if start < 0:
        return cut(0, end)
    if end < 0 or end > n:
        return cut(start, n)
    return cut(start, end)


@gofunc("int", "string")
def repeat(count: int, s: str) -> str:
    if count < 0:
        raise FunctionError("strings: negative Repeat count")
    if len(s) * count > 10_000_000:
        raise FunctionError("strings: Repeat output length overflow")
    guard_result(len(s) * count, "repeat")
    return s * count


def _trim_cutset(s: str, cutset: str) -> str:
    i, j = 0, len(s)
    while i < j and s[i] in cutset:
        i += 1
    while j > i and s[j - 1] in cutset:
        j -= 1
    return s[i:j]


@gofunc("string", "string")
def trim_all(cutset: str, s: str) -> str:
    return _trim_cutset(s, cutset)


@gofunc("string", "string")
def trim_suffix(suffix: str, s: str) -> str:
    return s[: -len(suffix)] if suffix and s.endswith(suffix) else s


@gofunc("string", "string")
def trim_prefix(prefix: str, s: str) -> str:
    return s[len(prefix) :] if prefix and s.startswith(prefix) else s


@gofunc("string", "string")
def contains(sub: str, s: str) -> bool:
    return sub in s


@gofunc("string", "string")
def has_prefix(p: str, s: str) -> bool:
    return s.startswith(p)


@gofunc("string", "string")
def has_suffix(p: str, s: str) -> bool:
    return s.endswith(p)


@gofunc("...any")
def quote(*args: Any) -> str:
    return " ".join(go_quote(strval(a)) for a in args if a is not None)


@gofunc("...any")
def squote(*args: Any) -> str:
    return " ".join("'" + format_value(a) + "'" for a in args if a is not None)


@gofunc("...any")
def cat(*args: Any) -> str:
    return " ".join(format_value(a) for a in args if a is not None)


def _pad(spaces: int) -> str:
    if spaces < 0:
        raise FunctionError("strings: negative Repeat count")
    if spaces > 1_000_000:
        raise FunctionError("strings: Repeat output length overflow")
    return " " * spaces


@gofunc("int", "string")
def indent(spaces: int, s: str) -> str:
    pad = _pad(spaces)
    guard_result(len(s) + (s.count("\n") + 1) * spaces, "indent")
    return pad + s.replace("\n", "\n" + pad)


@gofunc("int", "string")
def nindent(spaces: int, s: str) -> str:
    pad = _pad(spaces)
    guard_result(len(s) + 1 + (s.count("\n") + 1) * spaces, "nindent")
    return "\n" + pad + s.replace("\n", "\n" + pad)


@gofunc("string", "string", "string")
def replace(old: str, new: str, src: str) -> str:
    if old == "":
        # Go inserts `new` before every rune and at the end
        guard_result(len(src) + (len(src) + 1) * len(new), "replace")
        return new + new.join(src) + new if src else new
    if len(new) > len(old):
        guard_result(len(src) + src.count(old) * (len(new) - len(old)), "replace")
    return src.replace(old, new)


@gofunc("string", "string", "int")
def plural(one: str, many: str, count: int) -> str:
    return one if count == 1 else many


@gofunc("any")
def to_string(v: Any) -> str:
    return strval(v)


@gofunc("any")
def to_strings(v: Any) -> list[Any]:
    return GoStringSlice(strslice(v))


def _go_split(s: str, sep: str, n: int = -1) -> list[str]:
    if n == 0:
        return []
    if sep == "":
        chars = list(s)
        if 0 < n < len(chars):
            return [*chars[: n - 1], "".join(chars[n - 1 :])]
        return chars
    if n < 0:
        return s.split(sep)
    return s.split(sep, n - 1)


@gofunc("string", "string")
def split(sep: str, orig: str) -> dict[str, Any]:
    return {f"_{i}": v for i, v in enumerate(_go_split(orig, sep))}


@gofunc("string", "string")
def split_list(sep: str, orig: str) -> list[Any]:
    return GoStringSlice(_go_split(orig, sep))


@gofunc("string", "int", "string")
def splitn(sep: str, n: int, orig: str) -> dict[str, Any]:
    return {f"_{i}": v for i, v in enumerate(_go_split(orig, sep, n))}


@gofunc("string", "any")
def join(sep: str, v: Any) -> str:
    if isinstance(v, list | tuple):  # the separators alone, before any element is printed
        guard_result(len(sep) * max(len(v) - 1, 0), "join")
    parts = strslice(v)
    guard_result(sum(map(len, parts)) + len(sep) * max(len(parts) - 1, 0), "join")
    return sep.join(parts)


@gofunc("any")
def sort_alpha(v: Any) -> list[Any]:
    if isinstance(v, list | tuple):
        return GoStringSlice(sorted(strslice(v), key=_b))
    return GoStringSlice([strval(v)])


# ---------------------------------------------------------------------------------------
STRING_FUNCS: dict[str, Callable[..., Any]] = {
    "hello": hello,
    "abbrev": abbrev,
    "abbrevboth": abbrevboth,
    "trunc": trunc,
    "trim": trim,
    "upper": upper,
    "lower": lower,
    "title": title,
    "untitle": untitle,
    "substr": substr,
    "repeat": repeat,
    "trimall": trim_all,
    "trimAll": trim_all,
    "trimSuffix": trim_suffix,
    "trimPrefix": trim_prefix,
    "nospace": nospace,
    "initials": initials,
    "swapcase": swapcase,
    "contains": contains,
    "hasPrefix": has_prefix,
    "hasSuffix": has_suffix,
    "quote": quote,
    "squote": squote,
    "cat": cat,
    "indent": indent,
    "nindent": nindent,
    "replace": replace,
    "plural": plural,
    "toString": to_string,
    "split": split,
    "splitList": split_list,
    "splitn": splitn,
    "toStrings": to_strings,
    "join": join,
    "sortAlpha": sort_alpha,
}
