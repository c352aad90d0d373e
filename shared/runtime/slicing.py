"""Bounded slices of CPU work on the event loop.

The loop owns the state, so CPU work over it (draining an informer burst, a reconcile over
many pairs) runs on the loop; :class:`Slicer` makes such a loop give the event loop back
every ``budget`` seconds, so no other task waits longer than one slice.
"""

from __future__ import annotations

import asyncio
import time

DEFAULT_BUDGET = 0.02


class Slicer:
    def __init__(self, budget: float = DEFAULT_BUDGET) -> None:
        self.budget = budget
        self._start = time.perf_counter()
        self.yields = 0

    def due(self) -> bool:
        return time.perf_counter() - self._start >= self.budget

    async def pause(self) -> None:
        """Yield to the event loop if this slice is used up."""
        if self.due():
            await asyncio.sleep(0)
            self.yields += 1
            self._start = time.perf_counter()

    def restart(self) -> None:
        self._start = time.perf_counter()
