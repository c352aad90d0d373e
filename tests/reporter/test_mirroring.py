"""The reporter's EventReports are what shared/api's EventReport model defines."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from services.reporter import mirroring
from services.reporter.matchsets import MatchSets, ReportInput
from shared.api.eventreport import EventReport, decode_resources, encode_resources
from shared.api.meta import ObjectReference
from shared.api.vocabulary import (
    CAPI,
    CAPI_CLUSTER,
    EVENT_REPORT,
    REPORT_CLUSTER_NAME_LABEL,
    REPORT_CLUSTER_TYPE_LABEL,
    REPORT_EVENT_SOURCE_LABEL,
    SVELTOS,
    SVELTOS_CLUSTER,
    ObjectKey,
)
from shared.contract import messages as m
from shared.contract.subjects import ClusterRef, MatchItem


def _service(name: str, namespace: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "7"},
        "spec": {"ports": [{"port": 443}]},
    }


def _input(
    objects: list[dict[str, Any]],
    *,
    ctype: str = CAPI,
    collect: bool = True,
    cloud_events: list[dict[str, Any]] | None = None,
) -> ReportInput:
    cluster = ClusterRef(namespace="fleet", name="c1", type=ctype)
    sets = MatchSets()
    for obj in objects:
        data = m.Match(
            cluster=cluster,
            event_source_name="https",
            ref=m.ObjectRef.of(obj),
            object=obj if collect else None,
        )
        sets.apply(MatchItem(cluster, "https", ObjectKey.of(obj)), data)
    head = m.MatchHead(
        cluster=cluster,
        event_source_name="https",
        agent_instance="a1",
        generation=1,
        complete=True,
        cloud_events=cloud_events or [],
    )
    mset = sets.apply(MatchItem(cluster, "https", None), head)
    assert mset is not None
    return mset.take()


def _model(data: ReportInput) -> EventReport:
    """The same report built through the API model alone (no budget)."""
    objects = sorted(data.entries)
    report = EventReport.for_cluster(
        cluster_namespace=data.cluster.namespace,
        cluster_name=data.cluster.name,
        cluster_type=data.cluster.type,
        event_source_name=data.event_source,
        matching_resources=[ObjectReference.from_key(k) for k, _ in objects],
        resources=[o for _, e in objects for o in decode_resources(e.resource or b"")],
    )
    report.spec.set_cloud_events(data.head.cloud_events)
    return report


INPUTS = {
    "two collected": ([_service("web"), _service("db")], {}),
    "one collected, sveltos": ([_service("web")], {"ctype": SVELTOS}),
    "references only": ([_service("web"), _service("db")], {"collect": False}),
    "cluster-scoped": ([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}], {}),
    "nothing matches": ([], {}),
}


@pytest.mark.parametrize(("objects", "options"), INPUTS.values(), ids=INPUTS.keys())
def test_round_trip_through_the_api_model(
    objects: list[dict[str, Any]], options: dict[str, Any]
) -> None:
    data = _input(objects, **options)
    mirrored = mirroring.event_report(data).obj
    parsed = EventReport.model_validate(mirrored)
    assert parsed == _model(data)
    # the model's own output, plus only the empty matchingResources list Sveltos writes
    expected = parsed.to_dict()
    expected["spec"].setdefault("matchingResources", [])
    assert mirrored == expected
    # nothing of the set is lost
    by_key = {ObjectKey.of(o): o for o in objects}
    assert [r.key for r in parsed.spec.matching_resources] == sorted(by_key)
    collected = [by_key[k] for k in sorted(by_key)] if options.get("collect", True) else []
    assert parsed.spec.resource_list() == collected


def test_resources_are_encoded_as_sveltos_does() -> None:
    """Each collected object JSON-encoded, newline, ``---``, concatenated (§1.8): the old
    reporter joined the documents with ``---`` (no trailing separator), which the model
    parsed into different bytes."""
    objects = [_service("db"), _service("web")]
    mirrored = mirroring.event_report(_input(objects)).obj
    raw = base64.b64decode(mirrored["spec"]["resources"])
    assert raw == encode_resources(objects)
    assert raw.count(b"\n---") == 2 and raw.endswith(b"\n---")
    assert decode_resources(raw) == objects


def test_resources_bytes_are_go_encoding_json_with_the_trailing_separator() -> None:
    """The exact bytes sveltos-agent writes: each object as Go's encoding/json (sorted keys,
    compact, UTF-8 as is, ``<``, ``>``, ``&`` escaped), ``\\n---`` after every object."""
    web = _service("web")
    web["metadata"]["annotations"] = {"note": "a<b & c>d", "owner": "José"}
    mirrored = mirroring.event_report(_input([web])).obj
    raw = base64.b64decode(mirrored["spec"]["resources"])
    assert raw.endswith(b"}\n---") and raw.count(b"\n---") == 1
    text = raw.decode("utf-8")
    assert '"note":"a\\u003cb \\u0026 c\\u003ed"' in text
    assert '"owner":"José"' in text
    assert decode_resources(raw) == [web]


def test_identity_names_labels_and_kind() -> None:
    obj = mirroring.event_report(_input([_service("web")])).obj
    assert (obj["apiVersion"], obj["kind"]) == EVENT_REPORT
    assert obj["metadata"]["name"] == "capi--https--c1"
    assert obj["metadata"]["namespace"] == "fleet"
    assert obj["metadata"]["labels"] == {
        REPORT_EVENT_SOURCE_LABEL: "https",
        REPORT_CLUSTER_NAME_LABEL: "c1",
        REPORT_CLUSTER_TYPE_LABEL: "capi",
    }
    assert obj["spec"]["clusterType"] == "Capi"
    assert obj["spec"]["matchingResources"] == [ObjectReference.of(_service("web")).to_dict()]


def test_no_match_writes_an_empty_list_and_no_resources() -> None:
    spec = mirroring.event_report(_input([])).obj["spec"]
    assert spec["matchingResources"] == []
    assert "resources" not in spec


def test_cloud_events_are_mirrored() -> None:
    events = [{"specversion": "1.0", "id": "1", "source": "s", "type": "t"}]
    parsed = EventReport.model_validate(mirroring.event_report(_input([], cloud_events=events)).obj)
    assert parsed.spec.cloud_event_list() == events


def test_definition_status_lists_the_registration_objects() -> None:
    status = m.DefinitionStatus(
        kind="EventTrigger",
        name="t",
        matching_clusters=[
            ClusterRef(namespace="a", name="one", type=CAPI),
            ClusterRef(namespace="b", name="two", type=SVELTOS),
        ],
    )
    out = mirroring.definition_status(status)
    assert out["matchingClusters"] == [
        {
            "apiVersion": CAPI_CLUSTER.api_version,
            "kind": CAPI_CLUSTER.kind,
            "namespace": "a",
            "name": "one",
        },
        {
            "apiVersion": SVELTOS_CLUSTER.api_version,
            "kind": SVELTOS_CLUSTER.kind,
            "namespace": "b",
            "name": "two",
        },
    ]
    assert out["failureMessage"] is None
