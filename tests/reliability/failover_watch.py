"""What the failover tests watch while a replica is killed: the DELETED events of a kind
(fleet or management cluster, through the Kubernetes watch API) and the puts and delete
markers of ``ripple-desired`` (through a KV watch), each with the monotonic time seen."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from shared.api.vocabulary import EVENT_TRIGGER_LABELS
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.contract import streams
from shared.kube import GVK, KubeClient
from tests.reliability.helpers import SyncNats, eventually


class DeletionLog:
    """DELETED events of ``gvk`` matching ``selector``: ``seen[ident(obj)] = time``."""

    def __init__(
        self, client: KubeClient, gvk: GVK, selector: str, ident: Callable[[dict[str, Any]], str]
    ) -> None:
        self.client, self.gvk, self.selector, self.ident = client, gvk, selector, ident
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        eventually(self._started.is_set, 15, what=f"watch of {gvk.kind} started")

    def _run(self) -> None:
        while not self._stop.is_set():
            _, version = self.client.list(self.gvk, None, label_selector=self.selector)
            self._started.set()
            try:
                for kind, obj in self.client.watch(
                    self.gvk, version, label_selector=self.selector, timeout_seconds=5
                ):
                    if kind == "DELETED":
                        self.seen.setdefault(self.ident(obj), time.monotonic())
                    if self._stop.is_set():
                        return
            except Exception:  # an expired watch: list again (a deletion is never missed
                continue  # for long: the test's window is seconds)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


class DesiredLog:
    """``ripple-desired`` as the agent sees it: the key of each Service's desired profile of
    trigger ``trigger`` and when a key was deleted."""

    def __init__(self, url: str, trigger: str) -> None:
        self.trigger = trigger
        self.bus = SyncNats(url)
        self.keys: dict[str, str] = {}  # key -> Service (its last put)
        self.deletes: dict[str, float] = {}  # Service -> first delete marker seen
        self._live: dict[str, str] = {}
        self._task = self.bus.run(self._start())

    async def _start(self) -> asyncio.Task[None]:
        store = await KVStore.open(self.bus.js, streams.DESIRED, m.DesiredStateEvent)
        watch = await store.watch().start()
        synced = asyncio.Event()

        async def run() -> None:
            try:
                async for change in watch:
                    if change.op == "synced":
                        synced.set()
                    elif change.op == "put" and change.message is not None:
                        labels = change.message.data.labels
                        if labels.get(EVENT_TRIGGER_LABELS.trigger_name) == self.trigger:
                            svc = labels.get(EVENT_TRIGGER_LABELS.resource_name, "?")
                            self.keys[change.key] = svc
                            self._live[change.key] = svc
                    elif change.op == "delete" and change.key in self.keys:
                        self._live.pop(change.key, None)
                        self.deletes.setdefault(self.keys[change.key], time.monotonic())
            finally:
                await watch.stop()

        task = asyncio.get_running_loop().create_task(run())
        await asyncio.wait_for(synced.wait(), 15)
        return task

    def wanted(self) -> set[str]:
        """The Services with a desired profile now."""
        return set(self._live.values())

    def duplicates(self) -> dict[str, list[str]]:
        """Services with more than one desired profile now."""
        by: dict[str, list[str]] = {}
        for key, svc in self._live.items():
            by.setdefault(svc, []).append(key)
        return {s: keys for s, keys in by.items() if len(keys) > 1}

    def deleted(self) -> dict[str, float]:
        return dict(self.deletes)

    def stop(self) -> None:
        async def cancel() -> None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

        self.bus.run(cancel())
        self.bus.close()


def desired_deletes(url: str, trigger: str) -> DesiredLog:
    return DesiredLog(url, trigger)
