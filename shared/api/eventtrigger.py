"""EventTrigger (``lib.projectsveltos.io/v1beta1``) and EventBasedAddOn (``v1alpha1``).

Both share :class:`EventTriggerSpec`; :class:`EventBasedAddOnSpec` only differs in how the
cluster selectors are written: v1alpha1 uses selector strings (``env=fv,tier in (a,b)``),
parsed with :func:`~shared.api.selectors.parse_selector` into the same
:class:`~shared.api.selectors.LabelSelector` fields. The original strings are kept and
written back on dump (unless the selector was changed since).

Which referenced ConfigMaps/Secrets are templates (BRIEF §4): an EventBasedAddOn
instantiates every one; an EventTrigger only those annotated ``projectsveltos.io/instantiate``
(see :meth:`EventTrigger.instantiates`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import (
    Field,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from shared.api.addons import (
    INSTANTIATE_ANNOTATION,
    Generator,
    HelmChart,
    KustomizationRef,
    PolicyRef,
    ProfileFields,
    ResourceReference,
    TemplateResourceRef,
)
from shared.api.errors import ImmutableFieldError
from shared.api.meta import TypedObject
from shared.api.selectors import LabelSelector, parse_selector, selector_to_string
from shared.api.vocabulary import (
    EVENT_BASED_ADDON,
    EVENT_TRIGGER,
    EVENT_TRIGGER_FINALIZER,
    LIB_V1ALPHA1,
    LIB_V1BETA1,
)

V1ALPHA1 = LIB_V1ALPHA1
V1BETA1 = LIB_V1BETA1
EVENT_TRIGGER_KIND = EVENT_TRIGGER.kind
EVENT_BASED_ADDON_KIND = EVENT_BASED_ADDON.kind
FINALIZER = EVENT_TRIGGER_FINALIZER
CLOUD_EVENT_ACTIONS = ("Create", "Delete")


class EventTriggerSpec(ProfileFields):
    """What to deploy where when the EventSource reports matches."""

    source_cluster_selector: LabelSelector = Field(
        default_factory=LabelSelector,
        alias="sourceClusterSelector",
        description=(
            "Clusters (SveltosCluster/CAPI Cluster labels) where the EventSource is evaluated; "
            "an empty selector selects no cluster."
        ),
    )
    cluster_set_refs: list[str] = Field(
        default_factory=list,
        alias="clusterSetRefs",
        description="ClusterSets whose clusters are source clusters too.",
    )
    destination_cluster_selector: LabelSelector | None = Field(
        default=None,
        alias="destinationClusterSelector",
        description=(
            "Deploy the add-ons to every cluster this selector matches instead of the cluster "
            "where the event happened."
        ),
    )
    destination_cluster: ResourceReference | None = Field(
        default=None,
        alias="destinationCluster",
        description=(
            "Deploy the add-ons to this one cluster (each field a template over the event) "
            "instead of the cluster where the event happened."
        ),
    )
    event_source_name: str = Field(
        alias="eventSourceName",
        min_length=1,
        description=(
            "Name of the EventSource whose reports trigger this definition (required, as in "
            "Sveltos' CRD). A template rendered per cluster with .Cluster, .ClusterNamespace "
            "and .ClusterName."
        ),
    )
    one_for_event: bool = Field(
        default=False,
        alias="oneForEvent",
        description=(
            "true: one ClusterProfile (and one set of add-ons) per matching resource or "
            "CloudEvent; false: one per source cluster covering every match. Immutable: "
            "delete and re-create the trigger to change it."
        ),
    )
    policy_refs: list[PolicyRef] = Field(
        default_factory=list,
        alias="policyRefs",
        description=(
            "ConfigMaps/Secrets whose content is deployed; those annotated "
            "projectsveltos.io/instantiate are templates rendered with the event data."
        ),
    )
    helm_charts: list[HelmChart] = Field(
        default_factory=list,
        alias="helmCharts",
        description="Helm charts to install; each string field and values is a template.",
    )
    kustomization_refs: list[KustomizationRef] = Field(
        default_factory=list, alias="kustomizationRefs"
    )
    template_resource_refs: list[TemplateResourceRef] = Field(
        default_factory=list, alias="templateResourceRefs"
    )
    profile_name_format: str = Field(
        default="",
        alias="profileNameFormat",
        description="Template of the generated ClusterProfiles' names (default: a hash).",
    )
    config_map_generator: list[Generator] = Field(default_factory=list, alias="configMapGenerator")
    secret_generator: list[Generator] = Field(default_factory=list, alias="secretGenerator")
    cloud_event_action: str = Field(
        default="",
        alias="cloudEventAction",
        description=(
            "Create (default) or Delete, or a template over .CloudEvent giving one of them; "
            "only with oneForEvent: true."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if v is not None}
        return data

    @field_validator("source_cluster_selector", "destination_cluster_selector", mode="before")
    @classmethod
    def _selector_object(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError(
                "must be a LabelSelector object (matchLabels/matchExpressions); selector "
                "strings such as 'env=fv' are the v1alpha1 EventBasedAddOn form"
            )
        return value

    def selects_source_cluster(self, labels: Mapping[str, str] | None) -> bool:
        """Whether a cluster with ``labels`` is a source cluster of this trigger.

        As in Sveltos, an empty ``sourceClusterSelector`` selects no cluster (``clusterSetRefs``
        are resolved by the caller).
        """
        if self.source_cluster_selector.is_empty():
            return False
        return self.source_cluster_selector.matches(labels or {})


class EventBasedAddOnSpec(EventTriggerSpec):
    """v1alpha1 spec: the cluster selectors are selector strings."""

    _source_text: str | None = PrivateAttr(default=None)
    _destination_text: str | None = PrivateAttr(default=None)

    @field_validator("source_cluster_selector", "destination_cluster_selector", mode="before")
    @classmethod
    def _selector_object(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_selector(value)
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _keep_text(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        texts: dict[str, str] = {}
        if isinstance(data, dict):
            for key in ("sourceClusterSelector", "destinationClusterSelector"):
                if isinstance(data.get(key), str):
                    texts[key] = data[key]
        inst = handler(data)
        if isinstance(inst, EventBasedAddOnSpec):
            inst._source_text = texts.get("sourceClusterSelector")
            inst._destination_text = texts.get("destinationClusterSelector")
        return inst

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        out = handler(self)
        if not isinstance(out, dict) or info.by_alias is False:
            return out
        pairs: tuple[tuple[str, LabelSelector | None, str | None], ...] = (
            ("sourceClusterSelector", self.source_cluster_selector, self._source_text),
            (
                "destinationClusterSelector",
                self.destination_cluster_selector,
                self._destination_text,
            ),
        )
        for key, sel, text in pairs:
            if key not in out and not text:
                continue
            if sel is None:
                out.pop(key, None)
            elif text is not None and parse_selector(text) == sel:
                out[key] = text
            else:
                out[key] = selector_to_string(sel)
        return out

    @property
    def source_cluster_selector_text(self) -> str:
        """The selector as written (v1alpha1 string form)."""
        if self._source_text is not None:
            return self._source_text
        return selector_to_string(self.source_cluster_selector)


class _TriggerBase(TypedObject):
    spec: EventTriggerSpec
    status: dict[str, Any] | None = None

    #: EventBasedAddOn instantiates every referenced ConfigMap/Secret
    INSTANTIATE_ALL: ClassVar[bool] = False

    @model_validator(mode="after")
    def _cloud_event_action(self) -> _TriggerBase:
        action = self.spec.cloud_event_action
        if action and "{{" not in action and action not in CLOUD_EVENT_ACTIONS:
            raise ValueError(
                f"spec.cloudEventAction must be Create, Delete or a template, got {action!r}"
            )
        return self

    @property
    def is_v1alpha1(self) -> bool:
        return self.api_version == V1ALPHA1

    def instantiates(self, ref_object_annotations: Mapping[str, str] | None) -> bool:
        """Whether a referenced ConfigMap/Secret with these annotations is a template.

        EventBasedAddOn (v1alpha1): always. EventTrigger (v1beta1): only when the object is
        annotated ``projectsveltos.io/instantiate`` (any value). The same rule applies to
        ``policyRefs`` and to ``valuesFrom`` of helm charts and kustomizations.
        """
        if self.INSTANTIATE_ALL:
            return True
        return INSTANTIATE_ANNOTATION in (ref_object_annotations or {})


class EventTrigger(_TriggerBase):
    """``lib.projectsveltos.io/v1beta1`` EventTrigger."""

    API_VERSIONS: ClassVar[tuple[str, ...]] = (V1BETA1,)
    KIND: ClassVar[str] = EVENT_TRIGGER_KIND

    api_version: str = Field(default=V1BETA1, alias="apiVersion")
    kind: str = EVENT_TRIGGER_KIND


class EventBasedAddOn(_TriggerBase):
    """``lib.projectsveltos.io/v1alpha1`` EventBasedAddOn (selectors as strings)."""

    API_VERSIONS: ClassVar[tuple[str, ...]] = (V1ALPHA1,)
    KIND: ClassVar[str] = EVENT_BASED_ADDON_KIND
    INSTANTIATE_ALL: ClassVar[bool] = True

    api_version: str = Field(default=V1ALPHA1, alias="apiVersion")
    kind: str = EVENT_BASED_ADDON_KIND
    spec: EventBasedAddOnSpec


#: either trigger kind; code that does not care about the version uses this
AnyTrigger = EventTrigger | EventBasedAddOn


def check_update(old: AnyTrigger, new: AnyTrigger) -> None:
    """Reject an update that changes an immutable field (``spec.oneForEvent``).

    The effective values are compared (an absent field is ``false``), which is stricter than
    the Sveltos CRD rule that only fires when the field is present on both sides.
    """
    if old.spec.one_for_event != new.spec.one_for_event:
        raise ImmutableFieldError(
            new.kind,
            new.metadata.name,
            "spec.oneForEvent",
            old.spec.one_for_event,
            new.spec.one_for_event,
        )
