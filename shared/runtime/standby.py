"""Active and standby replicas of a service through a lease in NATS KV (``ripple-leases``).

    settings: LeaseSettings (--lease, --lease-ttl; RIPPLE_LEASE, RIPPLE_LEASE_TTL)
    await hold_lease(service, js, settings, "manager")   # returns once this replica is active

With ``--lease`` off (the default) nothing changes: one replica, no lease. With it on, a
replica connects, waits for the bucket, then for the lease of its role: meanwhile it is a
*standby* (``/livez`` 200, ``/readyz`` 503 ``standby: lease `manager` held by <holder>``),
reading no input and writing nothing. It takes over when the lease is released (the
holder's clean stop deletes the key) or after the key was silent for ``ttl`` seconds by its
own clock (:mod:`shared.runtime.leasing` says when, and why that is safe without shared
clocks). The active replica renews every ``ttl / 3`` seconds. When it cannot renew for
``ttl - margin`` seconds, or learns that someone else wrote the key, it is *fenced*: the
process ends at once with :data:`EXIT_FENCED` (no task, no shutdown step, no buffered NATS
publish runs after that), also from a watchdog thread when the event loop is blocked; its
supervisor restarts it as a standby.

Metrics: ``lease_held`` (1 while active), ``lease_takeovers_total`` (leases taken from a
silent holder), ``lease_renewals_total``, ``lease_silence_seconds`` (how long the key had
been silent when this replica took over).
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
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from shared.bus.errors import BusError
from shared.bus.lease import LeaseKV, WrongRevision
from shared.contract import streams
from shared.contract.messages import Lease, LeaseEvent, lease_event
from shared.runtime.leasing import Acquire, Fence, LeaseMachine, Renew, Wait

if TYPE_CHECKING:
    from shared.runtime.service import Service

log = logging.getLogger(__name__)

EXIT_FENCED = 3
"""Exit code of a replica that lost its lease (its supervisor restarts it as a standby)."""

DEFAULT_TTL = 3.0


class LeaseSettings(BaseModel):
    """Replicas through a lease (a mixin of a service's settings: ``RIPPLE_LEASE*``)."""

    lease: bool = Field(
        False,
        description=(
            "Run as one of several replicas: active only while holding the service's lease "
            "in KV ripple-leases, a standby (connected, not ready, writing nothing) until the "
            "lease is released or silent for --lease-ttl seconds. Off: one replica, no lease."
        ),
    )
    lease_ttl: float = Field(
        DEFAULT_TTL,
        ge=1,
        le=60,
        description=(
            "Seconds of silence of the lease after which a standby takes over; the active "
            "replica renews every third of it and stops when it could not renew for most of "
            "it."
        ),
    )


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
            await self.kv.delete(last=revision)
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


async def hold_lease(
    service: Service,
    js: Any,
    settings: LeaseSettings,
    role: str,
    *,
    on_fence: Callable[[str], None] = exit_fenced,
) -> Standby | None:
    """Wait until this replica holds ``role``'s lease (None at once when ``--lease`` is off);
    then renew it for the service's lifetime and release it at a clean stop."""
    if not settings.lease:
        return None
    waits = 0

    def waiting(err: Exception) -> None:
        nonlocal waits
        waits += 1
        service.set_not_ready(
            f"waiting for bucket {streams.LEASES.bucket} (the manager creates it)"
        )
        if waits == 1 or waits % 20 == 0:
            log.info("%s (waiting)", err, extra={"obj": service.ident})

    kv = await LeaseKV.open_when_provisioned(js, role, on_wait=waiting)
    standby = Standby(kv, settings.lease_ttl, on_fence=on_fence)
    service.add_metrics(standby.metrics)
    service.set_not_ready(f"standby: waiting for lease `{role}`")

    def on_standby(holder: str) -> None:
        service.set_not_ready(f"standby: lease `{role}` held by {holder}")
        log.info("standby: lease %s held by %s", role, holder, extra={"obj": standby.where})

    log.info("replica %s waiting for lease %s", standby.me, role, extra={"obj": standby.where})
    await standby.acquire(on_standby)
    service.not_ready_reason = "starting (lease held)"
    service.on_stop(standby.release)
    service.spawn(standby.keep(), f"lease-{role}")
    return standby


__all__ = [
    "DEFAULT_TTL",
    "EXIT_FENCED",
    "LeaseSettings",
    "Standby",
    "exit_fenced",
    "hold_lease",
    "holder_id",
]
