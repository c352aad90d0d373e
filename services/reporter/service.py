"""The reporter: mirrors NATS state into CRDs of the management cluster.

EventReports (``kubectl get eventreports -A``) follow the KV ``ripple-reports`` bucket: one
per (cluster, EventSource), created/updated with server-side apply, deleted when the report
is withdrawn. The reporter holds no state of its own: after a restart it re-reads the bucket
and converges (objects whose report is gone are deleted).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any

from services.reporter import mirroring
from shared.bus import kv as kvbus
from shared.bus.client import close as close_connection
from shared.bus.client import connect
from shared.contract import messages as m
from shared.contract import streams
from shared.kube import GVK, KubeClient, KubeError

log = logging.getLogger(__name__)

EVENT_REPORT = GVK(mirroring.EVENT_REPORT_API, "EventReport")
FIELD_MANAGER = "ripple-reporter"
MANAGED_LABEL = "ripple.io/managed-by"


class Reporter:
    def __init__(
        self,
        kubeconfig: str | None,
        nats_url: str,
        *,
        ready_file: str | None = None,
        storage: streams.Storage = "file",
    ) -> None:
        self.kubeconfig = kubeconfig
        self.nats_url = nats_url
        self.ready_file = ready_file
        self.storage = storage
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self._stopping.set)
            except (NotImplementedError, RuntimeError):
                pass
        self.kube = KubeClient(self.kubeconfig, name="management")
        self.nc = await connect(self.nats_url, "ripple-reporter")
        js = self.nc.jetstream()
        await streams.ensure(js, self.storage)
        reports = await kvbus.KVStore.open(js, streams.REPORTS, m.EventReportEvent)
        profiles = await kvbus.KVStore.open(js, streams.PROFILES, m.ProfileEvent)
        statuses = await kvbus.KVStore.open(js, streams.STATUS, m.DefinitionStatusEvent)
        self._ready_parts: set[str] = set()
        tasks = [
            asyncio.create_task(self._mirror_reports(reports)),
            asyncio.create_task(self._mirror_profiles(profiles)),
            asyncio.create_task(self._mirror_status(statuses)),
        ]
        stopper = asyncio.create_task(self._stopping.wait())
        failed = None
        try:
            done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper and not task.cancelled() and task.exception():
                    failed = task.exception()
                    log.error("reporter failed: %r", failed, extra={"obj": "reporter"})
        finally:
            for task in tasks:
                task.cancel()
            stopper.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await close_connection(self.nc)
            self.kube.close()
        if failed is not None:
            raise SystemExit(f"{type(failed).__name__}: {failed}")

    def _part_ready(self, part: str) -> None:
        self._ready_parts.add(part)
        if self._ready_parts >= {"reports", "profiles"}:
            if self.ready_file:
                Path(self.ready_file).write_text(f"{os.getpid()}\n")
            log.info("reporter ready", extra={"obj": "reporter"})

    async def _mirror_reports(self, store: kvbus.KVStore[m.EventReportEvent]) -> None:
        written: dict[str, tuple[str, str]] = {}  # kv key -> (namespace, name)
        async with store.watch() as watch:
            async for change in watch:
                if change.op == "synced":
                    await asyncio.to_thread(self._delete_orphans, set(written.values()))
                    self._part_ready("reports")
                    continue
                if change.op == "delete" or change.message is None:
                    target = written.pop(change.key, None)
                    if target:
                        await asyncio.to_thread(self._delete, *target)
                    continue
                snap = change.message.data
                if not snap.complete:
                    continue
                obj = mirroring.event_report(snap)
                obj["metadata"]["labels"][MANAGED_LABEL] = "ripple"
                meta = obj["metadata"]
                written[change.key] = (meta["namespace"], meta["name"])
                await asyncio.to_thread(self._write, obj, mirroring.report_status(snap))

    async def _mirror_status(self, store: kvbus.KVStore[m.DefinitionStatusEvent]) -> None:
        async with store.watch() as watch:
            async for change in watch:
                if change.op != "put" or change.message is None:
                    continue  # a deleted definition has no status to write
                status = change.message.data
                await asyncio.to_thread(self._write_status, status)

    def _write_status(self, status: m.DefinitionStatus) -> None:
        gvk = mirroring.DEFINITION_KINDS[status.kind]
        try:
            self.kube.patch_status(gvk, None, status.name, mirroring.definition_status(status))
        except KubeError as exc:
            if exc.status != 404:  # already gone: nothing to report on
                log.warning(
                    "cannot write status: %s", exc, extra={"obj": f"{status.kind}/{status.name}"}
                )

    async def _mirror_profiles(self, store: kvbus.KVStore[m.ProfileEvent]) -> None:
        written: dict[str, list[tuple[GVK, str, str]]] = {}  # kv key -> objects written
        await asyncio.to_thread(self._ensure_namespace)
        async with store.watch() as watch:
            async for change in watch:
                if change.op == "synced":
                    keep = {t for objs in written.values() for t in objs}
                    await asyncio.to_thread(self._delete_profile_orphans, keep)
                    self._part_ready("profiles")
                    continue
                before = written.pop(change.key, [])
                if change.op == "delete" or change.message is None:
                    for gvk, ns, name in before:
                        await asyncio.to_thread(self._delete_object, gvk, ns, name)
                    continue
                objs = mirroring.profile_objects(change.message.data)
                now: list[tuple[GVK, str, str]] = []
                for obj in objs:
                    obj["metadata"].setdefault("labels", {})[MANAGED_LABEL] = "ripple"
                    await asyncio.to_thread(self._apply, obj)
                    meta = obj["metadata"]
                    now.append((GVK.of(obj), meta.get("namespace", ""), meta["name"]))
                written[change.key] = now
                for gvk, ns, name in set(before) - set(now):
                    await asyncio.to_thread(self._delete_object, gvk, ns, name)

    def _ensure_namespace(self) -> None:
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "projectsveltos"}}
        try:
            self.kube.apply(ns, field_manager=FIELD_MANAGER)
        except KubeError as exc:
            log.warning(
                "cannot create namespace projectsveltos: %s", exc, extra={"obj": "reporter"}
            )

    def _apply(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        ident = f"{obj['kind']}/{meta.get('namespace', '')}/{meta['name']}"
        try:
            self.kube.apply(obj, field_manager=FIELD_MANAGER)
        except KubeError as exc:
            log.warning("cannot write: %s", exc, extra={"obj": ident})

    def _delete_object(self, gvk: GVK, namespace: str, name: str) -> None:
        try:
            self.kube.delete(gvk, namespace or None, name)
        except KubeError as exc:
            log.warning("cannot delete: %s", exc, extra={"obj": f"{gvk.kind}/{namespace}/{name}"})

    def _delete_profile_orphans(self, keep: set[tuple[GVK, str, str]]) -> None:
        for gvk in (mirroring.CLUSTER_PROFILE, GVK("v1", "ConfigMap")):
            try:
                items, _ = self.kube.list(gvk, label_selector=f"{MANAGED_LABEL}=ripple")
            except KubeError as exc:
                log.warning("cannot list %s: %s", gvk, exc, extra={"obj": "reporter"})
                continue
            for item in items:
                meta = item.get("metadata") or {}
                key = (gvk, str(meta.get("namespace", "") or ""), str(meta.get("name", "")))
                if key not in keep:
                    self._delete_object(*key)

    def _write(self, obj: dict[str, Any], status: dict[str, Any]) -> None:
        ident = f"EventReport/{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        try:
            self.kube.apply(obj, field_manager=FIELD_MANAGER)
            meta = obj["metadata"]
            self.kube.patch_status(EVENT_REPORT, meta["namespace"], meta["name"], status)
        except KubeError as exc:
            log.warning("cannot write: %s", exc, extra={"obj": ident})

    def _delete(self, namespace: str, name: str) -> None:
        try:
            self.kube.delete(EVENT_REPORT, namespace, name)
        except KubeError as exc:
            log.warning("cannot delete: %s", exc, extra={"obj": f"EventReport/{namespace}/{name}"})

    def _delete_orphans(self, keep: set[tuple[str, str]]) -> None:
        try:
            items, _ = self.kube.list(EVENT_REPORT, label_selector=f"{MANAGED_LABEL}=ripple")
        except KubeError as exc:
            log.warning("cannot list EventReports: %s", exc, extra={"obj": "reporter"})
            return
        for item in items:
            meta = item.get("metadata") or {}
            key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
            if key not in keep:
                self._delete(*key)


async def run_reporter(**kwargs: Any) -> None:
    await Reporter(**kwargs).run()


async def main(settings: Any, service: Any) -> None:
    """Entry point used by ``ripple reporter`` (transitional: wraps :class:`Reporter`)."""
    await Reporter(
        kubeconfig=settings.kubeconfig,
        nats_url=settings.nats_url,
        ready_file=str(settings.ready_file) if settings.ready_file else None,
        storage=settings.storage,
    ).run()
