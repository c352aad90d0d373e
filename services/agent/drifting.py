"""Drift detection for ``syncMode: ContinuousWithDriftDetection`` (pure).

A deployed object has drifted when a field the desired manifest sets no longer has the
desired value in the live object (fields the server or other controllers add are ignored),
or when the object was deleted. :class:`DriftIndex` says which informer change is drift of
which profile (its handler then applies it again).

The objects of a profile's Helm releases are tracked too, against the release's manifest
(as Helm rendered it at the last install or upgrade): their drift also re-applies the
profile, and the release it belongs to is marked *forced* (:meth:`DriftIndex.forced_of`):
upgraded again although its chart and values did not change, which applies its objects
again. While an apply is under way its release objects are not tracked
(:meth:`DriftIndex.hold_releases`): the apply's own writes are not drift.

Drift is judged from a known baseline, so that no edit goes unnoticed whenever it happens:

- the objects an apply is about to write are tracked BEFORE it writes them
  (:meth:`DriftIndex.expect`): an edit made between the apply's write and the end of the
  apply, seen by an informer already running, is drift (it used to be ignored: the objects
  were tracked only once the apply was over);
- an informer's list (its first one, and every relist) ends with a check of every tracked
  object it holds against the latest desired manifest (:meth:`DriftIndex.baseline`) and of
  the tracked objects it lacks (:meth:`DriftIndex.missing`): an edit made before the list
  shows even when its event was handled before the object was tracked.

The apply's own writes are never drift: the live object is always compared with the latest
desired state, which is what the apply writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from services.agent import ownership
from services.agent.planning import normal_key
from services.agent.releasing import Ref, ReleaseObjects
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
        #: object of a release (normal key) -> (release, its manifest)
        self.released: dict[ObjectKey, tuple[Ref, dict[str, Any]]] = {}
        self.forced: dict[str, set[Ref]] = {}  # profile -> releases to upgrade again

    def track(
        self, profile: str, keys: Iterable[ObjectKey], releases: ReleaseObjects | None = None
    ) -> None:
        """``profile`` (drift detection on) deployed ``keys`` and the objects of its
        releases (replacing what it had)."""
        self.untrack(profile)
        for key in keys:
            self.owner[normal_key(key)] = profile
        for key, (ref, manifest) in (releases or {}).items():
            self.owner[normal_key(key)] = profile
            self.released[normal_key(key)] = (ref, manifest)

    def expect(self, profile: str, keys: Iterable[ObjectKey]) -> None:
        """An apply of ``profile`` (drift detection on) is about to write ``keys``: they are
        tracked from now on, in addition to what it holds (replaced by :meth:`track` when
        the apply is over, or dropped by :meth:`untrack` when it failed)."""
        for key in keys:
            self.owner[normal_key(key)] = profile

    def untrack(self, profile: str) -> None:
        self.owner = {k: p for k, p in self.owner.items() if p != profile}
        self.released = {k: v for k, v in self.released.items() if k in self.owner}

    def hold_releases(self, profile: str) -> None:
        """An apply of ``profile`` is under way: its release objects are not watched for
        drift until it is tracked again."""
        self.owner = {k: p for k, p in self.owner.items() if p != profile or k not in self.released}
        self.released = {k: v for k, v in self.released.items() if k in self.owner}

    def force(self, profile: str, refs: Iterable[Ref]) -> None:
        """Upgrade these releases of ``profile`` again at its next apply."""
        refs = set(refs)
        if refs:
            self.forced.setdefault(profile, set()).update(refs)

    def forced_of(self, profile: str) -> frozenset[Ref]:
        """The releases of ``profile`` whose objects drifted since its last apply."""
        return frozenset(self.forced.get(profile, ()))

    def repaired(self, profile: str) -> None:
        """``profile`` was applied with success (or removed): nothing left to force."""
        self.forced.pop(profile, None)

    def _drift(self, profile: str, key: ObjectKey, where: str) -> Drift:
        if key in self.released:
            self.force(profile, [self.released[key][0]])
        return Drift(profile, key, where)

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
            return self._drift(profile, key, "deleted")
        for obj in desired.objects:
            if normal_key(object_key(obj.manifest)) == key:
                try:  # as applied: with the agent's ownership stamp, whatever the manifest says
                    applied = ownership.stamp(obj.manifest, profile, desired.tier)
                except ownership.NotStampable:
                    return None  # never applied
                where = drifted(applied, live)
                return Drift(profile, key, where) if where else None
        if key in self.released:
            where = drifted(self.released[key][1], live)
            return self._drift(profile, key, where) if where else None
        return None

    def baseline(
        self,
        gvk: GVK,
        cached: Iterable[dict[str, Any]],
        desired_of: Callable[[str], m.DesiredState | None],
    ) -> list[Drift]:
        """The drift of every tracked object of ``gvk`` an informer holds after a complete
        list (``cached``), judged against the latest desired state: the baseline from which
        later events are judged, whatever was seen (or not) before."""
        if not self.owner:
            return []
        out = []
        for live in cached:
            if (live.get("apiVersion"), live.get("kind")) != (gvk.api_version, gvk.kind):
                continue
            if normal_key(object_key(live)) not in self.owner:
                continue
            drift = self.check("MODIFIED", live, desired_of)
            if drift is not None:
                out.append(drift)
        return out

    def missing(self, gvk: GVK, present: Iterable[ObjectKey]) -> list[Drift]:
        """Deployed objects of ``gvk`` absent from a complete list (``present``): deleted
        before their informer listed (no DELETED event will come for them)."""
        there = {normal_key(k) for k in present}
        return [
            self._drift(profile, key, "deleted")
            for key, profile in sorted(self.owner.items())
            if (key.api_version, key.kind) == (gvk.api_version, gvk.kind) and key not in there
        ]


@dataclass(frozen=True)
class Drift:
    profile: str
    key: ObjectKey
    where: str
