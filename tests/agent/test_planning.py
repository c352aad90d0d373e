"""The apply plan (pure): apply, write-ahead, OneTime, DryRun, drift, prune, removal."""

from __future__ import annotations

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
from shared.contract import messages as m
from shared.kube import ObjectKey
from tests.agent.helpers import CLUSTER, config_map, desired

A = ObjectKey("v1", "ConfigMap", "default", "a")
B = ObjectKey("v1", "ConfigMap", "default", "b")


def applied(want: m.DesiredState, *keys: ObjectKey, ok: bool = True) -> Record:
    return Record(
        applied=tuple((k, "h") for k in keys),
        deployed=ok,
        desired=want,
        leave=want.stop_matching_behavior == "LeavePolicies",
    )


def test_a_new_profile_is_applied_after_a_write_ahead_outcome() -> None:
    want = desired("p", config_map("a"))
    action = decide(CLUSTER, "p", want, None)
    assert isinstance(action, Apply)
    plan = action.plan
    assert [o[0]["metadata"]["name"] for o in plan.objects] == ["a"] and plan.previous == ()
    assert plan.write_ahead is not None and plan.write_ahead.status == "Provisioning"
    assert [a.name for a in plan.write_ahead.applied] == ["a"]


def test_the_write_ahead_outcome_records_what_was_there_and_what_comes() -> None:
    record = applied(desired("p", config_map("a")), A)
    action = decide(CLUSTER, "p", desired("p", config_map("b"), generation=2), record)
    assert isinstance(action, Apply)
    assert action.plan.previous == (A,), "a is pruned unless desired again"
    assert action.plan.write_ahead is not None
    assert sorted(a.name for a in action.plan.write_ahead.applied) == ["a", "b"]


def test_an_up_to_date_profile_is_left_alone_unless_it_drifted() -> None:
    want = desired("p", config_map("a"))
    record = applied(want, A)
    assert decide(CLUSTER, "p", want, record) == Nothing("up to date")
    assert isinstance(decide(CLUSTER, "p", want, record, drifted=True), Apply)


def test_after_a_restart_every_desired_profile_is_applied_again() -> None:
    record = record_from_outcome(
        m.ApplyOutcome(
            cluster=CLUSTER,
            profile_name="p",
            generation=1,
            status="Provisioned",
            applied=[
                m.AppliedObject(api_version="v1", kind="ConfigMap", name="a", namespace="default")
            ],
        )
    )
    assert record.deployed and record.keys == (A,) and record.desired is None
    assert isinstance(decide(CLUSTER, "p", desired("p", config_map("a")), record), Apply)


def test_one_time_profiles_are_never_updated_once_deployed() -> None:
    first = desired("p", config_map("a"), sync_mode="OneTime")
    second = desired("p", config_map("a", "changed"), generation=2, sync_mode="OneTime")
    assert isinstance(decide(CLUSTER, "p", first, None), Apply)
    record = applied(first, A)
    assert decide(CLUSTER, "p", second, record) == Nothing(
        "OneTime profile already deployed: not updated"
    )
    failed = applied(first, A, ok=False)
    assert isinstance(decide(CLUSTER, "p", second, failed), Apply), "a failed one is retried"


def test_dry_run_writes_no_write_ahead_outcome() -> None:
    action = decide(CLUSTER, "p", desired("p", config_map("a"), sync_mode="DryRun"), None)
    assert isinstance(action, Apply)
    assert action.plan.dry_run and action.plan.write_ahead is None


def test_a_failed_apply_keeps_everything_it_may_have_left_behind() -> None:
    record = applied(desired("p", config_map("a")), A)
    want = desired("p", config_map("b"), generation=2)
    action = decide(CLUSTER, "p", want, record)
    assert isinstance(action, Apply)
    result = ApplyResult("Failed", "b: conflict", [])
    after = settle_apply(CLUSTER, action.plan, want, result)
    assert not after.deployed and set(after.keys) == {A, B}
    assert after.owed is not None and after.owed.status == "Failed"
    assert after.owed.message == "b: conflict"
    # its outcome is owed first, then the apply is tried again
    assert decide(CLUSTER, "p", want, after) == PublishOutcome(after.owed)
    after.owed = None
    assert isinstance(decide(CLUSTER, "p", want, after), Apply)


def test_a_successful_apply_records_what_was_applied() -> None:
    want = desired("p", config_map("a"))
    action = decide(CLUSTER, "p", want, None)
    assert isinstance(action, Apply)
    after = settle_apply(CLUSTER, action.plan, want, ApplyResult("Provisioned", "", [(A, "h")]))
    assert after.deployed and after.keys == (A,) and after.desired == want
    assert after.owed is not None and after.owed.status == "Provisioned"


def test_removal_only_on_positive_knowledge() -> None:
    record = applied(desired("p", config_map("a")), A)
    assert decide(CLUSTER, "p", None, record, unknown=True) == Nothing("desired state unknown")
    assert decide(CLUSTER, "p", None, record, synced=False) == Nothing("desired state unknown")
    action = decide(CLUSTER, "p", None, record)
    assert isinstance(action, Remove)
    assert action.plan.keys == (A,) and not action.plan.leave
    assert decide(CLUSTER, "p", None, None) == Nothing("not desired, nothing deployed")


def test_leave_policies_is_kept_for_the_removal() -> None:
    record = applied(desired("p", config_map("a"), leave=True), A)
    action = decide(CLUSTER, "p", None, record)
    assert isinstance(action, Remove) and action.plan.leave
    outcome = m.ApplyOutcome(
        cluster=CLUSTER,
        profile_name="p",
        generation=1,
        status="Provisioning",
        stop_matching_behavior="LeavePolicies",
    )
    restored = record_from_outcome(outcome)
    assert restored.leave and not restored.deployed
