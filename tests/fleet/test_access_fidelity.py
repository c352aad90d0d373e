"""Authorization as a real API server does it (issue 15 item 10): an impersonated identity is
always authorized as itself, and a server-side apply that creates is authorized as create."""

from __future__ import annotations

import json

from kubernetes import client, config

from tests.fleet.conftest import Cluster

RBAC_GROUP = "rbac.authorization.k8s.io"


def as_user(cluster: Cluster, user: str) -> client.ApiClient:
    api = config.new_client_from_config(str(cluster.kubeconfig))
    api.set_default_header("Impersonate-User", user)
    return api


def grant(cluster: Cluster, user: str, verbs: list[str]) -> None:
    cluster.rbac.create_namespaced_role(
        "default",
        {
            "metadata": {"name": f"{user}-cm"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": verbs}],
        },
    )
    cluster.rbac.create_namespaced_role_binding(
        "default",
        {
            "metadata": {"name": f"{user}-cm"},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": f"{user}-cm"},
            "subjects": [{"kind": "User", "name": user}],
        },
    )


def test_impersonated_identity_is_authorized_as_itself_by_default(cluster: Cluster) -> None:
    # no --rbac, no enforce_rbac: the fleet's default is what a real server does
    cluster.core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    api = as_user(cluster, "nobody")
    try:
        client.CoreV1Api(api).read_namespaced_config_map("c", "default")
        raise AssertionError("an impersonated identity without RBAC read a ConfigMap")
    except client.ApiException as err:
        assert err.status == 403
        assert json.loads(err.body)["message"] == (
            'configmaps "c" is forbidden: User "nobody" cannot get resource "configmaps" in '
            'API group "" in the namespace "default"'
        )
    finally:
        api.close()
    # the explicit opt-out keeps the old leniency
    cluster.fleet.enforce_rbac(cluster.name, False)
    api = as_user(cluster, "nobody")
    assert client.CoreV1Api(api).read_namespaced_config_map("c", "default").metadata.name == "c"
    api.close()


def test_apply_that_creates_needs_create(cluster: Cluster) -> None:
    grant(cluster, "patcher", ["get", "patch"])
    api = as_user(cluster, "patcher")
    core = client.CoreV1Api(api)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "1"}}
    try:
        core.patch_namespaced_config_map(
            "x", "default", body, field_manager="m", _content_type="application/apply-patch+yaml"
        )
        raise AssertionError("an apply created an object without the create verb")
    except client.ApiException as err:
        assert err.status == 403
        assert (
            'User "patcher" cannot create resource "configmaps"' in json.loads(err.body)["message"]
        )
    # once the object exists, patch is enough
    cluster.core.create_namespaced_config_map("default", {"metadata": {"name": "x"}})
    out = core.patch_namespaced_config_map(
        "x", "default", body, field_manager="m", _content_type="application/apply-patch+yaml"
    )
    assert out.data == {"a": "1"}
    api.close()
