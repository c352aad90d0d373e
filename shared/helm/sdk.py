"""Install, upgrade, uninstall and read Helm releases in a managed cluster (synchronous).

Each function blocks its thread (the Helm SDK releases the GIL while it works): the agent
calls them from a worker thread (``asyncio.to_thread``), one call at a time per release
(its work queue keyed by release), with:

- ``kubeconfig``: the cluster's kubeconfig path, or its content as bytes;
- ``cache_dir``: a writable directory for downloaded charts (default
  :func:`default_cache_dir`), shared by every cluster of the process;
- ``qps``/``burst``: client-go's throttle (its default 5/10 made an install take 600 ms
  against the simulated fleet; 200/400 took 14 ms);
- ``owner``: who the release belongs to (a label value, e.g. the ClusterProfile's name);
- ``cluster``: a name for messages and logs (default: the kubeconfig's current context).

Errors are :class:`~shared.helm.errors.HelmFailure` (retry) or
:class:`~shared.helm.errors.HelmTerminal` (keep the failure until the input changes).
Ownership, the install/upgrade/no-op decision and recovery are in
:mod:`shared.helm.releases`; options in :mod:`shared.helm.spec`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import helm_python

from shared.helm import errors as e
from shared.helm import native
from shared.helm.native import (
    DEFAULT_BURST,
    DEFAULT_QPS,
    Kubeconfig,
    cluster_name,
    default_cache_dir,
    enable_sdk_logging,
)
from shared.helm.releases import (
    Action,
    ReleaseInfo,
    ReleaseRef,
    ReleaseResult,
    check_owner,
    decide,
    diff,
    release_labels,
)
from shared.helm.sources import RepositoryAuth, ResolvedChart, resolve
from shared.helm.spec import Effective, HelmChart
from shared.logs import ident

log = logging.getLogger(__name__)

READ_TIMEOUT = 60.0


def _status(
    cfg: helm_python.Config, name: str, where: e.Where, timeout: float
) -> ReleaseInfo | None:
    """The stored release with its user values, or None when there is none."""

    def read(_: helm_python.HelmContext) -> ReleaseInfo | None:
        try:
            summary = cfg.status(name)
        except helm_python.HelmError as exc:
            if native.is_not_found(exc):
                return None
            raise
        values = cfg.get_values(name) if summary.get("status") != "uninstalled" else {}
        return ReleaseInfo.of(summary, values)

    return native.bounded(read, timeout, where, "reading the release")


def _validate(resolved: ResolvedChart, values: dict[str, Any], eff: Effective, w: e.Where) -> None:
    """Values as JSON data, then against the chart's schema: terminal errors first."""
    try:
        json.dumps(values, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise e.InvalidValues(f"values are not JSON data: {exc}", w) from None
    if not eff.skip_schema_validation:
        with native.translate(w, "validating the values"):
            resolved.chart.validate_schema(values)


def install_or_upgrade(
    kubeconfig: Kubeconfig,
    chart: HelmChart,
    values: Mapping[str, Any] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    qps: float = DEFAULT_QPS,
    burst: int = DEFAULT_BURST,
    dry_run: bool = False,
    owner: str = "",
    adopt: bool = False,
    auth: RepositoryAuth | None = None,
    cluster: str = "",
    storage_driver: str = "secret",
    force: bool = False,
) -> ReleaseResult:
    """Make the release match ``chart`` and ``values`` (``None``: the entry's ``values``):
    install when absent, upgrade when the chart or values changed, nothing when identical
    (whatever ``helmChartAction`` says: :func:`apply` follows it). ``force`` upgrades an
    identical release too (its objects are applied again: drift repaired).

    ``dry_run`` changes nothing: the result says what would be done, with a diff of the
    objects (rendered against the current release's manifest). Templates are rendered with
    the cluster at hand (``lookup`` works) before anything is written, so a template error
    is a terminal :class:`~shared.helm.errors.RenderFailed`, never a half-done release.
    """
    started = time.monotonic()
    eff = chart.effective()
    wanted = dict(chart.values_dict() if values is None else values)
    name, namespace = chart.release_name, chart.release_namespace
    cluster = cluster or cluster_name(kubeconfig)
    where = e.Where(chart.chart_ref(), chart.chart_version, name, namespace, cluster)
    obj = ident("HelmRelease", name, namespace, cluster)
    for warning in eff.warnings:
        log.warning("%s", warning, extra={"obj": obj})
    resolved = resolve(chart, Path(cache_dir or default_cache_dir()), auth, where)
    where = e.Where(resolved.name, resolved.version, name, namespace, cluster)
    _validate(resolved, wanted, eff, where)
    labels = release_labels(owner, resolved.digest, eff.labels)
    with native.open_config(
        kubeconfig, namespace, qps=qps, burst=burst, storage_driver=storage_driver
    ) as cfg:
        current = _status(cfg, name, where, eff.timeout_seconds)
        if current is not None:
            check_owner(current, owner, adopt, where)
        step, reason = decide(
            current,
            chart_name=resolved.name,
            chart_version=resolved.version,
            labels=labels,
            values=wanted,
            now=datetime.now(UTC),
            stale_after=eff.timeout_seconds,
        )
        if force and step == "none":
            step, reason = "upgrade", "forced: objects applied again"
        if step == "busy":
            raise e.OperationInProgress(reason, where)
        action: Action = (
            "none"
            if step == "none"
            else "upgrade"
            if step in ("upgrade", "rollback")
            else "install"
        )

        def result(summary: Mapping[str, Any] | None, **extra: Any) -> ReleaseResult:
            info = ReleaseInfo.of(summary) if summary else current
            return ReleaseResult(
                action=action,
                release=name,
                namespace=namespace,
                revision=info.revision if info else 0,
                status=info.status if info else "absent",
                chart_name=resolved.name,
                chart_version=resolved.version,
                app_version=resolved.app_version,
                reason=reason,
                warnings=eff.warnings,
                seconds=time.monotonic() - started,
                **extra,
            )

        if step == "none" and not dry_run:
            return result(None)
        with native.translate(where, "rendering the chart"):  # before any write
            rendered = cfg.render(
                resolved.chart,
                wanted,
                name=name,
                namespace=namespace,
                is_install=action == "install",
                is_upgrade=action == "upgrade",
            )
        if dry_run:
            before = native.manifest(cfg, name, where) if current else ""
            return result(None, dry_run=True, diff=diff(before, rendered))
        summary = _write(cfg, step, resolved, wanted, labels, eff, where)
    outcome = result(summary)
    log.info(
        "%s %s %s: revision %d %s (%s) in %.3fs",
        outcome.action,
        resolved.name,
        resolved.version,
        outcome.revision,
        outcome.status,
        reason,
        outcome.seconds,
        extra={"obj": obj},
    )
    return outcome


def _write(
    cfg: helm_python.Config,
    step: str,
    resolved: ResolvedChart,
    values: dict[str, Any],
    labels: dict[str, str],
    eff: Effective,
    where: e.Where,
) -> dict[str, Any]:
    """Run the install/upgrade ``step`` (recovering first when ``decide`` said so)."""
    name, timeout = where.release, eff.timeout_seconds
    common: dict[str, Any] = {
        "timeout_seconds": math.ceil(timeout),
        "disable_hooks": True,
        "skip_crds": eff.skip_crds,
        "take_ownership": eff.take_ownership,
        "skip_schema_validation": eff.skip_schema_validation,
        "disable_openapi_validation": eff.disable_openapi_validation,
        "labels": labels,
        "description": eff.description,
    }
    if step == "reinstall":
        gone = {"disable_hooks": True, "timeout_seconds": math.ceil(timeout)}
        native.bounded(lambda _: native.uninstall(cfg, name, gone), timeout, where, "uninstall")
        step = "install"
    elif step == "rollback":
        back = {"disable_hooks": True, "timeout_seconds": math.ceil(timeout)}
        native.bounded(lambda _: native.rollback(cfg, name, back), timeout, where, "rollback")
        step = "upgrade"
    if step in ("install", "replace"):
        options = {
            **common,
            "namespace": where.namespace,
            "create_namespace": eff.create_namespace,
            "replace": step == "replace",
        }
        return native.bounded(
            lambda ctx: native.install(cfg, ctx, resolved.chart, name, values, options),
            timeout,
            where,
            "install",
        )
    options = {**common, "namespace": where.namespace, "max_history": eff.max_history}
    options["reset_values"] = True  # the values sent are the whole values
    return native.bounded(
        lambda ctx: native.upgrade(cfg, ctx, resolved.chart, name, values, options),
        timeout,
        where,
        "upgrade",
    )


def uninstall(
    kubeconfig: Kubeconfig,
    release: HelmChart | ReleaseRef,
    *,
    qps: float = DEFAULT_QPS,
    burst: int = DEFAULT_BURST,
    dry_run: bool = False,
    owner: str = "",
    adopt: bool = False,
    cluster: str = "",
    storage_driver: str = "secret",
) -> ReleaseResult:
    """Remove a release (nothing when absent). A :class:`HelmChart` brings its uninstall
    options (``keepHistory``, ``deletionPropagation``, ``timeout``); hooks never run."""
    started = time.monotonic()
    if isinstance(release, HelmChart):
        name, namespace, eff = release.release_name, release.release_namespace, release.effective()
    else:
        name, namespace, eff = release.name, release.namespace, Effective()
    cluster = cluster or cluster_name(kubeconfig)
    where = e.Where(release=name, namespace=namespace, cluster=cluster)
    with native.open_config(
        kubeconfig, namespace, qps=qps, burst=burst, storage_driver=storage_driver
    ) as cfg:
        current = _status(cfg, name, where, eff.timeout_seconds)
        if current is None or current.status == "uninstalled":
            gone = "the release does not exist" if current is None else "already uninstalled"
            return ReleaseResult(
                "none", name, namespace, current.revision if current else 0, "absent", reason=gone
            )
        where = e.Where(current.chart_name, current.chart_version, name, namespace, cluster)
        check_owner(current, owner, adopt, where)
        if dry_run:
            changes = diff(native.manifest(cfg, name, where), "")
        else:
            options = {
                "disable_hooks": True,
                "keep_history": eff.keep_history,
                "deletion_propagation": eff.deletion_propagation,
                "timeout_seconds": math.ceil(eff.timeout_seconds),
                "description": eff.description,
            }
            native.bounded(
                lambda _: native.uninstall(cfg, name, options),
                eff.timeout_seconds,
                where,
                "uninstall",
            )
            changes = None
    outcome = ReleaseResult(
        "uninstall",
        name,
        namespace,
        current.revision,
        current.status if dry_run else "uninstalled",
        current.chart_name,
        current.chart_version,
        current.app_version,
        reason="helmChartAction Uninstall" if isinstance(release, HelmChart) else "requested",
        dry_run=dry_run,
        diff=changes,
        seconds=time.monotonic() - started,
    )
    if not dry_run:
        obj = ident("HelmRelease", name, namespace, cluster)
        log.info("uninstalled in %.3fs", outcome.seconds, extra={"obj": obj})
    return outcome


def apply(
    kubeconfig: Kubeconfig,
    chart: HelmChart,
    values: Mapping[str, Any] | None = None,
    **options: Any,
) -> ReleaseResult:
    """``helmChartAction`` decides: :func:`install_or_upgrade` or :func:`uninstall`."""
    if chart.helm_chart_action == "Uninstall":
        keep = ("qps", "burst", "dry_run", "owner", "adopt", "cluster", "storage_driver")
        return uninstall(kubeconfig, chart, **{k: v for k, v in options.items() if k in keep})
    return install_or_upgrade(kubeconfig, chart, values, **options)


def status(
    kubeconfig: Kubeconfig,
    release: ReleaseRef | HelmChart,
    *,
    qps: float = DEFAULT_QPS,
    burst: int = DEFAULT_BURST,
    timeout: float = READ_TIMEOUT,
    cluster: str = "",
    storage_driver: str = "secret",
) -> ReleaseInfo | None:
    """The stored release (revision, chart, status, labels, user values), or None."""
    if isinstance(release, HelmChart):
        release = ReleaseRef(release.release_namespace, release.release_name)
    where = e.Where(release=release.name, namespace=release.namespace, cluster=cluster)
    with native.open_config(
        kubeconfig, release.namespace, qps=qps, burst=burst, storage_driver=storage_driver
    ) as cfg:
        return _status(cfg, release.name, where, timeout)


def list_releases(
    kubeconfig: Kubeconfig,
    *,
    namespace: str | None = None,
    owner: str | None = None,
    qps: float = DEFAULT_QPS,
    burst: int = DEFAULT_BURST,
    timeout: float = READ_TIMEOUT,
    cluster: str = "",
    storage_driver: str = "secret",
) -> list[ReleaseInfo]:
    """Ripple's releases (every state), in one namespace or all, of one owner or all."""
    where = e.Where(namespace=namespace or "", cluster=cluster)
    with native.open_config(
        kubeconfig, namespace or "default", qps=qps, burst=burst, storage_driver=storage_driver
    ) as cfg:
        summaries = native.bounded(
            lambda _: cfg.list(all_states=True, all_namespaces=namespace is None),
            timeout,
            where,
            "listing releases",
        )
    found = [ReleaseInfo.of(s) for s in summaries]
    return [r for r in found if r.managed and (owner is None or r.owner == owner)]


__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_QPS",
    "ReleaseInfo",
    "ReleaseRef",
    "ReleaseResult",
    "RepositoryAuth",
    "apply",
    "cluster_name",
    "default_cache_dir",
    "enable_sdk_logging",
    "install_or_upgrade",
    "list_releases",
    "status",
    "uninstall",
]
