"""Connecting to NATS and publishing/consuming the contract's per-change events."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from shared.bus.errors import BusError
from shared.contract import streams
from shared.contract.errors import InvalidMessage
from shared.contract.messages import (
    RESOURCE_CHANGE_EVENTS,
    Envelope,
    ResourceChange,
    decode,
    encode,
    envelope,
    message_key,
)
from shared.contract.subjects import events_wildcard

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"


async def connect(url: str | list[str], name: str, **opts: Any) -> Client:
    """Connect with Ripple's defaults: reconnect forever (0.5 s apart, jittered by nats-py),
    2 s connect timeout, 10 s pings, and callbacks that log disconnects, reconnects and
    asynchronous errors (e.g. permission violations). ``opts`` override any nats-py option."""
    obj = {"obj": name}
    holder: list[Client] = []

    async def error_cb(err: Exception) -> None:
        log.warning("NATS error: %s", err, extra=obj)

    async def disconnected_cb() -> None:
        closing = bool(holder) and (holder[0].is_closed or holder[0].is_draining)
        log.log(logging.DEBUG if closing else logging.WARNING, "disconnected from NATS", extra=obj)

    async def reconnected_cb() -> None:
        log.info("reconnected to NATS", extra=obj)

    async def closed_cb() -> None:
        log.debug("NATS connection closed", extra=obj)

    options: dict[str, Any] = {
        "name": name,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 2,
        "ping_interval": 10,
        "max_outstanding_pings": 3,
        "error_cb": error_cb,
        "disconnected_cb": disconnected_cb,
        "reconnected_cb": reconnected_cb,
        "closed_cb": closed_cb,
    }
    options.update(opts)
    servers = [url] if isinstance(url, str) else url
    try:
        client: Client = await nats.connect(servers=servers, **options)
    except Exception as err:  # nats-py raises a variety of OSError/NATS errors here
        raise BusError(f"cannot connect to NATS at {servers} as {name!r}: {err}") from err
    holder.append(client)
    return client


async def close(client: Client) -> None:
    """Drain and close a connection; when draining is impossible (the server is gone or the
    connection is reconnecting), close it without draining. Never raises."""
    try:
        await client.drain()
    except Exception as err:  # nats-py raises several error types here
        log.debug("drain failed (%s): closing", err, extra={"obj": "nats"})
        try:
            await client.close()
        except Exception:
            pass


async def publish_event(
    js: Any,
    message: Envelope,
    *,
    subject: str | None = None,
    msg_id: str | None = None,
    timeout: float = 5.0,
) -> Any:
    """Publish an envelope to JetStream with a ``Nats-Msg-Id`` header (default: the
    envelope's ``id``, deterministic for resource changes) so that a repeat within the
    stream's duplicate window is stored once. ``subject`` defaults to the envelope's. Returns
    the nats-py ``PubAck`` (``duplicate`` is true for a dropped repeat)."""
    return await js.publish(
        subject or message.subject,
        encode(message),
        timeout=timeout,
        headers={MSG_ID_HEADER: msg_id or message.id},
    )


async def publish_change(js: Any, change: ResourceChange, *, timeout: float = 5.0) -> Any:
    """Wrap a :class:`ResourceChange` in its CloudEvent and publish it (dedup id included)."""
    return await publish_event(js, envelope(change), timeout=timeout)


def decode_event(msg: Msg) -> Envelope:
    """Decode a per-change event message; :class:`InvalidMessage` when it is malformed or its
    subject disagrees with its data."""
    event = decode(msg.data, RESOURCE_CHANGE_EVENTS, where=f"subject {msg.subject}")
    if message_key(event) != msg.subject:
        raise InvalidMessage(
            f"subject {msg.subject}: data belongs under {message_key(event)!r} (spoofed?)"
        )
    return event


class EventStream:
    """Iterate over decoded per-change events of ``RIPPLE_EVENTS``.

    Without ``durable`` an ordered (ephemeral, flow-controlled) consumer replays from
    ``deliver_policy`` (``all``/``new``/``last``...). With ``durable`` a durable push consumer
    resumes where it stopped; a message is acknowledged when the loop asks for the next one
    (at-least-once). Malformed messages are logged with their subject, counted in
    :attr:`skipped`, acknowledged and skipped."""

    def __init__(
        self,
        js: Any,
        filter_subject: str | None = None,
        *,
        durable: str | None = None,
        deliver_policy: str = "all",
    ) -> None:
        self._js = js
        self.filter_subject = filter_subject or events_wildcard()
        self.durable = durable
        self.deliver_policy = deliver_policy
        self._sub: Any = None
        self._pending: Msg | None = None
        self.skipped = 0

    async def start(self) -> EventStream:
        from nats.js import api

        policy = api.DeliverPolicy(self.deliver_policy)
        if self.durable:
            self._sub = await self._js.pull_subscribe(
                self.filter_subject,
                durable=self.durable,
                stream=streams.EVENTS.name,
                config=api.ConsumerConfig(deliver_policy=policy),
            )
        else:
            self._sub = await self._js.subscribe(
                self.filter_subject,
                stream=streams.EVENTS.name,
                ordered_consumer=True,
                deliver_policy=policy,
            )
        return self

    async def next(self, timeout: float | None = None) -> Envelope:
        """The next valid event (raises ``TimeoutError`` after ``timeout`` seconds)."""
        if self._sub is None:
            await self.start()
        await self._ack_pending()
        while True:
            msg = await self._receive(timeout)
            try:
                event = decode_event(msg)
            except InvalidMessage as err:
                self.skipped += 1
                log.warning("skipping malformed event: %s", err, extra={"obj": msg.subject})
                if self.durable:
                    await msg.ack()
                continue
            if self.durable:
                self._pending = msg
            return event

    async def _receive(self, timeout: float | None) -> Msg:
        try:
            if not self.durable:
                msg: Msg = await self._sub.next_msg(timeout=timeout)
                return msg
            while True:
                try:
                    msgs = await self._sub.fetch(1, timeout=timeout if timeout is not None else 30)
                    return msgs[0]  # type: ignore[no-any-return]
                except nats.errors.TimeoutError:
                    if timeout is not None:
                        raise
        except nats.errors.TimeoutError:
            raise TimeoutError(f"no event on {self.filter_subject} in {timeout}s") from None

    async def _ack_pending(self) -> None:
        if self._pending is not None:
            msg, self._pending = self._pending, None
            await msg.ack()

    def __aiter__(self) -> AsyncIterator[Envelope]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Envelope]:
        while True:
            yield await self.next()

    async def stop(self) -> None:
        """Acknowledge the last delivered message and unsubscribe (a durable consumer stays)."""
        await self._ack_pending()
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def __aenter__(self) -> EventStream:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
