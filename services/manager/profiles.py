"""What one generated profile deploys and how its ClusterProfile reads (pure).

:func:`deployed_objects` turns the manifests of a profile (policyRefs' and
kustomizationRefs', each with the reference it came from) into the objects the desired state
carries, in the order of Sveltos' deployer (libsveltos ``GetResource`` then ``AddMetadata``):

1. the profile's ``patches`` applied to the policyRefs' objects (:mod:`.patching`);
2. the hash (``projectsveltos.io/hash``) of the object as it is then;
3. Sveltos' own metadata: label ``projectsveltos.io/reason`` (``Resources``/``Kustomize``),
   reference-kind/name/namespace (labels, as BRIEF shows, and annotations),
   ``reference-tier`` (the entry's tier), ``owner-tier`` (the profile's ``tier``),
   owner-kind/name;
4. ``extraLabels`` and ``extraAnnotations``, which override what the object has (Sveltos'
   own keys excepted: they are refused with a clear error, since overriding them would
   break the ownership and drift checks).

:func:`cluster_profile` builds the generated ClusterProfile. Both take the trigger through
:class:`ProfileTrigger` (the parts of :class:`~services.manager.planning.TriggerView` they
read), so planning imports this module and not the other way round.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from services.manager import patching
from services.manager.errors import InstantiationError
from services.manager.model import DeployedObject, ProfilePlan, Reference
from shared.api.selectors import LabelSelector
from shared.api.vocabulary import (
    CLUSTER_PROFILE,
    HASH_ANNOTATION,
    OWNER_KIND_ANNOTATION,
    OWNER_NAME_ANNOTATION,
    REASON_LABEL,
    REFERENCE_KIND_KEY,
    REFERENCE_NAME_KEY,
    REFERENCE_NAMESPACE_KEY,
    SVELTOS_DOMAIN,
)
from shared.hashing import policy_hash

#: label and annotation keys of a deployed object's reference (kind, name, namespace)
REFERENCE_KEYS = (REFERENCE_KIND_KEY, REFERENCE_NAME_KEY, REFERENCE_NAMESPACE_KEY)
#: libsveltos deployer's ReferenceTierAnnotation and OwnerTier annotations
REFERENCE_TIER_ANNOTATION = f"{SVELTOS_DOMAIN}/reference-tier"
OWNER_TIER_ANNOTATION = f"{SVELTOS_DOMAIN}/owner-tier"
#: Sveltos' default tier of a ClusterProfile and of a policyRef/kustomizationRef
DEFAULT_TIER = 100
#: the keys Sveltos sets on a deployed object, which extraLabels/extraAnnotations may not set
RESERVED_KEYS = frozenset(
    {
        *REFERENCE_KEYS,
        REASON_LABEL,
        HASH_ANNOTATION,
        OWNER_KIND_ANNOTATION,
        OWNER_NAME_ANNOTATION,
        REFERENCE_TIER_ANNOTATION,
        OWNER_TIER_ANNOTATION,
    }
)
#: fields of the trigger copied into the ClusterProfile that Sveltos' event-manager drops
#: (``patchesFrom``: its copy into a nil slice copies nothing)
DROPPED_FIELDS = ("patchesFrom",)


@dataclasses.dataclass(frozen=True)
class Origin(Reference):
    """A :class:`~services.manager.model.Reference` with what Sveltos' deployer reads of the
    entry an object came from: its tier (reference-tier), the feature (reason label), its
    deploymentType and skipNamespaceCreation; and, for kustomizationRefs, every entry of the
    profile as instantiated (what the ClusterProfile shows)."""

    tier: int = DEFAULT_TIER
    reason: str = "Resources"
    deployment_type: str = "Remote"
    skip_namespace_creation: bool = False
    entries: tuple[Mapping[str, Any], ...] = dataclasses.field(
        default=(), compare=False, hash=False, repr=False
    )


class ProfileTrigger(Protocol):
    """What this module reads of a trigger (a :class:`~services.manager.planning.TriggerView`)."""

    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def copied_spec(self) -> Mapping[str, Any]: ...
    @property
    def destination_selector(self) -> LabelSelector | None: ...
    @property
    def sync_mode(self) -> str: ...
    @property
    def stop_matching_behavior(self) -> str: ...
    @property
    def spec(self) -> Mapping[str, Any]: ...


def decorate(
    manifest: dict[str, Any],
    reference: Reference,
    profile: str,
    *,
    owner_tier: int = DEFAULT_TIER,
    extra_labels: Mapping[str, str] | None = None,
    extra_annotations: Mapping[str, str] | None = None,
) -> DeployedObject:
    """Add the hash, Sveltos' reference/owner metadata, then the extra labels and
    annotations to one (patched) manifest."""
    digest = policy_hash(manifest)
    meta = dict(manifest.get("metadata") or {})
    labels = dict(meta.get("labels") or {})
    annotations = dict(meta.get("annotations") or {})
    values = (reference.kind, reference.name, reference.namespace)
    for key, value in zip(REFERENCE_KEYS, values, strict=True):
        labels[key] = value
        annotations[key] = value
    annotations[REFERENCE_TIER_ANNOTATION] = str(getattr(reference, "tier", DEFAULT_TIER))
    annotations[HASH_ANNOTATION] = digest
    annotations[OWNER_TIER_ANNOTATION] = str(owner_tier)
    annotations[OWNER_KIND_ANNOTATION] = CLUSTER_PROFILE.kind
    annotations[OWNER_NAME_ANNOTATION] = profile
    labels[REASON_LABEL] = str(getattr(reference, "reason", "Resources"))
    labels.update(extra_labels or {})
    annotations.update(extra_annotations or {})
    meta["labels"], meta["annotations"] = labels, annotations
    return DeployedObject({**manifest, "metadata": meta}, digest, reference)


def deployed_objects(
    trigger: ProfileTrigger,
    sources: Sequence[tuple[dict[str, Any], Reference]],
    profile: str,
    render: Callable[[str, str], str] | None = None,
) -> list[DeployedObject]:
    """The objects one profile deploys: each manifest of its policyRefs (patched) and of its
    kustomizationRefs, decorated. ``render(text, where)`` renders a template as Sveltos'
    addon-controller does (``.Cluster``: the destination, ``.MgmtResources``): ``patches``
    are such templates."""
    owner = f"{trigger.kind}/{trigger.name}"
    fields = trigger.copied_spec
    extra_labels = _extra(fields.get("extraLabels"), f"{owner} spec.extraLabels")
    extra_annotations = _extra(fields.get("extraAnnotations"), f"{owner} spec.extraAnnotations")
    owner_tier = int(fields.get("tier") or DEFAULT_TIER)
    manifests: list[dict[str, Any] | None] = [m for m, _ in sources]
    patches = patching.checked(fields.get("patches") or (), owner)
    if patches:
        patches = [
            _rendered(p, render, f"{owner} spec.patches[{i}]") for i, p in enumerate(patches)
        ]
        patched = [i for i, (_, r) in enumerate(sources) if _reason(r) == "Resources"]
        results = patching.apply([sources[i][0] for i in patched], patches, owner)
        for index, result in zip(patched, results, strict=True):
            manifests[index] = result
    return [
        decorate(
            manifest,
            reference,
            profile,
            owner_tier=owner_tier,
            extra_labels=extra_labels,
            extra_annotations=extra_annotations,
        )
        for manifest, (_, reference) in zip(manifests, sources, strict=True)
        if manifest is not None
    ]


def _reason(reference: Reference) -> str:
    return str(getattr(reference, "reason", "Resources"))


def _extra(value: Any, where: str) -> dict[str, str]:
    """extraLabels/extraAnnotations, checked: Sveltos' own keys may not be overridden."""
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise InstantiationError(f"{where}: a map of strings is expected")
    reserved = sorted(k for k in value if k in RESERVED_KEYS)
    if reserved:
        raise InstantiationError(
            f"{where}: {', '.join(reserved)} is set by Sveltos on every deployed object "
            "(ownership, drift and conflict checks read it) and may not be overridden"
        )
    return {str(k): str(v) for k, v in value.items()}


def _rendered(
    patch: dict[str, Any], render: Callable[[str, str], str] | None, where: str
) -> dict[str, Any]:
    """A patch whose text is a template, rendered as addon-controller renders it."""
    text = str(patch["patch"])
    if "{{" not in text:
        return patch
    if render is None:
        raise InstantiationError(
            f"{where}.patch is a template, and templates in patches are rendered with the "
            "destination cluster's data, which this plan was not given"
        )
    return {**patch, "patch": render(text, f"{where}.patch")}


def cluster_profile(
    trigger: ProfileTrigger, plan: ProfilePlan, policy_refs: list[dict[str, str]]
) -> dict[str, Any]:
    """The generated ClusterProfile of ``plan``: the trigger's copied fields (as Sveltos'
    event-manager copies them: ``patchesFrom`` dropped), the destinations, policyRefs,
    helmCharts and kustomizationRefs as instantiated."""
    spec: dict[str, Any] = {
        k: v
        for k, v in trigger.copied_spec.items()
        if v not in (None, "") and k not in DROPPED_FIELDS
    }
    if trigger.destination_selector is not None and not trigger.destination_selector.is_empty():
        spec["clusterSelector"] = trigger.destination_selector.to_dict()
    else:
        spec["clusterRefs"] = [d.object_key().reference() for d in plan.destinations]
    spec["policyRefs"] = [{"deploymentType": "Remote", **r} for r in policy_refs]
    if plan.charts:
        spec["helmCharts"] = [c.chart for c in plan.charts]
    kustomizations = kustomization_refs(trigger, plan)
    if kustomizations:
        spec["kustomizationRefs"] = kustomizations
    spec["syncMode"] = trigger.sync_mode
    spec["stopMatchingBehavior"] = trigger.stop_matching_behavior
    return {
        "apiVersion": CLUSTER_PROFILE.api_version,
        "kind": CLUSTER_PROFILE.kind,
        "metadata": {"name": plan.name, "labels": dict(plan.labels)},
        "spec": spec,
    }


def kustomization_refs(trigger: ProfileTrigger, plan: ProfilePlan) -> list[dict[str, Any]]:
    """The kustomizationRefs as instantiated for this profile (carried by the references of
    the objects they built); the trigger's entries as given when none built an object."""
    for obj in plan.objects:
        entries = getattr(obj.reference, "entries", ())
        if entries:
            return [dict(e) for e in entries]
    given = trigger.spec.get("kustomizationRefs") or []
    return [
        {"deploymentType": "Remote", **{k: v for k, v in e.items() if v not in (None, "", [], {})}}
        for e in given
        if isinstance(e, Mapping)
    ]
