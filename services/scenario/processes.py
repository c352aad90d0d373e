"""Child processes of a stack: started with their log in a file, awaited through a ready file,
stopped with SIGTERM (then SIGKILL after a grace period).

Every child runs ``sys.executable -m services.cli ...`` (the same interpreter and venv as the
caller), in its own session so that a Ctrl-C typed in the terminal reaches only the parent,
which then stops the children in order. When started from the main thread, a child also gets
``PR_SET_PDEATHSIG`` (Linux) so it is terminated if the parent dies without cleaning up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from services.scenario.errors import StackError
from shared.procs import die_with_parent

log = logging.getLogger(__name__)

TERM_GRACE = 10.0
"""Seconds a child gets to exit after SIGTERM before SIGKILL."""


_HANDED_OUT: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now, chosen below the kernel's ephemeral
    range when possible: a port the kernel may give to an outgoing connection meanwhile
    (a hundred agents connecting) could be taken before the server that was told to listen
    on it starts. Never the same port twice in one process."""
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randint(20000, max(20001, low - 1))
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ripple_command(*args: str) -> list[str]:
    """``[python, -m, services.cli, *args]`` with the caller's interpreter."""
    return [sys.executable, "-m", "services.cli", *args]


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file ("(no log)" when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


class ManagedProcess:
    """One child process with a log file and an optional ready file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        ready_file: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.ready_file = ready_file
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self._terminated = False  # SIGTERM sent to the current process
        self._log: IO[bytes] | None = None

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid})"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.ready_file is not None:
            self.ready_file.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                self.ready_file.unlink()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(self.env or {})}
        self._terminated = False
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log.write(f"# {' '.join(self.argv)}\n".encode())
        self._log.flush()
        main_thread = threading.current_thread() is threading.main_thread()
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent if main_thread and sys.platform == "linux" else None,
            )
        except OSError as err:
            self._close_log()
            raise StackError(f"{self.name}: cannot start {self.argv[0]}: {err}") from err
        log.debug("started %s (pid %s): %s", self.name, self.proc.pid, " ".join(self.argv))
        return self

    def is_ready(self) -> bool:
        return self.ready_file is not None and self.ready_file.exists()

    def tail(self, lines: int = 20) -> str:
        return tail(self.log_path, lines)

    def failure(self, what: str, lines: int = 20) -> StackError:
        code = self.returncode
        state = f"exited with code {code}" if code is not None else "still running"
        return StackError(
            f"{self.name} {what} ({state}); log {self.log_path}",
            logs=f"--- last {lines} lines of {self.log_path} ---\n{self.tail(lines)}",
        )

    def terminate(self) -> None:
        """Send SIGTERM (if running and not sent yet) without waiting."""
        if self.proc is not None and self.proc.poll() is None and not self._terminated:
            self._terminated = True
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)

    def stop(self, grace: float = TERM_GRACE) -> int | None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL; returns the exit code."""
        proc = self.proc
        code: int | None = None
        if proc is not None:
            if proc.poll() is None:
                self.terminate()
                try:
                    proc.wait(grace)
                except subprocess.TimeoutExpired:
                    log.warning(
                        "%s did not stop within %.0f s of SIGTERM: SIGKILL", self.name, grace
                    )
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    proc.wait()
            code = proc.returncode
        self._close_log()
        return code

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def stop_all(processes: Sequence[ManagedProcess], grace: float = TERM_GRACE) -> None:
    """SIGTERM all at once, then wait for each (SIGKILL after ``grace`` seconds)."""
    for proc in processes:
        proc.terminate()
    deadline = time.monotonic() + grace
    for proc in processes:
        code = proc.stop(max(0.1, deadline - time.monotonic()))
        if code not in (None, 0, -signal.SIGTERM):
            log.warning("%s exited with code %s (log %s)", proc.name, code, proc.log_path)


def wait_until(
    condition: Callable[[], bool],
    deadline: float,
    *,
    check: Callable[[], None] | None = None,
    interval: float = 0.01,
) -> bool:
    """Poll ``condition`` until it is true (True) or ``time.monotonic()`` passes ``deadline``
    (False). ``check`` runs before each poll and may raise (e.g. a child died)."""
    delay = min(0.002, interval)
    while True:
        if check is not None:
            check()
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, interval)


def wait_ready(processes: Sequence[ManagedProcess], timeout: float) -> None:
    """Wait until every process has written its ready file; raise :class:`StackError` (with the
    log tail) when one exits first or the deadline passes."""
    deadline = time.monotonic() + timeout

    def check() -> None:
        for proc in processes:
            if not proc.running and not proc.is_ready():
                raise proc.failure("exited before it was ready")

    if not wait_until(lambda: all(p.is_ready() for p in processes), deadline, check=check):
        late = [p for p in processes if not p.is_ready()]
        errors = [p.failure(f"not ready within {timeout:.0f} s", lines=15) for p in late]
        raise StackError(
            "not ready in time: " + ", ".join(p.name for p in late),
            logs="\n".join(e.logs for e in errors),
        )
