"""Base model configuration and the Kubernetes metadata types shared by every kind.

Conventions for every API model:

* Python attributes are snake_case; the Kubernetes camelCase name is the alias. Both are
  accepted on input (``populate_by_name``); output uses the alias.
* Unknown fields are errors (``extra="forbid"``), except inside ``metadata`` and in the
  free-form parts (status, loosely modelled ClusterProfile fields).
* :meth:`ApiModel.to_dict` dumps the way a user writes YAML: aliases, no ``None``, no
  defaults. Top-level objects always keep ``apiVersion`` and ``kind``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.api.vocabulary import ObjectKey

STRICT_CONFIG = ConfigDict(
    populate_by_name=True,
    serialize_by_alias=True,
    extra="forbid",
    validate_default=False,
)


class ApiModel(BaseModel):
    """Base of every strict API model."""

    model_config = STRICT_CONFIG

    def __eq__(self, other: object) -> bool:
        # Values only: private attributes (the remembered input shape, e.g. a v1alpha1 flat
        # spec or a selector string) are not part of equality.
        if not isinstance(other, BaseModel):
            return NotImplemented
        return (
            type(self) is type(other)
            and self.__dict__ == other.__dict__
            and self.__pydantic_extra__ == other.__pydantic_extra__
        )

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict in Kubernetes spelling, without defaults or ``None``."""
        out: dict[str, Any] = self.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude_defaults=True
        )
        return out


class LooseModel(ApiModel):
    """A model whose unknown fields are kept (free-form content)."""

    model_config = ConfigDict(
        populate_by_name=True, serialize_by_alias=True, extra="allow", validate_default=False
    )


class OwnerReference(LooseModel):
    api_version: str = Field(alias="apiVersion")
    kind: str
    name: str
    uid: str = ""
    controller: bool | None = None
    block_owner_deletion: bool | None = Field(default=None, alias="blockOwnerDeletion")


class ObjectMeta(LooseModel):
    """``metav1.ObjectMeta``: the known fields are typed, anything else is kept."""

    name: str = ""
    generate_name: str = Field(default="", alias="generateName")
    namespace: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    uid: str = ""
    resource_version: str = Field(default="", alias="resourceVersion")
    generation: int | None = None
    creation_timestamp: str | None = Field(default=None, alias="creationTimestamp")
    deletion_timestamp: str | None = Field(default=None, alias="deletionTimestamp")
    finalizers: list[str] = Field(default_factory=list)
    owner_references: list[OwnerReference] = Field(default_factory=list, alias="ownerReferences")
    managed_fields: list[dict[str, Any]] = Field(default_factory=list, alias="managedFields")

    @model_validator(mode="before")
    @classmethod
    def _null_maps(cls, data: Any) -> Any:
        # ``labels:`` with nothing after it is YAML null; Kubernetes treats it as empty.
        if isinstance(data, dict):
            data = dict(data)
            for key in ("labels", "annotations", "finalizers", "ownerReferences", "managedFields"):
                if key in data and data[key] is None:
                    del data[key]
        return data


class ObjectReference(ApiModel):
    """``corev1.ObjectReference`` as Sveltos stores it in EventReports (four fields).

    The model form of :class:`~shared.api.vocabulary.ObjectKey`: :attr:`key` and
    :meth:`from_key` convert (so does the NATS contract's ``ObjectRef``).
    """

    api_version: str = Field(default="", alias="apiVersion")
    kind: str = ""
    namespace: str = ""
    name: str = ""

    model_config = ConfigDict(
        populate_by_name=True,
        serialize_by_alias=True,
        extra="ignore",
        validate_default=False,
        frozen=True,
    )

    @classmethod
    def from_key(cls, key: ObjectKey) -> ObjectReference:
        return cls(
            api_version=key.api_version, kind=key.kind, namespace=key.namespace, name=key.name
        )

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectReference:
        """The reference of an object given as a dict."""
        return cls.from_key(ObjectKey.of(obj))

    @property
    def key(self) -> ObjectKey:
        return ObjectKey(self.api_version, self.kind, self.namespace, self.name)


class TypedObject(ApiModel):
    """A top-level Kubernetes object: ``apiVersion``, ``kind``, ``metadata``.

    Subclasses set :attr:`API_VERSIONS` (accepted apiVersions) and :attr:`KIND`.
    """

    API_VERSIONS: ClassVar[tuple[str, ...]] = ()
    KIND: ClassVar[str] = ""
    #: whether metadata.name is required (false for objects created with generateName)
    NAME_REQUIRED: ClassVar[bool] = True

    api_version: str = Field(alias="apiVersion")
    kind: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if "apiVersion" not in data and "api_version" not in data and cls.API_VERSIONS:
                data["apiVersion"] = cls.API_VERSIONS[-1]
            if "kind" not in data and cls.KIND:
                data["kind"] = cls.KIND
            if data.get("metadata") is None:
                data.pop("metadata", None)
        return data

    @model_validator(mode="after")
    def _check_type(self) -> TypedObject:
        if self.API_VERSIONS and self.api_version not in self.API_VERSIONS:
            raise ValueError(
                f"apiVersion {self.api_version!r} is not one of {', '.join(self.API_VERSIONS)}"
            )
        if self.KIND and self.kind != self.KIND:
            raise ValueError(f"kind must be {self.KIND!r}, got {self.kind!r}")
        if self.NAME_REQUIRED and not self.metadata.name and not self.metadata.generate_name:
            raise ValueError("metadata.name is required")
        return self

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def namespace(self) -> str:
        return self.metadata.namespace

    @property
    def version(self) -> str:
        """The version part of apiVersion (``v1beta1``)."""
        return self.api_version.rsplit("/", 1)[-1]

    def ident(self) -> str:
        """``Kind/name`` or ``Kind/namespace/name`` for messages and logs."""
        if self.metadata.namespace:
            return f"{self.kind}/{self.metadata.namespace}/{self.metadata.name}"
        return f"{self.kind}/{self.metadata.name}"

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        out: dict[str, Any] = {"apiVersion": self.api_version, "kind": self.kind}
        out["metadata"] = body.pop("metadata", {})
        body.pop("apiVersion", None)
        body.pop("kind", None)
        out.update(body)
        return out
