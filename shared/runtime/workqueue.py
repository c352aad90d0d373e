"""A work queue with client-go's semantics, for asyncio.

Every side effect of a service goes through one: the queue holds *keys*, never values, and
the handler reads the current wanted state of its key when it runs (level-triggered, as a
controller-runtime reconciler does). Semantics, after client-go's ``workqueue``:

- **dedupe per key**: adding a key already waiting is a no-op;
- **one worker per key**: a key being processed is never handed to a second worker; added
  while processing, it is marked dirty and queued again when the first run is done;
- **rate-limited retries**: a handler that raises is retried after an exponential backoff
  with jitter (per key), without holding up other keys; success forgets the key's failures;
- **terminal errors**: a :class:`Terminal` error stops the retries and is kept as the key's
  failure until the key is added again (its input changed) or succeeds;
- failures are recorded per key (message, attempts, since) for status, REST and metrics.

The loop owns the queue; nothing here blocks or does I/O.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from shared.runtime.errors import Terminal

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Backoff:
    """Per-key exponential backoff: ``base * 2**n`` capped at ``cap``, with jitter (the
    delay is drawn from [``(1 - jitter) * d``, ``d``])."""

    base: float = 0.05
    cap: float = 60.0
    jitter: float = 0.5

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        raw = min(self.cap, self.base * (2 ** max(attempts - 1, 0)))
        low = raw * (1.0 - self.jitter)
        return (rng or random).uniform(low, raw)


@dataclass(frozen=True)
class Failure:
    """The last failure of one key: what it said, how often it was tried, since when
    (wall clock), and whether it stopped retrying."""

    message: str
    attempts: int
    since: float
    terminal: bool = False
    retry_in: float = 0.0


class ShutDown(Exception):
    """The queue was shut down: workers end."""


class WorkQueue(Generic[K]):
    def __init__(self, name: str, backoff: Backoff | None = None) -> None:
        self.name = name
        self.backoff = backoff or Backoff()
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()  # waiting to be processed (in _queue)
        self._processing: set[K] = set()
        self._again: set[K] = set()  # added while processing: queue again when done
        self._requeues: dict[K, int] = {}
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._wakeup = asyncio.Event()
        self._shutdown = False
        self.failures: dict[K, Failure] = {}
        self.stats = {"adds": 0, "retries": 0, "successes": 0, "failures": 0, "terminal": 0}

    # -- producers ---------------------------------------------------------------------------
    def add(self, key: K) -> None:
        """Queue ``key`` (deduplicated). A key waiting for a retry is queued now; a terminal
        failure is cleared (its input changed, so it is worth another try)."""
        if self._shutdown:
            return
        self.stats["adds"] += 1
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        failure = self.failures.get(key)
        if failure is not None and failure.terminal:
            self._requeues.pop(key, None)
        if key in self._processing:
            self._again.add(key)
            return
        if key in self._dirty:
            return
        self._dirty.add(key)
        self._queue.append(key)
        self._wakeup.set()

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` after ``delay`` seconds (an earlier pending timer is kept)."""
        if self._shutdown:
            return
        if delay <= 0:
            self.add(key)
            return
        if key in self._timers or key in self._dirty:
            return
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: K) -> float:
        """Queue ``key`` again after its backoff; returns the delay."""
        attempts = self._requeues.get(key, 0) + 1
        self._requeues[key] = attempts
        delay = self.backoff.delay(attempts)
        self.stats["retries"] += 1
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Stop tracking the key's retries (after a success)."""
        self._requeues.pop(key, None)
        self.failures.pop(key, None)

    def discard(self, key: K) -> None:
        """Drop a key the owner no longer wants: pending timers, failures, retries."""
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._requeues.get(key, 0)

    # -- consumers ---------------------------------------------------------------------------
    async def get(self) -> K:
        """The next key (waits); the key is processing until :meth:`done`."""
        while not self._queue:
            if self._shutdown:
                raise ShutDown(self.name)
            self._wakeup.clear()
            await self._wakeup.wait()
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.add(key)

    def shut_down(self) -> None:
        self._shutdown = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._wakeup.set()

    # -- views -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._queue)

    @property
    def processing(self) -> int:
        return len(self._processing)

    @property
    def waiting_retry(self) -> int:
        return len(self._timers)

    def idle(self) -> bool:
        """Nothing queued, processing or waiting for a retry."""
        return not (self._queue or self._processing or self._timers or self._again)

    def metrics(self) -> dict[str, tuple[str, str, float]]:
        """Counters and gauges for :class:`shared.metrics.Collector` (prefix ``<svc>_``)."""
        n = self.name
        return {
            f"workqueue_{n}_adds_total": ("counter", f"Keys added to {n}", self.stats["adds"]),
            f"workqueue_{n}_retries_total": (
                "counter",
                f"Retries scheduled by {n}",
                self.stats["retries"],
            ),
            f"workqueue_{n}_failures_total": (
                "counter",
                f"Handler failures in {n}",
                self.stats["failures"],
            ),
            f"workqueue_{n}_depth": ("gauge", f"Keys waiting in {n}", len(self._queue)),
            f"workqueue_{n}_failing_keys": (
                "gauge",
                f"Keys of {n} whose last attempt failed",
                len(self.failures),
            ),
        }


Handler = Callable[[K], Awaitable[None]]


async def run_workers(
    queue: WorkQueue[K],
    handler: Handler[K],
    *,
    workers: int = 1,
    describe: Callable[[K], str] = str,
) -> None:
    """Process ``queue`` with ``workers`` concurrent workers until it is shut down (or the
    task is cancelled). A handler that raises is retried with backoff; :class:`Terminal`
    stops the retries. Failures never end the workers: one key never holds up another."""

    async def worker() -> None:
        while True:
            try:
                key = await queue.get()
            except ShutDown:
                return
            try:
                await handler(key)
            except Terminal as exc:
                queue.stats["failures"] += 1
                queue.stats["terminal"] += 1
                previous = queue.failures.get(key)
                queue.failures[key] = Failure(
                    str(exc),
                    (previous.attempts if previous else 0) + 1,
                    previous.since if previous else time.time(),
                    terminal=True,
                )
                queue._requeues.pop(key, None)
                log.error("%s: %s (not retried)", queue.name, exc, extra={"obj": describe(key)})
            except Exception as exc:
                queue.stats["failures"] += 1
                delay = queue.add_rate_limited(key)
                previous = queue.failures.get(key)
                queue.failures[key] = Failure(
                    f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc),
                    queue.num_requeues(key),
                    previous.since if previous else time.time(),
                    retry_in=delay,
                )
                level = logging.WARNING if queue.num_requeues(key) <= 3 else logging.DEBUG
                log.log(
                    level,
                    "%s: %s (retry %d in %.2fs)",
                    queue.name,
                    exc,
                    queue.num_requeues(key),
                    delay,
                    extra={"obj": describe(key)},
                )
            else:
                queue.stats["successes"] += 1
                queue.forget(key)
            finally:
                queue.done(key)

    async with asyncio.TaskGroup() as group:
        for i in range(max(workers, 1)):
            group.create_task(worker(), name=f"{queue.name}-worker-{i}")


__all__ = ["Backoff", "Failure", "Handler", "ShutDown", "Terminal", "WorkQueue", "run_workers"]
