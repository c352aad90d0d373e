"""EventReport names/labels/bytes, ClusterProfile labels, clusters and fleet.yaml."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from shared.api.cluster import Cluster, ClusterType, FleetConfig, SveltosCluster
from shared.api.clusterprofile import (
    LABELS,
    V1ALPHA1_LABELS,
    ClusterProfile,
    labels_for,
)
from shared.api.errors import DefinitionError
from shared.api.eventreport import (
    EventReport,
    decode_resources,
    encode_resources,
    report_labels,
    report_name,
)
from shared.api.loading import dump_yaml, load_text, parse_object
from shared.api.meta import ObjectReference
from tests.paths import SCENARIOS


def test_report_name_and_labels() -> None:
    assert report_name("Capi", "sveltos-service", "c1") == "capi--sveltos-service--c1"
    assert report_name("sveltos", "es", "c") == "sveltos--es--c"
    assert report_labels("Sveltos", "es", "c") == {
        "projectsveltos.io/eventsource-name": "es",
        "eventreport.projectsveltos.io/cluster-name": "c",
        "eventreport.projectsveltos.io/cluster-type": "sveltos",
    }


def test_resources_bytes_layout() -> None:
    objs = [
        {"kind": "Service", "metadata": {"name": "a"}},
        {"kind": "Service", "metadata": {"name": "b"}},
    ]
    raw = encode_resources(objs)
    assert raw.count(b"\n---") == 2
    assert decode_resources(raw) == objs
    assert decode_resources(b"") == []


def test_event_report_round_trip_base64() -> None:
    ref = ObjectReference(api_version="v1", kind="Service", namespace="default", name="my-service")
    report = EventReport.for_cluster(
        cluster_namespace="default",
        cluster_name="c1",
        cluster_type="capi",
        event_source_name="sveltos-service",
        matching_resources=[ref],
        resources=[{"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 80}]}}],
    )
    report.spec.set_cloud_events([{"specversion": "1.0", "id": "1", "source": "s", "type": "t"}])
    assert report.metadata.name == "capi--sveltos-service--c1"
    assert report.metadata.namespace == "default"
    assert report.spec.cluster_type == "Capi"
    out = report.to_dict()
    assert base64.b64decode(out["spec"]["resources"]) == report.spec.resources
    assert json.loads(base64.b64decode(out["spec"]["cloudEvents"][0]))["id"] == "1"
    [again] = load_text(dump_yaml(report))
    assert again.obj == report
    assert isinstance(again.obj, EventReport)
    assert again.obj.spec.resource_list()[0]["spec"]["ports"][0]["port"] == 80
    assert again.obj.spec.cloud_event_list()[0]["type"] == "t"
    assert again.obj.spec.matching_resources == [ref]


def test_event_report_from_spec_text() -> None:
    obj = parse_object(
        {
            "apiVersion": "lib.projectsveltos.io/v1alpha1",
            "kind": "EventReport",
            "metadata": {"name": "capi--s--c", "namespace": "default", "generation": 2,
                         "creationTimestamp": "2023-03-14T15:55:23Z"},
            "spec": {
                "clusterName": "c", "clusterNamespace": "default", "clusterType": "Capi",
                "eventSourceName": "s",
                "matchingResources": [{"apiVersion": "v1", "kind": "Service", "name": "m",
                                       "namespace": "default"}],
                "resources": base64.b64encode(b'{"kind":"Service"}\n---').decode(),
            },
            "status": {"phase": "Processed"},
        }
    )  # fmt: skip
    assert isinstance(obj, EventReport)
    assert obj.spec.resource_list() == [{"kind": "Service"}]
    assert obj.status is not None and obj.status.phase == "Processed"
    with pytest.raises(DefinitionError) as info:
        parse_object({**obj.to_dict(), "spec": {"resources": "%%%"}})
    assert info.value.field == "spec.resources"


def test_cluster_profile_labels() -> None:
    assert LABELS.trigger_name == "eventtrigger.lib.projectsveltos.io/eventtriggername"
    assert (
        V1ALPHA1_LABELS.trigger_name == "eventbasedaddon.lib.projectsveltos.io/eventbasedaddonname"
    )
    assert V1ALPHA1_LABELS.cluster_name == "eventbasedaddon.lib.projectsveltos.io/clustername"
    assert labels_for("lib.projectsveltos.io/v1alpha1") is V1ALPHA1_LABELS
    ident = LABELS.identity(
        trigger="t", cluster_namespace="ns", cluster_name="c", cluster_type="sveltos",
        resource_name="r", resource_namespace="",
    )  # fmt: skip
    assert ident == {
        "eventtrigger.lib.projectsveltos.io/eventtriggername": "t",
        "eventtrigger.lib.projectsveltos.io/clusterNamespace": "ns",
        "eventtrigger.lib.projectsveltos.io/clustername": "c",
        "eventtrigger.lib.projectsveltos.io/clustertype": "Sveltos",
        "eventtrigger.lib.projectsveltos.io/resourcename": "r",
    }


def test_cluster_profile_model() -> None:
    cp = ClusterProfile.model_validate(
        {
            "metadata": {"name": "sveltos-x", "labels": {LABELS.trigger_name: "t"}},
            "spec": {
                "clusterRefs": [{"apiVersion": "lib.projectsveltos.io/v1beta1", "kind": "SveltosCluster",
                                 "namespace": "default", "name": "c"}],
                "policyRefs": [{"name": "p", "namespace": "projectsveltos", "kind": "ConfigMap"}],
                "syncMode": "Continuous",
                "somethingNew": {"kept": True},
            },
        }
    )  # fmt: skip
    assert cp.api_version == "config.projectsveltos.io/v1beta1"
    assert cp.spec.cluster_refs[0].name == "c"
    assert cp.to_dict()["spec"]["somethingNew"] == {"kept": True}
    [again] = load_text(dump_yaml(cp))
    assert again.obj == cp


def test_cluster_type_spellings() -> None:
    assert ClusterType.title("capi") == "Capi" and ClusterType.title("SVELTOS") == "Sveltos"
    assert ClusterType.lower("Capi") == "capi"
    assert ClusterType.kind("capi") == "Cluster"
    assert ClusterType.api_version("sveltos") == "lib.projectsveltos.io/v1beta1"
    with pytest.raises(ValueError, match="unknown cluster type"):
        ClusterType.title("eks")


def test_cluster_object_conversion() -> None:
    c = Cluster(namespace="default", name="a", type="sveltos", labels={"env": "fv"})
    obj = c.to_object()
    assert obj["kind"] == "SveltosCluster" and obj["metadata"]["labels"] == {"env": "fv"}
    assert Cluster.from_object(obj) == c
    assert SveltosCluster.model_validate(obj).to_cluster() == c
    capi = Cluster.model_validate({"namespace": "ns", "name": "w", "type": "Capi"})
    assert capi.type == "capi" and capi.type_title == "Capi"
    assert capi.to_object()["apiVersion"] == "cluster.x-k8s.io/v1beta1"
    assert Cluster.from_object(capi.to_object()) == capi
    assert capi.reference().kind == "Cluster"
    with pytest.raises(ValueError):
        Cluster.from_object({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}})


@pytest.mark.parametrize(
    "path", sorted(SCENARIOS.glob("*/fleet.yaml")), ids=lambda p: p.parent.name
)
def test_fleet_yaml_loads(path: Path) -> None:
    fleet = FleetConfig.load(path)
    assert fleet.clusters
    first = fleet.clusters[0]
    assert fleet.get(first.key) is first


def test_fleet_yaml_errors(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("clusters:\n- {namespace: d, name: a, type: eks}\n")
    with pytest.raises(DefinitionError) as info:
        FleetConfig.load(path)
    assert str(path) in str(info.value) and "clusters[0].type" in str(info.value)
    path.write_text("clusters:\n- {namespace: d, name: a}\n- {namespace: d, name: a}\n")
    with pytest.raises(DefinitionError, match="listed twice"):
        FleetConfig.load(path)
    path.write_text("clusters: [\n")
    with pytest.raises(DefinitionError, match="invalid YAML"):
        FleetConfig.load(path)


def test_object_reference_is_hashable_and_ignores_extra_fields() -> None:
    a = ObjectReference.model_validate(
        {"apiVersion": "v1", "kind": "Service", "namespace": "d", "name": "s", "uid": "123"}
    )
    b = ObjectReference(api_version="v1", kind="Service", namespace="d", name="s")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
