"""Typed access to the contract's KV buckets: values are decoded envelopes.

    store = await KVStore.open(js, streams.REPORTS, EventReportEvent)
    await store.put(envelope(snapshot))            # key = the envelope's subject
    current = await store.get(report_key(cluster, "svc"))
    async with store.watch(cluster_keys(cluster)) as watch:
        async for change in watch:                 # KVChange(op="put"|"delete"|"synced")
            ...

Every key and value read is checked, and nothing a writer can put in a bucket stops a
watcher (poison is contained here, at the trust boundary):

- a key outside the bucket's shape (wrong token count, bad encoding, a key of another
  bucket's shape; :mod:`shared.contract.subjects` parses it) is skipped, put or delete
  alike, logged with the key and counted (``invalid_keys``): no value can belong there, so
  no consumer ever sees it;
- a value under a well-formed key that cannot be read -- malformed, of another type, whose
  data belongs under another key (spoofed or misplaced), or written by someone else than the
  writer the contract names (``source``: the manager for assignments, desired states,
  profiles and statuses, the cluster's agent for everything an agent writes) -- is logged,
  counted (``invalid_values``) and skipped. It is positive knowledge of nothing: the key's
  state is *unknown* (in ``invalid`` until a readable value or a delete replaces it), never
  a delete. A watch started with ``unknown=True`` delivers it as an ``unknown`` change.

``problems`` keeps why (bounded, per key) for the service's status; :meth:`KVStore.metrics`
counts per bucket. ``get`` raises :class:`InvalidMessage` for an unreadable value instead.
The checks and that bookkeeping are :mod:`shared.bus.kvcheck`'s.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from nats.errors import Error as NatsError
from nats.js.errors import KeyNotFoundError

from shared.bus.binding import bind
from shared.bus.errors import BusError
from shared.bus.kvcheck import KEY_PARSERS, KeyParser, ReadProblems, put_value, read_value
from shared.bus.watch import FilteredWatcher, RawEntry
from shared.contract.errors import InvalidMessage, InvalidSubject
from shared.contract.messages import Envelope, encode, message_key
from shared.contract.streams import BucketSpec
from shared.contract.subjects import ALL_KEYS

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Envelope)

KVOp = Literal["put", "delete", "synced", "unknown"]


@dataclass(frozen=True)
class KVChange(Generic[E]):
    """One watched change: ``put`` (``message`` set), ``delete`` (a delete or purge of
    ``key``), or ``synced`` -- emitted once, after the values present when the watch started
    (``key`` empty): from then on the watcher's view is complete. The initial values may
    include ``delete`` of keys deleted earlier (their delete markers); treat a delete of an
    unknown key as a no-op.

    ``unknown`` (only from a watch started with ``unknown=True``): a value that cannot be
    read (``error`` says why) -- under a key of the bucket's shape, or a put under a key
    outside it (parsing ``key`` then fails). It is never a delete: whoever reads it keeps
    what it had for that key.

    ``headers`` (a put): the NATS headers the value was written with (event time, trace
    context: :mod:`shared.contract.headers`), None when it has none."""

    op: KVOp
    key: str
    revision: int
    message: E | None = None
    error: str = ""
    headers: Mapping[str, str] | None = None


class KVStore(ReadProblems, Generic[E]):
    """One bucket whose values are envelopes of class ``expected`` (or one of a tuple)."""

    def __init__(
        self,
        kv: Any,
        spec: BucketSpec,
        expected: type[E] | tuple[type[E], ...],
        nc: Any = None,
        timeout: float = 5.0,
        parse_key: KeyParser | None = None,
        api_prefix: str = "$JS.API",
    ) -> None:
        self.kv = kv
        self.nc = nc
        self.timeout = timeout
        #: the JetStream API prefix its watches use (``$JS.<domain>.API`` for a domain)
        self.api_prefix = api_prefix
        self.spec = spec
        self.expected = expected
        #: the bucket's key grammar (None: every key is accepted)
        self.parse_key = parse_key or KEY_PARSERS.get(spec.bucket)
        super().__init__()

    @classmethod
    async def open(
        cls, js: Any, spec: BucketSpec, expected: type[E] | tuple[type[E], ...]
    ) -> KVStore[E]:
        """Bind to an existing bucket (create it with :func:`shared.bus.provision.ensure`),
        without ``STREAM.INFO`` (:func:`shared.bus.binding.bind`): :class:`BusError` when it
        does not exist."""
        kv = await bind(js, spec)
        timeout = float(getattr(js, "_timeout", 5.0))
        prefix = str(getattr(js, "_prefix", "$JS.API"))
        return cls(kv, spec, expected, nc=js._nc, timeout=timeout, api_prefix=prefix)

    @classmethod
    async def open_when_provisioned(
        cls,
        js: Any,
        spec: BucketSpec,
        expected: type[E] | tuple[type[E], ...],
        *,
        on_wait: Any = None,
        max_delay: float = 5.0,
    ) -> KVStore[E]:
        """Bind to a bucket that another service provisions (the manager): wait for it,
        retrying with a jittered backoff (0.1 s doubling to ``max_delay``). ``on_wait(err)``
        is called before each wait (status, logs). Cancelled by a stop at any moment."""
        delay = 0.1
        while True:
            try:
                return await cls.open(js, spec, expected)
            except BusError as err:
                if on_wait is not None:
                    on_wait(err)
            except Exception as err:  # timeouts, a server restarting: unknown, wait
                if on_wait is not None:
                    on_wait(BusError(f"KV bucket {spec.bucket}: {err}"))
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, max_delay)

    def decode(self, key: str, value: bytes) -> E:
        """Decode a value read under ``key`` (:func:`shared.bus.kvcheck.read_value`);
        :class:`InvalidMessage` when malformed, when its data belongs under another key, or
        when its ``source`` is not the writer the contract names for it."""
        return read_value(self.spec.bucket, self.expected, key, value)

    def check_key(self, key: str) -> None:
        """Raise :class:`InvalidSubject` when ``key`` is outside the bucket's shape."""
        if self.parse_key is not None:
            self.parse_key(key)

    async def put(self, message: E, headers: Mapping[str, str] | None = None) -> int:
        """Store ``message`` under its subject (its key), with ``headers`` when given;
        returns the revision."""
        key = message_key(message)
        if message.subject != key:
            raise InvalidMessage(f"{message.type}: subject {message.subject!r} is not {key!r}")
        try:
            revision: int = await put_value(self.kv, key, encode(message), headers)
        except (NatsError, TimeoutError) as err:
            raise BusError(f"{self.spec.bucket} key {key}: put failed: {err!r}") from err
        return revision

    async def get(self, key: str) -> E | None:
        """The current message under ``key``, or None when absent or deleted."""
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return None
        except (NatsError, TimeoutError) as err:
            raise BusError(f"{self.spec.bucket} key {key}: get failed: {err!r}") from err
        if entry.value is None:
            return None
        return self.decode(key, entry.value)

    async def put_until_done(self, message: E, *, max_wait: float = 2.0) -> int:
        """:meth:`put`, retried (backing off up to ``max_wait`` s) while NATS is unreachable
        or restarting: the put is idempotent, so waiting beats giving up. Cancel to stop."""
        delay = 0.05
        while True:
            try:
                return await self.put(message)
            except InvalidMessage:
                raise
            except Exception as err:  # timeouts, no responders, reconnecting...
                log.warning("put failed (%s), retrying", err, extra={"obj": self.spec.bucket})
                await asyncio.sleep(delay)
                delay = min(delay * 2, max_wait)

    async def delete_until_done(self, key: str, *, max_wait: float = 2.0) -> None:
        """:meth:`delete`, retried like :meth:`put_until_done`."""
        delay = 0.05
        while True:
            try:
                await self.delete(key)
                return
            except Exception as err:
                log.warning("delete failed (%s), retrying", err, extra={"obj": self.spec.bucket})
                await asyncio.sleep(delay)
                delay = min(delay * 2, max_wait)

    async def delete(self, key: str) -> None:
        """Delete ``key`` (a delete marker watchers see)."""
        try:
            await self.kv.delete(key)
        except (NatsError, TimeoutError) as err:
            raise BusError(f"{self.spec.bucket} key {key}: delete failed: {err!r}") from err

    async def items(self, keys: str = ALL_KEYS) -> dict[str, E]:
        """A snapshot of every valid value matching the ``keys`` filter."""
        out: dict[str, E] = {}
        async with self.watch(keys) as watch:
            async for change in watch:
                if change.op == "synced":
                    break
                if change.op == "put" and change.message is not None:
                    out[change.key] = change.message
        return out

    def watch(
        self,
        keys: str = ALL_KEYS,
        *,
        include_history: bool = False,
        heartbeat: float = 2.0,
        start_retry: float = 60.0,
        unknown: bool = False,
    ) -> KVWatch[E]:
        """Watch keys matching ``keys`` (NATS wildcards): current values first, then
        ``synced``, then every change in order. Use as ``async with`` (it must be stopped).
        ``unknown``: deliver unreadable values as ``unknown`` changes (else they are only
        logged, counted and remembered in ``invalid`` and ``problems``).
        ``heartbeat`` (seconds): the consumer is recreated after 3 missed heartbeats (e.g.
        the server restarted), continuing after the last revision seen. ``start_retry``
        (seconds): how long starting is retried (a loaded server answers late) before the
        :class:`BusError` is raised (a denied watch also shows as no answer)."""
        return KVWatch(
            self,
            keys,
            include_history=include_history,
            heartbeat=heartbeat,
            start_retry=start_retry,
            unknown=unknown,
        )


class KVWatch(Generic[E]):
    """A running watch over one bucket (see :meth:`KVStore.watch`), on a
    :class:`~shared.bus.watch.FilteredWatcher` (consumer filter in the API subject, so
    per-cluster permissions can restrict it)."""

    def __init__(
        self,
        store: KVStore[E],
        keys: str,
        *,
        include_history: bool,
        heartbeat: float = 2.0,
        start_retry: float = 60.0,
        unknown: bool = False,
    ) -> None:
        self.unknown = unknown
        self.start_retry = start_retry
        self.store = store
        self.heartbeat = heartbeat
        self.keys = keys
        self.include_history = include_history
        self._watcher: FilteredWatcher | None = None

    async def start(self) -> KVWatch[E]:
        if self.store.nc is None:
            raise BusError("KVStore was built without a connection; use KVStore.open")
        watcher = FilteredWatcher(
            self.store.nc,
            self.store.spec.bucket,
            self.store.spec.stream_name,
            self.keys,
            include_history=self.include_history,
            last_per_subject=self.store.spec.history > 1,
            heartbeat=self.heartbeat,
            request_timeout=self.store.timeout,
            api_prefix=self.store.api_prefix,
        )
        delay = 0.1
        deadline = asyncio.get_running_loop().time() + self.start_retry
        while True:  # a loaded server may answer consumer creation late: retry, not fail
            try:
                self._watcher = await watcher.start()
                return self
            except BusError as err:
                if asyncio.get_running_loop().time() + delay > deadline:
                    raise
                log.warning(
                    "cannot start watch (%s), retrying", err, extra={"obj": self.store.spec.bucket}
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    @property
    def resets(self) -> int:
        """How many times the underlying consumer was recreated."""
        return self._watcher.resets if self._watcher is not None else 0

    async def stop(self) -> None:
        if self._watcher is not None:
            watcher, self._watcher = self._watcher, None
            await watcher.stop()

    async def __aenter__(self) -> KVWatch[E]:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __aiter__(self) -> AsyncIterator[KVChange[E]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[KVChange[E]]:
        if self._watcher is None:
            await self.start()
        while self._watcher is not None:
            change = self._convert(await self._watcher.next())
            if change is not None:
                yield change

    def _convert(self, entry: RawEntry) -> KVChange[E] | None:
        if entry.op == "synced":
            return KVChange("synced", "", 0)
        store = self.store
        where = f"{store.spec.bucket}/{entry.key}"
        try:
            store.check_key(entry.key)
        except InvalidSubject as err:
            return self._bad_key(entry, str(err))
        if entry.op == "delete":
            store._readable(entry.key)
            return KVChange("delete", entry.key, entry.revision)
        try:
            message = store.decode(entry.key, entry.value)
        except InvalidMessage as err:
            error = str(err)
            log.warning("skipping invalid value: %s", error, extra={"obj": where})
        except Exception as err:  # a bug in a model: still never fatal to the watcher
            error = f"{store.spec.bucket} key {entry.key}: unreadable value: {err!r}"
            log.exception("skipping invalid value: %s", error, extra={"obj": where})
        else:
            store._readable(entry.key)
            return KVChange("put", entry.key, entry.revision, message, headers=entry.headers)
        store.invalid_values += 1
        store.invalid.add(entry.key)
        store._remember(entry.key, error)
        return KVChange("unknown", entry.key, entry.revision, error=error) if self.unknown else None

    def _bad_key(self, entry: RawEntry, error: str) -> KVChange[E] | None:
        """A put or delete under a key outside the bucket's shape: no value belongs there."""
        store = self.store
        store.invalid_keys += 1
        where = f"{store.spec.bucket}/{entry.key}"
        if entry.op == "delete":  # the poison is gone (or never was): nothing to remember
            store.problems.pop(entry.key, None)
            log.warning("skipping delete of an invalid key: %s", error, extra={"obj": where})
            return None
        error = f"{store.spec.bucket}: invalid key: {error}"
        store._remember(entry.key, error)
        log.warning("skipping value under an invalid key: %s", error, extra={"obj": where})
        return KVChange("unknown", entry.key, entry.revision, error=error) if self.unknown else None
