"""``/v1/explain`` and ``/v1/explain/deployed``: explain on the running system (FastAPI router).

The request names a cluster and an object (its content, as read from the cluster, or only its
identity: then the agent's matching set decides) or a CloudEvent. What the answer needs is
copied from the manager's snapshot on the event loop in one synchronous step (the live
matching sets of that cluster included); the evaluation (Lua, CEL) and the planning run in a
worker thread on that immutable copy, never on the loop. The answer is the same model as
``ripple explain --offline`` (:mod:`services.manager.explanations`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, HTTPException, params
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from services.manager.apidocs import ErrorOut, Responses, not_found, unauthorized
from services.manager.explaining import explain
from services.manager.explainworld import SetView, Subject, World, resolve_cluster
from services.manager.explanations import Explanation, Provenance
from services.manager.model import ClusterKey
from services.manager.provenance import provenance
from services.manager.snapshot import Snapshot
from shared.api.vocabulary import ObjectKey

log = logging.getLogger(__name__)

#: the largest object or CloudEvent a request may carry (what the API server itself stores)
MAX_OBJECT_BYTES = 1 << 20


class _In(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ObjectRefIn(_In):
    api_version: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    namespace: str = ""
    name: str = Field(min_length=1)


class MetadataIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    namespace: str = ""


class ObjectIn(BaseModel):
    """A Kubernetes object (any other field is kept)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    api_version: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    metadata: MetadataIn


class CloudEventIn(BaseModel):
    """A CloudEvent (any other attribute is kept)."""

    model_config = ConfigDict(extra="allow")

    source: str = Field(min_length=1)


class _Request(_In):
    cluster: str = Field(min_length=1, description="[TYPE:]NAMESPACE/NAME of a registered cluster")
    trigger: str = Field("", description="only this trigger")
    all: bool = Field(False, description="every trigger, not only those watching its kind")

    def key(self) -> ObjectKey | None:
        return None

    def content(self) -> dict[str, Any] | None:
        return None


class ObjectRequest(_Request):
    """An object with its content (the manager evaluates it)."""

    object: ObjectIn

    def content(self) -> dict[str, Any]:
        return self.object.model_dump(by_alias=True)

    def key(self) -> ObjectKey:
        return ObjectKey.of(self.content())


class RefRequest(_Request):
    """An object named only (the agent's matching set decides)."""

    ref: ObjectRefIn

    def key(self) -> ObjectKey:
        r = self.ref
        return ObjectKey(r.api_version, r.kind, r.namespace, r.name)


class CloudEventRequest(_Request):
    """A CloudEvent received on NATS ``subject``."""

    cloud_event: CloudEventIn
    subject: str = Field("", description="the NATS subject the CloudEvent arrived on")


ExplainRequest = ObjectRequest | RefRequest | CloudEventRequest


def world_of(s: Snapshot, clusters: Sequence[ClusterKey]) -> World:
    """The explain world from a snapshot (call it on the loop: it reads the live matching
    sets of ``clusters`` in one synchronous step)."""
    sets = {}
    for (cluster, es), ms in s.reports.items():
        if cluster in clusters:
            errors = {e.object.key: e.message for e in ms.errors}
            sets[(cluster, es)] = SetView(ms.known, ms.report(), errors)
    return World(
        live=True,
        clusters=s.clusters,
        triggers=s.triggers,
        event_sources=s.event_sources,
        refs=s.refs,
        sets=sets,
        profiles=s.profiles,
        outcomes=s.outcomes,
        outcome_times=s.outcome_times,
        trigger_errors={name: s.trigger_errors(name) for name in s.triggers},
        definition_errors=dict(s.definition_errors),
    )


def _cluster(s: Snapshot, ref: str) -> ClusterKey:
    try:
        return resolve_cluster(list(s.clusters), ref)
    except ValueError as exc:
        raise HTTPException(404, str(exc)) from None


def _size_check(body: ExplainRequest) -> None:
    import json

    payload = body.content() if not isinstance(body, CloudEventRequest) else body.cloud_event
    if payload is not None and len(json.dumps(payload, default=str)) > MAX_OBJECT_BYTES:
        raise HTTPException(413, f"the object is over {MAX_OBJECT_BYTES} bytes")


def router(snapshot: Callable[[], Snapshot], dependencies: Sequence[params.Depends]) -> APIRouter:
    """The explain endpoints, reading ``snapshot()`` (guarded by ``dependencies``)."""
    api = APIRouter(dependencies=list(dependencies), tags=["explain"])
    documented: Responses = {
        **unauthorized(list(dependencies)),
        **not_found("registered cluster of that name"),
        400: {"model": ErrorOut, "description": "The body is not JSON."},
        413: {"model": ErrorOut, "description": "The object or CloudEvent is over 1 MiB."},
    }

    @api.post(
        "/v1/explain",
        response_model=Explanation,
        response_model_by_alias=True,
        responses=documented,
    )
    async def explain_object(body: ExplainRequest) -> Explanation:
        """Why does an object (or a CloudEvent) in a cluster fire, or not: for every trigger
        that could concern it, whether it selects the cluster, which filter, CEL rule or Lua
        script decided and its message, the profiles it yields, their destinations and apply
        outcomes. With ``ref`` only, the agent's matching set decides."""
        _size_check(body)
        s = snapshot()
        cluster = _cluster(s, body.cluster)
        world = world_of(s, [cluster])
        if isinstance(body, CloudEventRequest):
            event = body.cloud_event.model_dump()
            subject = Subject(cloud_event=event, nats_subject=body.subject)
        else:
            subject = Subject(key=body.key(), obj=body.content())
        answer = await asyncio.to_thread(explain, world, cluster, subject, body.trigger, body.all)
        log.info("explained: %s", answer.summary, extra={"obj": f"{cluster} {answer.subject}"})
        return answer

    @api.post(
        "/v1/explain/deployed",
        response_model=Provenance,
        response_model_by_alias=True,
        responses=documented,
    )
    async def explain_deployed(body: ObjectRequest | RefRequest) -> Provenance:
        """Why is a deployed object in a cluster: the profile that deploys it, its trigger,
        EventSource, source cluster and matching resource, and the apply outcome there."""
        _size_check(body)
        key = body.key()
        s = snapshot()
        cluster = _cluster(s, body.cluster)
        sources = sorted({p.source for p in s.profiles.values()} | {cluster})
        world = world_of(s, sources)
        obj = body.content()
        found = await asyncio.to_thread(provenance, world, cluster, key, obj, s.profiles)
        log.info("explained: %s", found.summary, extra={"obj": f"{cluster} {found.subject}"})
        return found

    return api
