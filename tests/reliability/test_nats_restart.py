"""BRIEF section 7: kill -9 of nats-server (file storage) during churn, restarted on the same
port with the same store directory: every service reconnects and the deployed state equals
the expected state -- zero lost, zero duplicate, zero orphan. (Its own stack: the package's
shared stack is not put through a NATS outage.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.scenario.stack import Stack
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.subjects import ClusterRef
from tests.reliability.helpers import (
    EVENT_REPORT,
    SERVICE,
    SyncNats,
    equal_eventually,
    eventually,
    expected_policies,
    fleet_of,
    log_text,
    policies,
    policy_set,
    restart,
    service,
    services,
    stays,
)

CLUSTER = "default/cluster-nats"
REF = ClusterRef(namespace="default", name="cluster-nats")
TRIGGER_LABEL = "eventtrigger.lib.projectsveltos.io/eventtriggername"


@pytest.fixture(scope="module")
def nats_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(
        fleet_of(("nats",)), None, state_dir=tmp_path_factory.mktemp("nats"), ready_timeout=60
    ) as running:
        yield running


def supervise(stack: Stack) -> list[str]:
    """Restart every service that exited, as its supervisor (kubelet, systemd) would."""
    dead = [p.name for p in stack.dead_processes() if p.name in stack.processes]
    for name in dead:
        stack.processes[name].stop()
        restart(stack, name)
    return dead


def test_kill9_nats_server_during_churn(nats_stack: Stack) -> None:
    """Any service that exited during the outage is restarted (as a supervisor would; the
    next test requires that none does); the state then converges."""
    stack = nats_stack
    assert stack.nats is not None
    name, label = "k-nats", "k-nats-svc"
    stack.apply_management(policy_set(name, "nats", label))
    client = stack.client(CLUSTER)
    client.apply(service(f"{name}-seed", label))
    equal_eventually(lambda: policies(client, name), {f"{name}-{name}-seed"}, 15, what="seed")
    port, store = stack.nats.port, stack.nats.dir
    for i in range(36):
        client.apply(service(f"{name}-{i}", label))
        if i % 3 == 2:
            client.delete(SERVICE, "default", f"{name}-{i - 1}")
        if i == 12:
            stack.nats.kill()
        if i == 24:
            stack.nats.start()
    assert (stack.nats.port, stack.nats.dir) == (port, store)
    expected = expected_policies(client, label, name)

    def converged() -> bool:
        supervise(stack)
        return policies(client, name) == expected

    try:
        eventually(converged, 45, interval=0.2, what="policies after the NATS restart")
    except AssertionError as exc:  # intermittent: keep the evidence for the diagnosis
        missing = sorted(expected - policies(client, name))
        raise AssertionError(f"{exc}\nmissing: {missing}\n{stack.log_tails(CLUSTER, 40)}") from None
    stays(lambda: policies(client, name) == expected, 300, what="policies")

    bus = SyncNats(stack.nats_url)
    try:

        def desired() -> int:
            items = bus.kv_items(streams.DESIRED, m.DesiredStateEvent, subjects.cluster_keys(REF))
            return sum(1 for e in items.values() if e.data.labels.get(TRIGGER_LABEL) == name)

        equal_eventually(desired, len(expected), 15, what="desired profiles")
    finally:
        bus.close()

    def reported() -> set[str] | None:
        obj = stack.management.get(EVENT_REPORT, "default", f"sveltos--{name}--cluster-nats")
        return None if obj is None else {r["name"] for r in obj["spec"]["matchingResources"]}

    equal_eventually(reported, services(client, label), 15, what="EventReport")


def test_services_survive_a_nats_outage(nats_stack: Stack) -> None:
    """Regression: a KV put timing out during the outage ended the manager (exit 1)."""
    stack = nats_stack
    assert stack.nats is not None
    supervise(stack)
    name = "k-nats-outage"
    offset = len(log_text(stack, "manager"))
    stack.nats.kill()
    try:
        # the manager must publish (an assignment, desired state) while NATS is down
        stack.apply_management(policy_set(name, "nats", f"{name}-svc"))
        eventually(
            lambda: (
                "put failed" in log_text(stack, "manager")[offset:]
                or not stack.processes["manager"].running
            ),
            20,
            interval=0.1,
            what="the manager's publish fails during the outage",
        )
    finally:
        stack.nats.start()
    stack.client(CLUSTER).apply(service(f"{name}-0", f"{name}-svc"))
    try:
        eventually(
            lambda: (
                f"{name}-{name}-0" in policies(stack.client(CLUSTER), name)
                or bool(stack.dead_processes())
            ),
            30,
            interval=0.1,
            what="recovery after the outage",
        )
        dead = [p.name for p in stack.dead_processes()]
        codes = {p.name: p.returncode for p in stack.dead_processes()}
        assert not dead, f"exited because of the NATS outage (exit codes): {codes}"
    finally:
        supervise(stack)
