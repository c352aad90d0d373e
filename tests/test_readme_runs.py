"""The README's offline tool commands run as written and do what it says."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest

from tests.paths import REPO

RIPPLE = [sys.executable, "-m", "services.cli"]


def run(line: str) -> subprocess.CompletedProcess[str]:
    argv = shlex.split(line)
    assert argv[0].endswith("ripple")
    return subprocess.run(
        [*RIPPLE, *argv[1:]], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )


def readme_line(prefix: str) -> str:
    for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith(prefix):
            return line.split("  #")[0].strip()
    pytest.fail(f"README has no line starting with {prefix!r}")


def test_lint_of_the_examples_passes() -> None:
    result = run(readme_line(".venv/bin/ripple lint "))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].endswith(" 0 failed")


def test_validate_of_the_examples_passes() -> None:
    result = run(readme_line(".venv/bin/ripple validate "))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "2 passed, 0 failed"


def test_render_gives_the_network_policy() -> None:
    result = run(readme_line(".venv/bin/ripple render "))
    assert result.returncode == 0, result.stderr
    assert "name: front-my-service" in result.stdout
    assert "- port: 80" in result.stdout
