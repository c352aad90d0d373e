"""Merge, strategic-merge and JSON patches, as the official client sends them."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from services.fleet.errors import ApiError
from services.fleet.patching import json_patch, merge_patch, strategic_merge
from tests.fleet.conftest import Cluster, crd_body, deployment

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def test_strategic_merge_merges_lists_by_key(cluster: Cluster) -> None:
    apps = cluster.apps
    apps.create_namespaced_deployment("default", deployment("web"))
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "9"}],
                            "ports": [{"containerPort": 443}],
                        },
                        {"name": "sidecar", "image": "envoy"},
                    ]
                }
            }
        }
    }
    d = apps.patch_namespaced_deployment("web", "default", patch)  # client: strategic merge
    containers = d.spec.template.spec.containers
    assert [c.name for c in containers] == ["main", "sidecar"]
    main = containers[0]
    assert main.image == "nginx:1"
    assert [(e.name, e.value) for e in main.env] == [("A", "9"), ("B", "2")]
    assert [p.container_port for p in main.ports] == [80, 443]
    d = apps.patch_namespaced_deployment(
        "web",
        "default",
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "sidecar", "$patch": "delete"},
                            {"name": "main", "env": [{"name": "A", "$patch": "delete"}]},
                        ]
                    }
                }
            }
        },
    )
    containers = d.spec.template.spec.containers
    assert [c.name for c in containers] == ["main"]
    assert [e.name for e in containers[0].env] == ["B"]


def test_strategic_merge_service_ports_and_null_deletes(cluster: Cluster) -> None:
    core = cluster.core
    core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "s"},
            "spec": {"selector": {"app": "s"}, "ports": [{"name": "http", "port": 80}]},
        },
    )
    svc = core.patch_namespaced_service(
        "s", "default", {"spec": {"ports": [{"name": "https", "port": 443}], "selector": None}}
    )
    assert [p.port for p in svc.spec.ports] == [80, 443]
    assert svc.spec.selector is None


def test_merge_patch_replaces_lists(cluster: Cluster) -> None:
    cluster.apps.create_namespaced_deployment("default", deployment("m"))
    status, body = cluster.raw(
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/m",
        {
            "spec": {"template": {"spec": {"containers": [{"name": "other", "image": "x"}]}}},
            "metadata": {"labels": {"app": None, "new": "1"}},
        },
        MERGE,
    )
    assert status == 200
    assert body["spec"]["template"]["spec"]["containers"] == [{"name": "other", "image": "x"}]
    assert body["metadata"]["labels"] == {"new": "1"}


def test_json_patch_and_its_errors(cluster: Cluster) -> None:
    core = cluster.core
    core.create_namespaced_config_map("default", {"metadata": {"name": "j"}, "data": {"a": "1"}})
    cm = core.patch_namespaced_config_map(
        "j",
        "default",
        [
            {"op": "add", "path": "/data/b", "value": "2"},
            {"op": "replace", "path": "/data/a", "value": "3"},
            {"op": "test", "path": "/data/b", "value": "2"},
            {"op": "copy", "from": "/data/a", "path": "/data/c"},
            {"op": "move", "from": "/data/c", "path": "/data/d"},
            {"op": "remove", "path": "/data/b"},
        ],
    )
    assert cm.data == {"a": "3", "d": "3"}
    for bad in (
        [{"op": "remove", "path": "/data/nope"}],
        [{"op": "test", "path": "/data/a", "value": "x"}],
        [{"op": "replace", "path": "/nope/x", "value": 1}],
    ):
        with pytest.raises(client.ApiException) as err:
            core.patch_namespaced_config_map("j", "default", bad)
        assert err.value.status == 422
        assert json.loads(err.value.body)["reason"] == "Invalid"


def test_patch_missing_object_is_404(cluster: Cluster) -> None:
    status, body = cluster.raw(
        "PATCH", "/api/v1/namespaces/default/configmaps/none", {"data": {}}, MERGE
    )
    assert status == 404 and body["reason"] == "NotFound"


def test_strategic_merge_on_custom_resource_is_415(cluster: Cluster) -> None:
    cluster.ext.create_custom_resource_definition(crd_body())
    cluster.custom.create_namespaced_custom_object(
        "example.com",
        "v1",
        "default",
        "addons",
        {"apiVersion": "example.com/v1", "kind": "AddOn", "metadata": {"name": "a"}},
    )
    status, body = cluster.raw(
        "PATCH", "/apis/example.com/v1/namespaces/default/addons/a", {"spec": {"x": 1}}, STRATEGIC
    )
    assert status == 415
    assert body["reason"] == "UnsupportedMediaType"
    assert body["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )
    dyn = cluster.dynamic()
    res = dyn.resources.get(api_version="example.com/v1", kind="AddOn")
    out = res.patch(name="a", namespace="default", body={"spec": {"x": 2}}, content_type=MERGE)
    assert out.spec.x == 2


def test_patch_units() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None}, "l": [2]}) == {
        "a": {"c": 2},
        "l": [2],
    }
    assert strategic_merge(
        {"metadata": {"finalizers": ["a"]}}, {"metadata": {"finalizers": ["b"]}}
    ) == {"metadata": {"finalizers": ["a", "b"]}}
    assert strategic_merge(
        {"metadata": {"finalizers": ["a", "b"]}},
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
    ) == {"metadata": {"finalizers": ["b"]}}
    assert strategic_merge(
        {"spec": {"x": {"y": 1}}}, {"spec": {"x": {"$patch": "replace", "z": 2}}}
    ) == {"spec": {"x": {"z": 2}}}
    assert strategic_merge(
        {"spec": {"x": {"y": 1}, "k": 1}},
        {"spec": {"x": {"$patch": "delete"}}, "$setElementOrder/containers": []},
    ) == {"spec": {"k": 1}}
    with pytest.raises(ApiError):
        json_patch({}, [{"op": "bogus", "path": "/a"}])
    assert json_patch(
        {"l": [1, 3]},
        [{"op": "add", "path": "/l/1", "value": 2}, {"op": "add", "path": "/l/-", "value": 4}],
    ) == {"l": [1, 2, 3, 4]}
