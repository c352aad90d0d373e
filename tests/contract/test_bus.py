"""Every message type through a real nats-server: events via the stream (ordered and durable
consumers, dedup), each KV bucket via put/get/watch/delete, malformed values skipped."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from nats.aio.client import Client

from shared.bus import provision
from shared.bus.client import EventStream, publish_change, publish_event
from shared.bus.kv import KVChange, KVStore
from shared.contract import messages as m
from shared.contract import streams
from shared.contract.errors import InvalidMessage
from shared.contract.examples import CLUSTER, SERVICE_REF, example, examples
from shared.contract.subjects import ClusterRef, cluster_keys, events_wildcard
from shared.errors import ExternalError

OTHER = ClusterRef(namespace="default", name="c2")


def change(cluster: ClusterRef, kind: str, rv: str, name: str = "web") -> m.ResourceChange:
    return m.ResourceChange.model_validate(
        {
            "cluster": cluster,
            "eventSourceName": "https-service",
            "change": kind,
            "ref": SERVICE_REF.model_copy(update={"name": name}),
            "uid": f"uid-{name}",
            "resourceVersion": rv,
        }
    )


async def test_ensure_is_idempotent_and_configures_limits(nats_client: Client) -> None:
    js = nats_client.jetstream()
    for _ in range(3):
        await provision.ensure(js, storage="memory")
    info = await js.stream_info("RIPPLE_EVENTS")
    assert info.config.subjects == ["ripple.v1.events.>"]
    assert info.config.duplicate_window == 120
    assert info.config.max_age == 24 * 3600
    assert info.config.max_msg_size == 4 * 1024 * 1024
    assert info.config.storage == "memory"
    for spec in streams.BUCKETS:
        kv = await js.key_value(spec.bucket)
        status = await kv.status()
        assert status.bucket == spec.bucket
        assert status.history == 1
        assert status.stream_info.config.max_msg_size == 4 * 1024 * 1024
    names = {s.config.name for s in await js.streams_info()}
    assert names == {"RIPPLE_EVENTS", *(f"KV_{b.bucket}" for b in streams.BUCKETS)}


async def test_ensure_refuses_a_storage_change(nats_client: Client) -> None:
    js = nats_client.jetstream()
    await provision.ensure(js, storage="file")
    await provision.ensure(js, storage="file")
    with pytest.raises(ExternalError, match="RIPPLE_EVENTS"):
        await provision.ensure(js, storage="memory")


async def test_events_through_the_stream_with_an_ordered_consumer(jetstream: Any) -> None:
    published = [
        change(CLUSTER, "matched", "1"),
        change(OTHER, "matched", "1"),
        change(CLUSTER, "updated", "2"),
        change(CLUSTER, "unmatched", "3"),
    ]
    for c in published:
        ack = await publish_change(jetstream, c)
        assert not ack.duplicate
    async with EventStream(jetstream, events_wildcard(CLUSTER)) as stream:
        got = [await stream.next(timeout=5) for _ in range(3)]
        with pytest.raises(TimeoutError):
            await stream.next(timeout=0.2)
    assert [type(e) for e in got] == [
        m.ResourceMatchedEvent,
        m.ResourceUpdatedEvent,
        m.ResourceUnmatchedEvent,
    ]
    assert [e.data for e in got] == [published[0], published[2], published[3]]  # type: ignore[attr-defined]


async def test_durable_consumer_resumes_after_the_last_processed_event(jetstream: Any) -> None:
    for rv in ("1", "2", "3"):
        await publish_change(jetstream, change(CLUSTER, "updated", rv))
    stream = EventStream(jetstream, durable="reader")
    first = await stream.next(timeout=5)
    second = await stream.next(timeout=5)  # acknowledges the first
    await stream.stop()  # acknowledges the second
    assert [first.data.resource_version, second.data.resource_version] == ["1", "2"]  # type: ignore[attr-defined]
    async with EventStream(jetstream, durable="reader") as again:
        third = await again.next(timeout=5)
    assert third.data.resource_version == "3"  # type: ignore[attr-defined]


async def test_same_msg_id_twice_is_stored_once(jetstream: Any) -> None:
    c = change(CLUSTER, "matched", "7")
    first = await publish_change(jetstream, c)
    again = await publish_event(jetstream, m.envelope(c))  # new timestamp, same dedup id
    assert again.duplicate and again.seq == first.seq
    await publish_change(jetstream, change(CLUSTER, "updated", "8"))
    info = await jetstream.stream_info("RIPPLE_EVENTS")
    assert info.state.messages == 2


async def test_malformed_and_spoofed_events_are_skipped(jetstream: Any) -> None:
    good = change(CLUSTER, "matched", "1")
    subject = m.envelope(good).subject
    await jetstream.publish(subject, b"{not json")
    spoofed = m.envelope(change(OTHER, "matched", "1"))  # cluster c2's data on prod's subject
    await jetstream.publish(subject, m.encode(spoofed))
    await jetstream.publish(subject, m.encode(example(m.DefinitionStatusEvent)))  # wrong type
    await publish_change(jetstream, good)
    async with EventStream(jetstream) as stream:
        event = await stream.next(timeout=5)
        assert stream.skipped == 3
    assert event.data == good  # type: ignore[attr-defined]


KV_CASES = [
    (streams.REPORTS, m.EventReportEvent),
    (streams.MATCHES, m.MatchEvent),
    (streams.MATCHES, m.MatchHeadEvent),
    (streams.ASSIGNMENTS, m.AssignmentEvent),
    (streams.DESIRED, m.DesiredStateEvent),
    (streams.OUTCOMES, m.ApplyOutcomeEvent),
    (streams.AGENTS, m.AgentStatusEvent),
    (streams.PROFILES, m.ProfileEvent),
    (streams.STATUS, m.DefinitionStatusEvent),
]


async def _collect(watch: Any, n: int) -> list[KVChange[Any]]:
    out: list[KVChange[Any]] = []
    async with asyncio.timeout(10):
        async for c in watch:
            out.append(c)
            if len(out) == n:
                return out
    return out


@pytest.mark.parametrize(("spec", "cls"), KV_CASES, ids=[c[1].TYPE for c in KV_CASES])
async def test_kv_put_get_watch_delete(
    jetstream: Any, spec: streams.BucketSpec, cls: type[m.Envelope]
) -> None:
    message = example(cls)
    store = await KVStore.open(jetstream, spec, cls)
    key = m.message_key(message)
    assert await store.get(key) is None
    per_cluster = spec not in (streams.AGENTS, streams.STATUS)
    async with store.watch(cluster_keys(CLUSTER) if per_cluster else ">") as watch:
        first = await _collect(watch, 1)
        assert first == [KVChange("synced", "", 0)]
        # one revision per key is kept: wait for each change before the next, or the watcher
        # may legitimately see only the latest
        rev1 = await store.put(message)
        seen = await _collect(watch, 1)
        updated = message.model_copy(update={"id": "second"})
        rev2 = await store.put(updated)
        seen += await _collect(watch, 1)
        await store.delete(key)
        seen += await _collect(watch, 1)
    assert [(c.op, c.key) for c in seen] == [("put", key), ("put", key), ("delete", key)]
    assert [c.revision for c in seen[:2]] == [rev1, rev2]
    assert seen[0].message == message and seen[1].message == updated
    assert await store.get(key) is None
    await store.put(message)
    assert await store.get(key) == message
    assert await store.items() == {key: message}


async def test_watch_starts_with_current_values_then_synced(jetstream: Any) -> None:
    store = await KVStore.open(jetstream, streams.REPORTS, m.EventReportEvent)
    report = examples()[0]
    assert isinstance(report, m.EventReportEvent)
    other = m.envelope(report.data.model_copy(update={"cluster": OTHER}))
    await store.put(report)
    await store.put(other)
    async with store.watch() as watch:
        seen = await _collect(watch, 3)
    assert [c.op for c in seen] == ["put", "put", "synced"]
    async with store.watch(cluster_keys(OTHER)) as watch:
        seen = await _collect(watch, 2)
    assert [c.message for c in seen] == [other, None]


async def test_malformed_and_spoofed_kv_values_are_skipped(jetstream: Any) -> None:
    store = await KVStore.open(jetstream, streams.REPORTS, m.EventReportEvent)
    report = examples()[0]
    assert isinstance(report, m.EventReportEvent)
    key = m.message_key(report)
    kv = await jetstream.key_value("ripple-reports")
    spoofed = m.envelope(report.data.model_copy(update={"cluster": OTHER}))
    bad = {
        f"{key}-a": b"garbage",
        f"{key}-b": json.dumps({"specversion": "1.0", "type": "io.ripple.x.v1"}).encode(),
        f"{key}-c": m.encode(spoofed),  # cluster c2's report under one of prod's keys
        f"{key}-d": m.encode(example(m.AgentStatusEvent)),  # an agent status in the reports bucket
    }
    async with store.watch() as watch:
        await _collect(watch, 1)  # synced
        for bad_key, value in bad.items():
            await kv.put(bad_key, value)
        await store.put(report)
        seen = await _collect(watch, 1)
    assert seen == [KVChange("put", key, seen[0].revision, report)]
    assert store.skipped == 4
    await kv.put(key, b"garbage")
    with pytest.raises(InvalidMessage, match=r"ripple-reports key default\.capi--prod_2Eeu-1"):
        await store.get(key)


async def test_put_refuses_a_message_whose_subject_is_not_its_key(jetstream: Any) -> None:
    store = await KVStore.open(jetstream, streams.REPORTS, m.EventReportEvent)
    report = examples()[0]
    assert isinstance(report, m.EventReportEvent)
    with pytest.raises(InvalidMessage, match="subject"):
        await store.put(report.model_copy(update={"subject": "default.sveltos--c2.x"}))


async def test_open_missing_bucket(nats_client: Client) -> None:
    with pytest.raises(ExternalError, match="ripple-reports"):
        await KVStore.open(nats_client.jetstream(), streams.REPORTS, m.EventReportEvent)
