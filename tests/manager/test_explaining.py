"""The manager's explain core on a live world: the matching set decides for a named object,
unknown is never "no", outcomes with their times, CloudEvents, and the converse."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.manager import definitions, planning
from services.manager.explaining import explain
from services.manager.explainworld import SetView, Subject, World
from services.manager.model import ClusterKey, Report
from services.manager.provenance import provenance
from shared.api.vocabulary import OWNER_NAME_ANNOTATION, ObjectKey
from shared.contract import messages as m

A = ClusterKey("default", "a")
SVC = ObjectKey("v1", "Service", "default", "web")
SOURCE = {
    "apiVersion": "lib.projectsveltos.io/v1beta1",
    "kind": "EventSource",
    "metadata": {"name": "svc"},
    "spec": {
        "collectResources": True,
        "resourceSelectors": [{"group": "", "version": "v1", "kind": "Service"}],
        "messagingMatchCriteria": [{"cloudEventSource": "^ci$"}],
    },
}
TRIGGER = {
    "apiVersion": "lib.projectsveltos.io/v1beta1",
    "kind": "EventTrigger",
    "metadata": {"name": "t"},
    "spec": {
        "sourceClusterSelector": {"matchLabels": {"env": "fv"}},
        "eventSourceName": "svc",
        "oneForEvent": True,
        "policyRefs": [{"kind": "ConfigMap", "namespace": "default", "name": "tpl"}],
    },
}
TEMPLATE = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "tpl", "namespace": "default"},
    "data": {
        "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: made\n  namespace: default\n"
    },
}


def svc() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
    }


def world(known: bool = True, **extra: Any) -> World:
    cluster = definitions.cluster_info(
        {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "SveltosCluster",
            "metadata": {"name": "a", "namespace": "default", "labels": {"env": "fv"}},
        }
    )
    report = Report(A, "svc", [SVC.reference()], [svc()])
    return World(
        live=True,
        clusters={A: cluster},
        triggers={"t": definitions.trigger_view(TRIGGER)},
        event_sources={"svc": definitions.event_source_object(SOURCE)},
        refs={("ConfigMap", "default", "tpl"): TEMPLATE},
        sets={(A, "svc"): SetView(known, report)},
        **extra,
    )


def test_a_named_object_is_decided_by_the_matching_set() -> None:
    answer = explain(world(), A, Subject(SVC))
    [block] = answer.triggers
    assert answer.verdict == "fires" and block.evaluation is not None
    assert block.evaluation.decided_by == "matching set"
    [instance] = block.instances
    assert instance.objects == ["v1/ConfigMap default/made"] and instance.live is False


def test_a_set_not_known_yet_is_unknown_never_no_match() -> None:
    answer = explain(world(known=False), A, Subject(SVC))
    assert answer.verdict == "unknown" and answer.triggers[0].verdict == "unknown"
    absent = ObjectKey("v1", "Service", "default", "other")
    assert explain(world(), A, Subject(absent)).verdict == "does not fire"


def test_outcomes_with_their_times_and_the_converse() -> None:
    plan_world = world()
    [profile] = explain(plan_world, A, Subject(SVC, svc())).triggers[0].instances
    pair = planning.plan_pair(
        plan_world.triggers["t"],
        plan_world.clusters[A],
        "svc",
        plan_world.sets[(A, "svc")].report,
        planning.World(plan_world.clusters, plan_world.refs),
    )
    plans = dict(pair.profiles)
    outcome = m.ApplyOutcome.model_validate(
        {"cluster": {"namespace": "default", "name": "a", "type": "sveltos"},
         "profileName": profile.profile, "generation": 3, "status": "Provisioned"}
    )  # fmt: skip
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    live = world(
        profiles=plans,
        outcomes={profile.profile: ((A, outcome),)},
        outcome_times={(A, profile.profile): at},
    )
    [instance] = explain(live, A, Subject(SVC, svc())).triggers[0].instances
    assert instance.live is True
    [o] = instance.outcomes
    assert (o.status, o.generation, o.time) == ("Provisioned", 3, at)
    deployed = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "made", "namespace": "default",
                     "annotations": {OWNER_NAME_ANNOTATION: profile.profile}},
    }  # fmt: skip
    found = provenance(live, A, ObjectKey.of(deployed), deployed, plans)
    [origin] = found.origins
    assert (origin.trigger, origin.event_source) == ("t", "svc")
    assert origin.resource == "v1/Service default/web" and origin.outcome is not None
    assert origin.outcome.time == at
    gone = provenance(live, A, ObjectKey("v1", "ConfigMap", "default", "x"), None, plans)
    assert gone.verdict == "not found" and not gone.origins


def test_a_cloud_event_and_a_trigger_that_does_not_select_the_cluster() -> None:
    event = {"id": "1", "source": "ci", "type": "build", "subject": "main"}
    answer = explain(world(), A, Subject(cloud_event=event, nats_subject="events"))
    [block] = answer.triggers
    assert block.evaluation is not None and block.evaluation.decided_by == "messagingMatchCriteria"
    assert answer.verdict == "fires" and len(block.instances) == 1
    refused = explain(world(), A, Subject(cloud_event={**event, "source": "cd"}))
    assert refused.triggers[0].evaluation is not None
    assert refused.triggers[0].evaluation.criteria == ["source 'cd' does not match '^ci$'"]
    other = ClusterKey("default", "b")
    assert "not registered" in explain(world(), other, Subject(SVC, svc())).notes[0]


def whole_set(known: bool) -> World:
    base = world(known)
    view = definitions.trigger_view({**TRIGGER, "spec": {**TRIGGER["spec"], "oneForEvent": False}})
    return World(**{**vars(base), "triggers": {"t": view}})


def test_a_whole_set_trigger_plans_the_set_with_the_object() -> None:
    other = {**svc(), "metadata": {"name": "api", "namespace": "default"}}
    [block] = explain(whole_set(True), A, Subject(ObjectKey.of(other), other)).triggers
    [instance] = block.instances
    assert block.verdict == "fires" and "whole set (2)" in instance.note
    unknown = explain(whole_set(False), A, Subject(ObjectKey.of(other), other))
    assert unknown.verdict == "unknown"
    assert "not known" in unknown.triggers[0].reason


def test_definitions_that_do_not_load_are_shown_never_no() -> None:
    broken = World(
        **{
            **vars(world()),
            "event_sources": {},
            "definition_errors": {"EventSource/svc": "spec.resourceSelectors: boom"},
        }
    )
    answer = explain(broken, A, Subject(SVC, svc()))
    assert answer.verdict == "unknown"
    assert "not found: spec.resourceSelectors: boom" in answer.triggers[0].reason
    assert answer.notes == ["EventSource/svc does not load: spec.resourceSelectors: boom"]
    kept = World(**{**vars(world()), "definition_errors": {"EventSource/svc": "boom"}})
    [block] = explain(kept, A, Subject(SVC, svc())).triggers
    assert block.verdict == "fires" and "last valid version is used" in block.errors[0]


def test_the_agents_per_object_error_is_shown_and_unknown() -> None:
    base = world()
    view = SetView(True, base.sets[(A, "svc")].report, {SVC: "Lua: attempt to index a nil value"})
    erring = World(**{**vars(base), "sets": {(A, "svc"): view}})
    answer = explain(erring, A, Subject(SVC))
    evaluation = answer.triggers[0].evaluation
    assert answer.verdict == "unknown" and evaluation is not None
    assert evaluation.error == "Lua: attempt to index a nil value"
