"""sprig regular-expression functions with Go's RE2 syntax (google-re2)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import re2  # type: ignore[import-untyped]

from shared.templating.budget import current, guard_result
from shared.templating.funcs._base import FunctionError, GoStringSlice, gofunc

__all__ = ["REGEX_FUNCS"]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_GO_MESSAGES = {
    "missing )": "missing closing )",
    "missing ]": "missing closing ]",
    "unexpected )": "unexpected )",
    "bad repetition operator": "invalid nested repetition operator",
    "no argument for repetition operator": "missing argument to repetition operator",
}


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> Any:
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as e:
        raw = e.args[0] if e.args else b""
        msg = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        desc, _, arg = msg.partition(": ")
        desc = _GO_MESSAGES.get(desc, desc)
        raise FunctionError(f"error parsing regexp: {desc}: `{arg or pattern}`") from None


def _find_all(rx: Any, s: str, n: int) -> list[Any]:
    """Go's FindAll: successive matches; an empty match next to the previous one is skipped."""
    out: list[Any] = []
    if n == 0:
        return out
    for m in _iter_all(rx, s):
        out.append(m)
        if 0 < n <= len(out):
            break
    return out


def _iter_all(rx: Any, s: str) -> Any:
    """The matches of :func:`_find_all`, one at a time."""
    pos = 0
    prev_end = -1
    while pos <= len(s):
        m = rx.search(s, pos)
        if m is None:
            break
        a, b = m.span()
        if a == b and a == prev_end:
            pos = a + 1
            continue
        yield m
        prev_end = b
        pos = b if b > a else b + 1


@gofunc("string", "string")
def regex_match(regex: str, s: str) -> bool:
    """sprig's ``regexMatch``: Go's ``regexp.MatchString`` with its error dropped, so a
    pattern that does not compile matches nothing (``mustRegexMatch`` returns the error)."""
    try:
        return _compile(regex).search(s) is not None
    except FunctionError:
        return False


@gofunc("string", "string")
def must_regex_match(regex: str, s: str) -> bool:
    return _compile(regex).search(s) is not None


@gofunc("string", "string", "int")
def regex_find_all(regex: str, s: str, n: int) -> list[Any]:
    return GoStringSlice(m.group(0) for m in _find_all(_compile(regex), s, int(n)))


@gofunc("string", "string")
def regex_find(regex: str, s: str) -> str:
    m = _compile(regex).search(s)
    return "" if m is None else str(m.group(0))


_EXPAND = re.compile(r"\$(\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def _expand(template: str, m: Any, names: dict[str, int]) -> str:
    def sub(x: re.Match[str]) -> str:
        if x.group(1) == "$":
            return "$"
        name = x.group(2) or x.group(3)
        if name.isdigit():
            idx = int(name)
        elif name in names:
            idx = names[name]
        else:
            return ""
        try:
            g = m.group(idx)
        except (IndexError, re2.error):
            return ""
        return "" if g is None else str(g)

    return _EXPAND.sub(sub, template)


def _replace(regex: str, s: str, repl: str, literal: bool) -> str:
    """Go's ReplaceAll; the result is measured as it is built (an empty pattern puts
    ``repl`` between every two characters: a result much larger than ``s``)."""
    rx = _compile(regex)
    names = dict(rx.groupindex) if hasattr(rx, "groupindex") else {}
    budget = current()
    bound = budget.max_value if budget is not None else 1 << 20
    out: list[str] = []
    size = 0
    last = 0
    for m in _iter_all(rx, s):
        a, b = m.span()
        piece = repl if literal else _expand(repl, m, names)
        size += (a - last) + len(piece)
        if size > bound:
            guard_result(size + len(s) - b, "regexReplaceAll")
        out.append(s[last:a])
        out.append(piece)
        last = b
    out.append(s[last:])
    return "".join(out)


@gofunc("string", "string", "string")
def regex_replace_all(regex: str, s: str, repl: str) -> str:
    return _replace(regex, s, repl, False)


@gofunc("string", "string", "string")
def regex_replace_all_literal(regex: str, s: str, repl: str) -> str:
    return _replace(regex, s, repl, True)


@gofunc("string", "string", "int")
def regex_split(regex: str, s: str, n: int) -> list[Any]:
    n = int(n)
    if n == 0:
        return GoStringSlice()
    rx = _compile(regex)
    if regex and s == "":
        return GoStringSlice([""])
    parts: list[Any] = GoStringSlice()
    beg = end = 0
    for m in _find_all(rx, s, n):
        if n > 0 and len(parts) == n - 1:
            break
        end = m.start()
        if m.end() != 0:
            parts.append(s[beg:end])
        beg = m.end()
    if end != len(s):
        parts.append(s[beg:])
    return parts


_META = set("\\.+*?()|[]{}^$")


@gofunc("string")
def regex_quote_meta(s: str) -> str:
    return "".join("\\" + c if c in _META else c for c in s)


REGEX_FUNCS: dict[str, Callable[..., Any]] = {
    "regexMatch": regex_match,
    "mustRegexMatch": must_regex_match,
    "regexFindAll": regex_find_all,
    "mustRegexFindAll": regex_find_all,
    "regexFind": regex_find,
    "mustRegexFind": regex_find,
    "regexReplaceAll": regex_replace_all,
    "mustRegexReplaceAll": regex_replace_all,
    "regexReplaceAllLiteral": regex_replace_all_literal,
    "mustRegexReplaceAllLiteral": regex_replace_all_literal,
    "regexSplit": regex_split,
    "mustRegexSplit": regex_split,
    "regexQuoteMeta": regex_quote_meta,
}
