"""The manager's read-only REST API (FastAPI).

Bearer-token auth when a token is configured (``RIPPLE_API_TOKEN`` / ``--api-token``).
Secrets' data never appears in responses: Secret manifests are redacted.
"""

from __future__ import annotations

import secrets as pysecrets
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, Field

from shared.contract.redact import redact

if TYPE_CHECKING:
    from services.manager.service import Manager


class Health(BaseModel):
    status: str
    ready: bool


class ClusterOut(BaseModel):
    namespace: str
    name: str
    type: str
    labels: dict[str, str]


class TriggerOut(BaseModel):
    name: str
    kind: str
    event_source_name: str = Field(serialization_alias="eventSourceName")
    one_for_event: bool = Field(serialization_alias="oneForEvent")
    matching_clusters: list[str] = Field(serialization_alias="matchingClusters")
    profiles: list[str]
    errors: list[str]


class ReportOut(BaseModel):
    cluster: str
    event_source_name: str = Field(serialization_alias="eventSourceName")
    generation: int
    matching_resources: list[dict[str, str]] = Field(serialization_alias="matchingResources")
    errors: list[dict[str, Any]]


class ProfileOut(BaseModel):
    name: str
    trigger: str
    source_cluster: str = Field(serialization_alias="sourceCluster")
    destinations: list[str]
    labels: dict[str, str]
    objects: list[dict[str, Any]]
    error: str
    outcomes: dict[str, dict[str, Any]]


class DefinitionErrorOut(BaseModel):
    object: str
    message: str


def create_app(manager: Manager, token: str | None = None) -> FastAPI:
    app = FastAPI(
        title="Ripple manager",
        version="v1",
        description="Read-only status of Ripple's event-driven add-on deployment.",
    )

    def auth(request: Request) -> None:
        if not token:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not pysecrets.compare_digest(given, token):
            raise HTTPException(401, "a valid bearer token is required")

    guarded = [Depends(auth)]

    @app.get("/healthz", response_model=Health)
    def healthz() -> Health:
        return Health(status="ok", ready=manager.ready)

    @app.get("/v1/clusters", response_model=list[ClusterOut], dependencies=guarded)
    def clusters() -> list[ClusterOut]:
        return [
            ClusterOut(namespace=k.namespace, name=k.name, type=k.type, labels=c.labels)
            for k, c in sorted(manager.state.clusters.items())
        ]

    @app.get("/v1/triggers", response_model=list[TriggerOut], dependencies=guarded)
    def triggers() -> list[TriggerOut]:
        return [_trigger(manager, name) for name in sorted(manager.state.triggers)]

    @app.get("/v1/triggers/{name}", response_model=TriggerOut, dependencies=guarded)
    def trigger(name: str) -> TriggerOut:
        if name not in manager.state.triggers:
            raise HTTPException(404, f"trigger {name!r} not found")
        return _trigger(manager, name)

    @app.get("/v1/errors", response_model=list[DefinitionErrorOut], dependencies=guarded)
    def errors() -> list[DefinitionErrorOut]:
        return [
            DefinitionErrorOut(object=k, message=v)
            for k, v in sorted(manager.definition_errors.items())
        ]

    @app.get("/v1/reports", response_model=list[ReportOut], dependencies=guarded)
    def reports() -> list[ReportOut]:
        out = []
        for (cluster, es), snap in sorted(manager.reports_meta.items()):
            out.append(
                ReportOut(
                    cluster=str(cluster),
                    event_source_name=es,
                    generation=snap.generation,
                    matching_resources=[
                        r.model_dump(by_alias=True) for r in snap.matching_resources
                    ],
                    errors=[e.model_dump(by_alias=True) for e in snap.errors],
                )
            )
        return out

    @app.get("/v1/profiles", response_model=list[ProfileOut], dependencies=guarded)
    def profiles() -> list[ProfileOut]:
        return [_profile(manager, name) for name in sorted(manager.state.profiles)]

    @app.get("/v1/profiles/{name}", response_model=ProfileOut, dependencies=guarded)
    def profile(name: str) -> ProfileOut:
        if name not in manager.state.profiles:
            raise HTTPException(404, f"profile {name!r} not found")
        return _profile(manager, name)

    @app.get("/v1/agents", dependencies=guarded)
    def agents() -> list[dict[str, Any]]:
        """Each cluster's agent as it last reported itself (state, watched kinds, errors)."""
        return [a.model_dump(mode="json", by_alias=True) for _, a in sorted(manager.agents.items())]

    @app.get("/metrics", dependencies=guarded, response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics (counters of work and errors, gauges of state)."""
        from shared.metrics import CONTENT_TYPE, exposition

        return Response(exposition("ripple_manager", manager.metrics), media_type=CONTENT_TYPE)

    @app.get("/v1/stats", dependencies=guarded)
    def stats() -> dict[str, int]:
        return dict(manager.stats)

    return app


def _trigger(manager: Manager, name: str) -> TriggerOut:
    view = manager.state.triggers[name]
    status = manager.state.status.get(name)
    return TriggerOut(
        name=name,
        kind=view.kind,
        event_source_name=view.event_source_name,
        one_for_event=view.one_for_event,
        matching_clusters=[str(c) for c in (status.matching_clusters if status else [])],
        profiles=sorted(p.name for p in manager.state.profiles.values() if p.trigger == name),
        errors=list(status.errors if status else []),
    )


def _profile(manager: Manager, name: str) -> ProfileOut:
    plan = manager.state.profiles[name]
    outcomes = {
        str(cluster): {"status": o.status, "message": o.message, "generation": o.generation}
        for (cluster, profile), o in manager.outcomes.items()
        if profile == name
    }
    return ProfileOut(
        name=plan.name,
        trigger=plan.trigger,
        source_cluster=str(plan.source),
        destinations=[str(d) for d in plan.destinations],
        labels=plan.labels,
        objects=[
            {"hash": o.hash, "manifest": redact(o.manifest), "reference": vars(o.reference)}
            for o in plan.objects
        ],
        error=plan.error,
        outcomes=outcomes,
    )
