"""sprig arithmetic, conversion and reflection functions."""

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
        ("add", (1, 2, 3), 6),
        ("add", (1, 3.7), 4),
        ("add", ("2", 3), 5),
        ("add1", (41,), 42),
        ("sub", (10, 42), -32),
        ("mul", (1, "2", 3, "4"), 24),
        ("div", (42, 5), 8),
        ("div", (-7, 2), -3),
        ("mod", (42, 5), 2),
        ("mod", (-7, 2), -1),
        ("max", (1, 5, 3), 5),
        ("biggest", (345,), 345),
        ("min", (4, 2, 8), 2),
        ("addf", (1.5, 2.2, 3), 6.7),
        ("add1f", (3.4,), 4.4),
        ("subf", (4.5, 1, 3), 0.5),
        ("divf", (5, 4, 2), 0.625),
        ("mulf", (1.2, "2.4", 10, "4"), 115.2),
        ("maxf", (1, 2, 345.7, 5), 345.7),
        ("minf", (1.4, 2, 3), 1.4),
        ("ceil", (1.2,), 2.0),
        ("floor", ("1.8",), 1.0),
        ("round", (3.14159, 2), 3.14),
        ("round", (2.5, 0), 3.0),
        ("seq", (3,), "1 2 3"),
        ("seq", (2, 5), "2 3 4 5"),
        ("seq", (0, 3, 10), "0 3 6 9"),
        ("seq", (-5,), "1 0 -1 -2 -3 -4 -5"),
        ("seq", (3, 3, 2), ""),
        ("seq", (), ""),
    ],
)
def test_arithmetic(fn: F, name: str, args: tuple[Any, ...], expected: Any) -> None:
    assert fn[name](*args) == expected


def test_integer_results_are_int64(fn: F) -> None:
    assert type_name(fn["add"](GoInt(1), GoInt(2))) == "int64"
    assert type_name(fn["addf"](1, 2)) == "float64"


def test_integer_overflow_wraps(fn: F) -> None:
    assert fn["add"]((1 << 63) - 1, 1) == -(1 << 63)


@pytest.mark.parametrize("name", ["div", "mod"])
def test_divide_by_zero(fn: F, name: str) -> None:
    with pytest.raises(FunctionError, match="integer divide by zero"):
        fn[name](1, 0)


def test_rand_int_range(fn: F) -> None:
    assert all(1 <= fn["randInt"](1, 3) < 3 for _ in range(20))
    with pytest.raises(FunctionError):
        fn["randInt"](3, 3)


@pytest.mark.parametrize(
    ("name", "arg", "expected", "go_type"),
    [
        ("int64", "12", 12, "int64"),
        ("int64", 3.7, 3, "int64"),
        ("int64", "0x10", 16, "int64"),
        ("int64", "12.0", 12, "int64"),
        ("int64", "4.2", 0, "int64"),
        ("int64", True, 1, "int64"),
        ("int64", None, 0, "int64"),
        ("int", "7", 7, "int"),
        ("float64", "1.5", 1.5, "float64"),
        ("float64", 42, 42.0, "float64"),
        ("float64", "x", 0.0, "float64"),
        ("atoi", "42", 42, "int"),
        ("atoi", "4.2", 0, "int"),
        ("toDecimal", "0777", 511, "int64"),
    ],
)
def test_conversions(fn: F, name: str, arg: Any, expected: Any, go_type: str) -> None:
    out = fn[name](arg)
    assert out == expected and type_name(out) == go_type


def test_reflection(fn: F) -> None:
    assert fn["typeOf"](GoInt(3)) == "int"
    assert fn["typeOf"](3) == "int64"
    assert fn["typeOf"]([]) == "[]interface {}"
    assert fn["typeOf"](None) == "<nil>"
    assert fn["kindOf"]({}) == "map"
    assert fn["kindOf"]([]) == "slice"
    assert fn["kindOf"](None) == "invalid"
    assert fn["kindIs"]("int64", 5) is True
    assert fn["typeIs"]("float64", 2.0) is True
    assert fn["typeIsLike"]("int64", 5) is True


def test_typed_slices(fn: F) -> None:
    assert fn["typeOf"](fn["splitList"](",", "a,b")) == "[]string"
    assert fn["typeOf"](fn["until"](GoInt(2))) == "[]int"
    assert fn["typeOf"](fn["chunk"](GoInt(1), [1])) == "[][]interface {}"
    assert fn["typeOf"](fn["append"](fn["splitList"](",", "a"), "b")) == "[]interface {}"
