"""Conflicts between profiles, namespaces and DryRun reports, decided as Sveltos decides them
(issue 15 items 4 and 7; pure, milliseconds)."""

from __future__ import annotations

from typing import Any

from services.agent import conflicts, dryrun, ownership
from services.agent.planning import (
    Apply,
    ApplyOptions,
    ApplyResult,
    Record,
    decide,
    settle_apply,
)
from shared.api.vocabulary import ObjectKey
from shared.contract import messages as m
from tests.agent.helpers import CLUSTER, config_map, desired

KEY = ObjectKey("v1", "ConfigMap", "default", "a")


def owned(profile: str, tier: Any = None, kind: str = "ClusterProfile") -> dict[str, Any]:
    live = ownership.stamp(config_map("a"), profile)
    annotations = live["metadata"]["annotations"]
    annotations[ownership.OWNER_KIND_ANNOTATION] = kind
    if tier is None:
        del annotations[ownership.OWNER_TIER_ANNOTATION]
    else:
        annotations[ownership.OWNER_TIER_ANNOTATION] = str(tier)
    return live


# -- conflicts (libsveltos CanDeployResource) ---------------------------------------------------
def test_an_absent_or_unowned_object_or_one_of_the_profile_is_applied() -> None:
    assert conflicts.judge(None, KEY, "p", 100) == conflicts.Verdict(True)
    assert conflicts.judge(config_map("a"), KEY, "p", 100).apply, "a user's object"
    verdict = conflicts.judge(owned("p", 100), KEY, "p", 100)
    assert verdict.apply and not verdict.take_over


def test_another_profile_of_an_equal_or_lower_tier_keeps_the_object() -> None:
    for tier in (100, 150):
        verdict = conflicts.judge(owned("q", 100), KEY, "p", tier)
        assert not verdict.apply and verdict.owner == "q" and verdict.owner_tier == 100
        assert "ConfigMap:default/a" in verdict.message
        assert "ClusterProfile q (tier 100)" in verdict.message
        assert f"tier {tier} is not lower" in verdict.message
    # the same name but another kind of owner is another owner (Sveltos compares both)
    assert not conflicts.judge(owned("p", 100, kind="Profile"), KEY, "p", 100).apply


def test_a_lower_tier_takes_the_object_over() -> None:
    verdict = conflicts.judge(owned("q", 100), KEY, "p", 50)
    assert verdict.apply and verdict.take_over and verdict.owner == "q"


def test_an_owner_without_a_readable_tier_counts_as_the_highest_tier() -> None:
    """libsveltos getTier: unreadable or 0 is MaxInt32 (objects of older agents included)."""
    for tier in (None, "", "x", "0", "-3"):
        verdict = conflicts.judge(owned("q", tier), KEY, "p", 100)
        assert verdict.take_over, tier
    assert conflicts.owner_tier(" 7 ") == 7
    # a lower owner tier wins even against the claimer's highest allowed tier
    assert not conflicts.judge(owned("q", 1), KEY, "p", 1).apply


def test_the_stamp_carries_the_profiles_tier() -> None:
    stamped = ownership.stamp(config_map("a"), "p", 7)
    assert stamped["metadata"]["annotations"][ownership.OWNER_TIER_ANNOTATION] == "7"


# -- the options of a profile ----------------------------------------------------------------
def test_the_options_come_from_the_desired_state() -> None:
    want = desired("p", config_map("a"), config_map("b"))
    want.tier, want.continue_on_conflict = 20, True
    want.objects[1].skip_namespace_creation = True
    action = decide(CLUSTER, "p", want, None)
    assert isinstance(action, Apply)
    assert action.plan.options == ApplyOptions(
        20, True, frozenset({ObjectKey("v1", "ConfigMap", "default", "b")})
    )
    assert ApplyOptions.of(desired("p")) == ApplyOptions(100, False, frozenset())


# -- DryRun ------------------------------------------------------------------------------------
def test_changes_name_the_fields_an_apply_would_change() -> None:
    live = {
        "metadata": {"name": "a", "resourceVersion": "3", "managedFields": [{}], "labels": {}},
        "data": {"k": "v", "gone": "x"},
        "spec": {"ports": [{"port": 80}]},
        "status": {"phase": "Active"},
    }
    proposed = {
        "metadata": {"name": "a", "resourceVersion": "4", "labels": {"new": "1"}},
        "data": {"k": "w"},
        "spec": {"ports": [{"port": 81}]},
    }
    assert dryrun.changes(live, proposed) == [
        '.metadata.labels.new: (absent) -> "1"',
        '.data.k: "v" -> "w"',
        '.data.gone: "x" -> (absent)',
        ".spec.ports[0].port: 80 -> 81",
    ]
    assert dryrun.changes(live, live) == []
    many = [f".f{i}" for i in range(12)]
    assert dryrun.update_message(many).endswith("; and 2 more field(s)")


def test_a_dry_run_reports_each_object_and_holds_what_it_held() -> None:
    held = (ObjectKey("v1", "ConfigMap", "default", "old"), "h0")
    previous = Record(applied=(held,), deployed=True, desired=desired("p"))
    want = desired("p", config_map("a"), config_map("b"), sync_mode="DryRun")
    action = decide(CLUSTER, "p", want, previous)
    assert isinstance(action, Apply) and action.plan.dry_run and action.plan.write_ahead is None
    reports = [
        dryrun.report(KEY, "Create"),
        dryrun.would(
            ObjectKey("v1", "ConfigMap", "default", "b"), {"data": {"k": "v"}}, {"data": {"k": "w"}}
        ),
        dryrun.report(held[0], "Delete", "no longer desired"),
    ]
    result = ApplyResult("DryRun", applied=[], reports=reports)
    record = settle_apply(CLUSTER, action.plan, want, result)
    owed = record.owed
    assert owed is not None and owed.status == "DryRun"
    assert record.applied == (held,), "a DryRun changes nothing: the profile holds what it held"
    assert [(r.object.name, r.action) for r in owed.resource_reports] == [
        ("a", "Create"),
        ("b", "Update"),
        ("old", "Delete"),
    ]
    assert owed.resource_reports[1].message == '.data.k: "v" -> "w"'
    assert owed.message.startswith(
        "mode is DryRun. Nothing is reconciled: would create 1, update 1, delete 1; "
    )
    assert "Update v1/ConfigMap/default/b (.data.k" in owed.message
    assert "applied" not in owed.message
    assert record.deployed and not result.failed


def test_a_dry_run_that_could_not_evaluate_an_object_is_retried() -> None:
    want = desired("p", config_map("a"), sync_mode="DryRun")
    action = decide(CLUSTER, "p", want, None)
    assert isinstance(action, Apply)
    failed = ApplyResult("DryRun", reports=[dryrun.report(KEY, "Error", "503")], errors=["a: 503"])
    record = settle_apply(CLUSTER, action.plan, want, failed)
    assert record.owed is not None and record.owed.status == "DryRun"
    assert failed.failed and not record.deployed, "retried"


def test_an_outcome_lists_resource_reports_within_a_bound() -> None:
    want = desired("p", config_map("a"))
    action = decide(CLUSTER, "p", want, None)
    assert isinstance(action, Apply)
    reports = [dryrun.report(KEY, "Conflict", "x")] * (m.MAX_RESOURCE_REPORTS + 5)
    record = settle_apply(
        CLUSTER, action.plan, want, ApplyResult("Failed", "conflict", reports=reports)
    )
    assert record.owed is not None
    assert len(record.owed.resource_reports) == m.MAX_RESOURCE_REPORTS


def test_the_summary_names_a_bounded_number_of_objects() -> None:
    reports = [dryrun.report(KEY, "Create")] * (dryrun.MAX_DETAILS + 3)
    text = dryrun.summary(reports, ["release x: note"])
    assert text.startswith(f"mode is DryRun. Nothing is reconciled: would create {len(reports)}; ")
    assert text.endswith("; and 3 more (resourceReports); release x: note")
    assert text.count("Create v1/ConfigMap/default/a") == dryrun.MAX_DETAILS
