"""Light models of the core objects found beside definitions: ConfigMap, Secret, and any
other object (:class:`GenericObject`: apiVersion/kind/metadata checked, the rest kept)."""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar

from pydantic import ConfigDict, Field, field_validator

from shared.api.meta import TypedObject
from shared.api.vocabulary import CLUSTER_PROFILE_SECRET_TYPE as CLUSTER_PROFILE_SECRET_TYPE
from shared.api.vocabulary import CONFIG_MAP, SECRET


class ConfigMap(TypedObject):
    API_VERSIONS: ClassVar[tuple[str, ...]] = (CONFIG_MAP.api_version,)
    KIND: ClassVar[str] = CONFIG_MAP.kind

    api_version: str = Field(default=CONFIG_MAP.api_version, alias="apiVersion")
    kind: str = CONFIG_MAP.kind
    data: dict[str, str] = Field(default_factory=dict)
    binary_data: dict[str, str] = Field(default_factory=dict, alias="binaryData")
    immutable: bool | None = None

    @field_validator("data", "binary_data", mode="before")
    @classmethod
    def _null(cls, value: object) -> object:
        return {} if value is None else value


class Secret(TypedObject):
    API_VERSIONS: ClassVar[tuple[str, ...]] = (SECRET.api_version,)
    KIND: ClassVar[str] = SECRET.kind

    api_version: str = Field(default=SECRET.api_version, alias="apiVersion")
    kind: str = SECRET.kind
    type: str = ""
    data: dict[str, str] = Field(default_factory=dict)
    string_data: dict[str, str] = Field(default_factory=dict, alias="stringData")
    immutable: bool | None = None

    @field_validator("data", "string_data", mode="before")
    @classmethod
    def _null(cls, value: object) -> object:
        return {} if value is None else value

    @field_validator("data")
    @classmethod
    def _base64(cls, data: dict[str, str]) -> dict[str, str]:
        for key, value in data.items():
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError(f"data[{key!r}] is not valid base64") from exc
        return data

    def decoded(self) -> dict[str, str]:
        """``data`` decoded (UTF-8) merged with ``stringData`` (which wins, as in Kubernetes)."""
        out = {k: base64.b64decode(v).decode("utf-8") for k, v in self.data.items()}
        out.update(self.string_data)
        return out


class GenericObject(TypedObject):
    """Any other Kubernetes object: apiVersion/kind/metadata checked, the rest kept."""

    model_config = ConfigDict(
        populate_by_name=True, serialize_by_alias=True, extra="allow", validate_default=False
    )

    def body(self) -> dict[str, Any]:
        """The fields other than apiVersion/kind/metadata."""
        return dict(self.__pydantic_extra__ or {})
