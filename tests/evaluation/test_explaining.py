"""shared.evaluation.explaining: each selector's view of an object and who decided."""

from __future__ import annotations

from typing import Any

from shared.evaluation import explaining as ev
from tests.evaluation.helpers import compiled, service_selector


def svc(name: str = "web", ns: str = "default", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"ports": [{"port": 443}], "type": "LoadBalancer"},
    }


def test_the_label_filter_that_refuses_is_named() -> None:
    es = compiled(
        service_selector(labelFilters=[{"key": "tier", "operation": "Equal", "value": "front"}])
    )
    v = ev.explain_object(es, svc(tier="back"))
    assert v.verdict == ev.NO_MATCH and v.decided_by == "resourceSelectors"
    assert "labelFilter tier Equal 'front': label 'tier' is 'back'" in v.message
    assert v.selectors[0].reason == "labelFilter tier Equal 'front': label 'tier' is 'back'"
    absent = ev.explain_object(es, svc())
    assert "label 'tier' is absent" in absent.message


def test_kind_namespace_name_and_selector_refusals() -> None:
    es = compiled(
        service_selector(namespace="eng"),
        service_selector(name="api"),
        service_selector(selector={"matchLabels": {"team": "a"}}),
        {"group": "apps", "version": "v1", "kind": "Deployment"},
    )
    reasons = [s.reason for s in ev.explain_object(es, svc(team="b")).selectors]
    assert reasons[0] == "namespace 'default' is not 'eng'"
    assert reasons[1] == "name 'web' is not 'api'"
    assert reasons[2].startswith("selector 'team=a' does not match")
    assert reasons[3] == "selects apps/v1/Deployment, not v1/Service"


def test_filters_alone_decide_a_match() -> None:
    v = ev.explain_object(compiled(service_selector()), svc())
    assert v.verdict == ev.MATCH and v.decided_by == "filters"
    assert v.message.startswith("resourceSelectors[0] selects it")


def test_cel_rule_and_lua_message_are_kept() -> None:
    cel = compiled(
        service_selector(
            evaluateCEL=[{"name": "lb", "rule": "resource.spec.type == 'LoadBalancer'"}]
        )
    )
    v = ev.explain_object(cel, svc())
    assert (v.verdict, v.decided_by, v.message) == (ev.MATCH, "CEL", "CEL rule 'lb' matched")
    lua = compiled(
        service_selector(
            evaluate='function evaluate() return {matching=false, message="no https port"} end'
        )
    )
    v = ev.explain_object(lua, svc())
    assert (v.verdict, v.decided_by, v.message) == (ev.NO_MATCH, "Lua", "no https port")
    assert v.selectors[0].outcome is not None and v.selectors[0].outcome.message == "no https port"


def test_a_script_error_is_unknown_never_no_match() -> None:
    es = compiled(service_selector(evaluate="function evaluate() error('boom') end"))
    v = ev.explain_object(es, svc())
    assert v.verdict == ev.UNKNOWN and v.error is not None and "boom" in v.error


def test_a_deleted_object_never_matches() -> None:
    obj = svc()
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    v = ev.explain_object(compiled(service_selector()), obj)
    assert (v.verdict, v.decided_by) == (ev.NO_MATCH, "deletion")


def test_cloud_event_criteria_say_which_field_refuses() -> None:
    es = compiled(criteria=[{"cloudEventSource": "^github$", "cloudEventType": "push"}])
    event = {"source": "gitlab", "type": "push", "subject": "x"}
    v = ev.explain_cloud_event(es, "events.a", event)
    assert v.verdict == ev.NO_MATCH
    assert v.criteria == ("source 'gitlab' does not match '^github$'",)
    assert ev.explain_cloud_event(es, "events.a", {**event, "source": "github"}).verdict == ev.MATCH


def test_aggregation_says_whether_the_object_is_in_the_set() -> None:
    script = """function evaluate()
      local hs = {resources = {}, message = "kept the first"}
      table.insert(hs.resources, resources[1])
      return hs
    end"""
    es = compiled(service_selector(), aggregated=script)
    a, b = svc("a"), svc("b")
    assert ev.explain_aggregation(es, [a, b], a).verdict == ev.MATCH
    v = ev.explain_aggregation(es, [a, b], b)
    assert (v.verdict, v.message, v.size) == (ev.NO_MATCH, "kept the first", 1)
