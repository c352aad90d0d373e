"""Issue 16, item 4 (and item 6's desired-state origin): poison keys and values in every
bucket, against the running stack (cluster ``cluster-bad``, written as NATS ``admin``).

- Keys outside the contract's shape (a fourth token, a token that is not canonical, a key of
  another bucket's shape), put then deleted, and delete markers of keys never valid, in all
  eight buckets: every reader -- agent (assignments, desired state, its matches and outcomes
  read back at start), manager (matches, outcomes, agents, its own buckets), reporter
  (matches, profiles, status, outcomes) -- skips them, logs the key, counts them per bucket,
  and keeps running, also across restarts that read the delete markers again (the issue's
  crash loops). The manager deletes such a key from its own buckets.
- Garbage under real keys: positive knowledge of nothing. In the manager's buckets it is
  written back within a second (level-triggered on its outputs): an assignment (it used to
  disable its EventSource until the manager restarted), a desired state, a desired state
  from another writer (refused by the agent: nothing applied, nothing removed), a deletion.
  An agent restarted while its assignment is unreadable withdraws nothing.

The good trigger of the cluster keeps working throughout; its latency (Service created ->
NetworkPolicy applied) is measured before and while the poison is present, and printed.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from services.scenario.processes import free_port
from services.scenario.stack import Stack
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.subjects import ClusterRef
from tests.reliability.helpers import (
    SyncNats,
    delete_definitions,
    eventually,
    kill9,
    log_text,
    manager_metric,
    paused,
    policies,
    policy_set,
    rest,
    restart,
    service,
    stays,
)

CLUSTER = "default/cluster-bad"
REF = ClusterRef(namespace="default", name="cluster-bad")
GOOD = "poison-good"
LABEL = "poison-good-svc"
TRIGGER_LABEL = "eventtrigger.lib.projectsveltos.io/eventtriggername"
GARBAGE = b"\x00 poison"
LATENCY_BOUND = 10.0  # seconds: a generous bound on a loaded 2-core machine
BUCKETS = (
    streams.ASSIGNMENTS,
    streams.REPORTS,
    streams.MATCHES,
    streams.DESIRED,
    streams.OUTCOMES,
    streams.AGENTS,
    streams.PROFILES,
    streams.STATUS,
)
READERS = {  # who reads which bucket (what must skip and count the poison)
    "manager": ("ripple-matches", "ripple-outcomes", "ripple-agents", "ripple-assignments",
                "ripple-desired", "ripple-profiles", "ripple-status"),
    "reporter": ("ripple-matches", "ripple-profiles", "ripple-status", "ripple-outcomes"),
    "agent": ("ripple-assignments", "ripple-desired"),
}  # fmt: skip
latencies: dict[str, float] = {}


def poison_keys(spec: streams.BucketSpec) -> dict[str, str]:
    """Keys outside ``spec``'s shape, in cluster-bad's part of the bucket where it has one."""
    prefix = REF.token
    if spec is streams.AGENTS:
        return {
            "a token more": f"{prefix}.poison",
            "not canonical": "default.sveltos--cluster-B",
            "a status key": "eventtrigger.poison",
        }
    if spec is streams.STATUS:
        return {
            "a token more": "eventtrigger.poison.x",
            "not canonical": "eventtrigger.Poison",
            "a desired key": f"{prefix}.poison",
        }
    shapes = {
        "a token more": f"{prefix}.poison-x.y",
        "not canonical": f"{prefix}.poison_61",  # an escape of a verbatim character
        "a status key": "eventtrigger.poison",
    }
    if spec is streams.MATCHES:
        shapes["a token more"] = f"{prefix}.poison-x.v1.Service.default.web.y"
    return shapes


def never_valid(spec: streams.BucketSpec) -> str:
    return f"{poison_keys(spec)['a token more']}.never"


# -- the good trigger ----------------------------------------------------------------------------
def latency(stack: Stack, svc: str) -> float:
    """Seconds from a labelled Service created to its NetworkPolicy applied."""
    client = stack.client(CLUSTER)
    started = time.monotonic()
    client.apply(service(svc, LABEL))
    eventually(lambda: f"{GOOD}-{svc}" in policies(client, GOOD), 15, what=f"policy of {svc}")
    took = time.monotonic() - started
    latencies[svc] = took
    return took


@pytest.fixture(scope="module")
def good(stack: Stack) -> Iterator[float]:
    """The good trigger of cluster-bad, and its latency before any poison."""
    definitions = policy_set(GOOD, "bad", LABEL)
    stack.apply_management(definitions)
    latency(stack, "pz-first")  # the first one also waits for the assignment
    yield min(latency(stack, f"pz-base-{n}") for n in range(3))
    print(f"\ngood trigger latency (s): {json.dumps(latencies, indent=1)}")
    delete_definitions(stack, definitions)


def keeps_working(stack: Stack, svc: str, baseline: float) -> None:
    took = latency(stack, svc)
    assert took < max(LATENCY_BOUND, 10 * baseline), f"{svc}: {took:.2f} s (baseline {baseline})"
    alive(stack)


def alive(stack: Stack) -> None:
    dead = [p.name for p in stack.dead_processes()]
    assert not dead, f"processes died: {dead}\n{stack.log_tails(CLUSTER)}"


# -- what the services show ------------------------------------------------------------------
def logged(stack: Stack, name: str, offset: int, *needles: str) -> Callable[[], bool]:
    def probe() -> bool:
        text = log_text(stack, name)[offset:]
        return all(n in text for n in needles)

    return probe


def offsets(stack: Stack) -> dict[str, int]:
    agent = stack.agent_name(CLUSTER)
    return {
        "manager": len(log_text(stack, "manager")),
        "reporter": len(log_text(stack, "reporter")),
        "agent": len(log_text(stack, agent)),
    }


def service_log(stack: Stack, name: str) -> str:
    return stack.agent_name(CLUSTER) if name == "agent" else name


def agent_metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    for line in text.splitlines():
        if line.split(" ", 1)[0] == name:
            return float(line.split()[1])
    raise AssertionError(f"no metric {name} in the agent's /metrics")


def agent_status(bus: SyncNats) -> m.AgentStatus:
    items = bus.kv_items(streams.AGENTS, m.AgentStatusEvent, subjects.agent_key(REF))
    return items[subjects.agent_key(REF)].data  # type: ignore[no-any-return]


def desired_of(bus: SyncNats, svc: str) -> str:
    """The ripple-desired key of the good trigger's profile for ``svc``."""
    items = bus.kv_items(streams.DESIRED, m.DesiredStateEvent, subjects.cluster_keys(REF))
    for key, event in items.items():
        names = [o.manifest["metadata"]["name"] for o in event.data.objects]
        if event.data.labels.get(TRIGGER_LABEL) == GOOD and f"{GOOD}-{svc}" in names:
            return key
    raise AssertionError(f"no desired state of {GOOD} for {svc}: {sorted(items)}")


def holds_managers_value(bus: SyncNats, spec: streams.BucketSpec, key: str, cls: Any) -> bool:
    raw = bus.kv_raw(spec.bucket, key)
    if raw is None:
        return False
    try:
        event = m.decode(raw, cls)
    except m.InvalidMessage:
        return False
    return event.source == m.MANAGER_SOURCE and m.message_key(event) == key


def repaired_within(probe: Callable[[], bool], what: str) -> float:
    started = time.monotonic()
    eventually(probe, 5, what=what)
    took = time.monotonic() - started
    assert took < 1.5, f"{what} took {took:.2f} s"
    return took


# -- the tests -----------------------------------------------------------------------------------
def test_keys_outside_the_contract_are_skipped_counted_and_survive_restarts(
    stack: Stack, bus: SyncNats, good: float
) -> None:
    """Every poison key shape in every bucket, put then deleted, and a delete marker of a
    key never valid: nothing crashes (the 4-token key in ripple-outcomes crash-looped the
    manager; in ripple-desired and ripple-assignments, the agent), every reader logs each
    key and counts it in its bucket's metric; the manager deletes one left in its bucket;
    agent and manager restart with the delete markers still there and come back ready."""
    before = offsets(stack)
    counted = {b: manager_metric(stack, f"ripple_manager_{_metric(b, 'keys')}") for b in READERS["manager"]}  # fmt: skip
    for spec in BUCKETS:
        for key in poison_keys(spec).values():
            bus.kv_put(spec.bucket, key, m.encode(m.envelope(_assignment())))
            bus.kv_delete(spec.bucket, key)
        bus.kv_delete(spec.bucket, never_valid(spec))
    left = poison_keys(streams.DESIRED)["a token more"]
    bus.kv_put(streams.DESIRED.bucket, left, GARBAGE)  # left in the manager's bucket
    for name, buckets in READERS.items():
        for bucket in buckets:
            spec = next(s for s in BUCKETS if s.bucket == bucket)
            wanted = [f"[{bucket}/{k}] skipping" for k in poison_keys(spec).values()]
            if name == "agent":  # it watches its own cluster's keys only
                wanted = [w for w in wanted if REF.token in w]
            probe = logged(stack, service_log(stack, name), before[name], *wanted)
            eventually(probe, 15, what=f"{name} skips the poison keys of {bucket}")
    for bucket in READERS["manager"]:
        metric = f"ripple_manager_{_metric(bucket, 'keys')}"
        assert manager_metric(stack, metric) > counted[bucket], metric
    repaired_within(lambda: bus.kv_raw(streams.DESIRED.bucket, left) is None, "poison key deleted")
    keeps_working(stack, "pz-keys", good)

    agent = stack.agent_name(CLUSTER)
    port = free_port()
    kill9(stack, agent)
    restart(stack, agent, extra=("--metrics-port", str(port)))
    kill9(stack, "manager")
    restart(stack, "manager")
    alive(stack)
    for bucket in READERS["agent"]:
        assert agent_metric(port, f"ripple_agent_{_metric(bucket, 'keys')}") > 0, bucket
    keeps_working(stack, "pz-keys-restarted", good)


def _metric(bucket: str, what: str) -> str:
    return f"kv_{bucket.removeprefix('ripple-')}_invalid_{what}_total"


def _assignment() -> m.Assignment:
    return m.Assignment(cluster=REF, event_source_name=GOOD, event_source={}, triggers=[GOOD])


def test_garbage_under_a_real_assignment_key_is_written_back_within_a_second(
    stack: Stack, bus: SyncNats, good: float
) -> None:
    """It used to disable the EventSource silently until the manager restarted."""
    key = subjects.assignment_key(REF, GOOD)
    assert holds_managers_value(bus, streams.ASSIGNMENTS, key, m.AssignmentEvent)
    offset = offsets(stack)
    bus.kv_put(streams.ASSIGNMENTS.bucket, key, GARBAGE)
    took = repaired_within(
        lambda: holds_managers_value(bus, streams.ASSIGNMENTS, key, m.AssignmentEvent),
        "assignment written back",
    )
    print(f"\nassignment garbage written back in {took:.3f} s")
    eventually(logged(stack, "manager", offset["manager"], f"[ripple-assignments/{key}]"), 5)
    keeps_working(stack, "pz-assign", good)


def test_garbage_and_foreign_desired_states_are_refused_and_written_back(
    stack: Stack, bus: SyncNats, good: float
) -> None:
    """Garbage under a real desired key, the same desired state from another writer (the
    agent refuses it: it is not the manager's), the deletion of that key, and a forged
    desired state of a profile nobody wants: each is written back (or deleted) within a
    second; nothing of the forgeries is applied, nothing deployed is removed for good."""
    client = stack.client(CLUSTER)
    key = desired_of(bus, "pz-base-0")
    raw = bus.kv_raw(streams.DESIRED.bucket, key)
    assert raw is not None
    genuine = m.decode(raw, m.DesiredStateEvent)
    before = policies(client, GOOD)
    agent = stack.agent_name(CLUSTER)
    offset = offsets(stack)

    def written_back() -> bool:
        return holds_managers_value(bus, streams.DESIRED, key, m.DesiredStateEvent)

    bus.kv_put(streams.DESIRED.bucket, key, GARBAGE)
    repaired_within(written_back, "desired garbage written back")
    forged = genuine.model_copy(update={"source": REF.source})
    bus.kv_put(streams.DESIRED.bucket, key, m.encode(forged))
    repaired_within(written_back, "desired state from another writer written back")
    eventually(logged(stack, agent, offset["agent"], "not by 'ripple://manager' (refused)"), 5)
    bus.kv_delete(streams.DESIRED.bucket, key)
    repaired_within(written_back, "deleted desired state put back")

    original = genuine.data.objects[0]
    manifest = json.loads(json.dumps(original.manifest))
    manifest["metadata"]["name"] = "poison-forged"
    objects = [original.model_copy(update={"manifest": manifest})]
    stranger = genuine.data.model_copy(
        update={"profile_name": "poison-stranger", "objects": objects}
    )
    skey = subjects.desired_key(REF, "poison-stranger")
    envelope = m.envelope(stranger).model_copy(update={"source": REF.source})
    bus.kv_put(streams.DESIRED.bucket, skey, m.encode(envelope))
    repaired_within(lambda: bus.kv_raw(streams.DESIRED.bucket, skey) is None, "stranger deleted")
    stays(lambda: "poison-forged" not in policies(client, GOOD), 500, what="nothing forged")
    eventually(lambda: before <= policies(client, GOOD), 15, what="the deployed policies")
    keeps_working(stack, "pz-desired", good)


def test_an_agent_restarted_while_its_assignment_is_unreadable_withdraws_nothing(
    stack: Stack, bus: SyncNats, good: float
) -> None:
    """With the manager stopped (nothing writes the assignment back), the agent restarts
    with garbage under its real assignment key: the EventSource is unknown, not unassigned --
    its matching set stays, the deployed policies stay, its status says why. Once the
    manager runs again, the assignment is written back and the trigger works."""
    client = stack.client(CLUSTER)
    agent = stack.agent_name(CLUSTER)
    akey = subjects.assignment_key(REF, GOOD)
    head = subjects.match_head_key(REF, GOOD)
    before = policies(client, GOOD)
    with paused(stack, "manager"):
        bus.kv_put(streams.ASSIGNMENTS.bucket, akey, GARBAGE)
        kill9(stack, agent)
        restart(stack, agent)

        def says_why() -> bool:
            return any(
                e.startswith(f"EventSource {GOOD}: assignment unreadable")
                for e in agent_status(bus).errors
            )

        eventually(says_why, 15, what="the agent's status names the unreadable assignment")
        stays(lambda: bus.kv_raw(streams.MATCHES.bucket, head) is not None, 500, what="head kept")
        assert policies(client, GOOD) == before
    repaired_within(
        lambda: holds_managers_value(bus, streams.ASSIGNMENTS, akey, m.AssignmentEvent),
        "assignment written back once the manager runs",
    )
    keeps_working(stack, "pz-restart", good)


def test_the_agent_status_shows_an_unreadable_desired_state(
    stack: Stack, bus: SyncNats, good: float
) -> None:
    key = desired_of(bus, "pz-base-1")
    profile = subjects.parse_desired_key(key).name
    with paused(stack, "manager"):  # nothing writes it back meanwhile
        bus.kv_put(streams.DESIRED.bucket, key, GARBAGE)
        eventually(
            lambda: any(
                e.startswith(f"profile {profile}: desired state unreadable")
                for e in agent_status(bus).errors
            ),
            3,
            what="the agent's status names the unreadable desired state",
        )
    eventually(lambda: holds_managers_value(bus, streams.DESIRED, key, m.DesiredStateEvent), 5)


def test_rest_lists_poison_the_manager_reads(stack: Stack, bus: SyncNats, good: float) -> None:
    key = subjects.outcome_key(REF, "poison-unreadable")
    bus.kv_put(streams.OUTCOMES.bucket, key, GARBAGE)
    try:
        eventually(
            lambda: any(
                e["object"] == f"ripple-outcomes/{key}" for e in rest(stack).get("/v1/errors")
            ),
            3,
            what="/v1/errors lists the unreadable outcome",
        )
    finally:
        bus.kv_delete(streams.OUTCOMES.bucket, key)
