"""Fixtures of the Kubernetes adapter's tests: one simulated fleet for the session (real
HTTPS, official client), a fresh cluster and :class:`KubeClient` per test, and the fleet's
fault hooks (cleared after every test)."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from services.fleet import FleetThread, start_fleet_thread
from shared.kube import KubeClient

T = TypeVar("T")
_counter = itertools.count()


def wait_for(probe: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s (last: {value!r})")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetThread]:
    handle = start_fleet_thread([], tmp_path_factory.mktemp("kube-fleet"), log_size=200)
    yield handle
    handle.stop()


@dataclass
class Target:
    """A fresh simulated cluster, a client of it and the fleet's fault hooks."""

    fleet: FleetThread
    name: str
    kubeconfig: Path
    clients: list[KubeClient]

    def client(self) -> KubeClient:
        """A new client (an empty discovery cache: as after a restart)."""
        client = KubeClient(str(self.kubeconfig), name=self.name)
        self.clients.append(client)
        return client

    def fault(
        self, path: str, status: int, *, method: str = "GET", count: int | None = None
    ) -> int:
        return self.fleet.inject_fault(
            path, cluster=self.name, method=method, status=status, count=count
        )

    def requests(self, pattern: str) -> list[dict[str, Any]]:
        return [r for r in self.fleet.requests(self.name) if r["path"].split("?")[0] == pattern]


@pytest.fixture
def target(fleet: FleetThread) -> Iterator[Target]:
    name = f"k{next(_counter)}-{os.getpid() % 1000}"
    t = Target(fleet, name, fleet.add_cluster(name), [])
    yield t
    fleet.clear_faults()
    for client in t.clients:
        client.close()
    fleet.remove_cluster(name)


def crd(
    group: str = "example.com", kind: str = "Widget", versions: tuple[str, ...] = ("v1",)
) -> dict[str, Any]:
    """A namespaced CustomResourceDefinition serving ``versions`` of ``group``/``kind``."""
    plural = kind.lower() + "s"
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": v,
                    "served": True,
                    "storage": i == 0,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
                for i, v in enumerate(versions)
            ],
        },
    }
