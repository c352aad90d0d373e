"""What to publish and when (pure): the completeness gate, the report's content, and the
per-change backlog."""

from __future__ import annotations

import pytest

from services.agent.assigning import Assignments
from services.agent.evaluating import SourceState
from services.agent.reporting import (
    coalesce_delay,
    encode_report,
    gate,
    take,
)
from services.agent.watching import WatchKey
from shared.contract import messages as m
from shared.contract.errors import InvalidMessage
from shared.kube import GVK
from tests.agent.helpers import CLUSTER, event_source, svc

SERVICE = WatchKey(GVK("v1", "Service"))
DEPLOYMENT = WatchKey(GVK("apps/v1", "Deployment"))


def two_kinds() -> SourceState:
    definition = event_source()
    definition["spec"]["resourceSelectors"].append(
        {"group": "apps", "version": "v1", "kind": "Deployment"}
    )
    state = Assignments("c").put("svc", definition).state
    assert state is not None
    return state


def test_a_report_waits_until_every_kind_it_needs_is_known() -> None:
    state = two_kinds()
    state.replaying = False
    assert gate(state, lambda k: k == SERVICE) == "incomplete", "Deployments not listed"
    assert gate(state, lambda k: True) == "publish"
    state.dirty = False
    assert gate(state, lambda k: True) == "clean"


def test_a_report_waits_for_the_replay_of_what_the_informers_hold() -> None:
    state = two_kinds()
    assert state.replaying
    assert gate(state, lambda k: True) == "incomplete"


def test_the_report_lists_the_matching_set_without_managed_fields() -> None:
    state = Assignments("c").put("svc", event_source()).state
    assert state is not None
    web = svc("web", labels={"sveltos": "fv"})
    web["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    state.observe("ADDED", web)
    state.observe("ADDED", svc("db", labels={"sveltos": "fv"}))
    state.cloud_events = [{"id": "1", "source": "s", "type": "t"}]
    key, raw = encode_report(take(state, CLUSTER, "i1", 7))
    event = m.decode(raw, m.EventReportEvent)
    assert key == event.subject == "default.sveltos--a.svc"
    snap = event.data
    assert snap.complete and snap.generation == 7 and snap.agent_instance == "i1"
    assert [r.name for r in snap.matching_resources] == ["db", "web"]
    assert all("managedFields" not in r["metadata"] for r in snap.resources)
    assert snap.cloud_events == state.cloud_events


def test_the_copy_is_what_the_report_contains_whatever_changes_later() -> None:
    state = Assignments("c").put("svc", event_source()).state
    assert state is not None
    state.observe("ADDED", svc("web", labels={"sveltos": "fv"}))
    data = take(state, CLUSTER, "i", 1)
    state.observe("DELETED", svc("web", labels={"sveltos": "fv"}))
    assert [o["metadata"]["name"] for o in data.objects] == ["web"]


def test_a_report_over_the_message_limit_is_refused() -> None:
    state = Assignments("c").put("svc", event_source()).state
    assert state is not None
    big = svc("big", labels={"sveltos": "fv"})
    big["spec"] = {"data": "x" * (5 * 1024 * 1024)}
    state.observe("ADDED", big)
    with pytest.raises(InvalidMessage, match="limit"):
        encode_report(take(state, CLUSTER, "i", 1))


def test_an_expensive_report_is_coalesced_longer() -> None:
    state = Assignments("c").put("svc", event_source()).state
    assert state is not None
    assert coalesce_delay(state, 0.005) == 0.005
    state.report_cost = 0.05  # the last one took 50 ms to build
    assert coalesce_delay(state, 0.005) == 0.1
    assert coalesce_delay(None, 0.005) == 0.005
