"""The manager's read-only REST API (FastAPI).

Bearer-token auth when a token is configured (``RIPPLE_API_TOKEN`` / ``--api-token``): every
endpoint but ``/healthz`` requires it, the OpenAPI document (``/openapi.json``), its page
(``/docs``, the document inlined) and the page's Swagger UI assets (``/docs/assets/...``,
served from the installed ``swagger-ui-bundle``: the page loads nothing from elsewhere)
included. The document declares the scheme (``HTTPBearer``: Swagger UI's "Authorize"), and a
401 carries ``WWW-Authenticate: Bearer realm="ripple"`` (RFC 6750; ``error="invalid_token"``
when a wrong token was given). Every answer but a success is ``{"detail": ...}``
(:class:`~services.manager.apidocs.ErrorOut`, or FastAPI's validation error for 422), documented per endpoint. See
docs/rest.md.

Secrets' data never appears in responses: Secret manifests are redacted, and so is every
manifest rendered from a Secret policyRef, whatever kind it renders to
(:func:`secret_derived`); Helm charts are shown without their complete values (which may come
from a Secret ``valuesFrom``: only the destination's agent receives them).

Every endpoint is ``async def``: it runs on the event loop and reads the manager's latest
immutable :class:`~services.manager.snapshot.Snapshot` (never a dict the loop mutates).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel, Field

from services.manager.apidocs import add_docs, guard, not_found, unauthorized
from services.manager.apimodels import (
    ChartOut,
    ClusterOut,
    DefinitionErrorOut,
    Health,
    ObjectOut,
    OutcomeOut,
    ProfileOut,
    PublicationFailureOut,
    ReferenceOut,
    ReportOut,
)
from services.manager.explain_api import router as explain_router
from services.manager.matchsets import MatchSet
from services.manager.model import DeployedObject
from services.manager.shards_api import router as shards_router
from services.manager.snapshot import Snapshot
from shared.api.vocabulary import (
    HASH_ANNOTATION,
    OWNER_KIND_ANNOTATION,
    OWNER_NAME_ANNOTATION,
    REASON_LABEL,
    REFERENCE_KIND_KEY,
    REFERENCE_NAME_KEY,
    REFERENCE_NAMESPACE_KEY,
    SECRET,
)
from shared.contract.payloads import AgentStatus
from shared.contract.redact import REDACTED, redact
from shared.metrics import Histogram

#: the metadata the manager itself puts on a deployed object (shown as they are)
OWN_KEYS = frozenset(
    {
        HASH_ANNOTATION,
        OWNER_KIND_ANNOTATION,
        OWNER_NAME_ANNOTATION,
        REASON_LABEL,
        REFERENCE_KIND_KEY,
        REFERENCE_NAME_KEY,
        REFERENCE_NAMESPACE_KEY,
    }
)
IDENTITY = ("name", "namespace")


def secret_derived(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A manifest rendered from a Secret, as REST shows it: its identity (apiVersion, kind,
    name, namespace) and the manager's own labels and annotations; every other field, label
    and annotation keeps its key, its value replaced by :data:`REDACTED`."""
    out: dict[str, Any] = {
        k: v if k in ("apiVersion", "kind") else REDACTED
        for k, v in manifest.items()
        if k != "metadata"
    }
    meta = manifest.get("metadata")
    if isinstance(meta, Mapping):
        shown: dict[str, Any] = {}
        for key, value in meta.items():
            if key in IDENTITY:
                shown[key] = value
            elif key in ("labels", "annotations") and isinstance(value, Mapping):
                shown[key] = {k: v if k in OWN_KEYS else REDACTED for k, v in value.items()}
            else:
                shown[key] = REDACTED
        out["metadata"] = shown
    elif meta is not None:
        out["metadata"] = REDACTED
    return out


def shown_manifest(obj: DeployedObject) -> dict[str, Any]:
    """A deployed object's manifest as REST shows it (Secrets and Secret-derived redacted)."""
    if obj.reference.kind == SECRET.kind:
        return secret_derived(obj.manifest)
    return redact(obj.manifest)


class TriggerOut(BaseModel):
    name: str
    kind: str
    event_source_name: str = Field(serialization_alias="eventSourceName")
    one_for_event: bool = Field(serialization_alias="oneForEvent")
    matching_clusters: list[str] = Field(serialization_alias="matchingClusters")
    profiles: list[str]
    errors: list[str]
    withdrawal_held: dict[str, Any] | None = Field(
        None,
        serialization_alias="withdrawalHeld",
        description=(
            "The withdrawal the guard holds, when one is: instances held, of how many, "
            "since when, the token and the command that confirm it (docs/withdrawal-guard.md)"
        ),
    )


def _report(cluster: Any, es: str, ms: MatchSet, *, full: bool = False) -> ReportOut:
    """One matching set as REST shows it (built in one synchronous step on the loop)."""
    keys = sorted(ms.entries)
    return ReportOut(
        cluster=str(cluster),
        event_source_name=es,
        generation=ms.generation,
        complete=ms.complete,
        agent_instance=ms.agent_instance,
        count=len(keys),
        matching_resources=[ms.entries[k].ref for k in keys],
        errors=[e.model_dump(by_alias=True) for e in ms.errors],
        error_count=ms.error_count,
        resources=[r for k in keys if (r := ms.entries[k].resource) is not None] if full else None,
        cloud_events=list(ms.cloud_events) if full else None,
    )


class Source(Protocol):
    """What the API reads: the latest snapshot, and the metrics."""

    def snapshot(self) -> Snapshot: ...

    def metrics(self) -> Mapping[str, tuple[str, str, float]]: ...

    def kv_problems(self) -> list[tuple[str, str]]: ...

    def histograms(self) -> Sequence[Histogram]: ...


def create_app(source: Source, token: str | None = None) -> FastAPI:
    """The API over ``source``; with ``token``, every endpoint but ``/healthz`` requires it
    (and the document declares it); without, everything is open (and the document says so:
    no security scheme, no 401)."""
    app = FastAPI(
        title="Ripple manager",
        version="v1",
        description="Read-only status of Ripple's event-driven add-on deployment. "
        + (
            "Every endpoint but /healthz requires `Authorization: Bearer <token>` "
            "(the manager's --api-token)."
            if token
            else "No token is configured: every endpoint is open."
        ),
        openapi_url=None,  # served below, behind the token
        docs_url=None,
        redoc_url=None,
    )
    guarded = guard(token)
    denied = unauthorized(guarded)
    snap: Callable[[], Snapshot] = source.snapshot
    add_docs(app, guarded)

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        """Liveness of the API, and whether the manager is ready (never needs the token)."""
        return Health(status="ok", ready=snap().ready)

    @app.get(
        "/v1/clusters", response_model=list[ClusterOut], dependencies=guarded, responses=denied
    )
    async def clusters() -> list[ClusterOut]:
        """The managed clusters (SveltosCluster, CAPI Cluster) and their labels."""
        return [
            ClusterOut(namespace=k.namespace, name=k.name, type=k.type, labels=c.labels)
            for k, c in sorted(snap().clusters.items())
        ]

    @app.get(
        "/v1/triggers", response_model=list[TriggerOut], dependencies=guarded, responses=denied
    )
    async def triggers() -> list[TriggerOut]:
        """Every trigger (EventTrigger, EventBasedAddOn) with its matching clusters, its
        generated profiles and its errors."""
        s = snap()
        return [_trigger(s, name) for name in sorted(s.triggers)]

    @app.get(
        "/v1/triggers/{name}",
        response_model=TriggerOut,
        dependencies=guarded,
        responses={**denied, **not_found("trigger")},
    )
    async def trigger(name: str) -> TriggerOut:
        """One trigger by name."""
        s = snap()
        if name not in s.triggers:
            raise HTTPException(404, f"trigger {name!r} not found")
        return _trigger(s, name)

    @app.get(
        "/v1/errors",
        response_model=list[DefinitionErrorOut],
        dependencies=guarded,
        responses=denied,
    )
    async def errors() -> list[DefinitionErrorOut]:
        """Definitions that do not load, kinds of the management cluster that cannot be read
        (unknown: nothing of theirs is withdrawn), every instance whose instantiation fails
        (``cluster: error``, under its trigger), outputs that cannot be published, poison
        the manager reads in its buckets (keys of no contract shape, unreadable values,
        values from the wrong writer: skipped, never fatal), then each agent's errors."""
        s = snap()
        out = [DefinitionErrorOut(object=k, message=v) for k, v in s.definition_errors]
        out += [DefinitionErrorOut(object=k, message=v) for k, v in s.informer_errors]
        out += [  # every failing instance of every trigger (``cluster: error``)
            DefinitionErrorOut(object=f"{view.kind}/{view.name}", message=line)
            for _, view in sorted(s.views.items())
            for line in view.instantiation
        ]
        out += [
            DefinitionErrorOut(object=f"{f.bucket}/{f.key}", message=f.message) for f in s.failures
        ]
        out += [DefinitionErrorOut(object=k, message=v) for k, v in source.kv_problems()]
        out += [  # what each cluster's agent reports (evaluation, apply, watch errors)
            DefinitionErrorOut(object=f"agent {name}", message=line)
            for name, agent in sorted(s.agents.items())
            for line in agent.errors
        ]
        return out

    @app.get(
        "/v1/publication",
        response_model=list[PublicationFailureOut],
        dependencies=guarded,
        responses=denied,
    )
    async def publication() -> list[PublicationFailureOut]:
        """Every KV key whose last put or delete failed: retried with backoff, or (terminal:
        oversized, unencodable) kept until its value changes."""
        return [
            PublicationFailureOut(
                bucket=f.bucket,
                key=f.key,
                definition=f.owner,
                message=f.message,
                attempts=f.attempts,
                since=f.since,
                terminal=f.terminal,
                retry_in=f.retry_in,
            )
            for f in snap().failures
        ]

    @app.get(
        "/v1/reports",
        response_model=list[ReportOut],
        response_model_exclude_none=True,
        dependencies=guarded,
        responses=denied,
    )
    async def reports() -> list[ReportOut]:
        """Every matching set the manager knows (from ``ripple-matches``): references,
        completeness, errors. The collected objects are on ``/v1/reports/{ns}/{cluster}/{es}``."""
        return [_report(c, es, ms) for (c, es), ms in sorted(snap().reports.items())]

    @app.get(
        "/v1/reports/{namespace}/{cluster}/{event_source}",
        response_model=ReportOut,
        response_model_exclude_none=True,
        dependencies=guarded,
        responses={**denied, **not_found("matching set")},
    )
    async def report(namespace: str, cluster: str, event_source: str) -> ReportOut:
        """One matching set with its collected objects and CloudEvents (also when it is too
        large for the EventReport object in the management cluster)."""
        for (c, es), ms in snap().reports.items():
            if c.namespace == namespace and c.name == cluster and es == event_source:
                return _report(c, es, ms, full=True)
        raise HTTPException(404, f"no matching set {event_source!r} in {namespace}/{cluster}")

    @app.get(
        "/v1/profiles", response_model=list[ProfileOut], dependencies=guarded, responses=denied
    )
    async def profiles() -> list[ProfileOut]:
        """Every generated ClusterProfile: its trigger, source cluster, destinations, objects
        (Secret-derived ones redacted), Helm charts and each destination's outcome."""
        s = snap()
        return [_profile(s, name) for name in sorted(s.profiles)]

    @app.get(
        "/v1/profiles/{name}",
        response_model=ProfileOut,
        dependencies=guarded,
        responses={**denied, **not_found("profile")},
    )
    async def profile(name: str) -> ProfileOut:
        """One generated profile by name."""
        s = snap()
        if name not in s.profiles:
            raise HTTPException(404, f"profile {name!r} not found")
        return _profile(s, name)

    @app.get("/v1/agents", response_model=list[AgentStatus], dependencies=guarded, responses=denied)
    async def agents() -> list[AgentStatus]:
        """Each cluster's agent as it last reported itself (state, watched kinds, errors)."""
        return [a for _, a in sorted(snap().agents.items())]

    @app.get(
        "/metrics",
        dependencies=guarded,
        response_class=Response,
        responses={
            **denied,
            200: {
                "description": "Prometheus text exposition format 0.0.4.",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
        },
    )
    async def metrics() -> Response:
        """Prometheus metrics (counters of work and errors, gauges of state)."""
        from shared.metrics import CONTENT_TYPE, exposition

        body = exposition("ripple_manager", source.metrics, source.histograms())
        return Response(body, media_type=CONTENT_TYPE)

    @app.get("/v1/stats", response_model=dict[str, int], dependencies=guarded, responses=denied)
    async def stats() -> dict[str, int]:
        """Counters of the manager's work (reconciles, renders, publications...)."""
        return dict(snap().stats)

    app.include_router(explain_router(snap, guarded))
    app.include_router(shards_router(snap, guarded))
    return app


def _trigger(s: Snapshot, name: str) -> TriggerOut:
    from services.manager.guard import parse_message  # the held withdrawal's status line

    view = s.triggers[name]
    errors = s.trigger_errors(name)
    held = next(filter(None, map(parse_message, errors)), None)
    if held is not None:  # the numbers of the withdrawal the guard holds, and how to confirm
        command = f"kubectl annotate {view.kind.lower()} {name} {held['annotation']}="
        held["confirm"] = f"{command}{held['token']} --overwrite"
    return TriggerOut(
        name=name,
        kind=view.kind,
        event_source_name=view.event_source_name,
        one_for_event=view.one_for_event,
        matching_clusters=[str(c) for c in s.trigger_clusters(name)],
        profiles=list(s.profiles_by_trigger.get(name, ())),
        errors=list(errors),
        withdrawal_held=held,
    )


def _profile(s: Snapshot, name: str) -> ProfileOut:
    plan = s.profiles[name]
    outcomes = {
        str(cluster): OutcomeOut(
            status=o.status, message=o.message, generation=o.generation, releases=o.releases
        )
        for cluster, o in s.outcomes.get(name, ())
    }
    return ProfileOut(
        name=plan.name,
        trigger=plan.trigger,
        source_cluster=str(plan.source),
        destinations=[str(d) for d in plan.destinations],
        labels=plan.labels,
        objects=[
            ObjectOut(
                hash=o.hash,
                manifest=shown_manifest(o),
                reference=ReferenceOut(**vars(o.reference)),
            )
            for o in plan.objects
        ],
        helm_charts=[ChartOut(chart=c.chart, hash=c.hash) for c in plan.charts],
        error=plan.error,
        outcomes=outcomes,
    )
