"""The agent's per-EventSource match state (pure: the evaluation engine, no servers)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from services.agent import metrics
from services.agent.evaluating import ChangeEvent, SourceState
from services.agent.state import AgentState
from shared.api.loading import parse_object
from shared.api.vocabulary import ObjectKey
from shared.evaluation import Limits, compile_event_source
from shared.evaluation.isolation import stats
from tests.agent.helpers import CLUSTER

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


#: matches Services labelled sveltos=fv; backtracks for ~0.5-1 s in C on a "hostile" one
HOSTILE_LUA = {
    **LABELS,
    "spec": {
        "resourceSelectors": [
            {
                "group": "",
                "version": "v1",
                "kind": "Service",
                "evaluate": """
function evaluate()
  local labels = obj.metadata.labels or {}
  if labels.hostile then local r = string.rep('a', 12000):find('.*b') end
  return {matching = labels.sveltos == "fv"}
end""",
            }
        ]
    },
}

#: the guards let the hostile pattern through: only the hard time limit stops it
RUNAWAY = Limits(pattern_steps=1e30, hard_seconds=0.15)


def state(definition: dict[str, Any], limits: Limits | None = None) -> SourceState:
    compiled = compile_event_source(parse_object(definition), limits)  # type: ignore[arg-type]
    return SourceState("svc", compiled, collect=True, definition=definition)


def eventually(probe: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, "condition did not hold in time"
        time.sleep(0.02)


def polled(s: SourceState, into: list[ChangeEvent]) -> Callable[[], bool]:
    """A probe that polls ``s`` (collecting its changes) and says whether it is idle."""

    def probe() -> bool:
        into.extend(s.poll())
        return s.running is None and not s.deferred

    return probe


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


def test_a_runaway_evaluation_is_abandoned_and_the_object_keeps_its_state() -> None:
    s = state(HOSTILE_LUA, RUNAWAY)
    s.replaying = False
    s.wait = 0.05
    a = ObjectKey("v1", "Service", "default", "a")
    assert [c.change for c in s.observe("ADDED", svc("a", "1", {"sveltos": "fv"}))] == ["matched"]
    started = time.perf_counter()
    assert s.observe("MODIFIED", svc("a", "2", {"sveltos": "no", "hostile": "y"})) == []
    assert time.perf_counter() - started < s.wait + 0.1, "the loop waits s.wait at most"
    assert s.running is not None
    # the runner is busy: the next object waits, in its state (no evaluation, no change)
    assert s.observe("ADDED", svc("b", "3", {"sveltos": "fv"})) == []
    assert s.waiting == 2 and "2 object(s) waiting" in s.evaluation_problem()
    # past the hard limit the run is abandoned: "a" keeps matching, with the error
    eventually(lambda: not s.poll() and s.running is None)
    assert a in s.matches and a in s.timed_out
    assert "abandoned after 0.15 s" in s.errors[a]
    problem = s.evaluation_problem()
    assert "evaluation abandoned at the time limit for Service default/a" in problem, problem
    assert "suspended" in problem
    snapshot = metrics.snapshot(agent_state(s))
    assert snapshot["evaluation_timeouts_total"][2] >= 1
    assert snapshot["evaluations_waiting"][2] == 2
    assert snapshot["evaluation_suspended_sources"][2] == 1
    # "a" changes again before the runner takes runs: its newest version is evaluated
    assert s.observe("MODIFIED", svc("a", "4", {"sveltos": "no"})) == []
    changes: list[ChangeEvent] = []
    eventually(polled(s, changes))
    assert sorted((c.change, c.key.name) for c in changes) == [("matched", "b"), ("unmatched", "a")]
    assert s.errors == {} and not s.timed_out and s.evaluation_problem() == ""
    eventually(lambda: stats().runaways == 0)


def test_a_change_or_delete_during_a_run_supersedes_its_result() -> None:
    s = state(HOSTILE_LUA, Limits(pattern_steps=1e30, hard_seconds=30.0))
    s.replaying = False
    s.wait = 0.05
    s.observe("ADDED", svc("a", "1", {"sveltos": "fv", "hostile": "y"}))
    assert s.running is not None
    assert s.observe("DELETED", svc("a", "2", {"sveltos": "fv"})) == []
    assert s.running_stale and not s.deferred
    changes: list[ChangeEvent] = []
    eventually(polled(s, changes))
    assert changes == [] and s.matches == {} and s.errors == {}, "the stale result is dropped"
    eventually(lambda: stats().runaways == 0)


def test_the_replay_is_complete_only_once_what_it_left_waiting_was_evaluated() -> None:
    s = state(HOSTILE_LUA, RUNAWAY)
    s.wait = 0.05
    s.replaying = True
    s.observe("ADDED", svc("bad", "1", {"sveltos": "fv", "hostile": "y"}))
    s.observe("ADDED", svc("b", "2", {"sveltos": "fv"}))
    s.replaying = False  # the informers' content was handed over...
    assert s.replaying, "...but b waits for its evaluation"
    eventually(lambda: not s.poll() and s.running is None)
    assert s.replaying, "the abandoned run does not block completion, b still does"
    changes: list[ChangeEvent] = []
    eventually(lambda: bool(changes.extend(s.poll()) or any(c.key.name == "b" for c in changes)))
    assert not s.replaying, "bad ran out of time: evaluated, with its error"
    assert "bad" not in {k.name for k in s.matches}
    s.observe("DELETED", svc("bad", "3"))  # no more retries of the runaway
    eventually(lambda: stats().runaways == 0)


def agent_state(s: SourceState) -> AgentState:
    agent = AgentState(CLUSTER)
    agent.assignments.sources[s.name] = s
    return agent
