"""syncMode through the real services: ContinuousWithDriftDetection repairs drift, OneTime
never updates, DryRun deploys nothing and says what it would do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.scenario.stack import Stack
from shared.api.vocabulary import CLUSTER_PROFILE, EVENT_TRIGGER_LABELS
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


def test_dry_run_reports_what_would_change_and_deploys_nothing(stack: Stack) -> None:
    """Sveltos' DryRun: nothing is reconciled, the ClusterProfile's status says per object
    what an apply would do (the agent's outcome of status DryRun, mirrored by the reporter)."""
    c = stack.client(CLUSTER)
    c.apply(service("x", "dry", 1), field_manager="test")

    def dry_run_status() -> dict[str, Any] | None:
        profiles, _ = stack.management.list(
            CLUSTER_PROFILE, label_selector=f"{EVENT_TRIGGER_LABELS.trigger_name}=dry"
        )
        for profile in profiles:
            for entry in (profile.get("status") or {}).get("clusters") or []:
                if entry.get("status") == "DryRun" and "dry-x" in entry.get("message", ""):
                    return dict(entry)
        return None

    entry = eventually(dry_run_status, what="the DryRun outcome in the ClusterProfile status")
    assert entry["message"] == (
        "mode is DryRun. Nothing is reconciled: would create 1; Create v1/ConfigMap/default/dry-x"
    )
    assert c.get(CM, "default", "dry-x") is None, "reported, and not deployed"
