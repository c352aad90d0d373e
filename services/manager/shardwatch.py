"""A sharded manager's view of its own buckets (the shell; see :mod:`services.manager.sharding`).

Unsharded, the manager decodes every change of its buckets (:func:`services.manager.service.
watch_output`). A shard's buckets are mostly the other shards' keys: decoding each of their
changes would cost every shard what the whole group publishes. So a shard decodes only the
changes of keys it owns (it wants them, or their cluster is known to be its own); any other
change only says the key is published or not (:meth:`Publisher.unclaimed`). What that leaves
unknown is learned when it matters:

- whose a key is: when membership changes, the buckets are read again before the rebalance
  (:func:`submit_members`), so the keys a shard adopts and no longer wants are withdrawn as
  after a start (on positive knowledge);
- what a key holds: when an adopted key is about to be put, its current value is read
  (:func:`verifier`): the same content is not put again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from services.manager.publication import Published
from services.manager.published import cluster_of_value
from services.manager.publisher import Publisher, body_digest
from services.manager.reconciler import Reconciler
from services.manager.sharding import Member
from services.manager.stores import Stores, read_published, retrying
from shared.bus.kv import KVStore
from shared.bus.watch import FilteredWatcher
from shared.contract.errors import InvalidMessage, InvalidSubject
from shared.runtime.slicing import Slicer

log = logging.getLogger(__name__)

STOP_WATCH = 0.5  # seconds


async def watch_output_sharded(
    bucket: str, store: KVStore[Any], publisher: Publisher, published: asyncio.Event
) -> None:
    """:func:`services.manager.service.watch_output` for a shard: every change of its
    bucket ``bucket``, decoded only when the key is this shard's."""
    await published.wait()
    slicer = Slicer()
    spec = store.spec
    watcher = FilteredWatcher(
        store.nc,
        spec.bucket,
        spec.stream_name,
        ">",
        last_per_subject=spec.history > 1,
        request_timeout=store.timeout,
    )
    await retrying(f"watching {spec.bucket}", watcher.start)
    try:
        while True:
            entry = await watcher.next()
            if entry.op != "synced":
                _apply(bucket, store, publisher, entry)
            await slicer.pause()
    finally:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(watcher.stop(), STOP_WATCH)


def _apply(bucket: str, store: KVStore[Any], publisher: Publisher, entry: Any) -> None:
    item = (bucket, entry.key)
    if publisher.echo(item, entry.revision):
        return  # its own put coming back (or an older value): nothing to decode
    if not publisher.claims(item):
        publisher.unclaimed(item, entry.op, entry.revision)
        return
    op, digest, cluster, why = entry.op, None, None, ""
    try:
        store.check_key(entry.key)
        if op == "put":
            data = store.decode(entry.key, entry.value).data
            digest, cluster = body_digest(data), cluster_of_value(data)
    except (InvalidMessage, InvalidSubject) as exc:
        op, why = "unknown", str(exc)
    if publisher.elsewhere(item, op, entry.revision, digest, cluster):
        return
    now = asyncio.get_running_loop().time()
    if publisher.observed(item, op, entry.revision, digest, now):
        what = {"delete": "deleted by someone else", "put": "a value it did not write"}
        log.warning(
            "%s key %s: %s; bringing it back to what this shard publishes",
            store.spec.bucket,
            entry.key,
            what.get(op, why),
            extra={"obj": f"{store.spec.bucket}/{entry.key}"},
        )


def verifier(stores: Stores) -> Callable[[tuple[str, str]], Awaitable[bytes | None]]:
    """The body digest of what a key holds now (None: nothing readable), for
    :attr:`Publisher.verify`."""
    owned = stores.owned()

    async def verify(item: tuple[str, str]) -> bytes | None:
        try:
            envelope = await owned[item[0]].get(item[1])
        except Exception as exc:  # unreadable or unreachable: put it (same keys, its content)
            log.debug("reading %s/%s: %s", item[0], item[1], exc, extra={"obj": item[1]})
            return None
        return body_digest(envelope.data) if envelope is not None else None

    return verify


def submit_members(
    stores: Stores, reconciler: Reconciler
) -> Callable[[tuple[Member, ...]], Awaitable[None]]:
    """What membership calls with the live members: the first time as they are; then with
    the buckets read again (:meth:`Publication.learn`) so the rebalance knows whose every
    key is."""
    first = [True]

    async def submit(members: tuple[Member, ...]) -> None:
        learned: Published | None = None
        if not first[0]:
            learned = (await read_published(stores)).published
        first[0] = False
        await reconciler.submit("shards", (members, learned))

    return submit


__all__ = ["submit_members", "verifier", "watch_output_sharded"]
