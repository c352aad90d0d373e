"""A CRD's schema honoured as a real API server does (issue 15): pruning, defaults,
structural validation and x-kubernetes-validations (CEL, transition rules), with the real
422 wording; through the official client and kubectl."""

from __future__ import annotations

from typing import Any

import pytest

from services.fleet import celrules, schema
from tests.fleet.conftest import Cluster

WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"

SPEC: dict[str, Any] = {
    "type": "object",
    "required": ["size"],
    "x-kubernetes-validations": [
        {
            "rule": "!has(self.name) || self.name != 'bad'",
            "messageExpression": "'name ' + self.name + ' is refused'",
        }
    ],
    "properties": {
        "size": {"type": "integer", "minimum": 1, "maximum": 10, "description": "How big."},
        "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
        "name": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]+$"},
        "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
        "port": {"x-kubernetes-int-or-string": True},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "note": {"type": "string", "nullable": True},
        "once": {
            "type": "boolean",
            "description": "Set once.",
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "once is immutable"}
            ],
        },
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def widget_crd(spec_schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": spec_schema or SPEC},
                        }
                    },
                }
            ],
        },
    }


def widget(obj_name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": obj_name},
        "spec": spec,
    }


@pytest.fixture
def widgets(cluster: Cluster) -> Cluster:
    cluster.ext.create_custom_resource_definition(widget_crd())
    return cluster


def test_prunes_unknown_fields_and_applies_defaults(widgets: Cluster) -> None:
    body = widget("w", size=2, unknown=1, free={"any": {"thing": 1}}, labels={"a": "b"})
    body["extra"] = "top-level"
    status, obj = widgets.raw("POST", WIDGETS, body)
    assert status == 201
    assert obj["spec"] == {
        "size": 2,
        "color": "red",
        "free": {"any": {"thing": 1}},
        "labels": {"a": "b"},
    }
    assert "extra" not in obj
    # null of a non-nullable field is dropped, then defaulted; nullable keeps its null
    status, obj = widgets.raw(
        "PATCH",
        f"{WIDGETS}/w",
        {"spec": {"color": None, "note": None}},
        "application/merge-patch+json",
    )
    assert status == 200 and obj["spec"]["color"] == "red"


def test_structural_errors_are_worded_as_kubernetes(widgets: Cluster) -> None:
    status, body = widgets.raw("POST", WIDGETS, widget("w", size="big"))
    assert status == 422
    assert body["message"] == (
        'Widget.example.com "w" is invalid: spec.size: Invalid value: "string": spec.size in body '
        'must be of type integer: "string"'
    )
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueTypeInvalid",
            "message": 'Invalid value: "string": spec.size in body must be of type integer: "string"',
            "field": "spec.size",
        }
    ]
    status, body = widgets.raw(
        "POST", WIDGETS, widget("w", size=11, color="green", name="TOOLONG", tags=["a", "b", "c"])
    )
    assert status == 422
    reasons = {(c["field"], c["reason"]) for c in body["details"]["causes"]}
    assert reasons == {
        ("spec.size", "FieldValueInvalid"),
        ("spec.color", "FieldValueNotSupported"),
        ("spec.name", "FieldValueTooLong"),
        ("spec.name", "FieldValueInvalid"),
        ("spec.tags", "FieldValueTooMany"),
    }
    assert (
        "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10"
        in (body["message"])
    )
    assert (
        'spec.color: Unsupported value: "green": supported values: "red", "blue"'
        in (body["message"])
    )
    status, body = widgets.raw("POST", WIDGETS, widget("w", color="red"))
    assert status == 422 and body["message"].endswith("spec.size: Required value")
    assert widgets.raw("POST", WIDGETS, widget("w", size=1, port="http"))[0] == 201
    assert widgets.raw("POST", WIDGETS, widget("x", size=1, port=80))[0] == 201
    assert widgets.raw("POST", WIDGETS, widget("y", size=1, port=True))[0] == 422


def test_cel_rules_and_transition_rules(widgets: Cluster) -> None:
    status, body = widgets.raw("POST", WIDGETS, widget("w", size=1, name="bad"))
    assert status == 422
    assert body["message"] == (
        'Widget.example.com "w" is invalid: spec: Invalid value: "object": name bad is refused'
    )
    # a transition rule does not run on create, nor when the old object lacks the field
    assert widgets.raw("POST", WIDGETS, widget("w", size=1))[0] == 201
    merge = "application/merge-patch+json"
    assert widgets.raw("PATCH", f"{WIDGETS}/w", {"spec": {"once": True}}, merge)[0] == 200
    assert widgets.raw("PATCH", f"{WIDGETS}/w", {"spec": {"size": 3}}, merge)[0] == 200
    status, body = widgets.raw("PATCH", f"{WIDGETS}/w", {"spec": {"once": False}}, merge)
    assert status == 422
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "boolean": once is immutable',
            "field": "spec.once",
        }
    ]
    # kubectl shows the rule's message
    proc = widgets.kubectl(
        "patch", "widget", "w", "--type", "merge", "-p", '{"spec":{"once":false}}', check=False
    )
    assert proc.returncode == 1
    assert 'spec.once: Invalid value: "boolean": once is immutable' in proc.stderr
    assert (
        widgets.custom.get_namespaced_custom_object("example.com", "v1", "default", "widgets", "w")[
            "spec"
        ]["once"]
        is True
    )


def test_a_crd_whose_rule_does_not_compile_is_refused(cluster: Cluster) -> None:
    bad = dict(SPEC, **{"x-kubernetes-validations": [{"rule": "self.size >"}]})
    status, body = cluster.raw(
        "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", widget_crd(bad)
    )
    assert status == 422
    cause = body["details"]["causes"][0]
    assert cause["field"] == (
        "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
    )
    assert "compilation failed" in cause["message"]


def test_pure_schema_and_rules() -> None:
    s = {"type": "object", "properties": {"spec": SPEC}}
    assert schema.validate({"spec": {"size": 0}}, s)[0].message == (
        "Invalid value: 0: spec.size in body should be greater than or equal to 1"
    )
    old = {"spec": {"size": 1, "once": True}}
    assert celrules.check({"spec": {"size": 1, "once": True}}, old, s) == []
    assert [c.field for c in celrules.check({"spec": {"size": 1, "once": False}}, old, s)] == [
        "spec.once"
    ]
    assert celrules.check({"spec": {"size": 1, "once": False}}, None, s) == []


def test_field_validation_strict_warn_ignore(widgets: Cluster) -> None:
    manifest = (
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 1, sise: 2}\n"
    )
    # kubectl validates strictly by default: the unknown field is an error, nothing is created
    proc = widgets.kubectl("apply", "-f", "-", input=manifest, check=False)
    assert proc.returncode == 1
    assert 'strict decoding error: unknown field "spec.sise"' in proc.stderr
    assert widgets.raw("GET", f"{WIDGETS}/w")[0] == 404
    # --validate=warn (and API clients by default): pruned, with a warning
    proc = widgets.kubectl("apply", "--validate=warn", "-f", "-", input=manifest)
    assert 'unknown field "spec.sise"' in proc.stderr
    assert widgets.raw("GET", f"{WIDGETS}/w")[1]["spec"] == {"size": 1, "color": "red"}
    status, _ = widgets.raw(
        "POST", WIDGETS, widget("x", size=1, other=1), query=[("fieldValidation", "Ignore")]
    )
    assert status == 201
    status, _ = widgets.raw(
        "POST", WIDGETS, widget("y", size=1), query=[("fieldValidation", "Bogus")]
    )
    assert status == 400


def test_server_side_apply_is_strict(widgets: Cluster) -> None:
    body = widget("w", size=1, sise=2)
    status, out = widgets.raw(
        "PATCH",
        f"{WIDGETS}/w",
        body,
        "application/apply-patch+yaml",
        [("fieldManager", "t"), ("fieldValidation", "Ignore")],
    )
    assert status == 500 and "reason" not in out
    assert out["message"] == (
        "failed to create typed patch object (default/w; example.com/v1, Kind=Widget): "
        ".spec.sise: field not declared in schema"
    )
    assert widgets.raw("GET", f"{WIDGETS}/w")[0] == 404


def test_validation_ratcheting(widgets: Cluster) -> None:
    assert widgets.raw("POST", WIDGETS, widget("w", size=5))[0] == 201
    # the CRD tightens size: the stored object no longer validates
    crd = widgets.ext.read_custom_resource_definition("widgets.example.com").to_dict()
    tighter = widget_crd(
        dict(SPEC, properties={**SPEC["properties"], "size": {"type": "integer", "maximum": 3}})
    )
    tighter["metadata"]["resourceVersion"] = crd["metadata"]["resource_version"]
    assert (
        widgets.raw(
            "PUT",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
            tighter,
        )[0]
        == 200
    )
    merge = "application/merge-patch+json"
    # an update that leaves the invalid value unchanged passes (Kubernetes 1.30+ ratcheting)
    status, obj = widgets.raw("PATCH", f"{WIDGETS}/w", {"spec": {"color": "blue"}}, merge)
    assert status == 200 and obj["spec"]["size"] == 5
    # changing it to another invalid value fails
    status, body = widgets.raw("PATCH", f"{WIDGETS}/w", {"spec": {"size": 6}}, merge)
    assert status == 422 and "spec.size" in body["message"]
