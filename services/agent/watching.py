"""One informer per (kind, identity), shared by every EventSource that needs it.

The identity is the agent's own ("") or a tenant's: multi-tenant EventSources (labels
``projectsveltos.io/serviceaccount-name`` / ``-namespace``) are listed AND watched as the
tenant (impersonation), so a tenant never sees, and is never triggered by, objects it may not
read (BRIEF section 4; Sveltos impersonates on list only). The tenant is the user Sveltos
impersonates, ``system:serviceaccount:projectsveltos:<saNamespace>--<saName>`` (the
ServiceAccount Sveltos creates for the tenant in the managed cluster, libsveltos
``roles.GetServiceAccountNameInManagedCluster``), so the RBAC a Sveltos user already has in
the managed clusters holds as it is.

Informers run in threads (the official client is synchronous); their events are handed to
the asyncio loop through a bounded queue (backpressure: the informer thread blocks when the
agent falls behind instead of growing memory without limit).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from shared.api.vocabulary import (
    SERVICE_ACCOUNT_NAME_LABEL,
    SERVICE_ACCOUNT_NAMESPACE_LABEL,
    SVELTOS_NAMESPACE,
)
from shared.kube import GVK, Informer, InformerEvent, KindNotServed, KubeClient, ObjectKey

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
TENANT_NAME = SERVICE_ACCOUNT_NAME_LABEL
TENANT_NAMESPACE = SERVICE_ACCOUNT_NAMESPACE_LABEL


class WatchKey(NamedTuple):
    """What one informer lists and watches: a kind, as whom, where ("" = all namespaces)."""

    gvk: GVK
    identity: str = ""  # "" = the agent itself
    namespace: str = ""


def tenant_identity(labels: dict[str, str]) -> str:
    """The user a multi-tenant EventSource is evaluated as ("" for the agent itself):
    ``system:serviceaccount:projectsveltos:<saNamespace>--<saName>``, as Sveltos' agent
    impersonates it (an absent namespace label gives ``--<saName>``, as in Sveltos)."""
    name = labels.get(TENANT_NAME)
    if not name:
        return ""
    namespace = labels.get(TENANT_NAMESPACE) or ""
    return f"system:serviceaccount:{SVELTOS_NAMESPACE}:{namespace}--{name}"


@dataclass(frozen=True)
class WatchEvent:
    """An informer's event and when the agent received it (Unix seconds: the start of
    ``ripple_agent_event_to_applied_seconds``)."""

    key: WatchKey
    event: InformerEvent
    at: float = field(default_factory=time.time)


class Watches:
    def __init__(
        self,
        client: KubeClient,
        loop: asyncio.AbstractEventLoop,
        client_for: Callable[[str], KubeClient] | None = None,
        *,
        start_off_loop: bool = False,
    ) -> None:
        self.client = client
        self.loop = loop
        # a thread's start waits for the thread to run: with a thousand agents in a process
        # (ripple agent-host) that wait is taken off the event loop
        self.start_off_loop = start_off_loop
        self.client_for = client_for or (lambda identity: client)
        self.queue: asyncio.Queue[WatchEvent] = asyncio.Queue(QUEUE_SIZE)
        self.informers: dict[WatchKey, Informer] = {}
        self.not_served: set[WatchKey] = set()

    def _deliverer(self, key: WatchKey) -> Callable[[InformerEvent], None]:
        def deliver(event: InformerEvent) -> None:
            """Called in an informer thread: hand the event to the loop (waits when full)."""
            if event.type == "FAILED" and event.not_served:
                self.not_served.add(key)
            elif event.type in ("SYNCED", "FAILED"):  # a failure is unknown, not "not served"
                self.not_served.discard(key)
            try:
                future = asyncio.run_coroutine_threadsafe(
                    self.queue.put(WatchEvent(key, event)), self.loop
                )
                future.result()
            except Exception:  # the loop is shutting down
                pass

        return deliver

    def ensure(self, keys: Iterable[WatchKey]) -> None:
        """Start informers not running yet and stop the ones nobody needs."""
        wanted = set(keys)
        for key in wanted - set(self.informers):
            informer = Informer(
                self.client_for(key.identity),
                key.gvk,
                self._deliverer(key),
                namespace=key.namespace or None,
            )
            self.informers[key] = informer
            who = f" as {key.identity}" if key.identity else ""
            where = f" in {key.namespace}" if key.namespace else ""
            log.info("watching %s%s%s", key.gvk, where, who, extra={"obj": self.client.name})
            if self.start_off_loop:
                self.loop.run_in_executor(None, informer.start)
            else:
                informer.start()
        for key in set(self.informers) - wanted:
            informer = self.informers.pop(key)
            self.not_served.discard(key)
            log.info("no longer watching %s", key.gvk, extra={"obj": self.client.name})
            informer.request_stop()

    def known(self, key: WatchKey) -> bool:
        """True when this content is known now: listed and not failing since, or the kind
        is positively not served. A failed list, watch or discovery is unknown (what was
        last known is kept, but is not reported as current)."""
        informer = self.informers.get(key)
        if informer is None:
            return False
        if key in self.not_served:
            return True
        return informer.synced and not informer.error

    def error(self, key: WatchKey) -> str:
        informer = self.informers.get(key)
        return informer.error if informer is not None else ""

    def errors(self) -> dict[WatchKey, str]:
        """The informers whose last list/watch failed, with the error."""
        return {k: i.error for k, i in self.informers.items() if i.error}

    def cached_keys(self, key: WatchKey) -> list[ObjectKey]:
        """The objects the informer holds now (their keys: read each with :meth:`current`,
        which returns its newest version, never one older than an event already seen)."""
        informer = self.informers.get(key)
        return list(informer.cache) if informer else []

    def current(self, key: WatchKey, obj: ObjectKey) -> dict[str, Any] | None:
        informer = self.informers.get(key)
        return informer.cache.get(obj) if informer else None

    def stop(self, timeout: float = 1.0) -> None:
        """Stop every informer, waiting ``timeout`` seconds in all for their threads (a
        thread blocked in a watch request is a daemon: it does not hold the process)."""
        for informer in self.informers.values():
            informer.request_stop()
        deadline = time.monotonic() + timeout
        for informer in self.informers.values():
            informer.stop(timeout=max(0.0, deadline - time.monotonic()))
        self.informers.clear()


__all__ = ["KindNotServed", "WatchEvent", "WatchKey", "Watches", "tenant_identity"]
