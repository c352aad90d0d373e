"""EventReport: a cluster's current matching set for one EventSource (sveltos-semantics §5).

``spec.resources`` is ``[]byte`` in Sveltos, so it is base64 in YAML/JSON: each collected
object JSON-encoded, followed by a newline and ``---``. :meth:`EventReportSpec.resource_list`
and :func:`encode_resources` convert between that and a list of dicts; likewise
``spec.cloudEvents`` is a list of base64 JSON documents (:meth:`cloud_event_list`).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, ClassVar, Literal

from pydantic import Field, field_serializer, field_validator

from shared.api.meta import ApiModel, LooseModel, ObjectReference, TypedObject
from shared.api.vocabulary import (
    EVENT_REPORT,
    EVENT_REPORT_FINALIZER,
    LIB_V1ALPHA1,
    LIB_V1BETA1,
    REPORT_CLUSTER_NAME_LABEL,
    REPORT_CLUSTER_TYPE_LABEL,
    REPORT_EVENT_SOURCE_LABEL,
    SVELTOS_NAMESPACE,
    ClusterType,
    ClusterTypeName,
)
from shared.hashing import go_json

# the vocabulary under this module's historical names
EVENT_REPORT_KIND = EVENT_REPORT.kind
#: namespace of the report in the managed cluster
MANAGED_REPORT_NAMESPACE = SVELTOS_NAMESPACE
FINALIZER = EVENT_REPORT_FINALIZER
EVENT_SOURCE_NAME_LABEL = REPORT_EVENT_SOURCE_LABEL
CLUSTER_NAME_LABEL = REPORT_CLUSTER_NAME_LABEL
CLUSTER_TYPE_LABEL = REPORT_CLUSTER_TYPE_LABEL

ReportPhase = Literal["WaitingForDelivery", "Delivering", "Processed"]


def report_name(cluster_type: str, eventsource: str, cluster: str) -> str:
    """``<clustertype lower>--<eventsource>--<cluster>`` (e.g. ``capi--sveltos-service--c1``)."""
    return f"{ClusterType.lower(cluster_type)}--{eventsource}--{cluster}"


def report_labels(cluster_type: str, eventsource: str, cluster: str) -> dict[str, str]:
    """Labels of the management-side copy of a report."""
    return {
        EVENT_SOURCE_NAME_LABEL: eventsource,
        CLUSTER_NAME_LABEL: cluster,
        CLUSTER_TYPE_LABEL: ClusterType.lower(cluster_type),
    }


def encode_resources(objects: list[dict[str, Any]]) -> bytes:
    """Objects in Sveltos' ``spec.resources`` layout: each object as Go's ``encoding/json``
    writes it (compact, sorted keys, UTF-8, ``<``, ``>``, ``&`` escaped), newline, ``---``,
    concatenated: the last object is followed by the separator too (sveltos-agent
    ``marshalSliceOfUnstructured``)."""
    return b"".join(go_json(obj).encode() + b"\n---" for obj in objects)


def decode_resources(raw: bytes) -> list[dict[str, Any]]:
    """Split ``spec.resources`` bytes back into objects (empty chunks are skipped)."""
    out: list[dict[str, Any]] = []
    for chunk in raw.decode("utf-8").split("\n---"):
        chunk = chunk.strip()
        if chunk.startswith("---"):
            chunk = chunk[3:].strip()
        if not chunk:
            continue
        obj = json.loads(chunk)
        if not isinstance(obj, dict):
            raise ValueError("spec.resources: every document must be an object")
        out.append(obj)
    return out


def _b64(value: object) -> object:
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"not valid base64: {exc}") from exc
    return value


class EventReportSpec(ApiModel):
    cluster_namespace: str = Field(default="", alias="clusterNamespace")
    cluster_name: str = Field(default="", alias="clusterName")
    cluster_type: ClusterTypeName | None = Field(default=None, alias="clusterType")
    event_source_name: str = Field(default="", alias="eventSourceName")
    matching_resources: list[ObjectReference] = Field(
        default_factory=list, alias="matchingResources"
    )
    #: raw bytes; base64 in YAML/JSON (as Sveltos' []byte)
    resources: bytes = b""
    #: raw CloudEvent JSON documents; base64 each in YAML/JSON
    cloud_events: list[bytes] = Field(default_factory=list, alias="cloudEvents")

    @field_validator("resources", mode="before")
    @classmethod
    def _resources(cls, value: object) -> object:
        return b"" if value is None else _b64(value)

    @field_validator("cloud_events", mode="before")
    @classmethod
    def _cloud_events(cls, value: object) -> object:
        if value is None:
            return []
        if isinstance(value, list):
            return [_b64(v) for v in value]
        return value

    @field_validator("cluster_type", mode="before")
    @classmethod
    def _cluster_type(cls, value: object) -> object:
        return ClusterType.title(value) if isinstance(value, str) and value else value

    @field_serializer("resources", when_used="json")
    def _ser_resources(self, value: bytes) -> str:
        return base64.b64encode(value).decode("ascii")

    @field_serializer("cloud_events", when_used="json")
    def _ser_cloud_events(self, value: list[bytes]) -> list[str]:
        return [base64.b64encode(v).decode("ascii") for v in value]

    def resource_list(self) -> list[dict[str, Any]]:
        """The collected objects as dicts (empty when resources were not collected)."""
        return decode_resources(self.resources) if self.resources else []

    def cloud_event_list(self) -> list[dict[str, Any]]:
        """The CloudEvents as dicts."""
        out: list[dict[str, Any]] = []
        for raw in self.cloud_events:
            doc = json.loads(raw)
            if not isinstance(doc, dict):
                raise ValueError("spec.cloudEvents: every entry must be a JSON object")
            out.append(doc)
        return out

    def set_resources(self, objects: list[dict[str, Any]]) -> None:
        self.resources = encode_resources(objects) if objects else b""

    def set_cloud_events(self, events: list[dict[str, Any]]) -> None:
        self.cloud_events = [
            json.dumps(e, separators=(",", ":"), sort_keys=True).encode() for e in events
        ]


class EventReportStatus(LooseModel):
    phase: ReportPhase | None = None
    failure_message: str | None = Field(default=None, alias="failureMessage")


class EventReport(TypedObject):
    """An EventReport (management copy: namespace = cluster namespace)."""

    API_VERSIONS: ClassVar[tuple[str, ...]] = (LIB_V1ALPHA1, LIB_V1BETA1)
    KIND: ClassVar[str] = EVENT_REPORT_KIND

    api_version: str = Field(default=LIB_V1BETA1, alias="apiVersion")
    kind: str = EVENT_REPORT_KIND
    spec: EventReportSpec = Field(default_factory=EventReportSpec)
    status: EventReportStatus | None = None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        # exclude_defaults does not see through the base64 serializers: empty ones are left
        # out here (Sveltos' []byte/omitempty: no ``resources`` when nothing was collected)
        spec = out.get("spec") or {}
        for key in ("resources", "cloudEvents"):
            if key in spec and not spec[key]:
                del spec[key]
        return out

    @classmethod
    def for_cluster(
        cls,
        *,
        cluster_namespace: str,
        cluster_name: str,
        cluster_type: str,
        event_source_name: str,
        matching_resources: list[ObjectReference] | None = None,
        resources: list[dict[str, Any]] | None = None,
    ) -> EventReport:
        """The management-side report for (cluster, EventSource), named and labelled."""
        report = cls.model_validate(
            {
                "metadata": {
                    "name": report_name(cluster_type, event_source_name, cluster_name),
                    "namespace": cluster_namespace,
                    "labels": report_labels(cluster_type, event_source_name, cluster_name),
                },
                "spec": {
                    "clusterNamespace": cluster_namespace,
                    "clusterName": cluster_name,
                    "clusterType": ClusterType.title(cluster_type),
                    "eventSourceName": event_source_name,
                },
            }
        )
        report.spec.matching_resources = list(matching_resources or [])
        report.spec.set_resources(list(resources or []))
        return report
