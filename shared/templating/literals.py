"""Go literals in templates: quoted strings, raw strings, characters and numbers.

``go_unquote`` is strconv.Unquote; ``parse_number`` is parse.newNumber (which of int,
uint, float and complex a number literal can be).
"""

from __future__ import annotations

import math
import re

from shared.templating import lexer as L
from shared.templating import nodes as N
from shared.templating.gofmt import go_quote

__all__ = ["LiteralError", "go_unquote", "parse_number"]


class LiteralError(Exception):
    """A malformed literal (the parser reports it with the template position)."""


# --------------------------------------------------------------------------------------
# Go literal decoding

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
}


def _unquote_char(s: str, i: int, quote: str) -> tuple[str, int]:
    """Go's strconv.UnquoteChar on s[i:]: one decoded character and the next index."""
    ch = s[i]
    if ch == quote and quote in "'\"":
        raise ValueError("invalid syntax")
    if ch != "\\":
        return ch, i + 1
    if i + 1 >= len(s):
        raise ValueError("invalid syntax")
    c = s[i + 1]
    if c in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[c], i + 2
    if c in "'\"":
        if c != quote:
            raise ValueError("invalid syntax")
        return c, i + 2
    if c in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[c]
        digits = s[i + 2 : i + 2 + n]
        if len(digits) != n or not all(d in "0123456789abcdefABCDEF" for d in digits):
            raise ValueError("invalid syntax")
        v = int(digits, 16)
        if c == "x":
            # a byte: keep non-UTF-8 bytes as surrogate escapes
            return (chr(v) if v < 0x80 else chr(0xDC00 + v)), i + 2 + n
        if v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
            raise ValueError("invalid syntax")
        return chr(v), i + 2 + n
    if c in "01234567":
        digits = s[i + 1 : i + 4]
        if len(digits) != 3 or not all(d in "01234567" for d in digits):
            raise ValueError("invalid syntax")
        v = int(digits, 8)
        if v > 255:
            raise ValueError("invalid syntax")
        return (chr(v) if v < 0x80 else chr(0xDC00 + v)), i + 4
    raise ValueError("invalid syntax")


def _fix_surrogates(s: str) -> str:
    """Join byte escapes (surrogates) that form valid UTF-8 into characters."""
    if not any(0xDC80 <= ord(c) <= 0xDCFF for c in s):
        return s
    raw = s.encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "surrogateescape")


def go_unquote(quoted: str) -> str:
    """Go's strconv.Unquote for "..." and `...` literals."""
    if len(quoted) < 2:
        raise ValueError("invalid syntax")
    q = quoted[0]
    if q != quoted[-1]:
        raise ValueError("invalid syntax")
    body = quoted[1:-1]
    if q == "`":
        if "`" in body:
            raise ValueError("invalid syntax")
        return body.replace("\r", "")
    if q != '"':
        raise ValueError("invalid syntax")
    if "\\" not in body and '"' not in body and "\n" not in body:
        return body
    out = []
    i = 0
    while i < len(body):
        if body[i] == "\n":
            raise ValueError("invalid syntax")
        ch, i = _unquote_char(body, i, '"')
        out.append(ch)
    return _fix_surrogates("".join(out))


_OCTAL_OLD = re.compile(r"^[+-]?0[0-7_]+$")
_INT_RE = re.compile(
    r"^[+-]?(0[xX](_?[0-9a-fA-F])+|0[oO](_?[0-7])+|0[bB](_?[01])+|0(_?[0-7])*|[1-9](_?[0-9])*)$"
)


def _parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, big): None when not an integer literal."""
    if not _INT_RE.match(text):
        return None
    t = text
    sign = 1
    if t[0] in "+-":
        sign = -1 if t[0] == "-" else 1
        t = t[1:]
    t = t.replace("_", "")
    if len(t) > 1 and t[0] == "0" and t[1] in "01234567":
        return sign * int(t, 8)
    return sign * int(t, 0)


_FLOAT_DEC = re.compile(
    r"^[+-]?(([0-9](_?[0-9])*)?\.?([0-9](_?[0-9])*)?)([eE][+-]?[0-9](_?[0-9])*)?$"
)
_FLOAT_HEX = re.compile(
    r"^[+-]?0[xX](_?[0-9a-fA-F])*\.?([0-9a-fA-F](_?[0-9a-fA-F])*)?[pP][+-]?[0-9](_?[0-9])*$"
)


def _parse_float(text: str) -> float | None:
    if _FLOAT_HEX.match(text):
        t = text.replace("_", "")
        try:
            return float.fromhex(t)
        except (ValueError, OverflowError):
            return None
    m = _FLOAT_DEC.match(text)
    if not m or not any(c.isdigit() for c in text.split("e")[0].split("E")[0]):
        return None
    try:
        v = float(text.replace("_", ""))
    except ValueError:
        return None
    if math.isinf(v):
        return None  # Go: value out of range
    return v


def parse_number(text: str, typ: str) -> N._Num:
    """Go's parse.newNumber: which representations the literal has."""
    n = N._Num()
    if typ == L.CHAR_CONSTANT:
        try:
            ch, nxt = _unquote_char(text, 1, "'")
        except (ValueError, IndexError):
            raise LiteralError(f"malformed character constant: {text}") from None
        if text[nxt:] != "'":
            raise LiteralError(f"malformed character constant: {text}")
        code = ord(ch) if not 0xDC80 <= ord(ch) <= 0xDCFF else ord(ch) - 0xDC00
        n.is_int = n.is_uint = n.is_float = True
        n.int64 = n.uint64 = code
        n.float64 = float(code)
        n.extra["rune"] = True
        return n
    if typ == L.COMPLEX:
        m = re.match(r"^([+-]?[^+-]+(?:[eEpP][+-][^+-]*)?)([+-].*)i$", text)
        re_part = _parse_float(m.group(1)) if m else None
        if re_part is None and m:
            iv = _parse_int(m.group(1))
            re_part = float(iv) if iv is not None else None
        im_part = _parse_float(m.group(2)) if m else None
        if im_part is None and m:
            iv = _parse_int(m.group(2))
            im_part = float(iv) if iv is not None else None
        if re_part is None or im_part is None:
            raise LiteralError(f"illegal number syntax: {go_quote(text)}")
        n.is_complex = True
        n.complex128 = complex(re_part, im_part)
        _simplify_complex(n)
        return n
    if text.endswith("i"):
        f = _parse_float(text[:-1])
        if f is None:
            iv = _parse_int(text[:-1])
            if iv is not None and not _OCTAL_OLD.match(text[:-1]):
                f = float(iv)
            elif text[:-1].lstrip("+-").replace("_", "").isdigit():
                f = float(text[:-1].replace("_", ""))
        if f is not None:
            n.is_complex = True
            n.complex128 = complex(0, f)
            _simplify_complex(n)
            return n
    iv = _parse_int(text)
    if iv is not None:
        if 0 <= iv < 1 << 64 and text[0] not in "+-":
            n.is_uint = True
            n.uint64 = iv
        if -(1 << 63) <= iv < 1 << 63:
            n.is_int = True
            n.int64 = iv
            if iv == 0:
                n.is_uint = True
                n.uint64 = 0
    if n.is_int:
        n.is_float = True
        n.float64 = float(n.int64)
    elif n.is_uint:
        n.is_float = True
        n.float64 = float(n.uint64)
    else:
        f = _parse_float(text)
        if f is not None:
            if not any(c in text for c in ".eEpP"):
                raise LiteralError(f"integer overflow: {go_quote(text)}")
            n.is_float = True
            n.float64 = f
            if f == math.floor(f) and -(2**63) <= f < 2**63:
                n.is_int = True
                n.int64 = int(f)
            if f == math.floor(f) and 0 <= f < 2**64:
                n.is_uint = True
                n.uint64 = int(f)
    if not (n.is_int or n.is_uint or n.is_float):
        raise LiteralError(f"illegal number syntax: {go_quote(text)}")
    return n


def _simplify_complex(n: N._Num) -> None:
    c = n.complex128
    if c.imag == 0:
        n.is_float = True
        n.float64 = c.real
        if n.float64 == math.floor(n.float64) and -(2**63) <= n.float64 < 2**63:
            n.is_int = True
            n.int64 = int(n.float64)
        if n.float64 == math.floor(n.float64) and 0 <= n.float64 < 2**64:
            n.is_uint = True
            n.uint64 = int(n.float64)
