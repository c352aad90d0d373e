"""Writing a stack's fixed content into clusters: CRDs, namespaces, cluster registrations and
definitions (I/O through :class:`~shared.kube.KubeClient`, server-side apply with the field
manager ``scenario``)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from services.scenario import kinds
from services.scenario.errors import StackError
from services.scenario.model import FleetCluster, read_objects, yaml_files
from services.scenario.processes import wait_until
from shared.kube import GVK, KubeClient, KubeError, object_key

log = logging.getLogger(__name__)

FIELD_MANAGER = "scenario"

CONCURRENCY = 8
"""Requests a stack's bring-up has in flight at once (registrations, per-cluster CRDs)."""

T = TypeVar("T")
R = TypeVar("R")


def bounded(fn: Callable[[T], R], items: Sequence[T], limit: int = CONCURRENCY) -> list[R]:
    """``[fn(item) for item in items]`` with at most ``limit`` calls at once (threads: the
    calls wait on the network); the first exception is raised once all have ended."""
    if len(items) <= 1 or limit <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(limit, len(items))) as pool:
        return list(pool.map(fn, items))


def read_dir(directory: Path | None) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """The objects of every YAML file of a directory, and ``id(obj)`` -> file path."""
    objects: list[dict[str, Any]] = []
    sources: dict[int, str] = {}
    for file in yaml_files(directory) if directory else []:
        for obj in read_objects(file):
            objects.append(obj)
            sources[id(obj)] = str(file)
    return objects, sources


def ensure_namespace(client: KubeClient, name: str) -> None:
    """Create the Namespace ``name`` when it does not exist."""
    if not name or client.get(kinds.NAMESPACE, None, name) is not None:
        return
    client.apply(
        {
            "apiVersion": kinds.NAMESPACE.api_version,
            "kind": kinds.NAMESPACE.kind,
            "metadata": {"name": name},
        },
        field_manager=FIELD_MANAGER,
    )


def _apply(
    client: KubeClient, obj: dict[str, Any], sources: dict[int, str] | None
) -> dict[str, Any]:
    try:
        return client.apply(obj, field_manager=FIELD_MANAGER)
    except KubeError as err:
        source = (sources or {}).get(id(obj))
        if source is None:
            raise
        raise StackError(f"{source}: {err} (in {client.name})") from err


def install_crds(
    client: KubeClient,
    crds: Iterable[dict[str, Any]],
    what: str,
    timeout: float,
    sources: dict[int, str] | None = None,
) -> None:
    """Apply CRDs and wait (deadline ``timeout`` s) until each kind is served. ``sources``
    maps ``id(obj)`` to the file it came from, named in errors."""
    served: list[GVK] = []
    for crd in crds:
        _apply(client, crd, sources)
        spec = crd.get("spec") or {}
        group, kind = spec.get("group", ""), (spec.get("names") or {}).get("kind", "")
        versions = [v.get("name") for v in spec.get("versions") or [] if v.get("served", True)]
        served += [GVK.from_parts(group, str(v), kind) for v in versions[:1]]
    deadline = time.monotonic() + timeout
    for gvk in served:
        if not wait_until(partial(client.serves, gvk), deadline, interval=0.05):
            raise StackError(f"{what}: {gvk} is not served after installing its CRD")


def ensure_kinds(client: KubeClient, gvks: Iterable[GVK], timeout: float) -> None:
    """Install a minimal CRD (:func:`kinds.fallback_crd`) for each kind not served yet."""
    missing = []
    for gvk in sorted(set(gvks)):
        if not client.serves(gvk):
            crd = kinds.fallback_crd(gvk)
            if crd is None:
                raise StackError(f"{client.name} does not serve {gvk} (no CRD for it)")
            log.warning("%s does not serve %s: installing a minimal CRD", client.name, gvk)
            missing.append(crd)
    if missing:
        install_crds(client, missing, client.name, timeout)


def install_sveltos_crds(client: KubeClient, timeout: float) -> None:
    """The CRDs of :func:`shared.api.crds.crd_documents` (Sveltos' kinds)."""
    from shared.api.crds import crd_documents

    install_crds(client, crd_documents(), client.name, timeout)


def register_cluster(mgmt: KubeClient, cluster: FleetCluster) -> dict[str, Any]:
    """Create/update the SveltosCluster or CAPI Cluster of ``cluster`` (labels; status ready)."""
    gvk = kinds.registration_gvk(cluster.type)
    status = kinds.ready_status(cluster.type)
    obj: dict[str, Any] = {
        "apiVersion": gvk.api_version,
        "kind": gvk.kind,
        "metadata": {
            "name": cluster.name,
            "namespace": cluster.namespace,
            "labels": dict(cluster.labels),
        },
        "spec": {},
    }
    live: Any = mgmt.apply(obj, field_manager=FIELD_MANAGER)
    if live.get("status") != status:
        with contextlib.suppress(KubeError):  # a kind without the status subresource
            live = mgmt.patch_status(gvk, cluster.namespace, cluster.name, status)
        if not (live or {}).get("status"):
            with contextlib.suppress(KubeError):
                live = mgmt.merge_patch(gvk, cluster.namespace, cluster.name, {"status": status})
    return dict(live or {})


def apply_objects(
    client: KubeClient,
    objects: list[dict[str, Any]],
    timeout: float,
    sources: dict[int, str] | None = None,
) -> list[dict[str, Any]]:
    """Apply objects in any order given: CRDs first (awaited), then Namespaces, then the rest;
    the namespace of a namespaced object is created when missing; Sveltos kinds that are not
    served get a minimal CRD. ``sources`` as for :func:`install_crds`."""
    ordered = kinds.ordered_for_apply(objects)
    crds = [o for o in ordered if GVK.of(o) == kinds.CRD]
    if crds:
        install_crds(client, crds, client.name, timeout, sources)
    rest = [o for o in ordered if GVK.of(o) != kinds.CRD]
    ensure_kinds(client, (GVK.of(o) for o in rest if GVK.of(o) != kinds.NAMESPACE), timeout)
    out = []
    for obj in rest:
        key = object_key(obj)
        if key.namespace and client.namespaced(GVK.of(obj)):
            ensure_namespace(client, key.namespace)
        out.append(_apply(client, obj, sources))
    return out
