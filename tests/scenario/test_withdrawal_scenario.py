"""The withdrawal guard in a scenario (issue 18 item 4), run by the scenario runner on the
embedded default (nats-server, the simulated fleet, manager, reporter, two agents), with the
manager's default bound (more than 50 % and more than 5 instances, a 2 s window): an
EventSource edit that would withdraw 8 of 8 add-ons is held (they stay for 3 s and the
trigger's status says so), undone (the status clears, nothing went), held again and
confirmed with the token the status shows (all 8 go); a cluster relabel that withdraws 4 of 8
is under the bound and proceeds, as does a single Service's deletion. See
``tests/scenario/scenarios/withdrawal-guard/README.md``."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.scenario.report import step_lines
from services.scenario.runner import run_scenario

FOLDER = Path(__file__).parent / "scenarios" / "withdrawal-guard"


@pytest.mark.slow
def test_the_withdrawal_guard_scenario(tmp_path: Path) -> None:
    outcome = run_scenario(FOLDER, state_dir=tmp_path / FOLDER.name, fail_fast=True)
    if not outcome.ok:
        lines = [outcome.error, outcome.logs] if outcome.error else []
        for result in outcome.results:
            lines += step_lines(result, show_logs=not result.ok)
        pytest.fail("\n".join(lines), pytrace=False)
    assert outcome.passed == len(outcome.results) == 27
