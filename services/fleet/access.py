"""Who may do what: authentication of requests, impersonation, RBAC checks, access reviews,
and the TokenRequest API.

The decision is one function (:func:`decide`) used by every endpoint and by both access
reviews, so a review always gives the answer the request itself would get:

- the admin (and any identity in ``system:masters``) is allowed everything;
- an identity authenticated by a non-admin token (a static user, a ServiceAccount token),
  or impersonated by one, is authorized with the cluster's RBAC objects, always;
- an identity impersonated by the admin is authorized with RBAC, as a real API server does,
  unless the fleet or the cluster opts out explicitly (``--no-rbac``, ``rbac: false`` in
  fleet.yaml, ``enforce_rbac(name, False)``): then it acts as the admin.

A server-side apply that creates its object is also authorized as ``create`` (the real
server's patch handler checks ``create`` before it creates).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from services.fleet import authn, rbac
from services.fleet.authn import Identity
from services.fleet.errors import ApiError
from services.fleet.kinds import ResourceType
from services.fleet.state import FleetState, SimCluster

SA_KEY = ("", "serviceaccounts")
IDENTITY: web.RequestKey[Identity] = web.RequestKey("fleet_identity", Identity)
SELF_REVIEWS = ("selfsubjectaccessreviews", "selfsubjectrulesreviews")


def verb_of(method: str, name: str | None, watch: bool) -> str:
    if method == "GET":
        return "watch" if watch else ("get" if name else "list")
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


# -- authentication ------------------------------------------------------------------------


def authenticate(state: FleetState, cluster: str, header: str) -> Identity | None:
    """The identity of ``Authorization: Bearer <token>`` on ``cluster``; None: 401."""
    if not header.startswith("Bearer "):
        return None
    token = header[len("Bearer ") :].strip()
    if token == state.token:
        return authn.ADMIN
    user = state.users.get(token)
    if user is not None:
        return user
    claims = state.issuer.verify(token, cluster)
    if claims is None:
        return None
    c = state.clusters.get(cluster)
    info = claims.get("kubernetes.io") or {}
    ns, sa = str(info.get("namespace", "")), info.get("serviceaccount") or {}
    obj = c.store.get(SA_KEY, ns, str(sa.get("name", ""))) if c is not None else None
    if obj is None or obj["metadata"].get("uid") != sa.get("uid"):
        return None  # the ServiceAccount was deleted (or re-created): its tokens are void
    return Identity(str(claims["sub"]), authn.service_account_groups(ns), rbac=True)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def impersonate(
    state: FleetState, cluster: SimCluster, ident: Identity, headers: MultiMapping[str]
) -> Identity:
    """Apply ``Impersonate-User``/``Impersonate-Group``: the requester needs ``impersonate``."""
    user = headers.get("Impersonate-User")
    groups = list(headers.getall("Impersonate-Group", []))
    if not user:
        if groups:
            raise ApiError.bad_request(f"requested {groups} without impersonating a user")
        return ident
    sa = authn.split_service_account(user)
    checks = [
        rbac.Attributes(
            user=ident.user,
            groups=list(ident.groups),
            verb="impersonate",
            resource="serviceaccounts" if sa else "users",
            namespace=sa[0] if sa else "",
            name=sa[1] if sa else user,
        )
    ] + [
        rbac.Attributes(
            user=ident.user,
            groups=list(ident.groups),
            verb="impersonate",
            resource="groups",
            name=g,
        )
        for g in groups
    ]
    for attrs in checks:
        if not ident.admin and not rbac.authorize(cluster.store, attrs)[0]:
            raise forbidden(attrs)
    if not groups and sa:
        out_groups: tuple[str, ...] = authn.service_account_groups(sa[0])
    else:
        out_groups = authn.with_authenticated(groups)
    return Identity(user, out_groups, rbac=ident.rbac)


# -- authorization -------------------------------------------------------------------------


def decide(
    state: FleetState, cluster: SimCluster, ident: Identity, attrs: rbac.Attributes
) -> tuple[bool, str]:
    """(allowed, reason): the one decision behind every request and every review."""
    if ident.admin:
        return True, ""
    if not ident.rbac and not state.rbac_enforced(cluster):
        return True, ""
    return rbac.authorize(cluster.store, attrs)


def forbidden(attrs: rbac.Attributes) -> ApiError:
    details: dict[str, Any] = {}
    if attrs.name:
        details["name"] = attrs.name
    if attrs.group:
        details["group"] = attrs.group
    details["kind"] = attrs.resource
    return ApiError(403, rbac.forbidden_message(attrs), "Forbidden", details)


def authorize(
    request: web.Request,
    state: FleetState,
    cluster: SimCluster,
    rt: ResourceType,
    ns: str | None,
    name: str | None,
    sub: str,
    verb: str = "",
) -> None:
    """Raise the real 403 when the request's identity may not do this request (``verb``:
    another verb than the request's, e.g. ``create`` for an apply that creates)."""
    ident: Identity = request.get(IDENTITY, authn.ADMIN)
    if ident.admin or (rt.virtual and rt.plural in SELF_REVIEWS):
        return  # system:basic-user lets everyone review themselves
    attrs = rbac.Attributes(
        user=ident.user,
        groups=list(ident.groups),
        verb=verb or verb_of(request.method, name, request.query.get("watch") in ("true", "1")),
        group=rt.group,
        resource=rt.plural,
        subresource=sub,
        namespace=ns or "",
        name=name or "",
    )
    if not decide(state, cluster, ident, attrs)[0]:
        raise forbidden(attrs)


def review(
    state: FleetState, cluster: SimCluster, rt: ResourceType, body: object, requester: Identity
) -> dict[str, Any]:
    """Self/SubjectAccessReview: the answer :func:`decide` gives (or a deny hook)."""
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
        user = str(spec.get("user", ""))
        groups = tuple(str(g) for g in spec.get("groups") or [])
        sa = authn.split_service_account(user)
        if sa and not groups:
            groups = authn.service_account_groups(sa[0])
        # identities that authenticate with their own token are always under RBAC
        known = bool(sa) or any(u.user == user for u in state.users.values())
        ident = Identity(user, authn.with_authenticated(groups), rbac=known)
    else:
        ident = requester
    if not attrs:
        out["status"] = {"allowed": True}  # non-resource attributes: not modelled
        return out
    allowed, reason = decide(
        state, cluster, ident, rbac.Attributes.from_review(ident.user, list(ident.groups), spec)
    )
    out["status"] = {"allowed": allowed, **({"reason": reason} if reason else {})}
    return out


# -- TokenRequest --------------------------------------------------------------------------


def token_request(
    state: FleetState, cluster: SimCluster, ns: str, name: str, body: object
) -> dict[str, Any]:
    """``POST /api/v1/namespaces/NS/serviceaccounts/NAME/token``: a TokenRequest with
    ``status.token`` and ``status.expirationTimestamp``."""
    sa = cluster.store.get(SA_KEY, ns, name)
    if sa is None:
        raise ApiError.not_found("serviceaccounts", name)
    if body is not None and not isinstance(body, dict):
        raise ApiError.bad_request("the object provided is not a JSON object")
    spec = dict((body or {}).get("spec") or {})
    seconds = spec.get("expirationSeconds")
    seconds = authn.DEFAULT_TOKEN_SECONDS if seconds is None else int(seconds)
    if seconds < authn.MIN_TOKEN_SECONDS:
        raise ApiError.invalid(
            "TokenRequest",
            name,
            "spec.expirationSeconds",
            f"Invalid value: {seconds}: may not specify a duration less than 10 minutes",
            group="authentication.k8s.io",
        )
    audiences = [str(a) for a in spec.get("audiences") or []] or [authn.ISSUER]
    now = time.time()
    token, exp = state.issuer.issue(
        cluster.name, ns, name, sa["metadata"]["uid"], seconds, audiences, now
    )
    spec.update({"audiences": audiences, "expirationSeconds": seconds})
    spec.setdefault("boundObjectRef", None)
    stamp = datetime.fromtimestamp(exp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {
            "name": name,
            "namespace": ns,
            "creationTimestamp": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "spec": spec,
        "status": {"token": token, "expirationTimestamp": stamp},
    }
