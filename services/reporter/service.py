"""The reporter: mirrors NATS state into objects of the management cluster.

- EventReports (``kubectl get eventreports -A``) follow the ``ripple-matches`` bucket (one
  entry per matching object, one head per set): one per (cluster, EventSource), server-side
  applied with its status, within a size budget (``--report-budget``), deleted when the
  set's head is deleted;
- ClusterProfiles and the ConfigMaps generated for them follow ``ripple-profiles``, and
  the ClusterProfiles' ``status`` (what each destination cluster's agent did, Helm releases
  included) follows ``ripple-outcomes``;
- definition statuses (EventSource, EventTrigger, EventBasedAddOn) follow ``ripple-status``.

It runs on :mod:`shared.runtime` (signals, readiness, metrics, NATS with the service's
credentials). The manager provisions the buckets; the reporter waits for them. Every write
goes through a work queue (:mod:`services.reporter.writer`) and is retried with backoff;
changes of one object within ``--write-delay`` seconds are one write, and a write whose
content is what was last written is skipped.
The reporter holds no state of its own: after a restart it re-reads the buckets and
converges, objects that no value wants any more being deleted by the orphan sweep.
With ``--lease`` two replicas run, one active (:mod:`shared.runtime.standby`, lease
``reporter``); the standby takes over as after a restart.

Metrics (``--metrics-port``): the writer's counters and gauges (writes, failures, queue
depths, pending writes), what was skipped per bucket, and the latencies of
:mod:`services.reporter.metrics` (input lag per bucket, write time, change to write, the
oldest pending write).

Modules: ``service`` (this composition), ``metrics`` (the latencies), ``mirrors`` (bucket watchers -> wanted content),
``matchsets`` (the matching sets of ``ripple-matches``, pure), ``ownership`` (which value
wants which object, pure), ``writer`` (queues, coalescing, Kubernetes writes, retries,
metrics), ``statuses`` (the writer's status patches), ``writes`` (what a write is, pure),
``mirroring`` (the objects written, within the size budget, pure), ``profilestatus`` (a
ClusterProfile's status from the outcomes, bounded, pure).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from services.reporter.metrics import Latencies, MeasuredWriter, measured
from services.reporter.mirrors import MATCHES, OUTCOMES, PROFILES, Mirrors
from services.reporter.ownership import Ownership
from services.reporter.settings import ReporterSettings
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.contract import streams
from shared.contract.permissions import REPORTER_INBOX_PREFIX, REPORTER_LEASE
from shared.kube import KubeClient
from shared.runtime.service import Service
from shared.runtime.standby import hold_lease

log = logging.getLogger(__name__)

E = TypeVar("E", bound=m.Envelope)

#: the buckets read before the reporter is ready
READY_PARTS = frozenset({MATCHES, PROFILES, OUTCOMES})
#: the two kinds of value in ``ripple-matches``: entries and heads
MATCH_TYPES: tuple[type[m.MatchesEvent], ...] = (m.MatchEvent, m.MatchHeadEvent)
#: how often keys still failing are logged again (the workers log the first attempts)
FAILURE_LOG_INTERVAL = 60.0


async def main(settings: ReporterSettings, service: Service) -> None:
    """Entry point of ``ripple reporter`` (run by :func:`shared.runtime.service.run`)."""
    kube = KubeClient(settings.kubeconfig, name="management")

    async def close_kube() -> None:
        await asyncio.to_thread(kube.close)

    service.on_stop(close_kube)
    service.not_ready_reason = "connecting to NATS"
    nc = await service.connect(inbox_prefix=REPORTER_INBOX_PREFIX)
    js = nc.jetstream()
    # --lease: a standby waits here (for the bucket, then the lease), reading nothing
    await hold_lease(service, js, settings, REPORTER_LEASE)
    latencies = Latencies.create()
    matches: KVStore[m.MatchesEvent] = measured(
        await service.open_bucket(js, streams.MATCHES, MATCH_TYPES), latencies
    )
    profiles = measured(await service.open_bucket(js, streams.PROFILES, m.ProfileEvent), latencies)
    statuses = measured(
        await service.open_bucket(js, streams.STATUS, m.DefinitionStatusEvent), latencies
    )
    outcomes = measured(
        await service.open_bucket(js, streams.OUTCOMES, m.ApplyOutcomeEvent), latencies
    )

    ownership = Ownership()
    writer = MeasuredWriter(kube, ownership.wanted, latencies, delay=settings.write_delay)
    service.add_metrics(writer.metrics)
    for histogram in latencies.all():
        service.add_histogram(histogram)
    for queue in writer.queues:  # liveness: work in hand but none finished -> unhealthy
        service.watch_queue(queue)
    read: set[str] = set()

    def synced(part: str) -> None:
        read.add(part)
        log.info("%s bucket read", part, extra={"obj": "reporter"})
        if read >= READY_PARTS:
            service.set_ready()
        else:
            service.not_ready_reason = f"reading {', '.join(sorted(READY_PARTS - read))}"

    service.not_ready_reason = f"reading {', '.join(sorted(READY_PARTS))}"
    mirrors = Mirrors(writer, ownership, synced, budget=settings.report_budget)
    service.add_metrics(mirrors.metrics)

    async def log_failures() -> None:
        writer.log_failures()

    service.spawn(stoppable(mirrors.matches(matches), "matches"), "reporter-matches")
    service.spawn(stoppable(mirrors.profiles(profiles), "profiles"), "reporter-profiles")
    service.spawn(stoppable(mirrors.statuses(statuses), "statuses"), "reporter-statuses")
    service.spawn(stoppable(mirrors.apply_outcomes(outcomes), "outcomes"), "reporter-outcomes")
    service.every(FAILURE_LOG_INTERVAL, log_failures, "reporter-failure-log")
    await writer.run(settings.workers)  # until the service stops


async def stoppable(coro: Coroutine[Any, Any, None], name: str) -> None:
    """Run a bucket watcher in its own task and, when stopped, cancel it until it ends: in
    Python 3.11 ``asyncio.wait_for`` (the KV watcher's heartbeat wait) loses a cancellation
    that races an arriving message, and the watcher would run on after SIGTERM."""
    task = asyncio.create_task(coro, name=f"{name}-watch")
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.05)
        raise


__all__ = ["main", "stoppable"]
