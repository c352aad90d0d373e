"""Issue 15 (manager half of items 1, 2 and 6), without servers: an EventSource deleted is
positive knowledge (its triggers' add-ons are withdrawn, through the withdrawal guard), one
never seen stays unknown; a trigger on a missing or invalid EventSource says so once, naming
the clusters; ``spec.oneForEvent`` is immutable; per-object evaluation errors show in the
EventSource's status; failing instances are counted and listed. State, Inputs, Publication
and the status views only: milliseconds."""

from __future__ import annotations

import copy
from typing import Any

from services.manager.inputs import Inputs
from services.manager.model import ClusterKey
from services.manager.outputs import DESIRED, PROFILES
from services.manager.publication import Publication
from services.manager.reconcilemetrics import state_gauges
from services.manager.selection import MAX_INSTANCE_LINES
from services.manager.statuses import definition_views
from shared.api import vocabulary as v
from shared.bus.kv import KVChange
from shared.contract import messages as m
from shared.contract import subjects
from shared.contract.subjects import ClusterRef
from tests.manager.test_inputs import TRIGGER, event
from tests.manager.test_publication import A, B, desired_of, new_state, observe, report
from tests.manager.test_publication_guard import WINDOW, deleted, eight, held, run


def trigger_errors(state: Any, name: str = "t") -> tuple[str, ...]:
    return definition_views(state, {})[f"eventtrigger.{name}"].errors


# -- item 2: an EventSource deleted withdraws; one never seen is unknown ------------------------
def test_deleting_the_event_source_withdraws_what_its_triggers_deployed() -> None:
    state = new_state()
    report(state, A, "s1", "s2")
    report(state, B, "s3")
    state.reconcile()
    assert len(state.desired) == 3 and state.profiles
    state.set_event_source("svc", None)  # seen, then deleted: positive knowledge
    changes = state.reconcile()
    assert len(changes.desired_deleted) == 3 and state.desired == {}
    assert changes.profiles_deleted and state.profiles == {}
    assert changes.assignments_deleted == {(A, "svc"), (B, "svc")}
    assert state.unknown_pairs() == set(), "nothing is held as unknown"
    (line,) = trigger_errors(state)
    assert line.startswith("EventSource 'svc' does not exist (source clusters ")
    assert str(A) in line and str(B) in line and "deleted" in line and "withdrawn" in line


def test_an_event_source_deleted_then_created_again_is_planned_from_its_new_report() -> None:
    state = new_state()
    report(state, A, "s1")
    report(state, B)
    state.reconcile()
    state.set_event_source("svc", None)
    state.reconcile()
    state.set_event_source("svc", {"kind": "EventSource", "metadata": {"name": "svc"}})
    state.delete_report(A, "svc")  # the agent withdrew the old set meanwhile
    state.delete_report(B, "svc")
    state.reconcile()
    assert state.unknown_pairs() == {("t", A), ("t", B)}, "no report yet: unknown again"
    report(state, A, "s2")
    state.reconcile()
    assert [p for _, p in state.desired] and len(state.desired) == 1
    assert trigger_errors(state) == ()


def test_an_event_source_never_seen_is_unknown_and_named_once() -> None:
    state = new_state()
    state.set_event_source("other", {"kind": "EventSource", "metadata": {"name": "other"}})
    state.event_sources.pop("svc")  # as if the manager never saw it (after a restart)
    state.reconcile()
    assert state.unknown_pairs() == {("t", A), ("t", B)}, "never seen: unknown, not deleted"
    (line,) = trigger_errors(state)  # once, not once per cluster
    assert line == (
        f"EventSource 'svc' does not exist (source clusters {A}, {B}): nothing is deployed "
        "from it until it is created (what was deployed before is kept)"
    )


def test_deleting_the_event_source_is_still_guarded() -> None:
    state, pub, keys = eight()
    state.set_event_source("svc", None)
    result = run(pub, observe(pub, state, now=10.0), 10.0)
    assert held(result) == set() and deleted(result) == set(), "waits for the verdict"
    result = run(pub, set(result), 10.0 + WINDOW)
    # the guard still applies: 8 of 8 instances going after a definition change are held
    assert held(result) == keys
    assert pub.published[PROFILES]


def test_a_deleted_event_source_under_the_guards_bound_withdraws() -> None:
    state, pub = new_state(), Publication()
    report(state, A, "s1", "s2")
    report(state, B)
    run(pub, observe(pub, state), 0.0)
    keys = desired_of(state, A)
    assert len(keys) == 2
    state.set_event_source("svc", None)
    dirty = observe(pub, state, now=10.0)
    result = run(pub, dirty, 10.0 + WINDOW)
    assert deleted(result) == keys and not pub.published[DESIRED]


# -- item 6: a trigger on an invalid EventSource ----------------------------------------------
def test_an_invalid_event_source_is_named_once_with_its_error() -> None:
    state = new_state()
    report(state, A, "s1")
    report(state, B)
    state.reconcile()
    state.set_event_source_error("svc", "EventSource/svc: spec.resourceSelectors: required")
    changes = state.reconcile()
    assert not changes.desired_deleted and len(state.desired) == 1, "last valid version kept"
    assert set(state.assignments) == {(A, "svc"), (B, "svc")}
    (line,) = trigger_errors(state)
    assert line == (
        f"EventSource 'svc' is invalid (source clusters {A}, {B}): "
        "spec.resourceSelectors: required; the clusters keep its last valid version"
    )


def test_an_event_source_invalid_from_the_start_is_not_assigned() -> None:
    inputs = Inputs(new_state())
    inputs.state.event_sources.pop("svc")
    bad = {
        "apiVersion": v.EVENT_SOURCE.api_version,
        "kind": "EventSource",
        "metadata": {"name": "svc"},
        "spec": {"resourceSelectors": "all of them"},
    }
    inputs.on_kube(event("ADDED", v.EVENT_SOURCE, bad))
    inputs.state.reconcile()
    assert inputs.state.assignments == {}
    (line,) = trigger_errors(inputs.state)
    assert line == (
        f"EventSource 'svc' is invalid (source clusters {A}, {B}): spec.resourceSelectors: "
        "must be a valid list, got 'all of them'; it is not assigned to them until it is fixed"
    )


# -- item 1: spec.oneForEvent is immutable -----------------------------------------------------
def with_one_for_event(value: bool | None) -> dict[str, Any]:
    obj = copy.deepcopy(TRIGGER)
    if value is not None:
        obj["spec"]["oneForEvent"] = value
    return obj


def deployed_inputs(one_for_event: bool | None) -> Inputs:
    inputs = Inputs(new_state())
    inputs.on_kube(event("ADDED", v.EVENT_TRIGGER, with_one_for_event(one_for_event)))
    report(inputs.state, A, "s1", "s2")
    report(inputs.state, B)
    inputs.state.reconcile()
    return inputs


def test_changing_one_for_event_is_refused_and_the_version_in_force_stays() -> None:
    inputs = deployed_inputs(True)
    view, desired = inputs.state.triggers["t"], dict(inputs.state.desired)
    assert len(desired) == 2
    inputs.on_kube(event("MODIFIED", v.EVENT_TRIGGER, with_one_for_event(False)))
    assert inputs.state.triggers["t"] is view
    assert not inputs.state.reconcile(), "nothing re-planned, nothing pruned"
    assert inputs.state.desired == desired
    message = inputs.definition_errors["EventTrigger/t"]
    assert message == (
        "EventTrigger/t: spec.oneForEvent is immutable (in force: true, this version: false); "
        "this version is refused and the previous one stays in force: delete the EventTrigger "
        "and create it again to change spec.oneForEvent"
    )
    views = definition_views(inputs.state, inputs.definition_errors)
    assert views["eventtrigger.t"].errors[0] == message
    assert views["eventtrigger.t"].matching_clusters == (A, B)
    # changed back: accepted again, the error goes
    inputs.on_kube(event("MODIFIED", v.EVENT_TRIGGER, with_one_for_event(True)))
    assert "EventTrigger/t" not in inputs.definition_errors
    # deleted and created again: any value
    inputs.on_kube(event("DELETED", v.EVENT_TRIGGER, with_one_for_event(True)))
    inputs.on_kube(event("ADDED", v.EVENT_TRIGGER, with_one_for_event(False)))
    assert inputs.definition_errors == {} and not inputs.state.triggers["t"].one_for_event


def test_one_for_event_compares_effective_values() -> None:
    inputs = deployed_inputs(None)  # absent: false
    inputs.on_kube(event("MODIFIED", v.EVENT_TRIGGER, with_one_for_event(False)))
    assert inputs.definition_errors == {}, "absent -> false changes nothing: accepted"
    inputs.on_kube(event("MODIFIED", v.EVENT_TRIGGER, with_one_for_event(None)))
    inputs.on_kube(event("MODIFIED", v.EVENT_TRIGGER, with_one_for_event(True)))
    assert (
        "immutable (in force: false, this version: true)"
        in (inputs.definition_errors["EventTrigger/t"])
    )
    assert not inputs.state.triggers["t"].one_for_event


# -- item 6: per-object evaluation errors in the EventSource's status ------------------------
REF = ClusterRef(namespace="default", name="cluster-a")


def head(errors: list[tuple[str, str]], count: int | None = None) -> KVChange[m.MatchesEvent]:
    data = m.MatchHead(
        cluster=REF,
        event_source_name="svc",
        agent_instance="i",
        generation=1,
        complete=True,
        errors=[
            m.ObjectError(
                object=m.ObjectRef(api_version="v1", kind="Service", namespace="ns", name=n),
                message=f"EventSource 'svc': {text}",
            )
            for n, text in errors
        ],
        error_count=len(errors) if count is None else count,
    )
    return KVChange("put", subjects.match_head_key(REF, "svc"), 1, m.envelope(data))


def test_per_object_errors_show_in_the_event_sources_status() -> None:
    inputs = Inputs(new_state())
    inputs.status_due = False
    failing = [(f"s{n}", f"line 3: attempt to index a nil value (n={n})") for n in range(4)]
    inputs.on_match(head(failing, count=7))
    assert inputs.status_due, "a change of the errors recomputes the statuses"
    views = definition_views(inputs.state, {}, match_sets=inputs.reports)
    (line,) = views["eventsource.svc"].errors
    assert line == (
        f"{A}: 7 objects fail evaluation (each keeps its previous match state): "
        "Service ns/s0: line 3: attempt to index a nil value (n=0); "
        "Service ns/s1: line 3: attempt to index a nil value (n=1); "
        "Service ns/s2: line 3: attempt to index a nil value (n=2) (+4 more)"
    )
    # the agent's own summary of them is left out (the rest of its line stays)
    summary = (
        "EventSource svc: evaluation failed for 7 object(s), kept in their previous state: "
        "Service ns/s0: line 3: attempt to index a nil value (and 6 more)"
    )
    views = definition_views(
        inputs.state,
        {},
        [(str(A), summary), (str(A), f"{summary}; 2 object(s) waiting to be evaluated")],
        match_sets=inputs.reports,
    )
    assert views["eventsource.svc"].errors == (
        f"{A}: EventSource svc: 2 object(s) waiting to be evaluated",
        line,
    )
    inputs.status_due = False
    inputs.on_match(head(failing, count=7))
    assert not inputs.status_due, "the same errors again: no status to recompute"
    inputs.on_match(head([]))
    views = definition_views(inputs.state, {}, match_sets=inputs.reports)
    assert views["eventsource.svc"].errors == ()


# -- item 6: instantiation errors counted and listed ----------------------------------------
def test_failing_instances_are_counted_listed_and_bounded_in_the_status() -> None:
    state = new_state(template="{{ .Nope.deeper }}")
    names = [f"s{n}" for n in range(MAX_INSTANCE_LINES + 5)]
    report(state, A, *names)
    report(state, B, "b0")
    state.reconcile()
    count = MAX_INSTANCE_LINES + 6
    assert state.failing_instances() == count
    assert state_gauges(state)["instantiation_errors"] == count
    view = definition_views(state, {})["eventtrigger.t"]
    assert len(view.instantiation) == count
    assert view.instantiation[-1].startswith(f"{B}: ")
    assert len(view.errors) == MAX_INSTANCE_LINES + 1
    assert view.errors[-1] == "... and 6 more failing instances (GET /v1/errors lists them)"


def test_definition_problems_show_in_both_kinds_of_status() -> None:
    inputs = Inputs(new_state())
    trigger = with_one_for_event(True)
    trigger["spec"]["dependsOn"] = ["elsewhere"]
    inputs.on_kube(event("ADDED", v.EVENT_TRIGGER, trigger))
    selector = {"group": "", "version": "v1", "kind": "Service"}
    source = {
        "apiVersion": v.EVENT_SOURCE.api_version,
        "kind": "EventSource",
        "metadata": {"name": "svc"},
        "spec": {
            "resourceSelectors": [
                {**selector, "evaluateCEL": [{"name": "r", "rule": "resource.metadata.name =="}]}
            ]
        },
    }
    inputs.on_kube(event("ADDED", v.EVENT_SOURCE, source))
    inputs.state.reconcile()
    views = definition_views(
        inputs.state, inputs.definition_errors, warnings=inputs.definition_problems
    )
    (line,) = views["eventtrigger.t"].errors  # once, though selection says it too
    assert line.startswith("spec.dependsOn: accepted, not supported by Ripple")
    (line,) = views["eventsource.svc"].errors
    assert line.startswith("spec.resourceSelectors[0].evaluateCEL[0].rule: line 1: rule r ")
    assert "does not compile" in line
    inputs.on_kube(
        event("MODIFIED", v.EVENT_SOURCE, {**source, "spec": {"resourceSelectors": [selector]}})
    )
    assert "EventSource/svc" not in inputs.definition_problems


def test_new_instantiation_errors_are_logged_once_with_their_pair(caplog: Any) -> None:
    state = new_state(template="{{ .Nope.deeper }}")
    report(state, A, *(f"s{n}" for n in range(5)))
    report(state, B)
    with caplog.at_level("WARNING", logger="services.manager.selection"):
        state.reconcile()
        report(state, A, *(f"s{n}" for n in range(5)))  # the same errors again: no new line
        state.reconcile()
    lines = [r for r in caplog.records if r.name == "services.manager.selection"]
    assert [r.getMessage()[:21] for r in lines[:3]] == ["instantiation failed:"] * 3
    assert lines[3].getMessage() == "instantiation failed for 2 more instances"
    assert len(lines) == 4 and {getattr(r, "obj", None) for r in lines} == {f"t {A}"}


def test_per_object_errors_of_many_clusters_are_bounded() -> None:
    from services.manager.matchsets import MatchSet
    from services.manager.statuses import MAX_EVALUATION_CLUSTERS

    state = new_state()
    sets = {}
    for n in range(MAX_EVALUATION_CLUSTERS + 4):
        key = ClusterKey("default", f"c{n:03}", "sveltos")
        matches = MatchSet(key, "svc")
        message = head([("s", "boom")]).message
        assert message is not None and isinstance(message.data, m.MatchHead)
        matches.set_head(message.data)
        sets[(key, "svc")] = matches
    errors = definition_views(state, {}, match_sets=sets)["eventsource.svc"].errors
    assert len(errors) == MAX_EVALUATION_CLUSTERS + 1
    assert errors[0].startswith("sveltos:default/c000: 1 object fails evaluation")
    assert errors[-1].startswith("... and 4 more clusters with objects that fail evaluation")
