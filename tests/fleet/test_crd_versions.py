"""CRD versions as a real API server serves them (issue 15 deliver 4): stored in the storage
version, served in the version asked for; ``strategy: None`` and ``Webhook`` (a real HTTPS
ConversionReview server with its own CA), failures as the real 500."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from kubernetes import watch

from services.fleet import tls
from tests.fleet.conftest import Cluster

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
V1 = "/apis/example.com/v1/namespaces/default/gadgets"
V2 = "/apis/example.com/v2/namespaces/default/gadgets"
MERGE = "application/merge-patch+json"


def _to(obj: dict[str, Any], target: str) -> dict[str, Any]:
    """v1 ``spec.size`` <-> v2 ``spec.dimensions.size``."""
    out = copy.deepcopy(obj)
    spec = out.get("spec") or {}
    if target == "example.com/v2" and "size" in spec:
        spec["dimensions"] = {"size": spec.pop("size")}
    if target == "example.com/v1" and "dimensions" in spec:
        spec["size"] = spec.pop("dimensions").get("size")
    out["apiVersion"] = target
    return out


class Webhook:
    """An HTTPS conversion webhook in its own thread and loop."""

    def __init__(self, directory: Path) -> None:
        self.cert, key = tls.ensure_certificate(directory)
        self.ca_bundle = base64.b64encode(self.cert.read_bytes()).decode()
        self.fail = ""
        self.reviews: list[dict[str, Any]] = []
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.port = 0

        async def convert(request: web.Request) -> web.Response:
            review = await request.json()
            self.reviews.append(review)
            req = review["request"]
            if self.fail:
                result = {"status": "Failure", "message": self.fail}
                return web.json_response(
                    {**review, "response": {"uid": req["uid"], "result": result}}
                )
            if req["objects"] and req["objects"][0].get("kind") != "Gadget":
                from services.manager.webhook import review as sveltos_review

                return web.json_response(sveltos_review(review))  # Ripple's own webhook
            objs = [_to(o, req["desiredAPIVersion"]) for o in req["objects"]]
            response = {"uid": req["uid"], "result": {"status": "Success"}}
            return web.json_response({**review, "response": {**response, "convertedObjects": objs}})

        async def start() -> None:
            app = web.Application()
            app.router.add_post("/convert", convert)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            site = web.TCPSite(
                self.runner, "127.0.0.1", 0, ssl_context=tls.server_context(self.cert, key)
            )
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()

        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(start(), self.loop)
        assert ready.wait(10)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/convert"

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def webhook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webhook]:
    hook = Webhook(tmp_path_factory.mktemp("webhook"))
    yield hook
    hook.stop()


def gadget_crd(conversion: dict[str, Any] | None) -> dict[str, Any]:
    def version(name: str, storage: bool, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": name,
            "served": True,
            "storage": storage,
            "schema": {
                "openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {"type": "object", "properties": spec}},
                }
            },
        }

    size = {"size": {"type": "integer"}}
    spec: dict[str, Any] = {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [
            version("v1", True, size),
            version("v2", False, {"dimensions": {"type": "object", "properties": size}}),
        ],
    }
    if conversion is not None:
        spec["conversion"] = conversion
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": spec,
    }


def by_webhook(url: str, ca_bundle: str) -> dict[str, Any]:
    return {
        "strategy": "Webhook",
        "webhook": {
            "conversionReviewVersions": ["v1"],
            "clientConfig": {"url": url, "caBundle": ca_bundle},
        },
    }


def gadget(version: str, spec: dict[str, Any], name: str = "g") -> dict[str, Any]:
    return {
        "apiVersion": f"example.com/{version}",
        "kind": "Gadget",
        "metadata": {"name": name},
        "spec": spec,
    }


def test_strategy_none_changes_only_the_api_version(cluster: Cluster) -> None:
    assert cluster.raw("POST", CRDS, gadget_crd(None))[0] == 201
    status, obj = cluster.raw("POST", V2, gadget("v2", {"dimensions": {"size": 1}}))
    assert status == 201 and obj["apiVersion"] == "example.com/v2"
    # strategy None: the same fields, another apiVersion
    status, obj = cluster.raw("GET", f"{V1}/g")
    assert obj["apiVersion"] == "example.com/v1" and obj["spec"] == {"dimensions": {"size": 1}}
    status, doc = cluster.raw("GET", V2)
    assert [i["apiVersion"] for i in doc["items"]] == ["example.com/v2"]


def test_webhook_converts_every_read_and_write(cluster: Cluster, webhook: Webhook) -> None:
    webhook.fail = ""
    crd = gadget_crd(by_webhook(webhook.url, webhook.ca_bundle))
    assert cluster.raw("POST", CRDS, crd)[0] == 201
    # create in v2 (not the storage version): stored converted, answered in v2
    status, obj = cluster.raw("POST", V2, gadget("v2", {"dimensions": {"size": 2}}))
    assert status == 201, obj
    assert obj["apiVersion"] == "example.com/v2" and obj["spec"] == {"dimensions": {"size": 2}}
    status, stored = cluster.raw("GET", f"{V1}/g")
    assert stored["apiVersion"] == "example.com/v1" and stored["spec"] == {"size": 2}
    # a stored revision is converted once: reading it again asks the webhook nothing
    calls = len(webhook.reviews)
    assert cluster.raw("GET", f"{V2}/g")[1]["spec"] == {"dimensions": {"size": 2}}
    assert cluster.raw("GET", f"{V2}/g")[1]["spec"] == {"dimensions": {"size": 2}}
    assert len(webhook.reviews) == calls
    # patch in v2
    status, obj = cluster.raw("PATCH", f"{V2}/g", {"spec": {"dimensions": {"size": 3}}}, MERGE)
    assert status == 200 and obj["spec"] == {"dimensions": {"size": 3}}
    assert cluster.raw("GET", f"{V1}/g")[1]["spec"] == {"size": 3}
    # server-side apply in v2, then list and watch in v2
    status, obj = cluster.raw(
        "PATCH",
        f"{V2}/h",
        gadget("v2", {"dimensions": {"size": 4}}, "h"),
        "application/apply-patch+yaml",
        [("fieldManager", "t")],
    )
    assert status == 201 and obj["spec"] == {"dimensions": {"size": 4}}
    status, doc = cluster.raw("GET", V2)
    assert [(i["apiVersion"], i["spec"]) for i in doc["items"]] == [
        ("example.com/v2", {"dimensions": {"size": 3}}),
        ("example.com/v2", {"dimensions": {"size": 4}}),
    ]
    events = [
        (e["type"], e["object"]["spec"])
        for e in watch.Watch().stream(
            cluster.custom.list_namespaced_custom_object,
            "example.com",
            "v2",
            "default",
            "gadgets",
            timeout_seconds=1,
        )
    ]
    assert events[:2] == [
        ("ADDED", {"dimensions": {"size": 3}}),
        ("ADDED", {"dimensions": {"size": 4}}),
    ]
    assert all(r["request"]["desiredAPIVersion"] for r in webhook.reviews)
    status, body = cluster.raw("DELETE", V2)
    assert status == 200 and body["status"] == "Success"
    assert cluster.raw("GET", V1)[1]["items"] == []


def test_a_failing_webhook_gives_the_real_error(cluster: Cluster, webhook: Webhook) -> None:
    webhook.fail = ""
    assert (
        cluster.raw("POST", CRDS, gadget_crd(by_webhook(webhook.url, webhook.ca_bundle)))[0] == 201
    )
    assert cluster.raw("POST", V1, gadget("v1", {"size": 1}))[0] == 201
    webhook.fail = "cannot convert size"
    status, body = cluster.raw("GET", f"{V2}/g")
    assert status == 500
    assert body["message"] == (
        "Internal error occurred: conversion webhook for example.com/v1, Kind=Gadget failed: "
        "cannot convert size"
    )
    assert cluster.raw("GET", f"{V1}/g")[0] == 200  # the storage version needs no webhook
    status, body = cluster.raw("PATCH", f"{V2}/g", {"spec": {"dimensions": {"size": 9}}}, MERGE)
    assert status == 500
    assert cluster.raw("GET", f"{V1}/g")[1]["spec"] == {"size": 1}  # nothing written
    webhook.fail = ""


def test_unreachable_and_service_webhooks(cluster: Cluster, webhook: Webhook) -> None:
    crd = gadget_crd(by_webhook("https://127.0.0.1:1/convert", webhook.ca_bundle))
    assert cluster.raw("POST", CRDS, crd)[0] == 201
    assert cluster.raw("POST", V1, gadget("v1", {"size": 1}))[0] == 201
    status, body = cluster.raw("GET", V2)
    assert status == 500
    assert body["message"].startswith(
        "Internal error occurred: conversion webhook for example.com/v1, Kind=Gadget failed: "
        'Post "https://127.0.0.1:1/convert": '
    )
    # a Service reference: unreachable until mapped to a URL
    service = {"namespace": "hooks", "name": "converter", "path": "/convert"}
    crd["spec"]["conversion"]["webhook"]["clientConfig"] = {
        "service": service,
        "caBundle": webhook.ca_bundle,
    }
    crd["metadata"]["resourceVersion"] = cluster.raw("GET", f"{CRDS}/gadgets.example.com")[1][
        "metadata"
    ]["resourceVersion"]
    assert cluster.raw("PUT", f"{CRDS}/gadgets.example.com", crd)[0] == 200
    status, body = cluster.raw("GET", f"{V2}/g")
    assert status == 500 and 'service "hooks/converter" cannot be reached' in body["message"]
    cluster.fleet.map_webhook_service("hooks", "converter", f"https://127.0.0.1:{webhook.port}")
    try:
        status, obj = cluster.raw("GET", f"{V2}/g")
        assert status == 200 and obj["spec"] == {"dimensions": {"size": 1}}
    finally:
        cluster.fleet.map_webhook_service("hooks", "converter", None)


def test_webhook_conversion_needs_its_client_config(cluster: Cluster) -> None:
    crd = gadget_crd({"strategy": "Webhook", "webhook": {"conversionReviewVersions": ["v1"]}})
    status, body = cluster.raw("POST", CRDS, crd)
    assert status == 422
    assert json.dumps(body["details"]["causes"][0]["field"]) == (
        '"spec.conversion.webhook.clientConfig"'
    )


def test_the_sveltos_crds_with_ripples_webhook(cluster: Cluster, webhook: Webhook) -> None:
    from shared.api.crds import Webhook as CrdWebhook
    from shared.api.crds import crd_for

    webhook.fail = ""
    how = CrdWebhook(url=webhook.url, ca_bundle=webhook.ca_bundle)
    for kind in ("EventSource", "EventTrigger"):
        assert cluster.raw("POST", CRDS, crd_for(kind, how))[0] == 201
    lib = "/apis/lib.projectsveltos.io"
    source = {
        "apiVersion": "lib.projectsveltos.io/v1alpha1",
        "kind": "EventSource",
        "metadata": {"name": "services"},
        "spec": {"collectResources": True, "group": "", "version": "v1", "kind": "Service"},
    }
    status, obj = cluster.raw("POST", f"{lib}/v1alpha1/eventsources", source)
    assert status == 201, obj
    assert (
        obj["apiVersion"] == "lib.projectsveltos.io/v1alpha1" and obj["spec"]["kind"] == "Service"
    )
    status, stored = cluster.raw("GET", f"{lib}/v1beta1/eventsources/services")
    assert stored["apiVersion"] == "lib.projectsveltos.io/v1beta1"
    assert stored["spec"]["resourceSelectors"][0]["kind"] == "Service"
    trigger = {
        "apiVersion": "lib.projectsveltos.io/v1beta1",
        "kind": "EventTrigger",
        "metadata": {"name": "t"},
        "spec": {
            "eventSourceName": "services",
            "oneForEvent": True,
            "sourceClusterSelector": {"matchLabels": {"env": "prod"}},
        },
    }
    status, obj = cluster.raw("POST", f"{lib}/v1beta1/eventtriggers", trigger)
    assert status == 201, obj
    proc = cluster.kubectl(
        "patch",
        "eventtrigger",
        "t",
        "--type",
        "merge",
        "-p",
        '{"spec":{"oneForEvent":false}}',
        check=False,
    )
    assert proc.returncode == 1
    assert 'spec.oneForEvent: Invalid value: "boolean": oneForEvent is immutable' in proc.stderr
    out = cluster.kubectl("explain", "eventtriggers.spec.oneForEvent").stdout
    assert "FIELD: oneForEvent <boolean>" in out
