"""Poison in every bucket of the contract, through a real nats-server: a put, delete or purge
under a key outside the bucket's shape, garbage under a real key, a value from a writer the
contract does not name. The watcher skips, counts and remembers each (never a delete, never
fatal), keeps delivering good values, and says ``unknown`` when asked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.bus.kv import KVChange, KVStore
from shared.bus.kvcheck import KEY_PARSERS, writer_of
from shared.contract import messages as m
from shared.contract import streams
from shared.contract.errors import InvalidMessage
from shared.contract.examples import example

KV_CASES: list[tuple[streams.BucketSpec, type[m.Envelope]]] = [
    (streams.ASSIGNMENTS, m.AssignmentEvent),
    (streams.REPORTS, m.EventReportEvent),
    (streams.MATCHES, m.MatchEvent),
    (streams.DESIRED, m.DesiredStateEvent),
    (streams.OUTCOMES, m.ApplyOutcomeEvent),
    (streams.AGENTS, m.AgentStatusEvent),
    (streams.PROFILES, m.ProfileEvent),
    (streams.STATUS, m.DefinitionStatusEvent),
]


def bad_keys(good: str) -> dict[str, str]:
    """Keys outside a bucket's shape, next to one of its real keys ``good``."""
    out = {
        "one token more": f"{good}.x",
        "bad encoding": f"{good}_61",  # an escape of "a", a character kept verbatim
        "upper case": good.rsplit(".", 1)[0] + ".UPPER",
        "not a cluster": "default.cluster-x.y",
        "a status key's shape": "eventtrigger.web",
        "a match entry's shape": "default.sveltos--c.es.v1.Service.default.web",
    }
    if good.count(".") == 6:  # an entry of ripple-matches takes 3 and 7 tokens
        out["one token more"] = f"{good}.x"
        out["a match entry's shape"] = "default.sveltos--c.es.v1.Service.default"
    if good.count(".") == 1:  # ripple-status and ripple-agents: 2 tokens
        out["a status key's shape"] = "default.sveltos--c.es"
        if good.startswith(("eventsource.", "eventtrigger.", "eventbasedaddon.")):
            out["not a cluster"] = "configmap.web"
        else:
            out["a status key's shape"] = "eventtrigger.web"
    return out


async def _purge_marker(js: Any, spec: streams.BucketSpec, key: str) -> None:
    """A purge marker (``KV-Operation: PURGE``) without a rollup (the buckets refuse them)."""
    await js.publish(f"$KV.{spec.bucket}.{key}", b"", headers={"KV-Operation": "PURGE"})


async def _next(watch: Any, timeout: float = 10.0) -> KVChange[Any]:
    async with asyncio.timeout(timeout):
        return await anext(aiter(watch))


async def test_keys_outside_the_shape_are_skipped_put_delete_and_purge(jetstream: Any) -> None:
    for spec, cls in KV_CASES:
        await _keys_outside_the_shape_are_skipped_put_delete_and_purge(jetstream, spec, cls)


async def _keys_outside_the_shape_are_skipped_put_delete_and_purge(
    jetstream: Any, spec: streams.BucketSpec, cls: type[m.Envelope]
) -> None:
    message = example(cls)
    good = m.message_key(message)
    keys = bad_keys(good)
    store = await KVStore.open(jetstream, spec, cls)
    kv = store.kv
    for key in keys.values():  # present before the watch starts: the initial values
        await kv.put(key, m.encode(message))
    async with store.watch(unknown=False) as watch:
        assert await _next(watch) == KVChange("synced", "", 0)
        assert store.invalid_keys == len(keys)
        assert set(store.problems) == set(keys.values())
        for key in keys.values():
            assert "invalid key" in store.problems[key], store.problems[key]
        await kv.delete(keys["one token more"])
        await _purge_marker(jetstream, spec, keys["bad encoding"])
        await kv.delete("default.never.valid")  # a delete marker of a key never valid
        revision = await store.put(message)
        assert await _next(watch) == KVChange("put", good, revision, message)
    assert store.invalid_keys == len(keys) + 3
    assert store.invalid_values == 0 and not store.invalid
    assert keys["one token more"] not in store.problems  # its poison is gone
    assert store.skipped == store.invalid_keys
    name = spec.bucket.removeprefix("ripple-")
    assert store.metrics()[f"kv_{name}_invalid_keys_total"][2] == len(keys) + 3
    assert await store.items() == {good: message}


async def test_garbage_under_a_real_key_is_unknown_never_a_delete(jetstream: Any) -> None:
    for spec, cls in KV_CASES:
        await _garbage_under_a_real_key_is_unknown_never_a_delete(jetstream, spec, cls)


async def _garbage_under_a_real_key_is_unknown_never_a_delete(
    jetstream: Any, spec: streams.BucketSpec, cls: type[m.Envelope]
) -> None:
    message = example(cls)
    key = m.message_key(message)
    store = await KVStore.open(jetstream, spec, cls)
    await store.put(message)
    async with store.watch(unknown=True) as watch:
        assert (await _next(watch)).op == "put"
        assert (await _next(watch)).op == "synced"
        revision = await store.kv.put(key, b"\x00 garbage")
        seen = await _next(watch)
        assert (seen.op, seen.key, seen.revision, seen.message) == ("unknown", key, revision, None)
        assert "not valid JSON" in seen.error
        assert store.invalid == {key} and key in store.problems
        name = spec.bucket.removeprefix("ripple-")
        assert store.metrics()[f"kv_{name}_unreadable_keys"][2] == 1
        revision = await store.put(message)  # a readable value: known again
        assert await _next(watch) == KVChange("put", key, revision, message)
        assert not store.invalid and not store.problems
    assert store.invalid_values == 1
    with pytest.raises(InvalidMessage):
        await store.kv.put(key, b"[]")
        await store.get(key)


async def test_a_value_from_another_writer_is_refused(jetstream: Any) -> None:
    for spec, cls in KV_CASES:
        await _a_value_from_another_writer_is_refused(jetstream, spec, cls)


async def _a_value_from_another_writer_is_refused(
    jetstream: Any, spec: streams.BucketSpec, cls: type[m.Envelope]
) -> None:
    """The envelope's ``source`` must be the writer the contract names: the manager for what
    it writes, the cluster's own agent for the rest."""
    message = example(cls)
    key = m.message_key(message)
    writer = writer_of(message)
    assert message.source == writer
    assert (writer == m.MANAGER_SOURCE) == (
        spec in (streams.ASSIGNMENTS, streams.DESIRED, streams.PROFILES, streams.STATUS)
    )
    forged = message.model_copy(update={"source": "ripple://agent/default/sveltos--other"})
    if writer != m.MANAGER_SOURCE:
        forged = message.model_copy(update={"source": m.MANAGER_SOURCE})
    store = await KVStore.open(jetstream, spec, cls)
    await store.kv.put(key, m.encode(forged))
    with pytest.raises(InvalidMessage, match=r"written by .*not by .*refused"):
        await store.get(key)
    async with store.watch(unknown=True) as watch:
        seen = await _next(watch)
    assert seen.op == "unknown" and "refused" in seen.error
    assert store.invalid == {key}


def test_every_bucket_has_its_key_grammar() -> None:
    buckets = {spec.bucket for spec, _ in KV_CASES}
    assert set(KEY_PARSERS) == buckets
    for spec, cls in KV_CASES:
        KEY_PARSERS[spec.bucket](m.message_key(example(cls)))


async def test_a_watch_survives_a_flood_of_poison_and_bounds_what_it_remembers(
    jetstream: Any,
) -> None:
    from shared.bus.kvcheck import MAX_PROBLEMS

    message = example(m.DesiredStateEvent)
    key = m.message_key(message)
    store = await KVStore.open(jetstream, streams.DESIRED, m.DesiredStateEvent)
    async with store.watch() as watch:
        assert (await _next(watch)).op == "synced"
        for n in range(MAX_PROBLEMS + 20):
            await store.kv.put(f"{key}.x{n}", b"x")
        revision = await store.put(message)
        assert await _next(watch) == KVChange("put", key, revision, message)
    assert store.invalid_keys == MAX_PROBLEMS + 20
    assert len(store.problems) == MAX_PROBLEMS
    assert f"{key}.x{MAX_PROBLEMS + 19}" in store.problems  # the newest are kept


async def test_a_stored_message_dressed_as_flow_control_is_only_a_value(jetstream: Any) -> None:
    """A writer's headers are data: a stored message with ``Status: 100`` and a
    ``Nats-Last-Consumer`` that is no number (it stopped the watcher) is a value that cannot
    be read, like any other garbage."""
    message = example(m.DesiredStateEvent)
    key = m.message_key(message)
    store = await KVStore.open(jetstream, streams.DESIRED, m.DesiredStateEvent)
    headers = {"Status": "100", "Nats-Last-Consumer": "abc", "Nats-Consumer-Stalled": "x.y"}
    async with store.watch(unknown=True) as watch:
        assert (await _next(watch)).op == "synced"
        await jetstream.publish(f"$KV.{streams.DESIRED.bucket}.{key}", b"", headers=headers)
        seen = await _next(watch)
        assert (seen.op, seen.key) == ("unknown", key)
        revision = await store.put(message)
        assert await _next(watch) == KVChange("put", key, revision, message)
        assert watch.resets == 0
