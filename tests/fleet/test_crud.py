"""CRUD for the built-in kinds, server-set metadata, and the real error Status shapes."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from kubernetes import client

from tests.fleet.conftest import Cluster, deployment

POD_SPEC = {"containers": [{"name": "c", "image": "nginx"}]}
TEMPLATE = {"metadata": {"labels": {"app": "x"}}, "spec": POD_SPEC}
SELECTOR = {"matchLabels": {"app": "x"}}

#: (apiVersion, kind, namespaced, body extras, field to update)
KINDS: list[tuple[str, str, bool, dict[str, Any]]] = [
    ("v1", "ConfigMap", True, {"data": {"a": "1"}}),
    ("v1", "Secret", True, {"data": {"a": "MQ=="}}),
    ("v1", "Service", True, {"spec": {"ports": [{"port": 80}]}}),
    ("v1", "ServiceAccount", True, {}),
    ("v1", "ResourceQuota", True, {"spec": {"hard": {"pods": "10"}}}),
    ("v1", "Pod", True, {"spec": POD_SPEC}),
    ("v1", "Event", True, {"involvedObject": {"kind": "Pod", "name": "p"}, "reason": "R"}),
    ("v1", "Endpoints", True, {"subsets": []}),
    ("v1", "Namespace", False, {}),
    ("apps/v1", "Deployment", True, {"spec": {"selector": SELECTOR, "template": TEMPLATE}}),
    (
        "apps/v1",
        "StatefulSet",
        True,
        {"spec": {"selector": SELECTOR, "template": TEMPLATE, "serviceName": "s"}},
    ),
    ("apps/v1", "DaemonSet", True, {"spec": {"selector": SELECTOR, "template": TEMPLATE}}),
    (
        "batch/v1",
        "Job",
        True,
        {"spec": {"template": {"spec": {**POD_SPEC, "restartPolicy": "Never"}}}},
    ),
    ("networking.k8s.io/v1", "NetworkPolicy", True, {"spec": {"podSelector": {}}}),
    ("networking.k8s.io/v1", "Ingress", True, {"spec": {"rules": [{"host": "a.example"}]}}),
    ("rbac.authorization.k8s.io/v1", "Role", True, {"rules": []}),
    (
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        True,
        {
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
            "subjects": [],
        },
    ),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", False, {"rules": []}),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        False,
        {
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "r",
            },
            "subjects": [],
        },
    ),
]


@pytest.mark.parametrize(
    ("api_version", "kind", "namespaced", "extra"), KINDS, ids=[k[1] for k in KINDS]
)
def test_crud_every_builtin_kind(
    cluster: Cluster, api_version: str, kind: str, namespaced: bool, extra: dict[str, Any]
) -> None:
    dyn = cluster.dynamic()
    res = dyn.resources.get(api_version=api_version, kind=kind)
    assert res.namespaced is namespaced
    ns = "default" if namespaced else None
    body = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "obj1", "labels": {"k": "v"}},
        **extra,
    }
    created = res.create(body=body, namespace=ns)
    meta = created.metadata
    assert meta.name == "obj1" and meta.uid and meta.creationTimestamp
    assert int(meta.resourceVersion) > 0
    assert created.kind == kind and created.apiVersion == api_version
    got = res.get(name="obj1", namespace=ns)
    assert got.metadata.uid == meta.uid
    listed = res.get(namespace=ns)
    assert "obj1" in [i.metadata.name for i in listed.items]
    assert listed.kind == f"{kind}List"
    got_dict = got.to_dict()
    got_dict["metadata"]["labels"]["k"] = "w"
    replaced = res.replace(body=got_dict, namespace=ns)
    assert replaced.metadata.labels["k"] == "w"
    assert int(replaced.metadata.resourceVersion) > int(meta.resourceVersion)
    res.delete(name="obj1", namespace=ns)
    with pytest.raises(client.ApiException) as err:
        res.get(name="obj1", namespace=ns)
    assert err.value.status == 404


def test_server_metadata_and_rv_counter(cluster: Cluster) -> None:
    core = cluster.core
    a = core.create_namespaced_config_map(
        "default", {"metadata": {"name": "a"}, "data": {"k": "v"}}
    )
    b = core.create_namespaced_config_map("default", {"metadata": {"name": "b"}})
    assert int(b.metadata.resource_version) == int(a.metadata.resource_version) + 1
    assert a.metadata.uid != b.metadata.uid
    assert a.metadata.generation is None  # ConfigMaps have no generation
    listed = core.list_namespaced_config_map("default")
    assert listed.metadata.resource_version == b.metadata.resource_version
    # a write in another namespace type bumps the same counter
    ns = core.create_namespace({"metadata": {"name": "other"}})
    assert int(ns.metadata.resource_version) == int(b.metadata.resource_version) + 1
    assert ns.status.phase == "Active"
    assert ns.metadata.labels["kubernetes.io/metadata.name"] == "other"
    entry = a.metadata.managed_fields[0]
    assert entry.manager == "OpenAPI-Generator" and entry.operation == "Update"
    assert entry.fields_v1 == {"f:data": {".": {}, "f:k": {}}}


def test_generation_bumps_on_spec_changes_only(cluster: Cluster) -> None:
    apps = cluster.apps
    d = apps.create_namespaced_deployment("default", deployment("g"))
    assert d.metadata.generation == 1
    d = apps.patch_namespaced_deployment("g", "default", {"metadata": {"labels": {"x": "1"}}})
    assert d.metadata.generation == 1
    d = apps.patch_namespaced_deployment("g", "default", {"spec": {"replicas": 3}})
    assert d.metadata.generation == 2
    rv = d.metadata.resource_version
    # a no-op write keeps the RV
    d2 = apps.patch_namespaced_deployment("g", "default", {"spec": {"replicas": 3}})
    assert d2.metadata.resource_version == rv and d2.metadata.generation == 2


def test_errors_have_real_status_shapes(cluster: Cluster) -> None:
    status, body = cluster.raw("GET", "/api/v1/namespaces/default/configmaps/nope")
    assert status == 404
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'configmaps "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "kind": "configmaps"},
        "code": 404,
    }
    status, body = cluster.raw("GET", "/apis/apps/v1/namespaces/default/deployments/nope")
    assert body["message"] == 'deployments.apps "nope" not found'
    assert body["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}
    cluster.core.create_namespaced_config_map("default", {"metadata": {"name": "dup"}})
    status, body = cluster.raw(
        "POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "dup"}}
    )
    assert status == 409 and body["reason"] == "AlreadyExists"
    assert body["message"] == 'configmaps "dup" already exists'
    status, body = cluster.raw("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {}})
    assert status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    status, body = cluster.raw(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        {"metadata": {"name": "x", "namespace": "other"}},
    )
    assert status == 400 and body["reason"] == "BadRequest"
    status, body = cluster.raw(
        "POST", "/api/v1/namespaces/nope/configmaps", {"metadata": {"name": "x"}}
    )
    assert status == 404
    assert body["message"] == 'namespaces "nope" not found'
    assert body["details"] == {"name": "nope", "kind": "namespaces"}
    status, body = cluster.raw(
        "POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "Bad_Name"}}
    )
    assert status == 422
    status, body = cluster.raw("GET", "/api/v1/namespaces/default/widgets")
    assert status == 404 and body["message"] == "the server could not find the requested resource"


def test_post_without_content_type_is_json(cluster: Cluster) -> None:
    status, body = cluster.raw(
        "POST",
        "/api/v1/namespaces/default/configmaps",
        {"metadata": {"name": "plain"}},
        content_type="",
    )
    assert status == 201 and body["metadata"]["name"] == "plain"


def test_put_conflict_and_unconditional_update(cluster: Cluster) -> None:
    core = cluster.core
    cm = core.create_namespaced_config_map(
        "default", {"metadata": {"name": "c"}, "data": {"a": "1"}}
    )
    stale = cm.metadata.resource_version
    core.patch_namespaced_config_map("c", "default", {"data": {"a": "2"}})
    with pytest.raises(client.ApiException) as err:
        core.replace_namespaced_config_map(
            "c",
            "default",
            {"metadata": {"name": "c", "resourceVersion": stale}, "data": {"a": "3"}},
        )
    assert err.value.status == 409
    import json

    body = json.loads(err.value.body)
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on configmaps "c": the object has '
        "been modified; please apply your changes to the latest version "
        "and try again"
    )
    # an empty RV is an unconditional update; server fields are kept
    out = core.replace_namespaced_config_map(
        "c", "default", {"metadata": {"name": "c"}, "data": {"a": "4"}}
    )
    assert out.data == {"a": "4"} and out.metadata.uid == cm.metadata.uid
    assert out.metadata.creation_timestamp == cm.metadata.creation_timestamp


def test_generate_name_and_dry_run(cluster: Cluster) -> None:
    core = cluster.core
    cm = core.create_namespaced_config_map("default", {"metadata": {"generateName": "gen-"}})
    assert cm.metadata.name.startswith("gen-") and len(cm.metadata.name) > 4
    dry = core.create_namespaced_config_map("default", {"metadata": {"name": "dry"}}, dry_run="All")
    assert dry.metadata.name == "dry"
    with pytest.raises(client.ApiException):
        core.read_namespaced_config_map("dry", "default")


def test_secret_string_data_folded(cluster: Cluster) -> None:
    s = cluster.core.create_namespaced_secret(
        "default",
        {
            "metadata": {"name": "s"},
            "stringData": {"user": "admin"},
            "data": {"x": base64.b64encode(b"y").decode()},
        },
    )
    assert s.data == {"x": "eQ==", "user": base64.b64encode(b"admin").decode()}
    assert s.string_data is None and s.type == "Opaque"
    s = cluster.core.patch_namespaced_secret("s", "default", {"stringData": {"user": "root"}})
    assert s.data["user"] == base64.b64encode(b"root").decode()


def test_cluster_wide_list_and_namespaced_only(cluster: Cluster) -> None:
    core = cluster.core
    core.create_namespace({"metadata": {"name": "n2"}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "x"}})
    core.create_namespaced_config_map("n2", {"metadata": {"name": "x"}})
    every = core.list_config_map_for_all_namespaces()
    assert sorted((i.metadata.namespace, i.metadata.name) for i in every.items) == [
        ("default", "x"),
        ("n2", "x"),
    ]
    assert [i.metadata.name for i in core.list_namespaced_config_map("n2").items] == ["x"]


def test_access_reviews(cluster: Cluster) -> None:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "list", "resource": "configmaps"}},
    }
    api = client.AuthorizationV1Api(cluster.api)
    out = api.create_self_subject_access_review(review)
    assert out.status.allowed is True
    cluster.fleet._hook(
        "POST", f"/_fleet/clusters/{cluster.name}/deny", {"verb": "list", "resource": "configmaps"}
    )
    out = api.create_self_subject_access_review(review)
    assert out.status.allowed is False and out.status.reason


def test_networking_v1_api(cluster: Cluster) -> None:
    net = cluster.networking
    net.create_namespaced_network_policy(
        "default",
        {
            "metadata": {"name": "deny", "labels": {"svc": "web"}},
            "spec": {
                "podSelector": {"matchLabels": {"app": "web"}},
                "ingress": [{"ports": [{"port": 443, "protocol": "TCP"}]}],
            },
        },
    )
    np = net.read_namespaced_network_policy("deny", "default")
    assert np.spec.ingress[0].ports[0].port == 443 and np.metadata.generation == 1
    np = net.patch_namespaced_network_policy(
        "deny", "default", {"spec": {"ingress": [{"ports": [{"port": 8443, "protocol": "TCP"}]}]}}
    )
    assert [p.port for p in np.spec.ingress[0].ports] == [8443]  # no merge key: replaced
    assert np.metadata.generation == 2
    net.create_namespaced_ingress(
        "default",
        {
            "metadata": {"name": "ing"},
            "spec": {
                "rules": [
                    {
                        "host": "a.example",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {
                                        "service": {"name": "web", "port": {"number": 443}}
                                    },
                                }
                            ]
                        },
                    }
                ]
            },
        },
    )
    ing = net.patch_namespaced_ingress_status(
        "ing", "default", {"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}}}
    )
    assert ing.status.load_balancer.ingress[0].ip == "10.0.0.1"
    listed = net.list_network_policy_for_all_namespaces(label_selector="svc=web")
    assert [i.metadata.name for i in listed.items] == ["deny"]
    net.delete_namespaced_ingress("ing", "default")
    assert net.list_namespaced_ingress("default").items == []


def test_service_defaults(cluster: Cluster) -> None:
    core = cluster.core
    a = core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "a"},
            "spec": {"selector": {"app": "a"}, "ports": [{"name": "https", "port": 443}]},
        },
    )
    b = core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "b"},
            "spec": {"ports": [{"port": 80, "targetPort": 8080, "protocol": "UDP"}]},
        },
    )
    assert a.spec.type == "ClusterIP" and a.spec.session_affinity == "None"
    assert a.spec.cluster_ip.startswith("10.96.") and a.spec.cluster_ips == [a.spec.cluster_ip]
    assert a.spec.cluster_ip != b.spec.cluster_ip
    assert (a.spec.ports[0].protocol, a.spec.ports[0].target_port) == ("TCP", 443)
    assert (b.spec.ports[0].protocol, b.spec.ports[0].target_port) == ("UDP", 8080)
    assert a.status.load_balancer is not None
    # an update that omits the allocated IP keeps it; an unchanged PUT is a no-op
    out = core.replace_namespaced_service(
        "a",
        "default",
        {
            "metadata": {"name": "a"},
            "spec": {"selector": {"app": "a"}, "ports": [{"name": "https", "port": 443}]},
        },
    )
    assert out.spec.cluster_ip == a.spec.cluster_ip
    assert out.metadata.resource_version == a.metadata.resource_version
