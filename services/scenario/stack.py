"""The embedded default, brought up for one fleet: nats-server, the simulated fleet, the
management cluster's CRDs, cluster registrations and definitions, and the services.

    with Stack(scenario.fleet, scenario.management_dir, crds_dir=scenario.crds_dir) as stack:
        stack.client("default/cluster-a").apply(obj)
        results = stack.run_steps(scenario.steps, scenario.path)

Order of bring-up (:meth:`Stack.start`):

1. ``nats-server`` (:class:`shared.bus.embedded.EmbeddedNats`, JetStream under ``nats/``);
2. the simulated fleet, a child process ``ripple fleet serve --config fleet.yaml --dir fleet/
   --port N``, awaited until every kubeconfig exists and the management API answers;
3. management cluster: Sveltos CRDs (:func:`shared.api.crds.crd_documents`, with minimal
   fallbacks for kinds still missing), the clusters' namespaces, one ``SveltosCluster`` or CAPI
   ``Cluster`` per fleet entry (with its labels, status ready);
4. managed clusters: every file of ``crds/``;
5. management cluster: every object of ``management/`` (CRDs, then Namespaces, then the rest;
   the namespaces of namespaced objects are created first);
6. services (unless ``services=False``): ``ripple manager``, ``ripple reporter`` and one
   ``ripple agent`` per cluster, each a child process logging to ``logs/<name>.log``, awaited
   through its ready file (``ready/<name>``) with a deadline.

:meth:`Stack.stop` stops the agents, then the manager and the reporter (each group: SIGTERM
to all, then SIGKILL after a grace period), then the fleet, then nats-server. It is idempotent and runs on ``__exit__``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import yaml

from services.scenario import kinds
from services.scenario.errors import StackError
from services.scenario.model import (
    MANAGEMENT,
    Fleet,
    FleetCluster,
    Step,
    load_fleet,
    read_objects,
    yaml_files,
)
from services.scenario.processes import (
    ManagedProcess,
    free_port,
    ripple_command,
    stop_all,
    tail,
    wait_ready,
    wait_until,
)
from shared.kube import GVK, KubeClient, KubeError, object_key

if TYPE_CHECKING:
    from services.scenario.steps import StepResult
    from shared.bus.embedded import EmbeddedNats

log = logging.getLogger(__name__)

FIELD_MANAGER = "scenario"
DEFAULT_READY_TIMEOUT = 60.0


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


class Stack:
    """Everything a scenario needs, up for one fleet (see the module doc).

    ``fleet`` is a :class:`Fleet` or the path of a ``fleet.yaml``. ``state_dir`` receives the
    kubeconfigs (``fleet/``), logs (``logs/``), ready files and NATS store; a temporary
    directory is used (and removed on a clean stop) when it is not given. ``services=False``
    brings up only NATS, the fleet, CRDs, registrations and definitions.
    """

    def __init__(
        self,
        fleet: Fleet | Path | str,
        management_dir: Path | str | None = None,
        *,
        crds_dir: Path | str | None = None,
        state_dir: Path | str | None = None,
        services: bool = True,
        ready_timeout: float = DEFAULT_READY_TIMEOUT,
        log_level: str = "INFO",
        api_port: int | None = None,
        fleet_port: int | None = None,
    ) -> None:
        self.fleet = fleet if isinstance(fleet, Fleet) else load_fleet(Path(fleet))
        self.management_dir = Path(management_dir) if management_dir else None
        self.crds_dir = Path(crds_dir) if crds_dir else None
        self._tmp = state_dir is None
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="ripple-stack-")).resolve()
        self.services = services
        self.ready_timeout = ready_timeout
        self.log_level = log_level
        self.api_port = api_port
        self.fleet_port = fleet_port
        self.nats: EmbeddedNats | None = None
        self.fleet_process: ManagedProcess | None = None
        self.processes: dict[str, ManagedProcess] = {}
        self._clients: dict[str, KubeClient] = {}
        self._started = False
        self.failed = False

    # -- paths and endpoints ---------------------------------------------------------------------
    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def kubeconfig_dir(self) -> Path:
        return self.state_dir / "fleet"

    @property
    def nats_url(self) -> str:
        if self.nats is None:
            raise StackError("the stack is not started")
        return self.nats.url

    @property
    def rest_url(self) -> str | None:
        """The manager's REST API (``None`` without services)."""
        return f"http://127.0.0.1:{self.api_port}" if self.services and self.api_port else None

    def kubeconfig(self, cluster: str) -> Path:
        """The kubeconfig of ``"management"`` or of a managed cluster ``"NS/NAME"``."""
        if cluster == MANAGEMENT:
            return self.kubeconfig_dir / "management.kubeconfig"
        entry = self.fleet.cluster(cluster)
        candidates = [
            f"{entry.name}.kubeconfig",
            f"{entry.namespace}-{entry.name}.kubeconfig",
            f"{entry.namespace}--{entry.name}.kubeconfig",
            f"{entry.namespace}/{entry.name}.kubeconfig",
            f"{entry.namespace}_{entry.name}.kubeconfig",
        ]
        for name in candidates:
            path = self.kubeconfig_dir / name
            if path.exists():
                return path
        return self.kubeconfig_dir / candidates[0]

    def client(self, cluster: str) -> KubeClient:
        """The :class:`KubeClient` of ``"management"`` or of a managed cluster ``"NS/NAME"``."""
        if cluster not in self._clients:
            if cluster != MANAGEMENT:
                self.fleet.cluster(cluster)  # KeyError with the known clusters
            path = self.kubeconfig(cluster)
            if not path.exists():
                raise StackError(f"no kubeconfig for {cluster} ({path})")
            self._clients[cluster] = KubeClient(str(path), name=cluster)
        return self._clients[cluster]

    @property
    def management(self) -> KubeClient:
        return self.client(MANAGEMENT)

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

    def start(self) -> Self:
        if self._started:
            return self
        self._started = True
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for sub in ("logs", "ready", "fleet", "nats"):
            shutil.rmtree(self.state_dir / sub, ignore_errors=True)
        self.log_dir.mkdir(parents=True)
        try:
            self._start_nats()
            self._start_fleet()
            self._prepare_management()
            self._prepare_clusters()
            self._apply_definitions()
            if self.services:
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
        if self.nats is not None:
            self.nats.stop()
        if self._tmp and not self.failed and self._started:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        self._started = False

    # -- bring-up steps --------------------------------------------------------------------------
    def _start_nats(self) -> None:
        from shared.bus.embedded import EmbeddedNats

        self.nats = EmbeddedNats(self.state_dir / "nats")
        try:
            self.nats.start()
        except Exception as err:
            raise StackError(
                f"nats-server did not start: {err}",
                logs=f"--- {self.nats.log_path} ---\n{tail(self.nats.log_path)}",
            ) from err

    def _start_fleet(self) -> None:
        self.kubeconfig_dir.mkdir(parents=True, exist_ok=True)
        fleet_file = self.state_dir / "fleet.yaml"
        fleet_file.write_text(
            yaml.safe_dump(self.fleet.model_dump(mode="json", by_alias=True), sort_keys=False)
        )
        port = self.fleet_port or free_port()
        self.fleet_port = port
        argv = ripple_command(
            "--log-level",
            self.log_level,
            "fleet",
            "serve",
            "--config",
            str(fleet_file),
            "--dir",
            str(self.kubeconfig_dir),
            "--port",
            str(port),
        )
        self.fleet_process = ManagedProcess("fleet", argv, self.log_dir / "fleet.log").start()
        deadline = time.monotonic() + self.ready_timeout
        needed = [MANAGEMENT, *(c.ref for c in self.fleet.clusters)]

        def check() -> None:
            assert self.fleet_process is not None
            if not self.fleet_process.running:
                raise self.fleet_process.failure("exited before it was ready")

        def files_written() -> bool:
            return all(self.kubeconfig(ref).exists() for ref in needed)

        if not wait_until(files_written, deadline, check=check, interval=0.02):
            missing = [str(self.kubeconfig(r)) for r in needed if not self.kubeconfig(r).exists()]
            raise self.fleet_process.failure(f"wrote no kubeconfig {missing} in time")

        last_error: list[str] = []

        def answers() -> bool:
            try:
                for ref in needed:
                    self.client(ref).get(kinds.NAMESPACE, None, "default")
            except KubeError as err:
                last_error[:] = [str(err)]
                for ref in needed:  # drop clients whose discovery failed
                    client = self._clients.pop(ref, None)
                    if client is not None:
                        client.close()
                return False
            return True

        if not wait_until(answers, deadline, check=check, interval=0.05):
            why = f": {last_error[0]}" if last_error else ""
            raise self.fleet_process.failure(f"API did not answer in time{why}")

    def _ensure_namespace(self, client: KubeClient, name: str) -> None:
        if not name or client.get(kinds.NAMESPACE, None, name) is not None:
            return
        client.apply(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
            field_manager=FIELD_MANAGER,
        )

    def _install_crds(self, client: KubeClient, crds: Iterable[dict[str, Any]], what: str) -> None:
        served: list[GVK] = []
        for crd in crds:
            client.apply(crd, field_manager=FIELD_MANAGER)
            spec = crd.get("spec") or {}
            group, kind = spec.get("group", ""), (spec.get("names") or {}).get("kind", "")
            versions = [v.get("name") for v in spec.get("versions") or [] if v.get("served", True)]
            served += [GVK.from_parts(group, str(v), kind) for v in versions[:1]]
        deadline = time.monotonic() + self.ready_timeout
        for gvk in served:
            if not wait_until(lambda g=gvk: client.serves(g), deadline, interval=0.05):
                raise StackError(f"{what}: {gvk} is not served after installing its CRD")

    def _ensure_kinds(self, client: KubeClient, gvks: Iterable[GVK]) -> None:
        missing = []
        for gvk in set(gvks):
            if not client.serves(gvk):
                crd = kinds.fallback_crd(gvk)
                if crd is None:
                    raise StackError(f"management cluster does not serve {gvk} (no CRD for it)")
                log.warning("management cluster does not serve %s: installing a minimal CRD", gvk)
                missing.append(crd)
        if missing:
            self._install_crds(client, missing, "management")

    def _prepare_management(self) -> None:
        mgmt = self.management
        try:
            from shared.api.crds import crd_documents
        except ImportError:  # pragma: no cover - only while shared.api.crds is being written
            log.warning("shared.api.crds is unavailable: using minimal CRDs")
        else:
            self._install_crds(mgmt, crd_documents(), "management")
        self._ensure_kinds(mgmt, (kinds.registration_gvk(c.type) for c in self.fleet.clusters))
        for namespace in sorted({c.namespace for c in self.fleet.clusters} | {"projectsveltos"}):
            self._ensure_namespace(mgmt, namespace)
        for cluster in self.fleet.clusters:
            self.register(cluster)

    def register(self, cluster: FleetCluster) -> dict[str, Any]:
        """Create/update the SveltosCluster or CAPI Cluster of ``cluster`` (labels, ready)."""
        gvk = kinds.registration_gvk(cluster.type)
        status = kinds.ready_status(cluster.type)
        obj: dict[str, Any] = {
            "apiVersion": gvk.api_version,
            "kind": gvk.kind,
            "metadata": {
                "name": cluster.name,
                "namespace": cluster.namespace,
                "labels": dict(cluster.labels),
            },
            "spec": {},
        }
        mgmt = self.management
        live = mgmt.apply(obj, field_manager=FIELD_MANAGER)
        if live.get("status") != status:
            with contextlib.suppress(KubeError):  # servers without a status subresource
                live = mgmt._call(  # no public status patch in shared.kube
                    "PATCH",
                    mgmt.path(gvk, cluster.namespace, cluster.name) + "/status",
                    body={"status": status},
                    content_type="application/merge-patch+json",
                    what=f"status of {gvk.kind} {cluster.ref}",
                )
            if not (live or {}).get("status"):
                with contextlib.suppress(KubeError):
                    live = mgmt.merge_patch(
                        gvk, cluster.namespace, cluster.name, {"status": status}
                    )
        return dict(live or {})

    def _prepare_clusters(self) -> None:
        crds: list[dict[str, Any]] = []
        for file in yaml_files(self.crds_dir) if self.crds_dir else []:
            crds += read_objects(file)
        for cluster in self.fleet.clusters:
            client = self.client(cluster.ref)
            self._ensure_namespace(client, "default")
            if crds:
                self._install_crds(client, crds, cluster.ref)

    def _apply_definitions(self) -> None:
        if self.management_dir is None:
            return
        objects: list[dict[str, Any]] = []
        for file in yaml_files(self.management_dir):
            objects += read_objects(file)
        self.apply_management(objects)

    def apply_management(self, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Apply definitions to the management cluster (CRDs and Namespaces first; the
        namespaces of namespaced objects are created when missing)."""
        mgmt = self.management
        ordered = kinds.ordered_for_apply(objects)
        crds = [o for o in ordered if GVK.of(o) == kinds.CRD]
        if crds:
            self._install_crds(mgmt, crds, "management")
        rest = [o for o in ordered if GVK.of(o) != kinds.CRD]
        self._ensure_kinds(mgmt, (GVK.of(o) for o in rest if GVK.of(o) != kinds.NAMESPACE))
        out = []
        for obj in rest:
            key = object_key(obj)
            if key.namespace and mgmt.namespaced(GVK.of(obj)):
                self._ensure_namespace(mgmt, key.namespace)
            out.append(mgmt.apply(obj, field_manager=FIELD_MANAGER))
        return out

    def _start_services(self) -> None:
        nats_url = self.nats_url
        mgmt_kubeconfig = str(self.kubeconfig(MANAGEMENT))
        ready = self.state_dir / "ready"
        level = ["--log-level", self.log_level]
        self.api_port = self.api_port or free_port()
        specs: list[tuple[str, list[str]]] = [
            (
                "manager",
                [
                    "manager",
                    "--kubeconfig",
                    mgmt_kubeconfig,
                    "--nats",
                    nats_url,
                    "--ready-file",
                    str(ready / "manager"),
                    "--api-port",
                    str(self.api_port),
                ],
            ),
            (
                "reporter",
                [
                    "reporter",
                    "--kubeconfig",
                    mgmt_kubeconfig,
                    "--nats",
                    nats_url,
                    "--ready-file",
                    str(ready / "reporter"),
                ],
            ),
        ]
        for cluster in self.fleet.clusters:
            name = self.agent_name(cluster.ref)
            specs.append(
                (
                    name,
                    [
                        "agent",
                        "--cluster",
                        cluster.ref,
                        "--cluster-type",
                        cluster.type,
                        "--kubeconfig",
                        str(self.kubeconfig(cluster.ref).resolve()),
                        "--nats",
                        nats_url,
                        "--ready-file",
                        str(ready / name),
                    ],
                )
            )
        env = {"RIPPLE_LOG_LEVEL": self.log_level}
        for name, args in specs:
            proc = ManagedProcess(
                name,
                ripple_command(*level, *args),
                self.log_dir / f"{name}.log",
                ready_file=ready / name,
                env=env,
            )
            self.processes[name] = proc.start()
        wait_ready(list(self.processes.values()), self.ready_timeout)

    @staticmethod
    def agent_name(cluster: str) -> str:
        return "agent-" + _safe(cluster.replace("/", "-"))

    # -- diagnostics -----------------------------------------------------------------------------
    def dead_processes(self) -> list[ManagedProcess]:
        procs = [*self.processes.values()]
        if self.fleet_process is not None:
            procs.append(self.fleet_process)
        return [p for p in procs if p.proc is not None and not p.running]

    def log_tails(self, cluster: str | None = None, lines: int = 15) -> str:
        """The last ``lines`` lines of the logs that matter for a failure in ``cluster``: any
        process that exited, the manager, the cluster's agent (and the fleet's when the
        services are off)."""
        names: list[str] = [p.name for p in self.dead_processes()]
        for name in ("manager", self.agent_name(cluster) if cluster else ""):
            if name and name in self.processes and name not in names:
                names.append(name)
        if not self.services and "fleet" not in names:
            names.append("fleet")
        chunks = []
        for name in names:
            path = self.log_dir / f"{name}.log"
            proc = self.processes.get(name) or (self.fleet_process if name == "fleet" else None)
            state = ""
            if proc is not None and proc.proc is not None and not proc.running:
                state = f" (exited with code {proc.returncode})"
            chunks.append(
                f"--- {name}{state}: last {lines} lines of {path} ---\n{tail(path, lines)}"
            )
        return "\n".join(chunks)

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


def environment_summary(stack: Stack) -> dict[str, Any]:
    """Where to look: kubeconfigs, NATS URL, REST URL, logs (for the demo and ``--keep``)."""
    return {
        "state_dir": str(stack.state_dir),
        "nats_url": stack.nats_url,
        "rest_url": stack.rest_url,
        "kubeconfigs": {
            ref: os.path.relpath(stack.kubeconfig(ref))
            for ref in [MANAGEMENT, *(c.ref for c in stack.fleet.clusters)]
        },
        "logs": os.path.relpath(stack.log_dir),
    }
