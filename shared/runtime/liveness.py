"""Liveness: is this service wedged? (read from any thread, updated by the event loop).

A service is *live* while

- its event loop keeps beating: the loop-lag task (every 0.1 s) stamps a heartbeat; a loop
  blocked by CPU-bound work (a render, an evaluation, a parse that never yields) stops
  beating, and once no beat came for ``liveness_loop_blocked`` seconds the service is not
  live -- whoever asks, from a thread that does not need the loop (:mod:`shared.runtime.
  probes`), gets "unhealthy" with the reason instead of a timeout;
- every watched piece of critical work makes progress: a watch (a work queue, a reconcile
  loop) that has work (queued or in progress) and finished none of it -- with success or
  with a failure retried with backoff: both are progress -- for ``liveness_stalled``
  seconds is stalled (a handler awaiting something that never comes). Keys waiting for
  their backoff are not work in hand: a queue that only retries is not stalled.

The loop owns the watches and evaluates them at each beat (:meth:`Liveness.tick`); it
publishes one immutable :class:`Beat`, which :meth:`Liveness.verdict` reads from any thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from shared.runtime.workqueue import WorkQueue

log = logging.getLogger(__name__)

DEFAULT_LOOP_BLOCKED = 10.0
DEFAULT_STALLED = 600.0


class LivenessSettings(BaseModel):
    """The liveness thresholds of a service (a mixin of its settings: ``RIPPLE_LIVENESS_*``)."""

    liveness_loop_blocked: float = Field(
        DEFAULT_LOOP_BLOCKED,
        ge=0.5,
        le=3600,
        description=(
            "Seconds the event loop may stay blocked (no heartbeat) before /livez and /healthz "
            "answer 503."
        ),
    )
    liveness_stalled: float = Field(
        DEFAULT_STALLED,
        ge=1,
        le=86400,
        description=(
            "Seconds a work queue may hold work without finishing any of it (success or "
            "failure) before /livez and /healthz answer 503."
        ),
    )


@dataclass(frozen=True)
class Limits:
    loop_blocked: float = DEFAULT_LOOP_BLOCKED
    stalled: float = DEFAULT_STALLED

    @classmethod
    def of(cls, settings: object) -> Limits:
        if isinstance(settings, LivenessSettings):
            return cls(settings.liveness_loop_blocked, settings.liveness_stalled)
        return cls()


@dataclass(frozen=True)
class Beat:
    """What the loop last published: when it beat, and the watches that have work in hand
    with the time of their last progress."""

    at: float
    busy: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Verdict:
    live: bool
    reason: str = ""
    since_beat: float = 0.0
    loop_blocked: bool = False  # the loop itself does not answer (not only stalled work)


class Watch:
    """One piece of critical work: ``pending()`` (work queued or in progress) and
    ``completed()`` (a counter of finished items, failures included)."""

    def __init__(self, name: str, pending: Callable[[], bool], completed: Callable[[], int]):
        self.name = name
        self.pending = pending
        self.completed = completed
        self.last_done: int | None = None
        self.progress_at = 0.0
        self.broken = False

    def observe(self, now: float) -> float | None:
        """The time of the last progress while work is in hand (None: no work)."""
        try:
            busy, done = bool(self.pending()), int(self.completed())
        except Exception as exc:  # a broken probe is no verdict: logged once, ignored
            if not self.broken:
                self.broken = True
                log.warning(
                    "liveness watch %s failed: %r", self.name, exc, extra={"obj": "liveness"}
                )
            return None
        if not busy or done != self.last_done:
            self.last_done = done
            self.progress_at = now
        return self.progress_at if busy else None


class Liveness:
    def __init__(self, limits: Limits | None = None, clock: Callable[[], float] = time.monotonic):
        self.limits = limits or Limits()
        self.clock = clock
        self.watches: list[Watch] = []
        self._beat = Beat(clock())
        self._lock = threading.Lock()
        self._last_reason = ""

    # -- on the loop -----------------------------------------------------------------------------
    def watch(self, name: str, pending: Callable[[], bool], completed: Callable[[], int]) -> None:
        self.watches.append(Watch(name, pending, completed))

    def watch_queue(self, queue: WorkQueue[Any]) -> None:
        """A work queue: work in hand = keys queued or processing (not those waiting for a
        retry); progress = a handler run that ended (success or failure)."""
        self.watch(
            f"work queue {queue.name}",
            lambda: len(queue) > 0 or queue.processing > 0,
            lambda: queue.stats["successes"] + queue.stats["failures"],
        )

    def tick(self) -> None:
        """The loop is alive: evaluate the watches and publish one :class:`Beat`."""
        now = self.clock()
        busy = []
        for watch in self.watches:
            since = watch.observe(now)
            if since is not None:
                busy.append((watch.name, since))
        self._beat = Beat(now, tuple(busy))

    # -- from any thread -------------------------------------------------------------------------
    def verdict(self) -> Verdict:
        beat = self._beat  # one immutable object: no lock needed to read it
        now = self.clock()
        silent = max(0.0, now - beat.at)
        reason = ""
        if silent > self.limits.loop_blocked:
            reason = (
                f"event loop blocked: no heartbeat for {silent:.1f} s "
                f"(limit {self.limits.loop_blocked:g} s)"
            )
        else:
            for name, since in beat.busy:
                idle = now - since
                if idle > self.limits.stalled:
                    reason = (
                        f"{name} stalled: work in hand, none finished for {idle:.0f} s "
                        f"(limit {self.limits.stalled:g} s)"
                    )
                    break
        self._transition(reason)
        return Verdict(not reason, reason, silent, silent > self.limits.loop_blocked)

    def _transition(self, reason: str) -> None:
        with self._lock:
            if bool(reason) == bool(self._last_reason):
                self._last_reason = reason
                return
            self._last_reason = reason
        if reason:
            log.error("not live: %s", reason, extra={"obj": "liveness"})
        else:
            log.info("live again", extra={"obj": "liveness"})


__all__ = ["Beat", "Limits", "Liveness", "LivenessSettings", "Verdict", "Watch"]
