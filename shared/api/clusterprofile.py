"""ClusterProfile (``config.projectsveltos.io``): the part the manager writes.

Also the label keys event-manager puts on generated ClusterProfiles, ConfigMaps and Secrets
(sveltos-semantics §4.4): :data:`LABELS` for EventTrigger (v1beta1), :data:`V1ALPHA1_LABELS`
for EventBasedAddOn, both :class:`TriggerLabels`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from shared.api.addons import (
    HelmChart,
    KustomizationRef,
    PolicyRef,
    ProfileFields,
    TemplateResourceRef,
)
from shared.api.meta import ObjectReference, TypedObject
from shared.api.selectors import LabelSelector

GROUP = "config.projectsveltos.io"
V1ALPHA1 = f"{GROUP}/v1alpha1"
V1BETA1 = f"{GROUP}/v1beta1"
CLUSTER_PROFILE_KIND = "ClusterProfile"

LABEL_PREFIX = "eventtrigger.lib.projectsveltos.io/"
V1ALPHA1_LABEL_PREFIX = "eventbasedaddon.lib.projectsveltos.io/"

#: tenant labels copied from the EventTrigger onto everything it generates
SERVICE_ACCOUNT_NAME_LABEL = "projectsveltos.io/serviceaccount-name"
SERVICE_ACCOUNT_NAMESPACE_LABEL = "projectsveltos.io/serviceaccount-namespace"


@dataclass(frozen=True)
class TriggerLabels:
    """Label keys on generated objects, for one prefix."""

    prefix: str
    trigger_name_suffix: str = "eventtriggername"

    @property
    def trigger_name(self) -> str:
        return self.prefix + self.trigger_name_suffix

    @property
    def cluster_namespace(self) -> str:
        return self.prefix + "clusterNamespace"

    @property
    def cluster_name(self) -> str:
        return self.prefix + "clustername"

    @property
    def cluster_type(self) -> str:
        """Value ``Capi``/``Sveltos``."""
        return self.prefix + "clustertype"

    @property
    def event_report_name(self) -> str:
        """Value: the EventSource name (the key name is historical)."""
        return self.prefix + "eventreportname"

    @property
    def event_source_name(self) -> str:
        return self.prefix + "eventsourcename"

    @property
    def resource_name(self) -> str:
        return self.prefix + "resourcename"

    @property
    def resource_namespace(self) -> str:
        """Only set when the matched object is namespaced."""
        return self.prefix + "resourcenamespace"

    @property
    def ce_source(self) -> str:
        """CloudEvent source with ``/`` replaced by ``-``."""
        return self.prefix + "cesource"

    @property
    def ce_subject(self) -> str:
        return self.prefix + "cesubject"

    @property
    def ref_namespace(self) -> str:
        return self.prefix + "refnamespace"

    @property
    def ref_name(self) -> str:
        return self.prefix + "refname"

    @property
    def from_generator(self) -> str:
        """Value ``ok`` on generator outputs."""
        return self.prefix + "fromgenerator"

    def identity(
        self,
        *,
        trigger: str,
        cluster_namespace: str,
        cluster_name: str,
        cluster_type: str,
        resource_name: str = "",
        resource_namespace: str = "",
    ) -> dict[str, str]:
        """The identifying labels of a generated profile (resource ones for oneForEvent)."""
        from shared.api.cluster import ClusterType

        labels = {
            self.trigger_name: trigger,
            self.cluster_namespace: cluster_namespace,
            self.cluster_name: cluster_name,
            self.cluster_type: ClusterType.title(cluster_type),
        }
        if resource_name:
            labels[self.resource_name] = resource_name
        if resource_namespace:
            labels[self.resource_namespace] = resource_namespace
        return labels


LABELS = TriggerLabels(LABEL_PREFIX)
V1ALPHA1_LABELS = TriggerLabels(V1ALPHA1_LABEL_PREFIX, "eventbasedaddonname")

# the EventTrigger keys as plain constants
EVENT_TRIGGER_NAME_LABEL = LABELS.trigger_name
CLUSTER_NAMESPACE_LABEL = LABELS.cluster_namespace
CLUSTER_NAME_LABEL = LABELS.cluster_name
CLUSTER_TYPE_LABEL = LABELS.cluster_type
EVENT_REPORT_NAME_LABEL = LABELS.event_report_name
EVENT_SOURCE_NAME_LABEL = LABELS.event_source_name
RESOURCE_NAME_LABEL = LABELS.resource_name
RESOURCE_NAMESPACE_LABEL = LABELS.resource_namespace
CE_SOURCE_LABEL = LABELS.ce_source
CE_SUBJECT_LABEL = LABELS.ce_subject
REF_NAMESPACE_LABEL = LABELS.ref_namespace
REF_NAME_LABEL = LABELS.ref_name
FROM_GENERATOR_LABEL = LABELS.from_generator


def labels_for(api_version: str) -> TriggerLabels:
    """The label keys used by a trigger of this apiVersion (v1alpha1: EventBasedAddOn)."""
    return V1ALPHA1_LABELS if api_version.endswith("/v1alpha1") else LABELS


class ClusterProfileSpec(ProfileFields):
    """The modelled ClusterProfile fields; any other field is kept as given."""

    model_config = ConfigDict(extra="allow")

    cluster_refs: list[ObjectReference] = Field(default_factory=list, alias="clusterRefs")
    cluster_selector: LabelSelector | None = Field(default=None, alias="clusterSelector")
    set_refs: list[str] = Field(default_factory=list, alias="setRefs")
    policy_refs: list[PolicyRef] = Field(default_factory=list, alias="policyRefs")
    helm_charts: list[HelmChart] = Field(default_factory=list, alias="helmCharts")
    kustomization_refs: list[KustomizationRef] = Field(
        default_factory=list, alias="kustomizationRefs"
    )
    template_resource_refs: list[TemplateResourceRef] = Field(
        default_factory=list, alias="templateResourceRefs"
    )


class ClusterProfile(TypedObject):
    """A ClusterProfile (cluster-scoped)."""

    API_VERSIONS: ClassVar[tuple[str, ...]] = (V1ALPHA1, V1BETA1)
    KIND: ClassVar[str] = CLUSTER_PROFILE_KIND

    api_version: str = Field(default=V1BETA1, alias="apiVersion")
    kind: str = CLUSTER_PROFILE_KIND
    spec: ClusterProfileSpec = Field(default_factory=ClusterProfileSpec)
    status: dict[str, Any] | None = None
