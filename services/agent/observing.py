"""Observation: what an informer event or a CloudEvent changes (pure: no I/O).

An informer event reaches every EventSource that needs its informer (one informer per kind
and identity, shared); each re-evaluates the object and yields its per-change events. A
``SYNCED`` or ``FAILED`` event changes no matching set but what is *known*: the reports of
the EventSources concerned must be looked at again (publishable now, or held). A CloudEvent
is kept by every EventSource whose ``messagingMatchCriteria`` match it (the newest per
source and subject).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from services.agent import cloudevents
from services.agent.assigning import Assignments
from services.agent.evaluating import ChangeEvent, SourceState
from services.agent.watching import WatchEvent

log = logging.getLogger(__name__)

KNOWLEDGE = ("SYNCED", "FAILED")


@dataclass
class Observation:
    """The outcome of one event: per-change events (with their EventSource), the
    EventSources whose report must be looked at, and whether what is known changed."""

    changes: list[tuple[SourceState, ChangeEvent]] = field(default_factory=list)
    touched: list[SourceState] = field(default_factory=list)
    knowledge: bool = False


def observe(assignments: Assignments, item: WatchEvent) -> Observation:
    """Evaluate one informer event for every EventSource that watches its informer."""
    states = assignments.by_key.get(item.key, ())
    event = item.event
    if event.type in KNOWLEDGE:
        return Observation(touched=list(states), knowledge=True)
    out = Observation()
    for state in states:
        changes = state.observe(event.type, event.obj)
        out.changes.extend((state, change) for change in changes)
        if state.dirty:
            out.touched.append(state)
    return out


def replay(state: SourceState, obj: dict[str, Any]) -> list[ChangeEvent]:
    """Evaluate one object the informer already holds for a newly assigned EventSource."""
    return state.observe("ADDED", obj)


@dataclass(frozen=True)
class CloudEventMatch:
    """The EventSources that kept a CloudEvent, and those whose criteria failed on it."""

    kept: tuple[SourceState, ...]
    errors: tuple[tuple[str, str], ...] = ()


def observe_cloud_event(
    assignments: Assignments, subject: str, event: dict[str, Any]
) -> CloudEventMatch:
    """Keep ``event`` (received on ``subject``) in every EventSource whose criteria match."""
    kept: list[SourceState] = []
    errors: list[tuple[str, str]] = []
    for state in assignments.sources.values():
        try:
            matched = state.compiled.match_cloud_event(subject, event)
        except Exception as exc:  # a criterion that cannot be evaluated: this source only
            errors.append((state.name, str(exc)))
            continue
        if matched:
            state.cloud_events = cloudevents.keep_latest(state.cloud_events, event)
            state.dirty = True
            kept.append(state)
    return CloudEventMatch(tuple(kept), tuple(errors))
