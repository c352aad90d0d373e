"""Test hooks under ``/_fleet`` (a prefix no Kubernetes API path can take).

- ``GET /_fleet/clusters``: the clusters, their labels, URLs, object and watch counts.
- ``POST /_fleet/clusters`` ``{"name", "namespace"?, "type"?, "labels"?}``: add a cluster
  (its kubeconfig is written); ``DELETE /_fleet/clusters/<name>``: remove one.
- ``POST /_fleet/clusters/<name>/compact``: forget the event log (watch resumes get 410).
- ``POST /_fleet/clusters/<name>/objects`` ``{"objects": [...]}``: create many objects in one
  request (the API's rules and watch events; a test's large cluster in seconds).
- ``POST /_fleet/clusters/<name>/cut-watches`` and ``POST /_fleet/cut-watches``: end open
  watch streams (clients must resume).
- ``POST /_fleet/faults`` ``{"path": regex, "cluster"?, "method"?, "status"?: 500,
  "count"?: 1 (null: until cleared), "delay"?: seconds}``: the next ``count`` matching API
  requests wait ``delay`` and then fail with ``status`` (``status: 0`` only delays);
  ``GET``/``DELETE /_fleet/faults`` list/clear them.
- ``GET /_fleet/requests[?cluster=]`` / ``DELETE /_fleet/requests``: recorded API requests
  (method, path with query, content type).
- ``POST /_fleet/clusters/<name>/deny`` ``{"verb"?, "resource"?, "namespace"?, ...}``: access
  reviews whose resourceAttributes match are denied; ``DELETE`` clears the rules.
- ``POST /_fleet/clusters/<name>/rbac`` ``{"enforce": true|false|null}``: authorize
  requests the admin impersonates (``Impersonate-User``) with the cluster's RBAC objects
  (null: the fleet's default). Non-admin tokens are always authorized with RBAC.
- Every hook needs the fleet's admin token.
- ``GET /_fleet/stats``: totals and the process's resident memory.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.fleet.errors import ApiError, FleetConfigError
from services.fleet.responses import STATE, json_response
from services.fleet.state import ClusterInfo, FleetState, SimCluster
from shared.api.vocabulary import SVELTOS


def _state(request: web.Request) -> FleetState:
    return request.app[STATE]


def _cluster(request: web.Request) -> SimCluster:
    name = request.match_info["name"]
    cluster = _state(request).clusters.get(name)
    if cluster is None:
        raise ApiError(404, f'cluster "{name}" not found', "NotFound", {"name": name})
    return cluster


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        import json

        data = json.loads(raw)
    except ValueError:
        raise ApiError.bad_request("hook bodies are JSON objects") from None
    if not isinstance(data, dict):
        raise ApiError.bad_request("hook bodies are JSON objects")
    return data


def describe(request: web.Request, cluster: SimCluster) -> dict[str, Any]:
    store = cluster.store
    return {
        **cluster.info.as_dict(),
        "path": f"/clusters/{cluster.name}",
        "url": f"{request.scheme}://{request.host}/clusters/{cluster.name}",
        "resourceVersion": store.rv,
        "objects": sum(len(b) for b in store.objects.values()),
        "watches": store.watch_count(),
    }


async def list_clusters(request: web.Request) -> web.Response:
    state = _state(request)
    return json_response({"clusters": [describe(request, c) for c in state.clusters.values()]})


async def add_cluster(request: web.Request) -> web.Response:
    data = await _body(request)
    try:
        info = ClusterInfo(
            name=str(data.get("name", "")),
            namespace=str(data.get("namespace", "default")),
            type=str(data.get("type", SVELTOS)),
            labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
        )
        cluster = _state(request).add_cluster(info)
    except FleetConfigError as exc:
        raise ApiError(409 if "exists" in str(exc) else 400, str(exc)) from None
    return json_response(describe(request, cluster), 201)


async def remove_cluster(request: web.Request) -> web.Response:
    cluster = _cluster(request)
    try:
        _state(request).remove_cluster(cluster.name)
    except FleetConfigError as exc:
        raise ApiError.bad_request(str(exc)) from None
    return json_response({"removed": cluster.name})


async def compact(request: web.Request) -> web.Response:
    return json_response({"resourceVersion": _cluster(request).store.compact()})


async def load_objects(request: web.Request) -> web.Response:
    """Create many objects in one request, through the same rules as the API (events are
    sent to watches as usual): for tests that need a large cluster quickly."""
    cluster = _cluster(request)
    items = (await _body(request)).get("objects")
    if not isinstance(items, list):
        raise ApiError.bad_request("a load needs an 'objects' list")
    created = 0
    for index, obj in enumerate(items):
        if not isinstance(obj, dict):
            raise ApiError.bad_request(f"objects[{index}] is not an object")
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        group = api_version.rpartition("/")[0] if "/" in api_version else ""
        rt = cluster.store.registry.by_kind(group, kind)
        if rt is None:
            raise ApiError.bad_request(f"objects[{index}]: no such kind {api_version} {kind}")
        namespace = str((obj.get("metadata") or {}).get("namespace") or "")
        cluster.objects.create(rt, namespace if rt.namespaced else "", obj, "fleet-load")
        created += 1
    return json_response({"created": created}, 201)


async def cut_cluster_watches(request: web.Request) -> web.Response:
    return json_response({"closed": _cluster(request).store.cut_watches()})


async def cut_all_watches(request: web.Request) -> web.Response:
    return json_response({"closed": _state(request).cut_all_watches()})


async def add_fault(request: web.Request) -> web.Response:
    data = await _body(request)
    if "path" not in data:
        raise ApiError.bad_request("a fault needs a 'path' regex")
    count = data.get("count", 1)
    fault = _state(request).add_fault(
        str(data["path"]),
        cluster=data.get("cluster"),
        method=data.get("method"),
        status=int(data.get("status", 500)),
        count=None if count is None else int(count),
        delay=float(data.get("delay", 0.0)),
    )
    return json_response(fault.as_dict(), 201)


async def list_faults(request: web.Request) -> web.Response:
    return json_response({"faults": [f.as_dict() for f in _state(request).faults]})


async def clear_faults(request: web.Request) -> web.Response:
    state = _state(request)
    n = len(state.faults)
    state.faults.clear()
    return json_response({"cleared": n})


async def list_requests(request: web.Request) -> web.Response:
    cluster = request.query.get("cluster")
    reqs = [r for r in _state(request).requests if cluster is None or r["cluster"] == cluster]
    return json_response({"requests": reqs})


async def clear_requests(request: web.Request) -> web.Response:
    _state(request).requests.clear()
    return json_response({"cleared": True})


async def add_deny(request: web.Request) -> web.Response:
    cluster = _cluster(request)
    rule = await _body(request)
    _state(request).denied.setdefault(cluster.name, []).append(rule)
    return json_response({"rules": _state(request).denied[cluster.name]}, 201)


async def clear_deny(request: web.Request) -> web.Response:
    cluster = _cluster(request)
    _state(request).denied.pop(cluster.name, None)
    return json_response({"rules": []})


async def set_rbac(request: web.Request) -> web.Response:
    cluster = _cluster(request)
    data = await _body(request)
    enforce = data.get("enforce")
    cluster.rbac = None if enforce is None else bool(enforce)
    return json_response(
        {"cluster": cluster.name, "enforce": _state(request).rbac_enforced(cluster)}
    )


async def map_webhook(request: web.Request) -> web.Response:
    """``{namespace, name, url}``: a conversion webhook's Service is reached at ``url``
    (``url: null`` removes the mapping)."""
    data = await _body(request)
    namespace, name, url = data.get("namespace"), data.get("name"), data.get("url")
    if not isinstance(namespace, str) or not isinstance(name, str) or not namespace or not name:
        raise ApiError.bad_request("a webhook mapping needs the Service's namespace and name")
    services = _state(request).webhook_services
    if url is None:
        services.pop((namespace, name), None)
    elif isinstance(url, str) and url.startswith(("https://", "http://")):
        services[(namespace, name)] = url
    else:
        raise ApiError.bad_request(f"url: expected an https:// URL, got {url!r}")
    return json_response(
        {"services": [{"namespace": k[0], "name": k[1], "url": v} for k, v in services.items()]}
    )


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


async def stats(request: web.Request) -> web.Response:
    state = _state(request)
    return json_response(
        {
            "clusters": len(state.clusters),
            "objects": sum(
                sum(len(b) for b in c.store.objects.values()) for c in state.clusters.values()
            ),
            "watches": sum(c.store.watch_count() for c in state.clusters.values()),
            "conversionWebhookCalls": sum(c.conversion.calls for c in state.clusters.values()),
            "rssBytes": rss_bytes(),
        }
    )


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/_fleet/clusters", list_clusters)
    r.add_post("/_fleet/clusters", add_cluster)
    r.add_delete("/_fleet/clusters/{name}", remove_cluster)
    r.add_post("/_fleet/clusters/{name}/compact", compact)
    r.add_post("/_fleet/clusters/{name}/objects", load_objects)
    r.add_post("/_fleet/clusters/{name}/cut-watches", cut_cluster_watches)
    r.add_post("/_fleet/cut-watches", cut_all_watches)
    r.add_post("/_fleet/clusters/{name}/deny", add_deny)
    r.add_delete("/_fleet/clusters/{name}/deny", clear_deny)
    r.add_post("/_fleet/faults", add_fault)
    r.add_get("/_fleet/faults", list_faults)
    r.add_delete("/_fleet/faults", clear_faults)
    r.add_get("/_fleet/requests", list_requests)
    r.add_delete("/_fleet/requests", clear_requests)
    r.add_post("/_fleet/clusters/{name}/rbac", set_rbac)
    r.add_get("/_fleet/stats", stats)
    r.add_post("/_fleet/webhooks", map_webhook)
