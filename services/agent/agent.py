"""The agent's shell: the I/O handles next to the loop's state, and the small steps every
input and handler shares (queueing effects, watches, readiness, status, metrics).

One :class:`Agent` is built by :func:`services.agent.service.main` once NATS and the buckets
are there, before any task starts; nothing is created later (no half-built agent).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from services.agent import deltas, metrics, poison, reporting, status
from services.agent.applying import Applier, HelmAccess
from services.agent.evaluating import ChangeEvent, SourceState
from services.agent.settings import AgentSettings
from services.agent.state import STATUS_KEY, AgentState
from services.agent.watching import Watches, WatchKey
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.kube import GVK, KubeClient
from shared.runtime.service import Service
from shared.runtime.tracing import Origin

log = logging.getLogger(__name__)

WATCH_HEARTBEAT = 2.0
"""Seconds between the idle heartbeats of the agent's KV watches (a consumer lost with its
server is recreated after three missed ones)."""
WATCH_HEARTBEAT_HOSTED = 10.0
"""The same for an agent hosted by ``ripple agent-host`` (1,000 agents, 2 watches each: 200
heartbeats a second instead of 1,000)."""


@dataclass(frozen=True)
class Stores:
    """The buckets the agent reads and writes (provisioned by the manager)."""

    assignments: KVStore[m.AssignmentEvent]
    reports: KVStore[m.EventReportEvent]
    matches: KVStore[m.MatchesEvent]
    desired: KVStore[m.DesiredStateEvent]
    outcomes: KVStore[m.ApplyOutcomeEvent]
    agents: KVStore[m.AgentStatusEvent]


class Agent:
    def __init__(
        self,
        settings: AgentSettings,
        service: Service,
        state: AgentState,
        *,
        nc: Any,
        stores: Stores,
        kube: KubeClient,
    ) -> None:
        self.settings = settings
        self.service = service
        self.state = state
        self.cluster = state.cluster
        self.ident = state.ident
        self.nc = nc
        self.js = nc.jetstream()
        self.stores = stores
        self.kube = kube
        self.tenants: dict[str, KubeClient] = {}
        self.watches = Watches(
            kube, asyncio.get_running_loop(), self.client_for, start_off_loop=service.hosted
        )
        helm = HelmAccess(
            kubeconfig=settings.kubeconfig or "",
            cache_dir=settings.helm_cache_dir or "",
            qps=settings.helm_qps,
            burst=settings.helm_burst,
        )
        self.applier = Applier(kube, self.cluster.name, helm)
        # hosted agents share one set of histograms (label cluster="hosted"): ~3 KiB each
        # a hosted agent's KV watches beat less often: a thousand of them share a process
        state.watch_heartbeat = WATCH_HEARTBEAT_HOSTED if service.hosted else WATCH_HEARTBEAT
        self.latencies = (
            service.shared("agent-latencies", lambda: metrics.Latencies.of("hosted"))
            if service.hosted
            else metrics.Latencies.of(self.ident)
        )

    # -- Kubernetes --------------------------------------------------------------------------
    def client_for(self, identity: str) -> KubeClient:
        """The agent's client, or one impersonating a tenant (one per tenant, reused)."""
        if not identity:
            return self.kube
        client = self.tenants.get(identity)
        if client is None:
            client = KubeClient(
                self.settings.kubeconfig, impersonate=identity, name=self.cluster.name
            )
            self.tenants[identity] = client
        return client

    def known(self, key: WatchKey) -> bool:
        return self.watches.known(key)

    def update_watches(self) -> None:
        """One informer per key any EventSource needs, plus the kinds of drift detection."""
        keys = self.state.assignments.watch_keys()
        keys |= {WatchKey(GVK(g.api_version, g.kind)) for g in self.state.drift.kinds()}
        self.watches.ensure(keys)

    # -- queueing effects --------------------------------------------------------------------
    def report_due(self, name: str) -> None:
        """What is known of ``name``, its CloudEvents or errors may have changed: look at its
        head (and resync) now, at its deprecated snapshot after the coalescing interval."""
        self.state.queues.changes.add(name)
        interval = self.settings.report_interval
        if interval > 0:
            source = self.state.assignments.sources.get(name)
            self.state.queues.reports.add_after(name, reporting.coalesce_delay(source, interval))

    def changed(
        self, state: SourceState, changes: list[ChangeEvent], origin: Origin | None = None
    ) -> None:
        """Queue the deltas of ``state`` (published in order, retried; ``origin``: the
        watch event they come from). Before its resync, changes are not queued: the resync
        publishes the net difference."""
        if not changes:
            return
        if state.synced:
            pending, instance = self.state.pending, self.state.instance
            cluster = self.cluster
            for change in changes:
                pending.push(state.name, deltas.of_change(cluster, state, instance, change, origin))
        self.state.queues.changes.add(state.name)
        interval = self.settings.report_interval
        if interval > 0 and state.dirty:
            self.state.queues.reports.add_after(
                state.name, reporting.coalesce_delay(state, interval)
            )

    def status_due(self) -> None:
        self.state.queues.status.add(STATUS_KEY)

    # -- readiness, status, metrics ----------------------------------------------------------
    def check_ready(self) -> None:
        if self.service.ready:
            return
        s = self.state
        reason = status.not_ready(
            s.assignments,
            assignments_synced=s.assignments_synced,
            desired_synced=s.desired_synced,
            initial_profiles=len(s.initial_profiles),
            failing=self.watches.errors().keys(),
        )
        if reason:
            self.service.not_ready_reason = reason
            return
        self.service.set_ready()  # logs "agent ready" and writes the ready file
        self.status_due()

    def errors(self) -> list[str]:
        q = self.state.queues
        return status.errors(
            self.state.assignments,
            self.watches.errors(),
            (
                status.QueueFailures("apply/removal", q.profiles.failures, "profile"),
                status.QueueFailures("report publication", q.reports.failures, "EventSource"),
                status.QueueFailures("per-change events", q.changes.failures, "EventSource"),
            ),
            [
                *self.state.pending.errors(),
                *poison.problems(self.stores.assignments, self.stores.desired),
            ],
        )

    def current_status(self, state: m.AgentState | None = None) -> m.AgentStatus:
        if state is None:
            state = "ready" if self.service.ready else "starting"
        return status.agent_status(
            self.cluster, self.state.instance, state, self.watches.informers, self.errors()
        )

    def metrics(self) -> metrics.Metrics:
        invalid = self.stores.assignments.skipped + self.stores.desired.skipped
        return metrics.snapshot(self.state, watches=len(self.watches.informers), invalid=invalid)

    # -- shutdown ----------------------------------------------------------------------------
    async def stop(self) -> None:
        """Say so in the status (best effort), stop the informers, close the clients."""
        log.info("agent stopping", extra={"obj": self.ident})
        try:
            await asyncio.wait_for(
                self.stores.agents.put(m.envelope(self.current_status("stopping"))), 1.0
            )
        except Exception as exc:
            log.debug("stopping status not published: %s", exc, extra={"obj": self.ident})
        if self.service.hosted:  # informer threads are daemons: do not wait for them
            self.watches.stop(timeout=0.0)
        else:
            await asyncio.to_thread(self.watches.stop)
        self.kube.close()
        for client in self.tenants.values():
            client.close()
