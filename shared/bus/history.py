"""Read back a stream's recent messages on one subject (an agent's own per-change events).

The consumer is created with the *filtered* JetStream API subject
(``$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>``), so a per-cluster user allowed to
read back only its own subjects can do it (:mod:`shared.contract.permissions`). It starts at
a time, delivers what is stored from then on (as many messages as were pending when it was
created) and is deleted after.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import nats.errors
from nats.aio.msg import Msg

from shared.bus.errors import BusError

_NS = 1_000_000_000
MAX_READ_BACK = 200_000
"""Messages read back at most (beyond, the caller gets what came first and a flag)."""


async def read_back(
    nc: Any,
    stream: str,
    subject: str,
    since: datetime,
    *,
    timeout: float = 5.0,
    api_prefix: str = "$JS.API",
    limit: int = MAX_READ_BACK,
) -> list[Msg]:
    """The messages of ``stream`` on ``subject`` stored since ``since``, oldest first;
    :class:`BusError` when they cannot be read completely."""
    received: asyncio.Queue[Msg] = asyncio.Queue()

    async def on_msg(msg: Msg) -> None:
        received.put_nowait(msg)

    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, cb=on_msg)
    name = f"ripple-readback-{uuid.uuid4().hex[:16]}"
    config: dict[str, Any] = {
        "name": name,
        "deliver_subject": inbox,
        "filter_subject": subject,
        "deliver_policy": "by_start_time",
        "opt_start_time": since.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "ack_policy": "none",
        "max_deliver": 1,
        "mem_storage": True,
        "num_replicas": 1,
        "inactive_threshold": 30 * _NS,
        "replay_policy": "instant",
    }
    api = f"{api_prefix}.CONSUMER.CREATE.{stream}.{name}.{subject}"
    body = json.dumps({"stream_name": stream, "config": config, "action": "create"}).encode()
    created = False
    try:
        try:
            reply = await nc.request(api, body, timeout=timeout)
            info = json.loads(reply.data)
        except (nats.errors.Error, TimeoutError, ValueError) as err:
            raise BusError(f"cannot read back {subject}: {err!r}") from err
        if "error" in info:
            raise BusError(f"cannot read back {subject}: {info['error'].get('description')}")
        created = True
        pending = min(int(info.get("num_pending", 0)), limit)
        out: list[Msg] = []
        while len(out) < pending:
            try:
                async with asyncio.timeout(timeout):
                    msg = await received.get()
            except TimeoutError:
                raise BusError(
                    f"reading back {subject}: {len(out)} of {pending} messages came"
                ) from None
            if msg.data or msg.headers:
                out.append(msg)
        return out
    finally:
        try:
            await sub.unsubscribe()
        except nats.errors.Error:
            pass
        if created and nc.is_connected:
            try:
                await nc.request(
                    f"{api_prefix}.CONSUMER.DELETE.{stream}.{name}", b"", timeout=timeout
                )
            except (nats.errors.Error, TimeoutError):
                pass  # the inactive threshold removes it
