"""One simulated cluster's state: objects, the resourceVersion counter, the event log, watchers.

Objects are plain dicts stored per (group, plural) and keyed by (namespace, name). A stored
dict is never mutated after it is stored (every write stores a new dict), so events can keep
references to them and responses can be serialised without copying.

Each write takes the next value of the cluster's single counter as its resourceVersion and
appends one event to a bounded log; watchers get the event through a bounded asyncio queue
(a watcher that falls behind is closed, as the real server does, and must resume).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from services.fleet.kinds import Registry, ResourceType
from services.fleet.selectors import Matcher

log = logging.getLogger(__name__)

ObjKey = tuple[str, str]  # (namespace, name); namespace is "" for cluster scope


class _Sentinel(Enum):
    CLOSE = "close"


CLOSE: Literal[_Sentinel.CLOSE] = _Sentinel.CLOSE  # queue sentinel: end the watch stream
#: events whose serialised watch lines are kept (older events are serialised again if replayed)
LINE_CACHE_EVENTS = 64


class Event:
    """One change: type, RV, resource key and the new (and previous) object."""

    __slots__ = ("_cache", "key", "namespace", "obj", "old", "rv", "type")

    def __init__(
        self,
        rv: int,
        type_: str,
        key: tuple[str, str],
        namespace: str,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
    ) -> None:
        self.rv = rv
        self.type = type_
        self.key = key
        self.namespace = namespace
        self.obj = obj
        self.old = old
        self._cache: dict[tuple[str, str], bytes] | None = None

    def line(self, type_: str, api_version: str) -> bytes:
        """The watch line for this event (serialised once per type and apiVersion while the
        event is recent; the log drops the lines of older events)."""
        if self._cache is None:
            self._cache = {}
        cached = self._cache.get((type_, api_version))
        if cached is None:
            cached = watch_line(type_, with_api_version(self.obj, api_version))
            self._cache[(type_, api_version)] = cached
        return cached


#: what a watcher's queue carries: (event, the type this watcher sees) or the end of the stream
WatchItem = tuple[Event, str] | Literal[_Sentinel.CLOSE]
#: the garbage collector's work: ("dep", key, namespace, name): is this dependent's owner
#: still there?; ("owner", ownerReference, namespace): may this owner finish its deletion?
GcWork = (
    tuple[Literal["dep"], tuple[str, str], str, str] | tuple[Literal["owner"], dict[str, Any], str]
)


def watch_line(type_: str, obj: dict[str, Any]) -> bytes:
    return (json.dumps({"type": type_, "object": obj}, separators=(",", ":")) + "\n").encode()


def with_api_version(obj: dict[str, Any], api_version: str) -> dict[str, Any]:
    if obj.get("apiVersion") == api_version:
        return obj
    out = dict(obj)
    out["apiVersion"] = api_version
    return out


@dataclass(eq=False)
class Watcher:
    """One open watch: its filter and its bounded queue."""

    key: tuple[str, str]
    rtype: ResourceType
    namespace: str | None
    labels: Matcher | None
    fields: Matcher | None
    queue: asyncio.Queue[WatchItem]
    closed: bool = False
    #: called when the watcher overflows (the stream's connection is dropped)
    on_overflow: Callable[[], None] | None = None

    def matches(self, obj: dict[str, Any]) -> bool:
        if self.labels is not None and not self.labels(obj):
            return False
        return self.fields is None or self.fields(obj)

    def offer(self, item: WatchItem) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.close("slow watcher: queue full")
            if self.on_overflow is not None:
                self.on_overflow()

    def close(self, why: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(CLOSE)
        if why:
            log.info("closing watch on %s: %s", "/".join(self.key), why)


@dataclass(eq=False)
class ClusterStore:
    """Objects, counter, log and watchers of one cluster."""

    name: str
    log_size: int = 1000
    watch_queue_size: int = 10_000
    labels: dict[str, str] = field(default_factory=dict)
    registry: Registry = field(default_factory=Registry)
    objects: dict[tuple[str, str], dict[ObjKey, dict[str, Any]]] = field(default_factory=dict)
    rv: int = 0
    #: every event with rv > floor is in the log; resuming below it gives 410 Gone
    floor: int = 0
    events: deque[Event] = field(default_factory=deque)
    watchers: dict[tuple[str, str], list[Watcher]] = field(default_factory=dict)
    #: Service cluster IPs allocated so far
    ip_counter: int = 0
    #: owner uid -> its dependents (key, namespace, name): the garbage collector's graph
    dependents: dict[str, set[tuple[tuple[str, str], str, str]]] = field(default_factory=dict)
    #: work for the garbage collector (:mod:`services.fleet.gc`)
    gc_queue: deque[GcWork] = field(default_factory=deque)
    #: called when work is queued (the collector schedules itself)
    gc_wake: Callable[[], None] | None = None

    # -- objects ----------------------------------------------------------------------------
    def bucket(self, key: tuple[str, str]) -> dict[ObjKey, dict[str, Any]]:
        b = self.objects.get(key)
        if b is None:
            b = self.objects[key] = {}
        return b

    def get(self, key: tuple[str, str], namespace: str, name: str) -> dict[str, Any] | None:
        b = self.objects.get(key)
        return None if b is None else b.get((namespace, name))

    def iter(self, key: tuple[str, str], namespace: str | None) -> Iterator[dict[str, Any]]:
        b = self.objects.get(key)
        if not b:
            return
        for (ns, _), obj in sorted(b.items(), key=lambda kv: kv[0]):
            if namespace is None or ns == namespace:
                yield obj

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def put(
        self, key: tuple[str, str], obj: dict[str, Any], old: dict[str, Any] | None, type_: str
    ) -> None:
        """Store ``obj`` (already stamped with the next RV) and emit its event."""
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        self.bucket(key)[(ns, meta["name"])] = obj
        self._emit(Event(int(meta["resourceVersion"]), type_, key, ns, obj, old))
        refs = meta.get("ownerReferences")
        old_refs = old["metadata"].get("ownerReferences") if old is not None else None
        if refs or old_refs:
            self._owners_changed(key, ns, meta["name"], refs or [], old_refs or [])
        if meta.get("deletionTimestamp") and "foregroundDeletion" in (meta.get("finalizers") or ()):
            self._gc(("owner", _self_ref(obj), ns))
            for dep in self.dependents.get(meta.get("uid", ""), ()):
                self._gc(("dep", *dep))

    def drop(self, key: tuple[str, str], obj: dict[str, Any]) -> None:
        """Remove an object; ``obj`` is its last state stamped with a new RV."""
        meta = obj["metadata"]
        ns = meta.get("namespace", "")
        self.bucket(key).pop((ns, meta["name"]), None)
        self._emit(Event(int(meta["resourceVersion"]), "DELETED", key, ns, obj, None))
        refs = meta.get("ownerReferences")
        if refs:
            self._owners_changed(key, ns, meta["name"], [], refs, gone=True)
        deps = self.dependents.pop(meta.get("uid", ""), None)
        for dep in deps or ():
            self._gc(("dep", *dep))

    # -- the garbage collector's graph ------------------------------------------------------
    def _gc(self, item: GcWork) -> None:
        self.gc_queue.append(item)
        if self.gc_wake is not None:
            self.gc_wake()

    def _owners_changed(
        self,
        key: tuple[str, str],
        ns: str,
        name: str,
        refs: list[dict[str, Any]],
        old_refs: list[dict[str, Any]],
        gone: bool = False,
    ) -> None:
        new_uids = {r.get("uid") for r in refs if isinstance(r, dict)}
        old_uids = {r.get("uid") for r in old_refs if isinstance(r, dict)}
        if new_uids == old_uids and not gone and old_refs:
            return
        dep = (key, ns, name)
        for r in old_refs:
            uid = r.get("uid") if isinstance(r, dict) else None
            if uid and uid not in new_uids:
                deps = self.dependents.get(uid)
                if deps is not None:
                    deps.discard(dep)
                    if not deps:
                        del self.dependents[uid]
                self._gc(("owner", r, ns))  # an owner may be waiting for this dependent
        for uid in new_uids - old_uids:
            if uid:
                self.dependents.setdefault(uid, set()).add(dep)
        if refs and not gone:
            self._gc(("dep", *dep))  # are its owners there?

    # -- events -----------------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        if len(self.events) >= self.log_size:
            self.floor = self.events.popleft().rv
        if len(self.events) > LINE_CACHE_EVENTS:  # serialised lines only for recent events
            self.events[-LINE_CACHE_EVENTS]._cache = None
        self.events.append(event)
        for w in self.watchers.get(event.key, ()):
            if w.namespace is not None and w.namespace != event.namespace:
                continue
            type_ = filtered_type(w, event)
            if type_ is not None:
                w.offer((event, type_))

    def replay(self, key: tuple[str, str], after: int) -> list[Event]:
        out = []
        for ev in reversed(self.events):
            if ev.rv <= after:
                break
            if ev.key == key:
                out.append(ev)
        out.reverse()
        return out

    def compact(self) -> int:
        """Forget the event log: resuming from any older RV now gives 410 Gone."""
        self.events.clear()
        self.floor = self.rv
        return self.rv

    # -- watchers ---------------------------------------------------------------------------
    def subscribe(self, w: Watcher) -> None:
        self.watchers.setdefault(w.key, []).append(w)

    def unsubscribe(self, w: Watcher) -> None:
        ws = self.watchers.get(w.key)
        if ws and w in ws:
            ws.remove(w)
            if not ws:
                del self.watchers[w.key]

    def cut_watches(self, key: tuple[str, str] | None = None) -> int:
        n = 0
        for k, ws in list(self.watchers.items()):
            if key is not None and k != key:
                continue
            for w in list(ws):
                w.close()
                n += 1
        return n

    def watch_count(self) -> int:
        return sum(len(ws) for ws in self.watchers.values())


def _self_ref(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "apiVersion": obj.get("apiVersion", ""),
        "kind": obj.get("kind", ""),
        "name": meta["name"],
        "uid": meta.get("uid", ""),
    }


def filtered_type(w: Watcher, event: Event) -> str | None:
    """The event type this watcher sees (the cacher turns entering/leaving into ADDED/DELETED)."""
    if event.type != "MODIFIED":
        return event.type if w.matches(event.obj) else None
    new_m = w.matches(event.obj)
    old_m = event.old is not None and w.matches(event.old)
    if new_m and old_m:
        return "MODIFIED"
    if new_m:
        return "ADDED"
    if old_m:
        return "DELETED"
    return None
