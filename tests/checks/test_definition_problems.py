"""The manager's view of the static checks: what refuses a definition, what its status shows."""

from __future__ import annotations

from typing import Any

import pytest

from services.manager import definitions
from services.manager.errors import DefinitionProblem


def event_source(selector: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "lib.projectsveltos.io/v1beta1",
        "kind": "EventSource",
        "metadata": {"name": "es"},
        "spec": {
            "resourceSelectors": [{"group": "", "version": "v1", "kind": "Service", **selector}]
        },
    }


def trigger(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "lib.projectsveltos.io/v1beta1",
        "kind": "EventTrigger",
        "metadata": {"name": "t"},
        "spec": {
            "sourceClusterSelector": {"matchLabels": {"env": "fv"}},
            "eventSourceName": "es",
            **spec,
        },
    }


def test_a_cel_rule_that_does_not_compile_shows_in_the_event_sources_status() -> None:
    obj = event_source({"evaluateCEL": [{"name": "bad", "rule": "resource.x =="}]})
    definitions.event_source_object(obj)  # still used: the rule counts as false, as in Sveltos
    problems = definitions.definition_problems(obj)
    assert len(problems) == 1
    assert problems[0].startswith("spec.resourceSelectors[0].evaluateCEL[0].rule: line 1: ")
    assert "rule bad does not compile, so it counts as false" in problems[0]


def test_a_lua_syntax_error_refuses_the_event_source_with_field_and_line() -> None:
    obj = event_source({"evaluate": "function evaluate(obj)\n  local x =\nend\n"})
    with pytest.raises(DefinitionProblem) as info:
        definitions.event_source_object(obj)
    text = str(info.value)
    assert (
        "EventSource/es: spec.resourceSelectors[0].evaluate: line 3: Lua does not compile" in text
    )
    assert definitions.definition_problems(obj) == []  # an error, not a warning


def test_an_unclosed_template_refuses_the_trigger() -> None:
    obj = trigger(profileNameFormat="p-{{ .MatchingResource.Name ")
    with pytest.raises(DefinitionProblem) as info:
        definitions.trigger_view(obj)
    assert "EventTrigger/t: spec.profileNameFormat: line 1: template does not parse" in str(
        info.value
    )


def test_unsupported_fields_go_to_the_triggers_status() -> None:
    obj = trigger(
        dependsOn=["other"],
        policyRefs=[{"kind": "GitRepository", "name": "repo", "namespace": "flux-system"}],
        cloudEventAction="Delete",
        extraLabels={"a": "b"},
    )
    view = definitions.trigger_view(obj)
    assert view.not_deployed == tuple(definitions.definition_problems(obj))
    text = "\n".join(view.not_deployed)
    assert "spec.dependsOn: accepted, not supported by Ripple: profiles are deployed" in text
    assert "spec.policyRefs[0].kind: accepted, not supported by Ripple: GitRepository" in text
    assert "spec.cloudEventAction: honoured only with oneForEvent: true" in text
    assert "extraLabels" not in text  # supported


def test_definition_problems_never_raises() -> None:
    assert definitions.definition_problems({"kind": "EventTrigger", "spec": "nonsense"}) == []
    assert definitions.definition_problems({}) == []
