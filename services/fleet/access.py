"""Authorization of impersonated requests and the access-review kinds."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.fleet import rbac
from services.fleet.errors import ApiError
from services.fleet.state import FleetState, SimCluster


def verb_of(method: str, name: str | None, watch: bool) -> str:
    if method == "GET":
        return "watch" if watch else ("get" if name else "list")
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def authorize(
    request: web.Request,
    store: Any,
    rt: Any,
    ns: str | None,
    name: str | None,
    sub: str,
    user: str,
) -> None:
    attrs = rbac.Attributes(
        user=user,
        groups=request.headers.getall("Impersonate-Group", []),
        verb=verb_of(request.method, name, request.query.get("watch") in ("true", "1")),
        group=rt.group,
        resource=rt.plural,
        subresource=sub,
        namespace=ns or "",
        name=name or "",
    )
    allowed, _ = rbac.authorize(store, attrs)
    if not allowed:
        details: dict[str, Any] = {}
        if name:
            details["name"] = name
        if rt.group:
            details["group"] = rt.group
        details["kind"] = rt.plural
        raise ApiError(403, rbac.forbidden_message(attrs), "Forbidden", details)


def review(
    state: FleetState,
    cluster: SimCluster,
    rt: Any,
    body: Any,
    request_user: str | None = None,
    request_groups: list[str] | None = None,
) -> dict[str, Any]:
    """Access reviews: allowed unless a deny rule (hooks) matches the request's attributes."""
    if not isinstance(body, dict):
        raise ApiError.bad_request("the object provided is not a JSON object")
    out = dict(body)
    out["apiVersion"], out["kind"] = rt.api_version, rt.kind
    out.setdefault("metadata", {})
    spec = body.get("spec") or {}
    attrs = spec.get("resourceAttributes") or {}
    for rule in state.denied.get(cluster.name, []):
        if all(attrs.get(k) == v for k, v in rule.items()):
            out["status"] = {
                "allowed": False,
                "denied": True,
                "reason": "denied by the fleet's test hooks",
            }
            return out
    if rt.plural == "subjectaccessreviews":
        user, groups = str(spec.get("user", "")), list(spec.get("groups") or [])
    else:
        user = request_user or ""
        groups = list(request_groups or [])
    if user and state.rbac_enforced(cluster) and attrs:
        allowed, reason = rbac.authorize(
            cluster.store, rbac.Attributes.from_review(user, groups, spec)
        )
        out["status"] = {"allowed": allowed, **({"reason": reason} if reason else {})}
        return out
    out["status"] = {"allowed": True}
    return out
