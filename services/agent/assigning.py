"""Assignments: which EventSources this cluster evaluates (pure: no I/O).

The manager assigns EventSources to the cluster (KV ``ripple-assignments``); each change is
decided here:

- a new definition is compiled and **assigned** (its state starts empty and must replay what
  the informers already know before its report may be published);
- a changed definition **replaces** the state (CloudEvents received so far are kept);
- an identical definition is **unchanged**;
- a definition that does not compile is **rejected**: the error is kept for the agent's
  status (``EventSource <name>: ...``, which the manager shows on the EventSource) and the
  previous definition, if any, keeps running;
- a deleted assignment is **withdrawn**: positive knowledge, so its report is deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from services.agent.evaluating import SourceState
from services.agent.watching import WatchKey, tenant_identity
from shared.api.eventsource import EventSource
from shared.api.loading import parse_object
from shared.evaluation import compile_event_source

log = logging.getLogger(__name__)

Decision = Literal["assigned", "replaced", "unchanged", "rejected", "withdrawn"]


@dataclass(frozen=True)
class Assigned:
    """What one assignment change did. ``state`` is the state to replay the informers'
    content into (``assigned`` and ``replaced``)."""

    name: str
    decision: Decision
    state: SourceState | None = None
    error: str = ""


def build_source(name: str, definition: dict[str, Any]) -> SourceState:
    """Compile an assigned EventSource definition; raises when it is not acceptable."""
    source = parse_object(definition, source=f"assignment {name}")
    if not isinstance(source, EventSource):
        raise ValueError(f"assignment {name}: a {type(source).__name__}, not an EventSource")
    compiled = compile_event_source(source)
    labels = dict((definition.get("metadata") or {}).get("labels") or {})
    return SourceState(
        name=name,
        compiled=compiled,
        collect=bool(source.spec.collect_resources),
        definition=definition,
        identity=tenant_identity(labels),
        selectors=list(source.spec.resource_selectors),
        aggregator=compile_event_source(source) if compiled.has_aggregation else None,
    )


Builder = Callable[[str, dict[str, Any]], SourceState]


class Assignments:
    """The EventSources assigned to this cluster, their compile errors, and the names whose
    report must be deleted (withdrawn and not assigned again since)."""

    def __init__(self, cluster: str, build: Builder = build_source) -> None:
        self.cluster = cluster
        self.build = build
        self.sources: dict[str, SourceState] = {}
        self.errors: dict[str, str] = {}
        self.withdrawn: set[str] = set()
        self.by_key: dict[WatchKey, tuple[SourceState, ...]] = {}

    def put(self, name: str, definition: dict[str, Any]) -> Assigned:
        """An assignment was created or changed."""
        self.withdrawn.discard(name)
        old = self.sources.get(name)
        if old is not None and old.definition == definition:
            self.errors.pop(name, None)  # an earlier bad version was replaced by this one
            return Assigned(name, "unchanged")
        obj = f"{self.cluster}:EventSource/{name}"
        try:
            state = self.build(name, definition)
        except Exception as exc:  # any compile error: the definition is rejected
            self.errors[name] = str(exc)
            log.error("EventSource rejected: %s", exc, extra={"obj": obj})
            return Assigned(name, "rejected", error=str(exc))
        self.errors.pop(name, None)
        state.replaying = True
        if old is not None:
            state.cloud_events = list(old.cloud_events)
            state.seeded = old.seeded
            state.published = old.published
        self.sources[name] = state
        self._index()
        log.info("EventSource %s", "replaced" if old else "assigned", extra={"obj": obj})
        return Assigned(name, "replaced" if old else "assigned", state)

    def delete(self, name: str) -> Assigned:
        """The assignment was deleted: the EventSource is no longer evaluated here."""
        self.sources.pop(name, None)
        self.errors.pop(name, None)
        self.withdrawn.add(name)
        self._index()
        log.info("EventSource withdrawn", extra={"obj": f"{self.cluster}:EventSource/{name}"})
        return Assigned(name, "withdrawn")

    def report_done(self, name: str) -> None:
        """The withdrawn EventSource's report was deleted."""
        self.withdrawn.discard(name)

    def watch_keys(self) -> set[WatchKey]:
        return set(self.by_key)

    def _index(self) -> None:
        index: dict[WatchKey, list[SourceState]] = {}
        for state in self.sources.values():
            for key in state.watch_keys:
                index.setdefault(key, []).append(state)
        self.by_key = {k: tuple(v) for k, v in index.items()}
