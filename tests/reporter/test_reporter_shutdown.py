"""A stopped reporter stops: a bucket watcher whose cancellation is lost (Python 3.11's
``asyncio.wait_for`` drops a cancel that races an arriving message; shared.bus.watch no longer
uses it, but a watcher is third-party-shaped code) is cancelled again."""

from __future__ import annotations

import asyncio

import pytest

from services.reporter.service import stoppable


async def watcher(queue: asyncio.Queue[int], seen: list[int]) -> None:
    """What the KV watcher does: wait for the next message with a heartbeat timeout."""
    while True:
        seen.append(await asyncio.wait_for(queue.get(), timeout=6))


async def test_a_stoppable_watcher_stops_although_its_cancel_was_lost() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    seen: list[int] = []
    task = asyncio.create_task(stoppable(watcher(queue, seen), "test"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    queue.put_nowait(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert [t for t in asyncio.all_tasks() if t.get_name() == "test-watch"] == []


async def test_a_crashing_watcher_ends_the_service() -> None:
    async def crash() -> None:
        raise RuntimeError("watch failed")

    with pytest.raises(RuntimeError, match="watch failed"):
        await stoppable(crash(), "test")
