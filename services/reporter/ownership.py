"""Which NATS value wants which management-cluster object (pure, owned by the event loop).

A *source* is one matching set or one value of a bucket (``matches/<head key>``,
``profiles/<kv key>``): a matching set owns its EventReport, a profile its ClusterProfile and
generated ConfigMaps. When a source changes or goes away, the objects it no longer wants and
that no other source wants are the ones to delete. A source may *hold* objects whose content
is unknown (an incomplete head, an unreadable value): they are kept, neither written nor
deleted, and the orphan sweep leaves them alone -- unknown is never "gone".
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.api.vocabulary import ObjectKey

Source = str
Identity = tuple[str, str, str, str]


def identity(key: ObjectKey) -> Identity:
    """An object's identity whatever the version it is read at: (group, kind, ns, name)."""
    return (key.gvk.group, key.kind, key.namespace, key.name)


class Ownership:
    """Sources and the object keys each one wants (or holds)."""

    def __init__(self) -> None:
        self._by_source: dict[Source, frozenset[ObjectKey]] = {}
        self._owners: dict[Identity, set[Source]] = {}
        self._held: set[Source] = set()

    def want(self, source: Source, keys: Iterable[ObjectKey]) -> set[ObjectKey]:
        """``source`` now wants exactly ``keys``; returns the keys nobody wants any more."""
        self._held.discard(source)
        return self._replace(source, frozenset(keys))

    def hold(self, source: Source, keys: Iterable[ObjectKey]) -> set[ObjectKey]:
        """``source`` exists but its content is unknown: keep what it wanted before, or
        protect ``keys`` when it is new. Returns the keys to delete (always empty)."""
        if source in self._by_source:
            return set()
        self._held.add(source)
        return self._replace(source, frozenset(keys))

    def drop(self, source: Source) -> set[ObjectKey]:
        """``source`` is gone (positive knowledge: its key was deleted); returns the keys
        nobody wants any more."""
        self._held.discard(source)
        return self._replace(source, frozenset())

    def _replace(self, source: Source, keys: frozenset[ObjectKey]) -> set[ObjectKey]:
        before = self._by_source.pop(source, frozenset())
        if keys:
            self._by_source[source] = keys
        for key in keys - before:
            self._owners.setdefault(identity(key), set()).add(source)
        kept = {identity(k) for k in keys}
        orphaned: set[ObjectKey] = set()
        for key in before - keys:
            ident = identity(key)
            owners = self._owners.get(ident)
            if owners is None or ident in kept:  # the same object at another version
                continue
            owners.discard(source)
            if not owners:
                del self._owners[ident]
                orphaned.add(key)
        return orphaned

    # -- views -------------------------------------------------------------------------------
    def wanted(self, key: ObjectKey) -> bool:
        """Some source wants (or holds) ``key`` (at any version): the sweep keeps it."""
        return identity(key) in self._owners

    def knows(self, source: Source) -> bool:
        return source in self._by_source

    def keys_of(self, source: Source) -> frozenset[ObjectKey]:
        return self._by_source.get(source, frozenset())

    def held(self) -> set[Source]:
        """Sources whose content is unknown."""
        return set(self._held)

    def __len__(self) -> int:
        return len(self._owners)


__all__ = ["Identity", "Ownership", "Source", "identity"]
