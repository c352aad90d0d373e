"""``Table`` responses (``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``, what
``kubectl get`` asks for) for custom resources, with the CRD version's
``additionalPrinterColumns`` evaluated as the API server does: a JSONPath per column
(``.spec.x``, ``.a[0]``, ``.a[*].b``, ``.conditions[?(@.type=="Ready")].status``), the first
result, formatted by the column's type (``date`` as an age: ``5m``, ``3h2m``, ``4d``).
Without printer columns a CRD gets Name and Age. Built-in kinds keep their plain lists.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

NAME_COLUMN = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace. Is required when creating "
    "resources, although some resources may allow a client to request the generation of an "
    "appropriate name automatically. Name is primarily intended for creation idempotence and "
    "configuration definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    "priority": 0,
}
AGE = {
    "name": "Age",
    "type": "date",
    "jsonPath": ".metadata.creationTimestamp",
    "description": "CreationTimestamp is a timestamp representing the server time when this "
    "object was created.",
}
_STEP = re.compile(
    r"""\.(?P<field>[A-Za-z0-9_\-$]+)
       |\[(?P<index>-?\d+|\*)\]
       |\[\?\(@\.(?P<fpath>[A-Za-z0-9_.\-]+)\s*(?P<op>==|!=)\s*(?P<fval>"[^"]*"|'[^']*'|[^)\s]+)\)\]
       |\[['"](?P<quoted>[^'"]+)['"]\]""",
    re.VERBOSE,
)
_MISSING = object()


def wants_table(accept: str) -> bool:
    """Whether ``accept`` asks for a meta.k8s.io Table first (kubectl get does)."""
    for item in accept.split(","):
        params = {
            k.strip(): v.strip() for k, _, v in (p.partition("=") for p in item.split(";")[1:])
        }
        if params.get("as") == "Table":
            return params.get("g", "meta.k8s.io") == "meta.k8s.io"
        if item.strip():
            return False
    return False


def evaluate(path: str, obj: Any) -> list[Any]:
    """The results of a printer column's JSONPath on ``obj``."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    text = text.lstrip("$")
    current = [obj]
    pos = 0
    while pos < len(text):
        m = _STEP.match(text, pos)
        if m is None:
            return []
        pos = m.end()
        current = [r for value in current for r in _step(m, value)]
    return current


def _step(m: re.Match[str], value: Any) -> list[Any]:
    field = m.group("field") or m.group("quoted")
    if field is not None:
        return [value[field]] if isinstance(value, dict) and field in value else []
    if not isinstance(value, list):
        return []
    index = m.group("index")
    if index == "*":
        return list(value)
    if index is not None:
        i = int(index)
        return [value[i]] if -len(value) <= i < len(value) else []
    fval = m.group("fval")
    want: Any = fval[1:-1] if fval[0] in "\"'" else _literal(fval)
    out = []
    for element in value:
        got: Any = element
        for part in str(m.group("fpath")).split("."):
            got = got.get(part, _MISSING) if isinstance(got, dict) else _MISSING
        if (got == want) == (m.group("op") == "=="):
            out.append(element)
    return out


def _literal(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def age(stamp: str, now: dt.datetime | None = None) -> str:
    """Kubernetes' HumanDuration of the time since ``stamp``."""
    try:
        then = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except (TypeError, ValueError):
        return "<unknown>"
    seconds = int(((now or dt.datetime.now(dt.UTC)) - then).total_seconds())
    if seconds < 0:
        return "<invalid>"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m{s}s" if s else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        m = minutes % 60
        return f"{hours}h{m}m" if m else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        h = hours % 24
        return f"{days}d{h}h" if h else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def _cell(column: dict[str, Any], obj: dict[str, Any]) -> Any:
    results = evaluate(str(column.get("jsonPath", "")), obj)
    if not results:
        return None
    value = results[0]
    kind = column.get("type", "string")
    if kind == "date":
        return age(str(value))
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if kind == "string" and not isinstance(value, str):
        return json.dumps(value)
    return value


def table(
    version: dict[str, Any],
    objs: list[dict[str, Any]],
    list_meta: dict[str, Any],
    include: str = "PartialObjectMetadata",
) -> dict[str, Any]:
    """The Table of ``objs`` for a CRD ``version`` (its ``additionalPrinterColumns``)."""
    columns = version.get("additionalPrinterColumns")
    if columns is None:
        columns = [AGE]
    definitions = [NAME_COLUMN] + [
        {
            "name": c.get("name", ""),
            "type": c.get("type", "string"),
            "format": c.get("format", ""),
            "description": c.get("description", ""),
            "priority": int(c.get("priority", 0)),
        }
        for c in columns
    ]
    rows = []
    for obj in objs:
        row: dict[str, Any] = {
            "cells": [obj["metadata"]["name"], *(_cell(c, obj) for c in columns)]
        }
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": definitions,
        "rows": rows,
    }
