"""Many services in one process: a :class:`ChildService` per hosted unit (``ripple
agent-host``: one per managed cluster), under one host :class:`shared.runtime.service.Service`.

A child is what a service's ``main`` receives, with the same interface as a service, but

- its tasks run in a task group of its own (:func:`run_child`): a task of one child that
  crashes ends that child only (its supervisor restarts it), never the host or a sibling;
- ``every(interval, ...)`` does not start a timer task per child: the host's :class:`Ticks`
  run one task per interval that visits every child's callback in turn, in slices of the
  loop (an idle child costs a call, not a wake-up of its own);
- its readiness is its own (``ready``, ``not_ready_reason``; no ready file): the host
  reports every child's on ``/readyz`` and writes its ready file when all are ready;
- its metrics and statistics are collected by the host (summed over the children), its
  histograms are registered once with the host (children may share them: :meth:`shared`);
- its liveness watches are its own: the host evaluates them on a tick and restarts a child
  whose work stalled, leaving the others alone;
- ``startup_done()`` releases the host's start gate (:class:`Host`, a bound on the children
  connecting and loading at the same time), which a child takes when it starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from shared.runtime.errors import RuntimeFailure
from shared.runtime.service import Service, stop_callbacks
from shared.runtime.settings import ServiceSettings
from shared.runtime.slicing import Slicer

if TYPE_CHECKING:
    from shared.metrics import Histogram

log = logging.getLogger(__name__)

GATE_HOLD = 10.0
"""Seconds a starting child holds its place in the start gate at most."""

T = TypeVar("T")
Callback = Callable[[], Awaitable[None] | None]
"""A tick's callback: a coroutine function, or a plain function (cheaper: no coroutine)."""


@dataclass
class _Tick:
    interval: float
    callbacks: dict[int, tuple[str, Callback]] = field(default_factory=dict)
    task: asyncio.Task[Any] | None = None


class Ticks:
    """Host-level timers: one task per distinct interval visits every callback registered
    with it (sliced: the loop is given back every few milliseconds). A callback's failure is
    logged with its name and never stops the others."""

    def __init__(self, spawn: Callable[[Coroutine[Any, Any, Any], str], asyncio.Task[Any]]):
        self._spawn = spawn
        self._ticks: dict[float, _Tick] = {}
        self._next = 0
        self.visits = 0  # callbacks run (a counter for the metrics)

    def add(self, interval: float, callback: Callback, name: str) -> tuple[float, int]:
        tick = self._ticks.get(interval)
        if tick is None:
            tick = self._ticks[interval] = _Tick(interval)
            tick.task = self._spawn(self._run(tick), f"tick-{interval:g}s")
        self._next += 1
        tick.callbacks[self._next] = (name, callback)
        return interval, self._next

    def remove(self, handle: tuple[float, int]) -> None:
        tick = self._ticks.get(handle[0])
        if tick is not None:
            tick.callbacks.pop(handle[1], None)

    def __len__(self) -> int:
        return sum(len(t.callbacks) for t in self._ticks.values())

    async def _run(self, tick: _Tick) -> None:
        slicer = Slicer(0.005)
        while True:
            await asyncio.sleep(tick.interval)
            slicer.restart()
            for n, (name, callback) in enumerate(list(tick.callbacks.values())):
                try:
                    result = callback()
                    if result is not None:
                        await result
                except Exception as exc:
                    log.warning("%s failed: %s", name, exc, extra={"obj": name})
                if n % 32 == 31:
                    await slicer.pause()
            self.visits += len(tick.callbacks)


class Host:
    """What the children of one process share: the host service, its ticks, the start gate,
    objects shared by every child (:meth:`ChildService.shared`), and a callback run when a
    child's readiness changes."""

    def __init__(self, service: Service, max_starting: int = 32) -> None:
        self.service = service
        self.ticks = Ticks(service.spawn)
        self.gate = asyncio.Semaphore(max_starting)
        self.objects: dict[str, Any] = {}
        self.histograms: set[int] = set()
        self.on_readiness: Callable[[ChildService], None] = lambda child: None

    def add_histogram(self, histogram: Histogram) -> None:
        if id(histogram) not in self.histograms:
            self.histograms.add(id(histogram))
            self.service.add_histogram(histogram)


class ChildService(Service):
    """One hosted unit's service (see the module's docstring)."""

    hosted = True

    def __init__(self, name: str, settings: ServiceSettings, ident: str, host: Host) -> None:
        super().__init__(name, settings, ident)
        self.host = host
        self._metrics = []  # the runtime's own series are the host's
        self._handles: list[tuple[float, int]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._gate_held = False

    # -- tasks -------------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        if self._group is None:
            coro.close()
            raise RuntimeFailure("spawn() before the child runs")
        task = self._group.create_task(coro, name=f"{self.ident}:{name}")
        self._tasks.append(task)
        return task

    def every(self, interval: float, callback: Callback, name: str) -> None:
        """Visited by the host's tick of ``interval`` (no task of the child's own)."""
        self._handles.append(self.host.ticks.add(interval, callback, f"{self.ident}:{name}"))

    def shared(self, key: str, factory: Callable[[], T]) -> T:
        """One object for every child of the host (built by the first that asks)."""
        if key not in self.host.objects:
            self.host.objects[key] = factory()
        value: T = self.host.objects[key]
        return value

    # -- readiness and metrics ---------------------------------------------------------------
    def set_ready(self) -> None:
        if self.ready:
            return
        self.ready = True
        self.not_ready_reason = ""
        log.info("%s ready", self.name, extra={"obj": self.ident})
        self.host.on_readiness(self)

    def set_not_ready(self, reason: str) -> None:
        was = self.ready
        super().set_not_ready(reason)
        if was:
            self.host.on_readiness(self)

    def add_histogram(self, histogram: Histogram) -> Histogram:
        self.host.add_histogram(histogram)
        return histogram

    # -- the start gate ----------------------------------------------------------------------
    async def take_gate(self) -> None:
        """Wait for a place among the children starting; it is given back by
        :meth:`startup_done`, at the end, or after :data:`GATE_HOLD` seconds (a child that
        cannot connect or load does not hold the others back)."""
        await self.host.gate.acquire()
        self._gate_held = True
        asyncio.get_running_loop().call_later(GATE_HOLD, self.startup_done)

    def startup_done(self) -> None:
        if self._gate_held:
            self._gate_held = False
            self.host.gate.release()

    # -- life cycle --------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the child to end: its ``main`` returns, then its tasks are cancelled."""
        self.stopping.set()

    def detach(self) -> None:
        """What the child holds in the host: its tick callbacks, the start gate."""
        for handle in self._handles:
            self.host.ticks.remove(handle)
        self._handles.clear()
        self.startup_done()


async def run_child(child: ChildService, main: Callable[[ChildService], Awaitable[None]]) -> None:
    """Run ``main(child)`` and the tasks it spawns in a task group of the child's own, until
    ``main`` returns (then its tasks are cancelled) or one of them raises (the exception
    group is raised: the caller decides to restart). The start gate is taken first and held
    until ``startup_done()`` or the end. The ``on_stop`` callbacks run at the end, whatever
    the cause, each bounded by ``shutdown_grace``."""

    async def body() -> None:
        await main(child)
        child.stopping.set()
        for task in child._tasks:
            task.cancel()

    try:
        await child.take_gate()
        async with asyncio.TaskGroup() as group:
            child._group = group
            group.create_task(body(), name=f"{child.ident}:main")
    finally:
        child.stopping.set()
        child.ready = False
        child.detach()
        child._group = None
        child._tasks.clear()
        await stop_callbacks(child)


__all__ = ["ChildService", "Host", "Ticks", "run_child"]
