"""CRD version conversion, as kube-apiserver does it: objects are stored in the storage
version and served in the version asked for.

- ``conversion.strategy: None``: only ``apiVersion`` changes.
- ``Webhook``: a ``ConversionReview`` (apiextensions.k8s.io/v1) is POSTed to
  ``clientConfig.url`` (HTTPS, verified with ``caBundle``, else the system's CAs); a
  ``clientConfig.service`` cannot be dialled from the fleet, so it must be mapped to a URL
  (:meth:`Converter.map_service`, the fleet's ``webhook_services`` option / the
  ``/_fleet/webhooks`` hook); an unmapped one fails with a message that says so. A webhook
  that fails, answers a failure, or breaks the contract (count, uid, apiVersion) gives the
  real server's error: 500 ``Internal error occurred: conversion webhook for
  example.com/v1, Kind=Widget failed: ...``, never a wrong object.

Conversions are cached per (uid, resourceVersion, version), so a watch or a list converts each
stored revision once. The synchronous object rules (:mod:`services.fleet.objects`) read the
request's version through :meth:`Converter.view`; :mod:`services.fleet.versioned` prepares
the webhook's answers before them (``prefetch``) and converts their result for storage.
"""

from __future__ import annotations

import base64
import logging
import ssl
import uuid
from collections import OrderedDict
from typing import Any

import aiohttp

from services.fleet.customresources import crd_of
from services.fleet.errors import ApiError
from services.fleet.kinds import ResourceType
from services.fleet.store import ClusterStore, with_api_version

log = logging.getLogger(__name__)

CACHE_SIZE = 20_000
TIMEOUT = 30.0


def conversion_failed(rt: ResourceType, from_api_version: str, why: str) -> ApiError:
    gvk = f"{from_api_version}, Kind={rt.kind}"
    message = f"conversion webhook for {gvk} failed: {why}"
    return ApiError(
        500,
        f"Internal error occurred: {message}",
        "InternalError",
        {"causes": [{"message": message}]},
    )


class Converter:
    """One cluster's conversions: strategy per CRD, the webhook client, the cache."""

    def __init__(self, store: ClusterStore, services: dict[tuple[str, str], str]) -> None:
        self.store = store
        #: (namespace, name) of a clientConfig.service -> the URL that reaches it
        self.services = services
        self._cache: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()
        self.calls = 0  # webhook requests made (tests, stats)

    # -- what a type needs ------------------------------------------------------------------
    def webhook(self, rt: ResourceType) -> dict[str, Any] | None:
        """The CRD's ``conversion.webhook`` when its strategy is Webhook."""
        if rt.builtin:
            return None
        crd = crd_of(self.store, rt)
        conversion = ((crd or {}).get("spec") or {}).get("conversion") or {}
        if conversion.get("strategy") != "Webhook":
            return None
        webhook = conversion.get("webhook")
        return webhook if isinstance(webhook, dict) else {}

    # -- synchronous views ------------------------------------------------------------------
    def _key(self, obj: dict[str, Any], api_version: str) -> tuple[str, str, str]:
        meta = obj.get("metadata") or {}
        return (str(meta.get("uid", "")), str(meta.get("resourceVersion", "")), api_version)

    def _cached(self, obj: dict[str, Any], api_version: str) -> dict[str, Any] | None:
        found = self._cache.get(self._key(obj, api_version))
        if found is not None:
            self._cache.move_to_end(self._key(obj, api_version))
        return found

    def remember(self, stored: dict[str, Any], api_version: str, view: dict[str, Any]) -> None:
        self._cache[self._key(stored, api_version)] = view
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def view(self, rt: ResourceType, obj: dict[str, Any], api_version: str = "") -> dict[str, Any]:
        """``obj`` (stored) in ``api_version`` (default: the type's), synchronously: the
        webhook's answer must have been fetched (:meth:`convert`) before."""
        target = api_version or rt.api_version
        if obj.get("apiVersion") == target or self.webhook(rt) is None:
            return with_api_version(obj, target)
        found = self._cached(obj, target)
        if found is None:
            raise conversion_failed(
                rt, str(obj.get("apiVersion", "")), "the fleet did not prepare this conversion"
            )
        return found

    # -- conversion -------------------------------------------------------------------------
    async def convert(
        self,
        rt: ResourceType,
        objs: list[dict[str, Any]],
        api_version: str = "",
        stored: bool = True,
    ) -> list[dict[str, Any]]:
        """``objs`` in ``api_version`` (default: the type's), through the webhook if needed
        (one review for all); ``stored``: they are stored revisions (their answers are kept)."""
        target = api_version or rt.api_version
        webhook = self.webhook(rt)
        if webhook is None:
            return [with_api_version(o, target) for o in objs]
        todo = [
            o
            for o in objs
            if o.get("apiVersion") != target and (not stored or not self._cached(o, target))
        ]
        answers: dict[int, dict[str, Any]] = {}
        if todo:
            converted = await self._call(rt, webhook, todo, target)
            for src, out in zip(todo, converted, strict=True):
                answers[id(src)] = out
                if stored:
                    self.remember(src, target, out)
        result = []
        for o in objs:
            if o.get("apiVersion") == target:
                result.append(o)
            else:
                found = answers.get(id(o)) or self._cached(o, target)
                assert found is not None
                result.append(found)
        return result

    def _url(self, rt: ResourceType, config: dict[str, Any], source: str) -> str:
        if config.get("url"):
            return str(config["url"])
        service = config.get("service") or {}
        ns, name = str(service.get("namespace", "")), str(service.get("name", ""))
        base = self.services.get((ns, name))
        if base is None:
            raise conversion_failed(
                rt,
                source,
                f'service "{ns}/{name}" cannot be reached from the simulated fleet (no Pods '
                "run behind its Services): map it to a URL with the fleet's webhook_services "
                "option or POST /_fleet/webhooks",
            )
        path = str(service.get("path") or "")
        return base.rstrip("/") + path

    async def _call(
        self,
        rt: ResourceType,
        webhook: dict[str, Any],
        objs: list[dict[str, Any]],
        target: str,
    ) -> list[dict[str, Any]]:
        source = str(objs[0].get("apiVersion", ""))
        config = webhook.get("clientConfig") or {}
        url = self._url(rt, config, source)
        uid = str(uuid.uuid4())
        review = {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "ConversionReview",
            "request": {"uid": uid, "desiredAPIVersion": target, "objects": objs},
        }
        ctx = _ssl_context(config.get("caBundle"))
        self.calls += 1
        try:
            timeout = aiohttp.ClientTimeout(total=TIMEOUT)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(
                    url, json=review, ssl=ctx if url.startswith("https:") else True
                ) as resp,
            ):
                if resp.status != 200:
                    text = (await resp.text())[:200]
                    raise conversion_failed(
                        rt, source, f"conversion webhook returned HTTP {resp.status}: {text}"
                    )
                answer = await resp.json(content_type=None)
        except ApiError:
            raise
        except (aiohttp.ClientError, TimeoutError, ValueError, ssl.SSLError) as exc:
            log.warning(
                "conversion webhook %s for %s failed: %s",
                url,
                rt.resource_label,
                exc,
                extra={"obj": rt.resource_label},
            )
            raise conversion_failed(rt, source, f'Post "{url}": {exc}') from None
        return _check_answer(rt, source, answer, uid, objs, target)


def _check_answer(
    rt: ResourceType,
    source: str,
    answer: Any,
    uid: str,
    objs: list[dict[str, Any]],
    target: str,
) -> list[dict[str, Any]]:
    response = answer.get("response") if isinstance(answer, dict) else None
    if not isinstance(response, dict):
        raise conversion_failed(rt, source, "conversion review response is missing")
    if response.get("uid") != uid:
        raise conversion_failed(
            rt, source, f"expected response.uid={uid}, got {response.get('uid')}"
        )
    result = response.get("result") or {}
    if result.get("status") != "Success":
        raise conversion_failed(rt, source, str(result.get("message") or "conversion failed"))
    converted = response.get("convertedObjects")
    if not isinstance(converted, list) or len(converted) != len(objs):
        got = len(converted) if isinstance(converted, list) else 0
        raise conversion_failed(rt, source, f"expected {len(objs)} converted objects, got {got}")
    out = []
    for src, obj in zip(objs, converted, strict=True):
        if not isinstance(obj, dict) or obj.get("apiVersion") != target:
            version = obj.get("apiVersion") if isinstance(obj, dict) else None
            raise conversion_failed(
                rt, source, f"invalid converted object: expected apiVersion {target}, got {version}"
            )
        if obj.get("kind") != src.get("kind"):
            raise conversion_failed(
                rt, source, f"invalid converted object: expected kind {src.get('kind')}"
            )
        # a webhook may change labels and annotations only; the rest of metadata is kept
        meta = dict(src.get("metadata") or {})
        new_meta = obj.get("metadata") or {}
        for key in ("labels", "annotations"):
            if key in new_meta:
                meta[key] = new_meta[key]
            else:
                meta.pop(key, None)
        out.append({**obj, "metadata": meta})
    return out


def _ssl_context(ca_bundle: Any) -> ssl.SSLContext:
    if not ca_bundle:
        return ssl.create_default_context()
    pem = base64.b64decode(str(ca_bundle)).decode()
    return ssl.create_default_context(cadata=pem)
