"""Child processes: ready files, early exits with log tails, SIGTERM then SIGKILL."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from services.scenario.commands import agent_name, service_commands
from services.scenario.errors import StackError
from services.scenario.model import Fleet
from services.scenario.processes import ManagedProcess, stop_all, tail, wait_ready


def _python(tmp_path: Path, name: str, code: str, ready: bool = True) -> ManagedProcess:
    return ManagedProcess(
        name,
        [sys.executable, "-c", code],
        tmp_path / f"{name}.log",
        ready_file=tmp_path / "ready" / name if ready else None,
    )


def test_ready_file_and_sigterm(tmp_path: Path) -> None:
    code = (
        "import pathlib, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *a: (print('bye', flush=True), sys.exit(0)))\n"
        f"pathlib.Path({str(tmp_path / 'ready' / 'svc')!r}).write_text('ok')\n"
        "print('ready', flush=True)\n"
        "while True: time.sleep(0.05)\n"
    )
    proc = _python(tmp_path, "svc", code).start()
    wait_ready([proc], timeout=20)
    assert proc.running
    assert proc.stop(grace=10) == 0
    assert tail(proc.log_path).splitlines()[-2:] == ["ready", "bye"]


def test_exit_before_ready_reports_the_log(tmp_path: Path) -> None:
    proc = _python(tmp_path, "broken", "import sys; print('boom: bad flag'); sys.exit(3)").start()
    try:
        with pytest.raises(StackError) as err:
            wait_ready([proc], timeout=20)
    finally:
        assert proc.stop() == 3
    assert "broken exited before it was ready (exited with code 3)" in str(err.value)
    assert "boom: bad flag" in err.value.logs


def test_not_ready_in_time(tmp_path: Path) -> None:
    proc = _python(tmp_path, "slow", "import time; time.sleep(30)").start()
    try:
        with pytest.raises(StackError, match="not ready in time: slow"):
            wait_ready([proc], timeout=0.3)
    finally:
        proc.stop()


def test_sigkill_after_the_grace_period(tmp_path: Path) -> None:
    code = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('armed', flush=True)\ntime.sleep(60)\n"
    proc = _python(tmp_path, "stubborn", code, ready=False).start()
    deadline = time.monotonic() + 20
    while tail(proc.log_path).splitlines()[-1] != "armed" and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    stop_all([proc], grace=0.5)
    assert not proc.running
    assert proc.returncode == -9
    assert time.monotonic() - started < 10


def test_service_commands() -> None:
    fleet = Fleet.model_validate(
        {"clusters": [{"namespace": "team-a", "name": "c1", "type": "capi"}]}
    )
    cmds = service_commands(
        fleet,
        nats_url="nats://127.0.0.1:1",
        management_kubeconfig=Path("/k/management.kubeconfig"),
        cluster_kubeconfig={"team-a/c1": Path("/k/c1.kubeconfig")},
        ready_dir=Path("/r"),
        api_port=8080,
        log_level="DEBUG",
    )
    assert [c.name for c in cmds] == ["manager", "reporter", "agent-team-a-c1"]
    agent = cmds[2].argv
    assert agent[1:3] == ["-m", "services.cli"]
    assert agent[3:] == [
        "--log-level", "DEBUG", "agent", "--cluster", "team-a/c1", "--cluster-type", "capi",
        "--kubeconfig", "/k/c1.kubeconfig", "--nats", "nats://127.0.0.1:1",
        "--ready-file", "/r/agent-team-a-c1",
    ]  # fmt: skip
    assert "--api-port" in cmds[0].argv and "8080" in cmds[0].argv
    assert agent_name("a/b.c") == "agent-a-b.c"
