"""The instances an explained subject yields, planned with the manager's own code (pure).

For a oneForEvent trigger, the subject alone (as the agent would publish it); for a whole-set
trigger, the set with the subject in it: the agent's matching set on the running system, the
cluster's objects evaluated by the engine offline (:func:`offline_report` also serves the
converse, :mod:`services.manager.provenance`). A set that is not known yields no plan, and
says so: never "no instance".
"""

from __future__ import annotations

from typing import Any

from services.manager import planning
from services.manager.explainworld import Subject, World, instance_out
from services.manager.explanations import InstanceOut
from services.manager.model import ClusterInfo, ClusterKey, Report
from services.manager.planning import TriggerView
from shared.api.vocabulary import ObjectKey
from shared.evaluation import CompiledEventSource


def keys_of(report: Report) -> set[ObjectKey]:
    return {ObjectKey.from_reference(r) for r in report.matching}


def candidates(
    world: World, compiled: CompiledEventSource, cluster: ClusterKey, subject: Subject
) -> list[dict[str, Any]]:
    """Offline: the cluster's objects of the EventSource's kinds, the subject replacing its
    own identity."""
    kinds = {(f.api_version, f.kind) for f, _, _ in compiled.selector_filters()}
    out = [
        o
        for o in world.objects.get(cluster, ())
        if (o.get("apiVersion"), o.get("kind")) in kinds and ObjectKey.of(o) != subject.key
    ]
    if subject.obj is not None:
        out.append(subject.obj)
    return sorted(out, key=ObjectKey.of)


# -- the instances ----------------------------------------------------------------------------
def plan(
    world: World,
    trigger: TriggerView,
    info: ClusterInfo,
    es: str,
    compiled: CompiledEventSource,
    subject: Subject,
) -> tuple[list[InstanceOut], str, bool]:
    """The profiles the subject yields, planned by the manager's own code (names,
    destinations, objects), a note when it yields none, and whether that is known (the rest
    of a whole set may not be)."""
    report, note = _report(world, trigger, info.key, es, compiled, subject)
    if report is None:
        return [], note, False
    pair = planning.plan_pair(trigger, info, es, report, planning.World(world.clusters, world.refs))
    if not pair.profiles and subject.cloud_event is not None:
        return [], "cloudEventAction is Delete: this event withdraws its add-on", True
    return [instance_out(world, p, note) for _, p in sorted(pair.profiles.items())], "", True


def _report(
    world: World,
    trigger: TriggerView,
    cluster: ClusterKey,
    es: str,
    compiled: CompiledEventSource,
    subject: Subject,
) -> tuple[Report | None, str]:
    view = world.sets.get((cluster, es))
    if subject.cloud_event is not None:
        ce = dict(subject.cloud_event)
        events = [ce]
        if not trigger.one_for_event and view is not None:
            events = [e for e in view.report.cloud_events if e.get("id") != ce.get("id")] + events
        return Report(cluster, es, [], [], events), ""
    assert subject.key is not None
    resource = subject.obj
    if resource is None and view is not None:  # named only: the set's copy
        resource = next((r for r in view.report.resources if ObjectKey.of(r) == subject.key), None)
    if resource is not None and "managedFields" in (resource.get("metadata") or {}):
        meta = {k: v for k, v in resource["metadata"].items() if k != "managedFields"}
        resource = {**resource, "metadata": meta}  # as the agent publishes it
    mine: dict[ObjectKey, tuple[dict[str, str], dict[str, Any] | None]] = {
        subject.key: (subject.key.reference(), resource if compiled.collect_resources else None)
    }
    if trigger.one_for_event:
        return _as_report(cluster, es, mine), ""
    members = _members(world, compiled, cluster, es, subject)
    if members is None:
        why = (
            "the agent's matching set"
            if world.live
            else "the aggregation over the cluster's objects"
        )
        return None, f"the rest of the matching set is not known ({why} is not known)"
    members.update(mine)
    return _as_report(cluster, es, members), f"one profile for the whole set ({len(members)})"


def _members(
    world: World, compiled: CompiledEventSource, cluster: ClusterKey, es: str, subject: Subject
) -> dict[ObjectKey, tuple[dict[str, str], dict[str, Any] | None]] | None:
    """The other objects of the matching set: the agent's (live), or the cluster's objects
    evaluated by the engine (offline)."""
    if world.live:
        view = world.sets.get((cluster, es))
        if view is None or not view.known:
            return None
        resources = {ObjectKey.of(r): r for r in view.report.resources}
        return {
            k: (ref, resources.get(k))
            for ref in view.report.matching
            if (k := ObjectKey.from_reference(ref)) != subject.key
        }
    pool = candidates(world, compiled, cluster, subject)
    if compiled.has_aggregation:
        result = compiled.aggregate(pool)
        if result.error is not None:
            return None
        matching = result.resources
    else:
        matching = [o for o in pool if compiled.evaluate(o).matching]
    keep = compiled.collect_resources
    return {
        ObjectKey.of(o): (ObjectKey.of(o).reference(), o if keep else None)
        for o in matching
        if ObjectKey.of(o) != subject.key
    }


def _as_report(
    cluster: ClusterKey,
    es: str,
    members: dict[ObjectKey, tuple[dict[str, str], dict[str, Any] | None]],
) -> Report:
    """In object order, as :meth:`~services.manager.matchsets.MatchSet.report` builds it."""
    keys = sorted(members)
    resources = [r for k in keys if (r := members[k][1]) is not None]
    return Report(cluster, es, [members[k][0] for k in keys], resources)


def offline_report(
    world: World, compiled: CompiledEventSource, cluster: ClusterKey, es: str
) -> Report | None:
    """Offline: the matching set of ``es`` over the cluster's objects (``None``: the
    aggregation fails, the set is unknown)."""
    members = _members(world, compiled, cluster, es, Subject())
    return None if members is None else _as_report(cluster, es, members)
