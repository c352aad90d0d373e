"""Publishing a batch of an EventSource's deltas (for :func:`services.agent.effects.
publish_changes`): the per-change events, then the ``ripple-matches`` entries, each with the
headers of its change (:mod:`shared.contract.headers`): the watch event's time and, when
tracing, the trace context of a ``publish`` span, child of the watch event's span."""

from __future__ import annotations

import asyncio
import contextlib

from services.agent import deltas
from services.agent.agent import Agent
from services.agent.errors import EffectFailed
from shared.api.vocabulary import ObjectKey
from shared.bus.client import publish_change
from shared.bus.kvcheck import put_value
from shared.contract import messages as m
from shared.contract import subjects
from shared.runtime import tracing


def headers(
    agent: Agent, name: str, batch: list[tuple[int, deltas.Delta]], spans: contextlib.ExitStack
) -> dict[int, dict[str, str]]:
    """The headers of each delta of ``batch`` (by ``id``): its origin's, or, when tracing,
    those of a ``publish`` span (child of its watch event) entered in ``spans``."""
    out: dict[int, dict[str, str]] = {}
    traced = tracing.enabled()
    for _, d in batch:
        origin = d.origin
        if origin is None:
            continue
        if traced:
            attributes = {"ripple.cluster": agent.ident, "ripple.event_source": name}
            span = spans.enter_context(
                tracing.span("publish", parent=origin, attributes=attributes)
            )
            origin = tracing.carried(span, origin) or origin
        out[id(d)] = origin.headers()
    return out


async def publish(
    agent: Agent,
    name: str,
    batch: list[tuple[int, deltas.Delta]],
    headers: dict[int, dict[str, str]],
) -> tuple[int, dict[ObjectKey, deltas.Delta]]:
    """The per-change events of ``batch``, then its entries (the last operation per
    object), with their headers; raises when NATS did not take one (retried). Returns the
    number of events and the entries written."""
    events = [(d.event, headers.get(id(d))) for _, d in batch if d.event is not None]
    results = await asyncio.gather(
        *(publish_change(agent.js, e, headers=h) for e, h in events), return_exceptions=True
    )
    for outcome in results:
        if isinstance(outcome, BaseException):  # retried: dedup ids make repeats harmless
            raise EffectFailed(
                f"per-change event not published: {type(outcome).__name__}: {outcome}"
            ) from outcome
    last = deltas.collapse(d for _, d in batch)
    kv = agent.stores.matches.kv
    ops = [
        put_value(
            kv,
            subjects.match_key(agent.cluster, name, k),
            m.encode(m.envelope(d.entry)),
            headers.get(id(d)),
        )
        if d.entry is not None
        else kv.delete(subjects.match_key(agent.cluster, name, k))
        for k, d in last.items()
    ]
    results = await asyncio.gather(*ops, return_exceptions=True)
    for outcome in results:
        if isinstance(outcome, BaseException):
            raise EffectFailed(
                f"matching-set entry not written: {type(outcome).__name__}: {outcome}"
            ) from outcome
    return len(events), last
