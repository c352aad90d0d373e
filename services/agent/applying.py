"""Applying the desired state of this cluster (server-side apply, prune, outcome).

Synchronous Kubernetes calls; the service runs them in a worker thread. Pruning deletes only
objects this agent deployed for the same profile (checked through the owner annotation on the
live object), so an object another profile or a user took over is never removed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from shared.kube import GVK, KubeClient, KubeError
from shared.kube.client import ObjectKey, object_key

log = logging.getLogger(__name__)

FIELD_MANAGER = "ripple"
OWNER_ANNOTATION = "projectsveltos.io/owner-name"


@dataclass
class ApplyResult:
    status: str  # Provisioned | Failed | Removed
    message: str = ""
    applied: list[tuple[ObjectKey, str]] = field(default_factory=list)  # (key, hash)


def _owned_by(live: dict[str, Any] | None, profile: str) -> bool:
    if live is None:
        return False
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    return annotations.get(OWNER_ANNOTATION) == profile


class Applier:
    def __init__(self, client: KubeClient, cluster: str) -> None:
        self.client = client
        self.cluster = cluster

    def apply(
        self,
        profile: str,
        objects: list[tuple[dict[str, Any], str]],
        previous: list[ObjectKey],
        dry_run: bool = False,
    ) -> ApplyResult:
        """Apply every ``(manifest, hash)``; prune ``previous`` objects no longer desired."""
        result = ApplyResult("Provisioned")
        errors: list[str] = []
        wanted: set[ObjectKey] = set()
        for manifest, digest in objects:
            key = object_key(manifest)
            try:
                if not dry_run:
                    live = self.client.apply(manifest, field_manager=FIELD_MANAGER, force=True)
                    key = object_key(live) if live.get("metadata") else key
            except KubeError as exc:
                errors.append(f"{key}: {exc}")
                log.warning("apply failed: %s", exc, extra={"obj": f"{self.cluster}:{key}"})
                continue
            wanted.add(normal_key(key))
            result.applied.append((key, digest))
            log.info("applied (%s)", digest[:19], extra={"obj": f"{self.cluster}:{key}"})
        for key in previous:
            if normal_key(key) in wanted:
                continue
            errors.extend(self._prune(profile, key, dry_run))
        if errors:
            result.status = "Failed"
            result.message = "; ".join(errors)
        return result

    def remove(self, profile: str, previous: list[ObjectKey], leave: bool = False) -> ApplyResult:
        """The profile is no longer desired here: delete what it deployed (unless ``leave``)."""
        errors: list[str] = []
        if not leave:
            for key in previous:
                errors.extend(self._prune(profile, key, False))
        return ApplyResult("Failed" if errors else "Removed", "; ".join(errors))

    def _prune(self, profile: str, key: ObjectKey, dry_run: bool) -> list[str]:
        gvk = GVK(key.api_version, key.kind)
        try:
            live = self.client.get(gvk, key.namespace or None, key.name)
            if not _owned_by(live, profile):
                return []
            if not dry_run:
                self.client.delete(gvk, key.namespace or None, key.name)
            log.info("pruned", extra={"obj": f"{self.cluster}:{key}"})
        except KubeError as exc:
            log.warning("prune failed: %s", exc, extra={"obj": f"{self.cluster}:{key}"})
            return [f"prune {key}: {exc}"]
        return []


def normal_key(key: ObjectKey) -> ObjectKey:
    """Namespaced keys without a namespace mean ``default`` (as the agent applies them)."""
    return ObjectKey(key.api_version, key.kind, key.namespace or "default", key.name)
