"""Per-EventSource match state of one cluster (pure: no I/O).

Each assigned EventSource keeps the set of objects that currently match it. Object changes
come from the informers; :meth:`SourceState.observe` re-evaluates one object and returns the
per-change events (matched / updated / unmatched). BRIEF section 4: an evaluation error on
one object keeps that object's previous state and is recorded, it never aborts the others.

An aggregatedSelection EventSource keeps the objects its selectors select; its matching set
is recomputed from them (:meth:`SourceState.aggregation_input`, run anywhere, then
:meth:`SourceState.apply_aggregation` on the loop).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from services.agent.watching import WatchKey
from shared.api.vocabulary import GVK, ObjectKey
from shared.evaluation import AggregateResult, CompiledEventSource

object_key = ObjectKey.of

log = logging.getLogger(__name__)

Change = Literal["matched", "updated", "unmatched"]


@dataclass(frozen=True)
class ChangeEvent:
    change: Change
    key: ObjectKey
    obj: dict[str, Any]


@dataclass
class SourceState:
    """Matching state of one EventSource in this cluster."""

    name: str
    compiled: CompiledEventSource
    collect: bool
    definition: dict[str, Any]
    matches: dict[ObjectKey, dict[str, Any]] = field(default_factory=dict)
    selected: dict[ObjectKey, dict[str, Any]] = field(default_factory=dict)  # for aggregation
    errors: dict[ObjectKey, str] = field(default_factory=dict)
    cloud_events: list[dict[str, Any]] = field(default_factory=list)
    identity: str = ""  # the tenant this EventSource is evaluated as ("" = the agent)
    selectors: list[Any] = field(default_factory=list)  # the EventSource's resourceSelectors
    #: a second compilation for aggregations run off the loop (Lua calls are serialised per
    #: compiled source: the loop's evaluations never wait for a running aggregation)
    aggregator: CompiledEventSource | None = None
    dirty: bool = True  # the report may differ from the last one published
    aggregate_error: str = ""
    replaying: bool = False  # the informers' current content is still being evaluated
    seeded: bool = False  # CloudEvents of the previous report were read back
    published: bool = False  # a complete head was published by this agent instance
    synced: bool = False  # its entries were resynchronised: every change is now a delta
    too_large: int = 0  # set size from which the deprecated snapshot is over the limit
    aggregate_due: bool = True  # aggregatedSelection: the selected objects changed since
    report_cost: float = 0.0  # seconds the last report took to build and encode
    watch_keys: tuple[WatchKey, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        self.watch_keys = self._watch_keys()

    @property
    def gvks(self) -> list[GVK]:
        return [GVK.from_parts(g, v, k) for g, v, k in self.compiled.gvks]

    def _watch_keys(self) -> tuple[WatchKey, ...]:
        """The informers this EventSource needs. A tenant's kind whose selectors all name one
        namespace is listed and watched in that namespace only (a namespaced Role suffices)."""
        keys: list[WatchKey] = []
        for group, version, kind in self.compiled.gvks:
            gvk = GVK.from_parts(group, version, kind)
            namespace = ""
            if self.identity:
                spaces = {
                    s.namespace
                    for s in self.selectors
                    if GVK.from_parts(s.group, s.version, s.kind) == gvk
                }
                namespace = spaces.pop() if len(spaces) == 1 else ""
            keys.append(WatchKey(gvk, self.identity, namespace))
        return tuple(dict.fromkeys(keys))

    @property
    def aggregated(self) -> bool:
        return bool(self.compiled.has_aggregation)

    def observe(self, event_type: str, obj: dict[str, Any]) -> list[ChangeEvent]:
        """Apply one object change (ADDED, MODIFIED, DELETED)."""
        key = object_key(obj)
        if event_type == "DELETED":
            self.errors.pop(key, None)
            self.selected.pop(key, None)
            return self._set(key, obj, False)
        if not self.compiled.selects(obj):
            self.errors.pop(key, None)
            self.selected.pop(key, None)
            return self._set(key, obj, False)
        result = self.compiled.evaluate(obj)
        if result.error:
            if self.errors.get(key) != result.error:
                log.warning(
                    "evaluation error: %s", result.error, extra={"obj": f"{self.name}:{key}"}
                )
                self.dirty = True
            self.errors[key] = result.error
            if key in self.matches and self.aggregated is False:
                self.matches[key] = obj  # keep matching, with the newest content
            return []
        if key in self.errors:
            del self.errors[key]
            self.dirty = True
        if self.aggregated:
            if result.matching:
                self.selected[key] = obj
            else:
                self.selected.pop(key, None)
            self.dirty = self.aggregate_due = True
            return []
        return self._set(key, obj, bool(result.matching))

    def _set(self, key: ObjectKey, obj: dict[str, Any], matching: bool) -> list[ChangeEvent]:
        if self.aggregated:
            self.dirty = self.aggregate_due = True
            return []
        before = self.matches.get(key)
        if matching:
            self.matches[key] = obj
            if before is None:
                self.dirty = True
                return [ChangeEvent("matched", key, obj)]
            if _rv(before) != _rv(obj):
                self.dirty = self.dirty or self.collect
                return [ChangeEvent("updated", key, obj)]
            return []
        if before is not None:
            del self.matches[key]
            self.dirty = True
            return [ChangeEvent("unmatched", key, obj)]
        return []

    def aggregation_input(self) -> list[dict[str, Any]]:
        """The selected objects, in key order: a copy the aggregation may read anywhere
        (objects are replaced on change, never mutated)."""
        return [self.selected[k] for k in sorted(self.selected)]

    def apply_aggregation(self, result: AggregateResult) -> list[ChangeEvent]:
        """Take an aggregation's result as the matching set; the per-change events."""
        if result.error:
            self.aggregate_error = result.error
            log.warning("aggregation error: %s", result.error, extra={"obj": self.name})
            return []
        self.aggregate_error = ""
        fresh: dict[ObjectKey, dict[str, Any]] = {}
        for item in result.resources:
            fresh[object_key(item)] = item
        changes = [
            ChangeEvent("unmatched", k, o) for k, o in self.matches.items() if k not in fresh
        ]
        for k, o in fresh.items():
            before = self.matches.get(k)
            if before is None:
                changes.append(ChangeEvent("matched", k, o))
            elif before != o:
                changes.append(ChangeEvent("updated", k, o))
        self.matches = fresh
        return changes

    def run_aggregation(self) -> list[ChangeEvent]:
        """Recompute the matching set of an aggregatedSelection EventSource (here, now)."""
        if not self.aggregated:
            return []
        engine = self.aggregator or self.compiled
        return self.apply_aggregation(engine.aggregate(self.aggregation_input()))

    def matching_objects(self) -> list[dict[str, Any]]:
        return [self.matches[k] for k in sorted(self.matches)]


def _rv(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")
