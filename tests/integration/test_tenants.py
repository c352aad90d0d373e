"""Multi-tenant EventSources are listed AND watched as the tenant (BRIEF section 4), the
tenant being the user Sveltos impersonates (``system:serviceaccount:projectsveltos:
<saNamespace>--<saName>``, sveltos-semantics 6): a tenant allowed in its namespace by the
RBAC a Sveltos user already has gets its add-ons; rights granted to any other identity
(``system:serviceaccount:<saNamespace>:<saName>``, what Ripple impersonated before) give
nothing; a tenant EventSource reaching where the tenant may not read never reports "no
match", and its status says why."""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.scenario.stack import Stack
from shared.kube import GVK
from tests.integration.test_services import eventually

CM = GVK("v1", "ConfigMap")
ES = GVK("lib.projectsveltos.io/v1beta1", "EventSource")
CLUSTER = "default/c1"
TENANT = {
    "projectsveltos.io/serviceaccount-name": "tenant",
    "projectsveltos.io/serviceaccount-namespace": "team-a",
}


def tenant_definitions(name: str, namespace: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "EventSource",
            "metadata": {"name": name, "labels": TENANT},
            "spec": {
                "collectResources": True,
                "resourceSelectors": [
                    {"group": "", "version": "v1", "kind": "Service", "namespace": namespace}
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"{name}-template",
                "namespace": "default",
                "annotations": {"projectsveltos.io/instantiate": "ok"},
            },
            "data": {
                "cm.yaml": (
                    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                    f"  name: {name}-{{{{ .Resource.metadata.name }}}}\n"
                    "  namespace: {{ .Resource.metadata.namespace }}\n"
                )
            },
        },
        {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "EventTrigger",
            "metadata": {"name": name},
            "spec": {
                "sourceClusterSelector": {"matchLabels": {"env": "test"}},
                "eventSourceName": name,
                "oneForEvent": True,
                "policyRefs": [
                    {"kind": "ConfigMap", "namespace": "default", "name": f"{name}-template"}
                ],
            },
        },
    ]


RBAC = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}},
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "read-services", "namespace": "team-a"},
        "rules": [
            {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch"]}
        ],
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "tenant-reads", "namespace": "team-a"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "read-services",
        },
        # the ServiceAccount Sveltos creates for the tenant in the managed cluster
        "subjects": [
            {"kind": "ServiceAccount", "name": "team-a--tenant", "namespace": "projectsveltos"}
        ],
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "read-services", "namespace": "other"},
        "rules": [
            {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch"]}
        ],
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "not-sveltos-identity", "namespace": "other"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "read-services",
        },
        # not the identity Sveltos impersonates: grants the tenant's EventSources nothing
        "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": "team-a"}],
    },
]


def fleet_hook(stack: Stack, path: str, body: dict[str, Any], cluster: str = CLUSTER) -> Any:
    """POST one of the fleet's test hooks with its admin token (read from ``cluster``'s
    kubeconfig)."""
    config = yaml.safe_load(stack.kubeconfig(cluster).read_text())
    cluster = config["clusters"][0]["cluster"]
    token = config["users"][0]["user"]["token"]
    base = cluster["server"].split("/clusters/")[0]
    context = ssl.create_default_context(cadata=_ca(cluster))
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, context=context, timeout=5) as response:
        return json.loads(response.read())


def _ca(cluster: dict[str, Any]) -> str:
    import base64

    return base64.b64decode(cluster["certificate-authority-data"]).decode()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp("tenants")
    fleet = {
        "clusters": [
            {"namespace": "default", "name": "c1", "type": "sveltos", "labels": {"env": "test"}}
        ]
    }
    (root / "fleet.yaml").write_text(yaml.safe_dump(fleet))
    (root / "management").mkdir()
    docs = [*tenant_definitions("allowed", "team-a"), *tenant_definitions("forbidden", "other")]
    (root / "management" / "defs.yaml").write_text(yaml.safe_dump_all(docs))
    state = root / "state"
    with Stack(root / "fleet.yaml", root / "management", state_dir=state, services=False) as s:
        # as in a real cluster: RBAC holds (for impersonated identities too) from the start
        c = s.client(CLUSTER)
        for obj in RBAC:
            c.apply(obj, field_manager="test")
        assert fleet_hook(s, "/_fleet/clusters/c1/rbac", {"enforce": True})["enforce"] is True
        s.start_services()  # the agent is ready although "forbidden" cannot be listed
        yield s


def test_tenant_event_sources_use_the_tenants_rights_for_list_and_watch(stack: Stack) -> None:
    c = stack.client(CLUSTER)
    svc = {"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80}]}}
    c.apply({**svc, "metadata": {"name": "web", "namespace": "team-a"}}, field_manager="test")
    c.apply({**svc, "metadata": {"name": "web", "namespace": "other"}}, field_manager="test")
    # allowed: listed and watched in team-a as the tenant, so the add-on is deployed
    eventually(lambda: c.get(CM, "team-a", "allowed-web"), what="tenant add-on deployed")
    # a later Service reaches the tenant's watch too
    c.apply({**svc, "metadata": {"name": "api", "namespace": "team-a"}}, field_manager="test")
    eventually(lambda: c.get(CM, "team-a", "allowed-api"), what="seen through the tenant's watch")
    # forbidden: the tenant may not read "other": no report, so nothing is deployed there,
    # and the EventSource's status says why
    message = eventually(
        lambda: (
            (stack.management.get(ES, None, "forbidden") or {})
            .get("status", {})
            .get("failureMessage")
        ),
        what="forbidden shown in the EventSource status",
    )
    assert "403" in message or "forbidden" in message.lower()
    assert "system:serviceaccount:projectsveltos:team-a--tenant" in message
    assert c.get(CM, "other", "forbidden-web") is None
