"""The resource types a simulated cluster serves: the built-in table and CRD registration.

A :class:`ResourceType` describes one (group, version, plural) as discovery reports it plus
the server-side behaviour switches (status subresource, generation, strategic merge). The
built-in table is data; CRDs add types per cluster through :class:`Registry`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

VERBS_ALL = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
VERBS_NS = ("create", "delete", "get", "list", "patch", "update", "watch")
VERBS_CREATE = ("create",)


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status: bool = False  # has a /status subresource (main writes ignore .status)
    generation: bool = False  # metadata.generation is maintained
    builtin: bool = True  # strategic merge patch accepted
    verbs: tuple[str, ...] = VERBS_ALL
    virtual: bool = False  # create-only review kinds: not persisted
    storage_version: str = ""  # CRDs: the version marked storage

    @property
    def key(self) -> tuple[str, str]:
        """Storage key: objects are stored version-agnostically per group and plural."""
        return (self.group, self.plural)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def stored_api_version(self) -> str:
        """The apiVersion objects of this type are stored in (CRDs: the storage version)."""
        if self.builtin or not self.storage_version:
            return self.api_version
        return f"{self.group}/{self.storage_version}"

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def resource_label(self) -> str:
        """How error messages name the resource: ``configmaps`` or ``addons.example.com``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _rt(
    gv: str,
    plural: str,
    kind: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    status: bool = False,
    generation: bool = False,
    verbs: tuple[str, ...] = VERBS_ALL,
    virtual: bool = False,
    categories: tuple[str, ...] = (),
) -> ResourceType:
    group, _, version = gv.rpartition("/")
    return ResourceType(
        group=group,
        version=version,
        plural=plural,
        singular=kind.lower(),
        kind=kind,
        namespaced=namespaced,
        short_names=short,
        categories=categories,
        status=status,
        generation=generation,
        verbs=verbs,
        virtual=virtual,
    )


ALL = ("all",)

#: the built-in kinds every simulated cluster serves
BUILTINS: tuple[ResourceType, ...] = (
    _rt("v1", "namespaces", "Namespace", False, ("ns",), status=True, verbs=VERBS_NS),
    _rt("v1", "configmaps", "ConfigMap", short=("cm",)),
    _rt("v1", "secrets", "Secret"),
    _rt("v1", "services", "Service", short=("svc",), status=True, categories=ALL),
    _rt("v1", "serviceaccounts", "ServiceAccount", short=("sa",)),
    _rt("v1", "resourcequotas", "ResourceQuota", short=("quota",), status=True),
    _rt("v1", "limitranges", "LimitRange", short=("limits",)),
    _rt("v1", "pods", "Pod", short=("po",), status=True, generation=True, categories=ALL),
    _rt("v1", "events", "Event", short=("ev",)),
    _rt("v1", "endpoints", "Endpoints", short=("ep",)),
    _rt("v1", "persistentvolumeclaims", "PersistentVolumeClaim", short=("pvc",), status=True),
    _rt("v1", "persistentvolumes", "PersistentVolume", False, ("pv",), status=True),
    _rt("v1", "nodes", "Node", False, ("no",), status=True),
    _rt(
        "apps/v1",
        "deployments",
        "Deployment",
        short=("deploy",),
        status=True,
        generation=True,
        categories=ALL,
    ),
    _rt(
        "apps/v1",
        "statefulsets",
        "StatefulSet",
        short=("sts",),
        status=True,
        generation=True,
        categories=ALL,
    ),
    _rt(
        "apps/v1",
        "daemonsets",
        "DaemonSet",
        short=("ds",),
        status=True,
        generation=True,
        categories=ALL,
    ),
    _rt(
        "apps/v1",
        "replicasets",
        "ReplicaSet",
        short=("rs",),
        status=True,
        generation=True,
        categories=ALL,
    ),
    _rt("batch/v1", "jobs", "Job", status=True, generation=True, categories=ALL),
    _rt(
        "batch/v1",
        "cronjobs",
        "CronJob",
        short=("cj",),
        status=True,
        generation=True,
        categories=ALL,
    ),
    _rt(
        "networking.k8s.io/v1",
        "networkpolicies",
        "NetworkPolicy",
        short=("netpol",),
        generation=True,
    ),
    _rt(
        "networking.k8s.io/v1", "ingresses", "Ingress", short=("ing",), status=True, generation=True
    ),
    _rt("networking.k8s.io/v1", "ingressclasses", "IngressClass", False, generation=True),
    _rt(
        "policy/v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        short=("pdb",),
        status=True,
        generation=True,
    ),
    _rt("coordination.k8s.io/v1", "leases", "Lease"),
    _rt("rbac.authorization.k8s.io/v1", "roles", "Role"),
    _rt("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding"),
    _rt("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", False),
    _rt("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _rt(
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        ("crd", "crds"),
        status=True,
        generation=True,
    ),
    _rt(
        "authorization.k8s.io/v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        False,
        verbs=VERBS_CREATE,
        virtual=True,
    ),
    _rt(
        "authorization.k8s.io/v1",
        "subjectaccessreviews",
        "SubjectAccessReview",
        False,
        verbs=VERBS_CREATE,
        virtual=True,
    ),
    _rt(
        "authorization.k8s.io/v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        False,
        verbs=VERBS_CREATE,
        virtual=True,
    ),
)

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACE_KEY = ("", "namespaces")
SECRET_KEY = ("", "secrets")

_BUILTIN_INDEX: dict[tuple[str, str, str], ResourceType] = {
    (rt.group, rt.version, rt.plural): rt for rt in BUILTINS
}
_BUILTIN_BY_KEY: dict[tuple[str, str], ResourceType] = {rt.key: rt for rt in BUILTINS}
_BUILTIN_BY_KIND: dict[tuple[str, str], ResourceType] = {
    (rt.group, rt.kind): rt for rt in BUILTINS if not rt.virtual
}
#: preferred group order in discovery (core first, then the table's order)
_BUILTIN_GROUPS: tuple[str, ...] = tuple(dict.fromkeys(rt.group for rt in BUILTINS if rt.group))


def crd_types(crd: dict[str, Any]) -> list[ResourceType]:
    """The resource types a CustomResourceDefinition serves (one per served version)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = spec.get("group", "")
    plural = names.get("plural", "")
    kind = names.get("kind", "")
    versions = spec.get("versions") or []
    storage = next((v.get("name", "") for v in versions if v.get("storage")), "")
    if not storage and versions:
        storage = versions[0].get("name", "")
    out = []
    for v in versions:
        if not v.get("served", True):
            continue
        subresources = v.get("subresources") or {}
        out.append(
            ResourceType(
                group=group,
                version=v.get("name", ""),
                plural=plural,
                singular=names.get("singular") or kind.lower(),
                kind=kind,
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                status="status" in subresources,
                generation=True,
                builtin=False,
                storage_version=storage,
            )
        )
    return out


@dataclass
class Registry:
    """The types one cluster serves: the built-ins plus what its CRDs register."""

    crds: dict[tuple[str, str], list[ResourceType]] = field(default_factory=dict)
    #: the CRD object behind each registered key (its schemas: OpenAPI, ``kubectl explain``)
    definitions: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    _index: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    #: bumped on every CRD change so discovery/OpenAPI caches can be invalidated
    epoch: int = 0

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        rt = _BUILTIN_INDEX.get((group, version, plural))
        if rt is not None:
            return rt
        return self._index.get((group, version, plural))

    def by_key(self, key: tuple[str, str]) -> ResourceType | None:
        """Any served type of a storage key (the storage version for CRDs)."""
        rt = _BUILTIN_BY_KEY.get(key)
        if rt is not None:
            return rt
        types = self.crds.get(key)
        if not types:
            return None
        return next((t for t in types if t.version == t.storage_version), types[0])

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        """The type of an ownerReference's (group, kind)."""
        rt = _BUILTIN_BY_KIND.get((group, kind))
        if rt is not None:
            return rt
        for key, types in self.crds.items():
            if key[0] == group and types and types[0].kind == kind:
                return self.by_key(key)
        return None

    def register_crd(self, crd: dict[str, Any]) -> tuple[str, str] | None:
        types = crd_types(crd)
        if not types:
            return None
        key = types[0].key
        if key in _BUILTIN_BY_KEY:
            return None
        self.unregister(key)
        self.crds[key] = types
        self.definitions[key] = crd
        for t in types:
            self._index[(t.group, t.version, t.plural)] = t
        self.epoch += 1
        return key

    def unregister(self, key: tuple[str, str]) -> None:
        self.definitions.pop(key, None)
        for t in self.crds.pop(key, []):
            self._index.pop((t.group, t.version, t.plural), None)
        self.epoch += 1

    def all_types(self) -> Iterator[ResourceType]:
        yield from BUILTINS
        for types in self.crds.values():
            yield from types

    def groups(self) -> dict[str, list[str]]:
        """group -> served versions (preferred first), built-in groups first."""
        out: dict[str, list[str]] = {g: [] for g in _BUILTIN_GROUPS}
        for rt in self.all_types():
            if not rt.group:
                continue
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        for g, versions in out.items():
            out[g] = sorted(versions, key=_version_priority)
        return out


def _version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes version ordering: GA > beta > alpha, higher numbers first."""
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (3, 0, 0)
    major = int(m.group(1))
    stage = {"alpha": 2, "beta": 1, None: 0}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor)
