"""Definition statuses and the manager's outputs, without servers: what each definition's
status says (clusters, instantiation errors, agents' errors, failing publications), and how
outputs are encoded within the message limit."""

from __future__ import annotations

import time

import pytest

from services.manager.model import ClusterKey
from services.manager.outputs import (
    DESIRED,
    PROFILES,
    STATUS,
    checked_payload,
    effective_limit,
    encode,
    payload,
)
from services.manager.state import DesiredEntry
from services.manager.statuses import definition_views, publication_problems
from shared.contract import messages as m
from shared.contract.limits import MAX_MESSAGE_BYTES
from shared.runtime.errors import Terminal
from shared.runtime.workqueue import Failure
from tests.manager.test_publication import A, B, new_state, report


def test_trigger_and_event_source_statuses() -> None:
    state = new_state()
    report(state, A, "s1")
    report(state, B)
    state.reconcile()
    views = definition_views(
        state,
        {"EventSource/broken": "line 1: syntax error"},
        [(str(A), "EventSource svc: list failed"), (str(B), "something else")],
    )
    trigger = views["eventtrigger.t"]
    assert trigger.matching_clusters == (A, B) and trigger.errors == ()
    source = views["eventsource.svc"]
    assert source.matching_clusters == (A, B)
    assert source.errors == (f"{A}: EventSource svc: list failed",)
    assert views["eventsource.broken"].errors == ("line 1: syntax error",)
    message = trigger.message()
    assert message.kind == "EventTrigger" and message.failure_message == ""
    assert [c.name for c in message.matching_clusters] == ["cluster-a", "cluster-b"]


def test_instantiation_errors_name_the_source_cluster() -> None:
    state = new_state(template="{{ .Nope.deeper }}")
    report(state, A, "s1")
    report(state, B)
    state.reconcile()
    (error,) = definition_views(state, {})["eventtrigger.t"].errors
    assert error.startswith(f"{A}: ")


def test_failing_publications_show_in_their_definition_status() -> None:
    state = new_state()
    report(state, A)
    report(state, B)
    state.reconcile()
    now = time.time()
    failures = {
        (PROFILES, "k1"): Failure(
            "profile p1 is 9 bytes encoded, over the 8-byte limit", 1, now, True
        ),
        (DESIRED, "k2"): Failure("ripple-desired key k2: put failed: timeout", 3, now),
        (STATUS, "eventtrigger.t"): Failure("put failed", 1, now),  # no owner: REST only
    }
    owners = {(PROFILES, "k1"): ("EventTrigger", "t"), (DESIRED, "k2"): ("EventTrigger", "t")}
    problems = publication_problems(failures, owners)
    assert problems == {
        ("EventTrigger", "t"): [
            "ripple-desired key k2: put failed: timeout (retrying)",
            "profile p1 is 9 bytes encoded, over the 8-byte limit",
        ]
    }
    status = definition_views(state, {}, problems=problems)["eventtrigger.t"].message()
    assert "over the 8-byte limit" in status.failure_message
    assert "(retrying)" in status.failure_message


def entry(size: int) -> DesiredEntry:
    from services.manager.model import DeployedObject, Reference

    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}}
    manifest["data"] = {"x": "y" * size}
    obj = DeployedObject(manifest, "sha256:0", Reference("ConfigMap", "default", "tpl"))
    return DesiredEntry(A, "sveltos-big", (obj,), "Continuous", "WithdrawPolicies", ())


def test_an_output_over_the_limit_is_terminal_and_says_profile_size_and_limit() -> None:
    data = payload(DESIRED, entry(5000), generation=1)
    raw = encode(data, 10_000, "desired state of profile sveltos-big")
    assert m.decode(raw, m.DesiredStateEvent).data.profile_name == "sveltos-big"
    with pytest.raises(Terminal) as caught:
        encode(data, 4000, "desired state of profile sveltos-big")
    text = str(caught.value)
    assert "sveltos-big" in text and "4000-byte" in text and str(len(raw)) in text


def test_an_output_that_cannot_be_encoded_is_terminal() -> None:
    bad = entry(1)
    bad.objects[0].manifest["data"] = {"x": object()}
    with pytest.raises(Terminal, match="cannot be encoded"):
        encode(payload(DESIRED, bad, 1), 10_000, "desired state of profile sveltos-big")


def test_the_limit_is_the_lowest_of_server_contract_and_setting() -> None:
    assert effective_limit(1 << 20) == 1 << 20
    assert effective_limit(64 << 20) == MAX_MESSAGE_BYTES
    assert effective_limit(1 << 20, 1000) == 1000
    assert effective_limit(1000, 1 << 20) == 1000
    assert effective_limit(0) == MAX_MESSAGE_BYTES


def test_status_and_cluster_refs_payloads() -> None:
    status = m.DefinitionStatus(kind="EventTrigger", name="t")
    assert payload(STATUS, status, 1) is status
    key = ClusterKey("ns", "c", "capi")
    with pytest.raises(TypeError):
        payload(STATUS, key, 1)


def test_a_value_that_makes_no_valid_message_is_terminal() -> None:
    bad = DesiredEntry(A, "sveltos-x", (), "Sometimes", "WithdrawPolicies", ())
    with pytest.raises(Terminal, match="not a valid message"):
        checked_payload(DESIRED, bad, 1, "desired state of profile sveltos-x")


def test_apply_failures_reported_by_agents_show_on_the_trigger_without_retry_noise() -> None:
    state = new_state()
    report(state, A, "s1")
    state.reconcile()
    (profile,) = state.profiles
    line = f"profile {profile}: apply/removal failed: no kind Widget (attempt 3, retry in 0.8s)"
    again = line.replace("attempt 3, retry in 0.8s", "attempt 4, retry in 1.6s")
    first = definition_views(state, {}, [(str(B), line), (str(B), "profile gone: x")])
    second = definition_views(state, {}, [(str(B), again)])
    (error,) = first["eventtrigger.t"].errors
    assert error == f"{B}: profile {profile}: apply/removal failed: no kind Widget (retrying)"
    assert second["eventtrigger.t"].errors == (error,)  # a retry does not rewrite the status
