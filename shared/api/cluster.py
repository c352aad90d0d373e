"""Registered clusters: the fleet.yaml entry, SveltosCluster and CAPI Cluster objects.

Two spellings of the cluster type exist in Sveltos: ``Capi``/``Sveltos`` (EventReport
``spec.clusterType``, trigger labels) and lower-case ``capi``/``sveltos`` (report names and
the ``eventreport.projectsveltos.io/cluster-type`` label, fleet.yaml); both, their
conversions and the registration kinds are declared in :mod:`shared.api.vocabulary`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import Field, ValidationError, field_validator

from shared.api.meta import ApiModel, ObjectMeta, ObjectReference, TypedObject
from shared.api.selectors import label_key_problem, label_value_problem
from shared.api.validation import validation_error_to_definition_errors
from shared.api.vocabulary import LIB_V1ALPHA1, SVELTOS, SVELTOS_CLUSTER, ClusterKey
from shared.api.vocabulary import ClusterType as ClusterType
from shared.api.vocabulary import ClusterTypeLower as ClusterTypeLower
from shared.api.vocabulary import ClusterTypeName as ClusterTypeName
from shared.api.yamlio import load_bounded, yaml_error


class Cluster(ApiModel):
    """A registered (managed) cluster as in a scenario's fleet.yaml."""

    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)
    type: ClusterTypeLower = SVELTOS
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

    @property
    def cluster_key(self) -> ClusterKey:
        """The plain identity (:class:`~shared.api.vocabulary.ClusterKey`) of this cluster."""
        return ClusterKey(self.namespace, self.name, self.type)

    def reference(self) -> ObjectReference:
        """The ObjectReference Sveltos puts in ``clusterRefs``."""
        return ObjectReference.from_key(self.cluster_key.object_key())

    def to_object(self, spec: dict[str, Any] | None = None) -> dict[str, Any]:
        """The SveltosCluster or CAPI Cluster object registering this cluster."""
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if self.labels:
            meta["labels"] = dict(self.labels)
        return {
            "apiVersion": self.cluster_key.api_version,
            "kind": self.cluster_key.kind,
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

    API_VERSIONS: ClassVar[tuple[str, ...]] = (LIB_V1ALPHA1, SVELTOS_CLUSTER.api_version)
    KIND: ClassVar[str] = SVELTOS_CLUSTER.kind

    api_version: str = Field(default=SVELTOS_CLUSTER.api_version, alias="apiVersion")
    kind: str = SVELTOS_CLUSTER.kind
    spec: dict[str, Any] = Field(default_factory=dict)
    status: dict[str, Any] | None = None

    def to_cluster(self) -> Cluster:
        return Cluster(
            namespace=self.metadata.namespace,
            name=self.metadata.name,
            type=SVELTOS,
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
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        try:
            docs = load_bounded(text, yaml.SafeLoader, single=True)
            data = (docs[0] if docs else None) or {}
        except yaml.YAMLError as exc:
            raise yaml_error(exc, str(path)) from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            errors = validation_error_to_definition_errors(exc, source=str(path))
            raise errors[0] from exc
