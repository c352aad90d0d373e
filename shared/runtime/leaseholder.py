"""One replica's side of a lease, on an event loop: :class:`Standby` waits for the lease
(:meth:`Standby.acquire`), renews it (:meth:`Standby.keep`), releases it, and fences the
process when it is lost (:func:`exit_fenced`, also from a watchdog thread). The decisions are
:mod:`shared.runtime.leasing`'s, the KV I/O :mod:`shared.bus.lease`'s; the service
integration is :mod:`shared.runtime.standby`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from shared.bus.errors import BusError
from shared.bus.lease import LeaseKV, WrongRevision
from shared.contract import streams
from shared.contract.messages import Lease, LeaseEvent, lease_event
from shared.runtime.leasing import Acquire, Fence, LeaseMachine, Renew, Wait

log = logging.getLogger(__name__)

EXIT_FENCED = 3
"""Exit code of a replica that lost its lease (its supervisor restarts it as a standby)."""

DEFAULT_TTL = 3.0


def holder_id() -> str:
    """``<host>:<pid>:<random>``: unique per process (a restarted replica is a new one)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def exit_fenced(reason: str) -> None:
    """End the process now (the default fence): nothing else of it runs."""
    log.critical("lease lost (%s): stopping now", reason, extra={"obj": "lease"})
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(EXIT_FENCED)


class Standby:
    """One replica's side of the lease ``kv.role`` (see the module doc)."""

    def __init__(
        self,
        kv: LeaseKV,
        ttl: float = DEFAULT_TTL,
        *,
        me: str | None = None,
        margin: float | None = None,
        on_fence: Callable[[str], None] = exit_fenced,
        clock: Callable[[], float] = time.monotonic,
        watchdog: bool = True,
    ) -> None:
        self.kv = kv
        self.role = kv.role
        self.machine = LeaseMachine(me or holder_id(), ttl, margin)
        self.on_fence = on_fence
        self.clock = clock
        self.silence = 0.0  # how long the key was silent when we took it over
        self.acquired_at: datetime | None = None
        self.fenced: str | None = None
        self._changed = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None
        self._lock = threading.Lock()
        self._watchdog = watchdog
        self._deadline = float("inf")  # read by the watchdog thread

    @property
    def me(self) -> str:
        return self.machine.me

    @property
    def active(self) -> bool:
        return self.machine.state == "active"

    @property
    def where(self) -> str:
        return f"{streams.LEASES.bucket}/{self.role}"

    # -- standby ---------------------------------------------------------------------------
    async def acquire(self, on_standby: Callable[[str], None] | None = None) -> None:
        """Return once this replica holds the lease; ``on_standby(holder)`` whenever the
        holder seen changes meanwhile."""
        self._start_watch()
        told: str | None = None
        try:
            while True:
                now = self.clock()
                action = self.machine.next(now)
                if isinstance(action, Acquire):
                    if await self._acquire(action, now):
                        return
                    continue
                if isinstance(action, Fence):
                    raise BusError(f"{self.where}: {action.reason}")
                holder = self.machine.seen_holder
                if holder is not None and holder != told and on_standby is not None:
                    told = holder
                    on_standby(holder)
                await self._wait(action.until if isinstance(action, Wait) else now)
        except BaseException:
            await self._stop_watch()
            raise

    async def _acquire(self, action: Acquire, sent: float) -> bool:
        try:
            revision = await self.kv.write(self._value(), last=action.last)
        except WrongRevision:
            self.machine.lost(self.clock())
            await self._reread()
            return False
        except BusError as err:
            log.warning("cannot take the lease (%s), retrying", err, extra={"obj": self.where})
            self.machine.failed(self.clock())
            return False
        self.machine.acquired(revision, sent, took_over=action.previous is not None)
        self.silence = action.silent
        self.acquired_at = datetime.now(UTC)
        if action.previous is None:
            log.info("lease %s acquired (it was free)", self.role, extra={"obj": self.where})
        else:
            log.warning(
                "lease %s taken over from %s: the lease had been silent for %.2f s",
                self.role,
                action.previous,
                action.silent,
                extra={"obj": self.where},
            )
        self._arm()
        return True

    async def _reread(self) -> None:
        try:
            revision, holder = await self.kv.read()
        except BusError as err:
            log.warning("cannot read the lease (%s)", err, extra={"obj": self.where})
            self.machine.failed(self.clock())
            return
        self.machine.observe(revision, holder, self.clock())

    # -- active ----------------------------------------------------------------------------
    async def keep(self) -> None:
        """Renew the lease until cancelled; fence (:attr:`on_fence`) when it is lost."""
        self._start_watch()
        while True:
            if self._watch is not None and self._watch.done():
                self._watch.result()  # a watch that ended: its error ends the service
                raise BusError(f"{self.where}: the lease watch ended")
            now = self.clock()
            action = self.machine.next(now)
            if isinstance(action, Fence):
                self._fence(action.reason)
                return
            if isinstance(action, Renew):
                await self._renew(action, now)
            elif isinstance(action, Wait):
                await self._wait(action.until)

    async def _renew(self, action: Renew, sent: float) -> None:
        try:
            async with asyncio.timeout(max(0.01, self.machine.deadline - sent)):
                revision = await self.kv.write(self._value(), last=action.last)
        except WrongRevision:
            self.machine.lost(self.clock())
            return
        except (BusError, TimeoutError) as err:
            log.warning("cannot renew the lease (%s)", err, extra={"obj": self.where})
            await self._wait(min(self.clock() + 0.2, self.machine.deadline))
            return
        self.machine.renewed(revision, sent)
        self._arm()

    async def release(self) -> None:
        """Delete the lease if we hold it (a clean stop): a standby takes over at once."""
        await self._stop_watch()
        if not self.active:
            return
        revision = self.machine.revision
        self.machine.released()
        self._deadline = float("inf")
        try:
            try:
                await self.kv.delete(last=revision)
            except WrongRevision:  # a renewal in flight when we stopped may have landed
                latest, holder = await self.kv.read()
                if holder != self.me:
                    raise
                await self.kv.delete(last=latest)
        except BusError as err:  # the standby takes over after the silence instead
            log.warning("cannot release the lease (%s)", err, extra={"obj": self.where})
            return
        log.info("lease %s released", self.role, extra={"obj": self.where})

    def _fence(self, reason: str) -> None:
        with self._lock:
            if self.fenced is not None:
                return
            self.fenced = reason
            self._deadline = float("inf")
        self.on_fence(reason)

    def _arm(self) -> None:
        """The fence deadline for the watchdog thread (started with the first lease)."""
        first = self._deadline == float("inf") and self.fenced is None
        self._deadline = self.machine.deadline
        if first and self._watchdog:
            threading.Thread(target=self._watchdog_run, name="lease-watchdog", daemon=True).start()

    def _watchdog_run(self) -> None:
        while self.fenced is None:
            deadline = self._deadline
            if deadline != float("inf") and self.clock() >= deadline:
                self._fence(f"could not renew the lease for {self.machine.ttl:.1f} s (watchdog)")
                return
            time.sleep(0.05)

    # -- watch -----------------------------------------------------------------------------
    def _start_watch(self) -> None:
        if self._watch is None:
            self._watch = asyncio.create_task(self._watching(), name=f"lease-watch-{self.role}")

    def rebind_loop(self) -> None:
        """Continue on another event loop (:mod:`shared.runtime.leasethread`): its own
        wake-up event (the watch is started again by :meth:`keep`)."""
        self._changed = asyncio.Event()
        self._watch = None

    async def stop_watch(self) -> None:
        """Stop watching the key (on this loop)."""
        await self._stop_watch()

    async def _stop_watch(self) -> None:
        task, self._watch = self._watch, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    async def _watching(self) -> None:
        async with self.kv.watch() as changes:
            async for revision, holder in changes:
                self.machine.observe(revision, holder, self.clock())
                self._changed.set()

    async def _wait(self, until: float) -> None:
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, until - self.clock())):
                await self._changed.wait()

    def _value(self) -> LeaseEvent:
        return lease_event(
            Lease(
                role=self.role,
                holder=self.me,
                acquired_at=self.acquired_at or datetime.now(UTC),
                ttl=self.machine.ttl,
                renewals=self.machine.renewals,
            )
        )

    def metrics(self) -> dict[str, tuple[str, str, float]]:
        machine = self.machine
        return {
            "lease_held": (
                "gauge",
                f"Whether this replica holds lease {self.role} (else it stands by)",
                float(self.active),
            ),
            "lease_takeovers_total": (
                "counter",
                "Leases this replica took over from a silent holder",
                machine.takeovers,
            ),
            "lease_renewals_total": ("counter", "Renewals of the lease", machine.renewals),
            "lease_silence_seconds": (
                "gauge",
                "How long the lease had been silent when this replica took it over",
                self.silence,
            ),
        }


__all__ = ["DEFAULT_TTL", "EXIT_FENCED", "Standby", "exit_fenced", "holder_id"]
