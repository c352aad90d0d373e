"""One running demo per state directory: an exclusive ``flock`` on ``<dir>/demo.lock``, held
for the demo's life.

The lock is the kernel's: it goes with its holder, however that ends (exit, Ctrl-C, SIGKILL,
a crash), so a lock left by a dead demo is never "stale" -- the next demo simply takes it
(and says whose it was). The file says who holds it (pid, start time, command line), for the
message of the demo that is refused. The descriptor is close-on-exec: the processes a demo
starts do not hold its lock (they die with it: ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import sys
from pathlib import Path

from services.scenario.errors import StackError

LOCK_FILE = "demo.lock"


def holder(text: str) -> dict[str, object]:
    """Who the lock file says holds (or held) it; ``{}`` when it says nothing readable."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) and isinstance(value.get("pid"), int) else {}


def describe(info: dict[str, object]) -> str:
    """``pid 1234, started 2026-12-03 20:04:29 UTC: ripple demo ...`` (what is known)."""
    if not info:
        return "pid unknown"
    parts = [f"pid {info['pid']}"]
    if isinstance(info.get("started"), str):
        parts.append(f"started {info['started']}")
    text = ", ".join(parts)
    return f"{text}: {info['command']}" if isinstance(info.get("command"), str) else text


class StateLock:
    """The lock of one state directory (see the module doc); also a context manager."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> dict[str, object]:
        """Hold the directory, or raise :class:`StackError` at once (never waits) naming it
        and its holder. Returns what the lock file said before: ``{}`` (nobody), or the
        demo that held it and is gone without releasing it (killed)."""
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StackError(
                f"cannot lock {self.state_dir}: {exc.strerror} ({self.path})"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = holder(_read(fd))
            os.close(fd)
            stop = f"stop it (Ctrl-C in its terminal, or kill {info['pid']}) " if info else ""
            raise StackError(
                f"{self.state_dir} is in use by another ripple demo ({describe(info)}); "
                f"{stop}or run this one elsewhere: ripple demo --state-dir DIR"
            ) from None
        previous = holder(_read(fd))
        me = {
            "pid": os.getpid(),
            "started": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            "command": " ".join(["ripple", *sys.argv[1:]]),
        }
        _write(fd, json.dumps(me) + "\n")
        self._fd = fd
        return previous

    def release(self) -> None:
        """Let the directory go (idempotent); the file then names nobody."""
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                _write(fd, "")
            finally:
                os.close(fd)  # releases the lock

    def __enter__(self) -> dict[str, object]:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 4096).decode(errors="replace")


def _write(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text.encode())
