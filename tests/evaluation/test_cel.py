"""evaluateCEL (sveltos-semantics.md §1.6)."""

from __future__ import annotations

from tests.evaluation.helpers import compiled, service, service_selector


def cel(*rules: str) -> object:
    return compiled(
        service_selector(evaluateCEL=[{"name": f"r{i}", "rule": r} for i, r in enumerate(rules)])
    )


def test_resource_variable_and_integers_stay_ints() -> None:
    c = cel("resource.spec.ports.exists(p, p.port == 443)")
    assert c.evaluate(service(ports=[80, 443])).matching  # type: ignore[attr-defined]
    assert not c.evaluate(service(ports=[80])).matching  # type: ignore[attr-defined]
    # int arithmetic: 7 / 2 == 3 only with integers
    c = cel("resource.spec.ports[0].port / 2 == 3")
    assert c.evaluate(service(ports=[7])).matching  # type: ignore[attr-defined]


def test_rules_are_ored_and_report_the_matching_rule() -> None:
    c = compiled(
        service_selector(
            evaluateCEL=[
                {"name": "is-pod", "rule": "resource.kind == 'Pod'"},
                {"name": "named-web", "rule": "resource.metadata.name == 'web'"},
            ]
        )
    )
    result = c.evaluate(service("web"))
    assert result.matching and "named-web" in result.message
    assert not c.evaluate(service("api")).matching


def test_erroring_rule_counts_as_false() -> None:
    # a missing key is an evaluation error: false, not an error result
    c = cel("resource.metadata.labels.team == 'a'", "resource.metadata.name == 'web'")
    result = c.evaluate(service("api"))  # type: ignore[attr-defined]
    assert result.error is None and not result.matching
    assert c.evaluate(service("web")).matching  # type: ignore[attr-defined]
    guarded = cel("has(resource.metadata.labels) && resource.metadata.labels.team == 'a'")
    assert not guarded.evaluate(service()).matching  # type: ignore[attr-defined]
    assert guarded.evaluate(service(labels={"team": "a"})).matching  # type: ignore[attr-defined]


def test_non_boolean_result_counts_as_false() -> None:
    assert not cel("resource.metadata.name").evaluate(service()).matching  # type: ignore[attr-defined]
    assert not cel("1").evaluate(service()).matching  # type: ignore[attr-defined]


def test_rule_that_does_not_parse_is_false_and_a_warning() -> None:
    c = compiled(
        service_selector(
            evaluateCEL=[
                {"name": "broken", "rule": "resource.("},
                {"name": "ok", "rule": "resource.kind == 'Service'"},
            ]
        )
    )
    assert c.evaluate(service()).matching
    assert any("broken" in w and "does not compile" in w for w in c.warnings)
    only_broken = compiled(service_selector(evaluateCEL=[{"name": "b", "rule": "))"}]))
    result = only_broken.evaluate(service())
    assert not result.matching and result.error is None


def test_cel_with_label_filters() -> None:
    c = compiled(
        service_selector(
            labelFilters=[{"key": "env", "operation": "Equal", "value": "prod"}],
            evaluateCEL=[{"name": "r", "rule": "resource.metadata.name.startsWith('web')"}],
        )
    )
    assert c.evaluate(service("web-1", labels={"env": "prod"})).matching
    assert not c.evaluate(service("web-1", labels={"env": "dev"})).matching
    assert not c.evaluate(service("api", labels={"env": "prod"})).matching
