"""The clusters of the embedded stack (kubeconfigs, clients), and the management cluster as
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
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from services.scenario.errors import StackError
from services.scenario.model import MANAGEMENT, Fleet, FleetCluster
from shared.kube import KubeClient


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

    @property
    def kubeconfig_dir(self) -> Path:
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
