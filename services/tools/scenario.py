"""``ripple scenario PATH...``: run acceptance scenarios on the embedded default.

Each PATH is a scenario folder (with ``steps.yaml``) or a folder of scenario folders. Every
scenario gets its own stack (nats-server, simulated fleet, manager, reporter, one agent per
cluster or one agent-host for all: ``--agents``), whose state and logs go to ``STATE_DIR/<scenario>/`` (default ``.run/scenarios``).
One line per step, then ``N passed, N failed`` counting steps; exit 0 only when all pass.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from services.tools.options import log_level_option

if TYPE_CHECKING:
    from services.scenario.steps import StepResult


def _step_printer() -> Callable[[StepResult], None]:
    """Prints each step as it ends; the log tails once per scenario (at its first failure)."""
    from services.scenario.report import step_lines

    logs_shown: list[bool] = []

    def show(result: StepResult) -> None:
        for line in step_lines(result, show_logs=not logs_shown):
            typer.echo(line)
        if not result.ok and not result.skipped:
            if logs_shown:
                typer.echo("      (log tails above)")
            logs_shown.append(True)

    return show


def register(app: typer.Typer) -> None:
    @app.command("scenario")
    def scenario(
        paths: list[Path] = typer.Argument(
            ..., help="Scenario folders, or folders holding scenario folders."
        ),
        report: Path | None = typer.Option(
            None, "--report", help="Write step timings: FILE.json (details) or FILE.md (table)."
        ),
        timeout: float = typer.Option(10.0, "--timeout", help="Deadline of each expect (s)."),
        ready_timeout: float = typer.Option(
            60.0, "--ready-timeout", help="Deadline for the stack to come up (s)."
        ),
        state_dir: Path = typer.Option(
            Path(".run/scenarios"), "--state-dir", help="Kubeconfigs, logs, NATS store per run."
        ),
        fail_fast: bool = typer.Option(
            False, "--fail-fast", help="Stop a scenario at its first failing step."
        ),
        services: bool = typer.Option(
            True, "--services/--no-services", help="Start manager, reporter and agents."
        ),
        log_lines: int = typer.Option(
            15, "--log-lines", help="Lines of each relevant log shown under a failure."
        ),
        agents: str = typer.Option(
            "auto",
            "--agents",
            help="How agents run: 'process' (one ripple agent per cluster), 'hosted' (one "
            "ripple agent-host for every cluster) or 'auto' (hosted beyond 8 clusters).",
        ),
        nats_cluster: int = typer.Option(
            1,
            "--nats-cluster",
            min=1,
            help="nats-server nodes: 1 (one server) or more (a JetStream cluster).",
        ),
        service_log_level: str = log_level_option(
            "INFO",
            "--service-log-level",
            help="Log level of the started processes: DEBUG, INFO, WARNING or ERROR.",
        ),
    ) -> None:
        """Run scenarios (../shared/scenarios format) and tally their steps."""
        from services.scenario.report import percentile, tally, write_report
        from services.scenario.runner import find_scenarios, run_scenario
        from services.scenario.stackagents import AGENT_MODES

        if agents not in AGENT_MODES:
            raise typer.BadParameter(
                f"{agents!r}: expected one of {', '.join(AGENT_MODES)}", param_hint="--agents"
            )
        folders = find_scenarios(paths)
        outcomes = []
        for folder in folders:
            typer.echo(f"== {folder.name}")

            outcome = run_scenario(
                folder,
                state_dir=state_dir / folder.name,
                timeout=timeout,
                fail_fast=fail_fast,
                services=services,
                ready_timeout=ready_timeout,
                log_level=service_log_level,
                log_lines=log_lines,
                agent_mode=agents,
                nats_cluster=nats_cluster,
                on_result=_step_printer(),
            )
            outcomes.append(outcome)
            if outcome.error:
                typer.echo(f"  ✘ {outcome.error}")
                for line in outcome.logs.splitlines():
                    typer.echo(f"      | {line}")
            lat = outcome.latencies()
            figures = (
                f"; expect latency p50 {percentile(lat, 50):.0f} ms, max {max(lat):.0f} ms"
                if lat
                else ""
            )
            total = outcome.passed + outcome.failed
            logs = f"; logs in {outcome.log_dir}" if outcome.log_dir and not outcome.ok else ""
            typer.echo(
                f"-- {folder.name}: {outcome.passed}/{total} steps passed "
                f"in {outcome.duration_s:.1f} s{figures}{logs}"
            )
        if report is not None:
            write_report(report, outcomes)
            typer.echo(f"report written to {report}")
        passed = sum(o.passed for o in outcomes)
        failed = sum(o.failed for o in outcomes)
        typer.echo(tally(passed, failed))
        raise typer.Exit(0 if failed == 0 and passed > 0 else 1)
