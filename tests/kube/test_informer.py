"""The informer on positive knowledge only (issue 12): a failed list, watch or discovery is a
FAILED event with the message and ``not_served=False``, retried with exponential backoff and
jitter, the cache kept; a kind really not served is FAILED with ``not_served=True``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.fleet import start_fleet_thread
from shared.kube import GVK, Informer, InformerEvent, KubeClient
from shared.kube.informer import Backoff
from tests.kube.conftest import Target, crd, wait_for

CONFIG_MAP = GVK("v1", "ConfigMap")
DEPLOYMENT = GVK("apps/v1", "Deployment")
WIDGET = GVK("example.com/v1", "Widget")


class Recorder:
    """Collects an informer's events (from its thread)."""

    def __init__(self) -> None:
        self.events: list[InformerEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: InformerEvent) -> None:
        with self.lock:
            self.events.append(event)

    def of(self, *types: str) -> list[InformerEvent]:
        with self.lock:
            return [e for e in self.events if e.type in types]

    def clear(self) -> None:
        with self.lock:
            self.events.clear()


@pytest.fixture
def informers() -> Iterator[list[Informer]]:
    started: list[Informer] = []
    yield started
    for informer in started:
        informer.stop()


def _start(
    informers: list[Informer], client: KubeClient, gvk: GVK, **kw: Any
) -> tuple[Informer, Recorder]:
    recorder = Recorder()
    informer = Informer(client, gvk, recorder, **kw)
    informers.append(informer)
    informer.start()
    return informer, recorder


def _deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
            },
        },
    }


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    backoff = Backoff(0.2, 30.0)
    delays = [backoff.next() for _ in range(12)]
    for n, delay in enumerate(delays):
        ceiling = min(30.0, 0.2 * 2**n)
        assert ceiling / 2 <= delay <= ceiling, (n, delay)
    assert delays[-1] >= 15.0
    backoff.reset()
    assert backoff.next() <= 0.2


def test_a_kind_not_served_is_positive_knowledge(target: Target, informers: list[Informer]) -> None:
    informer, events = _start(informers, target.client(), WIDGET)
    failed = wait_for(lambda: events.of("FAILED"), what="FAILED event")[0]
    assert failed.not_served and informer.not_served and not informer.synced
    assert "is not served" in failed.message and target.name in failed.message
    assert informer.retry_in <= 5.0  # polled again soon: the CRD may come
    target.client().create(crd())  # the CRD is installed: the informer lists it
    wait_for(lambda: events.of("SYNCED"), 15, what="SYNCED once the CRD exists")
    assert not informer.not_served and informer.error == ""


@pytest.mark.parametrize(
    ("path", "status"),
    [("^/apis$", 503), ("^/apis/apps/v1$", 503), ("^/apis/apps/v1$", 404)],
    ids=["apis-503", "group-version-503", "group-version-404"],
)
def test_failed_discovery_is_not_not_served_and_backs_off(
    target: Target, informers: list[Informer], path: str, status: int
) -> None:
    target.fault(path, status)
    informer, events = _start(
        informers, target.client(), DEPLOYMENT, backoff_initial=0.02, backoff_max=0.16
    )
    wait_for(lambda: len(events.of("FAILED")) >= 5, what="5 FAILED events")
    for event in events.of("FAILED"):
        assert not event.not_served, event
        assert f"GET {informer.client.host}{path.strip('^$')}" in event.message, event.message
        assert f"answered {status}" in event.message, event.message
    assert not events.of("SYNCED", "ADDED", "DELETED")
    assert informer.backoff.failures >= 5 and 0.08 <= informer.retry_in <= 0.16  # capped
    assert not informer.not_served and informer.error
    target.fleet.clear_faults()
    wait_for(lambda: events.of("SYNCED"), what="SYNCED after the fault is cleared")
    assert informer.backoff.failures == 0 and informer.error == ""


def test_the_cache_is_kept_while_lists_fail(target: Target, informers: list[Informer]) -> None:
    client = target.client()
    for name in ("a", "b"):
        client.create(_deployment(name))
    informer, events = _start(
        informers, target.client(), DEPLOYMENT, backoff_initial=0.02, backoff_max=0.2
    )
    wait_for(lambda: events.of("SYNCED"), what="first list")
    assert len(informer.cache) == 2
    events.clear()
    # the watch breaks, its resume is too old (410) and every list and watch fails
    target.fault("^/apis/apps/v1/(namespaces/[^/]+/)?deployments", 503)
    target.fleet.compact(target.name)
    target.fleet.cut_watches(target.name)
    wait_for(lambda: len(events.of("FAILED")) >= 3, what="failing relists")
    client.delete(DEPLOYMENT, "default", "a")  # unknown to the informer while lists fail
    # discovery fails too once the kind is forgotten: still unknown, still cached
    target.fault("^/apis/apps/v1$", 503)
    informer.client.forget(DEPLOYMENT)
    wait_for(
        lambda: any("/apis/apps/v1:" in e.message for e in events.of("FAILED")),
        what="a failed discovery",
    )
    assert not any(e.not_served for e in events.of("FAILED"))
    assert not events.of("DELETED", "SYNCED")
    assert {k.name for k in informer.cache} == {"a", "b"}  # kept: last known
    target.fleet.clear_faults()
    wait_for(lambda: events.of("SYNCED"), what="relist after recovery")
    assert [e.obj["metadata"]["name"] for e in events.of("DELETED")] == ["a"]
    assert {k.name for k in informer.cache} == {"b"}


def test_a_deleted_crd_is_positively_gone(target: Target, informers: list[Informer]) -> None:
    client = target.client()
    client.create(crd())
    wait_for(lambda: client.serves(WIDGET), what="CRD served")
    client.create({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    informer, events = _start(informers, target.client(), WIDGET, backoff_initial=0.02)
    wait_for(lambda: events.of("SYNCED"), what="first list")
    assert len(informer.cache) == 1
    client.delete(
        GVK("apiextensions.k8s.io/v1", "CustomResourceDefinition"), None, "widgets.example.com"
    )
    wait_for(lambda: [e for e in events.of("FAILED") if e.not_served], 15, what="not served")
    assert informer.cache == {} and [e.obj["metadata"]["name"] for e in events.of("DELETED")] == [
        "w"
    ]


def test_a_core_kind_is_listed_while_apis_fails(target: Target, informers: list[Informer]) -> None:
    target.fault("^/apis", 503)
    informer, events = _start(informers, target.client(), CONFIG_MAP)
    wait_for(lambda: events.of("SYNCED"), what="ConfigMaps listed without /apis")
    assert not events.of("FAILED") and informer.synced


def test_stop_ends_an_idle_watch_at_once(tmp_path: Path) -> None:
    """An informer whose watch carries nothing (bookmarks a minute apart, as a real API
    server sends them) stops at once: its open watch is shut down, not read until the next
    event. A host of 1,000 agents stops its informers this way in seconds."""
    fleet = start_fleet_thread([], tmp_path / "fleet", bookmark_interval=60.0)
    client = KubeClient(str(fleet.add_cluster("quiet")), name="quiet")
    try:
        recorder = Recorder()
        informer = Informer(client, GVK("v1", "ConfigMap"), recorder)
        informer.start()
        wait_for(lambda: recorder.of("SYNCED"), what="first list")
        wait_for(lambda: informer._stream is not None, what="the watch open")
        started = time.monotonic()
        informer.stop(timeout=5.0)
        assert time.monotonic() - started < 1.0
        assert informer._thread is not None and not informer._thread.is_alive()
        assert not recorder.of("FAILED"), "a stop is not a failure"
    finally:
        client.close()
        fleet.stop()
