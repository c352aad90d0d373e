"""Discovery, OpenAPI, health, authentication and the URL layout."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

from tests.fleet.conftest import Cluster


def _get(url: str, token: str | None, ca: str) -> tuple[int, bytes]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    ctx = ssl.create_default_context(cafile=ca)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_version_and_core_discovery(cluster: Cluster) -> None:
    status, version = cluster.raw("GET", "/version")
    assert status == 200 and version["major"] == "1" and version["gitVersion"].startswith("v1.")
    status, trailing = cluster.raw("GET", "/version/")
    assert status == 200 and trailing == version
    status, api = cluster.raw("GET", "/api")
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    status, core = cluster.raw("GET", "/api/v1")
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["configmaps"]["shortNames"] == ["cm"]
    assert by_name["configmaps"]["namespaced"] is True
    assert by_name["namespaces"]["namespaced"] is False
    assert "deletecollection" not in by_name["namespaces"]["verbs"]
    assert by_name["namespaces/status"]["verbs"] == ["get", "patch", "update"]
    assert "configmaps/status" not in by_name
    for kind in (
        "Secret",
        "Service",
        "ServiceAccount",
        "ResourceQuota",
        "Pod",
        "Event",
        "Endpoints",
    ):
        assert any(r["kind"] == kind for r in core["resources"]), kind


def test_group_discovery(cluster: Cluster) -> None:
    _, groups = cluster.raw("GET", "/apis")
    assert groups["kind"] == "APIGroupList"
    names = [g["name"] for g in groups["groups"]]
    for g in (
        "apps",
        "batch",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "apiextensions.k8s.io",
        "authorization.k8s.io",
    ):
        assert g in names
    apps = next(g for g in groups["groups"] if g["name"] == "apps")
    assert apps["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    status, group = cluster.raw("GET", "/apis/apps")
    assert status == 200 and group["kind"] == "APIGroup" and group["name"] == "apps"
    _, rl = cluster.raw("GET", "/apis/apps/v1")
    kinds = {r["kind"] for r in rl["resources"]}
    assert {"Deployment", "StatefulSet", "DaemonSet"} <= kinds
    _, net = cluster.raw("GET", "/apis/networking.k8s.io/v1")
    assert {"NetworkPolicy", "Ingress"} <= {r["kind"] for r in net["resources"]}
    status, missing = cluster.raw("GET", "/apis/nope.example.com")
    assert status == 404 and missing["reason"] == "NotFound"


def test_openapi_v3_for_kubectl_validation(cluster: Cluster) -> None:
    _, index = cluster.raw("GET", "/openapi/v3")
    assert index["paths"]["api/v1"]["serverRelativeURL"] == "/openapi/v3/api/v1"
    assert "apis/apps/v1" in index["paths"]
    _, doc = cluster.raw("GET", "/openapi/v3/api/v1")
    patch = doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "",
        "version": "v1",
        "kind": "ConfigMap",
    }
    assert any(p["name"] == "fieldValidation" for p in patch["parameters"])
    assert "/api/v1/namespaces/{name}" in doc["paths"]
    status, _ = cluster.raw("GET", "/openapi/v2")
    assert status == 404


def test_token_required_and_health_open(cluster: Cluster) -> None:
    ca = str(cluster.fleet.ca_file)
    status, body = _get(f"{cluster.url}/api/v1/namespaces", None, ca)
    assert status == 401
    assert json.loads(body) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    status, _ = _get(f"{cluster.url}/api/v1/namespaces", "wrong", ca)
    assert status == 401
    status, _ = _get(f"{cluster.url}/api/v1/namespaces", cluster.fleet.token, ca)
    assert status == 200
    for path in ("/healthz", "/readyz", "/livez"):
        assert _get(f"{cluster.url}{path}", None, ca) == (200, b"ok")


def test_url_layout_management_at_root_and_prefix(cluster: Cluster) -> None:
    fleet = cluster.fleet
    ca = str(fleet.ca_file)
    cluster.core.create_namespaced_config_map("default", {"metadata": {"name": "only-here"}})
    status, body = _get(f"{fleet.base_url}/api/v1/namespaces/default/configmaps", fleet.token, ca)
    root = json.loads(body)
    status2, body2 = _get(
        f"{fleet.url('management')}/api/v1/namespaces/default/configmaps", fleet.token, ca
    )
    assert status == status2 == 200
    assert json.loads(body2)["items"] == root["items"]
    assert all(i["metadata"]["name"] != "only-here" for i in root["items"])
    status, body = _get(f"{fleet.base_url}/clusters/no-such-cluster/api/v1", fleet.token, ca)
    assert status == 404 and json.loads(body)["reason"] == "NotFound"


def test_kubeconfig_contents(cluster: Cluster) -> None:
    import yaml

    doc = yaml.safe_load(cluster.kubeconfig.read_text())
    assert doc["current-context"] == cluster.name
    assert doc["clusters"][0]["cluster"]["server"] == cluster.url
    assert doc["clusters"][0]["cluster"]["certificate-authority-data"]
    assert doc["users"][0]["user"]["token"] == cluster.fleet.token
