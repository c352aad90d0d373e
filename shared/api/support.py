"""What Ripple does with each field a trigger (EventTrigger, EventBasedAddOn) accepts, and
each field of the ClusterProfiles it writes: the one list.

Every field the models accept is either in :data:`SUPPORTED` (it acts as in Sveltos) or in
:data:`NOT_SUPPORTED` ("accepted, not supported by Ripple", with what happens instead).
:func:`unsupported_fields` finds, in one object's ``spec`` as the user wrote it, each use of a
field of the second kind (a field left at its default is no use): ``ripple lint`` prints them
as warnings and the manager puts them in the trigger's status, so nothing is ignored in
silence. A test walks the models and fails when a field is in neither list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.api.vocabulary import EVENT_BASED_ADDON, EVENT_TRIGGER

#: the words every such warning starts with (after the field path)
ACCEPTED_NOT_SUPPORTED = "accepted, not supported by Ripple"

#: Flux source kinds a policyRef or kustomizationRef may name (never fetched by Ripple)
FLUX_SOURCES = ("GitRepository", "OCIRepository", "Bucket")

_NOT_DEPLOYED_HERE = "the ClusterProfile carries it and no Ripple agent acts on it"

#: spec fields (camelCase) that act as in Sveltos -> how (for the docs)
SUPPORTED: dict[str, str] = {
    "sourceClusterSelector": "selects the source clusters (an empty selector selects none)",
    "destinationClusterSelector": "copied into the ClusterProfile's clusterSelector",
    "destinationCluster": "each of namespace, name, kind, apiVersion rendered as a template",
    "eventSourceName": "rendered per cluster (.Cluster, .ClusterNamespace, .ClusterName)",
    "oneForEvent": "one ClusterProfile per matching resource or CloudEvent (immutable)",
    "policyRefs": "ConfigMaps and Secrets; namespace and name are templates; "
    "optional, deploymentType (Local and Remote) and skipNamespaceCreation honoured",
    "helmCharts": "string fields, values and valuesFrom rendered; installed by the agents",
    "kustomizationRefs": "from a ConfigMap or Secret (kustomize build)",
    "templateResourceRefs": "getResource in templates",
    "profileNameFormat": "the ClusterProfile's name, rendered",
    "configMapGenerator": "rendered copies named by nameFormat",
    "secretGenerator": "rendered copies named by nameFormat",
    "cloudEventAction": "Create or Delete (a template over .CloudEvent), with oneForEvent",
    "stopMatchingBehavior": "WithdrawPolicies or LeavePolicies",
    "syncMode": "OneTime, Continuous, ContinuousWithDriftDetection, DryRun",
    "tier": "which profile wins a conflict over one object",
    "continueOnConflict": "a conflict lost does not stop the rest of the profile",
    "extraLabels": "added to every deployed object",
    "extraAnnotations": "added to every deployed object",
    "patches": "strategic merge and JSON 6902 patches, with targets",
    # ClusterProfile-only fields the manager writes
    "clusterRefs": "the destination clusters",
    "clusterSelector": "the destination clusters",
}

#: spec fields (camelCase) accepted but not acted on -> what happens instead
NOT_SUPPORTED: dict[str, str] = {
    "clusterSetRefs": "the clusters of these ClusterSets/Sets are not added to the source "
    "clusters; only sourceClusterSelector selects them",
    "setRefs": "the clusters of these Sets are not added; " + _NOT_DEPLOYED_HERE,
    "continueOnError": "it changes nothing: Ripple always applies every object of a profile "
    "and shows each failure in status (what Sveltos does with continueOnError: true)",
    "reloader": "Deployments, StatefulSets and DaemonSets are not restarted when a ConfigMap "
    "or Secret they mount changes",
    "maxUpdate": "every matching cluster is updated at once",
    "maxConsecutiveFailures": "a failing profile is retried with backoff without end",
    "preDeployChecks": "nothing is checked before deploying",
    "postDeployChecks": "nothing is checked after deploying",
    "validateHealths": "deployed add-ons are not health-checked; a profile counts as "
    "provisioned once applied",
    "preDeleteChecks": "nothing is checked before removal",
    "postDeleteChecks": "nothing is checked after removal",
    "patchesFrom": "dropped, as Sveltos' event-manager drops it (its copy into the "
    "ClusterProfile copies nothing); write the patches in spec.patches",
    "driftExclusions": "drift detection compares every field; nothing is excluded",
    "dependsOn": "profiles are deployed without waiting for the ones named",
}

#: per-entry fields of policyRefs/kustomizationRefs not acted on -> what happens instead
_REF_PATH = (
    "read only with Flux sources, which Ripple does not fetch; the whole ConfigMap/Secret is used"
)
_FLUX = (
    "Flux sources are not fetched; nothing is deployed from this reference (reported as not "
    "found unless optional)"
)


@dataclass(frozen=True, slots=True)
class Unsupported:
    """One use of a field Ripple accepts and does not act on."""

    path: tuple[str | int, ...]  # from the object's root, as written: ("spec", "policyRefs", 0)
    instead: str

    @property
    def field(self) -> str:
        text = ""
        for part in self.path:
            text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + part
        return text

    def message(self) -> str:
        """``spec.dependsOn: accepted, not supported by Ripple: <what happens instead>``."""
        return f"{self.field}: {ACCEPTED_NOT_SUPPORTED}: {self.instead}"


#: the kinds whose fields are reported: a ClusterProfile is written by the manager, never
#: read from users (its own fields are listed above for completeness)
REPORTED_KINDS = (EVENT_TRIGGER.kind, EVENT_BASED_ADDON.kind)


def _used(value: Any) -> bool:
    """Whether a field is used (set to something other than nothing or false)."""
    return value is not None and value is not False and value not in ("", [], {})


def unsupported_fields(obj: Mapping[str, Any]) -> list[Unsupported]:
    """Each field of a trigger's ``spec`` that Ripple accepts and does not act on, in the
    user's spelling; [] for any other kind or a spec that is not a mapping."""
    if obj.get("kind") not in REPORTED_KINDS:
        return []
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return []
    out: list[Unsupported] = []
    for name, value in spec.items():
        if name in NOT_SUPPORTED and _used(value):
            out.append(Unsupported(("spec", str(name)), NOT_SUPPORTED[name]))
        elif name in ("policyRefs", "kustomizationRefs") and isinstance(value, list):
            out.extend(_refs(str(name), value))
    return out


def _refs(name: str, refs: list[Any]) -> list[Unsupported]:
    out: list[Unsupported] = []
    for index, ref in enumerate(refs):
        if not isinstance(ref, Mapping):
            continue
        if ref.get("kind") in FLUX_SOURCES:
            out.append(Unsupported(("spec", name, index, "kind"), f"{ref['kind']}: {_FLUX}"))
        elif name == "policyRefs" and _used(ref.get("path")):
            out.append(Unsupported(("spec", name, index, "path"), _REF_PATH))
    return out


def unsupported_messages(obj: Mapping[str, Any]) -> list[str]:
    """:func:`unsupported_fields` as status lines."""
    return [u.message() for u in unsupported_fields(obj)]
