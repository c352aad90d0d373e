"""BRIEF section 7: kill -9 of any service during churn; after restart the deployed state
equals the expected state -- zero lost, zero duplicate, zero orphan.

Churn: labelled Services are created and deleted in a loop in ``cluster-churn``; the service
under test is killed a third of the way through and restarted (same command line) two thirds
of the way through, while the churn goes on. Expected state: one NetworkPolicy per labelled
Service and none other, one desired profile per labelled Service, and (for the reporter) the
management EventReport listing exactly the labelled Services.

Per-change events (issue 13): the whole ``ripple.v1.events.default.sveltos--cluster-churn.<es>``
history of the churned EventSource (``<es>`` is the test's name: its EventSource selects the
Services labelled ``<es>-svc=on``), replayed from RIPPLE_EVENTS (matched/updated add the
Service, unmatched removes it), is the set of labelled Services at the end, every event
follows from the ones before, and no (Service, change, resourceVersion) is stored twice. When
the agent is the one killed, this is the test of its restart recovery: the Services deleted
(or no longer matching) while it was down appear as ``unmatched`` after its restart, and
whatever the killed instance had stored (an event without its entry, when the kill falls
between the two) is not stored again.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable

import pytest

from services.scenario.stack import Stack
from shared.api.vocabulary import ObjectKey
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.subjects import ClusterRef
from shared.kube import GVK, KubeClient
from tests.reliability.helpers import (
    EVENT_REPORT,
    SERVICE,
    SyncNats,
    delete_definitions,
    equal_eventually,
    eventually,
    expected_policies,
    kill9,
    log_text,
    policies,
    policy_set,
    replay_events,
    restart,
    service,
    services,
    stays,
)

CLUSTER = "default/cluster-churn"
REF = ClusterRef(namespace="default", name="cluster-churn")


def churn(
    client: KubeClient,
    label: str,
    prefix: str,
    count: int,
    at: dict[int, Callable[[], None]],
) -> None:
    """Create ``count`` Services, deleting one of every three right after; run ``at[i]``
    after step ``i``."""
    for i in range(count):
        client.apply(service(f"{prefix}-{i}", label))
        if i % 3 == 2:
            client.delete(SERVICE, "default", f"{prefix}-{i - 1}")
        if i in at:
            at[i]()


def desired_profiles(bus: SyncNats, trigger: str) -> int:
    items = bus.kv_items(streams.DESIRED, m.DesiredStateEvent, subjects.cluster_keys(REF))
    label = "eventtrigger.lib.projectsveltos.io/eventtriggername"
    return sum(1 for e in items.values() if e.data.labels.get(label) == trigger)


def assert_converged(stack: Stack, bus: SyncNats, name: str, label: str) -> None:
    client = stack.client(CLUSTER)
    expected = expected_policies(client, label, name)
    assert len(expected) >= 10
    equal_eventually(lambda: policies(client, name), expected, 30, what=f"{name} policies")
    stays(lambda: policies(client, name) == expected, 300, what=f"{name} policies")
    equal_eventually(
        lambda: desired_profiles(bus, name), len(expected), 10, what=f"{name} desired profiles"
    )


def assert_events_replay(stack: Stack, bus: SyncNats, name: str, label: str) -> None:
    """The per-change event guarantee of the EventSource ``name`` (Services labelled
    ``label``): its event history replays to the labelled Services, each change stored once."""
    client = stack.client(CLUSTER)
    expected = services(client, label)
    # convergence of the policies implies the entries, hence the events before them, are in
    equal_eventually(
        lambda: replay_events(bus, REF, name).names, expected, 10, what=f"{name} events replayed"
    )
    replay = replay_events(bus, REF, name)
    assert not replay.problems(), f"{name} events: {'; '.join(replay.problems())}"
    assert replay.changes, f"no per-change event of {name}"


def _kill_and_restart(
    stack: Stack,
    bus: SyncNats,
    victim: str,
    name: str,
    extra: dict[int, Callable[[], None]] | None = None,
) -> None:
    label = f"{name}-svc"
    definitions = policy_set(name, "churn", label)
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    try:
        churn(
            client,
            label,
            name,
            36,
            {
                12: lambda: kill9(stack, victim),
                24: lambda: restart(stack, victim, wait=False),
                **(extra or {}),
            },
        )
        restart_proc = stack.processes[victim]
        assert restart_proc.running
        assert_converged(stack, bus, name, label)
        assert_events_replay(stack, bus, name, label)
    finally:
        if not stack.processes[victim].running:
            restart(stack, victim)
        delete_definitions(stack, definitions)


def test_kill9_agent_during_churn(stack: Stack, bus: SyncNats) -> None:
    """Besides the churn, while the agent is down a Service it had stored is deleted,
    another stops matching (its label changes) and a third is updated: after its restart the
    stream holds ``unmatched``, ``unmatched`` and ``updated`` for them (the net difference),
    stored after the killed instance's last event."""
    name = "k-agent"
    label = f"{name}-svc"
    agent = stack.agent_name(CLUSTER)
    client = stack.client(CLUSTER)
    gone, unlabelled, updated = f"{name}-0", f"{name}-5", f"{name}-3"
    last = [0]

    def kill() -> None:
        for svc in (gone, unlabelled, updated):  # the agent stored them: they match
            key = subjects.match_key(REF, name, ObjectKey("v1", "Service", "default", svc))
            eventually(lambda key=key: bus.kv_raw(streams.MATCHES.bucket, key), 15, what=key)
        kill9(stack, agent)
        history = bus.stream_history(streams.EVENTS.name, subjects.event_subject(REF, name))
        last[0] = max(seq for seq, _, _ in history)

    def while_down() -> None:
        client.delete(SERVICE, "default", gone)
        off = service(unlabelled)
        off["metadata"]["labels"] = {label: "off"}
        client.apply(off)
        touched = service(updated, label)
        touched["metadata"]["annotations"] = {"ripple-test/touched": "yes"}
        client.apply(touched)

    _kill_and_restart(stack, bus, agent, name, {12: kill, 15: while_down})
    replay = replay_events(bus, REF, name)
    for svc in (gone, unlabelled):
        assert [c for c, _ in replay.of(svc, last[0])] == ["unmatched"], replay.of(svc)
    version = client.get(SERVICE, "default", updated)["metadata"]["resourceVersion"]
    assert replay.of(updated, last[0]) == [("updated", version)], replay.of(updated)


def test_kill9_manager_during_churn(stack: Stack, bus: SyncNats) -> None:
    _kill_and_restart(stack, bus, "manager", "k-manager")


def test_kill9_reporter_during_churn_and_withdrawal(stack: Stack, bus: SyncNats) -> None:
    """The reporter is killed during churn; while it is down an EventSource is withdrawn from
    the cluster. After restart the management EventReports converge: the churned one lists
    exactly the labelled Services, the withdrawn one is deleted (no orphan)."""
    name, gone = "k-reporter", "k-reporter-gone"
    label = f"{name}-svc"
    definitions = policy_set(name, "churn", label)
    doomed = policy_set(gone, "churn", f"{gone}-svc")
    stack.apply_management(definitions + doomed)
    mgmt, client = stack.management, stack.client(CLUSTER)
    client.apply(service(f"{gone}-0", f"{gone}-svc"))

    def report(es: str) -> dict | None:
        return mgmt.get(EVENT_REPORT, "default", f"sveltos--{es}--cluster-churn")

    def reported(es: str) -> set[str] | None:
        obj = report(es)
        if obj is None:
            return None
        return {r["name"] for r in obj["spec"].get("matchingResources") or []}

    equal_eventually(lambda: reported(gone), {f"{gone}-0"}, 15, what="EventReport before kill")

    entry = subjects.match_key(REF, gone, ObjectKey("v1", "Service", "default", f"{gone}-0"))

    def withdraw() -> None:
        delete_definitions(stack, doomed)
        # positive knowledge reached NATS: the agent deleted the set's head and its entry
        for key, what in ((subjects.match_head_key(REF, gone), "head"), (entry, "entry")):
            equal_eventually(
                lambda key=key: bus.kv_raw(streams.MATCHES.bucket, key),
                None,
                15,
                what=f"matching set {what} withdrawn",
            )

    victim = "reporter"
    try:
        churn(
            client,
            label,
            name,
            36,
            {
                12: lambda: kill9(stack, victim),
                18: withdraw,
                24: lambda: restart(stack, victim, wait=False),
            },
        )
        equal_eventually(
            lambda: reported(name), services(client, label), 30, what="churned EventReport"
        )
        equal_eventually(lambda: report(gone), None, 15, what="withdrawn EventReport (orphan)")
        assert_events_replay(stack, bus, name, label)
    finally:
        if not stack.processes[victim].running:
            restart(stack, victim)
        delete_definitions(stack, definitions)


@pytest.mark.parametrize("victim", ["agent", "manager"])
def test_trigger_deleted_while_a_service_is_down_leaves_no_orphan(
    stack: Stack, bus: SyncNats, victim: str
) -> None:
    """The trigger is deleted while the agent (or the manager) is dead: after its restart
    everything the trigger deployed is removed."""
    name = f"k-orphan-{victim}"
    label = f"{name}-svc"
    definitions = policy_set(name, "churn", label)
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    process = stack.agent_name(CLUSTER) if victim == "agent" else "manager"
    try:
        for i in range(3):
            client.apply(service(f"{name}-{i}", label))
        want = {f"{name}-{name}-{i}" for i in range(3)}
        equal_eventually(lambda: policies(client, name), want, 15, what="policies")
        equal_eventually(lambda: desired_profiles(bus, name), 3, 10, what="desired")
        keys = set(bus.kv_items(streams.DESIRED, m.DesiredStateEvent, subjects.cluster_keys(REF)))
        eventually(  # the agent recorded what it applied before it dies
            lambda: (
                keys
                <= set(
                    bus.kv_items(streams.OUTCOMES, m.ApplyOutcomeEvent, subjects.cluster_keys(REF))
                )
            ),
            10,
            what="apply outcomes recorded",
        )
        kill9(stack, process)
        delete_definitions(stack, definitions)
        if victim == "agent":  # the manager withdraws the desired state meanwhile
            equal_eventually(lambda: desired_profiles(bus, name), 0, 10, what="withdrawn")
        restart(stack, process)
        equal_eventually(lambda: policies(client, name), set(), 15, what="orphans removed")
        equal_eventually(lambda: desired_profiles(bus, name), 0, 10, what="desired removed")
    finally:
        if not stack.processes[process].running:
            restart(stack, process)
        for obj in definitions:
            meta = obj["metadata"]
            stack.management.delete(GVK.of(obj), meta.get("namespace"), meta["name"])


@pytest.mark.parametrize("victim", ["agent", "manager", "reporter"])
def test_sigterm_stops_a_service_promptly_and_it_restarts(stack: Stack, victim: str) -> None:
    """SIGTERM (a rolling update, a node drain) stops the service within 5 s; started again
    with the same command line, it becomes ready."""
    process = stack.agent_name(CLUSTER) if victim == "agent" else victim
    proc = stack.processes[process]
    assert proc.proc is not None and proc.running
    proc.terminate()
    try:
        code = proc.proc.wait(5)
    except subprocess.TimeoutExpired:
        tail = log_text(stack, process).splitlines()[-3:]
        proc.proc.kill()
        proc.proc.wait()
        raise AssertionError(f"{process} did not stop within 5 s of SIGTERM; log: {tail}") from None
    finally:
        proc.stop()
        restart(stack, process)
    assert code in (0, -signal.SIGTERM), f"{process} exited with {code}"
