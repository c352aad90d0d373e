"""Requests on custom resources served in another version than their storage version.

Reads convert the stored objects to the version of the URL (:class:`Converter.convert`: one
webhook review for a whole list). A write whose version needs the conversion webhook runs in
three steps, as kube-apiserver's: the stored object is converted to the request's version,
the object rules (:mod:`services.fleet.objects`: patch, admission by the version's schema
and rules, managedFields) run on it without storing (dry run), and the result is converted to
the storage version and stored, if the stored object did not change in between (otherwise
the write is tried again, as the real server's GuaranteedUpdate). Types without a webhook
(built-ins, ``strategy: None``) take the direct, synchronous path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from services.fleet import tables
from services.fleet.customresources import crd_of, version_of
from services.fleet.errors import ApiError
from services.fleet.kinds import ResourceType
from services.fleet.state import SimCluster
from services.fleet.watch import Converting

#: how often a write is tried when the stored object changes during its conversions
ATTEMPTS = 5

Run = Callable[[bool], tuple[dict[str, Any], bool]]


async def read(cluster: SimCluster, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """A stored object (or a Status) as the request's version."""
    if rt.builtin or obj.get("kind") == "Status":
        return obj
    return (await cluster.conversion.convert(rt, [obj]))[0]


async def read_list(cluster: SimCluster, rt: ResourceType, doc: dict[str, Any]) -> dict[str, Any]:
    if rt.builtin:
        return doc
    items = await cluster.conversion.convert(rt, doc["items"])
    return {**doc, "items": items}


def _label(obj: dict[str, Any], api_version: str) -> dict[str, Any]:
    return obj if obj.get("apiVersion") == api_version else {**obj, "apiVersion": api_version}


async def write(
    cluster: SimCluster,
    rt: ResourceType,
    ns: str,
    name: str | None,
    run: Run,
    dry_run: bool,
) -> tuple[dict[str, Any], bool]:
    """Run a write (``run(dry_run)`` -> (object, created)) in the request's version."""
    conv = cluster.conversion
    if rt.builtin or conv.webhook(rt) is None:
        obj, created = run(dry_run)
        return _label(obj, rt.api_version) if not rt.builtin else obj, created
    store, key_ns = cluster.store, ns if rt.namespaced else ""
    for _ in range(ATTEMPTS):
        live = store.get(rt.key, key_ns, name) if name else None
        view = (await conv.convert(rt, [live]))[0] if live is not None else None
        out, created = run(True)  # the object rules, in the request's version, not stored
        if dry_run or (view is not None and out is view):
            return out, created  # a dry run, or a no-op write
        stored = (await conv.convert(rt, [out], rt.stored_api_version, stored=False))[0]
        now = store.get(rt.key, key_ns, str(out["metadata"]["name"]))
        if _rv(now) != _rv(live):
            continue  # changed (or created) while the webhook answered: try again
        if live is None and now is not None:
            continue
        result = cluster.objects.store_converted(rt, live, stored)
        view_out = {**out, "metadata": dict(result["metadata"])}
        conv.remember(result, rt.api_version, view_out)
        return view_out, created
    raise ApiError.conflict(rt.resource_label, str(name), rt.group)


def _rv(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else str(obj["metadata"].get("resourceVersion"))


def table(
    request: web.Request,
    cluster: SimCluster,
    rt: ResourceType,
    objs: list[dict[str, Any]],
    meta: dict[str, Any],
) -> dict[str, Any]:
    crd = crd_of(cluster.store, rt) or {}
    include = request.query.get("includeObject", "PartialObjectMetadata")
    return tables.table(version_of(crd, rt.version), objs, meta, include)


def watch_converter(cluster: SimCluster, rt: ResourceType) -> Converting | None:
    """How a watch converts the stored objects (None: only apiVersion changes)."""
    if rt.builtin or cluster.conversion.webhook(rt) is None:
        return None

    async def convert(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return await cluster.conversion.convert(rt, objs)

    return convert
