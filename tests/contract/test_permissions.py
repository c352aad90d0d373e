"""Per-cluster credentials: an agent writes only its own cluster's subjects and keys and
reads only its own desired state; a spoofed identity is rejected by the server (and counted).
The reporter reads what it mirrors and writes nothing; the manager provisions everything."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client

from shared.bus import provision
from shared.bus.client import bus_stats, connect, publish_change
from shared.bus.embedded import EmbeddedNats
from shared.bus.errors import BusError
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.contract import permissions as p
from shared.contract import streams
from shared.contract.examples import CLUSTER, examples
from shared.contract.subjects import ClusterRef, cluster_keys
from tests.paths import REPO

B = ClusterRef(namespace="default", name="b")


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[tuple[Client, Client, list[str]]]:
    users = [
        p.User("manager", "m-secret", p.manager_permissions()),
        p.User("reporter", "r-secret", p.reporter_permissions()),
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
            await provision.ensure(manager.jetstream(), storage="memory")
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
    assert bus_stats(agent).permission_violations >= 1
    assert "ripple-reports.default.sveltos--b" in bus_stats(agent).last_permission_violation
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
    assert strict.subscribe == (
        "_INBOX.default.capi--prod_2Eeu-1.>",
        "ripple.v1.cloudevents.default.capi--prod_2Eeu-1.>",
    )
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


async def test_agent_can_do_what_the_agent_service_does(
    secured: tuple[Client, Client, list[str]],
) -> None:
    """Every NATS operation of services/agent/service.py, as the agent's own user."""
    manager, agent, errors = secured
    mjs = manager.jetstream()
    for index, spec, cls in (
        (4, streams.ASSIGNMENTS, m.AssignmentEvent),
        (5, streams.DESIRED, m.DesiredStateEvent),
        (6, streams.OUTCOMES, m.ApplyOutcomeEvent),
    ):
        mstore: KVStore[Any] = await KVStore.open(mjs, spec, cls)
        await mstore.put(examples()[index])
        await mstore.put(_for_b(examples()[index]))  # another cluster's: never seen
    ajs = agent.jetstream(timeout=2)
    assignments = await KVStore.open(ajs, streams.ASSIGNMENTS, m.AssignmentEvent)
    reports = await KVStore.open(ajs, streams.REPORTS, m.EventReportEvent)
    desired = await KVStore.open(ajs, streams.DESIRED, m.DesiredStateEvent)
    outcomes = await KVStore.open(ajs, streams.OUTCOMES, m.ApplyOutcomeEvent)
    agents = await KVStore.open(ajs, streams.AGENTS, m.AgentStatusEvent)
    own = cluster_keys(CLUSTER)
    assert list(await outcomes.items(own)) == [examples()[6].subject]  # _load_outcomes
    assert await agents.put(examples()[7])  # _status
    for store, index in ((assignments, 4), (desired, 5)):  # _watch_assignments/_desired
        async with store.watch(own) as watch, asyncio.timeout(5):
            seen = [c async for c in _until_synced(watch)]
        assert [c.key for c in seen] == [examples()[index].subject, ""]
    assert await reports.get(examples()[0].subject) is None  # previous snapshot
    await reports.put_until_done(examples()[0])  # type: ignore[arg-type]
    assert await reports.get(examples()[0].subject) == examples()[0]
    await reports.delete_until_done(examples()[0].subject)
    await outcomes.put_until_done(examples()[6])  # type: ignore[arg-type]
    await outcomes.delete_until_done(examples()[6].subject)
    await publish_change(ajs, examples()[1].data)  # type: ignore[arg-type]
    received: asyncio.Queue[str] = asyncio.Queue()

    async def on_cloud_event(msg: Any) -> None:
        received.put_nowait(msg.subject)

    await agent.subscribe(p.cloudevents_subject(CLUSTER), cb=on_cloud_event)
    await agent.flush()
    subject = p.cloudevents_subject(CLUSTER).replace(">", "app.created")
    await manager.publish(subject, b"{}")
    await manager.flush()
    async with asyncio.timeout(10):
        assert await received.get() == subject
    await agent.flush()
    assert errors == []
    assert bus_stats(agent).permission_violations == 0


@pytest.fixture
async def reporter(
    secured: tuple[Client, Client, list[str]],
) -> AsyncIterator[tuple[Client, list[str]]]:
    manager, _, _ = secured
    errors: list[str] = []

    async def error_cb(err: Exception) -> None:
        errors.append(str(err))

    url = f"nats://127.0.0.1:{manager.connected_url.port}"  # type: ignore[union-attr]
    client = await connect(
        url,
        "reporter",
        user="reporter",
        password="r-secret",
        inbox_prefix=p.REPORTER_INBOX_PREFIX,
        error_cb=error_cb,
        max_reconnect_attempts=0,
    )
    try:
        yield client, errors
    finally:
        await client.close()


async def test_reporter_reads_what_it_mirrors_and_writes_nothing(
    secured: tuple[Client, Client, list[str]], reporter: tuple[Client, list[str]]
) -> None:
    manager, _, _ = secured
    client, errors = reporter
    mjs, rjs = manager.jetstream(), client.jetstream(timeout=1)
    refused = []
    for index, spec, cls in (
        (0, streams.REPORTS, m.EventReportEvent),
        (6, streams.OUTCOMES, m.ApplyOutcomeEvent),
        (7, streams.AGENTS, m.AgentStatusEvent),
        (8, streams.PROFILES, m.ProfileEvent),
        (9, streams.STATUS, m.DefinitionStatusEvent),
    ):
        await (await KVStore.open(mjs, spec, cls)).put(examples()[index])
        store: KVStore[Any] = await KVStore.open(rjs, spec, cls)
        assert await store.get(examples()[index].subject) == examples()[index]
        assert list(await store.items()) == [examples()[index].subject]
        refused.append(_refused_put(store, examples()[index]))
    await asyncio.gather(*refused)  # concurrently: each waits for its timeout
    kv = await rjs.key_value(streams.REPORTS.bucket)  # nats-py's own watch works too
    watcher = await kv.watchall()
    async with asyncio.timeout(5):
        entry = await watcher.updates(timeout=5)
    assert entry is not None and entry.key == examples()[0].subject
    await watcher.stop()
    await client.flush()
    assert len(errors) == bus_stats(client).permission_violations == 5  # the five puts
    assert all("permissions violation for publish to" in e.lower() for e in errors)
    with pytest.raises(Exception):  # noqa: B017 - a refused request times out
        await KVStore.open(rjs, streams.DESIRED, m.DesiredStateEvent)
    await client.subscribe("_INBOX.>")  # replies to others are not readable
    await client.subscribe(streams.EVENTS.subjects[0])
    await client.flush()
    async with asyncio.timeout(5):
        while bus_stats(client).permission_violations < 8:
            await asyncio.sleep(0.01)
    assert sum("for subscription to" in e.lower() for e in errors) == 2


async def _refused_put(store: KVStore[Any], message: m.Envelope) -> None:
    with pytest.raises(BusError, match="put failed"):
        await store.put(message)


def test_manager_and_admin_may_do_everything() -> None:
    assert p.manager_permissions() == p.Permissions(publish=(">",), subscribe=(">",))
    assert p.manager_permissions() == p.ADMIN_PERMISSIONS
    reporter = p.reporter_permissions()
    assert reporter.subscribe == ("_INBOX.REPORTER.>",)
    assert not any(s.startswith(("$KV.", "ripple.")) for s in reporter.publish)
    assert not any("ripple-desired" in s or "ripple-assignments" in s for s in reporter.publish)
    assert p.agent_user(CLUSTER) == "agent-default.capi--prod_2Eeu-1"


def test_documented_reporter_template_is_generated() -> None:
    block = p.authorization_block([p.User("reporter", "change-me-three", p.reporter_permissions())])
    assert block in (REPO / "docs" / "nats-contract.md").read_text()
