"""The reporter's EventReports are what shared/api's EventReport model defines."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from services.reporter import mirroring
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
)
from shared.contract import messages as m
from shared.contract.subjects import ClusterRef


def _service(name: str, namespace: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": "7"},
        "spec": {"ports": [{"port": 443}]},
    }


def _snapshot(
    objects: list[dict[str, Any]], *, ctype: str = CAPI, collect: bool = True
) -> m.EventReportSnapshot:
    return m.EventReportSnapshot(
        cluster=ClusterRef(namespace="fleet", name="c1", type=ctype),  # type: ignore[arg-type]
        event_source_name="https",
        agent_instance="a1",
        generation=1,
        complete=True,
        matching_resources=[m.ObjectRef.of(o) for o in objects],
        resources=objects if collect else [],
    )


SNAPSHOTS = {
    "two collected": _snapshot([_service("web"), _service("db")]),
    "one collected, sveltos": _snapshot([_service("web")], ctype=SVELTOS),
    "references only": _snapshot([_service("web"), _service("db")], collect=False),
    "cluster-scoped": _snapshot(
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}]
    ),
    "nothing matches": _snapshot([]),
}


@pytest.mark.parametrize("snap", SNAPSHOTS.values(), ids=SNAPSHOTS.keys())
def test_round_trip_through_the_api_model(snap: m.EventReportSnapshot) -> None:
    mirrored = mirroring.event_report(snap)
    parsed = EventReport.model_validate(mirrored)
    assert parsed == mirroring.report_model(snap)
    # the model's own output, plus only the empty matchingResources list Sveltos writes
    expected = parsed.to_dict()
    expected["spec"].setdefault("matchingResources", [])
    assert mirrored == expected
    # nothing of the snapshot is lost
    assert parsed.spec.resource_list() == snap.resources
    assert [r.key for r in parsed.spec.matching_resources] == [
        r.key for r in snap.matching_resources
    ]


def test_resources_are_encoded_as_sveltos_does() -> None:
    """Each collected object JSON-encoded, newline, ``---``, concatenated (§1.8): the old
    reporter joined the documents with ``---`` (no trailing separator), which the model
    parsed into different bytes."""
    objects = [_service("web"), _service("db")]
    mirrored = mirroring.event_report(_snapshot(objects))
    raw = base64.b64decode(mirrored["spec"]["resources"])
    assert raw == encode_resources(objects)
    assert raw.count(b"\n---") == 2 and raw.endswith(b"\n---")
    assert decode_resources(raw) == objects


def test_identity_names_labels_and_kind() -> None:
    snap = _snapshot([_service("web")])
    obj = mirroring.event_report(snap)
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
    spec = mirroring.event_report(_snapshot([]))["spec"]
    assert spec["matchingResources"] == []
    assert "resources" not in spec


def test_cloud_events_are_mirrored() -> None:
    snap = _snapshot([]).model_copy(
        update={"cloud_events": [{"specversion": "1.0", "id": "1", "source": "s", "type": "t"}]}
    )
    parsed = EventReport.model_validate(mirroring.event_report(snap))
    assert parsed.spec.cloud_event_list() == snap.cloud_events


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
