"""The CRDs generated from the models (shared.api.crdgen): structural schemas that take every
definition of the corpus and the scenarios without pruning anything, what `kubectl explain`
shows, the printer columns, oneForEvent's CRD rule, the versions, and the files kept fresh."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from shared.api import crdgen
from shared.api.conversion import convert
from shared.api.crds import Webhook, crd_documents, crd_for
from shared.api.crdschema import at, problems
from tests.paths import CORPUS, REPO, SCENARIOS

HOOK = Webhook(url="https://127.0.0.1:1/convert")


def check(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """What an API server would refuse (or prune: an unknown field) in ``value``: a small
    validator of the structural subset the generated schemas use."""
    where = path or "<root>"
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: null"]
    if schema.get("x-kubernetes-int-or-string"):
        ok = isinstance(value, int | str) and not isinstance(value, bool)
        return [] if ok else [f"{where}: not int-or-string"]
    kind = schema.get("type")
    types = {
        "object": dict,
        "array": list,
        "string": str,
        "boolean": bool,
        "integer": int,
        "number": int | float,
    }
    if (kind and not isinstance(value, types[kind])) or (kind == "integer" and value is True):
        return [f"{where}: {type(value).__name__} is not {kind}"]
    out = []
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        out.append(f"{where}: shorter than {schema['minLength']}")
    if isinstance(value, list):
        for i, item in enumerate(value):
            out.extend(check(schema.get("items", {}), item, f"{path}[{i}]"))
    if isinstance(value, dict) and kind == "object":
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for req in schema.get("required", []):
            if req not in value:
                out.append(f"{where}: {req} is required")
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            if not path and key == "metadata":
                continue  # the API server's own (ObjectMeta)
            if props and key in props:
                out.extend(check(props[key], item, sub))
            elif isinstance(extra, dict):
                out.extend(check(extra, item, sub))
            elif not schema.get("x-kubernetes-preserve-unknown-fields"):
                out.append(f"{sub}: unknown field (pruned)")
    return out


TOP = {"apiVersion", "kind", "metadata", "spec", "status"}


def definitions() -> list[tuple[str, dict[str, Any]]]:
    files = sorted(CORPUS.glob("**/*.yaml")) + sorted(SCENARIOS.glob("*/management/*.yaml"))
    files += sorted((REPO / "tests" / "scenario" / "scenarios").glob("*/management/*.yaml"))
    out = []
    kinds = {k.kind for k in crdgen.KINDS}
    for path in files:
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue  # the corpus' invalid YAML (tests/api/test_corpus.py)
        for doc in docs:
            typo = "v1beta11" in str(isinstance(doc, dict) and doc.get("apiVersion"))  # upstream
            flattened = isinstance(doc, dict) and not set(doc) <= TOP  # indentation lost upstream
            if isinstance(doc, dict) and doc.get("kind") in kinds and not typo and not flattened:
                out.append((str(path.relative_to(path.parents[2])), doc))
    return out


DEFINITIONS = definitions()


def schema_of(kind: str, version: str, webhook: Webhook | None = HOOK) -> dict[str, Any]:
    crd = crd_for(kind, webhook)
    [entry] = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
    return schema


def test_every_schema_is_structural() -> None:
    for webhook in (HOOK, None):
        for crd in crd_documents(webhook):
            for version in crd["spec"]["versions"]:
                schema = version["schema"]["openAPIV3Schema"]
                assert problems(schema) == [], (crd["metadata"]["name"], version["name"])


def test_definitions_were_found() -> None:
    kinds = {doc["kind"] for _, doc in DEFINITIONS}
    assert len(DEFINITIONS) > 60
    assert {"EventSource", "EventTrigger", "EventBasedAddOn"} <= kinds


@pytest.mark.parametrize("webhook", [HOOK, None], ids=["webhook", "no-conversion"])
def test_every_definition_passes_its_schema_and_nothing_is_pruned(
    webhook: Webhook | None,
) -> None:
    """What users copy from Sveltos' docs and Ripple's scenarios is accepted as written (the
    v1alpha1 flat EventSources included), and survives conversion to the storage version."""
    failures = []
    for where, doc in DEFINITIONS:
        kind, version = doc["kind"], doc["apiVersion"].rpartition("/")[2]
        if doc["kind"] == "EventTrigger" and not (doc.get("spec") or {}).get("eventSourceName"):
            continue  # refused on purpose: test_a_trigger_needs_its_event_source_name
        served = [v["name"] for v in crd_for(kind, webhook)["spec"]["versions"]]
        assert version in served, (where, served)
        found = check(schema_of(kind, version, webhook), doc)
        storage = served[-1]
        if webhook is not None and version != storage:
            stored = convert(doc, doc["apiVersion"].replace(version, storage))
            found += check(schema_of(kind, storage, webhook), stored)
        failures += [f"{where}: {f}" for f in found]
    assert failures == []


def test_a_trigger_needs_its_event_source_name() -> None:
    schema = schema_of("EventTrigger", "v1beta1")
    assert "eventSourceName" in at(schema, "spec")["required"]
    assert at(schema, "spec.eventSourceName")["minLength"] == 1
    doc = {"spec": {"sourceClusterSelector": {}}, "metadata": {"name": "x"}}
    assert check(schema, doc) == ["spec: eventSourceName is required"]


def test_bad_values_are_refused_by_the_schema() -> None:
    schema = schema_of("EventSource", "v1beta1")
    bad = {
        "spec": {
            "resourceSelectors": [
                {"version": "v1", "kind": "", "labelFilters": [{"key": "a", "operation": "Like"}]}
            ],
            "labelsFilters": [],
        }
    }
    assert check(schema, bad) == [
        "spec.resourceSelectors[0].kind: shorter than 1",
        "spec.resourceSelectors[0].labelFilters[0].operation: 'Like' not in "
        "['Equal', 'Different', 'Has', 'DoesNotHave']",
        "spec.labelsFilters: unknown field (pruned)",  # only v1alpha1 spells it so
    ]


def test_kubectl_explain_has_something_to_say() -> None:
    trigger = schema_of("EventTrigger", "v1beta1")
    one = at(trigger, "spec.oneForEvent")
    assert one["type"] == "boolean"
    assert "per matching resource" in one["description"]
    assert "Immutable" in one["description"]
    for path in ("spec.eventSourceName", "spec.sourceClusterSelector", "spec.policyRefs"):
        assert at(trigger, path).get("description"), path
    selector = at(schema_of("EventSource", "v1beta1"), "spec.resourceSelectors.[]")
    assert "Lua" in selector["properties"]["evaluate"]["description"]
    assert selector["properties"]["labelFilters"]["items"]["properties"]["operation"]["enum"] == [
        "Equal",
        "Different",
        "Has",
        "DoesNotHave",
    ]


def test_types_enums_defaults_int_or_string_and_loose_parts() -> None:
    spec = at(schema_of("EventTrigger", "v1beta1"), "spec")
    props = spec["properties"]
    assert props["syncMode"]["enum"] == [
        "OneTime",
        "Continuous",
        "ContinuousWithDriftDetection",
        "DryRun",
    ]
    assert props["syncMode"]["default"] == "Continuous"
    assert props["stopMatchingBehavior"]["default"] == "WithdrawPolicies"
    assert "default" not in props["oneForEvent"]  # as Sveltos: the rule needs both sides
    assert props["maxUpdate"] == {"x-kubernetes-int-or-string": True}
    assert props["tier"]["type"] == "integer"
    assert props["validateHealths"]["items"] == {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    assert props["helmCharts"]["items"]["x-kubernetes-preserve-unknown-fields"] is True
    assert props["sourceClusterSelector"]["properties"]["matchLabels"] == {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "Labels that must all be present with these values.",
    }
    profile = at(schema_of("ClusterProfile", "v1beta1"), "spec")
    assert profile["x-kubernetes-preserve-unknown-fields"] is True  # the loose model
    report = at(schema_of("EventReport", "v1beta1"), "spec")
    assert report["properties"]["resources"] == {
        "type": "string",
        "format": "byte",
        "description": "The collected objects (collectResources), base64 of JSON documents.",
    }
    assert at(schema_of("EventTrigger", "v1beta1"), "status")[
        "x-kubernetes-preserve-unknown-fields"
    ]


def test_one_for_event_is_immutable_by_a_crd_rule() -> None:
    for kind, versions in (
        ("EventTrigger", ("v1alpha1", "v1beta1")),
        ("EventBasedAddOn", ("v1alpha1",)),
    ):
        for version in versions:
            node = at(schema_of(kind, version), "spec.oneForEvent")
            assert node["x-kubernetes-validations"] == [
                {"rule": "self == oldSelf", "message": crdgen.IMMUTABLE_MESSAGE}
            ]


def test_v1alpha1_shapes() -> None:
    source = at(schema_of("EventSource", "v1alpha1"), "spec")["properties"]
    assert {
        "group",
        "version",
        "kind",
        "namespace",
        "labelFilters",
        "labelsFilters",
        "script",
    } <= set(source)
    assert "script" in source["resourceSelectors"]["items"]["properties"]
    assert "kind" not in at(schema_of("EventSource", "v1beta1"), "spec")["properties"]
    trigger = at(schema_of("EventTrigger", "v1alpha1"), "spec")["properties"]
    assert trigger["sourceClusterSelector"]["type"] == "string"
    assert at(schema_of("ClusterProfile", "v1alpha1"), "spec.clusterSelector")["type"] == "string"
    addon = at(schema_of("EventBasedAddOn", "v1alpha1"), "spec")["properties"]
    assert addon["sourceClusterSelector"]["type"] == "string"


def test_printer_columns() -> None:
    def columns(kind: str) -> dict[str, str]:
        [version] = [v for v in crd_for(kind, HOOK)["spec"]["versions"] if v["storage"]]
        return {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}

    assert columns("EventTrigger") == {
        "EventSource": ".spec.eventSourceName",
        "OneForEvent": ".spec.oneForEvent",
        "SyncMode": ".spec.syncMode",
        "Failure": ".status.failureMessage",
        "Age": ".metadata.creationTimestamp",
    }
    assert columns("EventReport")["Cluster"] == ".spec.clusterName"
    assert columns("EventReport")["Matching"] == ".spec.matchingResources[*].name"
    assert columns("ClusterProfile")["SyncMode"] == ".spec.syncMode"
    assert columns("EventSource")["Kinds"] == ".spec.resourceSelectors[*].kind"
    # Sveltos' own columns of SveltosCluster (libsveltos config/crd/bases)
    assert list(columns("SveltosCluster")) == [
        "Ready",
        "ConnectionStatus",
        "Version",
        "Age",
        "Shard",
    ]


def test_storage_versions_and_short_form() -> None:
    for crd in crd_documents(HOOK):
        versions = crd["spec"]["versions"]
        assert [v["storage"] for v in versions].count(True) == 1
        assert versions[-1]["storage"] and versions[-1]["name"] == (
            "v1alpha1" if crd["spec"]["names"]["kind"] == "EventBasedAddOn" else "v1beta1"
        )
        assert crd["spec"]["names"]["categories"] == ["sveltos"]


def test_generated_files_are_fresh() -> None:
    assert crdgen.main(["check"]) == 0, "run make crds"
    assert crdgen.main(["nonsense"]) == 2
    template = (REPO / "charts" / "ripple" / "templates" / "_crds.tpl").read_text()
    assert template.count("kind: CustomResourceDefinition") == len(crdgen.KINDS)
    assert "{{ .ctx.Release.Namespace }}" in template and "caBundle: {{ .ca }}" in template
