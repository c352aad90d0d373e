"""The embedded stack with hosted agents (``agent_mode="hosted"``, the default beyond 8
clusters): one ``ripple agent-host`` process runs every cluster's agent, each cluster with
its own NATS user (from the clusters file, mode 0600), and an add-on deploys and is withdrawn
in the clusters its trigger selects."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.scenario.commands import hosted_clusters, service_commands
from services.scenario.errors import StackError
from services.scenario.model import Fleet, FleetCluster
from services.scenario.stack import Stack
from services.scenario.stackagents import resolve_agent_mode
from shared.kube import GVK
from tests.paths import SCENARIOS

MANAGEMENT = SCENARIOS / "01-network-policy-per-service" / "management"
SERVICE = GVK("v1", "Service")
POLICY = GVK("networking.k8s.io/v1", "NetworkPolicy")
SELECTED = ["default/h0", "default/h1"]  # env: fv, selected by the EventBasedAddOn
OTHERS = [f"default/h{i}" for i in range(2, 6)]


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "labels": {"sveltos": "fv"}},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
    }


def eventually(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {what}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    fleet = Fleet(
        clusters=[
            FleetCluster(
                namespace="default", name=f"h{i}", labels={"env": "fv" if i < 2 else "prod"}
            )
            for i in range(6)
        ]
    )
    with Stack(
        fleet,
        MANAGEMENT,
        state_dir=tmp_path_factory.mktemp("hosted"),
        ready_timeout=60,
        agent_mode="hosted",
    ) as running:
        yield running


def test_auto_mode_hosts_beyond_eight_clusters() -> None:
    assert resolve_agent_mode("auto", 8) == "process"
    assert resolve_agent_mode("auto", 9) == "hosted"
    assert resolve_agent_mode("process", 1000) == "process"
    assert resolve_agent_mode("hosted", 1) == "hosted"
    with pytest.raises(StackError, match="agent mode 'central'"):
        resolve_agent_mode("central", 3)


def test_hosted_commands_and_clusters_file(tmp_path: Path) -> None:
    fleet = Fleet(
        clusters=[
            FleetCluster(namespace="default", name="a"),
            FleetCluster(namespace="prod", name="b", type="capi"),
        ]
    )
    kubeconfigs = {"default/a": tmp_path / "a.kubeconfig", "prod/b": tmp_path / "b.kubeconfig"}
    doc = hosted_clusters(fleet, kubeconfigs, {"default/a": ("agent-a", "pw")})
    assert doc["clusters"] == [
        {
            "cluster": "default/a",
            "type": "sveltos",
            "kubeconfig": str(tmp_path / "a.kubeconfig"),
            "natsUser": "agent-a",
            "natsPassword": "pw",
        },
        {"cluster": "prod/b", "type": "capi", "kubeconfig": str(tmp_path / "b.kubeconfig")},
    ]
    commands = service_commands(
        fleet,
        nats_url="nats://127.0.0.1:4222",
        management_kubeconfig=tmp_path / "m.kubeconfig",
        cluster_kubeconfig=kubeconfigs,
        ready_dir=tmp_path / "ready",
        api_port=8080,
        log_level="INFO",
        metrics_ports={"agent-host": 9100},
        hosted_file=tmp_path / "clusters.yaml",
    )
    assert [c.name for c in commands] == ["manager", "reporter", "agent-host"]
    host = commands[-1].argv
    assert host[host.index("agent-host") + 1 :] == [
        "--clusters",
        str(tmp_path / "clusters.yaml"),
        "--nats",
        "nats://127.0.0.1:4222",
        "--ready-file",
        str(tmp_path / "ready" / "agent-host"),
        "--metrics-port",
        "9100",
    ]
    assert "pw" not in " ".join(host)  # passwords only in the 0600 file


def test_one_host_process_with_a_private_clusters_file(stack: Stack) -> None:
    assert stack.hosted
    assert sorted(stack.processes) == ["agent-host", "manager", "reporter"]
    assert (stack.state_dir / "ready" / "agent-host").exists()
    mode = stat.S_IMODE(stack.clusters_file.stat().st_mode)
    assert mode == 0o600, oct(mode)
    entries = yaml.safe_load(stack.clusters_file.read_text())["clusters"]
    assert [e["cluster"] for e in entries] == SELECTED + OTHERS
    users = {e["natsUser"] for e in entries}
    assert len(users) == 6, "each cluster keeps its own NATS user"
    for entry in entries:
        assert entry["natsPassword"] == stack.nats_credential(entry["cluster"]).password
        assert entry["kubeconfig"] == str(stack.kubeconfig(entry["cluster"]).resolve())


def test_a_cluster_agent_has_no_process_of_its_own(stack: Stack) -> None:
    with pytest.raises(StackError, match="runs hosted agents"):
        stack.agent_name("default/h0")
    assert stack.agent_process_name("default/h0") == "agent-host"
    assert "agent-host.log" in stack.log_tails("default/h0")


def test_addon_deployed_and_withdrawn_in_the_selected_clusters(stack: Stack) -> None:
    for ref in [*SELECTED, OTHERS[0]]:
        stack.client(ref).apply(service("web"), field_manager="test")

    def policies(ref: str) -> bool:
        return stack.client(ref).get(POLICY, "default", "front-web") is not None

    for ref in SELECTED:
        eventually(lambda ref=ref: policies(ref), 20, f"front-web applied in {ref}")
    # a cluster the trigger does not select got nothing (its agent reported the Service)
    assert not policies(OTHERS[0])

    for ref in SELECTED:
        stack.client(ref).delete(SERVICE, "default", "web")
    for ref in SELECTED:
        eventually(lambda ref=ref: not policies(ref), 20, f"front-web withdrawn from {ref}")
    assert all(p.running for p in stack.processes.values())
