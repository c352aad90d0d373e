"""Acceptance: the upstream docs corpus and the scenarios' management files load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.api.errors import DefinitionError
from shared.api.eventsource import EventSource
from shared.api.eventtrigger import EventBasedAddOn, EventTrigger
from shared.api.loading import check_file, load_file
from tests.paths import CORPUS, SCENARIOS

DOCS = CORPUS / "sveltos-docs"
INDEX: list[dict[str, Any]] = json.loads((DOCS / "index.json").read_text())

#: documents that are valid YAML but not a valid object (a typo upstream): rejected on purpose
REJECTED_VALID_YAML = {
    # apiVersion lib.projectsveltos.io/v1beta11 does not exist; kubectl would refuse it too
    "events__examples__cross_cluster_configuration/03-EventTrigger-service-policy.yaml": "v1beta11",
}

#: fragments of upstream pages without spec.eventSourceName, which Sveltos' CRD requires
#: (issue 15 item 9): refused, naming the field
REJECTED_FRAGMENTS = {
    "events__templating/01-EventTrigger-deploy-a-resource.yaml",
    "events__examples__cross_cluster_configuration/01-EventTrigger-service-network-policy.yaml",
}

VALID = [
    e
    for e in INDEX
    if e["parses"] and e["file"] not in REJECTED_VALID_YAML and e["file"] not in REJECTED_FRAGMENTS
]
INVALID = [e for e in INDEX if not e["parses"]]


def test_index_has_the_documented_counts() -> None:
    assert len(INDEX) == 62
    assert len(INVALID) == 9


@pytest.mark.parametrize("entry", VALID, ids=[e["file"] for e in VALID])
def test_valid_doc_loads(entry: dict[str, Any]) -> None:
    loaded = load_file(DOCS / entry["file"])
    assert len(loaded) == 1
    obj = loaded[0].obj
    assert obj.kind == entry["kind"]
    if entry["name"] != "noname":
        assert obj.metadata.name == entry["name"]
    else:
        # indentation lost in the upstream page: read leniently, with a warning
        assert obj.metadata.name
        assert loaded[0].warnings and "indentation" in loaded[0].warnings[0]
    expected = {"EventSource": EventSource, "EventTrigger": EventTrigger}[entry["kind"]]
    assert isinstance(obj, expected)
    features = set(entry["features"])
    if isinstance(obj, EventSource):
        sels = obj.spec.resource_selectors
        if "cel" in features:
            assert any(s.evaluate_cel for s in sels)
        if "lua-evaluate" in features:
            assert any(s.evaluate for s in sels)
        if "labelFilters" in features:
            assert any(s.label_filters for s in sels)
        if "lua-aggregatedSelection" in features:
            assert obj.spec.aggregated_selection
        if "messagingMatchCriteria" in features:
            assert obj.spec.messaging_match_criteria
        if "collectResources" in features:
            assert obj.spec.collect_resources
    else:
        assert isinstance(obj, EventTrigger)
        if "oneForEvent" in features:
            assert "oneForEvent" in (DOCS / entry["file"]).read_text()
        if "helmCharts" in features:
            assert obj.spec.helm_charts
        if "policyRefs" in features:
            assert obj.spec.policy_refs
        if "profileNameFormat" in features:
            assert obj.spec.profile_name_format
        if "cloudEventAction" in features:
            assert obj.spec.cloud_event_action


@pytest.mark.parametrize("entry", INVALID, ids=[e["file"] for e in INVALID])
def test_invalid_doc_is_rejected_clearly(entry: dict[str, Any]) -> None:
    path = DOCS / entry["file"]
    with pytest.raises(DefinitionError) as info:
        load_file(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert "invalid YAML" in message
    assert info.value.line is not None
    assert f"{entry['kind']}/{entry['name']}" in message


@pytest.mark.parametrize("name", sorted(REJECTED_VALID_YAML))
def test_typo_api_version_is_rejected(name: str) -> None:
    result = check_file(DOCS / name)
    [error] = result.errors
    assert error.field == "apiVersion"
    assert REJECTED_VALID_YAML[name] in str(error)
    assert "lib.projectsveltos.io/v1beta1" in error.reason


@pytest.mark.parametrize("name", sorted(REJECTED_FRAGMENTS))
def test_trigger_without_event_source_name_is_rejected(name: str) -> None:
    result = check_file(DOCS / name)
    [error] = result.errors
    assert error.field == "spec.eventSourceName"
    assert "required field is missing" in str(error)


MANAGEMENT = sorted(SCENARIOS.glob("*/management/*.yaml"))


def test_scenarios_exist() -> None:
    assert len(MANAGEMENT) >= 15


@pytest.mark.parametrize(
    "path", MANAGEMENT, ids=[str(p.relative_to(SCENARIOS)) for p in MANAGEMENT]
)
def test_scenario_management_file_loads(path: Path) -> None:
    loaded = load_file(path)
    assert loaded
    for item in loaded:
        assert not item.warnings
        if isinstance(item.obj, EventBasedAddOn):
            assert item.obj.spec.source_cluster_selector.matches({"env": "fv"})
            assert item.obj.instantiates({})
        if isinstance(item.obj, EventSource):
            assert item.obj.spec.resource_selectors


def test_history_corpus_eventsources_normalise_alike() -> None:
    """The same EventSource at four upstream commits gives the same normalised selectors."""
    history = CORPUS / "sveltos-agent-events-history"
    specs = []
    for folder in sorted(history.iterdir()):
        [item] = load_file(folder / "service" / "https" / "eventsource.yaml")
        assert isinstance(item.obj, EventSource)
        spec = item.obj.normalized().spec
        [sel] = spec.resource_selectors
        specs.append(
            (spec.collect_resources, sel.group, sel.version, sel.kind, sel.evaluate.strip())
        )
    assert len(specs) == 4
    assert all(s == specs[0] for s in specs)


def test_agent_corpus_eventsources_load() -> None:
    files = sorted(CORPUS.glob("sveltos-agent-events*/**/eventsource.yaml"))
    assert files
    for path in files:
        [item] = load_file(path)
        assert isinstance(item.obj, EventSource)
