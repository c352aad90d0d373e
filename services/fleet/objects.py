"""Object semantics of the API server: create, update, patch, apply, delete.

Everything here is synchronous and runs on the event loop, so each operation is atomic.
Rules follow the real kube-apiserver (see the module tests): server-set metadata, generation
bumped only on changes outside metadata/status, no-op writes keep the RV and emit nothing,
status subresource, finalizers and deletionTimestamp, namespace termination, CRDs.
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

from services.fleet import apply as ssa
from services.fleet.errors import ApiError
from services.fleet.kinds import CRD_KEY, NAMESPACE_KEY, SECRET_KEY, ResourceType
from services.fleet.patching import clone, json_patch, merge_patch, strategic_merge
from services.fleet.store import ClusterStore

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SERVER_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
CR_PATCH_TYPES = f"{JSON_PATCH}, {MERGE}, {APPLY}"


def qualified_kind(rt: ResourceType) -> str:
    return f"{rt.kind}.{rt.group}" if rt.group else rt.kind


def _not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError.not_found(rt.resource_label, name, rt.group)


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = {}
        obj["metadata"] = meta
    return meta


def _validate_name(rt: ResourceType, name: str) -> None:
    pattern = _LABEL if rt.key == NAMESPACE_KEY else _SUBDOMAIN
    if len(name) > 253 or not pattern.match(name):
        what = "RFC 1123 label" if rt.key == NAMESPACE_KEY else "RFC 1123 subdomain"
        raise ApiError.invalid(
            qualified_kind(rt),
            name,
            "metadata.name",
            f'Invalid value: "{name}": a lowercase {what} must consist of lower case '
            "alphanumeric characters, '-' or '.', and must start and end with an "
            "alphanumeric character",
        )


def _fold_secret(rt: ResourceType, obj: dict[str, Any], default_type: bool = True) -> None:
    if rt.key != SECRET_KEY:
        return
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = {}
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()
        obj["data"] = data
    if default_type and "type" not in obj:
        obj["type"] = "Opaque"


def _spec_part(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    skip = ("metadata", "status") if rt.status else ("metadata",)
    return {k: v for k, v in obj.items() if k not in skip and k not in ("apiVersion", "kind")}


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {
        k: v
        for k, v in obj.get("metadata", {}).items()
        if k not in ("resourceVersion", "managedFields")
    }
    meta["managedFields"] = [
        {k: v for k, v in e.items() if k != "time"}
        for e in obj.get("metadata", {}).get("managedFields") or []
    ]
    out = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion")}
    out["metadata"] = meta
    return out


class Objects:
    """The write and read rules of one cluster, on top of its :class:`ClusterStore`."""

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
            raise _not_found(rt, name)
        return obj

    # -- create -----------------------------------------------------------------------------
    def create(
        self,
        rt: ResourceType,
        ns: str,
        body: Any,
        manager: str,
        dry_run: bool = False,
        managed: bool = False,
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError.bad_request("the object provided is not a JSON object")
        obj = clone(body) if managed else body
        meta = _meta(obj)
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
        _validate_name(rt, name)
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
        _fold_secret(rt, obj)
        if rt.status:
            obj.pop("status", None)
        if rt.key == NAMESPACE_KEY:
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        if rt.key == CRD_KEY:
            self._validate_crd(obj)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = ssa.now()
        if rt.generation:
            meta["generation"] = 1
        if not managed:
            ssa.record_update(obj, None, manager, rt.api_version, assoc=rt.builtin)
        if rt.key == CRD_KEY:
            obj["status"] = self._crd_status(obj)
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
        body: Any,
        manager: str,
        subresource: str = "",
        dry_run: bool = False,
        patched: bool = False,
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError.bad_request("the object provided is not a JSON object")
        old = self.get(rt, ns, name)
        new = body if patched else clone(body)
        meta = _meta(new)
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
            _fold_secret(rt, new)
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
        meta = _meta(new)
        old_meta = old["metadata"]
        for k in ("name", "namespace", *SERVER_META):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        if not rt.namespaced:
            meta.pop("namespace", None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        new["apiVersion"], new["kind"] = old.get("apiVersion", rt.api_version), rt.kind
        if rt.generation:
            gen = old_meta.get("generation", 1)
            if _spec_part(rt, old) != _spec_part(rt, new):
                gen += 1
            meta["generation"] = gen
        else:
            meta.pop("generation", None)
        if record:
            meta["managedFields"] = old_meta.get("managedFields") or []
            ssa.record_update(new, old, manager, rt.api_version, subresource, rt.builtin)
        if rt.key == CRD_KEY:
            self._validate_crd(new)
            new["status"] = self._crd_status(new, old.get("status"))
        if _comparable(new) == _comparable(old):
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
        body: Any,
        manager: str,
        subresource: str = "",
        dry_run: bool = False,
        force: bool = False,
        field_manager: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Returns (object, created)."""
        if content_type == APPLY:
            return self.apply(rt, ns, name, body, field_manager, force, subresource, dry_run)
        old = self.get(rt, ns, name)
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
        body: Any,
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
        _fold_secret(rt, applied, default_type=False)
        include_status = subresource == "status" or not (rt.status or rt.key == CRD_KEY)
        live = self.store.get(rt.key, ns if rt.namespaced else "", name)
        if live is None:
            if subresource:
                raise _not_found(rt, name)
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
        _fold_secret(rt, new)
        return self._commit(rt, live, new, field_manager, subresource, dry_run, record=False), False

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
        if dry_run:
            return obj, False
        if rt.key == NAMESPACE_KEY:
            return self._delete_namespace(rt, obj), False
        if obj["metadata"].get("finalizers"):
            if obj["metadata"].get("deletionTimestamp"):
                return obj, False
            new = clone(obj)
            new["metadata"]["deletionTimestamp"] = ssa.now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            self._stamp(new)
            self.store.put(rt.key, new, obj, "MODIFIED")
            return new, False
        new = dict(obj)
        new["metadata"] = dict(obj["metadata"])
        self._stamp(new)
        self._remove(rt, new)
        return self._success(rt, new), True

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
            new["metadata"]["deletionTimestamp"] = ssa.now()
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
        self, rt: ResourceType, ns: str | None, match: Any, dry_run: bool = False
    ) -> dict[str, Any]:
        for obj in list(self.store.iter(rt.key, ns)):
            if match is None or match(obj):
                self.delete(
                    rt,
                    obj["metadata"].get("namespace", ""),
                    obj["metadata"]["name"],
                    dry_run=dry_run,
                )
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}

    # -- CRDs -------------------------------------------------------------------------------
    def _validate_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        name = crd["metadata"].get("name", "")
        kind = "CustomResourceDefinition.apiextensions.k8s.io"
        for field, value in (
            ("spec.group", spec.get("group")),
            ("spec.names.plural", names.get("plural")),
            ("spec.names.kind", names.get("kind")),
            ("spec.versions", spec.get("versions")),
        ):
            if not value:
                raise ApiError.invalid(
                    kind,
                    name,
                    field,
                    "Required value",
                    "FieldValueRequired",
                    "apiextensions.k8s.io",
                )
        if name != f"{names['plural']}.{spec['group']}":
            raise ApiError.invalid(
                kind,
                name,
                "metadata.name",
                f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
                group="apiextensions.k8s.io",
            )
        if sum(1 for v in spec["versions"] if v.get("storage")) != 1:
            raise ApiError.invalid(
                kind,
                name,
                "spec.versions",
                "Invalid value: must have exactly one version marked as storage version",
                group="apiextensions.k8s.io",
            )

    @staticmethod
    def _crd_status(crd: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
        spec = crd.get("spec") or {}
        names = dict(spec.get("names") or {})
        names.setdefault("singular", str(names.get("kind", "")).lower())
        names.setdefault("listKind", f"{names.get('kind', '')}List")
        storage = next((v["name"] for v in spec.get("versions", []) if v.get("storage")), "")
        stored = list((old or {}).get("storedVersions") or [])
        if storage and storage not in stored:
            stored.append(storage)
        when = ((old or {}).get("conditions") or [{}])[0].get("lastTransitionTime") or ssa.now()
        return {
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "lastTransitionTime": when,
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                },
                {
                    "type": "Established",
                    "status": "True",
                    "lastTransitionTime": when,
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                },
            ],
            "acceptedNames": names,
            "storedVersions": stored,
        }

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
