"""BRIEF section 7: stale or unknown is never "no match".

While the agent of ``cluster-stale`` is paused (SIGSTOP), restarting with a failing list, or
losing its watch with every list failing, nothing deployed for the cluster is withdrawn: no
``ripple-matches`` entry of a Service that still exists is deleted, nor the set's head (nor
does a deprecated ``ripple-reports`` snapshot drop it), no desired profile is deleted, no
NetworkPolicy goes. After recovery, the changes made meanwhile are applied.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.scenario.processes import wait_ready
from services.scenario.stack import Stack
from shared.contract import streams, subjects
from shared.contract.subjects import ClusterRef
from tests.reliability.helpers import (
    SERVICE,
    Http,
    SyncNats,
    delete_definitions,
    equal_eventually,
    eventually,
    fleet_hooks,
    fleet_name,
    kill9,
    log_text,
    match_deletes,
    paused,
    policies,
    policy_set,
    report_history,
    restart,
    service,
    stays,
)

CLUSTER = "default/cluster-stale"
REF = ClusterRef(namespace="default", name="cluster-stale")
KEYS = subjects.cluster_keys(REF)


@pytest.fixture
def hooks(stack: Stack) -> Iterator[Http]:
    client = fleet_hooks(stack)
    yield client
    client.call("DELETE", "/_fleet/faults")


def _setup(stack: Stack, name: str) -> tuple[list[dict], str]:
    label = f"{name}-svc"
    definitions = policy_set(name, "stale", label)
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    for i in range(3):
        client.apply(service(f"{name}-{i}", label))
    want = {f"{name}-{name}-{i}" for i in range(3)}
    equal_eventually(lambda: policies(client, name), want, 15, what="policies before")
    return definitions, label


class Recorded:
    """What is published for cluster-stale from now on: ``ripple-matches`` (heads and
    entries), the deprecated ``ripple-reports`` snapshots, ``ripple-desired``."""

    def __init__(self, bus: SyncNats) -> None:
        self.matches = bus.record(f"$KV.{streams.MATCHES.bucket}.{subjects.match_keys(REF)}")
        self.reports = bus.record(f"$KV.{streams.REPORTS.bucket}.{KEYS}")
        self.desired = bus.record(f"$KV.{streams.DESIRED.bucket}.{KEYS}")


def _deleted_once_known(recorded: Recorded, name: str, svc: str) -> None:
    """After recovery the entry of ``svc`` (deleted meanwhile) is deleted: positive knowledge
    (and the recording sees entry deletes)."""
    eventually(
        lambda: svc in match_deletes(recorded.matches, REF, name)[1], 10, what=f"{svc} deleted"
    )


def _never_withdrawn(recorded: Recorded, name: str, kept: set[str]) -> None:
    head, entries = match_deletes(recorded.matches, REF, name)
    assert not head, f"the matching set of {name} was deleted while the agent was stale"
    dropped = kept & entries
    assert not dropped, f"entries of {name} deleted: {sorted(dropped)} (stale read as gone)"
    for value in report_history(recorded.reports, subjects.report_key(REF, name)):
        assert value is not None, f"report of {name} was deleted while the agent was stale"
        missing = kept - value
        assert not missing, f"a report of {name} dropped {sorted(missing)} (stale read as gone)"
    deletes = [
        s
        for s, _, h in recorded.desired
        if h.get("KV-Operation") in ("DEL", "PURGE") and any(k in s for k in kept)
    ]
    assert not deletes, f"desired profiles withdrawn while stale: {deletes}"


def test_paused_agent_withdraws_nothing_then_catches_up(stack: Stack, bus: SyncNats) -> None:
    name = "st-pause"
    definitions, label = _setup(stack, name)
    client = stack.client(CLUSTER)
    before = policies(client, name)
    recorded = Recorded(bus)
    try:
        with paused(stack, stack.agent_name(CLUSTER)):
            client.delete(SERVICE, "default", f"{name}-0")
            client.apply(service(f"{name}-3", label))
            stays(lambda: policies(client, name) == before, 500, what="policies while paused")
        equal_eventually(
            lambda: policies(client, name),
            {f"{name}-{name}-{i}" for i in (1, 2, 3)},
            15,
            what="policies after SIGCONT",
        )
        _never_withdrawn(recorded, name, {f"{name}-1", f"{name}-2"})
        _deleted_once_known(recorded, name, f"{name}-0")
    finally:
        delete_definitions(stack, definitions)


def test_agent_restarting_with_failing_list_withdraws_nothing(
    stack: Stack, bus: SyncNats, hooks: Http
) -> None:
    name = "st-list"
    definitions, label = _setup(stack, name)
    client = stack.client(CLUSTER)
    before = policies(client, name)
    agent = stack.agent_name(CLUSTER)
    status, body = hooks.call(
        "POST",
        "/_fleet/faults",
        {
            "path": "^/api/v1/(namespaces/[^/]+/)?services",
            "method": "GET",
            "cluster": fleet_name(stack, CLUSTER),
            "status": 500,
            "count": None,
        },
    )
    assert status == 201, body
    recorded = Recorded(bus)
    try:
        kill9(stack, agent)
        restart(stack, agent, wait=False)
        client.delete(SERVICE, "default", f"{name}-0")
        client.apply(service(f"{name}-3", label))
        eventually(
            lambda: "list/watch failed" in log_text(stack, agent).split("agent started")[-1],
            20,
            what="the restarted agent's list fails",
        )
        stays(lambda: policies(client, name) == before, 500, what="policies while lists fail")
        _never_withdrawn(recorded, name, {f"{name}-0", f"{name}-1", f"{name}-2"})
        hooks.call("DELETE", "/_fleet/faults")
        equal_eventually(
            lambda: policies(client, name),
            {f"{name}-{name}-{i}" for i in (1, 2, 3)},
            15,
            what="policies after the list recovers",
        )
        wait_ready([stack.processes[agent]], 30)
        _never_withdrawn(recorded, name, {f"{name}-1", f"{name}-2"})
    finally:
        hooks.call("DELETE", "/_fleet/faults")
        delete_definitions(stack, definitions)


def test_broken_watch_and_failing_relist_withdraw_nothing(
    stack: Stack, bus: SyncNats, hooks: Http
) -> None:
    """The event log is compacted and the watches cut (the resume gets 410 Gone and must
    relist) while every list fails; a Service deleted meanwhile keeps its NetworkPolicy
    until the relist succeeds."""
    name = "st-watch"
    definitions, _ = _setup(stack, name)
    client = stack.client(CLUSTER)
    before = policies(client, name)
    fleet = fleet_name(stack, CLUSTER)
    recorded = Recorded(bus)
    try:
        status, body = hooks.call(
            "POST",
            "/_fleet/faults",
            {
                "path": "^/api/v1/(namespaces/[^/]+/)?services",
                "method": "GET",
                "cluster": fleet,
                "status": 503,
                "count": None,
            },
        )
        assert status == 201, body
        agent = stack.agent_name(CLUSTER)
        failures = log_text(stack, agent).count("list/watch failed")
        assert hooks.call("POST", f"/_fleet/clusters/{fleet}/compact")[0] == 200
        assert hooks.call("POST", f"/_fleet/clusters/{fleet}/cut-watches")[0] == 200
        eventually(
            lambda: log_text(stack, agent).count("list/watch failed") > failures,
            20,
            what="the agent's watch resume / relist fails",
        )
        client.delete(SERVICE, "default", f"{name}-0")
        stays(lambda: policies(client, name) == before, 500, what="policies while lists fail")
        _never_withdrawn(recorded, name, {f"{name}-0", f"{name}-1", f"{name}-2"})
        hooks.call("DELETE", "/_fleet/faults")
        equal_eventually(
            lambda: policies(client, name),
            {f"{name}-{name}-{i}" for i in (1, 2)},
            15,
            what="policies after the relist",
        )
        _never_withdrawn(recorded, name, {f"{name}-1", f"{name}-2"})
        _deleted_once_known(recorded, name, f"{name}-0")
    finally:
        hooks.call("DELETE", "/_fleet/faults")
        delete_definitions(stack, definitions)


def test_manager_restart_while_the_agent_is_dead_withdraws_nothing(
    stack: Stack, bus: SyncNats
) -> None:
    """The agent is dead (no liveness, no new changes) while the manager restarts: the
    manager rebuilds from the matching sets in NATS and withdraws nothing; changes made
    meanwhile are applied once the agent is back."""
    name = "st-dead"
    definitions, label = _setup(stack, name)
    client = stack.client(CLUSTER)
    before = policies(client, name)
    agent = stack.agent_name(CLUSTER)
    recorded = Recorded(bus)
    try:
        kill9(stack, agent)
        client.delete(SERVICE, "default", f"{name}-0")
        client.apply(service(f"{name}-3", label))
        kill9(stack, "manager")
        restart(stack, "manager")
        stays(lambda: policies(client, name) == before, 500, what="policies, agent dead")
        _never_withdrawn(recorded, name, {f"{name}-0", f"{name}-1", f"{name}-2"})
        restart(stack, agent)
        equal_eventually(
            lambda: policies(client, name),
            {f"{name}-{name}-{i}" for i in (1, 2, 3)},
            15,
            what="policies after the agent is back",
        )
    finally:
        for process in (agent, "manager"):
            if not stack.processes[process].running:
                restart(stack, process)
        delete_definitions(stack, definitions)
