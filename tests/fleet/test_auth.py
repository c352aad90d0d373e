"""Authentication (admin token, static users, ServiceAccount tokens from the TokenRequest API,
impersonation) and RBAC on every endpoint, with the official client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch

from services.fleet import FleetThread, start_fleet_thread
from services.fleet.handle import load_fleet_access
from tests.fleet.conftest import Cluster

RBAC_GROUP = "rbac.authorization.k8s.io"
SA_USER = "system:serviceaccount:t:sa"
FORBIDDEN_LIST = (
    'configmaps is forbidden: User "system:serviceaccount:t:sa" cannot list resource '
    '"configmaps" in API group "" in the namespace "other"'
)
FORBIDDEN_WATCH = FORBIDDEN_LIST.replace("cannot list", "cannot watch")


def client_with_token(cluster: Cluster, token: str) -> client.ApiClient:
    """A client of the cluster authenticated by ``token`` only ("" sends no token)."""
    cfg = client.Configuration()
    cfg.host = cluster.fleet.url(cluster.name)
    cfg.ssl_ca_cert = str(cluster.fleet.ca_file)
    if token:
        cfg.api_key = {"BearerToken": token}
        cfg.api_key_prefix = {"BearerToken": "Bearer"}
    return client.ApiClient(cfg)


def impersonating(cluster: Cluster, user: str, *groups: str) -> client.ApiClient:
    api = config.new_client_from_config(str(cluster.kubeconfig))
    api.set_default_header("Impersonate-User", user)
    for g in groups:
        api.set_default_header("Impersonate-Group", g)
    return api


def failure(fn: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(client.ApiException) as err:
        fn(*args, **kwargs)
    return err.value.status, json.loads(err.value.body)


def first_watch_event(core: client.CoreV1Api, namespace: str) -> dict[str, Any]:
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, namespace, timeout_seconds=5):
        w.stop()
        return dict(ev)
    raise AssertionError("no watch event")


def watch_failure(core: client.CoreV1Api, namespace: str) -> tuple[int, dict[str, Any]]:
    def run() -> None:
        for _ in watch.Watch().stream(
            core.list_namespaced_config_map, namespace, timeout_seconds=2
        ):
            raise AssertionError("the watch should have been refused")

    return failure(run)


@pytest.fixture
def tenant(cluster: Cluster) -> Cluster:
    """Namespaces t and other, ServiceAccount t/sa allowed to read ConfigMaps in t only."""
    core, rb = cluster.core, cluster.rbac
    for ns in ("t", "other"):
        core.create_namespace({"metadata": {"name": ns}})
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"cm-{ns}"}})
    core.create_namespaced_service_account("t", {"metadata": {"name": "sa"}})
    rb.create_namespaced_role(
        "t",
        {
            "metadata": {"name": "cm-reader"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch"]}],
        },
    )
    rb.create_namespaced_role_binding(
        "t",
        {
            "metadata": {"name": "sa-reads"},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": "cm-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "t"}],
        },
    )
    return cluster


def sa_token(cluster: Cluster, seconds: int | None = None) -> str:
    spec: dict[str, Any] = {"audiences": ["https://kubernetes.default.svc.cluster.local"]}
    if seconds is not None:
        spec["expirationSeconds"] = seconds
    out = cluster.core.create_namespaced_service_account_token("sa", "t", {"spec": spec})
    assert out.status.expiration_timestamp is not None
    return str(out.status.token)


def test_unknown_or_missing_token_is_401(cluster: Cluster) -> None:
    for token in ("not-a-token", "a.b.c", ""):
        api = client_with_token(cluster, token)
        status, body = failure(client.CoreV1Api(api).list_namespaced_config_map, "default")
        api.close()
        assert status == 401
        assert body == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "Unauthorized",
            "reason": "Unauthorized",
            "code": 401,
        }


def test_token_request_shape_and_validation(tenant: Cluster) -> None:
    status, body = tenant.raw(
        "POST",
        "/api/v1/namespaces/t/serviceaccounts/sa/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    assert status == 201
    assert body["kind"] == "TokenRequest"
    assert body["apiVersion"] == "authentication.k8s.io/v1"
    assert body["spec"]["expirationSeconds"] == 3600
    assert body["status"]["token"].count(".") == 2
    assert body["status"]["expirationTimestamp"].endswith("Z")
    status, body = failure(
        tenant.core.create_namespaced_service_account_token,
        "missing",
        "t",
        {"spec": {"audiences": ["x"]}},
    )
    assert (status, body["message"]) == (404, 'serviceaccounts "missing" not found')
    status, body = failure(sa_token, tenant, 60)
    assert status == 422 and "10 minutes" in body["message"]


def test_service_account_token_list_and_watch(tenant: Cluster) -> None:
    api = client_with_token(tenant, sa_token(tenant))
    core = client.CoreV1Api(api)
    assert [c.metadata.name for c in core.list_namespaced_config_map("t").items] == ["cm-t"]
    assert first_watch_event(core, "t")["object"].metadata.name == "cm-t"
    status, body = failure(core.list_namespaced_config_map, "other")
    assert status == 403
    assert body["reason"] == "Forbidden"
    assert body["message"] == FORBIDDEN_LIST
    assert body["details"] == {"kind": "configmaps"}
    status, body = watch_failure(core, "other")
    assert (status, body["message"]) == (403, FORBIDDEN_WATCH)
    status, body = failure(core.read_namespaced_config_map, "cm-t", "t")  # no "get"
    assert body["message"] == (
        'configmaps "cm-t" is forbidden: User "system:serviceaccount:t:sa" cannot get '
        'resource "configmaps" in API group "" in the namespace "t"'
    )
    status, _ = failure(core.create_namespaced_config_map, "t", {"metadata": {"name": "x"}})
    assert status == 403
    status, body = failure(core.list_config_map_for_all_namespaces)
    assert body["message"].endswith("at the cluster scope")
    # discovery and version are open to every authenticated identity
    assert client.VersionApi(api).get_code().major
    api.close()


def test_impersonation_gives_the_token_answers(tenant: Cluster) -> None:
    tenant.fleet.enforce_rbac(tenant.name)
    token_api = client_with_token(tenant, sa_token(tenant))
    imp_api = impersonating(tenant, SA_USER)
    answers = []
    for api in (token_api, imp_api):
        core = client.CoreV1Api(api)
        listed = [c.metadata.name for c in core.list_namespaced_config_map("t").items]
        watched = first_watch_event(core, "t")["object"].metadata.name
        denied_list = failure(core.list_namespaced_config_map, "other")
        denied_watch = watch_failure(core, "other")
        review = client.AuthorizationV1Api(api).create_self_subject_access_review(
            {"spec": {"resourceAttributes": {"verb": "watch", "resource": "configmaps"}}}
        )
        answers.append((listed, watched, denied_list, denied_watch, review.status.allowed))
        api.close()
    assert answers[0] == answers[1]
    assert answers[0][2] == (403, answers[0][2][1]) and answers[0][2][1]["message"] == (
        FORBIDDEN_LIST
    )


def test_access_reviews_answer_like_requests(tenant: Cluster) -> None:
    api = client_with_token(tenant, sa_token(tenant))
    auth = client.AuthorizationV1Api(api)

    def ssar(ns: str, verb: str) -> bool:
        attrs = {"namespace": ns, "verb": verb, "resource": "configmaps"}
        return bool(
            auth.create_self_subject_access_review(
                {"spec": {"resourceAttributes": attrs}}
            ).status.allowed
        )

    assert ssar("t", "list") and ssar("t", "watch")
    assert not ssar("other", "list") and not ssar("t", "delete")
    # a SubjectAccessReview needs its own permission
    status, _ = failure(
        auth.create_subject_access_review,
        {"spec": {"user": "x", "resourceAttributes": {"verb": "get", "resource": "pods"}}},
    )
    assert status == 403
    api.close()
    admin = client.AuthorizationV1Api(tenant.api)
    for ns, allowed in (("t", True), ("other", False)):
        out = admin.create_subject_access_review(
            {
                "spec": {
                    "user": SA_USER,
                    "resourceAttributes": {
                        "namespace": ns,
                        "verb": "list",
                        "resource": "configmaps",
                    },
                }
            }
        )
        assert out.status.allowed is allowed


def test_impersonation_needs_the_impersonate_verb(tenant: Cluster) -> None:
    token = sa_token(tenant)
    api = client_with_token(tenant, token)
    api.set_default_header("Impersonate-User", "alice")
    status, body = failure(client.CoreV1Api(api).list_namespaced_config_map, "t")
    assert status == 403
    assert body["message"] == (
        'users "alice" is forbidden: User "system:serviceaccount:t:sa" cannot impersonate '
        'resource "users" in API group "" at the cluster scope'
    )
    tenant.rbac.create_cluster_role(
        {
            "metadata": {"name": "impersonator"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["users"],
                    "verbs": ["impersonate"],
                    "resourceNames": ["alice"],
                }
            ],
        }
    )
    tenant.rbac.create_cluster_role_binding(
        {
            "metadata": {"name": "sa-impersonates"},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "impersonator"},
            "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "t"}],
        }
    )
    # alice herself may do nothing: the impersonated identity is authorized with RBAC
    status, body = failure(client.CoreV1Api(api).list_namespaced_config_map, "t")
    assert status == 403 and 'User "alice" cannot list' in body["message"]
    api.set_default_header("Impersonate-User", "bob")
    status, body = failure(client.CoreV1Api(api).list_namespaced_config_map, "t")
    assert body["message"].startswith('users "bob" is forbidden')
    api.close()


def test_deleted_service_account_voids_its_tokens(tenant: Cluster) -> None:
    token = sa_token(tenant)
    api = client_with_token(tenant, token)
    assert client.CoreV1Api(api).list_namespaced_config_map("t").items
    tenant.core.delete_namespaced_service_account("sa", "t")
    status, _ = failure(client.CoreV1Api(api).list_namespaced_config_map, "t")
    assert status == 401
    api.close()


def test_token_is_bound_to_its_cluster(tenant: Cluster, fleet: FleetThread, tmp_path: Path) -> None:
    other = Cluster(fleet, f"{tenant.name}-b", tmp_path)
    try:
        api = client_with_token(other, sa_token(tenant))
        status, _ = failure(client.CoreV1Api(api).list_namespaced_config_map, "t")
        assert status == 401
        api.close()
    finally:
        other.close()


def test_status_subresource_and_resource_names(tenant: Cluster) -> None:
    from tests.fleet.conftest import deployment

    tenant.apps.create_namespaced_deployment("t", deployment("d"))
    tenant.apps.create_namespaced_deployment("t", deployment("e"))
    tenant.rbac.create_namespaced_role(
        "t",
        {
            "metadata": {"name": "deploy"},
            "rules": [
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]},
                {
                    "apiGroups": ["apps"],
                    "resources": ["deployments/status"],
                    "verbs": ["patch"],
                    "resourceNames": ["d"],
                },
            ],
        },
    )
    tenant.rbac.create_namespaced_role_binding(
        "t",
        {
            "metadata": {"name": "sa-deploy"},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": "deploy"},
            "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "t"}],
        },
    )
    api = client_with_token(tenant, sa_token(tenant))
    apps = client.AppsV1Api(api)
    apps.patch_namespaced_deployment("e", "t", {"metadata": {"labels": {"x": "1"}}})
    apps.patch_namespaced_deployment_status("d", "t", {"status": {"replicas": 1}})
    status, body = failure(
        apps.patch_namespaced_deployment_status, "e", "t", {"status": {"replicas": 1}}
    )
    assert body["message"] == (
        'deployments.apps "e" is forbidden: User "system:serviceaccount:t:sa" cannot patch '
        'resource "deployments/status" in API group "apps" in the namespace "t"'
    )
    status, _ = failure(apps.delete_namespaced_deployment, "d", "t")
    assert status == 403
    status, _ = failure(apps.delete_collection_namespaced_deployment, "t")
    assert status == 403
    api.close()


# -- static users (fleet.yaml users) -----------------------------------------------------


@pytest.fixture(scope="module")
def user_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetThread]:
    users = [
        {"name": "alice", "token": "alice-token", "groups": ["devs"]},
        {"name": "root", "token": "root-token", "groups": ["system:masters"]},
    ]
    handle = start_fleet_thread(["u"], tmp_path_factory.mktemp("ufleet"), users=users)
    yield handle
    handle.stop()


def test_static_users(user_fleet: FleetThread, tmp_path: Path) -> None:
    c = Cluster.__new__(Cluster)
    c.fleet, c.name, c.kubeconfig = user_fleet, "u", user_fleet.kubeconfig("u")
    c.api = config.new_client_from_config(str(c.kubeconfig))
    c._cache = tmp_path / "u.json"
    c.rbac.create_cluster_role(
        {
            "metadata": {"name": "secret-reader"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
        }
    )
    c.rbac.create_namespaced_role_binding(
        "default",
        {
            "metadata": {"name": "devs-read-secrets"},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": "secret-reader"},
            "subjects": [{"kind": "Group", "name": "devs"}],
        },
    )
    alice = client_with_token(c, "alice-token")
    assert client.CoreV1Api(alice).list_namespaced_secret("default").items == []
    status, body = failure(client.CoreV1Api(alice).list_namespaced_secret, "kube-system")
    assert status == 403 and 'User "alice" cannot list' in body["message"]
    alice.close()
    root = client_with_token(c, "root-token")
    assert client.CoreV1Api(root).list_namespaced_secret("kube-system").items == []
    root.close()
    # with users declared, RBAC applies to what the admin impersonates (fleet default)
    imp = impersonating(c, "alice", "devs")
    assert client.CoreV1Api(imp).list_namespaced_secret("default").items == []
    status, _ = failure(client.CoreV1Api(imp).list_namespaced_secret, "kube-system")
    assert status == 403
    imp.close()
    # the test hooks are the admin's
    import urllib.error
    import urllib.request

    from services.fleet import tls

    req = urllib.request.Request(
        f"{user_fleet.base_url}/_fleet/clusters",
        headers={"Authorization": "Bearer alice-token"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, context=tls.client_context(user_fleet.ca_file))
    assert err.value.code == 403
    err.value.close()
    c.api.close()


def test_fleet_yaml_access_settings(tmp_path: Path) -> None:
    from services.fleet.errors import FleetConfigError

    path = tmp_path / "fleet.yaml"
    path.write_text(
        "clusters: [{name: a}]\nusers:\n- {name: alice, token: t1, groups: [devs]}\nrbac: false\n"
    )
    assert load_fleet_access(path) == {
        "users": [{"name": "alice", "token": "t1", "groups": ["devs"]}],
        "rbac": False,
    }
    from services.fleet.state import FleetState

    state = FleetState(users=load_fleet_access(path)["users"])
    assert state.rbac is True
    # as a real server: identities the admin impersonates are under RBAC unless opted out
    assert FleetState().rbac is True
    assert FleetState(rbac=False).rbac is False
    assert state.users["t1"].groups == ("devs", "system:authenticated")
    with pytest.raises(FleetConfigError):
        FleetState(users=[{"name": "x"}])


def test_kubectl_with_a_service_account_token(tenant: Cluster) -> None:
    token = sa_token(tenant)
    ok = tenant.kubectl("get", "configmaps", "-n", "t", "-o", "name", f"--token={token}")
    assert ok.stdout.split() == ["configmap/cm-t"]
    denied = tenant.kubectl("get", "configmaps", "-n", "other", f"--token={token}", check=False)
    assert denied.returncode != 0
    assert f"Error from server (Forbidden): {FORBIDDEN_LIST}" in denied.stderr
    bad = tenant.kubectl("get", "configmaps", "--token=nope", check=False)
    assert "Unauthorized" in bad.stderr


def test_impersonated_service_account_gets_its_groups(tenant: Cluster) -> None:
    tenant.fleet.enforce_rbac(tenant.name)
    tenant.rbac.create_namespaced_role(
        "other",
        {
            "metadata": {"name": "secret-lister"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}],
        },
    )
    tenant.rbac.create_namespaced_role_binding(
        "other",
        {
            "metadata": {"name": "all-sa-of-t"},
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": "secret-lister"},
            "subjects": [{"kind": "Group", "name": "system:serviceaccounts:t"}],
        },
    )
    imp = impersonating(tenant, SA_USER)
    assert client.CoreV1Api(imp).list_namespaced_secret("other").items == []
    imp.close()
    # explicit groups replace the defaults; the group must be impersonable too
    imp = impersonating(tenant, SA_USER, "elsewhere")
    status, _ = failure(client.CoreV1Api(imp).list_namespaced_secret, "other")
    assert status == 403
    imp.close()
    token_api = client_with_token(tenant, sa_token(tenant))
    assert client.CoreV1Api(token_api).list_namespaced_secret("other").items == []
    token_api.set_default_header("Impersonate-User", SA_USER)
    token_api.set_default_header("Impersonate-Group", "system:masters")
    status, body = failure(client.CoreV1Api(token_api).list_namespaced_secret, "other")
    assert status == 403 and body["message"].startswith('serviceaccounts "sa" is forbidden')
    token_api.close()
