"""The manager's publication against a real nats-server: every key through one work queue,
unchanged bodies not put again, an oversized profile a terminal error in its trigger's
status while other keys publish, a failing bucket retried without holding up the others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from services.manager.outputs import DESIRED, PROFILES, desired_key
from services.manager.reconciler import Reconciler
from services.manager.stores import Stores, read_published
from shared.bus import provision
from shared.contract import streams
from tests.manager.test_publication import A, B, new_state, report

BIG = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: big-{{ .MatchingResource.Name }}
  namespace: default
data:
  blob: {{ repeat 6000 "x" }}
"""


async def until(probe: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Poll ``probe`` (its result awaited when it is a coroutine) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} did not hold within {timeout} s"
        await asyncio.sleep(0.02)


@pytest.fixture
async def stores(jetstream: Any) -> Stores:
    return await Stores.open(jetstream)


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[Any]]]:
    tasks: list[asyncio.Task[Any]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def keys(store: Any) -> set[str]:
    return set(await store.items())


async def test_publishes_every_bucket_and_skips_unchanged_bodies(
    stores: Stores, running: list[asyncio.Task[Any]]
) -> None:
    state = new_state()
    report(state, A, "s1", "s2")
    report(state, B)
    rec = Reconciler(stores.buckets(), limit=1 << 20, state=state)
    running.append(asyncio.create_task(rec.publisher.run(4)))
    await rec.reconcile()
    wanted = {desired_key(c, p) for c, p in state.desired}
    await until(lambda: _equal(keys(stores.desired), wanted), what="desired keys")
    await until(lambda: _nonempty(keys(stores.assignments)), what="assignments")
    await until(lambda: _nonempty(keys(stores.profiles)), what="profiles")
    await until(lambda: _nonempty(keys(stores.status)), what="statuses")
    await until(rec.publisher.queue.idle, what="queue idle")
    puts = rec.publisher.stats["puts"]
    report(state, A, "s1", "s2")  # the same report again: nothing changes
    await rec.reconcile()
    await until(rec.publisher.queue.idle, what="queue idle")
    assert rec.publisher.stats["puts"] == puts
    report(state, A, "s2")
    await rec.reconcile()
    await until(lambda: _equal(keys(stores.desired), {desired_key(c, p) for c, p in state.desired}))
    assert rec.publisher.stats["desired_deletes"] == 1


async def test_a_restart_does_not_put_unchanged_bodies_again(
    stores: Stores, running: list[asyncio.Task[Any]]
) -> None:
    state = new_state()
    report(state, A, "s1")
    report(state, B)
    rec = Reconciler(stores.buckets(), limit=1 << 20, state=state)
    running.append(asyncio.create_task(rec.publisher.run(2)))
    await rec.reconcile()
    await until(lambda: rec.publisher.stats["desired_puts"] == 1 and rec.publisher.queue.idle())
    revisions = {k: e.revision for k, e in (await _entries(stores)).items()}
    start = await read_published(stores)
    again = new_state()
    report(again, A, "s1")
    report(again, B)
    rec2 = Reconciler(
        stores.buckets(), limit=1 << 20, state=again, published=start.published, seeds=start.seeds
    )
    running.append(asyncio.create_task(rec2.publisher.run(2)))
    await rec2.reconcile()
    await until(rec2.publisher.queue.idle, what="queue idle")
    assert rec2.publisher.stats["puts"] == 0 and rec2.publisher.stats["deletes"] == 0
    assert {k: e.revision for k, e in (await _entries(stores)).items()} == revisions


async def test_an_oversized_profile_is_a_terminal_error_in_its_triggers_status(
    stores: Stores, running: list[asyncio.Task[Any]]
) -> None:
    state = new_state(template=BIG)
    report(state, A, "s1")
    report(state, B, "s2")
    rec = Reconciler(stores.buckets(), limit=4000, state=state)
    running.append(asyncio.create_task(rec.publisher.run(4)))
    await rec.reconcile()
    failures = rec.publisher.queue.failures
    await until(lambda: {b for b, _ in failures} == {DESIRED, PROFILES}, what="failures")
    await until(rec.publisher.queue.idle, what="queue idle")
    assert all(f.terminal for f in failures.values())
    (desired_failure,) = [f for (b, _), f in failures.items() if b == DESIRED][:1]
    assert "desired state of profile sveltos-" in desired_failure.message
    assert "over the 4000-byte message limit" in desired_failure.message
    assert await keys(stores.desired) == set()  # nothing of it is published
    assert await keys(stores.assignments)  # other keys are
    # the statuses were recomputed with the failures (the failure nudged the loop)
    await rec.reconcile()
    await until(rec.publisher.queue.idle, what="queue idle")
    status = (await stores.status.items())["eventtrigger.t"].data
    assert "over the 4000-byte message limit" in status.failure_message
    snap = rec.snapshot()
    assert any(f.terminal and f.owner == "EventTrigger/t" for f in snap.failures)
    assert rec.metrics()["publication_failing_keys_terminal"][2] == 4.0
    # the event goes away: nothing is left failing
    report(state, A)
    report(state, B)
    await rec.reconcile()
    await until(lambda: not failures, what="failures cleared")


async def test_a_failing_bucket_is_retried_without_holding_up_other_keys(
    jetstream: Any, stores: Stores, running: list[asyncio.Task[Any]]
) -> None:
    await jetstream.delete_stream(streams.DESIRED.stream_name)  # puts to it now fail
    state = new_state()
    report(state, A, "s1")
    report(state, B)
    rec = Reconciler(stores.buckets(), limit=1 << 20, state=state)
    running.append(asyncio.create_task(rec.publisher.run(2)))
    await rec.reconcile()
    failures = rec.publisher.queue.failures
    await until(lambda: any(b == DESIRED for b, _ in failures), what="a desired put failing")
    await until(lambda: _nonempty(keys(stores.assignments)), what="assignments published")
    await until(lambda: _nonempty(keys(stores.profiles)), what="profiles published")
    failure = next(f for (b, _), f in failures.items() if b == DESIRED)
    assert not failure.terminal and "put failed" in failure.message
    assert rec.publisher.queue.stats["retries"] >= 1
    await provision.ensure(jetstream, "memory")  # the bucket is back
    wanted = {desired_key(c, p) for c, p in state.desired}
    await until(lambda: _equal(keys(stores.desired), wanted), what="desired state published")
    await until(lambda: not failures, what="failures cleared")


async def _equal(value: Awaitable[set[str]], expected: set[str]) -> bool:
    return await value == expected


async def _nonempty(value: Awaitable[set[str]]) -> bool:
    return bool(await value)


async def _entries(stores: Stores) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for store in (stores.assignments, stores.desired, stores.profiles, stores.status):
        kv, bucket = store.kv, store.spec.bucket
        for key in await kv.keys():
            out[f"{bucket}/{key}"] = await kv.get(key)
    return out
