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
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, HTTPException, params
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from services.manager.explaining import explain
from services.manager.explainworld import SetView, Subject, World, resolve_cluster
from services.manager.explanations import Explanation, Provenance
from services.manager.model import ClusterKey
from services.manager.provenance import provenance
from services.manager.snapshot import Snapshot
from shared.api.vocabulary import ObjectKey

#: the largest object or CloudEvent a request may carry (what the API server itself stores)
MAX_OBJECT_BYTES = 1 << 20


class ObjectRefIn(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    api_version: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    namespace: str = ""
    name: str = Field(min_length=1)


class ExplainRequest(BaseModel):
    """An object in a cluster (``object``: its content; or ``ref``: its identity only), or a
    CloudEvent received on NATS ``subject``."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    cluster: str = Field(min_length=1, description="[TYPE:]NAMESPACE/NAME of a registered cluster")
    object: dict[str, Any] | None = None
    ref: ObjectRefIn | None = None
    cloud_event: dict[str, Any] | None = None
    subject: str = Field("", description="the NATS subject a CloudEvent arrived on")
    trigger: str = Field("", description="only this trigger")
    all: bool = Field(False, description="every trigger, not only those watching its kind")

    @model_validator(mode="after")
    def _one(self) -> ExplainRequest:
        given = [x for x in (self.object, self.ref, self.cloud_event) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of object, ref, cloudEvent")
        if self.object is not None:
            meta = self.object.get("metadata")
            if not self.object.get("apiVersion") or not self.object.get("kind"):
                raise ValueError("object: apiVersion and kind are required")
            if not isinstance(meta, dict) or not meta.get("name"):
                raise ValueError("object: metadata.name is required")
        if self.cloud_event is not None and not self.cloud_event.get("source"):
            raise ValueError("cloudEvent: source is required")
        return self

    def key(self) -> ObjectKey | None:
        if self.object is not None:
            return ObjectKey.of(self.object)
        if self.ref is not None:
            r = self.ref
            return ObjectKey(r.api_version, r.kind, r.namespace, r.name)
        return None


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

    payload = body.object if body.object is not None else body.cloud_event
    if payload is not None and len(json.dumps(payload, default=str)) > MAX_OBJECT_BYTES:
        raise HTTPException(413, f"the object is over {MAX_OBJECT_BYTES} bytes")


def router(snapshot: Callable[[], Snapshot], dependencies: Sequence[params.Depends]) -> APIRouter:
    """The explain endpoints, reading ``snapshot()`` (guarded by ``dependencies``)."""
    api = APIRouter(dependencies=list(dependencies), tags=["explain"])
    missing: dict[int | str, dict[str, Any]] = {
        404: {"description": "the cluster is not registered"}
    }
    too_big: dict[int | str, dict[str, Any]] = {
        413: {"description": "the object or CloudEvent is too large"}
    }

    @api.post(
        "/v1/explain",
        response_model=Explanation,
        response_model_by_alias=True,
        responses={**missing, **too_big},
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
        subject = Subject(
            key=body.key(),
            obj=body.object,
            cloud_event=body.cloud_event,
            nats_subject=body.subject,
        )
        return await asyncio.to_thread(explain, world, cluster, subject, body.trigger, body.all)

    @api.post(
        "/v1/explain/deployed",
        response_model=Provenance,
        response_model_by_alias=True,
        responses={**missing, **too_big},
    )
    async def explain_deployed(body: ExplainRequest) -> Provenance:
        """Why is a deployed object in a cluster: the profile that deploys it, its trigger,
        EventSource, source cluster and matching resource, and the apply outcome there."""
        _size_check(body)
        key = body.key()
        if key is None:
            raise HTTPException(422, "give the deployed object (object) or its ref")
        s = snapshot()
        cluster = _cluster(s, body.cluster)
        sources = sorted({p.source for p in s.profiles.values()} | {cluster})
        world = world_of(s, sources)
        return await asyncio.to_thread(provenance, world, cluster, key, body.object, s.profiles)

    return api
