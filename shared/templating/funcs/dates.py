"""sprig date functions (date.go), rendered with TZ=UTC (``Local`` is UTC)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

from shared.templating.funcs._base import FunctionError, gofunc
from shared.templating.funcs.gotime import (
    UTC,
    GoTimeError,
    format_time,
    load_location,
    parse_duration,
    parse_time,
)
from shared.templating.gofmt import duration_string, type_name

__all__ = ["DATE_FUNCS"]

_ZERO_TIME = _dt.datetime(1, 1, 1, tzinfo=UTC)


def _now() -> _dt.datetime:
    return _dt.datetime.now(UTC)


def _as_time(date: Any) -> _dt.datetime:
    """sprig's date argument: time.Time, or Unix seconds as int/int64/int32; else now."""
    if isinstance(date, _dt.datetime):
        return date if date.tzinfo else date.replace(tzinfo=UTC)
    if (
        isinstance(date, int)
        and not isinstance(date, bool)
        and type_name(date) in ("int", "int64", "int32")
    ):
        try:
            return _dt.datetime.fromtimestamp(int(date), UTC)
        except (OverflowError, OSError, ValueError):
            raise FunctionError("time out of range") from None
    return _now()


def _date_in_zone(fmt: str, date: Any, zone: str) -> str:
    t = _as_time(date)
    try:
        loc = load_location(zone)
    except GoTimeError:
        loc = UTC
    return format_time(t.astimezone(loc), fmt)


@gofunc("string", "any")
def date(fmt: str, d: Any) -> str:
    return _date_in_zone(fmt, d, "Local")


@gofunc("string", "any", "string")
def date_in_zone(fmt: str, d: Any, zone: str) -> str:
    return _date_in_zone(fmt, d, zone)


@gofunc("any")
def html_date(d: Any) -> str:
    return _date_in_zone("2006-01-02", d, "Local")


@gofunc("any", "string")
def html_date_in_zone(d: Any, zone: str) -> str:
    return _date_in_zone("2006-01-02", d, zone)


def _add_ns(t: _dt.datetime, ns: int) -> _dt.datetime:
    return t + _dt.timedelta(microseconds=ns // 1000)


@gofunc("string", "time.Time")
def date_modify(fmt: str, t: _dt.datetime) -> _dt.datetime:
    try:
        return _add_ns(t, parse_duration(fmt))
    except GoTimeError:
        return t


@gofunc("string", "time.Time")
def must_date_modify(fmt: str, t: _dt.datetime) -> _dt.datetime:
    try:
        return _add_ns(t, parse_duration(fmt))
    except GoTimeError as e:
        raise FunctionError(str(e)) from None


def _since_ns(t: _dt.datetime) -> int:
    d = _now() - t
    return (d.days * 86400 + d.seconds) * 10**9 + d.microseconds * 1000


@gofunc("any")
def ago(d: Any) -> str:
    ns = _since_ns(_as_time(d))
    # Round(time.Second): halfway away from zero
    sec = 10**9
    q, r = divmod(abs(ns), sec)
    if r * 2 >= sec:
        q += 1
    return duration_string(q * sec * (-1 if ns < 0 else 1))


@gofunc("any")
def duration(sec: Any) -> str:
    n = 0
    if isinstance(sec, str):
        try:
            n = int(sec, 10) if sec.lstrip("+-").isdigit() else 0
        except ValueError:
            n = 0
    elif isinstance(sec, int) and not isinstance(sec, bool) and type_name(sec) == "int64":
        n = int(sec)
    return duration_string(n * 10**9)


@gofunc("any")
def duration_round(d: Any) -> str:
    ns = 0
    if isinstance(d, str):
        try:
            ns = parse_duration(d)
        except GoTimeError:
            ns = 0
    elif isinstance(d, int) and not isinstance(d, bool) and type_name(d) == "int64":
        ns = int(d)
    elif isinstance(d, _dt.datetime):
        ns = _since_ns(d)
    u = abs(ns)
    hour = 3600 * 10**9
    day = 24 * hour
    units = [
        (365 * day, "y"),
        (30 * day, "mo"),
        (day, "d"),
        (hour, "h"),
        (60 * 10**9, "m"),
        (10**9, "s"),
    ]
    for size, suffix in units:
        if u > size:
            return f"{u // size}{suffix}"
    return "0s"


@gofunc("string", "string")
def to_date(fmt: str, s: str) -> _dt.datetime:
    try:
        return parse_time(fmt, s, UTC)
    except GoTimeError:
        return _ZERO_TIME


@gofunc("string", "string")
def must_to_date(fmt: str, s: str) -> _dt.datetime:
    try:
        return parse_time(fmt, s, UTC)
    except GoTimeError as e:
        raise FunctionError(str(e)) from None


@gofunc("time.Time")
def unix_epoch(t: _dt.datetime) -> str:
    return str(int((t - _dt.datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() // 1))


@gofunc()
def now() -> _dt.datetime:
    return _now()


DATE_FUNCS: dict[str, Callable[..., Any]] = {
    "ago": ago,
    "date": date,
    "date_in_zone": date_in_zone,
    "date_modify": date_modify,
    "dateInZone": date_in_zone,
    "dateModify": date_modify,
    "duration": duration,
    "durationRound": duration_round,
    "htmlDate": html_date,
    "htmlDateInZone": html_date_in_zone,
    "must_date_modify": must_date_modify,
    "mustDateModify": must_date_modify,
    "mustToDate": must_to_date,
    "now": now,
    "toDate": to_date,
    "unixEpoch": unix_epoch,
}
