"""One life cycle for every service: ``run(name, settings, main)``.

- every task runs in one :class:`asyncio.TaskGroup`: a task that crashes ends the service
  with a non-zero exit (a supervisor restarts it), after the others were cancelled;
- SIGTERM/SIGINT are honoured at any moment, NATS connection attempts included: the main
  task is cancelled, ``on_stop`` callbacks get ``shutdown_grace`` seconds, and a watchdog
  ends the process if threads still hold it after that;
- ``/livez`` (= ``/healthz``), ``/readyz`` and ``/metrics`` (Prometheus) are served from a
  thread when ``metrics_port`` is set (:mod:`shared.runtime.probes`, wired by
  :mod:`shared.runtime.observability` with the runtime's own series), so that a wedged loop
  is reported as such instead of timing out: ``/livez`` fails once the loop has not beaten
  for ``liveness_loop_blocked`` seconds or a watched queue (:meth:`Service.watch_queue`) held
  work without finishing any for ``liveness_stalled`` seconds (:mod:`shared.runtime.
  liveness`); ``/readyz`` answers 200 once every input was read (``set_ready``) while live;
  the metrics snapshot is still taken on the loop, which owns what it reads;
- the event loop's lag is measured all the time (:class:`~shared.runtime.observability.LoopLag`,
  ``<svc>_loop_lag_max_seconds``), and each sample is the liveness heartbeat;
- :meth:`Service.add_histogram` registers a latency histogram (:class:`shared.metrics.
  Histogram`, read from the probe thread at scrape time);
- with ``--otlp-endpoint`` (``RIPPLE_OTLP_ENDPOINT``) spans are exported to an OTLP/HTTP
  collector (:mod:`shared.runtime.tracing`, started by :mod:`shared.runtime.observability`;
  flushed at shutdown); off by default;
- :meth:`Service.connect` connects to NATS with the service's credentials, retrying with
  backoff until it succeeds or the service is stopped, and counts permission violations.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from shared.contract.messages import Envelope
from shared.contract.streams import BucketSpec
from shared.errors import InvalidInput
from shared.runtime.errors import RuntimeFailure
from shared.runtime.gcpolicy import GcPolicy
from shared.runtime.liveness import Limits, Liveness
from shared.runtime.observability import LoopLag, runtime_metrics, serve_probes, start_tracing
from shared.runtime.probes import CONTENT_TYPE
from shared.runtime.settings import ServiceSettings

if TYPE_CHECKING:
    from shared.bus.kv import KVStore
    from shared.metrics import Histogram
    from shared.runtime.workqueue import WorkQueue

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Envelope)
T = TypeVar("T")

Snapshot = Callable[[], Mapping[str, tuple[str, str, float]]]
Main = Callable[["Service"], Awaitable[None]]


class Service:
    """What a service's ``main`` receives: its settings, tasks, readiness, metrics, NATS.

    ``hosted`` is true for a :class:`shared.runtime.hosted.ChildService` (one of many units
    in one process, e.g. an agent under ``ripple agent-host``)."""

    hosted = False

    def __init__(self, name: str, settings: ServiceSettings, ident: str | None = None) -> None:
        self.name = name
        self.settings = settings
        self.ident = ident or name
        self.liveness = Liveness(Limits.of(settings))
        self.lag = LoopLag(beat=self.liveness.tick)
        self.gc = GcPolicy(settings.gc_sweep)
        self.ready = False
        self.not_ready_reason = "starting"
        self.started = time.time()
        self.stats = {"nats_permission_violations": 0, "nats_errors": 0, "nats_connects": 0}
        self._metrics: list[Snapshot] = [functools.partial(runtime_metrics, self)]
        self.histograms: list[Histogram] = []
        self._on_stop: list[Callable[[], Awaitable[None]]] = []
        self._group: asyncio.TaskGroup | None = None
        self.stopping = asyncio.Event()
        self.metrics_port: int | None = None  # bound port of /metrics (when served)
        self._shared: dict[str, Any] = {}
        #: what is wrong now while the service runs (a host shows its children's)
        self.problems: Callable[[], list[str]] = list

    # -- tasks -------------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` for the service's lifetime: if it raises, the service ends (non-zero)."""
        if self._group is None:
            raise RuntimeFailure("spawn() before the service runs")
        return self._group.create_task(coro, name=name)

    def on_stop(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` at shutdown (in reverse order of registration, time-bounded)."""
        self._on_stop.append(callback)

    def every(
        self, interval: float, callback: Callable[[], Awaitable[None] | None], name: str
    ) -> asyncio.Task[Any] | None:
        """Call ``callback`` (a coroutine function or a plain one) every ``interval``
        seconds; its failures are logged, not fatal."""

        async def tick() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    result = callback()
                    if result is not None:
                        await result
                except Exception as exc:
                    log.warning("%s failed: %s", name, exc, extra={"obj": self.ident})

        return self.spawn(tick(), name)

    def shared(self, key: str, factory: Callable[[], T]) -> T:
        """An object built once by ``factory`` (a hosted child shares it with its siblings:
        e.g. latency histograms of every hosted agent)."""
        if key not in self._shared:
            self._shared[key] = factory()
        value: T = self._shared[key]
        return value

    def startup_done(self) -> None:
        """The service connected and read what it needs to start (a hosted child releases
        its host's start gate here; nothing for a service of its own)."""

    # -- liveness, readiness and metrics -----------------------------------------------------
    def watch(self, name: str, pending: Callable[[], bool], completed: Callable[[], int]) -> None:
        """Critical work that must progress: ``pending()`` says work is in hand (queued or in
        progress), ``completed()`` counts what finished (failures too). Work in hand with
        nothing finished for ``liveness_stalled`` seconds makes the service not live. Both
        are called on the loop."""
        self.liveness.watch(name, pending, completed)

    def watch_queue(self, queue: WorkQueue[Any]) -> None:
        """:meth:`watch` a work queue (keys waiting for a retry are not work in hand)."""
        self.liveness.watch_queue(queue)

    def set_not_ready(self, reason: str) -> None:
        """An input is no longer read (``/readyz`` answers 503 with ``reason`` until
        :meth:`set_ready`)."""
        self.ready = False
        self.not_ready_reason = reason

    def set_ready(self) -> None:
        if self.ready:
            return
        self.ready = True
        self.not_ready_reason = ""
        if self.settings.ready_file:
            Path(self.settings.ready_file).write_text(f"{os.getpid()}\n")
        log.info("%s ready", self.name, extra={"obj": self.ident})

    def add_metrics(self, snapshot: Snapshot) -> None:
        """A function returning ``name -> (kind, help, value)``, called on the loop at scrape
        time (so it may read the loop's state)."""
        self._metrics.append(snapshot)

    def add_histogram(self, histogram: Histogram) -> Histogram:
        """Serve ``histogram`` on ``/metrics`` (observed from any thread); returns it."""
        self.histograms.append(histogram)
        return histogram

    def metrics(self) -> dict[str, tuple[str, str, float]]:
        out: dict[str, tuple[str, str, float]] = {}
        for snapshot in self._metrics:
            out.update(snapshot())
        return out

    # -- NATS --------------------------------------------------------------------------------
    async def connect(self, *, inbox_prefix: str | None = None, **opts: Any) -> Any:
        """A NATS connection with the service's credentials; retried with backoff (0.2 s
        doubling to 5 s, jittered) until it succeeds. Cancelled by a stop at any moment."""
        from shared.bus.client import close, connect
        from shared.bus.errors import BusError

        last_error: list[str] = []

        async def error_cb(err: Exception) -> None:
            last_error[:] = [str(err)]
            self.stats["nats_errors"] += 1
            if "permissions violation" in str(err).lower():
                self.stats["nats_permission_violations"] += 1
            log.warning("NATS error: %s", err, extra={"obj": self.ident})

        options = {**self.settings.nats_options(), "error_cb": error_cb, **opts}
        # nats-py retries a first connection forever inside connect() when reconnects are
        # unlimited: bound each attempt (two tries per server) so that this loop logs, backs
        # off and stays cancellable; unlimited reconnects are restored once connected.
        reconnects = options.get("max_reconnect_attempts", -1)
        options["max_reconnect_attempts"] = 1
        if inbox_prefix:
            options["inbox_prefix"] = inbox_prefix
        delay, attempt = 0.2, 0
        while True:
            attempt += 1
            try:
                client = await connect(
                    self.settings.nats_servers, f"ripple-{self.name} {self.ident}", **options
                )
            except BusError as exc:
                if not self.ready:  # /readyz (and a host's) says why it does not start
                    why = f" ({last_error[0]})" if last_error else ""
                    self.not_ready_reason = f"connecting to NATS: {exc}{why}"
                level = logging.WARNING if attempt in (1, 2) or attempt % 20 == 0 else logging.DEBUG
                log.log(level, "%s (attempt %d, retrying)", exc, attempt, extra={"obj": self.ident})
                await asyncio.sleep(random.uniform(delay / 2, delay))
                delay = min(delay * 2, 5.0)
                continue
            client.options["max_reconnect_attempts"] = reconnects
            self.stats["nats_connects"] += 1
            self.on_stop(functools.partial(close, client))
            return client

    async def open_bucket(
        self, js: Any, spec: BucketSpec, expected: type[E] | tuple[type[E], ...]
    ) -> KVStore[E]:
        """Bind to a bucket the manager provisions: until it exists the service is not ready
        and ``/readyz`` says which bucket it waits for (logged once, then every 20th try)."""
        from shared.bus.kv import KVStore

        waits = 0

        def waiting(err: Exception) -> None:
            nonlocal waits
            waits += 1
            self.not_ready_reason = f"waiting for bucket {spec.bucket} (the manager creates it)"
            level = logging.INFO if waits == 1 or waits % 20 == 0 else logging.DEBUG
            log.log(level, "%s (waiting)", err, extra={"obj": self.ident})

        return await KVStore.open_when_provisioned(js, spec, expected, on_wait=waiting)


async def _run(service: Service, main: Main) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    signals: list[int] = []

    def on_signal(sig: int) -> None:
        if signals:  # a second Ctrl-C stops now; a repeated SIGTERM changes nothing
            if sig == signal.SIGINT:
                os._exit(128 + sig)
            return
        signals.append(sig)
        log.info(
            "%s: stopping (%s)",
            service.name,
            signal.Signals(sig).name,
            extra={"obj": service.ident},
        )
        service.stopping.set()
        _watchdog(service.settings.shutdown_grace + 1.5, 128 + sig)
        task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests)
            pass
    try:
        async with asyncio.TaskGroup() as group:
            service._group = group
            group.create_task(service.lag.run(), name="loop-lag")
            if service.settings.gc_sweep > 0:
                service.gc.install()
                group.create_task(service.gc.sweep_forever(), name="gc-sweep")
            start_tracing(service)
            if service.settings.metrics_port is not None:
                serve_probes(service, service.settings.metrics_port)
            group.create_task(_main(service, main, task), name="main")
    except asyncio.CancelledError:
        if not signals and not service.stopping.is_set():
            raise
    finally:
        service.gc.uninstall()
        await stop_callbacks(service)


async def _main(service: Service, main: Main, owner: asyncio.Task[Any]) -> None:
    await main(service)
    service.stopping.set()  # main returned: the service's work is over
    owner.cancel()


async def stop_callbacks(service: Service) -> None:
    """Run the ``on_stop`` callbacks (newest first), each bounded by ``shutdown_grace``."""
    callbacks, service._on_stop = service._on_stop, []
    for callback in reversed(callbacks):
        try:
            await asyncio.wait_for(callback(), service.settings.shutdown_grace)
        except (Exception, asyncio.CancelledError) as exc:
            log.debug("shutdown step failed: %r", exc, extra={"obj": service.ident})


def _watchdog(seconds: float, code: int) -> None:
    """End the process if a clean shutdown takes longer than ``seconds`` (threads blocked in
    a request, an executor that does not drain)."""
    timer = threading.Timer(seconds, lambda: os._exit(code))
    timer.daemon = True
    timer.start()


def _leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out


def run(name: str, settings: ServiceSettings, main: Main, ident: str | None = None) -> int:
    """Run a service until it is stopped (exit 0) or a task crashes (exit 1)."""
    service = Service(name, settings, ident)
    stop_by_signal = False
    try:
        asyncio.run(_run(service, main))
        stop_by_signal = service.stopping.is_set()
        # the loop has removed its handlers: a late SIGTERM must not kill an exiting process
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except KeyboardInterrupt:
        return 0
    except BaseExceptionGroup as group:  # a task crashed: one line per cause, exit non-zero
        for exc in _leaves(group):
            log.error(
                "%s: task failed: %s: %s",
                name,
                type(exc).__name__,
                exc,
                exc_info=exc if not isinstance(exc, RuntimeFailure | InvalidInput) else None,
                extra={"obj": service.ident},
            )
        return 1
    except Exception as exc:
        log.error(
            "%s failed: %s: %s",
            name,
            type(exc).__name__,
            exc,
            exc_info=exc,
            extra={"obj": service.ident},
        )
        return 1
    log.info(
        "%s stopped%s",
        name,
        "" if stop_by_signal else " (its work ended)",
        extra={"obj": service.ident},
    )
    return 0


__all__ = ["CONTENT_TYPE", "LoopLag", "Service", "run", "stop_callbacks"]
