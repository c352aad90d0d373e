"""Observation: informer events and CloudEvents -> matching-set changes (pure)."""

from __future__ import annotations

from services.agent.assigning import Assignments
from services.agent.observing import observe, observe_cloud_event, replay
from services.agent.watching import WatchEvent, WatchKey
from shared.kube import GVK, InformerEvent
from tests.agent.helpers import event_source, svc

SERVICE = GVK("v1", "Service")
KEY = WatchKey(SERVICE)


def event(kind: str, obj: dict[str, object] | None = None, key: WatchKey = KEY) -> WatchEvent:
    return WatchEvent(key, InformerEvent(kind, key.gvk, obj or {}))


def assignments() -> Assignments:
    a = Assignments("c")
    a.put("fv", event_source("fv", label="fv"))
    a.put("prod", event_source("prod", label="prod"))
    a.put("deploy", event_source("deploy", kind="Deployment"))
    return a


def test_an_object_change_reaches_every_source_of_its_informer_only() -> None:
    a = assignments()
    for state in a.sources.values():
        state.dirty = False
    seen = observe(a, event("ADDED", svc("web", labels={"sveltos": "fv"})))
    assert [(s.name, c.change) for s, c in seen.changes] == [("fv", "matched")]
    assert [s.name for s in seen.touched] == ["fv"], "prod saw it but did not change"
    assert not seen.knowledge
    seen = observe(a, event("MODIFIED", svc("web", "2", {"sveltos": "prod"})))
    assert sorted((s.name, c.change) for s, c in seen.changes) == [
        ("fv", "unmatched"),
        ("prod", "matched"),
    ]
    assert a.sources["deploy"].matches == {}


def test_synced_and_failed_change_what_is_known_not_what_matches() -> None:
    a = assignments()
    for kind in ("SYNCED", "FAILED"):
        seen = observe(a, event(kind))
        assert seen.changes == [] and seen.knowledge
        assert sorted(s.name for s in seen.touched) == ["fv", "prod"]


def test_events_of_an_informer_nobody_needs_are_ignored() -> None:
    other = WatchKey(GVK("v1", "ConfigMap"))
    seen = observe(assignments(), event("ADDED", {"metadata": {"name": "x"}}, other))
    assert seen.changes == [] and seen.touched == []


def test_replay_evaluates_what_the_informer_holds() -> None:
    a = assignments()
    assert [c.change for c in replay(a.sources["fv"], svc("web", labels={"sveltos": "fv"}))] == [
        "matched"
    ]


def test_a_cloud_event_is_kept_by_the_sources_whose_criteria_match() -> None:
    a = Assignments("c")
    a.put("ce", event_source("ce", messagingMatchCriteria=[{"cloudEventType": "^app\\.created$"}]))
    a.put("plain", event_source("plain"))
    for state in a.sources.values():
        state.dirty = False
    first = {"specversion": "1.0", "id": "1", "source": "s", "type": "app.created"}
    match = observe_cloud_event(a, "ripple.v1.cloudevents.x", first)
    assert [s.name for s in match.kept] == ["ce"] and match.errors == ()
    assert a.sources["ce"].dirty and not a.sources["plain"].dirty
    newer = {**first, "id": "2"}
    observe_cloud_event(a, "ripple.v1.cloudevents.x", newer)
    assert a.sources["ce"].cloud_events == [newer], "the newest per source and subject"
    other = {**first, "type": "app.deleted"}
    assert observe_cloud_event(a, "ripple.v1.cloudevents.x", other).kept == ()
