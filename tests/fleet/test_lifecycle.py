"""Finalizers and deletionTimestamp, namespace deletion, status subresource, deletecollection."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from tests.fleet.conftest import Cluster, deployment
from tests.fleet.test_watch import CM_PATH, stream


def test_finalizers_delay_deletion(cluster: Cluster) -> None:
    core = cluster.core
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "f", "finalizers": ["ex.io/hold"]}}
    )
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    status, body = cluster.raw("DELETE", f"{CM_PATH}/f")
    assert status == 200 and body["kind"] == "ConfigMap"
    assert body["metadata"]["deletionTimestamp"]
    assert body["metadata"]["deletionGracePeriodSeconds"] == 0
    still = core.read_namespaced_config_map("f", "default")
    assert still.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("f", "default", {"metadata": {"finalizers": None}})
    with pytest.raises(client.ApiException) as err:
        core.read_namespaced_config_map("f", "default")
    assert err.value.status == 404
    lines = stream(cluster, CM_PATH, resourceVersion=rv, timeoutSeconds=1)
    assert [ln["type"] for ln in lines] == ["MODIFIED", "DELETED"]


def test_delete_returns_success_status(cluster: Cluster) -> None:
    created = cluster.core.create_namespaced_config_map("default", {"metadata": {"name": "d"}})
    status, body = cluster.raw("DELETE", f"{CM_PATH}/d")
    assert status == 200
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": "d", "kind": "configmaps", "uid": created.metadata.uid},
    }


def test_delete_preconditions(cluster: Cluster) -> None:
    cluster.core.create_namespaced_config_map("default", {"metadata": {"name": "p"}})
    with pytest.raises(client.ApiException) as err:
        cluster.core.delete_namespaced_config_map(
            "p",
            "default",
            body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="not-the-uid")),
        )
    assert err.value.status == 409


def test_namespace_deletion_removes_contents(cluster: Cluster) -> None:
    core = cluster.core
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", {"metadata": {"name": "a"}})
    cluster.apps.create_namespaced_deployment("doomed", deployment("d"))
    core.create_namespaced_config_map("default", {"metadata": {"name": "survivor"}})
    status, ns = cluster.raw("DELETE", "/api/v1/namespaces/doomed")
    assert status == 200 and ns["kind"] == "Namespace"
    assert ns["status"]["phase"] == "Terminating"  # DELETE answers the terminating object
    with pytest.raises(client.ApiException) as err:
        core.read_namespace("doomed")
    assert err.value.status == 404
    assert core.list_namespaced_config_map("doomed").items == []
    assert cluster.apps.list_namespaced_deployment("doomed").items == []
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == [
        "survivor"
    ]


def test_terminating_namespace_refuses_new_content(cluster: Cluster) -> None:
    core = cluster.core
    core.create_namespace({"metadata": {"name": "term"}})
    core.create_namespaced_config_map(
        "term", {"metadata": {"name": "held", "finalizers": ["ex.io/x"]}}
    )
    core.delete_namespace("term")
    ns = core.read_namespace("term")  # waits for the finalized object
    assert ns.status.phase == "Terminating"
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("term", {"metadata": {"name": "new"}})
    assert err.value.status == 403
    body = json.loads(err.value.body)
    assert body["reason"] == "Forbidden" and "being terminated" in body["message"]
    core.patch_namespaced_config_map("held", "term", {"metadata": {"finalizers": None}})
    with pytest.raises(client.ApiException) as err:
        core.read_namespace("term")
    assert err.value.status == 404


def test_builtin_status_subresource(cluster: Cluster) -> None:
    apps = cluster.apps
    apps.create_namespaced_deployment("default", deployment("s"))
    d = apps.patch_namespaced_deployment_status("s", "default", {"status": {"readyReplicas": 1}})
    assert d.status.ready_replicas == 1 and d.metadata.generation == 1
    d = apps.patch_namespaced_deployment("s", "default", {"status": {"readyReplicas": 7}})
    assert d.status.ready_replicas == 1  # main resource ignores .status
    got = apps.read_namespaced_deployment_status("s", "default")
    assert got.status.ready_replicas == 1
    body = got.to_dict()
    d = apps.replace_namespaced_deployment_status(
        "s",
        "default",
        {"metadata": {"name": "s"}, "spec": body["spec"], "status": {"readyReplicas": 2}},
    )
    assert d.status.ready_replicas == 2
    # ConfigMap has no status subresource
    status, _ = cluster.raw("GET", f"{CM_PATH}/x/status")
    assert status == 404


def test_delete_collection_with_label_selector(cluster: Cluster) -> None:
    core = cluster.core
    for name, team in (("a", "x"), ("b", "x"), ("c", "y")):
        core.create_namespaced_config_map(
            "default", {"metadata": {"name": name, "labels": {"team": team}}}
        )
    out = core.delete_collection_namespaced_config_map("default", label_selector="team=x")
    assert out.status == "Success"
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == ["c"]
