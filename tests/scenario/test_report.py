"""Report text and summaries (pure)."""

from __future__ import annotations

import json
from pathlib import Path

from services.scenario.demo import chapters
from services.scenario.model import parse_step
from services.scenario.report import (
    ScenarioResult,
    markdown,
    narrative_lines,
    percentile,
    step_lines,
    summary,
    tally,
    write_report,
)
from services.scenario.steps import ItemResult, StepResult

APPLY = parse_step({"apply": {"cluster": "default/cluster-a", "file": "cluster/svc.yaml"}}, 1)
EXPECT = parse_step(
    {"expect": {"cluster": "default/cluster-a", "present": ["expect/front-svc.yaml"]}}, 2
)


def _expect_result(latency: float, change_before: str = "") -> StepResult:
    item = ItemResult(
        "NetworkPolicy default/front-svc",
        "present",
        "default/cluster-a",
        ok=True,
        held_ms=latency,
        before=change_before,
        after="7",
    )
    return StepResult(
        EXPECT,
        ok=True,
        duration_ms=latency - 1,
        latency_ms=latency,
        items=[item],
        trigger="Service default/svc was created in cluster-a",
        first_in_batch=True,
    )


def test_tally_shape() -> None:
    assert tally(3, 0) == "3 passed, 0 failed"


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 50) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0


def test_step_lines() -> None:
    ok = StepResult(APPLY, ok=True, duration_ms=3.2)
    assert step_lines(ok) == ["  ✔   1 apply cluster/svc.yaml to default/cluster-a — 3.2 ms"]
    held = _expect_result(38.4)
    assert step_lines(held)[0].endswith("— held after 38 ms")
    failed = StepResult(
        EXPECT, ok=False, duration_ms=10_000, error="not true after 10 s:\n  x", logs="L1\nL2"
    )
    lines = step_lines(failed)
    assert lines[0].endswith("— failed after 10.00 s")
    assert lines[1:] == ["      not true after 10 s:", "        x", "      | L1", "      | L2"]
    assert step_lines(failed, show_logs=False) == lines[:3]
    skipped = StepResult(EXPECT, ok=False, skipped=True)
    assert "not run" in step_lines(skipped)[0]


def test_narrative_lines() -> None:
    assert narrative_lines(_expect_result(38.4)) == [
        "✔ NetworkPolicy default/front-svc appeared in cluster-a 38 ms after "
        "Service default/svc was created in cluster-a"
    ]
    updated = _expect_result(12, change_before="3")
    assert "was updated in cluster-a 12 ms after" in narrative_lines(updated)[0]
    unchanged = _expect_result(12, change_before="7")
    assert narrative_lines(unchanged) == [
        "✔ NetworkPolicy default/front-svc is still in place in cluster-a"
    ]
    action = StepResult(APPLY, ok=True, changes=["Service default/svc was created in cluster-a"])
    assert narrative_lines(action) == ["  → Service default/svc was created in cluster-a"]


def test_a_release_is_told_with_what_it_is_now() -> None:
    result = _expect_result(120, change_before="revision 1")
    item = result.items[0]
    item.what, item.after, item.detail = (
        "Helm release kyverno/k",
        "revision 2",
        "revision 2, deployed",
    )
    assert narrative_lines(result) == [
        "✔ Helm release kyverno/k (revision 2, deployed) was updated in cluster-a 120 ms after "
        "Service default/svc was created in cluster-a"
    ]
    assert result.as_dict()["items"][0]["detail"] == "revision 2, deployed"


def test_only_changes_count_as_latencies() -> None:
    outcome = ScenarioResult(
        "s",
        Path("s"),
        results=[
            StepResult(APPLY, ok=True),
            _expect_result(40),
            _expect_result(3, change_before="7"),  # nothing changed: no latency
        ],
        steps_total=3,
    )
    assert outcome.latencies() == [40]
    assert (outcome.passed, outcome.failed, outcome.ok) == (3, 0, True)


def test_a_stack_failure_fails_every_step() -> None:
    outcome = ScenarioResult("s", Path("s"), steps_total=5, error="the stack did not come up")
    assert (outcome.passed, outcome.failed, outcome.ok) == (0, 5, False)
    unloadable = ScenarioResult("s", Path("s"), error="steps.yaml: step 1: ...")
    assert unloadable.failed == 1


def test_summary_and_markdown(tmp_path: Path) -> None:
    outcome = ScenarioResult(
        "01-x",
        Path("01-x"),
        results=[StepResult(APPLY, ok=True), _expect_result(40)],
        steps_total=2,
    )
    data = summary([outcome])
    assert data["units"] == "steps"
    assert (data["passed"], data["failed"]) == (2, 0)
    assert data["expect_latency"] == {"count": 1, "p50_ms": 40, "p90_ms": 40, "max_ms": 40}
    assert data["scenarios"][0]["expect_latency"]["first_ms"] == 40
    assert data["scenarios"][0]["expect_latency"]["after_first"]["count"] == 0
    assert data["scenarios"][0]["steps"][1]["items"][0]["change"] == "appeared"
    table = markdown([outcome])
    assert "| 01-x | 2/2 | 1 | 40.0 | 40.0 | 40.0 | 40.0 | – |" in table
    write_report(tmp_path / "r.json", [outcome])
    assert json.loads((tmp_path / "r.json").read_text())["passed"] == 2
    write_report(tmp_path / "r.md", [outcome])
    assert (tmp_path / "r.md").read_text().startswith("| scenario |")


def test_chapters_from_comments() -> None:
    text = """# header comment
steps:
# 1. first
- apply: {cluster: a/b, file: f}
- expect: {cluster: a/b, present: [x]}
# 2. second
#    more
- delete: {cluster: a/b, apiVersion: v1, kind: S, name: n}
- expect:
    cluster: a/b
    # not a heading
    absent: []
- label: {cluster: a/b, labels: {x: y}}
"""
    assert chapters(text) == {1: ["1. first"], 3: ["2. second", "more"]}
