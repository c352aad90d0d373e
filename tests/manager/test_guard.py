"""The withdrawal guard's pure decision (issue 18 item 4): the bound, the window, holds,
confirmation tokens and their messages. No State, no servers; milliseconds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from services.manager.guard import (
    Bound,
    Guard,
    confirmation,
    hold_message,
    parse_message,
    token_of,
)
from services.manager.outputs import DESIRED, PROFILES
from shared.api.vocabulary import WITHDRAWAL_CONFIRM_ANNOTATION

NOW = 1_780_000_000.0  # the wall clock of the tests (2026-05-28)


@dataclass(frozen=True)
class View:
    """What the guard reads of a trigger: its kind and annotations."""

    kind: str = "EventTrigger"
    annotations: dict[str, str] = field(default_factory=dict)


def guard(bound: Bound | None = None, **triggers: Any) -> Guard:
    """A guard whose definitions changed at 0.0 (the windows are open until 10.0): the
    withdrawals of the tests at 0.0 are counted together within a trigger's window."""
    g = Guard(bound or Bound(), clock=lambda: NOW)
    g.triggers = triggers or {"t": View()}
    g.watch(0.0)
    return g


def fill(g: Guard, count: int, trigger: str = "t") -> list[tuple[str, str]]:
    items = [(DESIRED, f"k{n}") for n in range(count)]
    for _, key in items:
        g.track(key, trigger)
    return items


def held(count: int) -> tuple[Guard, list[tuple[str, str]]]:
    """A guard holding all ``count`` instances of trigger t: withdrawn together after the
    definitions changed at 0.0, held at the window's end (2.0)."""
    g = guard()
    items = fill(g, count)
    for item in items:
        g.withdraw(item, "t", 0.0)
    g.settle(2.0)
    return g, items


@pytest.mark.parametrize(
    ("going", "total", "held"),
    [(5, 5, False), (6, 6, True), (6, 12, False), (7, 12, True), (6, 100, False), (0, 0, False)],
)
def test_the_bound_is_more_than_the_share_and_more_than_the_minimum(
    going: int, total: int, held: bool
) -> None:
    assert Bound().exceeded(going, total) is held


def test_a_bound_that_is_off_never_holds() -> None:
    assert not Bound(enabled=False).exceeded(100, 100)
    assert not Bound(share=1.0).exceeded(100, 100)  # more than 100 %: never
    assert Bound(share=0.0, minimum=0).exceeded(1, 100)


def test_after_a_change_withdrawals_within_the_window_are_counted_together_then_held() -> None:
    g = guard()
    items = fill(g, 8)
    g.watch(0.0)  # definitions or clusters changed: the reports follow
    assert all(g.withdraw(item, "t", 0.0) for item in items[:4])
    assert g.waiting(items[0], 0.5) == pytest.approx(1.5)
    assert g.settle(1.0) == ([], [])  # the window is open: no verdict yet
    assert all(g.withdraw(item, "t", 1.0) for item in items[4:])
    assert g.waiting(items[7], 1.0) == pytest.approx(1.0)  # the trigger's window, not its own
    settled = g.settle(2.0)
    assert settled.proceed == [] and sorted(settled.refresh) == sorted(items)
    hold = g.hold_of(items[0])
    assert hold is not None and (hold.going, hold.total) == (8, 8)
    assert hold.message.startswith("withdrawal of 8 of 8 instances held since 2026-05-28T")
    assert g.waiting(items[0], 3.0) is None  # held, no longer waiting
    assert g.stats["held"] == 1 and g.held_instances() == 8


def test_under_the_bound_everything_proceeds_at_the_end_of_the_window() -> None:
    g = guard()
    items = fill(g, 10)
    g.watch(0.0)
    for item in items[:5]:
        assert g.withdraw(item, "t", 0.0)
    settled = g.settle(2.0)
    assert sorted(settled.proceed) == sorted((item, 0.0) for item in items[:5])
    assert g.holds == {} and g.waiting(items[0], 2.0) is None


def test_an_events_withdrawals_proceed_at_once_however_many() -> None:
    """Outside the windows after a change of definitions or clusters, withdrawals follow
    events (objects deleted): each is a change of its own, never held, never delayed (how
    many one reconcile takes depends on the manager's load)."""
    g = guard()
    items = fill(g, 10)
    for item in items:
        assert not g.withdraw(item, "t", 50.0)  # proceeds: the guard does not take it
    assert g.holds == {} and g.waiting(items[0], 50.0) is None


def test_what_can_never_be_over_the_bound_proceeds_at_once() -> None:
    g = guard()
    small = fill(g, 5)
    assert not g.withdraw(small[0], "t", 0.0)  # 5 instances: never more than 5
    assert not g.withdraw(small[0], None, 0.0)  # no trigger known
    assert not g.withdraw(small[0], "deleted", 0.0)  # the trigger was deleted
    off = guard(Bound(enabled=False))
    assert not off.withdraw(fill(off, 50)[0], "t", 0.0)


def test_under_the_bound_again_the_rest_proceeds_after_a_window_without_change() -> None:
    g, items = held(8)
    for item in items[:5]:  # wanted again: 3 of 8 still going
        g.discard(item)
    settled = g.settle(3.0)
    assert settled == ([], [items[5]])  # one key waits for the window's end
    assert g.waiting(items[5], 3.0) == pytest.approx(2.0)
    assert g.waiting(items[6], 3.0) is None and g.hold_of(items[6]) is not None
    assert g.settle(4.0).proceed == []  # the window is open
    settled = g.settle(5.0)
    assert sorted(settled.proceed) == sorted((item, 0.0) for item in items[5:])
    assert g.holds == {} and g.stats["cleared"] == 1


def test_instances_coming_back_in_pieces_end_the_hold_with_nothing_withdrawn() -> None:
    g, items = held(8)
    for item in items[:5]:
        g.discard(item)
    g.settle(3.0)  # under the bound: the clearing window opens
    for item in items[5:]:  # the rest comes back within it
        g.discard(item)
    assert g.settle(3.5) == ([], [items[6], items[7]])  # timers moved along, then gone
    assert g.holds == {} and g.stats["cleared"] == 1


def test_over_the_bound_again_within_the_clearing_window_stays_held() -> None:
    g, items = held(8)
    for item in items[:5]:
        g.discard(item)
    g.settle(3.0)
    for item in items[:5]:  # gone again
        g.withdraw(item, "t", 3.5)
    assert g.settle(5.0).proceed == [] and g.holds["t"].going == 8
    assert g.waiting(items[5], 5.0) is None  # no key waits: held


def test_a_hold_grows_with_later_withdrawals_and_its_message_changes() -> None:
    g = guard()
    items = fill(g, 10)
    for item in items[:6]:
        g.withdraw(item, "t", 0.0)
    g.settle(2.0)
    first = g.holds["t"].message
    assert "6 of 10" in first
    assert g.withdraw(items[6], "t", 5.0)  # joins the hold at once (no new window)
    settled = g.settle(5.0)
    assert settled.proceed == [] and len(settled.refresh) == 7
    assert "7 of 10" in g.holds["t"].message and g.holds["t"].token in first
    assert g.stats["held"] == 1  # one hold


def test_the_confirmation_must_be_the_token_of_the_hold() -> None:
    g, _ = held(8)
    token = g.holds["t"].token
    g.triggers = {"t": View(annotations={WITHDRAWAL_CONFIRM_ANNOTATION: "0123456789ab"})}
    assert g.settle(3.0).proceed == []  # a wrong (stale) token approves nothing
    g.triggers = {"t": View(annotations={WITHDRAWAL_CONFIRM_ANNOTATION: token})}
    assert len(g.settle(4.0).proceed) == 8
    assert g.holds == {} and g.stats["confirmed"] == 1


def test_deleting_a_held_trigger_releases_its_hold() -> None:
    g, _ = held(8)
    g.triggers = {}
    assert len(g.settle(3.0).proceed) == 8 and g.holds == {}


def test_profiles_go_with_their_trigger_but_are_not_counted() -> None:
    g = guard()
    items = fill(g, 8)
    profiles = [(PROFILES, f"p{n}") for n in range(8)]
    for item in items[:5] + profiles:
        g.withdraw(item, "t", 0.0)
    settled = g.settle(2.0)  # 5 instances of 8: under the bound, profiles included
    assert len(settled.proceed) == 13 and g.holds == {}


def test_tokens_are_specific_to_the_trigger_the_instances_and_the_time() -> None:
    base = token_of("EventTrigger", "t", ["a", "b"], NOW)
    assert base == token_of("EventTrigger", "t", ["b", "a"], NOW)
    assert len(base) == 12 and int(base, 16) >= 0
    others = {
        token_of("EventBasedAddOn", "t", ["a", "b"], NOW),
        token_of("EventTrigger", "u", ["a", "b"], NOW),
        token_of("EventTrigger", "t", ["a"], NOW),
        token_of("EventTrigger", "t", ["a", "b"], NOW + 1),
    }
    assert base not in others and len(others) == 4


def test_the_message_says_the_numbers_and_how_to_confirm_and_reads_back() -> None:
    g = guard(t=View(kind="EventBasedAddOn"))
    for item in fill(g, 6):
        g.withdraw(item, "t", 0.0)
    g.settle(2.0)
    hold = g.holds["t"]
    text = hold_message(hold, g.bound)
    assert text == hold.message
    assert "more than 50% and more than 5 of its instances" in text
    assert f"kubectl annotate eventbasedaddon t {WITHDRAWAL_CONFIRM_ANNOTATION}=" in text
    assert parse_message(text) == {
        "instances": 6,
        "of": 6,
        "since": "2026-05-28T20:26:40Z",
        "token": hold.token,
        "annotation": WITHDRAWAL_CONFIRM_ANNOTATION,
    }
    assert parse_message("a put failed (retrying)") is None


def test_confirmation_reads_the_annotation_when_the_view_has_them() -> None:
    assert confirmation(View(annotations={WITHDRAWAL_CONFIRM_ANNOTATION: "abc"})) == "abc"
    assert confirmation(View()) == ""
    assert confirmation(object()) == ""  # a view without annotations confirms nothing


def test_metrics_name_the_holds() -> None:
    g = guard()
    for item in fill(g, 8):
        g.withdraw(item, "t", 0.0)
    assert g.metrics()["withdrawals_waiting"][2] == 8
    g.settle(2.0)
    metrics = g.metrics()
    assert metrics["withdrawals_held_total"][:1] == ("counter",)
    assert {k: v[2] for k, v in metrics.items()} == {
        "withdrawals_held_total": 1,
        "withdrawals_confirmed_total": 0,
        "withdrawals_cleared_total": 0,
        "withdrawals_held_triggers": 1,
        "withdrawals_held_instances": 8,
        "withdrawals_waiting": 0,
    }
