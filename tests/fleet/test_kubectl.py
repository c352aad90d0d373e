"""kubectl 1.37 against the simulated fleet: apply (validated and server-side), get, watch,
label, delete, wait."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading

import yaml

from tests.fleet.conftest import KUBECTL, Cluster, crd_body, wait_for
from tests.fleet.test_watch import watches

CM = """apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  namespace: default
  labels: {team: a}
data:
  key: one
"""

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: main
        image: nginx:1
        env: [{name: A, value: "1"}]
"""


def test_apply_with_validation_creates_and_patches(cluster: Cluster) -> None:
    out = cluster.kubectl("apply", "-f", "-", input=CM)
    assert "configmap/app-config created" in out.stdout
    out = cluster.kubectl("apply", "-f", "-", input=CM.replace("key: one", "key: two"))
    assert "configmap/app-config configured" in out.stdout
    assert cluster.core.read_namespaced_config_map("app-config", "default").data == {"key": "two"}
    out = cluster.kubectl("apply", "-f", "-", input=DEPLOY)
    assert "deployment.apps/web created" in out.stdout
    out = cluster.kubectl("apply", "-f", "-", input=DEPLOY.replace('value: "1"', 'value: "2"'))
    assert "configured" in out.stdout
    d = cluster.apps.read_namespaced_deployment("web", "default")
    assert d.spec.template.spec.containers[0].env[0].value == "2"
    assert d.metadata.generation == 2
    requests = cluster.fleet.requests(cluster.name)
    assert any("fieldValidation=Strict" in r["path"] for r in requests)
    assert any(r["contentType"] == "application/strategic-merge-patch+json" for r in requests)


def test_apply_server_side(cluster: Cluster) -> None:
    out = cluster.kubectl("apply", "--server-side", "-f", "-", input=CM)
    assert "serverside-applied" in out.stdout
    obj = cluster.core.read_namespaced_config_map("app-config", "default")
    assert [(e.manager, e.operation) for e in obj.metadata.managed_fields] == [("kubectl", "Apply")]
    # another manager changing an owned field conflicts unless forced
    out = cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager",
        "other",
        "-f",
        "-",
        input=CM.replace("key: one", "key: two"),
        check=False,
    )
    assert out.returncode != 0 and "conflict" in out.stderr.lower()
    cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager",
        "other",
        "--force-conflicts",
        "-f",
        "-",
        input=CM.replace("key: one", "key: two"),
    )
    assert cluster.core.read_namespaced_config_map("app-config", "default").data == {"key": "two"}


def test_get_forms_and_short_names(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=CM)
    out = cluster.kubectl("get", "cm")
    assert "app-config" in out.stdout and "NAME" in out.stdout
    out = cluster.kubectl("get", "configmap", "app-config", "-o", "yaml")
    doc = yaml.safe_load(out.stdout)
    assert doc["kind"] == "ConfigMap" and doc["data"] == {"key": "one"}
    out = cluster.kubectl("get", "cm", "-l", "team=a", "-o", "name")
    assert out.stdout.strip() == "configmap/app-config"
    out = cluster.kubectl("get", "cm", "-l", "team=b", "-o", "name")
    assert out.stdout.strip() == ""
    out = cluster.kubectl("get", "ns", "-o", "json")
    names = {i["metadata"]["name"] for i in json.loads(out.stdout)["items"]}
    assert {"default", "kube-system"} <= names


def test_label_and_delete(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=CM)
    cluster.kubectl("label", "cm", "app-config", "tier=web")
    cluster.kubectl("label", "--overwrite", "cm", "app-config", "team=b")
    labels = cluster.core.read_namespaced_config_map("app-config", "default").metadata.labels
    assert labels == {"team": "b", "tier": "web"}
    out = cluster.kubectl("delete", "cm", "app-config")
    assert "deleted" in out.stdout
    assert cluster.core.list_namespaced_config_map("default").items == []


def test_crd_and_custom_resources_with_kubectl(cluster: Cluster) -> None:
    cluster.kubectl("create", "-f", "-", input=json.dumps(crd_body()))
    cr = (
        "apiVersion: example.com/v1\nkind: AddOn\nmetadata: {name: one, namespace: default}\n"
        "spec: {x: 1}\n"
    )
    out = cluster.kubectl("apply", "-f", "-", input=cr)
    assert "addon.example.com/one created" in out.stdout
    out = cluster.kubectl("apply", "-f", "-", input=cr.replace("x: 1", "x: 2"))
    assert "configured" in out.stdout
    out = cluster.kubectl("get", "addons", "-o", "json")
    assert json.loads(out.stdout)["items"][0]["spec"] == {"x": 2}
    out = cluster.kubectl("get", "ad", "one", "-o", "name")  # short name from discovery
    assert out.stdout.strip() == "addon.example.com/one"
    cluster.kubectl("apply", "--server-side", "-f", "-", input=cr.replace("x: 1", "x: 3"))
    cluster.kubectl("delete", "addon", "one")
    cluster.kubectl("delete", "crd", "addons.example.com")


def test_get_watch(cluster: Cluster) -> None:
    env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig))
    proc = subprocess.Popen(
        [str(KUBECTL), "get", "cm", "-w", "-o", "name", "--request-timeout=20s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(ln) for ln in proc.stdout or []], daemon=True
    )
    reader.start()
    try:
        wait_for(lambda: watches(cluster) >= 1, timeout=15)
        cluster.core.create_namespaced_config_map("default", {"metadata": {"name": "seen"}})
        line = lines.get(timeout=15)
        assert line.strip() == "configmap/seen"
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_wait_for_delete(cluster: Cluster) -> None:
    core = cluster.core
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "w", "finalizers": ["ex.io/x"]}}
    )
    cluster.kubectl("delete", "cm", "w", "--wait=false")
    env = dict(os.environ, KUBECONFIG=str(cluster.kubeconfig))
    proc = subprocess.Popen(
        [str(KUBECTL), "wait", "--for=delete", "cm/w", "--timeout=20s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_for(lambda: watches(cluster) >= 1, timeout=15)
        assert proc.poll() is None  # still waiting: the finalizer holds the object
        core.patch_namespaced_config_map("w", "default", {"metadata": {"finalizers": None}})
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "condition met" in out
    # already gone: returns at once
    cluster.kubectl("wait", "--for=delete", "cm/w", "--timeout=10s")


def test_protobuf_generators_are_refused(cluster: Cluster) -> None:
    # kubectl sends protobuf here; the fleet reads Secrets and ConfigMaps in protobuf
    # (tests/fleet/test_protobuf.py), other kinds get a 415 naming them, no JSON fallback
    out = cluster.kubectl("create", "deployment", "gen", "--image=nginx", check=False)
    assert out.returncode != 0
    assert "cannot decode Deployment (apps/v1) from protobuf" in out.stderr
    assert any(
        r["contentType"].startswith("application/vnd.kubernetes.protobuf")
        for r in cluster.fleet.requests(cluster.name)
    )
    assert cluster.apps.list_namespaced_deployment("default").items == []


def test_delete_namespace_with_kubectl(cluster: Cluster) -> None:
    cluster.core.create_namespace({"metadata": {"name": "gone"}})
    cluster.core.create_namespaced_config_map("gone", {"metadata": {"name": "c"}})
    out = cluster.kubectl("delete", "ns", "gone", "--timeout=20s")
    assert 'namespace "gone" deleted' in out.stdout
    assert cluster.core.list_namespaced_config_map("gone").items == []


def test_wait_for_condition_and_jsonpath(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(crd_body()))
    out = cluster.kubectl(
        "wait", "--for=condition=Established", "crd/addons.example.com", "--timeout=20s"
    )
    assert "condition met" in out.stdout
    cluster.kubectl("apply", "-f", "-", input=CM)
    out = cluster.kubectl(
        "wait", "--for=jsonpath={.data.key}=one", "cm/app-config", "--timeout=20s"
    )
    assert "condition met" in out.stdout
