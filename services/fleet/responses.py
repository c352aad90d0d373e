"""What the API routes (:mod:`services.fleet.http`) and the test hooks
(:mod:`services.fleet.hooks`) share: the application key of the fleet state, JSON responses."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.fleet.errors import ApiError
from services.fleet.state import FleetState
from services.fleet.watch import dumps

STATE: web.AppKey[FleetState] = web.AppKey("fleet_state", FleetState)


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=dumps(body), status=status, content_type="application/json")


def error_response(err: ApiError) -> web.Response:
    return json_response(err.status(), err.code)
