"""Impersonation with a minimal RBAC (opt-in): Roles, ClusterRoles, bindings, reviews."""

from __future__ import annotations

import json

import pytest
from kubernetes import client, config

from tests.fleet.conftest import Cluster

RBAC_GROUP = "rbac.authorization.k8s.io"


def as_user(cluster: Cluster, user: str, *groups: str) -> client.ApiClient:
    api = config.new_client_from_config(str(cluster.kubeconfig))
    api.set_default_header("Impersonate-User", user)
    for g in groups:
        api.set_default_header("Impersonate-Group", g)
    return api


@pytest.fixture
def rbac_cluster(cluster: Cluster) -> Cluster:
    cluster.fleet.enforce_rbac(cluster.name)
    rb = cluster.rbac
    rb.create_namespaced_role(
        "default",
        {
            "metadata": {"name": "cm-reader"},
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}
            ],
        },
    )
    rb.create_namespaced_role_binding(
        "default",
        {
            "metadata": {"name": "alice-reads"},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": "cm-reader"},
            "subjects": [
                {"kind": "User", "name": "alice"},
                {"kind": "ServiceAccount", "name": "agent", "namespace": "default"},
            ],
        },
    )
    rb.create_cluster_role(
        {
            "metadata": {"name": "deploy-admin"},
            "rules": [
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments", "deployments/status"],
                    "verbs": ["*"],
                }
            ],
        }
    )
    rb.create_cluster_role_binding(
        {
            "metadata": {"name": "ops-deploy"},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "deploy-admin"},
            "subjects": [{"kind": "Group", "name": "ops"}],
        }
    )
    cluster.core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    return cluster


def test_role_binding_allows_and_denies(rbac_cluster: Cluster) -> None:
    api = as_user(rbac_cluster, "alice")
    core = client.CoreV1Api(api)
    assert [c.metadata.name for c in core.list_namespaced_config_map("default").items] == ["c"]
    assert core.read_namespaced_config_map("c", "default").metadata.name == "c"
    with pytest.raises(client.ApiException) as err:
        core.create_namespaced_config_map("default", {"metadata": {"name": "x"}})
    assert err.value.status == 403
    body = json.loads(err.value.body)
    assert body["reason"] == "Forbidden"
    assert body["message"] == (
        'configmaps is forbidden: User "alice" cannot create resource '
        '"configmaps" in API group "" in the namespace "default"'
    )
    with pytest.raises(client.ApiException) as err:
        core.list_namespaced_secret("default")
    assert err.value.status == 403
    with pytest.raises(client.ApiException) as err:
        core.list_config_map_for_all_namespaces()  # the Role is namespaced
    assert err.value.status == 403
    api.close()


def test_service_account_and_group_subjects(rbac_cluster: Cluster) -> None:
    sa = as_user(rbac_cluster, "system:serviceaccount:default:agent")
    assert client.CoreV1Api(sa).list_namespaced_config_map("default").items
    sa.close()
    ops = as_user(rbac_cluster, "bob", "ops")
    from tests.fleet.conftest import deployment

    apps = client.AppsV1Api(ops)
    apps.create_namespaced_deployment("default", deployment("d"))
    apps.patch_namespaced_deployment_status("d", "default", {"status": {"replicas": 1}})
    with pytest.raises(client.ApiException) as err:
        client.CoreV1Api(ops).list_namespaced_config_map("default")
    assert err.value.status == 403
    ops.close()


def test_admin_token_and_disabled_rbac(rbac_cluster: Cluster) -> None:
    # the token without impersonation is admin
    rbac_cluster.core.create_namespaced_secret("default", {"metadata": {"name": "s"}})
    rbac_cluster.fleet.enforce_rbac(rbac_cluster.name, False)
    api = as_user(rbac_cluster, "nobody")
    assert client.CoreV1Api(api).read_namespaced_secret("s", "default").metadata.name == "s"
    api.close()


def test_access_reviews_use_rbac(rbac_cluster: Cluster) -> None:
    attrs = {"namespace": "default", "verb": "list", "resource": "configmaps"}
    api = as_user(rbac_cluster, "alice")
    auth = client.AuthorizationV1Api(api)
    out = auth.create_self_subject_access_review({"spec": {"resourceAttributes": attrs}})
    assert out.status.allowed is True
    out = auth.create_self_subject_access_review(
        {"spec": {"resourceAttributes": {**attrs, "verb": "delete"}}}
    )
    assert out.status.allowed is False
    api.close()
    admin = client.AuthorizationV1Api(rbac_cluster.api)
    out = admin.create_subject_access_review(
        {
            "spec": {
                "user": "bob",
                "groups": ["ops"],
                "resourceAttributes": {
                    "group": "apps",
                    "verb": "delete",
                    "resource": "deployments",
                    "namespace": "x",
                },
            }
        }
    )
    assert out.status.allowed is True
    out = admin.create_subject_access_review({"spec": {"user": "bob", "resourceAttributes": attrs}})
    assert out.status.allowed is False


def test_rule_matching_units() -> None:
    from services.fleet.rbac import Attributes, _rule_allows

    a = Attributes(
        user="u", verb="get", group="", resource="configmaps", name="one", namespace="default"
    )
    assert _rule_allows(
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["get"],
            "resourceNames": ["one"],
        },
        a,
    )
    assert not _rule_allows(
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["get"],
            "resourceNames": ["two"],
        },
        a,
    )
    assert _rule_allows({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, a)
    status = Attributes(
        user="u", verb="patch", group="apps", resource="deployments", subresource="status"
    )
    assert _rule_allows(
        {"apiGroups": ["apps"], "resources": ["*/status"], "verbs": ["patch"]}, status
    )
    assert not _rule_allows(
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["patch"]}, status
    )
