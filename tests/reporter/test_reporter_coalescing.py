"""Coalescing and skipped rewrites: the writer's queues with a recording Kubernetes client
(no servers; every wait polls with a deadline)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest

from services.reporter.writer import Write, Writer
from shared.api.vocabulary import EVENT_TRIGGER, ObjectKey
from shared.kube import KubeClient, KubeError

CM = ObjectKey("v1", "ConfigMap", "projectsveltos", "cm")
TRIGGER = ObjectKey(EVENT_TRIGGER.api_version, EVENT_TRIGGER.kind, "", "t")


class RecordingKube:
    """What the writer calls, recorded (from worker threads); ``fail`` makes applies raise."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.applied: list[dict[str, Any]] = []
        self.statuses: list[tuple[str, dict[str, Any]]] = []
        self.deleted: list[str] = []
        self.fail = 0

    def apply(self, obj: dict[str, Any], **_: Any) -> dict[str, Any]:
        with self.lock:
            if self.fail:
                self.fail -= 1
                raise KubeError("apply: 503", status=503)
            self.applied.append(obj)
        return obj

    def patch_status(self, gvk: Any, namespace: Any, name: str, status: dict[str, Any]) -> Any:
        with self.lock:
            self.statuses.append((name, status))
        return {}

    def delete(self, gvk: Any, namespace: Any, name: str) -> bool:
        with self.lock:
            self.deleted.append(name)
        return True


def config_map(value: str) -> Write:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "projectsveltos"},
        "data": {"v": value},
    }
    return Write(obj)


async def until(probe: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not probe():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
async def running() -> AsyncIterator[tuple[Writer, RecordingKube]]:
    kube = RecordingKube()
    writer = Writer(cast(KubeClient, kube), lambda key: True, delay=0.2)
    task = asyncio.create_task(writer.run(2))
    try:
        yield writer, kube
    finally:
        writer.shut_down()
        await asyncio.wait_for(task, 5)


def idle(writer: Writer) -> bool:
    return all(q.idle() for q in writer.queues) and not writer.metrics()["pending_writes"][2]


async def test_many_changes_within_the_delay_are_one_write(
    running: tuple[Writer, RecordingKube],
) -> None:
    writer, kube = running
    for i in range(100):
        writer.put(CM, config_map(str(i)))
    await until(lambda: idle(writer), "the write")
    assert [o["data"]["v"] for o in kube.applied] == ["99"]
    assert writer.stats["coalesced"] == 99 and writer.stats["writes"] == 1


async def test_a_write_identical_to_the_last_one_is_skipped(
    running: tuple[Writer, RecordingKube],
) -> None:
    writer, kube = running
    writer.put(CM, config_map("a"))
    await until(lambda: writer.stats["writes"] == 1 and idle(writer), "first write")
    writer.put(CM, config_map("a"))
    await until(lambda: writer.stats["writes_skipped"] == 1 and idle(writer), "skip")
    writer.put(CM, config_map("b"))
    await until(lambda: writer.stats["writes"] == 2 and idle(writer), "second write")
    writer.delete(CM)  # a delete forgets what was written: the same content is written again
    await until(lambda: kube.deleted == ["cm"] and idle(writer), "delete")
    writer.put(CM, config_map("b"))
    await until(lambda: writer.stats["writes"] == 3 and idle(writer), "written again")
    metrics = writer.metrics()
    assert metrics["writes_skipped_total"][2] == 1
    assert metrics["coalesced_total"][2] == 0


async def test_a_failed_write_forgets_what_was_written(
    running: tuple[Writer, RecordingKube],
) -> None:
    """After a failure the server's content is unknown: the last good content is not
    "identical" any more."""
    writer, kube = running
    writer.put(CM, config_map("a"))
    await until(lambda: writer.stats["writes"] == 1 and idle(writer), "first write")
    kube.fail = 1
    writer.put(CM, config_map("b"))
    await until(lambda: writer.stats["write_failures"] == 1, "failure")
    writer.put(CM, config_map("a"))
    await until(lambda: idle(writer) and kube.applied[-1]["data"]["v"] == "a", "rewritten")
    assert writer.stats["writes_skipped"] == 0


async def test_status_patches_are_coalesced_and_identical_ones_skipped(
    running: tuple[Writer, RecordingKube],
) -> None:
    writer, kube = running
    for i in range(10):
        writer.patch_status(TRIGGER, {"failureMessage": str(i)})
    await until(lambda: idle(writer) and writer.stats["status_patches"] == 1, "patch")
    writer.patch_status(TRIGGER, {"failureMessage": "9"})
    await until(lambda: idle(writer) and writer.stats["status_skipped"] == 1, "skip")
    writer.forget_status(TRIGGER)  # the definition's value went: a new one starts afresh
    writer.patch_status(TRIGGER, {"failureMessage": "9"})
    await until(lambda: idle(writer) and writer.stats["status_patches"] == 2, "patched again")
    assert kube.statuses == [("t", {"failureMessage": "9"})] * 2
    assert writer.stats["status_coalesced"] == 9


async def test_a_build_is_called_when_the_write_is_due_and_may_hold(
    running: tuple[Writer, RecordingKube],
) -> None:
    writer, kube = running
    calls: list[str] = []
    content = {"value": "x"}

    def build() -> Callable[[], Write] | None:
        calls.append(content["value"])
        if content["value"] == "unknown":
            return None
        return lambda: config_map(content["value"])

    for value in ("a", "b", "c"):
        content["value"] = value
        writer.build(CM, build)
    await until(lambda: idle(writer), "the build")
    assert calls == ["c"] and [o["data"]["v"] for o in kube.applied] == ["c"]
    content["value"] = "unknown"
    writer.build(CM, build)
    await until(lambda: idle(writer) and len(calls) == 2, "held")
    assert len(kube.applied) == 1
