"""Go ``fmt`` printing for template values: Sprintf, Sprint, Sprintln, %v and %T.

Go values are modelled as in ``shared.templating.values``: ``None`` is nil, ``int`` covers
Go's integer kinds (a plain ``int`` is int64; an ``int`` subclass names its Go type in the
class attribute ``go_type``), ``float`` is float64, ``list`` is ``[]interface {}``,
``dict`` is ``map[string]interface {}``, ``bytes`` is ``[]byte`` and an aware ``datetime``
is ``time.Time``. Go structs expose ``go_fields()`` (ordered ``(name, value)`` pairs) and
``go_type_name``; an object with ``go_string()`` is a fmt.Stringer.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared.templating.budget import current as current_budget
from shared.templating.budget import guard_result

__all__ = [
    "duration_string",
    "format_float",
    "format_value",
    "go_quote",
    "sprint",
    "sprintf",
    "sprintln",
    "type_name",
]


# ---------------------------------------------------------------------------------------
# type names (%T)


def _struct_fields(v: Any) -> list[tuple[str, Any]] | None:
    fields = getattr(v, "go_fields", None)
    if callable(fields):
        return list(fields())
    return None


def type_name(v: Any) -> str:
    """Go's ``%T`` for a template value."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return str(getattr(type(v), "go_type", "int64"))
    if isinstance(v, float):
        return "float64"
    if isinstance(v, complex):
        return "complex128"
    if isinstance(v, str):
        return "string"
    if isinstance(v, bytes | bytearray):
        return "[]uint8"
    if isinstance(v, list | tuple):
        return str(getattr(type(v), "go_type", "[]interface {}"))
    if isinstance(v, dict):
        return str(getattr(type(v), "go_type", "map[string]interface {}"))
    if isinstance(v, _dt.datetime):
        return "time.Time"
    if isinstance(v, _dt.timedelta):
        return "time.Duration"
    name = getattr(v, "go_type_name", None)
    if isinstance(name, str):
        return name
    if callable(name):
        return str(name())
    return type(v).__name__


# ---------------------------------------------------------------------------------------
# floats


def _shortest_digits(f: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of abs(f) and the decimal point position."""
    d = Decimal(repr(abs(f)))
    _sign, digits, exp = d.as_tuple()
    ds = "".join(str(x) for x in digits).lstrip("0")
    assert isinstance(exp, int)
    if not ds:
        return "", 0
    # value = int(digits) * 10**exp ; digits may have had leading zeros stripped
    total_len = len(ds)
    stripped = ds.rstrip("0")
    dp = total_len + exp
    return stripped, dp


def _fmt_e_digits(ds: str, dp: int, prec: int, upper: bool) -> str:
    if not ds:
        ds, dp = "0", 1
    first = ds[0]
    rest = ds[1:]
    if prec >= 0:
        rest = (rest + "0" * prec)[:prec]
    out = first + ("." + rest if rest else "")
    exp = dp - 1
    es = "-" if exp < 0 else "+"
    ea = abs(exp)
    out += ("E" if upper else "e") + es + (f"{ea:02d}")
    return out


def _fmt_f_digits(ds: str, dp: int, prec: int) -> str:
    if not ds:
        return "0" + ("." + "0" * prec if prec > 0 else "")
    if dp <= 0:
        ip = "0"
        frac = "0" * (-dp) + ds
    elif dp >= len(ds):
        ip = ds + "0" * (dp - len(ds))
        frac = ""
    else:
        ip = ds[:dp]
        frac = ds[dp:]
    frac = (frac + "0" * prec)[:prec]
    return ip + ("." + frac if prec > 0 else "")


def format_float(f: float, verb: str = "g", prec: int = -1) -> str:
    """strconv.FormatFloat(f, verb, prec, 64) for verbs e E f F g G."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    neg = math.copysign(1.0, f) < 0
    sign = "-" if neg else ""
    upper = verb in "EG"
    lv = verb.lower()
    if prec < 0:
        ds, dp = _shortest_digits(f)
        if lv == "e":
            return sign + _fmt_e_digits(ds, dp, max(len(ds) - 1, 0), upper)
        if lv == "f":
            return sign + _fmt_f_digits(ds, dp, max(len(ds) - dp, 0))
        exp = dp - 1 if ds else -1
        if ds and (exp < -4 or exp >= 6):
            return sign + _fmt_e_digits(ds, dp, max(len(ds) - 1, 0), upper)
        return sign + _fmt_f_digits(ds, dp, max(len(ds) - dp, 0))
    a = abs(f)
    if lv == "e":
        s = f"{a:.{prec}e}"
        return sign + (s.upper() if upper else s)
    if lv == "f":
        return sign + f"{a:.{prec}f}"
    # 'g' with explicit precision
    p = prec if prec > 0 else 1
    s = f"{a:.{p}g}"
    return sign + (s.upper() if upper else s)


def _binary_float(f: float) -> str:
    """strconv.FormatFloat(f, 'b', -1, 64): ``4503599627370496p-52``."""
    if math.isnan(f) or math.isinf(f):
        return format_float(f)
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    if f == 0:
        return f"{sign}0p-1074"
    mant, exp = math.frexp(abs(f))
    m, e = int(mant * (1 << 53)), exp - 53
    if e < -1074:  # subnormal: Go keeps the exponent at -1074
        m >>= -1074 - e
        e = -1074
    return f"{sign}{m}p{'-' if e < 0 else '+'}{abs(e)}"


def _hex_float(f: float, verb: str, prec: int | None) -> str:
    """strconv.FormatFloat(f, 'x', prec, 64), e.g. ``0x1.8p+01``."""
    if math.isnan(f) or math.isinf(f):
        return format_float(f)
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    exp = 0
    whole, frac = "0", ""
    if f != 0:
        mant, exp = math.frexp(abs(f))  # mant in [0.5, 1)
        mant, exp = mant * 2, exp - 1  # [1, 2)
        bits = int(mant * (1 << 52))
        whole, frac = "1", f"{bits & ((1 << 52) - 1):013x}".rstrip("0")
        if prec is not None and 0 <= prec < len(frac):
            q = round(bits / 16 ** (13 - prec))
            if q >= 2 << (4 * prec):
                q >>= 1
                exp += 1
            digits = f"{q:x}"
            whole, frac = digits[0], digits[1:]
    if prec is not None and prec >= 0:
        frac = frac.ljust(prec, "0")[: max(prec, 0)] if prec >= len(frac) else frac
    mant_s = whole + ("." + frac if frac else "")
    out = f"{sign}0x{mant_s}p{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return out.upper() if verb == "X" else out


def _format_complex(c: complex, verb: str, prec: int) -> str:
    return "(" + format_float(c.real, verb, prec) + _plus(format_float(c.imag, verb, prec)) + "i)"


def _plus(s: str) -> str:
    return s if s.startswith(("-", "+")) else "+" + s


# ---------------------------------------------------------------------------------------
# quoting


def go_quote(s: str, ascii_only: bool = False) -> str:
    """strconv.Quote (or QuoteToASCII)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= o <= 0xDCFF:  # a byte that is not UTF-8 (surrogate escape)
            out.append(f"\\x{o - 0xDC00:02x}")
        elif (o < 0x80 and ch.isprintable()) or (o >= 0x80 and not ascii_only and ch.isprintable()):
            out.append(ch)
        else:
            esc = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}
            if o in esc:
                out.append(esc[o])
            elif o < 0x20 or o == 0x7F:
                out.append(f"\\x{o:02x}")
            elif o < 0x10000:
                out.append(f"\\u{o:04x}")
            else:
                out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def _quote_rune(o: int, ascii_only: bool = False) -> str:
    if o > 0x10FFFF or 0xD800 <= o <= 0xDFFF:
        o = 0xFFFD
    ch = chr(o)
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    inner = go_quote(ch, ascii_only)[1:-1]
    return "'" + inner + "'"


def _can_backquote(s: str) -> bool:
    return all(not ((ord(c) < 0x20 and c != "\t") or c in "`\x7f\ufeff") for c in s)


# ---------------------------------------------------------------------------------------
# the printer


@dataclass
class _Flags:
    minus: bool = False
    plus: bool = False
    sharp: bool = False
    space: bool = False
    zero: bool = False
    wid: int | None = None
    prec: int | None = None
    sharp_v: bool = False
    plus_v: bool = False


def _pad(s: str, fl: _Flags) -> str:
    if fl.wid is None:
        return s
    n = fl.wid - len(s)
    if n <= 0:
        return s
    if fl.minus:
        return s + " " * n
    return ("0" if fl.zero else " ") * n + s


def _fmt_integer(v: int, base: int, verb: str, fl: _Flags) -> str:
    v = int(v)
    neg = v < 0
    u = -v if neg else v
    prec = 0
    if fl.prec is not None:
        prec = fl.prec
        if prec == 0 and u == 0:
            return _pad("", _Flags(minus=fl.minus, wid=fl.wid))
    elif fl.zero and not fl.minus and fl.wid is not None:
        prec = fl.wid
        if neg or fl.plus or fl.space:
            prec -= 1
    if base == 10:
        digits = str(u)
    elif base == 16:
        digits = f"{u:x}" if verb != "X" else f"{u:X}"
    elif base == 8:
        digits = f"{u:o}"
    else:
        digits = f"{u:b}"
    if len(digits) < prec:
        digits = "0" * (prec - len(digits)) + digits
    if fl.sharp:
        if base == 2:
            digits = "0b" + digits
        elif base == 8 and not digits.startswith("0"):
            digits = "0" + digits
        elif base == 16:
            digits = ("0X" if verb == "X" else "0x") + digits
    if verb == "O":
        digits = "0o" + digits
    if neg:
        digits = "-" + digits
    elif fl.plus:
        digits = "+" + digits
    elif fl.space:
        digits = " " + digits
    return _pad(digits, _Flags(minus=fl.minus, wid=fl.wid))


def _fmt_float(v: float, verb: str, fl: _Flags, default_prec: int) -> str:
    prec = fl.prec if fl.prec is not None else default_prec
    num = format_float(v, verb, prec)
    if (
        fl.sharp
        and verb.lower() == "g"
        and "." not in num
        and "e" not in num.lower()
        and num[-1:].isdigit()
    ):
        num += "."
    if not num.startswith(("-", "+")):
        num = "+" + num
    if fl.space and num[0] == "+" and not fl.plus:
        num = " " + num[1:]
    if num[1:2] in ("I", "N"):
        if num[1] == "N" and not fl.space and not fl.plus:
            num = num[1:]
        return _pad(num, _Flags(minus=fl.minus, wid=fl.wid))
    if fl.plus or num[0] != "+":
        if fl.zero and not fl.minus and fl.wid is not None and fl.wid > len(num):
            return num[0] + "0" * (fl.wid - len(num)) + num[1:]
        return _pad(num, fl)
    return _pad(num[1:], fl)


def _fmt_string(s: str, verb: str, fl: _Flags) -> str:
    if verb in ("v", "s"):
        if fl.sharp_v:
            return _pad(go_quote(s), fl)
        if fl.prec is not None:
            s = s[: fl.prec]
        return _pad(s, fl)
    if verb == "q":
        if fl.prec is not None:
            s = s[: fl.prec]
        if fl.sharp and _can_backquote(s):
            return _pad("`" + s + "`", fl)
        return _pad(go_quote(s, ascii_only=fl.plus), fl)
    return _fmt_hex_bytes(s.encode("utf-8"), verb, fl)


def _fmt_hex_bytes(b: bytes, verb: str, fl: _Flags) -> str:
    if fl.prec is not None:
        b = b[: fl.prec]
    digits = "0123456789ABCDEF" if verb == "X" else "0123456789abcdef"
    parts: list[str] = []
    for i, c in enumerate(b):
        if fl.space and i > 0:
            parts.append(" ")
        if fl.sharp and (fl.space or i == 0):
            parts.append("0X" if verb == "X" else "0x")
        parts.append(digits[c >> 4] + digits[c & 15])
    return _pad("".join(parts), fl)


def _time_string(t: _dt.datetime) -> str:
    base = t.strftime("%Y-%m-%d %H:%M:%S")
    if t.microsecond:
        base += ("." + f"{t.microsecond:06d}").rstrip("0")
    off = t.utcoffset() or _dt.timedelta(0)
    secs = int(off.total_seconds())
    sign = "-" if secs < 0 else "+"
    secs = abs(secs)
    zone = f"{sign}{secs // 3600:02d}{(secs % 3600) // 60:02d}"
    name = t.tzname() or ""
    if not name or name.startswith(("UTC+", "UTC-")):
        name = zone
    return f"{base} {zone} {name}"


def duration_string(ns: int) -> str:
    """Go's time.Duration.String() for a count of nanoseconds."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    sign = "-" if neg else ""
    if u < 10**9:
        # sub-second: ns, µs or ms with a fraction
        if u < 1000:
            return f"{sign}{u}ns"
        if u < 10**6:
            return sign + _frac(u, 3) + "µs"
        return sign + _frac(u, 6) + "ms"
    secs_total, frac_ns = divmod(u, 10**9)
    hours, rem = divmod(secs_total, 3600)
    mins, secs = divmod(rem, 60)
    s = _frac(secs * 10**9 + frac_ns, 9) + "s"
    if hours:
        return f"{sign}{hours}h{mins}m{s}"
    if mins:
        return f"{sign}{mins}m{s}"
    return sign + s


def _frac(v: int, digits: int) -> str:
    whole, frac = divmod(v, 10**digits)
    fs = f"{frac:0{digits}d}".rstrip("0")
    return f"{whole}.{fs}" if fs else str(whole)


def _duration_string(d: _dt.timedelta) -> str:
    ns = (d.days * 86400 + d.seconds) * 10**9 + d.microseconds * 1000
    return duration_string(ns)


class _Printer:
    def __init__(self) -> None:
        self.buf: list[str] = []

    def bad_verb(self, v: Any, verb: str) -> str:
        if v is None:
            return f"%!{verb}(<nil>)"
        return f"%!{verb}({type_name(v)}={self.value(v, 'v', _Flags(), 0)})"

    def arg(self, v: Any, verb: str, fl: _Flags) -> str:
        if v is None:
            if verb in ("v", "T"):
                return _pad("<nil>", fl)
            return self.bad_verb(v, verb)
        if verb == "T":
            return _fmt_string(type_name(v), "s", fl)
        return self.value(v, verb, fl, 0)

    def value(self, v: Any, verb: str, fl: _Flags, depth: int) -> str:
        if v is None:
            if depth > 0:
                if fl.sharp_v:
                    return "interface {}(nil)"
                return _pad("<nil>", fl)
            if verb == "v":
                return _pad("<nil>", fl)
            return self.bad_verb(v, verb)
        if isinstance(v, bool):
            if verb in ("t", "v"):
                return _pad("true" if v else "false", fl)
            return self.bad_verb(v, verb)
        if isinstance(v, int):
            return self.integer(v, verb, fl)
        if isinstance(v, float):
            if verb == "v":
                return _fmt_float(v, "g", fl, -1)
            if verb in "xX":
                return _pad(_hex_float(v, verb, fl.prec), fl)
            if verb in "bgG":
                if verb == "b":
                    return _pad(_binary_float(v), fl)
                return _fmt_float(v, verb, fl, -1)
            if verb in "fFeE":
                return _fmt_float(v, "f" if verb == "F" else verb, fl, 6)
            return self.bad_verb(v, verb)
        if isinstance(v, complex):
            if verb in "vgGeEfF":
                vb = "g" if verb == "v" else ("f" if verb == "F" else verb)
                dp = -1 if vb in "gG" else 6
                p = fl.prec if fl.prec is not None else dp
                return _pad(_format_complex(v, vb, p), fl)
            return self.bad_verb(v, verb)
        if isinstance(v, str):
            if verb in ("v", "s", "q", "x", "X"):
                return _fmt_string(v, verb, fl)
            return self.bad_verb(v, verb)
        if isinstance(v, bytes | bytearray):
            b = bytes(v)
            if verb == "s":
                return _fmt_string(b.decode("utf-8", "replace"), "s", fl)
            if verb == "q":
                return _fmt_string(b.decode("utf-8", "replace"), "q", fl)
            if verb in ("x", "X"):
                return _fmt_hex_bytes(b, verb, fl)
            if fl.sharp_v:
                return "[]byte{" + ", ".join(f"0x{c:x}" for c in b) + "}"
            return (
                "[" + " ".join(self.integer(c, "d" if verb == "v" else verb, fl) for c in b) + "]"
            )
        if isinstance(v, _dt.datetime):
            if verb in ("v", "s"):
                return _fmt_string(_time_string(v), "s", fl)
            if verb == "q":
                return _fmt_string(_time_string(v), "q", fl)
            return self.bad_verb(v, verb)
        if isinstance(v, _dt.timedelta):
            if verb in ("v", "s"):
                return _fmt_string(_duration_string(v), "s", fl)
            return self.bad_verb(v, verb)
        if isinstance(v, dict):
            if fl.sharp_v:
                items = ", ".join(
                    f"{self.value(k, verb, fl, depth + 1)}:{self.value(v[k], verb, fl, depth + 1)}"
                    for k in _sorted_keys(v)
                )
                return type_name(v) + "{" + items + "}"
            items = " ".join(
                f"{self.value(k, verb, fl, depth + 1)}:{self.value(v[k], verb, fl, depth + 1)}"
                for k in _sorted_keys(v)
            )
            return "map[" + items + "]"
        if isinstance(v, list | tuple):
            if fl.sharp_v:
                return (
                    type_name(v)
                    + "{"
                    + ", ".join(self.value(x, verb, fl, depth + 1) for x in v)
                    + "}"
                )
            return "[" + " ".join(self.value(x, verb, fl, depth + 1) for x in v) + "]"
        stringer = getattr(v, "go_string", None)
        if callable(stringer) and verb in "vsxXq" and not fl.sharp_v:
            return _fmt_string(str(stringer()), "s" if verb == "v" else verb, fl)
        fields = _struct_fields(v)
        if fields is not None:
            if fl.sharp_v:
                inner = ", ".join(f"{n}:{self.value(x, verb, fl, depth + 1)}" for n, x in fields)
                return type_name(v) + "{" + inner + "}"
            if fl.plus_v:
                inner = " ".join(f"{n}:{self.value(x, verb, fl, depth + 1)}" for n, x in fields)
            else:
                inner = " ".join(self.value(x, verb, fl, depth + 1) for _, x in fields)
            return "{" + inner + "}"
        return _pad(str(v), fl)

    def integer(self, orig: int, verb: str, fl: _Flags) -> str:
        v = int(orig)
        if verb == "v":
            if fl.sharp_v:
                return _fmt_integer(v, 10, "d", _Flags(minus=fl.minus, wid=fl.wid))
            return _fmt_integer(v, 10, "d", fl)
        if verb == "d":
            return _fmt_integer(v, 10, verb, fl)
        if verb in ("x", "X"):
            return _fmt_integer(v, 16, verb, fl)
        if verb in ("o", "O"):
            return _fmt_integer(v, 8, verb, fl)
        if verb == "b":
            return _fmt_integer(v, 2, verb, fl)
        if verb == "c":
            try:
                return _pad(chr(v), fl)
            except (ValueError, OverflowError):
                return _pad("\ufffd", fl)
        if verb == "q":
            return _pad(_quote_rune(v, fl.plus), fl)
        if verb == "U":
            s = f"U+{v:04X}" if v >= 0 else f"U+{v & 0xFFFFFFFFFFFFFFFF:04X}"
            if fl.sharp and 0 <= v <= 0x10FFFF and chr(v).isprintable():
                s += f" '{chr(v)}'"
            return _pad(s, fl)
        return self.bad_verb(orig, verb)


def _sorted_keys(d: dict[Any, Any]) -> list[Any]:
    try:
        return sorted(d, key=_key_order)
    except TypeError:
        return list(d)


def _key_order(k: Any) -> Any:
    if isinstance(k, str):
        return (1, k.encode("utf-8"))
    if isinstance(k, bool):
        return (0, int(k))
    if isinstance(k, int | float):
        return (0, k)
    return (2, str(k))


def _parse_int(fmt: str, i: int) -> tuple[int | None, int]:
    start = i
    while i < len(fmt) and fmt[i].isdigit() and fmt[i].isascii():
        i += 1
    if i == start:
        return None, i
    n = int(fmt[start:i])
    if n > 1_000_000:
        return None, i
    return n, i


def sprintf(fmt: str, *args: Any) -> str:
    """Go's fmt.Sprintf; the result is measured as it is built (``%[1]s`` a thousand times,
    or a width of 10**8, would be far larger than the arguments) and refused past the value
    bound of the render (:func:`shared.templating.budget.guard_result`)."""
    p = _Printer()
    out: list[str] = []
    size = 0
    bound = _value_bound()
    argnum = 0
    reordered = False
    n = len(fmt)
    i = 0
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        i = j + 1
        fl = _Flags()
        # flags
        while i < n:
            c = fmt[i]
            if c == "#":
                fl.sharp = True
            elif c == "0":
                fl.zero = not fl.minus
            elif c == "+":
                fl.plus = True
            elif c == "-":
                fl.minus = True
                fl.zero = False
            elif c == " ":
                fl.space = True
            else:
                break
            i += 1
        bad_index = False

        def arg_index(i: int, argnum: int) -> tuple[int, int, bool]:
            nonlocal reordered, bad_index
            if i >= n or fmt[i] != "[":
                return argnum, i, False
            reordered = True
            close = fmt.find("]", i + 1)
            if close < 0:
                bad_index = True
                return argnum, n, False
            num_s = fmt[i + 1 : close]
            if not num_s.isdigit() or int(num_s) < 1:
                bad_index = True
                return argnum, close + 1, False
            return int(num_s) - 1, close + 1, True

        argnum, i, _ = arg_index(i, argnum)
        # width
        if i < n and fmt[i] == "*":
            i += 1
            if (
                argnum < len(args)
                and isinstance(args[argnum], int)
                and not isinstance(args[argnum], bool)
            ):
                w = args[argnum]
                if w < 0:
                    fl.minus = True
                    fl.zero = False
                    w = -w
                fl.wid = w
            else:
                out.append("%!(BADWIDTH)")
            argnum += 1
        else:
            w, i = _parse_int(fmt, i)
            if w is not None:
                fl.wid = w
        # precision
        if i < n and fmt[i] == ".":
            i += 1
            argnum, i, _ = arg_index(i, argnum)
            if i < n and fmt[i] == "*":
                i += 1
                if (
                    argnum < len(args)
                    and isinstance(args[argnum], int)
                    and not isinstance(args[argnum], bool)
                ):
                    pr = args[argnum]
                    if pr < 0:
                        fl.prec = None
                    else:
                        fl.prec = pr
                else:
                    out.append("%!(BADPREC)")
                argnum += 1
            else:
                pr2, i = _parse_int(fmt, i)
                fl.prec = pr2 if pr2 is not None else 0
        argnum, i, _ = arg_index(i, argnum)
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if bad_index:
            out.append(f"%!{verb}(BADINDEX)")
            continue
        if argnum >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        a = args[argnum]
        argnum += 1
        if verb == "v":
            if fl.sharp:
                fl.sharp = False
                fl.sharp_v = True
            if fl.plus:
                fl.plus = False
                fl.plus_v = True
        if verb == "w":
            verb = "v"
        for extent in (fl.wid, fl.prec):
            if extent is not None and extent > bound:
                guard_result(extent, "printf width or precision")
        piece = _go_syntax(a, p, fl) if fl.sharp_v and verb == "v" else p.arg(a, verb, fl)
        out.append(piece)
        size += len(piece)
        if size > bound:
            guard_result(size + n - i, "printf")
    if not reordered and argnum < len(args):
        extra = ", ".join(
            "<nil>" if a is None else f"{type_name(a)}={p.value(a, 'v', _Flags(), 0)}"
            for a in args[argnum:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _value_bound() -> int:
    budget = current_budget()
    return budget.max_value if budget is not None else 1 << 20


def _go_syntax(a: Any, p: _Printer, fl: _Flags) -> str:
    if a is None:
        return "<nil>"
    if isinstance(a, str):
        return go_quote(a)
    if isinstance(a, float):
        return format_float(a, "g", -1)
    return p.value(a, "v", fl, 0)


def format_value(v: Any) -> str:
    """Go's ``%v`` of ``v``."""
    return _Printer().arg(v, "v", _Flags())


def sprint(*args: Any) -> str:
    """Go's fmt.Sprint: a space between operands when neither is a string."""
    out: list[str] = []
    prev_string = False
    for i, a in enumerate(args):
        is_string = isinstance(a, str)
        if i > 0 and not is_string and not prev_string:
            out.append(" ")
        out.append(format_value(a))
        prev_string = is_string
    return "".join(out)


def sprintln(*args: Any) -> str:
    """Go's fmt.Sprintln: operands separated by spaces, newline appended."""
    return " ".join(format_value(a) for a in args) + "\n"
