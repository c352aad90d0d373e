"""One key of ``ripple-leases`` (:data:`shared.contract.streams.LEASES`): the KV I/O of a
lease, nothing more. What to do when is :mod:`shared.runtime.leasing` (pure); the service
integration is :mod:`shared.runtime.standby`.

    kv = await LeaseKV.open_when_provisioned(js, "manager")
    seen = await kv.read()                      # Seen(revision, holder or None)
    revision = await kv.write(value, last=seen.revision)   # compare-and-set
    async with kv.watch() as changes:
        async for seen in changes: ...
    await kv.delete(last=revision)              # release

Every write is a compare-and-set on the revision the writer knows (0: the key must not
exist): :class:`WrongRevision` when another writer got there first. A value that cannot be
read (malformed, of another type, under another key or from another writer) is someone
else's: its holder is :data:`UNREADABLE` (never "absent": nothing is taken over without the
silence rule).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import nats.errors
from nats.js.errors import APIError, KeyNotFoundError, KeyWrongLastSequenceError

from shared.bus.binding import bind
from shared.bus.errors import BusError
from shared.bus.watch import FilteredWatcher, RawEntry
from shared.contract import streams
from shared.contract.errors import InvalidMessage
from shared.contract.messages import LeaseEvent, decode, encode, lease_source, message_key

log = logging.getLogger(__name__)

UNREADABLE = "<unreadable value>"
"""The holder of a lease whose value cannot be read (someone else's)."""

WRONG_LAST_SEQUENCE = (10071, 10164)  # JetStream's "wrong last sequence" error codes


class WrongRevision(BusError):
    """A compare-and-set lost: the key's revision is not the one given (another writer)."""


def holder_of(role: str, value: bytes) -> str:
    """The holder named by a value read under ``role``'s key (:data:`UNREADABLE` when it
    cannot be read, belongs under another key or comes from another writer)."""
    try:
        message = decode(value, LeaseEvent, where=f"{streams.LEASES.bucket} key {role}")
    except InvalidMessage as err:
        log.warning("lease value unreadable: %s", err, extra={"obj": _where(role)})
        return UNREADABLE
    if message_key(message) != role or message.source != lease_source(role):
        log.warning(
            "lease value of %s (from %s) under key %s: refused",
            message.data.role,
            message.source,
            role,
            extra={"obj": _where(role)},
        )
        return UNREADABLE
    return message.data.holder


def _where(role: str) -> str:
    return f"{streams.LEASES.bucket}/{role}"


class LeaseKV:
    """The key ``role`` of ``ripple-leases``, bound with ``kv`` (a nats-py ``KeyValue``)."""

    def __init__(self, kv: Any, nc: Any, role: str, timeout: float = 2.0) -> None:
        self.kv = kv
        self.nc = nc
        self.role = role
        self.timeout = timeout

    @classmethod
    async def open_when_provisioned(
        cls,
        js: Any,
        role: str,
        *,
        on_wait: Callable[[Exception], None] | None = None,
        timeout: float = 2.0,
        max_delay: float = 5.0,
    ) -> LeaseKV:
        """Bind to ``ripple-leases`` (the manager provisions it), waiting for it with a
        jittered backoff; ``on_wait(err)`` before each wait."""
        delay = 0.1
        while True:
            try:
                kv = await bind(js, streams.LEASES)
                return cls(kv, js._nc, role, timeout)
            except BusError as err:
                if on_wait is not None:
                    on_wait(err)
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, max_delay)

    async def read(self) -> tuple[int, str | None]:
        """``(revision, holder)`` of the key now: ``(0, None)`` when never written,
        ``(revision, None)`` when deleted."""
        try:
            entry = await asyncio.wait_for(self.kv._get(self.role), self.timeout)
        except KeyNotFoundError:
            return 0, None
        except nats.js.errors.KeyDeletedError as err:
            return int(err.entry.revision), None
        except (nats.errors.Error, TimeoutError) as err:
            raise BusError(f"{_where(self.role)}: read failed: {err!r}") from err
        return int(entry.revision), holder_of(self.role, entry.value or b"")

    async def write(self, message: LeaseEvent, *, last: int) -> int:
        """Put ``message`` if the key's revision is ``last`` (0: absent; a deleted key's
        revision is its delete marker's); the new revision. :class:`WrongRevision` when it
        is not, :class:`BusError` when the write failed or its outcome is unknown."""
        value = encode(message)
        try:
            revision = await asyncio.wait_for(
                self.kv.update(self.role, value, last=last), self.timeout
            )
        except KeyWrongLastSequenceError as err:
            raise WrongRevision(f"{_where(self.role)}: revision is not {last}") from err
        except (nats.errors.Error, TimeoutError) as err:
            raise BusError(f"{_where(self.role)}: write failed: {err!r}") from err
        return int(revision)

    async def delete(self, *, last: int) -> None:
        """Delete the key if its revision is ``last`` (a release): :class:`WrongRevision`
        when it is not."""
        try:
            await asyncio.wait_for(self.kv.delete(self.role, last=last), self.timeout)
        except APIError as err:
            if err.err_code in WRONG_LAST_SEQUENCE:
                raise WrongRevision(f"{_where(self.role)}: revision is not {last}") from err
            raise BusError(f"{_where(self.role)}: delete failed: {err!r}") from err
        except (nats.errors.Error, TimeoutError) as err:
            raise BusError(f"{_where(self.role)}: delete failed: {err!r}") from err

    def watch(self, *, heartbeat: float = 1.0) -> LeaseWatch:
        """Every revision of the key from now on (the current one first)."""
        return LeaseWatch(self, heartbeat)


class LeaseWatch:
    """``async for revision, holder in watch`` (holder None: absent or deleted); a
    ``(0, None)`` when the key has no value at all when the watch starts."""

    def __init__(self, lease: LeaseKV, heartbeat: float) -> None:
        self.lease = lease
        self._watcher = FilteredWatcher(
            lease.nc,
            streams.LEASES.bucket,
            streams.LEASES.stream_name,
            lease.role,
            last_per_subject=False,  # one revision per key: "all" is the latest
            heartbeat=heartbeat,
            request_timeout=lease.timeout,
        )
        self._started = False

    async def __aenter__(self) -> LeaseWatch:
        delay = 0.1
        while True:  # a loaded or restarting server: retry
            try:
                await self._watcher.start()
                self._started = True
                return self
            except BusError as err:
                log.warning("cannot watch the lease (%s), retrying", err, extra={"obj": self.where})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def __aexit__(self, *exc: object) -> None:
        if self._started:
            self._started = False
            await self._watcher.stop()

    @property
    def where(self) -> str:
        return _where(self.lease.role)

    def __aiter__(self) -> AsyncIterator[tuple[int, str | None]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[tuple[int, str | None]]:
        empty = True
        while True:
            entry: RawEntry = await self._watcher.next()
            if entry.op == "synced":
                if empty:
                    yield 0, None
                continue
            empty = False
            if entry.op == "delete":
                yield entry.revision, None
            else:
                yield entry.revision, holder_of(self.lease.role, entry.value)


__all__ = ["UNREADABLE", "LeaseKV", "LeaseWatch", "WrongRevision", "holder_of"]
