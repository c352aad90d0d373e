"""The manager's decision code, without servers: reports + definitions -> desired state."""

from __future__ import annotations

from typing import Any

import pytest

from services.manager import naming
from services.manager.model import ClusterInfo, ClusterKey, Report
from services.manager.planning import PolicyRefView, TriggerView, World, plan_pair
from services.manager.state import State
from shared.api.selectors import LabelSelector, parse_selector
from shared.hashing import HASH_ANNOTATION, policy_hash

A = ClusterKey("default", "cluster-a", "sveltos")
B = ClusterKey("default", "cluster-b", "sveltos")
HUB = ClusterKey("default", "hub", "sveltos")

PLAIN_POLICY = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: fixed
  namespace: default
data:
  k: v
"""


def cluster(key: ClusterKey, **labels: str) -> ClusterInfo:
    obj = {
        "apiVersion": key.api_version,
        "kind": key.kind,
        "metadata": {"name": key.name, "namespace": key.namespace, "labels": labels},
    }
    return ClusterInfo(key, dict(labels), obj)


def configmap(name: str, data: dict[str, str], **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations},
        "data": data,
    }


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "labels": {"sveltos": "fv"}},
        "spec": {"ports": [{"port": 80}]},
    }


def trigger(**kw: Any) -> TriggerView:
    base: dict[str, Any] = {
        "kind": "EventTrigger",
        "name": "t",
        "source_selector": parse_selector("env=fv"),
        "event_source_name": "svc",
        "policy_refs": (PolicyRefView("ConfigMap", "default", "plain"),),
    }
    base.update(kw)
    return TriggerView(**base)


def report(key: ClusterKey, *objs: dict[str, Any], collect: bool = False) -> Report:
    refs = [
        {
            "apiVersion": o["apiVersion"],
            "kind": o["kind"],
            "namespace": "default",
            "name": o["metadata"]["name"],
        }
        for o in objs
    ]
    return Report(key, "svc", refs, list(objs) if collect else [])


def world(*clusters: ClusterInfo, refs: list[dict[str, Any]] | None = None) -> World:
    refs = refs or [configmap("plain", {"cm.yaml": PLAIN_POLICY})]
    return World(
        {c.key: c for c in clusters},
        {("ConfigMap", r["metadata"]["namespace"], r["metadata"]["name"]): r for r in refs},
    )


def test_one_for_event_gives_one_profile_per_matching_resource() -> None:
    w = world(cluster(A, env="fv"))
    t = trigger(one_for_event=True)
    pair = plan_pair(t, w.clusters[A], "svc", report(A, service("s1"), service("s2")), w)
    assert len(pair.profiles) == 2
    names = {p.labels[naming.PREFIX_V1BETA1 + "resourcename"] for p in pair.profiles.values()}
    assert names == {"s1", "s2"}
    for profile in pair.profiles.values():
        assert profile.destinations == [A]
        assert profile.name.startswith("sveltos-") and len(profile.name) == 28


def test_one_profile_per_cluster_when_not_one_for_event_and_none_without_matches() -> None:
    w = world(cluster(A, env="fv"))
    pair = plan_pair(trigger(), w.clusters[A], "svc", report(A, service("s1"), service("s2")), w)
    assert len(pair.profiles) == 1
    assert plan_pair(trigger(), w.clusters[A], "svc", report(A), w).profiles == {}


def test_names_are_deterministic() -> None:
    w = world(cluster(A, env="fv"))
    t = trigger(one_for_event=True)
    first = plan_pair(t, w.clusters[A], "svc", report(A, service("s1")), w)
    second = plan_pair(t, w.clusters[A], "svc", report(A, service("s1")), w)
    assert list(first.profiles) == list(second.profiles)


def test_deployed_objects_carry_hash_and_reference_metadata() -> None:
    w = world(cluster(A, env="fv"))
    pair = plan_pair(trigger(), w.clusters[A], "svc", report(A, service("s1")), w)
    (profile,) = pair.profiles.values()
    (obj,) = profile.objects
    meta = obj.manifest["metadata"]
    assert meta["labels"]["projectsveltos.io/reference-kind"] == "ConfigMap"
    assert meta["annotations"]["projectsveltos.io/reference-name"] == "plain"
    assert meta["annotations"][HASH_ANNOTATION] == obj.hash
    # the hash is of the manifest before Sveltos' metadata was added
    assert obj.hash == policy_hash(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "fixed", "namespace": "default"},
            "data": {"k": "v"},
        }
    )


def test_destination_selector_and_destination_cluster() -> None:
    w = world(cluster(A, env="fv"), cluster(B, env="fv"), cluster(HUB, role="hub"))
    t = trigger(destination_selector=LabelSelector(matchLabels={"role": "hub"}))
    (profile,) = plan_pair(t, w.clusters[A], "svc", report(A, service("s")), w).profiles.values()
    assert profile.destinations == [HUB]
    assert profile.cluster_profile["spec"]["clusterSelector"] == {"matchLabels": {"role": "hub"}}
    t2 = trigger(
        destination_cluster={"namespace": "default", "name": "hub", "kind": "SveltosCluster"}
    )
    (profile,) = plan_pair(t2, w.clusters[A], "svc", report(A, service("s")), w).profiles.values()
    assert profile.destinations == [HUB]


def test_missing_reference_is_an_error_unless_optional() -> None:
    w = world(cluster(A, env="fv"))
    t = trigger(policy_refs=(PolicyRefView("ConfigMap", "default", "nope"),))
    pair = plan_pair(t, w.clusters[A], "svc", report(A, service("s")), w)
    assert pair.errors and "ConfigMap default/nope not found" in pair.errors[0]
    t = trigger(policy_refs=(PolicyRefView("ConfigMap", "default", "nope", optional=True),))
    assert plan_pair(t, w.clusters[A], "svc", report(A, service("s")), w).errors == []


def test_empty_source_selector_selects_no_cluster() -> None:
    state = State()
    state.set_cluster(cluster(A, env="fv"))
    state.set_trigger(trigger(source_selector=LabelSelector()))
    state.set_event_source("svc", {"kind": "EventSource"})
    state.reconcile()
    assert state.assignments == {}


def _state() -> State:
    state = State()
    state.set_cluster(cluster(A, env="fv"))
    state.set_cluster(cluster(B, env="prod"))
    state.set_event_source("svc", {"kind": "EventSource", "metadata": {"name": "svc"}})
    state.set_ref("ConfigMap", "default", "plain", configmap("plain", {"cm.yaml": PLAIN_POLICY}))
    state.set_trigger(trigger(one_for_event=True))
    return state


def test_assignments_follow_source_cluster_selection() -> None:
    state = _state()
    changes = state.reconcile()
    assert set(changes.assignments_put) == {(A, "svc")}
    state.set_cluster(cluster(B, env="fv"))
    changes = state.reconcile()
    assert set(changes.assignments_put) == {(B, "svc")}


def test_unknown_report_keeps_state_and_positive_knowledge_withdraws() -> None:
    state = _state()
    state.reconcile()
    state.set_report(report(A, service("s1")))
    changes = state.reconcile()
    assert len(changes.desired_put) == 1
    # the object stopped matching: withdrawn
    state.set_report(report(A))
    changes = state.reconcile()
    assert len(changes.desired_deleted) == 1 and state.desired == {}
    # the cluster stops matching the trigger: everything of it goes
    state.set_report(report(A, service("s1")))
    state.reconcile()
    state.set_cluster(cluster(A, env="other"))
    changes = state.reconcile()
    assert len(changes.desired_deleted) == 1
    assert changes.assignments_deleted == {(A, "svc")}


def test_report_change_touches_only_its_pairs() -> None:
    state = _state()
    state.set_cluster(cluster(B, env="fv"))
    state.set_report(report(A, service("s1")))
    state.set_report(report(B, service("s1")))
    state.reconcile()
    before_b = {k: v for k, v in state.desired.items() if k[0] == B}
    state.set_report(report(A, service("s1"), service("s2")))
    changes = state.reconcile()
    assert all(k[0] == A for k in changes.desired_put)
    assert {k: v for k, v in state.desired.items() if k[0] == B} == before_b


@pytest.mark.parametrize("bad", ["{{ .Nope.x }}", "{{ if }}"])
def test_template_error_keeps_previous_objects(bad: str) -> None:
    pytest.importorskip("shared.templating")
    state = _state()
    tpl = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x-{{ .MatchingResource.Name }}\n  namespace: default\n"
    state.set_ref("ConfigMap", "default", "plain", configmap("plain", {"t": tpl}))
    state.set_trigger(trigger(one_for_event=True, instantiate_all=True))
    state.set_report(report(A, service("s1")))
    state.reconcile()
    good = dict(state.desired)
    assert len(good) == 1
    state.set_ref("ConfigMap", "default", "plain", configmap("plain", {"t": bad}))
    state.reconcile()
    assert state.desired == good
    assert state.status["t"].errors


def test_accepted_fields_not_deployed_show_in_the_triggers_status() -> None:
    state = State()
    state.set_cluster(cluster(A, env="fv"))
    state.set_event_source("svc", {"kind": "EventSource", "metadata": {"name": "svc"}})
    state.set_trigger(trigger(not_deployed=("spec.helmCharts (1): not deployed by Ripple yet",)))
    state.reconcile()
    assert state.status["t"].errors == ["spec.helmCharts (1): not deployed by Ripple yet"]
