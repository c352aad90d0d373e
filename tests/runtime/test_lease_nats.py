"""Leases over a real nats-server (shared.bus.lease + shared.runtime.standby): two replicas
of one role, one active; a holder cut off from NATS fences itself before the standby takes
over; a stale holder cannot write; a clean stop hands over at once; the reporter's user may
hold its own lease and no other."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from shared.bus import provision
from shared.bus.client import connect
from shared.bus.embedded import EmbeddedNats
from shared.bus.errors import BusError
from shared.bus.lease import UNREADABLE, LeaseKV, WrongRevision
from shared.contract import permissions as p
from shared.contract.messages import Lease, lease_event
from shared.runtime.leasethread import LeaseThread
from shared.runtime.standby import Standby

TTL = 1.0


class Fences:
    """What a replica's fence was told, and when (instead of ending the process)."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def __call__(self, reason: str) -> None:
        self.calls.append((time.monotonic(), reason))


async def replica(url: str, role: str = "manager", **kw: Any) -> tuple[Client, Standby, Fences]:
    nc = await connect(url, f"replica-{role}", max_reconnect_attempts=0, **kw)
    kv = await LeaseKV.open_when_provisioned(nc.jetstream(), role, timeout=0.5)
    fences = Fences()
    return nc, Standby(kv, TTL, on_fence=fences), fences


async def until(probe: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        await asyncio.sleep(0.01)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[EmbeddedNats]:
    async with EmbeddedNats(tmp_path / "nats") as srv:
        admin = await connect(srv.url, "admin")
        await provision.ensure(admin.jetstream(), storage="memory")
        await admin.close()
        yield srv


async def test_standby_takes_over_a_silent_holder_that_fenced_itself_first(
    server: EmbeddedNats,
) -> None:
    a_nc, a, a_fences = await replica(server.url)
    b_nc, b, b_fences = await replica(server.url)
    try:
        await asyncio.wait_for(a.acquire(), 5)
        keep_a = asyncio.create_task(a.keep())
        held: list[str] = []
        acquiring = asyncio.create_task(b.acquire(held.append))
        await until(lambda: held == [a.me], 3, "the standby seeing the holder")
        await asyncio.sleep(TTL * 1.5)  # renewals keep the standby waiting
        assert not acquiring.done() and a.active and a.machine.renewals >= 2
        cut = time.monotonic()
        await a_nc.close()  # the holder loses NATS (as a partition, or a kill)
        await asyncio.wait_for(acquiring, TTL + 2)
        took = time.monotonic()
        assert b.active and b.machine.takeovers == 1
        assert TTL * 0.5 <= b.silence <= TTL + 0.5
        # the holder fenced itself (ttl - margin after its last renewal) before the takeover
        await until(lambda: a_fences.calls, 1, "the holder's fence")
        fenced_at, reason = a_fences.calls[0]
        assert "could not renew" in reason
        assert cut <= fenced_at < took, (cut, fenced_at, took)
        assert took - cut <= TTL + 0.5
        await asyncio.wait_for(keep_a, 1)
        assert not b_fences.calls
    finally:
        await b.release()
        await b_nc.close()


async def test_a_stale_holder_cannot_write_once_taken_over(server: EmbeddedNats) -> None:
    a_nc, a, _ = await replica(server.url)
    b_nc, b, b_fences = await replica(server.url)
    try:
        await asyncio.wait_for(a.acquire(), 5)
        stale = a.machine.revision
        await asyncio.wait_for(b.acquire(), TTL + 2)  # a never renews: taken after the ttl
        keep_b = asyncio.create_task(b.keep())
        with pytest.raises(WrongRevision):  # a comes back with what it knew
            await a.kv.write(a._value(), last=stale)
        with pytest.raises(WrongRevision):
            await a.kv.delete(last=stale)
        revision, holder = await b.kv.read()
        assert holder == b.me and revision == b.machine.revision
        await asyncio.sleep(TTL / 2)
        assert b.active and not b_fences.calls
        keep_b.cancel()
    finally:
        await b.release()
        await a_nc.close()
        await b_nc.close()


async def test_a_clean_stop_hands_over_at_once(server: EmbeddedNats) -> None:
    a_nc, a, _ = await replica(server.url)
    b_nc, b, _ = await replica(server.url)
    try:
        await asyncio.wait_for(a.acquire(), 5)
        acquiring = asyncio.create_task(b.acquire())
        await until(lambda: b.machine.seen_holder == a.me, 3, "the standby seeing the holder")
        start = time.monotonic()
        await a.release()
        await asyncio.wait_for(acquiring, 1)
        assert time.monotonic() - start < 0.5
        assert b.active and b.machine.takeovers == 0  # a free lease, not a takeover
    finally:
        await b.release()
        await a_nc.close()
        await b_nc.close()


async def test_the_holder_fences_when_someone_else_writes_the_key(server: EmbeddedNats) -> None:
    a_nc, a, fences = await replica(server.url)
    try:
        await asyncio.wait_for(a.acquire(), 5)
        keep = asyncio.create_task(a.keep())
        other = lease_event(
            Lease(role="manager", holder="intruder", acquired_at=a._value().time, ttl=TTL)
        )
        await a.kv.write(other, last=(await a.kv.read())[0])
        await asyncio.wait_for(keep, 2)
        assert fences.calls and "intruder wrote it" in fences.calls[0][1]
    finally:
        await a_nc.close()


async def test_an_unreadable_value_is_someone_elses_lease(server: EmbeddedNats) -> None:
    a_nc, a, _ = await replica(server.url)
    try:
        await a.kv.kv.put("manager", b"not a lease")
        assert (await a.kv.read())[1] == UNREADABLE
        start = time.monotonic()
        await asyncio.wait_for(a.acquire(), TTL + 2)  # taken only after the silence
        assert time.monotonic() - start >= TTL * 0.9
    finally:
        await a.release()
        await a_nc.close()


async def test_the_reporter_holds_its_own_lease_and_no_other(tmp_path: Path) -> None:
    users = [
        p.User("manager", "m-secret", p.manager_permissions()),
        p.User("reporter", "r-secret", p.reporter_permissions()),
    ]
    config = p.authorization_block(users)
    async with EmbeddedNats(tmp_path / "nats", extra_config=config) as srv:
        manager = await connect(srv.url, "manager", user="manager", password="m-secret")
        await provision.ensure(manager.jetstream(), storage="memory")
        auth = {"user": "reporter", "password": "r-secret"}
        nc, standby, _ = await replica(
            srv.url, "reporter", inbox_prefix=p.REPORTER_INBOX_PREFIX, **auth
        )
        try:
            await asyncio.wait_for(standby.acquire(), 5)
            keep = asyncio.create_task(standby.keep())
            await asyncio.sleep(TTL)  # renewals and the watch are allowed
            assert standby.active and standby.machine.renewals >= 1
            theirs = LeaseKV(standby.kv.kv, nc, "manager", timeout=0.5)
            value = lease_event(Lease(role="manager", holder="x", acquired_at=_now(), ttl=TTL))
            with pytest.raises(BusError):
                await theirs.write(value, last=0)
            keep.cancel()
            await standby.release()
            assert (await LeaseKV(standby.kv.kv, manager, "reporter").read())[1] is None
        finally:
            await nc.close()
            await manager.close()


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def test_renewals_in_their_own_thread_survive_a_blocked_event_loop(
    server: EmbeddedNats,
) -> None:
    """The service's loop blocked for 2.5 ttl (a long start-up): the lease thread keeps
    renewing, the standby (in another thread) never takes over; a stop releases at once."""
    a_nc, a, fences = await replica(server.url)
    outcome: dict[str, Any] = {}

    async def other_replica() -> None:
        nc, b, _ = await replica(server.url)
        try:
            await asyncio.wait_for(b.acquire(), 30)
            outcome["took"] = time.monotonic()
            outcome["takeovers"] = b.machine.takeovers
        finally:
            await b.release()
            await nc.close()

    b_thread = threading.Thread(target=asyncio.run, args=(other_replica(),), daemon=True)
    try:
        await asyncio.wait_for(a.acquire(), 5)
        await a.stop_watch()
        keeper = LeaseThread(a, lambda: connect(server.url, "lease-thread")).start()
        b_thread.start()
        await asyncio.sleep(TTL / 2)
        time.sleep(TTL * 2.5)  # the event loop is blocked; the lease thread is not
        assert "took" not in outcome and not fences.calls and a.machine.renewals >= 3
        released = time.monotonic()
        await keeper.stop()
        assert keeper.done.is_set() and keeper.error is None
        await asyncio.to_thread(b_thread.join, 5)
        assert outcome["took"] - released < 1.0 and outcome["takeovers"] == 0
    finally:
        await a_nc.close()


async def test_replicas_starting_together_elect_exactly_one(server: EmbeddedNats) -> None:
    replicas = [await replica(server.url) for _ in range(3)]
    try:
        tasks = [asyncio.create_task(s.acquire()) for _, s, _ in replicas]
        done, pending = await asyncio.wait(tasks, timeout=TTL / 2)
        assert len(done) == 1 and len(pending) == 2  # one created it, two lost the race
        winner = next(s for (_, s, _), t in zip(replicas, tasks, strict=True) if t in done)
        assert (await winner.kv.read())[1] == winner.me
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    finally:
        for nc, standby, _ in replicas:
            await standby.release()
            await nc.close()
