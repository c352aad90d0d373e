"""The agent's Prometheus metrics: names, kinds and the exposition format (the snapshot the
runtime serves on the loop)."""

import pytest

from services.agent.metrics import snapshot
from services.agent.state import AgentState
from shared.metrics import exposition
from tests.agent.helpers import CLUSTER, event_source


def test_agent_metrics_exposition() -> None:
    state = AgentState(CLUSTER)
    state.counts.reports = 3
    state.assignments.put("svc", event_source())
    state.queues.profiles.add("p")
    text = exposition("ripple_agent", lambda: snapshot(state, watches=2, invalid=1)).decode()
    assert "# TYPE ripple_agent_reports_published_total counter" in text
    assert "ripple_agent_reports_published_total 3.0" in text
    assert "# TYPE ripple_agent_evaluation_errors gauge" in text
    assert "ripple_agent_event_sources 1.0" in text
    assert "ripple_agent_watches 2.0" in text
    assert "ripple_agent_invalid_messages_total 1.0" in text
    assert "ripple_agent_workqueue_profiles_depth 1.0" in text
    assert "# TYPE ripple_agent_workqueue_reports_failures_total counter" in text


def test_conflicts_takeovers_and_namespaces_are_counted() -> None:
    state = AgentState(CLUSTER)
    state.counts.conflicts, state.counts.takeovers, state.counts.namespaces_created = 2, 1, 3
    text = exposition("ripple_agent", lambda: snapshot(state, watches=0, invalid=0)).decode()
    assert "ripple_agent_conflicts_total 2.0" in text
    assert "ripple_agent_takeovers_total 1.0" in text
    assert "ripple_agent_namespaces_created_total 3.0" in text


def test_frozen_objects_are_counted_at_freeze_time_not_per_scrape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``gc.get_freeze_count()`` walks every frozen object (5-15 ms on the loop in an agent):
    a scrape reports the count taken when the agent froze them."""
    import gc

    def walk() -> int:
        raise AssertionError("a scrape must not walk the frozen objects")

    state = AgentState(CLUSTER)
    state.counts.gc_frozen = 1234
    monkeypatch.setattr(gc, "get_freeze_count", walk)
    text = exposition("ripple_agent", lambda: snapshot(state)).decode()
    assert "ripple_agent_gc_frozen_objects 1234.0" in text
