"""Go's time layouts (``2006-01-02 15:04:05``): formatting, parsing, durations."""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "GoTimeError",
    "format_time",
    "load_location",
    "parse_duration",
    "parse_time",
]

UTC = _dt.UTC
_LONG_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
]  # fmt: skip
_LONG_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class GoTimeError(Exception):
    """A time layout, value or duration that does not parse (Go's message)."""


@dataclass(frozen=True)
class _Chunk:
    kind: str  # "lit" or a std name
    text: str


_TZ_STD = [
    ("Z070000", "Z070000"), ("Z07:00:00", "Z07:00:00"), ("Z0700", "Z0700"),
    ("Z07:00", "Z07:00"), ("Z07", "Z07"),
]  # fmt: skip
_NUM_TZ_STD = [
    ("-070000", "-070000"), ("-07:00:00", "-07:00:00"), ("-0700", "-0700"),
    ("-07:00", "-07:00"), ("-07", "-07"),
]  # fmt: skip


def _chunks(layout: str) -> list[_Chunk]:
    out: list[_Chunk] = []
    lit: list[str] = []
    i = 0
    n = len(layout)

    def push(kind: str, text: str) -> None:
        if lit:
            out.append(_Chunk("lit", "".join(lit)))
            lit.clear()
        out.append(_Chunk(kind, text))

    while i < n:
        rest = layout[i:]
        c = layout[i]
        if c == "J" and rest.startswith("Jan"):
            if rest.startswith("January"):
                push("January", "January")
                i += 7
            else:
                push("Jan", "Jan")
                i += 3
            continue
        if c == "M" and rest.startswith("Mon"):
            if rest.startswith("Monday"):
                push("Monday", "Monday")
                i += 6
            else:
                push("Mon", "Mon")
                i += 3
            continue
        if c == "M" and rest.startswith("MST"):
            push("MST", "MST")
            i += 3
            continue
        if c == "0" and len(rest) >= 2 and rest[1] in "123456":
            push("0" + rest[1], rest[:2])
            i += 2
            continue
        if c == "0" and rest.startswith("002"):
            push("002", "002")
            i += 3
            continue
        if c == "1":
            if rest.startswith("15"):
                push("15", "15")
                i += 2
            else:
                push("1", "1")
                i += 1
            continue
        if c == "2":
            if rest.startswith("2006"):
                push("2006", "2006")
                i += 4
            else:
                push("2", "2")
                i += 1
            continue
        if c == "_" and len(rest) >= 2 and rest[1] == "2":
            if rest.startswith("_2006"):
                lit.append("_")
                push("2006", "2006")
                i += 5
            else:
                push("_2", "_2")
                i += 2
            continue
        if c == "_" and rest.startswith("__2"):
            push("__2", "__2")
            i += 3
            continue
        if c in "345":
            push(c, c)
            i += 1
            continue
        if c == "P" and rest.startswith("PM"):
            push("PM", "PM")
            i += 2
            continue
        if c == "p" and rest.startswith("pm"):
            push("pm", "pm")
            i += 2
            continue
        if c in "-Z":
            matched = False
            for text, kind in _NUM_TZ_STD if c == "-" else _TZ_STD:
                if rest.startswith(text):
                    push(kind, text)
                    i += len(text)
                    matched = True
                    break
            if matched:
                continue
        if c in ".," and len(rest) >= 2 and rest[1] in "09":
            d = rest[1]
            j = 1
            while j < len(rest) and rest[j] == d:
                j += 1
            if j >= len(rest) or not rest[j].isdigit():
                push("frac" + d, rest[:j])
                i += j
                continue
        lit.append(c)
        i += 1
    if lit:
        out.append(_Chunk("lit", "".join(lit)))
    return out


def _zone_offset(t: _dt.datetime) -> int:
    off = t.utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def _fmt_offset(secs: int, kind: str) -> str:
    if kind.startswith("Z") and secs == 0:
        return "Z"
    sign = "-" if secs < 0 else "+"
    s = abs(secs)
    hh, mm, ss = s // 3600, (s % 3600) // 60, s % 60
    base = kind.lstrip("Z-")
    if base == "07":
        return f"{sign}{hh:02d}"
    if base == "0700":
        return f"{sign}{hh:02d}{mm:02d}"
    if base == "07:00":
        return f"{sign}{hh:02d}:{mm:02d}"
    if base == "070000":
        return f"{sign}{hh:02d}{mm:02d}{ss:02d}"
    return f"{sign}{hh:02d}:{mm:02d}:{ss:02d}"


def format_time(t: _dt.datetime, layout: str) -> str:
    """time.Time.Format."""
    out: list[str] = []
    for ch in _chunks(layout):
        k = ch.kind
        if k == "lit":
            out.append(ch.text)
        elif k == "January":
            out.append(_LONG_MONTHS[t.month - 1])
        elif k == "Jan":
            out.append(_LONG_MONTHS[t.month - 1][:3])
        elif k == "Monday":
            out.append(_LONG_DAYS[t.weekday()])
        elif k == "Mon":
            out.append(_LONG_DAYS[t.weekday()][:3])
        elif k == "MST":
            name = t.tzname() or ""
            if not name or name.startswith(("UTC+", "UTC-")):
                name = _fmt_offset(_zone_offset(t), "-0700")
            out.append(name)
        elif k == "01":
            out.append(f"{t.month:02d}")
        elif k == "1":
            out.append(str(t.month))
        elif k == "02":
            out.append(f"{t.day:02d}")
        elif k == "2":
            out.append(str(t.day))
        elif k == "_2":
            out.append(f"{t.day:2d}")
        elif k == "002":
            out.append(f"{t.timetuple().tm_yday:03d}")
        elif k == "__2":
            out.append(f"{t.timetuple().tm_yday:3d}")
        elif k == "2006":
            out.append(f"{t.year:04d}")
        elif k == "06":
            out.append(f"{t.year % 100:02d}")
        elif k == "15":
            out.append(f"{t.hour:02d}")
        elif k in ("03", "3"):
            h = t.hour % 12 or 12
            out.append(f"{h:02d}" if k == "03" else str(h))
        elif k in ("04", "4"):
            out.append(f"{t.minute:02d}" if k == "04" else str(t.minute))
        elif k in ("05", "5"):
            out.append(f"{t.second:02d}" if k == "05" else str(t.second))
        elif k == "PM":
            out.append("PM" if t.hour >= 12 else "AM")
        elif k == "pm":
            out.append("pm" if t.hour >= 12 else "am")
        elif k.startswith(("Z0", "-0")):
            out.append(_fmt_offset(_zone_offset(t), k))
        elif k.startswith("frac"):
            digits = len(ch.text) - 1
            ns = f"{t.microsecond:06d}000"[:digits]
            if k == "frac9":
                ns = ns.rstrip("0")
                if ns:
                    out.append(ch.text[0] + ns)
            else:
                out.append(ch.text[0] + ns)
        else:  # pragma: no cover
            out.append(ch.text)
    return "".join(out)


def load_location(name: str) -> _dt.tzinfo:
    """time.LoadLocation; ``Local`` is UTC (Ripple renders with TZ=UTC)."""
    if name in ("", "UTC", "Local"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise GoTimeError(f"unknown time zone {name}") from None


# ---------------------------------------------------------------------------------------
# parsing


def _q(s: str) -> str:
    from shared.templating.gofmt import go_quote

    return go_quote(s)


def parse_time(layout: str, value: str, loc: _dt.tzinfo = UTC) -> _dt.datetime:
    """time.ParseInLocation for the usual layout elements."""
    orig_value = value
    year, month, day = 1, 1, 1
    hour = minute = second = micro = 0
    pm_set: bool | None = None
    offset: int | None = None

    def err(vpart: str, lpart: str, extra: str = "") -> GoTimeError:
        msg = f"parsing time {_q(orig_value)} as {_q(layout)}: cannot parse {_q(vpart)} as {_q(lpart)}"
        return GoTimeError(msg + extra)

    def num(v: str, mn: int, mx: int, lpart: str) -> tuple[int, str]:
        m = re.match(rf"\d{{{mn},{mx}}}", v)
        if not m:
            raise err(v, lpart)
        return int(m.group(0)), v[m.end() :]

    for ch in _chunks(layout):
        k = ch.kind
        if k == "lit":
            if not value.startswith(ch.text):
                raise err(value, ch.text)
            value = value[len(ch.text) :]
        elif k in ("January", "Jan"):
            names = _LONG_MONTHS if k == "January" else [m[:3] for m in _LONG_MONTHS]
            for idx, nm in enumerate(names):
                if value[: len(nm)].lower() == nm.lower():
                    month = idx + 1
                    value = value[len(nm) :]
                    break
            else:
                raise err(value, ch.text)
        elif k in ("Monday", "Mon"):
            names = _LONG_DAYS if k == "Monday" else [d[:3] for d in _LONG_DAYS]
            for nm in names:
                if value[: len(nm)].lower() == nm.lower():
                    value = value[len(nm) :]
                    break
            else:
                raise err(value, ch.text)
        elif k == "2006":
            if len(value) < 4 or not value[:4].isdigit():
                raise err(value, ch.text)
            year, value = int(value[:4]), value[4:]
        elif k == "06":
            v2, value = num(value, 2, 2, ch.text)
            year = v2 + (1900 if v2 >= 69 else 2000)
        elif k in ("01", "1"):
            month, value = num(value, 2 if k == "01" else 1, 2, ch.text)
            if not 1 <= month <= 12:
                raise GoTimeError(f"parsing time {_q(orig_value)}: month out of range")
        elif k in ("02", "2", "_2"):
            if k == "_2" and value.startswith(" "):
                value = value[1:]
            day, value = num(value, 2 if k == "02" else 1, 2, ch.text)
        elif k in ("002", "__2"):
            _, value = num(value.lstrip(" "), 1, 3, ch.text)
        elif k == "15":
            hour, value = num(value, 1, 2, ch.text)
        elif k in ("03", "3"):
            hour, value = num(value, 2 if k == "03" else 1, 2, ch.text)
        elif k in ("04", "4"):
            minute, value = num(value, 2 if k == "04" else 1, 2, ch.text)
        elif k in ("05", "5"):
            second, value = num(value, 2 if k == "05" else 1, 2, ch.text)
            m = re.match(r"[.,](\d+)", value)
            if m:
                micro = int((m.group(1) + "000000")[:6])
                value = value[m.end() :]
        elif k in ("PM", "pm"):
            p = value[:2].upper()
            if p not in ("AM", "PM"):
                raise err(value, ch.text)
            pm_set = p == "PM"
            value = value[2:]
        elif k.startswith(("Z0", "-0")):
            if k.startswith("Z") and value.startswith("Z"):
                offset = 0
                value = value[1:]
                continue
            m = re.match(r"([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?", value)
            if not m:
                raise err(value, ch.text)
            sign = -1 if m.group(1) == "-" else 1
            offset = sign * (
                int(m.group(2)) * 3600 + int(m.group(3) or 0) * 60 + int(m.group(4) or 0)
            )
            value = value[m.end() :]
        elif k == "MST":
            m = re.match(r"[A-Z]{3,5}|[+-]\d{2,4}", value)
            if not m:
                raise err(value, ch.text)
            if m.group(0) in ("UTC", "GMT"):
                offset = 0
            value = value[m.end() :]
        elif k.startswith("frac"):
            m = re.match(r"[.,](\d+)", value)
            if not m:
                if k == "frac9":
                    continue
                raise err(value, ch.text)
            micro = int((m.group(1) + "000000")[:6])
            value = value[m.end() :]
    if value:
        raise GoTimeError(f"parsing time {_q(orig_value)}: extra text: {_q(value)}")
    if pm_set is not None:
        if pm_set and hour < 12:
            hour += 12
        elif not pm_set and hour == 12:
            hour = 0
    try:
        tz: _dt.tzinfo = loc if offset is None else _dt.timezone(_dt.timedelta(seconds=offset))
        if offset == 0 and loc is UTC:
            tz = UTC
        return _dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError:
        raise GoTimeError(f"parsing time {_q(orig_value)}: day out of range") from None


_UNITS = {
    "ns": 1,
    "us": 1000,
    "µs": 1000,
    "μs": 1000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DUR_RE = re.compile(r"(\d*)(?:\.(\d*))?([a-zµμ]+)")


def parse_duration(s: str) -> int:
    """time.ParseDuration; the result is in nanoseconds."""
    orig = s
    neg = False
    if s[:1] in ("+", "-"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise GoTimeError(f"time: invalid duration {_q(orig)}")
    total = 0
    pos = 0
    while pos < len(s):
        m = _DUR_RE.match(s, pos)
        if not m or (not m.group(1) and not m.group(2)):
            raise GoTimeError(f"time: invalid duration {_q(orig)}")
        unit = m.group(3)
        if unit not in _UNITS:
            raise GoTimeError(f"time: unknown unit {_q(unit)} in duration {_q(orig)}")
        whole = int(m.group(1) or 0)
        frac = m.group(2) or ""
        scale = _UNITS[unit]
        total += whole * scale
        if frac:
            total += int(int(frac) * scale / (10 ** len(frac)))
        pos = m.end()
    if total > (1 << 63) - 1:
        raise GoTimeError(f"time: invalid duration {_q(orig)}")
    return -total if neg else total
