"""Manager shards' membership over NATS KV ``ripple-shards`` (the shell of
:mod:`services.manager.sharding`).

Each member of group ``G`` puts its key ``G.<member>`` (a :class:`MemberInfo`) every ttl/3
and deletes it when it stops cleanly; it watches ``G.*`` and judges who is alive by its own
monotonic clock (:class:`~services.manager.sharding.Members`: a key not renewed for ttl is
gone, whatever the other member's clock says). The live members are handed to the
reconciler as an input (``submit``) each time they change, so ownership only changes
between two reconciles. Until the watch delivered the current values and this member saw
its own key, the shard holds (publishes and withdraws nothing). A failed put or watch is
retried with backoff; meanwhile the member's own key expires in everyone's view, its own
included, and it holds too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from services.manager.sharding import Member, MemberInfo, Members, StatusPart
from shared.bus.provision import bucket_stream_config
from shared.bus.watch import FilteredWatcher
from shared.contract.streams import SHARDS, Storage

log = logging.getLogger(__name__)

Submit = Callable[[tuple[Member, ...]], Awaitable[None]]
SubmitParts = Callable[[dict[str, dict[str, list[str]]]], Awaitable[None]]


async def ensure_bucket(js: Any, storage: Storage, replicas: int | None = None) -> None:
    """Create ``ripple-shards`` when missing (sharded managers only provision it), with
    ``replicas`` (``--stream-replicas``; None: 1)."""
    config = bucket_stream_config(SHARDS, storage, replicas or 1)
    try:
        await js.stream_info(config.name)
    except Exception:
        await js.add_stream(config)
        log.info("created bucket %s", SHARDS.bucket, extra={"obj": SHARDS.bucket})


class Membership:
    """Registers this member, watches the group, submits the live members."""

    def __init__(
        self,
        nc: Any,
        group: str,
        me: Member,
        ttl: float,
        submit: Submit,
        api: str = "",
        submit_parts: SubmitParts | None = None,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self.group = group
        self.me = me
        self.ttl = ttl
        self._submit = submit
        self.key = f"{group}.{me.id}"
        self._value = MemberInfo(member=me.id, shard_key=me.shard_key, api=api)
        self.members = Members(ttl)
        self._changed = asyncio.Event()
        self._submitted: tuple[Member, ...] | None = None
        self.renewals = 0
        self.failures = 0
        #: the statuses' parts: this shard's to write (latest only), the others' as read
        self._submit_parts = submit_parts
        self._part: bytes | None = None
        self._part_due = asyncio.Event()
        self.parts: dict[str, dict[str, list[str]]] = {}
        self._parts_seen = asyncio.Event()

    async def run(self) -> None:
        """Until cancelled: register, renew, watch, submit; the key deleted on the way out."""
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._renew())
                tg.create_task(self._watch())
                tg.create_task(self._judge())
                tg.create_task(self._write_parts())
                tg.create_task(self._forward_parts())
                tg.create_task(self._watch(f"{self.group}.*.status", self._apply_part))
        finally:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._delete(), 1.0)

    async def _delete(self) -> None:
        kv = await self._js.key_value(SHARDS.bucket)
        await kv.delete(self.key)
        await kv.delete(f"{self.key}.status")
        log.info("left shard group %s", self.group, extra={"obj": self.key})

    async def _renew(self) -> None:
        raw = self._value.model_dump_json().encode()
        delay = 0.2
        while True:
            try:
                kv = await self._js.key_value(SHARDS.bucket)
                await kv.put(self.key, raw)
                self.renewals += 1
                delay = 0.2
                await asyncio.sleep(self.ttl / 3)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                log.warning("renewing shard membership failed: %s", exc, extra={"obj": self.key})
                await asyncio.sleep(random.uniform(delay / 2, delay))
                delay = min(delay * 2, self.ttl / 3)

    def publish_part(self, errors: dict[str, list[str]]) -> None:
        """This shard's part of the statuses (written soon, once, if it changed)."""
        raw = StatusPart(member=self.me.id, errors=errors).model_dump_json().encode()
        if raw != self._part:
            self._part = raw
            self._part_due.set()

    async def _write_parts(self) -> None:
        written: bytes | None = None
        while True:
            await self._part_due.wait()
            self._part_due.clear()
            raw = self._part
            if raw is None or raw == written:
                continue
            try:
                kv = await self._js.key_value(SHARDS.bucket)
                await kv.put(f"{self.key}.status", raw)
                written = raw
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # retried: the latest part is written again
                log.warning("writing this shard's status part failed: %s", exc,
                            extra={"obj": self.key})  # fmt: skip
                await asyncio.sleep(1.0)
                self._part_due.set()

    def _apply_part(self, entry: Any) -> None:
        if entry.op == "put":
            try:
                part = StatusPart.model_validate_json(entry.value)
            except ValidationError:
                return
            self.parts[part.member] = part.errors
        elif entry.op == "delete":
            self.parts.pop(entry.key.split(".")[1], None)
        self._parts_seen.set()

    async def _forward_parts(self) -> None:
        """The other shards' parts to the reconciler (the latest, in order)."""
        while True:
            await self._parts_seen.wait()
            self._parts_seen.clear()
            if self._submit_parts is not None:
                await self._submit_parts(dict(self.parts))

    async def _watch(self, keys: str = "", apply: Callable[[Any], None] | None = None) -> None:
        keys = keys or f"{self.group}.*"
        apply = apply or self._apply
        delay = 0.2
        while True:
            watcher = FilteredWatcher(
                self._nc,
                SHARDS.bucket,
                SHARDS.stream_name,
                keys,
                last_per_subject=False,
                heartbeat=min(2.0, self.ttl / 3),
            )
            try:
                await watcher.start()
                delay = 0.2
                while True:
                    apply(await watcher.next())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                log.warning("watching shard members failed: %s", exc, extra={"obj": self.group})
                await asyncio.sleep(random.uniform(delay / 2, delay))
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(watcher.stop(), 0.5)

    def _apply(self, entry: Any) -> None:
        now = asyncio.get_running_loop().time()
        if entry.op == "synced":
            self.members.synced = True
        elif entry.op == "put":
            try:
                info = MemberInfo.model_validate_json(entry.value)
            except ValidationError as exc:
                log.warning(
                    "%s/%s is not a shard member: %s",
                    SHARDS.bucket,
                    entry.key,
                    exc.errors()[0]["msg"],
                    extra={"obj": f"{SHARDS.bucket}/{entry.key}"},
                )
                return
            self.members.put(entry.key, Member(info.member, info.shard_key), now)
        else:
            self.members.delete(entry.key)
        self._changed.set()

    async def _judge(self) -> None:
        """Submit the live members when they change (a put, a delete, an expiry)."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            alive = self.members.alive(now)
            if alive is not None and alive != self._submitted:
                ids = [m.id for m in alive]
                log.info("shard members of %s: %s", self.group, ", ".join(ids) or "none",
                         extra={"obj": self.key})  # fmt: skip
                self._submitted = alive
                await self._submit(alive)
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                # a hair after the next expiry, so that it is past when judged
                await asyncio.wait_for(self._changed.wait(), self.members.next_expiry(now) + 0.01)


__all__ = ["Membership", "ensure_bucket"]
