"""A shard's matching-set input: every ``ripple-matches`` change kept, only its own clusters'
decoded and applied (the shell; see :mod:`services.manager.sharding`).

Unsharded, every change of ``ripple-matches`` is decoded and applied
(:func:`services.manager.service.watch`). A shard plans only the clusters it owns, so decoding
every cluster's entries (most of the bucket, the costliest part of an input) would cost each
shard what the whole group receives. :class:`ShardedMatches` keeps the latest raw value of
every key, grouped by the cluster's key prefix (cheap: no decoding, no key parsing beyond the
first two tokens), and feeds the reconciler only the changes of the clusters the shard owns.

When ownership changes (the reconciler says so through :attr:`ShardedMatches.wake`), in the
same task that reads the watch -- so nothing is applied twice or out of order:

- a cluster it now owns is fed its kept values (latest per key, in revision order): its sets
  become known when their head says complete, and until then its pairs are unknown (held,
  never withdrawn);
- a cluster it no longer owns has its sets dropped (:meth:`Inputs.forget_cluster`): unknown
  again, never read as "no match".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from services.manager.model import ClusterKey
from services.manager.sharding import Sharding
from services.manager.stores import retrying
from shared.bus.kv import KVChange, KVStore
from shared.bus.watch import FilteredWatcher, RawEntry
from shared.contract.errors import InvalidMessage, InvalidSubject
from shared.contract.subjects import ClusterRef

log = logging.getLogger(__name__)

STOP_WATCH = 0.5  # seconds

Submit = Callable[[str, Any], Awaitable[None]]


class ShardedMatches:
    def __init__(self, store: KVStore[Any], sharding: Sharding, submit: Submit) -> None:
        self.store = store
        self.sharding = sharding
        self._submit = submit
        #: cluster prefix (``<ns>.<type>--<name>``) -> key -> its latest raw value
        self.raw: dict[str, dict[str, RawEntry]] = {}
        self.clusters: dict[str, ClusterKey | None] = {}  # prefix -> cluster (None: bad)
        self.fed: set[str] = set()  # the prefixes whose changes are applied
        self.wake = asyncio.Event()  # ownership changed (set by the reconciler)
        self._epoch = -1
        self.replayed = 0

    async def run(self) -> None:
        spec = self.store.spec
        watcher = FilteredWatcher(
            self.store.nc,
            spec.bucket,
            spec.stream_name,
            ">",
            last_per_subject=spec.history > 1,
            request_timeout=self.store.timeout,
        )
        await retrying(f"watching {spec.bucket}", watcher.start)
        pending: asyncio.Future[RawEntry] | None = None
        try:
            while True:
                if self.sharding.epoch != self._epoch:
                    await self._regroup()
                if pending is None:
                    pending = asyncio.ensure_future(watcher.next())
                woken: asyncio.Future[Any] = asyncio.ensure_future(self.wake.wait())
                either: set[asyncio.Future[Any]] = {pending, woken}
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                self.wake.clear()
                if pending.done():
                    entry, pending = pending.result(), None
                    await self._entry(entry)
        finally:
            if pending is not None:
                pending.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(watcher.stop(), STOP_WATCH)

    async def _entry(self, entry: RawEntry) -> None:
        if entry.op == "synced":
            await self._submit("match", KVChange("synced", "", 0))
            return
        prefix = _prefix(entry.key)
        if prefix not in self.clusters:
            self.clusters[prefix] = _cluster(prefix)
        kept = self.raw.setdefault(prefix, {})
        if entry.op == "delete":
            kept.pop(entry.key, None)
        else:
            kept[entry.key] = entry
        if prefix in self.fed:
            await self._submit("match", self._convert(entry))
        elif self._owns(prefix):  # a cluster first seen now, or registered since
            await self._feed(prefix)

    async def _regroup(self) -> None:
        """Feed the clusters now owned, forget the ones no longer owned."""
        self._epoch = self.sharding.epoch
        for prefix, cluster in list(self.clusters.items()):
            owned = self._owns(prefix)
            if owned and prefix not in self.fed:
                await self._feed(prefix)
            elif not owned and prefix in self.fed and cluster is not None:
                self.fed.discard(prefix)
                await self._submit("forget-cluster", cluster)

    def _owns(self, prefix: str) -> bool:
        cluster = self.clusters.get(prefix)
        return cluster is not None and self.sharding.owns(cluster)

    async def _feed(self, prefix: str) -> None:
        """Apply every kept value of a cluster now owned (latest per key, in order)."""
        self.fed.add(prefix)
        entries = sorted(self.raw.get(prefix, {}).values(), key=lambda e: e.revision)
        for entry in entries:
            await self._submit("match", self._convert(entry))
        self.replayed += len(entries)

    def _convert(self, entry: RawEntry) -> KVChange[Any]:
        """The change as the store's watch delivers it (unreadable: ``unknown``)."""
        store = self.store
        try:
            store.check_key(entry.key)
            if entry.op == "delete":
                return KVChange("delete", entry.key, entry.revision)
            message = store.decode(entry.key, entry.value)
        except (InvalidMessage, InvalidSubject) as exc:
            store.invalid.add(entry.key)
            return KVChange("unknown", entry.key, entry.revision, error=str(exc))
        store.invalid.discard(entry.key)
        return KVChange("put", entry.key, entry.revision, message, headers=entry.headers)


def _prefix(key: str) -> str:
    first, _, rest = key.partition(".")
    second = rest.partition(".")[0]
    return f"{first}.{second}"


def _cluster(prefix: str) -> ClusterKey | None:
    try:
        ref = ClusterRef.from_tokens(*prefix.split(".", 1))
    except (InvalidSubject, TypeError, ValueError):
        return None  # a key outside the contract: never a cluster's, never fed
    return ClusterKey(ref.namespace, ref.name, ref.type)


__all__ = ["ShardedMatches"]
