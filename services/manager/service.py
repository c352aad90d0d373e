"""The manager service: definitions + matching sets -> assignments and desired state, over NATS.

Inputs: informers on the management cluster (EventSources, EventTriggers, EventBasedAddOns,
ConfigMaps, Secrets, SveltosClusters, CAPI Clusters) and watches of KV ``ripple-matches``,
``ripple-outcomes`` and ``ripple-agents``. Outputs: KV ``ripple-assignments``,
``ripple-desired``, ``ripple-profiles`` and ``ripple-status``, through one work queue
(:mod:`services.manager.publisher`), watched too once the manager is ready: a key whose
content is not what the manager publishes (garbage, another writer's value, a deletion) is
written again (:func:`watch_output`). The REST API reads immutable snapshots.

Poison in any bucket (keys outside the contract, unreadable values) is skipped by
:mod:`shared.bus.kv`, logged with its key, counted per bucket (``kv_<bucket>_...``
metrics) and listed by :meth:`~services.manager.stores.Stores.problems`.

This module only wires effects: the decisions live in :mod:`~services.manager.state`
(what is wanted), :mod:`~services.manager.publication` (when it may be put, held, or
withdrawn), :mod:`~services.manager.statuses` and :mod:`~services.manager.inputs`; the loop
that owns them is :class:`~services.manager.reconciler.Reconciler`. It runs under
:func:`shared.runtime.service.run` (signals, ready file, metrics, exit code): nothing is
published before every input was read once, and nothing is withdrawn without positive
knowledge.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import uvicorn

from services.manager import api, kustomize, rendering, resourcerefs  # api: heavy (FastAPI)
from services.manager.inputs import TRIGGER_KINDS, WATCHED
from services.manager.membership import Membership, ensure_bucket
from services.manager.outputs import effective_limit
from services.manager.published import cluster_of_value
from services.manager.publisher import Publisher, body_digest
from services.manager.reconciler import Reconciler
from services.manager.settings import ManagerSettings
from services.manager.sharding import Sharding, shard_metrics
from services.manager.shardinputs import ShardedMatches
from services.manager.shardwatch import submit_members, verifier, watch_output_sharded
from services.manager.snapshot import Snapshot
from services.manager.state import State
from services.manager.stores import Stores, provision, read_published, retrying
from shared.bus.kv import KVChange, KVStore
from shared.kube import GVK, Informer, KubeClient  # heavy: imported before the loop runs
from shared.metrics import Histogram
from shared.runtime.errors import InvalidSetting
from shared.runtime.service import Service
from shared.runtime.slicing import Slicer
from shared.runtime.standby import hold_lease

log = logging.getLogger(__name__)

STOP_WATCH = 0.5  # seconds


async def main(settings: ManagerSettings, service: Service) -> None:
    """Run the manager until the service stops (``ripple manager``)."""
    service.not_ready_reason = "connecting to NATS"
    nc = await service.connect()
    js = nc.jetstream()
    service.not_ready_reason = "provisioning streams and buckets"
    await provision(js, settings.storage, settings.stream_replicas)
    # --lease: a standby waits here, reading no input (provisioning is idempotent)
    await hold_lease(service, js, settings, lease_role(settings))
    stores = await Stores.open(js)
    service.not_ready_reason = "reading what is published"
    start = await read_published(stores)
    limit = effective_limit(int(getattr(nc, "max_payload", 0) or 0), settings.max_message_bytes)
    sharding = Sharding(settings.member()) if settings.sharded else None
    reconciler = Reconciler(
        stores.buckets(),
        limit=limit,
        removal_grace=settings.removal_grace,
        coalesce=settings.coalesce,
        published=start.published,
        seeds=start.seeds,
        render_limits=settings.render_limits(),
        withdrawal_guard=settings.withdrawal_bound(),
        state=State(management=settings.management_key()),
        sharding=sharding,
    )

    published = asyncio.Event()  # the first reconcile queued what the manager publishes

    def ready() -> None:
        gc.freeze()  # what was read at start-up is long-lived: full collections skip it
        service.set_ready()
        published.set()

    reconciler.on_ready = ready
    reconciler.invalid_messages = stores.invalid_messages
    service.add_metrics(reconciler.metrics)
    service.add_histogram(rendering.RENDER_SECONDS)
    service.add_histogram(kustomize.KUSTOMIZE_SECONDS)
    service.add_histogram(reconciler.reconcile_seconds)
    service.add_metrics(stores.metrics)
    # liveness: inputs waiting while no reconcile finishes, a reconcile whose planning (in
    # its worker thread) makes no step, publications none of which finish
    service.watch(
        "inputs", lambda: not reconciler.queue.empty(), lambda: reconciler.stats["reconciles"]
    )
    service.watch("reconcile", reconciler.busy, lambda: reconciler.plan_steps)
    service.watch_queue(reconciler.publisher.queue)
    service.not_ready_reason = "reading definitions and matching sets"
    log.info("manager started (message limit %d bytes)", limit, extra={"obj": "manager"})

    if sharding is not None:
        await retrying(
            "provisioning ripple-shards",
            lambda: ensure_bucket(js, settings.storage, settings.stream_replicas),
        )
        member = Membership(
            nc,
            settings.shard_group,
            sharding.me,
            settings.shard_ttl,
            submit_members(stores, reconciler),
            api=f"{settings.api_host}:{settings.api_port}" if settings.api_port else "",
            submit_parts=lambda parts: reconciler.submit("status-parts", parts),
        )
        reconciler.on_status_part = member.publish_part
        service.add_metrics(lambda: shard_metrics(sharding, reconciler.state.clusters))
        reconciler.publisher.verify = verifier(stores)
        service.spawn(member.run(), "shard-membership")
        log.info("shard %s of group %s (shard key %r)", sharding.me.id, settings.shard_group,
                 sharding.me.shard_key, extra={"obj": "manager"})  # fmt: skip
    start_informers(settings, service, reconciler)
    service.spawn(reconciler.run(), "reconcile")
    service.spawn(reconciler.publisher.run(settings.workers), "publish")
    # unreadable values too: their objects are unknown, in the order of the changes
    if sharding is None:
        matches = watch(stores.matches, lambda c: reconciler.submit("match", c), unknown=True)
        service.spawn(matches, "watch-matches")
    else:  # only the owned clusters' changes decoded and applied
        fed = ShardedMatches(stores.matches, sharding, reconciler.submit)
        reconciler.on_reshard = fed.wake.set
        service.spawn(fed.run(), "watch-matches")
    service.spawn(watch(stores.outcomes, _sync(reconciler.apply_outcome)), "watch-outcomes")
    service.spawn(watch(stores.agents, _sync(reconciler.apply_agent)), "watch-agents")
    for bucket, store in stores.owned().items():
        watching = watch_output if sharding is None else watch_output_sharded
        output = watching(bucket, store, reconciler.publisher, published)
        service.spawn(output, f"watch-{store.spec.bucket}")
    if settings.api_port is not None:
        token = settings.api_token.get_secret_value() if settings.api_token else None
        source = _ApiSource(reconciler, service, stores)
        service.spawn(serve_api(source, settings.api_host, settings.api_port, token), "api")
    await service.stopping.wait()


def lease_role(settings: ManagerSettings) -> str:
    """The lease the manager's replicas share: ``manager``, or ``manager-<shard id>`` for a
    shard (its standby takes over that shard; a shard needs a fixed ``--shard-id`` then)."""
    if not settings.sharded:
        return "manager"
    if settings.lease and not settings.shard_id:
        raise InvalidSetting(
            "--lease with --shards needs --shard-id (RIPPLE_SHARD_ID): the replicas of one "
            "shard share the lease manager-<shard id>"
        )
    return f"manager-{settings.shard_id}"


def start_informers(settings: ManagerSettings, service: Service, reconciler: Reconciler) -> None:
    """One informer per watched kind of the management cluster (threads of the Kubernetes
    client), delivering into the reconciler's input queue; and one per kind that triggers'
    ``templateResourceRefs`` read, started when a trigger naming it is seen
    (:class:`ReferencedKinds`)."""
    kube = KubeClient(settings.kubeconfig, name="management")
    inner = reconciler.from_thread(asyncio.get_running_loop())
    referenced = ReferencedKinds(lambda gvk, deliver: Informer(kube, gvk, deliver), inner)
    informers = [Informer(kube, GVK(*gvk), referenced.deliver) for gvk in WATCHED]

    async def stop() -> None:
        for informer in [*informers, *referenced.stop()]:
            informer.request_stop()
        kube.close()

    service.on_stop(stop)
    for informer in informers:
        informer.start()


class _Startable(Protocol):
    def start(self) -> None: ...
    def request_stop(self) -> None: ...


class ReferencedKinds:
    """The informers of the kinds triggers' ``templateResourceRefs`` read (beyond the
    ConfigMaps and Secrets watched anyway): each trigger event seen on its way to the
    reconciler starts one informer per new kind, once (kept while the manager runs, so a
    trigger edited back and forth never re-lists). Called from informer threads."""

    def __init__(
        self,
        make: Callable[[GVK, Callable[[Any], None]], _Startable],
        deliver: Callable[[Any], None],
    ) -> None:
        self._make = make
        self._inner = deliver
        self._lock = threading.Lock()
        self._stopped = False
        self.informers: dict[GVK, _Startable] = {}

    def deliver(self, event: Any) -> None:
        """Deliver ``event``; a trigger's event first starts the informers it needs."""
        if GVK(*event.gvk) in TRIGGER_KINDS and event.type in ("ADDED", "MODIFIED"):
            spec = (event.obj or {}).get("spec")
            if isinstance(spec, Mapping):
                for gvk in sorted(resourcerefs.watched_kinds(spec)):
                    self._ensure(gvk)
        self._inner(event)

    def _ensure(self, gvk: GVK) -> None:
        with self._lock:
            if self._stopped or gvk in self.informers or gvk in WATCHED:
                return
            informer = self.informers[gvk] = self._make(gvk, self._inner)
        log.info("watching %s for templateResourceRefs", gvk, extra={"obj": str(gvk)})
        informer.start()

    def stop(self) -> list[_Startable]:
        """No informer starts from now on; the ones started (to stop)."""
        with self._lock:
            self._stopped = True
            return list(self.informers.values())


async def watch(
    store: KVStore[Any],
    apply: Callable[[KVChange[Any]], Awaitable[None]],
    *,
    unknown: bool = False,
) -> None:
    """Every change of a bucket, in order (current values, ``synced``, then changes;
    ``unknown`` ones too when asked). A watch that cannot be started ends the service (a
    restart rebuilds from the buckets). Stopping it waits at most :data:`STOP_WATCH` seconds
    for the server (its consumer expires anyway): a loaded server never delays a shutdown."""
    changes = await store.watch(unknown=unknown).start()
    try:
        async for change in changes:
            await apply(change)
    finally:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(changes.stop(), STOP_WATCH)


async def watch_output(
    bucket: str, store: KVStore[Any], publisher: Publisher, published: asyncio.Event
) -> None:
    """Level-triggered on the manager's own bucket ``bucket``: once the first reconcile
    queued what it publishes (``published``), every value there -- the current ones, then
    every change -- is compared with what the manager wrote (:meth:`Publisher.observed`);
    a key holding anything else is queued and written again (or deleted when not wanted)."""
    await published.wait()
    slicer = Slicer()  # the current values arrive in a burst: give the loop back

    async def apply(change: KVChange[Any]) -> None:
        if change.op != "synced":
            digest, cluster = None, None
            if change.op == "put" and change.message is not None:
                digest = body_digest(change.message.data)
                cluster = cluster_of_value(change.message.data)
            item = (bucket, change.key)
            if publisher.elsewhere(item, change.op, change.revision, digest, cluster):
                await slicer.pause()  # another shard's key: remembered, never touched
                return
            now = asyncio.get_running_loop().time()
            if publisher.observed((bucket, change.key), change.op, change.revision, digest, now):
                why = {"delete": "deleted by someone else", "put": "a value it did not write"}
                log.warning(
                    "%s key %s: %s; bringing it back to what the manager publishes",
                    store.spec.bucket,
                    change.key,
                    why.get(change.op, change.error),
                    extra={"obj": f"{store.spec.bucket}/{change.key}"},
                )
        await slicer.pause()

    await watch(store, apply, unknown=True)


def _sync(fn: Callable[[KVChange[Any]], None]) -> Callable[[KVChange[Any]], Awaitable[None]]:
    async def apply(change: KVChange[Any]) -> None:
        fn(change)

    return apply


class _ApiSource:
    """What the REST API reads: the reconciler's snapshots and the service's metrics (the
    runtime's own included, e.g. the loop lag)."""

    def __init__(self, reconciler: Reconciler, service: Service, stores: Stores) -> None:
        self._reconciler = reconciler
        self._service = service
        self._stores = stores

    def snapshot(self) -> Snapshot:
        return self._reconciler.snapshot()

    def metrics(self) -> Mapping[str, tuple[str, str, float]]:
        return self._service.metrics()

    def kv_problems(self) -> list[tuple[str, str]]:
        """``(bucket/key, why)`` of every poison value or key read now (for /v1/errors)."""
        return self._stores.problems()

    def histograms(self) -> Sequence[Histogram]:
        """The service's histograms (render, reconcile time): /metrics of REST serves them
        as the metrics port does."""
        return self._service.histograms


async def serve_api(source: api.Source, host: str, port: int, token: str | None) -> None:
    """The REST API (uvicorn on this event loop); the runtime keeps the signals."""

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # SIGTERM/SIGINT belong to the service runtime

    config = uvicorn.Config(
        api.create_app(source, token=token),
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
    )
    server = Server(config)
    try:
        await server.serve()
    finally:
        if server.started:
            server.should_exit = True
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(server.shutdown(), 2.0)
