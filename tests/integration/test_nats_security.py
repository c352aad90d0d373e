"""Security on by default: the embedded stack runs nats-server with one user per service, and
an agent's credentials open only its own cluster's keys.

With the agents of cluster-a and cluster-b running under their own users, cluster-a's
credentials (read from the stack) cannot write cluster-b's report nor read cluster-b's
desired state (direct get or watch): the server refuses, nothing is stored, and the refusals
are counted on the connection; cluster-a's own writes succeed and an event in cluster-a
deploys its add-on. Real processes, real NATS, real HTTP.
"""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from services.scenario.credentials import NatsCredentials
from services.scenario.model import FleetCluster
from services.scenario.stack import Stack
from shared.bus.client import BusStats, bus_stats, connect
from shared.bus.errors import BusError
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.contract import permissions as p
from shared.contract import streams
from shared.contract.subjects import ClusterRef, cluster_keys, report_key
from shared.kube import GVK
from tests.integration.helpers import eventually, service
from tests.paths import SCENARIOS

SCENARIO = SCENARIOS / "01-network-policy-per-service"
NETPOL = GVK("networking.k8s.io/v1", "NetworkPolicy")
SERVICE = GVK("v1", "Service")
A = ClusterRef(namespace="default", name="cluster-a")
B = ClusterRef(namespace="default", name="cluster-b")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state: Path = tmp_path_factory.mktemp("stack")
    with Stack(SCENARIO / "fleet.yaml", SCENARIO / "management", state_dir=state) as s:
        # cluster-b matches the trigger too, so that it has desired state to protect
        s.register(FleetCluster(namespace="default", name="cluster-b", labels={"env": "fv"}))
        yield s


@pytest.fixture(scope="module")
def deployed(stack: Stack) -> None:
    """An event in each cluster deploys its add-on (the normal flow, under per-service
    users)."""
    clients = [stack.client(c) for c in ("default/cluster-a", "default/cluster-b")]
    for client in clients:
        client.apply(service("guarded"), field_manager="test")
    for client in clients:
        eventually(
            partial(client.get, NETPOL, "default", "front-guarded"),
            what=f"policy deployed in {client}",
        )


class AsAgentA:
    """A connection with cluster-a's agent credentials, its refusals recorded."""

    def __init__(self, client: Client, errors: list[str]) -> None:
        self.client = client
        self.errors = errors
        self.js = client.jetstream(timeout=1)

    async def store(self, spec: streams.BucketSpec, cls: type[Any]) -> KVStore[Any]:
        return await KVStore.open(self.js, spec, cls)


@pytest.fixture
async def agent_a(stack: Stack, deployed: None) -> AsyncIterator[AsAgentA]:
    cred = stack.nats_credential("default/cluster-a")
    assert cred.user == p.agent_user(A)
    errors: list[str] = []

    async def error_cb(err: Exception) -> None:
        errors.append(str(err))

    client = await connect(
        stack.nats_server_url,
        "test: cluster-a's credentials",
        user=cred.user,
        password=cred.password,
        inbox_prefix=p.agent_inbox_prefix(A),
        error_cb=error_cb,
        max_reconnect_attempts=0,
    )
    try:
        yield AsAgentA(client, errors)
    finally:
        await client.close()


@pytest.fixture
async def admin(stack: Stack) -> AsyncIterator[Any]:
    client = await connect(stack.nats_url, "test: admin", max_reconnect_attempts=0)
    try:
        yield client.jetstream()
    finally:
        await client.close()


def test_the_stack_runs_nats_with_authorization(stack: Stack) -> None:
    assert stack.secure and stack.credentials is not None
    assert stat.S_IMODE(stack.credentials_file.stat().st_mode) == 0o600
    assert NatsCredentials.read(stack.credentials_file) == stack.credentials
    data = json.loads(stack.credentials_file.read_text())
    assert data["admin_url"] == stack.nats_url
    assert data["url"] == stack.nats_server_url
    assert stack.nats is not None
    conf = stack.nats.dir / "nats-server.conf"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    text = conf.read_text()  # the shared account, and one of its own per agent and reporter
    for account in (p.RIPPLE_ACCOUNT, p.REPORTER_ACCOUNT, p.agent_account(A), p.agent_account(B)):
        assert f'  "{account}": {{' in text, account
    for name, proc in stack.processes.items():
        assert proc.running, name
        assert proc.env is not None and "RIPPLE_NATS_USER" in proc.env, name
        password = stack.credentials.user(proc.env["RIPPLE_NATS_USER"]).password
        assert not any(password in arg for arg in proc.argv), name
    agent = stack.processes[stack.agent_name("default/cluster-b")]
    assert agent.env is not None and agent.env["RIPPLE_NATS_USER"] == p.agent_user(B)


async def test_anonymous_clients_are_refused(stack: Stack) -> None:
    stats = BusStats()
    with pytest.raises(BusError, match="cannot connect"):
        await connect(stack.nats_server_url, "anonymous", stats=stats, allow_reconnect=False)
    assert stats.authorization_violations >= 1
    wrong = stack.nats_credential("default/cluster-b").user
    with pytest.raises(BusError, match="cannot connect"):
        await connect(
            stack.nats_server_url, "wrong", user=wrong, password="guess", allow_reconnect=False
        )


async def test_agent_a_cannot_write_cluster_b_keys(agent_a: AsAgentA, admin: Any) -> None:
    reports = await agent_a.store(streams.REPORTS, m.EventReportEvent)
    spoofed = m.envelope(
        m.EventReportSnapshot(
            cluster=B,
            event_source_name="spoofed",
            agent_instance="attacker",
            generation=1,
            complete=True,
        )
    )
    with pytest.raises(BusError, match="put failed"):
        await reports.put(spoofed)
    admin_reports = await KVStore.open(admin, streams.REPORTS, m.EventReportEvent)
    assert await admin_reports.get(report_key(B, "spoofed")) is None
    await _until(lambda: bus_stats(agent_a.client).permission_violations >= 1)
    assert "ripple-reports.default.sveltos--cluster-b.spoofed" in " ".join(agent_a.errors)


async def test_agent_a_cannot_read_cluster_b_desired_state(agent_a: AsAgentA, admin: Any) -> None:
    admin_desired = await KVStore.open(admin, streams.DESIRED, m.DesiredStateEvent)
    b_keys = list(await admin_desired.items(cluster_keys(B)))
    assert b_keys, "cluster-b has desired state"
    desired = await agent_a.store(streams.DESIRED, m.DesiredStateEvent)
    with pytest.raises(BusError, match="get failed"):
        await desired.get(b_keys[0])
    with pytest.raises(BusError, match="cannot watch"):
        async with desired.watch(cluster_keys(B), start_retry=0):
            pass
    await _until(lambda: bus_stats(agent_a.client).permission_violations >= 2)
    assert all("permissions violation" in e.lower() for e in agent_a.errors)
    assert bus_stats(agent_a.client).permission_violations == len(agent_a.errors)
    a_keys = list(await desired.items(cluster_keys(A)))  # its own: readable
    assert a_keys and all(k.startswith(A.token) for k in a_keys)


async def test_agent_a_writes_its_own_report_and_outcome(agent_a: AsAgentA, admin: Any) -> None:
    own_report = m.envelope(
        m.EventReportSnapshot(
            cluster=A,
            event_source_name="security-probe",
            agent_instance="test",
            generation=1,
            complete=True,
        )
    )
    own_outcome = m.envelope(
        m.ApplyOutcome(cluster=A, profile_name="security-probe", generation=1, status="Provisioned")
    )
    for spec, cls, message in (
        (streams.REPORTS, m.EventReportEvent, own_report),
        (streams.OUTCOMES, m.ApplyOutcomeEvent, own_outcome),
    ):
        store = await agent_a.store(spec, cls)
        assert await store.put(message) > 0
        assert await (await KVStore.open(admin, spec, cls)).get(message.subject) == message
        await store.delete(message.subject)
    assert agent_a.errors == []
    assert bus_stats(agent_a.client).permission_violations == 0


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
