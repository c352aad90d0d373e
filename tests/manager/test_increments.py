"""Planning what changed (services.manager.increments): a oneForEvent trigger over a matching
set kept by deltas re-plans only the objects that changed, and ends where a plan of the whole
set ends."""

from __future__ import annotations

from typing import Any

from services.manager.matchsets import Entry, MatchSet
from services.manager.state import State
from shared.api.vocabulary import ObjectKey
from shared.contract import messages as m
from shared.contract.subjects import ClusterRef
from tests.manager.test_planning import A, cluster, configmap, trigger

TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: for-{{ .Resource.metadata.name }}
  namespace: default
data:
  rv: "{{ .Resource.metadata.resourceVersion }}"
{{- if eq .Resource.metadata.resourceVersion "bad" }}{{ fail "boom" }}{{ end }}
"""


def obj(name: str, rv: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": "default", "resourceVersion": rv}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta}


def key(name: str) -> ObjectKey:
    return ObjectKey("v1", "Service", "default", name)


def put(ms: MatchSet, name: str, rv: str) -> None:
    ms.put(key(name), Entry(key(name).reference(), obj(name, rv), rv))


def state_with(ms: MatchSet | None = None, **kw: Any) -> State:
    state = State()
    state.set_cluster(cluster(A, env="fv"))
    state.set_event_source("svc", {"kind": "EventSource", "metadata": {"name": "svc"}})
    state.set_ref("ConfigMap", "default", "plain", configmap("plain", {"t": TEMPLATE}))
    state.set_trigger(trigger(one_for_event=True, instantiate_all=True, **kw))
    if ms is not None:
        state.set_report(ms)
    return state


def known_set() -> MatchSet:
    ms = MatchSet(A, "svc")
    ms.set_head(
        m.MatchHead(
            cluster=ClusterRef.of(A),
            event_source_name="svc",
            agent_instance="i",
            generation=1,
            complete=True,
        )
    )
    return ms


def outputs(state: State) -> dict[Any, Any]:
    return {k: tuple(o.manifest["data"]["rv"] for o in e.objects) for k, e in state.desired.items()}


def test_a_change_re_plans_only_its_object_and_matches_a_whole_plan() -> None:
    ms = known_set()
    for i in range(200):
        put(ms, f"s{i:03}", "1")
    state = state_with(ms)
    first = state.reconcile()
    assert len(first.desired_put) == 200
    plans_before = dict(state.pairs[("t", A)].instances)
    put(ms, "s007", "2")  # one object changes
    ms.delete(key("s100"))  # one stops matching
    put(ms, "new", "1")  # one starts matching
    state.report_changed(A, "svc")
    changes = state.reconcile()
    assert len(changes.desired_put) == 2 and len(changes.desired_deleted) == 1
    plan = state.pairs[("t", A)]
    reused = sum(1 for k, p in plan.instances.items() if plans_before.get(k) is p)
    assert reused == 198, "the other instances are the same plans, not rendered again"
    # the same set planned from scratch gives the same desired state
    fresh = state_with(ms)
    fresh.reconcile()
    assert outputs(fresh) == outputs(state)
    assert set(fresh.profiles) == set(state.profiles)


def test_a_template_error_on_change_keeps_the_last_good_objects() -> None:
    ms = known_set()
    put(ms, "web", "1")
    state = state_with(ms)
    state.reconcile()
    put(ms, "web", "bad")
    state.report_changed(A, "svc")
    state.reconcile()
    plan = state.pairs[("t", A)]
    assert plan.errors and "boom" in plan.errors[0], "the error is shown"
    assert outputs(state), "the last good objects stay desired"


def test_cloud_events_changes_re_plan_the_whole_set() -> None:
    ms = known_set()
    put(ms, "web", "1")
    v = ms.version
    ms.cloud_events = [{"id": "1"}]
    ms.version += 1
    ms.events_version = ms.version
    assert ms.changed_since(v) is None


def test_the_change_log_is_bounded_and_a_planner_behind_it_re_plans_everything() -> None:
    ms = known_set()
    for i in range(3000):
        put(ms, f"s{i}", "1")
        ms.delete(key(f"s{i}"))
    assert len(ms._log) <= 2 * len(ms.entries) + 1024
    assert ms.changed_since(0) is None
    assert ms.changed_since(ms.version) == []
