"""Definitions and objects for the agent's unit tests (pure: no servers)."""

from __future__ import annotations

from typing import Any

from shared.contract import messages as m
from shared.contract.subjects import ClusterRef

CLUSTER = ClusterRef(namespace="default", name="a")


def event_source(
    name: str = "svc", *, kind: str = "Service", label: str = "fv", **spec: Any
) -> dict[str, Any]:
    """An EventSource selecting ``kind`` objects labelled ``sveltos: <label>``."""
    return {
        "apiVersion": "lib.projectsveltos.io/v1beta1",
        "kind": "EventSource",
        "metadata": {"name": name},
        "spec": {
            "collectResources": True,
            "resourceSelectors": [
                {
                    "group": "apps" if kind == "Deployment" else "",
                    "version": "v1",
                    "kind": kind,
                    "labelFilters": [{"key": "sveltos", "operation": "Equal", "value": label}],
                }
            ],
            **spec,
        },
    }


def svc(name: str, rv: str = "1", labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "resourceVersion": rv}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {}}


def config_map(name: str, value: str = "v") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"k": value},
    }


def desired(
    profile: str = "p",
    *manifests: dict[str, Any],
    generation: int = 1,
    sync_mode: m.SyncMode = "Continuous",
    leave: bool = False,
    charts: tuple[m.DesiredChart, ...] = (),
) -> m.DesiredState:
    return m.DesiredState(
        cluster=CLUSTER,
        profile_name=profile,
        generation=generation,
        objects=[
            m.DesiredObject(
                manifest=obj,
                hash=f"sha256:{obj['metadata']['name']}",
                reference=m.ResourceReference(kind="ConfigMap", name="template"),
            )
            for obj in manifests
        ],
        helm_charts=list(charts),
        sync_mode=sync_mode,
        stop_matching_behavior="LeavePolicies" if leave else "WithdrawPolicies",
    )


def chart(
    name: str,
    namespace: str = "apps",
    *,
    digest: str = "h1",
    action: str = "Install",
    **values: Any,
) -> m.DesiredChart:
    """A desired chart: release ``namespace/name`` of the kyverno stand-in chart."""
    entry = {
        "repositoryURL": "http://127.0.0.1:1",
        "repositoryName": "kyverno",
        "chartName": "kyverno/kyverno",
        "chartVersion": "2.6.0",
        "releaseName": name,
        "releaseNamespace": namespace,
        "helmChartAction": action,
    }
    return m.DesiredChart(chart=entry, values=values, hash=f"sha256:{name}:{digest}")
