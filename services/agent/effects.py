"""The agent's effects: one work-queue handler per kind, each level-triggered.

A handler reads the *current* wanted state of its key when it runs, does what the pure
cores decide, and raises when the effect failed: the queue retries the key with backoff
(client-go semantics), never holding up another key and never ending the process; the
failure shows in the agent's status and metrics until the key succeeds.

- :func:`reconcile_profile` (``profiles``): apply with write-ahead outcome, prune, Helm
  releases, remove (:mod:`services.agent.planning` decides). Kubernetes and Helm calls run
  in a worker thread on the plan's immutable data. An apply that failed (a CRD not installed
  yet, a webhook down, a chart repository unreachable) is retried until it succeeds or the
  profile changes; so is a removal that failed. An apply whose every failure is terminal (an
  invalid ``helmCharts`` entry, a chart or version that does not exist, values the chart's
  schema rejects, a release another owner holds) raises
  :class:`~shared.runtime.errors.Terminal`: kept as the profile's failure, not retried, until
  its desired state changes.
- :func:`publish_changes` (``changes``): an EventSource's pending deltas in order (the
  per-change event, then the ``ripple-matches`` entry), then its head when it changed; the
  first publication of an instance is a resync (:mod:`services.agent.deltas`); a withdrawn
  EventSource's head, entries and snapshot are deleted (the steps:
  :mod:`services.agent.changes`). What NATS did not acknowledge stays pending for the retry
  (dedup ids make a repeated event harmless).
- :func:`publish_report` (``reports``): the deprecated ``ripple-reports`` snapshot, coalesced
  (``--report-interval``), only when complete; large ones are built in a thread.
- :func:`publish_status` (``status``): the agent's status, when it changed or as heartbeat.
"""

from __future__ import annotations

import asyncio
import logging
import time

from services.agent import changes, planning, reporting
from services.agent.agent import Agent
from services.agent.errors import EffectFailed
from services.agent.planning import Apply, Nothing, PublishOutcome, Record, Remove
from services.agent.state import AgentState
from shared.api.vocabulary import ObjectKey
from shared.contract import messages as m
from shared.contract import subjects
from shared.contract.errors import InvalidMessage
from shared.runtime import tracing
from shared.runtime.errors import Terminal
from shared.runtime.tracing import Origin

log = logging.getLogger(__name__)

object_key = ObjectKey.of

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
        force=state.drift.forced_of(profile),  # releases whose objects drifted
    )
    if not isinstance(action, Apply):
        state.origins.pop(profile, None)  # nothing to apply: no event-to-applied to measure
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
    state.drift.hold_releases(profile)  # the apply's own writes are not drift
    if plan.drift_detection and not plan.dry_run:  # an edit right after a write is drift
        state.drift.expect(profile, (object_key(manifest) for manifest, _ in plan.objects))
    origin = state.origins.get(profile)
    with tracing.span("apply", parent=origin, attributes=_apply_attributes(agent, profile)) as span:
        await _apply_traced(agent, profile, plan, wanted, tracing.carried(span, origin))
    if origin is not None and origin.at > 0 and profile in state.records:
        if state.records[profile].deployed and not plan.dry_run:
            agent.latencies.event_to_applied.observe(time.time() - origin.at)
        if state.origins.get(profile) is origin:
            del state.origins[profile]  # measured (or failed for good): a newer one stays


def _apply_attributes(agent: Agent, profile: str) -> dict[str, str | int | float | bool]:
    return {"ripple.cluster": agent.ident, "ripple.profile": profile}


async def _apply_traced(
    agent: Agent,
    profile: str,
    plan: planning.ApplyPlan,
    wanted: m.DesiredState,
    origin: Origin | None,
) -> None:
    state = agent.state
    started = time.perf_counter()
    try:
        result = await asyncio.to_thread(
            agent.applier.apply,
            profile,
            plan.objects,
            plan.previous,
            plan.dry_run,
            plan.charts,
            plan.drift_detection,
            plan.options,
        )
    finally:
        agent.latencies.apply.observe(time.perf_counter() - started)
    state.counts.applies += 1
    state.counts.add_releases(result.releases, plan.dry_run)
    _requeue_previous_owners(agent, profile, result.taken_over)
    if not plan.dry_run:
        state.counts.conflicts += sum(r.action == "Conflict" for r in result.reports)
    state.counts.takeovers += len(result.taken_over)
    state.counts.namespaces_created += result.namespaces_created
    record = planning.settle_apply(agent.cluster, plan, wanted, result)
    state.records[profile] = record
    if record.deployed:
        state.drift.repaired(profile)
    if plan.drift_detection and not plan.dry_run and record.deployed:
        state.drift.track(profile, record.keys, result.releases.objects)
    else:
        state.drift.untrack(profile)
    agent.update_watches()
    if result.failed:
        state.counts.apply_failures += 1
    await _publish_outcome(agent, record, origin)


def _requeue_previous_owners(
    agent: Agent, profile: str, taken_over: list[tuple[ObjectKey, str]]
) -> None:
    """Profiles of this cluster that lost objects to ``profile`` (of a lower tier) are
    applied again, so that their outcome reports the conflict (Sveltos requeues them)."""
    state = agent.state
    for key, owner in taken_over:
        if owner == profile or owner not in state.wanted or owner in state.drifted:
            continue
        log.info(
            "%s taken over by %s: re-applied to report the conflict",
            key,
            profile,
            extra={"obj": f"{agent.ident}:{owner}"},
        )
        state.drifted.add(owner)  # applied again although its desired state did not change
        state.queues.profiles.add(owner)


async def _publish_outcome(agent: Agent, record: Record, origin: Origin | None = None) -> None:
    """Publish the outcome ``record`` owes (with the apply's trace context: ``origin``); a
    failed apply then raises: retried, unless every failure was terminal."""
    owed = record.owed
    if owed is not None:
        attributes = {"ripple.cluster": agent.ident, "ripple.status": str(owed.status)}
        with tracing.span("outcome put", parent=origin, attributes=attributes) as span:
            carried = tracing.carried(span, origin)
            headers = carried.headers() if carried is not None else None
            await agent.stores.outcomes.put(m.envelope(owed), headers)
        record.owed = None
        if owed.status == "DryRun":
            log.info("%s", owed.message, extra={"obj": f"{agent.ident}:{owed.profile_name}"})
        elif record.deployed:
            log.info(
                "%s: %d object(s), %d release(s)",
                owed.status,
                len(owed.applied),
                len(record.releases),
                extra={"obj": f"{agent.ident}:{owed.profile_name}"},
            )
    if not record.deployed:
        message = owed.message if owed is not None else "the last apply failed"
        if record.terminal:
            raise Terminal(f"apply failed: {message}")
        raise EffectFailed(f"apply failed: {message}")


async def _remove(agent: Agent, profile: str, action: Remove) -> None:
    state = agent.state
    plan = action.plan
    result = await asyncio.to_thread(
        agent.applier.remove, profile, plan.keys, plan.leave, plan.releases
    )
    state.counts.add_releases(result.releases)
    if result.status == "Failed":
        state.counts.removal_failures += 1
        raise EffectFailed(f"removal failed: {result.message}")
    await agent.stores.outcomes.delete(subjects.outcome_key(agent.cluster, profile))
    state.records.pop(profile, None)
    state.drift.untrack(profile)
    state.drift.repaired(profile)
    agent.update_watches()
    state.counts.removals += 1
    what = (
        "left in place (LeavePolicies)"
        if plan.leave
        else f"{len(plan.keys)} object(s), {len(plan.releases)} release(s)"
    )
    log.info("profile removed: %s", what, extra={"obj": f"{agent.ident}:{profile}"})


# -- legacy EventReport snapshots (deprecated, coalesced) ---------------------------------
async def publish_report(agent: Agent, name: str) -> None:
    """The current snapshot of ``name`` in ``ripple-reports`` (deprecated; at most once per
    ``report_interval``), only when it is complete. Over the message limit it is skipped,
    logged and counted: Ripple's services read ``ripple-matches``, which has no size limit."""
    state = agent.state
    source = state.assignments.sources.get(name)
    if source is None or agent.settings.report_interval <= 0:
        return
    if reporting.gate(source, agent.known) != "publish" or not source.synced:
        return
    if source.too_large and len(source.matches) >= source.too_large:
        return  # it did not fit at this size: not built again until the set shrinks
    source.dirty = False  # changes from now on make it dirty again (and re-queue it)
    data = reporting.take(source, agent.cluster, state.instance, state.next_generation())
    started = time.perf_counter()
    try:
        if len(data.objects) > INLINE_REPORT:
            key, raw = await asyncio.to_thread(reporting.encode_report, data)
        else:
            key, raw = reporting.encode_report(data)
    except InvalidMessage as exc:  # over the message limit: skipped until the set shrinks
        source.too_large = max(1, int(len(data.objects) * 0.9))
        state.counts.reports_skipped += 1
        log.warning("EventReport snapshot skipped: %s", exc, extra={"obj": f"{agent.ident}:{name}"})
        return
    finally:
        source.report_cost = time.perf_counter() - started
    try:
        await agent.stores.reports.kv.put(key, raw)
        source.too_large = 0
    except BaseException:
        source.dirty = True
        raise
    state.counts.reports += 1


# -- matching sets as deltas and per-change events ---------------------------------------------
async def publish_changes(agent: Agent, name: str) -> None:
    """Publish ``name``'s pending deltas in order (event, then entry), then its head when
    it changed. The first publication of an instance is a resync
    (:func:`services.agent.changes.resync`)."""
    state = agent.state
    source = state.assignments.sources.get(name)
    if source is None:
        if name in state.assignments.withdrawn:
            await changes.withdraw(agent, name)
        return
    if name in state.pending.overflowed:
        source.synced = False
        state.pending.drop(name)
    if source.aggregated and source.aggregate_due:
        if not reporting.complete(source, agent.known):
            return  # aggregated over what is known only; re-queued when that changes
        source.aggregate_due = False
        engine = source.aggregator or source.compiled
        try:
            result = await asyncio.to_thread(engine.aggregate, source.aggregation_input())
        except BaseException:
            source.aggregate_due = True
            raise
        if state.assignments.sources.get(name) is not source:
            return  # replaced meanwhile: the new state aggregates itself
        agent.changed(source, source.apply_aggregation(result))
    if not source.synced:
        if not reporting.complete(source, agent.known):
            return  # re-queued when what is known changes (report_due)
        await changes.resync(agent, source)
        if state.assignments.sources.get(name) is not source:
            return  # replaced meanwhile: the new state resynchronises itself
    await changes.drain(agent, name)
    await changes.publish_head(agent, source)


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
