"""EventSource model: label filter truth table, shapes over time, round trip."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.api.eventsource import (
    V1ALPHA1,
    V1BETA1,
    EventSource,
    LabelFilter,
    ResourceSelector,
)

# sveltos-semantics.md §1.4: (operation, labels, expected)
TRUTH_TABLE = [
    ("Equal", {}, False),
    ("Equal", {"k": "v"}, True),
    ("Equal", {"k": "w"}, False),
    ("Different", {}, True),
    ("Different", {"k": "v"}, False),
    ("Different", {"k": "w"}, True),
    ("Has", {}, False),
    ("Has", {"k": ""}, True),
    ("Has", {"k": "w"}, True),
    ("DoesNotHave", {}, True),
    ("DoesNotHave", {"k": ""}, False),
    ("DoesNotHave", {"k": "v"}, False),
]


@pytest.mark.parametrize(("operation", "labels", "expected"), TRUTH_TABLE)
def test_label_filter_truth_table(operation: str, labels: dict[str, str], expected: bool) -> None:
    flt = LabelFilter.model_validate({"key": "k", "operation": operation, "value": "v"})
    assert flt.matches(labels) is expected


def test_label_filter_unknown_operation() -> None:
    with pytest.raises(ValidationError) as info:
        LabelFilter.model_validate({"key": "k", "operation": "NotEqual", "value": "v"})
    assert "operation" in str(info.value)


def test_resource_selector_filters_and_selector_are_anded() -> None:
    sel = ResourceSelector.model_validate(
        {
            "version": "v1",
            "kind": "Service",
            "labelFilters": [{"key": "a", "operation": "Equal", "value": "1"}],
            "selector": {"matchExpressions": [{"key": "b", "operator": "NotIn", "values": ["x"]}]},
        }
    )
    assert sel.labels_match({"a": "1"})
    assert sel.labels_match({"a": "1", "b": "y"})
    assert not sel.labels_match({"a": "1", "b": "x"})
    assert not sel.labels_match({"b": "y"})
    assert sel.label_selector_string() == "a=1,b notin (x)"


FLAT = {
    "apiVersion": V1ALPHA1,
    "kind": "EventSource",
    "metadata": {"name": "s"},
    "spec": {
        "collectResources": True,
        "group": "",
        "version": "v1",
        "kind": "Service",
        "namespace": "eng",
        "labelFilters": [{"key": "sveltos", "operation": "Equal", "value": "fv"}],
        "script": "function evaluate() return {matching=true} end",
    },
}


def test_flat_v1alpha1_normalises_to_one_selector() -> None:
    es = EventSource.model_validate(FLAT)
    assert es.api_version == V1ALPHA1
    assert es.spec.is_flat
    [sel] = es.spec.resource_selectors
    assert (sel.group, sel.version, sel.kind, sel.namespace) == ("", "v1", "Service", "eng")
    assert sel.evaluate.startswith("function evaluate")
    assert sel.label_filters[0].value == "fv"
    assert es.spec.collect_resources is True
    # dumped back in its original shape
    dumped = es.to_dict()
    assert dumped["apiVersion"] == V1ALPHA1
    assert "resourceSelectors" not in dumped["spec"]
    assert dumped["spec"]["script"].startswith("function")
    again = EventSource.model_validate(dumped)
    assert again == es
    assert again.spec.is_flat
    assert again.to_dict() == dumped
    # the normalised form is v1beta1
    norm = es.normalized()
    assert norm.api_version == V1BETA1
    assert norm.to_dict()["spec"]["resourceSelectors"][0]["evaluate"] == sel.evaluate
    assert norm.spec.resource_selectors == es.spec.resource_selectors


def test_flat_accepts_labels_filters_misspelling() -> None:
    data = {
        **FLAT,
        "spec": {
            "version": "v1",
            "kind": "Service",
            "labelsFilters": [{"key": "a", "operation": "Different", "value": "b"}],
        },
    }
    es = EventSource.model_validate(data)
    assert es.spec.resource_selectors[0].label_filters[0].operation == "Different"


def test_flat_does_not_mix_with_resource_selectors() -> None:
    data = {**FLAT, "spec": {**FLAT["spec"], "resourceSelectors": []}}  # type: ignore[dict-item]
    with pytest.raises(ValidationError) as info:
        EventSource.model_validate(data)
    assert "cannot be combined" in str(info.value)


def test_flat_only_in_v1alpha1() -> None:
    with pytest.raises(ValidationError) as info:
        EventSource.model_validate({**FLAT, "apiVersion": V1BETA1})
    assert "flat" in str(info.value)


def test_script_in_resource_selectors() -> None:
    data = {
        "apiVersion": V1ALPHA1,
        "kind": "EventSource",
        "metadata": {"name": "s"},
        "spec": {"resourceSelectors": [{"version": "v1", "kind": "Pod", "script": "x"}]},
    }
    es = EventSource.model_validate(data)
    assert es.spec.resource_selectors[0].evaluate == "x"
    assert es.to_dict()["spec"]["resourceSelectors"][0] == {
        "version": "v1",
        "kind": "Pod",
        "script": "x",
    }
    assert EventSource.model_validate(es.to_dict()) == es


def test_defaults() -> None:
    es = EventSource.model_validate(
        {
            "metadata": {"name": "s"},
            "spec": {"resourceSelectors": [{"version": "v1", "kind": "Pod"}]},
        }
    )
    assert es.api_version == V1BETA1
    assert es.spec.collect_resources is False
    assert es.spec.aggregated_selection == ""
    assert es.spec.messaging_match_criteria == []


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"resourceSelectors": [{"version": "v1", "kind": "Pod", "bogus": 1}]}, "bogus"),
        ({"resourceSelectors": [{"version": "v1"}]}, "kind"),
        ({"resourceSelectors": [{"version": "v1", "kind": ""}]}, "kind"),
        ({"collectResources": "maybe"}, "collectResources"),
        (
            {
                "resourceSelectors": [
                    {"version": "v1", "kind": "Pod", "script": "a", "evaluate": "b"}
                ]
            },
            "script",
        ),
    ],
)
def test_invalid_specs(spec: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        EventSource.model_validate({"metadata": {"name": "s"}, "spec": spec})
    assert fragment in str(info.value)
