"""The clusters of the embedded stack (the simulated fleet started and awaited, kubeconfigs,
clients), and the management cluster as
a registered cluster (``deploymentType: Local``).

Sveltos deploys a policyRef with ``deploymentType: Local`` to the management cluster; Ripple
deploys it through the agent of the registered cluster that IS the management cluster (the
manager's ``--management-cluster``). With ``Stack(..., management_cluster="mgmt/mgmt")`` the
stack registers a SveltosCluster ``mgmt/mgmt`` in the management cluster (as Sveltos users
register it), gives it an agent whose kubeconfig is the management cluster's, and starts the
manager with ``RIPPLE_MANAGEMENT_CLUSTER``. The simulated fleet serves the fleet without it
(the management API already exists).
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from services.scenario import kinds
from services.scenario.commands import fleet_command
from services.scenario.errors import StackError
from services.scenario.model import MANAGEMENT, Fleet, FleetCluster
from services.scenario.processes import ManagedProcess, free_port, wait_until
from shared.kube import KubeClient, KubeError


def with_management(fleet: Fleet, ref: str | None) -> Fleet:
    """``fleet`` and, when ``ref`` (``NAMESPACE/NAME``) is given, the management cluster's
    registration as one more cluster (no labels: no trigger selects it by accident)."""
    if not ref:
        return fleet
    namespace, _, name = ref.partition("/")
    if not namespace or not name or "/" in name:
        raise StackError(f"management cluster {ref!r}: expected NAMESPACE/NAME, e.g. mgmt/mgmt")
    if any(c.ref == ref for c in fleet.clusters):
        raise StackError(f"management cluster {ref!r} is also a cluster of fleet.yaml")
    extra = FleetCluster(namespace=namespace, name=name)
    return fleet.model_copy(update={"clusters": [*fleet.clusters, extra]})


def fleet_hook(kubeconfig: Path, path: str = "/_fleet/clusters", timeout: float = 10.0) -> Any:
    """GET one of the simulated fleet's ``/_fleet`` hooks (its admin token and CA read from
    a kubeconfig it wrote); :class:`StackError` when it does not answer."""
    try:
        config = yaml.safe_load(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        token = config["users"][0]["user"]["token"]
        cadata = base64.b64decode(cluster.get("certificate-authority-data", "")).decode()
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError, ValueError) as err:
        raise StackError(f"{kubeconfig}: not a kubeconfig of the simulated fleet ({err})") from err
    base = str(cluster["server"]).split("/clusters/")[0]
    context = ssl.create_default_context(cadata=cadata) if cadata else None
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError) as err:  # URLError, HTTPError, timeouts, bad JSON
        raise StackError(f"the fleet's {path} did not answer: {err}") from err


class StackManagement:
    """The clusters of :class:`~services.scenario.stack.Stack`: their kubeconfigs and
    clients, and the management cluster's registration (:func:`with_management`)."""

    fleet: Fleet
    #: ``NAMESPACE/NAME`` of the management cluster's registration, or None
    management_cluster: str | None = None
    #: the fleet the simulated fleet serves (without the management cluster's registration)
    served_fleet: Fleet
    _clients: dict[str, KubeClient]

    state_dir: Path
    log_level: str
    ready_timeout: float
    fleet_port: int | None
    fleet_process: ManagedProcess | None

    @property
    def kubeconfig_dir(self) -> Path:
        raise NotImplementedError  # the stack's

    @property
    def log_dir(self) -> Path:
        raise NotImplementedError  # the stack's

    def is_management(self, cluster: str) -> bool:
        """Whether ``cluster`` is the management cluster's registration."""
        return bool(self.management_cluster) and cluster == self.management_cluster

    def manager_env(self) -> dict[str, str]:
        """The manager's environment for the management cluster (none when not set)."""
        if not self.management_cluster:
            return {}
        return {"RIPPLE_MANAGEMENT_CLUSTER": self.management_cluster}

    def kubeconfig(self, cluster: str) -> Path:
        """The kubeconfig of ``"management"`` or of a managed cluster ``"NS/NAME"``."""
        if cluster == MANAGEMENT or self.is_management(cluster):
            return self.kubeconfig_dir / "management.kubeconfig"
        entry = self.fleet.cluster(cluster)
        ns, name = entry.namespace, entry.name
        candidates = [
            f"{stem}.kubeconfig"
            for stem in (name, f"{ns}-{name}", f"{ns}--{name}", f"{ns}/{name}", f"{ns}_{name}")
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

    def _start_fleet(self) -> None:
        """Start the simulated fleet (``ripple fleet serve``) and wait until every cluster's
        kubeconfig is written and the fleet lists every cluster."""
        self.kubeconfig_dir.mkdir(parents=True, exist_ok=True)
        fleet_file = self.state_dir / "fleet.yaml"
        fleet_file.write_text(
            yaml.safe_dump(
                self.served_fleet.model_dump(mode="json", by_alias=True), sort_keys=False
            )
        )
        port = self.fleet_port or free_port()
        self.fleet_port = port
        argv = fleet_command(fleet_file, self.kubeconfig_dir, port, self.log_level)
        self.fleet_process = ManagedProcess("fleet", argv, self.log_dir / "fleet.log").start()
        deadline = time.monotonic() + self.ready_timeout
        needed = [MANAGEMENT, *(c.ref for c in self.served_fleet.clusters)]

        def check() -> None:
            assert self.fleet_process is not None
            if not self.fleet_process.running:
                raise self.fleet_process.failure("exited before it was ready")

        def files_written() -> bool:  # one listing, not a stat per cluster
            written = sum(1 for p in self.kubeconfig_dir.glob("*.kubeconfig"))
            return written >= len(needed) and all(self.kubeconfig(r).exists() for r in needed)

        if not wait_until(files_written, deadline, check=check, interval=0.02):
            missing = [str(self.kubeconfig(r)) for r in needed if not self.kubeconfig(r).exists()]
            raise self.fleet_process.failure(f"wrote no kubeconfig {missing} in time")

        # one look at the fleet's own list (GET /_fleet/clusters) tells every cluster is
        # served, instead of a client and a discovery per cluster (seconds at 1,000)
        last_error: list[str] = []

        def answers() -> bool:
            try:
                self.management.get(kinds.NAMESPACE, None, "default")
                listed = fleet_hook(self.kubeconfig(MANAGEMENT)).get("clusters") or []
                served = {c.get("name") for c in listed}
            except (KubeError, StackError) as err:
                last_error[:] = [str(err)]
                client = self._clients.pop(MANAGEMENT, None)  # its discovery may have failed
                if client is not None:
                    client.close()
                return False
            missing = [c.name for c in self.served_fleet.clusters if c.name not in served]
            last_error[:] = [f"clusters not served yet: {missing[:5]}"] if missing else []
            return not missing

        if not wait_until(answers, deadline, check=check, interval=0.05):
            why = f": {last_error[0]}" if last_error else ""
            raise self.fleet_process.failure(f"API did not answer in time{why}")
