"""Sveltos fidelity of what the manager instantiates (issue 15 items 4, 6, 8): the
destination's apiVersion, instantiation errors naming the event, profile name collisions,
generators, templateResourceRefs with addon-controller's second pass, deploymentType Local
and skipNamespaceCreation. Pure planning: no servers."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import ValidationError

from services.manager.changes import DesiredEntry
from services.manager.increments import plan_changes_steps
from services.manager.matchsets import Entry, MatchSet
from services.manager.model import ClusterKey, Report
from services.manager.outputs import desired_state
from services.manager.planning import PolicyRefView, TriggerView, World, plan_pair
from services.manager.resourcerefs import kind_key
from services.manager.settings import ManagerSettings
from shared.api.vocabulary import ObjectKey
from tests.manager.test_planning import (
    PLAIN_POLICY,
    A,
    cluster,
    configmap,
    report,
    service,
    trigger,
)

CAPI_HUB = ClusterKey("fleet", "hub", "capi")
MGMT = ClusterKey("mgmt", "mgmt", "sveltos")
PREFIX = "eventtrigger.lib.projectsveltos.io/"


def world(*objs: dict[str, Any], management: ClusterKey | None = None) -> World:
    infos = [cluster(A, env="fv"), cluster(MGMT), cluster(CAPI_HUB)]
    refs = {
        (kind_key(o.get("apiVersion", "v1"), o["kind"]), o["metadata"].get("namespace", ""),
         o["metadata"]["name"]): o
        for o in (configmap("plain", {"cm.yaml": PLAIN_POLICY}), *objs)
    }  # fmt: skip
    return World({c.key: c for c in infos}, refs, management)


def spec_trigger(spec: dict[str, Any], **kw: Any) -> TriggerView:
    refs = tuple(
        PolicyRefView(r["kind"], r.get("namespace", ""), r["name"], r.get("optional", False))
        for r in spec.get("policyRefs", ())
    )
    return trigger(**{"spec": spec, "policy_refs": refs, **kw})


# -- destinationCluster.apiVersion ------------------------------------------------------------
def test_destination_cluster_kind_and_api_version_choose_the_cluster_type() -> None:
    w = world()
    capi = {"namespace": "fleet", "name": "hub", "kind": "Cluster"}
    t = trigger(
        destination_cluster=capi,
        spec={
            "destinationCluster": {**capi, "apiVersion": '{{ print "cluster.x-k8s.io/v1beta1" }}'}
        },
    )
    (profile,) = plan_pair(t, w.clusters[A], "svc", report(A, service("s")), w).profiles.values()
    assert profile.destinations == [CAPI_HUB] and not profile.error
    wrong = {**capi, "kind": "SveltosCluster", "apiVersion": "cluster.x-k8s.io/v1beta1"}
    t = trigger(destination_cluster=wrong, spec={"destinationCluster": wrong})
    pair = plan_pair(t, w.clusters[A], "svc", report(A, service("s")), w)
    assert "kind 'SveltosCluster' apiVersion 'cluster.x-k8s.io/v1beta1'" in pair.errors[0]
    assert "is not a cluster registration" in pair.errors[0]


# -- errors name the event; collisions ---------------------------------------------------------
def test_instantiation_errors_name_the_matching_resource() -> None:
    w = world()
    t = trigger(one_for_event=True, policy_refs=(PolicyRefView("ConfigMap", "", "missing"),))
    pair = plan_pair(t, w.clusters[A], "svc", report(A, service("web")), w)
    assert pair.errors == [
        "Service default/web: EventTrigger/t policyRefs[0]: ConfigMap default/missing not found"
    ]


def test_profile_name_collisions_are_an_error_and_the_first_event_keeps_the_name() -> None:
    w = world()
    t = trigger(one_for_event=True, profile_name_format="shared")
    for order in (("b", "a"), ("a", "b")):
        objs = [service(n) for n in order]
        pair = plan_pair(t, w.clusters[A], "svc", report(A, *objs), w)
        assert list(pair.profiles) == ["shared"]
        assert pair.profiles["shared"].subject == "Service default/a"
        assert pair.profiles["shared"].labels[PREFIX + "resourcename"] == "a"
        (error,) = pair.errors
        assert "'shared' is rendered for Service default/a and for Service default/b" in error


def test_a_collision_arriving_incrementally_does_not_overwrite_the_holder() -> None:
    w = world()
    t = trigger(one_for_event=True, profile_name_format="shared")
    matches = MatchSet(A, "svc")

    def entry(name: str) -> Entry:
        ref = {"apiVersion": "v1", "kind": "Service", "namespace": "default", "name": name}
        return Entry(ref, None, "1")

    pair = plan_pair(t, w.clusters[A], "svc", report(A, service("a")), w)
    key_b = ObjectKey("v1", "Service", "default", "b")
    matches.entries[ObjectKey("v1", "Service", "default", "a")] = entry("a")
    matches.entries[key_b] = entry("b")
    steps = plan_changes_steps(t, w.clusters[A], "svc", matches, [key_b], w, pair)
    try:
        while True:
            next(steps)
    except StopIteration as done:
        before, after = done.value
    assert pair.profiles["shared"].subject == "Service default/a"
    assert after["shared"] is before["shared"]  # the holder is unchanged
    assert any("Service default/b" in e for e in pair.errors)
    # the holder goes away: b takes the name, the error is gone
    del matches.entries[ObjectKey("v1", "Service", "default", "a")]
    key_a = ObjectKey("v1", "Service", "default", "a")
    for _ in plan_changes_steps(t, w.clusters[A], "svc", matches, [key_a], w, pair):
        pass
    assert pair.profiles["shared"].subject == "Service default/b" and pair.errors == []


# -- generators ---------------------------------------------------------------------------------
def secret(name: str, data: dict[str, str], **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "addons.projectsveltos.io/cluster-profile",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def test_generators_render_always_name_by_name_format_and_label_their_outputs() -> None:
    w = world(
        configmap("gen-cm", {"port": "{{ .MatchingResource.Name }}-cm"}),
        secret("gen-s", {"token": "t-{{ .MatchingResource.Name }}"}, keep="me"),
    )
    spec = {
        "configMapGenerator": [{"name": "gen-cm", "nameFormat": "{{ .MatchingResource.Name }}-cfg"}],
        "secretGenerator": [{"name": "gen-{{ print \"s\" }}", "nameFormat": "{{ .MatchingResource.Name }}-tok"}],
    }  # fmt: skip
    t = spec_trigger(spec, one_for_event=True, policy_refs=())
    pair = plan_pair(t, w.clusters[A], "svc", report(A, service("web"), service("db")), w)
    assert pair.errors == []
    outputs = {o["metadata"]["name"]: o for p in pair.profiles.values() for o in p.instantiated}
    assert sorted(outputs) == ["db-cfg", "db-tok", "web-cfg", "web-tok"]
    cm, tok = outputs["web-cfg"], outputs["web-tok"]
    assert cm["metadata"]["namespace"] == "projectsveltos" and cm["data"] == {"port": "web-cm"}
    assert tok["type"] == "addons.projectsveltos.io/cluster-profile"
    assert tok["stringData"] == {"token": "t-web"}
    assert tok["metadata"]["annotations"] == {"keep": "me"}
    labels = cm["metadata"]["labels"]
    assert labels[PREFIX + "fromgenerator"] == "ok"
    assert labels[PREFIX + "refname"] == "gen-cm" and labels[PREFIX + "refnamespace"] == "default"
    assert labels[PREFIX + "eventtriggername"] == "t"
    assert PREFIX + "resourcename" not in labels


def test_a_policy_ref_may_name_this_instances_generator_output() -> None:
    w = world(
        configmap("src", {"cm.yaml": PLAIN_POLICY.replace("fixed", "{{ .MatchingResource.Name }}")})
    )
    spec = {
        "configMapGenerator": [{"name": "src", "nameFormat": "out-{{ .MatchingResource.Name }}"}],
        "policyRefs": [{"kind": "ConfigMap", "namespace": "projectsveltos", "name": "out-{{ .MatchingResource.Name }}"}],
    }  # fmt: skip
    t = spec_trigger(spec, one_for_event=True)
    pair = plan_pair(t, w.clusters[A], "svc", report(A, service("web")), w)
    (profile,) = pair.profiles.values()
    assert pair.errors == []
    assert [o.manifest["metadata"]["name"] for o in profile.objects] == ["web"]


def test_a_missing_generator_source_is_an_error_unless_optional() -> None:
    w = world()
    gen = {"name": "nope", "nameFormat": "x"}
    t = spec_trigger({"configMapGenerator": [gen]}, policy_refs=())
    pair = plan_pair(t, w.clusters[A], "svc", report(A, service("web")), w)
    assert "configMapGenerator[0]: ConfigMap default/nope not found" in pair.errors[0]
    t = spec_trigger({"configMapGenerator": [{**gen, "optional": True}]}, policy_refs=())
    assert plan_pair(t, w.clusters[A], "svc", report(A, service("web")), w).errors == []


# -- templateResourceRefs -------------------------------------------------------------------------
TEMPLATED_POLICY = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: copy
  namespace: default
data:
  region: {{ (getResource "settings").data.region }}
  cluster: {{ .Cluster.metadata.name }}
  replicas: "{{ getField "deploy" "spec.replicas" }}"
"""


def test_template_resource_refs_reach_content_annotated_template() -> None:
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "default"},
        "spec": {"replicas": 3},
    }
    w = world(
        configmap("settings-fv", {"region": "eu"}),
        configmap("tpl", {"p.yaml": TEMPLATED_POLICY}, **{"projectsveltos.io/template": "ok"}),
        deploy,
    )
    spec = {
        "policyRefs": [{"kind": "ConfigMap", "name": "tpl"}],
        "templateResourceRefs": [
            {"identifier": "settings", "resource": {"apiVersion": "v1", "kind": "ConfigMap", "name": "settings-{{ .Cluster.metadata.labels.env }}"}},
            {"identifier": "deploy", "resource": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}},
        ],
    }  # fmt: skip
    t = spec_trigger(spec)
    pair = plan_pair(t, w.clusters[A], "svc", report(A, service("web")), w)
    assert pair.errors == []
    (profile,) = pair.profiles.values()
    (obj,) = profile.objects
    assert {k: obj.manifest["data"][k] for k in ("region", "cluster", "replicas")} == {
        "region": "eu",
        "cluster": "cluster-a",
        "replicas": "3",
    }
    shown = profile.cluster_profile["spec"]["templateResourceRefs"]
    assert shown[0]["resource"]["name"] == "settings-fv"
    assert t.reads(kind_key("apps/v1", "Deployment"), "api")  # a change re-renders


def test_a_missing_template_resource_ref_is_an_error_unless_optional() -> None:
    w = world()
    ref = {"identifier": "x", "resource": {"apiVersion": "v1", "kind": "ConfigMap", "name": "gone"}}
    t = spec_trigger(
        {"policyRefs": [{"kind": "ConfigMap", "name": "plain"}], "templateResourceRefs": [ref]}
    )
    pair = plan_pair(t, w.clusters[A], "svc", report(A, service("web")), w)
    assert "templateResourceRefs[0] (identifier 'x'): ConfigMap default/gone" in pair.errors[0]
    t = spec_trigger(
        {
            "policyRefs": [{"kind": "ConfigMap", "name": "plain"}],
            "templateResourceRefs": [{**ref, "optional": True}],
        }
    )
    assert plan_pair(t, w.clusters[A], "svc", report(A, service("web")), w).errors == []


# -- deploymentType Local, skipNamespaceCreation -------------------------------------------------
def test_local_policy_refs_go_to_the_management_cluster_only() -> None:
    spec = {
        "policyRefs": [
            {"kind": "ConfigMap", "name": "plain", "deploymentType": "Local"},
            {"kind": "ConfigMap", "name": "remote", "skipNamespaceCreation": True},
        ]
    }
    remote = configmap("remote", {"cm.yaml": PLAIN_POLICY.replace("fixed", "far")})
    t = spec_trigger(spec)
    w = world(remote)
    pair = plan_pair(t, w.clusters[A], "svc", report(A, service("web")), w)
    assert "deploymentType Local" in pair.errors[0]
    assert "--management-cluster" in pair.errors[0]
    (failed,) = pair.profiles.values()  # nothing deployed, remotely or locally
    assert failed.objects == [] and failed.local_objects == [] and failed.targets() == [A]
    w = world(remote, management=MGMT)
    (profile,) = plan_pair(t, w.clusters[A], "svc", report(A, service("web")), w).profiles.values()
    assert profile.error == ""
    assert [o.manifest["metadata"]["name"] for o in profile.local_objects] == ["fixed"]
    assert [o.manifest["metadata"]["name"] for o in profile.objects] == ["far"]
    assert profile.targets() == [A, MGMT]
    assert [o.manifest["metadata"]["name"] for o in profile.objects_for(MGMT)] == ["fixed"]
    assert [o.manifest["metadata"]["name"] for o in profile.objects_for(A)] == ["far"]
    assert profile.objects[0].skip_namespace_creation
    assert not profile.local_objects[0].skip_namespace_creation
    kinds = [r.get("deploymentType") for r in profile.cluster_profile["spec"]["policyRefs"]]
    assert kinds == ["Local", "Remote"]


def test_the_desired_state_carries_skip_namespace_creation() -> None:
    spec = {"policyRefs": [{"kind": "ConfigMap", "name": "plain", "skipNamespaceCreation": True}]}
    t = spec_trigger(spec, copied_spec={"tier": 50, "continueOnConflict": True})
    w = world()
    (profile,) = plan_pair(t, w.clusters[A], "svc", report(A, service("web")), w).profiles.values()
    assert (profile.tier, profile.continue_on_conflict) == (50, True)
    entry = DesiredEntry(
        A, profile.name, tuple(profile.objects_for(A)), "Continuous", "WithdrawPolicies", ()
    )
    (obj,) = desired_state(entry, 1).objects
    assert obj.skip_namespace_creation


def test_the_management_cluster_setting_names_a_registration() -> None:
    assert ManagerSettings(management_cluster="mgmt/mgmt").management_key() == MGMT
    capi = ManagerSettings(management_cluster="capi:fleet/hub").management_key()
    assert capi == CAPI_HUB
    assert ManagerSettings().management_key() is None
    with pytest.raises(ValidationError, match="expected NAMESPACE/NAME of its SveltosCluster"):
        ManagerSettings(management_cluster="mgmt")


def test_generated_secrets_go_to_the_management_cluster_when_it_is_known() -> None:
    spec = {
        "secretGenerator": [{"name": "gen-s", "nameFormat": "tok-{{ .MatchingResource.Name }}"}]
    }
    t = spec_trigger(spec, one_for_event=True)
    src = secret("gen-s", {"token": "t-{{ .MatchingResource.Name }}"})
    w = world(src)
    (profile,) = plan_pair(t, w.clusters[A], "svc", report(A, service("web")), w).profiles.values()
    assert profile.local_objects == [] and profile.targets() == [A]
    w = world(src, management=MGMT)
    (profile,) = plan_pair(t, w.clusters[A], "svc", report(A, service("web")), w).profiles.values()
    (local,) = profile.objects_for(MGMT)
    assert local.manifest["metadata"]["name"] == "tok-web"
    assert local.manifest["stringData"] == {"token": "t-web"}
    assert profile.targets() == [A, MGMT] and "tok-web" not in str(profile.objects_for(A))


def test_a_failing_change_keeps_the_local_objects_and_charts_of_its_last_good_instance() -> None:
    spec = {
        "policyRefs": [
            {"kind": "ConfigMap", "name": "{{ .MatchingResource.Name }}", "deploymentType": "Local"}
        ]
    }
    t = spec_trigger(spec, one_for_event=True)
    w = world(configmap("a", {"cm.yaml": PLAIN_POLICY}), management=MGMT)
    pair = plan_pair(t, w.clusters[A], "svc", report(A, service("a")), w)
    good = pair.profiles[next(iter(pair.profiles))]
    assert len(good.local_objects) == 1
    matches = MatchSet(A, "svc")
    key = ObjectKey("v1", "Service", "default", "a")
    ref = {"apiVersion": "v1", "kind": "Service", "namespace": "default", "name": "a"}
    matches.entries[key] = Entry(
        ref, {**service("a"), "metadata": {**service("a")["metadata"], "resourceVersion": "2"}}, "2"
    )
    w = world(management=MGMT)  # the ConfigMap is gone: the re-plan fails
    for _ in plan_changes_steps(t, w.clusters[A], "svc", matches, [key], w, pair):
        pass
    (profile,) = pair.profiles.values()
    assert profile.error and profile.local_objects == good.local_objects


def test_a_delete_cloud_event_takes_its_generator_outputs_with_its_profile() -> None:
    w = world(configmap("src", {"k": "{{ .CloudEvent.subject }}"}))
    spec = {"configMapGenerator": [{"name": "src", "nameFormat": "ce-{{ .CloudEvent.subject }}"}]}
    t = spec_trigger(spec, one_for_event=True, cloud_event_action="{{ .CloudEvent.type }}")
    created = {"source": "s", "subject": "x", "id": "1", "type": "Create"}
    pair = plan_pair(t, w.clusters[A], "svc", Report(A, "svc", [], [], [created]), w)
    ((output,),) = [p.instantiated for p in pair.profiles.values()]
    assert output["metadata"]["name"] == "ce-x"
    assert output["metadata"]["labels"][PREFIX + "cesubject"] == "x"
    deleted = {**created, "id": "2", "type": "Delete"}
    pair = plan_pair(t, w.clusters[A], "svc", Report(A, "svc", [], [], [deleted]), w)
    assert pair.profiles == {}
