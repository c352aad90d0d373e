"""Executing the publication: one work queue of KV keys, level-triggered handlers.

Every put and delete of the manager's buckets (assignments, desired states, profiles,
statuses) goes through :attr:`Publisher.queue`, keyed by ``(bucket, key)``. The handler looks
up what the key should be *now* (:meth:`~services.manager.publication.Publication.decide`)
and puts or deletes it; a value equal to the one last put (or, after a restart, to the one
found in the bucket) is not put again. A put or delete that fails is retried with backoff
without holding up other keys; an output that cannot be encoded or is over the message limit
is a terminal failure of its key (shown in its definition's status, REST and metrics) until
its value changes. A withdrawal the withdrawal guard holds
(:class:`~services.manager.decisions.Held`) is a failure of its key too, kept until the hold
ends; it is logged once per trigger and hold (a WARNING when the hold begins, an INFO when its
numbers change), not once per key. Nothing here ends the process.

Level-triggered on its outputs too: the manager watches its own buckets
(:func:`services.manager.service.watch_output`) and hands every change to
:meth:`Publisher.observed`. A value it did not publish -- garbage, a value written by
someone else, a key it never wrote -- or the deletion of a key it published queues that key
again: the handler puts the manager's own value back, or deletes a key it does not want. Its
own writes coming back are recognised by their revision and body, so nothing is written
twice. A key that keeps being overwritten is repaired with a growing delay (two writers
never hold the server in a tight loop).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from services.manager.errors import PublishFailed
from services.manager.outputs import DESIRED, Item, checked_payload, describe, encode
from services.manager.publication import DELETE, Held, Publication, Put, Wait
from services.manager.shardpublish import ShardPublishing
from shared.bus.kvcheck import put_value
from shared.runtime import tracing
from shared.runtime.errors import Terminal
from shared.runtime.slicing import Slicer
from shared.runtime.tracing import Origin
from shared.runtime.workqueue import Backoff, Failure, WorkQueue, run_workers

log = logging.getLogger(__name__)


class Bucket(Protocol):
    """What the publisher needs of a KV bucket (nats-py's ``KeyValue`` has it)."""

    async def put(self, key: str, value: bytes) -> int: ...

    async def delete(self, key: str) -> Any: ...


def body_digest(data: Any) -> bytes:
    """A digest of a payload without its generation (equal bodies, equal digests)."""
    raw = data.model_dump_json(exclude={"generation"}).encode("utf-8")
    return hashlib.blake2b(raw, digest_size=16).digest()


_MISSING = object()

REPAIR_WINDOW = 60.0
"""Seconds after which a key's count of repairs starts again."""
FREE_REPAIRS = 3
"""Repairs of one key within the window done at once; then with a doubling delay."""
MAX_REPAIR_DELAY = 30.0


class PublishQueue(WorkQueue[Item]):
    """The publisher's work queue: the failure of a key the withdrawal guard holds is kept
    when its handler returns (a hold is not an error to retry, nor one to log per key)."""

    def __init__(self, backoff: Backoff) -> None:
        super().__init__("publish", backoff)
        self.held: set[Item] = set()

    def forget(self, key: Item) -> None:
        if key not in self.held:
            super().forget(key)

    def discard(self, key: Item) -> None:
        self.held.discard(key)
        super().discard(key)


class Publisher(ShardPublishing):
    queue: PublishQueue

    def __init__(
        self,
        publication: Publication,
        buckets: Mapping[str, Bucket],
        *,
        limit: int,
        seeds: Mapping[Item, bytes] | None = None,
        on_failure: Callable[[Item], None] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.publication = publication
        self.buckets = buckets
        self.limit = limit
        self.queue = PublishQueue(backoff or Backoff(base=0.1, cap=30.0))
        self._cache: dict[Item, Any] = {}  # the value last put, per key
        self._seeds: dict[Item, bytes] = dict(seeds or {})  # body digests found at start-up
        # what each key holds as far as this manager knows: the body digest it put (or found
        # at start-up), the revision of its last put, the deletes under way
        self._digests: dict[Item, bytes] = dict(seeds or {})
        self._revisions: dict[Item, int] = {}
        self._deleting: set[Item] = set()
        self._stale: set[Item] = set()  # written by someone else since its last look
        self._repairs: dict[Item, tuple[int, float]] = {}  # key -> (repairs, window start)
        self._on_failure = on_failure or (lambda item: None)
        #: sharded: keys another shard wrote whose value was not read (read when adopted,
        #: by ``verify``: the body digest of what the bucket holds, None when nothing)
        self._unverified: set[Item] = set()
        self.verify: Callable[[Item], Awaitable[bytes | None]] | None = None
        self._slicer = Slicer()
        self.stats = {"puts": 0, "deletes": 0, "unchanged": 0, "desired_puts": 0}
        self.stats["desired_deletes"] = 0
        self.stats["foreign"] = 0
        #: set by the reconciler while it queues a reconcile's keys: where the changes it
        #: reconciled come from (oldest event time, the reconcile's trace context)
        self.carry: Origin | None = None
        #: desired-state keys queued with an origin, not put yet (the oldest one is kept)
        self.origins: dict[Item, Origin] = {}
        #: trigger -> (token, going, total) of the hold last logged, and its kind
        self._holds_logged: dict[str, tuple[str, int, int]] = {}
        self._hold_kinds: dict[str, str] = {}

    def add(self, items: set[Item] | list[Item]) -> None:
        carry = self.carry
        for item in items:
            if carry is not None and item[0] == DESIRED:
                self.origins[item] = carry.older(self.origins.get(item))
            self.queue.add(item)

    async def run(self, workers: int) -> None:
        await run_workers(self.queue, self.handle, workers=workers, describe=_describe)

    async def handle(self, item: Item) -> None:
        """Bring ``item`` to what the publication wants now (raises to be retried)."""
        failing = item in self.queue.failures
        try:
            held = await self._handle(item)
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                self._on_failure(item)
            raise
        if held or failing:
            # held: its definition's status shows the hold (and the reconcile this brings
            # gives the guard's verdicts due); recovered: its status changes
            self._on_failure(item)
        await self._slicer.pause()  # keys that need no I/O (unchanged) never suspend

    async def _handle(self, item: Item) -> bool:
        """Act on what the publication decides; True when the key is held."""
        loop = asyncio.get_running_loop()
        decision = self.publication.decide(item, loop.time())
        if isinstance(decision, Held):
            self._held(item, decision)
            return True
        if item in self.queue.held:
            self.queue.held.discard(item)
            self._holds_ended()
        if isinstance(decision, Put):
            await self._put(item, decision.value)
        elif isinstance(decision, Wait):
            self.queue.add_after(item, decision.seconds)
        elif decision is DELETE:
            self.origins.pop(item, None)
            await self._delete(item)
        else:  # HOLD, NOTHING: the key stays as it is
            self.origins.pop(item, None)
        return False

    def _held(self, item: Item, held: Held) -> None:
        """``item``'s withdrawal is held: a failure of its own with the hold's message (not
        retried: the hold's end queues it); the hold is logged once per trigger."""
        self.origins.pop(item, None)
        previous = self.queue.failures.get(item)
        if previous is None or previous.message != held.message or not previous.terminal:
            self.queue.failures[item] = Failure(
                held.message,
                (previous.attempts if previous else 0) + 1,
                previous.since if previous else time.time(),
                terminal=True,
            )
        self.queue.held.add(item)
        logged = self._holds_logged.get(held.trigger)
        numbers = (held.token, held.going, held.total)
        if logged == numbers:
            return
        self._holds_ended()
        self._holds_logged[held.trigger] = numbers
        self._hold_kinds[held.trigger] = held.kind
        obj = {"obj": f"{held.kind}/{held.trigger}"}
        if logged is None or logged[0] != held.token:
            log.warning("withdrawal guard: %s", held.message, extra=obj)
        else:
            log.info(
                "withdrawal guard: the hold of %s %s now holds %d of %d instances",
                held.kind,
                held.trigger,
                held.going,
                held.total,
                extra=obj,
            )

    def _holds_ended(self) -> None:
        """Log the end of the holds logged that the guard no longer has (confirmed, the
        instances back or under the bound, the trigger deleted)."""
        holds = self.publication.guard.holds
        for trigger in [t for t in self._holds_logged if t not in holds]:
            token, going, total = self._holds_logged.pop(trigger)
            kind = self._hold_kinds.pop(trigger, "EventTrigger")
            log.info(
                "withdrawal guard: the hold of %s %s (%d of %d instances, token %s) ended: "
                "confirmed, undone or deleted (withdrawals_confirmed_total, "
                "withdrawals_cleared_total)",
                kind,
                trigger,
                going,
                total,
                token,
                extra={"obj": f"{kind}/{trigger}"},
            )

    async def _put(self, item: Item, value: Any) -> None:
        bucket, key = item
        # written by someone else since this key's last look (maybe while its put was under
        # way, which then cached its value): what the bucket holds is not what was put
        forced = item in self._stale
        self._stale.discard(item)
        published = key in self.publication.published[bucket] and not forced
        cached = self._cache.get(item, _MISSING)
        if published and (cached is value or cached == value):
            self.stats["unchanged"] += 1
            self.origins.pop(item, None)
            return
        what = describe(bucket, key, value)
        data = checked_payload(bucket, value, time.time_ns() // 1000, what)
        seed = self._seeds.pop(item, None)
        if item in self._unverified:  # another shard's value, not read: read it now
            self._unverified.discard(item)
            if published and seed is None and self.verify is not None:
                seed = await self.verify(item)
        if published and seed is not None and seed == body_digest(data):
            self._cache[item] = value  # the bucket already holds this body (a restart)
            self.stats["unchanged"] += 1
            self.origins.pop(item, None)
            return
        raw = encode(data, self.limit, what)
        self._digests[item] = body_digest(data)  # before the put: its echo may come first
        origin = self.origins.get(item)
        try:
            if origin is None:
                revision = await self.buckets[bucket].put(key, raw)
            else:
                revision = await self._put_traced(item, raw, origin)
        except Exception as exc:
            raise PublishFailed(f"{bucket} key {key}: put failed: {_why(exc)}") from exc
        if self.origins.get(item) is origin:
            self.origins.pop(item, None)
        if isinstance(revision, int):
            self._revisions[item] = revision
        self._cache[item] = value
        self.publication.put_done(item, asyncio.get_running_loop().time())
        self.stats["puts"] += 1
        if bucket == DESIRED:
            self.stats["desired_puts"] += 1

    async def _put_traced(self, item: Item, raw: bytes, origin: Origin) -> Any:
        """A desired state's put with the headers of its origin (the event time, and the
        trace context of a ``desired put`` span, child of the reconcile)."""
        bucket, key = item
        with tracing.span("desired put", parent=origin, attributes={"ripple.key": key}) as span:
            headers = (tracing.carried(span, origin) or origin).headers()
            store = self.buckets[bucket]
            if getattr(store, "_js", None) is None:  # not a NATS bucket (benchmarks, tests)
                return await store.put(key, raw)
            return await put_value(store, key, raw, headers)

    async def _delete(self, item: Item) -> None:
        bucket, key = item
        self._stale.discard(item)
        self._deleting.add(item)
        try:
            await self.buckets[bucket].delete(key)
        except Exception as exc:
            raise PublishFailed(f"{bucket} key {key}: delete failed: {_why(exc)}") from exc
        finally:
            self._deleting.discard(item)
        self._cache.pop(item, None)
        self._seeds.pop(item, None)
        self._digests.pop(item, None)
        self._revisions.pop(item, None)
        self.stats["deletes"] += 1
        if bucket == DESIRED:
            self.stats["desired_deletes"] += 1
        if item in self._stale:  # written by someone else meanwhile: queued, looked at again
            return
        self.publication.deleted(item)
        log.debug("withdrew %s", key, extra={"obj": f"{bucket}/{key}"})

    # -- the manager's own buckets, as watched -------------------------------------------------
    def observed(
        self, item: Item, op: str, revision: int, digest: bytes | None, now: float
    ) -> bool:
        """A change of one of the manager's own buckets (``op``: ``put`` with the body's
        ``digest``, ``unknown`` for an unreadable value or a key outside the contract,
        ``delete``). When the key does not hold what this manager published, forget what it
        knew of the key and queue it (its handler puts the wanted value again or deletes an
        unwanted key); True when it did. Its own writes are recognised: a revision not newer
        than its last put, the body it put, a delete under way or of a key not published."""
        if revision <= self._revisions.get(item, 0):
            return False  # its own put coming back, or an older value
        bucket, key = item
        if op == "delete":
            if item in self._deleting or key not in self.publication.published[bucket]:
                return False
        elif digest is not None and digest == self._digests.get(item):
            return False  # the body it published (its own put, or an identical one)
        self.publication.foreign(item, present=op != "delete")
        self._stale.add(item)
        self._cache.pop(item, None)
        self._seeds.pop(item, None)
        self._digests.pop(item, None)
        self.stats["foreign"] += 1
        delay = self._repair_delay(item, now)
        if delay > 0:
            self.queue.add_after(item, delay)
        else:
            self.queue.add(item)
        return True

    def _repair_delay(self, item: Item, now: float) -> float:
        count, since = self._repairs.get(item, (0, now))
        if now - since > REPAIR_WINDOW:
            count, since = 0, now
        count += 1
        self._repairs[item] = (count, since)
        if len(self._repairs) > 1024:  # forget the keys whose window is over
            old = [k for k, (_, t) in self._repairs.items() if now - t > REPAIR_WINDOW]
            for k in old:
                del self._repairs[k]
        if count <= FREE_REPAIRS:
            return 0.0
        return float(min(0.1 * 2 ** (count - FREE_REPAIRS), MAX_REPAIR_DELAY))

    # -- views -------------------------------------------------------------------------------
    def metrics(self) -> dict[str, tuple[str, str, float]]:
        out = self.queue.metrics()
        out["publication_failing_keys_terminal"] = (
            "gauge",
            "Keys whose output cannot be published until it changes (oversized, unencodable), "
            "and keys whose withdrawal the withdrawal guard holds",
            sum(1 for f in self.queue.failures.values() if f.terminal),
        )
        out["publication_puts_total"] = ("counter", "KV puts", self.stats["puts"])
        out["publication_deletes_total"] = ("counter", "KV deletes", self.stats["deletes"])
        out["publication_unchanged_total"] = (
            "counter",
            "Puts skipped: the bucket already holds that body",
            self.stats["unchanged"],
        )
        out["publication_foreign_changes_total"] = (
            "counter",
            "Changes of the manager's buckets it did not make (garbage, another writer's "
            "value, a deletion): the key was queued to be written again",
            self.stats["foreign"],
        )
        return out


def _why(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _describe(item: Item) -> str:
    return f"{item[0]}/{item[1]}"


__all__ = ["Bucket", "PublishQueue", "Publisher", "Terminal", "body_digest"]
