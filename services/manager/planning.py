"""What to deploy, given definitions and reports: the manager's pure decision code.

No I/O here. The adapters build :class:`TriggerView`, :class:`World` and the reports from the
cluster and NATS, and turn the :class:`~services.manager.model.PairPlan` into desired state.

Rules (Sveltos' own unless BRIEF section 4 says otherwise):
- an empty ``sourceClusterSelector`` matches no cluster;
- ``oneForEvent: true``: one ClusterProfile per matching resource (collected copies when
  ``collectResources``, else the references) and per CloudEvent; ``false``: one per
  (trigger, source cluster), none while nothing matches;
- destinations: ``destinationCluster`` (each field a template), else every registered cluster
  matching ``destinationClusterSelector``, else the source cluster;
- names are derived from the identifying labels (deterministic), or ``profileNameFormat``;
- policyRefs are rendered here, helmCharts in :mod:`services.manager.charts`.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.manager import charts, kustomizing, naming, profiles, rendering
from services.manager.errors import InstantiationError
from services.manager.model import (
    ClusterInfo,
    ClusterKey,
    Fingerprint,
    PairPlan,
    ProfilePlan,
    Reference,
    Report,
)
from shared.api.selectors import LabelSelector
from shared.api.vocabulary import (
    CAPI,
    CAPI_CLUSTER,
    INSTANTIATE_ANNOTATION,
    SVELTOS,
    TENANT_LABELS,
    ObjectKey,
)
from shared.hashing import go_json


@dataclass(frozen=True)
class PolicyRefView:
    kind: str
    namespace: str
    name: str
    optional: bool = False


@dataclass(frozen=True)
class TriggerView:
    """The parts of an EventTrigger / EventBasedAddOn that planning needs."""

    kind: str  # EventTrigger | EventBasedAddOn
    name: str
    source_selector: LabelSelector
    event_source_name: str
    one_for_event: bool = False
    policy_refs: tuple[PolicyRefView, ...] = ()
    helm_charts: tuple[Mapping[str, Any], ...] = ()  # Sveltos' entries, camelCase (templates)
    destination_selector: LabelSelector | None = None
    destination_cluster: Mapping[str, str] | None = None
    profile_name_format: str = ""
    stop_matching_behavior: str = "WithdrawPolicies"
    sync_mode: str = "Continuous"
    instantiate_all: bool = False  # EventBasedAddOn (v1alpha1) instantiates every reference
    cloud_event_action: str = ""  # Create (default) | Delete | a template over .CloudEvent
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)  # the withdrawal guard's
    copied_spec: Mapping[str, Any] = field(default_factory=dict)
    not_deployed: tuple[str, ...] = ()  # accepted fields Ripple does not deploy (status)
    # the whole validated spec (camelCase, defaults included), for the fields that only one
    # part of planning reads (kustomizationRefs, templateResourceRefs, generators, patches...)
    spec: Mapping[str, Any] = field(default_factory=dict)

    def reads(self, kind: str, name: str) -> bool:
        """Whether a referenced ConfigMap/Secret ``kind``/``name`` may be an input."""
        if any(r.kind == kind and (r.name == name or "{{" in r.name) for r in self.policy_refs):
            return True
        return charts.referenced(self.helm_charts, kind, name)

    def instantiates(self, ref_obj: Mapping[str, Any]) -> bool:
        if self.instantiate_all:
            return True
        annotations = (ref_obj.get("metadata") or {}).get("annotations") or {}
        return INSTANTIATE_ANNOTATION in annotations


@dataclass(frozen=True)
class World:
    clusters: Mapping[ClusterKey, ClusterInfo]
    refs: Mapping[tuple[str, str, str], Mapping[str, Any]]  # (kind, namespace, name)


def _render(text: str, data: Mapping[str, Any], where: str) -> str:
    if "{{" not in text:
        return text
    return rendering.render_text(text, data, flavour="go", name=where).strip()


# -- clusters and event sources -----------------------------------------------------------------
def source_clusters(
    trigger: TriggerView, clusters: Mapping[ClusterKey, ClusterInfo]
) -> list[ClusterKey]:
    """Registered clusters selected by ``sourceClusterSelector`` (empty selects none)."""
    if trigger.source_selector.is_empty():
        return []
    return sorted(k for k, c in clusters.items() if trigger.source_selector.matches(c.labels))


def event_source_for_cluster(trigger: TriggerView, cluster: ClusterInfo) -> str:
    """``eventSourceName`` rendered for a cluster (.Cluster, .ClusterNamespace, .ClusterName)."""
    data = {
        "Cluster": cluster.obj,
        "ClusterNamespace": cluster.key.namespace,
        "ClusterName": cluster.key.name,
    }
    return _render(
        trigger.event_source_name, data, f"{trigger.kind}/{trigger.name} eventSourceName"
    )


# -- instances ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Instance:
    data: dict[str, Any]
    resource: dict[str, str] | None = None
    cloud_event: dict[str, str] | None = None
    version: object = None  # what identifies a whole-set instance's data, when known


def _ref_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return ObjectKey.of(obj).reference()


def instances(trigger: TriggerView, cluster: ClusterInfo, report: Report) -> list[Instance]:
    data: dict[str, Any]  # the template data of one instance
    if trigger.one_for_event:
        out: list[Instance] = []
        if report.resources:
            for obj in report.resources:
                ref = _ref_of(obj)
                data = {"MatchingResource": ref, "Resource": obj, "Cluster": cluster.obj}
                out.append(Instance(data, resource=ref))
        else:
            for ref in report.matching:
                data = {"MatchingResource": dict(ref), "Resource": None, "Cluster": cluster.obj}
                out.append(Instance(data, resource=dict(ref)))
        for ce in report.cloud_events:
            data = {"CloudEvent": ce, "Cluster": cluster.obj}
            if cloud_event_action(trigger, data) == "Delete":
                continue  # the newest event of this source/subject withdraws its add-on
            ident = {"source": str(ce.get("source", "")), "subject": str(ce.get("subject", ""))}
            out.append(Instance(data, cloud_event=ident))
        return out
    if not report.matching and not report.cloud_events and not report.resources:
        return []
    matching = report.matching_values
    data = {
        "MatchingResources": matching
        if matching is not None
        else [dict(r) for r in report.matching],
        "Resources": list(report.resources),
        "CloudEvents": list(report.cloud_events),
        "Cluster": cluster.obj,
    }
    return [Instance(data, version=report.version)]


def cloud_event_action(trigger: TriggerView, data: Mapping[str, Any]) -> str:
    """``cloudEventAction`` rendered over the event: Create (default) or Delete; a template
    that fails or renders anything else means Create (logged in the trigger's status)."""
    action = trigger.cloud_event_action or "Create"
    if "{{" in action:
        try:
            action = _render(action, data, f"{trigger.kind}/{trigger.name} cloudEventAction")
        except InstantiationError:
            return "Create"
    return "Delete" if action == "Delete" else "Create"


# -- destinations ---------------------------------------------------------------------------
def destinations(
    trigger: TriggerView, source: ClusterInfo, data: Mapping[str, Any], world: World
) -> list[ClusterKey]:
    where = f"{trigger.kind}/{trigger.name} destinationCluster"
    if trigger.destination_cluster:
        dc = trigger.destination_cluster
        ns = _render(dc.get("namespace", ""), data, where + ".namespace") or source.key.namespace
        name = _render(dc.get("name", ""), data, where + ".name")
        kind = _render(dc.get("kind", ""), data, where + ".kind")
        ctype = CAPI if kind == CAPI_CLUSTER.kind else SVELTOS
        return [ClusterKey(ns, name, ctype)]
    if trigger.destination_selector is not None and not trigger.destination_selector.is_empty():
        sel = trigger.destination_selector
        return sorted(k for k, c in world.clusters.items() if sel.matches(c.labels))
    return [source.key]


# -- one instance -> one profile -------------------------------------------------------------
def plan_instance(
    trigger: TriggerView, source: ClusterInfo, es_name: str, inst: Instance, world: World
) -> ProfilePlan:
    labels = naming.profile_labels(
        trigger.kind, trigger.name, source.key, es_name, inst.resource, inst.cloud_event
    )
    labels.update({k: v for k, v in trigger.labels.items() if k in TENANT_LABELS})
    name = naming.profile_name(labels)
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
    )
    try:
        if trigger.profile_name_format:
            where = f"{trigger.kind}/{trigger.name} profileNameFormat"
            plan.name = name = _render(trigger.profile_name_format, inst.data, where)
        plan.destinations = destinations(trigger, source, inst.data, world)
        policy_refs: list[dict[str, str]] = []
        sources: list[tuple[dict[str, Any], Reference]] = []
        for index, ref in enumerate(trigger.policy_refs):
            where = f"{trigger.kind}/{trigger.name} policyRefs[{index}]"
            ns = _render(ref.namespace, inst.data, where + ".namespace") or source.key.namespace
            ref_name = _render(ref.name, inst.data, where + ".name")
            ref_obj = world.refs.get((ref.kind, ns, ref_name))
            if ref_obj is None:
                if ref.optional:
                    continue
                raise InstantiationError(f"{where}: {ref.kind} {ns}/{ref_name} not found")
            render = trigger.instantiates(ref_obj)
            manifests, rendered = rendering.instantiate(
                ref_obj, inst.data, render=render, owner=f"{trigger.kind}/{trigger.name}"
            )
            if render:
                keys = naming.labels_of(trigger.kind)
                copy_labels = {**labels, keys.ref_namespace: ns, keys.ref_name: ref_name}
                copy_name = naming.instantiated_name(labels, ref.kind, ns, ref_name)
                plan.instantiated.append(
                    rendering.generated_copy(ref_obj, copy_name, copy_labels, rendered)
                )
                reference = Reference(ref.kind, naming.GENERATED_NAMESPACE, copy_name)
            else:
                reference = Reference(ref.kind, ns, ref_name)
            policy_refs.append(
                {"kind": reference.kind, "namespace": reference.namespace, "name": reference.name}
            )
            sources.extend((m, reference) for m in manifests)
        if trigger.helm_charts:
            ctx = charts.Context(
                owner=f"{trigger.kind}/{trigger.name}",
                data=inst.data,
                source_namespace=source.key.namespace,
                refs=world.refs,
                instantiates=trigger.instantiates,
                labels=labels,
                trigger_kind=trigger.kind,
            )
            planned = charts.plan_charts(trigger.helm_charts, ctx)
            plan.charts = planned.deployed
            plan.instantiated = charts.merge_copies(plan.instantiated, planned.instantiated)
        owner = f"{trigger.kind}/{trigger.name}"
        sources += kustomizing.kustomization_sources(
            trigger.spec, owner, source, inst.data, world.refs
        )
        plan.objects = profiles.deployed_objects(trigger, sources, name)
        plan.cluster_profile = profiles.cluster_profile(trigger, plan, policy_refs)
    except InstantiationError as exc:
        plan.error = str(exc)
        plan.objects = []
        plan.charts = []
    return plan


# -- one (trigger, source cluster) ------------------------------------------------------------
def fingerprint(inst: Instance) -> Fingerprint:
    """What identifies an instance's input: a collected object by its resourceVersion, a
    reference by itself, a CloudEvent by its id (anything else: its whole data)."""
    if inst.cloud_event is not None:
        ce = inst.data.get("CloudEvent") or {}
        return ("ce", ce.get("source"), ce.get("subject"), ce.get("id"), ce.get("type"))
    resource = inst.data.get("Resource")
    if isinstance(resource, Mapping):
        meta = resource.get("metadata") or {}
        if meta.get("resourceVersion"):
            key = (resource.get("apiVersion"), resource.get("kind"), meta.get("namespace"))
            return ("obj", *key, meta.get("name"), meta.get("resourceVersion"))
    if inst.resource is not None and "Resource" in inst.data and inst.data["Resource"] is None:
        return ("ref", tuple(sorted(inst.resource.items())))
    if inst.version is not None:  # a whole matching set at a known version (and its cluster)
        return ("set", inst.version, id(inst.data.get("Cluster")))
    return ("data", go_json(inst.data))


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
        if inst.resource is not None:
            pair.by_object[ObjectKey.from_reference(inst.resource)] = key
        if plan.error:
            pair.errors.append(plan.error)
        pair.profiles[plan.name] = plan
    return pair
