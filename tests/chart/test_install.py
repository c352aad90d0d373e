"""`helm install` of charts/ripple with Helm's SDK into a simulated cluster: bad values are
refused before anything is created, and release-scoped names let two agent releases live in
one namespace of one cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from services.fleet import FleetThread, start_fleet_thread
from tests.paths import REPO

helm = pytest.importorskip("helm_python")

CHART = REPO / "charts" / "ripple"


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    fleet: FleetThread = start_fleet_thread(["c"], tmp_path_factory.mktemp("fleet"))
    try:
        yield fleet.kubeconfig("c")
    finally:
        fleet.stop()


def install(kubeconfig: Path, release: str, values: dict[str, Any]) -> dict[str, Any]:
    chart = helm.Chart.load(CHART)
    cfg = helm.Config(kubeconfig_path=str(kubeconfig), namespace="ripple")
    try:
        return dict(
            cfg.install(
                chart, release, values, namespace="ripple", create_namespace=True, timeout=60
            )
        )
    finally:
        cfg.close()
        chart.close()


def agent(name: str) -> dict[str, Any]:
    return {
        "manager": {"enabled": False},
        "reporter": {"enabled": False},
        "agent": {"enabled": True, "cluster": {"name": name}},
    }


def deployments(kubeconfig: Path) -> list[str]:
    api = config.new_client_from_config(str(kubeconfig))
    try:
        items = client.AppsV1Api(api).list_namespaced_deployment("ripple").items
        return sorted(d.metadata.name for d in items)
    finally:
        api.close()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"manager": {"replicas": "three"}}, "at '/manager/replicas': got string, want integer"),
        ({"metricsPort": 0}, "at '/metricsPort': minimum"),
        ({"agent": {"enabled": True}}, "/agent/cluster/name"),
        ({"unknown": True}, "additional properties 'unknown' not allowed"),
    ],
)
def test_bad_values_fail_helm_install_and_create_nothing(
    kubeconfig: Path, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm.HelmError) as err:
        install(kubeconfig, "bad", values)
    assert message in str(err.value)
    assert not [d for d in deployments(kubeconfig) if d.startswith("bad-")]


def test_two_agent_releases_install_side_by_side(kubeconfig: Path) -> None:
    for release, cluster in (("agent-one", "one"), ("agent-two", "two")):
        assert install(kubeconfig, release, agent(cluster))["status"] == "deployed"
    assert {"agent-one-ripple-agent", "agent-two-ripple-agent"} <= set(deployments(kubeconfig))


def service_monitor_crd() -> dict[str, Any]:
    """The Prometheus Operator's ServiceMonitor kind (its schema left open)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {
                "plural": "servicemonitors",
                "singular": "servicemonitor",
                "kind": "ServiceMonitor",
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def test_the_service_monitor_installs_where_the_operator_is(kubeconfig: Path) -> None:
    values = {**agent("monitored"), "serviceMonitor": {"enabled": True}}
    with pytest.raises(helm.HelmError) as err:  # no Prometheus Operator CRDs yet
        install(kubeconfig, "agent-unmonitored", values)
    assert "install the Prometheus Operator's CRDs first" in str(err.value)
    api = config.new_client_from_config(str(kubeconfig))
    try:
        client.ApiextensionsV1Api(api).create_custom_resource_definition(service_monitor_crd())
        assert install(kubeconfig, "agent-monitored", values)["status"] == "deployed"
        monitor = client.CustomObjectsApi(api).get_namespaced_custom_object(
            "monitoring.coreos.com", "v1", "ripple", "servicemonitors", "agent-monitored-ripple"
        )
        assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
        services = client.CoreV1Api(api).list_namespaced_service(
            "ripple", label_selector="app.kubernetes.io/instance=agent-monitored"
        )
        [metrics] = [p for s in services.items for p in s.spec.ports]
        assert metrics.name == "metrics"
    finally:
        api.close()
