"""BRIEF section 7 / issue 12: discovery that fails or answers partially is unknown, never
"not served".

An agent (of ``cluster-discovery``) or the manager restarts (kill -9) while the fleet answers
503 or 404 to a discovery document its kinds need. Nothing is withdrawn: no
``ripple-matches`` entry of an object that still exists is deleted (nor does a deprecated
``ripple-reports`` snapshot drop it), no matching-set head, assignment or desired state is
deleted, no NetworkPolicy goes; the error (cluster, URL, status) shows in the agent's status and the
EventSource's definition status, or in the manager's log while it stays not ready. Once the
fault is cleared, the changes made meanwhile are applied.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services.scenario.model import MANAGEMENT
from services.scenario.processes import wait_ready
from services.scenario.stack import Stack
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.subjects import ClusterRef
from shared.kube import GVK
from tests.reliability.helpers import (
    Http,
    SyncNats,
    config_map,
    delete_definitions,
    equal_eventually,
    event_trigger,
    eventually,
    fleet_hooks,
    fleet_name,
    kill9,
    log_text,
    match_deletes,
    policies,
    policy_template,
    report_history,
    rest,
    restart,
    stays,
)

LANE = "discovery"
CLUSTER = f"default/cluster-{LANE}"
REF = ClusterRef(namespace="default", name=f"cluster-{LANE}")
KEYS = subjects.cluster_keys(REF)
DEPLOYMENT = GVK("apps/v1", "Deployment")
SVELTOS_GV = "/apis/lib.projectsveltos.io/v1beta1"


@pytest.fixture
def hooks(stack: Stack) -> Iterator[Http]:
    client = fleet_hooks(stack)
    yield client
    client.call("DELETE", "/_fleet/faults")


def _event_source(name: str, label: str) -> dict[str, Any]:
    """Deployments (group ``apps``: its discovery can fail alone) labelled ``<label>=on``."""
    selector = {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
        "labelFilters": [{"key": label, "operation": "Equal", "value": "on"}],
    }
    return {
        "apiVersion": "lib.projectsveltos.io/v1beta1",
        "kind": "EventSource",
        "metadata": {"name": name},
        "spec": {"collectResources": True, "resourceSelectors": [selector]},
    }


def _deployment(name: str, label: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {label: "on", "app": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "nginx:1"}]},
            },
        },
    }


def _setup(stack: Stack, name: str) -> tuple[list[dict[str, Any]], str]:
    label = f"{name}-app"
    definitions = [
        _event_source(name, label),
        config_map(name, policy_template(name, name)),
        event_trigger(name, name, LANE, name),
    ]
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    for i in range(3):
        client.apply(_deployment(f"{name}-{i}", label))
    want = {f"{name}-{name}-{i}" for i in range(3)}
    equal_eventually(lambda: policies(client, name), want, 20, what="policies before")
    return definitions, label


def _desired_keys(bus: SyncNats) -> set[str]:
    return set(bus.kv_items(streams.DESIRED, m.DesiredStateEvent, KEYS))


def _fault(hooks: Http, path: str, status: int, cluster: str) -> None:
    code, body = hooks.call(
        "POST",
        "/_fleet/faults",
        {"path": path, "method": "GET", "cluster": cluster, "status": status, "count": None},
    )
    assert code == 201, body


def _record(bus: SyncNats) -> dict[str, list[tuple[str, bytes, dict[str, str]]]]:
    return {
        "matches": bus.record(f"$KV.{streams.MATCHES.bucket}.{KEYS}"),
        "reports": bus.record(f"$KV.{streams.REPORTS.bucket}.{KEYS}"),
        "assignments": bus.record(f"$KV.{streams.ASSIGNMENTS.bucket}.{KEYS}"),
        "desired": bus.record(f"$KV.{streams.DESIRED.bucket}.{KEYS}"),
        "status": bus.record(f"$KV.{streams.STATUS.bucket}.>"),
    }


def _never_withdrawn(
    recorded: dict[str, list[tuple[str, bytes, dict[str, str]]]],
    name: str,
    kept: set[str],
    gone: int = 0,
) -> None:
    """No entry of a Deployment of ``kept`` was deleted (nor dropped from a deprecated
    snapshot); no matching-set head, report, assignment or definition status was deleted; at
    most ``gone`` desired states were (those of Deployments deleted)."""
    head, entries = match_deletes(recorded["matches"], REF, name)
    assert not head, f"the matching set of {name} was deleted while discovery failed"
    dropped = kept & entries
    assert not dropped, f"entries of {name} deleted: {sorted(dropped)} (unknown read as gone)"
    for value in report_history(recorded["reports"], subjects.report_key(REF, name)):
        assert value is not None, f"report of {name} deleted while discovery failed"
        missing = kept - value
        assert not missing, f"a report of {name} dropped {sorted(missing)} (unknown read as gone)"
    for what in ("assignments", "desired", "status"):
        deletes = [s for s, _, h in recorded[what] if h.get("KV-Operation") in ("DEL", "PURGE")]
        allowed = gone if what == "desired" else 0
        assert len(deletes) <= allowed, f"{what} withdrawn while discovery failed: {deletes}"


def _agent_errors(bus: SyncNats) -> list[str]:
    items = bus.kv_items(streams.AGENTS, m.AgentStatusEvent, subjects.agent_key(REF))
    return [e for event in items.values() for e in event.data.errors]


def _source_failure(bus: SyncNats, name: str) -> str:
    key = subjects.status_key("EventSource", name)
    items = bus.kv_items(streams.STATUS, m.DefinitionStatusEvent, key)
    return "; ".join(event.data.failure_message for event in items.values())


def _agent_case(
    stack: Stack, bus: SyncNats, hooks: Http, path: str, status: int, *, delete: bool
) -> None:
    """Kill -9 the agent, restart it while ``GET <path>`` answers ``status``, change the
    Deployments meanwhile (one added, one deleted when ``delete``), clear the fault."""
    name = f"dsc-agent-{status}-{path.count('/')}{'-d' if delete else ''}"
    definitions, label = _setup(stack, name)
    client = stack.client(CLUSTER)
    before = policies(client, name)
    desired_before = _desired_keys(bus)
    agent = stack.agent_name(CLUSTER)
    fleet = fleet_name(stack, CLUSTER)
    recorded = _record(bus)
    try:
        _fault(hooks, f"^{path}$", status, fleet)
        kill9(stack, agent)
        restart(stack, agent, wait=False)
        if delete:
            client.delete(DEPLOYMENT, "default", f"{name}-0")
        client.apply(_deployment(f"{name}-3", label))
        expected = (f"/clusters/{fleet}{path}: answered {status}", "cluster-discovery")

        def shows(text: str) -> bool:
            return all(part in text for part in expected) and "is not served" not in text

        eventually(
            lambda: any(
                shows(e) and e.startswith(f"EventSource {name}:") for e in _agent_errors(bus)
            ),
            30,
            what="the discovery error in the agent's status",
        )
        eventually(
            lambda: shows(_source_failure(bus, name)),
            20,
            what="the discovery error in the EventSource's definition status",
        )
        stays(lambda: policies(client, name) == before, 1000, what="policies while discovery fails")
        assert _desired_keys(bus) >= desired_before
        _never_withdrawn(recorded, name, {f"{name}-{i}" for i in range(3)})
        hooks.call("DELETE", "/_fleet/faults")
        wait_ready([stack.processes[agent]], 60)
        eventually(lambda: not _source_failure(bus, name), 20, what="the failure cleared")
        kept = (1, 2, 3) if delete else (0, 1, 2, 3)
        equal_eventually(
            lambda: policies(client, name),
            {f"{name}-{name}-{i}" for i in kept},
            30,
            what="policies after discovery recovers",
        )
        _never_withdrawn(recorded, name, {f"{name}-{i}" for i in kept if i < 3}, int(delete))
    finally:
        hooks.call("DELETE", "/_fleet/faults")
        if not stack.processes[agent].running:
            restart(stack, agent)
        delete_definitions(stack, definitions)


@pytest.mark.parametrize(
    ("path", "status", "delete"),
    [("/apis", 503, False), ("/apis/apps/v1", 503, True), ("/apis/apps/v1", 404, True)],
    ids=["apis-503", "group-version-503", "group-version-404"],
)
def test_restarting_agent_with_failing_discovery_withdraws_nothing(
    stack: Stack, bus: SyncNats, hooks: Http, path: str, status: int, delete: bool
) -> None:
    _agent_case(stack, bus, hooks, path, status, delete=delete)


def test_restarting_agent_with_failing_group_list_then_a_deletion_converges(
    stack: Stack, bus: SyncNats, hooks: Http
) -> None:
    _agent_case(stack, bus, hooks, "/apis", 503, delete=True)


def _manager_ready(stack: Stack) -> bool | None:
    """The manager's ``/healthz`` ready flag (None while its REST API does not answer)."""
    try:
        status, body = rest(stack).call("GET", "/healthz")
    except OSError:
        return None
    return bool(body["ready"]) if status == 200 else None


@pytest.mark.parametrize(
    ("path", "status"),
    [(SVELTOS_GV, 503), (SVELTOS_GV, 404), ("/apis", 503)],
    ids=["group-version-503", "group-version-404", "apis-503"],
)
def test_restarting_manager_with_failing_discovery_withdraws_nothing(
    stack: Stack, bus: SyncNats, hooks: Http, path: str, status: int
) -> None:
    name = f"dsc-mgr-{status}-{path.count('/')}"
    definitions, label = _setup(stack, name)
    client = stack.client(CLUSTER)
    before = policies(client, name)
    desired_before = _desired_keys(bus)
    recorded = _record(bus)
    try:
        _fault(hooks, f"^{path}$", status, MANAGEMENT)
        kill9(stack, "manager")
        restart(stack, "manager", wait=False)
        client.delete(DEPLOYMENT, "default", f"{name}-0")
        client.apply(_deployment(f"{name}-3", label))

        def logged() -> bool:
            text = log_text(stack, "manager").split("manager started")[-1]
            return any(
                f"{path}: answered {status}" in line and "is not served" not in line
                for line in text.splitlines()
                if "list/watch failed" in line and "management" in line
            )

        eventually(logged, 30, what="the discovery error in the manager's log")
        eventually(lambda: _manager_ready(stack) is False, 30, what="the manager answers")
        stays(lambda: policies(client, name) == before, 1000, what="policies while discovery fails")
        assert _manager_ready(stack) is False
        assert _desired_keys(bus) >= desired_before
        # the agent is alive: it deletes the deleted Deployment's entry (positive
        # knowledge), but the manager, which cannot read its definitions, withdraws nothing
        _never_withdrawn(recorded, name, {f"{name}-{i}" for i in (1, 2)})
        hooks.call("DELETE", "/_fleet/faults")
        wait_ready([stack.processes["manager"]], 60)
        equal_eventually(
            lambda: policies(client, name),
            {f"{name}-{name}-{i}" for i in (1, 2, 3)},
            30,
            what="policies after discovery recovers",
        )
        _never_withdrawn(recorded, name, {f"{name}-{i}" for i in (1, 2)}, 1)
    finally:
        hooks.call("DELETE", "/_fleet/faults")
        if not stack.processes["manager"].running:
            restart(stack, "manager")
        delete_definitions(stack, definitions)
