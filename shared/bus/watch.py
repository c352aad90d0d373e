"""A KV watcher over an ordered push consumer created with the *filtered* JetStream API
subject ``$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>``.

nats-py's own KV watch creates its consumer through ``$JS.API.CONSUMER.CREATE.<stream>``,
whose filter is in the request body and cannot be restricted by NATS permissions. With the
filter in the subject, a per-cluster user can be allowed to watch only its own keys
(:func:`shared.contract.permissions.agent_permissions` with ``watch_compat=False``).

Ordered semantics as in nats-py: flow control, idle heartbeats, and a reset (a new consumer
starting after the last stream sequence seen) on a sequence gap, on missed heartbeats (the
server restarted, or the server of a JetStream cluster holding the consumer died) or after a
reconnect of a connection made by :func:`shared.bus.client.connect` (to the same server or
another of the cluster). A reset never delivers a revision twice nor skips one; the old
consumer is deleted without waiting for an answer (its server may be gone; its inactivity
threshold removes it otherwise).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import nats.errors
from nats.aio.msg import Msg

from shared.bus.client import on_reconnect
from shared.bus.errors import BusError

log = logging.getLogger(__name__)

_NS = 1_000_000_000
_DELETE_OPS = {"DEL", "PURGE"}
RESET_TIMEOUT = 2.0
"""Seconds one attempt of a reset waits for the consumer's creation to be answered."""
_DELETE_MARKERS = {"MaxAge", "Purge", "Remove"}


@dataclass(frozen=True)
class RawEntry:
    """A watched KV entry: ``op`` is ``put``, ``delete`` or ``synced`` (initial values done);
    ``headers``: the NATS headers its writer gave it (None: none)."""

    op: str
    key: str
    revision: int
    value: bytes = b""
    headers: Mapping[str, str] | None = None


class FilteredWatcher:
    """Watch ``$KV.<bucket>.<keys>`` of stream ``stream`` (see the module doc).

    ``last_per_subject`` starts from the latest revision of each key; pass False for buckets
    keeping one revision per key (delivering ``all`` is then equivalent, and avoids the
    server skipping revisions stored while a ``last_per_subject`` consumer starts)."""

    def __init__(
        self,
        nc: Any,
        bucket: str,
        stream: str,
        keys: str,
        *,
        include_history: bool = False,
        last_per_subject: bool = True,
        heartbeat: float = 2.0,
        api_prefix: str = "$JS.API",
        request_timeout: float = 5.0,
    ) -> None:
        self._nc = nc
        self.bucket = bucket
        self.stream = stream
        self._pre = f"$KV.{bucket}."
        self.filter = f"{self._pre}{keys}"
        self.include_history = include_history
        self.last_per_subject = last_per_subject and not include_history
        self.heartbeat = heartbeat
        self._api = api_prefix
        self._timeout = request_timeout
        self._queue: asyncio.Queue[Msg | None] = asyncio.Queue()
        self._sub: Any = None
        self._name = ""
        self._last_sseq = 0
        self._last_dseq = 0
        self._synced = False
        self._emit_synced = False
        self._initial_pending = 0
        self.resets = 0
        self._unlisten: Any = None

    async def start(self) -> FilteredWatcher:
        await self._create(start_seq=None)
        # a reconnect wakes next() with None: reset at once (messages may have been lost)
        self._unlisten = on_reconnect(self._nc, lambda: self._queue.put_nowait(None))
        return self

    async def _create(self, start_seq: int | None, timeout: float | None = None) -> None:
        """Create a consumer (a new name and deliver subject each time: a name given to a
        server that died before answering stays unanswered)."""
        await self._drop_consumer()
        self._queue = asyncio.Queue()
        name = f"ripple-watch-{uuid.uuid4().hex[:16]}"
        deliver = self._nc.new_inbox()
        queue = self._queue

        async def on_msg(msg: Msg) -> None:
            queue.put_nowait(msg)

        self._sub = await self._nc.subscribe(deliver, cb=on_msg)
        self._name = name
        config: dict[str, Any] = {
            "name": self._name,
            "deliver_subject": deliver,
            "filter_subject": self.filter,
            "ack_policy": "none",
            "max_deliver": 1,
            "flow_control": True,
            "idle_heartbeat": int(self.heartbeat * _NS),
            "mem_storage": True,
            "num_replicas": 1,
            "inactive_threshold": 300 * _NS,
            "replay_policy": "instant",
        }
        if start_seq is not None:
            config["deliver_policy"] = "by_start_sequence"
            config["opt_start_seq"] = start_seq
        else:
            config["deliver_policy"] = "last_per_subject" if self.last_per_subject else "all"
        subject = f"{self._api}.CONSUMER.CREATE.{self.stream}.{self._name}.{self.filter}"
        body = json.dumps({"stream_name": self.stream, "config": config, "action": "create"})
        try:
            reply = await self._nc.request(subject, body.encode(), timeout=timeout or self._timeout)
            info = json.loads(reply.data)
        except (nats.errors.Error, TimeoutError, ValueError) as err:
            await self._drop_subscription()
            raise BusError(f"cannot watch {self.filter}: {err!r}") from err
        if "error" in info:
            await self._drop_subscription()
            raise BusError(f"cannot watch {self.filter}: {info['error'].get('description')}")
        self._last_dseq = 0
        if start_seq is None:
            self._initial_pending = int(info.get("num_pending", 0))

    async def _drop_subscription(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            try:
                await sub.unsubscribe()
            except nats.errors.Error:
                pass

    async def _drop_consumer(self) -> None:
        await self._drop_subscription()
        if self._name and self._nc.is_connected:
            subject = f"{self._api}.CONSUMER.DELETE.{self.stream}.{self._name}"
            try:  # no wait for the answer: a dead server would hold a reset for the timeout
                await self._nc.publish(subject, b"", reply=self._nc.new_inbox())
            except nats.errors.Error:
                pass  # the inactive threshold removes it anyway
        self._name = ""

    async def _reset(self, why: str) -> None:
        """A new consumer after the last revision delivered. The first attempt waits
        :data:`RESET_TIMEOUT` for the answer, each next one twice as long (up to the request
        timeout): a request sent while a JetStream cluster elects a leader (4 to 9 s after a
        server's death), or placed on a server that just died, is never answered, and
        waiting the full timeout each time would hold the watch that much longer."""
        self.resets += 1
        log.info("resetting watch (%s)", why, extra={"obj": f"{self.bucket}/{self.filter}"})
        timeout = RESET_TIMEOUT
        delay = 0.05
        while True:
            try:
                start_seq = self._last_sseq + 1 if self._last_sseq else None
                await self._create(start_seq, min(timeout, self._timeout))
                return
            except BusError as err:
                log.warning("watch reset failed: %s", err, extra={"obj": self.bucket})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                timeout *= 2

    async def next(self) -> RawEntry:
        """The next entry (waits as long as needed; resets the consumer when required)."""
        if not self._synced and (self._emit_synced or self._initial_pending == 0):
            self._synced = True
            return RawEntry("synced", "", 0)
        while True:
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for loses a cancellation
                # that races an arriving message, and the watch would outlive a SIGTERM
                async with asyncio.timeout(self.heartbeat * 3):
                    msg = await self._queue.get()
            except TimeoutError:
                await self._reset("missed heartbeats")
                continue
            if msg is None:
                await self._reset("reconnected")
                continue
            entry = await self._handle(msg)
            if entry is not None:
                return entry

    async def _handle(self, msg: Msg) -> RawEntry | None:
        headers = msg.headers or {}
        try:  # a stored message (its reply subject is the consumer's $JS.ACK...)
            meta = msg.metadata
        except Exception:  # the server's flow control and heartbeats, or stray messages
            if headers.get("Status") == "100":
                await self._control(msg, headers)
            return None
        if meta.sequence.consumer != self._last_dseq + 1:
            await self._reset("sequence gap")
            return None
        self._last_dseq = meta.sequence.consumer
        self._last_sseq = meta.sequence.stream
        key = msg.subject[len(self._pre) :]
        op = "put"
        if (
            headers.get("KV-Operation") in _DELETE_OPS
            or headers.get("Nats-Marker-Reason") in _DELETE_MARKERS
        ):
            op = "delete"
        entry = RawEntry(op, key, meta.sequence.stream, msg.data, msg.headers or None)
        if not self._synced and meta.num_pending == 0:
            self._emit_synced = True
        return entry

    async def _control(self, msg: Msg, headers: dict[str, str]) -> None:
        """Flow control and idle heartbeats. A stored message is never taken for one,
        whatever headers its writer gave it (they are only data then)."""
        if msg.reply:  # flow control request
            await self._nc.publish(msg.reply, b"")
        stalled = headers.get("Nats-Consumer-Stalled")
        if stalled:
            await self._nc.publish(stalled, b"")
        last = headers.get("Nats-Last-Consumer")
        try:
            gap = last is not None and int(last) != self._last_dseq
        except ValueError:
            gap = False
        if gap:
            await self._reset("heartbeat shows a gap")

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        await self._drop_consumer()
