"""``ripple agent-host``: the agents of three clusters in one process, over a real nats-server
with authorization (each cluster its own NATS user) and the simulated fleet, the manager
running: each cluster deploys; a cluster whose API server does not answer says why and does
not hold the others back; its agent recovers when its kubeconfig is fixed; a cluster added to
the file starts, one removed stops and nothing of it is withdrawn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.scenario.processes import free_port
from services.scenario.stack import Stack
from tests.integration import agenthost as h
from tests.integration.helpers import eventually


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with h.three_cluster_stack(tmp_path_factory.mktemp("agenthost")) as running:
        yield running


def test_one_broken_cluster_never_holds_the_others(stack: Stack, tmp_path: Path) -> None:
    c1, c2, c3 = h.CLUSTERS
    broken = h.dead_kubeconfig(stack, c3, tmp_path / "c3-dead.kubeconfig")
    clusters = tmp_path / "clusters.yaml"
    h.write_clusters(
        clusters,
        [h.entry(stack, c1), h.entry(stack, c2), h.entry(stack, c3, kubeconfig=broken)],
    )
    port = free_port()
    manager = h.manager_process(stack)
    host = h.host_process(stack, clusters, port)
    with h.running(manager, host):
        for cluster in h.CLUSTERS:
            stack.client(cluster).apply(h.service("web"), field_manager="test")
        h.wait_deployed(stack, c1, "web")
        h.wait_deployed(stack, c2, "web")

        # the broken cluster says why: in its status (ripple-agents) and the host's metrics
        def says_why() -> bool:
            errors = h.agent_status(stack, c3).get("errors", [])
            return any("127.0.0.1" in e and "failed" in e for e in errors)

        eventually(says_why, 30, "c3's status names its unreachable API server")
        eventually(lambda: h.metric(port, "ripple_agent_host_hosted_degraded") == 1, 30, "1")
        assert not h.deployed(stack, c3, "web")
        # fixed (its entry names the right kubeconfig): its agent restarts and deploys
        h.write_clusters(clusters, [h.entry(stack, c) for c in h.CLUSTERS])
        h.wait_deployed(stack, c3, "web", timeout=60)
        eventually(lambda: h.readiness(port)["status"] == "ready", 30, "all ready")
        assert h.metric(port, "ripple_agent_host_hosted_ready") == 3
        eventually(lambda: h.metric(port, "ripple_agent_host_hosted_degraded") == 0, 30, "0")
        assert h.metric(port, "ripple_agent_host_nats_permission_violations_total") == 0

        # removed from the file: its agent stops, what it deployed stays
        h.write_clusters(clusters, [h.entry(stack, c1), h.entry(stack, c3)])
        eventually(lambda: h.metric(port, "ripple_agent_host_hosted_clusters") == 2, 20, "2")
        stack.client(c2).apply(h.service("api"), field_manager="test")
        stack.client(c1).apply(h.service("api"), field_manager="test")
        h.wait_deployed(stack, c1, "api")
        assert h.deployed(stack, c2, "web")  # nothing withdrawn by the stop
        assert not h.deployed(stack, c2, "api")  # no agent watches it any more

        # added again: its agent starts and catches up
        h.write_clusters(clusters, [h.entry(stack, c) for c in h.CLUSTERS])
        h.wait_deployed(stack, c2, "api", timeout=60)
        assert h.deployed(stack, c2, "web")


def test_from_management_hosts_the_registered_clusters(stack: Stack) -> None:
    """--from-management: kubeconfigs from the Secrets Sveltos reads (<name>-sveltos-kubeconfig),
    NATS credentials from <name>-ripple-nats; a cluster without its kubeconfig Secret is an
    error of its own and starts once the Secret is there."""
    c1, c2, c3 = h.CLUSTERS
    mgmt = stack.client("management")
    for cluster in (c1, c2):
        for secret in h.cluster_secrets(stack, cluster):
            mgmt.apply(secret, field_manager="test")
    port = free_port()
    manager = h.manager_process(stack)
    host = h.host_process(stack, None, port)
    with h.running(manager, host):
        eventually(lambda: h.metric(port, "ripple_agent_host_hosted_ready") == 2, 30, "2 ready")
        assert h.metric(port, "ripple_agent_host_hosted_invalid_entries") == 1  # c3: no Secret
        for cluster in h.CLUSTERS:
            stack.client(cluster).apply(h.service("mgmt"), field_manager="test")
        h.wait_deployed(stack, c1, "mgmt")
        h.wait_deployed(stack, c2, "mgmt")
        for secret in h.cluster_secrets(stack, c3):
            mgmt.apply(secret, field_manager="test")
        h.wait_deployed(stack, c3, "mgmt", timeout=60)
        assert h.metric(port, "ripple_agent_host_hosted_invalid_entries") == 0
        assert h.metric(port, "ripple_agent_host_nats_permission_violations_total") == 0


def test_a_hosted_agent_is_held_to_its_own_nats_user(stack: Stack, tmp_path: Path) -> None:
    """Each hosted agent connects as the NATS user of its entry: one given another cluster's
    user (a mistake in the file) cannot read its cluster's keys -- the server refuses, the
    host counts it, the agent never gets ready --, one with a wrong password says it cannot
    connect, and the other clusters are not affected."""
    c1, c2, c3 = h.CLUSTERS
    clusters = tmp_path / "clusters.yaml"
    wrong = {**h.entry(stack, c1)}
    wrong["natsUser"], wrong["natsPassword"] = h.nats_user(stack, c2)
    bad_password = {**h.entry(stack, c2), "natsPassword": "not-its-password"}
    h.write_clusters(clusters, [wrong, bad_password, h.entry(stack, c3)])
    port = free_port()
    manager = h.manager_process(stack)
    host = h.host_process(stack, clusters, port)
    with h.running(manager):
        host.start()
        try:
            stack.client(c3).apply(h.service("isolated"), field_manager="test")
            stack.client(c1).apply(h.service("isolated"), field_manager="test")
            h.wait_deployed(stack, c3, "isolated")
            eventually(
                lambda: h.metric(port, "ripple_agent_host_nats_permission_violations_total") > 0,
                30,
                "the server refused the wrong identity",
            )
            body = eventually(
                lambda: (r := h.readiness(port)).get("reason", "").count(f"sveltos:{c1}") and r,
                15,
                "/readyz names the cluster",
            )
            assert body["status"] == "not ready", body
            # a password the server refuses: the cluster's agent says so, and keeps trying
            eventually(
                lambda: "Authorization Violation" in h.readiness(port).get("reason", ""),
                15,
                "/readyz says c2 cannot connect",
            )
            assert h.metric(port, "ripple_agent_host_hosted_ready") == 1  # c3
            assert not h.deployed(stack, c1, "isolated")
        finally:
            host.stop()
