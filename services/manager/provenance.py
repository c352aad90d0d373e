"""Why is this deployed object here: from a deployed object back to what made it (pure).

A deployed object carries the name of its profile (annotation ``projectsveltos.io/owner-name``)
and the ConfigMap/Secret it comes from (``projectsveltos.io/reference-*``). The profile's
identifying labels (sveltos-semantics §4.4) name the trigger, the EventSource, the source
cluster and the matching resource (or CloudEvent). Without those annotations (an object read
from a file, a Helm release's object), the profiles that deploy an object of the same identity
to the cluster are the answer. On the running system the profiles are the manager's; offline
they are planned from the files with the manager's code (:func:`plan_all`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.manager import naming, planning
from services.manager.explainplans import offline_report
from services.manager.explainworld import Compiler, World, describe_key, outcomes_of
from services.manager.explanations import Origin, Provenance
from services.manager.model import ClusterKey, ProfilePlan
from shared.api.vocabulary import (
    HASH_ANNOTATION,
    OWNER_NAME_ANNOTATION,
    TRIGGER_LABEL_SETS,
    ObjectKey,
)

HELM_RELEASE_NAME = "meta.helm.sh/release-name"
HELM_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


def plan_all(world: World) -> dict[str, ProfilePlan]:
    """Offline: every profile the files yield (every trigger, every cluster it selects)."""
    compiler = Compiler(world.event_sources)
    out: dict[str, ProfilePlan] = {}
    pworld = planning.World(world.clusters, world.refs)
    for trigger in world.triggers.values():
        for key in planning.source_clusters(trigger, world.clusters):
            info = world.clusters[key]
            try:
                es = planning.event_source_for_cluster(trigger, info)
            except Exception:  # an error of that trigger: shown by explain, not here
                continue
            compiled = compiler.get(es)
            if isinstance(compiled, str):
                continue
            report = offline_report(world, compiled, key, es)
            if report is None:
                continue
            out.update(planning.plan_pair(trigger, info, es, report, pworld).profiles)
    return out


def provenance(
    world: World,
    cluster: ClusterKey,
    key: ObjectKey,
    obj: Mapping[str, Any] | None,
    plans: Mapping[str, ProfilePlan],
) -> Provenance:
    """The profiles that deploy ``key`` (``obj``: the object as read, with its annotations)
    to ``cluster``, each traced back to its trigger, EventSource and matching resource."""
    meta = (obj or {}).get("metadata") or {}
    annotations = meta.get("annotations") or {}
    owner = str(annotations.get(OWNER_NAME_ANNOTATION) or "")
    names = [owner] if owner in plans else []
    if not names:
        names = sorted(n for n, p in plans.items() if _deploys(p, cluster, key, annotations))
    origins = [_origin(world, plans[n], cluster, key, annotations) for n in names]
    subject = describe_key(key)
    if origins:
        summary = "deployed by " + ", ".join(f"{o.profile} (trigger {o.trigger})" for o in origins)
        return Provenance(
            mode=_mode(world),
            cluster=str(cluster),
            subject=subject,
            verdict="found",
            summary=summary,
            origins=origins,
        )
    if owner:
        summary = f"its owner-name annotation names profile {owner!r}, which the " + (
            "manager no longer holds (withdrawn: the agent prunes what it owns)"
            if world.live
            else "files do not yield"
        )
    else:
        summary = (
            f"no profile deploys it to {cluster} (no {OWNER_NAME_ANNOTATION} annotation: "
            "not deployed by Ripple, or by a profile already withdrawn)"
        )
    return Provenance(
        mode=_mode(world),
        cluster=str(cluster),
        subject=subject,
        verdict="not found",
        summary=summary,
    )


def _mode(world: World) -> str:
    return "live" if world.live else "offline"


def _deploys(
    plan: ProfilePlan, cluster: ClusterKey, key: ObjectKey, annotations: Mapping[str, Any]
) -> bool:
    if cluster not in plan.destinations:
        return False
    if any(ObjectKey.of(o.manifest) == key for o in plan.objects):
        return True
    release = (annotations.get(HELM_RELEASE_NAMESPACE), annotations.get(HELM_RELEASE_NAME))
    return release[1] is not None and any(
        (c.chart.get("releaseNamespace"), c.chart.get("releaseName")) == release
        for c in plan.charts
    )


def _origin(
    world: World,
    plan: ProfilePlan,
    cluster: ClusterKey,
    key: ObjectKey,
    annotations: Mapping[str, Any],
) -> Origin:
    view = world.triggers.get(plan.trigger)
    keys = next(
        (k for k in TRIGGER_LABEL_SETS if plan.labels.get(k.trigger_name) == plan.trigger),
        naming.labels_of(view.kind if view else "EventTrigger"),
    )
    es = plan.labels.get(keys.event_source_name, "")
    notes: list[str] = []
    if view is None:
        notes.append(f"trigger {plan.trigger!r} is no longer defined")
    resource, labels = _resource(world, plan, es, keys.resource_namespace, keys.resource_name)
    ce = ""
    if keys.ce_source in plan.labels:
        ce = f"{plan.labels[keys.ce_source]}/{plan.labels.get(keys.ce_subject, '')}"
    planned = next((o for o in plan.objects if ObjectKey.of(o.manifest) == key), None)
    reference = ""
    hash_matches = None
    if planned is not None:
        ref = planned.reference
        reference = f"{ref.kind} {ref.namespace}/{ref.name}"
        for copy in plan.instantiated:  # an instantiated copy: name the template too
            meta = copy.get("metadata") or {}
            if (copy.get("kind"), meta.get("name")) == (ref.kind, ref.name):
                tags = meta.get("labels") or {}
                origin = f"{tags.get(keys.ref_namespace, '')}/{tags.get(keys.ref_name, '')}"
                reference += f" (instantiated from {ref.kind} {origin})"
        given = annotations.get(HASH_ANNOTATION)
        if given is not None:
            hash_matches = given == planned.hash
            if not hash_matches:
                notes.append("its hash is not the one planned now: an update is on its way")
    outcome = next(
        (o for o in outcomes_of(world, plan.name, plan.destinations) if o.cluster == str(cluster)),
        None,
    )
    return Origin(
        profile=plan.name,
        trigger=plan.trigger,
        trigger_kind=view.kind if view else "",
        event_source=es,
        source_cluster=str(plan.source),
        resource=resource,
        resource_labels=labels,
        cloud_event=ce,
        reference=reference,
        hash_matches=hash_matches,
        destinations=[str(d) for d in plan.destinations],
        outcome=outcome if world.live else None,
        notes=notes,
    )


def _resource(
    world: World, plan: ProfilePlan, es: str, ns_label: str, name_label: str
) -> tuple[str, dict[str, str]]:
    """The matching resource a oneForEvent profile was made for, with its labels when the
    set (live) or the cluster's objects (offline) hold it."""
    if name_label not in plan.labels:
        return "", {}
    ns, name = plan.labels.get(ns_label, ""), plan.labels[name_label]
    view = world.sets.get((plan.source, es))
    found: list[Mapping[str, Any]] = []
    if view is not None:
        found = [r for r in view.report.resources if _named(ObjectKey.of(r), ns, name)]
        if not found:
            refs = [
                r for r in view.report.matching if _named(ObjectKey.from_reference(r), ns, name)
            ]
            if refs:
                return describe_key(ObjectKey.from_reference(refs[0])), {}
    found = found or [
        o for o in world.objects.get(plan.source, ()) if _named(ObjectKey.of(o), ns, name)
    ]
    if not found:
        return f"{ns + '/' if ns else ''}{name} (no longer in the matching set)", {}
    obj = found[0]
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return describe_key(ObjectKey.of(obj)), {str(k): str(v) for k, v in labels.items()}


def _named(key: ObjectKey, ns: str, name: str) -> bool:
    return key.namespace == ns and key.name == name
