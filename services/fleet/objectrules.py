"""The per-object rules writes share: names, server metadata, Secret ``stringData``, what
counts as a spec change (generation) and as a no-op write."""

from __future__ import annotations

import base64
import re
from typing import Any

from services.fleet.errors import ApiError
from services.fleet.kinds import NAMESPACE_KEY, SECRET_KEY, ResourceType

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")


def qualified_kind(rt: ResourceType) -> str:
    return f"{rt.kind}.{rt.group}" if rt.group else rt.kind


def metadata_of(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
        obj["metadata"] = meta
    return meta


def validate_name(rt: ResourceType, name: str) -> None:
    pattern = _LABEL if rt.key == NAMESPACE_KEY else _SUBDOMAIN
    if len(name) > 253 or not pattern.match(name):
        what = "RFC 1123 label" if rt.key == NAMESPACE_KEY else "RFC 1123 subdomain"
        raise ApiError.invalid(
            qualified_kind(rt),
            name,
            "metadata.name",
            f'Invalid value: "{name}": a lowercase {what} must consist of lower case '
            "alphanumeric characters, '-' or '.', and must start and end with an "
            "alphanumeric character",
        )


def fold_secret(rt: ResourceType, obj: dict[str, Any], default_type: bool = True) -> None:
    if rt.key != SECRET_KEY:
        return
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = {}
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()
        obj["data"] = data
    if default_type and "type" not in obj:
        obj["type"] = "Opaque"


def spec_part(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    skip = ("metadata", "status") if rt.status else ("metadata",)
    return {k: v for k, v in obj.items() if k not in skip and k not in ("apiVersion", "kind")}


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {
        k: v
        for k, v in obj.get("metadata", {}).items()
        if k not in ("resourceVersion", "managedFields")
    }
    meta["managedFields"] = [
        {k: v for k, v in e.items() if k != "time"}
        for e in obj.get("metadata", {}).get("managedFields") or []
    ]
    out = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion")}
    out["metadata"] = meta
    return out
