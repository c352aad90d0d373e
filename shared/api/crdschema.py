"""Structural OpenAPI v3 schemas (as a CustomResourceDefinition needs them) from the models.

:func:`structural_schema` turns a pydantic model's JSON Schema into the dialect of
``apiextensions.k8s.io/v1``: every ``$ref`` inlined; ``X | None`` becomes ``X`` with
``nullable: true``; ``int | str`` becomes ``x-kubernetes-int-or-string``; free-form parts
(``dict[str, Any]``, ``Any``, models that keep unknown fields) carry
``x-kubernetes-preserve-unknown-fields``; ``Literal`` fields become ``enum``; descriptions come
from the field docs (``Field(description=...)``, else the model's docstring, else
:data:`DESCRIPTIONS`); pydantic's titles are dropped. A schema with a node the API server
could not take (a union of two object types...) falls back to a preserved free-form node,
never to a wrong type.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

JSON = dict[str, Any]

#: descriptions for fields of models whose docs live elsewhere, keyed by the field's JSON
#: name; used only when the model gives none
DESCRIPTIONS: dict[str, str] = {
    "apiVersion": "APIVersion defines the versioned schema of this representation of an object.",
    "kind": "Kind is a string value representing the REST resource this object represents.",
    "metadata": "Standard object's metadata.",
    "status": "Observed state, written by Ripple's reporter (never by users).",
    "stopMatchingBehavior": (
        "What happens to deployed add-ons when the event (or the cluster) stops matching: "
        "WithdrawPolicies removes them, LeavePolicies leaves them in place."
    ),
    "syncMode": (
        "How add-ons are deployed: Continuous, OneTime (never updated), "
        "ContinuousWithDriftDetection, or DryRun (report what would change, change nothing)."
    ),
    "policyRefs": "ConfigMaps/Secrets whose content is deployed (instantiated when templates).",
    "helmCharts": "Helm charts to install; string fields and values are templates.",
    "kustomizationRefs": "Kustomize sources to build and deploy.",
    "templateResourceRefs": "Management-cluster objects available to templates (getResource).",
    "matchLabels": "Labels that must all be present with these values.",
    "matchExpressions": "Label requirements that must all hold.",
    "labelFilters": "Label conditions, ANDed.",
    "clusterRefs": "Clusters the profile deploys to.",
    "clusterSelector": "Label selector of the clusters the profile deploys to.",
    "matchingResources": "The objects currently matching the EventSource in that cluster.",
    "resources": "The collected objects (collectResources), base64 of JSON documents.",
    "cloudEvents": "The matching CloudEvents, each a base64 JSON document.",
    "eventSourceName": "Name of the EventSource.",
    "clusterName": "Name of the managed cluster.",
    "clusterNamespace": "Namespace of the managed cluster's registration.",
    "clusterType": "Capi or Sveltos.",
}


def _resolve(node: Any, defs: JSON, seen: tuple[str, ...]) -> Any:
    """``node`` with every ``$ref`` replaced by its definition (recursion: a free-form node)."""
    if isinstance(node, list):
        return [_resolve(n, defs, seen) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen or name not in defs:
            return {"x-kubernetes-preserve-unknown-fields": True}
        target = _resolve(copy.deepcopy(defs[name]), defs, (*seen, name))
        extra = {k: v for k, v in node.items() if k != "$ref"}
        return {**target, **extra}
    return {k: _resolve(v, defs, seen) for k, v in node.items() if k != "$defs"}


def _free() -> JSON:
    return {"x-kubernetes-preserve-unknown-fields": True}


def _union(node: JSON) -> JSON:
    """An ``anyOf`` as one structural node (``nullable``, int-or-string, or free form)."""
    options = [o for o in node["anyOf"] if isinstance(o, dict)]
    nullable = any(o.get("type") == "null" for o in options)
    rest = [o for o in options if o.get("type") != "null"]
    types = sorted(str(o.get("type")) for o in rest)
    out: JSON
    if len(rest) == 1:
        out = _convert(rest[0])
    elif types == ["integer", "string"]:
        out = {"x-kubernetes-int-or-string": True}
    else:
        out = _free()
    for key in ("description", "default"):
        if key in node and node[key] is not None:
            out[key] = node[key]
    if nullable and "x-kubernetes-int-or-string" not in out:
        out["nullable"] = True
    return out


def _convert(node: JSON) -> JSON:
    if "anyOf" in node or "oneOf" in node:
        return _union({**node, "anyOf": node.get("anyOf", node.get("oneOf"))})
    if "allOf" in node and len(node["allOf"]) == 1:
        return _convert({**node["allOf"][0], **{k: v for k, v in node.items() if k != "allOf"}})
    kind = node.get("type")
    out: JSON = {}
    if "description" in node:
        out["description"] = " ".join(str(node["description"]).split())
    if "const" in node:
        out.update(type="string", enum=[node["const"]])
    elif kind is None:
        out.update(_free())
    elif kind == "object":
        out["type"] = "object"
        props = node.get("properties")
        extra = node.get("additionalProperties")
        if props:
            out["properties"] = {k: _field(k, v) for k, v in props.items()}
            if node.get("required"):
                out["required"] = list(node["required"])
            if extra is True or isinstance(extra, dict):
                out["x-kubernetes-preserve-unknown-fields"] = True
        elif isinstance(extra, dict) and extra:
            value = _convert(extra)
            if value.get("x-kubernetes-preserve-unknown-fields") and "type" not in value:
                out["x-kubernetes-preserve-unknown-fields"] = True
            else:
                out["additionalProperties"] = value
        else:
            out["x-kubernetes-preserve-unknown-fields"] = True
    elif kind == "array":
        out["type"] = "array"
        out["items"] = _convert(node.get("items") or {})
    elif kind == "string" and node.get("format") == "binary":
        out.update(type="string", format="byte")
    elif isinstance(kind, str) and kind != "null":
        out["type"] = kind
    else:
        out.update(_free())
    for key in ("enum", "minLength", "maxLength", "minimum", "maximum", "pattern", "minItems"):
        if key in node:
            out[key] = node[key]
    if "default" in node and _useful_default(node["default"]):
        out["default"] = node["default"]
    return out


def _useful_default(value: object) -> bool:
    """Defaults worth writing into objects: enum-like strings and numbers (not ``""``, not
    ``None``, not empty collections, not booleans: Sveltos leaves most of them unset)."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, str):
        return bool(value)
    return isinstance(value, int | float)


def _field(name: str, node: Any) -> JSON:
    out = _convert(node if isinstance(node, dict) else {})
    if "description" not in out and name in DESCRIPTIONS:
        out["description"] = DESCRIPTIONS[name]
    return out


def structural_schema(model: type[BaseModel]) -> JSON:
    """The structural OpenAPI v3 schema of ``model`` (a top-level Kubernetes object).

    ``metadata`` is left to the API server (``type: object``), as every CRD does.
    """
    raw = model.model_json_schema(by_alias=True, mode="validation")
    resolved = _resolve(raw, raw.get("$defs", {}), ())
    schema = _convert(resolved)
    props = schema.get("properties", {})
    if "metadata" in props:
        props["metadata"] = {"type": "object"}
    for key in ("apiVersion", "kind"):
        if key in props:
            props[key] = {"type": "string", "description": DESCRIPTIONS[key]}
    if "required" in schema:
        schema["required"] = [r for r in schema["required"] if r not in ("apiVersion", "kind")]
        if not schema["required"]:
            del schema["required"]
    schema.pop("x-kubernetes-preserve-unknown-fields", None)
    return schema


def at(schema: JSON, path: str) -> JSON:
    """The node at a dotted property path (``spec.oneForEvent``); ``[]`` steps into items."""
    node = schema
    for part in path.split("."):
        node = node["items"] if part == "[]" else node["properties"][part]
    return node


def problems(schema: Any, path: str = "") -> list[str]:
    """Why ``schema`` is not structural (empty when it is): every node has a type unless it
    is free form or int-or-string, no ``$ref``/``anyOf`` left, no ``additionalProperties``
    beside ``properties``."""
    out: list[str] = []
    if not isinstance(schema, dict):
        return [f"{path or '<root>'}: not an object"]
    for bad in ("$ref", "anyOf", "oneOf", "allOf", "title"):
        if bad in schema:
            out.append(f"{path or '<root>'}: {bad} is not allowed")
    if schema.get("additionalProperties") is True:
        out.append(f"{path or '<root>'}: additionalProperties: true is not allowed")
    loose = schema.get("x-kubernetes-preserve-unknown-fields") or schema.get(
        "x-kubernetes-int-or-string"
    )
    if "type" not in schema and not loose:
        out.append(f"{path or '<root>'}: no type")
    if "properties" in schema and "additionalProperties" in schema:
        out.append(f"{path or '<root>'}: properties and additionalProperties together")
    for name, sub in (schema.get("properties") or {}).items():
        out.extend(problems(sub, f"{path}.{name}" if path else name))
    if "items" in schema:
        out.extend(problems(schema["items"], f"{path}[]"))
    if isinstance(schema.get("additionalProperties"), dict):
        out.extend(problems(schema["additionalProperties"], f"{path}{{}}"))
    return out
