"""EventTrigger / EventBasedAddOn: selectors, instantiation rule, immutability, round trip."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.api.addons import INSTANTIATE_ANNOTATION
from shared.api.errors import ImmutableFieldError
from shared.api.eventtrigger import (
    EventBasedAddOn,
    EventTrigger,
    check_update,
)
from shared.api.loading import dump_yaml, load_text
from shared.api.selectors import parse_selector

EBA = {
    "apiVersion": "lib.projectsveltos.io/v1alpha1",
    "kind": "EventBasedAddOn",
    "metadata": {"name": "eba"},
    "spec": {
        "sourceClusterSelector": "env=fv,tier in (a,b)",
        "destinationClusterSelector": "role=hub",
        "eventSourceName": "svc",
        "oneForEvent": True,
        "policyRefs": [{"name": "np", "namespace": "default", "kind": "ConfigMap"}],
    },
}

ET = {
    "apiVersion": "lib.projectsveltos.io/v1beta1",
    "kind": "EventTrigger",
    "metadata": {"name": "et", "labels": {"projectsveltos.io/serviceaccount-name": "t"}},
    "spec": {
        "sourceClusterSelector": {"matchLabels": {"env": "fv"}},
        "destinationCluster": {
            "name": "{{ .Resource.metadata.name }}",
            "namespace": "{{ .Resource.metadata.namespace }}",
            "kind": "SveltosCluster",
            "apiVersion": "lib.projectsveltos.io/v1beta1",
        },
        "eventSourceName": "svc-{{ .Cluster.metadata.name }}",
        "oneForEvent": True,
        "policyRefs": [{"name": "np", "kind": "Secret", "optional": True}],
        "helmCharts": [
            {
                "repositoryURL": "https://kyverno.github.io/kyverno/",
                "repositoryName": "kyverno",
                "chartName": "kyverno/kyverno",
                "chartVersion": "v3.3.3",
                "releaseName": "kyverno-latest",
                "releaseNamespace": "kyverno",
                "helmChartAction": "Install",
                "values": "replicas: {{ .Resource.spec.replicas }}\n",
                "valuesFrom": [{"name": "v", "kind": "ConfigMap"}],
                "options": {"wait": True},
            }
        ],
        "kustomizationRefs": [{"name": "k", "kind": "GitRepository", "path": "./x"}],
        "templateResourceRefs": [
            {"resource": {"apiVersion": "v1", "kind": "Secret", "name": "s"}, "identifier": "S"}
        ],
        "profileNameFormat": "{{ .Cluster.metadata.name }}-x",
        "configMapGenerator": [{"name": "g", "namespace": "default", "nameFormat": "g-out"}],
        "secretGenerator": [{"name": "s", "nameFormat": "s-out", "optional": True}],
        "cloudEventAction": '{{ if eq .CloudEvent.type "delete" }}Delete{{ else }}Create{{ end }}',
        "stopMatchingBehavior": "LeavePolicies",
        "syncMode": "DryRun",
        "tier": 50,
        "continueOnConflict": True,
        "reloader": True,
        "maxUpdate": "30%",
        "validateHealths": [{"name": "h", "featureID": "Helm", "script": "x"}],
        "patches": [{"patch": "- op: add", "target": {"kind": "Service"}}],
        "extraLabels": {"a": "b"},
        "extraAnnotations": {"c": "d"},
        "dependsOn": ["other"],
        "driftExclusions": [{"paths": ["/spec/replicas"]}],
    },
}


def test_event_based_addon_parses_selector_strings() -> None:
    eba = EventBasedAddOn.model_validate(EBA)
    sel = eba.spec.source_cluster_selector
    assert sel == parse_selector("env=fv,tier in (a,b)")
    assert sel.matches({"env": "fv", "tier": "b"})
    assert not sel.matches({"env": "fv"})
    assert eba.spec.destination_cluster_selector == parse_selector("role=hub")
    assert eba.spec.source_cluster_selector_text == "env=fv,tier in (a,b)"
    # dumped back as the original strings
    out = eba.to_dict()
    assert out["spec"]["sourceClusterSelector"] == "env=fv,tier in (a,b)"
    assert out["spec"]["destinationClusterSelector"] == "role=hub"
    assert EventBasedAddOn.model_validate(out) == eba


def test_event_based_addon_changed_selector_dumps_new_string() -> None:
    eba = EventBasedAddOn.model_validate(EBA)
    eba.spec.source_cluster_selector = parse_selector("env=prod")
    assert eba.to_dict()["spec"]["sourceClusterSelector"] == "env=prod"


def test_event_trigger_full_spec_round_trips() -> None:
    et = EventTrigger.model_validate(ET)
    spec = et.spec
    assert spec.destination_cluster is not None
    assert spec.destination_cluster.kind == "SveltosCluster"
    assert spec.helm_charts[0].chart_name == "kyverno/kyverno"
    assert spec.helm_charts[0].values_from[0].kind == "ConfigMap"
    assert spec.helm_charts[0].model_extra == {"options": {"wait": True}}
    assert spec.config_map_generator[0].name_format == "g-out"
    assert spec.secret_generator[0].optional is True
    assert spec.sync_mode == "DryRun" and spec.stop_matching_behavior == "LeavePolicies"
    assert spec.profile_fields()["tier"] == 50
    assert spec.profile_fields()["maxUpdate"] == "30%"
    assert spec.profile_fields()["stopMatchingBehavior"] == "LeavePolicies"
    [again] = load_text(dump_yaml(et))
    assert again.obj == et
    assert again.obj.to_dict() == et.to_dict()


def test_instantiation_rule() -> None:
    et = EventTrigger.model_validate(ET)
    eba = EventBasedAddOn.model_validate(EBA)
    assert eba.instantiates(None)
    assert eba.instantiates({})
    assert not et.instantiates({})
    assert not et.instantiates({"projectsveltos.io/template": "ok"})
    assert et.instantiates({INSTANTIATE_ANNOTATION: ""})
    assert et.instantiates({INSTANTIATE_ANNOTATION: "ok"})


def test_empty_source_selector_selects_no_cluster() -> None:
    et = EventTrigger.model_validate({"metadata": {"name": "x"}, "spec": {"eventSourceName": "es"}})
    assert not et.spec.selects_source_cluster({"env": "fv"})
    et = EventTrigger.model_validate(ET)
    assert et.spec.selects_source_cluster({"env": "fv"})
    assert not et.spec.selects_source_cluster({})


def test_changed_one_for_event_is_rejected() -> None:
    old = EventTrigger.model_validate(ET)
    new = old.model_copy(deep=True)
    new.spec.one_for_event = False
    with pytest.raises(ImmutableFieldError) as info:
        check_update(old, new)
    assert "spec.oneForEvent" in str(info.value)
    assert "EventTrigger/et" in str(info.value)
    same = old.model_copy(deep=True)
    same.spec.event_source_name = "other"
    check_update(old, same)


@pytest.mark.parametrize(
    ("patch", "fragment"),
    [
        ({"syncMode": "Sometimes"}, "syncMode"),
        ({"stopMatchingBehavior": "Keep"}, "stopMatchingBehavior"),
        ({"policyRefs": [{"name": "x", "kind": "Deployment"}]}, "kind"),
        ({"policyRefs": [{"kind": "ConfigMap"}]}, "name"),
        ({"helmCharts": [{"chartName": "x"}]}, "repositoryURL"),
        ({"configMapGenerator": [{"nameFormat": "x"}]}, "name"),
        ({"cloudEventAction": "Update"}, "cloudEventAction"),
        ({"oneForEvent": "yes please"}, "oneForEvent"),
        ({"tier": "high"}, "tier"),
    ],
)
def test_invalid_trigger_fields(patch: dict[str, object], fragment: str) -> None:
    data = {**ET, "spec": {**ET["spec"], **patch}}  # type: ignore[dict-item]
    with pytest.raises(ValidationError) as info:
        EventTrigger.model_validate(data)
    assert fragment in str(info.value)


def test_v1alpha1_and_v1beta1_kinds_are_distinct() -> None:
    with pytest.raises(ValidationError):
        EventTrigger.model_validate({**EBA, "kind": "EventTrigger"})
    with pytest.raises(ValidationError):
        EventBasedAddOn.model_validate({**ET, "kind": "EventBasedAddOn"})
