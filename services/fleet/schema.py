"""A CRD version's structural OpenAPI v3 schema, as the real API server applies it to the
custom resources it stores: pruning, defaulting and validation.

Order (as kube-apiserver): unknown fields are pruned silently (``apiVersion``, ``kind`` and
``metadata`` at the root, ``x-kubernetes-preserve-unknown-fields`` subtrees and
``additionalProperties`` maps are kept), nulls of non-``nullable`` fields are dropped, then
``default`` values are set, then the object is validated (type, required, enum,
min/maxLength, min/maximum (exclusive too), pattern, min/maxItems, min/maxProperties,
``x-kubernetes-int-or-string``, ``nullable``, ``allOf``/``anyOf``/``oneOf``/``not``). Every
failure is a :class:`Cause` worded as Kubernetes words it; ``x-kubernetes-validations``
(CEL) are in :mod:`services.fleet.celrules`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from services.fleet.patching import clone

Schema = dict[str, Any]
ROOT_KEPT = ("apiVersion", "kind", "metadata")
_JSON_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
}


@dataclass(frozen=True)
class Cause:
    """One failure: field path (``spec.ports[0].name``), reason and message."""

    field: str
    reason: str
    message: str
    #: from a transition rule (``oldSelf``): never ratcheted
    transition: bool = False

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}

    def line(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def show(value: Any) -> str:
    """A value as the API server prints it in ``Invalid value: ...``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value)
    if value is None:
        return '"null"'
    return json.dumps(type_name(value))


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def map_path(path: str, key: str) -> str:
    return f"{path}[{key}]"


_SEGMENT = re.compile(r"([^.\[\]]+)|\[([^\]]*)\]")
MISSING = object()


def resolve(obj: Any, field: str) -> Any:
    """The value at a cause's field path (``spec.a[0].b``, ``spec.m[key]``) or MISSING."""
    cur = obj
    for name, bracket in _SEGMENT.findall(field):
        key = name or bracket
        if isinstance(cur, list) and bracket.isdigit() and int(bracket) < len(cur):
            cur = cur[int(bracket)]
        elif isinstance(cur, dict) and key in cur:
            cur = cur[key]
        else:
            return MISSING
    return cur


def ratcheted(cause: Cause, new: Any, old: Any) -> bool:
    """Validation ratcheting (Kubernetes 1.30+): an update does not fail on a value it leaves
    unchanged (for a missing required field: its unchanged parent); transition rules are
    never ratcheted."""
    if cause.transition:
        return False
    field = cause.field
    if cause.reason == "FieldValueRequired":
        field = field.rpartition(".")[0] if "." in field else ""
    before = resolve(old, field)
    return before is not MISSING and before == resolve(new, field)


# -- pruning and defaulting ----------------------------------------------------------------


def prune_and_default(
    obj: dict[str, Any], schema: Schema, unknown: list[str] | None = None
) -> dict[str, Any]:
    """A copy of ``obj`` pruned and defaulted by ``schema`` (the root of a custom resource);
    the paths of the unknown fields pruned are appended to ``unknown``."""
    out: dict[str, Any] = clone(obj)  # a JSON value: no memo needed (deepcopy is ~4x slower)
    _prune(out, schema, "", unknown if unknown is not None else [], root=True)
    _default(out, schema)
    return out


def _preserves(schema: Schema) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields")) or bool(
        schema.get("x-kubernetes-embedded-resource")
    )


def _prune(value: Any, schema: Schema, path: str, unknown: list[str], root: bool = False) -> None:
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key in list(value):
            child = value[key]
            if root and key in ROOT_KEPT:
                continue
            sub = props.get(key)
            if sub is None and isinstance(extra, dict):
                sub = extra
            if sub is None:
                if not (_preserves(schema) or extra is True):
                    del value[key]
                    unknown.append(join(path, key))
                continue
            if child is None and not sub.get("nullable"):
                del value[key]  # nulls of non-nullable fields are pruned (then defaulted)
                continue
            if schema.get("x-kubernetes-embedded-resource") and key in ROOT_KEPT:
                continue
            _prune(child, sub, join(path, key), unknown)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, element in enumerate(value):
                _prune(element, items, join(path, i), unknown)


def _default(value: Any, schema: Schema) -> None:
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if key not in value and "default" in sub:
                value[key] = clone(sub["default"])
            if key in value:
                _default(value[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in value:
                if key not in props:
                    _default(value[key], extra)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for element in value:
                _default(element, items)


# -- validation ----------------------------------------------------------------------------


def validate(value: Any, schema: Schema, path: str = "", root: bool = True) -> list[Cause]:
    """Every structural failure of ``value`` against ``schema`` (empty: valid)."""
    out: list[Cause] = []
    _validate(value, schema, path, out, root)
    return out


def _type_ok(value: Any, schema: Schema) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    want = schema.get("type")
    if not want:
        return True
    if want == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if want == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    kind = _JSON_TYPES.get(want)
    return kind is None or isinstance(value, kind)


def _validate(value: Any, schema: Schema, path: str, out: list[Cause], root: bool = False) -> None:
    label = path or "<root>"
    if value is None:
        if not schema.get("nullable") and schema.get("type"):
            out.append(
                Cause(
                    path,
                    "FieldValueTypeInvalid",
                    f'Invalid value: "null": {label} in body must be of type '
                    f'{schema["type"]}: "null"',
                )
            )
        return
    if not _type_ok(value, schema):
        want = "integer or string" if schema.get("x-kubernetes-int-or-string") else schema["type"]
        out.append(
            Cause(
                path,
                "FieldValueTypeInvalid",
                f'Invalid value: "{type_name(value)}": {label} in body must be of type {want}: '
                f'"{type_name(value)}"',
            )
        )
        return
    _scalar_checks(value, schema, path, label, out)
    for sub in schema.get("allOf") or []:
        _validate(value, sub, path, out)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if options:
            passing = sum(1 for sub in options if not validate(value, sub, path, root=False))
            if passing == 0 or (key == "oneOf" and passing > 1):
                word = (
                    "must validate one and only one schema (oneOf)"
                    if key == "oneOf"
                    else ("must validate at least one schema (anyOf)")
                )
                out.append(
                    Cause(path, "FieldValueInvalid", f"Invalid value: {show(value)}: {word}")
                )
    if isinstance(schema.get("not"), dict) and not validate(value, schema["not"], path, root=False):
        out.append(
            Cause(
                path,
                "FieldValueInvalid",
                f"Invalid value: {show(value)}: must not validate the schema (not)",
            )
        )
    if isinstance(value, dict):
        _object_checks(value, schema, path, label, out, root)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, element in enumerate(value):
                _validate(element, items, join(path, i), out)


def _scalar_checks(value: Any, schema: Schema, path: str, label: str, out: list[Cause]) -> None:
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        supported = ", ".join(json.dumps(e) for e in enum)
        out.append(
            Cause(
                path,
                "FieldValueNotSupported",
                f"Unsupported value: {show(value)}: supported values: {supported}",
            )
        )
    if isinstance(value, str):
        n = len(value)
        if "maxLength" in schema and n > schema["maxLength"]:
            out.append(
                Cause(
                    path,
                    "FieldValueTooLong",
                    f"Too long: may not be more than {schema['maxLength']} bytes",
                )
            )
        if "minLength" in schema and n < schema["minLength"]:
            out.append(
                Cause(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {show(value)}: {label} in body should be at least "
                    f"{schema['minLength']} chars long",
                )
            )
        pattern = schema.get("pattern")
        if pattern and re.search(pattern, value) is None:
            out.append(
                Cause(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {show(value)}: {label} in body should match '{pattern}'",
                )
            )
    if isinstance(value, int | float) and not isinstance(value, bool):
        _bounds(value, schema, path, label, out)
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(
                Cause(
                    path,
                    "FieldValueTooMany",
                    f"Too many: {len(value)}: must have at most {schema['maxItems']} items",
                )
            )
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append(
                Cause(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {len(value)}: {label} in body should have at least "
                    f"{schema['minItems']} items",
                )
            )


def _bounds(value: float, schema: Schema, path: str, label: str, out: list[Cause]) -> None:
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None:
        if schema.get("exclusiveMinimum") and value <= low:
            why = f"should be greater than {json.dumps(low)}"
        elif value < low:
            why = f"should be greater than or equal to {json.dumps(low)}"
        else:
            why = ""
        if why:
            out.append(
                Cause(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {show(value)}: {label} in body {why}",
                )
            )
    if high is not None:
        if schema.get("exclusiveMaximum") and value >= high:
            why = f"should be less than {json.dumps(high)}"
        elif value > high:
            why = f"should be less than or equal to {json.dumps(high)}"
        else:
            why = ""
        if why:
            out.append(
                Cause(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {show(value)}: {label} in body {why}",
                )
            )


def _object_checks(
    value: dict[str, Any], schema: Schema, path: str, label: str, out: list[Cause], root: bool
) -> None:
    for req in schema.get("required") or []:
        if req not in value:
            out.append(Cause(join(path, req), "FieldValueRequired", "Required value"))
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        out.append(
            Cause(
                path,
                "FieldValueTooMany",
                f"Too many: {len(value)}: must have at most {schema['maxProperties']} items",
            )
        )
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        out.append(
            Cause(
                path,
                "FieldValueInvalid",
                f"Invalid value: {len(value)}: {label} in body should have at least "
                f"{schema['minProperties']} properties",
            )
        )
    props = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    for key, child in value.items():
        if root and key in ROOT_KEPT:
            continue  # ObjectMeta is validated by the server's own rules
        sub = props.get(key)
        if sub is not None:
            _validate(child, sub, join(path, key), out)
        elif isinstance(extra, dict):
            _validate(child, extra, map_path(path, key) if path else key, out)
