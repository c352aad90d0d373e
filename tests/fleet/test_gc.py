"""Garbage collection by ownerReferences: background, foreground, orphan, dangling owners."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kubernetes import client, watch

from tests.fleet.conftest import Cluster, deployment, wait_for


def owner_ref(obj: Any, block: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": obj.api_version,
        "kind": obj.kind,
        "name": obj.metadata.name,
        "uid": obj.metadata.uid,
        **({"blockOwnerDeletion": True} if block else {}),
    }


def cm(
    name: str, refs: list[dict[str, Any]] | None = None, finalizers: list[str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if refs:
        meta["ownerReferences"] = refs
    if finalizers:
        meta["finalizers"] = finalizers
    return {"metadata": meta}


def names(cluster: Cluster) -> set[str]:
    return {c.metadata.name for c in cluster.core.list_namespaced_config_map("default").items}


def gone(cluster: Cluster, *wanted: str) -> bool:
    return not (set(wanted) & names(cluster))


class Recorder:
    """Watch events on ConfigMaps of ``default`` in a thread: (type, name) in order."""

    def __init__(self, cluster: Cluster) -> None:
        self.events: list[tuple[str, str]] = []
        rv = cluster.core.list_namespaced_config_map("default").metadata.resource_version
        self._w = watch.Watch()
        self._core = cluster.core

        def run() -> None:
            try:
                for ev in self._w.stream(
                    self._core.list_namespaced_config_map,
                    "default",
                    resource_version=rv,
                    timeout_seconds=20,
                ):
                    self.events.append((ev["type"], ev["object"].metadata.name))
            except Exception as exc:  # the cluster is removed at teardown
                self.events.append(("ERROR", str(exc)))

        self._t = threading.Thread(target=run, daemon=True)
        self._t.start()

    def stop(self) -> None:
        self._w.stop()


def test_background_deletes_dependents_with_events(cluster: Cluster) -> None:
    owner = cluster.apps.create_namespaced_deployment("default", deployment("d"))
    mid = cluster.core.create_namespaced_config_map("default", cm("mid", [owner_ref(owner)]))
    cluster.core.create_namespaced_config_map("default", cm("leaf", [owner_ref(mid)]))
    cluster.core.create_namespaced_config_map("default", cm("free"))
    rec = Recorder(cluster)
    cluster.apps.delete_namespaced_deployment("d", "default")  # background is the default
    wait_for(lambda: gone(cluster, "mid", "leaf"))
    assert names(cluster) >= {"free"}
    wait_for(lambda: ("DELETED", "leaf") in rec.events)
    assert rec.events.index(("DELETED", "mid")) < rec.events.index(("DELETED", "leaf"))
    rec.stop()


def test_foreground_waits_for_blocking_dependents(cluster: Cluster) -> None:
    core = cluster.core
    owner = core.create_namespaced_config_map("default", cm("owner"))
    core.create_namespaced_config_map(
        "default", cm("blocker", [owner_ref(owner, block=True)], ["example.com/hold"])
    )
    core.create_namespaced_config_map("default", cm("plain", [owner_ref(owner)]))
    rec = Recorder(cluster)
    core.delete_namespaced_config_map("owner", "default", propagation_policy="Foreground")
    wait_for(lambda: gone(cluster, "plain"))
    blocker = wait_for(
        lambda: (
            (b := core.read_namespaced_config_map("blocker", "default")).metadata.deletion_timestamp
            and b
        )
    )
    assert blocker.metadata.finalizers == ["example.com/hold"]
    held = core.read_namespaced_config_map("owner", "default")  # still waiting
    assert held.metadata.finalizers == ["foregroundDeletion"]
    core.patch_namespaced_config_map("blocker", "default", {"metadata": {"finalizers": None}})
    wait_for(lambda: gone(cluster, "owner", "blocker"))
    wait_for(lambda: ("DELETED", "owner") in rec.events)
    assert rec.events.index(("DELETED", "blocker")) < rec.events.index(("DELETED", "owner"))
    assert ("MODIFIED", "owner") in rec.events  # deletionTimestamp + finalizer
    rec.stop()


def test_foreground_without_dependents_and_body_options(cluster: Cluster) -> None:
    cluster.core.create_namespaced_config_map("default", cm("alone"))
    cluster.core.delete_namespaced_config_map(
        "alone", "default", body=client.V1DeleteOptions(propagation_policy="Foreground")
    )
    wait_for(lambda: gone(cluster, "alone"))


def test_orphan_keeps_dependents_without_the_reference(cluster: Cluster) -> None:
    core = cluster.core
    owner = core.create_namespaced_config_map("default", cm("owner"))
    other = core.create_namespaced_config_map("default", cm("other"))
    core.create_namespaced_config_map("default", cm("a", [owner_ref(owner)]))
    core.create_namespaced_config_map("default", cm("b", [owner_ref(owner), owner_ref(other)]))
    core.delete_namespaced_config_map(
        "owner", "default", body=client.V1DeleteOptions(propagation_policy="Orphan")
    )
    assert "owner" not in names(cluster)
    assert core.read_namespaced_config_map("a", "default").metadata.owner_references is None
    refs = core.read_namespaced_config_map("b", "default").metadata.owner_references
    assert [r.name for r in refs] == ["other"]
    # the query parameter form (what kubectl --cascade=orphan sends is the body; both work)
    status, _ = cluster.raw(
        "DELETE",
        "/api/v1/namespaces/default/configmaps/other",
        query=[("propagationPolicy", "Orphan")],
    )
    assert status == 200
    assert core.read_namespaced_config_map("b", "default").metadata.owner_references is None
    # orphanDependents (the old option) is honoured too
    keep = core.create_namespaced_config_map("default", cm("keep"))
    core.create_namespaced_config_map("default", cm("c", [owner_ref(keep)]))
    cluster.raw("DELETE", "/api/v1/namespaces/default/configmaps/keep", {"orphanDependents": True})
    assert core.read_namespaced_config_map("c", "default").metadata.owner_references is None


def test_dependents_of_missing_owners_are_collected(cluster: Cluster) -> None:
    core = cluster.core
    live = core.create_namespaced_config_map("default", cm("live"))
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "no-such-uid"}
    core.create_namespaced_config_map("default", cm("orphaned", [ghost]))
    core.create_namespaced_config_map("default", cm("shared", [owner_ref(live), ghost]))
    wait_for(lambda: gone(cluster, "orphaned"))
    # a dependent with a live owner only loses the dangling reference
    wait_for(
        lambda: (
            [
                r.name
                for r in core.read_namespaced_config_map(
                    "shared", "default"
                ).metadata.owner_references
            ]
            == ["live"]
        )
    )
    # a re-created owner (same name, new uid) does not adopt the old dependents
    old = core.create_namespaced_config_map("default", cm("phoenix"))
    core.delete_namespaced_config_map("phoenix", "default", propagation_policy="Orphan")
    core.create_namespaced_config_map("default", cm("phoenix"))
    core.create_namespaced_config_map("default", cm("child", [owner_ref(old)]))
    wait_for(lambda: gone(cluster, "child"))
    assert "phoenix" in names(cluster)


def test_bad_policy_and_cluster_scoped_owner(cluster: Cluster) -> None:
    core = cluster.core
    core.create_namespaced_config_map("default", cm("x"))
    status, body = cluster.raw(
        "DELETE", "/api/v1/namespaces/default/configmaps/x", {"propagationPolicy": "Sideways"}
    )
    assert status == 400 and "Sideways" in body["message"]
    ns = core.create_namespace({"metadata": {"name": "owned-by-ns"}})
    core.create_namespaced_config_map("default", cm("by-ns", [owner_ref(ns)]))
    pv_owner = core.create_namespace({"metadata": {"name": "gc-owner"}})
    core.create_namespaced_config_map("default", cm("by-gc-owner", [owner_ref(pv_owner)]))
    core.delete_namespace("gc-owner")
    wait_for(lambda: gone(cluster, "by-gc-owner"))
    assert "by-ns" in names(cluster)


def test_kubectl_cascade_foreground(cluster: Cluster) -> None:
    owner = cluster.core.create_namespaced_config_map("default", cm("k-owner"))
    cluster.core.create_namespaced_config_map("default", cm("k-dep", [owner_ref(owner, True)]))
    cluster.kubectl("delete", "configmap", "k-owner", "--cascade=foreground", "--wait=true")
    wait_for(lambda: gone(cluster, "k-owner", "k-dep"))
    with pytest.raises(client.ApiException):
        cluster.core.read_namespaced_config_map("k-owner", "default")


def test_delete_collection_propagates(cluster: Cluster) -> None:
    core = cluster.core
    owners = [
        core.create_namespaced_config_map(
            "default", {"metadata": {"name": f"o{i}", "labels": {"role": "owner"}}}
        )
        for i in range(2)
    ]
    core.create_namespaced_config_map("default", cm("d0", [owner_ref(owners[0])]))
    core.create_namespaced_config_map("default", cm("d1", [owner_ref(owners[1])]))
    core.delete_collection_namespaced_config_map(
        "default", label_selector="role=owner", propagation_policy="Orphan"
    )
    assert {"d0", "d1"} <= names(cluster) and not {"o0", "o1"} & names(cluster)
    assert core.read_namespaced_config_map("d0", "default").metadata.owner_references is None
