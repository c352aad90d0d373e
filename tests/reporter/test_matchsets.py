"""The matching sets of ``ripple-matches`` and the EventReports built from them (pure)."""

from __future__ import annotations

import base64
import time
from typing import Any

from services.reporter import mirroring
from services.reporter.matchsets import MatchSet, MatchSets, decide, ref_size
from shared.api.eventreport import EventReport, decode_resources
from shared.api.vocabulary import ObjectKey
from shared.contract import messages as m
from shared.contract import subjects
from shared.contract.subjects import ClusterRef

CLUSTER = ClusterRef(namespace="fleet", name="c1", type="sveltos")
SOURCE = "https"
HEAD = subjects.match_head_key(CLUSTER, SOURCE)


def service(name: str, namespace: str = "shop", pad: int = 0) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ports": [{"port": 443}]},
    }
    if pad:
        obj["metadata"]["annotations"] = {"note": "x" * pad}
    return obj


def match(obj: dict[str, Any], collect: bool = True) -> tuple[subjects.MatchItem, m.Match]:
    data = m.Match(
        cluster=CLUSTER,
        event_source_name=SOURCE,
        ref=m.ObjectRef.of(obj),
        object=obj if collect else None,
        agent_instance="a1",
    )
    return subjects.MatchItem(CLUSTER, SOURCE, ObjectKey.of(obj)), data


def head(complete: bool = True, generation: int = 1, **kw: Any) -> m.MatchHead:
    return m.MatchHead(
        cluster=CLUSTER,
        event_source_name=SOURCE,
        agent_instance="a1",
        generation=generation,
        complete=complete,
        **kw,
    )


HEAD_ITEM = subjects.MatchItem(CLUSTER, SOURCE, None)


def filled(objects: list[dict[str, Any]], collect: bool = True) -> tuple[MatchSets, MatchSet]:
    sets = MatchSets()
    for obj in objects:
        sets.apply(*match(obj, collect))
    mset = sets.apply(HEAD_ITEM, head())
    assert mset is not None
    return sets, mset


def test_entries_and_running_sizes_follow_puts_and_deletes() -> None:
    sets, mset = filled([service("web"), service("db")])
    assert decide(mset) == "write"
    assert set(mset.entries) == {ObjectKey("v1", "Service", "shop", n) for n in ("web", "db")}
    web = ObjectKey("v1", "Service", "shop", "web")
    sets.apply(*match(service("web", pad=100)))  # updated in place
    sets.apply(match(service("db"))[0], None)  # stopped matching
    assert set(mset.entries) == {web}
    assert mset.ref_bytes == ref_size(web)
    assert mset.resource_bytes == len(mset.entries[web].resource or b"")
    sets.apply(match(service("web"))[0], None)
    assert (mset.ref_bytes, mset.resource_bytes) == (0, 0)
    assert decide(mset) == "write"  # a complete head and no entry: nothing matches


def test_applying_a_change_is_constant_time_in_the_size_of_the_set() -> None:
    def per_change(size: int) -> float:
        sets, _ = filled([service(f"s{i}") for i in range(size)])
        changes = [match(service(f"s{i}", pad=i % 7)) for i in range(500)]
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for item, data in changes:
                sets.apply(item, data)
            best = min(best, time.perf_counter() - start)
        return best / len(changes)

    small, large = per_change(10), per_change(20_000)
    assert large < small * 10, (small, large)  # O(n) would be ~2,000 times slower


def test_an_incomplete_head_holds_and_missing_entries_are_not_no_match() -> None:
    sets, mset = filled([service("web")])
    sets.apply(HEAD_ITEM, head(complete=False, generation=2))
    assert decide(mset) == "hold"
    sets.apply(match(service("web"))[0], None)  # may be stale: still hold, not "empty"
    assert decide(mset) == "hold"
    sets.apply(HEAD_ITEM, head(generation=3))
    assert decide(mset) == "write" and not mset.entries


def test_entries_without_a_head_hold_and_a_deleted_head_deletes() -> None:
    sets = MatchSets()
    mset = sets.apply(*match(service("web")))
    assert mset is not None and decide(mset) == "hold"  # the head comes after its entries
    sets.apply(HEAD_ITEM, head())
    assert decide(mset) == "write"
    sets.apply(HEAD_ITEM, None)
    assert decide(mset) == "delete"
    assert not sets.forget_if_empty(mset)  # the agent deletes the entries next
    sets.apply(match(service("web"))[0], None)
    assert sets.forget_if_empty(mset) and len(sets) == 0
    assert sets.apply(match(service("web"))[0], None) is None  # unknown: a no-op


def test_a_new_head_after_a_delete_writes_again() -> None:
    sets, mset = filled([service("web")])
    sets.apply(HEAD_ITEM, None)
    sets.apply(HEAD_ITEM, head(generation=1))
    assert decide(mset) == "write" and not mset.removed


def test_a_report_within_the_budget_has_everything_sorted() -> None:
    objects = [service("web"), service("db"), service("api", "a")]
    _, mset = filled(objects)
    report = mirroring.event_report(mset.take())
    assert report.fit == "full" and report.listed == report.matching == 3
    parsed = EventReport.model_validate(report.obj)
    names = [r.name for r in parsed.spec.matching_resources]
    assert names == ["api", "db", "web"]  # sorted by (apiVersion, kind, namespace, name)
    assert [o["metadata"]["name"] for o in parsed.spec.resource_list()] == names
    assert report.status == {"phase": "Processed", "failureMessage": None}  # clears one


def test_20000_collected_objects_are_left_out_then_references_truncated() -> None:
    objects = [service(f"svc-{i:05d}", pad=40) for i in range(20_000)]
    _, mset = filled(objects)
    data = mset.take()
    assert data.resource_bytes > 2 * mirroring.REPORT_BUDGET

    # the references fit a 3 MiB budget: the collected objects are left out
    report = mirroring.event_report(data, 3 * 1024 * 1024)
    assert report.fit == "references" and report.listed == 20_000
    assert mirroring.body_size(report.obj) <= 3 * 1024 * 1024
    assert "resources" not in report.obj["spec"]
    assert len(report.obj["spec"]["matchingResources"]) == 20_000
    message = report.status["failureMessage"]
    assert "spec.resources not written: the 20000 collected objects" in message
    assert f"NATS KV ripple-matches (keys {HEAD}.>)" in message

    # the default 1 MiB budget: not even the references fit, the first ones (sorted) do
    report = mirroring.event_report(data)
    assert report.fit == "truncated" and 0 < report.listed < 20_000
    assert mirroring.body_size(report.obj) <= mirroring.REPORT_BUDGET
    assert mirroring.body_size(report.obj) > mirroring.REPORT_BUDGET - 2 * mirroring.SLACK
    refs = report.obj["spec"]["matchingResources"]
    assert [r["name"] for r in refs] == [f"svc-{i:05d}" for i in range(report.listed)]
    message = report.status["failureMessage"]
    assert f"matchingResources truncated: {report.listed} of 20000 objects (sorted)" in message
    assert "spec.resources not written (20000 collected)" in message
    assert "all 20000 are in NATS KV ripple-matches" in message
    assert report.status["phase"] == "Processed"


def test_references_only_sets_are_truncated_without_mentioning_resources() -> None:
    objects = [service(f"svc-{i:05d}") for i in range(20_000)]
    _, mset = filled(objects, collect=False)
    report = mirroring.event_report(mset.take(), 512 * 1024)
    assert report.fit == "truncated"
    assert "spec.resources" not in report.status["failureMessage"]


def test_collected_objects_round_trip_when_they_fit() -> None:
    objects = [service(f"svc-{i}", pad=10) for i in range(50)]
    _, mset = filled(objects)
    report = mirroring.event_report(mset.take())
    raw = base64.b64decode(report.obj["spec"]["resources"])
    by_name = {o["metadata"]["name"]: o for o in objects}
    assert decode_resources(raw) == [by_name[n] for n in sorted(by_name)]


def test_head_errors_and_unreadable_entries_are_in_the_status() -> None:
    sets, mset = filled([service("web")])
    error = m.ObjectError(object=m.ObjectRef.of(service("bad")), message="lua: boom")
    sets.apply(HEAD_ITEM, head(errors=[error], error_count=3))
    lost = ObjectKey("v1", "Service", "shop", "lost")
    report = mirroring.event_report(mset.take((lost,)))
    assert [r["name"] for r in report.obj["spec"]["matchingResources"]] == ["lost", "web"]
    message = report.status["failureMessage"]
    assert message.startswith("Service/bad: lua: boom; (+2 more errors); ")
    assert "1 matching entries cannot be read (listed as matching" in message
