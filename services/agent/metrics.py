"""The agent's metrics (prefix ``ripple_agent_``), read on the loop at scrape time.

Served by the runtime (``--metrics-port``: ``/metrics``, ``/healthz``, ``/readyz``) through
:meth:`shared.runtime.service.Service.add_metrics`, next to the runtime's own (loop lag,
NATS permission violations, ready). Each work queue adds ``workqueue_<name>_adds_total``,
``_retries_total``, ``_failures_total``, ``_depth`` and ``_failing_keys``.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.agent.state import AgentState
from shared.evaluation.isolation import stats as isolation_stats
from shared.metrics import APPLY_BUCKETS, FAST_BUCKETS, LATENCY_BUCKETS, Histogram

Metrics = dict[str, tuple[str, str, float]]


@dataclass(frozen=True)
class Latencies:
    """The agent's histograms (label ``cluster``: this agent's cluster, the destination of
    what it applies)."""

    event_to_applied: Histogram
    evaluation: Histogram
    apply: Histogram

    @classmethod
    def of(cls, cluster: str) -> Latencies:
        labels = {"cluster": cluster}
        return cls(
            event_to_applied=Histogram(
                "event_to_applied_seconds",
                "From a watch event (as its agent received it) to the successful apply of the "
                "desired state it led to, in this destination cluster",
                LATENCY_BUCKETS,
                labels,
            ),
            evaluation=Histogram(
                "evaluation_seconds",
                "Evaluation of one informer event against every EventSource watching its kind "
                "(on the loop; a Lua run handed to a worker thread counts until handed over)",
                FAST_BUCKETS,
                labels,
            ),
            apply=Histogram(
                "apply_seconds",
                "One apply of a profile's desired state (objects and Helm charts), failed ones "
                "included",
                APPLY_BUCKETS,
                labels,
            ),
        )

    def all(self) -> tuple[Histogram, ...]:
        return (self.event_to_applied, self.evaluation, self.apply)


def snapshot(state: AgentState, *, watches: int = 0, invalid: int = 0) -> Metrics:
    """``name -> (kind, help, value)``. ``watches``: informers running; ``invalid``:
    unreadable NATS values skipped (assignments and desired state)."""
    sources = state.assignments.sources.values()
    c = state.counts
    isolation = isolation_stats()
    out: Metrics = {
        "reports_published_total": (
            "counter",
            "Deprecated EventReport snapshots published (ripple-reports)",
            c.reports,
        ),
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
        "helm_installs_total": ("counter", "Helm releases installed", c.helm_installs),
        "helm_upgrades_total": ("counter", "Helm releases upgraded", c.helm_upgrades),
        "helm_uninstalls_total": ("counter", "Helm releases uninstalled", c.helm_uninstalls),
        "helm_failures_total": (
            "counter",
            "Helm release operations that failed (install, upgrade, uninstall)",
            c.helm_failures,
        ),
        "helm_releases": (
            "gauge",
            "Helm releases the profiles hold (or may have left behind)",
            sum(len(r.releases) for r in state.records.values()),
        ),
        "drift_reapplies_total": (
            "counter",
            "Profiles applied again because a deployed object drifted",
            c.drift_reapplies,
        ),
        "conflicts_total": (
            "counter",
            "Objects not applied: another profile of an equal or lower tier owns them",
            c.conflicts,
        ),
        "takeovers_total": (
            "counter",
            "Objects taken over from another profile of a higher tier",
            c.takeovers,
        ),
        "namespaces_created_total": (
            "counter",
            "Missing namespaces created before applying an object",
            c.namespaces_created,
        ),
        "invalid_messages_total": ("counter", "Unreadable NATS values skipped", invalid),
        "cloudevents_rejected_total": (
            "counter",
            "Malformed CloudEvents",
            c.cloudevents_rejected,
        ),
        "entries_written_total": (
            "counter",
            "ripple-matches entries written or deleted",
            c.entries_written,
        ),
        "resyncs_total": (
            "counter",
            "Matching sets resynchronised against ripple-matches (start, new definition, "
            "backlog overflow)",
            c.resyncs,
        ),
        "events_already_stored_total": (
            "counter",
            "Per-change events found stored at a restart and not published again",
            c.events_already_stored,
        ),
        "backlog_overflows_total": (
            "counter",
            "Backlog overflows (the EventSource was resynchronised)",
            sum(state.pending.overflows.values()),
        ),
        "change_events_pending": (
            "gauge",
            "Deltas (per-change events and entries) waiting to be published",
            state.pending.size(),
        ),
        "reports_skipped_total": (
            "counter",
            "Deprecated EventReport snapshots skipped over the message limit",
            c.reports_skipped,
        ),
        "evaluation_errors": (
            "gauge",
            "Objects whose last evaluation failed",
            sum(len(s.errors) for s in sources),
        ),
        "evaluation_timeouts_total": (
            "counter",
            "Lua evaluations abandoned at their hard time limit (the object kept its state)",
            isolation.timeouts_total,
        ),
        "evaluation_runaway_threads": (
            "gauge",
            "Abandoned Lua evaluations still running (they cannot be interrupted)",
            isolation.runaways,
        ),
        "evaluations_waiting": (
            "gauge",
            "Objects waiting for their evaluation (runs suspended, or one still running)",
            sum(s.waiting for s in sources),
        ),
        "evaluation_suspended_sources": (
            "gauge",
            "EventSources whose Lua runs are suspended after runs exceeded the time limit",
            sum(1 for s in sources if s.compiled.unavailable()),
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
