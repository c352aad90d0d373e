"""Fixtures of the Helm tests: the test chart, a loopback chart repository, a chart cache.

The cluster fixtures (a simulated fleet) are in ``tests/helm/test_sdk.py``'s conftest
section below; they start only for the tests that ask for them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.helm.repository import ChartRepository
from shared.helm.spec import HelmChart

CHARTS = Path(__file__).parent / "charts"
HELLO = CHARTS / "hello"


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
