"""The cyclic garbage collector of a long-running process: no full collection scans the
same long-lived objects twice.

A full (generation 2) collection walks every object the collector tracks and holds the
whole process while it does (the event loop and every thread): 100-340 ms at a time in the
manager, the agent host and the simulated API server under `make bench-e2e` at 300
clusters, often finding nothing to free. Most of what a service holds is long-lived and
acyclic: informer caches, matching sets, desired states; reference counting frees it when
it goes. So after every full collection its survivors are frozen (:func:`gc.freeze`): the
next one scans only what was created since, and frees the cycles among those.

Frozen objects are never scanned: a cycle among them that becomes garbage (a long-lived
task or exception that ended) would stay. Every ``sweep_every`` seconds everything is
unfrozen and collected once, one full pause at a known time, then frozen again.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

log = logging.getLogger(__name__)

SWEEP_EVERY = 600.0
"""Seconds between two collections of everything (frozen objects included)."""


class GcPolicy:
    """Freeze the survivors of each full collection; sweep everything now and then.

    ``install`` once per process (a second policy installed is not called twice);
    ``sweep_forever`` on the event loop. Counters: ``full_collections``, ``sweeps`` and the
    ``longest_pause`` of a full collection (seconds). (How many objects are frozen is not
    kept: :func:`gc.get_freeze_count` walks them all, tens of milliseconds at a million.)"""

    def __init__(self, sweep_every: float = SWEEP_EVERY) -> None:
        self.sweep_every = sweep_every
        self.full_collections = 0
        self.sweeps = 0
        self.longest_pause = 0.0
        self._started = 0.0

    def install(self) -> GcPolicy:
        if not any(isinstance(getattr(cb, "__self__", None), GcPolicy) for cb in gc.callbacks):
            gc.callbacks.append(self._on_gc)
        return self

    def uninstall(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        self.full_collections += 1
        self.longest_pause = max(self.longest_pause, pause)
        gc.freeze()  # its survivors are long-lived: the next full collection skips them

    def sweep(self) -> float:
        """Collect everything once (frozen objects included); the seconds it took."""
        started = time.perf_counter()
        gc.unfreeze()
        gc.collect()  # the callback freezes what survives
        self.sweeps += 1
        took = time.perf_counter() - started
        log.debug("garbage collector: full sweep in %.3f s", took, extra={"obj": "gc"})
        return took

    async def sweep_forever(self) -> None:
        if self.sweep_every <= 0:
            return
        while True:
            await asyncio.sleep(self.sweep_every)
            self.sweep()


__all__ = ["SWEEP_EVERY", "GcPolicy"]
