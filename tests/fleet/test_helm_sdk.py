"""Helm v4's Go SDK (``helm_python``, ctypes over libhelm_c, no helm binary) against a fleet
cluster: install, upgrade, status, history, values, list, rollback and uninstall of a chart in
``tmp_path``, checked through the official Python client.

Helm keeps its releases in Secrets written by client-go's typed clients, in protobuf (create,
update, and the DeleteOptions of a delete): the fleet decodes them (services.fleet.protobuf).
No ``wait`` and no hooks in the main flow: the fleet runs no controllers, so nothing would
ever become ready.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiException

from tests.fleet.conftest import Cluster

helm = pytest.importorskip("helm_python")

PB = "application/vnd.kubernetes.protobuf"
RELEASE_TYPE = "helm.sh/release.v1"

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: tiny\nversion: 0.1.0\nappVersion: '1.0'\n",
    "values.yaml": "greeting: hello\nreplicas: 1\nimage: nginx:1.27\n",
    "templates/configmap.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
  labels: {app.kubernetes.io/instance: {{ .Release.Name }}}
data:
  greeting: {{ .Values.greeting | quote }}
""",
    "templates/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: {{ .Release.Name }}-web}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}-web}
      annotations: {checksum/settings: {{ .Values.greeting | sha256sum | trunc 12 }}}
    spec:
      containers:
      - name: web
        image: {{ .Values.image }}
""",
}


def write_chart(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def helm_config(cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    with helm.Config(
        kubeconfig_path=cluster.kubeconfig, namespace="default", qps=50, burst_limit=100
    ) as cfg:
        yield cfg


def release_of(cluster: Cluster, name: str, version: int) -> tuple[dict[str, str], Any]:
    """(labels, decoded release) of the Secret ``sh.helm.release.v1.<name>.v<version>``."""
    secret = cluster.core.read_namespaced_secret(f"sh.helm.release.v1.{name}.v{version}", "default")
    assert secret.type == RELEASE_TYPE
    # data.release: base64 (the API's []byte) of base64 (Helm's) of a gzipped JSON release
    stored = base64.b64decode(base64.b64decode(secret.data["release"]))
    return secret.metadata.labels, json.loads(gzip.decompress(stored))


def release_secrets(cluster: Cluster) -> list[str]:
    items = cluster.core.list_namespaced_secret("default", label_selector="owner=helm").items
    return sorted(s.metadata.name for s in items)


def timed(times: dict[str, float], label: str, fn: Any, *args: Any, **kw: Any) -> Any:
    start = time.monotonic()
    result = fn(*args, **kw)
    times[label] = time.monotonic() - start
    return result


def test_install_upgrade_uninstall(cluster: Cluster, helm_config: Any, tmp_path: Path) -> None:
    chart = write_chart(tmp_path / "tiny", CHART)
    times: dict[str, float] = {}

    rel = timed(times, "install", helm_config.install, chart, "demo", {"greeting": "hi"})
    assert (rel["name"], rel["revision"], rel["status"]) == ("demo", 1, "deployed")
    assert "kind: ConfigMap" in rel["manifest"] and "kind: Deployment" in rel["manifest"]
    assert cluster.core.read_namespaced_config_map("demo-settings", "default").data == {
        "greeting": "hi"
    }
    web = cluster.apps.read_namespaced_deployment("demo-web", "default")
    assert web.spec.replicas == 1 and web.spec.template.spec.containers[0].image == "nginx:1.27"
    labels, stored = release_of(cluster, "demo", 1)
    assert labels.pop("modifiedAt").isdigit()
    assert labels == {"name": "demo", "owner": "helm", "status": "deployed", "version": "1"}
    assert (stored["name"], stored["version"], stored["config"]) == ("demo", 1, {"greeting": "hi"})

    rel = timed(
        times, "upgrade", helm_config.upgrade, chart, "demo", {"greeting": "bye", "replicas": 2}
    )
    assert (rel["revision"], rel["status"]) == (2, "deployed")
    assert cluster.core.read_namespaced_config_map("demo-settings", "default").data == {
        "greeting": "bye"
    }
    assert cluster.apps.read_namespaced_deployment("demo-web", "default").spec.replicas == 2
    assert release_of(cluster, "demo", 1)[0]["status"] == "superseded"
    assert release_of(cluster, "demo", 2)[0]["status"] == "deployed"
    assert release_secrets(cluster) == ["sh.helm.release.v1.demo.v1", "sh.helm.release.v1.demo.v2"]

    status = timed(times, "status", helm_config.status, "demo")
    assert (status["revision"], status["status"], status["chart_name"]) == (2, "deployed", "tiny")
    history = timed(times, "history", helm_config.history, "demo")
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]
    assert helm_config.get_values("demo") == {"greeting": "bye", "replicas": 2}
    assert [r["name"] for r in helm_config.list()] == ["demo"]

    timed(times, "rollback", helm_config.rollback, "demo", version=1)  # revision 3 = 1
    assert cluster.core.read_namespaced_config_map("demo-settings", "default").data == {
        "greeting": "hi"
    }
    assert [h["status"] for h in helm_config.history("demo")] == ["superseded"] * 2 + ["deployed"]
    assert release_of(cluster, "demo", 3)[1]["config"] == {"greeting": "hi"}

    requests = cluster.fleet.requests(cluster.name)
    writes = {(r["method"], r["contentType"]) for r in requests if "/secrets" in r["path"]}
    assert {("POST", PB), ("PUT", PB)} <= writes  # the release Secrets came in protobuf

    cluster.fleet.clear_requests()
    out = timed(times, "uninstall", helm_config.uninstall, "demo")
    assert out["release"]["status"] == "uninstalled"
    for read in (
        lambda: cluster.core.read_namespaced_config_map("demo-settings", "default"),
        lambda: cluster.apps.read_namespaced_deployment("demo-web", "default"),
    ):
        with pytest.raises(ApiException) as err:
            read()
        assert err.value.status == 404
    assert release_secrets(cluster) == []
    deletes = [
        r for r in cluster.fleet.requests(cluster.name) if r["method"] == "DELETE"
    ]  # the release Secrets go with protobuf DeleteOptions
    assert {r["contentType"] for r in deletes if "/secrets/" in r["path"]} == {PB}
    with pytest.raises(helm.HelmNotFoundError):
        helm_config.history("demo")

    print("helm_python against the fleet:", {k: f"{v:.3f}s" for k, v in times.items()})
    assert sum(times.values()) < 60


def test_typed_reads_of_kinds_without_protobuf_fall_back_to_json(
    cluster: Cluster, helm_config: Any, tmp_path: Path
) -> None:
    """Helm's legacy readiness check reads Deployments and Services with typed clients
    (``Accept: application/vnd.kubernetes.protobuf,application/json``); the fleet answers
    JSON for kinds it has no protobuf schema for and client-go decodes it. A paused
    Deployment and a ClusterIP Service are ready without controllers."""
    files = dict(CHART)
    files["templates/deployment.yaml"] = files["templates/deployment.yaml"].replace(
        "spec:\n  replicas", "spec:\n  paused: true\n  replicas"
    )
    files["templates/service.yaml"] = (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}-svc\n"
        "spec:\n  selector: {app: web}\n  ports: [{port: 80}]\n"
    )
    chart = write_chart(tmp_path / "paused", files)
    rel = helm_config.install(chart, "ready", wait="legacy", timeout=30)
    assert rel["status"] == "deployed"
    typed = {
        r["path"].split("?")[0]
        for r in cluster.fleet.requests(cluster.name)
        if r["method"] == "GET" and r["accept"].startswith(PB)
    }
    assert "/apis/apps/v1/namespaces/default/deployments/ready-web" in typed
    assert "/api/v1/namespaces/default/services/ready-svc" in typed
    helm_config.uninstall("ready")
    assert release_secrets(cluster) == []
