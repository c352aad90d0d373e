"""Observation: what an informer event or a CloudEvent changes (pure: no I/O).

An informer event reaches every EventSource that needs its informer (one informer per kind
and identity, shared); each re-evaluates the object and yields its per-change events. A
``SYNCED`` or ``FAILED`` event changes no matching set but what is *known*: the reports of
the EventSources concerned must be looked at again (publishable now, or held). A CloudEvent
is kept by every EventSource whose ``messagingMatchCriteria`` match it (the newest per
source and subject).

Evaluations left running in an EventSource's worker thread, and objects waiting for their
evaluation, are taken care of on every informer event (at most every :data:`POLL_EVERY`
seconds) and by :func:`poll`, which the agent calls on a timer (every 0.1 s or so; once it
does, the loop waits at most :data:`services.agent.evaluating.WAIT` for an evaluation).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from services.agent import cloudevents
from services.agent.assigning import Assignments
from services.agent.evaluating import ChangeEvent, SourceState, periodic_poll
from services.agent.watching import WatchEvent
from shared.evaluation.isolation import sweep

log = logging.getLogger(__name__)

KNOWLEDGE = ("SYNCED", "FAILED")

POLL_EVERY = 0.01
"""Seconds between two looks, from informer events, at every EventSource's waiting work."""

_polled = 0.0


@dataclass
class Observation:
    """The outcome of one event: per-change events (with their EventSource), the
    EventSources whose report must be looked at, and whether what is known changed."""

    changes: list[tuple[SourceState, ChangeEvent]] = field(default_factory=list)
    touched: list[SourceState] = field(default_factory=list)
    knowledge: bool = False


def observe(assignments: Assignments, item: WatchEvent) -> Observation:
    """Evaluate one informer event for every EventSource that watches its informer (and,
    every :data:`POLL_EVERY` seconds, what every EventSource has waiting: :func:`poll`)."""
    global _polled
    states = assignments.by_key.get(item.key, ())
    event = item.event
    now = time.monotonic()
    out = _poll(assignments) if now - _polled >= POLL_EVERY else Observation()
    if event.type in KNOWLEDGE:
        out.touched.extend(s for s in states if s not in out.touched)
        out.knowledge = True
        return out
    for state in states:
        was = state.replaying
        changes = state.observe(event.type, event.obj)
        out.changes.extend((state, change) for change in changes)
        if (state.dirty or was != state.replaying) and state not in out.touched:
            out.touched.append(state)
    return out


def poll(assignments: Assignments) -> Observation:
    """Take the results of evaluations left running and evaluate waiting objects, in
    every EventSource that has any (:meth:`SourceState.poll`). The agent calls it on a
    timer: a run past its hard time limit is abandoned here, objects waiting for a backoff
    are evaluated here, and the loop no longer waits long for an evaluation."""
    periodic_poll()
    return _poll(assignments)


def poll_global() -> None:
    """The process-wide part of :func:`poll`: note the timer, abandon every run past its
    hard limit. An agent host calls it once per tick for all its agents, which then look
    only at their own EventSources (:func:`poll_sources`, when :func:`waiting`)."""
    global _polled
    periodic_poll()
    _polled = time.monotonic()
    sweep(_polled)


def waiting(assignments: Assignments) -> bool:
    """Whether an EventSource has an evaluation running off the loop or objects waiting."""
    return any(s.running is not None or s.deferred for s in assignments.sources.values())


def _poll(assignments: Assignments) -> Observation:
    global _polled
    _polled = time.monotonic()
    sweep(_polled)  # also the runs of EventSources replaced meanwhile
    return poll_sources(assignments)


def poll_sources(assignments: Assignments) -> Observation:
    """Take the results and evaluate the waiting objects of this agent's EventSources."""
    out = Observation()
    for state in assignments.sources.values():
        if state.running is None and not state.deferred:
            continue
        was = state.replaying
        changes = state.poll()
        out.changes.extend((state, change) for change in changes)
        if state.dirty or was != state.replaying:
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
