"""Applying the desired state of this cluster (server-side apply, prune, Helm releases).

Synchronous Kubernetes and Helm calls; the service runs them in a worker thread, on the
plan's immutable data. Every object is applied with the agent's own ownership stamp
(:mod:`services.agent.ownership`: owner profile, kind and tier, ``ripple.io/managed-by``),
whatever its manifest says for those keys, after reading it in the cluster: an object
another profile owns is applied only by a profile of a lower tier, otherwise it is a
conflict (:mod:`services.agent.conflicts`) that stops the profile's other objects unless
``continueOnConflict``. The namespace of a namespaced object is created when it does not
exist, unless its entry says ``skipNamespaceCreation`` (as Sveltos' deployer does; a
namespace an earlier apply found is not read again, unless an apply into it answers 404). A
DryRun changes nothing: it reports per object what an apply would do (a server-side apply
dry run against the live object, :mod:`services.agent.dryrun`). Pruning deletes only objects whose *live* stamp
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

from services.agent import conflicts, dryrun, ownership, releasing
from services.agent.planning import ApplyOptions, ApplyResult, normal_key
from services.agent.releasing import ChartStep, Held, ReleaseObjects, ReleasesDone
from shared.contract import messages as m
from shared.helm import HelmChart, HelmFailure, HelmTerminal
from shared.helm.errors import ReleaseConflict
from shared.helm.releases import ReleaseResult
from shared.kube import GVK, KindNotServed, KubeClient, KubeError
from shared.kube.client import ObjectKey, object_key
from shared.kube.errors import KubeNotFound
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
        self._namespaces: set[str] = set()  # found or created by an earlier apply

    def apply(
        self,
        profile: str,
        objects: Sequence[tuple[dict[str, Any], str]],
        previous: Sequence[ObjectKey],
        dry_run: bool = False,
        charts: Sequence[ChartStep] = (),
        drift: bool = False,
        options: ApplyOptions = ApplyOptions(),
    ) -> ApplyResult:
        """Apply every ``(manifest, hash)``; prune ``previous`` objects no longer desired;
        then install, upgrade or uninstall the releases of ``charts``, in order (``drift``:
        read back the objects of each deployed release). ``dry_run``: change nothing, report
        what would be done (status ``DryRun``)."""
        result = ApplyResult("DryRun" if dry_run else "Provisioned")
        errors: list[str] = []
        wanted = {normal_key(object_key(manifest)) for manifest, _ in objects}
        namespaces: set[str] = set()  # looked at (found or created) by this apply
        for manifest, digest in objects:
            key = object_key(manifest)
            obj = f"{self.cluster}:{key}"
            try:
                stamped = ownership.stamp(manifest, profile, options.tier)
                gvk = GVK.of(stamped)
                namespaced = self.client.namespaced(gvk)
                if namespaced:
                    key = normal_key(key)
                live = self.client.get(gvk, key.namespace or None, key.name)
                verdict = conflicts.judge(live, key, profile, options.tier)
                if not verdict.apply:
                    result.reports.append(dryrun.report(key, "Conflict", verdict.message))
                    log.warning("conflict: %s", verdict.message, extra={"obj": obj})
                    if dry_run:
                        continue
                    errors.append(verdict.message)
                    if options.continue_on_conflict:
                        continue
                    break  # Sveltos stops the profile at its first conflict
                if dry_run:
                    report = self._would(key, stamped, live)
                    result.reports.append(report)
                    log.info("DryRun: would %s", dryrun.VERBS[report.action], extra={"obj": obj})
                    continue
                create = namespaced and normal_key(key) not in options.skip_namespace
                if create:
                    self._namespace(key.namespace, namespaces, result)
                try:
                    applied = self.client.apply(stamped, field_manager=FIELD_MANAGER, force=True)
                except KubeNotFound:
                    if not create or not self._forget_namespace(key.namespace, namespaces):
                        raise
                    self._namespace(key.namespace, namespaces, result)  # deleted since: again
                    applied = self.client.apply(stamped, field_manager=FIELD_MANAGER, force=True)
                key = object_key(applied) if applied.get("metadata") else key
            except (KubeError, ownership.NotStampable) as exc:
                hint = ""
                if isinstance(exc, KubeNotFound) and normal_key(key) in options.skip_namespace:
                    hint = " (skipNamespaceCreation: the namespace is not created)"
                errors.append(f"{key}: {exc}{hint}")
                if dry_run:
                    result.reports.append(dryrun.report(key, "Error", str(exc)))
                log.warning("apply failed: %s", exc, extra={"obj": obj})
                continue
            if verdict.take_over:
                result.taken_over.append((key, verdict.owner))
                log.info(
                    "taken over from %s %s (tier %d > %d)",
                    verdict.owner_kind,
                    verdict.owner,
                    verdict.owner_tier,
                    options.tier,
                    extra={"obj": obj},
                )
            wanted.add(normal_key(key))
            result.applied.append((key, digest))
            log.info("applied (%s)", digest[:19], extra={"obj": obj})
        for key in previous:
            if normal_key(key) in wanted:
                continue
            errors.extend(self._prune(profile, key, dry_run, result))
        result.releases = self.releases(profile, charts, dry_run, drift and not dry_run)
        if dry_run:  # reported per object, retried when something could not be evaluated
            result.errors = [*errors, *result.releases.errors]
            result.message = "; ".join(result.releases.errors)
            return result
        errors.extend(result.releases.errors)
        if errors:
            result.status = "Failed"
            result.message = "; ".join(errors)
        return result

    def _would(
        self, key: ObjectKey, stamped: dict[str, Any], live: dict[str, Any] | None
    ) -> m.ResourceReport:
        """What applying ``stamped`` would do: a server-side apply dry run against the live
        object (absent: it would be created)."""
        if live is None:
            return dryrun.report(key, "Create")
        proposed = self.client.apply(stamped, field_manager=FIELD_MANAGER, dry_run=True)
        return dryrun.would(key, live, proposed)

    def _namespace(self, namespace: str, looked: set[str], result: ApplyResult) -> None:
        """Create ``namespace`` when it does not exist. Not looked at again while an earlier
        apply found or created it (:meth:`_forget_namespace` says when to); ``looked``:
        the namespaces this apply has looked at itself."""
        if namespace in looked or namespace in self._namespaces:
            return
        if self.client.ensure_namespace(namespace):
            result.namespaces_created += 1
            log.info("namespace created", extra={"obj": f"{self.cluster}:Namespace/{namespace}"})
        looked.add(namespace)
        self._namespaces.add(namespace)

    def _forget_namespace(self, namespace: str, looked: set[str]) -> bool:
        """An apply into ``namespace`` answered 404. When this apply took the namespace's
        existence from an earlier one (it may have been deleted since), forget it and say so:
        the caller looks again. False when this apply had looked itself: the 404 stands."""
        if namespace in looked:
            return False
        self._namespaces.discard(namespace)
        return True

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
                errors.extend(self._prune(profile, key, False, None))
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

    def _prune(
        self, profile: str, key: ObjectKey, dry_run: bool, result: ApplyResult | None
    ) -> list[str]:
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
            if dry_run:
                if result is not None:
                    result.reports.append(dryrun.report(key, "Delete", "no longer desired"))
                log.info("DryRun: would delete", extra={"obj": f"{self.cluster}:{key}"})
                return []
            self.client.delete(gvk, key.namespace or None, key.name)
            log.info("pruned", extra={"obj": f"{self.cluster}:{key}"})
        except KubeError as exc:
            log.warning("prune failed: %s", exc, extra={"obj": f"{self.cluster}:{key}"})
            return [f"prune {key}: {exc}"]
        return []


__all__ = ["Applier", "ApplyResult", "HelmAccess", "normal_key"]
