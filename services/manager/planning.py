"""What to deploy, given definitions and reports: the manager's pure decision code.

No I/O here. The adapters build :class:`TriggerView`, :class:`World` and the reports from the
cluster and NATS, and turn the :class:`~services.manager.model.PairPlan` into desired state.

Rules (Sveltos' own unless BRIEF section 4 says otherwise; docs/rendering.md):
- instances (:mod:`services.manager.instances`): ``oneForEvent: true``: one ClusterProfile
  per matching resource and per CloudEvent; ``false``: one per (trigger, source cluster);
- destinations (:mod:`services.manager.destinations`);
- names are derived from the identifying labels (deterministic), or ``profileNameFormat``;
  two instances of a pair rendering one name is an error naming both, and the instance
  whose event sorts first keeps the name (:func:`settle`);
- per instance, in Sveltos' order: generator outputs (:mod:`services.manager.generators`),
  templateResourceRefs (:mod:`services.manager.resourcerefs`), policyRefs (rendered here;
  ``deploymentType: Local`` ones go to the management cluster), helmCharts
  (:mod:`services.manager.charts`), kustomizationRefs (:mod:`services.manager.kustomizing`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any

from services.manager import (
    charts,
    generators,
    kustomizing,
    naming,
    profiles,
    rendering,
    resourcerefs,
)
from services.manager.destinations import (
    destinations,
    event_source_for_cluster,
    render,
    source_clusters,
)
from services.manager.errors import InstantiationError
from services.manager.instances import (
    Instance,
    cloud_event_action,
    describe,
    fingerprint,
    instances,
    rank,
)
from services.manager.model import (
    ClusterInfo,
    DeployedObject,
    PairPlan,
    ProfilePlan,
    Reference,
    Report,
)
from services.manager.views import PolicyRefView, TriggerView, World
from shared.api.vocabulary import TENANT_LABELS, ObjectKey

__all__ = [
    "Instance",
    "PolicyRefView",
    "TriggerView",
    "World",
    "cloud_event_action",
    "destinations",
    "event_source_for_cluster",
    "fingerprint",
    "instances",
    "plan_instance",
    "plan_pair",
    "plan_pair_steps",
    "refresh_errors",
    "settle",
    "source_clusters",
]

#: what the management cluster setting is called, for errors
MANAGEMENT_SETTING = "--management-cluster NAMESPACE/NAME (RIPPLE_MANAGEMENT_CLUSTER)"

Refs = Mapping[tuple[str, str, str], Mapping[str, Any]]


# -- one instance -> one profile -------------------------------------------------------------
def plan_instance(
    trigger: TriggerView, source: ClusterInfo, es_name: str, inst: Instance, world: World
) -> ProfilePlan:
    labels = naming.profile_labels(
        trigger.kind, trigger.name, source.key, es_name, inst.resource, inst.cloud_event
    )
    labels.update({k: v for k, v in trigger.labels.items() if k in TENANT_LABELS})
    name = naming.profile_name(labels)
    copied = trigger.copied_spec
    plan = ProfilePlan(
        name=name,
        trigger=trigger.name,
        source=source.key,
        labels=labels,
        destinations=[],
        objects=[],
        cluster_profile={},
        instantiated=[],
        sync_mode=trigger.sync_mode,
        stop_matching_behavior=trigger.stop_matching_behavior,
        management=world.management,
        tier=int(copied.get("tier") or 100),
        continue_on_conflict=bool(copied.get("continueOnConflict")),
        subject=describe(inst),
        rank=rank(inst),
    )
    owner = f"{trigger.kind}/{trigger.name}"
    try:
        if trigger.profile_name_format:
            where = f"{owner} profileNameFormat"
            plan.name = name = render(trigger.profile_name_format, inst.data, where)
            if not name:
                raise InstantiationError(f"{where} renders an empty name")
        plan.destinations = destinations(trigger, source, inst.data, world)
        generated = generators.generate(
            trigger.spec,
            owner,
            trigger.kind,
            inst.data,
            source.key.namespace,
            world.refs,
            generators.labels(
                trigger.kind, trigger.name, trigger.labels, source.key, es_name, inst.cloud_event
            ),
        )
        plan.instantiated.extend(generated)
        # this instance's generator outputs first: policyRefs and templateResourceRefs may
        # name them (in the generated namespace) before the management cluster has them
        refs: Refs = generators.Overlay(generated, world.refs) if generated else world.refs
        resources, shown_refs = resourcerefs.resolve(
            trigger.spec, owner, inst.data, source.key.namespace, refs
        )
        addon = _addon_pass(plan, world, resources)
        policy_refs, sources, local_sources, skip = _policy_refs(
            trigger, source, inst, refs, plan, labels, addon
        )
        if trigger.helm_charts:
            ctx = charts.Context(
                owner=owner,
                data=inst.data,
                source_namespace=source.key.namespace,
                refs=refs,
                instantiates=trigger.instantiates,
                labels=labels,
                trigger_kind=trigger.kind,
            )
            planned = charts.plan_charts(trigger.helm_charts, ctx)
            plan.charts = planned.deployed
            plan.instantiated = charts.merge_copies(plan.instantiated, planned.instantiated)
        for manifest, ref in kustomizing.kustomization_sources(
            trigger.spec, owner, source, inst.data, refs
        ):
            if getattr(ref, "skip_namespace_creation", False):
                skip.add(ref)
            if getattr(ref, "deployment_type", "Remote") == "Local":
                _need_management(plan, f"{owner} kustomizationRefs")
                local_sources.append((manifest, ref))
            else:
                sources.append((manifest, ref))
        plan.objects = _skip_flags(profiles.deployed_objects(trigger, sources, name, addon), skip)
        plan.local_objects = _skip_flags(
            profiles.deployed_objects(trigger, local_sources, name, addon), skip
        )
        plan.local_objects += _generated_secrets(plan)
        plan.cluster_profile = profiles.cluster_profile(trigger, plan, policy_refs)
        if shown_refs:
            plan.cluster_profile.setdefault("spec", {})["templateResourceRefs"] = shown_refs
    except InstantiationError as exc:
        plan.error = _with_subject(str(exc), plan.subject)
        plan.objects, plan.local_objects, plan.charts = [], [], []
    return plan


Sources = list[tuple[dict[str, Any], Reference]]  # (manifest, the reference it came from)


def _policy_refs(
    trigger: TriggerView,
    source: ClusterInfo,
    inst: Instance,
    refs: Refs,
    plan: ProfilePlan,
    labels: dict[str, str],
    addon: Callable[[str, str], str],
) -> tuple[list[dict[str, str]], Sources, Sources, set[Reference]]:
    """The policyRefs of one instance: the ClusterProfile's entries, the (manifest,
    reference) pairs deployed to the destinations and those deployed Local, and the
    references whose policyRef says ``skipNamespaceCreation``."""
    owner = f"{trigger.kind}/{trigger.name}"
    spec_refs = list(trigger.spec.get("policyRefs") or ())
    shown: list[dict[str, str]] = []
    remote: Sources = []
    local: Sources = []
    skip: set[Reference] = set()
    for index, ref in enumerate(trigger.policy_refs):
        extra = spec_refs[index] if index < len(spec_refs) else {}
        deployment = str(extra.get("deploymentType") or ref.deployment_type or "Remote")
        where = f"{owner} policyRefs[{index}]"
        if deployment == "Local":
            _need_management(plan, where)
        ns = render(ref.namespace, inst.data, where + ".namespace") or source.key.namespace
        ref_name = render(ref.name, inst.data, where + ".name")
        ref_obj = refs.get((ref.kind, ns, ref_name))
        if ref_obj is None:
            if ref.optional:
                continue
            raise InstantiationError(f"{where}: {ref.kind} {ns}/{ref_name} not found")
        instantiates = trigger.instantiates(ref_obj)
        manifests, rendered = rendering.instantiate(
            ref_obj,
            inst.data,
            render=instantiates,
            owner=owner,
            then=addon if resourcerefs.templated(ref_obj) else None,
        )
        if instantiates:
            keys = naming.labels_of(trigger.kind)
            copy_labels = {**labels, keys.ref_namespace: ns, keys.ref_name: ref_name}
            copy_name = naming.instantiated_name(labels, ref.kind, ns, ref_name)
            plan.instantiated.append(
                rendering.generated_copy(ref_obj, copy_name, copy_labels, rendered)
            )
            ref_ns, shown_name = naming.GENERATED_NAMESPACE, copy_name
        else:
            ref_ns, shown_name = ns, ref_name
        skips = bool(extra.get("skipNamespaceCreation") or ref.skip_namespace_creation)
        reference = profiles.Origin(
            ref.kind,
            ref_ns,
            shown_name,
            tier=int(extra.get("tier") or profiles.DEFAULT_TIER),
            deployment_type=deployment,
            skip_namespace_creation=skips,
        )
        entry = {"kind": reference.kind, "namespace": reference.namespace, "name": reference.name}
        if deployment == "Local":
            entry["deploymentType"] = "Local"
        shown.append(entry)
        if skips:
            skip.add(reference)
        (local if deployment == "Local" else remote).extend((m, reference) for m in manifests)
    return shown, remote, local, skip


def _need_management(plan: ProfilePlan, where: str) -> None:
    """Refuse a Local deployment while the management cluster is unknown."""
    if plan.management is None:
        raise InstantiationError(
            f"{where}: deploymentType Local deploys to the management cluster, which "
            f"Ripple does not know: set {MANAGEMENT_SETTING} to its registered cluster "
            "(nothing of this profile is deployed meanwhile, never remotely)"
        )


def _skip_flags(objects: list[DeployedObject], skip: set[Reference]) -> list[DeployedObject]:
    """The objects, those of a policyRef with ``skipNamespaceCreation`` flagged so."""
    if not skip:
        return objects
    return [
        dataclasses.replace(o, skip_namespace_creation=True) if o.reference in skip else o
        for o in objects
    ]


def _addon_pass(
    plan: ProfilePlan, world: World, resources: Mapping[str, Any]
) -> Callable[[str, str], str]:
    """The second rendering of content annotated ``projectsveltos.io/template`` (what
    Sveltos' addon-controller does): ``.Cluster`` is each destination cluster (the management
    cluster for a profile with Local objects only), ``.MgmtResources`` the instance's
    templateResourceRefs."""

    def second(text: str, where: str) -> str:
        targets = plan.destinations or ([plan.management] if plan.management else [])
        clusters = []
        for key in targets:
            info = world.clusters.get(key)
            if info is None:
                raise InstantiationError(
                    f"{where} (projectsveltos.io/template): destination {key} is not a "
                    "registered cluster (its .Cluster is unknown)"
                )
            clusters.append(info.obj)
        return resourcerefs.render_addon(text, clusters, resources, f"{where} (template)")

    return second


def _generated_secrets(plan: ProfilePlan) -> list[DeployedObject]:
    """The generated Secrets of a profile (instantiated copies, generator outputs), as
    objects of the management cluster's desired state when it is known: their data never
    travels where the reporter reads (the profiles bucket has them redacted), so the
    management cluster's own agent writes them, as Sveltos writes them there."""
    if plan.management is None:
        return []
    out = []
    for obj in plan.instantiated:
        if obj.get("kind") != "Secret":
            continue
        meta = obj["metadata"]
        reference = Reference("Secret", meta["namespace"], meta["name"])
        out.append(profiles.decorate(obj, reference, plan.name))
    return out


def _with_subject(message: str, subject: str) -> str:
    """An instantiation error naming the event it was for (once)."""
    if not subject or subject in message:
        return message
    return f"{subject}: {message}"


# -- one (trigger, source cluster) ------------------------------------------------------------
def plan_pair(
    trigger: TriggerView,
    source: ClusterInfo,
    es_name: str,
    report: Report,
    world: World,
    previous: PairPlan | None = None,
    salt: object = None,
) -> PairPlan:
    """Every profile that one trigger needs for one source cluster, given its report.

    With ``previous`` made under the same ``salt`` (the same definitions and clusters),
    instances whose input did not change are reused instead of rendered again: a report
    change costs what changed in it, not the size of the report."""
    steps = plan_pair_steps(trigger, source, es_name, report, world, previous, salt)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            plan: PairPlan = done.value
            return plan


def plan_pair_steps(
    trigger: TriggerView,
    source: ClusterInfo,
    es_name: str,
    report: Report,
    world: World,
    previous: PairPlan | None = None,
    salt: object = None,
) -> Generator[None, None, PairPlan]:
    """:func:`plan_pair` in steps: yields after each instance it renders (a caller on an
    event loop gives the loop back between them) and returns the pair's plan."""
    pair = PairPlan(trigger=trigger.name, source=source.key, salt=salt)
    reuse = (
        previous.instances
        if previous is not None and salt is not None and previous.salt == salt
        else {}
    )
    for inst in instances(trigger, source, report):
        key = (es_name, fingerprint(inst))
        plan = reuse.get(key)
        if plan is None:
            plan = plan_instance(trigger, source, es_name, inst, world)
            yield
        pair.instances[key] = plan
        pair.by_name.setdefault(plan.name, set()).add(key)
        if inst.resource is not None:
            pair.by_object[ObjectKey.from_reference(inst.resource)] = key
    settle(pair, set(pair.by_name))
    refresh_errors(pair)
    return pair


def settle(pair: PairPlan, names: Iterable[str]) -> dict[str, ProfilePlan | None]:
    """Which instance holds each of ``names`` in ``pair.profiles`` (updated in place), and
    the pair's errors: when several instances render one profile name, the one whose event
    sorts first (:func:`services.manager.instances.rank`) keeps it and the others are an
    error naming both; neither is overwritten silently. Returns the names' holders."""
    held: dict[str, ProfilePlan | None] = {}
    for name in names:
        keys = pair.by_name.get(name) or set()
        claims = sorted(
            (p for k in keys if (p := pair.instances.get(k)) is not None),
            key=lambda p: (p.rank, p.subject),
        )
        pair.collisions.pop(name, None)
        if not claims:
            pair.by_name.pop(name, None)
            pair.profiles.pop(name, None)
            held[name] = None
            continue
        winner = claims[0]
        pair.profiles[name] = winner
        held[name] = winner
        if len(claims) > 1:
            losers = ", ".join(p.subject for p in claims[1:])
            pair.collisions[name] = (
                f"profile name {name!r} is rendered for {winner.subject} and for {losers}: "
                f"{winner.subject} keeps it (its event sorts first); nothing is deployed for "
                f"{losers} (make profileNameFormat unique per event)"
            )
    return held


def refresh_errors(pair: PairPlan) -> None:
    """The pair's errors: its instances' (in order), then its name collisions."""
    pair.errors = [p.error for p in pair.instances.values() if p.error]
    pair.errors.extend(pair.collisions[n] for n in sorted(pair.collisions))
