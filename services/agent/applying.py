"""Applying the desired state of this cluster (server-side apply, prune, Helm releases).

Synchronous Kubernetes and Helm calls; the service runs them in a worker thread, on the
plan's immutable data. Every object is applied with the agent's own ownership stamp
(:mod:`services.agent.ownership`: owner profile and kind, ``ripple.io/managed-by``),
whatever its manifest says for those keys. Pruning deletes only objects whose *live* stamp
names the same profile, so an object another profile or a user took over (or that never
carried an agent's stamp) is never removed; an object still desired is never pruned, even
when its apply failed. A kind the cluster positively does not serve holds no object to prune.

Helm releases (:mod:`shared.helm.sdk`, imported on the first chart only: it loads an 85 MB
native library) come after the objects, one at a time in the profile's order, owned by the
profile (release labels): a release of another owner, or not Ripple's, is never taken over
(``takeOwnership`` aside) -- installing or upgrading it fails with that reason, pruning or
removing it leaves it in place. A failed release does not stop the others; each failure is
terminal (:class:`~shared.helm.errors.HelmTerminal`: the input is wrong) or retryable. With
drift detection, the objects of each deployed release's manifest are read back for the
drift index; a release whose objects drifted is upgraded although unchanged (``force``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.agent import ownership, releasing
from services.agent.planning import ApplyResult, normal_key
from services.agent.releasing import ChartStep, Held, ReleaseObjects, ReleasesDone
from shared.helm import HelmChart, HelmFailure, HelmTerminal
from shared.helm.errors import ReleaseConflict
from shared.helm.releases import ReleaseResult
from shared.kube import GVK, KindNotServed, KubeClient, KubeError
from shared.kube.client import ObjectKey, object_key
from shared.logs import ident

log = logging.getLogger(__name__)

FIELD_MANAGER = "ripple"


@dataclass(frozen=True)
class HelmAccess:
    """How Helm reaches this cluster: the kubeconfig ("": Helm's own resolution, in-cluster
    included), the chart cache ("": :func:`shared.helm.native.default_cache_dir`), and
    client-go's throttle."""

    kubeconfig: str = ""
    cache_dir: str = ""
    qps: float = 200.0
    burst: int = 400


class Applier:
    def __init__(self, client: KubeClient, cluster: str, helm: HelmAccess | None = None) -> None:
        self.client = client
        self.cluster = cluster
        self.helm = helm or HelmAccess()

    def apply(
        self,
        profile: str,
        objects: Sequence[tuple[dict[str, Any], str]],
        previous: Sequence[ObjectKey],
        dry_run: bool = False,
        charts: Sequence[ChartStep] = (),
        drift: bool = False,
    ) -> ApplyResult:
        """Apply every ``(manifest, hash)``; prune ``previous`` objects no longer desired;
        then install, upgrade or uninstall the releases of ``charts``, in order (``drift``:
        read back the objects of each deployed release)."""
        result = ApplyResult("Provisioned")
        errors: list[str] = []
        wanted = {normal_key(object_key(manifest)) for manifest, _ in objects}
        for manifest, digest in objects:
            key = object_key(manifest)
            try:
                stamped = ownership.stamp(manifest, profile)
                if not dry_run:
                    live = self.client.apply(stamped, field_manager=FIELD_MANAGER, force=True)
                    key = object_key(live) if live.get("metadata") else key
            except (KubeError, ownership.NotStampable) as exc:
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
        result.releases = self.releases(profile, charts, dry_run, drift and not dry_run)
        errors.extend(result.releases.errors)
        if errors:
            result.status = "Failed"
            result.message = "; ".join(errors)
        return result

    def remove(
        self,
        profile: str,
        previous: Sequence[ObjectKey],
        leave: bool = False,
        releases: Sequence[Held] = (),
    ) -> ApplyResult:
        """The profile is no longer desired here: delete what it deployed and uninstall its
        releases, last first (unless ``leave``)."""
        errors: list[str] = []
        done = ReleasesDone()
        if not leave:
            for key in previous:
                errors.extend(self._prune(profile, key, False))
            steps = [ChartStep(h.namespace, h.name) for h in reversed(releases)]
            done = self.releases(profile, steps, False)
            errors.extend(done.errors)
        return ApplyResult("Failed" if errors else "Removed", "; ".join(errors), releases=done)

    # -- Helm releases -----------------------------------------------------------------------
    def releases(
        self, profile: str, steps: Sequence[ChartStep], dry_run: bool, drift: bool = False
    ) -> ReleasesDone:
        """Run ``steps`` one at a time; a failure does not stop the next ones."""
        done = ReleasesDone()
        for step in steps:
            obj = ident("HelmRelease", step.name or "?", step.namespace, self.cluster)
            try:
                result = self._release(profile, step, dry_run)
            except ReleaseConflict as exc:
                if step.prune:  # no longer the profile's: left in place
                    done.foreign.add(step.ref)
                    log.warning("left in place: %s", exc, extra={"obj": obj})
                    continue
                releasing.add_failure(done, step, str(exc), terminal=True, conflict=True)
                log.warning("release failed: %s", exc, extra={"obj": obj})
            except (HelmTerminal, ValueError) as exc:  # ValueError: owner not a label value
                releasing.add_failure(done, step, str(exc), terminal=True)
                log.warning("release failed (terminal): %s", exc, extra={"obj": obj})
            except HelmFailure as exc:
                releasing.add_failure(done, step, str(exc), terminal=False)
                log.warning("release failed (retried): %s", exc, extra={"obj": obj})
            except Exception as exc:  # unforeseen: retried, and the others still run
                message = f"release {step}: {type(exc).__name__}: {exc}"
                releasing.add_failure(done, step, message, terminal=False)
                log.exception("release failed: %s", exc, extra={"obj": obj})
            else:
                releasing.add_result(done, step, result)
                if drift and not step.prune and result.status == "deployed":
                    done.objects.update(self._objects(step, obj))
        return done

    def _objects(self, step: ChartStep, obj: str) -> ReleaseObjects:
        """The objects of a deployed release's manifest (none when it cannot be read: its
        drift is then not detected until the next apply)."""
        from shared.helm import native
        from shared.helm.errors import Where

        h = self.helm
        where = Where(release=step.name, namespace=step.namespace, cluster=self.cluster)
        try:
            with native.open_config(h.kubeconfig, step.namespace, qps=h.qps, burst=h.burst) as c:
                text = native.manifest(c, step.name, where)
            return releasing.release_objects(step.ref, text, self._namespaced)
        except Exception as exc:
            log.warning("manifest not read (drift not detected): %s", exc, extra={"obj": obj})
            return {}

    def _namespaced(self, api_version: str, kind: str) -> bool:
        try:
            return self.client.namespaced(GVK(api_version, kind))
        except KubeError:  # unknown: most chart objects are namespaced
            return True

    def _release(self, profile: str, step: ChartStep, dry_run: bool) -> ReleaseResult:
        chart = None
        if step.chart is not None:  # validated before the SDK is loaded
            where = f"helmCharts entry {step}" if step.name else "helmCharts entry"
            chart = HelmChart.parse(step.chart, where)
        from shared.helm import sdk  # the native library, loaded with the first chart only
        from shared.helm.releases import ReleaseRef

        h = self.helm
        common: dict[str, Any] = {
            "owner": profile,
            "cluster": self.cluster,
            "dry_run": dry_run,
            "qps": h.qps,
            "burst": h.burst,
        }
        if chart is None:
            ref = ReleaseRef(step.namespace, step.name)
            return sdk.uninstall(h.kubeconfig, ref, **common)
        cache = h.cache_dir or None
        return sdk.apply(
            h.kubeconfig, chart, step.values, cache_dir=cache, force=step.force, **common
        )

    def _prune(self, profile: str, key: ObjectKey, dry_run: bool) -> list[str]:
        gvk = GVK(key.api_version, key.kind)
        try:
            try:
                live = self.client.get(gvk, key.namespace or None, key.name)
            except KindNotServed:  # positive knowledge: no such kind, so no such object
                return []
            if not ownership.owned_by(live, profile):
                if live is not None:
                    owner = ownership.owner_of(live) or "no agent's stamp"
                    log.info(
                        "left in place (owner: %s)", owner, extra={"obj": f"{self.cluster}:{key}"}
                    )
                return []
            if not dry_run:
                self.client.delete(gvk, key.namespace or None, key.name)
            log.info("pruned", extra={"obj": f"{self.cluster}:{key}"})
        except KubeError as exc:
            log.warning("prune failed: %s", exc, extra={"obj": f"{self.cluster}:{key}"})
            return [f"prune {key}: {exc}"]
        return []


__all__ = ["Applier", "ApplyResult", "HelmAccess", "normal_key"]
