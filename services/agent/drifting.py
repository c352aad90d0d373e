"""Drift detection for ``syncMode: ContinuousWithDriftDetection`` (pure).

A deployed object has drifted when a field the desired manifest sets no longer has the
desired value in the live object (fields the server or other controllers add are ignored),
or when the object was deleted. :class:`DriftIndex` says which informer change is drift of
which profile (its handler then applies it again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from services.agent.planning import normal_key
from shared.api.vocabulary import GVK, ObjectKey
from shared.contract import messages as m

object_key = ObjectKey.of

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


class DriftIndex:
    """The deployed objects of ``ContinuousWithDriftDetection`` profiles: which informer
    change means that a profile must be applied again."""

    def __init__(self) -> None:
        self.owner: dict[ObjectKey, str] = {}  # deployed object (normal key) -> profile

    def track(self, profile: str, keys: Iterable[ObjectKey]) -> None:
        """``profile`` (drift detection on) deployed ``keys`` (replacing what it had)."""
        self.untrack(profile)
        for key in keys:
            self.owner[normal_key(key)] = profile

    def untrack(self, profile: str) -> None:
        self.owner = {k: p for k, p in self.owner.items() if p != profile}

    def kinds(self) -> set[GVK]:
        """The kinds to watch (as the agent itself, in every namespace)."""
        return {GVK(k.api_version, k.kind) for k in self.owner}

    def check(
        self,
        event_type: str,
        live: dict[str, Any],
        desired_of: Callable[[str], m.DesiredState | None],
    ) -> Drift | None:
        """The drift one informer event shows (None: none): a deployed object was deleted,
        or a field the profile's latest desired manifest sets no longer has that value
        (``desired_of(profile)``: the latest desired state, so that the changes of an apply
        under way are not taken for drift). ``ADDED`` counts too: an informer started after
        the apply lists objects that may have drifted before it listed them."""
        if not self.owner or event_type not in ("ADDED", "MODIFIED", "DELETED"):
            return None
        key = normal_key(object_key(live))
        profile = self.owner.get(key)
        desired = desired_of(profile) if profile is not None else None
        if profile is None or desired is None:
            return None
        if event_type == "DELETED":
            return Drift(profile, key, "deleted")
        for obj in desired.objects:
            if normal_key(object_key(obj.manifest)) == key:
                where = drifted(obj.manifest, live)
                return Drift(profile, key, where) if where else None
        return None

    def missing(self, gvk: GVK, present: Iterable[ObjectKey]) -> list[Drift]:
        """Deployed objects of ``gvk`` absent from a complete list (``present``): deleted
        before their informer listed (no DELETED event will come for them)."""
        there = {normal_key(k) for k in present}
        return [
            Drift(profile, key, "deleted")
            for key, profile in sorted(self.owner.items())
            if (key.api_version, key.kind) == (gvk.api_version, gvk.kind) and key not in there
        ]


@dataclass(frozen=True)
class Drift:
    profile: str
    key: ObjectKey
    where: str
