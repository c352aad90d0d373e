"""Per-cluster credentials: an agent writes only its own cluster's subjects and keys and
reads only its own desired state; a spoofed identity is rejected by the server (and counted).
The reporter reads what it mirrors and writes nothing; the manager provisions everything."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats.errors
import pytest
from nats.aio.client import Client
from nats.js.errors import APIError

from shared.bus import provision
from shared.bus.client import (
    EventStream,
    bus_stats,
    connect,
    publish_change,
    subscribe_guarded,
)
from shared.bus.embedded import EmbeddedNats, find_binary
from shared.bus.errors import BusError
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.contract import permissions as p
from shared.contract import streams
from shared.contract.accounts import subject_covers
from shared.contract.errors import InvalidSubject
from shared.contract.examples import CLUSTER, example, examples
from shared.contract.subjects import ClusterRef, cluster_keys, event_subject, match_keys
from tests.paths import REPO

B = ClusterRef(namespace="default", name="b")
MATCHES = (m.MatchEvent, m.MatchHeadEvent)


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[tuple[Client, Client, list[str]]]:
    users = [
        p.User("manager", "m-secret", p.manager_permissions()),
        p.User("reporter", "r-secret", p.reporter_permissions()),
        p.User("agent-a", "a-secret", p.agent_permissions(CLUSTER)),
        p.User("agent-b", "b-secret", p.agent_permissions(B)),
        p.User("reader", "x-secret", p.reader_permissions()),
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
    for spec, cls in (
        (streams.REPORTS, m.EventReportEvent),
        (streams.MATCHES, m.MatchEvent),
        (streams.MATCHES, m.MatchHeadEvent),
        (streams.OUTCOMES, m.ApplyOutcomeEvent),
        (streams.AGENTS, m.AgentStatusEvent),
    ):
        store: KVStore[Any] = await KVStore.open(ajs, spec, cls)
        await store.put(example(cls))
        reader: KVStore[Any] = await KVStore.open(manager.jetstream(), spec, cls)
        assert await reader.get(m.message_key(example(cls))) == example(cls)
    ack = await publish_change(ajs, example(m.ResourceMatchedEvent).data)
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


async def test_agent_writes_and_reads_only_its_own_matching_sets(
    secured: tuple[Client, Client, list[str]],
) -> None:
    manager, agent, errors = secured
    mmatches = await KVStore.open(manager.jetstream(), streams.MATCHES, MATCHES)
    others = [_for_b(example(m.MatchEvent)), _for_b(example(m.MatchHeadEvent))]
    for other in others:
        await mmatches.put(other)
    amatches = await KVStore.open(agent.jetstream(timeout=1), streams.MATCHES, MATCHES)
    for other in others:
        with pytest.raises(BusError, match="put failed"):
            await amatches.put(other)
        with pytest.raises(BusError, match="get failed"):
            await amatches.get(other.subject)
    with pytest.raises(BusError, match="cannot watch"):
        async with amatches.watch(match_keys(B), start_retry=0):
            pass
    with pytest.raises(BusError, match="read back"):
        await _read_back(agent, event_subject(B, "https-service"))
    await agent.flush()
    refused = {s.lower() for e in errors for s in re.findall(r'publish to "([^"]+)"', e)}
    b_match = "$kv.ripple-matches.default.sveltos--b.https-service"
    for denied in (
        f"{b_match}.v1._53ervice.shop.web",  # put an entry
        b_match,  # put the head
        f"$js.api.direct.get.kv_ripple-matches.{b_match}.v1._53ervice.shop.web",
        f"$js.api.direct.get.kv_ripple-matches.{b_match}",
        "$js.api.consumer.create.kv_ripple-matches.*.$kv.ripple-matches.default.sveltos--b.>",
        "$js.api.consumer.create.ripple_events.*.ripple.v1.events.default.sveltos--b.*",
    ):
        assert any(fnmatch.fnmatchcase(s, denied) for s in refused), (denied, refused)
    assert {k: v.subject for k, v in (await mmatches.items()).items()} == {
        o.subject: o.subject for o in others
    }


async def test_a_delivery_redirected_onto_another_clusters_subject_is_refused(
    secured: tuple[Client, Client, list[str]],
) -> None:
    """nats-server does not check a push consumer's deliver subject against its creator's
    permissions (nats-io/nats-server#8274): agent A may have its own events delivered onto
    cluster B's CloudEvents subject. The delivery keeps its stored subject, which no
    CloudEvents subject overlaps: B's guarded subscription refuses and counts it, and takes
    a real CloudEvent. No stream stores such a delivery either (aimed at B's desired key)."""
    manager, agent, _ = secured
    await publish_change(agent.jetstream(timeout=2), example(m.ResourceMatchedEvent).data)
    url = f"nats://127.0.0.1:{manager.connected_url.port}"  # type: ignore[union-attr]
    agent_b = await connect(
        url, "agent-b", user="agent-b", password="b-secret", inbox_prefix=p.agent_inbox_prefix(B)
    )
    try:
        received: asyncio.Queue[str] = asyncio.Queue()
        refused: list[str] = []

        async def on_cloud_event(msg: Any) -> None:
            received.put_nowait(msg.subject)

        subject = p.cloudevents_subject(B)
        await subscribe_guarded(
            agent_b, subject, on_cloud_event, on_refused=lambda msg: refused.append(msg.subject)
        )
        literal = subject.replace(">", "injected")
        await subscribe_guarded(agent_b, literal, on_cloud_event)  # push needs literal interest
        await agent_b.flush()
        own = event_subject(CLUSTER, "https-service")
        for name, target in (("redirect", literal), ("intokv", f"$KV.ripple-desired.{B.token}.x")):
            config = {"name": name, "deliver_subject": target, "filter_subject": own}
            body = {"stream_name": "RIPPLE_EVENTS", "config": config, "action": "create"}
            reply = await agent.request(
                f"$JS.API.CONSUMER.CREATE.RIPPLE_EVENTS.{name}.{own}",
                json.dumps(body).encode(),
                timeout=2,
            )
            assert "error" not in json.loads(reply.data)  # created: filtered on its own events
        async with asyncio.timeout(5):
            while len(refused) < 1 or bus_stats(agent_b).redirected_deliveries < 2:
                await asyncio.sleep(0.01)
        assert refused == [own]  # the stored subject, not B's
        await manager.publish(subject.replace(">", "app.created"), b"{}")  # a real one
        async with asyncio.timeout(5):
            assert await received.get() == subject.replace(">", "app.created")
        assert received.empty()
        desired = await manager.jetstream().stream_info(
            streams.DESIRED.stream_name, subjects_filter=">"
        )
        assert not desired.state.subjects  # nothing stored under B's desired key
        metrics = bus_stats(agent_b).metrics()
        assert metrics["nats_redirected_deliveries_total"][2] == 2.0
    finally:
        await agent_b.close()


async def _read_back(nc: Client, subject: str) -> list[bytes]:
    """Read back the events stored on ``subject`` the way an agent does at restart (a push
    consumer created through the filtered API subject, delivering to its own inbox)."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    name = f"readback-{uuid.uuid4().hex[:8]}"
    config = {
        "name": name,
        "deliver_subject": inbox,
        "filter_subject": subject,
        "deliver_policy": "all",
        "ack_policy": "none",
        "mem_storage": True,
    }
    body = json.dumps({"stream_name": "RIPPLE_EVENTS", "config": config, "action": "create"})
    try:
        try:
            reply = await nc.request(
                f"$JS.API.CONSUMER.CREATE.RIPPLE_EVENTS.{name}.{subject}", body.encode(), timeout=1
            )
        except Exception as err:
            raise BusError(f"cannot read back {subject}: {err!r}") from err
        info = json.loads(reply.data)
        out = []
        for _ in range(info["num_pending"]):
            out.append((await sub.next_msg(timeout=5)).data)
        await nc.request(f"$JS.API.CONSUMER.DELETE.RIPPLE_EVENTS.{name}", b"", timeout=1)
        return out
    finally:
        await sub.unsubscribe()


async def test_agent_reads_only_its_own_desired_state(
    secured: tuple[Client, Client, list[str]],
) -> None:
    manager, agent, _ = secured
    mdesired = await KVStore.open(manager.jetstream(), streams.DESIRED, m.DesiredStateEvent)
    own, other = example(m.DesiredStateEvent), _for_b(example(m.DesiredStateEvent))
    await mdesired.put(own)
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
    own = "default.capi--prod_2Eeu-1"
    assert f"$KV.ripple-reports.{own}.*" in strict.publish
    assert f"$KV.ripple-matches.{own}.*.*.*.*.*" in strict.publish
    assert f"$KV.ripple-agents.{own}" in strict.publish
    assert f"ripple.v1.events.{own}.*" in strict.publish
    assert not any(s.endswith(".>") and s.startswith(("$KV.", "ripple.")) for s in strict.publish)
    for denied in ("STREAM.", "CONSUMER.INFO", "CONSUMER.LIST", "CONSUMER.NAMES"):
        assert not any(s.startswith(f"$JS.API.{denied}") for s in strict.publish), denied
    assert "$JS.API.INFO" not in strict.publish
    assert strict.subscribe == (f"_INBOX.{own}.>", f"ripple.v1.cloudevents.{own}.>")
    assert strict.account == p.agent_account(CLUSTER) == "AGENT:default/capi--prod_2Eeu-1"
    block = p.authorization_block([p.User("agent", "pw", strict)])
    assert block.startswith("accounts {") and '"user": ' not in block
    compat = p.agent_permissions(CLUSTER, watch_compat=True)
    assert "$JS.API.CONSUMER.CREATE.KV_ripple-desired" in compat.publish
    assert set(strict.publish) < set(compat.publish)


def test_extra_cloudevent_subjects_may_not_overlap_stored_subjects() -> None:
    ok = p.agent_permissions(CLUSTER, cloudevent_subjects=["sensors.>", "ripple.v1.alerts.*"])
    assert ok.subscribe[2:] == ("sensors.>", "ripple.v1.alerts.*")
    for bad in (
        ">",
        "ripple.v1.>",
        "ripple.v1.*.x.y.z",
        "$KV.ripple-desired.>",
        "_INBOX.x",
        "$JS.*",
    ):
        with pytest.raises(InvalidSubject, match="overlaps"):
            p.agent_permissions(CLUSTER, cloudevent_subjects=[bad])


def test_subject_wildcards() -> None:
    assert p.subject_matches("a.*.c", "a.b.c") and not p.subject_matches("a.*.c", "a.b.c.d")
    assert p.subject_matches("a.>", "a.b.c") and not p.subject_matches("a.>", "a")
    assert not p.subject_matches("a.b", "a.c") and p.subject_matches("a.b", "a.b")
    assert p.subjects_overlap("a.*", "*.b") and p.subjects_overlap(">", "x")
    assert not p.subjects_overlap("a.>", "a") and not p.subjects_overlap("a.*", "a.b.c")
    assert p.subjects_overlap("a.*.>", "a.b.c") and not p.subjects_overlap("a.b", "a.c")
    assert subject_covers("$KV.>", "$KV.b.k.*") and subject_covers("a.*", "a.*")
    assert not subject_covers("a.b", "a.*") and not subject_covers("a.*", "a.>")
    assert not subject_covers("a.>", "a") and subject_covers("a.*.>", "a.b.c.>")
    assert p.own_keys(streams.MATCHES, CLUSTER) == (
        "default.capi--prod_2Eeu-1.*",
        "default.capi--prod_2Eeu-1.*.*.*.*.*",
    )
    with pytest.raises(ValueError):
        p.own_keys(streams.STATUS, CLUSTER)


def test_the_generated_configuration_is_valid_for_nats_server(tmp_path: Path) -> None:
    """Every user of a deployment, with accounts, imports and exports: nats-server accepts
    it (``-t``), and the reporter and every agent have accounts of their own."""
    users = [
        p.User("admin", "x"),
        p.User("manager", "y", p.manager_permissions()),
        p.User("reporter", "z", p.reporter_permissions()),
        *(
            p.User(p.agent_user(c), "w", p.agent_permissions(c, cloudevent_subjects=["s.>"]))
            for c in (CLUSTER, B)
        ),
    ]
    block = p.authorization_block(users)
    for account in ('"RIPPLE"', '"REPORTER"', f'"{p.agent_account(B)}"'):
        assert f"  {account}: {{" in block
    assert block.count('{"service": {account: "RIPPLE", subject: "$JS.API.INFO"}}') == 3
    assert block.count('{"stream": "s.>"}') == 1  # one export, imported by both agents
    assert block.count('{"service": "$KV.>"}') == 1  # every agent's keys, one export
    conf = tmp_path / "nats.conf"
    conf.write_text(f'listen: "127.0.0.1:-1"\njetstream {{ store_dir: "{tmp_path}" }}\n{block}')
    check = subprocess.run(
        [find_binary(), "-c", str(conf), "-t"], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr


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
    for spec, cls in (
        (streams.ASSIGNMENTS, m.AssignmentEvent),
        (streams.DESIRED, m.DesiredStateEvent),
        (streams.OUTCOMES, m.ApplyOutcomeEvent),
        (streams.MATCHES, m.MatchEvent),
    ):
        mstore: KVStore[Any] = await KVStore.open(mjs, spec, cls)
        await mstore.put(example(cls))
        await mstore.put(_for_b(example(cls)))  # another cluster's: never seen
    ajs = agent.jetstream(timeout=2)
    assignments = await KVStore.open(ajs, streams.ASSIGNMENTS, m.AssignmentEvent)
    reports = await KVStore.open(ajs, streams.REPORTS, m.EventReportEvent)
    matches = await KVStore.open(ajs, streams.MATCHES, MATCHES)
    desired = await KVStore.open(ajs, streams.DESIRED, m.DesiredStateEvent)
    outcomes = await KVStore.open(ajs, streams.OUTCOMES, m.ApplyOutcomeEvent)
    agents = await KVStore.open(ajs, streams.AGENTS, m.AgentStatusEvent)
    own = cluster_keys(CLUSTER)
    outcome, match, head = (
        example(m.ApplyOutcomeEvent),
        example(m.MatchEvent),
        example(m.MatchHeadEvent),
    )
    assert list(await outcomes.items(own)) == [outcome.subject]  # its outcomes at start-up
    assert list(await matches.items(match_keys(CLUSTER))) == [match.subject]  # its entries
    assert await agents.put(example(m.AgentStatusEvent))  # its status
    for cls, store in ((m.AssignmentEvent, assignments), (m.DesiredStateEvent, desired)):
        async with store.watch(own) as watch, asyncio.timeout(5):
            seen = [c async for c in _until_synced(watch)]
        assert [c.key for c in seen] == [example(cls).subject, ""]
    report = example(m.EventReportEvent)
    assert await reports.get(report.subject) is None  # previous snapshot (deprecated bucket)
    await reports.put_until_done(report)
    assert await reports.get(report.subject) == report
    await reports.delete_until_done(report.subject)
    await outcomes.put_until_done(outcome)
    await outcomes.delete_until_done(outcome.subject)
    # a change: the per-change event first, then the entry; the head after the entries
    change = example(m.ResourceUpdatedEvent)
    await publish_change(ajs, change.data)
    await matches.put_until_done(match.model_copy(update={"id": "second"}))
    await matches.put_until_done(head)
    assert await matches.get(head.subject) == head
    await matches.delete_until_done(match.subject)  # stopped matching
    assert await matches.get(match.subject) is None
    # a restarted agent reads back its own events
    stored = await _read_back(agent, event_subject(CLUSTER, "https-service"))
    assert [m.decode(raw).id for raw in stored] == [change.id]
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


async def test_an_agents_watch_answers_flow_control_across_accounts(
    secured: tuple[Client, Client, list[str]],
) -> None:
    """24 MB of its own outcomes: the server asks the watch for flow control (through the
    stream import of its inbox), and the answers go back through its own imports."""
    _, agent, errors = secured
    outcomes = await KVStore.open(agent.jetstream(timeout=5), streams.OUTCOMES, m.ApplyOutcomeEvent)
    base = example(m.ApplyOutcomeEvent).data
    for i in range(80):
        data = base.model_copy(update={"profile_name": f"p{i}", "message": "x" * 300_000})
        await outcomes.put(m.envelope(data))
    async with asyncio.timeout(10):
        assert len(await outcomes.items(cluster_keys(CLUSTER))) == 80
    await agent.flush()
    assert errors == [] and bus_stats(agent).permission_violations == 0


async def test_no_stream_takes_a_rollup_and_ensure_turns_them_off(nats_client: Client) -> None:
    """A rollup on an agent's own key would erase the bucket's every key (``all``): every
    stream refuses them, also one created by an earlier release (rollups allowed then)."""
    js = nats_client.jetstream()
    earlier = provision.bucket_stream_config(streams.OUTCOMES, "memory")
    earlier.allow_rollup_hdrs = True
    await js.add_stream(earlier)
    kv = await js.key_value(streams.OUTCOMES.bucket)
    await kv.put(f"{B.token}.kept", b"1")
    await provision.ensure(js, storage="memory")
    for name in (streams.EVENTS.name, *(b.stream_name for b in streams.BUCKETS)):
        info = await js.stream_info(name)
        assert not info.config.allow_rollup_hdrs and not info.config.deny_purge, name
    for how in ("all", "sub"):
        with pytest.raises(APIError, match="rollup not permitted"):
            await js.publish(
                f"$KV.{streams.OUTCOMES.bucket}.{CLUSTER.token}.p",
                b"",
                headers={"Nats-Rollup": how},
            )
    assert (await kv.get(f"{B.token}.kept")).value == b"1"


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
    mirrored = [
        (streams.MATCHES, m.MatchEvent),
        (streams.MATCHES, m.MatchHeadEvent),
        (streams.OUTCOMES, m.ApplyOutcomeEvent),
        (streams.AGENTS, m.AgentStatusEvent),
        (streams.PROFILES, m.ProfileEvent),
        (streams.STATUS, m.DefinitionStatusEvent),
    ]
    for spec, cls in mirrored:
        await (await KVStore.open(mjs, spec, cls)).put(example(cls))
    for spec, cls in mirrored:
        store: KVStore[Any] = await KVStore.open(rjs, spec, cls)
        assert await store.get(example(cls).subject) == example(cls)
        assert example(cls).subject in await store.items()
        refused.append(_refused_put(store, example(cls)))
    await asyncio.gather(*refused)  # concurrently: each waits for its timeout
    kv = await rjs.key_value(streams.MATCHES.bucket)  # nats-py's own watch works too
    watcher = await kv.watchall()
    async with asyncio.timeout(5):
        entry = await watcher.updates(timeout=5)
    assert entry is not None and entry.key == example(m.MatchEvent).subject
    await watcher.stop()
    await client.flush()
    assert len(errors) == bus_stats(client).permission_violations == 6  # the six puts
    assert all("permissions violation for publish to" in e.lower() for e in errors)
    for spec in (streams.DESIRED, streams.REPORTS):  # not mirrored (ripple-reports: deprecated)
        with pytest.raises(Exception):  # noqa: B017 - a refused request times out
            await KVStore.open(rjs, spec, m.EventReportEvent)
    await client.subscribe("_INBOX.>")  # replies to others are not readable
    await client.subscribe(streams.EVENTS.subjects[0])
    await client.flush()
    async with asyncio.timeout(5):
        while bus_stats(client).permission_violations < 10:
            await asyncio.sleep(0.01)
    assert sum("for subscription to" in e.lower() for e in errors) == 2


async def test_an_external_reader_reads_what_the_contract_gives_it_and_nothing_else(
    nats_server_with_reader: tuple[Client, Client, list[str]],
) -> None:
    """Events (ordered, and durable with acks), matching sets, statuses: yes. Desired states
    (Secrets), other replies, stream management: no."""
    manager, reader, errors = nats_server_with_reader
    mjs, rjs = manager.jetstream(), reader.jetstream(timeout=1)
    change = example(m.ResourceMatchedEvent)
    await publish_change(mjs, change.data)
    await (await KVStore.open(mjs, streams.MATCHES, MATCHES)).put(example(m.MatchEvent))
    await (await KVStore.open(mjs, streams.DESIRED, m.DesiredStateEvent)).put(
        example(m.DesiredStateEvent)
    )
    async with EventStream(rjs) as ordered, EventStream(rjs, durable="reader") as durable:
        async with asyncio.timeout(10):
            assert (await ordered.next()).id == change.id
            assert (await durable.next()).id == change.id
    matches = await KVStore.open(rjs, streams.MATCHES, MATCHES)
    assert list(await matches.items()) == [example(m.MatchEvent).subject]
    await reader.flush()
    assert errors == []
    snooped = await reader.subscribe("_INBOX.>")  # the manager's replies: not for it
    with pytest.raises(BusError):
        await KVStore.open(rjs, streams.DESIRED, m.DesiredStateEvent)
    with pytest.raises(nats.errors.TimeoutError):
        await reader.request(f"$JS.API.STREAM.DELETE.{streams.EVENTS.name}", b"", timeout=0.5)
    await (await KVStore.open(mjs, streams.DESIRED, m.DesiredStateEvent)).get(
        example(m.DesiredStateEvent).subject
    )  # a reply in the shared account, on the manager's inbox
    with pytest.raises(nats.errors.TimeoutError):
        await snooped.next_msg(timeout=0.3)
    await reader.flush()
    assert sum("permissions violation" in e.lower() for e in errors) >= 3
    assert (await mjs.stream_info(streams.EVENTS.name)).config.name == streams.EVENTS.name


@pytest.fixture
async def nats_server_with_reader(
    secured: tuple[Client, Client, list[str]],
) -> AsyncIterator[tuple[Client, Client, list[str]]]:
    manager, _, _ = secured
    errors: list[str] = []

    async def error_cb(err: Exception) -> None:
        errors.append(str(err))

    url = f"nats://127.0.0.1:{manager.connected_url.port}"  # type: ignore[union-attr]
    client = await connect(
        url,
        "reader",
        user="reader",
        password="x-secret",
        inbox_prefix=p.READER_INBOX_PREFIX,
        error_cb=error_cb,
        max_reconnect_attempts=0,
    )
    try:
        yield manager, client, errors
    finally:
        await client.close()


async def _refused_put(store: KVStore[Any], message: m.Envelope) -> None:
    with pytest.raises(BusError, match="put failed"):
        await store.put(message)


def test_manager_and_admin_may_do_everything() -> None:
    assert p.manager_permissions() == p.Permissions(publish=(">",), subscribe=(">",))
    assert p.manager_permissions() == p.ADMIN_PERMISSIONS
    reporter = p.reporter_permissions()
    assert reporter.subscribe == ("_INBOX.REPORTER.>",)
    assert [s for s in reporter.publish if s.startswith(("$KV.", "ripple."))] == [
        f"$KV.{streams.LEASES.bucket}.{p.REPORTER_LEASE}"
    ]
    assert not any("ripple-desired" in s or "ripple-assignments" in s for s in reporter.publish)
    assert p.agent_user(CLUSTER) == "agent-default.capi--prod_2Eeu-1"


def test_documented_reporter_template_is_generated() -> None:
    block = p.authorization_block([p.User("reporter", "change-me-three", p.reporter_permissions())])
    assert block in (REPO / "docs" / "nats-contract.md").read_text()


def test_the_reporter_reads_the_apply_outcomes_it_mirrors() -> None:
    """ClusterProfile statuses follow ``ripple-outcomes`` (issue 14): the reporter binds to,
    gets from and watches that bucket (the live check is
    test_reporter_reads_what_it_mirrors_and_writes_nothing) and writes nothing into it."""
    assert streams.OUTCOMES in p.REPORTER_BUCKETS
    publish = p.reporter_permissions().publish
    stream = streams.OUTCOMES.stream_name
    for subject in ("STREAM.INFO.{s}", "DIRECT.GET.{s}.>", "CONSUMER.CREATE.{s}.>"):
        assert f"{p.JS_API}.{subject.format(s=stream)}" in publish
    assert not any(s.startswith(f"$KV.{streams.OUTCOMES.bucket}") for s in publish)
