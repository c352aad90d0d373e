"""BRIEF section 7, bad inputs on NATS: malformed, mistyped and oversized values published
straight into the KV buckets the services read (``ripple-matches`` -- a matching set's head
and its entries --, ``ripple-desired``, ``ripple-assignments``), and a spoofed match (an entry
under one cluster's key whose data claims another cluster: the key is the identity). Every
service keeps running, skips the value (logging it, counting it), keeps what it had (no
withdrawal) and keeps serving good data.

``ripple-reports`` (deprecated EventReport snapshots, issue 13) is read by no service of
Ripple: garbage or a forged snapshot there changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from services.scenario.stack import Stack
from shared.api.vocabulary import ObjectKey
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
OTHER = ClusterRef(namespace="default", name="cluster-rest")
GOOD = "msg-good"
LABEL = "msg-good-svc"
TRIGGER_LABEL = "eventtrigger.lib.projectsveltos.io/eventtriggername"
INVALID = "ripple_manager_invalid_messages_total"
GARBAGE = b"\x00 garbage"


def svc_key(name: str) -> ObjectKey:
    return ObjectKey("v1", "Service", "default", name)


def head_key(es: str = GOOD, cluster: ClusterRef = REF) -> str:
    return subjects.match_head_key(cluster, es)


def entry_key(svc: str, es: str = GOOD, cluster: ClusterRef = REF) -> str:
    return subjects.match_key(cluster, es, svc_key(svc))


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
    for key in (head_key("msg-huge"), entry_key("huge", "msg-huge")):
        with pytest.raises(Exception, match=r"(?i)payload|maximum|size"):
            bus.kv_put(streams.MATCHES.bucket, key, b"x" * (MAX_PAYLOAD + 1))
        assert bus.kv_raw(streams.MATCHES.bucket, key) is None


def _matched(stack: Stack, svc: str) -> bool:
    """The manager's matching set of msg-good lists ``svc``."""
    body = rest(stack).get(f"/v1/reports/default/cluster-bad/{GOOD}")
    return any(r["name"] == svc for r in body["matchingResources"])


def _reported(stack: Stack) -> set[str] | None:
    """The names in the management EventReport of msg-good (None: there is none)."""
    obj = stack.management.get(EVENT_REPORT, "default", f"sveltos--{GOOD}--cluster-bad")
    if obj is None:
        return None
    return {r["name"] for r in obj["spec"].get("matchingResources") or []}


def test_malformed_matches_are_skipped_and_withdraw_nothing(
    stack: Stack, bus: SyncNats, good: list
) -> None:
    """Malformed values under the set's real head key, a real entry key (msg-0, matching)
    and the entry key of an object nobody reported: the manager and the reporter skip them
    (logged, counted), msg-0 stays matched and deployed, the EventReport keeps it."""
    client = stack.client(CLUSTER)
    before = policies(client, GOOD)
    eventually(lambda: _matched(stack, "msg-0"), 15, what="msg-0 in the manager's set")
    eventually(lambda: "msg-0" in (_reported(stack) or set()), 15, what="msg-0 reported")
    offsets = {name: len(log_text(stack, name)) for name in ("manager", "reporter")}
    invalid = manager_metric(stack, INVALID)
    keys = [head_key(), entry_key("msg-0"), entry_key("msg-nobody")]
    saved = {key: bus.kv_raw(streams.MATCHES.bucket, key) for key in keys}
    assert saved[keys[0]] is not None and saved[keys[1]] is not None, saved
    try:
        _put_all(bus, streams.MATCHES.bucket, keys)
        for name, offset in offsets.items():
            wait_skipped(stack, name, streams.MATCHES.bucket, keys, offset)
        assert manager_metric(stack, INVALID) >= invalid + len(keys), "manager's metric"
        stays(lambda: policies(client, GOOD) == before, 300, what="policies after bad matches")
        assert _matched(stack, "msg-0"), "the manager dropped msg-0 on a malformed entry"
        assert not _matched(stack, "msg-nobody")
        assert "msg-0" in (_reported(stack) or set()), "the EventReport dropped msg-0"
        serves_good_data(stack, "msg-matches")
    finally:
        _restore(bus, saved, list(_bad_values().values())[-1])


def _restore(bus: SyncNats, saved: dict[str, bytes | None], bad: bytes) -> None:
    """Put back the values saved where ``bad`` is still stored: the agent rewrites an entry
    only when its object changes, and a head only when what it says changes."""
    for key, value in saved.items():
        if bus.kv_raw(streams.MATCHES.bucket, key) != bad:
            continue
        if value is None:
            bus.kv_delete(streams.MATCHES.bucket, key)
        else:
            bus.kv_put(streams.MATCHES.bucket, key, value)


def test_ripple_reports_is_ignored_garbage_and_forged_snapshots_change_nothing(
    stack: Stack, bus: SyncNats, good: list
) -> None:
    """No service of Ripple reads the deprecated ``ripple-reports``: malformed values and a
    well-formed snapshot under msg-good's own key, claiming a Service ``ghost`` and dropping
    msg-0, are not even looked at (nothing logged) and change nothing."""
    client = stack.client(CLUSTER)
    before = policies(client, GOOD)
    eventually(lambda: "msg-0" in (_reported(stack) or set()), 15, what="msg-0 reported")
    offsets = {name: len(log_text(stack, name)) for name in ("manager", "reporter")}
    key = subjects.report_key(REF, GOOD)
    _put_all(bus, streams.REPORTS.bucket, [key, subjects.report_key(REF, "msg-nobody")])
    ghost = service("ghost", LABEL)
    ghost["metadata"]["uid"] = "0000"
    forged = m.EventReportSnapshot(
        cluster=REF,
        event_source_name=GOOD,
        agent_instance="forger",
        generation=10**9,
        complete=True,
        matching_resources=[m.ObjectRef.of(ghost)],
        resources=[ghost],
    )
    bus.kv_put(streams.REPORTS.bucket, key, m.encode(m.envelope(forged)))
    stays(lambda: policies(client, GOOD) == before, 1000, what="policies after forged reports")
    now = _reported(stack) or set()
    assert "msg-0" in now and "ghost" not in now, now
    assert _matched(stack, "msg-0") and not _matched(stack, "ghost")
    for name, offset in offsets.items():
        text = log_text(stack, name)[offset:]
        assert f"[{streams.REPORTS.bucket}/" not in text, f"{name} reads ripple-reports"
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
    with paused(stack, "manager"):  # it writes its own buckets back at once otherwise
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
    with paused(stack, "manager"):  # it writes its own buckets back at once otherwise
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
    with paused(stack, "manager"):  # it writes its own buckets back at once otherwise
        _put_all(bus, streams.ASSIGNMENTS.bucket, keys)
        wait_skipped(stack, agent, streams.ASSIGNMENTS.bucket, keys, offset)
    stays(lambda: policies(client, GOOD) == before, 300, what="policies after bad assignments")
    serves_good_data(stack, "msg-assign")


def test_spoofed_match_is_rejected(stack: Stack, bus: SyncNats, good: list) -> None:
    """An entry under cluster-rest's key whose data claims cluster-bad (whose agent runs the
    trigger ``msg-spoof`` and published its complete, empty set) must not make the manager
    deploy anything in cluster-bad: the key is the identity, the value is rejected."""
    name = "msg-spoof"
    definitions = policy_set(name, "bad", f"{name}-svc")
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    api = rest(stack)
    spoof = entry_key("ghost", name, OTHER)
    try:
        eventually(
            lambda: any(
                r["eventSourceName"] == name
                and r["cluster"].endswith("cluster-bad")
                and r["complete"]
                for r in api.get("/v1/reports")
            ),
            15,
            what="the real (empty, complete) matching set of msg-spoof",
        )
        ghost = service("ghost", f"{name}-svc")
        ghost["metadata"]["uid"] = "0000"
        ghost["metadata"]["resourceVersion"] = "1"
        match = m.Match(
            cluster=REF,
            event_source_name=name,
            ref=m.ObjectRef.of(ghost),
            uid="0000",
            resource_version="1",
            object=ghost,
            agent_instance="spoofer",
        )
        assert subjects.match_key(REF, name, svc_key("ghost")) != spoof
        manager, reporter = skipped(stack, "manager"), skipped(stack, "reporter")
        invalid = manager_metric(stack, INVALID)
        bus.kv_put(streams.MATCHES.bucket, spoof, m.encode(m.envelope(match)))
        eventually(lambda: skipped(stack, "manager") > manager, 15, what="manager rejects")
        eventually(lambda: skipped(stack, "reporter") > reporter, 15, what="reporter rejects")
        assert manager_metric(stack, INVALID) > invalid, "manager's metric"
        for service_name in ("manager", "reporter"):
            last = log_text(stack, service_name).rsplit("skipping invalid value", 1)[-1]
            assert "spoofed" in last.splitlines()[0], f"{service_name}: {last[:300]}"
        stays(lambda: not policies(client, name), 300, what="nothing deployed for the spoof")
        for report in api.get("/v1/reports"):
            assert "ghost" not in json.dumps(report), report
        for es_cluster in ("cluster-bad", "cluster-rest"):
            obj = stack.management.get(EVENT_REPORT, "default", f"sveltos--{name}--{es_cluster}")
            assert obj is None or "ghost" not in json.dumps(obj), obj
        all_running(stack)
    finally:
        bus.kv_delete(streams.MATCHES.bucket, spoof)
        delete_definitions(stack, definitions)


def _manager_restart_with(
    stack: Stack, bus: SyncNats, svc: str, key: str, recover: Callable[[], None]
) -> None:
    """Deploy for ``svc``, make ``key``'s only value malformed, kill -9 and restart the
    manager: nothing deployed is withdrawn (an unreadable value is unknown, not "no
    match"); then, after a good change (a new labelled Service, and ``recover``, which makes
    the agent write ``key`` again), the new Service is deployed and nothing was lost."""
    client = stack.client(CLUSTER)
    client.apply(service(svc, LABEL))
    eventually(lambda: f"{GOOD}-{svc}" in policies(client, GOOD), 15, what="policy")
    before = policies(client, GOOD)
    desired_before = set(
        bus.kv_items(streams.DESIRED, m.DesiredStateEvent, subjects.cluster_keys(REF))
    )
    saved = bus.kv_raw(streams.MATCHES.bucket, key)
    assert saved is not None
    bus.kv_put(streams.MATCHES.bucket, key, GARBAGE)
    try:
        kill9(stack, "manager")
        offset = len(log_text(stack, "manager"))
        restart(stack, "manager")
        wait_skipped(stack, "manager", streams.MATCHES.bucket, [key], offset)
        stays(lambda: policies(client, GOOD) == before, 1000, what="policies after restart")
        desired_after = set(
            bus.kv_items(streams.DESIRED, m.DesiredStateEvent, subjects.cluster_keys(REF))
        )
        assert desired_before <= desired_after, sorted(desired_before - desired_after)
        client.apply(service(f"{svc}-after", LABEL))  # the agent publishes a good change
        recover()
        eventually(lambda: f"{GOOD}-{svc}-after" in policies(client, GOOD), 15, what="recovery")
        assert bus.kv_raw(streams.MATCHES.bucket, key) != GARBAGE, (
            "the agent did not write it again"
        )
        assert before <= policies(client, GOOD)
    finally:
        _restore(bus, {key: saved}, GARBAGE)


def test_malformed_head_withdraws_nothing_after_manager_restart(
    stack: Stack, bus: SyncNats, good: list
) -> None:
    """The manager restarts while the only value of the set's head is malformed: the set is
    unknown, not empty, so nothing deployed from it is withdrawn. It stays unknown to this
    manager until the agent writes a head again: a change of one object writes none (NATS
    contract, section 4), a new agent instance does once it has resynchronised."""
    agent = stack.agent_name(CLUSTER)

    def new_agent_instance() -> None:
        kill9(stack, agent)
        restart(stack, agent)

    _manager_restart_with(stack, bus, "msg-mgr", head_key(), new_agent_instance)


def test_malformed_entry_withdraws_nothing_after_manager_restart(
    stack: Stack, bus: SyncNats, good: list
) -> None:
    """The manager restarts while the only value of a matching object's entry is malformed:
    that object is unknown, not "no longer matching", so its add-on is not withdrawn. A
    change of the object makes the agent write its entry again."""
    client = stack.client(CLUSTER)
    svc = "msg-mgr-entry"

    def touch() -> None:
        changed = service(svc, LABEL)
        changed["metadata"]["annotations"] = {"ripple-test/touched": "yes"}
        client.apply(changed)

    _manager_restart_with(stack, bus, svc, entry_key(svc), touch)
