"""Fixtures for the simulated fleet's conformance tests.

One fleet (in a background thread, real HTTPS on a free loopback port) serves the whole
session; every test that needs a cluster gets a fresh one (``cluster``), so tests never
share state. Clients are the official ``kubernetes`` client and ``.venv/bin/kubectl``.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.dynamic import DynamicClient

from services.fleet import FleetThread, start_fleet_thread

KUBECTL = Path(sys.executable).parent / "kubectl"
_counter = itertools.count()


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetThread]:
    handle = start_fleet_thread([], tmp_path_factory.mktemp("fleet"), log_size=200)
    yield handle
    handle.stop()


class Cluster:
    """A fresh simulated cluster and clients bound to it."""

    def __init__(self, fleet: FleetThread, name: str, cache_dir: Path) -> None:
        self.fleet = fleet
        self.name = name
        self.kubeconfig = fleet.add_cluster(name)
        self.api = config.new_client_from_config(str(self.kubeconfig))
        self._cache = cache_dir / f"{name}-discovery.json"

    @property
    def url(self) -> str:
        return self.fleet.url(self.name)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @property
    def networking(self) -> client.NetworkingV1Api:
        return client.NetworkingV1Api(self.api)

    @property
    def rbac(self) -> client.RbacAuthorizationV1Api:
        return client.RbacAuthorizationV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def ext(self) -> client.ApiextensionsV1Api:
        return client.ApiextensionsV1Api(self.api)

    def dynamic(self) -> DynamicClient:
        """A DynamicClient with its own discovery cache file (fresh discovery)."""
        self._cache.unlink(missing_ok=True)
        return DynamicClient(self.api, cache_file=str(self._cache))

    def raw(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str | None = None,
        query: list[tuple[str, Any]] | None = None,
    ) -> tuple[int, Any]:
        """A raw call through the official client's ApiClient: (status, decoded JSON)."""
        import json

        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            resp = self.api.call_api(
                *self.api.param_serialize(
                    method,
                    path,
                    query_params=query or [],
                    header_params=headers,
                    body=body,
                    auth_settings=["BearerToken"],
                )
            )
            resp.read()
            return resp.status, json.loads(resp.data or b"null")
        except client.ApiException as exc:
            return exc.status, json.loads(exc.body or b"null")

    def kubectl(
        self, *args: str, timeout: float = 30, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(
            os.environ,
            KUBECONFIG=str(self.kubeconfig),
            KUBECACHEDIR=str(self._cache.parent / f"{self.name}-kubecache"),
        )
        proc = subprocess.run(
            [str(KUBECTL), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            input=input,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
        return proc

    def close(self) -> None:
        self.api.close()
        self.fleet.remove_cluster(self.name)


@pytest.fixture
def cluster(fleet: FleetThread, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(fleet, f"t{next(_counter)}-{os.getpid() % 1000}", tmp_path)
    yield c
    c.close()


def crd_body(
    group: str = "example.com",
    plural: str = "addons",
    kind: str = "AddOn",
    scope: str = "Namespaced",
    versions: tuple[str, ...] = ("v1",),
    storage: str | None = None,
    status: bool = True,
) -> dict[str, Any]:
    storage = storage or versions[0]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": scope,
            "names": {
                "plural": plural,
                "singular": kind.lower(),
                "kind": kind,
                "shortNames": [plural[:2]],
            },
            "versions": [
                {
                    "name": v,
                    "served": True,
                    "storage": v == storage,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                    **({"subresources": {"status": {}}} if status else {}),
                }
                for v in versions
            ],
        },
    }


def deployment(
    name: str = "web", replicas: int = 1, env: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "main",
                            "image": "nginx:1",
                            "env": env or [{"name": "A", "value": "1"}],
                            "ports": [{"containerPort": 80}],
                        }
                    ]
                },
            },
        },
    }
