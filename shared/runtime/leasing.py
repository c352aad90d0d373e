"""The lease of a role as a pure state machine: given what was seen of the lease key and
the monotonic time, what a replica does next. No I/O, no clock of its own (the caller
passes ``now``, its own ``time.monotonic()``); :mod:`shared.runtime.standby` runs it.

No clock is shared between replicas. The key's revisions are the only common knowledge:

- a **standby** takes over only after it has seen no new revision of the key for ``ttl``
  seconds by its own clock, with a compare-and-set on the revision it saw (so a holder that
  renewed meanwhile wins); a key that is absent (never written, or deleted by a release) is
  acquired at once, with a compare-and-set too;
- the **holder** renews every ``ttl / 3`` seconds (compare-and-set on its own last revision)
  and **fences** itself -- stops acting, for good -- when ``ttl - margin`` seconds have
  passed since it *sent* its last successful renewal, or when it learns that someone else
  wrote the key (a lost compare-and-set, another holder's value, a delete it did not make).

Why it is safe: the standby saw revision R no earlier than the holder sent it, and its
compare-and-set on R succeeds only if the holder wrote nothing after R; so the holder's
fence (R's send + ``ttl - margin``) comes ``margin`` seconds before the standby can take
over (R's sighting + ``ttl``), whatever the network delays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

State = Literal["standby", "active", "fenced"]


@dataclass(frozen=True)
class Wait:
    """Nothing to do before ``until`` (monotonic seconds) unless something new is seen."""

    until: float


@dataclass(frozen=True)
class Acquire:
    """Write the lease with a compare-and-set on ``last`` (0: the key must not exist).
    ``silent``: how long the previous holder's key had been silent (0 for an absent key)."""

    last: int
    silent: float
    previous: str | None


@dataclass(frozen=True)
class Renew:
    """Write the lease again with a compare-and-set on ``last`` (the holder's revision)."""

    last: int


@dataclass(frozen=True)
class Fence:
    """Stop acting now, for good: ``reason`` says why."""

    reason: str


Action = Wait | Acquire | Renew | Fence

RETRY = 0.2
"""Seconds a standby waits before it retries a failed read or write."""


class LeaseMachine:
    """One replica's view of one lease (see the module doc)."""

    def __init__(self, me: str, ttl: float, margin: float | None = None) -> None:
        if ttl <= 0:
            raise ValueError(f"lease ttl must be positive, got {ttl}")
        self.me = me
        self.ttl = ttl
        self.margin = margin if margin is not None else ttl / 6
        if not 0 < self.margin < ttl * 2 / 3:
            raise ValueError(f"lease margin {self.margin} must be within (0, 2/3 of {ttl})")
        self.state: State = "standby"
        self.fence_reason = ""
        #: what was last seen of the key: its revision and holder (None: absent or deleted)
        self.seen_revision: int | None = None
        self.seen_holder: str | None = None
        self.seen_at = 0.0
        #: the holder's own revision and when it sent its last successful write
        self.revision = 0
        self.renewed_at = 0.0
        self.retry_at = 0.0
        self.takeovers = 0
        self.renewals = 0

    # -- observations --------------------------------------------------------------------------
    def observe(self, revision: int, holder: str | None, now: float) -> None:
        """The key was seen at ``revision`` with ``holder`` (None: absent or deleted), from a
        watch or a read. An older revision than one seen before is ignored."""
        if self.seen_revision is not None and revision < self.seen_revision:
            return
        if revision != self.seen_revision or holder != self.seen_holder:
            self.seen_at = now
        self.seen_revision, self.seen_holder = revision, holder
        if self.state != "active":
            return
        if holder == self.me:
            self.revision = max(self.revision, revision)  # our own write (its ack may lag)
        elif revision > self.revision or holder is None:
            who = "deleted it" if holder is None else f"{holder} wrote it"
            self._fence(f"someone else {who} (revision {revision})")

    def acquired(self, revision: int, sent_at: float, *, took_over: bool = False) -> None:
        """Our compare-and-set (sent at ``sent_at``) created the lease, or ``took_over`` a
        silent holder's (:attr:`Acquire.previous`)."""
        if self.state == "fenced":
            return
        if took_over:
            self.takeovers += 1
        self.state = "active"
        self.revision = revision
        self.renewed_at = sent_at
        self.seen_revision, self.seen_holder, self.seen_at = revision, self.me, sent_at

    def renewed(self, revision: int, sent_at: float) -> None:
        """Our renewal (sent at ``sent_at``) was stored at ``revision``."""
        if self.state != "active":
            return
        self.revision = max(self.revision, revision)
        self.renewed_at = max(self.renewed_at, sent_at)
        self.renewals += 1

    def lost(self, now: float) -> None:
        """Our compare-and-set was refused: the key is not at the revision we gave."""
        if self.state == "active":
            self._fence("a renewal found the lease written by someone else")
        else:
            self.retry_at = now  # re-read the key, then decide

    def failed(self, now: float) -> None:
        """A read or write failed (timeout, no connection): its outcome is unknown."""
        if self.state == "standby":
            self.retry_at = now + RETRY

    def released(self) -> None:
        """We deleted the lease (a clean stop): we are no longer active."""
        self._fence("released")

    def _fence(self, reason: str) -> None:
        if self.state != "fenced":
            self.state = "fenced"
            self.fence_reason = reason

    # -- decisions -----------------------------------------------------------------------------
    @property
    def deadline(self) -> float:
        """When the holder fences itself unless it renews (monotonic seconds)."""
        return self.renewed_at + self.ttl - self.margin

    def next(self, now: float) -> Action:
        """What to do at ``now``."""
        if self.state == "fenced":
            return Fence(self.fence_reason)
        if self.state == "active":
            if now >= self.deadline:
                silent = now - self.renewed_at
                self._fence(f"could not renew the lease for {silent:.1f} s")
                return Fence(self.fence_reason)
            renew_at = self.renewed_at + self.ttl / 3
            return Renew(self.revision) if now >= renew_at else Wait(renew_at)
        if self.seen_revision is None:
            return Wait(now + RETRY)  # nothing seen yet: the watch will tell
        if now < self.retry_at:
            return Wait(self.retry_at)
        if self.seen_holder is None or self.seen_holder == self.me:
            # absent, deleted, or our own write whose answer was lost: at once
            return Acquire(self.seen_revision, 0.0, None)
        takeover_at = self.seen_at + self.ttl
        if now < takeover_at:
            return Wait(takeover_at)
        return Acquire(self.seen_revision, now - self.seen_at, self.seen_holder)


__all__ = ["RETRY", "Acquire", "Action", "Fence", "LeaseMachine", "Renew", "State", "Wait"]
