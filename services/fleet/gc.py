"""Garbage collection by ownerReferences, as kube-controller-manager's collector does it.

- Background (the default ``propagationPolicy``): the owner goes at once; its dependents are
  then deleted by the collector (each with its own finalizers, cascading further).
- Foreground: the owner gets a ``deletionTimestamp`` and the ``foregroundDeletion``
  finalizer; the collector deletes its dependents and removes the finalizer once no
  dependent with ``blockOwnerDeletion: true`` is left, which removes the owner.
- Orphan (or ``orphanDependents: true``): the ownerReferences to the owner are removed from
  its dependents, then the owner is deleted.

A dependent none of whose owners exists (same uid, looked up by apiVersion/kind/name in the
dependent's namespace) is deleted; one with some live owners loses only its references to
the dangling or foreground-deleting ones. The store keeps the owner -> dependents graph and
queues work (:class:`~services.fleet.store.ClusterStore`); the collector runs it on the next
turn of the event loop, so it is asynchronous like the real one, and every change is a
normal write with its watch event.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from services.fleet.errors import ApiError
from services.fleet.kinds import NAMESPACE_KEY, ResourceType
from services.fleet.lifecycle import Lifecycle
from services.fleet.patching import clone

log = logging.getLogger(__name__)

FOREGROUND = "foregroundDeletion"
POLICIES = ("Background", "Foreground", "Orphan")
_MAX_STEPS = 1_000_000


def propagation(options: dict[str, Any] | None, query: str | None) -> str:
    """The propagation policy of a delete (DeleteOptions body first, then the query)."""
    options = options or {}
    policy = options.get("propagationPolicy") or query
    if policy is None and options.get("orphanDependents") is not None:
        policy = "Orphan" if options["orphanDependents"] else "Background"
    policy = policy or "Background"
    if policy not in POLICIES:
        raise ApiError.bad_request(
            f'propagationPolicy: Unsupported value: "{policy}": supported values: '
            '"Foreground", "Background", "Orphan"'
        )
    return str(policy)


class GarbageCollector(Lifecycle):
    """Deletion with propagation policies, and the collector's work loop."""

    _scheduled = False
    _running = False

    def start_collector(self) -> None:
        self.store.gc_wake = self._wake

    def _wake(self) -> None:
        if self._scheduled or self._running:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.collect()  # no loop (unit use): collect now
            return
        self._scheduled = True
        loop.call_soon(self.collect)

    # -- delete with a propagation policy ---------------------------------------------------
    def delete(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        options: dict[str, Any] | None = None,
        dry_run: bool = False,
        policy: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        how = propagation(options, policy)
        if dry_run or how == "Background" or rt.key == NAMESPACE_KEY:
            return super().delete(rt, ns, name, options, dry_run)
        obj = self.get(rt, ns, name)
        self._preconditions(rt, obj, options, name)
        if how == "Orphan":
            self._orphan(obj)
            return super().delete(rt, ns, name, None, dry_run)
        meta = obj["metadata"]
        finalizers = list(meta.get("finalizers") or [])
        if meta.get("deletionTimestamp") and FOREGROUND in finalizers:
            return obj, False
        new = clone(obj)
        if FOREGROUND not in finalizers:
            new["metadata"]["finalizers"] = [*finalizers, FOREGROUND]
        if not meta.get("deletionTimestamp"):
            from services.fleet.fieldpaths import now

            new["metadata"]["deletionTimestamp"] = now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
        self._stamp(new)
        self.store.put(rt.key, new, obj, "MODIFIED")
        return new, False

    def _orphan(self, owner: dict[str, Any]) -> None:
        uid = owner["metadata"].get("uid", "")
        for key, ns, name in list(self.store.dependents.get(uid, ())):
            self._drop_refs(key, ns, name, {uid})

    # -- the collector ----------------------------------------------------------------------
    def collect(self) -> int:
        """Run the queued work until none is left; returns the number of steps."""
        self._scheduled = False
        if self._running:
            return 0
        self._running = True
        steps = 0
        queue = self.store.gc_queue
        try:
            while queue and steps < _MAX_STEPS:
                item = queue.popleft()
                steps += 1
                try:
                    match item:
                        case ("dep", key, ns, name):
                            self._attempt_delete(key, ns, name)
                        case ("owner", ref, ns):
                            self._process_owner(ref, ns)
                except ApiError as err:  # e.g. a namespace being terminated
                    log.debug("garbage collector: %s: %s", item, err.message)
        finally:
            self._running = False
        return steps

    def _resolve(
        self, ref: dict[str, Any], ns: str
    ) -> tuple[ResourceType | None, dict[str, Any] | None]:
        """(type, live owner with the ref's uid or None); type None: kind unknown."""
        group = str(ref.get("apiVersion", "")).rpartition("/")[0]
        rt = self.store.registry.by_kind(group, str(ref.get("kind", "")))
        if rt is None:
            return None, None
        if rt.namespaced and not ns:
            return rt, None  # a cluster-scoped dependent cannot have a namespaced owner
        owner = self.store.get(rt.key, ns if rt.namespaced else "", str(ref.get("name", "")))
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            return rt, None
        return rt, owner

    def _attempt_delete(self, key: tuple[str, str], ns: str, name: str) -> None:
        obj = self.store.get(key, ns, name)
        if obj is None:
            return
        meta = obj["metadata"]
        if meta.get("deletionTimestamp") and FOREGROUND not in (meta.get("finalizers") or ()):
            return  # already going
        solid, dangling, waiting = [], [], []
        for ref in meta.get("ownerReferences") or []:
            rt, owner = self._resolve(ref, ns)
            if rt is None:
                solid.append(ref)  # unknown kind: never collect on a guess
            elif owner is None:
                dangling.append(ref)
            elif owner["metadata"].get("deletionTimestamp") and FOREGROUND in (
                owner["metadata"].get("finalizers") or ()
            ):
                waiting.append(ref)
            else:
                solid.append(ref)
        if solid:
            if dangling or waiting:
                self._drop_refs(key, ns, name, {r.get("uid") for r in dangling + waiting})
            return
        if not dangling and not waiting:
            return
        rt = self.store.registry.by_key(key)
        if rt is None:
            return
        has_deps = bool(self.store.dependents.get(meta.get("uid", "")))
        policy = "Foreground" if waiting and has_deps else "Background"
        self.delete(rt, ns, name, {"preconditions": {"uid": meta.get("uid")}}, policy=policy)

    def _process_owner(self, ref: dict[str, Any], ns: str) -> None:
        rt, owner = self._resolve(ref, ns)
        if rt is None or owner is None:
            return
        meta = owner["metadata"]
        if not meta.get("deletionTimestamp") or FOREGROUND not in (meta.get("finalizers") or ()):
            return
        uid = meta.get("uid", "")
        blocking = []
        for key, dns, dname in self.store.dependents.get(uid, ()):
            dep = self.store.get(key, dns, dname)
            if dep is None:
                continue
            for r in dep["metadata"].get("ownerReferences") or []:
                if r.get("uid") == uid and r.get("blockOwnerDeletion"):
                    blocking.append((key, dns, dname))
                    break
        if blocking:
            return  # each dependent's removal queues this owner again
        new = clone(owner)
        new["metadata"]["finalizers"] = [f for f in meta.get("finalizers") or () if f != FOREGROUND]
        if not new["metadata"]["finalizers"]:
            del new["metadata"]["finalizers"]
        self._stamp(new)
        if new["metadata"].get("finalizers"):
            self.store.put(rt.key, new, owner, "MODIFIED")
        else:
            self._remove(rt, new)

    def _drop_refs(self, key: tuple[str, str], ns: str, name: str, uids: set[str]) -> None:
        obj = self.store.get(key, ns, name)
        if obj is None:
            return
        new = clone(obj)
        refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid") not in uids]
        if refs:
            new["metadata"]["ownerReferences"] = refs
        else:
            new["metadata"].pop("ownerReferences", None)
        self._stamp(new)
        self.store.put(key, new, obj, "MODIFIED")
