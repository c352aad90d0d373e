"""Run whole scenario folders: load, bring the stack up, run the steps, stop the stack.

    result = run_scenario(SCENARIOS / "01-network-policy-per-service", state_dir=tmp)
    assert result.ok, result.error

A scenario that cannot be loaded or whose stack does not come up is a :class:`ScenarioResult`
with ``error`` set (and its steps counted as failed), never an exception, so that a runner over
many scenarios reports every one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from services.scenario.errors import ScenarioError, StackError
from services.scenario.model import Scenario, load_scenario
from services.scenario.report import ScenarioResult
from services.scenario.stack import DEFAULT_READY_TIMEOUT, Stack
from services.scenario.steps import StepResult
from shared.kube import KubeError


def find_scenarios(paths: list[Path]) -> list[Path]:
    """Each path is a scenario folder (it has ``steps.yaml``) or a folder of them."""
    found: list[Path] = []
    for path in paths:
        if (path / "steps.yaml").is_file() or not path.is_dir():
            found.append(path)
            continue
        subs = sorted(p for p in path.iterdir() if (p / "steps.yaml").is_file())
        found += subs or [path]
    return found


def run_scenario(
    path: Path | str,
    *,
    state_dir: Path | str | None = None,
    timeout: float = 10.0,
    fail_fast: bool = False,
    services: bool = True,
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
    log_level: str = "INFO",
    log_lines: int = 15,
    agent_mode: str = "auto",
    nats_cluster: int = 1,
    on_start: Callable[[Scenario, Stack], None] | None = None,
    on_result: Callable[[StepResult], None] | None = None,
) -> ScenarioResult:
    """Load the scenario at ``path``, bring its stack up, run its steps, stop the stack.
    ``agent_mode`` and ``nats_cluster`` as for :class:`Stack`."""
    folder = Path(path)
    started = time.monotonic()
    outcome = ScenarioResult(name=folder.name, path=folder)
    try:
        scenario = load_scenario(folder)
    except ScenarioError as err:
        outcome.error = str(err)
        return outcome
    outcome.steps_total = len(scenario.steps)
    stack = Stack(
        scenario.fleet,
        scenario.management_dir,
        crds_dir=scenario.crds_dir,
        charts_dir=scenario.charts_dir,
        state_dir=state_dir,
        services=services,
        ready_timeout=ready_timeout,
        log_level=log_level,
        log_lines=log_lines,
        agent_mode=agent_mode,
        nats_cluster=nats_cluster,
    )
    outcome.log_dir = stack.log_dir
    try:
        with stack:
            if on_start is not None:
                on_start(scenario, stack)
            outcome.results = stack.run_steps(
                scenario.steps,
                scenario.path,
                timeout=timeout,
                fail_fast=fail_fast,
                on_result=on_result,
            )
            if not all(r.ok for r in outcome.results):
                stack.failed = True  # keep the state dir (logs) of a failed run
    except StackError as err:
        outcome.error = f"the stack did not come up: {err.args[0] if err.args else err}"
        outcome.logs = err.logs or stack.log_tails()
    except KubeError as err:
        outcome.error = f"the stack did not come up: {err}"
        outcome.logs = stack.log_tails()
    except ScenarioError as err:
        outcome.error = str(err)
    finally:
        outcome.duration_s = time.monotonic() - started
    return outcome
