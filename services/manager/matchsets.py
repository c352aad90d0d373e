"""Matching sets built from ``ripple-matches`` deltas (pure: no I/O).

One :class:`MatchSet` per (source cluster, EventSource): its entries by object, its head
(completeness, CloudEvents, errors) and a change log, so that planning a trigger costs what
changed since it last planned (:meth:`MatchSet.changed_since`), not the size of the set.
Applying an entry or a head is O(1). A set is *known* from the first head that said
complete: before it, its entries may be a partial first publication and nothing is planned
from them. Afterwards every entry change is positive knowledge from the agent (it deletes an
entry only on complete knowledge), so the set is planned as it stands; a later incomplete
head says some change may not have arrived yet, which is staleness, never "no match".
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from services.manager.model import ClusterKey, Report
from shared.api.vocabulary import ObjectKey
from shared.contract import messages as m
from shared.templating.values import object_reference


@dataclass(frozen=True)
class Entry:
    """One matching object: its reference, the collected object (None unless the
    EventSource collects resources) and its version."""

    ref: dict[str, str]
    resource: dict[str, Any] | None
    resource_version: str
    value: Any = field(default=None, compare=False)  # ``ref`` as a template value

    @classmethod
    def of(cls, match: m.Match) -> Entry:
        ref = match.ref.model_dump(by_alias=True)
        return cls(ref, match.object, match.resource_version, object_reference(ref))


@dataclass
class MatchSet:
    cluster: ClusterKey
    event_source: str
    entries: dict[ObjectKey, Entry] = field(default_factory=dict)
    known: bool = False  # a head said complete once
    complete: bool = False  # what the latest head says
    agent_instance: str = ""
    generation: int = 0
    cloud_events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[m.ObjectError] = field(default_factory=list)
    error_count: int = 0
    errors_version: int = 0  # bumped when the per-object errors change
    version: int = 0  # bumped by every change of the entries or the CloudEvents
    events_version: int = 0  # the version at which the CloudEvents last changed
    _log: OrderedDict[ObjectKey, int] = field(default_factory=OrderedDict)
    _floor: int = 0  # changes up to this version are no longer in the log
    _report: Report | None = None
    _report_version: int = -1

    # -- deltas ------------------------------------------------------------------------------
    def put(self, key: ObjectKey, entry: Entry) -> bool:
        """Set one entry; True when it changed the set."""
        if self.entries.get(key) == entry:
            return False
        self.entries[key] = entry
        self._changed(key)
        return True

    def delete(self, key: ObjectKey) -> bool:
        """Remove one entry (the object stopped matching); True when it was there."""
        if self.entries.pop(key, None) is None:
            return False
        self._changed(key)
        return True

    def set_head(self, head: m.MatchHead) -> bool:
        """Take a head; True when what planning reads changed (known, CloudEvents)."""
        was_known = self.known
        self.complete = head.complete
        self.known = self.known or head.complete
        self.agent_instance = head.agent_instance
        self.generation = head.generation
        if head.errors != self.errors or head.error_count != self.error_count:
            self.errors_version += 1
        self.errors = list(head.errors)
        self.error_count = head.error_count
        changed = self.known != was_known
        if head.cloud_events != self.cloud_events:
            self.cloud_events = list(head.cloud_events)
            self.version += 1
            self.events_version = self.version
            changed = True
        return changed

    def _changed(self, key: ObjectKey) -> None:
        self.version += 1
        self._log[key] = self.version
        self._log.move_to_end(key)
        if len(self._log) > 2 * len(self.entries) + 1024:
            self._trim()

    def _trim(self) -> None:
        """Forget the older half of the log (a planner behind it re-plans everything)."""
        for _ in range(len(self._log) // 2):
            _, version = self._log.popitem(last=False)
            self._floor = max(self._floor, version)

    # -- reading -----------------------------------------------------------------------------
    def changed_since(self, version: int) -> list[ObjectKey] | None:
        """The objects whose entry changed after ``version``, or None when that is no longer
        known (log trimmed) or the CloudEvents changed: plan the whole set then."""
        if version < self._floor or self.events_version > version:
            return None
        out: list[ObjectKey] = []
        for key, changed in _newest_first(self._log):
            if changed <= version:
                break
            out.append(key)
        return out

    def report(self) -> Report:
        """The whole set as planning's :class:`Report` (in object order; cached)."""
        if self._report is None or self._report_version != self.version:
            keys = sorted(self.entries)
            entries = [self.entries[k] for k in keys]
            self._report = Report(
                cluster=self.cluster,
                event_source=self.event_source,
                matching=[e.ref for e in entries],
                resources=[e.resource for e in entries if e.resource is not None],
                cloud_events=list(self.cloud_events),
                matching_values=[
                    e.value if e.value is not None else object_reference(e.ref) for e in entries
                ],
                version=(id(self), self.version),
            )
            self._report_version = self.version
        return self._report

    def __len__(self) -> int:
        return len(self.entries)


def _newest_first(log: OrderedDict[ObjectKey, int]) -> Iterator[tuple[ObjectKey, int]]:
    for key in reversed(log):
        yield key, log[key]
