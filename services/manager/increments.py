"""Planning what changed: a ``oneForEvent: true`` trigger re-plans only the objects whose
``ripple-matches`` entry changed since its last plan (pure: no I/O).

:func:`plan_changes_steps` updates the previous plan of a (trigger, source cluster) pair in
place: the instance of each changed object is removed, and planned again when the object
still matches (reused when its input did not change). It returns the profiles it touched,
before and after, so that the state swaps only those. A change costs what changed, whatever
the size of the set; anything else (a definition, a cluster, a referenced object, the
CloudEvents) re-plans the pair from the whole set (:func:`services.manager.planning.
plan_pair_steps`, which reuses unchanged instances).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any

from services.manager.matchsets import Entry, MatchSet
from services.manager.model import ClusterInfo, InstanceKey, PairPlan, ProfilePlan
from services.manager.planning import (
    Instance,
    TriggerView,
    World,
    fingerprint,
    plan_instance,
    refresh_errors,
    settle,
)
from shared.api.vocabulary import ObjectKey

Touched = dict[str, ProfilePlan | None]
"""Profile name -> its plan (None: none) for the names a change touched."""


def instance_of(cluster: ClusterInfo, entry: Entry) -> Instance:
    """The instance of one matching object (as :func:`services.manager.planning.instances`
    builds it for a ``oneForEvent: true`` trigger)."""
    data: dict[str, Any] = {
        "MatchingResource": dict(entry.ref),
        "Resource": entry.resource,
        "Cluster": cluster.obj,
    }
    return Instance(data, resource=dict(entry.ref))


def shown(profile: ProfilePlan) -> bool:
    """Whether a profile takes part in the outputs (a failed first instantiation does not)."""
    return not (profile.error and not profile.objects and not profile.cluster_profile)


def plan_changes_steps(
    trigger: TriggerView,
    source: ClusterInfo,
    es_name: str,
    matches: MatchSet,
    changed: Iterable[ObjectKey],
    world: World,
    plan: PairPlan,
) -> Generator[None, None, tuple[Touched, Touched]]:
    """Re-plan the ``changed`` objects of ``plan`` (updated in place); yields after each
    instance rendered; returns the touched profiles ``(before, after)``."""
    names: set[str] = set()
    before: Touched = {}
    errors_changed = False
    for key in changed:
        old_key = plan.by_object.pop(key, None)
        old = plan.instances.pop(old_key, None) if old_key is not None else None
        if old is not None and old_key is not None:
            _unclaim(plan, old.name, old_key)
            names.add(old.name)
            errors_changed = errors_changed or bool(old.error)
        entry = matches.entries.get(key)
        if entry is None:
            continue
        inst = instance_of(source, entry)
        inst_key = (es_name, fingerprint(inst))
        new = old if old is not None and old_key == inst_key else None
        if new is None:
            new = plan_instance(trigger, source, es_name, inst, world)
            if new.error and old is not None and kept(old) and old.name == new.name:
                _keep(old, new)  # a failing instance keeps its last good objects
            yield
        plan.instances[inst_key] = new
        plan.by_object[key] = inst_key
        plan.by_name.setdefault(new.name, set()).add(inst_key)
        names.add(new.name)
        errors_changed = errors_changed or bool(new.error)
    for name in names:
        before[name] = plan.profiles.get(name)
    collisions = dict(plan.collisions)
    after: Touched = dict(settle(plan, names))
    if errors_changed or plan.collisions != collisions:
        refresh_errors(plan)
    plan.version = matches.version
    old_shown = {n: p if p is not None and shown(p) else None for n, p in before.items()}
    new_shown = {n: p if p is not None and shown(p) else None for n, p in after.items()}
    return old_shown, new_shown


def _unclaim(plan: PairPlan, name: str, key: InstanceKey) -> None:
    claims = plan.by_name.get(name)
    if claims is not None:
        claims.discard(key)


def kept(profile: ProfilePlan) -> bool:
    """Whether a profile deploys anything a failing re-instantiation must keep."""
    return bool(profile.objects or profile.local_objects or profile.charts)


def _keep(old: ProfilePlan, new: ProfilePlan) -> None:
    new.objects, new.local_objects, new.charts = old.objects, old.local_objects, old.charts
    new.destinations = new.destinations or old.destinations
    new.cluster_profile = new.cluster_profile or old.cluster_profile
    new.instantiated = new.instantiated or old.instantiated
