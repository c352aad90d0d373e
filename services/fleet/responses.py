"""What the API routes (:mod:`services.fleet.http`) and the test hooks
(:mod:`services.fleet.hooks`) share: the application key of the fleet state, responses.

Content negotiation: an API response is protobuf (:mod:`services.fleet.protobuf`) when the
request's ``Accept`` prefers ``application/vnd.kubernetes.protobuf`` and the fleet has a
protobuf schema for the response's kind (Secret, ConfigMap, their lists, Status); JSON
otherwise. client-go reads whatever ``Content-Type`` comes back, so answering JSON to a
client that asked for protobuf first is safe (a real server would answer protobuf for every
built-in kind).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.fleet import protobuf
from services.fleet.errors import ApiError
from services.fleet.state import FleetState
from services.fleet.watch import dumps

STATE: web.AppKey[FleetState] = web.AppKey("fleet_state", FleetState)
JSON = "application/json"


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(body), status=status, content_type=JSON)


def prefers_protobuf(accept: str) -> bool:
    """Whether the first media type of ``accept`` the fleet can serve (highest ``q`` first,
    then header order) is protobuf. ``as=Table``-style conversions are never protobuf."""
    ranked: list[tuple[float, int, str, bool]] = []
    for i, item in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in item.split(";"))
        q = 1.0
        converted = False
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
            elif key.strip() == "as":
                converted = True
        if media and q > 0:
            ranked.append((-q, i, media.lower(), converted))
    for _, _, media, converted in sorted(ranked):
        if media == protobuf.MEDIA_TYPE and not converted:
            return True
        if media in (JSON, "application/yaml", "application/*", "*/*"):
            return False
    return False


def object_response(request: web.Request, body: dict[str, Any], status: int = 200) -> web.Response:
    """``body`` (an object, a list or a Status) in the media type the client prefers."""
    if prefers_protobuf(request.headers.get("Accept", "")):
        data = protobuf.encode_object(body, body.get("apiVersion", ""), body.get("kind", ""))
        if data is not None:
            return web.Response(body=data, status=status, content_type=protobuf.MEDIA_TYPE)
    return json_response(body, status)


def error_response(err: ApiError, accept: str = "") -> web.Response:
    """The error's Status, in protobuf when ``accept`` prefers it."""
    body = err.status()
    if prefers_protobuf(accept):
        data = protobuf.encode_object(body, "v1", "Status")
        if data is not None:
            return web.Response(body=data, status=err.code, content_type=protobuf.MEDIA_TYPE)
    return json_response(body, err.code)
