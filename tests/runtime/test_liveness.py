"""Liveness (issue 16, item 8): ``/livez`` turns unhealthy when a service is wedged -- its
event loop blocked, or a watched queue holding work without finishing any -- and healthy
again after; the probes answer from a thread, so a blocked loop is *reported*, not a
timeout.

The rules are checked with a fake clock (milliseconds); then a real
:class:`shared.runtime.service.Service` runs in-process, in its own thread and loop, with
real HTTP to its probe server: its loop is blocked with ``time.sleep`` (what a wedged
CPU-bound render looks like), and a queue's handler waits for what never comes."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.scenario.processes import free_port
from shared.runtime.liveness import Limits, Liveness, LivenessSettings
from shared.runtime.service import Service, _run
from shared.runtime.settings import ServiceSettings
from shared.runtime.workqueue import Backoff, WorkQueue, run_workers
from tests.integration.helpers import eventually


# -- the rules (a fake clock) -------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_loop_that_stops_beating_is_not_live_until_it_beats_again() -> None:
    clock = Clock()
    live = Liveness(Limits(loop_blocked=5.0, stalled=60.0), clock)
    live.tick()
    clock.now += 4.9
    assert live.verdict().live
    clock.now += 0.2
    verdict = live.verdict()
    assert not verdict.live and "event loop blocked" in verdict.reason and "5.1 s" in verdict.reason
    live.tick()
    assert live.verdict().live


def test_work_in_hand_without_progress_is_stalled_and_progress_or_idleness_clears_it() -> None:
    clock = Clock()
    live = Liveness(Limits(loop_blocked=5.0, stalled=30.0), clock)
    state = {"pending": False, "done": 0}
    live.watch("work queue apply", lambda: bool(state["pending"]), lambda: int(state["done"]))
    for _ in range(100):  # idle for long: no work, no stall
        clock.now += 1
        live.tick()
    assert live.verdict().live
    state["pending"] = True
    for _ in range(31):
        clock.now += 1
        live.tick()
    verdict = live.verdict()
    assert not verdict.live and verdict.reason.startswith("work queue apply stalled")
    state["done"] += 1  # one item finished (a success or a failure): progress
    clock.now += 1
    live.tick()
    assert live.verdict().live
    for _ in range(31):
        clock.now += 1
        live.tick()
    assert not live.verdict().live
    state["pending"] = False  # nothing in hand any more
    live.tick()
    assert live.verdict().live


def test_a_work_queue_that_fails_and_backs_off_is_progressing() -> None:
    clock = Clock()
    live = Liveness(Limits(loop_blocked=5.0, stalled=10.0), clock)
    queue: WorkQueue[str] = WorkQueue("q")
    live.watch_queue(queue)
    queue._queue.append("k")  # a key queued (no loop here to add() it)
    live.tick()
    clock.now += 11
    live.tick()
    assert "work queue q stalled" in live.verdict().reason
    queue._queue.clear()  # taken, failed: waiting for its retry -- not work in hand
    queue.stats["failures"] += 1
    clock.now += 1
    live.tick()
    assert live.verdict().live


def test_a_broken_watch_is_no_verdict() -> None:
    live = Liveness(Limits(), Clock())
    live.watch("broken", lambda: 1 / 0 > 0, lambda: 0)
    live.tick()
    live.tick()
    assert live.verdict().live


def test_the_thresholds_are_settings() -> None:
    class Settings(ServiceSettings, LivenessSettings):
        pass

    s = Settings(liveness_loop_blocked=2, liveness_stalled=30)
    assert Limits.of(s) == Limits(2.0, 30.0)
    assert Limits.of(ServiceSettings()) == Limits()
    with pytest.raises(ValueError, match="liveness_loop_blocked"):
        Settings(liveness_loop_blocked=0)


# -- a real Service, in its own thread --------------------------------------------------------
class Settings(ServiceSettings, LivenessSettings):
    pass


@dataclass
class Running:
    service: Service
    loop: asyncio.AbstractEventLoop
    base: str
    stuck: asyncio.Event
    queues: dict[str, WorkQueue[str]] = field(default_factory=dict)

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def get(self, path: str) -> tuple[int, Any]:
        """(status, body); a probe that does not answer within 1 s fails the test."""
        try:
            with urllib.request.urlopen(self.base + path, timeout=1.0) as resp:
                body = resp.read().decode()
                status = resp.status
        except urllib.error.HTTPError as err:
            with err:
                body, status = err.read().decode(), err.code
        return status, json.loads(body) if body.startswith("{") else body


@pytest.fixture
def running() -> Iterator[Running]:
    settings = Settings(metrics_port=free_port(), liveness_loop_blocked=0.5, liveness_stalled=1.0)
    service = Service("probetest", settings)
    started = threading.Event()
    box: dict[str, Any] = {}

    async def main(svc: Service) -> None:
        stuck = asyncio.Event()

        async def apply(key: str) -> None:
            await stuck.wait()  # what never comes (until the test releases it)

        async def retry(key: str) -> None:
            raise RuntimeError("always failing")

        queues = {
            "apply": WorkQueue[str]("apply"),
            "retry": WorkQueue[str]("retry", Backoff(base=0.05, cap=0.2)),
        }
        svc.spawn(run_workers(queues["apply"], apply), "apply")
        svc.spawn(run_workers(queues["retry"], retry), "retry")
        for queue in queues.values():
            svc.watch_queue(queue)
        svc.set_ready()
        box.update(loop=asyncio.get_running_loop(), stuck=stuck, queues=queues)
        started.set()
        await svc.stopping.wait()

    thread = threading.Thread(target=asyncio.run, args=(_run(service, main),), daemon=True)
    thread.start()
    assert started.wait(10), "the service did not start"
    r = Running(service, box["loop"], f"http://127.0.0.1:{settings.metrics_port}", box["stuck"])
    r.queues = box["queues"]
    eventually(lambda: r.get("/livez")[0] == 200, 5, what="probes answering")
    yield r
    r.call(r.stuck.set)
    r.call(service.stopping.set)
    thread.join(10)
    assert not thread.is_alive(), "the service did not stop"


def test_a_blocked_loop_turns_livez_unhealthy_within_the_threshold_and_healthy_after(
    running: Running,
) -> None:
    for path in ("/livez", "/healthz"):
        status, body = running.get(path)
        assert status == 200 and body["status"] == "ok" and body["lag_seconds"] < 0.5
    assert running.get("/readyz") == (200, {"status": "ready"})
    status, text = running.get("/metrics")
    assert status == 200 and "ripple_probetest_live 1.0" in text

    blocked_at = time.monotonic()
    running.call(time.sleep, 2.5)  # a wedged CPU-bound render: the loop answers nothing
    status, body = eventually(
        lambda: (r := running.get("/livez"))[0] == 503 and r, 3, what="/livez unhealthy"
    )
    seen = time.monotonic() - blocked_at
    print(f"\nloop blocked -> /livez 503 in {seen * 1000:.0f} ms (threshold 500 ms)")
    assert body["status"] == "unhealthy" and "event loop blocked" in body["reason"], body
    assert seen < 0.5 + 0.5, f"reported {seen:.2f} s after the block (threshold 0.5 s)"
    assert running.get("/healthz")[0] == 503
    status, body = running.get("/readyz")
    assert status == 503 and "event loop blocked" in body["reason"]
    status, text = running.get("/metrics")  # answered at once, not after a scrape timeout
    assert status == 503 and "not live" in text

    eventually(lambda: running.get("/livez")[0] == 200, 5, what="/livez healthy again")
    assert time.monotonic() - blocked_at >= 2.5, "healthy only once the loop beats again"
    assert running.get("/readyz")[0] == 200
    assert running.get("/metrics")[0] == 200
    assert running.service.lag.max >= 2.0


def test_a_stalled_queue_turns_livez_unhealthy_and_a_failing_one_does_not(
    running: Running,
) -> None:
    running.call(running.queues["retry"].add, "k")  # fails, retried with backoff, forever
    eventually(lambda: running.queues["retry"].stats["failures"] >= 3, 5, what="retries")
    deadline = time.monotonic() + 1.5  # longer than liveness_stalled (1 s)
    while time.monotonic() < deadline:
        assert running.get("/livez")[0] == 200, "a queue that fails and retries is progressing"

    stalled_at = time.monotonic()
    running.call(running.queues["apply"].add, "k")  # its handler waits for what never comes
    _, body = eventually(
        lambda: (r := running.get("/livez"))[0] == 503 and r, 4, what="/livez unhealthy"
    )
    assert "work queue apply stalled" in body["reason"], body
    took = time.monotonic() - stalled_at  # counted from the last beat without work (<= 0.1 s)
    print(f"\nqueue stalled -> /livez 503 in {took * 1000:.0f} ms (threshold 1000 ms)")
    assert 1.0 - 0.15 <= took < 1.0 + 1.0, took
    assert running.get("/metrics")[0] == 200, "the loop itself still answers"

    running.call(running.stuck.set)  # the handler finishes: progress
    eventually(lambda: running.get("/livez")[0] == 200, 3, what="/livez healthy again")


def test_readyz_waits_for_the_service_to_say_every_input_was_read(running: Running) -> None:
    running.call(running.service.set_not_ready, "reading matching sets")
    _, body = eventually(
        lambda: (r := running.get("/readyz"))[0] == 503 and r, 3, what="/readyz not ready"
    )
    assert body == {"status": "not ready", "reason": "reading matching sets"}
    assert running.get("/livez")[0] == 200, "alive, not ready"
    running.call(running.service.set_ready)
    eventually(lambda: running.get("/readyz")[0] == 200, 3, what="ready")
    assert running.get("/nope")[0] == 404
