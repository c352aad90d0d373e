"""Property: models survive YAML (dump_yaml then load_text gives an equal model, same dump)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.api.clusterprofile import ClusterProfile
from shared.api.eventreport import EventReport
from shared.api.eventsource import EventSource
from shared.api.eventtrigger import EventBasedAddOn, EventTrigger
from shared.api.loading import dump_yaml, load_text
from shared.api.meta import TypedObject
from shared.api.selectors import LabelSelector, parse_selector, selector_to_string

# label keys/values: valid Kubernetes syntax
_alnum = st.sampled_from("abcxyz019")
_mid = st.text(alphabet="abcxyz019-_.", max_size=6)
label_value = st.builds(lambda a, m, b: a + m + b, _alnum, _mid, _alnum) | st.just("")
label_name = st.builds(lambda a, m, b: a + m + b, _alnum, _mid, _alnum)
label_key = label_name | st.builds(
    lambda p, n: f"{p}.io/{n}", st.sampled_from(["ex", "a-b"]), label_name
)
labels = st.dictionaries(label_key, label_value, max_size=3)
# free text (scripts, templates): printable, including newlines, quotes and template braces
free_text = st.text(
    alphabet=st.characters(
        codec="utf-8", categories=("L", "N", "P", "S", "Zs"), include_characters="\n\t{}\"':#-"
    ),
    max_size=40,
)
names = st.builds(
    lambda a, m, b: a + m + b,
    st.sampled_from("abc"),
    st.text("abc-", max_size=8),
    st.sampled_from("abc1"),
)


def requirement() -> st.SearchStrategy[dict[str, Any]]:
    with_values = st.fixed_dictionaries(
        {"key": label_key, "operator": st.sampled_from(["In", "NotIn"]),
         "values": st.lists(label_value, min_size=1, max_size=3)}
    )  # fmt: skip
    without = st.fixed_dictionaries(
        {"key": label_key, "operator": st.sampled_from(["Exists", "DoesNotExist"])}
    )
    return with_values | without


label_selector = st.fixed_dictionaries(
    {},
    optional={
        "matchLabels": labels,
        "matchExpressions": st.lists(requirement(), max_size=3),
    },
)

label_filter = st.fixed_dictionaries(
    {"key": label_key, "operation": st.sampled_from(["Equal", "Different", "Has", "DoesNotHave"])},
    optional={"value": label_value},
)

resource_selector = st.fixed_dictionaries(
    {"version": st.sampled_from(["v1", "v1beta1"]), "kind": st.sampled_from(["Service", "Pod"])},
    optional={
        "group": st.sampled_from(["", "apps", "gateway.networking.k8s.io"]),
        "namespace": names,
        "name": names,
        "labelFilters": st.lists(label_filter, max_size=3),
        "selector": label_selector,
        "evaluate": free_text,
        "evaluateCEL": st.lists(
            st.fixed_dictionaries({"name": names, "rule": free_text}), max_size=2
        ),
    },
)

messaging = st.fixed_dictionaries(
    {},
    optional={
        k: free_text for k in ("subject", "cloudEventSource", "cloudEventType", "cloudEventSubject")
    },
)

metadata = st.fixed_dictionaries(
    {"name": names},
    optional={"labels": labels, "annotations": st.dictionaries(label_key, free_text, max_size=2)},
)

v1beta1_eventsource = st.fixed_dictionaries(
    {
        "apiVersion": st.just("lib.projectsveltos.io/v1beta1"),
        "kind": st.just("EventSource"),
        "metadata": metadata,
        "spec": st.fixed_dictionaries(
            {},
            optional={
                "resourceSelectors": st.lists(resource_selector, max_size=3),
                "aggregatedSelection": free_text,
                "collectResources": st.booleans(),
                "messagingMatchCriteria": st.lists(messaging, max_size=2),
            },
        ),
    }
)

flat_spec = st.fixed_dictionaries(
    {"version": st.just("v1"), "kind": st.sampled_from(["Service", "Deployment"])},
    optional={
        "group": st.sampled_from(["", "apps"]),
        "namespace": names,
        "labelFilters": st.lists(label_filter, max_size=3),
        "script": free_text,
        "collectResources": st.booleans(),
    },
)

v1alpha1_eventsource = st.fixed_dictionaries(
    {
        "apiVersion": st.just("lib.projectsveltos.io/v1alpha1"),
        "kind": st.just("EventSource"),
        "metadata": metadata,
        "spec": flat_spec,
    }
)

policy_ref = st.fixed_dictionaries(
    {"name": names, "kind": st.sampled_from(["ConfigMap", "Secret"])},
    optional={
        "namespace": names,
        "optional": st.booleans(),
        "deploymentType": st.sampled_from(["Local", "Remote"]),
    },
)

generator = st.fixed_dictionaries(
    {"name": names},
    optional={"namespace": names, "nameFormat": free_text, "optional": st.booleans()},
)

trigger_common = {
    "eventSourceName": names,
    "oneForEvent": st.booleans(),
    "policyRefs": st.lists(policy_ref, max_size=2),
    "profileNameFormat": free_text,
    "configMapGenerator": st.lists(generator, max_size=2),
    "secretGenerator": st.lists(generator, max_size=1),
    "stopMatchingBehavior": st.sampled_from(["WithdrawPolicies", "LeavePolicies"]),
    "syncMode": st.sampled_from(
        ["OneTime", "Continuous", "ContinuousWithDriftDetection", "DryRun"]
    ),
    "tier": st.integers(0, 1000),
    "extraLabels": labels,
    "dependsOn": st.lists(names, max_size=2),
}

#: eventSourceName is required (Sveltos' CRD): in every generated trigger
trigger_optional = {k: v for k, v in trigger_common.items() if k != "eventSourceName"}

event_trigger = st.fixed_dictionaries(
    {
        "apiVersion": st.just("lib.projectsveltos.io/v1beta1"),
        "kind": st.just("EventTrigger"),
        "metadata": metadata,
        "spec": st.fixed_dictionaries(
            {"eventSourceName": names},
            optional={
                **trigger_optional,
                "sourceClusterSelector": label_selector,
                "destinationClusterSelector": label_selector,
                "destinationCluster": st.fixed_dictionaries(
                    {
                        "name": free_text,
                        "namespace": free_text,
                        "kind": st.just("SveltosCluster"),
                        "apiVersion": st.just("lib.projectsveltos.io/v1beta1"),
                    }
                ),
                "cloudEventAction": st.sampled_from(["Create", "Delete", "{{ .CloudEvent.type }}"]),
            },
        ),
    }
)

event_based_addon = st.fixed_dictionaries(
    {
        "apiVersion": st.just("lib.projectsveltos.io/v1alpha1"),
        "kind": st.just("EventBasedAddOn"),
        "metadata": metadata,
        "spec": st.fixed_dictionaries(
            {"eventSourceName": names},
            optional={
                **trigger_optional,
                "sourceClusterSelector": label_selector.map(
                    lambda d: selector_to_string(LabelSelector.model_validate(d))
                ),
                "destinationClusterSelector": label_selector.map(
                    lambda d: selector_to_string(LabelSelector.model_validate(d))
                ),
            },
        ),
    }
)

MODELS: dict[str, type[TypedObject]] = {
    "EventSource": EventSource,
    "EventTrigger": EventTrigger,
    "EventBasedAddOn": EventBasedAddOn,
    "ClusterProfile": ClusterProfile,
}

PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _round_trip(data: dict[str, Any]) -> None:
    model = MODELS[data["kind"]].model_validate(data)
    text = dump_yaml(model)
    [again] = load_text(text)
    assert again.obj == model
    assert type(again.obj) is type(model)
    assert again.obj.api_version == model.api_version
    assert dump_yaml(again.obj) == text


@PROFILE
@given(v1beta1_eventsource | v1alpha1_eventsource)
def test_eventsource_round_trip(data: dict[str, Any]) -> None:
    _round_trip(data)


@PROFILE
@given(v1alpha1_eventsource)
def test_flat_eventsource_keeps_its_shape(data: dict[str, Any]) -> None:
    model = EventSource.model_validate(data)
    [again] = load_text(dump_yaml(model))
    assert isinstance(again.obj, EventSource)
    assert again.obj.spec.is_flat
    assert "resourceSelectors" not in again.obj.to_dict()["spec"]


@PROFILE
@given(event_trigger | event_based_addon)
def test_trigger_round_trip(data: dict[str, Any]) -> None:
    _round_trip(data)


@PROFILE
@given(label_selector)
def test_selector_string_round_trip(data: dict[str, Any]) -> None:
    sel = LabelSelector.model_validate(data)
    parsed = parse_selector(selector_to_string(sel))
    # same semantics: the parsed selector matches exactly the same label sets
    for labels_ in ({}, dict(sel.match_labels), {k: "zz" for k in sel.match_labels}):
        assert parsed.matches(labels_) == sel.matches(labels_)
    assert selector_to_string(parsed) == selector_to_string(sel)


object_ref = st.fixed_dictionaries(
    {"apiVersion": st.sampled_from(["v1", "apps/v1"]), "kind": st.sampled_from(["Service", "Deployment"]),
     "name": names},
    optional={"namespace": names},
)  # fmt: skip

json_scalar = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | free_text
json_object = st.dictionaries(names, json_scalar, max_size=3)

event_report = st.fixed_dictionaries(
    {
        "apiVersion": st.just("lib.projectsveltos.io/v1beta1"),
        "kind": st.just("EventReport"),
        "metadata": metadata.map(lambda m: {**m, "namespace": "default"}),
        "spec": st.fixed_dictionaries(
            {},
            optional={
                "clusterNamespace": names,
                "clusterName": names,
                "clusterType": st.sampled_from(["Capi", "Sveltos"]),
                "eventSourceName": names,
                "matchingResources": st.lists(object_ref, max_size=3),
            },
        ),
    }
)


@PROFILE
@given(event_report, st.lists(json_object, max_size=3), st.lists(json_object, max_size=2))
def test_event_report_round_trip(
    data: dict[str, Any], resources: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    report = EventReport.model_validate(data)
    report.spec.set_resources(resources)
    report.spec.set_cloud_events(events)
    text = dump_yaml(report)
    [again] = load_text(text)
    assert again.obj == report
    assert isinstance(again.obj, EventReport)
    assert again.obj.spec.resource_list() == resources
    assert again.obj.spec.cloud_event_list() == events


cluster_profile = st.fixed_dictionaries(
    {
        "apiVersion": st.just("config.projectsveltos.io/v1beta1"),
        "kind": st.just("ClusterProfile"),
        "metadata": metadata,
        "spec": st.fixed_dictionaries(
            {},
            optional={
                "clusterRefs": st.lists(object_ref, max_size=2),
                "clusterSelector": label_selector,
                "policyRefs": st.lists(policy_ref, max_size=2),
                "syncMode": st.sampled_from(["OneTime", "Continuous", "DryRun"]),
                "stopMatchingBehavior": st.sampled_from(["WithdrawPolicies", "LeavePolicies"]),
                "tier": st.integers(0, 1000),
                "unmodelled": json_object,
            },
        ),
    }
)


@PROFILE
@given(cluster_profile)
def test_cluster_profile_round_trip(data: dict[str, Any]) -> None:
    _round_trip(data)
