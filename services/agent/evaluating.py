"""Per-EventSource match state of one cluster (pure: no I/O).

Each assigned EventSource keeps the set of objects that currently match it. Object changes
come from the informers; :meth:`SourceState.observe` re-evaluates one object and returns the
per-change events (matched / updated / unmatched). BRIEF section 4: an evaluation error on
one object keeps that object's previous state and is recorded, it never aborts the others.

An aggregatedSelection EventSource keeps the objects its selectors select; its matching set
is recomputed from them (:meth:`SourceState.aggregation_input`, run anywhere, then
:meth:`SourceState.apply_aggregation` on the loop).

Lua runs in the EventSource's worker thread (:mod:`shared.evaluation.isolation`), with a
hard time limit. How long the loop waits for it depends on whether the agent polls the
evaluations periodically (:func:`services.agent.observing.poll` on a timer, noted by
:func:`periodic_poll`): then :data:`WAIT` seconds at most, and a longer run goes on alone
(``running``) while the EventSource's next objects wait (``deferred``, newest version per
object, each keeping its state) until :meth:`SourceState.poll` takes its result; without
that timer, until the run ends or is abandoned at its hard limit (a result left for later
would only be taken at the next informer event). Either way, a run past the hard limit is
abandoned: the object keeps its previous state with the error (shown in the head, REST and
the EventSource's status) and is evaluated again once the runner takes runs again (after a
backoff, and once no abandoned run of the EventSource still burns CPU), without the loop
waiting for it. The replay of what the informers hold is complete only once every object
waiting then was evaluated (those that ran out of time count as evaluated, with their
error).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from services.agent.watching import WatchKey
from shared.api.vocabulary import GVK, ObjectKey
from shared.evaluation import AggregateResult, CompiledEventSource, MatchResult, Pending

object_key = ObjectKey.of

log = logging.getLogger(__name__)

Change = Literal["matched", "updated", "unmatched"]

WAIT = 0.05
"""Seconds the loop waits for a Lua evaluation before leaving it to run alone, when the
evaluations are polled periodically (an evaluation takes ~0.1 ms)."""

SUSPECT_WAIT = 0.005
"""The same for an object whose last run was abandoned at the time limit."""

PERIODIC = 2.0
"""Seconds after a periodic poll during which the agent counts as polling periodically."""

_periodic_at = -PERIODIC


def periodic_poll() -> None:
    """Note that the agent polls the evaluations on a timer (results left running are taken
    within its period): the loop may then stop waiting after :data:`WAIT` seconds."""
    global _periodic_at
    _periodic_at = time.monotonic()


def _wait() -> float | None:
    return WAIT if time.monotonic() - _periodic_at < PERIODIC else None


POLL_SLICE = 0.005
"""Seconds of waiting objects' evaluations one :meth:`SourceState.poll` runs at most."""


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
    #: objects waiting for their evaluation (newest version, in order of arrival)
    deferred: dict[ObjectKey, dict[str, Any]] = field(default_factory=dict)
    #: the evaluation running in the worker thread that the loop stopped waiting for
    running: tuple[ObjectKey, dict[str, Any], Pending] | None = None
    running_stale: bool = False  # a newer version (or a delete) of it came meanwhile
    #: objects whose last run was abandoned at the time limit (evaluated again later)
    timed_out: set[ObjectKey] = field(default_factory=set)
    #: seconds the loop waits for a Lua evaluation (None: as decided by :func:`periodic_poll`)
    wait: float | None = None
    replay_flag: bool = False  # the informers' content is being replayed into this state
    settled: bool = False  # the replay and the evaluations it left waiting are done
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

    @property
    def replaying(self) -> bool:
        """The informers' current content is still being evaluated: replayed, or objects
        the replay left waiting (not those that ran out of time: evaluated, with an error)."""
        if self.replay_flag:
            return True
        if self.settled:
            return False
        if self.running is not None and self.running[0] not in self.timed_out:
            return True
        if any(k not in self.timed_out for k in self.deferred):
            return True
        self.settled = True
        return False

    @replaying.setter
    def replaying(self, value: bool) -> None:
        self.replay_flag = value
        if value:
            self.settled = False

    @property
    def waiting(self) -> int:
        """Objects not evaluated yet: waiting, or running in the worker thread."""
        return len(self.deferred) + (self.running is not None)

    def evaluation_problem(self) -> str:
        """What keeps objects from being evaluated ("" when nothing does), one line for the
        status: the objects whose evaluation failed (the first one's error), the runs
        abandoned at the time limit, runs suspended, objects waiting."""
        parts = []
        if self.errors:
            key = min(self.errors)
            error = self.errors[key]
            prefix = f"EventSource {self.name!r}: "
            if error.startswith(prefix):
                error = error[len(prefix) :]
            more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
            parts.append(
                f"evaluation failed for {len(self.errors)} object(s), kept in their previous "
                f"state: {_show(key)}: {error}{more}"
            )
        if self.timed_out:
            keys = sorted(self.timed_out)
            shown = ", ".join(_show(k) for k in keys[:3])
            more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
            parts.append(
                f"evaluation abandoned at the time limit for {shown}{more} (evaluated again "
                "with backoff)"
            )
        if self.running is not None and self.running[2].overdue():
            parts.append(
                f"the evaluation of {_show(self.running[0])} has run past the time limit "
                "(it is abandoned at the next look)"
            )
        reason = self.compiled.unavailable()
        if reason:
            parts.append(reason)
        if self.waiting:
            parts.append(f"{self.waiting} object(s) waiting to be evaluated")
        return "; ".join(parts)

    def observe(self, event_type: str, obj: dict[str, Any]) -> list[ChangeEvent]:
        """Apply one object change (ADDED, MODIFIED, DELETED)."""
        key = object_key(obj)
        changes = self.poll() if self.running is not None or self.deferred else []
        running = self.running is not None and self.running[0] == key
        if event_type == "DELETED" or not self.compiled.selects(obj):
            self.errors.pop(key, None)
            self.selected.pop(key, None)
            self.deferred.pop(key, None)
            self.timed_out.discard(key)
            self.running_stale = self.running_stale or running
            return changes + self._set(key, obj, False)
        if (
            running
            or key in self.deferred
            or (
                (self.running is not None or self.deferred or self.compiled.unavailable())
                and self.compiled.isolates(obj)
            )
        ):
            self.running_stale = self.running_stale or running
            self.deferred[key] = obj  # evaluated when the runner takes runs again
            return changes
        return changes + self._evaluate(key, obj)

    def poll(self) -> list[ChangeEvent]:
        """Take the result of the run left alone if it is over (abandoning it past its
        hard limit), then evaluate waiting objects while the runner takes them (for
        :data:`POLL_SLICE` seconds at most)."""
        changes: list[ChangeEvent] = []
        if self.running is not None:
            key, obj, pending = self.running
            result = pending.poll()
            if result is None:
                return changes
            self.running = None
            if not self.running_stale:
                changes += self._apply(key, obj, result)
            self.running_stale = False
        started = time.monotonic()
        while self.deferred and not self.compiled.unavailable():
            key = next(iter(self.deferred))
            obj = self.deferred.pop(key)
            changes += self._evaluate(key, obj)
            if self.running is not None or time.monotonic() - started > POLL_SLICE:
                break
        return changes

    def _evaluate(self, key: ObjectKey, obj: dict[str, Any]) -> list[ChangeEvent]:
        if key in self.timed_out:
            wait: float | None = SUSPECT_WAIT  # known to run away: never wait long for it
        else:
            wait = self.wait if self.wait is not None else _wait()
        result = self.compiled.start(obj, wait)
        if isinstance(result, Pending):
            self.running = (key, obj, result)
            self.running_stale = False
            return []
        return self._apply(key, obj, result)

    def _apply(self, key: ObjectKey, obj: dict[str, Any], result: MatchResult) -> list[ChangeEvent]:
        """One object's evaluation result (the object is selected)."""
        if result.error:
            if self.errors.get(key) != result.error:
                log.warning(
                    "evaluation error: %s", result.error, extra={"obj": f"{self.name}:{key}"}
                )
                self.dirty = True
            self.errors[key] = result.error
            if result.retry:  # unknown for now: evaluated again once the runner takes runs
                self.timed_out.add(key)
                self.deferred.setdefault(key, obj)
            if key in self.matches and self.aggregated is False:
                self.matches[key] = obj  # keep matching, with the newest content
            return []
        self.timed_out.discard(key)
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


def _show(key: ObjectKey) -> str:
    return f"{key.kind} {key.namespace}/{key.name}" if key.namespace else f"{key.kind} {key.name}"


def _rv(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")
