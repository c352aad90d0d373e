"""The surface shared by every fleet handle, and fleet definitions (fleet.yaml)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

import yaml

from services.fleet import kubeconfig, tls
from services.fleet.errors import FleetConfigError, FleetError, FleetUnavailable
from services.fleet.state import MANAGEMENT, ClusterInfo
from shared.api.vocabulary import SVELTOS

ClusterSpec = str | ClusterInfo | Mapping[str, Any]
READY_FILE = "fleet.json"
TOKEN_ENV = "RIPPLE_FLEET_TOKEN"


def cluster_info(spec: ClusterSpec) -> ClusterInfo:
    if isinstance(spec, ClusterInfo):
        return spec
    if isinstance(spec, str):
        return ClusterInfo(spec)
    if not spec.get("name"):
        raise FleetConfigError(f"cluster entry without a name: {dict(spec)!r}")
    return ClusterInfo(
        name=str(spec["name"]),
        namespace=str(spec.get("namespace") or "default"),
        type=str(spec.get("type") or SVELTOS),
        labels={str(k): str(v) for k, v in (spec.get("labels") or {}).items()},
    )


def _read_fleet_yaml(path: str | Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise FleetConfigError(f"{path}: cannot read the fleet definition: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("clusters"), list):
        raise FleetConfigError(f"{path}: expected 'clusters: [...]'")
    return doc


def load_fleet_yaml(path: str | Path) -> list[ClusterInfo]:
    """Clusters of a ``fleet.yaml`` (``clusters: [{namespace, name, type, labels}]``)."""
    return [cluster_info(e) for e in _read_fleet_yaml(path)["clusters"]]


class FleetAccess(TypedDict):
    """The access settings of a fleet definition (see :func:`load_fleet_access`)."""

    users: list[dict[str, Any]]
    rbac: bool | None


def load_fleet_access(path: str | Path) -> FleetAccess:
    """The access settings of a ``fleet.yaml``: ``{"users": [...], "rbac": bool|None}``.

    ``users: [{name, token, groups}]`` are static users valid on every cluster;
    ``rbac: true|false`` says whether requests the admin impersonates are authorized with
    RBAC (default: true when ``users`` is not empty).
    """
    doc = _read_fleet_yaml(path)
    users = doc.get("users") or []
    if not isinstance(users, list):
        raise FleetConfigError(f"{path}: users: expected a list of {{name, token, groups}}")
    rbac = doc.get("rbac")
    if rbac is not None and not isinstance(rbac, bool):
        raise FleetConfigError(f"{path}: rbac: expected true or false")
    return {"users": users, "rbac": rbac}


class FleetHandle:
    """What every fleet handle offers; subclasses implement :meth:`_hook`."""

    base_url: str
    token: str
    dir: Path
    ca_file: Path | None = None

    def url(self, cluster: str = MANAGEMENT) -> str:
        """The API server URL of a cluster (``.../clusters/<name>``)."""
        return f"{self.base_url}/clusters/{cluster}"

    def kubeconfig(self, cluster: str = MANAGEMENT) -> Path:
        return kubeconfig.path_for(self.dir, cluster)

    def _hook(self, method: str, path: str, body: object = None) -> Any:
        """A test hook (JSON ``body`` in, the decoded JSON answer out)."""
        raise NotImplementedError

    def clusters(self) -> list[dict[str, Any]]:
        """Every cluster: name, namespace, type, labels, url, objects, watches."""
        return list(self._hook("GET", "/_fleet/clusters")["clusters"])

    def add_cluster(self, spec: ClusterSpec) -> Path:
        info = cluster_info(spec)
        self._hook("POST", "/_fleet/clusters", info.as_dict())
        return self.kubeconfig(info.name)

    def remove_cluster(self, name: str) -> None:
        self._hook("DELETE", f"/_fleet/clusters/{name}")

    def compact(self, cluster: str) -> int:
        """Forget a cluster's event log; returns the RV below which watches get 410."""
        return int(self._hook("POST", f"/_fleet/clusters/{cluster}/compact")["resourceVersion"])

    def cut_watches(self, cluster: str | None = None) -> int:
        path = f"/_fleet/clusters/{cluster}/cut-watches" if cluster else "/_fleet/cut-watches"
        return int(self._hook("POST", path)["closed"])

    def inject_fault(
        self,
        path: str,
        *,
        cluster: str | None = None,
        method: str | None = None,
        status: int = 500,
        count: int | None = 1,
        delay: float = 0.0,
    ) -> int:
        body = {
            "path": path,
            "cluster": cluster,
            "method": method,
            "status": status,
            "count": count,
            "delay": delay,
        }
        return int(self._hook("POST", "/_fleet/faults", body)["id"])

    def clear_faults(self) -> None:
        self._hook("DELETE", "/_fleet/faults")

    def requests(self, cluster: str | None = None) -> list[dict[str, Any]]:
        q = f"?cluster={cluster}" if cluster else ""
        return list(self._hook("GET", f"/_fleet/requests{q}")["requests"])

    def clear_requests(self) -> None:
        self._hook("DELETE", "/_fleet/requests")

    def enforce_rbac(self, cluster: str, enforce: bool | None = True) -> None:
        """Authorize impersonated requests to ``cluster`` with its RBAC objects."""
        self._hook("POST", f"/_fleet/clusters/{cluster}/rbac", {"enforce": enforce})

    def map_webhook_service(self, namespace: str, name: str, url: str | None) -> None:
        """Reach a conversion webhook's ``clientConfig.service`` at ``url`` (None: unmap)."""
        self._hook("POST", "/_fleet/webhooks", {"namespace": namespace, "name": name, "url": url})


def http_hook(
    base_url: str,
    token: str,
    method: str,
    path: str,
    body: object = None,
    timeout: float = 10.0,
    ca_file: Path | None = None,
) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base_url}{path}", data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        context = tls.client_context(ca_file) if ca_file is not None else None
        with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise FleetError(f"fleet hook {method} {path} failed: {exc.code} {detail}") from exc
    except OSError as exc:
        raise FleetUnavailable(
            f"fleet at {base_url} did not answer {method} {path}: {exc}"
        ) from exc
