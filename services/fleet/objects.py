"""Object semantics of the API server: create, update, patch, apply, delete.

Everything here is synchronous and runs on the event loop, so each operation is atomic.
Rules follow the real kube-apiserver (see the module tests): server-set metadata, generation
bumped only on changes outside metadata/status, no-op writes keep the RV and emit nothing,
status subresource, finalizers and deletionTimestamp, namespace termination, CRDs.
"""

from __future__ import annotations

import uuid
from typing import Any

from services.fleet import apply as ssa
from services.fleet.conversion import Converter
from services.fleet.crds import crd_status, validate_crd
from services.fleet.customresources import admit, check_applied
from services.fleet.defaults import apply_defaults
from services.fleet.errors import ApiError
from services.fleet.fieldpaths import now
from services.fleet.gc import GarbageCollector
from services.fleet.kinds import CRD_KEY, NAMESPACE_KEY, ResourceType
from services.fleet.lifecycle import not_found
from services.fleet.objectrules import (
    SERVER_META,
    comparable,
    fold_secret,
    metadata_of,
    qualified_kind,
    spec_part,
    validate_name,
)
from services.fleet.patching import clone, json_patch, merge_patch, strategic_merge

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
CR_PATCH_TYPES = f"{JSON_PATCH}, {MERGE}, {APPLY}"


class Objects(GarbageCollector):
    """The write and read rules of one cluster, on top of its :class:`ClusterStore`.

    Custom resources are written in the request's version: the stored object is read
    through :attr:`conversion` (its view in that version) and the result is stored in the
    storage version (``strategy: None``) or, with a conversion webhook, left in the
    request's version for :mod:`services.fleet.versioned` to convert and store.
    """

    conversion: Converter | None = None

    def _view(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        if rt.builtin or self.conversion is None:
            return obj
        return self.conversion.view(rt, obj)

    def _label(self, rt: ResourceType) -> str:
        """The apiVersion a written custom resource carries (see the class)."""
        if self.conversion is not None and self.conversion.webhook(rt) is not None:
            return rt.api_version
        return rt.stored_api_version

    def store_converted(
        self, rt: ResourceType, old: dict[str, Any] | None, new: dict[str, Any]
    ) -> dict[str, Any]:
        """Store ``new`` (converted to the storage version by the webhook) over ``old``."""
        self._stamp(new)
        if old is None:
            self.store.put(rt.key, new, None, "ADDED")
        elif new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self._remove(rt, new)
        else:
            self.store.put(rt.key, new, old, "MODIFIED")
        return new

    # -- create -----------------------------------------------------------------------------
    def create(
        self,
        rt: ResourceType,
        ns: str,
        body: object,
        manager: str,
        dry_run: bool = False,
        managed: bool = False,
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError.bad_request("the object provided is not a JSON object")
        obj = clone(body) if managed else body
        meta = metadata_of(obj)
        if rt.virtual:
            out = dict(obj)
            out["apiVersion"], out["kind"] = rt.api_version, rt.kind
            out["status"] = {"allowed": True}
            return out
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        name = meta.get("name") or ""
        if not name and meta.get("generateName"):
            name = meta["generateName"] + uuid.uuid4().hex[:5]
            meta["name"] = name
        if not name:
            raise ApiError.invalid(
                qualified_kind(rt),
                "",
                "metadata.name",
                "Required value: name or generateName is required",
                "FieldValueRequired",
            )
        validate_name(rt, name)
        if rt.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and ns and body_ns != ns:
                raise ApiError.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            ns = ns or body_ns or "default"
            meta["namespace"] = ns
            self._check_namespace(rt, ns, name)
        else:
            ns = ""
            meta.pop("namespace", None)
        if self.store.get(rt.key, ns, name) is not None:
            raise ApiError.already_exists(rt.resource_label, name, rt.group)
        for k in (*SERVER_META, "resourceVersion", "generation", "selfLink"):
            meta.pop(k, None)
        if not managed:
            meta.pop("managedFields", None)
        fold_secret(rt, obj)
        if rt.status:
            obj.pop("status", None)
        if not rt.builtin:
            obj = admit(self.store, rt, obj, None)
            meta = obj["metadata"]
            obj["apiVersion"] = self._label(rt)
        if rt.key == NAMESPACE_KEY:
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        if rt.key == CRD_KEY:
            validate_crd(obj)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if rt.generation:
            meta["generation"] = 1
        if not managed:
            ssa.record_update(obj, None, manager, rt.api_version, assoc=rt.builtin)
        apply_defaults(rt, obj, None, self.store)  # defaults belong to no manager
        if rt.key == CRD_KEY:
            obj["status"] = crd_status(obj)
        if dry_run:
            meta["resourceVersion"] = str(self.store.rv)
            return obj
        self._stamp(obj)
        self.store.put(rt.key, obj, None, "ADDED")
        if rt.key == CRD_KEY:
            self.store.registry.register_crd(obj)
        return obj

    # -- update -----------------------------------------------------------------------------
    def update(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        body: object,
        manager: str,
        subresource: str = "",
        dry_run: bool = False,
        patched: bool = False,
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError.bad_request("the object provided is not a JSON object")
        old = self._view(rt, self.get(rt, ns, name))
        new = body if patched else clone(body)
        meta = metadata_of(new)
        if meta.get("name") and meta["name"] != name:
            raise ApiError.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        if (
            rt.namespaced
            and meta.get("namespace")
            and meta["namespace"] != old["metadata"].get("namespace")
        ):
            raise ApiError.bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        rv = meta.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise ApiError.conflict(rt.resource_label, name, rt.group)
        if subresource == "status":
            status = new.get("status")
            new = clone(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        else:
            fold_secret(rt, new)
            if rt.status or rt.key == CRD_KEY:
                if "status" in old:
                    new["status"] = clone(old["status"])
                else:
                    new.pop("status", None)
        return self._commit(rt, old, new, manager, subresource, dry_run, record=True)

    def _commit(
        self,
        rt: ResourceType,
        old: dict[str, Any],
        new: dict[str, Any],
        manager: str,
        subresource: str,
        dry_run: bool,
        record: bool,
    ) -> dict[str, Any]:
        if not rt.builtin:
            new = admit(self.store, rt, new, old)
        meta = metadata_of(new)
        old_meta = old["metadata"]
        apply_defaults(rt, new, old, self.store)
        for k in ("name", "namespace", *SERVER_META):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        if not rt.namespaced:
            meta.pop("namespace", None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        stored = old.get("apiVersion", rt.api_version) if rt.builtin else self._label(rt)
        new["apiVersion"], new["kind"] = stored, rt.kind
        if rt.generation:
            gen = old_meta.get("generation", 1)
            if spec_part(rt, old) != spec_part(rt, new):
                gen += 1
            meta["generation"] = gen
        else:
            meta.pop("generation", None)
        if record:
            meta["managedFields"] = old_meta.get("managedFields") or []
            ssa.record_update(new, old, manager, rt.api_version, subresource, rt.builtin)
        if rt.key == CRD_KEY:
            validate_crd(new)
            new["status"] = crd_status(new, old.get("status"))
        if comparable(new) == comparable(old):
            return old  # a no-op write keeps the RV and emits nothing
        if dry_run:
            return new
        self._stamp(new)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._remove(rt, new)
            return new
        self.store.put(rt.key, new, old, "MODIFIED")
        if rt.key == CRD_KEY:
            self.store.registry.register_crd(new)
        return new

    # -- patch ------------------------------------------------------------------------------
    def patch(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        content_type: str,
        body: object,
        manager: str,
        subresource: str = "",
        dry_run: bool = False,
        force: bool = False,
        field_manager: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Returns (object, created)."""
        if content_type == APPLY:
            return self.apply(rt, ns, name, body, field_manager, force, subresource, dry_run)
        old = self._view(rt, self.get(rt, ns, name))
        if content_type == MERGE:
            if not isinstance(body, dict):
                raise ApiError.bad_request("the patch is not a JSON object")
            new = merge_patch(old, body)
        elif content_type == STRATEGIC:
            if not rt.builtin:
                raise ApiError.unsupported_media(CR_PATCH_TYPES)
            if not isinstance(body, dict):
                raise ApiError.bad_request("the patch is not a JSON object")
            new = strategic_merge(old, body)
        elif content_type == JSON_PATCH:
            new = json_patch(old, body)
            if not isinstance(new, dict):
                raise ApiError(422, "the patch result is not an object", "Invalid")
        else:
            raise ApiError.unsupported_media(
                CR_PATCH_TYPES if not rt.builtin else f"{CR_PATCH_TYPES}, {STRATEGIC}"
            )
        return self.update(rt, ns, name, new, manager, subresource, dry_run, patched=True), False

    def apply(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        body: object,
        field_manager: str | None,
        force: bool,
        subresource: str = "",
        dry_run: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        if not field_manager:
            raise ApiError(
                422,
                'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is '
                "required for apply patch",
                "Invalid",
                {
                    "group": "meta.k8s.io",
                    "kind": "PatchOptions",
                    "causes": [
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value: is required for apply patch",
                            "field": "fieldManager",
                        }
                    ],
                },
            )
        if not isinstance(body, dict):
            raise ApiError.bad_request("the applied configuration is not an object")
        meta = body.get("metadata") or {}
        if meta.get("name") and meta["name"] != name:
            raise ApiError.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        for k in ("apiVersion", "kind"):
            if not body.get(k):
                raise ApiError.bad_request(f"invalid object type: {k} is required for apply")
        if body.get("kind") != rt.kind:
            raise ApiError.bad_request(
                f"the kind of the object ({body.get('kind')}) does not match the resource "
                f"({rt.kind})"
            )
        applied = clone(body)
        applied.setdefault("metadata", {})["name"] = name
        if not rt.builtin:
            check_applied(self.store, rt, applied, ns, name)
        fold_secret(rt, applied, default_type=False)
        include_status = subresource == "status" or not (rt.status or rt.key == CRD_KEY)
        live = self.store.get(rt.key, ns if rt.namespaced else "", name)
        live = self._view(rt, live) if live is not None else None
        if live is None:
            if subresource:
                raise not_found(rt, name)
            obj = ssa.server_side_apply(
                None,
                applied,
                field_manager,
                force,
                rt.api_version,
                include_status,
                assoc=rt.builtin,
            )
            obj["metadata"]["name"] = name
            if rt.namespaced:
                obj["metadata"]["namespace"] = ns
            return self.create(rt, ns, obj, field_manager, dry_run, managed=True), True
        rv = meta.get("resourceVersion")
        if rv and rv != live["metadata"]["resourceVersion"]:
            raise ApiError.conflict(rt.resource_label, name, rt.group)
        new = ssa.server_side_apply(
            live,
            applied,
            field_manager,
            force,
            rt.api_version,
            include_status,
            subresource,
            assoc=rt.builtin,
        )
        new["metadata"].pop("resourceVersion", None)
        fold_secret(rt, new)
        return self._commit(rt, live, new, field_manager, subresource, dry_run, record=False), False
