"""Sveltos' vocabulary, declared once: kinds, label keys, annotations, cluster types, and
the identities of an object (:class:`ObjectKey`) and of a registered cluster (:class:`ClusterKey`).

Standard library only (no pydantic; shared.hashing is stdlib too), so every layer imports it
cheaply. Kinds are :class:`GVK` tuples ``(apiVersion, kind)``; ``shared.kube``'s GVK has the
same shape, so ``kube.GVK(*EVENT_TRIGGER)`` converts and both compare and hash alike.
The pydantic forms convert: :class:`shared.api.meta.ObjectReference` and the contract's
``ObjectRef`` (``.key`` / ``from_key``), the contract's ``ClusterRef`` (``.key`` / ``of``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

# ``projectsveltos.io/hash`` (``sha256:`` + hex digest of a deployed object) is declared by
# shared.hashing (a lower layer, which computes it) and catalogued here
from shared.hashing import HASH_ANNOTATION as HASH_ANNOTATION

# --- groups and apiVersions -------------------------------------------------------------------
SVELTOS_DOMAIN = "projectsveltos.io"
LIB_GROUP = f"lib.{SVELTOS_DOMAIN}"
CONFIG_GROUP = f"config.{SVELTOS_DOMAIN}"
CAPI_GROUP = "cluster.x-k8s.io"
LIB_V1ALPHA1 = f"{LIB_GROUP}/v1alpha1"
LIB_V1BETA1 = f"{LIB_GROUP}/v1beta1"
CONFIG_V1ALPHA1 = f"{CONFIG_GROUP}/v1alpha1"
CONFIG_V1BETA1 = f"{CONFIG_GROUP}/v1beta1"
CAPI_V1BETA1 = f"{CAPI_GROUP}/v1beta1"


def join_api_version(group: str, version: str) -> str:
    """``("apps", "v1")`` -> ``"apps/v1"``; the core group -> ``"v1"``."""
    return f"{group}/{version}" if group else version


def split_api_version(api_version: str) -> tuple[str, str]:
    """``"apps/v1"`` -> ``("apps", "v1")``; ``"v1"`` -> ``("", "v1")``."""
    group, _, version = api_version.rpartition("/")
    return group, version


class GVK(NamedTuple):
    """apiVersion + kind; ``api_version`` is ``v1`` for core or ``group/version``."""

    api_version: str
    kind: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> GVK:
        return cls(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))

    @classmethod
    def from_parts(cls, group: str, version: str, kind: str) -> GVK:
        return cls(join_api_version(group, version), kind)

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    def at(self, version: str) -> GVK:
        """The same kind in another version of its group (``EVENT_REPORT.at("v1alpha1")``)."""
        return GVK(join_api_version(self.group, version), self.kind)

    def __str__(self) -> str:
        return f"{self.api_version}/{self.kind}"


# --- kinds ------------------------------------------------------------------------------------
EVENT_SOURCE = GVK(LIB_V1BETA1, "EventSource")
EVENT_TRIGGER = GVK(LIB_V1BETA1, "EventTrigger")
EVENT_BASED_ADDON = GVK(LIB_V1ALPHA1, "EventBasedAddOn")
EVENT_REPORT = GVK(LIB_V1BETA1, "EventReport")
SVELTOS_CLUSTER = GVK(LIB_V1BETA1, "SveltosCluster")
CLUSTER_PROFILE = GVK(CONFIG_V1BETA1, "ClusterProfile")
PROFILE = GVK(CONFIG_V1BETA1, "Profile")
CAPI_CLUSTER = GVK(CAPI_V1BETA1, "Cluster")
CONFIG_MAP = GVK("v1", "ConfigMap")
SECRET = GVK("v1", "Secret")
NAMESPACE = GVK("v1", "Namespace")
CRD = GVK("apiextensions.k8s.io/v1", "CustomResourceDefinition")

#: the versions each Sveltos/CAPI kind is served in, storage (newest) first
SERVED_VERSIONS: dict[tuple[str, str], tuple[str, ...]] = {
    (LIB_GROUP, SVELTOS_CLUSTER.kind): ("v1beta1", "v1alpha1"),
    (CAPI_GROUP, CAPI_CLUSTER.kind): ("v1beta1",),
    (LIB_GROUP, EVENT_SOURCE.kind): ("v1beta1", "v1alpha1"),
    (LIB_GROUP, EVENT_BASED_ADDON.kind): ("v1alpha1",),
    (LIB_GROUP, EVENT_TRIGGER.kind): ("v1beta1",),
    (LIB_GROUP, EVENT_REPORT.kind): ("v1beta1", "v1alpha1"),
    (CONFIG_GROUP, CLUSTER_PROFILE.kind): ("v1beta1", "v1alpha1"),
    (CONFIG_GROUP, PROFILE.kind): ("v1beta1", "v1alpha1"),
}

DefinitionKind = Literal["EventSource", "EventTrigger", "EventBasedAddOn"]
#: the definitions of the management cluster, by kind
DEFINITION_KINDS: dict[str, GVK] = {
    EVENT_SOURCE.kind: EVENT_SOURCE,
    EVENT_TRIGGER.kind: EVENT_TRIGGER,
    EVENT_BASED_ADDON.kind: EVENT_BASED_ADDON,
}

# --- finalizers, namespaces, names, Secret types -----------------------------------------------
EVENT_SOURCE_FINALIZER = f"eventsource.finalizer.{SVELTOS_DOMAIN}"
EVENT_TRIGGER_FINALIZER = f"eventtrigger.finalizer.{SVELTOS_DOMAIN}"
EVENT_REPORT_FINALIZER = f"eventreport.finalizer.{SVELTOS_DOMAIN}"
#: where agents keep EventReports and event-manager its generated ConfigMaps/Secrets
SVELTOS_NAMESPACE = "projectsveltos"
#: prefix of generated ClusterProfile and ConfigMap/Secret names
GENERATED_NAME_PREFIX = "sveltos-"
#: type of the Secrets event-manager generates (and the only type it accepts as source)
CLUSTER_PROFILE_SECRET_TYPE = f"addons.{SVELTOS_DOMAIN}/cluster-profile"

# --- cluster types ----------------------------------------------------------------------------
#: Sveltos' spelling (EventReport ``spec.clusterType``, trigger labels)
ClusterTypeName = Literal["Capi", "Sveltos"]
#: lower case (report names, ``eventreport.projectsveltos.io/cluster-type``, NATS, fleet.yaml)
ClusterTypeLower = Literal["sveltos", "capi"]
SVELTOS: ClusterTypeLower = "sveltos"
CAPI: ClusterTypeLower = "capi"
CLUSTER_TYPES: tuple[ClusterTypeLower, ...] = (SVELTOS, CAPI)


class ClusterType:
    """Conversions between the spellings of the cluster type and the registration kinds."""

    CAPI: ClusterTypeName = "Capi"
    SVELTOS: ClusterTypeName = "Sveltos"

    @staticmethod
    def title(value: str) -> ClusterTypeName:
        """``Capi`` or ``Sveltos`` from any spelling (case-insensitive)."""
        low = value.lower()
        if low == CAPI:
            return "Capi"
        if low == SVELTOS:
            return "Sveltos"
        raise ValueError(f"unknown cluster type {value!r} (expected capi or sveltos)")

    @staticmethod
    def lower(value: str) -> ClusterTypeLower:
        """``capi`` or ``sveltos`` from any spelling."""
        return CAPI if ClusterType.title(value) == "Capi" else SVELTOS

    @staticmethod
    def gvk(value: str) -> GVK:
        """The kind registering a cluster of this type (CAPI Cluster or SveltosCluster)."""
        return CAPI_CLUSTER if ClusterType.title(value) == "Capi" else SVELTOS_CLUSTER

    @staticmethod
    def api_version(value: str) -> str:
        return ClusterType.gvk(value).api_version

    @staticmethod
    def kind(value: str) -> str:
        return ClusterType.gvk(value).kind

    @staticmethod
    def from_kind(kind: str, api_version: str = "") -> ClusterTypeLower:
        """The type of a registration object; ValueError for any other kind."""
        if kind == SVELTOS_CLUSTER.kind:
            return SVELTOS
        if kind == CAPI_CLUSTER.kind and (
            not api_version or api_version.startswith(CAPI_GROUP + "/")
        ):
            return CAPI
        raise ValueError(f"{api_version or '?'} {kind!r} is not a cluster kind")


# --- identities -------------------------------------------------------------------------------
class ObjectKey(NamedTuple):
    """What makes two objects the same object; the four fields of Sveltos' ObjectReference
    (``matchingResources``, ``clusterRefs``, ``.MatchingResource``)."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectKey:
        """The identity of an object given as a dict (a missing namespace is "")."""
        md = obj.get("metadata") or {}
        if not isinstance(md, Mapping):
            md = {}
        return cls(
            str(obj.get("apiVersion") or ""),
            str(obj.get("kind") or ""),
            str(md.get("namespace") or ""),
            str(md.get("name") or ""),
        )

    @classmethod
    def from_reference(cls, ref: Mapping[str, Any]) -> ObjectKey:
        """From an ObjectReference dict (``{apiVersion, kind, namespace, name}``)."""
        return cls(
            str(ref.get("apiVersion") or ""),
            str(ref.get("kind") or ""),
            str(ref.get("namespace") or ""),
            str(ref.get("name") or ""),
        )

    @property
    def gvk(self) -> GVK:
        return GVK(self.api_version, self.kind)

    def reference(self) -> dict[str, str]:
        """The ObjectReference as Sveltos writes it: ``{apiVersion, kind, namespace, name}``."""
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
        }

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{ns}{self.name}"


class ClusterKey(NamedTuple):
    """A registered cluster: the namespace and name of its SveltosCluster or CAPI Cluster,
    and its type (lower case, ``sveltos`` or ``capi``)."""

    namespace: str
    name: str
    type: str = SVELTOS

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ClusterKey:
        """The cluster a SveltosCluster / CAPI Cluster object registers (by its group)."""
        meta = obj.get("metadata") or {}
        group = str(obj.get("apiVersion") or "").rpartition("/")[0]
        ctype = CAPI if group == CAPI_GROUP else SVELTOS
        return cls(str(meta.get("namespace") or "default"), str(meta.get("name") or ""), ctype)

    @property
    def type_title(self) -> ClusterTypeName:
        """``Sveltos`` / ``Capi`` as Sveltos spells it in labels and EventReports."""
        return "Capi" if self.type == CAPI else "Sveltos"

    @property
    def gvk(self) -> GVK:
        return CAPI_CLUSTER if self.type == CAPI else SVELTOS_CLUSTER

    @property
    def api_version(self) -> str:
        return self.gvk.api_version

    @property
    def kind(self) -> str:
        return self.gvk.kind

    def object_key(self) -> ObjectKey:
        """The registration object (what ``clusterRefs`` / ``matchingClusters`` list)."""
        gvk = self.gvk
        return ObjectKey(gvk.api_version, gvk.kind, self.namespace, self.name)

    def __str__(self) -> str:
        return f"{self.type}:{self.namespace}/{self.name}"


# --- labels -----------------------------------------------------------------------------------
#: EventReport labels (management-side copy, sveltos-semantics §5)
REPORT_EVENT_SOURCE_LABEL = f"{SVELTOS_DOMAIN}/eventsource-name"
REPORT_CLUSTER_NAME_LABEL = f"eventreport.{SVELTOS_DOMAIN}/cluster-name"
REPORT_CLUSTER_TYPE_LABEL = f"eventreport.{SVELTOS_DOMAIN}/cluster-type"

#: tenant labels of a definition, copied from the EventTrigger onto everything it generates
SERVICE_ACCOUNT_NAME_LABEL = f"{SVELTOS_DOMAIN}/serviceaccount-name"
SERVICE_ACCOUNT_NAMESPACE_LABEL = f"{SVELTOS_DOMAIN}/serviceaccount-namespace"
TENANT_LABELS = (SERVICE_ACCOUNT_NAME_LABEL, SERVICE_ACCOUNT_NAMESPACE_LABEL)

#: what a deployed object points back to (labels and annotations alike)
REFERENCE_KIND_KEY = f"{SVELTOS_DOMAIN}/reference-kind"
REFERENCE_NAME_KEY = f"{SVELTOS_DOMAIN}/reference-name"
REFERENCE_NAMESPACE_KEY = f"{SVELTOS_DOMAIN}/reference-namespace"
REASON_LABEL = f"{SVELTOS_DOMAIN}/reason"
OWNER_KIND_ANNOTATION = f"{SVELTOS_DOMAIN}/owner-kind"
OWNER_NAME_ANNOTATION = f"{SVELTOS_DOMAIN}/owner-name"

#: Ripple's own: what the reporter writes into the management cluster
MANAGED_BY_LABEL = "ripple.io/managed-by"
MANAGED_BY_VALUE = "ripple"
#: Ripple's own: the managed-by value an agent stamps on every object it applies in its
#: cluster (with the owner annotations above), whatever the manifest says; never
#: ``MANAGED_BY_VALUE``, which the reporter's orphan sweep and the manager's input filter
#: read in the management cluster (itself possibly a managed cluster)
AGENT_MANAGED_BY_VALUE = "ripple-agent"

# --- annotations ------------------------------------------------------------------------------
#: a referenced ConfigMap/Secret is a template to instantiate (EventTrigger, v1beta1)
INSTANTIATE_ANNOTATION = f"{SVELTOS_DOMAIN}/instantiate"
#: the annotation used for the same purpose by event-manager v0.17-v0.36
LEGACY_TEMPLATE_ANNOTATION = f"{SVELTOS_DOMAIN}/template"
#: on an EventTrigger: sprig's TxtFuncMap instead of FuncMap (spelled that way in Sveltos)
TEX_TEMPLATE_ANNOTATION = f"{SVELTOS_DOMAIN}/tex-template"
#: Ripple's own: the template flavour of a referenced ConfigMap/Secret (go | jinja)
FLAVOUR_ANNOTATION = "ripple.io/template-flavour"
#: Ripple's own: on an EventTrigger / EventBasedAddOn, confirms the mass withdrawal its
#: status shows as held by the withdrawal guard; the value must be that hold's token (a
#: stale value never approves a later, different withdrawal)
WITHDRAWAL_CONFIRM_ANNOTATION = "ripple.io/confirm-withdrawal"
#: on a SveltosCluster / CAPI Cluster: the shard that manages it (Sveltos' controller
#: sharding; a Ripple manager started with ``--shard-key`` of that value owns it)
SHARD_KEY_ANNOTATION = f"sharding.{SVELTOS_DOMAIN}/key"


@dataclass(frozen=True)
class TriggerLabels:
    """Label keys event-manager puts on generated objects, for one prefix (§4.4)."""

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
    def cluster_type(self) -> str:  # value Capi / Sveltos
        return self.prefix + "clustertype"

    @property
    def event_report_name(self) -> str:  # value: the EventSource name (historical key)
        return self.prefix + "eventreportname"

    @property
    def event_source_name(self) -> str:
        return self.prefix + "eventsourcename"

    @property
    def resource_name(self) -> str:
        return self.prefix + "resourcename"

    @property
    def resource_namespace(self) -> str:  # only when the matched object is namespaced
        return self.prefix + "resourcenamespace"

    @property
    def ce_source(self) -> str:  # CloudEvent source with "/" replaced by "-"
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
    def from_generator(self) -> str:  # value "ok" on generator outputs
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


#: EventTrigger (v1beta1): ``eventtrigger.lib.projectsveltos.io/eventtriggername`` ...
EVENT_TRIGGER_LABELS = TriggerLabels(f"eventtrigger.{LIB_GROUP}/")
#: EventBasedAddOn (v1alpha1): ``eventbasedaddon.lib.projectsveltos.io/eventbasedaddonname`` ...
EVENT_BASED_ADDON_LABELS = TriggerLabels(f"eventbasedaddon.{LIB_GROUP}/", "eventbasedaddonname")
TRIGGER_LABEL_SETS = (EVENT_TRIGGER_LABELS, EVENT_BASED_ADDON_LABELS)


def trigger_labels(kind_or_api_version: str) -> TriggerLabels:
    """The label keys of a trigger given its kind or apiVersion (EventBasedAddOn/v1alpha1)."""
    if kind_or_api_version == EVENT_BASED_ADDON.kind or kind_or_api_version.endswith("/v1alpha1"):
        return EVENT_BASED_ADDON_LABELS
    return EVENT_TRIGGER_LABELS
