"""The agent's per-EventSource match state (pure: the evaluation engine, no servers)."""

from __future__ import annotations

from typing import Any

from services.agent.evaluating import SourceState
from shared.api.loading import parse_object
from shared.evaluation import compile_event_source

LABELS = {
    "apiVersion": "lib.projectsveltos.io/v1beta1",
    "kind": "EventSource",
    "metadata": {"name": "svc"},
    "spec": {
        "collectResources": True,
        "resourceSelectors": [
            {
                "group": "",
                "version": "v1",
                "kind": "Service",
                "labelFilters": [{"key": "sveltos", "operation": "Equal", "value": "fv"}],
            }
        ],
    },
}

FAILING_LUA = {
    **LABELS,
    "spec": {
        "resourceSelectors": [
            {
                "group": "",
                "version": "v1",
                "kind": "Service",
                # errors for Services without the label (indexing nil)
                "evaluate": """
function evaluate()
  local hs = {}
  hs.matching = obj.metadata.labels.sveltos == "fv"
  return hs
end""",
            }
        ]
    },
}


def state(definition: dict[str, Any]) -> SourceState:
    compiled = compile_event_source(parse_object(definition))  # type: ignore[arg-type]
    return SourceState("svc", compiled, collect=True, definition=definition)


def svc(name: str, rv: str = "1", labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "resourceVersion": rv}
    if labels is not None:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {}}


def test_match_update_unmatch_and_delete() -> None:
    s = state(LABELS)
    assert [c.change for c in s.observe("ADDED", svc("a", "1", {"sveltos": "fv"}))] == ["matched"]
    assert [c.change for c in s.observe("MODIFIED", svc("a", "2", {"sveltos": "fv"}))] == [
        "updated"
    ]
    assert [c.change for c in s.observe("MODIFIED", svc("a", "3", {}))] == ["unmatched"]
    assert s.observe("DELETED", svc("a", "4", {})) == []
    s.observe("ADDED", svc("b", "5", {"sveltos": "fv"}))
    assert [c.change for c in s.observe("DELETED", svc("b", "6", {"sveltos": "fv"}))] == [
        "unmatched"
    ]
    assert s.matches == {}


def test_terminating_objects_never_match() -> None:
    s = state(LABELS)
    obj = svc("a", "1", {"sveltos": "fv"})
    s.observe("ADDED", obj)
    terminating = svc("a", "2", {"sveltos": "fv"})
    terminating["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert [c.change for c in s.observe("MODIFIED", terminating)] == ["unmatched"]


def test_a_script_error_keeps_the_previous_state_and_is_recorded() -> None:
    s = state(FAILING_LUA)
    assert [c.change for c in s.observe("ADDED", svc("a", "1", {"sveltos": "fv"}))] == ["matched"]
    # the labels vanish: the script errors on this object; it keeps matching (no removal)
    assert s.observe("MODIFIED", svc("a", "2")) == []
    assert len(s.matches) == 1 and len(s.errors) == 1
    assert "line" in next(iter(s.errors.values())).lower()
    # other objects are still evaluated
    assert [c.change for c in s.observe("ADDED", svc("b", "3", {"sveltos": "fv"}))] == ["matched"]
    # the error clears when the object evaluates again
    assert [c.change for c in s.observe("MODIFIED", svc("a", "4", {"sveltos": "no"}))] == [
        "unmatched"
    ]
    assert s.errors == {}
