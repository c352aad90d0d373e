"""Per-cluster credentials: an agent writes only its own cluster's subjects and keys and
reads only its own desired state; a spoofed identity is rejected by the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from shared.bus.client import connect, publish_change
from shared.bus.embedded import EmbeddedNats
from shared.bus.errors import BusError
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.contract import permissions as p
from shared.contract import streams
from shared.contract.examples import CLUSTER, examples
from shared.contract.subjects import ClusterRef, cluster_keys

B = ClusterRef(namespace="default", name="b")


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[tuple[Client, Client, list[str]]]:
    users = [
        p.User("manager", "m-secret"),
        p.User("agent-a", "a-secret", p.agent_permissions(CLUSTER)),
        p.User("agent-b", "b-secret", p.agent_permissions(B)),
    ]
    errors: list[str] = []

    async def error_cb(err: Exception) -> None:
        errors.append(str(err))

    async with EmbeddedNats(tmp_path / "nats", extra_config=p.authorization_block(users)) as srv:
        manager = await connect(srv.url, "manager", user="manager", password="m-secret")
        agent = await connect(
            srv.url,
            "agent-a",
            user="agent-a",
            password="a-secret",
            inbox_prefix=p.agent_inbox_prefix(CLUSTER),
            error_cb=error_cb,
            max_reconnect_attempts=0,
        )
        try:
            await streams.ensure(manager.jetstream(), storage="memory")
            yield manager, agent, errors
        finally:
            await agent.close()
            await manager.close()


def _for_b(message: m.Envelope) -> m.Envelope:
    return m.envelope(message.data.model_copy(update={"cluster": B}))  # type: ignore[attr-defined]


async def test_agent_writes_its_own_keys_and_events(
    secured: tuple[Client, Client, list[str]],
) -> None:
    manager, agent, errors = secured
    ajs = agent.jetstream(timeout=2)
    for spec, cls, index in (
        (streams.REPORTS, m.EventReportEvent, 0),
        (streams.OUTCOMES, m.ApplyOutcomeEvent, 6),
        (streams.AGENTS, m.AgentStatusEvent, 7),
    ):
        store: KVStore[Any] = await KVStore.open(ajs, spec, cls)
        await store.put(examples()[index])
        reader: KVStore[Any] = await KVStore.open(manager.jetstream(), spec, cls)
        assert await reader.get(m.message_key(examples()[index])) == examples()[index]
    ack = await publish_change(ajs, examples()[1].data)  # type: ignore[arg-type]
    assert ack.seq == 1
    assert errors == []


async def test_spoofed_cluster_identity_is_rejected(
    secured: tuple[Client, Client, list[str]],
) -> None:
    manager, agent, errors = secured
    ajs = agent.jetstream(timeout=1)
    reports = await KVStore.open(ajs, streams.REPORTS, m.EventReportEvent)
    spoofed = _for_b(examples()[0])
    with pytest.raises(BusError, match="put failed"):
        await reports.put(spoofed)  # type: ignore[arg-type]
    async with asyncio.timeout(5):
        while not any("permissions violation" in e.lower() for e in errors):
            await asyncio.sleep(0.01)
    assert "ripple-reports.default.sveltos--b" in " ".join(errors).lower()
    mreports = await KVStore.open(manager.jetstream(), streams.REPORTS, m.EventReportEvent)
    assert await mreports.get(spoofed.subject) is None
    with pytest.raises(Exception):  # noqa: B017 - nats-py times out on a denied publish
        await ajs.publish(_for_b(examples()[1]).subject, m.encode(_for_b(examples()[1])), timeout=1)
    assert (await manager.jetstream().stream_info("RIPPLE_EVENTS")).state.messages == 0


async def test_agent_reads_only_its_own_desired_state(
    secured: tuple[Client, Client, list[str]],
) -> None:
    manager, agent, _ = secured
    mdesired = await KVStore.open(manager.jetstream(), streams.DESIRED, m.DesiredStateEvent)
    own, other = examples()[5], _for_b(examples()[5])
    await mdesired.put(own)  # type: ignore[arg-type]
    await mdesired.put(other)  # type: ignore[arg-type]
    adesired = await KVStore.open(agent.jetstream(timeout=1), streams.DESIRED, m.DesiredStateEvent)
    assert await adesired.get(own.subject) == own
    with pytest.raises(BusError, match="get failed"):
        await adesired.get(other.subject)
    async with adesired.watch(cluster_keys(CLUSTER)) as watch, asyncio.timeout(5):
        seen = [c async for c in _until_synced(watch)]
    assert [(c.op, c.key) for c in seen] == [("put", own.subject), ("synced", "")]


async def _until_synced(watch: Any) -> AsyncIterator[Any]:
    async for change in watch:
        yield change
        if change.op == "synced":
            return


def test_strict_template_has_no_unfiltered_consumer_create() -> None:
    strict = p.agent_permissions(CLUSTER, watch_compat=False)
    assert not any(
        s.startswith("$JS.API.CONSUMER.CREATE.") and s.count(".") == 4 for s in strict.publish
    )
    assert "$KV.ripple-reports.default.capi--prod_2Eeu-1.>" in strict.publish
    assert strict.subscribe == ("_INBOX.default.capi--prod_2Eeu-1.>",)
    block = p.authorization_block([p.User("agent", "pw", strict)])
    assert block.startswith("authorization {") and '"user": ' not in block
    compat = p.agent_permissions(CLUSTER, watch_compat=True)
    assert "$JS.API.CONSUMER.CREATE.KV_ripple-desired" in compat.publish
    assert set(strict.publish) < set(compat.publish)


async def test_strict_agent_cannot_watch_another_clusters_keys(
    secured: tuple[Client, Client, list[str]],
) -> None:
    _, agent, _ = secured
    adesired = await KVStore.open(agent.jetstream(timeout=1), streams.DESIRED, m.DesiredStateEvent)
    with pytest.raises(BusError, match="cannot watch"):
        async with adesired.watch(cluster_keys(B), start_retry=0):
            pass
    with pytest.raises(BusError, match="cannot watch"):
        async with adesired.watch(start_retry=0):  # every key
            pass
    assert agent.is_connected
