"""CustomResourceDefinitions: served at once, scopes, versions, status, removal."""

from __future__ import annotations

import pytest
from kubernetes import client
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from tests.fleet.conftest import Cluster, crd_body


def addon(name: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "AddOn",
        "metadata": {"name": name},
        "spec": dict(spec),
    }


def test_crd_is_established_and_discovered_at_once(cluster: Cluster) -> None:
    crd = cluster.ext.create_custom_resource_definition(crd_body())
    conds = {c.type: c.status for c in crd.status.conditions}
    assert conds == {"NamesAccepted": "True", "Established": "True"}
    assert crd.status.accepted_names.kind == "AddOn"
    assert crd.status.stored_versions == ["v1"]
    _, groups = cluster.raw("GET", "/apis")
    assert "example.com" in [g["name"] for g in groups["groups"]]
    _, rl = cluster.raw("GET", "/apis/example.com/v1")
    by_name = {r["name"]: r for r in rl["resources"]}
    assert by_name["addons"]["kind"] == "AddOn" and by_name["addons"]["shortNames"] == ["ad"]
    assert "addons/status" in by_name
    _, oa = cluster.raw("GET", "/openapi/v3")
    assert "apis/example.com/v1" in oa["paths"]


def test_custom_objects_crud_and_errors(cluster: Cluster) -> None:
    cluster.ext.create_custom_resource_definition(crd_body())
    co = cluster.custom
    obj = co.create_namespaced_custom_object(
        "example.com", "v1", "default", "addons", addon("a", x=1)
    )
    assert obj["metadata"]["generation"] == 1 and obj["metadata"]["uid"]
    got = co.get_namespaced_custom_object("example.com", "v1", "default", "addons", "a")
    assert got["spec"] == {"x": 1}
    patched = co.patch_namespaced_custom_object(
        "example.com", "v1", "default", "addons", "a", {"spec": {"x": 2}}
    )
    assert patched["spec"] == {"x": 2} and patched["metadata"]["generation"] == 2
    listed = co.list_namespaced_custom_object("example.com", "v1", "default", "addons")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["a"]
    status, body = cluster.raw("GET", "/apis/example.com/v1/namespaces/default/addons/zz")
    assert status == 404
    assert body["message"] == 'addons.example.com "zz" not found'
    assert body["details"] == {"name": "zz", "group": "example.com", "kind": "addons"}
    out = co.delete_namespaced_custom_object("example.com", "v1", "default", "addons", "a")
    assert out["status"] == "Success"
    assert out["details"] == {
        "name": "a",
        "group": "example.com",
        "kind": "addons",
        "uid": obj["metadata"]["uid"],
    }


def test_status_subresource_of_custom_resource(cluster: Cluster) -> None:
    cluster.ext.create_custom_resource_definition(crd_body())
    co = cluster.custom
    co.create_namespaced_custom_object(
        "example.com", "v1", "default", "addons", {**addon("s", x=1), "status": {"ignored": True}}
    )
    got = co.get_namespaced_custom_object("example.com", "v1", "default", "addons", "s")
    assert "status" not in got
    # the main resource ignores .status
    out = co.patch_namespaced_custom_object(
        "example.com", "v1", "default", "addons", "s", {"status": {"phase": "x"}}
    )
    assert "status" not in out
    # /status changes only .status, without a generation bump
    out = co.patch_namespaced_custom_object_status(
        "example.com",
        "v1",
        "default",
        "addons",
        "s",
        {"status": {"phase": "Ready"}, "spec": {"x": 99}},
    )
    assert out["status"] == {"phase": "Ready"} and out["spec"] == {"x": 1}
    assert out["metadata"]["generation"] == 1
    got = co.get_namespaced_custom_object_status("example.com", "v1", "default", "addons", "s")
    assert got["status"] == {"phase": "Ready"}


def test_crd_without_status_subresource_keeps_status(cluster: Cluster) -> None:
    cluster.ext.create_custom_resource_definition(crd_body(status=False))
    co = cluster.custom
    out = co.create_namespaced_custom_object(
        "example.com", "v1", "default", "addons", {**addon("n"), "status": {"p": 1}}
    )
    assert out["status"] == {"p": 1}
    status, _ = cluster.raw("GET", "/apis/example.com/v1/namespaces/default/addons/n/status")
    assert status == 404


def test_cluster_scoped_crd(cluster: Cluster) -> None:
    cluster.ext.create_custom_resource_definition(
        crd_body(group="ex.io", plural="widgets", kind="Widget", scope="Cluster")
    )
    co = cluster.custom
    co.create_cluster_custom_object(
        "ex.io",
        "v1",
        "widgets",
        {"apiVersion": "ex.io/v1", "kind": "Widget", "metadata": {"name": "w1"}},
    )
    got = co.get_cluster_custom_object("ex.io", "v1", "widgets", "w1")
    assert "namespace" not in got["metadata"]
    status, _ = cluster.raw("GET", "/apis/ex.io/v1/namespaces/default/widgets")
    assert status == 404


def test_multiple_versions_share_storage(cluster: Cluster) -> None:
    cluster.ext.create_custom_resource_definition(
        crd_body(versions=("v1alpha1", "v1"), storage="v1")
    )
    _, group = cluster.raw("GET", "/apis/example.com")
    assert group["preferredVersion"]["version"] == "v1"
    assert [v["version"] for v in group["versions"]] == ["v1", "v1alpha1"]
    co = cluster.custom
    co.create_namespaced_custom_object(
        "example.com",
        "v1alpha1",
        "default",
        "addons",
        {"apiVersion": "example.com/v1alpha1", "kind": "AddOn", "metadata": {"name": "m"}},
    )
    got = co.get_namespaced_custom_object("example.com", "v1", "default", "addons", "m")
    assert got["apiVersion"] == "example.com/v1"
    got = co.get_namespaced_custom_object("example.com", "v1alpha1", "default", "addons", "m")
    assert got["apiVersion"] == "example.com/v1alpha1"
    crd = cluster.ext.read_custom_resource_definition("addons.example.com")
    assert crd.status.stored_versions == ["v1"]


def test_deleting_crd_removes_resource_and_objects(cluster: Cluster) -> None:
    cluster.ext.create_custom_resource_definition(crd_body())
    cluster.custom.create_namespaced_custom_object(
        "example.com", "v1", "default", "addons", addon("gone")
    )
    cluster.ext.delete_custom_resource_definition("addons.example.com")
    status, _ = cluster.raw("GET", "/apis/example.com/v1/namespaces/default/addons")
    assert status == 404
    _, groups = cluster.raw("GET", "/apis")
    assert "example.com" not in [g["name"] for g in groups["groups"]]
    with pytest.raises(ResourceNotFoundError):
        cluster.dynamic().resources.get(api_version="example.com/v1", kind="AddOn")
    # re-created: served again, and empty
    cluster.ext.create_custom_resource_definition(crd_body())
    listed = cluster.custom.list_namespaced_custom_object("example.com", "v1", "default", "addons")
    assert listed["items"] == []


def test_invalid_crd_is_422(cluster: Cluster) -> None:
    body = crd_body()
    body["metadata"]["name"] = "wrong.example.com"
    with pytest.raises(client.ApiException) as err:
        cluster.ext.create_custom_resource_definition(body)
    assert err.value.status == 422


def test_dynamic_client_sees_new_crd(cluster: Cluster) -> None:
    dyn = cluster.dynamic()
    cluster.ext.create_custom_resource_definition(crd_body())
    res = dyn.resources.get(api_version="example.com/v1", kind="AddOn")  # refresh on miss
    res.create(body=addon("d"), namespace="default")
    assert res.get(name="d", namespace="default").metadata.name == "d"
