"""``ripple demo --once`` tells the whole story and exits 0 (a subprocess, with a deadline),
the Helm release of Kyverno included (installed, upgraded, uninstalled); a second demo on a
state directory in use is refused at once, a lock left by a killed demo is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.scenario.demo import run_demo
from services.scenario.errors import StackError
from services.scenario.model import load_scenario
from services.scenario.statelock import LOCK_FILE, StateLock, holder
from tests.integration.helpers import eventually
from tests.paths import REPO

STORY = REPO / "examples" / "story"


@pytest.mark.slow
def test_demo_once(tmp_path: Path) -> None:
    steps = len(load_scenario(STORY).steps)
    proc = subprocess.run(
        [sys.executable, "-m", "services.cli", "demo", "--once", "--state-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert out.splitlines()[-2:] == [f"{steps} passed, 0 failed", "stopped."]
    assert "✔ NetworkPolicy default/front-my-service appeared in cluster-a" in out
    assert "✔ Ingress default/ingress was updated in cluster-a" in out
    assert "✔ HTTPRoute eng/my-service-2 was removed from cluster-a" in out
    release = "✔ Helm release kyverno/kyverno-latest"
    assert f"{release} (revision 1, deployed, chart kyverno 2.6.0) appeared in cluster-a" in out
    assert f"{release} (revision 2, deployed, chart kyverno 2.6.0) was updated in cluster-a" in out
    assert f"{release} was removed from cluster-a" in out
    assert "✔ Deployment kyverno/kyverno-latest was removed from cluster-a" in out
    assert "Event to add-on, as seen from kubectl: p50" in out


# -- one running demo per state directory (issue 18, item 6) -----------------------------------
TINY_FLEET = (
    "clusters:\n- {namespace: default, name: cluster-a, type: sveltos, labels: {env: fv}}\n"
)
TINY_STEPS = "steps:\n- label: {cluster: default/cluster-a, labels: {env: prod}}\n"


def demo(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", "demo", *args]


def test_a_second_demo_on_a_directory_in_use_is_refused_at_once(tmp_path: Path) -> None:
    story, state, other = tmp_path / "story", tmp_path / "state", tmp_path / "other"
    story.mkdir()
    (story / "fleet.yaml").write_text(TINY_FLEET)
    (story / "steps.yaml").write_text(TINY_STEPS)
    lock = state / LOCK_FILE
    first = subprocess.Popen(
        demo("--story", str(story), "--state-dir", str(state)),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        eventually(
            lambda: lock.is_file() and f'"pid": {first.pid},' in lock.read_text(),
            30,
            what="the first demo holding its directory",
        )
        started = time.monotonic()
        second = subprocess.run(
            demo("--story", str(story), "--state-dir", str(state)),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        took = time.monotonic() - started
        assert second.returncode == 2, second.stdout + second.stderr
        assert second.stdout.splitlines() == [
            f"✘ {state} is in use by another ripple demo (pid {first.pid}, started "
            f"{holder(lock.read_text())['started']}: ripple demo --story {story} --state-dir "
            f"{state}); stop it (Ctrl-C in its terminal, or kill {first.pid}) or run this one "
            "elsewhere: ripple demo --state-dir DIR"
        ]
        assert took < 20, f"refused in {took:.1f} s"
        assert first.poll() is None, "the first demo runs on"
        # elsewhere, the lock is no obstacle (an invalid story: refused after the lock)
        third = subprocess.run(
            demo("--story", str(tmp_path / "no-story"), "--state-dir", str(other)),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert third.returncode == 2 and "not a scenario folder" in third.stdout, third.stdout
        assert (other / LOCK_FILE).read_text() == "", "released"
    finally:
        first.send_signal(signal.SIGTERM)  # stopped while starting, or once up: both clean
        out, _ = first.communicate(timeout=60)
    assert first.returncode in (0, 1, 130) and "stopped." in out, out
    assert lock.read_text() == "", "released when the demo ends"


def test_a_lock_left_by_a_killed_demo_is_taken_over(tmp_path: Path) -> None:
    holding = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from services.scenario.statelock import "
            "StateLock; StateLock(Path(sys.argv[1])).acquire(); print('held', flush=True); "
            "sys.stdin.read()",
            str(tmp_path),
        ],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holding.stdout is not None and holding.stdout.readline() == "held\n"
        with pytest.raises(
            StackError, match=rf"in use by another ripple demo \(pid {holding.pid},"
        ):
            StateLock(tmp_path).acquire()
    finally:
        holding.kill()  # no clean-up: its lock file still names it
        holding.communicate(timeout=30)
    with StateLock(tmp_path) as previous:
        assert previous["pid"] == holding.pid
        assert holder((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    with StateLock(tmp_path) as previous:
        assert previous == {}, "released cleanly: nobody to take over from"


def test_run_demo_says_whose_lock_it_takes_over(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE).write_text('{"pid": 999999999, "started": "then"}\n')  # killed
    lines: list[str] = []
    code = run_demo(story=tmp_path / "no-story", state_dir=tmp_path, echo=lines.append)
    assert code == 2
    assert lines[0] == (
        f"(taking {os.path.relpath(tmp_path)}/ over from a demo that is gone: "
        "pid 999999999, started then)"
    )
    assert "not a scenario folder" in lines[1]
