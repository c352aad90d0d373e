"""GVK, namespace, name, labelFilters, selector, deletion, several selectors."""

from __future__ import annotations

import pytest

from tests.evaluation.helpers import compiled, service, service_selector

OPS = [
    # op, value, labels, expected (sveltos-semantics.md §1.4)
    ("Equal", "fv", {"sveltos": "fv"}, True),
    ("Equal", "fv", {"sveltos": "prod"}, False),
    ("Equal", "fv", {}, False),
    ("Equal", "", {"sveltos": ""}, True),
    ("Different", "fv", {"sveltos": "fv"}, False),
    ("Different", "fv", {"sveltos": "prod"}, True),
    ("Different", "fv", {}, True),
    ("Has", "", {"sveltos": "anything"}, True),
    ("Has", "", {"sveltos": ""}, True),
    ("Has", "", {"other": "x"}, False),
    ("DoesNotHave", "", {"sveltos": "x"}, False),
    ("DoesNotHave", "", {"sveltos": ""}, False),
    ("DoesNotHave", "", {"other": "x"}, True),
    ("DoesNotHave", "", {}, True),
]


@pytest.mark.parametrize(("op", "value", "labels", "expected"), OPS)
def test_label_operations(op: str, value: str, labels: dict[str, str], expected: bool) -> None:
    c = compiled(
        service_selector(labelFilters=[{"key": "sveltos", "operation": op, "value": value}])
    )
    obj = service(labels=labels)
    assert c.evaluate(obj).matching is expected
    assert (c.selects(obj) == [0]) is expected


def test_object_without_labels_field() -> None:
    c = compiled(
        service_selector(labelFilters=[{"key": "a", "operation": "Different", "value": "x"}])
    )
    assert c.evaluate(service(labels=None)).matching


def test_label_filters_are_anded() -> None:
    c = compiled(
        service_selector(
            labelFilters=[
                {"key": "env", "operation": "Equal", "value": "prod"},
                {"key": "legacy", "operation": "DoesNotHave"},
            ]
        )
    )
    assert c.evaluate(service(labels={"env": "prod"})).matching
    assert not c.evaluate(service(labels={"env": "prod", "legacy": "1"})).matching
    assert not c.evaluate(service(labels={"env": "dev"})).matching


def test_selector_and_label_filters_are_anded() -> None:
    c = compiled(
        service_selector(
            labelFilters=[{"key": "env", "operation": "Equal", "value": "prod"}],
            selector={
                "matchLabels": {"team": "a"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]}],
            },
        )
    )
    assert c.evaluate(service(labels={"env": "prod", "team": "a", "tier": "web"})).matching
    assert not c.evaluate(service(labels={"env": "prod", "team": "a", "tier": "db"})).matching
    assert not c.evaluate(service(labels={"env": "prod", "team": "b", "tier": "web"})).matching
    assert not c.evaluate(service(labels={"env": "dev", "team": "a", "tier": "web"})).matching


@pytest.mark.parametrize(
    ("expression", "labels", "expected"),
    [
        ({"key": "x", "operator": "NotIn", "values": ["a"]}, {}, True),
        ({"key": "x", "operator": "NotIn", "values": ["a"]}, {"x": "a"}, False),
        ({"key": "x", "operator": "Exists"}, {"x": ""}, True),
        ({"key": "x", "operator": "DoesNotExist"}, {"x": ""}, False),
        ({"key": "x", "operator": "DoesNotExist"}, {}, True),
    ],
)
def test_selector_expressions(
    expression: dict[str, object], labels: dict[str, str], expected: bool
) -> None:
    c = compiled(service_selector(selector={"matchExpressions": [expression]}))
    assert c.evaluate(service(labels=labels)).matching is expected


def test_empty_selector_matches_everything() -> None:
    c = compiled(service_selector(selector={}))
    assert c.evaluate(service(labels={"a": "b"})).matching
    assert c.evaluate(service()).matching


def test_gvk_must_match() -> None:
    c = compiled({"group": "apps", "version": "v1", "kind": "Deployment"})
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}
    assert c.evaluate(deployment).matching
    assert c.gvks == [("apps", "v1", "Deployment")]
    assert not c.evaluate({**deployment, "apiVersion": "apps/v1beta1"}).matching
    assert not c.evaluate({**deployment, "apiVersion": "extensions/v1"}).matching
    assert not c.evaluate({**deployment, "kind": "StatefulSet"}).matching
    assert c.selects(service()) == []


def test_core_group() -> None:
    c = compiled(service_selector())
    assert c.gvks == [("", "v1", "Service")]
    assert c.evaluate(service()).matching
    assert not c.evaluate({**service(), "apiVersion": "core/v1"}).matching


def test_namespace_and_name() -> None:
    c = compiled(service_selector(namespace="prod", name="web"))
    assert c.evaluate(service("web", "prod")).matching
    assert not c.evaluate(service("web", "dev")).matching
    assert not c.evaluate(service("api", "prod")).matching
    any_ns = compiled(service_selector())
    assert any_ns.evaluate(service("x", "anything")).matching
    assert any_ns.evaluate(
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "n"}}
    ).matching


def test_deleted_objects_never_match() -> None:
    c = compiled(service_selector())
    obj = service()
    obj["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    result = c.evaluate(obj)
    assert not result.matching and result.error is None
    assert "deleted" in result.message


def test_several_selectors_are_ored_and_count_once() -> None:
    c = compiled(
        service_selector(labelFilters=[{"key": "a", "operation": "Has"}]),
        service_selector(labelFilters=[{"key": "b", "operation": "Has"}]),
        {"group": "apps", "version": "v1", "kind": "Deployment"},
    )
    assert c.gvks == [("", "v1", "Service"), ("apps", "v1", "Deployment")]
    both = service(labels={"a": "1", "b": "2"})
    assert c.selects(both) == [0, 1]
    assert c.evaluate(both).matching
    assert c.selects(service(labels={"b": "2"})) == [1]
    assert not c.evaluate(service(labels={"c": "3"})).matching
    # the same object given twice to aggregate counts once
    result = c.aggregate([both, both, service("other", labels={"a": "1"})])
    assert [o["metadata"]["name"] for o in result.resources] == ["svc", "other"]


def test_aggregate_without_script_is_the_filtered_list() -> None:
    c = compiled(service_selector(labelFilters=[{"key": "a", "operation": "Has"}]))
    result = c.aggregate([service("x", labels={"a": "1"}), service("y")])
    assert result.error is None
    assert [o["metadata"]["name"] for o in result.resources] == ["x"]
    assert not c.has_aggregation


def test_malformed_objects_do_not_raise() -> None:
    c = compiled(service_selector(labelFilters=[{"key": "a", "operation": "DoesNotHave"}]))
    for obj in (
        {"apiVersion": "v1", "kind": "Service"},
        {"apiVersion": "v1", "kind": "Service", "metadata": "oops"},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"labels": None}},
        {},
    ):
        c.evaluate(obj)
        c.aggregate([obj])
