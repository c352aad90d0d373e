"""The manager's loop: inputs in batches, one reconcile per batch, publication queued.

:class:`Reconciler` owns the state on the event loop. Inputs (informer events, report
changes) arrive on a bounded queue (backpressure to the informers and watches); the loop
drains what is there (a batch), applies it, and -- once every input was read once --
reconciles once for the batch, then hands the keys whose publication must be looked at to
the :class:`~services.manager.publisher.Publisher`'s work queue. Applying a huge batch gives
the loop back every slice (:class:`~shared.runtime.slicing.Slicer`), so REST, metrics and
publication workers never wait long. It does no I/O of its own, so the benchmark and the
tests run it with in-memory buckets.

Planning (rendering every template) runs off the loop, in one worker thread, a slice of
:data:`PLAN_SLICE` seconds at a time, while the loop waits for it
(:mod:`services.manager.planthread`). The state is not changed by the loop meanwhile: inputs
stay queued until the reconcile ends, REST reads the previous snapshot and ``/metrics`` the
gauges of the last reconcile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from services.manager import reconcilemetrics, rendering
from services.manager.guard import Bound
from services.manager.inputs import Inputs
from services.manager.outputs import BUCKETS, Item
from services.manager.planthread import PLAN_SLICE as PLAN_SLICE
from services.manager.planthread import SWITCH_INTERVAL as SWITCH_INTERVAL
from services.manager.planthread import PlanThread
from services.manager.publication import Publication, Published, Unknown
from services.manager.publisher import Bucket, Publisher
from services.manager.reconcilemetrics import counters, state_gauges
from services.manager.sharding import Sharding
from services.manager.snapshot import Snapshot, build
from services.manager.state import Changes, State
from services.manager.statuses import (
    DefinitionView,
    agent_errors,
    definition_views,
    merged_statuses,
    publication_problems,
)
from shared.api.vocabulary import EVENT_BASED_ADDON, EVENT_SOURCE, EVENT_TRIGGER, GVK
from shared.metrics import LATENCY_BUCKETS, Histogram
from shared.runtime import tracing
from shared.runtime.slicing import Slicer
from shared.runtime.tracing import Origin
from shared.templating import Limits

log = logging.getLogger(__name__)

MAX_BATCH = 20_000  # inputs applied before a reconcile, at most
ADD_STEP = 1024  # keys queued for publication between two chances to give the loop back
SNAPSHOT_MAX_AGE = 1.0  # seconds a REST snapshot's counters may lag behind
GAUGES_EVERY = 1.0  # seconds between two counts of the state's gauges after reconciles


class Reconciler(PlanThread):
    def __init__(
        self,
        buckets: Mapping[str, Bucket],
        *,
        limit: int,
        removal_grace: float = 0.0,
        coalesce: float = 0.002,
        published: Published | None = None,
        seeds: Mapping[Item, bytes] | None = None,
        state: State | None = None,
        queue_size: int = 10_000,
        render_limits: Limits | None = None,
        withdrawal_guard: Bound | None = None,
        sharding: Sharding | None = None,
    ) -> None:
        self.inputs = Inputs(state)
        self.state = self.inputs.state
        self.publication = Publication(removal_grace, published, withdrawal_guard)
        #: this manager's shard (None: not sharded, it owns everything)
        self.sharding = self.state.sharding = self.publication.sharding = sharding
        self.publisher = Publisher(
            self.publication, buckets, limit=limit, seeds=seeds, on_failure=self._failed
        )
        self.coalesce = coalesce
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(queue_size)
        self.ready = False
        self.on_ready: Callable[[], None] = lambda: None
        #: called when the shard's members change (its inputs regroup)
        self.on_reshard: Callable[[], None] = lambda: None
        #: sharded: this shard's part of the statuses, to publish; the others', by member
        self.on_status_part: Callable[[dict[str, list[str]]], None] = lambda part: None
        self.status_parts: Mapping[str, Mapping[str, list[str]]] = {}
        self._epoch = 0
        self.invalid_messages: Callable[[], int] = lambda: 0
        #: ripple-matches keys whose latest value could not be read (their object is unknown)
        self.stats = {"reconciles": 0, "batch_max": 0, "reconcile_yields": 0}
        self.reconcile_max = 0.0  # seconds, longest reconcile (wall clock, yields included)
        #: the budget of each render (``--render-seconds``, ``--render-memory``)
        self.render_limits = render_limits or rendering.RENDER_LIMITS
        self.plan_steps = 0  # planning steps done (an instance rendered, a pair planned)
        self._gauges: dict[str, float] = {}  # the state's gauges, at most GAUGES_EVERY old
        self._gauges_at = -GAUGES_EVERY
        self._version = 0
        self._snapshot = Snapshot()
        self._snapshot_at = 0.0
        self._reconciling = False
        self._tick_pending = False
        #: where the matching-set changes of the batch come from (their headers)
        self._origins: list[Origin] = []
        self.reconcile_seconds = Histogram(
            "reconcile_seconds",
            "One reconcile of a batch of inputs (wall clock: planning in its thread and the "
            "slices given back to the loop included)",
            LATENCY_BUCKETS,
        )

    # -- inputs ------------------------------------------------------------------------------
    async def submit(self, source: str, item: Any) -> None:
        """Queue one input (``kube``, ``match``, ``shards`` (the live members, and what the
        buckets held when they changed) or ``tick``); waits while the queue is full."""
        await self.queue.put((source, item))

    def from_thread(self, loop: asyncio.AbstractEventLoop) -> Callable[[Any], None]:
        """A callback for informer threads: blocks the thread while the queue is full."""

        def deliver(event: Any) -> None:
            if Inputs.generated(event) or status_only(event):
                return  # our own output coming back: no input, no reconcile
            try:
                asyncio.run_coroutine_threadsafe(self.submit("kube", event), loop).result()
            except Exception:  # the loop is closing: the informer stops with it
                pass

        return deliver

    def apply_outcome(self, change: Any) -> None:
        self.inputs.on_outcome(change)
        self._version += 1

    def apply_agent(self, change: Any) -> None:
        if self.inputs.on_agent(change):
            self._nudge()
        self._version += 1

    def _nudge(self) -> None:
        """Reconcile soon (statuses to recompute) without a new input."""
        if self._tick_pending:
            return
        try:
            self.queue.put_nowait(("tick", None))
            self._tick_pending = True
        except asyncio.QueueFull:
            pass  # a batch is waiting anyway

    def _failed(self, item: Item) -> None:
        """A publication failed or recovered: its definition's status changes."""
        self._version += 1
        if self.publication.owner(item) is not None:
            self.inputs.status_due = True
            self._nudge()

    def _dispatch(self, source: str, item: Any) -> None:
        try:
            if source == "kube":
                self.inputs.on_kube(item)
            elif source == "shards":
                members, learned = item
                if learned is not None:
                    self.publication.learn(learned)
                if self.sharding is not None and self.sharding.set_members(members):
                    self.inputs.status_due = True  # the statuses it writes may change
                    self._version += 1
            elif source == "status-parts":  # the other shards' parts of the statuses
                self.status_parts = item
                self.inputs.status_due = True
            elif source == "forget-cluster":
                self.inputs.forget_cluster(item)
            elif source == "match":
                self.inputs.on_match(item)
                if item.headers and self.ready:  # live changes (not those read at start)
                    origin = Origin.of(item.headers)
                    if origin is not None:
                        self._origins.append(origin)
            else:
                self._tick_pending = False
        except Exception:
            log.exception("input not processed", extra={"obj": f"{source} {item!r:.200}"})

    # -- the loop ----------------------------------------------------------------------------
    async def run(self) -> None:
        slicer = Slicer()
        while True:
            source, item = await self.queue.get()
            slicer.restart()
            self._dispatch(source, item)
            if self.coalesce:
                await asyncio.sleep(self.coalesce)
            applied = 1
            while not self.queue.empty() and applied < MAX_BATCH:
                self._dispatch(*self.queue.get_nowait())
                applied += 1
                await slicer.pause()
            self.stats["batch_max"] = max(self.stats["batch_max"], applied)
            if self.sharding is not None and self.sharding.epoch != self._epoch:
                self._epoch = self.sharding.epoch  # members or a cluster's shard key changed
                self.on_reshard()
            if self.inputs.known() and (self.sharding is None or self.sharding.known):
                await self.reconcile_traced(slicer)

    async def reconcile_traced(self, slicer: Slicer | None = None) -> None:
        """:meth:`reconcile`, as a span that is the child of the batch's first traced change
        and links to every one; the desired states it queues carry the batch's oldest event
        time and the span's trace context (:meth:`Publisher.carry`)."""
        origins, self._origins = self._origins, []
        started = time.perf_counter()
        try:
            await self._reconcile_traced(slicer, origins)
        finally:
            self.reconcile_seconds.observe(time.perf_counter() - started)

    async def _reconcile_traced(self, slicer: Slicer | None, origins: list[Origin]) -> None:
        if not origins and not tracing.enabled():
            await self.reconcile(slicer)
            return
        oldest = tracing.merge(origins)
        parent = next((o for o in origins if o.traceparent), None)
        attributes = {"ripple.changes": len(origins)}
        with tracing.span("reconcile", parent=parent, links=origins, attributes=attributes,
                          at=oldest.at if oldest else 0.0) as span:  # fmt: skip
            self.publisher.carry = tracing.carried(span, oldest)
            try:
                await self.reconcile(slicer)
            finally:
                self.publisher.carry = None

    async def reconcile(self, slicer: Slicer | None = None) -> None:
        """One reconcile of everything applied so far, and its publication queued."""
        slicer = slicer or Slicer()
        started = time.perf_counter()
        yields = slicer.yields
        changes = Changes()
        self._reconciling = True  # REST gets the previous snapshot until this one is done
        try:
            await self._plan(self.state.reconcile_steps(changes))
            slicer.restart()
            statuses = None
            if changes.status_changed or self.inputs.status_due or self.publication.first:
                self.inputs.status_due = False
                statuses = self._statuses()
            now = asyncio.get_running_loop().time()
            steps = self.publication.observe_steps(changes, self._unknown, now, statuses)
            while True:
                try:
                    next(steps)
                except StopIteration as done:
                    dirty: list[Item] = sorted(done.value, key=_publication_order)
                    break
                await slicer.pause()
        finally:
            self._reconciling = False
            now = time.monotonic()
            if now - self._gauges_at >= GAUGES_EVERY:  # O(pairs): not after every reconcile
                self._gauges, self._gauges_at = state_gauges(self.state), now
        for item in self.publication.forgotten:  # another shard's now: nothing left queued
            self.publisher.forget(item)
        self.publication.forgotten.clear()
        for start in range(0, len(dirty), ADD_STEP):
            self.publisher.add(dirty[start : start + ADD_STEP])
            await slicer.pause()
        self.stats["reconciles"] += 1
        self.stats["reconcile_yields"] += slicer.yields - yields
        self.reconcile_max = max(self.reconcile_max, time.perf_counter() - started)
        self._version += 1
        if not self.ready:
            self.ready = True
            log.info("manager ready: every input was read", extra={"obj": "manager"})
            self.on_ready()

    def _statuses(self) -> dict[str, Any]:
        """Every definition's status by key; a shard publishes its part of them and merges
        the other live shards' parts into the ones it writes."""
        views = self.views()
        if self.sharding is None:
            return {key: view.message() for key, view in views.items()}
        self.on_status_part({k: list(v.errors) for k, v in views.items() if v.errors})
        return merged_statuses(views, self.sharding, self.status_parts)

    def busy(self) -> bool:
        """A reconcile is under way (for a liveness watch with :attr:`plan_steps`)."""
        return self._reconciling

    def _unknown(self) -> Unknown:
        unreadable = self.inputs.unreadable_sets(self.inputs.unreadable_match_keys)
        pairs = self.state.unknown_pairs() | self.state.pairs_reading(unreadable)
        return Unknown(pairs, self.state.failing_profiles())

    def views(self) -> dict[str, DefinitionView]:
        """Every definition's status (publication failures included)."""
        problems = publication_problems(self.publisher.queue.failures, self.publication.owners)
        return definition_views(
            self.state,
            self.inputs.definition_errors,
            agent_errors(self.inputs.agents),
            problems,
            match_sets=self.inputs.reports,
            warnings=self.inputs.definition_problems,
        )

    # -- what REST and /metrics read -----------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The latest snapshot; rebuilt on the loop when the state changed since (never in
        the middle of a reconcile: a request then gets the previous one)."""
        current = self._snapshot
        fresh = current.version == self._version
        if self._reconciling or (fresh and time.monotonic() - self._snapshot_at < SNAPSHOT_MAX_AGE):
            return current
        self._snapshot = build(
            ready=self.ready,
            version=self._version,
            clusters=self.state.clusters,
            triggers=self.state.triggers,
            views=self.views(),
            profiles=self.state.profiles,
            reports=self.inputs.reports,
            outcomes=self.inputs.outcomes,
            outcome_times=self.inputs.outcome_times,
            agents=self.inputs.agents,
            definition_errors=self.inputs.definition_errors,
            informer_errors=self.inputs.informer_errors,
            failures=self.publisher.queue.failures,
            owners=self.publication.owners,
            stats=counters(self.stats, self.inputs, self.publisher, self.publication),
            event_sources=self.state.event_sources,  # explain (/v1/explain)
            refs=self.state.refs,
            shards=self.sharding.view(self.state.clusters) if self.sharding else None,
        )
        self._snapshot_at = time.monotonic()
        return self._snapshot

    def metrics(self) -> dict[str, tuple[str, str, float]]:
        """What ``/metrics`` exposes (:func:`services.manager.reconcilemetrics.metrics`); read
        on the loop (while one is planning in the thread, the state's gauges counted after an
        earlier reconcile, at most :data:`GAUGES_EVERY` before it)."""
        return reconcilemetrics.metrics(
            stats=self.stats,
            reconcile_max=self.reconcile_max,
            plan_steps=self.plan_steps,
            ready=self.ready,
            gauges=self._gauges if self._reconciling else state_gauges(self.state),
            invalid_messages=self.invalid_messages,
            inputs=self.inputs,
            publisher=self.publisher,
            publication=self.publication,
        )


_DEFINITIONS = frozenset({EVENT_SOURCE, EVENT_TRIGGER, EVENT_BASED_ADDON})


def status_only(event: Any) -> bool:
    """A definition's change that is only its status (what the reporter writes from
    ``ripple-status``): no input. Taking it for one would re-plan the definition's every
    instance each time its status is written -- a trigger whose templates fail would render
    them all again at each change of its errors."""
    if event.type != "MODIFIED" or event.old is None or GVK(*event.gvk) not in _DEFINITIONS:
        return False
    return bool(_meaning(event.old) == _meaning(event.obj))


def _meaning(obj: Mapping[str, Any]) -> tuple[Any, ...]:
    meta = obj.get("metadata") or {}
    return (
        obj.get("apiVersion"),
        obj.get("spec"),
        meta.get("labels"),
        meta.get("annotations"),
        meta.get("deletionTimestamp"),
    )


_ORDER = {bucket: n for n, bucket in enumerate(BUCKETS)}


def _publication_order(item: Item) -> int:
    """Assignments first (agents start watching), then desired states, profiles, statuses."""
    return _ORDER[item[0]]
