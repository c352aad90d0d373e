"""The publication's keys when the manager is a shard (a mixin of
:class:`services.manager.publication.Publication`; pure): which keys this shard owns, what it
forgets when a cluster is handed over (nothing deleted), and what it learns of the other
shards' keys. See :mod:`services.manager.sharding`."""

from __future__ import annotations

from typing import Any

from services.manager.guard import Guard
from services.manager.model import ClusterKey
from services.manager.outputs import BUCKETS, DESIRED, STATUS, Item, Owner
from services.manager.published import Pair, Published
from services.manager.sharding import Sharding


class ShardKeys:
    """What :class:`~services.manager.publication.Publication` keeps, as the shard rules
    read and change it."""

    sharding: Sharding | None
    sources: dict[Item, ClusterKey]
    forgotten: set[Item]
    wanted: dict[str, dict[str, Any]]
    published: dict[str, set[str]]
    pairs: dict[Item, Pair | None]
    profile_names: dict[Item, str]
    held: set[Item]
    pending: dict[Item, float]
    owners: dict[Item, Owner]
    guard: Guard
    _epoch: int
    _deferred: set[Item]

    def owned(self, item: Item) -> bool:
        """Whether this manager publishes and withdraws ``item``: always when it is not
        sharded; otherwise a status key it owns, or a key of a cluster it owns (a key whose
        cluster is unknown -- an unreadable value -- belongs to no shard)."""
        shard = self.sharding
        if shard is None:
            return True
        if item[0] == STATUS:
            return shard.owns_status(item[1])
        source = self.sources.get(item)
        return source is not None and shard.owns(source)

    def _rebalance(self, dirty: set[Item]) -> bool:
        """When the shard's ownership changed since the last pass: forget every key it no
        longer owns (nothing deleted: another shard publishes it now); True then (what it
        owns now is looked at as after a start, and the keys deferred meanwhile again)."""
        shard = self.sharding
        if shard is None or shard.epoch == self._epoch:
            return False
        self._epoch = shard.epoch
        dirty.update(self._deferred)
        self._deferred.clear()
        keys = {(b, k) for b in BUCKETS for k in (*self.wanted[b], *self.published[b])}
        for item in keys | self.held | set(self.pending):
            if not self.owned(item):
                self._forget(item)
        for item, pair in self.pairs.items():  # the guard counts the instances owned
            if item[0] == DESIRED and pair is not None and self.owned(item):
                self.guard.track(item[1], pair[0])
        return True

    def _forget(self, item: Item) -> None:
        """``item`` belongs to another shard: neither wanted, held, waiting nor counted here
        (still known as published: adopting it again puts only what differs)."""
        self.wanted[item[0]].pop(item[1], None)
        self.held.discard(item)
        self.pending.pop(item, None)
        self.guard.discard(item)
        if item[0] == DESIRED:
            self.guard.untrack(item[1])
        self.owners.pop(item, None)
        self.forgotten.add(item)

    def learn(self, start: Published) -> None:
        """Sharded, before a rebalance: whose every key is, as the buckets were just read
        (keys written by other shards are not decoded as they change; a key's cluster
        never changes)."""
        for item, cluster in start.clusters.items():
            self.sources.setdefault(item, cluster)
        for item, pair in start.pairs.items():
            if item[1] in self.published[item[0]]:
                self.pairs.setdefault(item, pair)
        for item, name in start.profiles.items():
            self.profile_names.setdefault(item, name)

    def seen(self, item: Item, cluster: ClusterKey | None, *, present: bool) -> None:
        """Another shard's key changed (``present``: put): published or not, and whose."""
        if cluster is not None:
            self.sources[item] = cluster
        if present:
            self.published[item[0]].add(item[1])
        else:
            self.published[item[0]].discard(item[1])
            self.pairs.pop(item, None)
            self.profile_names.pop(item, None)
