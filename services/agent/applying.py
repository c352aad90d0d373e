"""Applying the desired state of this cluster (server-side apply, prune, outcome).

Synchronous Kubernetes calls; the service runs them in a worker thread, on the plan's
immutable data. Pruning deletes only objects this agent deployed for the same profile
(checked through the owner annotation on the live object), so an object another profile or
a user took over is never removed; an object still desired is never pruned, even when its
apply failed. A kind the cluster positively does not serve holds no object to prune.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from services.agent.planning import ApplyResult, normal_key
from shared.kube import GVK, KindNotServed, KubeClient, KubeError
from shared.kube.client import ObjectKey, object_key

log = logging.getLogger(__name__)

FIELD_MANAGER = "ripple"
OWNER_ANNOTATION = "projectsveltos.io/owner-name"


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
        objects: Sequence[tuple[dict[str, Any], str]],
        previous: Sequence[ObjectKey],
        dry_run: bool = False,
    ) -> ApplyResult:
        """Apply every ``(manifest, hash)``; prune ``previous`` objects no longer desired."""
        result = ApplyResult("Provisioned")
        errors: list[str] = []
        wanted = {normal_key(object_key(manifest)) for manifest, _ in objects}
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

    def remove(
        self, profile: str, previous: Sequence[ObjectKey], leave: bool = False
    ) -> ApplyResult:
        """The profile is no longer desired here: delete what it deployed (unless ``leave``)."""
        errors: list[str] = []
        if not leave:
            for key in previous:
                errors.extend(self._prune(profile, key, False))
        return ApplyResult("Failed" if errors else "Removed", "; ".join(errors))

    def _prune(self, profile: str, key: ObjectKey, dry_run: bool) -> list[str]:
        gvk = GVK(key.api_version, key.kind)
        try:
            try:
                live = self.client.get(gvk, key.namespace or None, key.name)
            except KindNotServed:  # positive knowledge: no such kind, so no such object
                return []
            if not _owned_by(live, profile):
                return []
            if not dry_run:
                self.client.delete(gvk, key.namespace or None, key.name)
            log.info("pruned", extra={"obj": f"{self.cluster}:{key}"})
        except KubeError as exc:
            log.warning("prune failed: %s", exc, extra={"obj": f"{self.cluster}:{key}"})
            return [f"prune {key}: {exc}"]
        return []


__all__ = ["Applier", "ApplyResult", "normal_key"]
