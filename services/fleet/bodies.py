"""Request bodies: JSON (keys interned), YAML (server-side apply) and protobuf
(:mod:`services.fleet.protobuf`: what client-go's typed clients send), as JSON data."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import yaml

from services.fleet import protobuf
from services.fleet.errors import ApiError
from services.fleet.objects import APPLY

# -- YAML without YAML 1.1 booleans (y/n/on/off stay strings) ------------------------------


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _interned(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {sys.intern(k): v for k, v in pairs}


#: request bodies with interned keys: 100,000 stored objects share one "metadata", "name", ...
_DECODER = json.JSONDecoder(object_pairs_hook=_interned)


def parse_body(raw: bytes, content_type: str, kind: str = "") -> Any:
    """A request body as JSON data; protobuf bodies must be of ``kind`` (when given)."""
    if content_type == protobuf.MEDIA_TYPE:
        return _protobuf_body(raw, kind)
    if "protobuf" in content_type or "cbor" in content_type:
        raise ApiError.unsupported_media(
            f"application/json, application/yaml, {protobuf.MEDIA_TYPE}"
        )
    if not raw:
        return None
    try:
        return _DECODER.decode(raw.decode())
    except ValueError:
        if content_type == APPLY or "yaml" in content_type:
            try:
                return yaml.load(raw, Loader=_Loader)
            except yaml.YAMLError as exc:
                raise ApiError.bad_request(f"error decoding YAML: {exc}") from None
        raise ApiError.bad_request(
            "the object provided is unrecognized (must be of type JSON): invalid character"
        ) from None


def _protobuf_body(raw: bytes, kind: str) -> dict[str, Any]:
    try:
        obj = protobuf.decode_object(raw)
    except protobuf.UnknownKind as exc:
        raise ApiError.unsupported_protobuf(exc.api_version, exc.kind) from None
    except protobuf.ProtobufError as exc:
        raise ApiError.bad_request(f"error decoding the protobuf body: {exc}") from None
    if kind and obj["kind"] != kind:
        raise ApiError.bad_request(
            f"the protobuf body is a {obj['kind'] or 'message without a kind'}, expected {kind}"
        )
    return obj


def delete_options(raw: bytes, content_type: str, policy: str | None) -> dict[str, Any]:
    """DeleteOptions from the body (JSON, or protobuf from typed clients), with the
    ``propagationPolicy`` query as a fallback."""
    options = None
    if raw:
        if content_type != protobuf.MEDIA_TYPE:
            content_type = "application/json"  # what a real server assumes for DELETE bodies
        options = parse_body(raw, content_type, "DeleteOptions")
    out = dict(options) if isinstance(options, dict) else {}
    if policy and not out.get("propagationPolicy"):
        out["propagationPolicy"] = policy
    return out
