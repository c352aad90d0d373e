"""The RBAC authorizer (who is authorized with it: :mod:`services.fleet.access`).

A request's identity is authorized against the cluster's Role/RoleBinding/ClusterRole/ClusterRoleBinding objects the way the
real authorizer reads them: rules with ``apiGroups``, ``resources`` (``plural`` or
``plural/subresource``, ``*``), ``verbs`` and ``resourceNames``; subjects of kind User,
Group and ServiceAccount (``system:serviceaccount:<ns>:<name>``). Discovery and OpenAPI
are allowed to everyone, as ``system:discovery`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.fleet.store import ClusterStore

RBAC = "rbac.authorization.k8s.io"
ROLES = (RBAC, "roles")
CLUSTER_ROLES = (RBAC, "clusterroles")
ROLE_BINDINGS = (RBAC, "rolebindings")
CLUSTER_ROLE_BINDINGS = (RBAC, "clusterrolebindings")


@dataclass
class Attributes:
    """What a request does, in the authorizer's terms."""

    user: str
    groups: list[str] = field(default_factory=list)
    verb: str = ""
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @classmethod
    def from_review(cls, user: str, groups: list[str], spec: dict[str, Any]) -> Attributes:
        attrs = spec.get("resourceAttributes") or {}
        return cls(
            user=user,
            groups=groups,
            verb=str(attrs.get("verb", "")),
            group=str(attrs.get("group", "")),
            resource=str(attrs.get("resource", "")),
            subresource=str(attrs.get("subresource", "")),
            namespace=str(attrs.get("namespace", "")),
            name=str(attrs.get("name", "")),
        )


def _subject_matches(subject: dict[str, Any], a: Attributes, binding_ns: str) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        return bool(subject.get("name") == a.user)
    if kind == "Group":
        return subject.get("name") in a.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return a.user == f"system:serviceaccount:{ns}:{subject.get('name')}"
    return False


def _rule_allows(rule: dict[str, Any], a: Attributes) -> bool:
    verbs = rule.get("verbs") or []
    if "*" not in verbs and a.verb not in verbs:
        return False
    groups = rule.get("apiGroups") or []
    if "*" not in groups and a.group not in groups:
        return False
    wanted = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    resources = rule.get("resources") or []
    if not any(
        r in ("*", wanted) or (a.subresource and r == f"*/{a.subresource}") for r in resources
    ):
        return False
    names = rule.get("resourceNames") or []
    return not names or a.name in names


def _rules(store: ClusterStore, kind: str, name: str, namespace: str) -> list[dict[str, Any]]:
    if kind == "ClusterRole":
        role = store.get(CLUSTER_ROLES, "", name)
    else:
        role = store.get(ROLES, namespace, name)
    return list((role or {}).get("rules") or [])


def authorize(store: ClusterStore, a: Attributes) -> tuple[bool, str]:
    """(allowed, reason) for ``a`` in ``store``'s cluster."""
    for binding in (store.objects.get(CLUSTER_ROLE_BINDINGS) or {}).values():
        if not any(_subject_matches(s, a, "") for s in binding.get("subjects") or []):
            continue
        ref = binding.get("roleRef") or {}
        if any(_rule_allows(r, a) for r in _rules(store, "ClusterRole", ref.get("name", ""), "")):
            return True, f'RBAC: allowed by ClusterRoleBinding "{binding["metadata"]["name"]}"'
    if a.namespace:
        for binding in store.iter(ROLE_BINDINGS, a.namespace):
            ns = binding["metadata"].get("namespace", "")
            if not any(_subject_matches(s, a, ns) for s in binding.get("subjects") or []):
                continue
            ref = binding.get("roleRef") or {}
            rules = _rules(store, ref.get("kind", "Role"), ref.get("name", ""), ns)
            if any(_rule_allows(r, a) for r in rules):
                return True, f'RBAC: allowed by RoleBinding "{binding["metadata"]["name"]}/{ns}"'
    return False, ""


def forbidden_message(a: Attributes) -> str:
    """The real authorizer's denial message."""
    resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    what = f"{a.resource}.{a.group}" if a.group else a.resource  # no subresource here
    subject = f'{what} "{a.name}"' if a.name else what
    where = f' in the namespace "{a.namespace}"' if a.namespace else " at the cluster scope"
    return (
        f'{subject} is forbidden: User "{a.user}" cannot {a.verb} resource "{resource}" in API '
        f'group "{a.group}"{where}'
    )
