"""The withdrawal guard through the manager's loop and publisher, against a real nats-server
(issue 18 item 4): a held withdrawal leaves the desired states in their bucket and its
trigger's status in ``ripple-status`` says so (the held keys' failures bring a reconcile);
a hold under the bound again ends after its window by the reconcile its waiting key brings
about, and only then is the rest withdrawn from the bucket. Each held key is a failure of
its own (``/v1/errors``, ``/v1/publication``), and the hold is logged once per trigger: one
WARNING when it begins, one INFO when its numbers change, no ERROR per key."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.manager.guard import Bound
from services.manager.inputs import WATCHED
from services.manager.outputs import DESIRED, desired_key
from services.manager.reconciler import Reconciler
from services.manager.stores import Stores
from tests.manager.test_publication import A, B, new_state, report
from tests.manager.test_publication_guard import edit_event_source
from tests.manager.test_publisher import keys, until

WINDOW = 0.3


@pytest.fixture
async def stores(jetstream: Any) -> Stores:
    return await Stores.open(jetstream)


@pytest.fixture
async def reconciler(stores: Stores) -> AsyncIterator[Reconciler]:
    state = new_state()
    report(state, A, *(f"a{n}" for n in range(4)))
    report(state, B, *(f"b{n}" for n in range(4)))
    rec = Reconciler(
        stores.buckets(),
        limit=1 << 20,
        state=state,
        coalesce=0.0,
        withdrawal_guard=Bound(window=WINDOW),
    )
    rec.inputs.synced.update(WATCHED)  # every input read: its loop reconciles on a nudge
    rec.inputs.reports_synced = True
    tasks = [asyncio.create_task(rec.publisher.run(4)), asyncio.create_task(rec.run())]
    yield rec
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def desired(rec: Reconciler, cluster: Any = None) -> set[str]:
    return {desired_key(c, p) for c, p in rec.state.desired if cluster in (None, c)}


async def status(stores: Stores) -> str:
    items = await stores.status.items()
    entry = items.get("eventtrigger.t")
    return entry.data.failure_message if entry is not None else ""


def guard_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "withdrawal" in r.getMessage()]


async def test_a_held_withdrawal_stays_published_and_its_status_says_so(
    stores: Stores, reconciler: Reconciler, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    rec = reconciler
    await rec.reconcile()
    everything = desired(rec)
    in_b = desired(rec, B)
    await until(lambda: _is(keys(stores.desired), everything), what="published")
    loop_now = asyncio.get_running_loop().time()  # the clock of the manager's decisions
    edit_event_source(rec.state, rec.publication, loop_now)  # the state's input, on the loop
    await rec.reconcile()
    report(rec.state, A)
    report(rec.state, B)
    await rec.reconcile()
    await until(lambda: rec.publication.guard.holds, what="the hold")
    held = "withdrawal of 8 of 8 instances held since "
    await until(lambda: _has(status(stores), held), what="the trigger's status")
    assert await keys(stores.desired) == everything
    assert rec.metrics()["withdrawals_held_triggers"][2] == 1
    failures = rec.publisher.queue.failures
    held_keys = {k for (b, k), f in failures.items() if b == DESIRED and f.terminal}
    assert held_keys == everything  # each held key a failure of its own, as /v1/errors shows
    assert {f.message[: len(held)] for f in failures.values()} == {held}
    (begun,) = guard_logs(caplog)  # one line for the hold, none per key
    assert begun.levelno == logging.WARNING and begun.getMessage().count(held) == 1
    assert getattr(begun, "obj", None) == "EventTrigger/t"

    report(rec.state, A, *(f"a{n}" for n in range(4)))  # 4 come back: under the bound
    await rec.reconcile()
    await until(lambda: not rec.publication.guard.holds, what="the hold ends", timeout=10)
    await until(lambda: _is(keys(stores.desired), everything - in_b), what="B withdrawn")
    await until(lambda: _lacks(status(stores), held), what="the status cleared")
    assert rec.metrics()["withdrawals_cleared_total"][2] == 1
    await until(lambda: not rec.publisher.queue.failures, what="the failures end")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    infos = [r.getMessage() for r in guard_logs(caplog) if r.levelno == logging.INFO]
    ended = [m for m in infos if " ended: " in m]
    assert len(ended) == 1 and ended[0].startswith("withdrawal guard: the hold of EventTrigger t ")
    assert all("now holds 4 of 8" in m for m in infos if m not in ended)


async def _is(value: Any, expected: set[str]) -> bool:
    return bool(await value == expected)


async def _has(value: Any, text: str) -> bool:
    return text in await value


async def _lacks(value: Any, text: str) -> bool:
    return text not in await value
