"""The agent's inputs: they feed the cores and queue the effects, and do no effect themselves.

- the assignments of the cluster (KV ``ripple-assignments``, own keys only);
- its desired state (KV ``ripple-desired``, own keys only);
- the informers' events, drained in slices (:class:`shared.runtime.slicing.Slicer`) so that
  a burst never holds the loop longer than one slice;
- CloudEvents on the cluster's subject and any configured one;
- at start-up, the outcomes a previous instance recorded (what it deployed, also mid-apply).

Poison is contained (:mod:`shared.bus.kv`): a key outside the contract's shape is skipped
before it gets here, and a value that cannot be read -- malformed, misplaced, or a desired
state or assignment whose envelope does not come from the manager (``ripple://manager``) --
is *unknown* for its key: what was read before is kept (nothing applied, nothing removed or
withdrawn for it), it is counted per bucket (:func:`kv_metrics`) and shown: an assignment's
on its EventSource in the agent's status, the others in :mod:`services.agent.poison`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import time
from typing import Any

from services.agent import cloudevents, observing, poison
from services.agent.agent import Agent
from services.agent.deltas import Stored, StoredSet
from services.agent.drifting import Drift
from services.agent.evaluating import SourceState
from services.agent.planning import record_from_outcome
from services.agent.watching import WatchEvent
from shared.bus.client import subscribe_guarded
from shared.bus.errors import BusError
from shared.bus.kv import KVChange, KVStore
from shared.contract import messages as m
from shared.contract import subjects
from shared.contract.errors import InvalidSubject
from shared.runtime import tracing
from shared.runtime.slicing import Slicer
from shared.runtime.tracing import Origin

log = logging.getLogger(__name__)


def _stores(agent: Agent) -> list[KVStore[Any]]:
    s = agent.stores
    return [s.assignments, s.desired, s.outcomes, s.matches]


def kv_metrics(agent: Agent) -> dict[str, tuple[str, str, float]]:
    """Per-bucket counters of what the agent skipped in the buckets it reads."""
    return poison.metrics(_stores(agent))


def problems(agent: Agent) -> list[str]:
    """The status lines of the poison in the agent's desired state and assignments
    (:func:`services.agent.poison.problems`)."""
    return poison.problems(agent.stores.assignments, agent.stores.desired)


def _name(agent: Agent, change: KVChange[Any]) -> str | None:
    """The EventSource or profile name of a key of the agent's own cluster (None: a key
    outside the contract: the bucket's store logged, counted and skipped it already)."""
    try:
        return subjects.parse_cluster_key(change.key).name
    except InvalidSubject as exc:
        if change.op == "unknown":
            return None  # a put under it: the store says so
        log.warning("skipping %s of key %s: %s", change.op, change.key, exc,
                    extra={"obj": agent.ident})  # fmt: skip
        return None


async def load_outcomes(agent: Agent) -> None:
    """What this cluster's agent deployed before (also mid-apply: ``Provisioning``).
    Retried until it is read: without it, nothing could be pruned or removed. The inputs
    start here: the per-bucket counters (:func:`kv_metrics`) are served from now on."""
    agent.service.add_metrics(lambda: kv_metrics(agent))
    keys = subjects.cluster_keys(agent.cluster)
    delay = 0.2
    while True:
        try:
            outcomes = await agent.stores.outcomes.items(keys)
            break
        except BusError as exc:
            agent.service.not_ready_reason = f"reading apply outcomes: {exc}"
            log.warning("outcomes not read (retrying): %s", exc, extra={"obj": agent.ident})
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, 5.0)
    for event in outcomes.values():
        agent.state.records[event.data.profile_name] = record_from_outcome(event.data)
    _unreadable(agent, agent.stores.outcomes, "what was deployed for it is unknown")


async def load_matches(agent: Agent) -> None:
    """What this cluster's matching sets hold in ``ripple-matches`` (written by a previous
    instance): the base of each EventSource's resync. Retried until it is read: without
    it, a restart would publish every match again and could not withdraw what went."""
    delay = 0.2
    while True:
        try:
            values = await agent.stores.matches.items(subjects.match_keys(agent.cluster))
            break
        except BusError as exc:
            agent.service.not_ready_reason = f"reading matching sets: {exc}"
            log.warning("matching sets not read (retrying): %s", exc, extra={"obj": agent.ident})
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, 5.0)
    stored = agent.state.stored
    for event in values.values():
        data = event.data
        name = data.event_source_name
        entry = stored.setdefault(name, StoredSet(recovered=True))
        entry.newest = max(entry.newest, event.time.timestamp())
        if isinstance(data, m.MatchHead):
            entry.cloud_events = list(data.cloud_events)
        else:
            entry.entries[data.ref.key] = Stored(data.uid, data.resource_version)
    _unreadable(agent, agent.stores.matches, "rewritten when its object changes")
    log.info(
        "matching sets read back: %d set(s), %d entries",
        len(stored),
        sum(len(s.entries) for s in stored.values()),
        extra={"obj": agent.ident},
    )


def _unreadable(agent: Agent, store: KVStore[Any], consequence: str) -> None:
    """Log the values of the agent's own keys read back at start that cannot be read."""
    for key in sorted(store.invalid):
        log.warning("%s key %s unreadable at start (%s): %s", store.spec.bucket, key,
                    consequence, store.problems.get(key, ""), extra={"obj": agent.ident})  # fmt: skip


def withdraw_orphans(agent: Agent) -> None:
    """Once the assignments are read: the stored sets of EventSources no longer assigned
    (unassigned while the agent was down) are withdrawn -- positive knowledge. One whose
    assignment cannot be read is unknown, not unassigned: its set stays."""
    state = agent.state
    unreadable = agent.stores.assignments.invalid
    for name in [n for n in state.stored if n not in state.assignments.sources]:
        if subjects.assignment_key(agent.cluster, name) in unreadable:
            continue
        state.assignments.withdrawn.add(name)
        state.queues.changes.add(name)


async def watch_assignments(agent: Agent) -> None:
    """The assignments of this cluster. An unreadable one keeps the EventSource as it was
    (evaluated with the last definition read, or not at all) and is shown on it."""
    state = agent.state
    keys = subjects.cluster_keys(agent.cluster)
    async with agent.stores.assignments.watch(
        keys, unknown=True, heartbeat=agent.state.watch_heartbeat
    ) as watch:
        async for change in watch:
            if change.op == "synced":
                state.assignments_synced = True
                withdraw_orphans(agent)
                agent.check_ready()
                continue
            name = _name(agent, change)
            if name is None:
                continue
            if change.op == "unknown":
                state.assignments.errors[name] = (
                    f"assignment unreadable, the last one read is kept: {change.error}"
                )
                agent.status_due()
                continue
            if change.op == "delete" or change.message is None:
                decided = state.assignments.delete(name)
            else:
                decided = state.assignments.put(name, change.message.data.event_source)
            if decided.decision in ("assigned", "replaced", "withdrawn"):
                agent.update_watches()
                agent.report_due(name)
            agent.status_due()
            if decided.state is not None:
                await replay(agent, decided.state)


async def replay(agent: Agent, state: SourceState) -> None:
    """Evaluate what the informers already hold for a newly assigned EventSource, in
    slices. Each object is read at its newest version when its turn comes, so an event
    processed meanwhile is never undone by an older copy. Its report waits until done."""
    slicer = Slicer()
    for key in state.watch_keys:
        for obj_key in agent.watches.cached_keys(key):
            if agent.state.assignments.sources.get(state.name) is not state:
                return  # replaced or withdrawn meanwhile: the newer state replays itself
            obj = agent.watches.current(key, obj_key)
            if obj is not None:
                agent.changed(state, observing.replay(state, obj))
            await slicer.pause()
    state.replaying = False
    agent.report_due(state.name)


async def watch_desired(agent: Agent) -> None:
    """The desired state of this cluster. An unreadable value (or one not written by the
    manager) is unknown: the profile keeps what was read and applied before, and
    :mod:`services.agent.effects` neither applies nor removes it (``unknown``)."""
    state = agent.state
    profiles = state.queues.profiles
    seen: set[str] = set()
    keys = subjects.cluster_keys(agent.cluster)
    async with agent.stores.desired.watch(
        keys, unknown=True, heartbeat=agent.state.watch_heartbeat
    ) as watch:
        async for change in watch:
            if change.op == "synced":
                # every profile held or seen is looked at again once the initial values are
                # known: one held but no longer desired (its delete was missed) is removed
                for profile in set(state.records) | seen:
                    state.initial_profiles.add(profile)
                    profiles.add(profile)
                state.desired_synced = True
                agent.check_ready()
                continue
            name = _name(agent, change)
            if name is None:
                continue
            if change.op == "unknown":  # nothing applied, nothing removed: what was is kept
                agent.status_due()
                continue
            seen.add(name)
            if change.op == "delete" or change.message is None:
                state.wanted.pop(name, None)
                state.origins.pop(name, None)
            else:
                state.wanted[name] = change.message.data
                origin = Origin.of(change.headers) if state.desired_synced else None
                if origin is not None:  # the oldest change not applied yet is measured
                    state.origins[name] = origin.older(state.origins.get(name))
            if not state.desired_synced:
                state.initial_profiles.add(name)
            profiles.add(name)


FREEZE_AFTER = 1000
"""Informer events after which, once the burst is drained, what is in memory is frozen."""


async def drain_informers(agent: Agent) -> None:
    """Evaluate every informer event; give the loop back after each slice of work.

    After a burst, the objects now held (informer caches, matching sets) are moved out of
    the cyclic garbage collector's view (:func:`gc.freeze`): a full collection otherwise
    scans all of them and holds the loop (300 ms at 20,000 collected objects). They are
    still freed by reference counting when they go (they hold no reference cycles)."""
    queue = agent.watches.queue
    slicer = Slicer()
    since_freeze = 0
    while True:
        item = await queue.get()
        slicer.restart()
        on_informer_event(agent, item)
        since_freeze += 1
        while not queue.empty():
            on_informer_event(agent, queue.get_nowait())
            since_freeze += 1
            await slicer.pause()
        if since_freeze >= FREEZE_AFTER:
            gc.freeze()
            if not agent.service.hosted:  # counting walks the whole process: every agent's
                agent.state.counts.gc_frozen = gc.get_freeze_count()
            since_freeze = 0


def poll_evaluations(agent: Agent) -> None:
    """Results of evaluations left running off the loop, runs past their hard time limit
    abandoned, objects waiting for a backoff evaluated (:func:`observing.poll`): on a timer,
    so that the loop never waits long for an evaluation, whatever informer events come."""
    _deliver(agent, observing.poll(agent.state.assignments))


def poll_own_evaluations(agent: Agent) -> None:
    """:func:`poll_evaluations` for a hosted agent: the process-wide part is the host's
    (:func:`observing.poll_global`), and an agent with nothing waiting costs one look."""
    if observing.waiting(agent.state.assignments):
        _deliver(agent, observing.poll_sources(agent.state.assignments))


def _deliver(agent: Agent, seen: observing.Observation, origin: Origin | None = None) -> None:
    """Queue what an observation found; changes decided off the loop (no watch event in
    hand) are timed from now."""
    if seen.changes and origin is None:
        origin = tracing.now_origin()
    for source, change in seen.changes:
        agent.changed(source, [change], origin)
    for source in seen.touched:
        agent.report_due(source.name)
    if seen.knowledge:  # a list done or failing: readiness may follow
        agent.check_ready()
        agent.status_due()


def on_informer_event(agent: Agent, item: WatchEvent) -> None:
    state = agent.state
    started = time.perf_counter()
    seen = observing.observe(state.assignments, item)
    if item.event.type not in observing.KNOWLEDGE:
        agent.latencies.evaluation.observe(time.perf_counter() - started)
    if seen.changes and tracing.enabled():
        with _event_span(agent, item) as span:
            _deliver(agent, seen, span.origin if span is not None else Origin(item.at))
    else:
        _deliver(agent, seen, Origin(item.at) if seen.changes else None)
    if item.key.identity or item.key.namespace or not state.drift.owner:
        return  # drift is watched as the agent itself, in every namespace
    if item.event.type == "SYNCED":  # the baseline: every tracked object, as listed
        present = agent.watches.cached_keys(item.key)
        for gone in state.drift.missing(item.key.gvk, present):
            _reapply(agent, gone)
        cached = (agent.watches.current(item.key, key) for key in present)
        listed = (obj for obj in cached if obj is not None)
        for changed in state.drift.baseline(item.key.gvk, listed, state.wanted.get):
            _reapply(agent, changed)
        return
    drift = state.drift.check(item.event.type, item.event.obj, state.wanted.get)
    if drift is not None:
        _reapply(agent, drift)


def _event_span(agent: Agent, item: WatchEvent) -> Any:
    """The root span of a change's trace: the watch event, from its receipt to its
    evaluation's end (only for an event that changed a matching set)."""
    meta = item.event.obj.get("metadata") or {}
    gvk = item.key.gvk
    return tracing.span(
        "watch event",
        start=item.at,
        at=item.at,
        attributes={
            "ripple.cluster": agent.ident,
            "k8s.event.type": item.event.type,
            "k8s.object.kind": f"{gvk[0]}/{gvk[1]}",
            "k8s.object.namespace": str(meta.get("namespace", "") or ""),
            "k8s.object.name": str(meta.get("name", "") or ""),
        },
    )


def _reapply(agent: Agent, drift: Drift) -> None:
    state = agent.state
    if drift.profile in state.drifted:
        return
    log.info("drift at %s: re-applying", drift.where, extra={"obj": f"{agent.ident}:{drift.key}"})
    state.drifted.add(drift.profile)
    state.counts.drift_reapplies += 1
    state.queues.profiles.add(drift.profile)


async def on_cloud_event(agent: Agent, msg: Any) -> None:
    state = agent.state
    try:
        event = cloudevents.parse(msg.data)
    except cloudevents.InvalidCloudEvent as exc:
        state.counts.cloudevents_rejected += 1
        log.warning("CloudEvent on %s rejected: %s", msg.subject, exc, extra={"obj": agent.ident})
        return
    matched = observing.observe_cloud_event(state.assignments, msg.subject, event)
    for name, error in matched.errors:
        log.warning("CloudEvent match failed: %s", error, extra={"obj": name})
    for source in matched.kept:
        agent.report_due(source.name)


async def subscribe_cloud_events(agent: Agent) -> None:
    """Subscribe to the cluster's CloudEvents subject and the configured ones."""

    async def callback(msg: Any) -> None:
        await on_cloud_event(agent, msg)

    def refused(msg: Any) -> None:  # a stream's delivery aimed at this subject: not an event
        agent.state.counts.cloudevents_rejected += 1

    wanted = [cloudevents.default_subject(agent.cluster), *agent.settings.cloudevent_subjects]
    for subject in dict.fromkeys(wanted):
        await subscribe_guarded(agent.nc, subject, callback, on_refused=refused)
