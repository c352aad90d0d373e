"""The manager's state and its incremental recomputation (pure: no I/O).

Inputs arrive as calls (``set_trigger``, ``set_report``, ...); :meth:`State.reconcile`
recomputes only the (trigger, source cluster) pairs that a change affects and returns the
difference in outputs — assignments (EventSources per cluster), desired state per
(destination cluster, profile), and profiles — for the adapters to publish.

Stale or unknown is never "no match": a pair whose report has not arrived keeps what it had;
an instance whose template fails keeps its previous objects and reports the error. An
EventSource that was seen and then deleted is positive knowledge: what its pairs deployed is
withdrawn (Sveltos removes what a deleted EventReport produced); one never seen is unknown.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Mapping
from types import MappingProxyType
from typing import Any

from services.manager import increments, planning, selection
from services.manager.changes import Changes, DesiredEntry
from services.manager.contributions import Contributions
from services.manager.matchsets import MatchSet
from services.manager.model import ClusterInfo, ClusterKey, PairPlan, ProfilePlan, Report
from services.manager.planning import TriggerView, World
from services.manager.selection import Pair, TriggerStatus
from services.manager.sharding import Sharding, shard_key_of
from shared.api.vocabulary import ObjectKey

log = logging.getLogger(__name__)


class State(Contributions):
    def __init__(self, management: ClusterKey | None = None) -> None:
        #: the management cluster's registration (--management-cluster): Local objects
        self.management = management
        #: this manager's shard (None: it owns every cluster): only the pairs and
        #: assignments of the source clusters it owns are planned
        self.sharding: Sharding | None = None
        self._epoch = 0  # the sharding epoch the pairs were selected with
        self.triggers: dict[str, TriggerView] = {}
        self.event_sources: dict[str, dict[str, Any]] = {}
        #: EventSources whose latest version does not load (name -> error): the clusters keep
        #: the last valid version (if any), and their triggers' statuses say why
        self.source_errors: dict[str, str] = {}
        #: EventSources seen and then deleted (positive knowledge: their pairs withdraw)
        self.deleted_sources: set[str] = set()
        self.clusters: dict[ClusterKey, ClusterInfo] = {}
        self.refs: dict[tuple[str, str, str], Mapping[str, Any]] = {}
        self.reports: dict[tuple[ClusterKey, str], Report | MatchSet] = {}
        self.pairs: dict[Pair, PairPlan] = {}
        self.pair_es: dict[Pair, str] = {}
        self._config_status: dict[str, TriggerStatus] = {}
        self._owner: dict[tuple[ClusterKey, str], ProfilePlan] = {}  # desired key -> profile
        self._world_version = 0  # bumped when clusters or referenced objects change
        self._pairs_by_report: dict[tuple[ClusterKey, str], set[Pair]] = {}
        self._dirty: set[Pair] = set()
        self._crashed: dict[Pair, str] = {}  # pairs whose planning raised unexpectedly
        self._all_dirty = True
        self.assignments: dict[tuple[ClusterKey, str], dict[str, Any]] = {}
        self.assigned: list[tuple[ClusterKey, str]] = []  # (cluster, EventSource), all shards'
        self.desired: dict[tuple[ClusterKey, str], DesiredEntry] = {}
        self.profiles: dict[str, ProfilePlan] = {}

    # -- inputs ------------------------------------------------------------------------------
    def set_trigger(self, trigger: TriggerView) -> None:
        self.triggers[trigger.name] = trigger
        self._mark_trigger(trigger.name)

    def delete_trigger(self, name: str) -> None:
        self.triggers.pop(name, None)
        self._mark_trigger(name)

    def set_event_source(self, name: str, obj: dict[str, Any] | None) -> None:
        """A valid EventSource, or None: it was deleted (positive knowledge, unlike an
        EventSource never seen: what the pairs reading it deployed is withdrawn)."""
        if obj is None:
            self.event_sources.pop(name, None)
            self.source_errors.pop(name, None)
            self.deleted_sources.add(name)
        else:
            self.event_sources[name] = obj
            self.source_errors.pop(name, None)
            self.deleted_sources.discard(name)
        self._all_dirty = True  # assignments change; cheap compared with rendering

    def set_event_source_error(self, name: str, error: str) -> None:
        """The latest version of EventSource ``name`` does not load: the last valid one (if
        any) stays assigned; the triggers reading it say why."""
        self.source_errors[name] = error
        self.deleted_sources.discard(name)
        self._all_dirty = True

    def set_cluster(self, info: ClusterInfo) -> None:
        self._world_version += 1
        if self.sharding is not None:
            self.sharding.pin(info.key, shard_key_of(info.obj))
        self.clusters[info.key] = info
        self._all_dirty = True

    def delete_cluster(self, key: ClusterKey) -> None:
        self._world_version += 1
        self.clusters.pop(key, None)
        for report_key in [k for k in self.reports if k[0] == key]:
            del self.reports[report_key]
        self._all_dirty = True

    def set_ref(self, kind: str, namespace: str, name: str, obj: Mapping[str, Any] | None) -> None:
        self._world_version += 1
        if obj is None:
            self.refs.pop((kind, namespace, name), None)
        else:
            self.refs[(kind, namespace, name)] = obj
        for trigger in self.triggers.values():
            if trigger.reads(kind, name):
                self._mark_trigger(trigger.name)

    def set_report(self, report: Report | MatchSet) -> None:
        """A whole report, or a matching set kept up to date by deltas (then call
        :meth:`report_changed` after each change)."""
        key = (report.cluster, report.event_source)
        self.reports[key] = report
        self._dirty.update(self._pairs_by_report.get(key, ()))

    def report_changed(self, cluster: ClusterKey, event_source: str) -> None:
        """The matching set of ``(cluster, event_source)`` changed (its pairs re-plan what
        changed in it)."""
        self._dirty.update(self._pairs_by_report.get((cluster, event_source), ()))

    def delete_report(self, cluster: ClusterKey, event_source: str) -> None:
        """A report that is gone (its EventSource was withdrawn from the cluster)."""
        self.reports.pop((cluster, event_source), None)
        self._dirty.update(self._pairs_by_report.get((cluster, event_source), ()))

    def _mark_trigger(self, name: str) -> None:
        self._dirty.update(p for p in self.pair_es if p[0] == name)
        self._all_dirty = True

    # -- recomputation -----------------------------------------------------------------------
    def reconcile(self) -> Changes:
        """Recompute what changed since the last call; return the difference in outputs.

        A report change recomputes only the (trigger, cluster) pairs of that report and
        touches only their profiles and desired entries; a definition or cluster change
        re-selects the pairs first (all of them are re-planned)."""
        changes = Changes()
        for _ in self.reconcile_steps(changes):
            pass
        return changes

    def reconcile_steps(self, changes: Changes) -> Generator[None, None, None]:
        """:meth:`reconcile` in steps: yields after each instance rendered and each (trigger,
        cluster) pair planned, so a caller on an event loop can give the loop back between
        them (the inputs must not change until the generator is exhausted); ``changes`` is
        complete at the end."""
        world = World(self.clusters, self.refs, self.management)
        changes.triggers = MappingProxyType(self.triggers)
        if self.sharding is not None and self.sharding.epoch != self._epoch:
            self._epoch = self.sharding.epoch  # ownership changed: select the pairs again
            self._all_dirty = True
        if self._all_dirty:
            wanted_pairs, assignments = self._select()
            for key, value in assignments.items():
                if self.assignments.get(key) != value:
                    changes.assignments_put[key] = value
            changes.assignments_deleted = set(self.assignments) - set(assignments)
            self.assignments = assignments
            dirty = set(self._dirty) | set(wanted_pairs) | set(self.pair_es)
            self.pair_es = wanted_pairs
            self._pairs_by_report = {}
            for pair, es in wanted_pairs.items():
                self._pairs_by_report.setdefault((pair[1], es), set()).add(pair)
            changes.status_changed = changes.reselected = True
        else:
            dirty = set(self._dirty)
        self._dirty.clear()
        self._all_dirty = False
        for pair in dirty:
            previous = self.pairs.get(pair)
            if pair not in self.pair_es:
                self._crashed.pop(pair, None)
                if previous is not None:  # positive knowledge: trigger/cluster no longer match
                    del self.pairs[pair]
                    self._replace(previous, None, changes)
                continue
            es_name = self.pair_es[pair]
            if es_name in self.deleted_sources:  # positive knowledge: withdraw what it made
                self._crashed.pop(pair, None)
                if previous is not None:
                    del self.pairs[pair]
                    self._replace(previous, None, changes)
                    changes.status_changed = True
                continue
            source = self.reports.get((pair[1], es_name))
            if source is None or (isinstance(source, MatchSet) and not source.known):
                continue  # unknown: keep whatever the pair had
            trigger = self.triggers[pair[0]]
            salt = (id(trigger), self._world_version)
            if (
                isinstance(source, MatchSet)
                and previous is not None
                and trigger.one_for_event
                and previous.salt == salt
                and previous.version >= 0
                and pair not in self._crashed
            ):
                changed = source.changed_since(previous.version)
                if changed is not None:  # only what changed since the last plan
                    yield from self._plan_changes(pair, source, changed, world, changes)
                    continue
            report = source.report() if isinstance(source, MatchSet) else source
            try:  # yields after each instance rendered: long pairs are sliced too
                plan = yield from planning.plan_pair_steps(
                    trigger, self.clusters[pair[1]], es_name, report, world, previous, salt
                )
                plan.version = source.version if isinstance(source, MatchSet) else -1
            except Exception as exc:  # a bug: the pair keeps what it had and shows the error
                log.exception("planning failed", extra={"obj": f"{pair[0]} {pair[1]}"})
                self._crashed[pair] = f"internal error while planning: {exc!r}"
                changes.status_changed = True
                yield
                continue
            if self._crashed.pop(pair, None) is not None:
                changes.status_changed = True
            if previous is not None:
                self._keep_last_good(previous, plan)
            if (previous.errors if previous else []) != plan.errors:
                changes.status_changed = True
                selection.log_new_errors(pair, previous.errors if previous else [], plan.errors)
            self.pairs[pair] = plan
            self._replace(previous, plan, changes)
            yield

    def _plan_changes(
        self,
        pair: Pair,
        source: MatchSet,
        changed: list[ObjectKey],
        world: World,
        changes: Changes,
    ) -> Generator[None, None, None]:
        plan = self.pairs[pair]
        errors = list(plan.errors)
        try:
            before, after = yield from increments.plan_changes_steps(
                self.triggers[pair[0]],
                self.clusters[pair[1]],
                self.pair_es[pair],
                source,
                changed,
                world,
                plan,
            )
        except Exception as exc:  # a bug: the pair shows the error, and re-plans in full
            log.exception("planning failed", extra={"obj": f"{pair[0]} {pair[1]}"})
            self._crashed[pair] = f"internal error while planning: {exc!r}"
            changes.status_changed = True
            return
        if plan.errors != errors:
            changes.status_changed = True
            selection.log_new_errors(pair, errors, plan.errors)
        self._swap(before, after, changes)

    def _select(
        self,
    ) -> tuple[dict[Pair, str], dict[tuple[ClusterKey, str], dict[str, Any]]]:
        """Which (trigger, source cluster) pairs exist, and the EventSources to assign."""
        chosen = selection.select(
            self.triggers,
            self.clusters,
            self.event_sources,
            self.source_errors,
            self.deleted_sources,
        )
        self._config_status = chosen.status
        self.assigned = list(chosen.assignments)  # every shard's: the EventSources' statuses
        if self.sharding is None:
            return chosen.pairs, chosen.assignments
        # a shard plans only what it owns; a pair it no longer owns is dropped from its
        # outputs, which the publication forgets without withdrawing (another shard owns it)
        return self.sharding.select(chosen.pairs, chosen.assignments)

    def unknown_pairs(self) -> set[Pair]:
        """The (trigger, source cluster) pairs that exist but whose report is unknown (not
        arrived, unreadable) or whose planning failed: what they produce is neither wanted
        nor unwanted yet."""
        unknown = {
            pair
            for pair, es in self.pair_es.items()
            if (pair[1], es) not in self.reports and es not in self.deleted_sources
        }
        return unknown | (set(self._crashed) & set(self.pair_es))

    def pairs_reading(self, reports: set[tuple[ClusterKey, str]]) -> set[Pair]:
        """The (trigger, source cluster) pairs planned from any of ``reports``."""
        out: set[Pair] = set()
        for key in reports:
            out |= self._pairs_by_report.get(key, set())
        return out

    def failing_profiles(self) -> set[str]:
        """Profiles whose latest instantiation failed and that have no good version (so
        nothing of theirs is wanted now): an error, not positive knowledge of "no match"."""
        return {
            name
            for plan in self.pairs.values()
            if plan.errors
            for name, profile in plan.profiles.items()
            if profile.error and name not in self.profiles
        }

    @property
    def status(self) -> dict[str, TriggerStatus]:
        """Per trigger: the clusters it selects and what is wrong (definitions and pairs;
        :func:`services.manager.selection.statuses`)."""
        failing = {
            pair: [*plan.errors, *([self._crashed[pair]] if pair in self._crashed else [])]
            for pair, plan in self.pairs.items()
        }
        for pair, error in self._crashed.items():
            failing.setdefault(pair, [error])
        live = {pair: errors for pair, errors in failing.items() if errors and pair in self.pair_es}
        return selection.statuses(self._config_status, self.triggers, live)

    def failing_instances(self) -> int:
        """Instances whose latest instantiation failed (the planning of a pair that crashed
        counts as one): ``ripple_manager_instantiation_errors``."""
        count = sum(len(p.errors) for pair, p in self.pairs.items() if pair in self.pair_es)
        return count + sum(1 for pair in self._crashed if pair in self.pair_es)


__all__ = ["Changes", "DesiredEntry", "Pair", "State", "TriggerStatus"]
