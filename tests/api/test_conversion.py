"""v1alpha1 <-> v1beta1 conversion (shared.api.conversion) and the webhook's answer
(services.manager.webhook.review): lossless round trips over the corpus and the scenarios,
the v1alpha1 flat EventSource read as v1beta1 resourceSelectors, selector strings vs
LabelSelectors, and clear errors (object and field named) for what cannot be converted."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from services.manager.webhook import BadReview, Stats, review
from shared.api.conversion import FORM_ANNOTATION, convert, try_convert
from shared.api.errors import DefinitionError
from shared.api.eventsource import EventSource
from shared.api.loading import parse_object
from tests.api.test_crdgen import DEFINITIONS

LIB = "lib.projectsveltos.io"
FLAT = {
    "apiVersion": f"{LIB}/v1alpha1",
    "kind": "EventSource",
    "metadata": {"name": "https", "uid": "u-1", "resourceVersion": "7"},
    "spec": {
        "collectResources": True,
        "group": "",
        "version": "v1",
        "kind": "Service",
        "labelsFilters": [{"key": "sveltos", "operation": "Equal", "value": "fv"}],
        "script": "function evaluate() return {matching = true} end",
    },
    "status": {"anything": 1},
}


def other(api_version: str) -> str:
    group, _, version = api_version.rpartition("/")
    return f"{group}/{'v1beta1' if version == 'v1alpha1' else 'v1alpha1'}"


CONVERTIBLE = [
    (where, doc)
    for where, doc in DEFINITIONS
    if doc["kind"] in ("EventSource", "EventTrigger", "ClusterProfile", "EventReport")
    and (doc["kind"] != "EventTrigger" or (doc.get("spec") or {}).get("eventSourceName"))
]


def test_the_corpus_has_both_versions() -> None:
    versions = {(d["kind"], d["apiVersion"].rpartition("/")[2]) for _, d in CONVERTIBLE}
    assert {("EventSource", "v1alpha1"), ("EventSource", "v1beta1")} <= versions
    assert ("EventTrigger", "v1beta1") in versions


@pytest.mark.parametrize("where,doc", CONVERTIBLE, ids=[w for w, _ in CONVERTIBLE])
def test_round_trip(where: str, doc: dict[str, Any]) -> None:
    """To the other version and back: the same object; both forms mean the same thing."""
    there = convert(doc, other(doc["apiVersion"]))
    back = convert(there, doc["apiVersion"])
    if doc["apiVersion"].endswith("v1alpha1"):
        assert back == doc
    else:
        # an early v1beta1 spelling (script) comes back as evaluate: the same Lua
        assert parse_object(back).spec == parse_object(doc).spec  # type: ignore[attr-defined]
        again = convert(convert(back, there["apiVersion"]), doc["apiVersion"])
        assert again == back
    v1beta1 = there if there["apiVersion"].endswith("v1beta1") else doc
    assert parse_object(v1beta1).kind == doc["kind"]  # what the manager reads


def test_the_flat_v1alpha1_event_source_reads_back_converted() -> None:
    up = convert(FLAT, f"{LIB}/v1beta1")
    assert up["apiVersion"] == f"{LIB}/v1beta1"
    assert up["spec"] == {
        "collectResources": True,
        "resourceSelectors": [
            {
                "group": "",
                "version": "v1",
                "kind": "Service",
                "labelFilters": [{"key": "sveltos", "operation": "Equal", "value": "fv"}],
                "evaluate": "function evaluate() return {matching = true} end",
            }
        ],
    }
    assert up["metadata"]["annotations"] == {FORM_ANNOTATION: '{"flat":true,"labelsFilters":[0]}'}
    assert up["status"] == FLAT["status"]
    assert {k: up["metadata"][k] for k in ("name", "uid", "resourceVersion")} == FLAT["metadata"]
    model = parse_object(up)
    assert isinstance(model, EventSource) and not model.spec.is_flat
    assert model.spec == parse_object(FLAT).normalized().spec  # type: ignore[union-attr]
    assert convert(up, f"{LIB}/v1alpha1") == FLAT


def test_an_edited_v1beta1_object_no_longer_fits_the_flat_form() -> None:
    up = convert(FLAT, f"{LIB}/v1beta1")
    up["spec"]["resourceSelectors"].append({"version": "v1", "kind": "Pod"})
    down = convert(up, f"{LIB}/v1alpha1")
    assert "resourceSelectors" in down["spec"] and "kind" not in down["spec"]
    assert "annotations" not in down["metadata"]
    assert down["spec"]["resourceSelectors"][0]["labelsFilters"]  # the spelling kept


def test_selector_strings_and_label_selectors() -> None:
    v1alpha1 = {
        "apiVersion": f"{LIB}/v1alpha1",
        "kind": "EventTrigger",
        "metadata": {"name": "t"},
        "spec": {
            "sourceClusterSelector": "env=fv, tier in (a,b)",
            "destinationClusterSelector": "role=hub",
            "eventSourceName": "es",
        },
    }
    up = convert(v1alpha1, f"{LIB}/v1beta1")
    assert up["spec"]["sourceClusterSelector"] == {
        "matchLabels": {"env": "fv"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}],
    }
    assert up["spec"]["destinationClusterSelector"] == {"matchLabels": {"role": "hub"}}
    # written with a space: kept for the way back; "role=hub" needs nothing
    assert up["metadata"]["annotations"] == {
        FORM_ANNOTATION: '{"sourceClusterSelector":"env=fv, tier in (a,b)"}'
    }
    assert convert(up, f"{LIB}/v1alpha1") == v1alpha1
    up["spec"]["sourceClusterSelector"] = {"matchLabels": {"env": "prod"}}
    assert convert(up, f"{LIB}/v1alpha1")["spec"]["sourceClusterSelector"] == "env=prod"
    profile = {
        "apiVersion": "config.projectsveltos.io/v1beta1",
        "kind": "ClusterProfile",
        "metadata": {"name": "p"},
        "spec": {"clusterSelector": {"matchLabels": {"env": "fv"}}, "anything": [1]},
    }
    down = convert(profile, "config.projectsveltos.io/v1alpha1")
    assert down["spec"] == {"clusterSelector": "env=fv", "anything": [1]}
    assert convert(down, profile["apiVersion"]) == profile


def test_same_version_and_identical_schemas() -> None:
    assert convert(FLAT, FLAT["apiVersion"]) == FLAT
    report = {"apiVersion": f"{LIB}/v1alpha1", "kind": "EventReport", "spec": {"x": 1}}
    assert convert(report, f"{LIB}/v1beta1") == {**report, "apiVersion": f"{LIB}/v1beta1"}


BAD = [
    (["not", "an", "object"], "conversion: ", "an object must be a JSON object, got list"),
    ({"kind": "EventSource", "apiVersion": "v1"}, "EventSource/", "apiVersion: must be group/version"),
    ({"kind": "Pod", "apiVersion": f"{LIB}/v1alpha1"}, "Pod/", "kind: Pod of lib.projectsveltos.io is not a kind Ripple converts"),
    (
        {**FLAT, "spec": {**FLAT["spec"], "resourceSelectors": []}},
        "EventSource/https",
        "spec: the flat v1alpha1 form (group, version, kind, labelsFilters, script) cannot be "
        "combined with resourceSelectors",
    ),
    (
        {**FLAT, "spec": {"resourceSelectors": [{"kind": "A", "script": "x", "evaluate": "y"}]}},
        "EventSource/https",
        "spec.resourceSelectors[0]: both 'script' and 'evaluate' are set",
    ),
    ({**FLAT, "spec": "flat"}, "EventSource/https", "spec: must be an object, got str"),
    (
        {"apiVersion": f"{LIB}/v1alpha1", "kind": "EventTrigger", "metadata": {"name": "t"},
         "spec": {"sourceClusterSelector": "env in (a"}},
        "EventTrigger/t",
        "spec.sourceClusterSelector: ",
    ),
    (
        {"apiVersion": f"{LIB}/v1alpha1", "kind": "EventTrigger", "metadata": {"name": "t"},
         "spec": {"sourceClusterSelector": {"matchLabels": {}}}},
        "EventTrigger/t",
        "spec.sourceClusterSelector: must be a selector string in v1alpha1",
    ),
]  # fmt: skip


@pytest.mark.parametrize("obj,ident,reason", BAD)
def test_a_bad_object_gets_a_clear_error(obj: Any, ident: str, reason: str) -> None:
    with pytest.raises(DefinitionError) as info:
        convert(obj, f"{LIB}/v1beta1")
    assert ident in str(info.value) and reason in str(info.value)
    assert try_convert(obj, f"{LIB}/v1beta1") == (None, str(info.value))


def test_versions_that_do_not_exist() -> None:
    _, error = try_convert(FLAT, f"{LIB}/v2")
    assert "desiredAPIVersion: EventSource is served as v1alpha1 and v1beta1, not v2" in error
    _, error = try_convert(FLAT, "config.projectsveltos.io/v1beta1")
    assert "cannot convert lib.projectsveltos.io/v1alpha1 to another group" in error
    addon = {"apiVersion": f"{LIB}/v1alpha1", "kind": "EventBasedAddOn", "metadata": {"name": "a"}}
    _, error = try_convert(addon, f"{LIB}/v1beta1")
    assert "EventBasedAddOn is served as v1alpha1, not v1beta1" in error


def conversion_review(objects: list[Any], desired: str = f"{LIB}/v1beta1") -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "request": {"uid": "705ab4f5", "desiredAPIVersion": desired, "objects": objects},
    }


def test_review_converts_every_object_and_echoes_the_uid() -> None:
    stats = Stats()
    answer = review(conversion_review([FLAT, FLAT]), stats)
    assert answer["apiVersion"] == "apiextensions.k8s.io/v1"
    assert answer["kind"] == "ConversionReview"
    response = answer["response"]
    assert response["uid"] == "705ab4f5"
    assert response["result"] == {"status": "Success"}
    assert [o["apiVersion"] for o in response["convertedObjects"]] == [f"{LIB}/v1beta1"] * 2
    assert stats.snapshot()["objects_converted_total"][2] == 2


def test_review_fails_as_a_whole_naming_each_bad_object() -> None:
    stats = Stats()
    bad = copy.deepcopy(FLAT)
    bad["spec"]["resourceSelectors"] = []
    response = review(conversion_review([FLAT, bad]), stats)["response"]
    assert response["uid"] == "705ab4f5"
    assert response["convertedObjects"] == []
    assert response["result"]["status"] == "Failure"
    assert response["result"]["message"].startswith(
        "1 of 2 object(s) not converted: conversion: EventSource/https: spec: the flat"
    )
    assert stats.reviews["failure"] == 1


@pytest.mark.parametrize(
    "body,reason",
    [
        ([], "the body must be a JSON object"),
        ({"kind": "AdmissionReview"}, "expected apiVersion apiextensions.k8s.io/v1 kind"),
        ({**conversion_review([]), "request": None}, "request: missing"),
        ({**conversion_review([]), "request": {"objects": []}}, "request.uid: missing"),
        (
            {**conversion_review([]), "request": {"uid": "u", "objects": []}},
            "request.desiredAPIVersion: missing",
        ),
        (
            {**conversion_review([]), "request": {"uid": "u", "desiredAPIVersion": "x/v1"}},
            "request.objects: must be a list",
        ),
    ],
)
def test_not_a_review(body: Any, reason: str) -> None:
    stats = Stats()
    with pytest.raises(BadReview, match=reason):
        review(body, stats)
    assert stats.reviews["bad"] == 1
