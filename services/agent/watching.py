"""One informer per kind, shared by every EventSource that needs it.

Informers run in threads (the official client is synchronous); their events are handed to
the asyncio loop through a bounded queue (backpressure: the informer thread blocks when the
agent falls behind instead of growing memory without limit).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from shared.kube import GVK, Informer, InformerEvent, KindNotServed, KubeClient

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000


class Watches:
    def __init__(self, client: KubeClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop
        self.queue: asyncio.Queue[InformerEvent] = asyncio.Queue(QUEUE_SIZE)
        self.informers: dict[GVK, Informer] = {}
        self.not_served: set[GVK] = set()

    def _deliver(self, event: InformerEvent) -> None:
        """Called in an informer thread: hand the event to the loop, waiting when full."""
        if event.type == "FAILED" and "is not served" in event.message:
            self.not_served.add(event.gvk)
        elif event.type == "SYNCED":
            self.not_served.discard(event.gvk)
        future = asyncio.run_coroutine_threadsafe(self.queue.put(event), self.loop)
        try:
            future.result()
        except Exception:  # the loop is shutting down
            pass

    def ensure(self, gvks: Iterable[GVK]) -> None:
        """Start informers for kinds not watched yet and stop the ones nobody needs."""
        wanted = set(gvks)
        for gvk in wanted - set(self.informers):
            informer = Informer(self.client, gvk, self._deliver)
            self.informers[gvk] = informer
            log.info("watching %s", gvk, extra={"obj": self.client.name})
            informer.start()
        for gvk in set(self.informers) - wanted:
            informer = self.informers.pop(gvk)
            self.not_served.discard(gvk)
            log.info("no longer watching %s", gvk, extra={"obj": self.client.name})
            informer.request_stop()

    def known(self, gvk: GVK) -> bool:
        """True when the cluster's content of this kind is known (listed, or not served)."""
        informer = self.informers.get(gvk)
        if informer is None:
            return False
        return informer.synced or gvk in self.not_served

    def objects(self, gvk: GVK) -> list[dict[str, object]]:
        informer = self.informers.get(gvk)
        return list(informer.cache.values()) if informer else []

    def stop(self) -> None:
        for informer in self.informers.values():
            informer.request_stop()
        for informer in self.informers.values():
            informer.stop(timeout=1.0)
        self.informers.clear()


__all__ = ["KindNotServed", "Watches"]
