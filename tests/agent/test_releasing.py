"""Helm releases in the apply plan (pure), and the release loop of the Applier with the SDK
stubbed: write-ahead, order, prune, failures (terminal or retried), DryRun, removal."""

from __future__ import annotations

from typing import Any, cast

import pytest

from services.agent.applying import Applier
from services.agent.planning import (
    Apply,
    ApplyResult,
    Nothing,
    PublishOutcome,
    Record,
    Remove,
    decide,
    record_from_outcome,
    settle_apply,
)
from services.agent.releasing import ChartStep, Held, ReleasesDone, add_failure, add_result
from shared.contract import messages as m
from shared.helm.errors import InvalidValues, ReleaseConflict, RepositoryUnavailable, Where
from shared.helm.releases import ManifestDiff, ReleaseResult
from shared.kube import KubeClient, ObjectKey
from tests.agent.helpers import CLUSTER, chart, config_map, desired

A = ObjectKey("v1", "ConfigMap", "default", "a")
R1, R2, OLD = (
    Held("apps", "r1", "sha256:r1:h1"),
    Held("apps", "r2", "sha256:r2:h1"),
    Held("apps", "old"),
)


def deployed(step: ChartStep, revision: int = 1, action: str = "install") -> ReleaseResult:
    return ReleaseResult(
        action,  # type: ignore[arg-type]
        step.name,
        step.namespace,
        revision,
        "uninstalled" if action == "uninstall" else "deployed",
        "kyverno",
        "2.6.0",
        "v1.8.0",
        reason="the release does not exist",
    )


def applied_all(plan_charts: tuple[ChartStep, ...]) -> ReleasesDone:
    done = ReleasesDone()
    for step in plan_charts:
        add_result(done, step, deployed(step, action="uninstall" if step.prune else "install"))
    return done


def held(want: m.DesiredState, *releases: Held, keys: tuple[ObjectKey, ...] = ()) -> Record:
    return Record(
        applied=tuple((k, "h") for k in keys),
        releases=releases,
        deployed=True,
        desired=want,
        leave=want.stop_matching_behavior == "LeavePolicies",
    )


def test_charts_come_after_the_objects_and_the_write_ahead_lists_their_releases() -> None:
    want = desired("p", config_map("a"), charts=(chart("r1"), chart("r2")))
    action = decide(CLUSTER, "p", want, None)
    assert isinstance(action, Apply)
    plan = action.plan
    assert [s.name for s in plan.charts] == ["r1", "r2"] and not any(s.prune for s in plan.charts)
    assert plan.charts[0].values == {} and plan.charts[0].chart is not None
    ahead = plan.write_ahead
    assert ahead is not None and ahead.status == "Provisioning"
    assert [(r.namespace, r.name, r.hash, r.status) for r in ahead.releases] == [
        ("apps", "r1", "", ""),
        ("apps", "r2", "", ""),
    ]
    assert [a.name for a in ahead.applied] == ["a"]


def test_releases_no_longer_desired_are_uninstalled_last_and_listed_ahead() -> None:
    record = held(desired("p", charts=(chart("r1"), chart("old"))), R1, OLD)
    want = desired("p", charts=(chart("r2"), chart("r1", digest="h2")), generation=2)
    action = decide(CLUSTER, "p", want, record)
    assert isinstance(action, Apply)
    steps = action.plan.charts
    assert [(s.name, s.prune) for s in steps] == [("r2", False), ("r1", False), ("old", True)]
    assert steps[1].hash == "sha256:r1:h2"
    assert action.plan.write_ahead is not None
    assert {r.name for r in action.plan.write_ahead.releases} == {"r1", "r2", "old"}


def test_a_successful_apply_records_each_release_with_its_helm_status() -> None:
    record = held(desired("p", charts=(chart("old"),)), OLD)
    want = desired("p", charts=(chart("r1"),), generation=2)
    action = decide(CLUSTER, "p", want, record)
    assert isinstance(action, Apply)
    result = ApplyResult("Provisioned", releases=applied_all(action.plan.charts))
    after = settle_apply(CLUSTER, action.plan, want, result)
    assert after.deployed and after.releases == (Held("apps", "r1", "sha256:r1:h1"),)
    assert after.owed is not None and after.owed.status == "Provisioned"
    r1, old = after.owed.releases
    assert (r1.revision, r1.status, r1.action, r1.chart_name, r1.chart_version) == (
        1,
        "deployed",
        "install",
        "kyverno",
        "2.6.0",
    )
    assert r1.app_version == "v1.8.0" and r1.hash == "sha256:r1:h1"
    assert (old.status, old.action, old.hash) == ("uninstalled", "uninstall", "")
    # a restarted agent reads the same: the uninstalled release is not held
    assert record_from_outcome(after.owed).releases == after.releases
    assert decide(CLUSTER, "p", want, after) == PublishOutcome(after.owed)
    after.owed = None
    assert decide(CLUSTER, "p", want, after) == Nothing("up to date")


def test_helm_chart_action_uninstall_leaves_nothing_held() -> None:
    record = held(desired("p", charts=(chart("r1"),)), R1)
    want = desired("p", charts=(chart("r1", action="Uninstall"),), generation=2)
    action = decide(CLUSTER, "p", want, record)
    assert isinstance(action, Apply)
    (step,) = action.plan.charts
    assert not step.prune and step.chart is not None
    assert step.chart["helmChartAction"] == "Uninstall"
    done = ReleasesDone()
    add_result(done, step, deployed(step, action="uninstall"))
    after = settle_apply(CLUSTER, action.plan, want, ApplyResult("DryRun", releases=done))
    assert after.releases == ()


def test_a_failed_apply_keeps_every_release_it_may_have_left_behind() -> None:
    record = held(desired("p", charts=(chart("old"),)), OLD)
    want = desired("p", charts=(chart("r1"), chart("r2")), generation=2)
    action = decide(CLUSTER, "p", want, record)
    assert isinstance(action, Apply)
    r1, r2, old = action.plan.charts
    done = ReleasesDone()
    add_result(done, r1, deployed(r1))
    add_failure(done, r2, "chart kyverno 2.6.0 (release apps/r2): unreachable", terminal=False)
    add_result(done, old, deployed(old, action="uninstall"))
    result = ApplyResult("Failed", "; ".join(done.errors), releases=done)
    assert not result.terminal
    after = settle_apply(CLUSTER, action.plan, want, result)
    assert not after.deployed and not after.terminal
    assert set(after.releases) == {R1, Held("apps", "r2")}, "old is positively gone"
    assert after.owed is not None and after.owed.status == "Failed"
    failed = next(r for r in after.owed.releases if r.name == "r2")
    assert failed.status == "" and "unreachable" in failed.message
    assert "release apps/r2" in after.owed.message
    after.owed = None
    assert isinstance(decide(CLUSTER, "p", want, after), Apply), "retried"


def test_only_terminal_failures_make_a_terminal_apply() -> None:
    step = ChartStep("apps", "r1", "h", chart={})
    done = ReleasesDone()
    add_failure(done, step, "the release belongs to 'someone', not 'p'", terminal=True)
    assert ApplyResult("Failed", "x", releases=done).terminal
    assert not ApplyResult("Provisioned", releases=done).terminal
    objects_failed = ApplyResult("Failed", "a: webhook down; x", releases=ReleasesDone())
    assert not objects_failed.terminal, "an object failure is retried"
    add_failure(done, step, "repository unreachable", terminal=False)
    assert not ApplyResult("Failed", "x", releases=done).terminal


def test_dry_run_says_what_would_change_and_holds_nothing_new() -> None:
    want = desired("p", charts=(chart("r1"),), sync_mode="DryRun")
    action = decide(CLUSTER, "p", want, None)
    assert isinstance(action, Apply) and action.plan.write_ahead is None
    (step,) = action.plan.charts
    would = ReleaseResult(
        "install",
        "r1",
        "apps",
        0,
        "absent",
        "kyverno",
        "2.6.0",
        reason="the release does not exist",
        dry_run=True,
        diff=ManifestDiff(added=("ConfigMap apps/r1", "Deployment apps/r1")),
    )
    done = ReleasesDone()
    add_result(done, step, would)
    after = settle_apply(CLUSTER, action.plan, want, ApplyResult("DryRun", releases=done))
    assert after.releases == ()
    assert after.owed is not None
    (r1,) = after.owed.releases
    assert r1.action == "install" and r1.status == "absent"
    assert r1.message == (
        "dry run: would install (the release does not exist): "
        "2 added, 0 changed, 0 removed, 0 unchanged"
    )
    assert after.owed.status == "DryRun"
    assert (
        after.owed.message
        == f"mode is DryRun. Nothing is reconciled; release apps/r1: {r1.message}"
    )


def test_profiles_of_charts_only_are_up_to_date_and_one_time_ones_never_updated() -> None:
    want = desired("p", charts=(chart("r1"),))
    assert decide(CLUSTER, "p", want, held(want, R1)) == Nothing("up to date")
    once = desired("p", charts=(chart("r1"),), sync_mode="OneTime")
    later = desired("p", charts=(chart("r1", digest="h2"),), generation=2, sync_mode="OneTime")
    assert decide(CLUSTER, "p", later, held(once, R1)) == Nothing(
        "OneTime profile already deployed: not updated"
    )


def test_removal_uninstalls_the_releases_unless_leave_policies() -> None:
    want = desired("p", config_map("a"), charts=(chart("r1"), chart("r2")))
    action = decide(CLUSTER, "p", None, held(want, R1, R2, keys=(A,)))
    assert isinstance(action, Remove)
    assert action.plan.keys == (A,) and action.plan.releases == (R1, R2)
    assert not action.plan.leave
    kept = desired("p", charts=(chart("r1"),), leave=True)
    action = decide(CLUSTER, "p", None, held(kept, R1))
    assert isinstance(action, Remove) and action.plan.leave


def test_a_restarted_agent_reads_the_releases_of_a_write_ahead_outcome() -> None:
    outcome = m.ApplyOutcome(
        cluster=CLUSTER,
        profile_name="p",
        generation=3,
        status="Provisioning",
        releases=[
            m.ReleaseOutcome(namespace="apps", name="r1"),
            m.ReleaseOutcome(namespace="apps", name="gone", status="uninstalled"),
            m.ReleaseOutcome(namespace="apps", name="never", status="absent"),
        ],
    )
    record = record_from_outcome(outcome)
    assert record.releases == (Held("apps", "r1"),) and not record.deployed
    action = decide(CLUSTER, "p", None, record)
    assert isinstance(action, Remove) and action.plan.releases == (Held("apps", "r1"),)


# -- the release loop (the SDK stubbed) ---------------------------------------------------------
class StubApplier(Applier):
    def __init__(self, answers: dict[str, Exception | None]) -> None:
        super().__init__(cast(KubeClient, None), "c1")
        self.answers = answers
        self.calls: list[tuple[str, bool, bool]] = []

    def _release(self, profile: str, step: ChartStep, dry_run: bool) -> ReleaseResult:
        self.calls.append((step.name, step.prune, dry_run))
        error = self.answers.get(step.name)
        if error is not None:
            raise error
        return deployed(step, action="uninstall" if step.prune else "install")


WHERE = Where("kyverno", "2.6.0", "r", "apps", "c1")


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_failed_release_does_not_stop_the_others(dry_run: bool) -> None:
    applier = StubApplier(
        {
            "r1": RepositoryUnavailable("repository unreachable", WHERE),
            "r2": InvalidValues("values rejected by the schema", WHERE),
            "r4": ReleaseConflict("the release belongs to 'q', not 'p'", WHERE),
        }
    )
    steps = [
        ChartStep("apps", "r1", chart={}),
        ChartStep("apps", "r2", chart={}),
        ChartStep("apps", "r3", chart={}),
        ChartStep("apps", "r4"),  # a prune of a release another owner holds now
    ]
    result = applier.apply("p", [], [], dry_run, steps)
    assert [c[0] for c in applier.calls] == ["r1", "r2", "r3", "r4"]
    assert all(c[2] == dry_run for c in applier.calls)
    done = result.releases
    assert result.status == ("DryRun" if dry_run else "Failed"), "a DryRun changes nothing"
    assert result.failed and not result.terminal, "retried"
    assert len(done.errors) == 2 and done.terminal == 1
    assert "repository unreachable" in result.message and "schema" in result.message
    assert done.foreign == {("apps", "r4")}, "left in place, not an error"
    assert [r.name for r in done.outcomes] == ["r1", "r2", "r3"]


def test_a_release_of_another_owner_fails_terminally_with_the_reason() -> None:
    conflict = ReleaseConflict("the release belongs to 'q', not 'p'", WHERE)
    result = StubApplier({"r1": conflict}).apply(
        "p", [], [], False, [ChartStep("apps", "r1", chart={})]
    )
    assert result.status == "Failed" and result.terminal
    assert "belongs to 'q', not 'p'" in result.message
    assert "release apps/r" in result.releases.outcomes[0].message


def test_removal_uninstalls_last_first_and_leaves_foreign_releases() -> None:
    applier = StubApplier({"r1": ReleaseConflict("not Ripple's", WHERE)})
    result = applier.remove("p", [], False, [R1, R2])
    assert [c[0] for c in applier.calls] == ["r2", "r1"]
    assert result.status == "Removed" and result.releases.foreign == {R1.ref}
    leave = StubApplier({})
    assert leave.remove("p", [], True, [R1]).status == "Removed" and leave.calls == []
    failing = StubApplier({"r2": RepositoryUnavailable("api down", WHERE)})
    assert failing.remove("p", [], False, [R1, R2]).status == "Failed"


def test_an_invalid_entry_is_a_terminal_failure_named_by_its_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    applier = Applier(cast(KubeClient, None), "c1")
    entry: dict[str, Any] = {"repositoryURL": "http://x", "chartName": "k"}
    result = applier.apply("p", [], [], False, [ChartStep("", "", chart=entry)])
    assert result.status == "Failed" and result.terminal
    assert "releaseName is required" in result.message
