"""base64/base32 and JSON as Go's encoding/json writes and reads it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.templating.errors import FunctionError
from shared.templating.funcs import function_map
from shared.templating.values import GoInt, object_reference

F = dict[str, Callable[..., Any]]


def test_base64(fn: F) -> None:
    assert fn["b64enc"]("Hello World") == "SGVsbG8gV29ybGQ="
    assert fn["b64dec"]("SGVsbG8gV29ybGQ=") == "Hello World"
    assert fn["b64dec"]("not base64!") == "illegal base64 data at input byte 3"
    assert fn["b64dec"]("YQ").startswith("illegal base64 data")


def test_base32(fn: F) -> None:
    assert fn["b32enc"]("Hello World") == "JBSWY3DPEBLW64TMMQ======"
    assert fn["b32dec"]("JBSWY3DPEBLW64TMMQ======") == "Hello World"
    assert fn["b32dec"]("!").startswith("illegal base32 data")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"b": 1, "a": [1, 2.5]}, '{"a":[1,2.5],"b":1}'),
        ("<a&b>", '"\\u003ca\\u0026b\\u003e"'),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (1000000.0, "1000000"),
        (12345678.9, "12345678.9"),
        (9.223372036854776e18, "9223372036854776000"),
        (None, "null"),
        (GoInt(3), "3"),
        ("\x01\n\u2028", '"\\u0001\\n\\u2028"'),
        (b"hi", '"aGk="'),
        (object_reference({"kind": "Service", "name": "s"}), '{"kind":"Service","name":"s"}'),
    ],
)
def test_to_json(fn: F, value: Any, expected: str) -> None:
    assert fn["toJson"](value) == expected


def test_to_json_unsupported_value(fn: F) -> None:
    assert fn["toJson"](float("nan")) == ""
    with pytest.raises(FunctionError, match="unsupported value"):
        fn["mustToJson"](float("inf"))


def test_raw_and_pretty_json(fn: F) -> None:
    assert fn["toRawJson"]({"k": "<a&b>"}) == '{"k":"<a&b>"}'
    pretty = fn["toPrettyJson"]({"a": 1, "c": {"d": [1, 2]}, "e": [], "f": {}})
    assert pretty == (
        '{\n  "a": 1,\n  "c": {\n    "d": [\n      1,\n      2\n    ]\n  },\n'
        '  "e": [],\n  "f": {}\n}'
    )


def test_from_json_keeps_integers(fn: F) -> None:
    # BRIEF section 4: integers stay integers (Go decodes every number as float64)
    out = fn["fromJson"]('{"a": 1, "b": [1, 2.5], "big": 9223372036854775808}')
    assert out == {"a": 1, "b": [1, 2.5], "big": 9.223372036854776e18}
    assert isinstance(out["a"], int) and isinstance(out["big"], float)


def test_sveltos_from_json_reports_errors_in_the_map(fn: F) -> None:
    assert fn["fromJson"]("[1, 2]") == {
        "Error": "json: cannot unmarshal array into Go value of type map[string]interface {}"
    }
    assert "Error" in fn["fromJson"]("{bad")
    assert fn["fromJsonArray"]('[1, "a", null, true]') == [1, "a", None, True]
    assert fn["fromJsonArray"]("{}") == [
        "json: cannot unmarshal object into Go value of type []interface {}"
    ]


def test_sprig_from_json_returns_any_value() -> None:
    sprig = function_map("sprig")
    assert sprig["fromJson"]("[1, 2]") == [1, 2]
    assert sprig["fromJson"]("{bad") is None
    assert sprig["mustFromJson"]("[1]") == [1]
    with pytest.raises(FunctionError, match="invalid character"):
        sprig["mustFromJson"]("{bad")
    with pytest.raises(FunctionError, match="unexpected end of JSON input"):
        sprig["mustFromJson"]("")
