"""The embedded default, brought up for one fleet: nats-server, the simulated fleet, the
management cluster's CRDs, cluster registrations and definitions, and the services.

    with Stack(scenario.fleet, scenario.management_dir, crds_dir=scenario.crds_dir) as stack:
        stack.client("default/cluster-a").apply(obj)
        results = stack.run_steps(scenario.steps, scenario.path)

Order of bring-up (:meth:`Stack.start`):

1. ``nats-server`` (:class:`shared.bus.embedded.EmbeddedNats`, JetStream under ``nats/``),
   with a user per service and an ``admin`` unless ``secure=False`` (see
   :mod:`services.scenario.stacknats`; passwords in ``nats/credentials.json``, mode 0600);
2. the simulated fleet, a child process ``ripple fleet serve --config fleet.yaml --dir fleet/
   --port N``, awaited until every kubeconfig exists and the management API answers;
3. management cluster: Sveltos CRDs (:func:`shared.api.crds.crd_documents`, with minimal
   fallbacks for kinds still missing, CAPI's Cluster included), the clusters' namespaces,
   one ``SveltosCluster`` or CAPI ``Cluster`` per fleet entry (its labels, status ready);
4. managed clusters: every file of ``crds/``;
5. the charts of ``charts_dir`` served over loopback HTTP (:mod:`services.scenario.charts`:
   ``charts_url``), then every object of ``management/`` in the management cluster (CRDs,
   then Namespaces, then the rest; the namespaces of namespaced objects are created first;
   ``${CHARTS_URL}`` replaced);
6. services (unless ``services=False``): ``ripple manager``, ``ripple reporter`` and one
   ``ripple agent`` per cluster, or one ``ripple agent-host`` for all of them
   (``agent_mode``, :mod:`services.scenario.stackagents`), each a child process logging to
   ``logs/<name>.log``, awaited through its ready file (``ready/<name>``) with a deadline;
   each gets its NATS user and password in ``RIPPLE_NATS_USER``/``RIPPLE_NATS_PASSWORD``
   (never in argv; a hosted cluster's are in the clusters file, mode 0600).

Each phase's duration is in :attr:`Stack.phases` (``nats``, ``fleet``, ``management``,
``clusters``, ``definitions``, ``services``). The fleet is awaited through one look at its
cluster list, registrations and per-cluster CRDs go a few requests at a time, so 1,000
clusters come up in seconds before the services start.

:meth:`Stack.stop` stops the agents, then the manager and the reporter (each group: SIGTERM
to all, then SIGKILL after a grace period), then the fleet, the chart repository and nats-server. It is idempotent and runs on ``__exit__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from services.scenario import kinds, provision
from services.scenario.charts import StackCharts
from services.scenario.commands import AGENT_HOST, service_commands
from services.scenario.credentials import NatsCredentials
from services.scenario.errors import StackError
from services.scenario.model import (
    MANAGEMENT,
    Fleet,
    FleetCluster,
    Step,
    load_fleet,
)
from services.scenario.processes import (
    ManagedProcess,
    free_port,
    stop_all,
    wait_ready,
)
from services.scenario.provision import bounded
from services.scenario.stackagents import StackAgents, resolve_agent_mode
from services.scenario.stacklogs import StackLogs
from services.scenario.stackmgmt import StackManagement, with_management
from services.scenario.stacknats import StackNats
from shared.kube import GVK, KubeClient

if TYPE_CHECKING:
    from services.scenario.steps import StepResult
    from shared.bus.embedded import EmbeddedNats

log = logging.getLogger(__name__)

DEFAULT_READY_TIMEOUT = 60.0


class Stack(StackNats, StackLogs, StackCharts, StackManagement, StackAgents):
    """Everything a scenario needs, up for one fleet (see the module doc).

    ``fleet`` is a :class:`Fleet` or the path of a ``fleet.yaml``. ``state_dir`` receives the
    kubeconfigs (``fleet/``), logs (``logs/``), ready files and NATS store; a temporary
    directory is used (and removed on a clean stop) when it is not given. ``services=False``
    brings up only NATS, the fleet, CRDs, registrations and definitions. ``secure=False``
    runs nats-server without authorization. ``charts_dir``: a scenario's ``charts/``.
    ``management_cluster`` (``NS/NAME``): the management cluster registered and given an
    agent, for ``deploymentType: Local`` (:mod:`services.scenario.stackmgmt`).
    ``agent_mode``: ``"process"`` (one agent process per cluster), ``"hosted"`` (one
    ``agent-host`` process for all) or ``"auto"`` (hosted beyond a few clusters; see
    :mod:`services.scenario.stackagents`). ``nats_cluster``: nats-server nodes (1: one
    server; more: a JetStream cluster, :mod:`services.scenario.stacknats`). :attr:`phases`
    holds the time of each bring-up phase.
    """

    def __init__(
        self,
        fleet: Fleet | Path | str,
        management_dir: Path | str | None = None,
        *,
        crds_dir: Path | str | None = None,
        charts_dir: Path | str | None = None,
        state_dir: Path | str | None = None,
        services: bool = True,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        log_level: str = "INFO",
        api_port: int | None = None,
        fleet_port: int | None = None,
        log_lines: int = 15,
        secure: bool = True,
        metrics: bool = False,
        management_cluster: str | None = None,
        agent_mode: str = "auto",
        nats_cluster: int = 1,
    ) -> None:
        self.served_fleet = fleet if isinstance(fleet, Fleet) else load_fleet(Path(fleet))
        self.management_cluster = management_cluster  # services.scenario.stackmgmt
        self.fleet = with_management(self.served_fleet, management_cluster)
        self.agent_mode = resolve_agent_mode(agent_mode, len(self.fleet.clusters))
        if nats_cluster < 1:
            raise StackError(f"nats_cluster {nats_cluster}: expected 1 or more nats-servers")
        self.nats_cluster = nats_cluster
        self.management_dir = Path(management_dir) if management_dir else None
        self.crds_dir = Path(crds_dir) if crds_dir else None
        self.charts_dir = Path(charts_dir) if charts_dir else None
        self.charts = None
        self._tmp = state_dir is None
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="ripple-stack-")).resolve()
        self.services = services
        self.ready_timeout = ready_timeout
        self.log_level = log_level
        self.api_port = api_port
        self.fleet_port = fleet_port
        self.log_lines = log_lines
        self.secure = secure
        #: service name -> port of its /metrics, /healthz, /readyz (``metrics=True``)
        self.metrics_ports: dict[str, int] = {}
        self._metrics = metrics
        self.credentials: NatsCredentials | None = None
        self.nats: EmbeddedNats | None = None
        self.fleet_process: ManagedProcess | None = None
        self.processes: dict[str, ManagedProcess] = {}
        self._clients: dict[str, KubeClient] = {}
        self._started = False
        self.failed = False
        #: bring-up phase -> seconds it took (nats, fleet, management, clusters,
        #: definitions, services), in order
        self.phases: dict[str, float] = {}

    @contextlib.contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.phases[name] = time.monotonic() - started

    # -- paths and endpoints ---------------------------------------------------------------------
    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def kubeconfig_dir(self) -> Path:
        return self.state_dir / "fleet"

    @property
    def rest_url(self) -> str | None:
        """The manager's REST API (``None`` without services)."""
        return f"http://127.0.0.1:{self.api_port}" if self.services and self.api_port else None

    def registration(self, cluster: str) -> tuple[GVK, FleetCluster]:
        entry = self.fleet.cluster(cluster)
        return kinds.registration_gvk(entry.type), entry

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.failed = True
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.failed = True
        await asyncio.to_thread(self.stop)

    def start(self) -> Self:
        """Bring everything up (see the module doc); on failure, stop what started and raise
        :class:`StackError` (or the :class:`KubeError` of a rejected object)."""
        if self._started:
            return self
        self._started = True
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("logs", "ready", "fleet", "nats", "helm-cache"):
            shutil.rmtree(self.state_dir / sub, ignore_errors=True)
        self.log_dir.mkdir(parents=True)
        self.phases.clear()
        try:
            with self._phase("nats"):
                self._start_nats()
            with self._phase("fleet"):
                self._start_fleet()
            with self._phase("management"):
                self._prepare_management()
            with self._phase("clusters"):
                self._prepare_clusters()
            with self._phase("definitions"):
                self._start_charts()
                self._apply_definitions()
            if self.services:
                with self._phase("services"):
                    self._start_services()
        except BaseException:
            self.failed = True
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop everything this stack started (services, fleet, nats-server). Idempotent."""
        stop_all([p for n, p in self.processes.items() if n.startswith("agent-")])
        stop_all([p for n, p in self.processes.items() if not n.startswith("agent-")])
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                client.close()
        self._clients.clear()
        if self.fleet_process is not None:
            self.fleet_process.stop()
        self._stop_charts()
        self._stop_nats()
        if self._tmp and not self.failed and self._started:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        self._started = False

    # -- bring-up steps --------------------------------------------------------------------------
    def _prepare_management(self) -> None:
        mgmt = self.management
        try:
            provision.install_sveltos_crds(mgmt, self.ready_timeout)
        except ImportError:  # pragma: no cover - only while shared.api.crds is being written
            log.warning("shared.api.crds is unavailable: using minimal CRDs")
        # both registration kinds, so that the manager can watch either (CAPI's Cluster
        # gets a minimal CRD when no real one is installed)
        provision.ensure_kinds(
            mgmt, (kinds.SVELTOS_CLUSTER, kinds.CAPI_CLUSTER), self.ready_timeout
        )
        for namespace in sorted({c.namespace for c in self.fleet.clusters} | {"projectsveltos"}):
            provision.ensure_namespace(mgmt, namespace)
        bounded(self.register, self.fleet.clusters)

    def register(self, cluster: FleetCluster) -> dict[str, Any]:
        """Create/update the SveltosCluster or CAPI Cluster of ``cluster`` (labels, ready)."""
        return provision.register_cluster(self.management, cluster)

    def _prepare_clusters(self) -> None:
        """The CRDs of ``crds/`` in every managed cluster, a few clusters at a time (the
        simulated fleet creates each cluster's ``default`` namespace itself)."""
        crds, sources = provision.read_dir(self.crds_dir)
        if not crds:
            return

        def install(cluster: FleetCluster) -> None:
            client = self.client(cluster.ref)
            provision.install_crds(client, crds, cluster.ref, self.ready_timeout, sources)

        bounded(install, self.fleet.clusters)

    def _apply_definitions(self) -> None:
        objects, sources = provision.read_dir(self.management_dir)
        self.apply_management(objects, sources)

    def apply_management(
        self, objects: list[dict[str, Any]], sources: dict[int, str] | None = None
    ) -> list[dict[str, Any]]:
        """Apply definitions to the management cluster (:func:`provision.apply_objects`), the
        placeholders of :mod:`services.scenario.charts` replaced."""
        objects, sources = self.with_charts_url(objects, sources)
        return provision.apply_objects(self.management, objects, self.ready_timeout, sources)

    def start_services(self) -> None:
        """Start the services of a stack started with ``services=False`` (e.g. after loading
        objects into the fleet, to measure a start over existing state)."""
        if self.services and self.processes:
            return
        self.services = True
        try:
            self._start_services()
        except BaseException:
            self.failed = True
            self.stop()
            raise

    def _start_services(self) -> None:
        self.api_port = self.api_port or free_port()
        if self._metrics:
            names = ["manager", "reporter", *self.agent_process_names()]
            self.metrics_ports = {n: self.metrics_ports.get(n) or free_port() for n in names}
        hosted_file = self.write_clusters_file() if self.hosted else None
        commands = service_commands(
            self.fleet,
            nats_url=self.nats_server_url,
            management_kubeconfig=self.kubeconfig(MANAGEMENT).resolve(),
            cluster_kubeconfig={
                c.ref: self.kubeconfig(c.ref).resolve() for c in self.fleet.clusters
            },
            ready_dir=self.state_dir / "ready",
            api_port=self.api_port,
            log_level=self.log_level,
            metrics_ports=self.metrics_ports,
            hosted_file=hosted_file,
        )
        env = {"RIPPLE_LOG_LEVEL": self.log_level}
        helm = {"RIPPLE_HELM_CACHE_DIR": str(self.state_dir / "helm-cache")}  # agents' charts
        nats_env = self.nats_env()
        if self.hosted:  # each hosted cluster's NATS user is in the clusters file
            nats_env[AGENT_HOST] = {"RIPPLE_NATS_URL": self.nats_server_url}
        for cmd in commands:
            proc = ManagedProcess(
                cmd.name,
                cmd.argv,
                self.log_dir / f"{cmd.name}.log",
                ready_file=cmd.ready_file,
                env={
                    **env,
                    **(helm if cmd.name.startswith("agent-") else {}),
                    **(self.manager_env() if cmd.name == "manager" else {}),
                    **nats_env.get(cmd.name, {}),
                },
            )
            self.processes[cmd.name] = proc.start()
        wait_ready(list(self.processes.values()), self.ready_timeout)

    # -- steps -----------------------------------------------------------------------------------
    def run_steps(
        self,
        steps: list[Step],
        base_dir: Path | str,
        *,
        timeout: float = 10.0,
        fail_fast: bool = False,
        on_result: Callable[[StepResult], None] | None = None,
    ) -> list[StepResult]:
        """Run ``steps`` (files relative to ``base_dir``); see :mod:`services.scenario.steps`."""
        from services.scenario.steps import StepRunner

        runner = StepRunner(self, Path(base_dir), timeout=timeout)
        return runner.run(steps, fail_fast=fail_fast, on_result=on_result)
