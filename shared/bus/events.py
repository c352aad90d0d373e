"""Per-change events of ``RIPPLE_EVENTS`` over a JetStream context: publishing an envelope
with a ``Nats-Msg-Id`` dedup id (:func:`publish_event`, :func:`publish_change`), decoding a
delivered message and checking its subject against its data (:func:`decode_event`), and
iterating over the decoded events with an ordered or durable consumer (:class:`EventStream`).
The connection itself (:func:`shared.bus.client.connect`) is in :mod:`shared.bus.client`,
which re-exports every name of this module."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import nats
from nats.aio.msg import Msg

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

log = logging.getLogger("shared.bus.client")  # the name its records had before the split

MSG_ID_HEADER = "Nats-Msg-Id"


async def publish_event(
    js: Any,
    message: Envelope,
    *,
    subject: str | None = None,
    msg_id: str | None = None,
    timeout: float = 5.0,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """Publish an envelope to JetStream with a ``Nats-Msg-Id`` header (default: the
    envelope's ``id``, deterministic for resource changes) so that a repeat within the
    stream's duplicate window is stored once, and ``headers`` (event time, trace context:
    :mod:`shared.contract.headers`). ``subject`` defaults to the envelope's. Returns the
    nats-py ``PubAck`` (``duplicate`` is true for a dropped repeat)."""
    return await js.publish(
        subject or message.subject,
        encode(message),
        timeout=timeout,
        headers={**(headers or {}), MSG_ID_HEADER: msg_id or message.id},
    )


async def publish_change(
    js: Any,
    change: ResourceChange,
    *,
    timeout: float = 5.0,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """Wrap a :class:`ResourceChange` in its CloudEvent and publish it (dedup id and
    ``headers`` included)."""
    return await publish_event(js, envelope(change), timeout=timeout, headers=headers)


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
