"""One list+watch per kind, with a local cache, resume and relist.

An :class:`Informer` runs in its own thread (the official client is synchronous) and hands
every change to a callback as an :class:`InformerEvent`. After a 410 Gone or a broken watch
it relists and emits the difference against its cache, so no change is missed or doubled.
``synced`` becomes true after the first complete list: until then consumers must not read
"no objects" as "nothing matches".

A failed list, watch or discovery is retried with exponential backoff and jitter (0.2 s
doubling up to 30 s, from 0.2 s again after a successful list); each failure is a FAILED
event carrying the message, and the cache is kept (what was last known stays known). Only
positive knowledge that the kind is not served (:class:`KindNotServed`) is a FAILED event
with ``not_served=True``: its objects are gone, the cache empties (DELETED events first),
and discovery is polled again at most every 5 s (its CRD may be installed).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.kube.client import GVK, KubeClient, ObjectKey, object_key
from shared.kube.errors import DiscoveryFailed, KindNotServed, KubeError, WatchExpired

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InformerEvent:
    """``type`` is ADDED, MODIFIED or DELETED (objects), or SYNCED / FAILED (the informer).

    A FAILED event carries the error in ``message``; ``not_served`` is true only when the
    cluster positively does not serve the kind (known, and empty), false when the list,
    watch or discovery failed (unknown: keep what was known)."""

    type: str
    gvk: GVK
    obj: dict[str, Any] = field(default_factory=dict)
    old: dict[str, Any] | None = None
    message: str = ""
    not_served: bool = False


class Backoff:
    """Exponential backoff with jitter: ``initial`` doubling up to ``cap`` seconds; each
    delay is drawn in [d/2, d] so informers failing together do not retry together."""

    def __init__(self, initial: float = 0.2, cap: float = 30.0) -> None:
        self.initial = initial
        self.cap = cap
        self.failures = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.initial * 2.0 ** min(self.failures, 32))
        self.failures += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0


Callback = Callable[[InformerEvent], None]


class Informer:
    """List+watch of one kind in one cluster, cache keyed by (namespace, name)."""

    def __init__(
        self,
        client: KubeClient,
        gvk: GVK,
        callback: Callback,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        backoff_initial: float = 0.2,
        backoff_max: float = 30.0,
        not_served_max: float = 5.0,
        watch_timeout: int = 300,
    ) -> None:
        self.client = client
        self.gvk = gvk
        self.callback = callback
        self.namespace = namespace
        self.label_selector = label_selector
        self.backoff = Backoff(backoff_initial, backoff_max)
        # a kind not served is polled more often than a failure is retried: its CRD may come
        self.not_served_max = not_served_max
        self.watch_timeout = watch_timeout
        self.cache: dict[ObjectKey, dict[str, Any]] = {}
        self.synced = False
        self.resource_version = ""
        self.error = ""
        self.not_served = False  # positive knowledge: the cluster does not serve the kind
        self.retry_in = 0.0  # the delay before the next attempt (0: not failing)
        self._stop = threading.Event()
        self._stream: Any = None  # the open watch response (shut down by a stop)
        self._thread: threading.Thread | None = None
        self._ident = f"{client.name}:{gvk}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"informer {self._ident}")
        self._thread.daemon = True
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to stop (does not wait): its open watch is shut down, so a thread
        reading an idle watch ends now instead of at the next event or bookmark."""
        self._stop.set()
        self._interrupt()

    def stop(self, timeout: float = 5.0) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- loop --------------------------------------------------------------------------------
    def _run(self) -> None:
        extra = {"obj": self._ident}
        while not self._stop.is_set():
            try:
                self._relist()
                while not self._stop.is_set():
                    self._watch_once()
            except WatchExpired:
                log.info("watch expired (410 Gone), relisting", extra=extra)
                continue
            except KindNotServed as exc:
                self._gone()
                self._fail(f"{exc}", not_served=True)
            except DiscoveryFailed as exc:
                self._fail(f"{exc}")
            except KubeError as exc:
                if self._stop.is_set():  # the watch shut down by a stop: not a failure
                    return
                if exc.status == 404:  # the kind went away (CRD deleted): rediscover
                    self.client.forget(self.gvk)
                self._fail(f"{exc}")
            except Exception as exc:  # never let the thread die silently
                log.exception("informer crashed", extra=extra)
                self._fail(f"internal error: {exc}")
            delay = self.backoff.next()
            self.retry_in = min(delay, self.not_served_max) if self.not_served else delay
            self._stop.wait(self.retry_in)

    def _interrupt(self) -> None:
        stream = self._stream
        if stream is None:
            return
        try:
            stream.shutdown()
        except Exception as exc:  # already closed: nothing to interrupt
            log.debug("watch shutdown: %s", exc, extra={"obj": self._ident})

    def _on_stream(self, stream: Any) -> None:
        self._stream = stream
        if self._stop.is_set():  # a stop that came while the request was being made
            self._interrupt()

    def _fail(self, message: str, *, not_served: bool = False) -> None:
        if message != self.error:
            log.warning("list/watch failed: %s", message, extra={"obj": self._ident})
        self.error = message
        self.not_served = not_served
        self.callback(InformerEvent("FAILED", self.gvk, message=message, not_served=not_served))

    def _gone(self) -> None:
        """The kind is positively not served: its objects are gone with it."""
        old_cache, self.cache = self.cache, {}
        self.resource_version = ""
        for prev in old_cache.values():
            self.callback(InformerEvent("DELETED", self.gvk, prev, prev))

    def _relist(self) -> None:
        items, rv = self.client.list(self.gvk, self.namespace, label_selector=self.label_selector)
        fresh = {object_key(o): o for o in items}
        old_cache = self.cache
        self.cache = fresh
        self.resource_version = rv
        for key, obj in fresh.items():
            prev = old_cache.get(key)
            if prev is None:
                self.callback(InformerEvent("ADDED", self.gvk, obj))
            elif _rv(prev) != _rv(obj):
                self.callback(InformerEvent("MODIFIED", self.gvk, obj, prev))
        for key, prev in old_cache.items():
            if key not in fresh:
                self.callback(InformerEvent("DELETED", self.gvk, prev, prev))
        self.error = ""
        self.not_served = False
        self.retry_in = 0.0
        self.backoff.reset()
        if not self.synced:
            self.synced = True
        self.callback(InformerEvent("SYNCED", self.gvk))

    def _watch_once(self) -> None:
        for etype, obj in self.client.watch(
            self.gvk,
            self.resource_version,
            namespace=self.namespace,
            label_selector=self.label_selector,
            timeout_seconds=self.watch_timeout,
            on_stream=self._on_stream,
        ):
            if self._stop.is_set():
                return
            rv = _rv(obj)
            if rv:
                self.resource_version = rv
            if etype == "BOOKMARK":
                continue
            obj.setdefault("apiVersion", self.gvk.api_version)
            obj.setdefault("kind", self.gvk.kind)
            key = object_key(obj)
            prev = self.cache.get(key)
            if etype == "DELETED":
                self.cache.pop(key, None)
                self.callback(InformerEvent("DELETED", self.gvk, obj, prev))
            elif etype in ("ADDED", "MODIFIED"):
                self.cache[key] = obj
                kind = "ADDED" if prev is None else "MODIFIED"
                self.callback(InformerEvent(kind, self.gvk, obj, prev))


def _rv(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")
