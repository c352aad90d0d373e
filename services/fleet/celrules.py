"""``x-kubernetes-validations``: a CRD schema's CEL rules, evaluated as kube-apiserver does.

Each rule of a schema node runs with ``self`` bound to the node's value (skipped where the
value is absent). A transition rule (one that names ``oldSelf``) runs only on update and
only when the node exists in both the old and the new object (maps by key, list-maps
(``x-kubernetes-list-type: map``) by their keys; elements of other lists have no old
value). A rule that is false fails with its ``messageExpression`` (when it evaluates to a
string), its ``message``, or ``failed rule: RULE``; ``reason`` and ``fieldPath`` are
honoured. Rules are compiled with cel-python (as ``shared.evaluation.cel``); a rule that
does not compile makes the CRD invalid (:func:`compile_problems`).
"""

from __future__ import annotations

import re
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel

from services.fleet.schema import Cause, Schema, join, map_path, type_name

_OLD_SELF = re.compile(r"\boldSelf\b")
_MISSING = object()
_PROGRAMS: dict[str, Any] = {}
_ENV = celpy.Environment()
_PREFIX = {
    "FieldValueForbidden": "Forbidden",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
}


def _program(rule: str) -> Any:
    program = _PROGRAMS.get(rule)
    if program is None:
        if len(_PROGRAMS) > 2048:
            _PROGRAMS.clear()
        program = _PROGRAMS[rule] = _ENV.program(_ENV.compile(rule))
    return program


def compile_problems(schema: Schema, path: str) -> list[Cause]:
    """Causes for the rules of ``schema`` (at ``path`` in the CRD) that do not compile."""
    out: list[Cause] = []
    for i, rule in enumerate(schema.get("x-kubernetes-validations") or []):
        text = str(rule.get("rule", "")) if isinstance(rule, dict) else ""
        where = f"{path}.x-kubernetes-validations[{i}].rule"
        try:
            _program(text)
        except Exception as exc:  # celpy raises CELParseError and others
            first = (str(exc).strip().splitlines() or [repr(exc)])[0]
            out.append(
                Cause(
                    where,
                    "FieldValueInvalid",
                    f"Invalid value: {text!r}: compilation failed: {first}",
                )
            )
    for key, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, dict):
            out += compile_problems(sub, f"{path}.properties[{key}]")
    for key in ("items", "additionalProperties"):
        sub = schema.get(key)
        if isinstance(sub, dict):
            out += compile_problems(sub, f"{path}.{key}")
    return out


def check(new: Any, old: Any, schema: Schema, path: str = "") -> list[Cause]:
    """Every rule failure of ``new`` (``old``: the stored object on update, else None)."""
    out: list[Cause] = []
    _walk(new, _MISSING if old is None else old, schema, path, out)
    return out


def _walk(value: Any, old: Any, schema: Schema, path: str, out: list[Cause]) -> None:
    if value is None:
        return
    for rule in schema.get("x-kubernetes-validations") or []:
        if isinstance(rule, dict):
            cause = _run(rule, value, old, schema, path)
            if cause is not None:
                out.append(cause)
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            sub = props.get(key)
            child_path = join(path, key)
            if sub is None and isinstance(extra, dict):
                sub, child_path = extra, map_path(path, key) if path else key
            if not isinstance(sub, dict):
                continue
            was = old.get(key, _MISSING) if isinstance(old, dict) else _MISSING
            _walk(child, was, sub, child_path, out)
    elif isinstance(value, list):
        items = schema.get("items")
        if not isinstance(items, dict):
            return
        keys = schema.get("x-kubernetes-list-map-keys") or []
        by_key: dict[tuple[Any, ...], Any] = {}
        if schema.get("x-kubernetes-list-type") == "map" and isinstance(old, list) and keys:
            for element in old:
                if isinstance(element, dict):
                    by_key[tuple(repr(element.get(k)) for k in keys)] = element
        for i, element in enumerate(value):
            was = _MISSING
            if by_key and isinstance(element, dict):
                was = by_key.get(tuple(repr(element.get(k)) for k in keys), _MISSING)
            _walk(element, was, items, join(path, i), out)


def _run(rule: dict[str, Any], value: Any, old: Any, schema: Schema, path: str) -> Cause | None:
    text = str(rule.get("rule", ""))
    transition = bool(_OLD_SELF.search(text))
    if transition and old is _MISSING:
        return None  # a transition rule needs the field in both objects
    kind = schema.get("type") or type_name(value)
    field = path
    if rule.get("fieldPath"):
        field = f"{path}{rule['fieldPath']}" if path else str(rule["fieldPath"]).lstrip(".")
    reason = str(rule.get("reason") or "FieldValueInvalid")
    try:
        activation = {"self": json_to_cel(value)}
        if transition:
            activation["oldSelf"] = json_to_cel(old)
        result = _program(text).evaluate(activation)
    except Exception as exc:
        return Cause(
            field,
            "FieldValueInvalid",
            f'Invalid value: "{kind}": rule evaluation error: {text}: {exc}',
        )
    if isinstance(result, celtypes.BoolType):
        if bool(result):
            return None
        message = _message(rule, activation, text)
    else:
        message = f"rule evaluation error: {text}: {result}"
        reason = "FieldValueInvalid"
    prefix = _PREFIX.get(reason)
    if prefix is not None:
        return Cause(field, reason, f"{prefix}: {message}", transition)
    return Cause(field, reason, f'Invalid value: "{kind}": {message}', transition)


def _message(rule: dict[str, Any], activation: dict[str, Any], text: str) -> str:
    expression = rule.get("messageExpression")
    if expression:
        try:
            out = _program(str(expression)).evaluate(activation)
            if isinstance(out, str) and out.strip():
                return str(out)
        except Exception:  # a failing messageExpression falls back to message
            pass
    return str(rule.get("message") or f"failed rule: {text}")
