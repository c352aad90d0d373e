"""The agent: one per managed cluster.

- receives the EventSources assigned to its cluster (KV ``ripple-assignments``);
- keeps one informer per kind, shared by all EventSources, and evaluates every change;
- publishes each EventSource's EventReport snapshot (KV ``ripple-reports``) whenever its
  matching set or collected content changes, coalescing bursts for ``coalesce`` seconds, and a
  per-change CloudEvent on ``ripple.v1.events...``;
- applies the desired state published for its cluster (KV ``ripple-desired``) with server-side
  apply, prunes what is no longer desired, and publishes the outcome (KV ``ripple-outcomes``).

Stale is never "no match": a snapshot is published only once every kind the EventSource needs
has been listed (or is known not to be served); a failing list/watch publishes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.agent import cloudevents
from services.agent.applying import Applier, normal_key
from services.agent.drifting import drifted
from services.agent.evaluating import ChangeEvent, SourceState
from services.agent.watching import Watches, WatchEvent, WatchKey, tenant_identity
from shared.api.loading import parse_object
from shared.bus import kv as kvbus
from shared.bus.client import close as close_connection
from shared.bus.client import connect, publish_change
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.subjects import ClusterRef
from shared.evaluation import compile_event_source
from shared.kube import GVK, InformerEvent, KubeClient
from shared.kube.client import ObjectKey, object_key

log = logging.getLogger(__name__)


class Agent:
    def __init__(
        self,
        cluster: ClusterRef,
        kubeconfig: str | None,
        nats_url: str,
        *,
        ready_file: str | None = None,
        coalesce: float = 0.005,
        storage: streams.Storage = "file",
        cloudevent_subjects: list[str] | None = None,
        metrics_port: int | None = None,
    ) -> None:
        self.metrics_port = metrics_port
        self.counts = {"reports": 0, "changes": 0, "applies": 0, "apply_failures": 0, "prunes": 0}
        self.cluster = cluster
        self.cloudevent_subjects = [
            cloudevents.default_subject(cluster),
            *(cloudevent_subjects or []),
        ]
        self.cloudevents_rejected = 0
        self.kubeconfig = kubeconfig
        self.nats_url = nats_url
        self.ready_file = ready_file
        self.coalesce = coalesce
        self.storage = storage
        self.instance = uuid.uuid4().hex[:12]
        self.ident = str(cluster)
        self.sources: dict[str, SourceState] = {}
        self.source_errors: dict[str, str] = {}
        self.generation = 0
        self.applied: dict[str, list[ObjectKey]] = {}  # profile -> objects last applied
        self.leave: dict[str, bool] = {}  # profile -> LeavePolicies
        self.last_desired: dict[str, m.DesiredState] = {}
        self.drift_watch: dict[ObjectKey, str] = {}  # deployed object -> profile (drift mode)
        self._reapplying: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._tenant_clients: dict[str, KubeClient] = {}
        self._published_status: tuple[list[str], list[str]] = ([], [])
        self._flush_event = asyncio.Event()
        self._stopping = asyncio.Event()
        self._assign_synced = False
        self._desired_synced = False
        self._ready_written = False
        self._tasks: list[asyncio.Task[None]] = []

    # -- life cycle --------------------------------------------------------------------------
    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self._stopping.set)
            except (NotImplementedError, RuntimeError):
                pass
        self.kube = KubeClient(self.kubeconfig, name=self.cluster.name)
        self.applier = Applier(self.kube, self.cluster.name)
        self.watches = Watches(self.kube, loop, self._client_for)
        self.nc = await connect(self.nats_url, f"ripple-agent {self.ident}")
        self.js = self.nc.jetstream()
        await streams.ensure(self.js, self.storage)
        self.assignments = await kvbus.KVStore.open(self.js, streams.ASSIGNMENTS, m.AssignmentEvent)
        self.reports = await kvbus.KVStore.open(self.js, streams.REPORTS, m.EventReportEvent)
        self.desired = await kvbus.KVStore.open(self.js, streams.DESIRED, m.DesiredStateEvent)
        self.outcomes = await kvbus.KVStore.open(self.js, streams.OUTCOMES, m.ApplyOutcomeEvent)
        self.agents = await kvbus.KVStore.open(self.js, streams.AGENTS, m.AgentStatusEvent)
        await self._load_outcomes()
        if self.metrics_port is not None:
            self._serve_metrics(self.metrics_port)
        await self._status("starting")
        try:  # warm the discovery cache so the first event does not pay for it
            await asyncio.to_thread(lambda: self.kube.dynamic)
        except Exception as exc:
            log.warning("discovery failed (will retry): %s", exc, extra={"obj": self.ident})
        log.info("agent started (instance %s)", self.instance, extra={"obj": self.ident})
        self._tasks = [
            asyncio.create_task(self._watch_assignments(), name="assignments"),
            asyncio.create_task(self._consume_informers(), name="informers"),
            asyncio.create_task(self._flusher(), name="flusher"),
            asyncio.create_task(self._watch_desired(), name="desired"),
        ]
        for subject in self.cloudevent_subjects:
            await self.nc.subscribe(subject, cb=self._on_cloud_event)
        try:
            stopper = asyncio.create_task(self._stopping.wait())
            done, _ = await asyncio.wait(
                [stopper, *self._tasks], return_when=asyncio.FIRST_COMPLETED
            )
            failed = None
            for task in done:
                if task is not stopper and task.exception():
                    failed = task.exception()
                    log.error(
                        "task %s failed: %r",
                        task.get_name(),
                        task.exception(),
                        extra={"obj": self.ident},
                    )
            stopper.cancel()
        finally:
            await self.shutdown()
        if failed is not None:  # exit non-zero so a supervisor restarts the service
            raise SystemExit(f"{type(failed).__name__}: {failed}")

    async def shutdown(self) -> None:
        log.info("agent stopping", extra={"obj": self.ident})
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self._status("stopping")
        except Exception:
            pass
        await asyncio.to_thread(self.watches.stop)
        await close_connection(self.nc)
        self.kube.close()
        for client in self._tenant_clients.values():
            client.close()

    def stop(self) -> None:
        self._stopping.set()

    def errors(self) -> list[str]:
        """What keeps this agent from doing its whole job, for its status. Problems of one
        EventSource start with ``EventSource <name>:`` (the manager shows them there)."""
        out = [f"EventSource {n}: {e}" for n, e in sorted(self.source_errors.items())]
        attributed = set()
        for state in sorted(self.sources.values(), key=lambda s: s.name):
            for key in state.watch_keys:
                error = self.watches.error(key)
                if error:
                    attributed.add(key)
                    out.append(f"EventSource {state.name}: {error}")
            if state.aggregate_error:
                out.append(f"EventSource {state.name}: {state.aggregate_error}")
        for key, informer in sorted(self.watches.informers.items()):
            if informer.error and key not in attributed:
                out.append(f"watch {key.gvk}: {informer.error}")
        return out

    def metrics(self) -> dict[str, tuple[str, str, float]]:
        """What ``--metrics-port`` exposes (prefix ``ripple_agent_``)."""
        stores = [getattr(self, n, None) for n in ("assignments", "desired")]
        return {
            "reports_published_total": (
                "counter",
                "EventReport snapshots published",
                self.counts["reports"],
            ),
            "changes_published_total": (
                "counter",
                "Per-change events published",
                self.counts["changes"],
            ),
            "applies_total": ("counter", "Desired states applied", self.counts["applies"]),
            "apply_failures_total": (
                "counter",
                "Applies that failed",
                self.counts["apply_failures"],
            ),
            "invalid_messages_total": (
                "counter",
                "Unreadable NATS values skipped",
                sum(s.skipped for s in stores if s is not None),
            ),
            "cloudevents_rejected_total": (
                "counter",
                "Malformed CloudEvents",
                self.cloudevents_rejected,
            ),
            "evaluation_errors": (
                "gauge",
                "Objects whose last evaluation failed",
                sum(len(s.errors) for s in self.sources.values()),
            ),
            "event_sources": ("gauge", "EventSources assigned", len(self.sources)),
            "event_source_errors": (
                "gauge",
                "EventSources that do not compile",
                len(self.source_errors),
            ),
            "watches": (
                "gauge",
                "Informers running",
                len(self.watches.informers) if hasattr(self, "watches") else 0,
            ),
            "matching_objects": (
                "gauge",
                "Objects matching any EventSource",
                sum(len(s.matches) for s in self.sources.values()),
            ),
        }

    def _serve_metrics(self, port: int) -> None:
        """Prometheus exposition on 127.0.0.1:port (a daemon thread of prometheus-client)."""
        from prometheus_client import CollectorRegistry, start_http_server

        from shared.metrics import Collector

        registry = CollectorRegistry(auto_describe=False)
        registry.register(Collector("ripple_agent", self.metrics))
        start_http_server(port, addr="127.0.0.1", registry=registry)
        log.info("metrics on http://127.0.0.1:%d/metrics", port, extra={"obj": self.ident})

    def _client_for(self, identity: str) -> KubeClient:
        """The agent's client, or one impersonating a tenant (one per tenant, reused)."""
        if not identity:
            return self.kube
        client = self._tenant_clients.get(identity)
        if client is None:
            client = KubeClient(self.kubeconfig, impersonate=identity, name=self.cluster.name)
            self._tenant_clients[identity] = client
        return client

    async def _status(self, state: str, errors: list[str] | None = None) -> None:
        gvks = (
            sorted({str(k.gvk) for k in self.watches.informers}) if hasattr(self, "watches") else []
        )
        status = m.AgentStatus(
            cluster=self.cluster,
            instance=self.instance,
            state=state,  # type: ignore[arg-type]
            watched_gvks=gvks,
            errors=errors or [],
            time=datetime.now(UTC),
        )
        try:  # best effort: liveness must never take the agent down
            await self.agents.put(m.envelope(status))
        except Exception as exc:
            log.warning("status not published: %s", exc, extra={"obj": self.ident})

    async def _maybe_ready(self) -> None:
        if self._ready_written or not (self._assign_synced and self._desired_synced):
            return
        if not all(self._complete(s) for s in self.sources.values()):
            return
        self._ready_written = True
        await self._status("ready")
        if self.ready_file:
            Path(self.ready_file).write_text(f"{os.getpid()}\n")
        log.info("agent ready", extra={"obj": self.ident})

    # -- assignments -------------------------------------------------------------------------
    async def _watch_assignments(self) -> None:
        async with self.assignments.watch(subjects.cluster_keys(self.cluster)) as watch:
            async for change in watch:
                if change.op == "synced":
                    self._assign_synced = True
                    await self._maybe_ready()
                    continue
                name = subjects.parse_cluster_key(change.key).name
                if change.op == "delete" or change.message is None:
                    await self._remove_source(name)
                else:
                    fresh = name not in self.sources
                    self._set_source(name, change.message.data.event_source)
                    if fresh and name in self.sources:
                        await self._seed_cloud_events(self.sources[name])
                self._update_watches()
                self._flush_event.set()

    def _set_source(self, name: str, definition: dict[str, Any]) -> None:
        old = self.sources.get(name)
        if old is not None and old.definition == definition:
            return
        obj = f"{self.ident}:EventSource/{name}"
        try:
            source = parse_object(definition, source=f"assignment {name}")
            compiled = compile_event_source(source)  # type: ignore[arg-type]
        except Exception as exc:
            self.source_errors[name] = str(exc)
            log.error("EventSource rejected: %s", exc, extra={"obj": obj})
            return
        self.source_errors.pop(name, None)
        state = SourceState(
            name=name,
            compiled=compiled,
            collect=bool(source.spec.collect_resources),  # type: ignore[attr-defined]
            definition=definition,
            identity=tenant_identity(dict((definition.get("metadata") or {}).get("labels") or {})),
            selectors=list(source.spec.resource_selectors),  # type: ignore[attr-defined]
        )
        self.sources[name] = state
        log.info("EventSource assigned", extra={"obj": obj})
        for key in state.watch_keys:  # evaluate what the informers already know
            for item in self.watches.objects(key):
                self._publish_changes(state, state.observe("ADDED", dict(item)))

    async def _seed_cloud_events(self, state: SourceState) -> None:
        """CloudEvents received before a restart are kept in the published report."""
        try:
            previous = await self.reports.get(subjects.report_key(self.cluster, state.name))
        except Exception as exc:
            log.warning("previous report unreadable: %s", exc, extra={"obj": state.name})
            return
        if previous is not None and previous.data.cloud_events:
            state.cloud_events = list(previous.data.cloud_events)

    async def _remove_source(self, name: str) -> None:
        self.sources.pop(name, None)
        self.source_errors.pop(name, None)
        # positive knowledge: the EventSource is no longer assigned here, its report goes
        await self.reports.delete_until_done(subjects.report_key(self.cluster, name))
        log.info("EventSource withdrawn", extra={"obj": f"{self.ident}:EventSource/{name}"})

    def _update_watches(self) -> None:
        keys = {k for s in self.sources.values() for k in s.watch_keys}
        keys |= {WatchKey(GVK(k.api_version, k.kind)) for k in self.drift_watch}
        self.watches.ensure(keys)

    # -- evaluation --------------------------------------------------------------------------
    async def _consume_informers(self) -> None:
        while True:
            item: WatchEvent = await self.watches.queue.get()
            self._on_informer_event(item)
            while not self.watches.queue.empty():  # drain a burst before flushing
                self._on_informer_event(self.watches.queue.get_nowait())
            self._flush_event.set()

    def _on_informer_event(self, item: WatchEvent) -> None:
        event, key = item.event, item.key
        if event.type in ("SYNCED", "FAILED"):
            for state in self.sources.values():
                if key in state.watch_keys:
                    state.dirty = True
            return
        for state in self.sources.values():
            if key in state.watch_keys:
                self._publish_changes(state, state.observe(event.type, event.obj))
        if self.drift_watch and key == WatchKey(key.gvk) and event.type in ("MODIFIED", "DELETED"):
            self._check_drift(event)

    def _check_drift(self, event: InformerEvent) -> None:
        key = normal_key(object_key(event.obj))
        profile = self.drift_watch.get(key)
        desired = self.last_desired.get(profile) if profile else None
        if profile is None or desired is None or profile in self._reapplying:
            return
        where = "deleted" if event.type == "DELETED" else ""
        if not where:
            for obj in desired.objects:
                if normal_key(object_key(obj.manifest)) == key:
                    where = drifted(obj.manifest, event.obj)
                    break
        if not where:
            return
        log.info("drift at %s: re-applying", where, extra={"obj": f"{self.ident}:{key}"})
        self._reapplying.add(profile)

        async def reapply() -> None:
            try:
                await self._apply_profile(desired, force=True)
            finally:
                self._reapplying.discard(profile)

        self._spawn(reapply())

    async def _on_cloud_event(self, msg: Any) -> None:
        try:
            event = cloudevents.parse(msg.data)
        except cloudevents.InvalidCloudEvent as exc:
            self.cloudevents_rejected += 1
            log.warning(
                "CloudEvent on %s rejected: %s", msg.subject, exc, extra={"obj": self.ident}
            )
            return
        for state in self.sources.values():
            try:
                matched = state.compiled.match_cloud_event(msg.subject, event)
            except Exception as exc:
                log.warning("CloudEvent match failed: %s", exc, extra={"obj": state.name})
                continue
            if matched:
                state.cloud_events = cloudevents.keep_latest(state.cloud_events, event)
                state.dirty = True
                self._flush_event.set()

    def _spawn(self, coro: Any) -> None:
        """Run a fire-and-forget coroutine, keeping a reference until it is done."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _publish_changes(self, state: SourceState, changes: list[ChangeEvent]) -> None:
        for change in changes:
            meta = change.obj.get("metadata") or {}
            payload = m.ResourceChange(
                cluster=self.cluster,
                event_source_name=state.name,
                change=change.change,
                ref=m.ObjectRef.of(change.obj),
                uid=str(meta.get("uid", "")),
                resource_version=str(meta.get("resourceVersion", "")),
                object=change.obj if state.collect and change.change != "unmatched" else None,
            )
            self._spawn(self._send_change(payload))

    async def _send_change(self, payload: m.ResourceChange) -> None:
        try:
            await publish_change(self.js, payload)
            self.counts["changes"] += 1
        except Exception as exc:
            log.warning("change event not published: %s", exc, extra={"obj": self.ident})

    def _complete(self, state: SourceState) -> bool:
        return all(self.watches.known(k) for k in state.watch_keys)

    async def _flusher(self) -> None:
        while True:
            await self._flush_event.wait()
            await asyncio.sleep(self.coalesce)  # coalesce a burst of changes into one snapshot
            self._flush_event.clear()
            for state in list(self.sources.values()):
                if state.dirty and self._complete(state):
                    await self._publish_report(state)
            await self._maybe_ready()
            current = (self.errors(), sorted({str(k.gvk) for k in self.watches.informers}))
            if current != self._published_status:
                self._published_status = current
                await self._status("ready" if self._ready_written else "starting", current[0])

    async def _publish_report(self, state: SourceState) -> None:
        if state.aggregated:
            self._publish_changes(state, state.run_aggregation())
        state.dirty = False
        self.generation += 1
        objs = state.matching_objects()
        snapshot = m.EventReportSnapshot(
            cluster=self.cluster,
            event_source_name=state.name,
            agent_instance=self.instance,
            generation=self.generation,
            complete=True,
            matching_resources=[m.ObjectRef.of(o) for o in objs],
            resources=[collected(o) for o in objs] if state.collect else [],
            cloud_events=list(state.cloud_events),
            errors=[
                m.ObjectError(
                    object=m.ObjectRef(
                        api_version=k.api_version, kind=k.kind, namespace=k.namespace, name=k.name
                    ),
                    message=e,
                )
                for k, e in sorted(state.errors.items())
            ],
        )
        try:
            await self.reports.put_until_done(m.envelope(snapshot))
            self.counts["reports"] += 1
        except Exception as exc:
            state.dirty = True
            log.error(
                "report not published: %s",
                exc,
                extra={"obj": f"{self.ident}:EventSource/{state.name}"},
            )
            return
        log.info(
            "report: %d matching",
            len(objs),
            extra={"obj": f"{self.ident}:EventSource/{state.name}"},
        )

    # -- desired state -----------------------------------------------------------------------
    async def _load_outcomes(self) -> None:
        """What this cluster's agent deployed before (also mid-apply: ``Provisioning``)."""
        for event in (await self.outcomes.items(subjects.cluster_keys(self.cluster))).values():
            outcome = event.data
            self.applied[outcome.profile_name] = [
                ObjectKey(a.api_version, a.kind, a.namespace, a.name) for a in outcome.applied
            ]
            self.leave[outcome.profile_name] = outcome.stop_matching_behavior == "LeavePolicies"

    async def _watch_desired(self) -> None:
        seen: set[str] = set()
        async with self.desired.watch(subjects.cluster_keys(self.cluster)) as watch:
            async for change in watch:
                if change.op == "synced":
                    # profiles applied before but no longer desired at all (we missed the
                    # delete); a key whose value is unreadable is unknown, not gone
                    unreadable = {subjects.parse_cluster_key(k).name for k in self.desired.invalid}
                    for profile in set(self.applied) - seen - unreadable:
                        await self._remove_profile(profile)
                    self._desired_synced = True
                    await self._maybe_ready()
                    continue
                profile = subjects.parse_cluster_key(change.key).name
                seen.add(profile)
                if change.op == "delete" or change.message is None:
                    await self._remove_profile(profile)
                else:
                    await self._apply_profile(change.message.data)

    def _outcome(
        self,
        desired: m.DesiredState,
        status: str,
        message: str,
        applied: list[tuple[ObjectKey, str]],
    ) -> m.ApplyOutcome:
        return m.ApplyOutcome(
            cluster=self.cluster,
            profile_name=desired.profile_name,
            generation=desired.generation,
            status=status,  # type: ignore[arg-type]
            message=message,
            applied=[
                m.AppliedObject(
                    api_version=k.api_version,
                    kind=k.kind,
                    namespace=k.namespace,
                    name=k.name,
                    hash=h,
                )
                for k, h in applied
            ],
            stop_matching_behavior=desired.stop_matching_behavior,
        )

    async def _apply_profile(self, desired: m.DesiredState, force: bool = False) -> None:
        profile = desired.profile_name
        self.leave[profile] = desired.stop_matching_behavior == "LeavePolicies"
        if desired.sync_mode == "OneTime" and self.applied.get(profile) and not force:
            log.info(
                "OneTime profile already deployed: not updated",
                extra={"obj": f"{self.ident}:{profile}"},
            )
            return
        self.last_desired[profile] = desired
        objects = [(o.manifest, o.hash) for o in desired.objects]
        previous = self.applied.get(profile, [])
        dry_run = desired.sync_mode == "DryRun"
        if not dry_run:
            # write-ahead: everything this apply may leave behind is recorded first
            intent = {normal_key(k): (k, "") for k in previous}
            for manifest, digest in objects:
                key = object_key(manifest)
                intent.setdefault(normal_key(key), (key, digest))
            wal = self._outcome(desired, "Provisioning", "", list(intent.values()))
            await self.outcomes.put_until_done(m.envelope(wal))
        result = await asyncio.to_thread(self.applier.apply, profile, objects, previous, dry_run)
        self.counts["applies"] += 1
        if result.status == "Failed":
            self.counts["apply_failures"] += 1
        self.applied[profile] = [k for k, _ in result.applied]
        self.drift_watch = {k: p for k, p in self.drift_watch.items() if p != profile}
        if desired.sync_mode == "ContinuousWithDriftDetection":
            self.drift_watch.update({normal_key(k): profile for k, _ in result.applied})
        self._update_watches()
        outcome = self._outcome(desired, result.status, result.message, result.applied)
        await self.outcomes.put_until_done(m.envelope(outcome))

    async def _remove_profile(self, profile: str) -> None:
        self.last_desired.pop(profile, None)
        self.drift_watch = {k: p for k, p in self.drift_watch.items() if p != profile}
        previous = self.applied.pop(profile, [])
        leave = self.leave.pop(profile, False)
        result = await asyncio.to_thread(self.applier.remove, profile, previous, leave)
        if result.status == "Failed":
            self.applied[profile] = previous  # try again on the next change
            log.warning(
                "removal failed: %s", result.message, extra={"obj": f"{self.ident}:{profile}"}
            )
            return
        await self.outcomes.delete_until_done(subjects.outcome_key(self.cluster, profile))


def collected(obj: dict[str, Any]) -> dict[str, Any]:
    """A matching object as it goes into a report: without ``metadata.managedFields`` (half
    of an object's size, never used by templates; Sveltos' own helpers strip it too)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return obj


async def run_agent(**kwargs: Any) -> None:
    await Agent(**kwargs).run()


__all__ = ["GVK", "Agent", "run_agent"]


async def main(settings: Any, service: Any) -> None:
    """Entry point used by ``ripple agent`` (transitional: wraps :class:`Agent`)."""
    agent = Agent(
        cluster=settings.cluster_ref,
        kubeconfig=settings.kubeconfig,
        nats_url=settings.nats_url,
        ready_file=str(settings.ready_file) if settings.ready_file else None,
        coalesce=settings.coalesce,
        storage=settings.storage,
        cloudevent_subjects=list(settings.cloudevent_subjects),
    )
    service.add_metrics(agent.metrics)
    await agent.run()
