"""A small synchronous adapter over the official client for unstructured objects.

Everything is a plain ``dict``; kinds are resolved by :mod:`shared.kube.discovery` with raw
GETs of the discovery documents (cached once resolved, refetched on a miss so a just-created
CRD is found). A kind is :class:`KindNotServed` only on positive knowledge; a discovery that
fails is :class:`DiscoveryFailed` (unknown).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes.client.exceptions import ApiException

from shared.api import vocabulary as _vocabulary
from shared.kube.config import REFRESH_INTERVAL, api_client
from shared.kube.discovery import Answer, ApiResource, Discovery
from shared.kube.errors import (
    KindNotServed,
    KubeError,
    KubeNotFound,
    WatchExpired,
)

log = logging.getLogger(__name__)

FIELD_MANAGER = "ripple"
DISCOVERY_TIMEOUT = 15.0  # seconds per discovery document


# One vocabulary: the kube adapter's kinds and object identities are shared.api's.
GVK = _vocabulary.GVK
ObjectKey = _vocabulary.ObjectKey
object_key = _vocabulary.ObjectKey.of
NAMESPACE = GVK("v1", "Namespace")


def _reason_message(exc: ApiException) -> tuple[str, str]:
    reason, message = "", str(exc.reason or "")
    try:
        body = json.loads(exc.body or "{}")
        reason = str(body.get("reason", ""))
        message = str(body.get("message", message))
    except (ValueError, TypeError, AttributeError):
        pass
    return reason, message


def _detail(exc: ApiException) -> str:
    reason, message = _reason_message(exc)
    return f"{reason}: {message}" if reason else message


def _error(exc: ApiException, what: str) -> KubeError:
    reason, message = _reason_message(exc)
    cls = KubeNotFound if exc.status == 404 else KubeError
    return cls(f"{what}: {exc.status} {reason}: {message}", status=exc.status or 0, reason=reason)


class KubeClient:
    """One cluster, reached through a kubeconfig (or the in-cluster configuration).

    Thread-safe for concurrent requests (the underlying urllib3 pool is); discovery fetches
    are serialised.
    """

    def __init__(
        self,
        kubeconfig: str | None = None,
        *,
        context: str | None = None,
        impersonate: str | None = None,
        name: str = "",
        refresh_interval: float = REFRESH_INTERVAL,
    ) -> None:
        self.api = api_client(kubeconfig, context, refresh_interval)
        if impersonate:
            self.api.set_default_header("Impersonate-User", impersonate)
        self.name = name or (kubeconfig or "in-cluster")
        self.host = str(self.api.configuration.host)
        self.discovery = Discovery(self._discovery_get, self.name, self.host)

    # -- discovery ---------------------------------------------------------------------------
    def _discovery_get(self, path: str) -> Answer:
        """One raw GET of a discovery document (never raises: failures are answers)."""
        try:
            raw = self._request("GET", path, timeout=DISCOVERY_TIMEOUT).read()
        except ApiException as exc:
            return Answer(int(exc.status or 0), None, _detail(exc))
        except Exception as exc:  # urllib3 transport errors, timeouts
            return Answer(0, None, f"{type(exc).__name__}: {exc}")
        try:
            return Answer(200, json.loads(raw))
        except ValueError as exc:
            return Answer(200, None, f"unreadable JSON ({exc})")

    @property
    def dynamic(self) -> Discovery:
        """Discovery with both group lists fetched (warms the cache; raises
        :class:`DiscoveryFailed` when they do not answer). Kept under its old name: it was
        the DynamicClient."""
        self.discovery.warm()
        return self.discovery

    def resource(self, gvk: GVK) -> ApiResource:
        """The resource serving a kind. Resolved kinds are cached; a miss refetches discovery.

        Raises :class:`KindNotServed` only when discovery answered completely and lacks the
        kind, :class:`DiscoveryFailed` (a :class:`KubeError`) when it did not answer."""
        return self.discovery.resolve(gvk)

    def forget(self, gvk: GVK) -> None:
        """Drop a cached kind (e.g. after a 404 on its collection: its CRD went away)."""
        self.discovery.forget(gvk.api_version)

    def serves(self, gvk: GVK) -> bool:
        """Whether the kind is served; raises :class:`DiscoveryFailed` when unknown."""
        try:
            self.resource(gvk)
        except KindNotServed:
            return False
        return True

    def path(self, gvk: GVK, namespace: str | None = None, name: str | None = None) -> str:
        return self.resource(gvk).path(name=name, namespace=namespace)

    def namespaced(self, gvk: GVK) -> bool:
        return self.resource(gvk).namespaced

    # -- raw requests ------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: Any = 30.0,
    ) -> Any:
        """One HTTP request through the client's pool; returns the raw (streamable) response.
        Raises :class:`ApiException` for a non-2xx answer."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        _method, url, header_params, serialized, _ = self.api.param_serialize(
            method,
            path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        resp = self.api.call_api(
            method, url, header_params=header_params, body=serialized, _request_timeout=timeout
        )
        if not 200 <= resp.status < 300:
            raw = resp.read()
            raise ApiException(
                status=resp.status,
                reason=resp.reason,
                body=raw.decode("utf-8", "replace") if raw else None,
            )
        return resp

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        what: str = "",
        timeout: float | None = 30.0,
    ) -> Any:
        try:
            resp = self._request(
                method, path, query=query, body=body, content_type=content_type, timeout=timeout
            )
            raw = resp.read()
        except ApiException as exc:
            raise _error(exc, what or f"{method} {path}") from exc
        except Exception as exc:
            raise KubeError(f"{what or method + ' ' + path}: {exc}") from exc
        return json.loads(raw) if raw else None

    # -- CRUD --------------------------------------------------------------------------------
    def get(self, gvk: GVK, namespace: str | None, name: str) -> dict[str, Any] | None:
        try:
            obj = self._call("GET", self.path(gvk, namespace, name), what=f"get {gvk.kind} {name}")
        except KubeNotFound:
            return None
        return dict(obj)

    def list(
        self,
        gvk: GVK,
        namespace: str | None = None,
        *,
        label_selector: str = "",
        field_selector: str = "",
    ) -> tuple[list[dict[str, Any]], str]:
        """All objects of a kind (all namespaces unless given) and the list's resourceVersion."""
        query = [("limit", "500")]
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        path = self.path(gvk, namespace or None)
        items: list[dict[str, Any]] = []
        cont = ""
        while True:
            q = [*query, ("continue", cont)] if cont else query
            body = self._call("GET", path, query=q, what=f"list {gvk}")
            for item in body.get("items") or []:
                item.setdefault("apiVersion", gvk.api_version)
                item.setdefault("kind", gvk.kind)
                items.append(item)
            meta = body.get("metadata") or {}
            cont = meta.get("continue") or ""
            if not cont:
                return items, str(meta.get("resourceVersion", ""))

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        gvk, key = GVK.of(obj), object_key(obj)
        path = self.path(gvk, key.namespace or "default")
        return dict(self._call("POST", path, body=obj, what=f"create {key}"))

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        gvk, key = GVK.of(obj), object_key(obj)
        path = self.path(gvk, key.namespace or "default", key.name)
        return dict(self._call("PUT", path, body=obj, what=f"replace {key}"))

    def merge_patch(
        self, gvk: GVK, namespace: str | None, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        return dict(
            self._call(
                "PATCH",
                self.path(gvk, namespace, name),
                body=patch,
                content_type="application/merge-patch+json",
                what=f"patch {gvk.kind} {name}",
            )
        )

    def patch_status(
        self, gvk: GVK, namespace: str | None, name: str, status: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch the status subresource."""
        return dict(
            self._call(
                "PATCH",
                self.path(gvk, namespace, name) + "/status",
                body={"status": status},
                content_type="application/merge-patch+json",
                what=f"patch {gvk.kind} {name} status",
            )
        )

    def apply(
        self,
        obj: dict[str, Any],
        *,
        field_manager: str = FIELD_MANAGER,
        force: bool = True,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Server-side apply (creates the object when absent). ``dry_run``: ``dryRun=All``,
        the server answers the object as the apply would leave it and stores nothing."""
        gvk, key = GVK.of(obj), object_key(obj)
        namespace = key.namespace or ("default" if self.namespaced(gvk) else None)
        if namespace and self.namespaced(gvk):
            obj = {**obj, "metadata": {**obj.get("metadata", {}), "namespace": namespace}}
        query = [("fieldManager", field_manager)]
        if force:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        # JSON is YAML: serialised here, the official client sends the bytes as they are
        # (given a dict it first walks every value of it in Python: large EventReports)
        return dict(
            self._call(
                "PATCH",
                self.path(gvk, namespace, key.name),
                query=query,
                body=json.dumps(obj, separators=(",", ":")).encode(),
                content_type="application/apply-patch+yaml",
                what=f"apply {key}",
            )
        )

    def ensure_namespace(self, name: str) -> bool:
        """Create the namespace ``name`` when it does not exist (as Sveltos' deployer does
        before applying a namespaced object): True when it was created, False when it was
        there (or created meanwhile by someone else)."""
        if self.get(NAMESPACE, None, name) is not None:
            return False
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        try:
            self.create(body)
        except KubeError as exc:
            if exc.status == 409:  # AlreadyExists: created meanwhile
                return False
            raise
        return True

    def delete(self, gvk: GVK, namespace: str | None, name: str) -> bool:
        """Delete one object; False when it was already gone."""
        try:
            self._call(
                "DELETE",
                self.path(gvk, namespace, name),
                body={"propagationPolicy": "Background"},
                what=f"delete {gvk.kind} {name}",
            )
        except KubeNotFound:
            return False
        return True

    # -- watch -------------------------------------------------------------------------------
    def watch(
        self,
        gvk: GVK,
        resource_version: str,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        timeout_seconds: int = 300,
        on_stream: Callable[[Any], None] | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Raw watch events ``(type, object)`` from ``resource_version`` until the server
        closes the stream. Raises :class:`WatchExpired` on 410 Gone. ``on_stream`` receives
        the open response (urllib3's): its ``shutdown()`` from another thread ends a read
        that would otherwise wait for the next event."""
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        if label_selector:
            query.append(("labelSelector", label_selector))
        path = self.path(gvk, namespace or None)
        try:
            resp = self._request("GET", path, query=query, timeout=(10, timeout_seconds + 30))
        except ApiException as exc:
            if exc.status == 410:
                raise WatchExpired(str(exc), status=410, reason="Expired") from exc
            raise _error(exc, f"watch {gvk}") from exc
        except Exception as exc:
            raise KubeError(f"watch {gvk}: {exc}") from exc
        http = resp.response
        if on_stream is not None:
            on_stream(http)
        try:
            buffer = b""
            for chunk in http.stream(65536, decode_content=False):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    etype, obj = str(event.get("type")), event.get("object") or {}
                    if etype == "ERROR":
                        if obj.get("code") == 410:
                            raise WatchExpired(str(obj.get("message")), 410, "Expired")
                        raise KubeError(f"watch {gvk}: {obj.get('message')}", obj.get("code", 0))
                    yield etype, obj
        except (KubeError, GeneratorExit):
            raise
        except Exception as exc:
            raise KubeError(f"watch {gvk} interrupted: {exc}") from exc
        finally:
            http.release_conn()

    def close(self) -> None:
        self.api.close()
