"""The CRD conversion webhook: ``POST /convert`` answers a ``ConversionReview``.

The API server (or the simulated fleet) sends ``apiextensions.k8s.io/v1`` ConversionReviews
for the kinds whose CRD says ``conversion.strategy: Webhook`` (EventSource, EventTrigger,
ClusterProfile: :mod:`shared.api.crdgen`); each object is converted by
:func:`shared.api.conversion.convert`. The answer follows the API's contract: the request's
``uid`` echoed, ``convertedObjects`` in the order of ``objects``, ``result.status``
``Success``, or ``Failure`` with a ``message`` naming every object that could not be
converted and why (a review converts all its objects or none, as the API server needs).

:func:`review` is the pure decision; :func:`create_app` the FastAPI app (plus ``/healthz``
and ``/metrics``); :func:`serve` runs it with uvicorn over TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from shared.api.conversion import try_convert
from shared.metrics import CONTENT_TYPE, exposition

log = logging.getLogger(__name__)

REVIEW_API_VERSION = "apiextensions.k8s.io/v1"
REVIEW_KIND = "ConversionReview"
#: failing objects named in one Failure message (the others are counted)
MAX_NAMED = 5


class BadReview(ValueError):
    """The body is not a ConversionReview the webhook can answer (HTTP 400)."""


@dataclass
class Stats:
    """What the webhook did (``ripple_conversion_webhook_*`` on /metrics)."""

    reviews: Counter[str] = field(default_factory=Counter)  # success | failure | bad
    objects: Counter[str] = field(default_factory=Counter)  # converted | failed

    def snapshot(self) -> dict[str, tuple[str, str, float]]:
        out: dict[str, tuple[str, str, float]] = {}
        for result in ("success", "failure", "bad"):
            out[f"reviews_{result}_total"] = (
                "counter",
                f"ConversionReviews answered with {result} (bad: not a ConversionReview, 400)",
                float(self.reviews[result]),
            )
        for result in ("converted", "failed"):
            out[f"objects_{result}_total"] = (
                "counter",
                f"objects {result}",
                float(self.objects[result]),
            )
        return out


def _request(body: Any) -> tuple[str, str, list[Any]]:
    if not isinstance(body, dict):
        raise BadReview("the body must be a JSON object (a ConversionReview)")
    if body.get("kind") != REVIEW_KIND or body.get("apiVersion") != REVIEW_API_VERSION:
        raise BadReview(
            f"expected apiVersion {REVIEW_API_VERSION} kind {REVIEW_KIND}, got "
            f"{body.get('apiVersion')!r} {body.get('kind')!r}"
        )
    request = body.get("request")
    if not isinstance(request, dict):
        raise BadReview("request: missing (a ConversionReview must carry a request)")
    uid = request.get("uid")
    if not isinstance(uid, str) or not uid:
        raise BadReview("request.uid: missing")
    desired = request.get("desiredAPIVersion")
    objects = request.get("objects")
    if not isinstance(desired, str) or not desired:
        raise BadReview("request.desiredAPIVersion: missing")
    if not isinstance(objects, list):
        raise BadReview("request.objects: must be a list")
    return uid, desired, objects


def review(body: Any, stats: Stats | None = None) -> dict[str, Any]:
    """The ConversionReview answering ``body``; raises :class:`BadReview` when ``body`` is
    not one (no uid to echo)."""
    stats = stats if stats is not None else Stats()
    try:
        uid, desired, objects = _request(body)
    except BadReview:
        stats.reviews["bad"] += 1
        raise
    converted: list[dict[str, Any]] = []
    errors: list[str] = []
    for obj in objects:
        out, error = try_convert(obj, desired)
        if out is None:
            errors.append(error)
        else:
            converted.append(out)
    response: dict[str, Any] = {"uid": uid}
    if errors:
        stats.reviews["failure"] += 1
        stats.objects["failed"] += len(errors)
        named = "; ".join(errors[:MAX_NAMED])
        more = f" (and {len(errors) - MAX_NAMED} more)" if len(errors) > MAX_NAMED else ""
        message = f"{len(errors)} of {len(objects)} object(s) not converted: {named}{more}"
        log.warning("conversion failed", extra={"obj": f"ConversionReview/{uid}"})
        response["convertedObjects"] = []
        response["result"] = {"status": "Failure", "message": message}
    else:
        stats.reviews["success"] += 1
        stats.objects["converted"] += len(converted)
        response["convertedObjects"] = converted
        response["result"] = {"status": "Success"}
    return {"apiVersion": REVIEW_API_VERSION, "kind": REVIEW_KIND, "response": response}


def create_app(stats: Stats | None = None) -> FastAPI:
    """The FastAPI app: ``POST /convert``, ``GET /healthz``, ``GET /metrics``."""
    counters = stats if stats is not None else Stats()
    app = FastAPI(
        title="Ripple conversion webhook",
        description="Converts the Sveltos kinds between v1alpha1 and v1beta1 for the API server.",
        docs_url=None,
        redoc_url=None,
    )

    @app.post("/convert")
    async def convert(request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError as exc:
            counters.reviews["bad"] += 1
            return JSONResponse({"error": f"the body is not JSON: {exc}"}, status_code=400)
        try:
            # small: a review holds the objects of one request (a list at most)
            answer = review(body, counters)
        except BadReview as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(answer)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics() -> Response:
        text = exposition("ripple_conversion_webhook", counters.snapshot)
        return Response(text, media_type=CONTENT_TYPE)

    return app


async def serve(
    host: str,
    port: int,
    tls_cert: str,
    tls_key: str,
    *,
    stats: Stats | None = None,
    started: Callable[[int], None] | None = None,
) -> None:
    """Serve the webhook over HTTPS until cancelled; ``started`` is called with the port
    bound (``port=0``: any free port)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            yield  # the caller owns the signals

    config = uvicorn.Config(
        create_app(stats),
        host=host,
        port=port,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        log_level="warning",
        lifespan="off",
    )
    server = Server(config)
    task = asyncio.ensure_future(server.serve())
    try:
        while not server.started and not task.done():
            await asyncio.sleep(0.01)  # uvicorn has no start event: poll its flag
        if started is not None and server.started:
            started(server.servers[0].sockets[0].getsockname()[1])
        await asyncio.shield(task)
    finally:
        if not task.done():  # cancelled: let uvicorn close its sockets and connections
            server.should_exit = True
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), 5.0)
