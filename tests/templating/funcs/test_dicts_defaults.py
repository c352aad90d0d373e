"""sprig dict, defaults and flow-control functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.templating.errors import FunctionError
from shared.templating.values import GoInt

F = dict[str, Callable[..., Any]]


def test_dict_builds_string_keys(fn: F) -> None:
    assert fn["dict"]("a", 1, 2, "b", "odd") == {"a": 1, "2": "b", "odd": ""}


def test_get_set_unset_haskey(fn: F) -> None:
    d = fn["dict"]("a", 1)
    assert fn["get"](d, "a") == 1
    assert fn["get"](d, "zz") == ""
    assert fn["set"](d, "b", 2) is d and d == {"a": 1, "b": 2}
    assert fn["unset"](d, "a") == {"b": 2}
    assert fn["hasKey"](d, "b") is True
    assert fn["hasKey"](d, "a") is False


def test_pluck_keys_pick_omit_values(fn: F) -> None:
    assert fn["pluck"]("a", {"a": 1}, {"a": 2}, {"b": 3}) == [1, 2]
    assert sorted(fn["keys"]({"b": 1}, {"a": 2})) == ["a", "b"]
    assert fn["pick"]({"a": 1, "b": 2, "c": 3}, "a", "b", "zz") == {"a": 1, "b": 2}
    assert fn["omit"]({"a": 1, "b": 2}, "a") == {"b": 2}
    assert sorted(fn["values"]({"a": 1, "b": 2})) == [1, 2]


def test_merge_keeps_destination_values(fn: F) -> None:
    dst = {"x": 1, "n": {"p": 1}}
    out = fn["merge"](dst, {"x": 2, "y": 3, "n": {"q": 2}})
    assert out is dst
    assert out == {"x": 1, "y": 3, "n": {"p": 1, "q": 2}}


def test_merge_overwrite(fn: F) -> None:
    assert fn["mergeOverwrite"]({"x": 1}, {"x": 2, "y": 3}) == {"x": 2, "y": 3}


def test_merge_shares_nested_maps_as_go_does(fn: F) -> None:
    # sprig issue 188: merged-in maps are shared, so later merges reach the source
    target: dict[str, Any] = {}
    one = {"foo": {"bar": "baz"}, "qux": True}
    fn["mergeOverwrite"](target, one)
    fn["mergeOverwrite"](target, {"foo": {"bar": "baz2"}, "qux": False})
    assert one == {"foo": {"bar": "baz2"}, "qux": True}


def test_deep_copy_is_independent(fn: F) -> None:
    one = {"foo": {"bar": "baz"}}
    c = fn["deepCopy"](one)
    c["foo"]["bar"] = "x"
    assert one["foo"]["bar"] == "baz"


def test_dig(fn: F) -> None:
    d = {"a": {"b": {"c": 1}}}
    assert fn["dig"]("a", "b", "c", "", d) == 1
    assert fn["dig"]("a", "b", "z", "dflt", d) == "dflt"
    with pytest.raises(FunctionError, match="at least three"):
        fn["dig"]("a", d)
    with pytest.raises(FunctionError, match="interface conversion"):
        fn["dig"]("a", "b", "x", {"a": "s"})


def test_deep_equal(fn: F) -> None:
    assert fn["deepEqual"]([1, 2], [1, 2]) is True
    assert fn["deepEqual"]([GoInt(1)], [1]) is False
    assert fn["deepEqual"]({"a": [1]}, {"a": [1]}) is True


@pytest.mark.parametrize(
    ("value", "empty"),
    [
        (None, True), ("", True), (0, True), (0.0, True), (False, True), ([], True),
        ({}, True), ("0", False), ("false", False), ([None], False), (1, False),
    ],
)  # fmt: skip
def test_empty(fn: F, value: Any, empty: bool) -> None:
    assert fn["empty"](value) is empty


def test_default_coalesce_all_any(fn: F) -> None:
    assert fn["default"]("d") == "d"
    assert fn["default"]("d", 0) == "d"
    assert fn["default"]("d", 234) == 234
    assert fn["coalesce"]("", 0, None, 2) == 2
    assert fn["coalesce"]() is None
    assert fn["all"]() is True and fn["all"](1, "") is False
    assert fn["any"]() is False and fn["any"]("", 0, 2) is True


def test_ternary_requires_a_bool(fn: F) -> None:
    assert fn["ternary"]("y", "n", True) == "y"
    assert fn["ternary"]("y", "n", False) == "n"
    with pytest.raises(FunctionError, match="expected bool; got int64"):
        fn["ternary"]("y", "n", 42)


def test_fail(fn: F) -> None:
    with pytest.raises(FunctionError, match=r"^custom failure$"):
        fn["fail"]("custom failure")


def test_merge_overwrite_takes_empty_source_values(fn: F) -> None:
    # sprig docs: mergeOverwrite of {key: true} with {key: false} gives false
    dst = {"default": "default", "overwrite": "me", "key": True}
    out = fn["mergeOverwrite"](dst, {"overwrite": "overwritten", "key": False})
    assert out == {"default": "default", "overwrite": "overwritten", "key": False}


def test_merge_fills_empty_values_only(fn: F) -> None:
    assert fn["merge"]({"a": "", "b": 0, "c": "x"}, {"a": 1, "b": 2, "c": "y", "d": None}) == {
        "a": 1,
        "b": 2,
        "c": "x",
    }
