"""The shells of manager shards on a real nats-server: membership in ``ripple-shards`` (join,
clean leave at once, a silent member gone after ttl by the observer's clock) and the sharded
``ripple-matches`` input (only owned clusters applied; a cluster adopted is fed what was kept,
one handed over is forgotten)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from services.manager.membership import Membership, ensure_bucket
from services.manager.model import ClusterKey
from services.manager.sharding import Member, MemberInfo, Sharding, rendezvous
from services.manager.shardinputs import ShardedMatches
from services.manager.stores import Stores
from shared.bus import provision
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.subjects import ClusterRef

TTL = 0.9


async def until(probe: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        assert time.monotonic() < deadline, f"{what} did not hold within {timeout} s"
        await asyncio.sleep(0.02)
    return value


@pytest.fixture
async def tasks() -> AsyncIterator[list[asyncio.Task[Any]]]:
    running: list[asyncio.Task[Any]] = []
    yield running
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


async def test_members_join_leave_cleanly_at_once_and_a_silent_one_expires(
    nats_client: Any, jetstream: Any, tasks: list[asyncio.Task[Any]]
) -> None:
    await ensure_bucket(jetstream, "memory")
    seen: dict[str, list[tuple[str, ...]]] = {"a": [], "b": []}

    def member(name: str) -> Membership:
        async def submit(members: tuple[Member, ...]) -> None:
            seen[name].append(tuple(x.id for x in members))

        return Membership(nats_client, "g", Member(name), TTL, submit)

    a = asyncio.create_task(member("a").run())
    b = asyncio.create_task(member("b").run())
    tasks.extend([a, b])
    await until(lambda: seen["a"][-1:] == [("a", "b")] and seen["b"][-1:] == [("a", "b")],
                what="both see both")  # fmt: skip
    b.cancel()  # a clean stop deletes its key: gone at once, well before the ttl
    stopped = time.monotonic()
    await until(lambda: seen["a"][-1:] == [("a",)], what="b left")
    assert time.monotonic() - stopped < TTL

    kv = await jetstream.key_value(streams.SHARDS.bucket)
    await kv.put("g.ghost", MemberInfo(member="ghost").model_dump_json().encode())
    await until(lambda: seen["a"][-1:] == [("a", "ghost")], what="ghost seen")
    appeared = time.monotonic()
    await until(lambda: seen["a"][-1:] == [("a",)], what="ghost expired")
    assert time.monotonic() - appeared >= TTL * 0.9  # never renewed: gone after the ttl


REFS = [ClusterRef(namespace="default", name=f"c{i}") for i in range(6)]
KEYS = [ClusterKey("default", f"c{i}", "sveltos") for i in range(6)]


async def put_set(stores: Stores, ref: ClusterRef, names: list[str]) -> int:
    """Entries, then their head (as an agent writes them); the head's revision."""
    for name in names:
        match = m.Match(cluster=ref, event_source_name="svc",
                        ref=m.ObjectRef(api_version="v1", kind="Service", namespace="default",
                                        name=name))  # fmt: skip
        await stores.matches.put(m.envelope(match))
    head = m.MatchHead(cluster=ref, event_source_name="svc", agent_instance="i", generation=1,
                       complete=True)  # fmt: skip
    return await stores.matches.put(m.envelope(head))


def clusters_of(changes: list[tuple[str, Any]]) -> set[str]:
    out = set()
    for source, change in changes:
        if source == "match" and change.op == "put":
            out.add(subjects.parse_match_key(change.key).cluster.name)
    return out


async def test_a_shard_applies_only_its_clusters_and_regroups_when_members_change(
    jetstream: Any, tasks: list[asyncio.Task[Any]]
) -> None:
    await provision.ensure(jetstream, "memory")
    stores = await Stores.open(jetstream)
    for ref in REFS:
        await put_set(stores, ref, ["s1", "s2"])
    shard = Sharding(Member("a"))
    got: list[tuple[str, Any]] = []

    async def submit(source: str, item: Any) -> None:
        got.append((source, item))

    fed = ShardedMatches(stores.matches, shard, submit)
    tasks.append(asyncio.create_task(fed.run()))
    await until(lambda: any(c.op == "synced" for s, c in got if s == "match"), what="synced")
    assert clusters_of(got) == set()  # membership unknown: nothing applied, all kept

    shard.set_members([Member("a"), Member("b")])
    fed.wake.set()
    mine = {k.name for k in KEYS if rendezvous(["a", "b"], f"sveltos:default/{k.name}") == "a"}
    assert 0 < len(mine) < 6
    await until(lambda: clusters_of(got) == mine, what="owned clusters fed")
    assert sum(1 for s, c in got if s == "match" and c.op == "put") == 3 * len(mine)

    got.clear()  # b leaves: a adopts the others from what it kept, without re-reading
    shard.set_members([Member("a")])
    fed.wake.set()
    await until(lambda: clusters_of(got) == {k.name for k in KEYS} - mine, what="adopted")
    last = await put_set(stores, REFS[0], ["s3"])  # a live change of an owned cluster
    await until(lambda: any(c.revision == last for s, c in got if s == "match"), what="s3")
    assert any(c.key.endswith(".s3") for s, c in got if s == "match")

    got.clear()  # c joins: what it takes is forgotten here (its sets unknown, nothing else)
    shard.set_members([Member("a"), Member("c")])
    fed.wake.set()
    theirs = {k for k in KEYS if rendezvous(["a", "c"], f"sveltos:default/{k.name}") == "c"}
    await until(lambda: {i for s, i in got if s == "forget-cluster"} == theirs, what="forgotten")
    assert not clusters_of(got)
