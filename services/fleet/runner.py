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
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from services.fleet import kubeconfig, tls
from services.fleet.errors import FleetConfigError, FleetError, FleetUnavailable
from services.fleet.http import make_app
from services.fleet.state import MANAGEMENT, ClusterInfo, FleetState, SimCluster

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
        type=str(spec.get("type") or "sveltos"),
        labels={str(k): str(v) for k, v in (spec.get("labels") or {}).items()},
    )


def load_fleet_yaml(path: str | Path) -> list[ClusterInfo]:
    """Clusters of a ``fleet.yaml`` (``clusters: [{namespace, name, type, labels}]``)."""
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise FleetConfigError(f"{path}: cannot read the fleet definition: {exc}") from exc
    entries = doc.get("clusters") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise FleetConfigError(f"{path}: expected 'clusters: [...]'")
    return [cluster_info(e) for e in entries]


class _Handle:
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

    def _hook(self, method: str, path: str, body: Any = None) -> Any:
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


def _http_hook(
    base_url: str,
    token: str,
    method: str,
    path: str,
    body: Any = None,
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


class FleetServer(_Handle):
    """A fleet served by the running asyncio loop (hooks act directly on the state)."""

    def __init__(
        self,
        clusters: Iterable[ClusterSpec] = (),
        dir: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        log_size: int = 1000,
        watch_queue_size: int = 10_000,
        bookmark_interval: float = 1.0,
        tls: bool = True,
        rbac: bool = False,
    ) -> None:
        self.state = FleetState(token, log_size, watch_queue_size, bookmark_interval, rbac=rbac)
        self.tls = tls
        self.token = self.state.token
        self.dir = Path(dir) if dir is not None else Path(tempfile.mkdtemp(prefix="ripple-fleet-"))
        self.host = host
        self.port = port
        self.base_url = ""
        self._initial = [cluster_info(c) for c in clusters]
        self._runner: web.AppRunner | None = None
        self.ca_pem: bytes | None = None
        self.ca_file: Path | None = None

    async def start(self) -> FleetServer:
        ssl_context = None
        if self.tls:
            cert, key = tls.ensure_certificate(self.dir)
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
        server = site._server
        assert server is not None
        sock = server.sockets[0]  # type: ignore[attr-defined]
        self.port = sock.getsockname()[1]
        scheme = "https" if self.tls else "http"
        self.base_url = f"{scheme}://{self.host}:{self.port}"
        self.state.listeners.append(self._on_cluster)
        self._on_cluster(self.state.clusters[MANAGEMENT], True)
        for info in self._initial:
            if info.name in self.state.clusters:  # same name in another namespace
                info = dataclasses.replace(info, name=f"{info.namespace}-{info.name}")
            self.state.add_cluster(info)
        return self

    def _on_cluster(self, cluster: SimCluster, added: bool) -> None:
        if added:
            kubeconfig.write(
                self.dir, cluster.name, self.url(cluster.name), self.token, self.ca_pem
            )
        else:
            kubeconfig.remove(self.dir, cluster.name)

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
    def _hook(self, method: str, path: str, body: Any = None) -> Any:
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


async def start_fleet(
    clusters: Iterable[ClusterSpec] = (),
    dir: str | Path | None = None,
    port: int = 0,
    **options: Any,
) -> FleetServer:
    """Start a fleet in the running loop; ``await fleet.stop()`` when done."""
    return await FleetServer(clusters, dir, port=port, **options).start()


class FleetThread(_Handle):
    """A fleet running its own event loop in a daemon thread (for synchronous code)."""

    def __init__(
        self,
        clusters: Iterable[ClusterSpec] = (),
        dir: str | Path | None = None,
        port: int = 0,
        startup_timeout: float = 30.0,
        **options: Any,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._server = FleetServer(clusters, dir, port=port, **options)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="ripple-fleet", daemon=True)
        self._thread.start()
        if not self._ready.wait(startup_timeout):
            raise FleetUnavailable(f"fleet thread not ready after {startup_timeout}s")
        if self._error is not None:
            raise FleetError(f"fleet failed to start: {self._error}") from self._error
        self.base_url = self._server.base_url
        self.token = self._server.token
        self.dir = self._server.dir
        self.ca_file = self._server.ca_file

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._server.start())
        except BaseException as exc:
            self._error = exc
            self._loop.close()
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        loop = self._loop
        loop.run_until_complete(self._server.stop())
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    @property
    def server(self) -> FleetServer:
        """The in-loop server (touch its state only through :meth:`call`)."""
        return self._server

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the fleet's loop thread and return its result."""

        async def run() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(30)

    def _hook(self, method: str, path: str, body: Any = None) -> Any:
        return _http_hook(self.base_url, self.token, method, path, body, ca_file=self.ca_file)

    def stop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)

    def __enter__(self) -> FleetThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_fleet_thread(
    clusters: Iterable[ClusterSpec] = (),
    dir: str | Path | None = None,
    port: int = 0,
    **options: Any,
) -> FleetThread:
    """Start a fleet in a background thread; ``fleet.stop()`` when done."""
    return FleetThread(clusters, dir, port, **options)


class FleetProcess(_Handle):
    """A fleet in a subprocess (``python -m services.fleet``), hooks over HTTP."""

    def __init__(
        self,
        clusters: Iterable[ClusterSpec] = (),
        dir: str | Path | None = None,
        port: int = 0,
        timeout: float = 30.0,
        token: str | None = None,
        log_size: int = 1000,
        tls: bool = True,
        rbac: bool = False,
        extra_args: Iterable[str] = (),
    ) -> None:
        import secrets

        self.dir = Path(dir) if dir is not None else Path(tempfile.mkdtemp(prefix="ripple-fleet-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.token = token or secrets.token_urlsafe(24)
        self.ca_file: Path | None = None
        infos = [cluster_info(c) for c in clusters]
        spec = self.dir / "fleet-spec.yaml"
        spec.write_text(yaml.safe_dump({"clusters": [i.as_dict() for i in infos]}))
        ready = self.dir / READY_FILE
        ready.unlink(missing_ok=True)
        env = dict(os.environ, **{TOKEN_ENV: self.token})
        cmd = [
            sys.executable,
            "-m",
            "services.fleet",
            "--config",
            str(spec),
            "--dir",
            str(self.dir),
            "--port",
            str(port),
            "--log-size",
            str(log_size),
            *([] if tls else ["--no-tls"]),
            *(["--rbac"] if rbac else []),
            *extra_args,
        ]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise FleetUnavailable(f"fleet process exited with {self.proc.returncode}")
            if ready.exists():
                try:
                    info = json.loads(ready.read_text())
                except ValueError:
                    info = {}
                if info.get("pid") == self.proc.pid:
                    self.base_url = str(info["url"])
                    self.ca_file = Path(info["caFile"]) if info.get("caFile") else None
                    break
            if time.monotonic() > deadline:
                self.stop()
                raise FleetUnavailable(f"fleet process not ready after {timeout}s")
            time.sleep(0.05)  # polling the ready file with a deadline

    def _hook(self, method: str, path: str, body: Any = None) -> Any:
        return _http_hook(self.base_url, self.token, method, path, body, ca_file=self.ca_file)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)

    def __enter__(self) -> FleetProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_fleet_process(
    clusters: Iterable[ClusterSpec] = (),
    dir: str | Path | None = None,
    port: int = 0,
    timeout: float = 30.0,
    **options: Any,
) -> FleetProcess:
    """Start a fleet subprocess and wait (up to ``timeout`` s) until it serves."""
    return FleetProcess(clusters, dir, port, timeout, **options)


async def serve_forever(
    clusters: Iterable[ClusterSpec],
    dir: str | Path,
    port: int = 0,
    host: str = "127.0.0.1",
    token: str | None = None,
    log_size: int = 1000,
    announce: Any = print,
    tls: bool = True,
    rbac: bool = False,
) -> None:
    """Run a fleet until SIGTERM/SIGINT; writes kubeconfigs and ``DIR/fleet.json``."""
    server = FleetServer(
        clusters,
        dir,
        host=host,
        port=port,
        token=token or os.environ.get(TOKEN_ENV),
        log_size=log_size,
        tls=tls,
        rbac=rbac,
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
                "port": server.port,
                "pid": os.getpid(),
                "caFile": str(server.ca_file) if server.ca_file else None,
                "clusters": sorted(server.state.clusters),
            }
        )
    )
    tmp.replace(ready)
    announce(f"fleet serving {len(server.state.clusters)} clusters at {server.base_url}")
    for name in server.state.clusters:
        announce(f"  {name}: {server.url(name)}  kubeconfig={server.kubeconfig(name)}")
    try:
        await stop.wait()
    finally:
        announce("fleet stopping")
        ready.unlink(missing_ok=True)
        await server.stop()
