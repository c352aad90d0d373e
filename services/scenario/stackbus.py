"""The stack's adjustment of the streams the manager provisions, for fleets of hundreds of
clusters: the consumer limit of every stream and bucket.

Every agent watches its own keys of a few buckets (one ordered consumer per bucket and
cluster), so a bucket serving 1,000 hosted agents holds more than 1,000 consumers. nats-server
2.15 gives every stream a default limit of 1,000 consumers unless the stream sets one, and
treats ``max_consumers: -1`` (what :mod:`shared.bus.provision` asks for, "unlimited") as not
set: the 1,000th agent's watch is refused ("maximum consumers limit reached") and retried
forever. Until provisioning sets an explicit limit, the stack raises it on every stream once
the manager has provisioned them (:func:`raise_consumer_limits`), before the hosted agents'
watches need it (they retry meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from services.scenario.errors import StackError

log = logging.getLogger(__name__)

CONSUMER_LIMIT = 1_000_000
"""The explicit consumer limit a stream gets (nats-server keeps its default under it)."""


async def _raise(url: str, limit: int) -> list[str]:
    from shared.bus.client import close, connect

    client = await connect(url, "scenario-stack", max_reconnect_attempts=0)
    raised: list[str] = []
    try:
        js: Any = client.jetstream()
        for info in await js.streams_info():
            config = info.config
            if (config.max_consumers or -1) >= limit:
                continue
            config.max_consumers = limit
            await js.update_stream(config)
            raised.append(str(config.name))
    finally:
        await close(client)
    return raised


def raise_consumer_limits(url: str, limit: int = CONSUMER_LIMIT) -> list[str]:
    """Give every stream of the server at ``url`` (an administrator's URL) an explicit
    consumer limit of ``limit``; returns the streams changed. Runs in a thread of its own (the
    caller may be inside an event loop); :class:`StackError` when it fails."""
    out: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            out.append(asyncio.run(_raise(url, limit)))
        except Exception as err:  # nats-py raises several error types
            errors.append(err)

    thread = threading.Thread(target=run, name="stack-consumer-limits", daemon=True)
    thread.start()
    thread.join(60)
    if errors or not out:
        why = errors[0] if errors else "no answer within 60 s"
        raise StackError(f"cannot raise the streams' consumer limit: {why}")
    log.info("consumer limit %s on %s", limit, ", ".join(out[0]) or "no stream")
    return out[0]
