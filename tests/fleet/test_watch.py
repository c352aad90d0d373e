"""Watch: resume, bookmarks, initial events, timeouts, filtered watches, 410 Gone, hooks."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import urllib.parse
import urllib.request
from typing import Any

import pytest
from kubernetes import client, watch

from services.fleet.kinds import BUILTINS
from services.fleet.store import CLOSE, Watcher
from tests.fleet.conftest import Cluster, wait_for

CM_PATH = "/api/v1/namespaces/default/configmaps"


def stream(
    cluster: Cluster, path: str, max_lines: int = 1000, **query: Any
) -> list[dict[str, Any]]:
    """Read a watch stream's JSON lines until it ends or ``max_lines`` arrived."""
    q = urllib.parse.urlencode({"watch": "true", **query})
    req = urllib.request.Request(f"{cluster.url}{path}?{q}")
    req.add_header("Authorization", f"Bearer {cluster.fleet.token}")
    ctx = ssl.create_default_context(cafile=str(cluster.fleet.ca_file))
    lines = []
    with urllib.request.urlopen(req, context=ctx, timeout=20) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        while len(lines) < max_lines:
            line = resp.readline()
            if not line:
                break
            lines.append(json.loads(line))
    return lines


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


def watches(cluster: Cluster) -> int:
    return next(c["watches"] for c in cluster.fleet.clusters() if c["name"] == cluster.name)


def test_resume_from_resource_version(cluster: Cluster) -> None:
    core = cluster.core
    core.create_namespaced_config_map("default", cm("before"))
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", cm("b"))
    core.patch_namespaced_config_map("b", "default", {"metadata": {"labels": {"l": "1"}}})
    core.delete_namespaced_config_map("b", "default")
    seen = []
    w = watch.Watch()
    for ev in w.stream(
        core.list_namespaced_config_map, "default", resource_version=rv, timeout_seconds=5
    ):
        seen.append((ev["type"], ev["object"].metadata.name))
        if ev["type"] == "DELETED":
            w.stop()
    assert seen == [("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "b")]


def test_watch_from_zero_lists_then_streams_live(cluster: Cluster) -> None:
    core = cluster.core
    core.create_namespaced_config_map("default", cm("existing"))

    def writer() -> None:
        wait_for(lambda: watches(cluster) >= 1)
        core.create_namespaced_config_map("default", cm("live"))

    t = threading.Thread(target=writer)
    t.start()
    seen = []
    w = watch.Watch()
    for ev in w.stream(
        core.list_namespaced_config_map, "default", resource_version="0", timeout_seconds=10
    ):
        seen.append((ev["type"], ev["object"].metadata.name))
        if ev["object"].metadata.name == "live":
            w.stop()
    t.join()
    assert seen == [("ADDED", "existing"), ("ADDED", "live")]


def test_deleted_event_carries_last_state_with_new_rv(cluster: Cluster) -> None:
    core = cluster.core
    created = core.create_namespaced_config_map("default", cm("d", a="1"))
    core.delete_namespaced_config_map("d", "default")
    lines = stream(
        cluster, CM_PATH, resourceVersion=created.metadata.resource_version, timeoutSeconds=1
    )
    assert lines[0]["type"] == "DELETED"
    obj = lines[0]["object"]
    assert obj["kind"] == "ConfigMap" and obj["apiVersion"] == "v1"
    assert obj["metadata"]["labels"] == {"a": "1"}
    assert int(obj["metadata"]["resourceVersion"]) > int(created.metadata.resource_version)


def test_bookmarks_and_timeout(cluster: Cluster) -> None:
    core = cluster.core
    last = core.create_namespaced_config_map("default", cm("x")).metadata.resource_version
    lines = stream(
        cluster, CM_PATH, resourceVersion=last, timeoutSeconds=2, allowWatchBookmarks="true"
    )
    assert lines, "a bookmark is sent while idle and before the timeout closes the stream"
    assert all(ln["type"] == "BOOKMARK" for ln in lines)
    assert lines[-1]["object"] == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": last},
    }
    # without bookmarks the stream just ends at the timeout
    assert stream(cluster, CM_PATH, resourceVersion=last, timeoutSeconds=1) == []


def test_send_initial_events_end_marker(cluster: Cluster) -> None:
    core = cluster.core
    core.create_namespaced_config_map("default", cm("one"))
    core.create_namespaced_config_map("default", cm("two"))
    lines = stream(
        cluster,
        CM_PATH,
        max_lines=3,
        sendInitialEvents="true",
        resourceVersionMatch="NotOlderThan",
        allowWatchBookmarks="true",
        timeoutSeconds=5,
    )
    assert [(ln["type"], ln["object"]["metadata"].get("name")) for ln in lines] == [
        ("ADDED", "one"),
        ("ADDED", "two"),
        ("BOOKMARK", None),
    ]
    assert lines[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_filtered_watch_turns_updates_into_added_and_deleted(cluster: Cluster) -> None:
    core = cluster.core
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", cm("s", team="b"))
    core.patch_namespaced_config_map("s", "default", {"metadata": {"labels": {"team": "a"}}})
    core.patch_namespaced_config_map("s", "default", {"data": {"k": "v"}})
    core.patch_namespaced_config_map("s", "default", {"metadata": {"labels": {"team": "b"}}})
    core.patch_namespaced_config_map("s", "default", {"data": {"k": "w"}})
    core.delete_namespaced_config_map("s", "default")
    lines = stream(cluster, CM_PATH, resourceVersion=rv, labelSelector="team=a", timeoutSeconds=1)
    assert [ln["type"] for ln in lines] == ["ADDED", "MODIFIED", "DELETED"]
    assert lines[2]["object"]["metadata"]["labels"] == {"team": "b"}  # carries the new object


def test_filtered_live_watch_with_python_client(cluster: Cluster) -> None:
    core = cluster.core

    def writer() -> None:
        wait_for(lambda: watches(cluster) >= 1)
        core.create_namespaced_config_map("default", cm("f", team="x"))
        core.patch_namespaced_config_map("f", "default", {"metadata": {"labels": {"team": "a"}}})
        core.patch_namespaced_config_map("f", "default", {"metadata": {"labels": {"team": "x"}}})

    t = threading.Thread(target=writer)
    t.start()
    seen = []
    w = watch.Watch()
    for ev in w.stream(
        core.list_namespaced_config_map, "default", label_selector="team=a", timeout_seconds=10
    ):
        seen.append(ev["type"])
        if ev["type"] == "DELETED":
            w.stop()
    t.join()
    assert seen == ["ADDED", "DELETED"]


def test_single_object_watch(cluster: Cluster) -> None:
    core = cluster.core
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", cm("other"))
    core.create_namespaced_config_map("default", cm("mine"))
    lines = stream(cluster, f"{CM_PATH}/mine", resourceVersion=rv, timeoutSeconds=1)
    assert [ln["object"]["metadata"]["name"] for ln in lines] == ["mine"]


def test_410_gone_after_compaction(cluster: Cluster) -> None:
    core = cluster.core
    old = core.create_namespaced_config_map("default", cm("a")).metadata.resource_version
    core.create_namespaced_config_map("default", cm("b"))
    floor = cluster.fleet.compact(cluster.name)
    lines = stream(cluster, CM_PATH, resourceVersion=old)
    assert lines == [
        {
            "type": "ERROR",
            "object": {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": f"too old resource version: {old} ({floor + 1})",
                "reason": "Expired",
                "code": 410,
            },
        }
    ]
    w = watch.Watch()
    with pytest.raises(client.ApiException) as err:
        for _ in w.stream(
            core.list_namespaced_config_map, "default", resource_version=old, timeout_seconds=5
        ):
            pass
    assert err.value.status == 410
    # the agent's recovery: relist, then watch from the list's RV
    listed = core.list_namespaced_config_map("default")
    assert {i.metadata.name for i in listed.items} == {"a", "b"}
    assert (
        stream(cluster, CM_PATH, resourceVersion=listed.metadata.resource_version, timeoutSeconds=1)
        == []
    )


def test_bounded_log_expires_old_versions(cluster: Cluster) -> None:
    core = cluster.core
    first = core.create_namespaced_config_map("default", cm("first")).metadata.resource_version
    for i in range(210):  # the session fleet keeps 200 events per cluster
        core.create_namespaced_config_map("default", cm(f"n{i}"))
    lines = stream(cluster, CM_PATH, resourceVersion=first)
    assert lines[0]["type"] == "ERROR" and lines[0]["object"]["code"] == 410


def test_cut_watches_hook_ends_streams(cluster: Cluster) -> None:
    result: list[list[dict[str, Any]]] = []
    t = threading.Thread(target=lambda: result.append(stream(cluster, CM_PATH)))
    t.start()
    wait_for(lambda: watches(cluster) >= 1)
    assert cluster.fleet.cut_watches(cluster.name) >= 1
    t.join(10)
    assert not t.is_alive() and result == [[]]
    wait_for(lambda: watches(cluster) == 0)


async def test_slow_watcher_is_closed_not_buffered() -> None:
    rt = next(t for t in BUILTINS if t.plural == "configmaps")
    w = Watcher(rt.key, rt, None, None, None, asyncio.Queue(maxsize=2))
    w.offer("e1")
    w.offer("e2")
    w.offer("e3")  # overflow: the watcher is closed and its buffer dropped
    assert w.closed
    assert w.queue.get_nowait() is CLOSE and w.queue.empty()


def test_dynamic_client_watch(cluster: Cluster) -> None:
    res = cluster.dynamic().resources.get(api_version="v1", kind="ConfigMap")
    rv = res.get(namespace="default").metadata.resourceVersion
    cluster.core.create_namespaced_config_map("default", cm("dyn", k="v"))
    seen = []
    for ev in res.watch(namespace="default", resource_version=rv, timeout=5):
        seen.append((ev["type"], ev["object"].metadata.name))
        break
    assert seen == [("ADDED", "dyn")]


def test_cluster_scoped_and_all_namespace_watches(cluster: Cluster) -> None:
    core = cluster.core
    rv = core.list_namespace().metadata.resource_version
    core.create_namespace({"metadata": {"name": "w1"}})
    core.create_namespaced_config_map("w1", cm("in-w1"))
    core.create_namespaced_config_map("default", cm("in-default"))
    lines = stream(cluster, "/api/v1/namespaces", resourceVersion=rv, timeoutSeconds=1)
    assert [(ln["type"], ln["object"]["metadata"]["name"]) for ln in lines] == [("ADDED", "w1")]
    lines = stream(cluster, "/api/v1/configmaps", resourceVersion=rv, timeoutSeconds=1)
    assert [ln["object"]["metadata"]["name"] for ln in lines] == ["in-w1", "in-default"]
    lines = stream(
        cluster,
        "/api/v1/configmaps",
        resourceVersion=rv,
        timeoutSeconds=1,
        fieldSelector="metadata.namespace=w1",
    )
    assert [ln["object"]["metadata"]["name"] for ln in lines] == ["in-w1"]
    lines = stream(
        cluster, "/api/v1/namespaces/w1/configmaps", resourceVersion=rv, timeoutSeconds=1
    )
    assert [ln["object"]["metadata"]["name"] for ln in lines] == ["in-w1"]


def test_custom_resource_watch_with_served_version(cluster: Cluster) -> None:
    from tests.fleet.conftest import crd_body

    cluster.ext.create_custom_resource_definition(
        crd_body(
            group="ex.io",
            plural="widgets",
            kind="Widget",
            scope="Cluster",
            versions=("v1beta1", "v1"),
            storage="v1",
        )
    )
    co = cluster.custom
    rv = co.list_cluster_custom_object("ex.io", "v1", "widgets")["metadata"]["resourceVersion"]
    co.create_cluster_custom_object(
        "ex.io",
        "v1",
        "widgets",
        {"apiVersion": "ex.io/v1", "kind": "Widget", "metadata": {"name": "w"}},
    )
    lines = stream(cluster, "/apis/ex.io/v1beta1/widgets", resourceVersion=rv, timeoutSeconds=1)
    assert [(ln["type"], ln["object"]["apiVersion"]) for ln in lines] == [
        ("ADDED", "ex.io/v1beta1")
    ]
    w = watch.Watch()
    seen = [
        ev["type"]
        for ev in w.stream(
            co.list_cluster_custom_object,
            "ex.io",
            "v1",
            "widgets",
            resource_version=rv,
            timeout_seconds=1,
        )
    ]
    assert seen == ["ADDED"]


def test_python_client_bookmarks_advance_its_resource_version(cluster: Cluster) -> None:
    core = cluster.core
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", cm("elsewhere"))  # bumps the cluster's RV
    ns_rv = core.create_namespace({"metadata": {"name": "later"}}).metadata.resource_version
    w = watch.Watch()
    types = []
    for ev in w.stream(
        core.list_namespaced_config_map,
        "default",
        resource_version=start,
        allow_watch_bookmarks=True,
        timeout_seconds=2,
    ):
        types.append(ev["type"])
    assert types[0] == "ADDED" and "BOOKMARK" in types
    assert w.resource_version == ns_rv  # the bookmark carried the cluster's latest RV


def test_python_client_resumes_after_a_cut_watch(cluster: Cluster) -> None:
    core = cluster.core
    rv = core.list_namespaced_config_map("default").metadata.resource_version
    w = watch.Watch()
    seen: list[str] = []

    def writer() -> None:
        wait_for(lambda: watches(cluster) >= 1)
        core.create_namespaced_config_map("default", cm("first"))
        wait_for(lambda: "first" in seen)
        cluster.fleet.cut_watches(cluster.name)
        core.create_namespaced_config_map("default", cm("while-cut"))  # resumed from the log

    t = threading.Thread(target=writer)
    t.start()
    for ev in w.stream(
        core.list_namespaced_config_map, "default", resource_version=rv, _request_timeout=20
    ):  # a read deadline: never hang the suite
        seen.append(ev["object"].metadata.name)
        if ev["object"].metadata.name == "while-cut":
            w.stop()
    t.join()
    assert seen == ["first", "while-cut"]


async def test_overflowing_watcher_loses_its_connection(tmp_path: Any) -> None:
    import aiohttp

    from services.fleet import FleetServer

    async with FleetServer(["slow"], tmp_path, watch_queue_size=5) as fleet:
        ctx = ssl.create_default_context(cafile=str(fleet.ca_file))
        url = f"{fleet.url('slow')}{CM_PATH}"
        headers = {"Authorization": f"Bearer {fleet.token}"}
        async with (
            aiohttp.ClientSession(headers=headers) as http,
            http.get(url, params={"watch": "true", "resourceVersion": "1"}, ssl=ctx) as resp,
        ):
            store = fleet.cluster("slow").store
            deadline = asyncio.get_running_loop().time() + 10
            while store.watch_count() == 0:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.01)
            cm_type = store.registry.get("", "v1", "configmaps")
            assert cm_type is not None
            for i in range(20):  # one burst, faster than the stream drains
                fleet.cluster("slow").objects.create(
                    cm_type, "default", {"metadata": {"name": f"c{i}"}}, "test"
                )
            lines = []
            with pytest.raises(aiohttp.ClientPayloadError):
                async for line in resp.content:
                    lines.append(line)
            assert len(lines) < 20
        while store.watch_count():
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
