"""What is known, and the deprecated EventReport snapshots (pure: no I/O).

- :func:`gate`: a report may be published only when every informer its EventSource needs is
  *known* -- listed and not failing, or positively not served -- and the informers' content
  was evaluated for it. A failed, partial or unfinished list is unknown: nothing is
  published (stale or unknown is never "no match"), so nothing downstream is withdrawn.
- :func:`take` copies what a (deprecated ``ripple-reports``) snapshot needs on the loop (references: objects are replaced on
  change, never mutated); :func:`encode_report` builds and encodes it anywhere (a thread:
  a large report costs tens of milliseconds).
- :func:`coalesce_delay`: snapshots are coalesced for the configured interval, or longer for
  one that is expensive to build (twice what the last one took).

The matching sets themselves are published as deltas (:mod:`services.agent.deltas`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from services.agent.deltas import collected
from services.agent.evaluating import SourceState
from services.agent.watching import WatchKey
from shared.api.vocabulary import ObjectKey
from shared.contract import messages as m
from shared.contract.subjects import ClusterRef

Gate = Literal["publish", "incomplete", "clean"]

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
