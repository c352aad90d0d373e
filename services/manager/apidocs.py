"""How the REST API guards and describes itself: the bearer scheme and its 401 challenge,
the documented error answers, the OpenAPI document and its Swagger UI page, served with its
assets from the installed ``swagger-ui-bundle`` (no CDN: the page works offline).

With a token configured, the document declares the ``HTTPBearer`` scheme (Swagger UI's
"Authorize" button) and a 401 on every guarded operation; a 401 carries
``WWW-Authenticate: Bearer realm="ripple"`` (RFC 6750, with ``error="invalid_token"`` when a
wrong token was given). The document, the page and the assets are behind the token like the
rest. Without a token, nothing is guarded and the document declares no security.
"""

from __future__ import annotations

import secrets as pysecrets
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.params import Depends as DependsParam
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from swagger_ui_bundle import swagger_ui_path

#: the realm of the WWW-Authenticate challenge
REALM = "ripple"
#: Swagger UI's files (``swagger-ui-bundle``), served under :data:`ASSETS_PATH`
SWAGGER_UI = Path(swagger_ui_path)
ASSETS_PATH = "/docs/assets"
#: the /docs page may load from the API itself only (inline: Swagger UI's start and styles)
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)

Responses = dict[int | str, dict[str, Any]]


class ErrorOut(BaseModel):
    """The body of every answer but a success (and FastAPI's own 422)."""

    detail: str


def challenge(given: bool) -> str:
    """The ``WWW-Authenticate`` value of a 401 (RFC 6750, section 3)."""
    error = ', error="invalid_token"' if given else ""
    return f'Bearer realm="{REALM}"{error}'


def guard(token: str | None) -> list[DependsParam]:
    """The dependencies of a guarded operation: none without a token; else the bearer
    scheme (declared in the document) and its check (401 with the challenge)."""
    if not token:
        return []
    expected = token.encode()
    bearer = HTTPBearer(auto_error=False, description="The API token (--api-token).")

    async def auth(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    ) -> None:
        given = credentials.credentials if credentials is not None else ""
        # bytes: compare_digest refuses str with non-ASCII characters (a 500, not a 401)
        if not given or not pysecrets.compare_digest(given.encode(), expected):
            raise HTTPException(
                401,
                "a valid bearer token is required",
                headers={"WWW-Authenticate": challenge(bool(given))},
            )

    return [Depends(auth)]


UNAUTHORIZED: dict[str, Any] = {
    "model": ErrorOut,
    "description": "No valid bearer token (`Authorization: Bearer <token>`).",
    "headers": {
        "WWW-Authenticate": {
            "description": f'`Bearer realm="{REALM}"`, with `error="invalid_token"` '
            "when a wrong token was given.",
            "schema": {"type": "string"},
        }
    },
}


def unauthorized(guarded: list[DependsParam]) -> Responses:
    """The documented 401 of a guarded operation (none when nothing is guarded)."""
    return {401: UNAUTHORIZED} if guarded else {}


def not_found(what: str) -> Responses:
    """The documented 404 of an operation reading one named thing."""
    return {404: {"model": ErrorOut, "description": f"No such {what}."}}


def complete(doc: dict[str, Any]) -> dict[str, Any]:
    """What every operation can answer besides its own responses, added to the document in
    place where an operation does not say it (a router added later included): 401 where it
    is guarded, 400 where it takes a body (a body that is no JSON: FastAPI's answer)."""
    added = False
    for operations in doc.get("paths", {}).values():
        for op in operations.values():
            responses = op.setdefault("responses", {})
            extra: Responses = {}
            if op.get("security"):
                extra[401] = UNAUTHORIZED
            if "requestBody" in op:
                extra[400] = {"description": "The body cannot be parsed (not JSON, not UTF-8)."}
            for status, spec in extra.items():
                if str(status) not in responses:
                    response = {k: v for k, v in spec.items() if k != "model"}
                    ref = {"$ref": "#/components/schemas/ErrorOut"}
                    response["content"] = {"application/json": {"schema": ref}}
                    responses[str(status)] = response
                    added = True
    if added:
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("ErrorOut", ErrorOut.model_json_schema())
    return doc


def swagger_assets(folder: Path = SWAGGER_UI) -> dict[str, Path]:
    """The Swagger UI files /docs may load, by name (a fixed list: nothing else is served)."""
    return {
        p.name: p
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix in (".js", ".css", ".png", ".map")
    }


def add_docs(app: FastAPI, guarded: list[DependsParam]) -> None:
    """``/openapi.json``, ``/docs`` and ``/docs/assets/{name}`` (not in the document)."""
    assets = swagger_assets()
    relative = ASSETS_PATH.lstrip("/")  # from /docs: also right behind a path prefix
    generate = app.openapi

    def document() -> dict[str, Any]:
        """FastAPI's document (built once, when every route is there), :func:`complete`."""
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate())
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]  # FastAPI's documented way

    @app.get("/openapi.json", dependencies=guarded, include_in_schema=False)
    async def openapi() -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", dependencies=guarded, include_in_schema=False)
    async def docs() -> Response:
        """Swagger UI with the document inlined (the browser would fetch /openapi.json
        without the token) and its assets from this API; "Authorize" takes the token for
        "Try it out"."""
        page = get_swagger_ui_html(
            openapi_url="openapi.json",
            title=f"{app.title} - docs",
            swagger_js_url=f"{relative}/swagger-ui-bundle.js",
            swagger_css_url=f"{relative}/swagger-ui.css",
            swagger_favicon_url=f"{relative}/favicon-32x32.png",
            # no validator badge: Swagger UI would fetch it from validator.swagger.io
            swagger_ui_parameters={"spec": app.openapi(), "validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    @app.get(ASSETS_PATH + "/{name}", dependencies=guarded, include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        """A file of Swagger UI, for /docs."""
        path = assets.get(name)
        if path is None:
            raise HTTPException(404, f"no Swagger UI asset {name!r}")
        return FileResponse(path, headers={"Cache-Control": "private, max-age=3600"})
