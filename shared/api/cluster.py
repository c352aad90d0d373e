"""Registered clusters: the fleet.yaml entry, SveltosCluster and CAPI Cluster objects.

Two spellings of the cluster type exist in Sveltos: ``Capi``/``Sveltos`` (EventReport
``spec.clusterType``, trigger labels) and lower-case ``capi``/``sveltos`` (report names and
the ``eventreport.projectsveltos.io/cluster-type`` label, fleet.yaml).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import Field, field_validator

from shared.api.meta import ApiModel, ObjectMeta, ObjectReference, TypedObject
from shared.api.selectors import label_key_problem, label_value_problem

ClusterTypeName = Literal["Capi", "Sveltos"]
ClusterTypeLower = Literal["capi", "sveltos"]

SVELTOS_CLUSTER_API_VERSION = "lib.projectsveltos.io/v1beta1"
SVELTOS_CLUSTER_KIND = "SveltosCluster"
CAPI_CLUSTER_API_VERSION = "cluster.x-k8s.io/v1beta1"
CAPI_CLUSTER_KIND = "Cluster"


class ClusterType:
    """Conversions between the spellings of the cluster type."""

    CAPI: ClusterTypeName = "Capi"
    SVELTOS: ClusterTypeName = "Sveltos"

    @staticmethod
    def title(value: str) -> ClusterTypeName:
        """``Capi`` or ``Sveltos`` from any spelling (case-insensitive)."""
        low = value.lower()
        if low == "capi":
            return "Capi"
        if low == "sveltos":
            return "Sveltos"
        raise ValueError(f"unknown cluster type {value!r} (expected capi or sveltos)")

    @staticmethod
    def lower(value: str) -> ClusterTypeLower:
        """``capi`` or ``sveltos`` from any spelling."""
        return "capi" if ClusterType.title(value) == "Capi" else "sveltos"

    @staticmethod
    def api_version(value: str) -> str:
        return (
            CAPI_CLUSTER_API_VERSION
            if ClusterType.title(value) == "Capi"
            else SVELTOS_CLUSTER_API_VERSION
        )

    @staticmethod
    def kind(value: str) -> str:
        return CAPI_CLUSTER_KIND if ClusterType.title(value) == "Capi" else SVELTOS_CLUSTER_KIND

    @staticmethod
    def from_kind(kind: str, api_version: str = "") -> ClusterTypeLower:
        if kind == SVELTOS_CLUSTER_KIND:
            return "sveltos"
        if kind == CAPI_CLUSTER_KIND and (
            not api_version or api_version.startswith("cluster.x-k8s.io/")
        ):
            return "capi"
        raise ValueError(f"{api_version or '?'} {kind!r} is not a cluster kind")


class Cluster(ApiModel):
    """A registered (managed) cluster as in a scenario's fleet.yaml."""

    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)
    type: ClusterTypeLower = "sveltos"
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: object) -> object:
        return ClusterType.lower(value) if isinstance(value, str) else value

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, value: object) -> object:
        if value is None:
            return {}
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(v, str):
                    raise ValueError(f"label {k!r}: value must be a string, got {v!r}")
                problem = label_key_problem(str(k)) or label_value_problem(v)
                if problem:
                    raise ValueError(problem)
        return value

    @property
    def type_title(self) -> ClusterTypeName:
        return ClusterType.title(self.type)

    @property
    def key(self) -> str:
        """``namespace/name`` (how scenario steps name a cluster)."""
        return f"{self.namespace}/{self.name}"

    def reference(self) -> ObjectReference:
        """The ObjectReference Sveltos puts in ``clusterRefs``."""
        return ObjectReference(
            api_version=ClusterType.api_version(self.type),
            kind=ClusterType.kind(self.type),
            namespace=self.namespace,
            name=self.name,
        )

    def to_object(self, spec: dict[str, Any] | None = None) -> dict[str, Any]:
        """The SveltosCluster or CAPI Cluster object registering this cluster."""
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if self.labels:
            meta["labels"] = dict(self.labels)
        return {
            "apiVersion": ClusterType.api_version(self.type),
            "kind": ClusterType.kind(self.type),
            "metadata": meta,
            "spec": dict(spec or {}),
        }

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> Cluster:
        """A Cluster from a SveltosCluster or CAPI Cluster object (dict)."""
        kind = str(obj.get("kind", ""))
        ctype = ClusterType.from_kind(kind, str(obj.get("apiVersion", "")))
        meta = ObjectMeta.model_validate(obj.get("metadata") or {})
        return cls(namespace=meta.namespace, name=meta.name, type=ctype, labels=dict(meta.labels))


class SveltosCluster(TypedObject):
    """A SveltosCluster object (spec and status kept loosely)."""

    API_VERSIONS: ClassVar[tuple[str, ...]] = (
        "lib.projectsveltos.io/v1alpha1",
        SVELTOS_CLUSTER_API_VERSION,
    )
    KIND: ClassVar[str] = SVELTOS_CLUSTER_KIND

    api_version: str = Field(default=SVELTOS_CLUSTER_API_VERSION, alias="apiVersion")
    kind: str = SVELTOS_CLUSTER_KIND
    spec: dict[str, Any] = Field(default_factory=dict)
    status: dict[str, Any] | None = None

    def to_cluster(self) -> Cluster:
        return Cluster(
            namespace=self.metadata.namespace,
            name=self.metadata.name,
            type="sveltos",
            labels=dict(self.metadata.labels),
        )


class FleetConfig(ApiModel):
    """A scenario's fleet.yaml: ``clusters: [...]``."""

    clusters: list[Cluster] = Field(default_factory=list)

    @field_validator("clusters")
    @classmethod
    def _unique(cls, clusters: list[Cluster]) -> list[Cluster]:
        seen: set[tuple[str, str, str]] = set()
        for c in clusters:
            ident = (c.type, c.namespace, c.name)
            if ident in seen:
                raise ValueError(f"cluster {c.type} {c.key} is listed twice")
            seen.add(ident)
        return clusters

    def get(self, key: str) -> Cluster:
        """The cluster named ``namespace/name``; KeyError if absent."""
        for c in self.clusters:
            if c.key == key:
                return c
        raise KeyError(key)

    @classmethod
    def load(cls, path: str | Path) -> FleetConfig:
        """Load fleet.yaml; errors are :class:`~shared.api.errors.DefinitionError`."""
        from shared.api.loading import validation_error_to_definition_errors, yaml_error

        path = Path(path)
        text = path.read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise yaml_error(exc, str(path)) from exc
        from pydantic import ValidationError

        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            errors = validation_error_to_definition_errors(exc, source=str(path))
            raise errors[0] from exc
