"""The agent's effects: one work-queue handler per kind, each level-triggered.

A handler reads the *current* wanted state of its key when it runs, does what the pure
cores decide, and raises when the effect failed: the queue retries the key with backoff
(client-go semantics), never holding up another key and never ending the process; the
failure shows in the agent's status and metrics until the key succeeds.

- :func:`reconcile_profile` (``profiles``): apply with write-ahead outcome, prune, remove
  (:mod:`services.agent.planning` decides). Kubernetes calls run in a worker thread on the
  plan's immutable data. An apply that failed (a CRD not installed yet, a webhook down) is
  retried until it succeeds or the profile changes; so is a removal that failed.
- :func:`publish_report` (``reports``): the CURRENT report of an EventSource, only when it is
  complete (:func:`services.agent.reporting.gate`); the report of a withdrawn one is
  deleted. Large reports are built and encoded in a thread from an immutable copy.
- :func:`publish_changes` (``changes``): an EventSource's pending per-change events, in
  order; what NATS did not acknowledge stays pending for the retry (dedup ids make a
  repeat harmless).
- :func:`publish_status` (``status``): the agent's status, when it changed or as heartbeat.
"""

from __future__ import annotations

import asyncio
import logging
import time

from services.agent import cloudevents, planning, reporting
from services.agent.agent import Agent
from services.agent.errors import EffectFailed
from services.agent.planning import Apply, Nothing, PublishOutcome, Record, Remove
from services.agent.state import AgentState
from shared.bus.client import publish_change
from shared.contract import messages as m
from shared.contract import subjects
from shared.contract.errors import InvalidMessage
from shared.runtime.errors import Terminal

log = logging.getLogger(__name__)

CHANGE_BATCH = 256
"""Per-change events published concurrently (acknowledged together) per handler round."""

INLINE_REPORT = 200
"""Reports of up to this many objects are built on the loop (a thread costs more)."""

HEARTBEAT = 30.0
"""Seconds after which the status is published again even when it did not change."""


# -- profiles --------------------------------------------------------------------------------
async def reconcile_profile(agent: Agent, profile: str) -> None:
    try:
        await _reconcile(agent, profile)
    finally:
        agent.state.initial_profiles.discard(profile)
        agent.check_ready()


async def _reconcile(agent: Agent, profile: str) -> None:
    state = agent.state
    obj = f"{agent.ident}:{profile}"
    drifted = profile in state.drifted
    state.drifted.discard(profile)
    wanted = state.wanted.get(profile)
    action = planning.decide(
        agent.cluster,
        profile,
        wanted,
        state.records.get(profile),
        unknown=subjects.desired_key(agent.cluster, profile) in agent.stores.desired.invalid,
        synced=state.desired_synced,
        drifted=drifted,
    )
    if isinstance(action, Nothing):
        log.debug("%s", action.reason, extra={"obj": obj})
        return
    if isinstance(action, PublishOutcome):
        record = state.records[profile]
        await _publish_outcome(agent, record)
        return
    if isinstance(action, Apply):
        assert wanted is not None  # decide() applies only what is wanted
        await _apply(agent, profile, action.plan, wanted)
        return
    await _remove(agent, profile, action)


async def _apply(
    agent: Agent, profile: str, plan: planning.ApplyPlan, wanted: m.DesiredState
) -> None:
    state = agent.state
    if plan.write_ahead is not None:  # everything this apply may leave behind, first
        await agent.stores.outcomes.put(m.envelope(plan.write_ahead))
    result = await asyncio.to_thread(
        agent.applier.apply, profile, plan.objects, plan.previous, plan.dry_run
    )
    state.counts.applies += 1
    record = planning.settle_apply(agent.cluster, plan, wanted, result)
    state.records[profile] = record
    if plan.drift_detection and not plan.dry_run and record.deployed:
        state.drift.track(profile, record.keys)
    else:
        state.drift.untrack(profile)
    agent.update_watches()
    if result.status == "Failed":
        state.counts.apply_failures += 1
    await _publish_outcome(agent, record)


async def _publish_outcome(agent: Agent, record: Record) -> None:
    """Publish the outcome ``record`` owes; a failed apply then raises (retried)."""
    owed = record.owed
    if owed is not None:
        await agent.stores.outcomes.put(m.envelope(owed))
        record.owed = None
        if record.deployed:
            log.info(
                "%s: %d object(s)",
                owed.status,
                len(owed.applied),
                extra={"obj": f"{agent.ident}:{owed.profile_name}"},
            )
    if not record.deployed:
        message = owed.message if owed is not None else "the last apply failed"
        raise EffectFailed(f"apply failed: {message}")


async def _remove(agent: Agent, profile: str, action: Remove) -> None:
    state = agent.state
    plan = action.plan
    result = await asyncio.to_thread(agent.applier.remove, profile, plan.keys, plan.leave)
    if result.status == "Failed":
        state.counts.removal_failures += 1
        raise EffectFailed(f"removal failed: {result.message}")
    await agent.stores.outcomes.delete(subjects.outcome_key(agent.cluster, profile))
    state.records.pop(profile, None)
    state.drift.untrack(profile)
    agent.update_watches()
    state.counts.removals += 1
    what = "left in place (LeavePolicies)" if plan.leave else f"{len(plan.keys)} object(s)"
    log.info("profile removed: %s", what, extra={"obj": f"{agent.ident}:{profile}"})


# -- reports ---------------------------------------------------------------------------------
async def publish_report(agent: Agent, name: str) -> None:
    state = agent.state
    source = state.assignments.sources.get(name)
    key = subjects.report_key(agent.cluster, name)
    if source is None:
        if name in state.assignments.withdrawn:  # positive knowledge: delete the report
            await agent.stores.reports.delete(key)
            state.assignments.report_done(name)
            state.counts.reports_deleted += 1
        return
    if not source.seeded:  # CloudEvents received before a restart stay in the report
        try:
            previous = await agent.stores.reports.get(key)
        except InvalidMessage as exc:
            log.warning("previous report unreadable: %s", exc, extra={"obj": name})
            previous = None
        if previous is not None:
            kept = list(previous.data.cloud_events)
            for event in source.cloud_events:
                kept = cloudevents.keep_latest(kept, event)
            source.cloud_events = kept
        source.seeded = True
    if reporting.gate(source, agent.known) != "publish":
        return
    source.dirty = False  # changes from now on make it dirty again (and re-queue it)
    try:
        if source.aggregated:
            engine = source.aggregator or source.compiled
            result = await asyncio.to_thread(engine.aggregate, source.aggregation_input())
            if state.assignments.sources.get(name) is not source:
                return  # replaced meanwhile: the new state publishes its own report
            agent.changed(source, source.apply_aggregation(result))
        state.generation += 1
        data = reporting.take(source, agent.cluster, state.instance, state.generation)
        started = time.perf_counter()
        try:
            if len(data.objects) > INLINE_REPORT:
                key, raw = await asyncio.to_thread(reporting.encode_report, data)
            else:
                key, raw = reporting.encode_report(data)
        except InvalidMessage as exc:  # over the message limit: until the set changes
            raise Terminal(f"report not published: {exc}") from exc
        finally:
            source.report_cost = time.perf_counter() - started
        await agent.stores.reports.kv.put(key, raw)
    except BaseException:
        source.dirty = True
        raise
    source.published = True
    state.counts.reports += 1
    log.info("report: %d matching", len(data.objects), extra={"obj": f"{agent.ident}:{name}"})
    agent.check_ready()


# -- per-change events -----------------------------------------------------------------------
async def publish_changes(agent: Agent, name: str) -> None:
    state = agent.state
    while True:
        batch = state.backlog.head(name, CHANGE_BATCH)
        if not batch:
            return
        results = await asyncio.gather(
            *(publish_change(agent.js, payload) for _, payload in batch), return_exceptions=True
        )
        done = 0
        for (seq, _), outcome in zip(batch, results, strict=True):
            if isinstance(outcome, BaseException):
                if done:
                    state.backlog.done(name, done)
                raise EffectFailed(
                    f"per-change event not published: {type(outcome).__name__}: {outcome}"
                ) from outcome
            done = seq
            state.counts.changes += 1
        state.backlog.done(name, done)


# -- status ----------------------------------------------------------------------------------
async def publish_status(agent: Agent, _key: str) -> None:
    status = agent.current_status()
    current = (status.state, tuple(status.errors), tuple(status.watched_gvks))
    state = agent.state
    if current == state.published_status and not _heartbeat_due(state):
        return
    await agent.stores.agents.put(m.envelope(status))
    state.published_status = current
    state.published_status_at = time.monotonic()


def _heartbeat_due(state: AgentState) -> bool:
    return time.monotonic() - state.published_status_at >= HEARTBEAT
