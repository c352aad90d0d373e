"""The ``statuses`` queue of the reporter's writer: status subresources, merge-patched.

Two kinds of key, one per object:

- a definition (EventSource, EventTrigger, EventBasedAddOn): :meth:`StatusWriter.put` the
  latest status read from ``ripple-status``; a 404 (the definition was deleted) is success,
  :meth:`StatusWriter.forget` when its value is deleted;
- an object the reporter writes itself and whose status it computes, of a *bound* kind
  (:meth:`StatusWriter.bind`: ClusterProfiles, from ``ripple-outcomes``): the status is
  built when its patch is due (:data:`~services.reporter.writes.StatusOf`, level-triggered:
  :meth:`StatusWriter.refresh` only says it may have changed). A 404 means the object is
  not written yet: nothing is lost, each apply of the object queues its status again
  (:meth:`StatusWriter.applied`, which also records the status the apply returned, so an
  identical one is not patched), and deleting the object forgets what was patched on it
  (:meth:`StatusWriter.deleted`).

Changes within the write delay are one patch; a status identical to the last one patched
(or, for a bound kind, to the fields the server returned) is skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from services.reporter.writes import Binding, StatusOf, fingerprint, is_gone, is_terminal
from shared.api.vocabulary import GVK, ObjectKey
from shared.kube import GVK as KubeGVK
from shared.kube import KubeClient, KubeError
from shared.runtime.errors import Terminal
from shared.runtime.workqueue import WorkQueue

log = logging.getLogger(__name__)


class StatusWriter:
    """The wanted statuses and the ``statuses`` queue (on the loop); ``stats`` is the
    writer's counters."""

    def __init__(self, kube: KubeClient, stats: dict[str, int], delay: float = 0.0) -> None:
        self.kube = kube
        self.stats = stats
        self.delay = delay
        self.queue: WorkQueue[ObjectKey] = WorkQueue("statuses")
        self._statuses: dict[ObjectKey, dict[str, Any]] = {}  # definitions: wanted, not done
        self._patched: dict[ObjectKey, str] = {}  # digest of what the server holds
        self._patching: set[ObjectKey] = set()
        self._bound: dict[tuple[str, str], Binding] = {}  # (group, kind) -> binding
        self._refreshing: set[ObjectKey] = set()  # bound statuses queued, not built yet
        self._patch_count: dict[ObjectKey, int] = {}  # bound patches ended, per key

    # -- definitions ---------------------------------------------------------------------
    def put(self, key: ObjectKey, status: dict[str, Any]) -> None:
        if key in self._statuses and key not in self._patching:
            self.stats["status_coalesced"] += 1
        self._statuses[key] = status
        self.queue.add_after(key, self.delay)

    def forget(self, key: ObjectKey) -> None:
        """The definition's status value is gone: nothing to patch any more (and a
        definition created again under the name starts without a status)."""
        self._statuses.pop(key, None)
        self._patched.pop(key, None)
        self.queue.discard(key)

    # -- bound kinds ---------------------------------------------------------------------
    def bind(self, gvk: GVK, status_of: StatusOf, fields: tuple[str, ...]) -> None:
        """The status of every object of ``gvk`` (any version) is ``status_of(key)``."""
        self._bound[(gvk.group, gvk.kind)] = Binding(gvk, status_of, fields)

    def binding(self, key: ObjectKey) -> Binding | None:
        return self._bound.get((key.gvk.group, key.kind))

    def refresh(self, key: ObjectKey) -> None:
        """The status of ``key`` (of a bound kind) may have changed: patch it when due."""
        binding = self.binding(key)
        if binding is None:
            raise ValueError(f"{key.kind}: no status binding")
        key = binding.key(key)
        if key in self._refreshing and key not in self._patching:
            self.stats["status_coalesced"] += 1
        self._refreshing.add(key)
        self.queue.add_after(key, self.delay)

    def patches(self, key: ObjectKey) -> int:
        """How many patches of ``key``'s status ended (taken before an apply)."""
        return self._patch_count.get(key, 0)

    def applied(self, binding: Binding, key: ObjectKey, obj: dict[str, Any], before: int) -> None:
        """The object was applied; ``obj`` is what the server returned, ``before`` what
        :meth:`patches` said when the apply started. Its status is queued: a patch whose
        fields are what ``obj`` holds is skipped."""
        key = binding.key(key)
        if key in self._patching or self.patches(key) != before:
            self._patched.pop(key, None)  # a status patch ran meanwhile: unknown
        else:
            status = obj.get("status")
            self._patched[key] = binding.digest(status if isinstance(status, dict) else None)
        self.refresh(key)

    def deleted(self, binding: Binding, key: ObjectKey) -> None:
        """The object was deleted: the status written on it is gone with it."""
        key = binding.key(key)
        self._patched.pop(key, None)
        self._patch_count.pop(key, None)

    # -- the queue's handler -------------------------------------------------------------
    async def patch(self, key: ObjectKey) -> None:
        binding = self.binding(key)
        if binding is not None:
            await self._patch_bound(key, binding)
            return
        status = self._statuses.get(key)
        if status is None:
            return
        digest = fingerprint(status)
        if self._patched.get(key) == digest:
            self.stats["status_skipped"] += 1
            if self._statuses.get(key) is status:
                del self._statuses[key]
            return
        gvk = KubeGVK(*key.gvk)
        self._patching.add(key)
        try:
            await asyncio.to_thread(self.kube.patch_status, gvk, None, key.name, status)
        except KubeError as exc:
            if not is_gone(exc):
                self.stats["status_failures"] += 1
                if is_terminal(exc):
                    raise Terminal(str(exc)) from exc
                raise
            self.stats["status_gone"] += 1  # the definition was deleted: nothing to show
            log.debug("no status written: %s", exc, extra={"obj": str(key)})
        except Exception:
            self.stats["status_failures"] += 1
            raise
        else:
            self.stats["status_patches"] += 1
            self._patched[key] = digest
        finally:
            self._patching.discard(key)
        if self._statuses.get(key) is status:
            del self._statuses[key]

    async def _patch_bound(self, key: ObjectKey, binding: Binding) -> None:
        self._refreshing.discard(key)
        make = binding.status_of(key)
        if make is None:
            return  # unknown now: queued again once known
        self._patching.add(key)
        try:
            digest = await asyncio.to_thread(
                self._patch_bound_now, key, binding, make, self._patched.get(key)
            )
        except KubeError as exc:
            if not is_gone(exc):
                self._patched.pop(key, None)  # what the server holds now is unknown
                self.stats["status_failures"] += 1
                if is_terminal(exc):
                    raise Terminal(str(exc)) from exc
                raise
            self.stats["status_waiting"] += 1  # not written yet: patched once it is
            log.debug("not written yet, its status waits: %s", exc, extra={"obj": str(key)})
            return
        except Exception:
            self._patched.pop(key, None)
            self.stats["status_failures"] += 1
            raise
        finally:
            self._patching.discard(key)
            self._patch_count[key] = self._patch_count.get(key, 0) + 1
        if digest is None:
            self.stats["status_skipped"] += 1
            return
        self._patched[key] = digest
        self.stats["status_patches"] += 1
        log.debug("status written", extra={"obj": str(key)})

    def _patch_bound_now(
        self, key: ObjectKey, binding: Binding, make: Callable[[], dict[str, Any]], last: str | None
    ) -> str | None:
        """Build and patch a bound status (in a thread); None when it is ``last``."""
        status = make()
        digest = binding.digest(status)
        if digest == last:
            return None
        self.kube.patch_status(KubeGVK(*key.gvk), key.namespace or None, key.name, status)
        return digest


__all__ = ["StatusWriter"]
