"""NATS state -> wanted management-cluster objects: one watch per bucket, on the event loop.

Each watcher turns bucket changes into wanted content (:class:`services.reporter.writer.
Writer`) and ownership (:class:`services.reporter.ownership.Ownership`); it never writes
itself, so a slow or failing API server never holds up a watch. Once a bucket's current
values were read (``synced``) the orphan sweep of its kinds is queued: objects labelled
managed-by ripple that no value wants are deleted. Unknown is never "gone": an incomplete
head, or a value that cannot be read, holds the objects it names.

EventReports follow ``ripple-matches`` (:mod:`services.reporter.matchsets`): each change is
applied in O(1); the report of a set is built (O(n), in a worker thread, within the size
budget) only when its write is due -- at most once per write delay, whatever the changes.

The status of a ClusterProfile follows ``ripple-outcomes`` (:mod:`services.reporter.
profilestatus`) the same way: an outcome's put or delete is O(1), the status of its profile
is built when its patch is due, from the outcomes of every destination cluster (keys are
per destination cluster, the ClusterProfile is named after the profile). Statuses wait
until the bucket was read (a partial status would drop clusters); an outcome that cannot be
read keeps the entry read before (``Unknown`` when none was).

Poison is contained by :mod:`shared.bus.kv`: a put or delete under a key outside the
contract never gets here, an unreadable value is skipped (its key is then unknown: what it
named is held); both are logged with the key and counted per bucket (:meth:`Mirrors.metrics`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from services.reporter import mirroring, profilestatus
from services.reporter.matchsets import MatchSets, ReportInput, decide
from services.reporter.ownership import Ownership
from services.reporter.profilestatus import ClusterOutcome, ProfileOutcomes
from services.reporter.writer import Write, Writer
from shared.api.eventreport import report_name
from shared.api.vocabulary import (
    CLUSTER_PROFILE,
    CONFIG_MAP,
    DEFINITION_KINDS,
    EVENT_REPORT,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    NAMESPACE,
    SVELTOS_NAMESPACE,
    ObjectKey,
)
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.contract import subjects
from shared.contract.errors import InvalidSubject

log = logging.getLogger(__name__)

MATCHES = "matches"
PROFILES = "profiles"
OUTCOMES = "outcomes"
GENERATED_NAMESPACE = ObjectKey(NAMESPACE.api_version, NAMESPACE.kind, "", SVELTOS_NAMESPACE)


def managed(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` labelled managed-by ripple (what the orphan sweep lists)."""
    meta = dict(obj.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), MANAGED_BY_LABEL: MANAGED_BY_VALUE}
    return {**obj, "metadata": meta}


def profile_object_key(profile: str) -> ObjectKey:
    """The ClusterProfile of one profile (named after it)."""
    return ObjectKey(CLUSTER_PROFILE.api_version, CLUSTER_PROFILE.kind, "", profile)


def report_object_key(cluster: subjects.ClusterRef, event_source: str) -> ObjectKey:
    """The management-side EventReport of one (cluster, EventSource)."""
    name = report_name(cluster.type, event_source, cluster.name)
    return ObjectKey(EVENT_REPORT.api_version, EVENT_REPORT.kind, cluster.namespace, name)


class Mirrors:
    """The bucket watchers; ``synced(part)`` is called once per bucket read. The status of
    the ClusterProfiles is bound to the outcomes (the writer asks for it when due)."""

    def __init__(
        self,
        writer: Writer,
        ownership: Ownership,
        synced: Callable[[str], None],
        budget: int = mirroring.REPORT_BUDGET,
    ) -> None:
        self.writer = writer
        self.ownership = ownership
        self.synced = synced
        self.budget = budget
        self.sets = MatchSets()
        self.outcomes = ProfileOutcomes()
        self.outcomes_read = False
        self._outcome_store: KVStore[m.ApplyOutcomeEvent] | None = None
        self._stores: dict[str, KVStore[Any]] = {}  # bucket -> store (for the metrics)
        writer.bind_status(CLUSTER_PROFILE, self._profile_status, profilestatus.STATUS_FIELDS)

    def _set(self, source: str, wanted: dict[ObjectKey, Write]) -> None:
        for key in self.ownership.want(source, wanted):
            self.writer.delete(key)
        for key, write in wanted.items():
            self.writer.put(key, write)

    def _drop(self, source: str) -> None:
        for key in self.ownership.drop(source):
            self.writer.delete(key)

    # -- EventReports ------------------------------------------------------------------------
    async def matches(self, store: KVStore[m.MatchesEvent]) -> None:
        self._stores[store.spec.bucket] = store
        async with store.watch() as watch:
            async for change in watch:
                if change.op == "synced":
                    self.writer.sweep(EVENT_REPORT, lambda: self._hold_matches(store))
                    self.synced(MATCHES)
                    continue
                try:
                    item = subjects.parse_match_key(change.key)
                except InvalidSubject:
                    continue  # a delete under a key no value can have (puts are checked)
                message = change.message if change.op == "put" else None
                self.match(store, item, None if message is None else message.data)

    def match(
        self,
        store: KVStore[m.MatchesEvent],
        item: subjects.MatchItem,
        data: m.Match | m.MatchHead | None,
    ) -> None:
        """Apply one put (``data``) or delete of ``ripple-matches`` and settle the report."""
        set_id = subjects.match_head_key(item.cluster, item.event_source)
        before = decide(self.sets.get(set_id))
        mset = self.sets.apply(item, data)
        if mset is None:
            return
        after = decide(mset)
        source = f"{MATCHES}/{set_id}"
        key = report_object_key(item.cluster, item.event_source)
        if after == "write":
            for orphan in self.ownership.want(source, [key]):
                self.writer.delete(orphan)
            self.writer.build(key, functools.partial(self._prepare, store, set_id))
        elif after == "hold":  # unknown, not empty: keep whatever is there
            self.ownership.hold(source, [key])
        elif after == "delete":
            if before != "delete":  # the head was deleted: the EventSource is unassigned
                self.ownership.drop(source)
                if not self.ownership.wanted(key):
                    self.writer.delete(key)
            self.sets.forget_if_empty(mset)

    def _prepare(self, store: KVStore[m.MatchesEvent], set_id: str) -> Callable[[], Write] | None:
        """When the report's write is due (on the loop): an immutable copy of its set, to be
        rendered in a worker thread; None while its content is unknown."""
        mset = self.sets.get(set_id)
        if decide(mset) != "write" or mset is None or set_id in store.invalid:
            return None  # incomplete, gone, or its head cannot be read: hold
        unreadable = []
        prefix = f"{set_id}."
        for kv_key in store.invalid:
            if kv_key.startswith(prefix):
                try:
                    obj = subjects.parse_match_key(kv_key).obj
                except InvalidSubject:
                    continue
                if obj is not None:
                    unreadable.append(obj)
        return functools.partial(self._render, mset.take(tuple(unreadable)))

    def _render(self, data: ReportInput) -> Write:
        report = mirroring.event_report(data, self.budget)
        if report.fit != "full":
            log.info(
                "over the size budget: %s",
                report.status.get("failureMessage", ""),
                extra={"obj": str(report_object_key(data.cluster, data.event_source))},
            )
        return Write(managed(report.obj), report.status)

    def _hold_matches(self, store: KVStore[m.MatchesEvent]) -> str:
        """Before the sweep compares: unreadable values hold the EventReport of their set."""
        unknown = []
        for kv_key in sorted(store.invalid):
            try:
                item = subjects.parse_match_key(kv_key)
            except InvalidSubject:
                unknown.append(kv_key)
                continue
            source = f"{MATCHES}/{subjects.match_head_key(item.cluster, item.event_source)}"
            self.ownership.hold(source, [report_object_key(item.cluster, item.event_source)])
        if unknown:
            return f"match values under unparseable keys cannot be read: {', '.join(unknown)}"
        return ""

    def metrics(self) -> dict[str, tuple[str, str, float]]:
        """Gauges of the matching sets held (read at scrape time, O(sets)), and what was
        skipped in each bucket read (``kv_<bucket>_...``)."""
        out: dict[str, tuple[str, str, float]] = {}
        for store in self._stores.values():
            out.update(store.metrics())
        return out | {
            "matching_sets": ("gauge", "Matching sets read from ripple-matches", len(self.sets)),
            "matching_entries": (
                "gauge",
                "Matching objects held (entries of ripple-matches)",
                sum(len(s.entries) for s in self.sets),
            ),
            "apply_outcomes": (
                "gauge",
                "Apply outcomes held (ripple-outcomes: one per destination cluster and profile)",
                len(self.outcomes),
            ),
        }

    # -- ClusterProfiles and generated ConfigMaps --------------------------------------------
    async def profiles(self, store: KVStore[m.ProfileEvent]) -> None:
        self.ownership.want("static", [GENERATED_NAMESPACE])
        namespace = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": SVELTOS_NAMESPACE},
        }
        self.writer.put(GENERATED_NAMESPACE, Write(namespace))
        self._stores[store.spec.bucket] = store
        async with store.watch() as watch:
            async for change in watch:
                if change.op == "synced":
                    self.writer.sweep(CLUSTER_PROFILE, lambda: self._hold_profiles(store))
                    self.writer.sweep(CONFIG_MAP, lambda: self._configmaps_known(store))
                    self.synced(PROFILES)
                elif change.op == "delete" or change.message is None:
                    self._drop(f"{PROFILES}/{change.key}")
                else:
                    objs = [managed(o) for o in mirroring.profile_objects(change.message.data)]
                    self._set(f"{PROFILES}/{change.key}", {ObjectKey.of(o): Write(o) for o in objs})

    def _hold_profiles(self, store: KVStore[m.ProfileEvent]) -> str:
        """Unreadable profile values hold their ClusterProfile (named after the profile)."""
        unknown = []
        for kv_key in sorted(store.invalid):
            try:
                item = subjects.parse_profile_key(kv_key)
            except InvalidSubject:
                unknown.append(kv_key)
                continue
            self.ownership.hold(f"{PROFILES}/{kv_key}", [profile_object_key(item.name)])
        if unknown:
            return f"profile values under unparseable keys cannot be read: {', '.join(unknown)}"
        return ""

    def _configmaps_known(self, store: KVStore[m.ProfileEvent]) -> str:
        """The ConfigMaps of an unreadable profile value are unknown: no sweep meanwhile."""
        if store.invalid:
            return f"profile values cannot be read: {', '.join(sorted(store.invalid))}"
        return ""

    # -- ClusterProfile statuses ---------------------------------------------------------------
    async def apply_outcomes(self, store: KVStore[m.ApplyOutcomeEvent]) -> None:
        self._outcome_store = store
        self._stores[store.spec.bucket] = store
        async with store.watch() as watch:
            async for change in watch:
                if change.op == "synced":
                    self.outcomes_read = True
                    for profile in self.outcomes.profiles() + self._unreadable_profiles(store):
                        self.writer.refresh_status(profile_object_key(profile))
                    self.writer.refresh_statuses(CLUSTER_PROFILE)  # those without outcomes
                    self.synced(OUTCOMES)
                    continue
                try:
                    item = subjects.parse_outcome_key(change.key)
                except InvalidSubject:
                    continue  # a delete under a key no value can have (puts are checked)
                message = change.message if change.op == "put" else None
                self.outcome(item, None if message is None else message.data)

    def outcome(self, item: subjects.ClusterItem, data: m.ApplyOutcome | None) -> None:
        """Apply one put (``data``) or delete of ``ripple-outcomes``; the profile's status is
        due (once the bucket was read: then every status is)."""
        if data is not None:
            self.outcomes.put(item.name, ClusterOutcome.of(data))
        else:
            self.outcomes.delete(item.name, item.cluster.key)
        if self.outcomes_read:
            self.writer.refresh_status(profile_object_key(item.name))

    def _profile_status(self, key: ObjectKey) -> Callable[[], dict[str, Any]] | None:
        """When a ClusterProfile's status is due (on the loop): its outcomes, to be rendered
        in a worker thread; None until the bucket was read."""
        store = self._outcome_store
        if not self.outcomes_read or store is None:
            return None
        unreadable = [item.cluster.key for item in _outcome_items(store.invalid, key.name)]
        taken = self.outcomes.take(key.name, unreadable)
        return functools.partial(profilestatus.profile_status, taken)

    def _unreadable_profiles(self, store: KVStore[m.ApplyOutcomeEvent]) -> list[str]:
        return sorted({item.name for item in _outcome_items(store.invalid)})

    # -- definition statuses -----------------------------------------------------------------
    async def statuses(self, store: KVStore[m.DefinitionStatusEvent]) -> None:
        self._stores[store.spec.bucket] = store
        async with store.watch() as watch:
            async for change in watch:
                if change.op == "synced":
                    continue
                if change.op == "put" and change.message is not None:
                    status = change.message.data
                    key = definition_key(status.kind, status.name)
                    self.writer.patch_status(key, mirroring.definition_status(status))
                    continue
                try:  # a deleted status value: its definition is gone, nothing to write
                    kind, name = subjects.parse_status_key(change.key)
                except InvalidSubject:
                    continue
                self.writer.forget_status(definition_key(kind, name))


def _outcome_items(keys: set[str], profile: str | None = None) -> list[subjects.ClusterItem]:
    """The parsed outcome keys among ``keys`` (of ``profile`` when given)."""
    items = []
    for kv_key in sorted(keys):
        try:
            item = subjects.parse_outcome_key(kv_key)
        except InvalidSubject:
            continue
        if profile is None or item.name == profile:
            items.append(item)
    return items


def definition_key(kind: str, name: str) -> ObjectKey:
    gvk = DEFINITION_KINDS[kind]
    return ObjectKey(gvk.api_version, gvk.kind, "", name)


__all__ = [
    "GENERATED_NAMESPACE",
    "MATCHES",
    "OUTCOMES",
    "PROFILES",
    "Mirrors",
    "definition_key",
    "managed",
    "profile_object_key",
    "report_object_key",
]
