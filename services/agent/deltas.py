"""The matching sets as deltas: what to publish on ``ripple-matches`` and the event stream
(pure: no I/O).

A change of one matching object is one :class:`Delta`: its per-change event (on
``ripple.v1.events...``) and the operation on its entry in ``ripple-matches`` (put while the
object matches, delete when it stops). Publishing it costs the same whatever the size of the
set. Deltas wait in :class:`Pending`, per EventSource and in order, until NATS took them.

An EventSource's first publication by an agent instance (after a start, a new or changed
assignment, or a backlog overflow) is a :func:`resync`: the current matching set, once
complete, against the entries stored (:class:`Stored`, read back at start-up and kept up to
date as entries are written). Its deltas are the net difference: ``matched`` for new objects,
``updated`` for changed ones, ``unmatched`` for stored entries whose object is gone. A delete
therefore always rests on complete knowledge. :func:`already_stored` drops the events of a
resync that a previous instance stored before it could record their entries, so that a change
is stored once however late it is republished.

The :func:`head` of a set (completeness, CloudEvents, per-object errors) is published after
the entries it covers, when it differs from the last one this instance published.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.agent.evaluating import ChangeEvent, SourceState
from shared.api.vocabulary import ObjectKey
from shared.contract import messages as m
from shared.contract.subjects import ClusterRef
from shared.runtime.tracing import Origin

MAX_PENDING = 100_000
"""Deltas kept per EventSource while NATS does not take them. Beyond it the EventSource's
deltas are dropped and it is resynchronised (its state converges; consumers see the net
change for that period), counted and shown in the agent's status."""

RECOVERY_WINDOW = 30.0
"""Seconds before the newest stored entry from which a restarted agent reads back its own
events (what a previous instance stored without recording the entry)."""


@dataclass(frozen=True)
class Stored:
    """What ``ripple-matches`` holds for one object: the version its entry records."""

    uid: str
    resource_version: str


@dataclass
class StoredSet:
    """The entries of one EventSource as stored (read back, then kept up to date), the time
    of the newest one read back (epoch seconds) and the CloudEvents of its head."""

    entries: dict[ObjectKey, Stored] = field(default_factory=dict)
    newest: float = 0.0
    cloud_events: list[dict[str, Any]] = field(default_factory=list)
    recovered: bool = False  # read back from a previous instance (not yet resynchronised)


@dataclass(frozen=True)
class Delta:
    """One change to publish: its per-change event (None when it is known to be stored
    already), its entry (None: delete the entry) and where it comes from (the watch
    event's time and trace context: carried in the headers of both; None for a resync)."""

    key: ObjectKey
    event: m.ResourceChange | None
    entry: m.Match | None
    origin: Origin | None = None


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def collected(obj: dict[str, Any]) -> dict[str, Any]:
    """A matching object as it is published: without ``metadata.managedFields`` (half of an
    object's size, never used by templates; Sveltos' own helpers strip it too)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return obj


def stored_of(obj: Mapping[str, Any]) -> Stored:
    meta = _meta(obj)
    return Stored(str(meta.get("uid", "") or ""), str(meta.get("resourceVersion", "") or ""))


def delta(
    cluster: ClusterRef,
    source: SourceState,
    instance: str,
    key: ObjectKey,
    change: str,
    obj: dict[str, Any] | None,
    version: Stored,
) -> Delta:
    """The delta of one change of ``key`` (``obj`` None for an object gone)."""
    ref = m.ObjectRef.from_key(key)
    body = collected(obj) if source.collect and obj is not None else None
    event = m.ResourceChange(
        cluster=cluster,
        event_source_name=source.name,
        change=change,
        ref=ref,
        uid=version.uid,
        resource_version=version.resource_version,
        object=body if change != "unmatched" else None,
    )
    if change == "unmatched":
        return Delta(key, event, None)
    entry = m.Match(
        cluster=cluster,
        event_source_name=source.name,
        ref=ref,
        uid=version.uid,
        resource_version=version.resource_version,
        object=body,
        agent_instance=instance,
    )
    return Delta(key, event, entry)


def of_change(
    cluster: ClusterRef,
    source: SourceState,
    instance: str,
    change: ChangeEvent,
    origin: Origin | None = None,
) -> Delta:
    """The delta of one matching-set change seen by the informers (``origin``: its watch
    event)."""
    d = delta(
        cluster, source, instance, change.key, change.change, change.obj, stored_of(change.obj)
    )
    return d if origin is None else Delta(d.key, d.event, d.entry, origin)


def resync(
    cluster: ClusterRef,
    source: SourceState,
    instance: str,
    stored: Mapping[ObjectKey, Stored],
) -> list[Delta]:
    """The net difference between ``source``'s (complete) matching set and ``stored``. An
    object whose evaluation failed (``source.errors``) keeps what is stored: unknown is
    never "no match"."""
    out: list[Delta] = []
    for key in sorted(source.matches):
        obj = source.matches[key]
        now = stored_of(obj)
        before = stored.get(key)
        if before is None:
            out.append(delta(cluster, source, instance, key, "matched", obj, now))
        elif before != now:
            out.append(delta(cluster, source, instance, key, "updated", obj, now))
    unknown = source.errors  # evaluation failed: its previous state stands (stored, kept)
    for key in sorted(set(stored) - set(source.matches) - set(unknown)):
        out.append(delta(cluster, source, instance, key, "unmatched", None, stored[key]))
    return out


def recover(
    cluster: ClusterRef,
    source: SourceState,
    instance: str,
    entries: Mapping[ObjectKey, Stored],
    last_events: Mapping[ObjectKey, tuple[str, Stored]],
) -> list[Delta]:
    """The resync of a restarted agent: ``entries`` are what ``ripple-matches`` holds and
    ``last_events`` the newest event stored per object since shortly before the newest
    entry ((change, version) read back from the stream). A previous instance may have
    stored an event and been killed before it wrote the entry, so the events published are
    ``entries`` overridden by ``last_events``: events bring that to the current set (a
    change stored already is not published again; an object whose ``matched`` was stored
    without its entry gets its ``unmatched``), and entry-only deltas bring the entries to
    the current set where the events already say it."""
    published = dict(entries)
    for key, (change, version) in last_events.items():
        if change == "unmatched":
            published.pop(key, None)
        else:
            published[key] = version
    out = resync(cluster, source, instance, published)
    covered = {d.key for d in out}
    for key in sorted(source.matches):
        obj = source.matches[key]
        if key not in covered and entries.get(key) != stored_of(obj):
            d = delta(cluster, source, instance, key, "updated", obj, stored_of(obj))
            out.append(Delta(key, None, d.entry))
    for key in sorted(set(entries) - set(source.matches) - covered - set(source.errors)):
        out.append(Delta(key, None, None))
    return out


def one_per_object(batch: list[tuple[int, Delta]]) -> list[tuple[int, Delta]]:
    """The head of ``batch`` up to (not including) the second delta of an object: the
    events of one batch are published concurrently, so an object's next event waits for the
    next batch, which starts only once this one was acknowledged -- the events of one object
    are stored in order, even when a publication fails and is retried."""
    seen: set[ObjectKey] = set()
    for index, (_, d) in enumerate(batch):
        if d.key in seen:
            return batch[:index]
        seen.add(d.key)
    return batch


def collapse(batch: Iterable[Delta]) -> dict[ObjectKey, Delta]:
    """The last delta per object of a batch: the only entry operation worth writing."""
    return {d.key: d for d in batch}


HeadContent = tuple[bool, tuple[str, ...], tuple[tuple[ObjectKey, str], ...]]


def head_content(source: SourceState, complete: bool) -> HeadContent:
    """What a head says, comparable with the last one published."""
    events = tuple(json.dumps(e, sort_keys=True) for e in source.cloud_events)
    return complete, events, tuple(sorted(source.errors.items()))


def head(
    cluster: ClusterRef, source: SourceState, instance: str, generation: int, complete: bool
) -> m.MatchHead:
    errors = sorted(source.errors.items())
    return m.MatchHead(
        cluster=cluster,
        event_source_name=source.name,
        agent_instance=instance,
        generation=generation,
        complete=complete,
        cloud_events=list(source.cloud_events),
        errors=[
            m.ObjectError(object=m.ObjectRef.from_key(k), message=e)
            for k, e in errors[: m.MAX_HEAD_ERRORS]
        ],
        error_count=len(errors),
    )


class Pending:
    """Deltas waiting to be published, per EventSource, in order. Each has a sequence
    number, so that what a publication took is removed exactly, whatever was added
    meanwhile. Over the limit, an EventSource's deltas are dropped and it is flagged for a
    resync (:attr:`overflowed`)."""

    def __init__(self, limit: int = MAX_PENDING) -> None:
        self.limit = limit
        self.pending: dict[str, deque[tuple[int, Delta]]] = {}
        self.overflows: dict[str, int] = {}
        self.overflowed: set[str] = set()
        self._seq = 0

    def push(self, name: str, item: Delta) -> None:
        queue = self.pending.setdefault(name, deque())
        if len(queue) >= self.limit:
            queue.clear()
            self.overflows[name] = self.overflows.get(name, 0) + 1
            self.overflowed.add(name)
            return
        if name in self.overflowed:
            return  # the resync covers it
        self._seq += 1
        queue.append((self._seq, item))

    def head(self, name: str, count: int) -> list[tuple[int, Delta]]:
        """The oldest ``count`` pending deltas of ``name`` (left in place)."""
        queue = self.pending.get(name)
        if not queue:
            return []
        return [queue[i] for i in range(min(count, len(queue)))]

    def done(self, name: str, upto: int) -> None:
        """Every delta of ``name`` up to sequence number ``upto`` was published."""
        queue = self.pending.get(name)
        if queue is None:
            return
        while queue and queue[0][0] <= upto:
            queue.popleft()
        if not queue:
            del self.pending[name]

    def drop(self, name: str) -> None:
        """Forget ``name``'s deltas (withdrawn, or about to be resynchronised)."""
        self.pending.pop(name, None)
        self.overflowed.discard(name)

    def size(self, name: str | None = None) -> int:
        if name is not None:
            return len(self.pending.get(name, ()))
        return sum(len(q) for q in self.pending.values())

    def errors(self) -> list[str]:
        return [
            f"EventSource {n}: {c} backlog overflow(s): resynchronised (consumers saw the net "
            "change)"
            for n, c in sorted(self.overflows.items())
        ]
