"""The agent: one per managed cluster (``ripple agent``), run by :mod:`shared.runtime`.

- receives the EventSources assigned to its cluster (KV ``ripple-assignments``);
- keeps one informer per kind (and tenant), shared by all EventSources, and evaluates every
  change;
- publishes each EventSource's matching set as deltas: per change, a CloudEvent on
  ``ripple.v1.events...`` and the object's entry in KV ``ripple-matches``, plus a small head
  (completeness, CloudEvents, errors); the deprecated whole snapshots (KV ``ripple-reports``)
  at most once per ``report_interval``;
- applies the desired state published for its cluster (KV ``ripple-desired``) with
  server-side apply, then installs, upgrades or uninstalls its Helm charts through Helm's
  SDK (:mod:`shared.helm`, loaded with the first chart), prunes what is no longer desired,
  and publishes the outcome (KV ``ripple-outcomes``); its status goes to KV
  ``ripple-agents``.

Stale is never "no match": a set is resynchronised and its head says complete only once
every kind its EventSource needs is known (listed and not failing, or positively not served). Every side effect goes through a
work queue (:mod:`services.agent.effects`) and is retried with backoff. Module map: the pure
cores are :mod:`~services.agent.assigning`, :mod:`~services.agent.evaluating`,
:mod:`~services.agent.observing`, :mod:`~services.agent.deltas`,
:mod:`~services.agent.reporting`,
:mod:`~services.agent.planning`, :mod:`~services.agent.releasing`,
:mod:`~services.agent.drifting`,
:mod:`~services.agent.status`; the shell is this module, :mod:`~services.agent.agent`,
:mod:`~services.agent.inputs`, :mod:`~services.agent.effects`,
:mod:`~services.agent.changes`, :mod:`~services.agent.publishing`,
:mod:`~services.agent.watching` and :mod:`~services.agent.applying`.

The agent connects as its cluster's NATS user with its own inbox prefix, never creates a
stream or bucket (the manager provisions them) and reads and writes only its own keys.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar, cast

from services.agent import effects, inputs
from services.agent.agent import Agent, Stores
from services.agent.settings import AgentSettings
from services.agent.state import AgentState
from shared.contract import messages as m
from shared.contract import streams
from shared.contract.permissions import agent_inbox_prefix
from shared.contract.subjects import ClusterRef
from shared.kube import KubeClient
from shared.kube.errors import KubeConfigInvalid
from shared.runtime.service import Service
from shared.runtime.workqueue import WorkQueue, run_workers

if TYPE_CHECKING:
    from shared.bus.kv import KVStore

log = logging.getLogger(__name__)

STATUS_CHECK = 0.5
"""Seconds between looks at the status (published when it changed, or as heartbeat)."""
STATUS_CHECK_HOSTED = 10.0
"""The same for an agent hosted by ``ripple agent-host`` (a thousand of them share a loop;
what changes the status also asks for a look at once)."""
EVALUATION_POLL = 0.1
"""Seconds between two looks at evaluations running off the loop (the loop waits at most
~50 ms for one; a run past its hard limit is abandoned at the next look)."""

HEAD_REFRESH = 300.0
"""Seconds after which a matching set's head is written again even when it did not change
(a head value overwritten or lost on the server is restored within this time)."""

E = TypeVar("E", bound=m.Envelope)


async def main(settings: AgentSettings, service: Service) -> None:
    """Build everything, then run the agent's tasks until the service stops."""
    cluster = settings.cluster_ref
    state = AgentState(cluster)
    service.not_ready_reason = "connecting to NATS"
    nc = await service.connect(inbox_prefix=agent_inbox_prefix(cluster))
    js = nc.jetstream()
    # the six binds at once: one round trip to the server instead of six
    assignments, reports, matches, desired, outcomes, agents = await asyncio.gather(
        service.open_bucket(js, streams.ASSIGNMENTS, m.AssignmentEvent),
        service.open_bucket(js, streams.REPORTS, m.EventReportEvent),
        service.open_bucket(js, streams.MATCHES, (m.MatchEvent, m.MatchHeadEvent)),
        service.open_bucket(js, streams.DESIRED, m.DesiredStateEvent),
        service.open_bucket(js, streams.OUTCOMES, m.ApplyOutcomeEvent),
        service.open_bucket(js, streams.AGENTS, m.AgentStatusEvent),
    )
    stores = Stores(
        assignments=assignments,
        reports=reports,
        matches=cast("KVStore[m.MatchesEvent]", matches),
        desired=desired,
        outcomes=outcomes,
        agents=agents,
    )
    try:  # hosted: the kubeconfig is parsed off the loop (a thousand agents start together)
        if service.hosted:
            kube = await asyncio.to_thread(KubeClient, settings.kubeconfig, name=cluster.name)
        else:
            kube = KubeClient(settings.kubeconfig, name=cluster.name)
    except KubeConfigInvalid as exc:  # said in the status too, then the service fails
        await _publish_failure(stores, cluster, str(exc))
        raise
    agent = Agent(settings, service, state, nc=nc, stores=stores, kube=kube)
    service.add_metrics(agent.metrics)
    for histogram in agent.latencies.all():
        service.add_histogram(histogram)
    service.on_stop(agent.stop)
    service.problems = agent.errors
    service.not_ready_reason = "reading apply outcomes and matching sets"
    await asyncio.gather(inputs.load_outcomes(agent), inputs.load_matches(agent))
    service.startup_done()  # a hosted agent lets the next one start
    if not service.hosted:  # hosted: the informers' threads discover, the host freezes
        try:  # warm the discovery cache so the first event does not pay for it
            await asyncio.to_thread(lambda: kube.dynamic)
        except Exception as exc:
            log.warning("discovery failed (will retry): %s", exc, extra={"obj": agent.ident})
        gc.freeze()  # what start-up built lives as long as the process: out of the GC's scans
        state.counts.gc_frozen = gc.get_freeze_count()
    log.info("agent started (instance %s)", state.instance, extra={"obj": agent.ident})
    service.not_ready_reason = "reading assignments"
    agent.status_due()
    _run_queue(service, agent, state.queues.profiles, effects.reconcile_profile, settings.workers)
    _run_queue(service, agent, state.queues.reports, effects.publish_report, 2)
    _run_queue(service, agent, state.queues.changes, effects.publish_changes, 2)
    _run_queue(service, agent, state.queues.status, effects.publish_status, 1)
    service.spawn(inputs.drain_informers(agent), "informers")
    service.spawn(inputs.watch_assignments(agent), "assignments")
    service.spawn(inputs.watch_desired(agent), "desired")
    await inputs.subscribe_cloud_events(agent)
    service.every(EVALUATION_POLL, _poll_evaluations(agent), "evaluations")
    status_check = STATUS_CHECK_HOSTED if service.hosted else STATUS_CHECK
    service.every(status_check, _status_check(agent), "status")
    service.every(HEAD_REFRESH / 10, _head_refresh(agent), "head-refresh")
    await service.stopping.wait()


def _run_queue(
    service: Service,
    agent: Agent,
    queue: WorkQueue[str],
    handler: Callable[[Agent, str], Awaitable[None]],
    workers: int,
) -> None:
    describe = functools.partial(_describe, agent, queue.name)
    service.watch_queue(queue)  # liveness: work in hand but none finished -> unhealthy
    service.spawn(
        run_workers(queue, functools.partial(handler, agent), workers=workers, describe=describe),
        f"queue-{queue.name}",
    )


def _describe(agent: Agent, queue: str, key: str) -> str:
    if queue == "profiles":
        return f"{agent.ident}:{key}"
    if queue == "status":
        return agent.ident
    return f"{agent.ident}:EventSource/{key}"


def _poll_evaluations(agent: Agent) -> Callable[[], None]:
    def poll() -> None:
        inputs.poll_evaluations(agent)

    def poll_own() -> None:  # hosted: the host polls what is process-wide
        inputs.poll_own_evaluations(agent)

    return poll_own if agent.service.hosted else poll


async def _publish_failure(stores: Stores, cluster: ClusterRef, error: str) -> None:
    """Best effort: the cluster's status says why its agent cannot start."""
    status = m.AgentStatus(
        cluster=cluster,
        instance="",
        state="degraded",
        errors=[error],
        time=datetime.now(UTC),
    )
    try:
        await asyncio.wait_for(stores.agents.put(m.envelope(status)), 2.0)
    except Exception as exc:
        log.debug("failure status not published: %s", exc, extra={"obj": str(cluster)})


def _head_refresh(agent: Agent) -> Callable[[], Awaitable[None]]:
    async def refresh() -> None:
        state = agent.state
        due = time.monotonic() - HEAD_REFRESH
        for name, at in list(state.head_at.items()):
            if at < due and name in state.heads:
                del state.heads[name]  # written again by the next publication
                state.queues.changes.add(name)

    return refresh


def _status_check(agent: Agent) -> Callable[[], Awaitable[None]]:
    async def check() -> None:
        agent.check_ready()
        agent.status_due()

    return check


__all__ = ["main"]
