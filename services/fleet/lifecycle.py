"""Deletion rules: finalizers and deletionTimestamp, namespace termination, CRD removal.

:class:`Lifecycle` is the base of :class:`~services.fleet.objects.Objects`: it owns the
cluster's store, reads objects and stamps resourceVersions.
"""

from __future__ import annotations

from typing import Any

from services.fleet.errors import ApiError
from services.fleet.fieldpaths import now
from services.fleet.kinds import CRD_KEY, NAMESPACE_KEY, ResourceType
from services.fleet.patching import clone
from services.fleet.selectors import Matcher
from services.fleet.store import ClusterStore


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError.not_found(rt.resource_label, name, rt.group)


class Lifecycle:
    """Reads, RV stamping and deletion of one cluster's objects."""

    def __init__(self, store: ClusterStore) -> None:
        self.store = store

    # -- helpers ----------------------------------------------------------------------------
    def _stamp(self, obj: dict[str, Any]) -> None:
        obj["metadata"]["resourceVersion"] = str(self.store.next_rv())

    def _check_namespace(self, rt: ResourceType, ns: str, name: str) -> None:
        nsobj = self.store.get(NAMESPACE_KEY, "", ns)
        if nsobj is None:
            raise ApiError.not_found("namespaces", ns)
        if nsobj["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                f'{rt.resource_label} "{name}" is forbidden: unable to create new content in '
                f"namespace {ns} because it is being terminated",
                "Forbidden",
                {"name": name, "kind": rt.plural},
            )

    def get(self, rt: ResourceType, ns: str, name: str) -> dict[str, Any]:
        obj = self.store.get(rt.key, ns if rt.namespaced else "", name)
        if obj is None:
            raise not_found(rt, name)
        return obj

    # -- delete -----------------------------------------------------------------------------
    def delete(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        options: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Returns (object or Status, removed now)."""
        obj = self.get(rt, ns, name)
        self._preconditions(rt, obj, options, name)
        if dry_run:
            return obj, False
        if rt.key == NAMESPACE_KEY:
            return self._delete_namespace(rt, obj), False
        if obj["metadata"].get("finalizers"):
            if obj["metadata"].get("deletionTimestamp"):
                return obj, False
            new = clone(obj)
            new["metadata"]["deletionTimestamp"] = now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            self._stamp(new)
            self.store.put(rt.key, new, obj, "MODIFIED")
            return new, False
        new = dict(obj)
        new["metadata"] = dict(obj["metadata"])
        self._stamp(new)
        self._remove(rt, new)
        return self._success(rt, new), True

    def _preconditions(
        self, rt: ResourceType, obj: dict[str, Any], options: dict[str, Any] | None, name: str
    ) -> None:
        pre = (options or {}).get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != obj["metadata"].get("uid"):
            raise ApiError(
                409,
                f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: "
                f"{obj['metadata'].get('uid')}",
                "Conflict",
                {"name": name, "kind": rt.plural},
            )
        if (
            pre.get("resourceVersion")
            and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]
        ):
            raise ApiError.conflict(rt.resource_label, name, rt.group)

    @staticmethod
    def _success(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        details: dict[str, Any] = {"name": obj["metadata"]["name"]}
        if rt.group:
            details["group"] = rt.group
        details["kind"] = rt.plural
        details["uid"] = obj["metadata"].get("uid")
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }

    def _remove(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """Drop an object for good (its final state already has its new RV)."""
        self.store.drop(rt.key, obj)
        if rt.key == CRD_KEY:
            self._drop_crd(obj)
        ns = obj["metadata"].get("namespace")
        if ns:
            self._maybe_finish_namespace(ns)

    def _delete_namespace(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        name = obj["metadata"]["name"]
        if not obj["metadata"].get("deletionTimestamp"):
            new = clone(obj)
            new["metadata"]["deletionTimestamp"] = now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["status"] = {"phase": "Terminating"}
            self._stamp(new)
            self.store.put(rt.key, new, obj, "MODIFIED")
            obj = new
        # stand-in for the namespace controller: delete the content at once
        for key in list(self.store.objects):
            if key == NAMESPACE_KEY:
                continue
            crt = self.store.registry.by_key(key)
            if crt is None or not crt.namespaced:
                continue
            for child in list(self.store.iter(key, name)):
                self.delete(crt, name, child["metadata"]["name"])
        self._maybe_finish_namespace(name)
        return obj

    def _maybe_finish_namespace(self, ns: str) -> None:
        nsobj = self.store.get(NAMESPACE_KEY, "", ns)
        if nsobj is None or not nsobj["metadata"].get("deletionTimestamp"):
            return
        if nsobj["metadata"].get("finalizers"):
            return
        for key, bucket in self.store.objects.items():
            if key != NAMESPACE_KEY and any(k[0] == ns for k in bucket):
                return
        final = dict(nsobj)
        final["metadata"] = dict(nsobj["metadata"])
        self._stamp(final)
        self.store.drop(NAMESPACE_KEY, final)

    def delete_collection(
        self,
        rt: ResourceType,
        ns: str | None,
        match: Matcher | None,
        dry_run: bool = False,
        options: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        for obj in list(self.store.iter(rt.key, ns)):
            if match is None or match(obj):
                self.delete(
                    rt,
                    obj["metadata"].get("namespace", ""),
                    obj["metadata"]["name"],
                    options,
                    dry_run,
                )
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}

    def _drop_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        key = (spec.get("group", ""), (spec.get("names") or {}).get("plural", ""))
        rt = self.store.registry.by_key(key)
        if rt is not None and not rt.builtin:
            for obj in list(self.store.iter(key, None)):
                final = dict(obj)
                final["metadata"] = dict(obj["metadata"])
                self._stamp(final)
                self.store.drop(key, final)
            self.store.cut_watches(key)
            self.store.registry.unregister(key)
            self.store.objects.pop(key, None)
