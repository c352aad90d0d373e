"""shared.api.vocabulary is the one catalogue: the models and the wire forms agree with it."""

from __future__ import annotations

import pytest

from shared.api import vocabulary as v
from shared.api.cluster import Cluster, SveltosCluster
from shared.api.clusterprofile import ClusterProfile
from shared.api.core import ConfigMap, Secret
from shared.api.eventreport import EventReport
from shared.api.eventsource import EventSource
from shared.api.eventtrigger import EventBasedAddOn, EventTrigger
from shared.api.meta import ObjectReference, TypedObject
from shared.contract.messages import ObjectRef
from shared.contract.subjects import ClusterRef

MODELS: list[tuple[type[TypedObject], v.GVK]] = [
    (EventSource, v.EVENT_SOURCE),
    (EventTrigger, v.EVENT_TRIGGER),
    (EventBasedAddOn, v.EVENT_BASED_ADDON),
    (EventReport, v.EVENT_REPORT),
    (ClusterProfile, v.CLUSTER_PROFILE),
    (SveltosCluster, v.SVELTOS_CLUSTER),
    (ConfigMap, v.CONFIG_MAP),
    (Secret, v.SECRET),
]


@pytest.mark.parametrize(("model", "gvk"), MODELS, ids=[g.kind for _, g in MODELS])
def test_models_use_the_catalogue(model: type[TypedObject], gvk: v.GVK) -> None:
    assert gvk.kind == model.KIND
    assert model.API_VERSIONS[-1] == gvk.api_version  # the default is the catalogue's
    served = v.SERVED_VERSIONS.get((gvk.group, gvk.kind))
    if served is not None:
        assert {a.rpartition("/")[2] for a in model.API_VERSIONS} == set(served)


def test_gvk_is_a_pair_the_kube_adapter_accepts() -> None:
    from shared.kube import GVK as KubeGVK

    kube = KubeGVK(*v.EVENT_TRIGGER)
    assert kube == v.EVENT_TRIGGER and hash(kube) == hash(v.EVENT_TRIGGER)
    assert str(kube) == str(v.EVENT_TRIGGER) == "lib.projectsveltos.io/v1beta1/EventTrigger"
    assert (v.EVENT_REPORT.group, v.EVENT_REPORT.version) == ("lib.projectsveltos.io", "v1beta1")
    assert v.EVENT_REPORT.at("v1alpha1") == ("lib.projectsveltos.io/v1alpha1", "EventReport")
    assert v.GVK.from_parts("", "v1", "ConfigMap") == v.CONFIG_MAP


def test_one_object_reference_three_forms() -> None:
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "a"}}
    key = v.ObjectKey.of(obj)
    assert key == ("v1", "Service", "a", "web") and str(key) == "Service/a/web"
    assert ObjectReference.of(obj).key == key == ObjectRef.of(obj).key
    assert ObjectReference.from_key(key).to_dict() == key.reference()
    assert ObjectRef.from_key(key).model_dump() == key.reference()
    assert v.ObjectKey.from_reference(key.reference()) == key
    assert v.ObjectKey.of({"kind": "Namespace", "metadata": None}).namespace == ""


@pytest.mark.parametrize("ctype", v.CLUSTER_TYPES)
def test_one_cluster_reference(ctype: str) -> None:
    key = v.ClusterKey("fleet", "c1", ctype)
    ref = ClusterRef.of(key)
    assert ref.key == key and str(ref) == str(key) == f"{ctype}:fleet/c1"
    fleet_entry = Cluster(namespace="fleet", name="c1", type=ctype)
    assert fleet_entry.cluster_key == key
    assert fleet_entry.reference().key == key.object_key()
    assert v.ClusterKey.of(fleet_entry.to_object()) == key
    assert key.gvk == v.ClusterType.gvk(ctype)
    assert key.type_title == v.ClusterType.title(ctype)
    assert v.ClusterType.from_kind(key.kind, key.api_version) == ctype


def test_cluster_type_spellings() -> None:
    assert v.ClusterType.title("CAPI") == "Capi" and v.ClusterType.lower("Sveltos") == "sveltos"
    with pytest.raises(ValueError, match="unknown cluster type"):
        v.ClusterType.title("kind")


def test_trigger_label_sets() -> None:
    et, eba = v.EVENT_TRIGGER_LABELS, v.EVENT_BASED_ADDON_LABELS
    assert et.trigger_name == "eventtrigger.lib.projectsveltos.io/eventtriggername"
    assert eba.trigger_name == "eventbasedaddon.lib.projectsveltos.io/eventbasedaddonname"
    assert eba.cluster_namespace == "eventbasedaddon.lib.projectsveltos.io/clusterNamespace"
    assert et.cluster_type == "eventtrigger.lib.projectsveltos.io/clustertype"
    assert v.trigger_labels("EventBasedAddOn") is eba is v.trigger_labels(v.LIB_V1ALPHA1)
    assert v.trigger_labels("EventTrigger") is et is v.trigger_labels(v.LIB_V1BETA1)
    assert v.TENANT_LABELS == (
        "projectsveltos.io/serviceaccount-name",
        "projectsveltos.io/serviceaccount-namespace",
    )
