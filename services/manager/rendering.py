"""Instantiating referenced ConfigMaps/Secrets into manifests (pure).

Each ``data`` key of a referenced ConfigMap/Secret is one template (Sveltos renders keys
separately since v1.0.1); its output is YAML, possibly several documents. Non-instantiated
references are deployed as they are.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import yaml

from services.manager.errors import InstantiationError
from shared.api.vocabulary import (
    CLUSTER_PROFILE_SECRET_TYPE,
    CONFIG_MAP,
    SECRET,
    SVELTOS_NAMESPACE,
)
from shared.templating import flavour_of, render_event_template
from shared.templating.events import Flavour

# libyaml's safe loader when PyYAML was built with it (5-10x faster than pure Python)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SECRET_TYPE = CLUSTER_PROFILE_SECRET_TYPE
GENERATED_NAMESPACE = SVELTOS_NAMESPACE  # where instantiated copies are generated


def template_flavour(ref_obj: Mapping[str, Any]) -> Flavour:
    """The flavour the referenced object asks for (shared.templating's reading of the
    annotation, as ``ripple render``); an unknown flavour is an instantiation error."""
    try:
        return flavour_of((ref_obj.get("metadata") or {}).get("annotations"))
    except ValueError as exc:
        raise InstantiationError(f"{_ident(ref_obj)}: {exc}") from exc


def data_entries(ref_obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(key, text)`` of a ConfigMap's data or a Secret's decoded data, in key order."""
    kind = ref_obj.get("kind")
    ident = _ident(ref_obj)
    if kind == SECRET.kind:
        stype = ref_obj.get("type", "")
        if stype and stype != SECRET_TYPE:
            raise InstantiationError(
                f"{ident}: Secret type {stype!r} is not supported; use type {SECRET_TYPE!r}"
            )
        out = []
        for key, value in sorted((ref_obj.get("data") or {}).items()):
            try:
                out.append((key, base64.b64decode(str(value), validate=True).decode()))
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise InstantiationError(f"{ident}: data[{key}] is not base64 text: {exc}") from exc
        for key, value in sorted((ref_obj.get("stringData") or {}).items()):
            out.append((key, str(value)))
        return out
    return [(k, str(v)) for k, v in sorted((ref_obj.get("data") or {}).items())]


def render_text(text: str, data: Mapping[str, Any], *, flavour: str, name: str) -> str:
    try:
        return str(render_event_template(text, dict(data), flavour=flavour, name=name))
    except Exception as exc:  # every engine error becomes an instantiation error
        raise InstantiationError(f"{name}: {exc}") from exc


def parse_manifests(text: str, where: str) -> list[dict[str, Any]]:
    """The objects of a (rendered) YAML text; empty documents are skipped."""
    try:
        docs = list(yaml.load_all(text, Loader=_LOADER))
    except yaml.YAMLError as exc:
        raise InstantiationError(f"{where}: output is not valid YAML: {exc}") from exc
    objects: list[dict[str, Any]] = []
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        if (
            isinstance(doc, dict)
            and doc.get("kind") == "List"
            and isinstance(doc.get("items"), list)
        ):
            objects.extend(i for i in doc["items"] if isinstance(i, dict))
            continue
        if not isinstance(doc, dict) or not doc.get("apiVersion") or not doc.get("kind"):
            raise InstantiationError(
                f"{where}: document {index} is not a Kubernetes object (needs apiVersion and kind)"
            )
        meta = doc.get("metadata")
        if not isinstance(meta, dict) or not meta.get("name"):
            raise InstantiationError(f"{where}: document {index} has no metadata.name")
        objects.append(doc)
    return objects


def instantiate(
    ref_obj: Mapping[str, Any], data: Mapping[str, Any], *, render: bool
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Manifests of one referenced object and its (rendered) data section."""
    ident = _ident(ref_obj)
    flavour = template_flavour(ref_obj)
    manifests: list[dict[str, Any]] = []
    rendered: dict[str, str] = {}
    for key, text in data_entries(ref_obj):
        where = f"{ident} data[{key}]"
        out = render_text(text, data, flavour=flavour, name=where) if render else text
        rendered[key] = out
        manifests.extend(parse_manifests(out, where))
    return manifests, rendered


def generated_copy(
    ref_obj: Mapping[str, Any], name: str, labels: dict[str, str], data: dict[str, str]
) -> dict[str, Any]:
    meta = ref_obj.get("metadata") or {}
    copy: dict[str, Any] = {
        "apiVersion": CONFIG_MAP.api_version,
        "kind": ref_obj.get("kind", CONFIG_MAP.kind),
        "metadata": {
            "name": name,
            "namespace": GENERATED_NAMESPACE,
            "labels": labels,
            "annotations": dict(meta.get("annotations") or {}),
        },
    }
    if copy["kind"] == SECRET.kind:
        copy["type"] = SECRET_TYPE
        copy["stringData"] = data
    else:
        copy["data"] = data
    return copy


def _ident(ref_obj: Mapping[str, Any]) -> str:
    meta = ref_obj.get("metadata") or {}
    return f"{ref_obj.get('kind')}/{meta.get('namespace', '')}/{meta.get('name', '')}"
