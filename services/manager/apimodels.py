"""The REST API's response models (the document's schemas), but :class:`TriggerOut`, which
lives with its builder in :mod:`services.manager.api`. camelCase on the wire
(``serialization_alias``), snake_case in Python."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from shared.contract.payloads import ApplyStatus, ReleaseOutcome


class Health(BaseModel):
    status: str
    ready: bool


class ShardMemberOut(BaseModel):
    id: str
    shard_key: str = Field(serialization_alias="shardKey")


class ShardsOut(BaseModel):
    """This manager's shard: its group's live members and the owner of every cluster
    (``sharded`` false: it owns every cluster)."""

    sharded: bool
    me: str
    shard_key: str = Field(serialization_alias="shardKey")
    known: bool
    members: list[ShardMemberOut]
    rebalances: int
    owners: dict[str, str | None]


class ClusterOut(BaseModel):
    namespace: str
    name: str
    type: str
    labels: dict[str, str]


class ReportOut(BaseModel):
    cluster: str
    event_source_name: str = Field(serialization_alias="eventSourceName")
    generation: int
    complete: bool
    agent_instance: str = Field(serialization_alias="agentInstance")
    count: int
    matching_resources: list[dict[str, str]] = Field(serialization_alias="matchingResources")
    errors: list[dict[str, Any]]
    error_count: int = Field(serialization_alias="errorCount")
    resources: list[dict[str, Any]] | None = None
    cloud_events: list[dict[str, Any]] | None = Field(None, serialization_alias="cloudEvents")


class ReferenceOut(BaseModel):
    """What a deployed object points back to (its policyRef: ConfigMap or Secret)."""

    kind: str
    namespace: str
    name: str


class ObjectOut(BaseModel):
    """A deployed object: its manifest (redacted when it comes from a Secret) and hash."""

    hash: str
    manifest: dict[str, Any]
    reference: ReferenceOut


class ChartOut(BaseModel):
    """An instantiated ``helmCharts`` entry, without its complete values."""

    chart: dict[str, Any]
    hash: str


class OutcomeOut(BaseModel):
    """What a destination's agent last reported for the profile."""

    status: ApplyStatus
    message: str
    generation: int
    releases: list[ReleaseOutcome]


class ProfileOut(BaseModel):
    name: str
    trigger: str
    source_cluster: str = Field(serialization_alias="sourceCluster")
    destinations: list[str]
    labels: dict[str, str]
    objects: list[ObjectOut]
    helm_charts: list[ChartOut] = Field(serialization_alias="helmCharts")
    error: str
    outcomes: dict[str, OutcomeOut] = Field(description="By destination cluster.")


class DefinitionErrorOut(BaseModel):
    object: str
    message: str


class PublicationFailureOut(BaseModel):
    bucket: str
    key: str
    definition: str
    message: str
    attempts: int
    since: float
    terminal: bool
    retry_in: float = Field(serialization_alias="retryIn")
