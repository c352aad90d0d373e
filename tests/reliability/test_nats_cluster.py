"""Issue 17 item 5: Ripple on a 3-node JetStream cluster (``Stack(nats_cluster=3)``: three
nats-servers, the streams and buckets R3, every service given the three URLs). Under churn,
kill -9 of one node, then of the leader of ``ripple-matches``' stream, then of
``ripple-desired``'s: every service rides through (reconnects to another node, watches
resume, publications retried) and the deployed state converges to the expected one -- zero
lost, zero duplicate (one desired profile per event), zero orphan -- with no service exiting.
The time from the kill to convergence is measured and printed. (Its own stack.)"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from services.scenario.stack import Stack
from shared.bus.client import EventStream
from shared.bus.embedded import EmbeddedNats
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
    policies,
    policy_set,
    service,
    services,
)

CLUSTER = "default/cluster-ncluster"
REF = ClusterRef(namespace="default", name="cluster-ncluster")
TRIGGER_LABEL = "eventtrigger.lib.projectsveltos.io/eventtriggername"


@pytest.fixture(scope="module")
def cstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(
        fleet_of(("ncluster",)),
        None,
        state_dir=tmp_path_factory.mktemp("ncluster"),
        ready_timeout=60,
        nats_cluster=3,
    )
    try:
        with stack:
            yield stack
    finally:
        stack._stop_nats()  # every node (Stack.stop stops the first)


@pytest.fixture(scope="module")
def cbus(cstack: Stack) -> Iterator[SyncNats]:
    client = SyncNats(cstack.nats_url)
    yield client
    client.close()


def leader(stack: Stack, bus: SyncNats, stream: str) -> EmbeddedNats:
    """The node leading ``stream`` (``STREAM.INFO``'s ``cluster.leader``), once elected."""
    assert stack.nats_nodes is not None
    js = bus.nc.jetstream(timeout=2.0)
    found: list[str] = []

    def elected() -> bool:
        try:
            info = bus.run(js.stream_info(stream))
        except Exception:  # an election under way
            return False
        found[:] = [info.cluster.leader] if info.cluster and info.cluster.leader else []
        return bool(found)

    eventually(elected, 30, interval=0.1, what=f"a leader of {stream}")
    return stack.nats_nodes.node_named(found[0])


def replicas(bus: SyncNats, stream: str) -> int:
    info = bus.run(bus.nc.jetstream(timeout=5.0).stream_info(stream))
    return int(info.config.num_replicas)


def event_ids(bus: SyncNats, source: str) -> list[str]:
    """The ids of every event of EventSource ``source`` stored in ``RIPPLE_EVENTS``."""

    async def read() -> list[str]:
        ids: list[str] = []
        async with EventStream(bus.nc.jetstream(), subjects.events_wildcard(REF, source)) as s:
            while True:
                try:
                    ids.append((await s.next(timeout=1.0)).id)
                except TimeoutError:
                    return ids

    result: list[str] = bus.run(read())
    return result


def churn_through_a_kill(
    stack: Stack, bus: SyncNats, name: str, victim: EmbeddedNats
) -> tuple[float, int]:
    """Services created and deleted while ``victim`` is killed -9 and (later) restarted;
    returns the seconds from the kill until the state converged and the number of events (policies, desired
    profiles, EventReport), asserting zero lost, duplicate or orphan and no service exit."""
    label = f"{name}-svc"
    stack.apply_management(policy_set(name, "ncluster", label))
    client = stack.client(CLUSTER)
    client.apply(service(f"{name}-seed", label))
    equal_eventually(lambda: policies(client, name), {f"{name}-{name}-seed"}, 20, what="seed")
    killed_at = 0.0
    for i in range(24):
        client.apply(service(f"{name}-{i}", label))
        if i % 3 == 2:
            client.delete(SERVICE, "default", f"{name}-{i - 1}")
        if i == 6:
            killed_at = time.monotonic()
            victim.kill()
    expected = expected_policies(client, label, name)
    eventually(lambda: policies(client, name) == expected, 60, interval=0.1, what="policies")

    def desired() -> int:
        items = bus.kv_items(streams.DESIRED, m.DesiredStateEvent, subjects.cluster_keys(REF))
        return sum(1 for e in items.values() if e.data.labels.get(TRIGGER_LABEL) == name)

    equal_eventually(desired, len(expected), 30, what="desired profiles (one per event)")

    def reported() -> set[str]:
        obj = stack.management.get(EVENT_REPORT, "default", f"sveltos--{name}--cluster-ncluster")
        return set() if obj is None else {r["name"] for r in obj["spec"]["matchingResources"]}

    equal_eventually(reported, services(client, label), 30, what="EventReport")
    elapsed = time.monotonic() - killed_at
    ids = event_ids(bus, name)  # a publication retried across the kill is stored once
    assert ids and len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicate events"
    victim.start()  # the node comes back with its store and catches up
    assert stack.nats_nodes is not None
    stack.nats_nodes.wait_healthy([victim])
    assert not stack.dead_processes(), [p.name for p in stack.dead_processes()]
    assert policies(client, name) == expected
    return elapsed, len(ids)


def test_streams_are_replicated_on_three_nodes(cstack: Stack, cbus: SyncNats) -> None:
    assert cstack.nats_nodes is not None and len(cstack.nats_nodes.nodes) == 3
    assert cstack.nats_server_url.count(",") == 2  # every service is given the three URLs
    for stream in (streams.MATCHES.stream_name, streams.DESIRED.stream_name, "RIPPLE_EVENTS"):
        assert replicas(cbus, stream) == 3, stream


def test_kill_9_of_one_node_during_churn(cstack: Stack, cbus: SyncNats) -> None:
    """A node that leads neither ripple-matches nor ripple-desired (the fast case)."""
    busy = {
        leader(cstack, cbus, streams.MATCHES.stream_name).server_name,
        leader(cstack, cbus, streams.DESIRED.stream_name).server_name,
    }
    assert cstack.nats_nodes is not None
    victim = next(
        (n for n in cstack.nats_nodes.nodes if n.server_name not in busy),
        cstack.nats_nodes.nodes[-1],
    )
    elapsed, events = churn_through_a_kill(cstack, cbus, "nc-node", victim)
    print(f"kill -9 of {victim.server_name}: converged in {elapsed:.2f} s ({events} events)")


@pytest.mark.scale
@pytest.mark.parametrize("bucket", [streams.MATCHES, streams.DESIRED], ids=lambda b: b.bucket)
def test_kill_9_of_the_stream_leader_during_churn(
    cstack: Stack, cbus: SyncNats, bucket: streams.BucketSpec
) -> None:
    victim = leader(cstack, cbus, bucket.stream_name)
    name = f"nc-{bucket.bucket.removeprefix('ripple-')}"
    elapsed, events = churn_through_a_kill(cstack, cbus, name, victim)
    print(
        f"kill -9 of {victim.server_name}, leader of {bucket.stream_name}: "
        f"converged in {elapsed:.2f} s ({events} events)"
    )
