"""YAML as Go writes and reads it: sigs.k8s.io/yaml (goyaml.v2, 2-space) and yaml.v3 (4-space).

Block structure is emitted here; scalar styles follow libyaml's rules (which both Go
libraries port), using PyYAML's scalar analysis, itself a port of the same code.
"""

from __future__ import annotations

import io
import math
import re
from typing import Any

import yaml
import yaml.emitter

from shared.templating.gofmt import format_float

__all__ = ["YAMLError", "dump_v2", "dump_v3", "resolve_plain"]

_BEST_WIDTH = 80
_EMITTER = yaml.emitter.Emitter(io.StringIO(), allow_unicode=True)


class YAMLError(Exception):
    """A YAML document that does not decode."""


# ---------------------------------------------------------------------------------------
# resolution of plain scalars (what a string would read back as)

_V2_BOOLS = {
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE",
    "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
}  # fmt: skip
_V3_BOOLS = {"true", "True", "TRUE", "false", "False", "FALSE"}
_NULLS = {"", "~", "null", "Null", "NULL"}
_FLOAT_RE = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_SPECIAL_FLOATS = {
    ".inf": math.inf, ".Inf": math.inf, ".INF": math.inf,
    "+.inf": math.inf, "+.Inf": math.inf, "+.INF": math.inf,
    "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
    ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
}  # fmt: skip
_BASE60_RE = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_TS_RE = re.compile(
    r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]*)?"
    r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::?[0-9]{2})?))?)?$"
)


def _go_parse_int(s: str) -> int | None:
    t = s.replace("_", "")
    neg = t.startswith("-")
    if t[:1] in "+-":
        t = t[1:]
    if not t:
        return None
    low = t.lower()
    try:
        if low.startswith("0x"):
            v = int(t[2:], 16)
        elif low.startswith("0o"):
            v = int(t[2:], 8)
        elif low.startswith("0b"):
            v = int(t[2:], 2)
        elif len(t) > 1 and t.startswith("0"):
            v = int(t[1:], 8)
        elif t.isdigit() and t.isascii():
            v = int(t)
        else:
            return None
    except ValueError:
        return None
    return -v if neg else v


def resolve_plain(s: str, version: int = 2) -> Any:
    """The value a plain scalar ``s`` decodes to (a str when it stays a string)."""
    if s in _NULLS:
        return None
    if s in (_V2_BOOLS if version == 2 else _V3_BOOLS):
        return s.lower() in ("y", "yes", "true", "on")
    if s in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[s]
    c = s[:1]
    if c.isdigit() or c in "+-.":
        iv = _go_parse_int(s)
        if iv is not None and -(1 << 63) <= iv < (1 << 64):
            return iv
        plain = s.replace("_", "")
        if _FLOAT_RE.match(plain):
            return float(plain)
        if c.isdigit() and _TS_RE.match(s):
            return _Timestamp(s)
    if s == "<<":
        return _Merge()
    return s


class _Timestamp(str):
    """A plain scalar that resolves to a timestamp (read back as a string by sigs.k8s.io)."""


class _Merge:
    pass


def _needs_quotes(s: str, version: int) -> bool:
    r = resolve_plain(s, version)
    if isinstance(r, str) and not isinstance(r, _Timestamp):
        if _BASE60_RE.match(s):
            return True
        return version == 3 and s in _V2_BOOLS
    return True


# ---------------------------------------------------------------------------------------
# scalar writing (libyaml write_plain / single / double / literal)


class _Out:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.column = 0

    def write(self, s: str) -> None:
        self.parts.append(s)
        nl = s.rfind("\n")
        self.column = len(s) - nl - 1 if nl >= 0 else self.column + len(s)

    def indent(self, n: int) -> None:
        self.write("\n" + " " * n)

    def text(self) -> str:
        return "".join(self.parts)


def _printable(ch: str) -> bool:
    o = ord(ch)
    return (
        o == 0x0A
        or 0x20 <= o <= 0x7E
        or o == 0x85
        or 0xA0 <= o <= 0xD7FF
        or (0xE000 <= o <= 0xFFFD and o != 0xFEFF)
        or 0x10000 <= o <= 0x10FFFF
    )


_ESCAPES = {
    "\0": "0", "\a": "a", "\b": "b", "\t": "t", "\n": "n", "\v": "v", "\f": "f",
    "\r": "r", "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N", "\xa0": "_",
    "\u2028": "L", "\u2029": "P",
}  # fmt: skip


def _write_double(out: _Out, s: str, indent: int, breaks: bool) -> None:
    out.write('"')
    spaces = False
    n = len(s)
    for i, ch in enumerate(s):
        if not _printable(ch) or ch == "\ufeff" or ch in "\n\r\x85\u2028\u2029" or ch in '"\\':
            o = ord(ch)
            if ch in _ESCAPES:
                out.write("\\" + _ESCAPES[ch])
            elif o <= 0xFF:
                out.write(f"\\x{o:02X}")
            elif o <= 0xFFFF:
                out.write(f"\\u{o:04X}")
            else:
                out.write(f"\\U{o:08X}")
            spaces = False
        elif ch == " ":
            if breaks and not spaces and out.column > _BEST_WIDTH and 0 < i < n - 1:
                out.indent(indent)
                if i + 1 < n and s[i + 1] == " ":
                    out.write("\\")
            else:
                out.write(ch)
            spaces = True
        else:
            out.write(ch)
            spaces = False
    out.write('"')


def _write_single(out: _Out, s: str, indent: int, breaks: bool) -> None:
    out.write("'")
    spaces = False
    n = len(s)
    for i, ch in enumerate(s):
        if ch == " ":
            if (
                breaks
                and not spaces
                and out.column > _BEST_WIDTH
                and 0 < i < n - 1
                and s[i + 1] != " "
            ):
                out.indent(indent)
            else:
                out.write(ch)
            spaces = True
        else:
            out.write("''" if ch == "'" else ch)
            spaces = False
    out.write("'")


def _write_plain(out: _Out, s: str, indent: int, breaks: bool) -> None:
    spaces = False
    n = len(s)
    for i, ch in enumerate(s):
        if ch == " ":
            if (
                breaks
                and not spaces
                and out.column > _BEST_WIDTH
                and (i + 1 >= n or s[i + 1] != " ")
            ):
                out.indent(indent)
            else:
                out.write(ch)
            spaces = True
        else:
            out.write(ch)
            spaces = False


def _write_literal(out: _Out, s: str, indent: int, best_indent: int) -> None:
    hints = ""
    if s[:1] in (" ", "\n"):
        hints += str(best_indent)
    if not s.endswith("\n"):
        hints += "-"
    elif len(s) == 1 or s[-2] == "\n":
        hints += "+"
    out.write("|" + hints)
    lines = s.split("\n")
    if s.endswith("\n"):
        lines = lines[:-1]
    for line in lines:
        if line:
            out.write("\n" + " " * indent + line)
        else:
            out.write("\n")


def _write_string(
    out: _Out, s: str, indent: int, *, key: bool, version: int, best_indent: int
) -> None:
    a = _EMITTER.analyze_scalar(s)
    if "\n" in s:
        style = "|"
    elif _needs_quotes(s, version):
        style = '"'
    else:
        style = ""
    if style == "|" and (key or not a.allow_block):
        style = '"'
    if style == "" and (not a.allow_block_plain or (not s and key) or (key and a.multiline)):
        style = "'"
    if style == "'" and (not a.allow_single_quoted or (key and a.multiline)):
        style = '"'
    if style == "":
        _write_plain(out, s, indent, not key)
    elif style == "'":
        _write_single(out, s, indent, not key)
    elif style == '"':
        _write_double(out, s, indent, not key)
    else:
        _write_literal(out, s, indent, best_indent)


# ---------------------------------------------------------------------------------------
# block emitter


def _key_less(a: str, b: str) -> bool:
    """goyaml's keyList.Less for two string keys (a natural, digit-aware order)."""
    ar, br = a, b
    for i in range(min(len(ar), len(br))):
        if ar[i] == br[i]:
            continue
        al, bl = ar[i].isalpha(), br[i].isalpha()
        if al and bl:
            return ar[i] < br[i]
        if al or bl:
            return bl
        an = bn = 0
        if ar[i] == "0" or br[i] == "0":
            j = i - 1
            while j >= 0 and ar[j].isdigit():
                if ar[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(ar) and ar[ai].isdigit():
            an = an * 10 + int(ar[ai]) if ar[ai].isascii() else an
            ai += 1
        bi = i
        while bi < len(br) and br[bi].isdigit():
            bn = bn * 10 + int(br[bi]) if br[bi].isascii() else bn
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ar[i] < br[i]
    return len(ar) < len(br)


def _sorted_keys(d: dict[str, Any]) -> list[str]:
    import functools

    def cmp(a: str, b: str) -> int:
        if _key_less(a, b):
            return -1
        if _key_less(b, a):
            return 1
        return 0

    return sorted(d, key=functools.cmp_to_key(cmp))


class _Emitter:
    """Block emitter; indentation follows go-yaml's increase_indent."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.best = 2 if version == 2 else 4
        self.out = _Out()

    def nxt(self, indent: int) -> int:
        """The indentation of a node nested in a mapping (aligned to the indent unit)."""
        return self.best * ((indent + self.best) // self.best)

    def scalar(self, v: Any, indent: int, key: bool = False, hint: int = 0) -> None:
        if v is None:
            self.out.write("null")
        elif isinstance(v, bool):
            self.out.write("true" if v else "false")
        elif isinstance(v, int):
            self.out.write(str(int(v)))
        elif isinstance(v, float):
            s = format_float(v, "g", -1)
            self.out.write({"+Inf": ".inf", "-Inf": "-.inf", "NaN": ".nan"}.get(s, s))
        else:
            _write_string(
                self.out,
                str(v),
                indent,
                key=key,
                version=self.version,
                best_indent=hint or self.best,
            )

    def value(self, v: Any, indent: int, hint: int = 0) -> None:
        """A scalar or an empty collection; ``indent`` is for continuation lines."""
        if isinstance(v, dict):
            self.out.write("{}")
        elif isinstance(v, list):
            self.out.write("[]")
        else:
            self.scalar(v, indent, hint=hint)

    def newline(self, indent: int) -> None:
        if self.out.parts:
            self.out.write("\n")
        self.out.write(" " * indent)

    def mapping(self, d: dict[str, Any], indent: int, inline: bool) -> None:
        for n, k in enumerate(_sorted_keys(d)):
            if n > 0 or not inline:
                self.newline(indent)
            self.scalar(k, indent, key=True)
            self.out.write(":")
            v = d[k]
            if isinstance(v, dict) and v:
                child = self.nxt(indent)
                self.newline(child)
                self.mapping(v, child, True)
            elif isinstance(v, list) and v:
                child = indent if self.version == 2 else self.nxt(indent)
                self.newline(child)
                self.sequence(v, child, True)
            else:
                self.out.write(" ")
                child = self.nxt(indent)
                # a block scalar's indentation indicator is relative to this mapping: it
                # differs from the indent unit when the mapping sits in a "- " entry
                self.value(v, child, hint=child - indent)

    def sequence(self, items: list[Any], indent: int, inline: bool) -> None:
        for n, item in enumerate(items):
            if n > 0 or not inline:
                self.newline(indent)
            self.out.write("- ")
            if isinstance(item, dict) and item:
                self.mapping(item, indent + 2, True)
            elif isinstance(item, list) and item:
                self.sequence(item, indent + 2, True)
            else:
                self.value(item, indent + 2, hint=2)


def _dump(v: Any, version: int) -> str:
    em = _Emitter(version)
    if isinstance(v, dict) and v:
        em.mapping(v, 0, True)
    elif isinstance(v, list) and v:
        em.sequence(v, 0, True)
    else:
        em.value(v, em.best)
    return em.out.text() + "\n"


def dump_v2(v: Any) -> str:
    """goyaml.v2 Marshal of JSON-shaped data (what sigs.k8s.io/yaml writes), with newline."""
    return _dump(v, 2)


def dump_v3(v: Any) -> str:
    """gopkg.in/yaml.v3 Marshal (4-space indentation), with the final newline."""
    return _dump(v, 3)
