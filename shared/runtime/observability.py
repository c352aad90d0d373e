"""How a service is observed: its loop lag, its own metrics, its traces, its probe server.

Wired by :func:`shared.runtime.service.run` while the service starts, on its loop:

- :class:`LoopLag`: how late the event loop wakes up, sampled all the time; each sample is
  the liveness heartbeat;
- :func:`runtime_metrics`: the runtime's own series (event-loop lag, NATS errors and
  permission violations, ready, live), the first snapshot of :meth:`Service.metrics
  <shared.runtime.service.Service.metrics>`;
- :func:`start_tracing`: with ``--otlp-endpoint`` (``RIPPLE_OTLP_ENDPOINT``) spans are
  exported to an OTLP/HTTP collector (:mod:`shared.runtime.tracing`), flushed at shutdown
  without ever holding the exit; off by default;
- :func:`serve_probes`: ``/livez`` (= ``/healthz``), ``/readyz`` and ``/metrics`` served from
  a thread (:mod:`shared.runtime.probes`) when ``metrics_port`` is set; stopped at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from shared.runtime.errors import RuntimeFailure
from shared.runtime.gcpolicy import GcPolicy
from shared.runtime.probes import ProbeServer, Sources

if TYPE_CHECKING:
    from shared.metrics import Histogram
    from shared.runtime.liveness import Liveness
    from shared.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

LAG_INTERVAL = 0.1


class LoopLag:
    """How late the event loop wakes up, sampled every ``interval`` seconds."""

    def __init__(
        self,
        interval: float = LAG_INTERVAL,
        recent: float = 10.0,
        beat: Callable[[], None] | None = None,
    ) -> None:
        self.interval = interval
        self.beat = beat  # called on the loop at every sample (the liveness heartbeat)
        self.recent: deque[tuple[float, float]] = deque()  # (loop time, lag), last 10 s
        self.recent_seconds = recent
        self.max = 0.0
        self.last = 0.0
        self.samples = 0
        self.over_100ms = 0

    @property
    def recent_max(self) -> float:
        return max((lag for _, lag in self.recent), default=0.0)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self.beat is not None:
                self.beat()
            start = loop.time()
            await asyncio.sleep(self.interval)
            lag = max(0.0, loop.time() - start - self.interval)
            self.last = lag
            now = loop.time()
            self.recent.append((now, lag))
            while self.recent and self.recent[0][0] < now - self.recent_seconds:
                self.recent.popleft()
            self.samples += 1
            self.max = max(self.max, lag)
            if lag > 0.1:
                self.over_100ms += 1
            if lag > 1.0:
                log.warning("event loop blocked for %.2fs", lag, extra={"obj": "runtime"})


class Service(Protocol):
    """What is observed of a :class:`shared.runtime.service.Service` (no import of it: the
    service module imports this one)."""

    name: str
    ident: str
    settings: ServiceSettings
    liveness: Liveness
    lag: LoopLag
    gc: GcPolicy
    ready: bool
    not_ready_reason: str
    stats: dict[str, int]
    histograms: list[Histogram]
    metrics_port: int | None

    def metrics(self) -> dict[str, tuple[str, str, float]]: ...

    def on_stop(self, callback: Callable[[], Awaitable[None]]) -> None: ...


def runtime_metrics(service: Service) -> dict[str, tuple[str, str, float]]:
    """The runtime's own series of ``service`` (``name -> (kind, help, value)``), read on
    the loop at scrape time."""
    return {
        "loop_lag_max_seconds": (
            "gauge",
            "Longest event-loop delay seen since start",
            service.lag.max,
        ),
        "loop_lag_seconds": ("gauge", "Last event-loop delay sampled", service.lag.last),
        "loop_lag_recent_max_seconds": (
            "gauge",
            "Longest event-loop delay over the last 10 seconds",
            service.lag.recent_max,
        ),
        "loop_lag_late_samples_total": (
            "counter",
            "Event-loop samples late by more than 0.1 seconds",
            service.lag.over_100ms,
        ),
        "loop_lag_over_100ms_total": (  # the name has a unit that is not a base unit
            "counter",
            "Deprecated name of loop_lag_late_samples_total (kept for existing dashboards)",
            service.lag.over_100ms,
        ),
        "gc_full_collections_total": (
            "counter",
            "Full garbage collections (each skips what survived the one before)",
            service.gc.full_collections,
        ),
        "gc_full_collection_max_seconds": (
            "gauge",
            "Longest full garbage collection since start (the whole process waits for it)",
            service.gc.longest_pause,
        ),
        "nats_permission_violations_total": (
            "counter",
            "NATS operations the server refused (permissions)",
            service.stats["nats_permission_violations"],
        ),
        "nats_errors_total": (
            "counter",
            "Asynchronous NATS errors",
            service.stats["nats_errors"],
        ),
        "ready": ("gauge", "1 once the service is ready", 1.0 if service.ready else 0.0),
        "live": (
            "gauge",
            "1 while the event loop beats and no watched queue is stalled",
            1.0 if service.liveness.verdict().live else 0.0,
        ),
    }


def start_tracing(service: Service) -> None:
    """Export spans when an OTLP endpoint is configured (flushed at shutdown)."""
    endpoint = service.settings.otlp_endpoint
    if not endpoint:
        return
    from shared.runtime import tracing

    try:
        tracing.configure(
            f"ripple-{service.name}",
            endpoint,
            attributes=trace_attributes(service.name, service.ident),
            sample_ratio=service.settings.trace_sample_ratio,
        )
    except Exception as exc:  # e.g. the SDK not installed: say so, in one line
        raise RuntimeFailure(
            f"tracing to {endpoint} cannot start: {type(exc).__name__}: {exc}"
        ) from exc

    async def stop() -> None:
        """Export what is buffered, in a daemon thread: a collector that does not answer
        (its exporter retries for seconds) never holds the exit; its spans are lost."""
        done = threading.Event()

        def export() -> None:
            tracing.shutdown()
            done.set()

        threading.Thread(target=export, name="tracing-stop", daemon=True).start()
        grace = service.settings.shutdown_grace * 0.8
        if not await asyncio.to_thread(done.wait, grace):
            log.warning(
                "spans not exported within %.1f s (collector %s): dropped",
                grace,
                endpoint,
                extra={"obj": service.ident},
            )

    service.on_stop(stop)


def trace_attributes(name: str, ident: str) -> dict[str, str]:
    """Resource attributes of a service's spans: its instance, and for an agent the cluster
    it runs for (``NAMESPACE/NAME``)."""
    out = {"ripple.instance": ident}
    if name == "agent":
        out["ripple.cluster"] = ident
    return out


def serve_probes(service: Service, port: int) -> None:
    """Start the probe server's thread (:mod:`shared.runtime.probes`) for ``service``;
    stopped at shutdown. Sets ``service.metrics_port`` to the bound port."""
    from shared.metrics import exposition

    prefix = f"ripple_{service.name}"
    sources = Sources(
        liveness=service.liveness,
        ready=lambda: (service.ready, service.not_ready_reason),
        lag=lambda: service.lag.last,
        snapshot=service.metrics,
        encode=lambda snapshot: exposition(prefix, lambda: snapshot, service.histograms),
        loop=asyncio.get_running_loop(),
    )
    server = ProbeServer(service.settings.metrics_host, port, sources)
    server.start()

    async def stop() -> None:
        await asyncio.to_thread(server.stop)

    service.on_stop(stop)
    service.metrics_port = server.port
    log.info(
        "metrics on http://%s:%d/metrics (probes /livez /healthz /readyz)",
        service.settings.metrics_host,
        service.metrics_port,
        extra={"obj": service.ident},
    )


__all__ = [
    "LAG_INTERVAL",
    "LoopLag",
    "runtime_metrics",
    "serve_probes",
    "start_tracing",
    "trace_attributes",
]
