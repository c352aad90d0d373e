"""``ripple agent-host``: one process hosting the agents of many clusters (Sveltos'
centralized agent mode), each isolated.

Each cluster's agent is the agent of ``ripple agent`` (:func:`services.agent.service.main`),
run as a :class:`shared.runtime.hosted.ChildService` by its supervisor
(:class:`services.agent.hosting.HostedAgent`): its own NATS connection as its own NATS user
(so the server holds it to its own keys), its own Kubernetes client, informers and work
queues, its own task group; a failure in one cluster restarts that cluster's agent with
backoff and never touches another. What the host adds:

- the list of clusters (:mod:`services.agent.clustersources`), looked at every
  ``--poll-interval`` seconds: a cluster listed starts, one no longer listed stops (nothing
  is withdrawn by that), one whose entry, kubeconfig or credentials changed restarts;
- host-level ticks instead of timers per agent: one task per interval visits every agent
  (the evaluations' process-wide poll runs once per tick for all of them);
- a start gate: at most ``--max-starting`` agents connect and load at the same time;
- readiness: ``/readyz`` says which clusters are not ready and why; the ready file is
  written once every listed cluster's agent is ready;
- liveness per agent: an agent whose work stalled is restarted, the host stays live;
- metrics: the agents' series summed (prefix ``ripple_agent_host_``), their histograms
  shared (label ``cluster="hosted"``), and the host's own: clusters listed, ready, failed,
  restarts, invalid entries.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from concurrent.futures import ThreadPoolExecutor

from services.agent import observing
from services.agent.clustersources import FileSource, Source
from services.agent.hostfile import Parsed
from services.agent.hosting import Config, HostedAgent
from services.agent.hostplan import Backoffs, RestartPolicy, plan
from services.agent.hostsettings import HostSettings
from services.agent.service import EVALUATION_POLL
from shared.runtime.hosted import ChildService, Host
from shared.runtime.service import Service
from shared.runtime.slicing import Slicer

log = logging.getLogger(__name__)

READINESS_CHECK = 0.2
"""Seconds between two looks at the agents' readiness (when one changed)."""
LIVENESS_CHECK = 10.0
"""Seconds between two looks at the agents' liveness (a stalled one is restarted)."""
FREEZE_EVERY = 60.0
"""Seconds between two :func:`gc.freeze` of what the agents hold (out of the GC's scans)."""
CONFIG_CHECK = 10.0
"""Seconds between two looks at the files the entries name (a kubeconfig fixed in place
restarts its agent within this time); the list itself is looked at every poll."""
FREEZE_STEP = 100
"""Agents become ready between two freezes while they start."""
SHOWN = 10
"""Clusters named in ``/readyz``'s reason at most (the others are counted)."""

PROCESS_WIDE = frozenset({"evaluation_timeouts_total", "evaluation_runaway_threads"})
"""Agent series that count for the whole process (the same value in every agent)."""


class AgentHost:
    """The host's state: its agents by cluster key, what the list said, the counters."""

    def __init__(self, settings: HostSettings, service: Service, source: Source) -> None:
        self.settings = settings
        self.service = service
        self.source = source
        self.host = Host(service, settings.max_starting)
        self.host.on_readiness = self._readiness_changed
        self.backoffs = Backoffs(RestartPolicy(cap=settings.restart_max))
        self.agents: dict[str, HostedAgent] = {}
        self.parsed: Parsed | None = None
        self.errors: list[str] = []
        self.invalid: set[str] = set()
        self.list_failures = 0
        self.stalled_restarts = 0
        self.stopped = 0
        self._readiness_due = True
        self._frozen_at = 0.0
        self._ready_at_freeze = 0
        self._wanted: dict[str, Config] = {}
        self._configs_at = 0.0
        self._sums: dict[str, tuple[str, str, float]] = {}
        self._stats = {"nats_permission_violations": 0, "nats_errors": 0, "nats_connects": 0}
        self._degraded = 0

    # -- the list of clusters ----------------------------------------------------------------
    async def look(self) -> None:
        """Read the list (when it changed) and make the running agents what it says."""
        parsed = await self.source.read()
        if parsed is not None:
            self._take(parsed)
        if self.parsed is None:
            return
        now = time.monotonic()
        if parsed is not None or now - self._configs_at >= CONFIG_CHECK:
            # the files an entry names (kubeconfig, password) are looked at less often
            self._wanted = {k: self.source.config(e) for k, e in self.parsed.entries.items()}
            self._configs_at = now
        wanted = self._wanted
        running = {key: agent.config for key, agent in self.agents.items()}
        todo = plan(wanted, running, self.invalid)
        if not todo:
            return
        stopping = [self.agents.pop(key) for key in todo.stop]
        for agent in stopping:
            log.info("cluster no longer listed: stopping its agent (nothing is withdrawn)",
                     extra={"obj": agent.key})  # fmt: skip
        for key in todo.restart:
            log.info("configuration changed: restarting the agent", extra={"obj": key})
        await asyncio.gather(
            *(a.stop() for a in stopping),
            *(self.agents[key].restart(wanted[key]) for key in todo.restart),
        )
        self.stopped += len(stopping)
        for key in todo.start:
            agent = HostedAgent(key, wanted[key], self.host, self.settings, self.backoffs)
            self.agents[key] = agent
            agent.start()
        if todo.start:
            log.info("starting %d agent(s), %d hosted", len(todo.start), len(self.agents),
                     extra={"obj": self.service.ident})  # fmt: skip
        for key in todo.stop:
            self.backoffs.forget(key)
        self._readiness_due = True

    def _take(self, parsed: Parsed) -> None:
        for error in parsed.errors:
            if error not in self.errors:
                log.error("%s", error, extra={"obj": self.source.name})
        self.errors = list(parsed.errors)
        if parsed.failed:  # stale is not "no cluster": what runs keeps running
            self.list_failures += 1
            return
        self.parsed = parsed
        self.invalid = parsed.invalid

    # -- readiness ---------------------------------------------------------------------------
    def _readiness_changed(self, child: ChildService) -> None:
        self._readiness_due = True

    async def check_readiness(self) -> None:
        if not self._readiness_due:
            return
        self._readiness_due = False
        service = self.service
        if self.parsed is None:
            reason = "; ".join(self.errors) or f"reading {self.source.name}"
            service.set_not_ready(reason)
            return
        waiting = [a for a in self.agents.values() if not a.ready]
        if len(self.agents) - len(waiting) >= self._ready_at_freeze + FREEZE_STEP:
            self.freeze()  # while a thousand start: no full collection over all of them
            self._ready_at_freeze = len(self.agents) - len(waiting)
        if not waiting:
            was = service.ready
            service.set_ready()
            if not was:
                log.info("all %d hosted agents ready", len(self.agents),
                         extra={"obj": service.ident})  # fmt: skip
                self.freeze()
            return
        shown = []
        for agent in waiting[:SHOWN]:
            state, why = agent.state()
            shown.append(f"{agent.key} {state}: {why}" if why else f"{agent.key} {state}")
        more = f"; and {len(waiting) - SHOWN} more" if len(waiting) > SHOWN else ""
        ready = len(self.agents) - len(waiting)
        service.set_not_ready(
            f"{ready} of {len(self.agents)} clusters ready; " + "; ".join(shown) + more
        )
        self._readiness_due = True  # the reasons change without a transition: look again

    # -- ticks -------------------------------------------------------------------------------
    async def check_liveness(self) -> None:
        for agent in list(self.agents.values()):
            reason = agent.check_liveness()
            if reason and self.agents.get(agent.key) is agent:
                log.error("agent not live, restarting it: %s", reason, extra={"obj": agent.key})
                self.stalled_restarts += 1
                await agent.restart()

    def freeze(self) -> None:
        """Move what the agents hold now out of the cyclic GC's scans (reference counting
        still frees it): a full collection over a thousand agents' objects holds the loop."""
        gc.freeze()
        self._frozen_at = time.monotonic()

    async def maybe_freeze(self) -> None:
        if time.monotonic() - self._frozen_at >= FREEZE_EVERY:
            self.freeze()

    # -- metrics -----------------------------------------------------------------------------
    async def refresh_metrics(self) -> None:
        """Sum the agents' series (and count the degraded ones) in slices of the loop; a
        scrape reads the sums (at most ``--metrics-refresh`` seconds old) and never walks
        a thousand agents itself."""
        sums: dict[str, tuple[str, str, float]] = {}
        stats = {"nats_permission_violations": 0, "nats_errors": 0, "nats_connects": 0}
        degraded = 0
        slicer = Slicer(0.005)
        for agent in list(self.agents.values()):
            child = agent.child
            if child is None:
                continue
            for key in stats:
                stats[key] += child.stats[key]
            for name, (kind, text, value) in child.metrics().items():
                previous = sums.get(name)
                if previous is not None and name not in PROCESS_WIDE:
                    value += previous[2]
                sums[name] = (kind, text, value)
            if child.ready and child.problems():
                degraded += 1
            await slicer.pause()
        self._sums, self._stats, self._degraded = sums, stats, degraded

    def metrics(self) -> dict[str, tuple[str, str, float]]:
        out = dict(self._sums)
        stats = self._stats
        agents = self.agents.values()
        out.update(
            {
                "nats_permission_violations_total": (
                    "counter",
                    "NATS operations the server refused (permissions), all hosted agents",
                    stats["nats_permission_violations"],
                ),
                "nats_errors_total": (
                    "counter",
                    "Asynchronous NATS errors, all hosted agents",
                    stats["nats_errors"],
                ),
                "hosted_clusters": ("gauge", "Clusters whose agent is hosted", len(agents)),
                "hosted_ready": (
                    "gauge",
                    "Hosted agents ready (degraded ones included)",
                    sum(1 for a in agents if a.ready),
                ),
                "hosted_degraded": (
                    "gauge",
                    "Hosted agents ready but with problems (a watch or applies failing; their "
                    "status in ripple-agents says which)",
                    self._degraded,
                ),
                "hosted_failed": (
                    "gauge",
                    "Hosted agents that failed and wait for their restart",
                    sum(1 for a in agents if a.failed),
                ),
                "hosted_restarts_total": (
                    "counter",
                    "Hosted agents started again after a failure",
                    sum(a.restarts for a in self.agents.values()) + self.stalled_restarts,
                ),
                "hosted_stopped_total": (
                    "counter",
                    "Hosted agents stopped because their cluster is no longer listed",
                    self.stopped,
                ),
                "hosted_invalid_entries": (
                    "gauge",
                    "Entries of the list of clusters that are invalid (see the log)",
                    len(self.errors),
                ),
                "hosted_list_failures_total": (
                    "counter",
                    "Reads of the list of clusters that failed (what runs was kept)",
                    self.list_failures,
                ),
                "host_tick_visits_total": (
                    "counter",
                    "Agent callbacks visited by the host's ticks",
                    self.host.ticks.visits,
                ),
            }
        )
        return out


async def main(settings: HostSettings, service: Service) -> None:
    """Host the agents of the listed clusters until the service stops."""
    source: Source
    if settings.clusters is not None:
        source = FileSource(settings.clusters)
    else:
        from services.agent.mgmtsource import ManagementSource

        source = ManagementSource(settings)
    # the hosted agents' applies share one executor: more threads than asyncio's default (6)
    # so that a few clusters whose API hangs cannot hold every other cluster's applies
    executor = ThreadPoolExecutor(settings.threads, thread_name_prefix="agent-host")
    asyncio.get_running_loop().set_default_executor(executor)
    host = AgentHost(settings, service, source)
    service.not_ready_reason = f"reading {source.name}"
    service.add_metrics(host.metrics)

    async def poll_evaluations() -> None:
        observing.poll_global()

    service.every(EVALUATION_POLL, poll_evaluations, "evaluations")
    service.every(READINESS_CHECK, host.check_readiness, "readiness")
    service.every(LIVENESS_CHECK, host.check_liveness, "liveness")
    service.every(FREEZE_EVERY, host.maybe_freeze, "gc-freeze")
    service.every(settings.metrics_refresh, host.refresh_metrics, "metrics")
    while not service.stopping.is_set():
        try:
            await host.look()
        except Exception as exc:  # never the end of the host: logged, looked at again
            log.exception("looking at the clusters failed: %s", exc, extra={"obj": source.name})
        try:
            await asyncio.wait_for(service.stopping.wait(), settings.poll_interval)
        except TimeoutError:
            pass


__all__ = ["AgentHost", "main"]
