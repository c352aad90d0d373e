"""Planning off the loop: the one worker thread that renders, a slice at a time.

A mixin of :class:`services.manager.reconciler.Reconciler`. Planning (rendering every
template) runs off the loop, in one worker thread, a slice of :data:`PLAN_SLICE` seconds at a
time, while the loop waits for it: a render's budget
(:data:`~services.manager.rendering.RENDER_LIMITS`, ``--render-seconds``) bounds how long one
template holds the reconcile, but not a single call in it (an RSA-4096 key takes 0.3-4 s in
C), so on the loop REST, metrics and heartbeats would wait for it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from services.manager import rendering
from shared.templating import Limits

PLAN_SLICE = 0.02  # seconds of planning in the worker thread per hop from the loop
SWITCH_INTERVAL = 0.0005  # seconds the loop may wait for the GIL held by the planning thread

_planner: ThreadPoolExecutor | None = None


def _planning_thread() -> ThreadPoolExecutor:
    """The one worker thread that plans (renders) for the reconcilers of this process.

    The loop and this thread share the GIL: while the thread runs Python code, the loop
    waits for the GIL up to the interpreter's switch interval at each of its many small
    steps (5 ms by default: a request would take tens of ms); it is lowered to
    :data:`SWITCH_INTERVAL` (an interval only matters when a thread is waiting)."""
    global _planner
    if _planner is None:
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        _planner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ripple-plan")
    return _planner


class PlanThread:
    """What :class:`~services.manager.reconciler.Reconciler` keeps of the planning: its
    counters and the budget of each render."""

    stats: dict[str, int]
    render_limits: Limits
    plan_steps: int

    async def _plan(self, steps: Iterator[None]) -> None:
        """Run the planning steps in the worker thread, a slice at a time, the loop free
        meanwhile (it only waits here)."""
        loop = asyncio.get_running_loop()
        thread = _planning_thread()
        while not await loop.run_in_executor(thread, self._plan_slice, steps):
            self.stats["reconcile_yields"] += 1

    def _plan_slice(self, steps: Iterator[None]) -> bool:
        """In the worker thread: steps until :data:`PLAN_SLICE` seconds passed (False) or
        the planning is done (True); renders within :attr:`render_limits`."""
        end = time.perf_counter() + PLAN_SLICE
        with rendering.limits_scope(self.render_limits):
            for _ in steps:
                self.plan_steps += 1
                if time.perf_counter() >= end:
                    return False
        return True


__all__ = ["PLAN_SLICE", "SWITCH_INTERVAL", "PlanThread"]
