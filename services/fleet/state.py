"""The whole fleet in one process: its clusters, admin token, injected faults, request log."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from services.fleet import authn
from services.fleet.conversion import Converter
from services.fleet.discovery import Discovery
from services.fleet.errors import FleetConfigError
from services.fleet.kinds import NAMESPACE_KEY, Registry
from services.fleet.objects import Objects
from services.fleet.store import ClusterStore
from shared.api.vocabulary import SVELTOS

MANAGEMENT = "management"
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_CLUSTER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass
class ClusterInfo:
    """How a cluster was declared (fleet.yaml: namespace, name, type, labels)."""

    name: str
    namespace: str = "default"
    type: str = SVELTOS
    labels: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "type": self.type,
            "labels": dict(self.labels),
        }


class SimCluster:
    """One simulated cluster: store, object rules and discovery."""

    def __init__(
        self,
        info: ClusterInfo,
        log_size: int,
        watch_queue_size: int,
        webhook_services: dict[tuple[str, str], str] | None = None,
    ) -> None:
        self.info = info
        self.store = ClusterStore(
            info.name, log_size, watch_queue_size, dict(info.labels), Registry()
        )
        #: CRD version conversion (webhook Services mapped to URLs fleet-wide)
        self.conversion = Converter(
            self.store, {} if webhook_services is None else webhook_services
        )
        self.objects = Objects(self.store)
        self.objects.conversion = self.conversion
        self.discovery = Discovery(self.store.registry)
        self.rbac: bool | None = None  # None: the fleet's default
        ns_type = self.store.registry.by_key(NAMESPACE_KEY)
        assert ns_type is not None
        for ns in INITIAL_NAMESPACES:
            self.objects.create(ns_type, "", {"metadata": {"name": ns}}, "kube-apiserver")
        self.objects.start_collector()

    @property
    def name(self) -> str:
        return self.info.name


@dataclass
class Fault:
    """An injected failure or delay for requests matching ``path`` (a regex)."""

    id: int
    path: re.Pattern[str]
    cluster: str | None = None
    method: str | None = None
    status: int = 500
    count: int | None = 1  # None: until cleared
    delay: float = 0.0  # seconds before answering (status 0: delay only)
    reason: str = ""

    def matches(self, cluster: str, method: str, path: str) -> bool:
        if self.cluster is not None and self.cluster != cluster:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path.search(path) is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path.pattern,
            "cluster": self.cluster,
            "method": self.method,
            "status": self.status,
            "count": self.count,
            "delay": self.delay,
        }


class FleetState:
    """All clusters served by one process, plus the test hooks' state."""

    def __init__(
        self,
        token: str | None = None,
        log_size: int = 1000,
        watch_queue_size: int = 10_000,
        bookmark_interval: float = 1.0,
        record_requests: int = 2000,
        rbac: bool | None = None,
        users: list[dict[str, Any]] | None = None,
    ) -> None:
        self.token = token or secrets.token_urlsafe(24)
        #: static users (fleet.yaml ``users``): token -> Identity, valid on every cluster
        self.users = authn.parse_users(users, self.token)
        #: signs ServiceAccount tokens (TokenRequest API)
        self.issuer = authn.TokenIssuer()
        self.log_size = log_size
        self.watch_queue_size = watch_queue_size
        self.bookmark_interval = bookmark_interval
        #: authorize requests impersonated by the admin with RBAC (per cluster:
        #: SimCluster.rbac overrides); default: on, as a real API server always authorizes the
        #: impersonated identity (``rbac=False`` is an explicit, unfaithful opt-out)
        self.rbac = True if rbac is None else rbac
        self.clusters: dict[str, SimCluster] = {}
        #: conversion webhooks' ``clientConfig.service`` (namespace, name) -> URL (every cluster)
        self.webhook_services: dict[tuple[str, str], str] = {}
        self.faults: list[Fault] = []
        self._fault_ids = 0
        self.requests: deque[dict[str, Any]] = deque(maxlen=record_requests)
        self.denied: dict[str, list[dict[str, Any]]] = {}
        #: called with (cluster, added) after a cluster is added or removed
        self.listeners: list[Callable[[SimCluster, bool], None]] = []
        self.add_cluster(ClusterInfo(MANAGEMENT))

    # -- clusters ---------------------------------------------------------------------------
    def add_cluster(self, info: ClusterInfo | str) -> SimCluster:
        if isinstance(info, str):
            info = ClusterInfo(info)
        if not _CLUSTER_NAME.match(info.name):
            raise FleetConfigError(f"cluster name {info.name!r} is not a lowercase DNS label")
        if info.name in self.clusters:
            raise FleetConfigError(f"cluster {info.name!r} already exists")
        cluster = SimCluster(info, self.log_size, self.watch_queue_size, self.webhook_services)
        self.clusters[info.name] = cluster
        for listener in self.listeners:
            listener(cluster, True)
        return cluster

    def remove_cluster(self, name: str) -> None:
        if name == MANAGEMENT:
            raise FleetConfigError("the management cluster cannot be removed")
        cluster = self.clusters.pop(name, None)
        if cluster is None:
            raise FleetConfigError(f"no cluster {name!r}")
        cluster.store.cut_watches()
        self.denied.pop(name, None)
        for listener in self.listeners:
            listener(cluster, False)

    def rbac_enforced(self, cluster: SimCluster) -> bool:
        return self.rbac if cluster.rbac is None else cluster.rbac

    def cut_all_watches(self) -> int:
        return sum(c.store.cut_watches() for c in self.clusters.values())

    # -- faults -----------------------------------------------------------------------------
    def add_fault(
        self,
        path: str,
        cluster: str | None = None,
        method: str | None = None,
        status: int = 500,
        count: int | None = 1,
        delay: float = 0.0,
    ) -> Fault:
        self._fault_ids += 1
        fault = Fault(self._fault_ids, re.compile(path), cluster, method, status, count, delay)
        self.faults.append(fault)
        return fault

    def take_fault(self, cluster: str, method: str, path: str) -> Fault | None:
        """The first matching fault, consuming one of its uses."""
        for fault in self.faults:
            if fault.matches(cluster, method, path):
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    async def apply_fault(self, fault: Fault) -> None:
        if fault.delay > 0:
            await asyncio.sleep(fault.delay)  # injected latency, not synchronisation
