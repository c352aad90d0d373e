"""The manager: definitions + reports -> assignments and desired state, over NATS.

Inputs: informers on the management cluster (EventSources, EventTriggers, EventBasedAddOns,
ConfigMaps, Secrets, SveltosClusters, CAPI Clusters) and a watch of KV ``ripple-reports``.
Outputs: KV ``ripple-assignments`` (EventSources per cluster) and ``ripple-desired`` (what
each destination cluster must run, per profile). Nothing is published before every input
has been read once, and nothing is withdrawn without positive knowledge.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from services.manager import definitions, naming
from services.manager.model import ClusterKey, Report
from services.manager.state import Changes, DesiredEntry, State
from shared.bus import kv as kvbus
from shared.bus.client import close as close_connection
from shared.bus.client import connect
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.subjects import ClusterRef
from shared.kube import GVK, Informer, InformerEvent, KubeClient

log = logging.getLogger(__name__)

EVENT_SOURCE = GVK("lib.projectsveltos.io/v1beta1", "EventSource")
EVENT_TRIGGER = GVK("lib.projectsveltos.io/v1beta1", "EventTrigger")
EVENT_BASED_ADDON = GVK("lib.projectsveltos.io/v1alpha1", "EventBasedAddOn")
CONFIG_MAP = GVK("v1", "ConfigMap")
SECRET = GVK("v1", "Secret")
SVELTOS_CLUSTER = GVK(*definitions.SVELTOS_CLUSTER)
CAPI_CLUSTER = GVK(*definitions.CAPI_CLUSTER)
WATCHED = (
    EVENT_SOURCE,
    EVENT_TRIGGER,
    EVENT_BASED_ADDON,
    CONFIG_MAP,
    SECRET,
    SVELTOS_CLUSTER,
    CAPI_CLUSTER,
)


def _pair_of(labels: dict[str, str]) -> tuple[str, ClusterKey] | None:
    """The (trigger, source cluster) a published desired state was made for, from the
    Sveltos labels it carries (None when they are missing)."""
    for prefix, trigger_key in (
        (naming.PREFIX_V1BETA1, "eventtriggername"),
        (naming.PREFIX_V1ALPHA1, "eventbasedaddonname"),
    ):
        trigger = labels.get(prefix + trigger_key)
        if trigger:
            ctype = "capi" if labels.get(prefix + "clustertype") == "Capi" else "sveltos"
            cluster = ClusterKey(
                labels.get(prefix + "clusterNamespace", ""),
                labels.get(prefix + "clustername", ""),
                ctype,
            )
            return trigger, cluster
    return None


def cluster_ref(key: ClusterKey) -> ClusterRef:
    return ClusterRef(namespace=key.namespace, name=key.name, type=key.type)  # type: ignore[arg-type]


class Manager:
    def __init__(
        self,
        kubeconfig: str | None,
        nats_url: str,
        *,
        ready_file: str | None = None,
        api_host: str = "127.0.0.1",
        api_port: int | None = None,
        api_token: str | None = None,
        coalesce: float = 0.002,
        removal_grace: float = 0.0,
        storage: streams.Storage = "file",
    ) -> None:
        self.kubeconfig = kubeconfig
        self.nats_url = nats_url
        self.ready_file = ready_file
        self.api_host = api_host
        self.api_port = api_port
        self.api_token = api_token
        self.coalesce = coalesce
        self.removal_grace = removal_grace
        # desired keys no longer wanted, kept until their grace period ends (monotonic time);
        # rebuilt after a restart from the published keys, so a restart never removes early
        self._pending_removal: dict[str, float] = {}
        self._wakeup: asyncio.TimerHandle | None = None
        self.storage = storage
        self.state = State()
        self.definition_errors: dict[str, str] = {}  # "Kind/name" -> message
        self.reports_meta: dict[tuple[ClusterKey, str], m.EventReportSnapshot] = {}
        self.outcomes: dict[tuple[ClusterKey, str], m.ApplyOutcome] = {}
        self.agents: dict[str, m.AgentStatus] = {}
        self.ready = False
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(10_000)
        self._stopping = asyncio.Event()
        self._informers: dict[GVK, Informer] = {}
        self._synced: set[GVK] = set()
        self._reports_synced = False
        self._published_desired: set[str] = set()
        self._published_profiles: set[str] = set()
        self._published_status: set[str] = set()
        self._published_assignments: set[str] = set()
        self._tasks: list[asyncio.Task[Any]] = []
        self._cache: dict[str, Any] = {}  # last published body per KV key
        self._reconciled = False
        self._desired_pair: dict[str, tuple[str, ClusterKey] | None] = {}
        self._held: set[str] = set()  # stale after a restart, but their pair's report is unknown
        self._held_profiles: set[str] = set()
        self._status_due = False
        self._profile_keys: dict[str, str] = {}  # profile name -> its key in ripple-profiles
        self.stats = {"reconciles": 0, "report_changes": 0, "desired_puts": 0, "desired_deletes": 0}

    # -- life cycle --------------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self._stopping.set)
            except (NotImplementedError, RuntimeError):
                pass
        self.kube = KubeClient(self.kubeconfig, name="management")
        self.nc = await connect(self.nats_url, "ripple-manager")
        self.js = self.nc.jetstream()
        await streams.ensure(self.js, self.storage)
        self.kv_assign = await kvbus.KVStore.open(self.js, streams.ASSIGNMENTS, m.AssignmentEvent)
        self.kv_reports = await kvbus.KVStore.open(self.js, streams.REPORTS, m.EventReportEvent)
        self.kv_desired = await kvbus.KVStore.open(self.js, streams.DESIRED, m.DesiredStateEvent)
        self.kv_outcomes = await kvbus.KVStore.open(self.js, streams.OUTCOMES, m.ApplyOutcomeEvent)
        self.kv_profiles = await kvbus.KVStore.open(self.js, streams.PROFILES, m.ProfileEvent)
        self.kv_agents = await kvbus.KVStore.open(self.js, streams.AGENTS, m.AgentStatusEvent)
        self.kv_status = await kvbus.KVStore.open(self.js, streams.STATUS, m.DefinitionStatusEvent)
        self._published_status = set(await self._keys(self.kv_status))
        self._published_profiles = set(await self._keys(self.kv_profiles))
        published = await self.kv_desired.items()
        self._published_desired = set(published) | set(self.kv_desired.invalid)
        self._desired_pair = {k: _pair_of(v.data.labels) for k, v in published.items()}
        self._published_assignments = set(await self._keys(self.kv_assign))
        for gvk in WATCHED:
            informer = Informer(self.kube, gvk, self._from_thread(loop))
            self._informers[gvk] = informer
            informer.start()
        self._tasks = [
            asyncio.create_task(self._watch_reports(), name="reports"),
            asyncio.create_task(self._watch_outcomes(), name="outcomes"),
            asyncio.create_task(self._watch_agents(), name="agents"),
            asyncio.create_task(self._loop(), name="reconcile"),
        ]
        if self.api_port is not None:
            self._tasks.append(asyncio.create_task(self._serve_api(), name="api"))
        log.info("manager started", extra={"obj": "manager"})
        try:
            stopper = asyncio.create_task(self._stopping.wait())
            done, _ = await asyncio.wait(
                [stopper, *self._tasks], return_when=asyncio.FIRST_COMPLETED
            )
            failed = None
            for task in done:
                if task is not stopper and not task.cancelled() and task.exception():
                    failed = task.exception()
                    log.error(
                        "task %s failed: %r",
                        task.get_name(),
                        task.exception(),
                        extra={"obj": "manager"},
                    )
            stopper.cancel()
        finally:
            await self.shutdown()
        if failed is not None:  # exit non-zero so a supervisor restarts the service
            raise SystemExit(f"{type(failed).__name__}: {failed}")

    async def shutdown(self) -> None:
        log.info("manager stopping", extra={"obj": "manager"})
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for informer in self._informers.values():
            informer.request_stop()
        await close_connection(self.nc)
        self.kube.close()

    def stop(self) -> None:
        self._stopping.set()

    async def _keys(self, store: kvbus.KVStore[Any]) -> list[str]:
        return list((await store.items()).keys())

    def _from_thread(self, loop: asyncio.AbstractEventLoop) -> Any:
        def deliver(event: InformerEvent) -> None:
            try:
                fut = asyncio.run_coroutine_threadsafe(self._queue.put(("kube", event)), loop)
                fut.result()
            except Exception:  # the loop is closing: the informer stops with it
                pass

        return deliver

    async def _serve_api(self) -> None:
        import uvicorn

        from services.manager.api import create_app

        config = uvicorn.Config(
            create_app(self, token=self.api_token),
            host=self.api_host,
            port=self.api_port or 0,
            log_level="warning",
            lifespan="off",
        )
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        await server.serve()

    # -- inputs ------------------------------------------------------------------------------
    async def _watch_reports(self) -> None:
        async with self.kv_reports.watch() as watch:
            async for change in watch:
                await self._queue.put(("report", change))

    async def _watch_outcomes(self) -> None:
        async with self.kv_outcomes.watch() as watch:
            async for change in watch:
                if change.op == "put" and change.message is not None:
                    o = change.message.data
                    key = ClusterKey(o.cluster.namespace, o.cluster.name, o.cluster.type)
                    self.outcomes[(key, o.profile_name)] = o
                elif change.op == "delete":
                    item = subjects.parse_cluster_key(change.key)
                    c = item.cluster
                    self.outcomes.pop((ClusterKey(c.namespace, c.name, c.type), item.name), None)

    async def _watch_agents(self) -> None:
        async with self.kv_agents.watch() as watch:
            async for change in watch:
                if change.op == "put" and change.message is not None:
                    self.agents[change.key] = change.message.data
                elif change.op == "delete":
                    self.agents.pop(change.key, None)
                if change.op != "synced":
                    self._status_due = True  # agent errors go into the statuses
                    self._queue.put_nowait(("tick", None))

    def _on_kube(self, event: InformerEvent) -> None:
        gvk = event.gvk
        if event.type == "SYNCED":
            self._synced.add(gvk)
            return
        if event.type == "FAILED":
            if event.not_served:
                self._synced.add(gvk)  # e.g. no CAPI in this management cluster
            return
        obj = event.obj
        meta = obj.get("metadata") or {}
        name, namespace = str(meta.get("name", "")), str(meta.get("namespace", "") or "")
        deleted = event.type == "DELETED"
        ident = f"{gvk.kind}/{name}"
        if gvk in (EVENT_TRIGGER, EVENT_BASED_ADDON, EVENT_SOURCE):
            self._status_due = True  # a definition's status may change with it
        if gvk in (EVENT_TRIGGER, EVENT_BASED_ADDON):
            if deleted:
                self.state.delete_trigger(name)
                self.definition_errors.pop(ident, None)
                return
            try:
                self.state.set_trigger(definitions.trigger_view(definitions.trigger_object(obj)))
                self.definition_errors.pop(ident, None)
            except Exception as exc:
                self.definition_errors[ident] = str(exc)
                log.error("invalid definition: %s", exc, extra={"obj": ident})
        elif gvk == EVENT_SOURCE:
            if deleted:
                self.state.set_event_source(name, None)
                self.definition_errors.pop(ident, None)
                return
            try:
                self.state.set_event_source(name, definitions.event_source_object(obj))
                self.definition_errors.pop(ident, None)
            except Exception as exc:
                # bad input loses nothing: clusters keep the last valid version (if any)
                self.definition_errors[ident] = str(exc)
                log.error("invalid definition: %s", exc, extra={"obj": ident})
        elif gvk in (CONFIG_MAP, SECRET):
            labels = meta.get("labels") or {}
            if labels.get("ripple.io/managed-by") == "ripple":
                return  # a copy the reporter wrote from our own output: no input of ours
            self.state.set_ref(gvk.kind, namespace, name, None if deleted else obj)
        elif gvk in (SVELTOS_CLUSTER, CAPI_CLUSTER):
            info = definitions.cluster_info(obj)
            if deleted:
                self.state.delete_cluster(info.key)
            else:
                self.state.set_cluster(info)

    def _on_report(self, change: kvbus.KVChange[m.EventReportEvent]) -> None:
        if change.op == "synced":
            self._reports_synced = True
            return
        self.stats["report_changes"] += 1
        if change.op == "delete" or change.message is None:
            item = subjects.parse_cluster_key(change.key)
            c = item.cluster
            key = ClusterKey(c.namespace, c.name, c.type)
            self.reports_meta.pop((key, item.name), None)
            self.state.delete_report(key, item.name)
            return
        snap = change.message.data
        if not snap.complete:
            return  # never read an incomplete snapshot as "no match"
        key = ClusterKey(snap.cluster.namespace, snap.cluster.name, snap.cluster.type)
        self.reports_meta[(key, snap.event_source_name)] = snap
        self.state.set_report(
            Report(
                cluster=key,
                event_source=snap.event_source_name,
                matching=[r.model_dump(by_alias=True) for r in snap.matching_resources],
                resources=list(snap.resources),
                cloud_events=list(snap.cloud_events),
            )
        )

    # -- reconcile ---------------------------------------------------------------------------
    def _inputs_known(self) -> bool:
        return self._reports_synced and all(g in self._synced for g in WATCHED)

    def metrics(self) -> dict[str, tuple[str, str, float]]:
        """What ``/metrics`` exposes (prefix ``ripple_manager_``)."""
        stores = [getattr(self, n, None) for n in ("kv_reports", "kv_outcomes", "kv_agents")]
        skipped = sum(s.skipped for s in stores if s is not None)
        return {
            "report_changes_total": (
                "counter",
                "Report changes received",
                self.stats["report_changes"],
            ),
            "reconciles_total": ("counter", "Reconcile passes", self.stats["reconciles"]),
            "desired_puts_total": (
                "counter",
                "Desired states published",
                self.stats["desired_puts"],
            ),
            "desired_deletes_total": (
                "counter",
                "Desired states withdrawn",
                self.stats["desired_deletes"],
            ),
            "invalid_messages_total": ("counter", "Unreadable NATS values skipped", skipped),
            "definition_errors": (
                "gauge",
                "Definitions that do not load",
                len(self.definition_errors),
            ),
            "instantiation_errors": (
                "gauge",
                "Profiles whose last instantiation failed",
                sum(1 for p in self.state.profiles.values() if p.error),
            ),
            "profiles": ("gauge", "Generated profiles", len(self.state.profiles)),
            "desired_entries": (
                "gauge",
                "Desired (cluster, profile) entries",
                len(self.state.desired),
            ),
            "clusters": ("gauge", "Registered clusters", len(self.state.clusters)),
            "pending_removals": (
                "gauge",
                "Add-ons inside their removal grace period",
                len(self._pending_removal),
            ),
            "ready": ("gauge", "1 once every input was read", 1.0 if self.ready else 0.0),
        }

    def definition_statuses(self) -> list[m.DefinitionStatus]:
        """Status of every known definition: matching clusters and what is wrong."""
        out: list[m.DefinitionStatus] = []
        names: dict[tuple[str, str], m.DefinitionStatus] = {}
        statuses = self.state.status
        for name, view in self.state.triggers.items():
            status = statuses.get(name)
            problems = list(status.errors) if status else []
            names[(view.kind, name)] = m.DefinitionStatus(
                kind=view.kind,  # type: ignore[arg-type]
                name=name,
                matching_clusters=[
                    cluster_ref(c) for c in (status.matching_clusters if status else [])
                ],
                failure_message="; ".join(problems),
            )
        by_source: dict[str, list[ClusterKey]] = {}
        for c, es in self.state.assignments:
            by_source.setdefault(es, []).append(c)
        for name in self.state.event_sources:
            problems = []
            for agent in self.agents.values():
                problems += [
                    f"{agent.cluster}: {e}"
                    for e in agent.errors
                    if e.startswith(f"EventSource {name}:")
                ]
            assigned = [cluster_ref(c) for c in by_source.get(name, [])]
            names[("EventSource", name)] = m.DefinitionStatus(
                kind="EventSource",
                name=name,
                matching_clusters=sorted(assigned, key=str),
                failure_message="; ".join(problems),
            )
        for ident, error in self.definition_errors.items():
            kind, _, name = ident.partition("/")
            previous = names.get((kind, name))
            names[(kind, name)] = m.DefinitionStatus(
                kind=kind,  # type: ignore[arg-type]
                name=name,
                matching_clusters=previous.matching_clusters if previous else [],
                failure_message=error,
            )
        out.extend(names.values())
        return out

    async def _publish_status(self) -> None:
        current: set[str] = set()
        for status in self.definition_statuses():
            key = subjects.status_key(status.kind, status.name)
            current.add(key)
            if self._changed("s:" + key, status) or key not in self._published_status:
                await self.kv_status.put_until_done(m.envelope(status))
        for key in self._published_status - current:
            await self.kv_status.delete_until_done(key)
            self._cache.pop("s:" + key, None)
        self._published_status = current

    def _schedule_wakeup(self, delay: float) -> None:
        """Reconcile again once the earliest grace period has run out."""
        if self._wakeup is not None:
            return  # already scheduled: deadlines only ever come later than it
        self._wakeup = asyncio.get_running_loop().call_later(
            max(delay, 0.0) + 0.001, lambda: self._queue.put_nowait(("tick", None))
        )

    async def _loop(self) -> None:
        while True:
            source, item = await self._queue.get()
            self._dispatch(source, item)
            if self.coalesce:
                await asyncio.sleep(self.coalesce)
            while not self._queue.empty():
                self._dispatch(*self._queue.get_nowait())
            if not self._inputs_known():
                continue
            await self._reconcile()
            if not self.ready:
                self.ready = True
                if self.ready_file:
                    Path(self.ready_file).write_text(f"{os.getpid()}\n")
                log.info("manager ready", extra={"obj": "manager"})

    def _dispatch(self, source: str, item: Any) -> None:
        try:
            if source == "kube":
                self._on_kube(item)
            elif source == "tick":
                self._wakeup = None
            else:
                self._on_report(item)
        except Exception:
            log.exception("input not processed", extra={"obj": "manager"})

    async def _reconcile(self) -> None:
        """Publish what the last changes changed (incremental). The first pass after a start
        also withdraws what was published before but is no longer wanted."""
        self.stats["reconciles"] += 1
        changes = self.state.reconcile()
        first = not self._reconciled
        self._reconciled = True
        await self._publish_assignments(changes, first)
        await self._publish_desired(changes, first)
        await self._publish_profiles(changes, first)
        if changes.status_changed or first or self._status_due:
            self._status_due = False
            await self._publish_status()

    async def _publish_assignments(self, changes: Changes, first: bool) -> None:
        for (c, es), value in changes.assignments_put.items():
            msg = m.Assignment(
                cluster=cluster_ref(c),
                event_source_name=es,
                event_source=value["eventSource"],
                triggers=sorted(value["triggers"]),
            )
            key = subjects.assignment_key(cluster_ref(c), es)
            if self._changed("a:" + key, msg) or key not in self._published_assignments:
                await self.kv_assign.put_until_done(m.envelope(msg))
                self._published_assignments.add(key)
                log.info("assigned EventSource %s", es, extra={"obj": str(c)})
        gone = {
            subjects.assignment_key(cluster_ref(c), es) for c, es in changes.assignments_deleted
        }
        if first:
            current = {
                subjects.assignment_key(cluster_ref(c), es) for c, es in self.state.assignments
            }
            gone |= self._published_assignments - current
        for key in gone & self._published_assignments:
            await self.kv_assign.delete_until_done(key)
            self._cache.pop("a:" + key, None)
            self._published_assignments.discard(key)

    async def _publish_desired(self, changes: Changes, first: bool) -> None:
        generation = time.time_ns() // 1000
        for (c, p), entry in changes.desired_put.items():
            key = subjects.desired_key(cluster_ref(c), p)
            self._pending_removal.pop(key, None)  # wanted again within its grace period
            msg = self._desired_message(entry, generation)
            if self._changed("d:" + key, msg) or key not in self._published_desired:
                await self.kv_desired.put_until_done(m.envelope(msg))
                self._published_desired.add(key)
                self.stats["desired_puts"] += 1
        now = time.monotonic()
        gone = {subjects.desired_key(cluster_ref(c), p) for c, p in changes.desired_deleted}
        if first or self._held:
            # After a restart, what was published but is not wanted now is withdrawn only on
            # positive knowledge: a key whose (trigger, cluster) still exists but whose report
            # is unknown (not arrived, unreadable) is held until that report is known.
            current = {subjects.desired_key(cluster_ref(c), p) for c, p in self.state.desired}
            stale = (self._published_desired - current) if first else set(self._held)
            unknown = {
                pair
                for pair, es in self.state.pair_es.items()
                if (pair[1], es) not in self.state.reports
            }
            self._held = set()
            for key in stale - current:
                pair = self._desired_pair.get(key)
                if pair in unknown or (pair is None and unknown):
                    self._held.add(key)
                else:
                    gone.add(key)
        for key in gone & self._published_desired:
            self._pending_removal.setdefault(key, now + self.removal_grace)
        for key, deadline in list(self._pending_removal.items()):
            if deadline > now:
                continue  # still inside its grace period
            del self._pending_removal[key]
            await self.kv_desired.delete_until_done(key)
            self._cache.pop("d:" + key, None)
            self._published_desired.discard(key)
            self.stats["desired_deletes"] += 1
        if self._pending_removal:
            self._schedule_wakeup(min(self._pending_removal.values()) - now)

    async def _publish_profiles(self, changes: Changes, first: bool) -> None:
        for profile in changes.profiles_put.values():
            if not profile.cluster_profile:
                continue
            key = subjects.profile_key(cluster_ref(profile.source), profile.name)
            state = m.ProfileState(
                cluster=cluster_ref(profile.source),
                profile_name=profile.name,
                trigger=profile.trigger,
                cluster_profile=profile.cluster_profile,
                instantiated=profile.instantiated,
                error=profile.error,
            )
            self._profile_keys[profile.name] = key
            if self._changed("p:" + key, state) or key not in self._published_profiles:
                await self.kv_profiles.put_until_done(m.envelope(state))
                self._published_profiles.add(key)
        gone = {
            self._profile_keys.pop(n) for n in changes.profiles_deleted if n in self._profile_keys
        }
        if first:
            current = {
                subjects.profile_key(cluster_ref(p.source), p.name)
                for p in self.state.profiles.values()
            }
            gone |= self._published_profiles - current
        for key in gone & self._published_profiles:
            await self.kv_profiles.delete_until_done(key)
            self._cache.pop("p:" + key, None)
            self._published_profiles.discard(key)

    def _changed(self, key: str, msg: Any) -> bool:
        body = msg.model_dump(exclude={"generation"})
        if self._cache.get(key) == body:
            return False
        self._cache[key] = body
        return True

    def _desired_message(self, entry: DesiredEntry, generation: int) -> m.DesiredState:
        return m.DesiredState(
            cluster=cluster_ref(entry.cluster),
            profile_name=entry.profile,
            generation=generation,
            objects=[
                m.DesiredObject(
                    manifest=o.manifest,
                    hash=o.hash,
                    reference=m.ResourceReference(
                        kind=o.reference.kind,
                        namespace=o.reference.namespace,
                        name=o.reference.name,
                    ),
                )
                for o in entry.objects
            ],
            labels=dict(entry.labels),
            sync_mode=entry.sync_mode,  # type: ignore[arg-type]
            stop_matching_behavior=entry.stop_matching_behavior,  # type: ignore[arg-type]
        )


async def run_manager(**kwargs: Any) -> None:
    await Manager(**kwargs).run()


async def main(settings: Any, service: Any) -> None:
    """Entry point used by ``ripple manager`` (transitional: wraps :class:`Manager`)."""
    await Manager(
        kubeconfig=settings.kubeconfig,
        nats_url=settings.nats_url,
        ready_file=str(settings.ready_file) if settings.ready_file else None,
        api_host=settings.api_host,
        api_port=settings.api_port,
        api_token=settings.api_token.get_secret_value() if settings.api_token else None,
        coalesce=settings.coalesce,
        removal_grace=settings.removal_grace,
        storage=settings.storage,
    ).run()
