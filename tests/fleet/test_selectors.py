"""Label and field selectors, limit/continue pagination."""

from __future__ import annotations

import pytest
from kubernetes import client

from services.fleet.errors import ApiError
from services.fleet.selectors import parse_field_selector, parse_label_selector
from tests.fleet.conftest import Cluster

OBJECTS = {
    "a": {"env": "prod", "tier": "web"},
    "b": {"env": "dev", "tier": "web"},
    "c": {"env": "prod"},
    "d": {},
}


@pytest.fixture
def labelled(cluster: Cluster) -> Cluster:
    for name, labels in OBJECTS.items():
        cluster.core.create_namespaced_config_map(
            "default", {"metadata": {"name": name, "labels": labels}}
        )
    return cluster


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("env=prod", "ac"),
        ("env==prod", "ac"),
        ("env!=prod", "bd"),
        ("env in (prod,dev)", "abc"),
        ("env notin (prod)", "bd"),
        ("tier", "ab"),
        ("!tier", "cd"),
        ("env=prod,tier", "a"),
        ("env in (dev, prod),!tier", "c"),
    ],
)
def test_label_selector_operators(labelled: Cluster, selector: str, expected: str) -> None:
    items = labelled.core.list_namespaced_config_map("default", label_selector=selector).items
    assert "".join(sorted(i.metadata.name for i in items)) == expected


def test_bad_label_selector_is_400(labelled: Cluster) -> None:
    with pytest.raises(client.ApiException) as err:
        labelled.core.list_namespaced_config_map("default", label_selector="a in (b")
    assert err.value.status == 400


def test_field_selectors(labelled: Cluster) -> None:
    core = labelled.core
    core.create_namespace({"metadata": {"name": "other"}})
    core.create_namespaced_config_map("other", {"metadata": {"name": "a"}})
    items = core.list_config_map_for_all_namespaces(field_selector="metadata.name=a").items
    assert sorted(i.metadata.namespace for i in items) == ["default", "other"]
    items = core.list_config_map_for_all_namespaces(
        field_selector="metadata.name=a,metadata.namespace!=default"
    ).items
    assert [(i.metadata.namespace, i.metadata.name) for i in items] == [("other", "a")]
    items = core.list_config_map_for_all_namespaces(
        field_selector="metadata.namespace==other"
    ).items
    assert [i.metadata.name for i in items] == ["a"]
    items = core.list_namespaced_config_map(
        "default", field_selector="metadata.name=b", label_selector="env=dev"
    ).items
    assert [i.metadata.name for i in items] == ["b"]


def test_limit_and_continue(labelled: Cluster) -> None:
    core = labelled.core
    page = core.list_namespaced_config_map("default", limit=3)
    assert [i.metadata.name for i in page.items] == ["a", "b", "c"]
    assert page.metadata._continue and page.metadata.remaining_item_count == 1
    page2 = core.list_namespaced_config_map("default", limit=3, _continue=page.metadata._continue)
    assert [i.metadata.name for i in page2.items] == ["d"]
    assert not page2.metadata._continue
    status, body = labelled.raw(
        "GET",
        "/api/v1/namespaces/default/configmaps",
        query=[("limit", 2), ("continue", "!!garbage")],
    )
    assert status == 400 and body["reason"] == "BadRequest"


def test_list_items_omit_kind_like_the_real_server(labelled: Cluster) -> None:
    status, body = labelled.raw("GET", "/api/v1/namespaces/default/configmaps")
    assert status == 200 and body["kind"] == "ConfigMapList" and body["apiVersion"] == "v1"
    assert all("kind" not in i for i in body["items"])
    assert body["metadata"]["resourceVersion"]


def test_selector_parser_units() -> None:
    match = parse_label_selector("a in (1, 2),b notin (3),c,!d,e!=4,f=5,g>2")
    assert match is not None
    base = {"a": "1", "b": "x", "c": "", "e": "x", "f": "5", "g": "3"}
    assert match({"metadata": {"labels": base}})
    assert not match({"metadata": {"labels": {**base, "d": "1"}}})
    assert not match({"metadata": {"labels": {**base, "g": "1"}}})
    assert parse_label_selector("") is None
    for bad in ("a in (b", "=x", "a=b c"):
        with pytest.raises(ApiError):
            m = parse_label_selector(bad)
            assert m is not None
    fm, name = parse_field_selector("metadata.name=x,metadata.namespace!=y")
    assert name == "x" and fm is not None
    assert fm({"metadata": {"name": "x", "namespace": "z"}})
    assert not fm({"metadata": {"name": "x", "namespace": "y"}})
