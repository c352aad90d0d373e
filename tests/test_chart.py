"""charts/ripple renders with Helm's own engine (helm_python) into the pods a cluster runs:
the agent's Helm cache is writable under a read-only root filesystem, and NATS credentials
mounted from a Secret sit beside it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.paths import REPO

helm = pytest.importorskip("helm_python")


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    chart = helm.Chart.load(REPO / "charts" / "ripple")
    try:
        files = chart.render(values, name="ripple", namespace="ripple", is_install=True)
    finally:
        chart.close()
    docs = [d for text in files.values() for d in yaml.safe_load_all(text) if d]
    return docs


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


@pytest.fixture
def agent_pod() -> Iterator[dict[str, Any]]:
    values = {
        "manager": {"enabled": False},
        "reporter": {"enabled": False},
        "agent": {"enabled": True, "cluster": {"name": "prod-eu-1"}},
        "nats": {"existingSecret": "agent-creds", "credsKey": "creds"},
    }
    yield find(render(values), "Deployment", "ripple-agent")["spec"]["template"]["spec"]


def test_the_agent_has_a_writable_helm_cache_under_a_read_only_root(
    agent_pod: dict[str, Any],
) -> None:
    [container] = agent_pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e.get("value") for e in container["env"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    cache = env["RIPPLE_HELM_CACHE_DIR"]
    assert mounts[cache] == "helm-cache"
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        assert env[var].startswith(cache + "/")  # Helm's own homes: off the read-only root
    assert (env["RIPPLE_HELM_QPS"], env["RIPPLE_HELM_BURST"]) == ("200", "400")
    volumes = {v["name"]: v for v in agent_pod["volumes"]}
    assert volumes["helm-cache"]["emptyDir"]["sizeLimit"] == "1Gi"
    assert mounts["/tmp"] == "tmp"


def test_nats_credentials_are_mounted_beside_the_cache(agent_pod: dict[str, Any]) -> None:
    [container] = agent_pod["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["nats-credentials"]["readOnly"] is True
    volumes = {v["name"]: v for v in agent_pod["volumes"]}
    assert volumes["nats-credentials"]["secret"]["secretName"] == "agent-creds"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RIPPLE_NATS_CREDS"].startswith(mounts["nats-credentials"]["mountPath"])


def test_the_agent_may_do_what_helm_does_in_its_cluster() -> None:
    """Helm writes its releases as Secrets, creates the release namespace and installs
    objects of any kind: the agent's ClusterRole covers all of it."""
    values = {"agent": {"enabled": True, "cluster": {"name": "c"}}}
    role = find(render(values), "ClusterRole", "ripple-agent")
    assert {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]} in role["rules"]


def test_the_default_release_renders_the_manager_and_reporter_only() -> None:
    docs = render({})
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("Deployment", "ripple-agent") not in kinds
    assert any(k == "Deployment" for k, _ in kinds)


def test_the_reporter_may_write_everything_it_mirrors() -> None:
    """EventReports, ClusterProfiles and their status, the instantiated ConfigMaps (and
    their namespace), and the definitions' status."""
    role = find(render({}), "ClusterRole", "ripple-reporter")
    allowed = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    lib, config = "lib.projectsveltos.io", "config.projectsveltos.io"
    for needed in [
        (lib, "eventreports", "patch"),
        (lib, "eventreports", "delete"),
        (config, "clusterprofiles", "patch"),
        (config, "clusterprofiles/status", "patch"),
        ("", "configmaps", "patch"),
        ("", "configmaps", "list"),
        ("", "configmaps", "delete"),
        ("", "namespaces", "patch"),
        (lib, "eventsources/status", "patch"),
        (lib, "eventtriggers/status", "patch"),
        (lib, "eventbasedaddons/status", "patch"),
    ]:
        assert needed in allowed, needed


def test_every_service_has_liveness_and_readiness_probes_on_its_probe_port() -> None:
    """/livez and /readyz are served by each service from a thread (not its event loop) on
    RIPPLE_METRICS_PORT, listening on the pod's addresses so the kubelet reaches them."""
    values = {"agent": {"enabled": True, "cluster": {"name": "c"}}}
    deployments = [d for d in render(values) if d["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {
        "ripple-agent",
        "ripple-manager",
        "ripple-reporter",
    }
    for deployment in deployments:
        name = deployment["metadata"]["name"]
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["RIPPLE_METRICS_HOST"] == "0.0.0.0", name
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert str(ports["probes"]) == env["RIPPLE_METRICS_PORT"] == "9090", name
        live, ready = container["livenessProbe"], container["readinessProbe"]
        assert live["httpGet"] == {"path": "/livez", "port": "probes"}, name
        assert ready["httpGet"] == {"path": "/readyz", "port": "probes"}, name
        assert live["failureThreshold"] * live["periodSeconds"] >= 30, name
