"""Level-triggered on its outputs too (issue 16): the manager watches its own buckets and
brings back to what it publishes any key that holds something else -- garbage, a value
another writer put (another body, or a forged ``source``), the deletion of a key it wants, a
key it does not want (well-formed or not). Real nats-server, the manager's own reconciler,
publisher and output watches; its own writes are never taken for foreign ones."""

from __future__ import annotations

import asyncio
from typing import Any

from services.manager.outputs import ASSIGNMENTS, DESIRED, STATUS, assignment_key, desired_key
from services.manager.publisher import FREE_REPAIRS, MAX_REPAIR_DELAY, Publisher, body_digest
from services.manager.reconciler import Reconciler
from services.manager.service import watch_output
from services.manager.stores import Stores
from shared.contract import messages as m
from shared.contract.examples import example
from tests.manager.test_publication import A, new_state, report
from tests.manager.test_publisher import running, stores, until

__all__ = ["running", "stores"]  # fixtures


async def _manager(stores: Stores, tasks: list[asyncio.Task[Any]]) -> tuple[Reconciler, Any]:
    state = new_state()
    report(state, A, "s1")
    rec = Reconciler(stores.buckets(), limit=1 << 20, state=state)
    published = asyncio.Event()
    tasks.append(asyncio.create_task(rec.publisher.run(2)))
    for bucket, store in stores.owned().items():
        tasks.append(asyncio.create_task(watch_output(bucket, store, rec.publisher, published)))
    await rec.reconcile()
    published.set()
    await until(rec.publisher.queue.idle, what="published")
    return rec, state


async def _holds(store: Any, key: str, expected: m.Envelope) -> bool:
    try:
        current = await store.get(key)
    except Exception:
        return False
    return current is not None and body_digest(current.data) == body_digest(expected.data)


async def test_garbage_foreign_values_and_deletions_are_written_back(
    stores: Stores, running: list[asyncio.Task[Any]]
) -> None:
    rec, state = await _manager(stores, running)
    publisher = rec.publisher
    akey = assignment_key(A, "svc")
    (dkey,) = (desired_key(c, p) for c, p in state.desired)
    assignment = await stores.assignments.get(akey)
    desired = await stores.desired.get(dkey)
    assert assignment is not None and desired is not None
    puts = publisher.stats["puts"]

    await stores.assignments.kv.put(akey, b"\x00 garbage")
    await until(lambda: _holds(stores.assignments, akey, assignment), 1.0, "assignment repaired")

    other = desired.data.model_copy(update={"objects": []})
    await stores.desired.kv.put(dkey, m.encode(m.envelope(other)))
    await until(lambda: _holds(stores.desired, dkey, desired), 1.0, "another body repaired")

    forged = desired.model_copy(update={"source": "ripple://agent/default/sveltos--cluster-a"})
    await stores.desired.kv.put(dkey, m.encode(forged))
    await until(lambda: _holds(stores.desired, dkey, desired), 1.0, "forged source repaired")

    await stores.desired.kv.delete(dkey)
    await until(lambda: _holds(stores.desired, dkey, desired), 1.0, "deleted key put back")
    # the watches saw the manager's own writes before these: none was taken for foreign
    assert publisher.stats["foreign"] == 4
    assert publisher.stats["puts"] == puts + 4

    await until(publisher.queue.idle, what="idle")
    puts = publisher.stats["puts"]
    report(state, A, "s1")  # a reconcile that changes nothing: nothing written
    await rec.reconcile()
    await until(publisher.queue.idle, what="idle")
    assert publisher.stats["puts"] == puts


async def test_keys_it_does_not_want_are_deleted(
    stores: Stores, running: list[asyncio.Task[Any]]
) -> None:
    rec, state = await _manager(stores, running)
    (dkey,) = (desired_key(c, p) for c, p in state.desired)
    desired = await stores.desired.get(dkey)
    assert desired is not None
    stranger = desired.data.model_copy(update={"profile_name": "sveltos-stranger"})
    skey = m.message_key(m.envelope(stranger))
    await stores.desired.put(m.envelope(stranger))  # well-formed, from "the manager"
    poison = f"{dkey}.x"  # a key outside the bucket's shape
    await stores.desired.kv.put(poison, b"garbage")
    await stores.status.kv.put("eventtrigger.nobody", b"garbage")
    for store, key in ((stores.desired, skey), (stores.desired, poison), (stores.status, "eventtrigger.nobody")):  # fmt: skip
        await until(lambda s=store, k=key: _absent(s, k), 1.0, f"{key} deleted")
    assert rec.publisher.stats["foreign"] == 3
    assert (DESIRED, dkey) not in rec.publisher.queue.failures
    assert await stores.desired.get(dkey) == desired


async def _absent(store: Any, key: str) -> bool:
    from nats.js.errors import KeyNotFoundError

    try:
        entry = await store.kv.get(key)
    except KeyNotFoundError:
        return True
    return entry.value is None or entry.value == b""


def test_a_key_overwritten_again_and_again_is_repaired_with_a_growing_delay() -> None:
    from services.manager.publication import Publication

    publisher = Publisher(Publication(), {}, limit=1 << 20)
    item = (ASSIGNMENTS, "default.sveltos--a.svc")
    publisher.publication.published[ASSIGNMENTS].add(item[1])
    delays = [publisher._repair_delay(item, now=1.0) for _ in range(FREE_REPAIRS + 12)]
    assert delays[:FREE_REPAIRS] == [0.0] * FREE_REPAIRS
    assert 0 < delays[FREE_REPAIRS] < delays[FREE_REPAIRS + 1] <= MAX_REPAIR_DELAY
    assert delays[-1] == MAX_REPAIR_DELAY
    assert publisher._repair_delay(item, now=1000.0) == 0.0  # a quiet minute: at once again
    # its own put and its own delete coming back are not foreign
    publisher._revisions[item] = 10
    assert not publisher.observed(item, "unknown", 10, None, 0.0)
    publisher._deleting.add((STATUS, "eventtrigger.t"))
    publisher.publication.published[STATUS].add("eventtrigger.t")
    assert not publisher.observed((STATUS, "eventtrigger.t"), "delete", 11, None, 0.0)
    assert not publisher.observed((DESIRED, "default.sveltos--a.p"), "delete", 12, None, 0.0)
    assert publisher.stats["foreign"] == 0


class SlowBucket:
    """An in-memory bucket whose writes wait for ``go`` (a write under way)."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}
        self.revision = 0
        self.go = asyncio.Event()

    async def put(self, key: str, value: bytes) -> int:
        await self.go.wait()
        self.revision += 1
        self.values[key] = value
        return self.revision

    async def delete(self, key: str) -> None:
        await self.go.wait()
        self.revision += 1
        self.values.pop(key, None)


async def test_a_foreign_write_while_its_own_is_under_way_is_written_back() -> None:
    """Someone writes the key while the manager's own put (or delete) of it is under way:
    the key is looked at again and written again -- the put that completes meanwhile does
    not count as what the bucket holds."""
    from services.manager.publication import Publication

    status = example(m.DefinitionStatusEvent).data
    key = m.message_key(example(m.DefinitionStatusEvent))
    bucket = SlowBucket()
    publisher = Publisher(Publication(), {STATUS: bucket}, limit=1 << 20)
    item = (STATUS, key)
    publisher.publication.wanted[STATUS][key] = status

    under_way = asyncio.create_task(publisher.handle(item))
    await until(lambda: item in publisher._digests, what="put under way")
    assert publisher.observed(item, "unknown", 10, None, 0.0)  # garbage meanwhile
    bucket.go.set()
    await under_way
    await publisher.handle(item)  # the queue looks at it again
    assert publisher.stats["puts"] == 2

    bucket.go.clear()
    del publisher.publication.wanted[STATUS][key]  # not wanted: deleted
    under_way = asyncio.create_task(publisher.handle(item))
    await until(lambda: item in publisher._deleting, what="delete under way")
    assert publisher.observed(item, "put", 20, b"another body", 0.0)
    bucket.go.set()
    await under_way
    assert key in publisher.publication.published[STATUS], "still holds the foreign value"
    await publisher.handle(item)
    assert publisher.stats["deletes"] == 2
    assert key not in publisher.publication.published[STATUS]
