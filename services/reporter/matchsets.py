"""The matching sets of ``ripple-matches``, as the reporter sees them (pure, on the loop).

Per (cluster, EventSource) the bucket holds one *entry* per matching object and one *head*
(:class:`~shared.contract.payloads.MatchHead`). :class:`MatchSets` applies each watched put or
delete in O(1): it keeps, per set, the references of the matching objects with their
collected objects already in ``spec.resources`` layout (Sveltos': JSON, newline, ``---``) and
running byte counts, so that deciding whether a report fits its size budget costs nothing
and building one (O(n)) happens only when its write is due, on an immutable
:class:`ReportInput` taken by :meth:`MatchSet.take`.

What a set means for its EventReport (:func:`decide`):

- a complete head: ``write`` the report from the entries;
- an incomplete head, or entries without a head yet: ``hold`` -- the entries may be stale,
  never read a missing entry as "no match": what was written stays;
- a deleted head (positive knowledge: the EventSource is no longer assigned): ``delete``;
- nothing known: ``none``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.api.eventreport import encode_resources
from shared.api.vocabulary import ObjectKey
from shared.contract import payloads as p
from shared.contract.subjects import ClusterRef, MatchItem, match_head_key

Decision = Literal["write", "hold", "delete", "none"]


def ref_dict(key: ObjectKey) -> dict[str, str]:
    """An entry of ``matchingResources`` as the EventReport model writes it (no empty
    namespace: :meth:`shared.api.meta.ObjectReference.to_dict` leaves defaults out)."""
    out = {"apiVersion": key.api_version, "kind": key.kind}
    if key.namespace:
        out["namespace"] = key.namespace
    out["name"] = key.name
    return out


def ref_size(key: ObjectKey) -> int:
    """Bytes of one ``matchingResources`` item in compact JSON, with its separator."""
    return len(json.dumps(ref_dict(key), separators=(",", ":"))) + 1


@dataclass(frozen=True)
class Entry:
    """One matching object: its ``spec.resources`` bytes (None when not collected) and the
    size of its reference."""

    resource: bytes | None
    ref_bytes: int

    @classmethod
    def of(cls, key: ObjectKey, obj: dict[str, Any] | None) -> Entry:
        resource = encode_resources([obj]) if obj is not None else None
        return cls(resource, ref_size(key))


@dataclass(frozen=True)
class ReportInput:
    """An immutable copy of one set, taken on the loop when its write is due; ``unreadable``
    names objects whose entry cannot be read (held: listed as matching)."""

    cluster: ClusterRef
    event_source: str
    head: p.MatchHead
    entries: tuple[tuple[ObjectKey, Entry], ...]
    ref_bytes: int
    resource_bytes: int
    unreadable: tuple[ObjectKey, ...] = ()

    @property
    def kv_prefix(self) -> str:
        """The keys of this set's entries in ``ripple-matches``."""
        return f"{match_head_key(self.cluster, self.event_source)}.>"


@dataclass
class MatchSet:
    """One (cluster, EventSource): its entries by object, its head, and running sizes."""

    cluster: ClusterRef
    event_source: str
    entries: dict[ObjectKey, Entry] = field(default_factory=dict)
    head: p.MatchHead | None = None
    #: the head was deleted (positive knowledge) and no head was written since
    removed: bool = False
    ref_bytes: int = 0
    resource_bytes: int = 0

    @property
    def set_id(self) -> str:
        return match_head_key(self.cluster, self.event_source)

    def put_entry(self, key: ObjectKey, entry: Entry) -> None:
        self.delete_entry(key)
        self.entries[key] = entry
        self.ref_bytes += entry.ref_bytes
        self.resource_bytes += len(entry.resource or b"")

    def delete_entry(self, key: ObjectKey) -> bool:
        old = self.entries.pop(key, None)
        if old is None:
            return False
        self.ref_bytes -= old.ref_bytes
        self.resource_bytes -= len(old.resource or b"")
        return True

    def put_head(self, head: p.MatchHead) -> None:
        self.head = head
        self.removed = False

    def delete_head(self) -> None:
        self.head = None
        self.removed = True

    def take(self, unreadable: tuple[ObjectKey, ...] = ()) -> ReportInput:
        """The set as it is now (O(n) references, no conversion): only for a complete head."""
        if self.head is None:
            raise ValueError(f"{self.set_id}: no head, nothing to report")
        return ReportInput(
            cluster=self.cluster,
            event_source=self.event_source,
            head=self.head,
            entries=tuple(self.entries.items()),
            ref_bytes=self.ref_bytes,
            resource_bytes=self.resource_bytes,
            unreadable=tuple(k for k in unreadable if k not in self.entries),
        )


def decide(mset: MatchSet | None) -> Decision:
    """What ``mset`` means for its EventReport (see the module's docstring)."""
    if mset is None:
        return "none"
    if mset.removed:
        return "delete"
    if mset.head is not None:
        return "write" if mset.head.complete else "hold"
    return "hold" if mset.entries else "none"


class MatchSets:
    """Every set seen in ``ripple-matches``, by head key; :meth:`apply` is O(1)."""

    def __init__(self) -> None:
        self._sets: dict[str, MatchSet] = {}

    def apply(self, item: MatchItem, data: p.Match | p.MatchHead | None) -> MatchSet | None:
        """Apply one put (``data``) or delete (None) of the key ``item`` names; returns the
        set it changed (None when a delete touched nothing known)."""
        set_id = match_head_key(item.cluster, item.event_source)
        mset = self._sets.get(set_id)
        if data is None and mset is None:
            return None  # a delete of something never seen (or already forgotten): no-op
        if mset is None:
            mset = self._sets[set_id] = MatchSet(item.cluster, item.event_source)
        if item.obj is None:
            if isinstance(data, p.MatchHead):
                mset.put_head(data)
            elif data is None:
                mset.delete_head()
        elif isinstance(data, p.Match):
            mset.put_entry(item.obj, Entry.of(item.obj, data.object))
        elif data is None:
            mset.delete_entry(item.obj)
        return mset

    def forget_if_empty(self, mset: MatchSet) -> bool:
        """Drop a removed set once its last entry is gone (bounded memory)."""
        if mset.removed and not mset.entries:
            self._sets.pop(mset.set_id, None)
            return True
        return False

    def get(self, set_id: str) -> MatchSet | None:
        return self._sets.get(set_id)

    def __len__(self) -> int:
        return len(self._sets)

    def __iter__(self) -> Iterator[MatchSet]:
        return iter(self._sets.values())


__all__ = [
    "Decision",
    "Entry",
    "MatchSet",
    "MatchSets",
    "ReportInput",
    "decide",
    "ref_dict",
    "ref_size",
]
