"""Legacy discovery documents and the minimal OpenAPI v3 kubectl needs for validation.

Documents are built from a cluster's :class:`~services.fleet.kinds.Registry` and cached per
registry epoch (CRD changes bump it), so discovery reflects a new CRD at once.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from services.fleet.kinds import Registry, ResourceType

VERSION = {
    "major": "1",
    "minor": "36",
    "emulationMajor": "1",
    "emulationMinor": "36",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "35",
    "gitVersion": "v1.36.2-ripple-fleet",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-11-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}

API_VERSIONS = {
    "kind": "APIVersions",
    "versions": ["v1"],
    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
}


class Discovery:
    """Discovery and OpenAPI documents of one cluster, cached per registry epoch."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._epoch = -1
        self._cache: dict[str, Any] = {}

    def _cached(
        self, key: str, build: Callable[[], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        if self._epoch != self.registry.epoch:
            self._cache.clear()
            self._epoch = self.registry.epoch
        if key not in self._cache:
            self._cache[key] = build()
        doc: dict[str, Any] | None = self._cache[key]
        return doc

    # -- discovery --------------------------------------------------------------------------
    def group_list(self) -> dict[str, Any]:
        doc = self._cached("groups", self._build_group_list)
        assert doc is not None
        return doc

    def _group_doc(self, group: str, versions: list[str]) -> dict[str, Any]:
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}

    def _build_group_list(self) -> dict[str, Any]:
        groups = [self._group_doc(g, vs) for g, vs in self.registry.groups().items() if vs]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def group(self, group: str) -> dict[str, Any] | None:
        versions = self.registry.groups().get(group)
        if not versions:
            return None
        return {"kind": "APIGroup", "apiVersion": "v1", **self._group_doc(group, versions)}

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        return self._cached(f"rl:{group}/{version}", lambda: self._build_rl(group, version))

    def _types(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self.registry.all_types() if t.group == group and t.version == version]

    def _build_rl(self, group: str, version: str) -> dict[str, Any] | None:
        types = self._types(group, version)
        if not types:
            return None
        resources: list[dict[str, Any]] = []
        for t in types:
            entry: dict[str, Any] = {
                "name": t.plural,
                "singularName": t.singular,
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": list(t.verbs),
            }
            if t.short_names:
                entry["shortNames"] = list(t.short_names)
            if t.categories:
                entry["categories"] = list(t.categories)
            resources.append(entry)
            if t.status:
                resources.append(
                    {
                        "name": f"{t.plural}/status",
                        "singularName": "",
                        "namespaced": t.namespaced,
                        "kind": t.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                )
            if t.plural == "namespaces" and not t.group:
                resources.append(
                    {
                        "name": "namespaces/finalize",
                        "singularName": "",
                        "namespaced": False,
                        "kind": "Namespace",
                        "verbs": ["update"],
                    }
                )
        gv = f"{group}/{version}" if group else version
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": gv,
            "resources": resources,
        }

    # -- OpenAPI v3 -------------------------------------------------------------------------
    def openapi_index(self) -> dict[str, Any]:
        doc = self._cached("oa", self._build_openapi_index)
        assert doc is not None
        return doc

    def _build_openapi_index(self) -> dict[str, Any]:
        paths = {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1"}}
        for group, versions in self.registry.groups().items():
            for v in versions:
                paths[f"apis/{group}/{v}"] = {"serverRelativeURL": f"/openapi/v3/apis/{group}/{v}"}
        return {"paths": paths}

    def openapi_doc(self, group: str, version: str) -> dict[str, Any] | None:
        return self._cached(f"oa:{group}/{version}", lambda: self._build_oa(group, version))

    def _build_oa(self, group: str, version: str) -> dict[str, Any] | None:
        types = [t for t in self._types(group, version) if not t.virtual]
        if not types:
            return None
        prefix = f"/apis/{group}/{version}" if group else "/api/v1"
        paths: dict[str, Any] = {}
        for t in types:
            base = (
                f"{prefix}/namespaces/{{namespace}}/{t.plural}"
                if t.namespaced
                else (f"{prefix}/{t.plural}")
            )
            gvk = {"group": t.group, "version": t.version, "kind": t.kind}
            param = [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}]
            ok = {"200": {"description": "OK"}}
            paths[base] = {
                "post": {
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": param,
                    "responses": {"201": {"description": "Created"}},
                },
            }
            paths[f"{base}/{{name}}"] = {
                "patch": {
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": param,
                    "responses": ok,
                },
                "put": {
                    "x-kubernetes-group-version-kind": gvk,
                    "parameters": param,
                    "responses": ok,
                },
            }
        schemas = {}
        for t in types:
            found = self._crd_schema(t)
            if found is not None:
                schemas[schema_name(t)] = found
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": VERSION["gitVersion"]},
            "paths": paths,
            "components": {"schemas": schemas},
        }

    def _crd_schema(self, t: ResourceType) -> dict[str, Any] | None:
        """A CRD version's schema as the API server publishes it (``kubectl explain``)."""
        crd = self.registry.definitions.get(t.key)
        if crd is None:
            return None
        for v in (crd.get("spec") or {}).get("versions") or []:
            if isinstance(v, dict) and v.get("name") == t.version:
                found = (v.get("schema") or {}).get("openAPIV3Schema")
                break
        else:
            return None
        out: dict[str, Any] = copy.deepcopy(found) if isinstance(found, dict) else {}
        out.setdefault("type", "object")
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string", "description": API_VERSION_DOC})
        props.setdefault("kind", {"type": "string", "description": KIND_DOC})
        props["metadata"] = {"type": "object", "description": METADATA_DOC}
        out["x-kubernetes-group-version-kind"] = [
            {"group": t.group, "version": t.version, "kind": t.kind}
        ]
        return out


API_VERSION_DOC = (
    "APIVersion defines the versioned schema of this representation of an object. Servers "
    "should convert recognized schemas to the latest internal value, and may reject "
    "unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-"
    "architecture/api-conventions.md#resources"
)
KIND_DOC = (
    "Kind is a string value representing the REST resource this object represents. Servers "
    "may infer this from the endpoint the client submits requests to. Cannot be updated. In "
    "CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#types-kinds"
)
METADATA_DOC = (
    "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/"
    "sig-architecture/api-conventions.md#metadata"
)


def schema_name(t: ResourceType) -> str:
    """``io.projectsveltos.lib.v1beta1.EventTrigger``: the group reversed, version, kind."""
    return ".".join([*reversed(t.group.split(".")), t.version, t.kind])
