"""The agent's metrics (prefix ``ripple_agent_``), read on the loop at scrape time.

Served by the runtime (``--metrics-port``: ``/metrics``, ``/healthz``, ``/readyz``) through
:meth:`shared.runtime.service.Service.add_metrics`, next to the runtime's own (loop lag,
NATS permission violations, ready). Each work queue adds ``workqueue_<name>_adds_total``,
``_retries_total``, ``_failures_total``, ``_depth`` and ``_failing_keys``.
"""

from __future__ import annotations

from services.agent.state import AgentState

Metrics = dict[str, tuple[str, str, float]]


def snapshot(state: AgentState, *, watches: int = 0, invalid: int = 0) -> Metrics:
    """``name -> (kind, help, value)``. ``watches``: informers running; ``invalid``:
    unreadable NATS values skipped (assignments and desired state)."""
    sources = state.assignments.sources.values()
    c = state.counts
    out: Metrics = {
        "reports_published_total": ("counter", "EventReport snapshots published", c.reports),
        "reports_deleted_total": (
            "counter",
            "EventReports deleted (EventSource withdrawn)",
            c.reports_deleted,
        ),
        "changes_published_total": ("counter", "Per-change events published", c.changes),
        "applies_total": ("counter", "Desired states applied", c.applies),
        "apply_failures_total": ("counter", "Applies that failed", c.apply_failures),
        "removals_total": ("counter", "Profiles removed", c.removals),
        "removal_failures_total": ("counter", "Removals that failed", c.removal_failures),
        "drift_reapplies_total": (
            "counter",
            "Profiles applied again because a deployed object drifted",
            c.drift_reapplies,
        ),
        "invalid_messages_total": ("counter", "Unreadable NATS values skipped", invalid),
        "cloudevents_rejected_total": (
            "counter",
            "Malformed CloudEvents",
            c.cloudevents_rejected,
        ),
        "change_events_dropped_total": (
            "counter",
            "Per-change events dropped over the backlog limit",
            sum(state.backlog.dropped.values()),
        ),
        "change_events_pending": (
            "gauge",
            "Per-change events waiting to be published",
            state.backlog.size(),
        ),
        "evaluation_errors": (
            "gauge",
            "Objects whose last evaluation failed",
            sum(len(s.errors) for s in sources),
        ),
        "event_sources": ("gauge", "EventSources assigned", len(state.assignments.sources)),
        "event_source_errors": (
            "gauge",
            "EventSources that do not compile",
            len(state.assignments.errors),
        ),
        "profiles": ("gauge", "Profiles deployed or being deployed", len(state.records)),
        "watches": ("gauge", "Informers running", watches),
        "gc_frozen_objects": (
            "gauge",
            "Objects moved out of the cyclic GC's scans, counted at the last freeze",
            c.gc_frozen,
        ),
        "matching_objects": (
            "gauge",
            "Objects matching any EventSource",
            sum(len(s.matches) for s in sources),
        ),
    }
    for queue in state.queues.all():
        out.update(queue.metrics())
    return out
