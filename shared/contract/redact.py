"""Redaction of Secret contents before an object is put into a report or an event.

Secrets' data must never appear on NATS outside the desired state addressed to one cluster's
agent. :func:`redact` keeps the shape of a Secret (its keys, so templates and consumers can
still see which keys exist) and replaces every value of ``data`` and ``stringData`` with
:data:`REDACTED`; it also drops the ``kubectl.kubernetes.io/last-applied-configuration``
annotation, which holds a full copy of the Secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def redact(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` with Secret values redacted (any object of ``kind: Secret``, whatever
    its apiVersion: fail closed); other kinds are returned as a shallow copy. The caller's
    object is never modified."""
    out = dict(obj)
    if obj.get("kind") != "Secret":
        return out
    for field in ("data", "stringData"):
        values = out.get(field)
        if isinstance(values, Mapping):
            out[field] = {str(k): REDACTED for k in values}
        elif values is not None:
            out[field] = REDACTED
    metadata = out.get("metadata")
    if isinstance(metadata, Mapping):
        annotations = metadata.get("annotations")
        if isinstance(annotations, Mapping) and LAST_APPLIED in annotations:
            out["metadata"] = {
                **metadata,
                "annotations": {k: v for k, v in annotations.items() if k != LAST_APPLIED},
            }
    return out


def is_redacted(obj: Mapping[str, Any]) -> bool:
    """True when ``obj`` carries no Secret value (used by tests and assertions)."""
    if obj.get("kind") != "Secret":
        return True
    for field in ("data", "stringData"):
        values = obj.get(field)
        if isinstance(values, Mapping) and any(v != REDACTED for v in values.values()):
            return False
        if values is not None and not isinstance(values, Mapping) and values != REDACTED:
            return False
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return LAST_APPLIED not in annotations
