"""ClusterProfile statuses from ``ripple-outcomes``: the writer's bound statuses and the
outcomes watcher, with an in-memory API server (no servers; waits poll with a deadline)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest

from services.reporter.mirrors import Mirrors, profile_object_key
from services.reporter.ownership import Ownership
from services.reporter.profilestatus import STATUS_FIELDS
from services.reporter.writer import Write, Writer
from shared.api.vocabulary import CLUSTER_PROFILE, ObjectKey
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.contract import subjects
from shared.contract.subjects import ClusterItem, ClusterRef
from shared.kube import KubeClient, KubeError
from tests.reporter.test_reporter_coalescing import until

PROFILE = "sveltos-p1"
KEY = profile_object_key(PROFILE)
C1 = ClusterRef(namespace="fleet", name="c1")
C2 = ClusterRef(namespace="fleet", name="c2", type="capi")


class Server:
    """Objects by name with their status subresource: apply keeps the status, a status
    patch of an absent object is a 404, ``None`` in a merge patch removes a field."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.objects: dict[str, dict[str, Any]] = {}
        self.patches: list[tuple[str, dict[str, Any]]] = []
        self.applies = 0

    def apply(self, obj: dict[str, Any], **_: Any) -> dict[str, Any]:
        with self.lock:
            name = obj["metadata"]["name"]
            current = self.objects.get(name, {})
            stored = {**obj, "status": current.get("status", {})}
            self.objects[name] = stored
            self.applies += 1
            return dict(stored)

    def patch_status(self, gvk: Any, namespace: Any, name: str, status: dict[str, Any]) -> Any:
        with self.lock:
            if name not in self.objects:
                raise KubeError(f"{name}: 404", status=404)
            self.patches.append((name, status))
            merged = {**self.objects[name]["status"], **status}
            self.objects[name]["status"] = {k: v for k, v in merged.items() if v is not None}
            return dict(self.objects[name])

    def delete(self, gvk: Any, namespace: Any, name: str) -> bool:
        with self.lock:
            return self.objects.pop(name, None) is not None

    def status(self, name: str = PROFILE) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get(name)
            return None if obj is None else dict(obj["status"])


def profile() -> Write:
    return Write(
        {
            "apiVersion": CLUSTER_PROFILE.api_version,
            "kind": CLUSTER_PROFILE.kind,
            "metadata": {"name": PROFILE},
            "spec": {},
        }
    )


class FakeStore:
    """What the status build reads of the outcomes bucket outside its watch."""

    def __init__(self) -> None:
        self.invalid: set[str] = set()


@pytest.fixture
async def running() -> AsyncIterator[tuple[Mirrors, Writer, Server, FakeStore]]:
    server = Server()
    ownership = Ownership()
    writer = Writer(cast(KubeClient, server), ownership.wanted, delay=0.05)
    mirrors = Mirrors(writer, ownership, lambda part: None)
    store = FakeStore()
    mirrors._outcome_store = cast(KVStore[m.ApplyOutcomeEvent], store)
    task = asyncio.create_task(writer.run(2))
    try:
        yield mirrors, writer, server, store
    finally:
        writer.shut_down()
        await asyncio.wait_for(task, 5)


def idle(writer: Writer) -> bool:
    return all(q.idle() for q in writer.queues) and not writer.metrics()["pending_writes"][2]


def put(mirrors: Mirrors, cluster: ClusterRef, status: m.ApplyStatus, message: str = "") -> None:
    outcome = m.ApplyOutcome(
        cluster=cluster, profile_name=PROFILE, generation=1, status=status, message=message
    )
    mirrors.outcome(ClusterItem(cluster, PROFILE), outcome)


def clusters(server: Server) -> Callable[[], list[tuple[str, str]] | None]:
    def probe() -> list[tuple[str, str]] | None:
        status = server.status()
        if status is None:
            return None
        return [(c["cluster"]["name"], c["status"]) for c in status.get("clusters", [])]

    return probe


def read(mirrors: Mirrors) -> None:
    """What the watcher does once the bucket was read."""
    mirrors.outcomes_read = True
    for name in mirrors.outcomes.profiles():
        mirrors.writer.refresh_status(profile_object_key(name))
    mirrors.writer.refresh_statuses(CLUSTER_PROFILE)


async def test_a_status_before_its_cluster_profile_is_written_with_it(
    running: tuple[Mirrors, Writer, Server, FakeStore],
) -> None:
    mirrors, writer, server, _ = running
    put(mirrors, C1, "Provisioned")
    put(mirrors, C2, "Failed", "boom")
    await until(lambda: idle(writer), "nothing before the bucket was read")
    assert server.patches == []
    read(mirrors)
    await until(lambda: writer.stats["status_waiting"] == 1 and idle(writer), "404: waits")
    assert server.status() is None

    writer.put(KEY, profile())  # the ClusterProfile is written: its status follows
    await until(lambda: clusters(server)() == [("c1", "Provisioned"), ("c2", "Failed")], "status")
    assert writer.stats["status_patches"] == 1

    mirrors.outcome(ClusterItem(C2, PROFILE), None)  # the profile left c2
    await until(lambda: clusters(server)() == [("c1", "Provisioned")], "c2 removed")
    mirrors.outcome(ClusterItem(C1, PROFILE), None)
    await until(lambda: server.status() == {}, "no outcome: no status")
    assert writer.stats["status_failures"] == 0


async def test_an_applied_cluster_profile_without_outcomes_gets_no_patch(
    running: tuple[Mirrors, Writer, Server, FakeStore],
) -> None:
    mirrors, writer, server, _ = running
    read(mirrors)
    writer.put(KEY, profile())
    await until(lambda: server.applies == 1 and idle(writer), "written")
    assert server.patches == [] and writer.stats["status_skipped"] == 1


async def test_a_stale_status_is_cleared_and_an_identical_one_skipped(
    running: tuple[Mirrors, Writer, Server, FakeStore],
) -> None:
    """After a restart the reporter knows nothing of what it patched: the apply tells what
    the object holds, and only what differs is patched."""
    mirrors, writer, server, _ = running
    server.objects[PROFILE] = {**profile().obj, "status": {"clusters": [{"x": 1}], "other": 1}}
    read(mirrors)
    writer.put(KEY, profile())
    await until(lambda: server.status() == {"other": 1}, "stale fields removed")
    assert server.patches == [(PROFILE, dict.fromkeys(STATUS_FIELDS))]

    put(mirrors, C1, "Provisioned")
    await until(lambda: clusters(server)() == [("c1", "Provisioned")], "patched")
    patches = len(server.patches)
    writer.put(KEY, Write({**profile().obj, "spec": {"changed": True}}))  # applied again
    await until(lambda: server.applies == 2 and idle(writer), "rewritten")
    assert len(server.patches) == patches  # its status is what we want: not patched


async def test_a_deleted_cluster_profile_forgets_its_status(
    running: tuple[Mirrors, Writer, Server, FakeStore],
) -> None:
    mirrors, writer, server, _ = running
    read(mirrors)
    put(mirrors, C1, "Provisioned")
    writer.put(KEY, profile())
    await until(lambda: clusters(server)() == [("c1", "Provisioned")], "patched")
    writer.delete(KEY)
    await until(lambda: server.status() is None and idle(writer), "deleted")
    writer.put(KEY, profile())  # created again (no status): the status is written again
    await until(lambda: clusters(server)() == [("c1", "Provisioned")], "patched again")


async def test_an_unreadable_outcome_keeps_its_entry_or_shows_unknown(
    running: tuple[Mirrors, Writer, Server, FakeStore],
) -> None:
    mirrors, writer, server, store = running
    read(mirrors)
    put(mirrors, C1, "Provisioned")
    store.invalid = {subjects.outcome_key(C1, PROFILE), subjects.outcome_key(C2, PROFILE)}
    writer.put(KEY, profile())
    await until(lambda: clusters(server)() == [("c1", "Provisioned"), ("c2", "Unknown")], "unknown")


async def test_many_outcome_changes_are_few_patches(
    running: tuple[Mirrors, Writer, Server, FakeStore],
) -> None:
    mirrors, writer, server, _ = running
    read(mirrors)
    writer.put(KEY, profile())
    await until(lambda: server.applies == 1 and idle(writer), "written")
    for i in range(50):
        put(mirrors, ClusterRef(namespace="fleet", name=f"c{i:02d}"), "Provisioning")
    await until(lambda: len(clusters(server)() or []) == 50 and idle(writer), "all 50")
    assert len(server.patches) <= 3 and writer.stats["status_coalesced"] >= 45


def test_the_status_key_is_the_cluster_profile() -> None:
    assert profile_object_key(PROFILE) == ObjectKey(
        CLUSTER_PROFILE.api_version, CLUSTER_PROFILE.kind, "", PROFILE
    )
