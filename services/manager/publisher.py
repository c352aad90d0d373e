"""Executing the publication: one work queue of KV keys, level-triggered handlers.

Every put and delete of the manager's buckets (assignments, desired states, profiles,
statuses) goes through :attr:`Publisher.queue`, keyed by ``(bucket, key)``. The handler looks
up what the key should be *now* (:meth:`~services.manager.publication.Publication.decide`)
and puts or deletes it; a value equal to the one last put (or, after a restart, to the one
found in the bucket) is not put again. A put or delete that fails is retried with backoff
without holding up other keys; an output that cannot be encoded or is over the message limit
is a terminal failure of its key (shown in its definition's status, REST and metrics) until
its value changes. Nothing here ends the process.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from services.manager.errors import PublishFailed
from services.manager.outputs import DESIRED, Item, checked_payload, describe, encode
from services.manager.publication import DELETE, Publication, Put, Wait
from shared.runtime.errors import Terminal
from shared.runtime.slicing import Slicer
from shared.runtime.workqueue import Backoff, WorkQueue, run_workers

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


class Publisher:
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
        self.queue: WorkQueue[Item] = WorkQueue("publish", backoff or Backoff(base=0.1, cap=30.0))
        self._cache: dict[Item, Any] = {}  # the value last put, per key
        self._seeds: dict[Item, bytes] = dict(seeds or {})  # body digests found at start-up
        self._on_failure = on_failure or (lambda item: None)
        self._slicer = Slicer()
        self.stats = {"puts": 0, "deletes": 0, "unchanged": 0, "desired_puts": 0}
        self.stats["desired_deletes"] = 0

    def add(self, items: set[Item] | list[Item]) -> None:
        for item in items:
            self.queue.add(item)

    async def run(self, workers: int) -> None:
        await run_workers(self.queue, self.handle, workers=workers, describe=_describe)

    async def handle(self, item: Item) -> None:
        """Bring ``item`` to what the publication wants now (raises to be retried)."""
        failing = item in self.queue.failures
        try:
            await self._handle(item)
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                self._on_failure(item)
            raise
        if failing:
            self._on_failure(item)  # it recovered: its definition's status changes
        await self._slicer.pause()  # keys that need no I/O (unchanged) never suspend

    async def _handle(self, item: Item) -> None:
        loop = asyncio.get_running_loop()
        decision = self.publication.decide(item, loop.time())
        if isinstance(decision, Put):
            await self._put(item, decision.value)
        elif isinstance(decision, Wait):
            self.queue.add_after(item, decision.seconds)
        elif decision is DELETE:
            await self._delete(item)
        # HOLD, NOTHING: the key stays as it is

    async def _put(self, item: Item, value: Any) -> None:
        bucket, key = item
        published = key in self.publication.published[bucket]
        cached = self._cache.get(item, _MISSING)
        if published and (cached is value or cached == value):
            self.stats["unchanged"] += 1
            return
        what = describe(bucket, key, value)
        data = checked_payload(bucket, value, time.time_ns() // 1000, what)
        seed = self._seeds.pop(item, None)
        if published and seed is not None and seed == body_digest(data):
            self._cache[item] = value  # the bucket already holds this body (a restart)
            self.stats["unchanged"] += 1
            return
        raw = encode(data, self.limit, what)
        try:
            await self.buckets[bucket].put(key, raw)
        except Exception as exc:
            raise PublishFailed(f"{bucket} key {key}: put failed: {_why(exc)}") from exc
        self._cache[item] = value
        self.publication.put_done(item, asyncio.get_running_loop().time())
        self.stats["puts"] += 1
        if bucket == DESIRED:
            self.stats["desired_puts"] += 1

    async def _delete(self, item: Item) -> None:
        bucket, key = item
        try:
            await self.buckets[bucket].delete(key)
        except Exception as exc:
            raise PublishFailed(f"{bucket} key {key}: delete failed: {_why(exc)}") from exc
        self._cache.pop(item, None)
        self._seeds.pop(item, None)
        self.publication.deleted(item)
        self.stats["deletes"] += 1
        if bucket == DESIRED:
            self.stats["desired_deletes"] += 1
        log.debug("withdrew %s", key, extra={"obj": f"{bucket}/{key}"})

    # -- views -------------------------------------------------------------------------------
    def metrics(self) -> dict[str, tuple[str, str, float]]:
        out = self.queue.metrics()
        out["publication_failing_keys_terminal"] = (
            "gauge",
            "Keys whose output cannot be published until it changes (oversized, unencodable)",
            sum(1 for f in self.queue.failures.values() if f.terminal),
        )
        out["publication_puts_total"] = ("counter", "KV puts", self.stats["puts"])
        out["publication_deletes_total"] = ("counter", "KV deletes", self.stats["deletes"])
        out["publication_unchanged_total"] = (
            "counter",
            "Puts skipped: the bucket already holds that body",
            self.stats["unchanged"],
        )
        return out


def _why(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _describe(item: Item) -> str:
    return f"{item[0]}/{item[1]}"


__all__ = ["Bucket", "Publisher", "Terminal", "body_digest"]
