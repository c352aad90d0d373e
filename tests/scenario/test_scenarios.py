"""Every acceptance scenario of ../shared/scenarios, end to end on the embedded default:
nats-server, the simulated fleet, the manager, the reporter and one agent per cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.scenario.report import step_lines
from services.scenario.runner import run_scenario
from tests.paths import SCENARIOS

FOLDERS = sorted(p for p in SCENARIOS.iterdir() if (p / "steps.yaml").is_file())


@pytest.mark.slow
@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_scenario(folder: Path, tmp_path: Path) -> None:
    outcome = run_scenario(folder, state_dir=tmp_path / folder.name, fail_fast=True)
    if not outcome.ok:
        lines = [outcome.error, outcome.logs] if outcome.error else []
        shown_logs = False
        for result in outcome.results:
            lines += step_lines(result, show_logs=not shown_logs and not result.ok)
            shown_logs = shown_logs or not result.ok
        pytest.fail("\n".join(lines), pytrace=False)
    assert outcome.passed == len(outcome.results) > 0
