"""The matching sets as deltas (services.agent.deltas): O(1) per change, resync as the net
difference, events already stored not republished, a bounded backlog that resynchronises."""

from __future__ import annotations

from services.agent.assigning import Assignments
from services.agent.deltas import (
    Delta,
    Pending,
    Stored,
    collapse,
    head,
    head_content,
    of_change,
    one_per_object,
    recover,
    resync,
)
from services.agent.evaluating import SourceState
from shared.api.vocabulary import ObjectKey
from shared.contract import messages as m
from shared.contract import subjects
from tests.agent.helpers import CLUSTER, event_source, svc

LABELS = {"sveltos": "fv"}


def source() -> SourceState:
    state = Assignments("c").put("svc", event_source()).state
    assert state is not None
    return state


def key(name: str) -> ObjectKey:
    return ObjectKey("v1", "Service", "default", name)


def test_a_change_is_one_event_and_one_entry_whatever_the_size_of_the_set() -> None:
    state = source()
    for i in range(1000):
        state.observe("ADDED", svc(f"s{i}", labels=LABELS))
    (change,) = state.observe("MODIFIED", svc("s7", "2", labels=LABELS))
    d = of_change(CLUSTER, state, "inst", change)
    assert d.event is not None and d.event.change == "updated"
    assert d.entry is not None and d.entry.resource_version == "2"
    assert d.entry.agent_instance == "inst"
    key_of = m.message_key(m.envelope(d.entry))
    assert subjects.parse_match_key(key_of).obj == d.key


def test_the_object_is_carried_only_when_collected_and_never_in_unmatched() -> None:
    state = source()
    (matched,) = state.observe("ADDED", svc("web", labels=LABELS))
    (unmatched,) = state.observe("DELETED", svc("web", "2"))
    first = of_change(CLUSTER, state, "i", matched)
    gone = of_change(CLUSTER, state, "i", unmatched)
    assert first.event is not None and first.event.object is not None
    assert first.entry is not None and first.entry.object is not None
    assert gone.event is not None and gone.event.object is None and gone.entry is None
    state.collect = False
    plain = of_change(CLUSTER, state, "i", matched)
    assert plain.event is not None and plain.event.object is None
    assert plain.entry is not None and plain.entry.object is None


def test_managed_fields_are_not_published() -> None:
    state = source()
    obj = svc("web", labels=LABELS)
    obj["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    (matched,) = state.observe("ADDED", obj)
    d = of_change(CLUSTER, state, "i", matched)
    assert d.entry is not None and d.entry.object is not None
    assert "managedFields" not in d.entry.object["metadata"]


def test_a_resync_publishes_the_net_difference_with_the_stored_entries() -> None:
    state = source()
    state.observe("ADDED", svc("same", "1", labels=LABELS))
    state.observe("ADDED", svc("changed", "5", labels=LABELS))
    state.observe("ADDED", svc("new", "1", labels=LABELS))
    stored = {
        key("same"): Stored("", "1"),
        key("changed"): Stored("", "4"),
        key("gone"): Stored("uid-gone", "9"),
    }
    found = {d.key.name: d for d in resync(CLUSTER, state, "i", stored)}
    assert sorted(found) == ["changed", "gone", "new"]
    changes = {n: d.event.change for n, d in found.items() if d.event is not None}
    assert changes == {"changed": "updated", "gone": "unmatched", "new": "matched"}
    assert found["gone"].entry is None
    assert found["gone"].event is not None and found["gone"].event.resource_version == "9"


def test_a_restart_publishes_what_the_stream_lacks_and_writes_what_the_entries_lack() -> None:
    state = source()
    state.observe("ADDED", svc("a", "3", labels=LABELS))  # event stored, entry not written
    state.observe("ADDED", svc("b", "4", labels=LABELS))  # stored at 3, changed since
    state.observe("ADDED", svc("c", "1", labels=LABELS))  # never published
    entries = {key("gone"): Stored("", "9"), key("b"): Stored("", "3")}
    last = {
        key("a"): ("matched", Stored("", "3")),
        key("b"): ("updated", Stored("", "3")),
        key("gone"): ("unmatched", Stored("", "10")),  # its entry delete was lost
        key("lost"): ("matched", Stored("", "1")),  # matched stored, entry never written,
    }  # and the object deleted while the agent was down
    found = {d.key.name: d for d in recover(CLUSTER, state, "i", entries, last)}
    changes = {n: d.event.change for n, d in found.items() if d.event is not None}
    assert changes == {"b": "updated", "c": "matched", "lost": "unmatched"}
    assert found["a"].event is None and found["a"].entry is not None  # entry only
    assert found["gone"].event is None and found["gone"].entry is None  # entry delete only
    assert found["lost"].entry is None


def test_an_object_whose_evaluation_failed_keeps_its_stored_entry_at_a_resync() -> None:
    """Unknown is never "no match": after a restart, an object whose script errs (or ran out
    of time) is not in the matching set, and not known to be out of it either."""
    state = source()
    state.observe("ADDED", svc("fine", "1", labels=LABELS))
    state.errors[key("erring")] = "script error at line 3"
    stored = {key("fine"): Stored("", "1"), key("erring"): Stored("", "7")}
    assert resync(CLUSTER, state, "i", stored) == []
    entries = dict(stored)
    last = {key("erring"): ("matched", Stored("", "7"))}
    assert recover(CLUSTER, state, "i", entries, last) == []


def test_a_restart_with_nothing_read_back_is_a_plain_resync() -> None:
    state = source()
    state.observe("ADDED", svc("a", "3", labels=LABELS))
    entries = {key("gone"): Stored("", "9")}
    plain = resync(CLUSTER, state, "i", entries)
    assert recover(CLUSTER, state, "i", entries, {}) == plain


def test_a_batch_writes_only_the_last_entry_of_each_object() -> None:
    a1 = Delta(key("a"), None, None)
    b = Delta(key("b"), None, None)
    a2 = Delta(key("a"), None, None)
    assert list(collapse([a1, b, a2]).values()) == [a2, b]


def test_a_batch_holds_one_delta_per_object_so_each_objects_events_stay_in_order() -> None:
    batch = list(enumerate([delta("a"), delta("b"), delta("a"), delta("c")]))
    assert [d.key.name for _, d in one_per_object(batch)] == ["a", "b"]
    assert one_per_object([]) == []


def delta(name: str) -> Delta:
    return Delta(key(name), None, None)


def test_pending_keeps_order_and_removes_exactly_what_was_published() -> None:
    pending = Pending()
    for name in "abc":
        pending.push("svc", delta(name))
    batch = pending.head("svc", 2)
    assert [d.key.name for _, d in batch] == ["a", "b"]
    pending.push("svc", delta("d"))  # added while a and b are being published
    pending.done("svc", batch[0][0])  # only a was acknowledged
    assert [d.key.name for _, d in pending.head("svc", 10)] == ["b", "c", "d"]
    pending.done("svc", pending.head("svc", 10)[-1][0])
    assert pending.size() == 0 and pending.pending == {}


def test_an_overflow_drops_the_backlog_and_asks_for_a_resync_never_silently() -> None:
    pending = Pending(limit=2)
    for name in "abcd":
        pending.push("svc", delta(name))
    assert pending.size("svc") == 0 and "svc" in pending.overflowed
    assert pending.errors() == [
        "EventSource svc: 1 backlog overflow(s): resynchronised (consumers saw the net change)"
    ]
    pending.drop("svc")  # the resync starts from the current state
    pending.push("svc", delta("e"))
    assert [d.key.name for _, d in pending.head("svc", 10)] == ["e"]


def test_the_head_counts_every_error_and_lists_a_bounded_number() -> None:
    state = source()
    for i in range(m.MAX_HEAD_ERRORS + 5):
        state.errors[key(f"e{i:03}")] = "lua: boom"
    h = head(CLUSTER, state, "i", 3, complete=True)
    assert h.error_count == m.MAX_HEAD_ERRORS + 5 and len(h.errors) == m.MAX_HEAD_ERRORS
    assert head_content(state, True) != head_content(state, False)
