"""Start and stop a simulated fleet: in the running loop, in a thread, or as a subprocess.

All three handles share the same surface (``base_url``, ``token``, ``dir``, ``url(name)``,
``kubeconfig(name)``, ``clusters()``, ``add_cluster``, ``remove_cluster``, ``compact``,
``cut_watches``, ``inject_fault``, ``clear_faults``, ``requests``):

- :func:`start_fleet` (``await``, inside a running loop) -> :class:`FleetServer`;
  ``await fleet.stop()`` or ``async with``.
- :func:`start_fleet_thread` (sync code) -> :class:`FleetThread`; ``fleet.stop()`` or ``with``.
- :func:`start_fleet_process` (isolation; waits for readiness with a deadline) ->
  :class:`FleetProcess`; ``fleet.stop()`` or ``with``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypedDict, Unpack

from aiohttp import web

from services.fleet import kubeconfig, tls
from services.fleet.handle import READY_FILE, TOKEN_ENV, ClusterSpec, FleetHandle, cluster_info
from services.fleet.http import make_app
from services.fleet.state import MANAGEMENT, FleetState, SimCluster
from shared.runtime.gcpolicy import GcPolicy


class ServerOptions(TypedDict, total=False):
    """The keyword options of :class:`FleetServer` (and of the helpers that start one)."""

    host: str
    advertise: str | None
    token: str | None
    log_size: int
    watch_queue_size: int
    bookmark_interval: float
    tls: bool
    rbac: bool | None
    users: list[dict[str, Any]] | None


class FleetServer(FleetHandle):
    """A fleet served by the running asyncio loop (hooks act directly on the state)."""

    def __init__(
        self,
        clusters: Iterable[ClusterSpec] = (),
        dir: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        advertise: str | None = None,
        token: str | None = None,
        log_size: int = 1000,
        watch_queue_size: int = 10_000,
        bookmark_interval: float = 1.0,
        tls: bool = True,
        rbac: bool | None = None,
        users: list[dict[str, Any]] | None = None,
    ) -> None:
        self.state = FleetState(
            token, log_size, watch_queue_size, bookmark_interval, rbac=rbac, users=users
        )
        self.tls = tls
        self.token = self.state.token
        self.dir = Path(dir) if dir is not None else Path(tempfile.mkdtemp(prefix="ripple-fleet-"))
        self.host = host
        self.advertise = advertised_host(host, advertise)
        self.port = port
        self.base_url = ""
        #: the URL on this host's loopback when the fleet is advertised at another address
        #: (kubeconfigs for the host's own tools: DIR/local/<name>.kubeconfig)
        self.local_url: str | None = None
        self._initial = [cluster_info(c) for c in clusters]
        self._runner: web.AppRunner | None = None
        self.ca_pem: bytes | None = None
        self.ca_file: Path | None = None

    async def start(self) -> FleetServer:
        ssl_context = None
        if self.tls:
            names = [self.advertise] + ([] if _wildcard(self.host) else [self.host])
            cert, key = tls.ensure_certificate(self.dir, names)
            ssl_context = tls.server_context(cert, key)
            self.ca_file = cert
            self.ca_pem = cert.read_bytes()
        app = make_app(self.state)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=ssl_context)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        scheme = "https" if self.tls else "http"
        self.base_url = f"{scheme}://{_url_host(self.advertise)}:{self.port}"
        if self.advertise not in tls.LOOPBACK and (
            _wildcard(self.host) or self.host in tls.LOOPBACK
        ):
            self.local_url = f"{scheme}://127.0.0.1:{self.port}"
        self.state.listeners.append(self._on_cluster)
        self._on_cluster(self.state.clusters[MANAGEMENT], True)
        for info in self._initial:
            if info.name in self.state.clusters:  # same name in another namespace
                info = dataclasses.replace(info, name=f"{info.namespace}-{info.name}")
            self.state.add_cluster(info)
        return self

    def _on_cluster(self, cluster: SimCluster, added: bool) -> None:
        local = self.dir / LOCAL_DIR
        if added:
            kubeconfig.write(
                self.dir, cluster.name, self.url(cluster.name), self.token, self.ca_pem
            )
            if self.local_url is not None:
                url = f"{self.local_url}/clusters/{cluster.name}"
                kubeconfig.write(local, cluster.name, url, self.token, self.ca_pem)
        else:
            kubeconfig.remove(self.dir, cluster.name)
            kubeconfig.remove(local, cluster.name)

    async def stop(self) -> None:
        if self._runner is None:
            return
        self.state.cut_all_watches()
        server = self._runner.server
        transports = list(getattr(server, "_connections", {}).values()) if server else []
        await self._runner.cleanup()
        self._runner = None
        for transport in transports:  # TLS close waits for the peer: do not leak sockets
            if transport is not None:
                transport.abort()
        for _ in range(3):  # let closed transports run their connection_lost callbacks
            await asyncio.sleep(0)

    async def __aenter__(self) -> FleetServer:
        return await self.start() if self._runner is None else self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # hooks, directly on the state (call them from the loop's thread)
    def _hook(self, method: str, path: str, body: object = None) -> Any:
        raise NotImplementedError  # not used: the methods below are direct

    def clusters(self) -> list[dict[str, Any]]:
        return [
            {
                **c.info.as_dict(),
                "url": self.url(c.name),
                "objects": sum(len(b) for b in c.store.objects.values()),
                "watches": c.store.watch_count(),
            }
            for c in self.state.clusters.values()
        ]

    def add_cluster(self, spec: ClusterSpec) -> Path:
        info = cluster_info(spec)
        self.state.add_cluster(info)
        return self.kubeconfig(info.name)

    def remove_cluster(self, name: str) -> None:
        self.state.remove_cluster(name)

    def cluster(self, name: str) -> SimCluster:
        return self.state.clusters[name]

    def compact(self, cluster: str) -> int:
        return self.state.clusters[cluster].store.compact()

    def cut_watches(self, cluster: str | None = None) -> int:
        if cluster is None:
            return self.state.cut_all_watches()
        return self.state.clusters[cluster].store.cut_watches()

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
        return self.state.add_fault(path, cluster, method, status, count, delay).id

    def clear_faults(self) -> None:
        self.state.faults.clear()

    def requests(self, cluster: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.state.requests if cluster is None or r["cluster"] == cluster]

    def clear_requests(self) -> None:
        self.state.requests.clear()

    def enforce_rbac(self, cluster: str, enforce: bool | None = True) -> None:
        self.state.clusters[cluster].rbac = enforce

    def map_webhook_service(self, namespace: str, name: str, url: str | None) -> None:
        """Reach a conversion webhook's ``clientConfig.service`` at ``url`` (None: unmap)."""
        if url is None:
            self.state.webhook_services.pop((namespace, name), None)
        else:
            self.state.webhook_services[(namespace, name)] = url


#: where kubeconfigs through this host's loopback go when the fleet is advertised elsewhere
LOCAL_DIR = "local"
_WILDCARDS = ("0.0.0.0", "::", "")


def _wildcard(host: str) -> bool:
    return host in _WILDCARDS


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def advertised_host(host: str, advertise: str | None) -> str:
    """The address clients are given (kubeconfigs, ``fleet.json``, the certificate): the
    advertised one, else the listening address unless it is a wildcard (then loopback).
    Raises :class:`~services.fleet.errors.FleetConfigError` for an unusable name."""
    if advertise:
        return tls.normalize(advertise)
    return "127.0.0.1" if _wildcard(host) else host


#: TLS read buffer per connection in a dedicated fleet process (asyncio's default: 256 KiB,
#: allocated and zeroed per connection: 1,000 open watches cost 250 MB). One TLS record is
#: at most 16 KiB, so reads stay one record each.
TLS_READ_BUFFER = 16 * 1024


def small_tls_buffers(size: int = TLS_READ_BUFFER) -> None:
    """Shrink asyncio's per-connection TLS read buffer (process-wide: only for processes that
    run nothing but the fleet, e.g. ``serve_forever``)."""
    import asyncio.sslproto

    if asyncio.sslproto.SSLProtocol.max_size > size:
        asyncio.sslproto.SSLProtocol.max_size = size


async def start_fleet(
    clusters: Iterable[ClusterSpec] = (),
    dir: str | Path | None = None,
    port: int = 0,
    **options: Unpack[ServerOptions],
) -> FleetServer:
    """Start a fleet in the running loop; ``await fleet.stop()`` when done."""
    return await FleetServer(clusters, dir, port=port, **options).start()


async def serve_forever(
    clusters: Iterable[ClusterSpec],
    dir: str | Path,
    port: int = 0,
    host: str = "127.0.0.1",
    token: str | None = None,
    log_size: int = 1000,
    announce: Callable[[str], object] = print,
    advertise: str | None = None,
    tls: bool = True,
    rbac: bool | None = None,
    users: list[dict[str, Any]] | None = None,
    bookmark_interval: float = 1.0,
) -> None:
    """Run a fleet until SIGTERM/SIGINT; writes kubeconfigs and ``DIR/fleet.json``."""
    small_tls_buffers()
    server = FleetServer(
        clusters,
        dir,
        host=host,
        port=port,
        advertise=advertise,
        token=token or os.environ.get(TOKEN_ENV),
        log_size=log_size,
        tls=tls,
        rbac=rbac,
        users=users,
        bookmark_interval=bookmark_interval,
    )
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ready = server.dir / READY_FILE
    tmp = ready.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {
                "url": server.base_url,
                "localUrl": server.local_url,
                "listen": f"{_url_host(host)}:{server.port}",
                "port": server.port,
                "pid": os.getpid(),
                "caFile": str(server.ca_file) if server.ca_file else None,
                "clusters": sorted(server.state.clusters),
            }
        )
    )
    tmp.replace(ready)
    announce(
        f"fleet serving {len(server.state.clusters)} clusters at {server.base_url}"
        f" (listening on {_url_host(host)}:{server.port})"
    )
    for name in server.state.clusters:
        announce(f"  {name}: {server.url(name)}  kubeconfig={server.kubeconfig(name)}")
    if server.local_url is not None:
        announce(f"  from this host: {server.local_url}, kubeconfigs in {server.dir / LOCAL_DIR}")
    collector = GcPolicy().install()  # a full collection would hold every cluster's requests
    sweeps = asyncio.create_task(collector.sweep_forever(), name="gc-sweep")
    try:
        await stop.wait()
    finally:
        sweeps.cancel()
        announce("fleet stopping")
        ready.unlink(missing_ok=True)
        await server.stop()
