"""The lease state machine (shared.runtime.leasing): when a standby takes over, when the
holder renews, when it fences itself -- pure, with the times given."""

from __future__ import annotations

import pytest

from shared.runtime.leasing import RETRY, Acquire, Fence, LeaseMachine, Renew, Wait

TTL = 3.0


def holder(at: float = 0.0, revision: int = 1) -> LeaseMachine:
    m = LeaseMachine("me", TTL)
    m.observe(0, None, at)
    assert m.next(at) == Acquire(0, 0.0, None)
    m.acquired(revision, at)
    return m


def test_an_absent_key_is_acquired_at_once_with_a_create() -> None:
    m = LeaseMachine("me", TTL)
    assert isinstance(m.next(0.0), Wait)  # nothing seen yet: no write
    m.observe(0, None, 0.0)
    assert m.next(0.0) == Acquire(last=0, silent=0.0, previous=None)


def test_a_released_key_is_acquired_at_once_on_its_delete_marker() -> None:
    m = LeaseMachine("me", TTL)
    m.observe(7, "other", 0.0)
    m.observe(9, None, 1.0)  # the holder's clean stop deleted it
    assert m.next(1.0) == Acquire(last=9, silent=0.0, previous=None)


def test_a_standby_takes_over_only_after_ttl_of_silence_by_its_own_clock() -> None:
    m = LeaseMachine("me", TTL)
    m.observe(5, "other", 100.0)
    assert m.next(100.0) == Wait(103.0)
    m.observe(6, "other", 101.0)  # a renewal: the silence starts again
    assert m.next(103.5) == Wait(104.0)
    m.observe(6, "other", 103.6)  # the same revision seen again is no renewal
    assert m.next(103.9) == Wait(104.0)
    action = m.next(104.0)
    assert action == Acquire(last=6, silent=3.0, previous="other")
    m.acquired(8, 104.0, took_over=True)
    assert m.state == "active" and m.takeovers == 1


def test_an_older_revision_seen_late_changes_nothing() -> None:
    m = LeaseMachine("me", TTL)
    m.observe(6, "other", 0.0)
    m.observe(5, "other", 2.0)
    assert m.next(2.9) == Wait(3.0)


def test_a_lost_takeover_race_re_reads_instead_of_acting() -> None:
    m = LeaseMachine("me", TTL)
    m.observe(6, "other", 0.0)
    assert isinstance(m.next(3.0), Acquire)
    m.lost(3.0)  # the holder renewed (or another standby won) meanwhile
    assert m.state == "standby"
    m.observe(7, "third", 3.01)
    assert m.next(3.02) == Wait(6.01)


def test_a_failed_write_is_retried_after_a_pause() -> None:
    m = LeaseMachine("me", TTL)
    m.observe(0, None, 0.0)
    m.failed(0.0)
    assert m.next(0.0) == Wait(RETRY)
    assert m.next(RETRY) == Acquire(0, 0.0, None)


def test_our_own_write_whose_answer_was_lost_is_taken_back_at_once() -> None:
    m = LeaseMachine("me", TTL)
    m.observe(4, "me", 0.0)
    assert m.next(0.0) == Acquire(last=4, silent=0.0, previous=None)
    m.acquired(5, 0.0)
    assert m.takeovers == 0


def test_the_holder_renews_every_third_of_the_ttl() -> None:
    m = holder(at=10.0, revision=1)
    assert m.next(10.5) == Wait(11.0)
    assert m.next(11.0) == Renew(last=1)
    m.renewed(2, 11.0)
    assert m.next(11.1) == Wait(12.0)
    m.observe(2, "me", 11.05)  # its own renewal through the watch
    assert m.state == "active"


def test_the_holder_fences_itself_before_a_standby_may_take_over() -> None:
    m = holder(at=0.0)
    assert m.margin == pytest.approx(TTL / 6)
    assert m.next(1.0) == Renew(1)  # renewals fail: no m.renewed
    assert m.next(2.0) == Renew(1)
    assert m.next(2.49) == Renew(1)
    action = m.next(TTL - m.margin)
    assert isinstance(action, Fence) and "could not renew" in action.reason
    assert m.state == "fenced"
    assert isinstance(m.next(100.0), Fence)  # for good
    # the standby that saw revision 1 (no earlier than it was sent, at 0) waits until 3.0
    standby = LeaseMachine("other", TTL)
    standby.observe(1, "me", 0.0)
    assert standby.next(TTL - m.margin) == Wait(TTL)


def test_renewal_deadline_counts_from_when_the_renewal_was_sent() -> None:
    m = holder(at=0.0)
    m.renewed(2, 1.0)  # sent at 1.0, answered late: still counted from 1.0
    assert m.deadline == pytest.approx(1.0 + TTL - TTL / 6)


def test_a_lost_renewal_fences_at_once() -> None:
    m = holder()
    m.lost(1.0)
    assert m.next(1.0) == Fence("a renewal found the lease written by someone else")


def test_another_holder_or_a_delete_seen_by_the_holder_fences_it() -> None:
    m = holder(revision=3)
    m.observe(4, "other", 0.5)
    action = m.next(0.5)
    assert isinstance(action, Fence) and "other wrote it" in action.reason
    m = holder(revision=3)
    m.observe(4, None, 0.5)
    action = m.next(0.5)
    assert isinstance(action, Fence) and "deleted it" in action.reason


def test_a_release_ends_the_holding() -> None:
    m = holder()
    m.released()
    assert isinstance(m.next(0.0), Fence)
    m.acquired(9, 0.0)  # nothing brings a fenced replica back
    assert m.state == "fenced"


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="ttl"):
        LeaseMachine("me", 0)
    with pytest.raises(ValueError, match="margin"):
        LeaseMachine("me", 3.0, margin=2.5)
