"""The withdrawal guard end to end (issue 18 item 4), on a stack of its own: nats-server, the
simulated fleet, manager, reporter and two agents, with the manager's default bound (more
than 50 % and more than 5 instances, a 2 s window).

- One EventSource edit (its label value changed to "nope") would withdraw 8 of 8 instances
  across two clusters: the add-ons stay; REST (``/v1/triggers/{name}``, ``/v1/errors``), the
  EventTrigger's status and the metrics say held, with the numbers and the token; undoing
  the edit clears the hold without withdrawing anything; deleting the trigger is never held.
- A cluster relabel that would withdraw 6 of 8 instances is held; relabelling it back clears
  the hold.
- The confirmation annotation with the hold's token withdraws what was held.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import pytest

from services.scenario.model import Fleet
from services.scenario.stack import Stack
from shared.api.vocabulary import WITHDRAWAL_CONFIRM_ANNOTATION
from tests.reliability.helpers import (
    EVENT_TRIGGER,
    Http,
    delete_definitions,
    equal_eventually,
    eventually,
    policies,
    policy_set,
    rest,
    service,
    stays,
)

A, B = "default/guard-a", "default/guard-b"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    fleet = Fleet.model_validate(
        {
            "clusters": [
                {"namespace": "default", "name": n, "type": "sveltos", "labels": {"lane": "g"}}
                for n in ("guard-a", "guard-b")
            ]
        }
    )
    with Stack(fleet, None, state_dir=tmp_path_factory.mktemp("guard"), ready_timeout=60) as s:
        yield s


@pytest.fixture(scope="module")
def api(stack: Stack) -> Http:
    return rest(stack, token=None)


def deploy(stack: Stack, name: str, per_cluster: dict[str, int]) -> list[dict[str, Any]]:
    """A policy set ``name`` on lane ``g`` and its services; waits for every policy."""
    definitions = policy_set(name, "g", f"{name}-svc")
    stack.apply_management(definitions)
    for cluster, count in per_cluster.items():
        client = stack.client(cluster)
        for i in range(count):
            client.apply(service(f"{name}-{i}", f"{name}-svc"))
    for cluster, count in per_cluster.items():
        want = {f"{name}-{name}-{i}" for i in range(count)}
        client = stack.client(cluster)
        equal_eventually(lambda c=client: policies(c, name), want, 20, what=f"{cluster} policies")
    return definitions


def held(api: Http, name: str) -> dict[str, Any] | None:
    value: dict[str, Any] | None = api.get(f"/v1/triggers/{name}")["withdrawalHeld"]
    return value


def metric(api: Http, name: str) -> float:
    text = api.get("/metrics")
    match = re.search(rf"^ripple_manager_{name} (\S+)$", text, re.M)
    assert match, f"no metric ripple_manager_{name}"
    return float(match[1])


def counts(stack: Stack, name: str) -> dict[str, int]:
    return {c: len(policies(stack.client(c), name)) for c in (A, B)}


def with_value(event_source: dict[str, Any], value: str) -> dict[str, Any]:
    edited = copy.deepcopy(event_source)
    edited["spec"]["resourceSelectors"][0]["labelFilters"][0]["value"] = value
    return edited


def test_an_event_source_edit_withdrawing_everything_is_held_until_undone(
    stack: Stack, api: Http
) -> None:
    name = "guard-es"
    definitions = deploy(stack, name, {A: 4, B: 4})
    held_before = metric(api, "withdrawals_held_total")
    try:
        stack.apply_management([with_value(definitions[0], "nope")])
        hold = eventually(lambda: held(api, name), 15, what="the hold in REST")
        assert (hold["instances"], hold["of"]) == (8, 8), hold
        assert hold["annotation"] == WITHDRAWAL_CONFIRM_ANNOTATION
        assert hold["confirm"].startswith(f"kubectl annotate eventtrigger {name} ")
        assert counts(stack, name) == {A: 4, B: 4}  # the add-ons stay
        stays(lambda: counts(stack, name) == {A: 4, B: 4}, 500, what="the add-ons")
        line = f"withdrawal of 8 of 8 instances held since {hold['since']}"
        assert any(line in m for m in api.get(f"/v1/triggers/{name}")["errors"])
        errors = api.get("/v1/errors")
        assert sum(line in e["message"] for e in errors) == 16  # 8 desired states, 8 profiles
        assert metric(api, "withdrawals_held_total") == held_before + 1
        assert metric(api, "withdrawals_held_triggers") == 1
        assert metric(api, "withdrawals_held_instances") == 8

        def status_says_held() -> bool:
            trigger = stack.management.get(EVENT_TRIGGER, None, name) or {}
            return line in ((trigger.get("status") or {}).get("failureMessage") or "")

        eventually(status_says_held, 15, what="the EventTrigger's status")

        stack.apply_management([definitions[0]])  # undone: the instances come back
        equal_eventually(lambda: held(api, name), None, 15, what="the hold cleared")
        assert counts(stack, name) == {A: 4, B: 4}  # nothing was withdrawn
        assert metric(api, "withdrawals_held_triggers") == 0
        eventually(lambda: not status_says_held(), 15, what="the status cleared")
    finally:
        delete_definitions(stack, definitions)
    # deleting the trigger is never held
    equal_eventually(lambda: counts(stack, name), {A: 0, B: 0}, 15, what="withdrawn")


def test_a_cluster_relabel_withdrawing_most_instances_is_held(stack: Stack, api: Http) -> None:
    name = "guard-rl"
    definitions = deploy(stack, name, {A: 6, B: 2})
    entry = stack.fleet.cluster(A)
    try:
        stack.register(entry.model_copy(update={"labels": {"lane": "elsewhere"}}))
        hold = eventually(lambda: held(api, name), 15, what="the hold in REST")
        assert (hold["instances"], hold["of"]) == (6, 8), hold
        stays(lambda: counts(stack, name) == {A: 6, B: 2}, 500, what="the add-ons")
        stack.register(entry)  # matches again: the instances come back
        equal_eventually(lambda: held(api, name), None, 20, what="the hold cleared")
        assert counts(stack, name) == {A: 6, B: 2}
    finally:
        stack.register(entry)
        delete_definitions(stack, definitions)
    equal_eventually(lambda: counts(stack, name), {A: 0, B: 0}, 15, what="withdrawn")


def test_the_confirmation_annotation_withdraws_what_was_held(stack: Stack, api: Http) -> None:
    name = "guard-ok"
    definitions = deploy(stack, name, {A: 3, B: 3})
    confirmed = metric(api, "withdrawals_confirmed_total")
    try:
        stack.apply_management([with_value(definitions[0], "nope")])
        hold = eventually(lambda: held(api, name), 15, what="the hold in REST")
        assert (hold["instances"], hold["of"]) == (6, 6), hold
        trigger = copy.deepcopy(definitions[2])
        trigger["metadata"]["annotations"] = {WITHDRAWAL_CONFIRM_ANNOTATION: hold["token"]}
        stack.apply_management([trigger])
        equal_eventually(lambda: counts(stack, name), {A: 0, B: 0}, 6, what="withdrawn")
        # REST answers from a snapshot (rebuilt between reconciles, at most 1 s stale)
        eventually(lambda: held(api, name) is None, 5, what="no hold in REST")
        assert metric(api, "withdrawals_confirmed_total") == confirmed + 1
    finally:
        delete_definitions(stack, definitions)
