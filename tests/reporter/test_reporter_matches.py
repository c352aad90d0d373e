"""The matches watcher: what each put or delete of ``ripple-matches`` means for the
EventReport (write, hold, delete) and for the orphan sweep (no servers)."""

from __future__ import annotations

from typing import cast

from services.reporter.mirrors import Mirrors, report_object_key
from services.reporter.ownership import Ownership
from services.reporter.writer import Write, Writer
from shared.api.vocabulary import EVENT_REPORT, ObjectKey
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.contract import subjects
from shared.contract.subjects import ClusterRef, MatchItem
from shared.kube import KubeClient
from tests.reporter.test_reporter_coalescing import RecordingKube

CLUSTER = ClusterRef(namespace="fleet", name="c1", type="sveltos")
REPORT = report_object_key(CLUSTER, "https")


class FakeStore:
    """The part of a KVStore the matches watcher reads outside its watch."""

    def __init__(self) -> None:
        self.invalid: set[str] = set()


def matches_mirror() -> tuple[Mirrors, Writer, Ownership, FakeStore]:
    ownership = Ownership()
    writer = Writer(cast(KubeClient, RecordingKube()), ownership.wanted)
    mirrors = Mirrors(writer, ownership, lambda part: None)
    return mirrors, writer, ownership, FakeStore()


def entry(name: str) -> tuple[MatchItem, m.Match]:
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "a"}}
    data = m.Match(cluster=CLUSTER, event_source_name="https", ref=m.ObjectRef.of(obj), object=obj)
    return MatchItem(CLUSTER, "https", ObjectKey.of(obj)), data


def head(complete: bool = True) -> tuple[MatchItem, m.MatchHead]:
    data = m.MatchHead(
        cluster=CLUSTER,
        event_source_name="https",
        agent_instance="a1",
        generation=1,
        complete=complete,
    )
    return MatchItem(CLUSTER, "https", None), data


def wanted(writer: Writer) -> Write | None:
    want = writer._objects[REPORT]
    if want is None or isinstance(want, Write):
        return want
    make = want()
    return None if make is None else make()


def test_the_matches_watcher_writes_holds_and_deletes() -> None:
    mirrors, writer, ownership, store = matches_mirror()
    kv = cast(KVStore[m.MatchesEvent], store)
    mirrors.match(kv, *entry("web"))
    assert REPORT not in writer._objects and ownership.held()  # no head yet: hold
    mirrors.match(kv, *head())
    write = wanted(writer)
    assert write is not None
    assert [r["name"] for r in write.obj["spec"]["matchingResources"]] == ["web"]
    assert not ownership.held() and ownership.wanted(REPORT)

    mirrors.match(kv, *head(complete=False))  # stale entries: the pending build holds
    mirrors.match(kv, entry("web")[0], None)
    assert writer._objects[REPORT] is not None and wanted(writer) is None
    assert ownership.wanted(REPORT)

    mirrors.match(kv, *head())
    write = wanted(writer)
    assert write is not None and write.obj["spec"]["matchingResources"] == []

    store.invalid.add(subjects.match_head_key(CLUSTER, "https"))  # unreadable head: hold
    assert wanted(writer) is None
    lost = ObjectKey("v1", "Service", "a", "lost")
    store.invalid = {subjects.match_key(CLUSTER, "https", lost)}
    write = wanted(writer)  # an unreadable entry is listed as matching, and said so
    assert write is not None and write.status is not None
    assert [r["name"] for r in write.obj["spec"]["matchingResources"]] == ["lost"]
    assert "cannot be read" in write.status["failureMessage"]

    mirrors.match(kv, head()[0], None)  # head deleted: the EventReport goes
    assert writer._objects[REPORT] is None and not ownership.wanted(REPORT)
    assert len(mirrors.sets) == 0


def test_the_sweep_holds_the_reports_of_unreadable_values() -> None:
    mirrors, _, ownership, store = matches_mirror()
    store.invalid = {subjects.match_key(CLUSTER, "https", ObjectKey("v1", "Service", "a", "x"))}
    assert mirrors._hold_matches(cast(KVStore[m.MatchesEvent], store)) == ""
    assert ownership.wanted(REPORT)
    store.invalid = {"not.a.match.key.at.all"}
    assert "cannot be read" in mirrors._hold_matches(cast(KVStore[m.MatchesEvent], store))


def test_report_key_names_the_sveltos_report() -> None:
    assert REPORT.gvk == EVENT_REPORT
    assert (REPORT.namespace, REPORT.name) == ("fleet", "sveltos--https--c1")
