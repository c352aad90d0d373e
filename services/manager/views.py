"""The planner's inputs as plain values: a trigger as planning reads it
(:class:`TriggerView`), its policyRefs (:class:`PolicyRefView`), and the management
cluster's side of the world (:class:`World`: registered clusters and the objects
definitions reference). Built by :mod:`services.manager.definitions` and the state; read
by :mod:`services.manager.planning` and its parts (pure data, no I/O).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.manager import charts, kustomizing
from services.manager.model import ClusterInfo, ClusterKey
from services.manager.resourcerefs import reads as resource_reads
from shared.api.selectors import LabelSelector
from shared.api.vocabulary import INSTANTIATE_ANNOTATION

#: management-cluster objects by (kind key, namespace, name): ConfigMaps and Secrets under
#: their kind, other kinds under :func:`services.manager.resourcerefs.kind_key`
Refs = Mapping[tuple[str, str, str], Mapping[str, Any]]


@dataclass(frozen=True)
class PolicyRefView:
    kind: str
    namespace: str
    name: str
    optional: bool = False
    deployment_type: str = "Remote"  # Remote | Local (the management cluster)
    skip_namespace_creation: bool = False
    path: str = ""


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
        """Whether a management-cluster object ``kind``/``name`` may be an input (a
        referenced ConfigMap/Secret, a generator source, a templateResourceRef)."""
        if any(r.kind == kind and (r.name == name or "{{" in r.name) for r in self.policy_refs):
            return True
        if resource_reads(self.spec, kind, name):
            return True
        if kustomizing.referenced(self.spec, kind, name):
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
    refs: Refs  # (kind key, namespace, name) -> object
    #: the registered cluster that is the management cluster itself (``--management-cluster``):
    #: where ``deploymentType: Local`` policyRefs go; None when not set
    management: ClusterKey | None = None
