"""The work queue keeps client-go's promises: dedupe, one worker per key, dirty re-add,
backoff retries, forget on success, terminal errors, one key's failure contained."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable

import pytest

from shared.runtime.errors import Terminal
from shared.runtime.workqueue import Backoff, WorkQueue, run_workers

FAST = Backoff(base=0.01, cap=0.05, jitter=0.5)


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


async def start(
    queue: WorkQueue[str], handler: Callable[[str], Awaitable[None]], workers: int = 2
) -> asyncio.Task[None]:
    return asyncio.create_task(run_workers(queue, handler, workers=workers))


async def stop(queue: WorkQueue[str], task: asyncio.Task[None]) -> None:
    queue.shut_down()
    await asyncio.wait_for(task, 2)


async def test_a_key_added_many_times_while_waiting_is_processed_once() -> None:
    queue: WorkQueue[str] = WorkQueue("t", FAST)
    for _ in range(5):
        queue.add("a")
    queue.add("b")
    seen: list[str] = []

    async def handler(key: str) -> None:
        seen.append(key)

    task = await start(queue, handler)
    await until(queue.idle)
    await stop(queue, task)
    assert sorted(seen) == ["a", "b"]


async def test_a_key_is_never_in_two_workers_and_is_redone_when_dirtied() -> None:
    queue: WorkQueue[str] = WorkQueue("t", FAST)
    running: set[str] = set()
    overlaps = 0
    runs = 0
    gate = asyncio.Event()

    async def handler(key: str) -> None:
        nonlocal overlaps, runs
        if key in running:
            overlaps += 1
        running.add(key)
        runs += 1
        if runs == 1:
            await gate.wait()  # hold the first run while the key is added again
        running.discard(key)

    task = await start(queue, handler, workers=4)
    queue.add("k")
    await until(lambda: runs == 1)
    queue.add("k")  # dirty while processing: must not start a second worker
    queue.add("k")
    await asyncio.sleep(0)
    assert runs == 1
    gate.set()
    await until(lambda: runs == 2 and queue.idle())
    await stop(queue, task)
    assert overlaps == 0 and runs == 2


async def test_failures_are_retried_with_growing_backoff_and_forgotten_on_success() -> None:
    queue: WorkQueue[str] = WorkQueue("t", Backoff(base=0.01, cap=1.0, jitter=0.0))
    times: list[float] = []

    async def handler(key: str) -> None:
        times.append(asyncio.get_running_loop().time())
        if len(times) < 4:
            raise RuntimeError("CRD not installed yet")

    task = await start(queue, handler)
    queue.add("p")
    await until(lambda: len(times) == 4 and queue.idle())
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] >= 0.01 and gaps[1] >= 0.02 and gaps[2] >= 0.04
    assert "p" not in queue.failures and queue.num_requeues("p") == 0
    assert queue.stats["failures"] == 3 and queue.stats["successes"] == 1
    await stop(queue, task)


async def test_one_failing_key_never_holds_up_the_others() -> None:
    queue: WorkQueue[str] = WorkQueue("t", FAST)
    done: list[str] = []

    async def handler(key: str) -> None:
        if key == "bad":
            raise RuntimeError("webhook down")
        done.append(key)

    task = await start(queue, handler, workers=1)
    queue.add("bad")
    for i in range(20):
        queue.add(f"good-{i}")
    await until(lambda: len(done) == 20)
    failure = queue.failures["bad"]
    assert "webhook down" in failure.message and not failure.terminal
    assert failure.attempts >= 1
    await stop(queue, task)


async def test_terminal_errors_stop_retrying_until_the_key_is_added_again() -> None:
    queue: WorkQueue[str] = WorkQueue("t", FAST)
    calls = 0
    fixed = False

    async def handler(key: str) -> None:
        nonlocal calls
        calls += 1
        if not fixed:
            raise Terminal("profile is 5 MiB, limit 4 MiB")

    task = await start(queue, handler)
    queue.add("big")
    await until(lambda: "big" in queue.failures)
    assert queue.failures["big"].terminal
    await until(queue.idle)  # no retry pending
    assert calls == 1
    fixed = True
    queue.add("big")  # its input changed
    await until(lambda: calls == 2 and "big" not in queue.failures)
    await stop(queue, task)


async def test_discard_cancels_a_pending_retry() -> None:
    queue: WorkQueue[str] = WorkQueue("t", Backoff(base=10, cap=10))
    calls = 0

    async def handler(key: str) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("fails")

    task = await start(queue, handler)
    queue.add("x")
    await until(lambda: queue.waiting_retry == 1)
    queue.discard("x")
    assert queue.idle() and "x" not in queue.failures
    await stop(queue, task)
    assert calls == 1


def test_backoff_is_exponential_capped_and_jittered() -> None:
    backoff = Backoff(base=0.1, cap=2.0, jitter=0.5)
    rng = random.Random(7)
    for attempts, top in ((1, 0.1), (2, 0.2), (3, 0.4), (10, 2.0), (50, 2.0)):
        delay = backoff.delay(attempts, rng)
        assert top / 2 <= delay <= top


async def test_add_after_and_metrics() -> None:
    queue: WorkQueue[str] = WorkQueue("pub", FAST)
    seen: list[str] = []

    async def handler(key: str) -> None:
        seen.append(key)

    task = await start(queue, handler)
    queue.add_after("later", 0.02)
    queue.add_after("later", 0.02)  # one timer per key
    await until(lambda: seen == ["later"])
    metrics = queue.metrics()
    assert metrics["workqueue_pub_depth"][2] == 0
    assert metrics["workqueue_pub_adds_total"][2] == 1
    await stop(queue, task)


@pytest.mark.parametrize("workers", [1, 3])
async def test_cancelling_the_workers_leaves_no_key_processing(workers: int) -> None:
    queue: WorkQueue[str] = WorkQueue("t", FAST)
    started = asyncio.Event()

    async def handler(key: str) -> None:
        started.set()
        await asyncio.Event().wait()

    task = await start(queue, handler, workers=workers)
    queue.add("k")
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert queue.processing == 0
