"""Label selector semantics, selector string parsing and rendering."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.api.errors import InvalidSelector
from shared.api.selectors import (
    LabelSelector,
    LabelSelectorRequirement,
    parse_selector,
    selector_to_string,
)


def req(key: str, op: str, *values: str) -> LabelSelectorRequirement:
    return LabelSelectorRequirement.model_validate(
        {"key": key, "operator": op, "values": list(values)}
    )


@pytest.mark.parametrize(
    ("requirement", "labels", "expected"),
    [
        (req("env", "In", "fv", "prod"), {"env": "fv"}, True),
        (req("env", "In", "fv"), {"env": "dev"}, False),
        (req("env", "In", "fv"), {}, False),
        (req("env", "NotIn", "fv"), {"env": "fv"}, False),
        (req("env", "NotIn", "fv"), {"env": "dev"}, True),
        (req("env", "NotIn", "fv"), {}, True),
        (req("env", "Exists"), {"env": ""}, True),
        (req("env", "Exists"), {}, False),
        (req("env", "DoesNotExist"), {}, True),
        (req("env", "DoesNotExist"), {"env": "x"}, False),
    ],
)
def test_requirement_semantics(
    requirement: LabelSelectorRequirement, labels: dict[str, str], expected: bool
) -> None:
    assert requirement.matches(labels) is expected
    assert LabelSelector(match_expressions=[requirement]).matches(labels) is expected


def test_empty_selector_matches_everything() -> None:
    assert LabelSelector().matches({})
    assert LabelSelector().matches({"a": "b"})
    assert LabelSelector.model_validate({}).is_empty()


def test_match_labels_and_expressions_are_anded() -> None:
    sel = LabelSelector.model_validate(
        {
            "matchLabels": {"env": "fv"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}],
        }
    )
    assert sel.matches({"env": "fv", "tier": "a"})
    assert not sel.matches({"env": "fv", "tier": "b"})
    assert not sel.matches({"tier": "a"})


@pytest.mark.parametrize(
    ("text", "match_labels", "expressions"),
    [
        ("", {}, []),
        ("env=fv", {"env": "fv"}, []),
        ("env==fv", {"env": "fv"}, []),
        (" env = fv ", {"env": "fv"}, []),
        ("env!=fv", {}, [("env", "NotIn", ["fv"])]),
        ("tier in (a,b)", {}, [("tier", "In", ["a", "b"])]),
        ("tier in (a, b )", {}, [("tier", "In", ["a", "b"])]),
        ("tier notin (a)", {}, [("tier", "NotIn", ["a"])]),
        ("key", {}, [("key", "Exists", [])]),
        ("!key", {}, [("key", "DoesNotExist", [])]),
        (
            "env=fv,tier in (a,b),!legacy,example.com/x",
            {"env": "fv"},
            [
                ("tier", "In", ["a", "b"]),
                ("legacy", "DoesNotExist", []),
                ("example.com/x", "Exists", []),
            ],
        ),
        ("env=fv,env=prod", {"env": "fv"}, [("env", "In", ["prod"])]),
        ("env=", {"env": ""}, []),
        ("tier in ()", {}, [("tier", "In", [""])]),
        ("tier notin (a,)", {}, [("tier", "NotIn", ["a", ""])]),
        ("tier in (,)", {}, [("tier", "In", ["", ""])]),
    ],
)
def test_parse_selector(
    text: str, match_labels: dict[str, str], expressions: list[tuple[str, str, list[str]]]
) -> None:
    sel = parse_selector(text)
    assert sel.match_labels == match_labels
    assert [(r.key, r.operator, r.values) for r in sel.match_expressions] == expressions
    assert parse_selector(selector_to_string(sel)) == sel


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("env=fv,", "trailing ','"),
        ("tier in (a,b", "missing ')'"),
        ("tier in a", "expected '('"),
        ("env=fv tier=a", "expected ','"),
        ("!", "must be followed"),
        ("=fv", "unexpected '='"),
        ("bad key!=x", "unexpected"),
        ("env>3", "Gt/Lt"),
        ("-env=fv", "label key"),
        ("env=fv!", "expected ','"),
        ("env=a/b", "label value"),
    ],
)
def test_parse_selector_errors(text: str, fragment: str) -> None:
    with pytest.raises(InvalidSelector) as info:
        parse_selector(text)
    assert repr(text) in str(info.value)
    assert fragment in str(info.value)


def test_not_equal_means_absent_matches() -> None:
    sel = parse_selector("env!=prod")
    assert sel.matches({})
    assert sel.matches({"env": "fv"})
    assert not sel.matches({"env": "prod"})


def test_selector_to_string() -> None:
    sel = LabelSelector.model_validate(
        {
            "matchLabels": {"b": "2", "a": "1"},
            "matchExpressions": [
                {"key": "t", "operator": "NotIn", "values": ["x", "y"]},
                {"key": "u", "operator": "Exists"},
                {"key": "v", "operator": "DoesNotExist"},
            ],
        }
    )
    assert selector_to_string(sel) == "a=1,b=2,t notin (x,y),u,!v"
    assert selector_to_string(None) == ""
    assert selector_to_string(LabelSelector()) == ""


@pytest.mark.parametrize(
    "data",
    [
        {"matchExpressions": [{"key": "a", "operator": "In"}]},
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
        {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
        {"matchLabels": {"bad key": "x"}},
        {"matchLabel": {"a": "b"}},
    ],
)
def test_invalid_label_selector_structures(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        LabelSelector.model_validate(data)
