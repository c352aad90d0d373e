"""The catalogue of the CRDs Ripple serves (:data:`KINDS`): per kind its names, scope, the
versions served as Sveltos served them while both existed (libsveltos, event-manager and
addon-controller v0.37-v0.48), the storage version, the printer columns (what users look
for, and Sveltos' own where it has some), and whether its versions differ (then they are
served together only through the conversion webhook: :class:`Webhook`).
:mod:`shared.api.crdgen` builds the CRDs from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from shared.api.cluster import SveltosCluster
from shared.api.clusterprofile import ClusterProfile
from shared.api.crdschema import JSON
from shared.api.eventreport import EventReport
from shared.api.eventsource import EventSource
from shared.api.eventtrigger import EventBasedAddOn, EventTrigger

#: where the API server reaches the webhook by default (the chart's Service)
DEFAULT_SERVICE = ("projectsveltos", "ripple-conversion-webhook")
CONVERT_PATH = "/convert"
IMMUTABLE_MESSAGE = "oneForEvent is immutable: delete and re-create the EventTrigger to change it"


@dataclass(frozen=True)
class Webhook:
    """How the API server reaches the conversion webhook: ``url`` (outside the cluster, e.g.
    the simulated fleet) or a Service; ``ca_bundle`` is the base64 PEM of the CA that signed
    the webhook's certificate."""

    url: str = ""
    service_namespace: str = DEFAULT_SERVICE[0]
    service_name: str = DEFAULT_SERVICE[1]
    port: int = 443
    ca_bundle: str = ""

    def client_config(self) -> JSON:
        out: JSON
        if self.url:
            out = {"url": self.url}
        else:
            out = {
                "service": {
                    "namespace": self.service_namespace,
                    "name": self.service_name,
                    "path": CONVERT_PATH,
                    "port": self.port,
                }
            }
        if self.ca_bundle:
            out["caBundle"] = self.ca_bundle
        return out


@dataclass(frozen=True)
class Version:
    name: str
    model: type[BaseModel]
    storage: bool = False


@dataclass(frozen=True)
class Kind:
    kind: str
    plural: str
    group: str
    scope: str
    versions: tuple[Version, ...]
    columns: tuple[JSON, ...] = ()
    short_names: tuple[str, ...] = ()
    #: versions differ: served together only through the conversion webhook
    converted: bool = False
    file: str = field(default="")

    @property
    def name(self) -> str:
        return f"{self.plural}.{self.group}"


def _col(name: str, path: str, kind: str = "string", description: str = "", **extra: Any) -> JSON:
    out: JSON = {"name": name, "type": kind, "jsonPath": path}
    if description:
        out["description"] = description
    out.update(extra)
    return out


AGE = _col("Age", ".metadata.creationTimestamp", "date")
LIB = "lib.projectsveltos.io"
CONFIG = "config.projectsveltos.io"

KINDS: tuple[Kind, ...] = (
    Kind(
        "EventSource",
        "eventsources",
        LIB,
        "Cluster",
        (Version("v1alpha1", EventSource), Version("v1beta1", EventSource, storage=True)),
        (
            _col("Kinds", ".spec.resourceSelectors[*].kind", description="kinds watched"),
            _col("Collect", ".spec.collectResources", "boolean"),
            _col("Error", ".status.failureMessage", priority=1),
            AGE,
        ),
        converted=True,
        file="eventsources.yaml",
    ),
    Kind(
        "EventBasedAddOn",
        "eventbasedaddons",
        LIB,
        "Cluster",
        (Version("v1alpha1", EventBasedAddOn, storage=True),),
        (
            _col("EventSource", ".spec.eventSourceName"),
            _col("OneForEvent", ".spec.oneForEvent", "boolean"),
            _col("Clusters", ".spec.sourceClusterSelector", priority=1),
            _col("Failure", ".status.failureMessage"),
            AGE,
        ),
        file="eventbasedaddons.yaml",
    ),
    Kind(
        "EventTrigger",
        "eventtriggers",
        LIB,
        "Cluster",
        (Version("v1alpha1", EventTrigger), Version("v1beta1", EventTrigger, storage=True)),
        (
            _col("EventSource", ".spec.eventSourceName"),
            _col("OneForEvent", ".spec.oneForEvent", "boolean"),
            _col("SyncMode", ".spec.syncMode", priority=1),
            _col("Failure", ".status.failureMessage"),
            AGE,
        ),
        converted=True,
        file="eventtriggers.yaml",
    ),
    Kind(
        "EventReport",
        "eventreports",
        LIB,
        "Namespaced",
        (Version("v1alpha1", EventReport), Version("v1beta1", EventReport, storage=True)),
        (
            _col("Cluster", ".spec.clusterName"),
            _col("EventSource", ".spec.eventSourceName"),
            _col("Matching", ".spec.matchingResources[*].name", description="matching objects"),
            _col("Phase", ".status.phase", priority=1),
            _col("Failure", ".status.failureMessage", priority=1),
            AGE,
        ),
        file="eventreports.yaml",
    ),
    Kind(
        "SveltosCluster",
        "sveltosclusters",
        LIB,
        "Namespaced",
        (Version("v1alpha1", SveltosCluster), Version("v1beta1", SveltosCluster, storage=True)),
        (
            _col(
                "Ready",
                ".status.ready",
                "boolean",
                description="Indicates whether cluster is ready to be managed by sveltos",
            ),
            _col("ConnectionStatus", ".status.connectionStatus"),
            _col(
                "Version",
                ".status.version",
                description="Kubernetes version associated with this Cluster",
            ),
            AGE,
            _col(
                "Shard", ".metadata.annotations['sharding\\.projectsveltos\\.io/key']", priority=1
            ),
        ),
        file="sveltosclusters.yaml",
    ),
    Kind(
        "ClusterProfile",
        "clusterprofiles",
        CONFIG,
        "Cluster",
        (Version("v1alpha1", ClusterProfile), Version("v1beta1", ClusterProfile, storage=True)),
        (
            _col("SyncMode", ".spec.syncMode"),
            _col("Clusters", ".status.matchingClusters[*].name", description="matching clusters"),
            _col("Failure", ".status.failureMessage"),
            AGE,
        ),
        converted=True,
        file="clusterprofiles.yaml",
    ),
)


def kind_of(name_or_kind: str) -> Kind:
    for k in KINDS:
        if name_or_kind in (k.kind, k.name, k.plural):
            return k
    raise KeyError(name_or_kind)
