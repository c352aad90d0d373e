"""Archives and ConfigMaps/Secrets holding kustomize directories, for the manager's tests."""

from __future__ import annotations

import base64
import io
import tarfile
from gzip import compress as gzip_compress
from typing import Any

import yaml

BASE = {
    "base/kustomization.yaml": "resources: [deployment.yaml, service.yaml]\n",
    "base/deployment.yaml": yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
                },
            },
        }
    ),
    "base/service.yaml": yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "annotations": {"region": "{{ .Region }}"}},
            "spec": {"ports": [{"port": 80}]},
        }
    ),
    "overlays/prod/kustomization.yaml": yaml.safe_dump(
        {
            "resources": ["../../base", "namespace.yaml"],
            "namePrefix": "prod-",
            "patches": [
                {
                    "target": {"kind": "Deployment"},
                    "patch": "- op: replace\n  path: /spec/replicas\n  value: 3\n",
                }
            ],
        }
    ),
    "overlays/prod/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n",
    "components/monitoring/kustomization.yaml": yaml.safe_dump(
        {
            "apiVersion": "kustomize.config.k8s.io/v1alpha1",
            "kind": "Component",
            "commonLabels": {"monitoring": "on"},
        }
    ),
}


def archive(files: dict[str, str], *, gzip: bool = True, prefix: str = "./") -> bytes:
    """A tar(.gz) of ``files`` (path -> text), as ``tar -czf x -C dir .`` makes it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    # the same bytes for the same files (gzip's header time fixed)
    return gzip_compress(buf.getvalue(), mtime=0) if gzip else buf.getvalue()


def configmap(name: str, files: dict[str, str], namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "binaryData": {"kustomize.tar.gz": base64.b64encode(archive(files)).decode()},
    }


def secret(
    name: str, files: dict[str, str], stype: str = "addons.projectsveltos.io/cluster-profile"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": stype,
        "metadata": {"name": name, "namespace": "default"},
        "data": {"kustomize.tar.gz": base64.b64encode(archive(files)).decode()},
    }


def values_configmap(name: str, data: dict[str, str], **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations},
        "data": data,
    }


def index(*objs: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objs}
