"""A bucket replicated on a 3-node JetStream cluster (R3, as ``--stream-replicas 3``
provisions it) through kill -9 of its nodes: writes and reads go on (the client fails over
to another server, a refused or unanswered write is retried), a watch resumes after the
last revision it delivered (nothing lost, nothing delivered twice), and a restarted node
catches up. Real nats-servers (:class:`shared.bus.cluster.EmbeddedNatsCluster`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from shared.bus.binding import handle
from shared.bus.client import bus_stats, close, connect
from shared.bus.cluster import EmbeddedNatsCluster
from shared.bus.embedded import EmbeddedNats
from shared.bus.provision import MAX_CONSUMERS, bucket_stream_config, ensure
from shared.bus.watch import FilteredWatcher
from shared.contract import streams
from shared.contract.streams import BUCKETS, STREAMS, BucketSpec

SPEC = BucketSpec(
    bucket="ripple-clustertest",
    key_format="<key>",
    description="a test bucket",
    writers="the test",
    readers="the test",
    key_tokens=None,
)
KEYS = 40


@dataclass
class Traffic:
    """A writer putting ``k<i % KEYS> = i`` (each put retried until acknowledged) and a
    watcher keeping the latest value per key and every revision it delivered."""

    kv: Any
    watcher: FilteredWatcher
    written: dict[str, bytes] = field(default_factory=dict)
    seen: dict[str, bytes] = field(default_factory=dict)
    revisions: list[int] = field(default_factory=list)
    retried: int = 0
    count: int = 0

    async def write(self, n: int) -> None:
        for _ in range(n):
            key, value = f"k{self.count % KEYS}", str(self.count).encode()
            while True:
                try:
                    await self.kv.put(key, value)
                    break
                except Exception:  # no responders, timeouts, a leader election: retry
                    self.retried += 1
                    await asyncio.sleep(0.05)
            self.written[key] = value
            self.count += 1

    async def watch(self) -> None:
        while True:
            entry = await self.watcher.next()
            if entry.op == "put":
                self.seen[entry.key] = entry.value
                self.revisions.append(entry.revision)

    async def converged(self, timeout: float = 30.0) -> float:
        """Seconds until the watcher's view equals what was written."""
        start = time.monotonic()
        while self.seen != self.written:
            assert time.monotonic() - start < timeout, (
                f"watch did not converge: {len(self.written)} keys written, "
                f"{sum(self.seen.get(k) == v for k, v in self.written.items())} seen"
            )
            await asyncio.sleep(0.02)
        return time.monotonic() - start

    def check_no_replay(self) -> None:
        """Each revision delivered once, in order (nothing replayed as new)."""
        assert self.revisions == sorted(set(self.revisions))


@pytest.fixture
async def client(nats_cluster: EmbeddedNatsCluster) -> AsyncIterator[Client]:
    nc = await connect(nats_cluster.urls, "pytest cluster", reconnect_time_wait=0.2)
    try:
        yield nc
    finally:
        await close(nc)


async def _traffic(nc: Client) -> tuple[Traffic, asyncio.Task[None]]:
    js = nc.jetstream(timeout=2.0)
    await js.add_stream(bucket_stream_config(SPEC, "file", replicas=3))
    watcher = await FilteredWatcher(
        nc, SPEC.bucket, SPEC.stream_name, ">", last_per_subject=False
    ).start()
    traffic = Traffic(handle(js, SPEC), watcher)
    return traffic, asyncio.create_task(traffic.watch())


async def _leader(nc: Client, stream: str) -> str:
    """The server name of ``stream``'s leader (``STREAM.INFO`` ``cluster.leader``), once it
    has one."""
    js = nc.jetstream(timeout=2.0)
    deadline = time.monotonic() + 20
    while True:
        try:
            info = await js.stream_info(stream)
            if info.cluster is not None and info.cluster.leader:
                return str(info.cluster.leader)
        except Exception:  # an election under way
            pass
        assert time.monotonic() < deadline, f"{stream} has no leader"
        await asyncio.sleep(0.1)


async def _caught_up(nc: Client, stream: str, node: EmbeddedNats) -> None:
    """Wait until ``node`` is a current replica of ``stream`` again (or its leader)."""
    js = nc.jetstream(timeout=2.0)
    deadline = time.monotonic() + 30
    while True:
        try:
            info = await js.stream_info(stream)
            cluster = info.cluster
            if cluster is not None and (
                cluster.leader == node.server_name
                or any(p.name == node.server_name and p.current for p in cluster.replicas or [])
            ):
                return
        except Exception:
            pass
        assert time.monotonic() < deadline, f"{node.server_name} did not catch up on {stream}"
        await asyncio.sleep(0.1)


async def _kill_and_converge(nc: Client, traffic: Traffic, victim: EmbeddedNats) -> float:
    """kill -9 ``victim`` while writing, restart it, and check it catches up; the seconds
    from the kill until the watch showed every write made meanwhile."""
    await traffic.write(20)
    start = time.monotonic()
    victim.kill()
    await traffic.write(60)  # each put retried until a leader acknowledges it
    await traffic.converged()
    elapsed = time.monotonic() - start
    await asyncio.to_thread(victim.start)
    await traffic.write(20)
    await _caught_up(nc, SPEC.stream_name, victim)
    await traffic.converged()
    traffic.check_no_replay()
    return elapsed


def _connected(cluster: EmbeddedNatsCluster, nc: Client) -> EmbeddedNats:
    url = nc.connected_url
    assert url is not None
    return next(n for n in cluster.nodes if n.port == url.port)


async def test_kill_9_of_the_stream_leader(
    nats_cluster: EmbeddedNatsCluster, client: Client
) -> None:
    traffic, task = await _traffic(client)
    try:
        leader = nats_cluster.node_named(await _leader(client, SPEC.stream_name))
        elapsed = await _kill_and_converge(client, traffic, leader)
    finally:
        task.cancel()
        await traffic.watcher.stop()
    assert traffic.count == 100 and traffic.seen == traffic.written
    assert elapsed < 30  # a new leader in 4 to 9 s (raft timeouts), then the watch resumes


@pytest.mark.scale
async def test_kill_9_of_every_node_in_turn_then_of_the_connected_one(
    nats_cluster: EmbeddedNatsCluster, client: Client
) -> None:
    traffic, task = await _traffic(client)
    times = []
    try:
        for node in [*nats_cluster.nodes, _connected(nats_cluster, client)]:
            times.append(await _kill_and_converge(client, traffic, node))
    finally:
        task.cancel()
        await traffic.watcher.stop()
    assert traffic.count == 400 and traffic.seen == traffic.written
    print(f"converged after each kill in {[round(t, 2) for t in times]} s")


async def test_provision_r3_updates_r1_streams(
    nats_cluster: EmbeddedNatsCluster, client: Client
) -> None:
    js = client.jetstream(timeout=5.0)
    await ensure(js, "memory")  # R1, as a manager without --stream-replicas creates them
    await ensure(js, "memory", replicas=3)
    names = [s.name for s in STREAMS] + [b.stream_name for b in BUCKETS]
    for name in names:
        info = await js.stream_info(name)
        assert info.config.num_replicas == 3, name
    await ensure(js, "memory")  # unset: an existing stream keeps its replicas
    assert (await js.stream_info(names[0])).config.num_replicas == 3


async def test_credentials_in_the_url_survive_a_failover(tmp_path: Path) -> None:
    """A tool given ``nats://user:password@<one node>`` fails over to a server the cluster
    advertised, whose URL comes without credentials: they are the connection's, not one
    URL's (before, that failover was refused: authorization violation)."""
    users = 'authorization { users: [ { user: "tool", password: "s3cret" } ] }'
    with EmbeddedNatsCluster(3, tmp_path / "secured", extra_config=users) as cluster:
        first = cluster.nodes[0]
        url = first.url.replace("nats://", "nats://tool:s3cret@")
        nc = await connect(url, "pytest tool", reconnect_time_wait=0.1)
        try:
            assert len(nc.servers) == 3  # the two others, learnt from the cluster
            first.kill()
            deadline = time.monotonic() + 15
            while not (nc.is_connected and _connected_port(nc) != first.port):
                assert time.monotonic() < deadline, f"no failover: {bus_stats(nc)}"
                await asyncio.sleep(0.05)
            await nc.flush(timeout=2)
            assert bus_stats(nc).authorization_violations == 0
        finally:
            await close(nc)


def _connected_port(nc: Client) -> int | None:
    url = nc.connected_url
    return url.port if url is not None else None


async def test_a_bucket_takes_more_than_1000_watches(nats_client: Client) -> None:
    """One watch per cluster and bucket: 1,000 clusters need more consumers on a stream than
    nats-server 2.15 allows a stream that sets no limit (1,000). A stream provisioned by an
    earlier version (no limit) is updated."""
    js = nats_client.jetstream(timeout=10.0)
    old = bucket_stream_config(streams.DESIRED, "memory")
    old.max_consumers = -1
    await js.add_stream(old)
    await ensure(js, "memory")
    info = await js.stream_info(streams.DESIRED.stream_name)
    assert info.config.max_consumers == MAX_CONSUMERS
    watchers = []
    try:
        for i in range(1001):
            watcher = FilteredWatcher(
                nats_client, streams.DESIRED.bucket, streams.DESIRED.stream_name, f"ns.c{i}.>"
            )
            watchers.append(await watcher.start())
    finally:
        for watcher in watchers:
            await watcher.stop()
    assert len(watchers) == 1001


@pytest.mark.scale
async def test_3000_watches_on_one_connection_resume_after_a_kill_9(
    nats_server: EmbeddedNats,
) -> None:
    """An agent host's connection (1,000 clusters, a few watches each) through kill -9 and
    restart of nats-server: every watch resumes and sees the next write, with one reset
    each (no storm of retried creations)."""
    count = 3000
    nc = await connect(nats_server.url, "pytest host", reconnect_time_wait=0.2)
    js = nc.jetstream(timeout=5.0)
    await js.add_stream(bucket_stream_config(SPEC, "file"))
    kv = handle(js, SPEC)
    watchers = [
        await FilteredWatcher(nc, SPEC.bucket, SPEC.stream_name, f"c{i}.>").start()
        for i in range(count)
    ]
    seen: dict[int, bytes] = {}

    async def follow(i: int, watcher: FilteredWatcher) -> None:
        while True:
            entry = await watcher.next()
            if entry.op == "put":
                seen[i] = entry.value

    tasks = [asyncio.create_task(follow(i, w)) for i, w in enumerate(watchers)]
    try:
        start = time.monotonic()
        await asyncio.to_thread(nats_server.kill)
        await asyncio.to_thread(nats_server.start)
        for i in range(count):
            while True:
                try:
                    await kv.put(f"c{i}.x", b"after")
                    break
                except Exception:  # reconnecting
                    await asyncio.sleep(0.1)
        while sum(v == b"after" for v in seen.values()) < count:
            assert time.monotonic() - start < 90, f"{len(seen)} of {count} watches resumed"
            await asyncio.sleep(0.1)
        elapsed = time.monotonic() - start
    finally:
        for task in tasks:
            task.cancel()
        for watcher in watchers:
            await watcher.stop()
        await close(nc)
    resets = sum(w.resets for w in watchers)
    assert count <= resets <= 2 * count  # one each (two when heartbeats were missed first)
    print(f"{count} watches resumed in {elapsed:.1f} s ({resets} resets)")
