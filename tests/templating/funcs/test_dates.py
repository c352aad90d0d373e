"""sprig date functions with Go layouts (TZ=UTC) and durations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from shared.templating.errors import FunctionError
from shared.templating.funcs.gotime import format_time, parse_duration, parse_time
from shared.templating.gofmt import format_value
from shared.templating.values import GoInt

F = dict[str, Callable[..., Any]]
T = dt.datetime(2024, 3, 5, 14, 7, 9, 120000, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("2006-01-02", "2024-03-05"),
        ("02/01/2006 15:04:05", "05/03/2024 14:07:09"),
        ("Jan 2, 2006 at 3:04pm (MST)", "Mar 5, 2024 at 2:07pm (UTC)"),
        ("Monday January _2 06", "Tuesday March  5 24"),
        ("15:04:05.000 -07:00 Z07:00", "14:07:09.120 +00:00 Z"),
        ("05.999999999", "09.12"),
        ("002 __2", "065  65"),
        ("PM 03", "PM 02"),
    ],
)
def test_format_time(layout: str, expected: str) -> None:
    assert format_time(T, layout) == expected


def test_parse_time() -> None:
    t = parse_time("2006-01-02T15:04:05Z07:00", "2024-03-05T10:11:12+02:00")
    assert t.utcoffset() == dt.timedelta(hours=2) and t.hour == 10
    assert parse_time("Jan 2 2006 3:04PM", "Mar 5 2024 1:30PM").hour == 13


def test_parse_time_error_message() -> None:
    with pytest.raises(Exception) as e:
        parse_time("2006-01-02", "not-a-date")
    assert str(e.value) == (
        'parsing time "not-a-date" as "2006-01-02": cannot parse "not-a-date" as "2006"'
    )


@pytest.mark.parametrize(
    ("text", "ns"),
    [("1h30m", 5400 * 10**9), ("-1.5h", -5400 * 10**9), ("300ms", 3 * 10**8), ("0", 0)],
)
def test_parse_duration(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


def test_date_functions(fn: F) -> None:
    d = fn["toDate"]("2006-01-02", "2017-12-31")
    assert fn["date"]("02/01/2006", d) == "31/12/2017"
    assert fn["htmlDate"](0) == "1970-01-01"
    assert fn["htmlDateInZone"](0, "UTC") == "1970-01-01"
    assert fn["dateInZone"]("2006-01-02 15:04", d, "America/New_York") == "2017-12-30 19:00"
    assert fn["dateInZone"]("2006", d, "No/Such_Zone") == "2017"
    assert fn["unixEpoch"](fn["toDate"]("2006-01-02", "2024-03-05")) == "1709596800"
    assert format_value(fn["dateModify"]("+36h", d)) == "2018-01-01 12:00:00 +0000 UTC"
    assert fn["dateModify"]("bogus", d) == d
    with pytest.raises(FunctionError, match="invalid duration"):
        fn["mustDateModify"]("bogus", d)
    assert fn["toDate"]("2006-01-02", "bad").year == 1


def test_must_to_date_error(fn: F) -> None:
    with pytest.raises(FunctionError, match='cannot parse "not-a-date" as "2006"'):
        fn["mustToDate"]("2006-01-02", "not-a-date")


def test_duration_and_round(fn: F) -> None:
    # sprig's duration only understands int64 and strings (a Go int literal gives 0s)
    assert fn["duration"](GoInt(95)) == "0s"
    assert fn["duration"](95) == "1m35s"
    assert fn["duration"]("95") == "1m35s"
    assert fn["durationRound"]("2h5m") == "2h"
    assert fn["durationRound"]("49h") == "2d"
    assert fn["durationRound"]("400d") == "0s"  # not a Go duration unit


def test_now_and_ago(fn: F) -> None:
    now = fn["now"]()
    assert now.tzinfo is not None
    assert fn["ago"](now) == "0s"
    assert fn["ago"](now - dt.timedelta(minutes=2)) == "2m0s"
