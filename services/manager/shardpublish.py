"""The publisher's side of manager shards (a mixin of
:class:`services.manager.publisher.Publisher`): what a shard does with a change of its buckets
that is another shard's -- remembered as published, not decoded, never queued -- and with the
keys it hands over. See :mod:`services.manager.sharding`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.manager.outputs import Item
from services.manager.publication import Publication
from shared.runtime.tracing import Origin
from shared.runtime.workqueue import WorkQueue


class ShardPublishing:
    """What :class:`~services.manager.publisher.Publisher` keeps, as the shard rules read
    and change it."""

    publication: Publication
    queue: WorkQueue[Item]
    origins: dict[Item, Origin]
    verify: Callable[[Item], Awaitable[bytes | None]] | None
    _cache: dict[Item, Any]
    _seeds: dict[Item, bytes]
    _digests: dict[Item, bytes]
    _revisions: dict[Item, int]
    _unverified: set[Item]

    def forget(self, item: Item) -> None:
        """``item`` belongs to another shard now: nothing of it stays queued or failing."""
        self.queue.discard(item)
        self.origins.pop(item, None)
        self._cache.pop(item, None)

    def unclaimed(self, item: Item, op: str, revision: int) -> None:
        """Sharded: a change of a key this shard neither wants, wrote, nor knows to be its
        own, not decoded (another shard's: most of the bucket): only whether it is
        published; its value is read if the key is ever adopted."""
        if revision <= self._revisions.get(item, 0):
            return
        self._revisions[item] = revision
        self._cache.pop(item, None)
        self._seeds.pop(item, None)
        self._digests.pop(item, None)
        self._unverified.add(item)
        self.publication.seen(item, None, present=op != "delete")

    def echo(self, item: Item, revision: int) -> bool:
        """A change of ``item`` no newer than this manager's last put of it."""
        return revision <= self._revisions.get(item, 0)

    def claims(self, item: Item) -> bool:
        """Sharded: whether a change of ``item`` must be decoded (a key this shard owns or
        wrote); the others are :meth:`unclaimed`."""
        return self.publication.owned(item)

    def elsewhere(
        self, item: Item, op: str, revision: int, digest: bytes | None, cluster: Any
    ) -> bool:
        """A sharded manager's view of a change of its buckets (``cluster``: whose key it
        is, when its value says): True when the key is another shard's (or nobody's known
        one). Its value is remembered as published there -- adopting the key later puts
        only a value that differs -- and nothing is queued."""
        publication = self.publication
        if publication.sharding is None:
            return False
        if cluster is not None:
            publication.sources[item] = cluster
        if publication.owned(item):
            return False
        if revision <= self._revisions.get(item, 0):
            return True  # an older value (or its own put coming back)
        self._cache.pop(item, None)
        self._revisions[item] = revision
        if op == "put" and digest is not None:
            self._seeds[item] = self._digests[item] = digest
        else:
            self._seeds.pop(item, None)
            self._digests.pop(item, None)
        publication.seen(item, cluster, present=op != "delete")
        return True
