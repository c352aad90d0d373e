"""``ripple demo --once`` tells the whole story and exits 0 (a subprocess, with a deadline),
the Helm release of Kyverno included (installed, upgraded, uninstalled)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.scenario.model import load_scenario
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
