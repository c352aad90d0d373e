"""One life cycle for every service (the real ``ripple`` processes): SIGTERM is honoured at
any moment, NATS outages included; an invalid setting is one line and exit code 2; the
metrics endpoint answers readiness honestly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.scenario.processes import free_port, ripple_command
from shared.bus.embedded import EmbeddedNats

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"""

SERVICES = {
    "agent": ["agent", "--cluster", "default/a"],
    "manager": ["manager"],
    "reporter": ["reporter"],
}


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(KUBECONFIG)
    return path


def spawn(args: list[str], log: Path, **env: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child has its own copy of the descriptor
        return subprocess.Popen(
            ripple_command(*args),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        )


def wait_for_line(log: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        assert proc.poll() is None, f"exited {proc.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} in:\n{log.read_text()}"
        time.sleep(0.05)


def stop_within(proc: subprocess.Popen[bytes], seconds: float) -> tuple[int, float]:
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"still running {seconds}s after SIGTERM") from None
    return code, time.monotonic() - start


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_sigterm_while_nats_is_unreachable_at_start_up(
    service: str, kubeconfig: Path, tmp_path: Path
) -> None:
    log = tmp_path / f"{service}.log"
    url = f"nats://127.0.0.1:{free_port()}"  # nothing listens there: an outage
    proc = spawn(SERVICES[service], log, RIPPLE_NATS_URL=url, KUBECONFIG=str(kubeconfig))
    wait_for_line(log, "retrying", proc, timeout=20)  # it is trying to connect
    code, took = stop_within(proc, 5.0)
    assert code in (0, 128 + signal.SIGTERM), log.read_text()
    assert took < 5.0


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    with EmbeddedNats(tmp_path / "nats") as server:
        yield server


def test_sigterm_while_nats_went_away(
    nats_server: EmbeddedNats, kubeconfig: Path, tmp_path: Path
) -> None:
    """The manager connected, provisioned, then NATS died: SIGTERM still stops it in 5 s."""
    log = tmp_path / "manager.log"
    proc = spawn(
        ["manager", "--memory-storage"],
        log,
        RIPPLE_NATS_URL=nats_server.url,
        KUBECONFIG=str(kubeconfig),
    )
    try:
        wait_for_line(log, "manager started", proc, timeout=30)
        nats_server.stop()
        wait_for_line(log, "disconnected from NATS", proc, timeout=20)
        code, took = stop_within(proc, 5.0)
        assert code in (0, 128 + signal.SIGTERM), log.read_text()
        assert took < 5.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["agent", "--cluster", "no-slash"], {}, "invalid setting cluster"),
        (["agent", "--cluster", "default/a", "--cluster-type", "eks"], {}, "cluster_type"),
        (["manager", "--removal-grace", "-1"], {}, "removal_grace"),
        (["manager"], {"RIPPLE_METRICS_PORT": "http"}, "RIPPLE_METRICS_PORT"),
        (["reporter", "--nats", "http://x"], {}, "nats_url"),
    ],
)
def test_an_invalid_setting_is_one_line_and_exit_2(
    args: list[str], env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        ripple_command(*args),
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_metrics_healthz_and_readyz(kubeconfig: Path, tmp_path: Path) -> None:
    """Before its inputs are known the service is alive but not ready, and says why."""
    port = free_port()
    log = tmp_path / "reporter.log"
    url = f"nats://127.0.0.1:{free_port()}"
    proc = spawn(
        ["reporter", "--metrics-port", str(port)],
        log,
        RIPPLE_NATS_URL=url,
        KUBECONFIG=str(kubeconfig),
    )
    try:
        wait_for_line(log, "metrics on", proc, timeout=20)
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as resp:
            assert json.load(resp)["status"] == "ok"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{base}/readyz", timeout=5)
        assert err.value.code == 503
        assert json.load(err.value)["status"] == "not ready"
        err.value.close()
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        assert "ripple_reporter_loop_lag_max_seconds" in text
        assert "ripple_reporter_ready 0.0" in text
    finally:
        stop_within(proc, 5.0)
