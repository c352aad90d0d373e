"""ClusterProfile (``config.projectsveltos.io``): the part the manager writes.

The label keys event-manager puts on generated ClusterProfiles, ConfigMaps and Secrets
(sveltos-semantics §4.4) are declared in :mod:`shared.api.vocabulary`
(``EVENT_TRIGGER_LABELS``, ``EVENT_BASED_ADDON_LABELS``); this module keeps its historical
names for them (:data:`LABELS`, :data:`V1ALPHA1_LABELS`, ``*_LABEL``).
"""

from __future__ import annotations

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
from shared.api.vocabulary import (
    CLUSTER_PROFILE,
    CONFIG_GROUP,
    CONFIG_V1ALPHA1,
    CONFIG_V1BETA1,
    EVENT_BASED_ADDON_LABELS,
    EVENT_TRIGGER_LABELS,
    trigger_labels,
)
from shared.api.vocabulary import SERVICE_ACCOUNT_NAME_LABEL as SERVICE_ACCOUNT_NAME_LABEL
from shared.api.vocabulary import (
    SERVICE_ACCOUNT_NAMESPACE_LABEL as SERVICE_ACCOUNT_NAMESPACE_LABEL,
)
from shared.api.vocabulary import TriggerLabels as TriggerLabels

# the vocabulary under this module's historical names
GROUP = CONFIG_GROUP
V1ALPHA1 = CONFIG_V1ALPHA1
V1BETA1 = CONFIG_V1BETA1
CLUSTER_PROFILE_KIND = CLUSTER_PROFILE.kind
LABELS = EVENT_TRIGGER_LABELS
V1ALPHA1_LABELS = EVENT_BASED_ADDON_LABELS
LABEL_PREFIX = LABELS.prefix
V1ALPHA1_LABEL_PREFIX = V1ALPHA1_LABELS.prefix

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
    return trigger_labels(api_version)


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
