"""Discovery on positive knowledge only: which resource serves an apiVersion/kind.

A kind is "not served" (:class:`KindNotServed`) only when discovery answered completely and
positively lacks it: the group list (``/api`` for the core group, ``/apis`` for the others)
answered 200 and does not name the group or the version, or the group/version's resource
list (``/api/v1``, ``/apis/<group>/<version>``) answered 200 and does not list the kind.

Every other answer is :class:`DiscoveryFailed`: a 5xx or 403, a 404 for a group/version the
group list names (an aggregated API going away or not ready), a transport error or timeout,
an unreadable document. "Unknown" must never read as "not served": consumers treat a kind
that is not served as known and empty (BRIEF section 7).

Documents are fetched with raw GETs (the DynamicClient's discovery drops a group/version
whose document fails, which reads as "not served"). Only 200 answers are cached: a resolved
kind is served from the cache; a miss always refetches, so a kind whose discovery failed
(or whose CRD was just created) is found by the next successful discovery.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, Protocol

from shared.kube.errors import DiscoveryFailed, KindNotServed


class _Kind(Protocol):
    """What discovery needs of a kind (``shared.kube.client.GVK``)."""

    @property
    def api_version(self) -> str: ...

    @property
    def kind(self) -> str: ...


class Answer(NamedTuple):
    """One discovery GET: the HTTP status (0: no answer), the decoded JSON body of a 2xx
    (None when unreadable) and, for a failure, its reason and message."""

    status: int
    body: Any = None
    detail: str = ""


Fetch = Callable[[str], Answer]


@dataclass(frozen=True)
class ApiResource:
    """One resource of a group/version's discovery document."""

    group: str
    version: str
    kind: str
    name: str  # the plural, e.g. "deployments"
    namespaced: bool
    verbs: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, name: str | None = None, namespace: str | None = None) -> str:
        """The URL path of the collection (or of one object): namespaced only when the kind
        is and a namespace is given (all namespaces otherwise)."""
        out = _gv_path(self.group, self.version)
        if self.namespaced and namespace:
            out += f"/namespaces/{namespace}"
        out += f"/{self.name}"
        return f"{out}/{name}" if name else out


def _gv_path(group: str, version: str) -> str:
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def _split(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


class Discovery:
    """Discovery of one cluster through ``fetch`` (a raw GET returning an :class:`Answer`).

    Thread-safe: cached lookups take no lock; fetches are serialised."""

    def __init__(self, fetch: Fetch, cluster: str, host: str) -> None:
        self.fetch = fetch
        self.cluster = cluster
        self.host = host.rstrip("/")
        self._lock = threading.RLock()
        # group ("" = core) -> versions, from the last 200 group list
        self._versions: dict[str, tuple[str, ...]] = {}
        # groupVersion -> kind -> resource, from the last 200 resource list
        self._kinds: dict[str, dict[str, ApiResource]] = {}

    # -- public ------------------------------------------------------------------------------
    def resolve(self, gvk: _Kind) -> ApiResource:
        """The resource serving ``gvk``; :class:`KindNotServed` on positive knowledge only,
        :class:`DiscoveryFailed` when discovery gave no complete answer."""
        found = self._kinds.get(gvk.api_version, {}).get(gvk.kind)
        if found is not None:
            return found
        with self._lock:
            found = self._kinds.get(gvk.api_version, {}).get(gvk.kind)
            if found is not None:
                return found
            return self._resolve(gvk)

    def warm(self) -> None:
        """Fetch both group lists (``/api``, ``/apis``) now; :class:`DiscoveryFailed` if one
        does not answer completely."""
        with self._lock:
            self._core_versions(None)
            self._api_groups(None)

    def forget(self, api_version: str) -> None:
        """Drop what is cached of a group/version (e.g. after a 404 on a collection: its CRD
        went away); the next lookup rediscovers it."""
        with self._lock:
            self._kinds.pop(api_version, None)

    def cached(self, gvk: _Kind) -> ApiResource | None:
        return self._kinds.get(gvk.api_version, {}).get(gvk.kind)

    # -- resolution --------------------------------------------------------------------------
    def _resolve(self, gvk: _Kind) -> ApiResource:
        group, version = _split(gvk.api_version)
        gv_path = _gv_path(group, version)
        known = self._versions.get(group)
        if known is not None and version in known:
            # the group list named it before: fetch the resource list alone
            answer = self.fetch(gv_path)
            if answer.status == 200:
                return self._from_list(gvk, gv_path, answer)
            # any failure: decide with a fresh group list (the group may have gone)
        versions = self._group_versions(group, gvk)
        list_url = self._url(self._group_list_path(group))
        if versions is None:
            raise self._not_served(gvk, f"{list_url} does not list the group {group!r}")
        if version not in versions:
            listed = ", ".join(versions) or "none"
            raise self._not_served(
                gvk, f"{list_url} lists versions {listed} of {group or 'the core group'}"
            )
        answer = self.fetch(gv_path)
        if answer.status != 200:
            note = f" although {list_url} lists {gvk.api_version}" if answer.status == 404 else ""
            raise self._failed(gvk, gv_path, answer, note)
        return self._from_list(gvk, gv_path, answer)

    def _from_list(self, gvk: _Kind, gv_path: str, answer: Answer) -> ApiResource:
        group, version = _split(gvk.api_version)
        resources = answer.body.get("resources") if isinstance(answer.body, dict) else None
        if not isinstance(resources, list):
            bad = Answer(200, None, "not an APIResourceList")
            raise self._failed(gvk, gv_path, bad)
        kinds: dict[str, ApiResource] = {}
        subs: dict[str, set[str]] = {}
        for entry in resources:
            if not isinstance(entry, dict):
                continue
            name, kind = str(entry.get("name", "")), str(entry.get("kind", ""))
            if "/" in name:
                parent, _, sub = name.partition("/")
                subs.setdefault(parent, set()).add(sub)
            elif name and kind and kind not in kinds:
                kinds[kind] = ApiResource(
                    group=group,
                    version=version,
                    kind=kind,
                    name=name,
                    namespaced=bool(entry.get("namespaced")),
                    verbs=tuple(str(v) for v in entry.get("verbs") or ()),
                )
        for kind, res in kinds.items():
            if res.name in subs:
                kinds[kind] = replace(res, subresources=frozenset(subs[res.name]))
        self._kinds[gvk.api_version] = kinds
        found = kinds.get(gvk.kind)
        if found is None:
            raise self._not_served(gvk, f"{self._url(gv_path)} does not list the kind")
        return found

    def _group_list_path(self, group: str) -> str:
        return "/apis" if group else "/api"

    def _group_versions(self, group: str, gvk: _Kind | None) -> tuple[str, ...] | None:
        """A fresh group list: the versions of ``group`` (None: the group is not listed)."""
        if not group:
            return self._core_versions(gvk)
        return self._api_groups(gvk).get(group)

    def _core_versions(self, gvk: _Kind | None) -> tuple[str, ...]:
        answer = self.fetch("/api")
        if answer.status != 200:
            raise self._failed(gvk, "/api", answer)
        versions = answer.body.get("versions") if isinstance(answer.body, dict) else None
        if not isinstance(versions, list):
            raise self._failed(gvk, "/api", Answer(200, None, "not an APIVersions document"))
        self._versions[""] = tuple(str(v) for v in versions)
        return self._versions[""]

    def _api_groups(self, gvk: _Kind | None) -> dict[str, tuple[str, ...]]:
        answer = self.fetch("/apis")
        if answer.status != 200:
            raise self._failed(gvk, "/apis", answer)
        groups = answer.body.get("groups") if isinstance(answer.body, dict) else None
        if not isinstance(groups, list):
            raise self._failed(gvk, "/apis", Answer(200, None, "not an APIGroupList"))
        fresh: dict[str, tuple[str, ...]] = {}
        for entry in groups:
            if isinstance(entry, dict) and entry.get("name"):
                fresh[str(entry["name"])] = tuple(
                    str(v.get("version", ""))
                    for v in entry.get("versions") or ()
                    if isinstance(v, dict)
                )
        core = self._versions.get("")
        self._versions = fresh if core is None else {**fresh, "": core}
        for gv in list(self._kinds):  # forget resource lists of group/versions gone
            g, v = _split(gv)
            if g and v not in fresh.get(g, ()):
                del self._kinds[gv]
        return fresh

    # -- errors ------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return self.host + path

    def _not_served(self, gvk: _Kind, why: str) -> KindNotServed:
        return KindNotServed(
            f"{self.cluster}: {gvk.api_version}/{gvk.kind} is not served ({why})",
            status=404,
            reason="NotFound",
        )

    def _failed(
        self, gvk: _Kind | None, path: str, answer: Answer, note: str = ""
    ) -> DiscoveryFailed:
        url = self._url(path)
        what = f"discovery of {gvk.api_version}/{gvk.kind}" if gvk is not None else "discovery"
        if answer.status == 0:
            outcome = f"no answer ({answer.detail})"
        elif answer.status == 200:
            outcome = f"200 but {answer.detail or 'an unreadable document'}"
        else:
            outcome = f"answered {answer.status}" + (f" {answer.detail}" if answer.detail else "")
        return DiscoveryFailed(
            f"{self.cluster}: {what} failed (unknown, not 'not served'): GET {url}: "
            f"{outcome}{note}",
            status=answer.status,
            reason="DiscoveryFailed",
            url=url,
        )
