"""BRIEF section 7, bad inputs on NATS: malformed, mistyped and oversized values published
straight into the KV buckets the services read (``ripple-reports``, ``ripple-desired``,
``ripple-assignments``), and a spoofed report (a value under one cluster's key whose data
claims another cluster). Every service keeps running, skips the value (logging it), keeps
what it had (no withdrawal) and keeps serving good data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from services.scenario.stack import Stack
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.limits import MAX_PAYLOAD
from shared.contract.subjects import ClusterRef
from tests.reliability.helpers import (
    EVENT_REPORT,
    SyncNats,
    delete_definitions,
    eventually,
    kill9,
    log_text,
    policies,
    policy_set,
    rest,
    restart,
    service,
    stays,
)

CLUSTER = "default/cluster-bad"
REF = ClusterRef(namespace="default", name="cluster-bad")
OTHER = ClusterRef(namespace="default", name="cluster-rest")
GOOD = "msg-good"
LABEL = "msg-good-svc"
TRIGGER_LABEL = "eventtrigger.lib.projectsveltos.io/eventtriggername"


def _bad_values() -> dict[str, bytes]:
    assignment = m.envelope(
        m.Assignment(cluster=REF, event_source_name=GOOD, event_source={}, triggers=[GOOD])
    )
    big = json.dumps({"specversion": "1.0", "junk": "x" * (MAX_PAYLOAD - 200_000)}).encode()
    return {
        "binary": b"\x00\xff\xfe not json at all",
        "json-not-envelope": b'{"hello": [1, 2, 3]}',
        "json-array": b"[]",
        "wrong-type": m.encode(assignment),
        "truncated": m.encode(assignment)[:40],
        "oversized": big,
    }


@pytest.fixture(scope="module")
def good(stack: Stack) -> Iterator[list[dict[str, Any]]]:
    definitions = policy_set(GOOD, "bad", LABEL)
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    client.apply(service("msg-0", LABEL))
    eventually(lambda: f"{GOOD}-msg-0" in policies(client, GOOD), 15, what="first policy")
    yield definitions
    delete_definitions(stack, definitions)


def skipped(stack: Stack, name: str) -> int:
    return log_text(stack, name).count("skipping invalid value")


def wait_skipped(stack: Stack, name: str, bucket: str, keys: list[str], offset: int) -> None:
    """Wait until ``name`` logged the skip of the latest value of every key (a KV bucket
    keeps one value per key, so earlier values may be superseded before they are read)."""

    def done() -> bool:
        text = log_text(stack, name)[offset:]
        return all(f"[{bucket}/{key}] skipping invalid value" in text for key in keys)

    eventually(done, 15, what=f"{name} skips the bad values of {keys}")


def all_running(stack: Stack) -> None:
    dead = [p.name for p in stack.dead_processes()]
    assert not dead, f"processes died: {dead}\n{stack.log_tails()}"


def serves_good_data(stack: Stack, svc: str) -> None:
    """A new labelled Service still gets its NetworkPolicy; the REST API answers."""
    client = stack.client(CLUSTER)
    client.apply(service(svc, LABEL))
    eventually(lambda: f"{GOOD}-{svc}" in policies(client, GOOD), 15, what=f"the policy of {svc}")
    assert rest(stack).get("/healthz")["status"] == "ok"
    all_running(stack)


def _put_all(bus: SyncNats, bucket: str, keys: list[str]) -> None:
    for key in keys:
        for value in _bad_values().values():
            bus.kv_put(bucket, key, value)


def test_payload_over_the_server_limit_is_refused(bus: SyncNats) -> None:
    key = subjects.report_key(REF, "msg-huge")
    with pytest.raises(Exception, match=r"(?i)payload|maximum|size"):
        bus.kv_put(streams.REPORTS.bucket, key, b"x" * (MAX_PAYLOAD + 1))


def test_malformed_reports_are_skipped_and_withdraw_nothing(
    stack: Stack, bus: SyncNats, good: list
) -> None:
    client = stack.client(CLUSTER)
    before = policies(client, GOOD)
    offsets = {name: len(log_text(stack, name)) for name in ("manager", "reporter")}
    keys = [subjects.report_key(REF, GOOD), subjects.report_key(REF, "msg-nobody")]
    _put_all(bus, streams.REPORTS.bucket, keys)
    for name, offset in offsets.items():
        wait_skipped(stack, name, streams.REPORTS.bucket, keys, offset)
    stays(lambda: policies(client, GOOD) == before, 300, what="policies after bad reports")
    report = stack.management.get(EVENT_REPORT, "default", f"sveltos--{GOOD}--cluster-bad")
    assert report is not None, "the EventReport was withdrawn by a malformed value"
    serves_good_data(stack, "msg-reports")


def _profile_key(bus: SyncNats, trigger: str, resource: str) -> str:
    items = bus.kv_items(streams.DESIRED, m.DesiredStateEvent, subjects.cluster_keys(REF))
    for key, event in items.items():
        names = [o.manifest["metadata"]["name"] for o in event.data.objects]
        if event.data.labels.get(TRIGGER_LABEL) == trigger and f"{trigger}-{resource}" in names:
            return key
    raise AssertionError(f"no desired profile of {trigger} for {resource}: {sorted(items)}")


def test_malformed_desired_state_is_skipped_and_prunes_nothing(
    stack: Stack, bus: SyncNats, good: list
) -> None:
    client = stack.client(CLUSTER)
    before = policies(client, GOOD)
    agent = stack.agent_name(CLUSTER)
    offset = len(log_text(stack, agent))
    keys = [_profile_key(bus, GOOD, "msg-0"), subjects.desired_key(REF, "sveltos-zz")]
    _put_all(bus, streams.DESIRED.bucket, keys)
    wait_skipped(stack, agent, streams.DESIRED.bucket, keys, offset)
    stays(lambda: policies(client, GOOD) == before, 300, what="policies after bad desired")
    serves_good_data(stack, "msg-desired")


def test_malformed_desired_state_prunes_nothing_after_agent_restart(
    stack: Stack, bus: SyncNats, good: list
) -> None:
    """Regression: an unreadable desired value was read as "no longer desired" at the
    restarted agent's sync, which pruned the profile's add-ons."""
    client = stack.client(CLUSTER)
    client.apply(service("msg-restart", LABEL))
    eventually(lambda: f"{GOOD}-msg-restart" in policies(client, GOOD), 15, what="policy")
    real = _profile_key(bus, GOOD, "msg-restart")
    bus.kv_put(streams.DESIRED.bucket, real, b"\x00 garbage")
    before = policies(client, GOOD)
    agent = stack.agent_name(CLUSTER)
    kill9(stack, agent)
    restart(stack, agent)
    stays(lambda: policies(client, GOOD) == before, 500, what="policies after agent restart")


def test_malformed_assignments_are_skipped(stack: Stack, bus: SyncNats, good: list) -> None:
    client = stack.client(CLUSTER)
    before = policies(client, GOOD)
    agent = stack.agent_name(CLUSTER)
    offset = len(log_text(stack, agent))
    keys = [subjects.assignment_key(REF, GOOD), subjects.assignment_key(REF, "msg-x")]
    _put_all(bus, streams.ASSIGNMENTS.bucket, keys)
    wait_skipped(stack, agent, streams.ASSIGNMENTS.bucket, keys, offset)
    stays(lambda: policies(client, GOOD) == before, 300, what="policies after bad assignments")
    serves_good_data(stack, "msg-assign")


def test_spoofed_report_is_rejected(stack: Stack, bus: SyncNats, good: list) -> None:
    """A report under cluster-rest's key whose data claims cluster-bad (which runs the
    trigger ``msg-spoof``) must not make the manager deploy anything in cluster-bad."""
    name = "msg-spoof"
    definitions = policy_set(name, "bad", f"{name}-svc")
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    api = rest(stack)
    try:
        eventually(
            lambda: any(
                r["eventSourceName"] == name and r["cluster"].endswith("cluster-bad")
                for r in api.get("/v1/reports")
            ),
            15,
            what="the real (empty) report of msg-spoof",
        )
        ghost = service("ghost", f"{name}-svc")
        ghost["metadata"]["uid"] = "0000"
        snapshot = m.EventReportSnapshot(
            cluster=REF,
            event_source_name=name,
            agent_instance="spoofer",
            generation=10**9,
            complete=True,
            matching_resources=[m.ObjectRef.of(ghost)],
            resources=[ghost],
        )
        manager, reporter = skipped(stack, "manager"), skipped(stack, "reporter")
        bus.kv_put(
            streams.REPORTS.bucket,
            subjects.report_key(OTHER, name),
            m.encode(m.envelope(snapshot)),
        )
        eventually(lambda: skipped(stack, "manager") > manager, 15, what="manager rejects")
        eventually(lambda: skipped(stack, "reporter") > reporter, 15, what="reporter rejects")
        assert "spoofed" in log_text(stack, "manager").rsplit("skipping invalid value", 1)[-1]
        stays(lambda: not policies(client, name), 300, what="nothing deployed for the spoof")
        for report in api.get("/v1/reports"):
            assert "ghost" not in json.dumps(report), report
        for es_cluster in ("cluster-bad", "cluster-rest"):
            obj = stack.management.get(EVENT_REPORT, "default", f"sveltos--{name}--{es_cluster}")
            assert obj is None or "ghost" not in json.dumps(obj), obj
        all_running(stack)
    finally:
        delete_definitions(stack, definitions)


def test_malformed_report_withdraws_nothing_after_manager_restart(
    stack: Stack, bus: SyncNats, good: list
) -> None:
    """The manager restarts while the only value of a report key is malformed: the report is
    unknown, not empty, so nothing deployed from it is withdrawn."""
    client = stack.client(CLUSTER)
    client.apply(service("msg-mgr", LABEL))
    eventually(lambda: f"{GOOD}-msg-mgr" in policies(client, GOOD), 15, what="policy")
    before = policies(client, GOOD)
    desired_before = set(
        bus.kv_items(streams.DESIRED, m.DesiredStateEvent, subjects.cluster_keys(REF))
    )
    bus.kv_put(streams.REPORTS.bucket, subjects.report_key(REF, GOOD), b"\x00 garbage")
    kill9(stack, "manager")
    restart(stack, "manager")
    stays(lambda: policies(client, GOOD) == before, 500, what="policies after manager restart")
    desired_after = set(
        bus.kv_items(streams.DESIRED, m.DesiredStateEvent, subjects.cluster_keys(REF))
    )
    assert desired_before <= desired_after, sorted(desired_before - desired_after)
    client.apply(service("msg-mgr-after", LABEL))  # the agent republishes a good report
    eventually(lambda: f"{GOOD}-msg-mgr-after" in policies(client, GOOD), 15, what="recovery")
