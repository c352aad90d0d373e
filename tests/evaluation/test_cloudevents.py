"""messagingMatchCriteria (sveltos-semantics.md §4.8)."""

from __future__ import annotations

import pytest

from shared.evaluation import InvalidEventSource
from tests.evaluation.helpers import compiled

EVENT = {
    "specversion": "1.0",
    "id": "1",
    "source": "github.com/acme/app",
    "type": "com.acme.deploy",
    "subject": "app-1",
}


def test_no_criteria_matches_nothing() -> None:
    assert not compiled().match_cloud_event("events.acme", EVENT)


def test_empty_criterion_matches_anything() -> None:
    assert compiled(criteria=[{}]).match_cloud_event("anything", EVENT)


def test_fields_are_anded_and_unanchored() -> None:
    c = compiled(
        criteria=[{"subject": "acme", "cloudEventSource": "acme/app", "cloudEventType": "deploy$"}]
    )
    assert c.match_cloud_event("events.acme.prod", EVENT)
    assert not c.match_cloud_event("events.other", EVENT)
    assert not c.match_cloud_event("events.acme", {**EVENT, "type": "com.acme.deploy.v2"})


def test_criteria_are_ored() -> None:
    c = compiled(criteria=[{"cloudEventSubject": "^db-"}, {"cloudEventType": "alert"}])
    assert c.match_cloud_event("x", {**EVENT, "subject": "db-1"})
    assert c.match_cloud_event("x", {**EVENT, "type": "com.acme.alert"})
    assert not c.match_cloud_event("x", EVENT)


def test_missing_event_attribute_only_matches_an_empty_or_permissive_pattern() -> None:
    c = compiled(criteria=[{"cloudEventSubject": "."}])
    assert not c.match_cloud_event("x", {"source": "s", "type": "t"})
    assert compiled(criteria=[{"cloudEventSubject": ".*"}]).match_cloud_event("x", {"type": "t"})


def test_invalid_regexp_fails_compilation() -> None:
    with pytest.raises(InvalidEventSource) as info:
        compiled(criteria=[{"cloudEventType": "("}], name="bad-regexp")
    assert "bad-regexp" in str(info.value) and "messagingMatchCriteria[0].cloudEventType" in str(
        info.value
    )
