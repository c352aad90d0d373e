"""sprig list functions: reflection-based list handling and its errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.templating.errors import FunctionError
from shared.templating.gofmt import type_name
from shared.templating.values import GoInt

F = dict[str, Callable[..., Any]]


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("list", (1, "a", None), [1, "a", None]),
        ("tuple", (), []),
        ("append", ([1, 2], 3), [1, 2, 3]),
        ("prepend", ([1, 2], 0), [0, 1, 2]),
        ("first", ([1, 2],), 1),
        ("first", ([],), None),
        ("last", ([1, 2],), 2),
        ("rest", ([1, 2, 3],), [2, 3]),
        ("rest", ([],), []),
        ("initial", ([1, 2, 3],), [1, 2]),
        ("reverse", ([1, 2, 3],), [3, 2, 1]),
        ("compact", ([1, "", None, 0, "a", False],), [1, "a"]),
        ("uniq", (["foo", 1, 1, "foo"],), ["foo", 1]),
        ("without", ([1, 2, 1, 3], 1), [2, 3]),
        ("without", ([1, 2],), [1, 2]),
        ("has", ("b", ["a", "b"]), True),
        ("has", ("bar", None), False),
        ("slice", ([1, 2, 3], 1), [2, 3]),
        ("slice", ([1, 2, 3], 0, 2), [1, 2]),
        ("slice", ([1, 2, 3],), [1, 2, 3]),
        ("slice", ([],), None),
        ("concat", ([1, 2], [3], [[4]]), [1, 2, 3, [4]]),
        ("chunk", (2, [1, 2, 3, 4, 5]), [[1, 2], [3, 4], [5]]),
        ("chunk", (3, []), []),
    ],
)
def test_list_functions(fn: F, name: str, args: tuple[Any, ...], expected: Any) -> None:
    assert fn[name](*args) == expected


def test_must_variants_are_the_same_functions(fn: F) -> None:
    for name in ("first", "last", "rest", "initial", "reverse", "uniq", "without", "has"):
        m = "must" + name[0].upper() + name[1:]
        assert fn[m] is fn[name]


def test_has_compares_go_types(fn: F) -> None:
    # a JSON integer is int64, a template literal is int: DeepEqual tells them apart
    assert fn["has"](GoInt(3), [3]) is False
    assert fn["has"](3, [3]) is True


def test_uniq_does_not_merge_int_and_int64(fn: F) -> None:
    assert fn["uniq"]([GoInt(1), 1]) == [1, 1]


def test_inputs_are_not_modified(fn: F) -> None:
    data = [3, 1, 2]
    fn["append"](data, 4)
    fn["reverse"](data)
    assert data == [3, 1, 2]


@pytest.mark.parametrize(
    ("name", "args", "message"),
    [
        ("append", ("x", 1), "Cannot push on type string"),
        ("first", (5,), "Cannot find first on type int64"),
        ("slice", ("str", 1), "list should be type of slice or array but string"),
        ("slice", ([1, 2, 3], 1, 9), "slice index out of bounds"),
        ("concat", ([1], "x"), "Cannot concat type string as list"),
        ("chunk", (2, {}), "Cannot chunk type map"),
        ("first", (None,), "nil pointer"),
    ],
)
def test_list_errors(fn: F, name: str, args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(FunctionError, match=message):
        fn[name](*args)


def test_until_and_until_step(fn: F) -> None:
    assert fn["until"](GoInt(3)) == [0, 1, 2]
    assert fn["until"](GoInt(-3)) == [0, -1, -2]
    assert all(type_name(x) == "int" for x in fn["until"](GoInt(2)))
    assert fn["untilStep"](0, 10, 3) == [0, 3, 6, 9]
    assert fn["untilStep"](0, -10, -4) == [0, -4, -8]
    assert fn["untilStep"](3, 99, 0) == []
    assert fn["untilStep"](3, 0, 1) == []


def test_ranges_are_bounded(fn: F) -> None:
    with pytest.raises(FunctionError, match="range too large"):
        fn["until"](GoInt(10**9))
