"""One list+watch per kind, with a local cache, resume and relist.

An :class:`Informer` runs in its own thread (the official client is synchronous) and hands
every change to a callback as an :class:`InformerEvent`. After a 410 Gone or a broken watch
it relists and emits the difference against its cache, so no change is missed or doubled.
``synced`` becomes true after the first complete list: until then consumers must not read
"no objects" as "nothing matches".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.kube.client import GVK, KubeClient, ObjectKey, object_key
from shared.kube.errors import KindNotServed, KubeError, WatchExpired

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InformerEvent:
    """``type`` is ADDED, MODIFIED or DELETED (objects), or SYNCED / FAILED (the informer)."""

    type: str
    gvk: GVK
    obj: dict[str, Any] = field(default_factory=dict)
    old: dict[str, Any] | None = None
    message: str = ""


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
        retry_seconds: float = 1.0,
        watch_timeout: int = 300,
    ) -> None:
        self.client = client
        self.gvk = gvk
        self.callback = callback
        self.namespace = namespace
        self.label_selector = label_selector
        self.retry_seconds = retry_seconds
        self.watch_timeout = watch_timeout
        self.cache: dict[ObjectKey, dict[str, Any]] = {}
        self.synced = False
        self.resource_version = ""
        self.error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ident = f"{client.name}:{gvk}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"informer {self._ident}")
        self._thread.daemon = True
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to stop at its next event or watch timeout (does not wait)."""
        self._stop.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
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
                self._fail(f"{exc}")
            except KubeError as exc:
                if exc.status == 404:  # the kind went away (CRD deleted): rediscover
                    self.client.forget(self.gvk)
                self._fail(f"{exc}")
            except Exception as exc:  # never let the thread die silently
                log.exception("informer crashed", extra=extra)
                self._fail(f"internal error: {exc}")
            self._stop.wait(self.retry_seconds)

    def _fail(self, message: str) -> None:
        if message != self.error:
            log.warning("list/watch failed: %s", message, extra={"obj": self._ident})
        self.error = message
        self.callback(InformerEvent("FAILED", self.gvk, message=message))

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
