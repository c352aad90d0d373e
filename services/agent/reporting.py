"""What to publish, and when (pure: no I/O).

- :func:`gate`: a report may be published only when every informer its EventSource needs is
  *known* -- listed and not failing, or positively not served -- and the informers' content
  was evaluated for it. A failed, partial or unfinished list is unknown: nothing is
  published (stale or unknown is never "no match"), so nothing downstream is withdrawn.
- :func:`take` copies what a report needs on the loop (references: objects are replaced on
  change, never mutated); :func:`encode_report` builds and encodes it anywhere (a thread:
  a large report costs tens of milliseconds).
- :func:`coalesce_delay`: bursts are coalesced for the configured delay, or longer for a
  report that is expensive to build (twice what the last one took);
- :class:`Backlog`: the per-change events not published yet, per EventSource, in order.
  They are drained by one worker at a time per EventSource and removed only once published;
  a failed publication keeps them (and everything after them) for the retry.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from services.agent.evaluating import ChangeEvent, SourceState
from services.agent.watching import WatchKey
from shared.api.vocabulary import ObjectKey
from shared.contract import messages as m
from shared.contract.subjects import ClusterRef

Gate = Literal["publish", "incomplete", "clean"]

MAX_BACKLOG = 100_000
"""Pending per-change events kept per EventSource while NATS does not take them; beyond
it the oldest are dropped, counted and shown in the agent's status (never silently)."""


COST_FACTOR = 2.0
"""A report is looked at again no sooner than this many times what building the last one
took: a large matching set under a stream of changes costs at most about a third of a core
in snapshots, and small ones keep the configured coalescing delay."""


def coalesce_delay(state: SourceState | None, coalesce: float) -> float:
    """How long changes to ``state``'s report are coalesced before it is looked at."""
    cost = state.report_cost if state is not None else 0.0
    return max(coalesce, COST_FACTOR * cost)


def unknown_keys(state: SourceState, known: Callable[[WatchKey], bool]) -> list[WatchKey]:
    """The informers of ``state`` whose content is not known now."""
    return [k for k in state.watch_keys if not known(k)]


def complete(state: SourceState, known: Callable[[WatchKey], bool]) -> bool:
    """Every informer ``state`` needs is known and its content was evaluated for it."""
    return not state.replaying and not unknown_keys(state, known)


def gate(state: SourceState, known: Callable[[WatchKey], bool]) -> Gate:
    """Whether ``state``'s report is to be published now."""
    if not complete(state, known):
        return "incomplete"
    return "publish" if state.dirty else "clean"


@dataclass(frozen=True)
class ReportInput:
    """An immutable copy of what one report contains."""

    cluster: ClusterRef
    name: str
    instance: str
    generation: int
    collect: bool
    objects: tuple[dict[str, Any], ...]
    cloud_events: tuple[dict[str, Any], ...]
    errors: tuple[tuple[ObjectKey, str], ...]


def take(state: SourceState, cluster: ClusterRef, instance: str, generation: int) -> ReportInput:
    """Copy ``state``'s current report on the loop (O(n) references, no conversion)."""
    return ReportInput(
        cluster=cluster,
        name=state.name,
        instance=instance,
        generation=generation,
        collect=state.collect,
        objects=tuple(state.matching_objects()),
        cloud_events=tuple(state.cloud_events),
        errors=tuple(sorted(state.errors.items())),
    )


def build_report(data: ReportInput) -> m.EventReportSnapshot:
    return m.EventReportSnapshot(
        cluster=data.cluster,
        event_source_name=data.name,
        agent_instance=data.instance,
        generation=data.generation,
        complete=True,
        matching_resources=[m.ObjectRef.of(o) for o in data.objects],
        resources=[collected(o) for o in data.objects] if data.collect else [],
        cloud_events=list(data.cloud_events),
        errors=[
            m.ObjectError(
                object=m.ObjectRef(
                    api_version=k.api_version, kind=k.kind, namespace=k.namespace, name=k.name
                ),
                message=e,
            )
            for k, e in data.errors
        ],
    )


def encode_report(data: ReportInput) -> tuple[str, bytes]:
    """The report's KV key and value; :class:`shared.contract.errors.InvalidMessage` when it
    is over the message limit."""
    event = m.envelope(build_report(data))
    return m.message_key(event), m.encode(event)


def collected(obj: dict[str, Any]) -> dict[str, Any]:
    """A matching object as it goes into a report: without ``metadata.managedFields`` (half
    of an object's size, never used by templates; Sveltos' own helpers strip it too)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return obj


def change_payload(
    cluster: ClusterRef, state: SourceState, change: ChangeEvent
) -> m.ResourceChange:
    """The per-change event of one matching-set change."""
    meta = change.obj.get("metadata") or {}
    return m.ResourceChange(
        cluster=cluster,
        event_source_name=state.name,
        change=change.change,
        ref=m.ObjectRef.of(change.obj),
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        object=change.obj if state.collect and change.change != "unmatched" else None,
    )


class Backlog:
    """Per-change events waiting to be published, per EventSource, in order. Each entry has
    a sequence number, so that what a publication took is removed exactly, whatever was
    added (or dropped over the limit) meanwhile."""

    def __init__(self, limit: int = MAX_BACKLOG) -> None:
        self.limit = limit
        self.pending: dict[str, deque[tuple[int, m.ResourceChange]]] = {}
        self.dropped: dict[str, int] = {}
        self._seq = 0

    def push(self, name: str, payload: m.ResourceChange) -> None:
        queue = self.pending.setdefault(name, deque())
        if len(queue) >= self.limit:
            queue.popleft()
            self.dropped[name] = self.dropped.get(name, 0) + 1
        self._seq += 1
        queue.append((self._seq, payload))

    def head(self, name: str, count: int) -> list[tuple[int, m.ResourceChange]]:
        """The oldest ``count`` pending events of ``name`` (left in place)."""
        queue = self.pending.get(name)
        if not queue:
            return []
        return [queue[i] for i in range(min(count, len(queue)))]

    def done(self, name: str, upto: int) -> None:
        """Every event of ``name`` up to sequence number ``upto`` was published."""
        queue = self.pending.get(name)
        if queue is None:
            return
        while queue and queue[0][0] <= upto:
            queue.popleft()
        if not queue:
            del self.pending[name]

    def size(self, name: str | None = None) -> int:
        if name is not None:
            return len(self.pending.get(name, ()))
        return sum(len(q) for q in self.pending.values())

    def errors(self) -> list[str]:
        return [
            f"EventSource {n}: {c} per-change events dropped (NATS did not take them)"
            for n, c in sorted(self.dropped.items())
        ]
