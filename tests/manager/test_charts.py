"""helmCharts instantiated by the manager (pure): every template field rendered with the
event data, valuesFrom resolved (and instantiated), the complete values merged as Sveltos'
addon-controller merges them, the ClusterProfile and the desired state showing the charts."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from services.manager import naming, outputs
from services.manager.charts import Context, plan_charts
from services.manager.errors import InstantiationError
from services.manager.planning import World, plan_pair
from services.manager.state import State
from shared.api.vocabulary import INSTANTIATE_ANNOTATION
from shared.helm.spec import merge_values
from tests.manager.test_planning import A, cluster, configmap, report, service, trigger

KYVERNO: dict[str, Any] = {
    "repositoryURL": "https://kyverno.github.io/kyverno/",
    "repositoryName": "kyverno",
    "chartName": "kyverno/kyverno",
    "chartVersion": "v3.1.1",
    "releaseName": "kyverno-latest",
    "releaseNamespace": "kyverno",
    "helmChartAction": "Install",
}


def chart(**fields: Any) -> dict[str, Any]:
    return {**KYVERNO, **fields}


def context(refs: dict[tuple[str, str, str], Any] | None = None, **data: Any) -> Context:
    return Context(
        owner="EventTrigger/t",
        data={"Resource": service("web"), "MatchingResource": {"Name": "web"}, **data},
        source_namespace="default",
        refs=refs or {},
        instantiates=lambda obj: (
            INSTANTIATE_ANNOTATION in ((obj.get("metadata") or {}).get("annotations") or {})
        ),
        labels={"eventtrigger.lib.projectsveltos.io/eventtriggername": "t"},
        trigger_kind="EventTrigger",
    )


def test_every_string_field_and_the_values_are_templates_over_the_event() -> None:
    entry = chart(
        releaseName="web-{{ .Resource.metadata.name }}",
        releaseNamespace="{{ .Resource.metadata.namespace }}",
        chartVersion='{{ if eq .Resource.metadata.name "web" }}v3.1.1{{ end }}',
        values="service:\n  name: {{ .Resource.metadata.name }}\n  port: 80\n",
    )
    [deployed] = plan_charts([entry], context()).deployed
    assert deployed.chart["releaseName"] == "web-web"
    assert deployed.chart["releaseNamespace"] == "default"
    assert deployed.chart["chartVersion"] == "v3.1.1"
    assert deployed.chart["values"] == "service:\n  name: web\n  port: 80\n"
    assert deployed.values == {"service": {"name": "web", "port": 80}}
    assert deployed.hash.startswith("sha256:")


def test_the_hash_follows_the_chart_and_the_values() -> None:
    one = plan_charts([chart(values="a: 1")], context()).deployed[0]
    again = plan_charts([chart(values="a: 1")], context()).deployed[0]
    other = plan_charts([chart(values="a: 2")], context()).deployed[0]
    newer = plan_charts([chart(values="a: 1", chartVersion="v3.2.0")], context()).deployed[0]
    assert one.hash == again.hash
    assert len({one.hash, other.hash, newer.hash}) == 3


def test_values_from_are_merged_after_the_values_in_sveltos_order() -> None:
    plain = configmap("plain-values", {"b.yaml": "x: {b: 2}\nlist: [2]", "a.yaml": "x: {a: 1}"})
    templ = configmap(
        "templ-values",
        {"v": "x: {who: '{{ .Resource.metadata.name }}'}\nlist: [3]"},
        **{INSTANTIATE_ANNOTATION: "ok"},
    )
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "addons.projectsveltos.io/cluster-profile",
        "metadata": {"name": "creds", "namespace": "default"},
        "data": {"token": base64.b64encode(b"token: s3cr3t").decode()},
    }
    refs = {
        ("ConfigMap", "default", "plain-values"): plain,
        ("ConfigMap", "default", "templ-values"): templ,
        ("Secret", "default", "creds"): secret,
    }
    entry = chart(
        values="x: {a: 0, keep: true}\nlist: [1]",
        valuesFrom=[
            {"kind": "ConfigMap", "name": "templ-values"},  # instantiated: merged last
            {"kind": "ConfigMap", "name": "{{ .MatchingResource.Name }}-missing", "optional": True},
            {"kind": "ConfigMap", "name": "plain-values"},
            {"kind": "Secret", "name": "creds"},
        ],
    )
    planned = plan_charts([entry], context(refs))
    [deployed] = planned.deployed
    # values, then plain-values a.yaml, b.yaml, then creds, then the instantiated copy
    assert deployed.values == {
        "x": {"a": 1, "keep": True, "b": 2, "who": "web"},
        "list": [3],
        "token": "s3cr3t",
    }
    [copy] = planned.instantiated
    assert copy["metadata"]["namespace"] == naming.GENERATED_NAMESPACE
    assert copy["data"] == {"v": "x: {who: 'web'}\nlist: [3]"}
    refs_out = deployed.chart["valuesFrom"]
    assert refs_out[0]["name"] == copy["metadata"]["name"]
    assert refs_out[0]["namespace"] == naming.GENERATED_NAMESPACE
    assert refs_out[1] == {
        "kind": "ConfigMap",
        "name": "web-missing",
        "namespace": "default",
        "optional": True,
    }
    assert refs_out[2]["name"] == "plain-values" and refs_out[2]["namespace"] == "default"


def test_merging_replaces_lists_and_scalars_and_a_null_removes_nothing() -> None:
    into: dict[str, Any] = {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    merge_values(into, {"a": {"c": [3], "e": None}, "d": None, "f": {"g": 1}})
    assert into == {"a": {"b": 1, "c": [3], "e": None}, "d": "x", "f": {"g": 1}}


@pytest.mark.parametrize(
    ("entry", "refs", "message"),
    [
        (
            chart(valuesFrom=[{"kind": "ConfigMap", "name": "absent"}]),
            {},
            "EventTrigger/t helmCharts[0].valuesFrom[0]: ConfigMap default/absent not found",
        ),
        (chart(values="[1, 2]"), {}, "helmCharts[0].values must be a mapping, not list"),
        (chart(values="a: [1"), {}, "helmCharts[0].values are not YAML"),
        (chart(releaseName="Not_A_Name"), {}, "releaseName 'Not_A_Name' is not a DNS-1123 name"),
        (chart(releaseName="{{ .Nope }}"), {}, "helmCharts[0].releaseName"),
        (chart(repositoryURL="git://x"), {}, "unsupported source 'git'"),
    ],
)
def test_a_bad_entry_is_an_instantiation_error_naming_it(
    entry: dict[str, Any], refs: dict[tuple[str, str, str], Any], message: str
) -> None:
    with pytest.raises(InstantiationError) as err:
        plan_charts([entry], context(refs))
    assert message in str(err.value)


def test_the_cluster_profile_and_the_desired_state_carry_the_instantiated_charts() -> None:
    t = trigger(
        one_for_event=True,
        policy_refs=(),
        helm_charts=(chart(releaseName="r-{{ .MatchingResource.Name }}", values="n: 1"),),
    )
    world = World({A: cluster(A, env="fv")}, {})
    pair = plan_pair(t, world.clusters[A], "svc", report(A, service("web")), world)
    [plan] = pair.profiles.values()
    assert not plan.error
    entries = plan.cluster_profile["spec"]["helmCharts"]
    assert [e["releaseName"] for e in entries] == ["r-web"]
    assert plan.cluster_profile["spec"]["policyRefs"] == []

    state = State()
    state.set_cluster(world.clusters[A])
    state.set_trigger(t)
    state.set_report(report(A, service("web")))
    changes = state.reconcile()
    [entry] = changes.desired_put.values()
    desired = outputs.desired_state(entry, 1)
    [wanted] = desired.helm_charts
    assert wanted.release == ("kyverno", "r-web")
    assert wanted.values == {"n": 1}
    assert wanted.hash == plan.charts[0].hash


def test_a_changed_values_from_source_re_plans_the_trigger() -> None:
    t = trigger(
        policy_refs=(),
        helm_charts=(chart(valuesFrom=[{"kind": "ConfigMap", "name": "vals"}]),),
    )
    state = State()
    state.set_cluster(cluster(A, env="fv"))
    state.set_trigger(t)
    state.set_ref("ConfigMap", "default", "vals", configmap("vals", {"v": "replicas: 1"}))
    state.set_report(report(A, service("web")))
    [entry] = state.reconcile().desired_put.values()
    assert entry.charts[0].values == {"replicas": 1}
    state.set_ref("ConfigMap", "default", "vals", configmap("vals", {"v": "replicas: 3"}))
    [entry] = state.reconcile().desired_put.values()
    assert entry.charts[0].values == {"replicas": 3}
    state.set_ref("ConfigMap", "default", "vals", None)  # gone: the trigger's error, kept
    changes = state.reconcile()
    assert not changes.desired_deleted
    assert any("ConfigMap default/vals not found" in e for e in state.status["t"].errors)
