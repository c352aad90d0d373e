"""Builders shared by the evaluation tests."""

from __future__ import annotations

from typing import Any

from shared.api.eventsource import EventSource
from shared.evaluation import CompiledEventSource, Limits, compile_event_source


def event_source(
    *selectors: dict[str, Any],
    aggregated: str = "",
    criteria: list[dict[str, str]] | None = None,
    name: str = "test-source",
) -> EventSource:
    spec: dict[str, Any] = {"resourceSelectors": list(selectors) or [service_selector()]}
    if aggregated:
        spec["aggregatedSelection"] = aggregated
    if criteria is not None:
        spec["messagingMatchCriteria"] = criteria
    return EventSource.model_validate(
        {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "EventSource",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def service_selector(**extra: Any) -> dict[str, Any]:
    return {"group": "", "version": "v1", "kind": "Service", **extra}


def compiled(
    *selectors: dict[str, Any], limits: Limits | None = None, **kw: Any
) -> CompiledEventSource:
    return compile_event_source(event_source(*selectors, **kw), limits)


def lua(script: str, limits: Limits | None = None, **kw: Any) -> CompiledEventSource:
    """An EventSource with one Service selector whose evaluate is ``script``."""
    return compiled(service_selector(evaluate=script), limits=limits, **kw)


def expr(expression: str) -> CompiledEventSource:
    """evaluate returns {matching = true, message = tostring(<expression>)}."""
    return lua(
        "function evaluate()\n"
        f"  return {{matching = true, message = tostring({expression})}}\n"
        "end\n"
    )


def service(
    name: str = "svc",
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    ports: list[int] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-{name}"}
    if labels is not None:
        md["labels"] = labels
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": md,
        "spec": {
            "selector": {"app": name},
            "ports": [
                {"name": f"p{p}", "protocol": "TCP", "port": p, "targetPort": p + 9000}
                for p in (ports if ports is not None else [80])
            ],
            "type": "ClusterIP",
        },
        **extra,
    }


def message_of(c: CompiledEventSource, obj: dict[str, Any] | None = None) -> str:
    result = c.evaluate(obj or service())
    assert result.error is None, result.error
    return result.message
