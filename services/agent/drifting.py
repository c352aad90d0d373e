"""Drift detection for ``syncMode: ContinuousWithDriftDetection`` (pure).

A deployed object has drifted when a field the desired manifest sets no longer has the
desired value in the live object (fields the server or other controllers add are ignored),
or when the object was deleted.
"""

from __future__ import annotations

from typing import Any

IGNORED_METADATA = {"resourceVersion", "uid", "generation", "creationTimestamp", "managedFields"}


def drifted(desired: Any, live: Any, path: str = "") -> str:
    """The first path where ``live`` departs from ``desired`` ("" when it does not)."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return path or "."
        for key, value in desired.items():
            if path == ".metadata" and key in IGNORED_METADATA:
                continue
            where = drifted(value, live.get(key), f"{path}.{key}")
            if where:
                return where
        return ""
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return path
        for index, (d, v) in enumerate(zip(desired, live, strict=True)):
            where = drifted(d, v, f"{path}[{index}]")
            if where:
                return where
        return ""
    if desired != live and not (desired in (None, {}, []) and live in (None, {}, [])):
        return path
    return ""
