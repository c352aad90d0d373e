"""The withdrawal guard in the publication rules (issue 18 item 4): the State's real
reconciles, the Publication's decisions, without servers. A change that withdraws most of a
trigger's instances is held (each key's decision Held, carrying the hold's message), what
is under the bound proceeds, additions are never held, deleting the trigger is never held,
and a hold ends when confirmed by its token or when the instances come back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from services.manager.guard import Bound
from services.manager.model import ClusterKey
from services.manager.outputs import DESIRED, PROFILES, Item
from services.manager.planning import TriggerView
from services.manager.publication import DELETE, Held, Publication, Put, Wait
from services.manager.state import State
from services.manager.statuses import publication_problems
from shared.api.vocabulary import WITHDRAWAL_CONFIRM_ANNOTATION
from shared.runtime.workqueue import Failure
from tests.manager.test_publication import A, B, desired_of, new_state, observe, report, restart

WINDOW = Bound().window


@dataclass(frozen=True)
class AnnotatedTrigger(TriggerView):
    """A trigger view carrying its annotations (what the guard reads the confirmation from;
    the same as TriggerView once it carries them)."""

    annotations: Mapping[str, str] = field(default_factory=dict)


def annotate(state: State, value: str) -> None:
    view = state.triggers["t"]
    fields = {k: getattr(view, k) for k in TriggerView.__dataclass_fields__ if k != "annotations"}
    state.set_trigger(
        AnnotatedTrigger(**fields, annotations={WITHDRAWAL_CONFIRM_ANNOTATION: value})
    )


def run(pub: Publication, items: set[Item], now: float) -> dict[Item, Any]:
    """Act as the publisher does: put, delete, wait; a held key is left as it is."""
    out: dict[Item, Any] = {}
    for item in sorted(items):
        decision = pub.decide(item, now)
        out[item] = decision
        if isinstance(decision, Put):
            pub.put_done(item, now)
        elif decision is DELETE:
            pub.deleted(item)
    return out


def eight(pub: Publication | None = None) -> tuple[State, Publication, set[str]]:
    """Trigger t with 4 instances in cluster A and 4 in cluster B, all published."""
    state, pub = new_state(), pub or Publication()
    report(state, A, *(f"a{n}" for n in range(4)))
    report(state, B, *(f"b{n}" for n in range(4)))
    run(pub, observe(pub, state), 0.0)
    keys = desired_of(state, A) | desired_of(state, B)
    assert len(keys) == 8 and pub.published[DESIRED] == keys
    return state, pub, keys


def held(result: dict[Item, Any], bucket: str = DESIRED) -> set[str]:
    return {k for (b, k), d in result.items() if b == bucket and isinstance(d, Held)}


def deleted(result: dict[Item, Any], bucket: str = DESIRED) -> set[str]:
    return {k for (b, k), d in result.items() if b == bucket and d is DELETE}


def edit_event_source(state: State, pub: Publication, now: float) -> None:
    """The EventSource changes (its assignments are put again; the reports follow)."""
    edited = {"kind": "EventSource", "metadata": {"name": "svc"}, "spec": {"at": now}}
    state.set_event_source("svc", edited)
    run(pub, observe(pub, state, now=now), now)


def hold_everything(state: State, pub: Publication) -> dict[Item, Any]:
    """An EventSource edit, then both clusters report nothing, half a second apart (one
    change, two reports): everything waits for the verdict, held at the window's end."""
    edit_event_source(state, pub, 9.9)
    report(state, A)
    first = observe(pub, state, now=10.0)
    assert {type(d) for d in run(pub, first, 10.0).values()} <= {Wait}
    report(state, B)
    second = observe(pub, state, now=10.5)
    assert run(pub, second, 10.5)  # waiting too
    return run(pub, first | second, 10.0 + WINDOW)


def test_one_change_withdrawing_every_instance_is_held() -> None:
    state, pub, keys = eight()
    result = hold_everything(state, pub)
    assert held(result) == keys and not deleted(result)
    assert held(result, PROFILES) == pub.published[PROFILES] != set()  # profiles stay too
    messages = {str(e) for e in result.values()}
    (message,) = messages
    assert message.startswith("withdrawal of 8 of 8 instances held since ")
    assert pub.published[DESIRED] == keys
    assert pub.counts()["withdrawals_held_triggers"] == 1
    assert pub.counts()["withdrawals_held_instances"] == 8


def test_the_status_shows_one_line_per_hold() -> None:
    state, pub, _ = eight()
    result = hold_everything(state, pub)
    failures = {
        item: Failure(str(exc), 1, 0.0, terminal=True)
        for item, exc in result.items()
        if isinstance(exc, Held)
    }
    problems = publication_problems(failures, pub.owners)
    assert list(problems) == [("EventTrigger", "t")]
    assert problems[("EventTrigger", "t")] == [str(next(iter(result.values())))]


def test_an_events_withdrawal_under_the_bound_proceeds_at_once_as_before() -> None:
    state, pub, _keys = eight()
    report(state, A, "a0")  # 3 of 8
    result = run(pub, observe(pub, state, now=10.0), 10.0)
    assert len(deleted(result)) == 3 and pub.guard.holds == {}


def test_after_a_definition_change_a_withdrawal_waits_for_the_window() -> None:
    state, pub, _keys = eight()
    edit_event_source(state, pub, 9.9)
    report(state, A, "a0")  # 3 of 8
    dirty = observe(pub, state, now=10.0)
    assert set(run(pub, dirty, 10.0).values()) == {Wait(WINDOW)}
    result = run(pub, dirty, 10.0 + WINDOW)
    assert len(deleted(result)) == 3 and pub.guard.holds == {}


def test_events_withdraw_at_once_however_many_one_reconcile_takes() -> None:
    """Long after any change of definitions or clusters, withdrawals follow events (objects
    deleted): never held, whatever the manager's batching puts into one reconcile."""
    state, pub, keys = eight()
    report(state, A)
    report(state, B)
    result = run(pub, observe(pub, state, now=100.0), 100.0)
    assert deleted(result) == keys and not held(result)
    assert pub.guard.stats["held"] == 0


def test_separate_events_are_separate_changes() -> None:
    state, pub, _keys = eight()
    in_a = desired_of(state, A)
    report(state, A)  # 4 of 8: under the bound, withdrawn at once
    assert deleted(run(pub, observe(pub, state, now=10.0), 10.0)) == in_a
    report(state, B)  # 4 of the 4 left: never more than the minimum
    assert len(deleted(run(pub, observe(pub, state, now=11.0), 11.0))) == 4
    assert pub.guard.stats["held"] == 0


def test_the_removal_grace_still_counts_from_when_the_instance_went() -> None:
    state, pub, _ = eight(Publication(removal_grace=5.0))
    report(state, A, "a0")
    dirty = observe(pub, state, now=10.0)
    result = run(pub, dirty, 12.0)
    assert {d for (b, _), d in result.items() if b == DESIRED} == {Wait(3.0)}
    assert len(deleted(result, PROFILES)) == 3  # a profile has no removal grace
    assert len(deleted(run(pub, dirty, 15.0))) == 3


def test_instances_coming_back_clear_the_hold_and_nothing_is_withdrawn() -> None:
    state, pub, keys = eight()
    hold_everything(state, pub)
    report(state, A, *(f"a{n}" for n in range(4)))
    report(state, B, *(f"b{n}" for n in range(4)))
    result = run(pub, observe(pub, state, now=20.0), 20.0)
    assert {k for (b, k), d in result.items() if b == DESIRED and isinstance(d, Put)} == keys
    assert pub.guard.holds == {} and pub.guard.stats["cleared"] == 1
    assert pub.published[DESIRED] == keys


def test_when_the_share_stays_under_the_bound_for_a_window_the_rest_proceeds() -> None:
    state, pub, _keys = eight()
    in_b = desired_of(state, B)
    hold_everything(state, pub)
    report(state, A, *(f"a{n}" for n in range(4)))  # 4 come back: 4 of 8 still going
    dirty = observe(pub, state, now=20.0)
    result = run(pub, dirty, 20.0)
    assert not deleted(result)
    assert [d for d in result.values() if isinstance(d, Wait)] == [Wait(WINDOW)]  # one key
    result = run(pub, dirty, 20.0 + WINDOW)  # its failure changes: a reconcile follows
    assert not deleted(result) and sum(isinstance(d, Held) for d in result.values()) == 1
    result = run(pub, observe(pub, state, now=20.0 + WINDOW), 20.0 + WINDOW)
    assert deleted(result) == in_b
    assert pub.guard.holds == {} and pub.guard.stats["cleared"] == 1


def test_an_undo_arriving_in_pieces_withdraws_nothing() -> None:
    state, pub, keys = eight()
    hold_everything(state, pub)
    edit_event_source(state, pub, 19.0)  # restored
    report(state, A, *(f"a{n}" for n in range(4)))
    report(state, B, "b0", "b1")  # 2 of 8 still going: under the bound
    first = run(pub, observe(pub, state, now=20.0), 20.0)
    report(state, B, *(f"b{n}" for n in range(4)))
    second = run(pub, observe(pub, state, now=20.5), 20.5)
    assert not deleted(first) and not deleted(second)
    assert pub.published[DESIRED] == keys and pub.guard.holds == {}


def test_a_held_trigger_still_publishes_additions_and_updates() -> None:
    state, pub, _keys = eight()
    hold_everything(state, pub)
    report(state, A, "new")
    result = run(pub, observe(pub, state, now=20.0), 20.0)
    added = desired_of(state, A)
    assert {k for (b, k), d in result.items() if b == DESIRED and isinstance(d, Put)} == added
    assert pub.guard.holds["t"].going == 8 and not deleted(result)


def test_the_confirmation_annotation_releases_the_hold_with_its_token_only() -> None:
    state, pub, keys = eight()
    hold_everything(state, pub)
    token = pub.guard.holds["t"].token
    annotate(state, "not-the-token")
    assert not deleted(run(pub, observe(pub, state, now=20.0), 20.0))
    annotate(state, token)
    result = run(pub, observe(pub, state, now=21.0), 21.0)
    assert deleted(result) == keys and pub.published[DESIRED] == set()
    assert pub.guard.stats["confirmed"] == 1 and pub.guard.holds == {}
    # a later, different mass withdrawal is not approved by the annotation left behind
    report(state, A, *(f"c{n}" for n in range(4)))
    report(state, B, *(f"d{n}" for n in range(4)))
    run(pub, observe(pub, state, now=30.0), 30.0)
    report(state, A)
    report(state, B)
    annotate(state, token)  # a definition change (the annotation left as it was)
    dirty = observe(pub, state, now=40.0)
    result = run(pub, dirty, 40.0 + WINDOW)
    assert len(held(result)) == 8 and pub.guard.holds["t"].token != token


def test_deleting_the_trigger_is_never_held() -> None:
    state, pub, keys = eight()
    state.delete_trigger("t")
    result = run(pub, observe(pub, state, now=10.0), 10.0)
    assert deleted(result) == keys  # at once: no window, no hold


def test_deleting_a_held_trigger_withdraws_what_it_held() -> None:
    state, pub, keys = eight()
    hold_everything(state, pub)
    state.delete_trigger("t")
    result = run(pub, observe(pub, state, now=20.0), 20.0)
    assert deleted(result) == keys and pub.guard.holds == {}


def test_a_guard_that_is_off_withdraws_at_once() -> None:
    state, pub, keys = eight(Publication(guard=Bound(enabled=False)))
    report(state, A)
    report(state, B)
    assert deleted(run(pub, observe(pub, state, now=10.0), 10.0)) == keys


@pytest.mark.parametrize("relabelled", [A, B])
def test_a_cluster_relabel_over_the_bound_is_held(relabelled: ClusterKey) -> None:
    state, pub = new_state(), Publication()
    report(state, A, *(f"a{n}" for n in range(6)))
    report(state, B, "b0", "b1")
    run(pub, observe(pub, state), 0.0)
    info = state.clusters[relabelled]
    state.set_cluster(replace(info, labels={"env": "prod"}))  # the trigger selects env=fv
    dirty = observe(pub, state, now=10.0)
    result = run(pub, dirty, 10.0 + WINDOW)
    if relabelled == A:  # 6 of 8
        assert len(held(result)) == 6 and not deleted(result)
    else:  # 2 of 8: under the bound
        assert len(deleted(result)) == 2 and not held(result)


def test_a_mass_withdrawal_found_after_a_restart_is_held() -> None:
    state, pub, keys = eight()
    after = new_state()
    report(after, A)  # everything went while the manager was down
    report(after, B)
    pub2 = restart(pub, state)
    dirty = observe(pub2, after, now=0.0)
    result = run(pub2, dirty, WINDOW)
    assert held(result) == keys and not deleted(result)
