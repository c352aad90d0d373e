"""Fleets for synchronous code: in a background thread, or in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypedDict, TypeVar, TypeVarTuple, Unpack

import yaml

from services.fleet.errors import FleetError, FleetUnavailable
from services.fleet.handle import (
    READY_FILE,
    TOKEN_ENV,
    ClusterSpec,
    FleetHandle,
    cluster_info,
    http_hook,
)
from services.fleet.runner import FleetServer, ServerOptions

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class ProcessOptions(TypedDict, total=False):
    """The keyword options of :class:`FleetProcess` after ``timeout``."""

    token: str | None
    log_size: int
    tls: bool
    rbac: bool | None
    users: list[dict[str, Any]] | None
    extra_args: Iterable[str]


class FleetThread(FleetHandle):
    """A fleet running its own event loop in a daemon thread (for synchronous code)."""

    def __init__(
        self,
        clusters: Iterable[ClusterSpec] = (),
        dir: str | Path | None = None,
        port: int = 0,
        startup_timeout: float = 30.0,
        **options: Unpack[ServerOptions],
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

    def call(self, fn: Callable[[*Ts], T], *args: *Ts) -> T:
        """Run ``fn(*args)`` on the fleet's loop thread and return its result."""

        async def run() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(30)

    def _hook(self, method: str, path: str, body: object = None) -> Any:
        return http_hook(self.base_url, self.token, method, path, body, ca_file=self.ca_file)

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
    **options: Unpack[ServerOptions],
) -> FleetThread:
    """Start a fleet in a background thread; ``fleet.stop()`` when done."""
    return FleetThread(clusters, dir, port, **options)


class FleetProcess(FleetHandle):
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
        rbac: bool | None = None,
        users: list[dict[str, Any]] | None = None,
        extra_args: Iterable[str] = (),
    ) -> None:
        import secrets

        self.dir = Path(dir) if dir is not None else Path(tempfile.mkdtemp(prefix="ripple-fleet-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.token = token or secrets.token_urlsafe(24)
        self.ca_file: Path | None = None
        infos = [cluster_info(c) for c in clusters]
        spec = self.dir / "fleet-spec.yaml"
        doc: dict[str, Any] = {"clusters": [i.as_dict() for i in infos]}
        if users:
            doc["users"] = users
        if rbac is not None:
            doc["rbac"] = rbac
        spec.write_text(yaml.safe_dump(doc))
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

    def _hook(self, method: str, path: str, body: object = None) -> Any:
        return http_hook(self.base_url, self.token, method, path, body, ca_file=self.ca_file)

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
    **options: Unpack[ProcessOptions],
) -> FleetProcess:
    """Start a fleet subprocess and wait (up to ``timeout`` s) until it serves."""
    return FleetProcess(clusters, dir, port, timeout, **options)
