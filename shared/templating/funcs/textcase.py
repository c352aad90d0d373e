"""sprig case conversion (huandu/xstrings), word wrapping and random strings (goutils)."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from typing import Any

from shared.templating.budget import guard_result
from shared.templating.funcs._base import FunctionError, gofunc
from shared.templating.funcs.strings import _go_space, _lower, _upper

__all__ = ["TEXTCASE_FUNCS"]

_SYSTEM_RANDOM = secrets.SystemRandom()  # the OS's random source, as goutils.CryptoRandom*


# wrapping (goutils.WrapCustom)


def _wrap_custom(s: str, width: int, newline: str, wrap_long: bool) -> str:
    if s == "":
        return ""
    if newline == "":
        newline = "\n"
    width = max(width, 1)
    n = len(s)
    offset = 0
    out: list[str] = []
    while n - offset > width:
        if s[offset] == " ":
            offset += 1
            continue
        end = width + offset + 1
        space_at = s.rfind(" ", offset, end)
        if space_at >= offset:
            out.append(s[offset:space_at])
            out.append(newline)
            offset = space_at + 1
        elif wrap_long:
            out.append(s[offset : offset + width])
            out.append(newline)
            offset += width
        else:
            idx = s.find(" ", offset + width)
            if idx == -1:
                out.append(s[offset:])
                offset = n
            else:
                out.append(s[offset:idx])
                out.append(newline)
                offset = idx + 1
    out.append(s[offset:])
    return "".join(out)


@gofunc("int", "string")
def wrap(width: int, s: str) -> str:
    return _wrap_custom(s, width, "\n", False)


@gofunc("int", "string", "string")
def wrap_with(width: int, sep: str, s: str) -> str:
    guard_result(len(s) + (len(s) // max(width, 1) + 1) * len(sep), "wrapWith")
    return _wrap_custom(s, width, sep, True)


# ---------------------------------------------------------------------------------------
# case conversion (huandu/xstrings)


def _is_connector(c: str) -> bool:
    return c in "-_" or _go_space(c)


@gofunc("string")
def camelcase(s: str) -> str:
    if not s:
        return ""
    out: list[str] = []
    i = 0
    r0 = ""
    while i < len(s):
        r0 = s[i]
        i += 1
        if not _is_connector(r0):
            r0 = _upper(r0)
            break
        out.append(r0)
    else:
        return "".join(out)
    while i < len(s):
        r1 = r0
        r0 = s[i]
        i += 1
        if _is_connector(r0) and _is_connector(r1):
            out.append(r1)
            continue
        if _is_connector(r1):
            r0 = _upper(r0)
        else:
            r0 = _lower(r0)
            out.append(r1)
    out.append(r0)
    return "".join(out)


def _kind(c: str) -> str:
    if c.isdigit():
        return "d"
    if c.isupper():
        return "u"
    if c.isalpha():
        return "l"
    return "p"


def _tokens(run: str) -> list[str]:
    """Words of a run without connectors: ``HTTPServer`` -> HTTP, Server; ``HTTP20xOK`` ->
    HTTP, 20x, OK (a number takes the letters that follow it)."""
    out: list[str] = []
    i, n = 0, len(run)

    def span(j: int, kind: str) -> int:
        while j < n and _kind(run[j]) == kind:
            j += 1
        return j

    while i < n:
        k = _kind(run[i])
        if k == "p":
            out.append(run[i])
            i += 1
            continue
        if k == "d":
            j = span(i, "d")
            if j < n and _kind(run[j]) == "l":
                j = span(j, "l")
            elif j < n and _kind(run[j]) == "u":
                e = span(j, "u")
                if e < n and _kind(run[e]) == "l":
                    e -= 1
                j = e
        elif k == "u":
            j = span(i, "u")
            if j < n and _kind(run[j]) == "l":
                j = span(j, "l") if j - i == 1 else j - 1
        else:
            j = span(i, "l")
        out.append(run[i:j])
        i = j
    return out


def _to_lower_case(s: str, connector: str) -> str:
    out: list[str] = []
    run = ""

    def flush(run: str) -> None:
        prev = ""
        for tok in _tokens(run):
            is_word = _kind(tok[0]) != "p"
            if prev and is_word and (_kind(prev[0]) != "p" or _kind(tok[0]) in "ud"):
                out.append(connector)
            out.append(_lower(tok))
            prev = tok

    for c in s:
        if _is_connector(c):
            flush(run)
            run = ""
            out.append(connector)
        else:
            run += c
    flush(run)
    return "".join(out)


@gofunc("string")
def snakecase(s: str) -> str:
    return _to_lower_case(s, "_")


@gofunc("string")
def kebabcase(s: str) -> str:
    return _to_lower_case(s, "-")


@gofunc("string")
def shuffle(s: str) -> str:
    chars = list(s)
    for i in range(len(chars) - 1, 0, -1):
        j = secrets.randbelow(i + 1)
        chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


# ---------------------------------------------------------------------------------------
# random strings (crypto random, as goutils.CryptoRandom*)


def _random(alphabet: str) -> Callable[..., str]:
    @gofunc("int")
    def gen(count: int) -> str:
        if count < 0:
            raise FunctionError(f"Requested random string length {count} is less than 0.")
        if count > 1_000_000:
            raise FunctionError("requested random string length is too large")
        return "".join(_SYSTEM_RANDOM.choices(alphabet, k=count))

    return gen


_ASCII = "".join(chr(c) for c in range(32, 127))


TEXTCASE_FUNCS: dict[str, Callable[..., Any]] = {
    "randAlphaNum": _random(string.ascii_letters + string.digits),
    "randAlpha": _random(string.ascii_letters),
    "randAscii": _random(_ASCII),
    "randNumeric": _random(string.digits),
    "shuffle": shuffle,
    "snakecase": snakecase,
    "camelcase": camelcase,
    "kebabcase": kebabcase,
    "wrap": wrap,
    "wrapWith": wrap_with,
}
