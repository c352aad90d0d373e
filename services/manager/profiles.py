"""What one generated profile deploys and how its ClusterProfile reads (pure).

:func:`deployed_objects` turns the manifests of a profile's policyRefs (each with the
reference it came from) into the objects the desired state carries: the hash first, then
Sveltos' reference/owner metadata. :func:`cluster_profile` builds the generated
ClusterProfile. Both take the trigger through :class:`ProfileTrigger` (the parts of
:class:`~services.manager.planning.TriggerView` they read), so planning imports this module
and not the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

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
)
from shared.hashing import policy_hash

#: label and annotation keys of a deployed object's reference (kind, name, namespace)
REFERENCE_KEYS = (REFERENCE_KIND_KEY, REFERENCE_NAME_KEY, REFERENCE_NAMESPACE_KEY)


class ProfileTrigger(Protocol):
    """What this module reads of a trigger (a :class:`~services.manager.planning.TriggerView`)."""

    @property
    def copied_spec(self) -> Mapping[str, Any]: ...
    @property
    def destination_selector(self) -> LabelSelector | None: ...
    @property
    def sync_mode(self) -> str: ...
    @property
    def stop_matching_behavior(self) -> str: ...


def decorate(manifest: dict[str, Any], reference: Reference, profile: str) -> DeployedObject:
    """Add the hash and Sveltos' reference/owner metadata to one manifest."""
    digest = policy_hash(manifest)
    meta = dict(manifest.get("metadata") or {})
    labels = dict(meta.get("labels") or {})
    annotations = dict(meta.get("annotations") or {})
    values = (reference.kind, reference.name, reference.namespace)
    for key, value in zip(REFERENCE_KEYS, values, strict=True):
        labels[key] = value
        annotations[key] = value
    annotations[HASH_ANNOTATION] = digest
    annotations[OWNER_KIND_ANNOTATION] = CLUSTER_PROFILE.kind
    annotations[OWNER_NAME_ANNOTATION] = profile
    labels[REASON_LABEL] = "Resources"
    meta["labels"], meta["annotations"] = labels, annotations
    return DeployedObject({**manifest, "metadata": meta}, digest, reference)


def deployed_objects(
    trigger: ProfileTrigger,
    sources: Sequence[tuple[dict[str, Any], Reference]],
    profile: str,
) -> list[DeployedObject]:
    """The objects one profile deploys: each manifest of its policyRefs, decorated."""
    return [decorate(manifest, reference, profile) for manifest, reference in sources]


def cluster_profile(
    trigger: ProfileTrigger, plan: ProfilePlan, policy_refs: list[dict[str, str]]
) -> dict[str, Any]:
    """The generated ClusterProfile of ``plan``."""
    spec: dict[str, Any] = {k: v for k, v in trigger.copied_spec.items() if v not in (None, "")}
    if trigger.destination_selector is not None and not trigger.destination_selector.is_empty():
        spec["clusterSelector"] = trigger.destination_selector.to_dict()
    else:
        spec["clusterRefs"] = [d.object_key().reference() for d in plan.destinations]
    spec["policyRefs"] = [{"deploymentType": "Remote", **r} for r in policy_refs]
    if plan.charts:
        spec["helmCharts"] = [c.chart for c in plan.charts]
    spec["syncMode"] = trigger.sync_mode
    spec["stopMatchingBehavior"] = trigger.stop_matching_behavior
    return {
        "apiVersion": CLUSTER_PROFILE.api_version,
        "kind": CLUSTER_PROFILE.kind,
        "metadata": {"name": plan.name, "labels": dict(plan.labels)},
        "spec": spec,
    }
