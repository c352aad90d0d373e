"""What the agent's event loop owns (no I/O): the cores' state, the work queues, counters.

Created in one place, before any task starts (:func:`services.agent.service.main`); read by
the handlers, the inputs, the status and the metrics, all on the loop. Threads (applies,
large reports, aggregations) only ever get immutable copies.

Work queues (client-go semantics, :mod:`shared.runtime.workqueue`), one per kind of effect:

- ``profiles``: apply / prune / removal, keyed by profile name (drift re-applies re-add it);
- ``changes``: deltas (per-change events + ``ripple-matches`` entries) and heads, keyed by
  EventSource (its :class:`~services.agent.deltas.Pending` deltas in order); withdrawals;
- ``reports``: the deprecated ``ripple-reports`` snapshots, keyed by EventSource;
- ``status``: the agent's status in KV ``ripple-agents`` (one key).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from services.agent.assigning import Assignments
from services.agent.deltas import HeadContent, Pending, StoredSet
from services.agent.drifting import DriftIndex
from services.agent.planning import Record
from services.agent.releasing import ReleasesDone
from shared.contract import messages as m
from shared.contract.subjects import ClusterRef
from shared.runtime.tracing import Origin
from shared.runtime.workqueue import Backoff, WorkQueue

STATUS_KEY = "status"

PROFILE_BACKOFF = Backoff(base=0.2, cap=30.0)
PUBLISH_BACKOFF = Backoff(base=0.1, cap=10.0)


@dataclass
class Counts:
    reports: int = 0
    reports_skipped: int = 0
    reports_deleted: int = 0
    changes: int = 0
    entries_written: int = 0
    resyncs: int = 0
    events_already_stored: int = 0
    applies: int = 0
    apply_failures: int = 0
    removals: int = 0
    removal_failures: int = 0
    drift_reapplies: int = 0
    conflicts: int = 0
    takeovers: int = 0
    namespaces_created: int = 0
    helm_installs: int = 0
    helm_upgrades: int = 0
    helm_uninstalls: int = 0
    helm_failures: int = 0
    cloudevents_rejected: int = 0
    #: objects frozen out of the cyclic GC, counted when frozen (counting walks them all)
    gc_frozen: int = 0

    def add_releases(self, done: ReleasesDone, dry_run: bool = False) -> None:
        """Count what the Helm steps of an apply or removal did (a DryRun did nothing)."""
        self.helm_failures += len(done.errors)
        for r in () if dry_run else done.outcomes:
            if r.action == "install":
                self.helm_installs += 1
            elif r.action == "upgrade":
                self.helm_upgrades += 1
            elif r.action == "uninstall" and r.status == "uninstalled":
                self.helm_uninstalls += 1


@dataclass
class Queues:
    profiles: WorkQueue[str] = field(default_factory=lambda: WorkQueue("profiles", PROFILE_BACKOFF))
    reports: WorkQueue[str] = field(default_factory=lambda: WorkQueue("reports", PUBLISH_BACKOFF))
    changes: WorkQueue[str] = field(default_factory=lambda: WorkQueue("changes", PUBLISH_BACKOFF))
    status: WorkQueue[str] = field(default_factory=lambda: WorkQueue("status", PUBLISH_BACKOFF))

    def all(self) -> tuple[WorkQueue[str], ...]:
        return (self.profiles, self.reports, self.changes, self.status)


class AgentState:
    """Everything one agent keeps in memory, for one cluster."""

    def __init__(self, cluster: ClusterRef, instance: str | None = None) -> None:
        self.cluster = cluster
        self.ident = str(cluster)
        self.instance = instance or uuid.uuid4().hex[:12]
        # EventSources: assignments, match state, reports and per-change events
        self.assignments = Assignments(self.ident)
        self.assignments_synced = False
        self.pending = Pending()  # deltas not published yet, per EventSource
        self.stored: dict[str, StoredSet] = {}  # ripple-matches entries, per EventSource
        self.heads: dict[str, HeadContent] = {}  # the last head published, per EventSource
        self.head_at: dict[str, float] = {}  # when (monotonic) it was published
        self.generation = 0  # of the heads and snapshots this instance publishes
        # desired state: what is wanted, what is held, what drifted
        self.wanted: dict[str, m.DesiredState] = {}
        self.records: dict[str, Record] = {}
        self.desired_synced = False
        self.initial_profiles: set[str] = set()  # found at start-up, not handled yet
        # where the desired state of a profile not applied yet comes from (its oldest
        # change's watch event and trace context, from the desired value's headers)
        self.origins: dict[str, Origin] = {}
        self.drift = DriftIndex()
        self.drifted: set[str] = set()
        # effects and what was published
        self.queues = Queues()
        self.counts = Counts()
        self.published_status: tuple[str, tuple[str, ...], tuple[str, ...]] | None = None
        self.published_status_at = 0.0
        # seconds between the idle heartbeats of its KV watches (more when hosted: Agent)
        self.watch_heartbeat = 2.0

    def next_generation(self) -> int:
        self.generation += 1
        return self.generation
