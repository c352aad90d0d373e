"""Text for humans and summaries for machines (pure: no I/O except :func:`write_report`).

- :func:`step_lines` — one line per step (``✔``/``✘``, number, description, timing), plus the
  diff and the log tails under a failing step;
- :func:`narrative_lines` — the demo's sentences ("NetworkPolicy default/front-my-service
  appeared in cluster-a 38 ms after Service default/my-service was created in cluster-a");
- :func:`tally` — ``N passed, N failed`` (units: steps);
- :func:`summary` / :func:`markdown` / :func:`write_report` — per-scenario step timings and
  expectation latency percentiles (p50, p90, max) as JSON or a markdown table.
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.scenario.steps import StepResult

PASS, FAIL, SKIP = "✔", "✘", "-"


@dataclass
class ScenarioResult:
    """The outcome of one scenario: its step results, or the error that prevented them."""

    name: str
    path: Path
    results: list[StepResult] = field(default_factory=list)
    steps_total: int = 0
    error: str = ""
    logs: str = ""
    log_dir: Path | None = None
    duration_s: float = 0.0

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.ok)

    @property
    def failed(self) -> int:
        """Failed steps; steps never run (the stack did not come up) count as failed."""
        return max(self.steps_total, len(self.results), 1 if self.error else 0) - self.passed

    @property
    def ok(self) -> bool:
        return not self.error and self.failed == 0

    def latencies(self) -> list[float]:
        """Latencies (ms) of the passing expectations that measure a batch of actions."""
        return [r.latency_ms for r in self.results if r.measures_change and r.latency_ms]


def _ms(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 10:
        return f"{value:.0f} ms"
    return f"{value:.1f} ms"


def _indent(text: str, prefix: str) -> list[str]:
    return [prefix + line if line else line for line in text.splitlines()]


def step_lines(result: StepResult, *, show_logs: bool = True) -> list[str]:
    """The lines printed for one step (with the log tails under a failure if ``show_logs``)."""
    step = result.step
    head = f"{step.number:>3} {step.describe()}"
    if result.skipped:
        return [f"  {SKIP} {head} — not run (an earlier step failed)"]
    if result.ok:
        if result.latency_ms is not None and result.first_in_batch:
            timing = f"held after {_ms(result.latency_ms)}"
        elif result.latency_ms is not None:
            timing = f"held (waited {_ms(result.duration_ms)} more)"
        else:
            timing = _ms(result.duration_ms)
        return [f"  {PASS} {head} — {timing}"]
    lines = [f"  {FAIL} {head} — failed after {_ms(result.duration_ms)}"]
    lines += _indent(result.error, "      ")
    if show_logs and result.logs:
        lines += _indent(result.logs, "      | ")
    return lines


def narrative_lines(result: StepResult) -> list[str]:
    """Human sentences for one step (the demo)."""
    if result.skipped:
        return [f"{SKIP} step {result.number} not run: an earlier step failed"]
    if not result.ok:
        lines = [f"{FAIL} {result.step.describe()}"]
        return lines + _indent(result.error, "    ")
    if result.latency_ms is None:
        return [f"  → {change}" for change in result.changes] or [f"  → {result.step.describe()}"]
    lines = []
    for item in result.items:
        where = item.cluster.rpartition("/")[2]
        prep = "from" if item.change in ("was removed", "is absent") else "in"
        held = _ms(item.held_ms if item.held_ms is not None else result.latency_ms)
        change = item.change
        if not (result.first_in_batch and result.trigger):
            timing = ""
        elif change == "is in place":
            change, timing = "is still in place", ""
        elif change == "is absent":
            timing = f" (checked {held} after {result.trigger})"
        else:
            timing = f" {held} after {result.trigger}"
        what = f"{item.what} ({item.detail})" if item.detail else item.what
        lines.append(f"{PASS} {what} {change} {prep} {where}{timing}")
    return lines


def tally(passed: int, failed: int) -> str:
    """The final line of a tallying tool: exactly ``N passed, N failed``."""
    return f"{passed} passed, {failed} failed"


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_stats(values: Sequence[float]) -> dict[str, Any]:
    def r(v: float | None) -> float | None:
        return None if v is None else round(v, 2)

    return {
        "count": len(values),
        "p50_ms": r(percentile(values, 50)),
        "p90_ms": r(percentile(values, 90)),
        "max_ms": r(max(values) if values else None),
    }


def warm_stats(values: Sequence[float]) -> dict[str, Any]:
    """The first latency of a run (cold: the services see their first event) apart from the
    others: ``first_ms`` and the stats of the rest under ``after_first``."""
    return {
        "first_ms": None if not values else round(values[0], 2),
        "after_first": latency_stats(values[1:]),
    }


def summary(scenarios: Sequence[ScenarioResult]) -> dict[str, Any]:
    """Everything measured, as a JSON-ready dict."""
    all_latencies = [v for s in scenarios for v in s.latencies()]
    return {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "units": "steps",
        "passed": sum(s.passed for s in scenarios),
        "failed": sum(s.failed for s in scenarios),
        "expect_latency": latency_stats(all_latencies),
        "scenarios": [
            {
                "name": s.name,
                "path": str(s.path),
                "ok": s.ok,
                "passed": s.passed,
                "failed": s.failed,
                "error": s.error,
                "duration_s": round(s.duration_s, 3),
                "expect_latency": {**latency_stats(s.latencies()), **warm_stats(s.latencies())},
                "steps": [r.as_dict() for r in s.results],
            }
            for s in scenarios
        ],
    }


def markdown(scenarios: Sequence[ScenarioResult]) -> str:
    """A markdown table: per scenario, steps passed and the expectation latencies."""

    def cell(v: float | None) -> str:
        return "–" if v is None else f"{v:.1f}"

    lines = [
        "| scenario | steps passed | expectations | p50 (ms) | p90 (ms) | max (ms) "
        "| first (ms) | max after first (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in scenarios:
        st = latency_stats(s.latencies())
        warm = warm_stats(s.latencies())
        lines.append(
            f"| {s.name} | {s.passed}/{s.passed + s.failed} | {st['count']} | "
            f"{cell(st['p50_ms'])} | {cell(st['p90_ms'])} | {cell(st['max_ms'])} | "
            f"{cell(warm['first_ms'])} | {cell(warm['after_first']['max_ms'])} |"
        )
    total = latency_stats([v for s in scenarios for v in s.latencies()])
    passed = sum(s.passed for s in scenarios)
    failed = sum(s.failed for s in scenarios)
    after_first = [v for s in scenarios for v in s.latencies()[1:]]
    lines.append(
        f"| **all** | {passed}/{passed + failed} | {total['count']} | {cell(total['p50_ms'])} | "
        f"{cell(total['p90_ms'])} | {cell(total['max_ms'])} | – | "
        f"{cell(max(after_first) if after_first else None)} |"
    )
    lines += [
        "",
        "Latency: from the end of the first action of a batch (apply/delete/label/manage) to the "
        "poll at which the following expectation held (polling every 5 ms); only expectations "
        "in which an object appeared, changed or went count. *first*: the first such expectation "
        "of a scenario, when the services see their first event (cold start).",
        "",
    ]
    return "\n".join(lines)


def write_report(path: Path, scenarios: Sequence[ScenarioResult]) -> None:
    """``.md`` -> :func:`markdown`; anything else -> JSON :func:`summary`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".md", ".markdown"):
        path.write_text(markdown(scenarios), encoding="utf-8")
    else:
        path.write_text(json.dumps(summary(scenarios), indent=2) + "\n", encoding="utf-8")
