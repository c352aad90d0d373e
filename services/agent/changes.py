"""The steps of the ``changes`` handler (:func:`services.agent.effects.publish_changes`):
an EventSource's matching set published to ``ripple-matches`` and ``RIPPLE_EVENTS``.

- :func:`resync`: the first publication of an instance, the net difference between the set
  and the entries stored (:func:`services.agent.deltas.resync`); after a restart, what the
  previous instance may have published without recording its entry is read back from the
  events stream first (:func:`services.agent.deltas.recover`).
- :func:`drain`: the pending deltas in order, in batches of :data:`CHANGE_BATCH` (the
  per-change events, then the entries: :mod:`services.agent.publishing`); what NATS did not
  acknowledge stays pending for the retry.
- :func:`publish_head`: the set's head, when its content changed.
- :func:`withdraw`: positive knowledge that the EventSource is no longer assigned here: its
  head, entries and deprecated snapshot are deleted.

Each raises when NATS fails: the handler's queue retries the EventSource with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from services.agent import cloudevents, deltas, publishing, reporting
from services.agent.agent import Agent
from services.agent.evaluating import SourceState
from shared.api.vocabulary import ObjectKey
from shared.bus.client import decode_event
from shared.bus.history import read_back
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.errors import InvalidMessage

log = logging.getLogger(__name__)

CHANGE_BATCH = 256
"""Per-change events published concurrently (acknowledged together) per handler round."""


async def resync(agent: Agent, source: SourceState) -> None:
    state = agent.state
    stored = state.stored.setdefault(source.name, deltas.StoredSet())
    if stored.recovered and not source.seeded:
        # CloudEvents received before a restart stay in the set
        for event in stored.cloud_events:
            source.cloud_events = cloudevents.keep_latest(source.cloud_events, event)
        source.seeded = True
    if stored.recovered:
        last = await _stored_events(agent, source.name, stored)
        found = deltas.recover(agent.cluster, source, state.instance, stored.entries, last)
        state.counts.events_already_stored += sum(1 for d in found if d.event is None)
    else:
        found = deltas.resync(agent.cluster, source, state.instance, stored.entries)
    stored.recovered = False
    source.synced = True  # from now on every change is a delta, after these
    state.pending.drop(source.name)
    for item in found:
        state.pending.push(source.name, item)
    state.counts.resyncs += 1
    log.info(
        "matching set resynchronised: %d matching, %d change(s) to publish",
        len(source.matches),
        len(found),
        extra={"obj": f"{agent.ident}:{source.name}"},
    )


async def _stored_events(
    agent: Agent, name: str, stored: deltas.StoredSet
) -> dict[ObjectKey, tuple[str, deltas.Stored]]:
    """The newest event stored per object since shortly before the newest entry a previous
    instance wrote (what it may have published without recording the entry)."""
    since = stored.newest - deltas.RECOVERY_WINDOW if stored.newest else time.time() - 300
    subject = subjects.event_subject(agent.cluster, name)
    msgs = await read_back(
        agent.nc, streams.EVENTS.name, subject, datetime.fromtimestamp(since, UTC)
    )
    last: dict[ObjectKey, tuple[str, deltas.Stored]] = {}
    for msg in msgs:
        try:
            event = decode_event(msg)
        except InvalidMessage:
            continue
        data = event.data  # type: ignore[attr-defined]
        last[data.ref.key] = (data.change, deltas.Stored(data.uid, data.resource_version))
    return last


async def drain(agent: Agent, name: str) -> None:
    state = agent.state
    stored = state.stored.setdefault(name, deltas.StoredSet())
    while True:
        batch = deltas.one_per_object(state.pending.head(name, CHANGE_BATCH))
        if not batch:
            return
        with contextlib.ExitStack() as spans:
            carried = publishing.headers(agent, name, batch, spans)
            events, last = await publishing.publish(agent, name, batch, carried)
        for k, d in last.items():
            if d.entry is None:
                stored.entries.pop(k, None)
            else:
                stored.entries[k] = deltas.Stored(d.entry.uid, d.entry.resource_version)
        state.counts.changes += events
        state.counts.entries_written += len(last)
        state.pending.done(name, batch[-1][0])


async def publish_head(agent: Agent, source: SourceState) -> None:
    state = agent.state
    complete = reporting.complete(source, agent.known)
    content = deltas.head_content(source, complete)
    if state.heads.get(source.name) == content:
        return
    head = deltas.head(agent.cluster, source, state.instance, state.next_generation(), complete)
    await agent.stores.matches.put(m.envelope(head))
    state.heads[source.name] = content
    state.head_at[source.name] = time.monotonic()
    if complete and not source.published:
        source.published = True
        log.info(
            "matching set published: %d matching",
            len(source.matches),
            extra={"obj": f"{agent.ident}:{source.name}"},
        )
        agent.check_ready()


async def withdraw(agent: Agent, name: str) -> None:
    """Positive knowledge: the EventSource is no longer assigned here. Its head goes first
    (readers drop the set), then its entries and its deprecated snapshot."""
    state = agent.state
    state.pending.drop(name)
    await agent.stores.matches.delete(subjects.match_head_key(agent.cluster, name))
    stored = state.stored.get(name)
    keys = list(stored.entries) if stored is not None else []
    kv = agent.stores.matches.kv
    for start in range(0, len(keys), CHANGE_BATCH):
        part = keys[start : start + CHANGE_BATCH]
        await asyncio.gather(*(kv.delete(subjects.match_key(agent.cluster, name, k)) for k in part))
        if stored is not None:
            for k in part:
                stored.entries.pop(k, None)
    state.stored.pop(name, None)
    state.heads.pop(name, None)
    state.head_at.pop(name, None)
    await agent.stores.reports.delete(subjects.report_key(agent.cluster, name))
    state.assignments.report_done(name)
    state.counts.reports_deleted += 1
    log.info("matching set withdrawn", extra={"obj": f"{agent.ident}:{name}"})
