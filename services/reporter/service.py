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
        task = asyncio.create_task(self._mirror_reports(reports))
        stopper = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
            if task.done() and not task.cancelled() and task.exception():
                log.error("reporter failed: %r", task.exception(), extra={"obj": "reporter"})
        finally:
            task.cancel()
            stopper.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await self.nc.drain()
            self.kube.close()

    async def _mirror_reports(self, store: kvbus.KVStore[m.EventReportEvent]) -> None:
        written: dict[str, tuple[str, str]] = {}  # kv key -> (namespace, name)
        async with store.watch() as watch:
            async for change in watch:
                if change.op == "synced":
                    await asyncio.to_thread(self._delete_orphans, set(written.values()))
                    if self.ready_file:
                        Path(self.ready_file).write_text(f"{os.getpid()}\n")
                    log.info("reporter ready", extra={"obj": "reporter"})
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
