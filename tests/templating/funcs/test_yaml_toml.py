"""toYaml/fromYaml (sigs.k8s.io/yaml), the yaml.v3 writer, toToml/fromToml."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.templating.budget import BudgetExceeded
from shared.templating.funcs.yamlgo import dump_v3
from shared.templating.values import GoInt

F = dict[str, Callable[..., Any]]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": 1, "b": 2, "c": {"d": [1, 2]}}, "a: 1\nb: 2\nc:\n  d:\n  - 1\n  - 2"),
        ([3, 1, 2], "- 3\n- 1\n- 2"),
        ("Hello World", "Hello World"),
        ("line1\nline2\n", "|\n  line1\n  line2"),
        ("line1\nline2", "|-\n  line1\n  line2"),
        (1000000.0, "1000000"),
        (12345678.9, "1.23456789e+07"),
        (1e-07, "1e-07"),
        (True, "true"),
        (None, "null"),
        ({}, "{}"),
        ([], "[]"),
        ({"z": 1, "a": 2, "m": ["x", "y"]}, 'a: 2\nm:\n- x\n- "y"\nz: 1'),
        (
            {"app.kubernetes.io/name": "x", "y": "n", "1": "k"},
            '"1": k\napp.kubernetes.io/name: x\n"y": "n"',
        ),
        ([{"a": 1}, {"b": [1, 2]}], "- a: 1\n- b:\n  - 1\n  - 2"),
        ([GoInt(1), 2, 3.0, 4.5, "5"], '- 1\n- 2\n- 3\n- 4.5\n- "5"'),
        ({"k": ""}, 'k: ""'),
        ({"k": "2024-01-01"}, 'k: "2024-01-01"'),
        ({"k": "0777"}, 'k: "0777"'),
        ({"k": "  lead"}, "k: '  lead'"),
        ({"k": "x: y"}, "k: 'x: y'"),
        ({"k": "a\tb"}, 'k: "a\\tb"'),
        ({"a10": 1, "a9": 2, "b": 3}, "a9: 2\na10: 1\nb: 3"),
        ([[1, 2], []], "- - 1\n  - 2\n- []"),
    ],
)
def test_to_yaml(fn: F, value: Any, expected: str) -> None:
    assert fn["toYaml"](value) == expected


def test_to_yaml_folds_long_strings(fn: F) -> None:
    out = fn["toYaml"]("abcd " * 30)
    first, second = out.split("\n")
    assert first.startswith("'abcd") and second.startswith("  abcd") and out.endswith(" '")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\nb: [x, y]\nc: 1.5\nd: yes", {"a": 1, "b": ["x", True], "c": 1.5, "d": True}),
        (
            "a: 2024-01-01\nb: Off\nc: ~\nd: 'y'",
            {"a": "2024-01-01", "b": False, "c": None, "d": "y"},
        ),
        ("1: a\ntrue: b", {"1": "a", "true": "b"}),
        ("x: 0x1F\nz: 1_000\ny: 1", {"x": 31, "z": 1000, "true": 1}),
        ("", {}),
    ],
)
def test_from_yaml(fn: F, text: str, expected: dict[str, Any]) -> None:
    assert fn["fromYaml"](text) == expected


def test_from_yaml_errors_go_in_the_map(fn: F) -> None:
    assert fn["fromYaml"]("- a\n- b") == {
        "Error": "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array "
        "into Go value of type map[string]interface {}"
    }
    assert fn["fromYaml"]("a: [1, 2")["Error"].startswith("error converting YAML to JSON: yaml:")


def test_from_yaml_array(fn: F) -> None:
    assert fn["fromYamlArray"]("- a\n- 2\n- {k: v}") == ["a", 2, {"k": "v"}]
    assert fn["fromYamlArray"]("a: 1")[0].startswith("error unmarshaling JSON")


def test_yaml_v3_layout() -> None:
    doc = {
        "metadata": {"annotations": {"nginx": "1.25", "y": "n"}},
        "spec": {"ips": ["10.0.0.1"], "ports": [{"name": "https", "port": 443}]},
        "l": [{"x": [1, 2], "y": {"z": 1}}],
    }
    assert dump_v3(doc) == (
        "l:\n"
        "    - x:\n"
        "        - 1\n"
        "        - 2\n"
        '      "y":\n'
        "        z: 1\n"
        "metadata:\n"
        "    annotations:\n"
        '        nginx: "1.25"\n'
        '        "y": "n"\n'
        "spec:\n"
        "    ips:\n"
        "        - 10.0.0.1\n"
        "    ports:\n"
        "        - name: https\n"
        "          port: 443\n"
    )


def test_toml_round_trip(fn: F) -> None:
    out = fn["toToml"]({"a": 1, "b": {"c": "d", "e": [1, 2]}, "f": 1.5})
    assert out == 'a = 1\nf = 1.5\n\n[b]\n  c = "d"\n  e = [1, 2]\n'
    assert fn["fromToml"](out) == {"a": 1, "b": {"c": "d", "e": [1, 2]}, "f": 1.5}
    assert fn["toToml"]([1]) == "toml: top-level values must be Go maps or structs"
    assert "Error" in fn["fromToml"]("a = ")


def test_alias_bomb_is_bounded(fn: F) -> None:
    doc = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 8):
        prev = "a" if i == 1 else f"l{i - 1}"
        doc += f"l{i}: &l{i} [{', '.join(['*' + prev] * 10)}]\n"
    with pytest.raises(BudgetExceeded, match="expands to more than 100000 nodes"):
        fn["fromYaml"](doc)
    with pytest.raises(BudgetExceeded, match="expands to more than 100000 nodes"):
        fn["fromYamlArray"]("- " + doc.replace("\n", "\n  "))
