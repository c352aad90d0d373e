"""aiohttp routes: the Kubernetes REST API of every cluster, under ``/clusters/<name>``.

URL layout (one process, many clusters):
- ``/clusters/<name>/...``: cluster ``<name>`` (``/api``, ``/apis``, ``/version``, ...);
- ``/clusters/management/...`` and the root (``/api``, ``/apis``, ...): the management cluster;
- ``/_fleet/...``: test hooks (see :mod:`services.fleet.hooks`);
- ``/healthz``, ``/readyz``, ``/livez`` (also per cluster) answer ``ok`` without a token.
Every other request needs a bearer token (401 Status otherwise): the fleet's admin token,
a static user's or a ServiceAccount's (:mod:`services.fleet.authn`); non-admin identities
are authorized with RBAC (:mod:`services.fleet.access`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from services.fleet import access, hooks, listing, protobuf, tables, versioned
from services.fleet.bodies import _Loader as _Loader  # re-exported for tests/fleet/test_apply
from services.fleet.bodies import delete_options, parse_body
from services.fleet.customresources import FIELD_VALIDATION, WARNINGS
from services.fleet.discovery import API_VERSIONS, VERSION
from services.fleet.errors import ApiError
from services.fleet.kinds import ResourceType
from services.fleet.objects import APPLY
from services.fleet.responses import STATE, error_response, json_response, object_response
from services.fleet.selectors import parse_field_selector, parse_label_selector
from services.fleet.state import MANAGEMENT, FleetState, SimCluster
from services.fleet.watch import serve_watch

log = logging.getLogger(__name__)

HEALTH = frozenset({"/healthz", "/readyz", "/livez", "/healthz/", "/readyz/", "/livez/"})


# -- middleware ----------------------------------------------------------------------------


def _split_cluster(path: str) -> tuple[str, str]:
    """``/clusters/a/api/v1`` -> (``a``, ``/api/v1``); any other path -> management."""
    if path.startswith("/clusters/"):
        rest = path[len("/clusters/") :]
        name, slash, tail = rest.partition("/")
        return name, slash + tail
    return MANAGEMENT, path


@web.middleware
async def fleet_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    state = request.app[STATE]
    cluster, tail = _split_cluster(request.path)
    if tail in HEALTH:
        return web.Response(text="ok", content_type="text/plain")
    accept = request.headers.get("Accept", "")
    ident = access.authenticate(state, cluster, request.headers.get("Authorization", ""))
    if ident is None:
        return error_response(access.unauthorized(), accept)
    if request.path.startswith("/_fleet"):
        if not ident.admin:  # test hooks belong to the fleet's admin
            return error_response(
                ApiError(403, f'User "{ident.user}" cannot use the fleet\'s test hooks')
            )
    else:
        state.requests.append(
            {
                "cluster": cluster,
                "method": request.method,
                "path": tail + (f"?{request.query_string}" if request.query_string else ""),
                "contentType": request.headers.get("Content-Type", ""),
                "accept": accept,
            }
        )
        if state.faults:
            fault = state.take_fault(cluster, request.method, tail)
            if fault is not None:
                await state.apply_fault(fault)
                if fault.status:
                    return error_response(
                        ApiError(
                            fault.status,
                            f"injected failure ({fault.status}) by the fleet's test hooks",
                        ),
                        accept,
                    )
    try:
        if not request.path.startswith("/_fleet") and (
            "Impersonate-User" in request.headers or "Impersonate-Group" in request.headers
        ):
            target = state.clusters.get(cluster)
            if target is not None:
                ident = access.impersonate(state, target, ident, request.headers)
        request[access.IDENTITY] = ident
        return await handler(request)
    except ApiError as err:
        return error_response(err, accept)


# -- routing -------------------------------------------------------------------------------


async def handle_cluster(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    name, tail = _split_cluster(request.path)
    cluster = state.clusters.get(name)
    if cluster is None:
        raise ApiError.no_route()
    return await dispatch(request, state, cluster, tail)


async def dispatch(
    request: web.Request, state: FleetState, cluster: SimCluster, tail: str
) -> web.StreamResponse:
    parts = [p for p in tail.split("/") if p]
    method = request.method
    if not parts:
        return json_response({"paths": ["/api", "/api/v1", "/apis", "/openapi/v3", "/version"]})
    head = parts[0]
    disc = cluster.discovery
    if head == "version" and len(parts) == 1:
        return json_response(VERSION)
    if head == "openapi":
        return _openapi(cluster, parts[1:])
    if head == "api":
        if len(parts) == 1:
            return json_response(API_VERSIONS)
        group, version, rest = "", parts[1], parts[2:]
    elif head == "apis":
        if len(parts) == 1:
            return json_response(disc.group_list())
        if len(parts) == 2:
            doc = disc.group(parts[1])
            if doc is None:
                raise ApiError.no_route()
            return json_response(doc)
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise ApiError.no_route()
    if not rest:
        doc = disc.resource_list(group, version)
        if doc is None or method != "GET":
            raise ApiError.no_route()
        return json_response(doc)
    return await resource(request, state, cluster, group, version, rest)


def _openapi(cluster: SimCluster, parts: list[str]) -> web.Response:
    disc = cluster.discovery
    if parts == ["v3"]:
        return json_response(disc.openapi_index())
    if len(parts) >= 3 and parts[0] == "v3":
        if parts[1] == "api" and len(parts) == 3:
            doc = disc.openapi_doc("", parts[2])
        elif parts[1] == "apis" and len(parts) == 4:
            doc = disc.openapi_doc(parts[2], parts[3])
        else:
            doc = None
        if doc is not None:
            return json_response(doc)
    raise ApiError.no_route()


def _parse_resource_path(group: str, rest: list[str]) -> tuple[str | None, str, str | None, str]:
    """-> (namespace, plural, name, subresource)."""
    if (rest[0] == "namespaces" and len(rest) >= 4) or (
        rest[0] == "namespaces" and len(rest) == 3 and rest[2] not in ("status", "finalize")
    ):
        ns = rest[1]
        plural = rest[2]
        name = rest[3] if len(rest) > 3 else None
        sub = rest[4] if len(rest) > 4 else ""
        if len(rest) > 5:
            raise ApiError.no_route()
        return ns, plural, name, sub
    plural = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else ""
    if len(rest) > 3:
        raise ApiError.no_route()
    return None, plural, name, sub


async def resource(
    request: web.Request,
    state: FleetState,
    cluster: SimCluster,
    group: str,
    version: str,
    rest: list[str],
) -> web.StreamResponse:
    ns, plural, name, sub = _parse_resource_path(group, rest)
    rt = cluster.store.registry.get(group, version, plural)
    if rt is None:
        raise ApiError.no_route()
    if ns is not None and not rt.namespaced:
        raise ApiError.no_route()
    if sub and (
        sub not in ("status", "finalize", "token")
        or (sub == "status" and not rt.status)
        or (sub == "token" and rt.key != access.SA_KEY)
    ):
        raise ApiError.no_route()
    access.authorize(request, state, cluster, rt, ns, name, sub)
    if request.method in ("POST", "PUT", "PATCH") and not rt.builtin:
        return await _with_warnings(request, state, cluster, rt, ns, plural, name, sub)
    return await _resource(request, state, cluster, rt, ns, plural, name, sub)


async def _with_warnings(
    request: web.Request,
    state: FleetState,
    cluster: SimCluster,
    rt: ResourceType,
    ns: str | None,
    plural: str,
    name: str | None,
    sub: str,
) -> web.StreamResponse:
    """A write of a custom resource: ``fieldValidation`` honoured, warnings as headers."""
    mode = request.query.get("fieldValidation", "Warn")
    if mode not in ("Strict", "Warn", "Ignore"):
        raise ApiError.bad_request(
            f'fieldValidation: Unsupported value: {mode!r}: supported values: "Ignore", '
            '"Strict", "Warn"'
        )
    warnings: list[str] = []
    tokens = FIELD_VALIDATION.set(mode), WARNINGS.set(warnings)
    try:
        resp = await _resource(request, state, cluster, rt, ns, plural, name, sub)
    finally:  # a keep-alive connection serves its next request in the same task
        FIELD_VALIDATION.reset(tokens[0])
        WARNINGS.reset(tokens[1])
    for text in dict.fromkeys(warnings):
        resp.headers.add("Warning", f'299 - "{text.replace(chr(34), chr(92) + chr(34))}"')
    return resp


async def _resource(
    request: web.Request,
    state: FleetState,
    cluster: SimCluster,
    rt: ResourceType,
    ns: str | None,
    plural: str,
    name: str | None,
    sub: str,
) -> web.StreamResponse:
    store, objs = cluster.store, cluster.objects
    q = request.query
    method = request.method
    dry_run = q.get("dryRun") == "All"
    content_type = request.headers.get("Content-Type", "application/json").split(";")[0].strip()
    manager = q.get("fieldManager") or (
        request.headers.get("User-Agent", "unknown").split("/")[0] or "unknown"
    )
    nsv = ns or ""

    if name is None:
        if method == "GET":
            labels = parse_label_selector(q.get("labelSelector"))
            fields, _ = parse_field_selector(q.get("fieldSelector"))
            if q.get("watch") in ("true", "1"):
                return await serve_watch(
                    request,
                    store,
                    rt,
                    ns if rt.namespaced else None,
                    labels,
                    fields,
                    state.bookmark_interval,
                    versioned.watch_converter(cluster, rt),
                )
            doc = listing.list_objects(
                store, rt, ns, labels, fields, q.get("limit"), q.get("continue")
            )
            doc = await versioned.read_list(cluster, rt, doc)
            if not rt.builtin and tables.wants_table(request.headers.get("Accept", "")):
                return json_response(
                    versioned.table(request, cluster, rt, doc["items"], doc["metadata"])
                )
            return object_response(request, doc)
        if method == "POST":
            body = parse_body(await request.read(), content_type, rt.kind)
            if rt.virtual:
                return json_response(
                    access.review(state, cluster, rt, body, request[access.IDENTITY]),
                    201,
                )
            obj, _ = await versioned.write(
                cluster,
                rt,
                nsv,
                None,
                lambda dry: (objs.create(rt, nsv, body, manager, dry), True),
                dry_run,
            )
            return object_response(request, obj, 201)
        if method == "DELETE":
            if "deletecollection" not in rt.verbs:
                raise ApiError.method_not_allowed(method, plural)
            labels = parse_label_selector(q.get("labelSelector"))
            fields, _ = parse_field_selector(q.get("fieldSelector"))

            def match(o: dict[str, Any]) -> bool:
                return (labels is None or labels(o)) and (fields is None or fields(o))

            raw = await request.read()
            options = delete_options(raw, content_type, q.get("propagationPolicy"))
            deleted = objs.delete_collection(
                rt, ns if rt.namespaced else None, match, dry_run, options
            )
            return object_response(request, deleted)  # a Status, as the real server
        raise ApiError.method_not_allowed(method, plural)

    if sub == "finalize":
        sub = ""
    if sub == "token":
        if method != "POST":
            raise ApiError.method_not_allowed(method, f"{plural}/token")
        body = parse_body(await request.read(), content_type, "TokenRequest")
        return json_response(access.token_request(state, cluster, nsv, name, body), 201)
    if method == "GET":
        if q.get("watch") in ("true", "1"):
            labels = parse_label_selector(q.get("labelSelector"))
            fields, _ = parse_field_selector(f"metadata.name={name}")
            return await serve_watch(
                request,
                store,
                rt,
                ns if rt.namespaced else None,
                labels,
                fields,
                state.bookmark_interval,
                versioned.watch_converter(cluster, rt),
            )
        obj = await versioned.read(cluster, rt, objs.get(rt, nsv, name))
        if not rt.builtin and tables.wants_table(request.headers.get("Accept", "")):
            meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            return json_response(versioned.table(request, cluster, rt, [obj], meta))
        return object_response(request, obj)
    if method == "PUT":
        body = parse_body(await request.read(), content_type, rt.kind)
        obj, _ = await versioned.write(
            cluster,
            rt,
            nsv,
            name,
            lambda dry: (objs.update(rt, nsv, name, body, manager, sub, dry), False),
            dry_run,
        )
        return object_response(request, obj)
    if method == "PATCH":
        raw = await request.read()
        # patches are JSON or YAML: a protobuf body gets the patch types' 415 from objs.patch
        body = None if content_type == protobuf.MEDIA_TYPE else parse_body(raw, content_type)
        force = q.get("force") in ("true", "1")
        if content_type == APPLY and not sub and store.get(rt.key, nsv, name) is None:
            access.authorize(request, state, cluster, rt, ns, name, sub, verb="create")
        obj, created = await versioned.write(
            cluster,
            rt,
            nsv,
            name,
            lambda dry: objs.patch(
                rt, nsv, name, content_type, body, manager, sub, dry, force, q.get("fieldManager")
            ),
            dry_run,
        )
        return object_response(request, obj, 201 if created else 200)
    if method == "DELETE" and not sub:
        options = delete_options(await request.read(), content_type, q.get("propagationPolicy"))
        dry = dry_run or "All" in (options.get("dryRun") or [])
        obj, _ = objs.delete(rt, nsv, name, options, dry)
        return object_response(request, await versioned.read(cluster, rt, obj))
    raise ApiError.method_not_allowed(method, plural)


def make_app(state: FleetState) -> web.Application:
    """The aiohttp application serving ``state`` (hooks included)."""
    app = web.Application(middlewares=[fleet_middleware], client_max_size=64 * 1024 * 1024)
    app[STATE] = state
    hooks.add_routes(app)
    app.router.add_route("*", "/{tail:.*}", handle_cluster)
    return app
