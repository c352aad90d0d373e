"""Fixtures of the Helm tests: the test chart, a loopback chart repository, a chart cache,
and clusters of a simulated fleet (one fleet per session, a fresh cluster per test; the
fleet starts only when a test asks for a cluster).
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from shared.helm.repository import ChartRepository
from shared.helm.spec import HelmChart
from tests.paths import REPO

CHARTS = Path(__file__).parent / "charts"
HELLO = CHARTS / "hello"
KYVERNO_LITE = REPO / "examples" / "charts" / "kyverno-lite"
_names = itertools.count()


@pytest.fixture
def repo() -> Iterator[ChartRepository]:
    """The hello chart as 0.1.0 and 0.2.0 on a loopback repository."""
    with ChartRepository([HELLO]) as r:
        r.add(HELLO, version="0.2.0")
        yield r


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "helm-cache"


@pytest.fixture
def hello_copy(tmp_path: Path) -> Path:
    """A writable copy of the hello chart (to change it under a test)."""
    return Path(shutil.copytree(HELLO, tmp_path / "charts" / "hello"))


def hello_spec(url: str, version: str = "0.1.0", **changes: Any) -> HelmChart:
    entry: dict[str, Any] = {
        "repositoryURL": url,
        "repositoryName": "demo",
        "chartName": "demo/hello",
        "chartVersion": version,
        "releaseName": "hello",
        "releaseNamespace": "greetings",
        **changes,
    }
    return HelmChart.parse({k: v for k, v in entry.items() if v is not None})


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from services.fleet import start_fleet_thread

    handle = start_fleet_thread([], tmp_path_factory.mktemp("fleet"), log_size=500)
    yield handle
    handle.stop()


class Cluster:
    """A fresh fleet cluster: its kubeconfig and the official client's core API."""

    def __init__(self, fleet: Any, name: str) -> None:
        self.fleet = fleet
        self.name = name
        self.kubeconfig: Path = fleet.add_cluster(name)
        self.api = config.new_client_from_config(str(self.kubeconfig))
        self.core = client.CoreV1Api(self.api)

    def secrets(self, namespace: str) -> list[str]:
        """Names of Helm's release Secrets in ``namespace``."""
        items = self.core.list_namespaced_secret(namespace, label_selector="owner=helm").items
        return sorted(s.metadata.name for s in items)

    def writes(self) -> list[str]:
        """``METHOD path`` of the writes the cluster received."""
        return [
            f"{r['method']} {r['path']}"
            for r in self.fleet.requests(self.name)
            if r["method"] in ("POST", "PUT", "PATCH", "DELETE")
        ]

    def rewrite_release(self, namespace: str, name: str, revision: int, **info: Any) -> None:
        """Change the ``info`` of a stored release (to fake an interrupted operation)."""
        secret_name = f"sh.helm.release.v1.{name}.v{revision}"
        secret = self.core.read_namespaced_secret(secret_name, namespace)
        stored = json.loads(
            gzip.decompress(base64.b64decode(base64.b64decode(secret.data["release"])))
        )
        stored["info"].update(info)
        packed = base64.b64encode(gzip.compress(json.dumps(stored).encode()))
        secret.data["release"] = base64.b64encode(packed).decode()
        if "status" in info:
            secret.metadata.labels["status"] = info["status"]
        self.core.replace_namespaced_secret(secret_name, namespace, secret)

    def close(self) -> None:
        self.api.close()
        self.fleet.remove_cluster(self.name)


@pytest.fixture
def cluster(fleet: Any) -> Iterator[Cluster]:
    c = Cluster(fleet, f"h{next(_names)}-{os.getpid() % 1000}")
    yield c
    c.close()
