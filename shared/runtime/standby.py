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

Modules: :mod:`shared.runtime.leasing` (the decisions, pure), :mod:`shared.runtime.
leaseholder` (:class:`Standby`: acquire, renew, release, fence), :mod:`shared.runtime.
leasethread` (the renewals in a thread of their own), :mod:`shared.bus.lease` (KV I/O).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from shared.bus.lease import LeaseKV
from shared.contract import streams
from shared.runtime.leaseholder import DEFAULT_TTL, EXIT_FENCED, Standby, exit_fenced, holder_id
from shared.runtime.leasethread import LeaseThread

if TYPE_CHECKING:
    from shared.runtime.service import Service

log = logging.getLogger(__name__)


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


async def hold_lease(
    service: Service,
    js: Any,
    settings: LeaseSettings,
    role: str,
    *,
    inbox_prefix: str | None = None,
    on_fence: Callable[[str], None] = exit_fenced,
) -> Standby | None:
    """Wait until this replica holds ``role``'s lease (None at once when ``--lease`` is off);
    then renew it for the service's lifetime -- from a thread with its own connection
    (:mod:`shared.runtime.leasethread`; ``inbox_prefix``: by default the one ``js``'s
    connection uses) -- and release it at a clean stop."""
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
    await standby.stop_watch()  # the thread watches on its own connection from now on
    service.not_ready_reason = "starting (lease held)"

    async def connect() -> Any:
        from shared.bus.client import connect as nats_connect

        options = dict(service.settings.nats_options())
        options["inbox_prefix"] = prefix
        return await nats_connect(
            service.settings.nats_servers, f"ripple-{service.name} lease {standby.me}", **options
        )

    # the service's own inbox prefix (its permissions may allow no other, e.g. the reporter's)
    prefix = inbox_prefix or bytes(getattr(js._nc, "_inbox_prefix", b"_INBOX")).decode()
    keeper = LeaseThread(standby, connect).start()

    async def release() -> None:
        # what the service sent before it stopped reaches the server before the release
        with contextlib.suppress(Exception):
            await asyncio.wait_for(js._nc.flush(), 1.0)
        await keeper.stop()

    service.on_stop(release)
    service.spawn(keeper.failed(), f"lease-{role}")
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
