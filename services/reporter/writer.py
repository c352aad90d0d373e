"""The reporter's writes into the management cluster, each through a work queue.

Three queues, keyed by what they write (client-go semantics, :mod:`shared.runtime.workqueue`):

- ``objects`` -- one key per Kubernetes object (EventReport, ClusterProfile, generated
  ConfigMap, the ``projectsveltos`` Namespace). The loop keeps the latest wanted content per
  key (:class:`Write`; a :data:`Build` called when the write is due, for content that is
  costly to build; or ``None``: delete it); the handler applies or deletes the content
  wanted *when it runs* (level-triggered), in a thread (the kube client is synchronous);
- ``statuses`` (:mod:`services.reporter.statuses`) -- one key per object whose status
  subresource is merge-patched: a definition (EventSource, EventTrigger, EventBasedAddOn;
  a 404 is success: it was deleted), or an object the reporter writes and whose status it
  computes (:meth:`Writer.bind_status`: ClusterProfiles; a 404 means it is not written yet:
  each apply of the object queues its status again, a delete forgets it);
- ``sweeps`` -- one key per kind: the orphan sweep (objects labelled managed-by ripple that
  no NATS value wants are deleted through ``objects``). A failed list is retried, never read
  as "nothing there".

Coalescing: a change queues its key after ``delay`` seconds (``add_after``: the first
change of a key starts the delay, the next ones within it ride along), so many changes of
one object within the delay are one write; a write (or status patch) whose content is what
was last written successfully is skipped. Deletes are never skipped (they are idempotent).

A failure is retried with exponential backoff; an answer retrying cannot change (400, 413,
415, 422) is :class:`~shared.runtime.errors.Terminal`: kept as the key's failure (logs,
metrics) until the key's content changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from services.reporter.ownership import identity
from services.reporter.statuses import StatusWriter
from services.reporter.writes import (
    FIELD_MANAGER,
    MANAGED_SELECTOR,
    Build,
    Prepare,
    StatusOf,
    SweepDeferred,
    Wanted,
    Write,
    fingerprint,
    holds,
    is_terminal,
)
from shared.api.vocabulary import GVK, ObjectKey
from shared.kube import GVK as KubeGVK
from shared.kube import KindNotServed, KubeClient, KubeError
from shared.runtime.errors import Terminal
from shared.runtime.workqueue import WorkQueue, run_workers

log = logging.getLogger(__name__)


class Writer:
    """Owns the queues and the wanted state (on the loop); ``keep(key)`` tells whether a
    NATS value wants ``key`` (the orphan sweep deletes the others)."""

    def __init__(
        self, kube: KubeClient, keep: Callable[[ObjectKey], bool], delay: float = 0.0
    ) -> None:
        self.kube = kube
        self.keep = keep
        self.delay = delay
        self.objects: WorkQueue[ObjectKey] = WorkQueue("objects")
        self.sweeps: WorkQueue[GVK] = WorkQueue("sweeps")
        self.prepare: dict[GVK, Prepare] = {}
        self._objects: dict[ObjectKey, Wanted] = {}  # wanted, not yet done
        self._written: dict[ObjectKey, str] = {}  # digest of the last successful write
        self._busy: set[ObjectKey] = set()  # objects whose handler is running
        self.stats = {
            "writes": 0,
            "writes_skipped": 0,
            "coalesced": 0,
            "status_skipped": 0,
            "status_coalesced": 0,
            "deletes": 0,
            "status_patches": 0,
            "status_gone": 0,
            "status_waiting": 0,
            "write_failures": 0,
            "status_failures": 0,
            "sweeps": 0,
            "sweep_failures": 0,
            "orphans": 0,
        }
        self.status = StatusWriter(kube, self.stats, delay)
        self.statuses = self.status.queue

    @property
    def queues(self) -> tuple[WorkQueue[Any], ...]:
        return (self.objects, self.statuses, self.sweeps)

    # -- wanted state (the loop) -------------------------------------------------------------
    def put(self, key: ObjectKey, write: Write) -> None:
        self._want(key, write)

    def build(self, key: ObjectKey, build: Build) -> None:
        """Write what ``build`` gives when the write is due (see :data:`Build`)."""
        self._want(key, build)

    def delete(self, key: ObjectKey) -> None:
        self._want(key, None)

    def _want(self, key: ObjectKey, wanted: Wanted) -> None:
        if key in self._objects and key not in self._busy:
            self.stats["coalesced"] += 1  # the pending content is replaced before its write
        self._objects[key] = wanted
        self.objects.add_after(key, self.delay)

    # -- statuses (services.reporter.statuses) ---------------------------------------------
    def patch_status(self, key: ObjectKey, status: dict[str, Any]) -> None:
        """Merge-patch a definition's status (a 404 is success: it was deleted)."""
        self.status.put(key, status)

    def forget_status(self, key: ObjectKey) -> None:
        """The definition's status value is gone (see :meth:`StatusWriter.forget`)."""
        self.status.forget(key)

    def bind_status(self, gvk: GVK, status_of: StatusOf, fields: tuple[str, ...]) -> None:
        """The reporter computes the status of the objects of ``gvk`` it writes."""
        self.status.bind(gvk, status_of, fields)

    def refresh_status(self, key: ObjectKey) -> None:
        """The status of ``key`` (of a bound kind) may have changed: patch it when due."""
        self.status.refresh(key)

    def refresh_statuses(self, gvk: GVK) -> None:
        """Queue the status of every object of ``gvk`` written (the others are queued when
        they are)."""
        for key in [k for k in self._written if (k.gvk.group, k.kind) == (gvk.group, gvk.kind)]:
            self.status.refresh(key)

    def sweep(self, gvk: GVK, prepare: Prepare | None = None) -> None:
        if prepare is not None:
            self.prepare[gvk] = prepare
        self.sweeps.add(gvk)

    # -- workers -----------------------------------------------------------------------------
    async def run(self, workers: int) -> None:
        """Process the three queues until cancelled or shut down."""
        async with asyncio.TaskGroup() as group:
            group.create_task(run_workers(self.objects, self._write, workers=workers))
            group.create_task(run_workers(self.statuses, self.status.patch, workers=workers))
            group.create_task(run_workers(self.sweeps, self._sweep, workers=1))

    def shut_down(self) -> None:
        for queue in self.queues:
            queue.shut_down()

    async def _write(self, key: ObjectKey) -> None:
        if key not in self._objects:
            return  # done meanwhile
        want = self._objects[key]
        self._busy.add(key)
        try:
            await self._write_now(key, want)
        except Exception as exc:
            self.stats["write_failures"] += 1
            self._written.pop(key, None)  # what the server holds now is unknown
            if isinstance(exc, KubeError) and is_terminal(exc):
                raise Terminal(str(exc)) from exc
            raise
        finally:
            self._busy.discard(key)
        if self._objects.get(key, False) is want:  # unchanged while it was written
            del self._objects[key]

    async def _write_now(self, key: ObjectKey, want: Wanted) -> None:
        binding = self.status.binding(key)
        if want is None:
            self._written.pop(key, None)
            if binding is not None:
                self.status.deleted(binding, key)
            existed = await asyncio.to_thread(self._delete_now, key)
            self.stats["deletes"] += 1
            log.info("deleted" if existed else "already gone", extra={"obj": str(key)})
            return
        make = (lambda: want) if isinstance(want, Write) else want()
        if make is None:
            return  # nothing to write now (its content became unknown meanwhile)
        before = self.status.patches(binding.key(key)) if binding is not None else 0
        done = await asyncio.to_thread(self._apply_now, make, self._written.get(key))
        if done is None:
            self.stats["writes_skipped"] += 1
            log.debug("unchanged: not written", extra={"obj": str(key)})
            return
        digest, applied, held = done
        self._written[key] = digest
        self.stats["status_skipped"] += held
        self.stats["writes"] += 1
        log.debug("written", extra={"obj": str(key)})
        if binding is not None:  # the status it holds now is known: patch ours if it differs
            self.status.applied(binding, key, applied, before)

    def _apply_now(
        self, make: Callable[[], Write], last: str | None
    ) -> tuple[str, dict[str, Any], bool] | None:
        """Build and apply (in a thread): the digest, the object the server returned and
        whether its status already was the write's (not patched), or None when the content
        is ``last`` (not written)."""
        write = make()
        digest = write.digest()
        if digest == last:
            return None
        obj = write.obj
        applied = self.kube.apply(obj, field_manager=FIELD_MANAGER)
        held = isinstance(applied, dict) and holds(applied.get("status"), write.status)
        if write.status is not None and not held:  # held: the server's answer shows it
            meta = obj["metadata"]
            gvk = KubeGVK(obj["apiVersion"], obj["kind"])
            self.kube.patch_status(gvk, meta.get("namespace"), meta["name"], write.status)
        return digest, applied if isinstance(applied, dict) else {}, held

    def _delete_now(self, key: ObjectKey) -> bool:
        try:
            return self.kube.delete(KubeGVK(*key.gvk), key.namespace or None, key.name)
        except KubeError as exc:
            if isinstance(exc, KindNotServed):
                return False  # no such kind: no such object
            raise

    async def _sweep(self, gvk: GVK) -> None:
        """Delete the objects of ``gvk`` labelled managed-by ripple that nothing wants."""
        try:
            items, _ = await asyncio.to_thread(
                self.kube.list, KubeGVK(*gvk), label_selector=MANAGED_SELECTOR
            )
        except KindNotServed:
            items = []  # positive knowledge: no such kind, no such object
        except Exception:
            self.stats["sweep_failures"] += 1
            raise
        prepare = self.prepare.get(gvk)
        reason = prepare() if prepare is not None else ""
        if reason:
            self.stats["sweep_failures"] += 1
            raise SweepDeferred(f"orphan sweep of {gvk.kind} waits: {reason}")
        pending = {identity(k) for k in self._objects}
        orphans = 0
        for item in items:
            key = ObjectKey.of(item)
            if self.keep(key) or identity(key) in pending:
                continue
            log.info("orphan (no NATS value wants it): deleting", extra={"obj": str(key)})
            self.delete(key)
            orphans += 1
        self.stats["sweeps"] += 1
        self.stats["orphans"] += orphans
        log.info(
            "orphan sweep of %s: %d listed, %d orphans",
            gvk.kind,
            len(items),
            orphans,
            extra={"obj": "reporter"},
        )

    # -- observability -----------------------------------------------------------------------
    def log_failures(self) -> None:
        """One line per key still failing (the workers log the first attempts only)."""
        for queue in self.queues:
            for key, failure in list(queue.failures.items()):
                log.warning(
                    "%s: still failing%s after %d attempt(s): %s",
                    queue.name,
                    " (terminal: fix the input)" if failure.terminal else "",
                    failure.attempts,
                    failure.message,
                    extra={"obj": str(key)},
                )

    def metrics(self) -> dict[str, tuple[str, str, float]]:
        out: dict[str, tuple[str, str, float]] = {}
        for queue in self.queues:
            out.update(queue.metrics())
        s = self.stats
        failures = [f for q in self.queues for f in q.failures.values()]
        counters = {
            "writes_total": ("Objects applied into the management cluster", s["writes"]),
            "writes_skipped_total": (
                "Object writes skipped: the content is what was last written",
                s["writes_skipped"],
            ),
            "coalesced_total": (
                "Object changes merged into a write still pending (write delay)",
                s["coalesced"],
            ),
            "deletes_total": ("Objects deleted from the management cluster", s["deletes"]),
            "status_patches_total": ("Statuses written", s["status_patches"]),
            "status_gone_total": ("Statuses not written: definition deleted", s["status_gone"]),
            "status_waiting_total": (
                "Statuses not written yet: their object is not written yet (written with it)",
                s["status_waiting"],
            ),
            "status_patches_skipped_total": (
                "Status patches skipped: the status is what was last written",
                s["status_skipped"],
            ),
            "status_coalesced_total": (
                "Status changes merged into a patch still pending (write delay)",
                s["status_coalesced"],
            ),
            "write_failures_total": ("Object writes/deletes that failed", s["write_failures"]),
            "status_failures_total": ("Status patches that failed", s["status_failures"]),
            "sweeps_total": ("Orphan sweeps done", s["sweeps"]),
            "sweep_failures_total": ("Orphan sweeps failed or deferred", s["sweep_failures"]),
            "orphans_total": ("Orphans found by the sweeps", s["orphans"]),
            "retries_total": (
                "Retries scheduled after a failure (all queues)",
                sum(q.stats["retries"] for q in self.queues),
            ),
        }
        for name, (text, value) in counters.items():
            out[name] = ("counter", text, float(value))
        out["failing_keys"] = ("gauge", "Keys whose last attempt failed", len(failures))
        out["terminal_keys"] = (
            "gauge",
            "Keys not retried until their content changes (refused by the API server)",
            sum(1 for f in failures if f.terminal),
        )
        out["pending_writes"] = ("gauge", "Objects wanted but not written yet", len(self._objects))
        return out


__all__ = [
    "FIELD_MANAGER",
    "MANAGED_SELECTOR",
    "Build",
    "SweepDeferred",
    "Wanted",
    "Write",
    "Writer",
    "fingerprint",
]
