"""syncMode through the real services: ContinuousWithDriftDetection repairs drift, OneTime
never updates, DryRun deploys nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.scenario.stack import Stack
from shared.kube import GVK
from tests.integration.test_services import eventually

CM = GVK("v1", "ConfigMap")
SERVICE = GVK("v1", "Service")
CLUSTER = "default/c1"

TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {mode}-{{{{ .Resource.metadata.name }}}}
  namespace: default
data:
  port: "{{{{ (index .Resource.spec.ports 0).port }}}}"
"""


def definitions(mode: str, sync_mode: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "EventSource",
            "metadata": {"name": mode},
            "spec": {
                "collectResources": True,
                "resourceSelectors": [
                    {
                        "group": "",
                        "version": "v1",
                        "kind": "Service",
                        "labelFilters": [{"key": "mode", "operation": "Equal", "value": mode}],
                    }
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"{mode}-template",
                "namespace": "default",
                "annotations": {"projectsveltos.io/instantiate": "ok"},
            },
            "data": {"cm.yaml": TEMPLATE.format(mode=mode)},
        },
        {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "EventTrigger",
            "metadata": {"name": mode},
            "spec": {
                "sourceClusterSelector": {"matchLabels": {"env": "test"}},
                "eventSourceName": mode,
                "oneForEvent": True,
                "syncMode": sync_mode,
                "policyRefs": [
                    {"kind": "ConfigMap", "namespace": "default", "name": f"{mode}-template"}
                ],
            },
        },
    ]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp("sync")
    (root / "fleet.yaml").write_text(
        yaml.safe_dump(
            {
                "clusters": [
                    {
                        "namespace": "default",
                        "name": "c1",
                        "type": "sveltos",
                        "labels": {"env": "test"},
                    }
                ]
            }
        )
    )
    management = root / "management"
    management.mkdir()
    docs = [
        *definitions("drift", "ContinuousWithDriftDetection"),
        *definitions("once", "OneTime"),
        *definitions("dry", "DryRun"),
    ]
    (management / "defs.yaml").write_text(yaml.safe_dump_all(docs))
    with Stack(root / "fleet.yaml", management, state_dir=root / "state") as s:
        yield s


def service(name: str, mode: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "labels": {"mode": mode}},
        "spec": {"ports": [{"port": port}]},
    }


def test_drift_is_repaired(stack: Stack) -> None:
    c = stack.client(CLUSTER)
    c.apply(service("web", "drift", 80), field_manager="test")
    eventually(lambda: c.get(CM, "default", "drift-web"), what="deployed")
    c.merge_patch(CM, "default", "drift-web", {"data": {"port": "9999"}})
    eventually(
        lambda: (c.get(CM, "default", "drift-web") or {}).get("data", {}).get("port") == "80",
        what="a changed field is put back",
    )
    c.delete(CM, "default", "drift-web")
    eventually(lambda: c.get(CM, "default", "drift-web"), what="a deleted object is re-created")


def test_one_time_profiles_are_not_updated(stack: Stack) -> None:
    c = stack.client(CLUSTER)
    c.apply(service("db", "once", 5432), field_manager="test")
    first = eventually(lambda: c.get(CM, "default", "once-db"), what="deployed once")
    assert first["data"]["port"] == "5432"
    c.apply(service("db", "once", 6543), field_manager="test")
    c.apply(service("db2", "once", 1), field_manager="test")  # a later event still deploys
    eventually(lambda: c.get(CM, "default", "once-db2"), what="new instance deployed")
    assert c.get(CM, "default", "once-db")["data"]["port"] == "5432"


def test_dry_run_deploys_nothing(stack: Stack) -> None:
    c = stack.client(CLUSTER)
    c.apply(service("x", "dry", 1), field_manager="test")
    c.apply(service("y", "drift", 2), field_manager="test")  # a sentinel processed after it
    eventually(lambda: c.get(CM, "default", "drift-y"), what="sentinel deployed")
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        assert c.get(CM, "default", "dry-x") is None
        time.sleep(0.05)
