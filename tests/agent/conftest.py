"""A real simulated cluster for the Applier's tests: one fleet per module (in a thread, the
official client), one fresh cluster per test."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.fleet import FleetThread, start_fleet_thread
from shared.kube import KubeClient

_clusters = itertools.count()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetThread]:
    handle = start_fleet_thread([], tmp_path_factory.mktemp("applying-fleet"), log_size=50)
    yield handle
    handle.stop()


@pytest.fixture
def client(fleet: FleetThread) -> Iterator[KubeClient]:
    name = f"applying-{next(_clusters)}-{os.getpid() % 1000}"
    kubeconfig: Path = fleet.add_cluster(name)
    kube = KubeClient(str(kubeconfig), name=name)
    yield kube
    kube.close()
    fleet.remove_cluster(name)
