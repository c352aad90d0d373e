"""The typed payloads of the NATS contract (the ``data`` of every CloudEvent).

Field names are camelCase on the wire (as in Kubernetes) and snake_case in Python; both are
accepted when validating; unknown fields are ignored (additive changes stay compatible within
``v1``). Collected objects are redacted on construction and on decoding
(:func:`shared.contract.redact.redact`). The envelopes, :func:`~shared.contract.messages.
envelope`, ``encode`` and ``decode`` are in :mod:`shared.contract.messages`, which re-exports
every name of this module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from shared.api.vocabulary import DefinitionKind as DefinitionKind
from shared.api.vocabulary import ObjectKey
from shared.contract.redact import redact
from shared.contract.subjects import ClusterRef


class Model(BaseModel):
    """Base of payload models: camelCase on the wire, snake_case in Python, extra ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
    )


# --- payload parts ---------------------------------------------------------------------------


class ObjectRef(Model):
    """A Kubernetes object reference: ``apiVersion``, ``kind``, ``namespace`` (empty for
    cluster-scoped objects) and ``name`` (as in an EventReport's ``matchingResources``)."""

    # the wire form of shared.api.vocabulary.ObjectKey (``key`` / ``from_key`` convert)
    model_config = ConfigDict(frozen=True)

    api_version: str
    kind: str
    namespace: str = ""
    name: str

    @classmethod
    def from_key(cls, key: ObjectKey) -> ObjectRef:
        return cls(
            api_version=key.api_version, kind=key.kind, namespace=key.namespace, name=key.name
        )

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        """The reference of a Kubernetes object given as a dict."""
        return cls.from_key(ObjectKey.of(obj))

    @property
    def key(self) -> ObjectKey:
        return ObjectKey(self.api_version, self.kind, self.namespace, self.name)

    def __str__(self) -> str:
        path = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.api_version}/{self.kind}/{path}"


class ObjectError(Model):
    """A per-object evaluation error (the object keeps its previous match state)."""

    object: ObjectRef
    message: str


class ResourceReference(Model):
    """The ConfigMap/Secret (or other source) a desired object was rendered from."""

    kind: str
    namespace: str = ""
    name: str


class DesiredObject(Model):
    """One object to apply: the manifest, its ``projectsveltos.io/hash`` and its origin.

    ``skipNamespaceCreation`` is the ``policyRef``/``kustomizationRef`` entry's field (the
    entry the object was rendered from): the agent creates the namespace of a namespaced
    object when it does not exist, as Sveltos' deployer does, unless this is true (the
    apply then fails on the missing namespace, named in the outcome)."""

    manifest: dict[str, Any]
    hash: str
    reference: ResourceReference
    skip_namespace_creation: bool = False


class AppliedObject(ObjectRef):
    """An object applied by the agent, with the hash it was applied with."""

    hash: str = ""


class DesiredChart(Model):
    """One Helm chart of a profile, installed (or uninstalled) in the destination cluster in
    the profile's order, after its objects.

    ``chart`` is the instantiated Sveltos ``helmCharts`` entry as the generated ClusterProfile
    shows it (every template field rendered with the event data; ``valuesFrom`` naming the
    instantiated copies); the agent validates it (:class:`shared.helm.HelmChart`).
    ``values`` are the complete values Helm receives: ``values`` merged with every
    ``valuesFrom`` ConfigMap/Secret key (sorted keys, later ones override), as Sveltos'
    addon-controller merges them. ``hash`` changes whenever either does (sha256 of both)."""

    chart: dict[str, Any]
    values: dict[str, Any] = Field(default_factory=dict)
    hash: str

    @property
    def release(self) -> tuple[str, str]:
        """``(releaseNamespace, releaseName)``, empty strings when absent."""
        return str(self.chart.get("releaseNamespace", "")), str(self.chart.get("releaseName", ""))


ReleaseAction = Literal["install", "upgrade", "uninstall", "none", ""]


class ReleaseOutcome(Model):
    """A Helm release the profile holds (or may have left behind) in the cluster.

    ``hash`` is the :attr:`DesiredChart.hash` it was applied with ("" in a ``Provisioning``
    outcome for a release an apply may be about to change). ``status`` is Helm's
    (``deployed``, ``failed``, ``pending-install``, ``uninstalled``...) or ``absent``;
    ``action`` what the last apply did; ``message`` why it failed, or what a DryRun would
    change; ``conflict``: it failed because another owner holds the release (Sveltos'
    ``Conflict``)."""

    namespace: str
    name: str
    hash: str = ""
    chart_name: str = ""
    chart_version: str = ""
    app_version: str = ""
    revision: int = Field(default=0, ge=0)
    status: str = ""
    action: ReleaseAction = ""
    message: str = ""
    conflict: bool = False


# --- payloads ----------------------------------------------------------------------------------


class EventReportSnapshot(Model):
    """The current matching set of one EventSource in one cluster (Sveltos' EventReport spec).

    ``complete`` is false until the agent has finished its initial list and evaluation: a
    consumer must never read an incomplete snapshot as "no match". ``generation`` increases
    with every snapshot one agent instance (``agent_instance``) publishes; see
    :meth:`supersedes`. ``resources`` (only with ``collectResources``) are redacted on
    construction (:func:`shared.contract.redact.redact`).
    """

    cluster: ClusterRef
    event_source_name: str
    agent_instance: str
    generation: int = Field(ge=0)
    complete: bool
    matching_resources: list[ObjectRef] = Field(default_factory=list)
    resources: list[dict[str, Any]] = Field(default_factory=list)
    cloud_events: list[dict[str, Any]] = Field(default_factory=list)
    errors: list[ObjectError] = Field(default_factory=list)

    @field_validator("resources", mode="after")
    @classmethod
    def _redact_resources(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [redact(obj) for obj in value]

    def supersedes(self, other: EventReportSnapshot | None) -> bool:
        """True unless ``other`` comes from the same agent instance with a newer or equal
        generation (a stale or repeated snapshot the consumer should drop). Snapshots of a
        different instance (the agent restarted) always win: KV order is publication order."""
        if other is None or other.agent_instance != self.agent_instance:
            return True
        return self.generation > other.generation


ChangeKind = Literal["matched", "updated", "unmatched"]


class ResourceChange(Model):
    """One change of one object with respect to one EventSource: it started matching
    (``matched``), still matches and changed (``updated``), or stopped matching / was deleted
    (``unmatched``). ``object`` is the object (redacted) when the EventSource collects
    resources."""

    cluster: ClusterRef
    event_source_name: str
    change: ChangeKind
    ref: ObjectRef
    uid: str = ""
    resource_version: str = ""
    object: dict[str, Any] | None = None

    @field_validator("object", mode="after")
    @classmethod
    def _redact_object(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else redact(value)

    def msg_id(self) -> str:
        """Deterministic ``Nats-Msg-Id``: the same change of the same object version published
        twice (an agent restart, a retry) is stored once by the stream's duplicate window."""
        ident = [
            self.cluster.type,
            self.cluster.namespace,
            self.cluster.name,
            self.event_source_name,
            self.ref.api_version,
            self.ref.kind,
            self.ref.namespace,
            self.ref.name,
            self.uid,
            self.resource_version,
            self.change,
        ]
        digest = hashlib.sha256(json.dumps(ident, separators=(",", ":")).encode()).hexdigest()
        return f"rc-{digest[:40]}"


class Match(Model):
    """One object in the matching set of one EventSource in one cluster: the value of its
    entry in ``ripple-matches``. The entry exists while the object matches; the agent deletes
    it when the object stops matching or is deleted (positive knowledge). ``object`` is the
    object (redacted, without ``managedFields``) when the EventSource collects resources.
    ``agentInstance`` names the agent instance that wrote it."""

    cluster: ClusterRef
    event_source_name: str
    ref: ObjectRef
    uid: str = ""
    resource_version: str = ""
    object: dict[str, Any] | None = None
    agent_instance: str = ""

    @field_validator("object", mode="after")
    @classmethod
    def _redact_object(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if value is None else redact(value)


class MatchHead(Model):
    """The head of one EventSource's matching set in one cluster (``ripple-matches`` key
    ``<clusterns>.<cluster>.<eventsource>``): whether the entries are complete, which agent
    instance wrote them, the CloudEvents kept and the per-object errors.

    The agent writes a head only after the entries it covers (one KV stream: readers see them
    in that order). ``complete: false`` says the entries may be stale (an informer is failing
    or relisting): a reader keeps what it had and never reads a missing entry as "no match".
    ``generation`` increases with every head one instance writes. ``errorCount`` is the
    number of per-object errors; ``errors`` lists at most :data:`MAX_HEAD_ERRORS` of them."""

    cluster: ClusterRef
    event_source_name: str
    agent_instance: str
    generation: int = Field(ge=0)
    complete: bool
    cloud_events: list[dict[str, Any]] = Field(default_factory=list)
    errors: list[ObjectError] = Field(default_factory=list)
    error_count: int = Field(default=0, ge=0)


MAX_HEAD_ERRORS = 100
"""Per-object errors listed in a :class:`MatchHead` (all of them are counted)."""


class Assignment(Model):
    """An EventSource assigned to a cluster by the manager (the full EventSource object, and
    the triggers that caused the assignment). Deleting the key unassigns it."""

    cluster: ClusterRef
    event_source_name: str
    event_source: dict[str, Any]
    triggers: list[str] = Field(default_factory=list)


SyncMode = Literal["OneTime", "Continuous", "ContinuousWithDriftDetection", "DryRun"]
StopMatchingBehavior = Literal["WithdrawPolicies", "LeavePolicies"]


DEFAULT_TIER = 100
"""Sveltos' default ``spec.tier`` of a ClusterProfile (lower wins conflicts)."""


class DesiredState(Model):
    """Everything one profile wants deployed in one destination cluster. Deleting the key
    withdraws the profile (unless the last value said ``LeavePolicies``). Manifests are NOT
    redacted: this bucket is readable only by the destination cluster's agent."""

    cluster: ClusterRef
    profile_name: str
    generation: int = Field(ge=0)
    objects: list[DesiredObject] = Field(default_factory=list)
    helm_charts: list[DesiredChart] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    sync_mode: SyncMode = "Continuous"
    stop_matching_behavior: StopMatchingBehavior = "WithdrawPolicies"
    tier: int = Field(default=DEFAULT_TIER, ge=1)
    """The profile's ``spec.tier`` (Sveltos' default 100): when an object (or Helm release)
    in the cluster is owned by another profile, the profile with the LOWER tier (higher
    priority) takes it over; with an equal or higher tier the object is a conflict, reported
    in the outcome with the profile that owns it."""
    continue_on_conflict: bool = False
    """The profile's ``spec.continueOnConflict``: when true, a conflict on one object does
    not stop the rest of the profile (every other object is applied and the outcome lists the
    conflicts); when false the first conflict fails the apply, as in Sveltos."""


ApplyStatus = Literal["Provisioning", "Provisioned", "Failed", "Removed", "DryRun"]
"""``DryRun``: the profile's ``syncMode`` is DryRun: nothing was changed; the outcome's
``resourceReports`` say what an apply would do (and ``message`` sums it up)."""

ResourceAction = Literal["Create", "Update", "Delete", "No Action", "Conflict", "Error"]
"""What was (or, in DryRun, would be) done to one object: Sveltos' ``ResourceReport``
actions (libsveltos ``ResourceAction``)."""

MAX_RESOURCE_REPORTS = 200
"""Resource reports listed in one :class:`ApplyOutcome` at most (the others are counted in
its ``message``)."""


class ResourceReport(Model):
    """What an apply did, or a DryRun would do, to one object, as Sveltos' ClusterReport
    ``resourceReports`` say it: ``Create``, ``Update`` (``message``: the fields that change,
    from a server-side apply dry run against the live object), ``Delete`` (pruned: no longer
    desired), ``No Action`` (unchanged), ``Conflict`` (another profile owns it: ``message``
    names it and its tier) or ``Error`` (``message``: why)."""

    object: ObjectRef
    action: ResourceAction
    message: str = ""


class ApplyOutcome(Model):
    """What the agent did with one generation of one profile's desired state.

    ``Provisioning`` is written BEFORE applying, listing every object the agent may be about
    to own (what it had plus what it applies), so an agent killed mid-apply still knows, after
    a restart, what to prune. ``releases`` are the profile's Helm releases in the same way
    (what it had plus what it installs). ``stopMatchingBehavior`` is the profile's, so a
    restarted agent honours ``LeavePolicies`` for a profile withdrawn while it was down.

    ``resourceReports`` (at most :data:`MAX_RESOURCE_REPORTS`): in a ``DryRun`` outcome,
    what an apply would do to every object; in other outcomes, the objects in conflict with
    another profile (which owns them, with which tier). In a ``DryRun`` outcome ``applied``
    lists what the profile holds in the cluster (nothing DryRun did)."""

    cluster: ClusterRef
    profile_name: str
    generation: int = Field(ge=0)
    status: ApplyStatus
    message: str = ""
    applied: list[AppliedObject] = Field(default_factory=list)
    releases: list[ReleaseOutcome] = Field(default_factory=list)
    stop_matching_behavior: StopMatchingBehavior = "WithdrawPolicies"
    resource_reports: list[ResourceReport] = Field(default_factory=list)


AgentState = Literal["starting", "ready", "degraded", "stopping"]


class AgentStatus(Model):
    """Liveness and health of one cluster's agent."""

    cluster: ClusterRef
    instance: str
    state: AgentState
    watched_gvks: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    time: AwareDatetime


class ProfileState(Model):
    """A generated ClusterProfile and the ConfigMaps instantiated for it, as the manager
    computed them (the reporter writes them into the management cluster), keyed by the
    profile's source cluster. ``error`` says why the last instantiation failed (the previous
    objects are then kept). Generated Secrets are listed with their data redacted."""

    cluster: ClusterRef
    profile_name: str
    trigger: str
    cluster_profile: dict[str, Any]
    instantiated: list[dict[str, Any]] = Field(default_factory=list)
    error: str = ""

    @field_validator("instantiated")
    @classmethod
    def _redact(cls, values: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [redact(v) for v in values]


class DefinitionStatus(Model):
    """The status of one definition of the management cluster, as the manager sees it: the
    clusters a trigger selects, and what is wrong (``failureMessage`` empty when healthy).
    The reporter writes it into the object's ``status``."""

    kind: DefinitionKind
    name: str
    matching_clusters: list[ClusterRef] = Field(default_factory=list)
    failure_message: str = ""


Payload = (
    EventReportSnapshot
    | ResourceChange
    | Match
    | MatchHead
    | Assignment
    | DesiredState
    | ApplyOutcome
    | AgentStatus
    | ProfileState
    | DefinitionStatus
)

__all__ = [
    "DEFAULT_TIER",
    "MAX_HEAD_ERRORS",
    "MAX_RESOURCE_REPORTS",
    "AgentState",
    "AgentStatus",
    "AppliedObject",
    "ApplyOutcome",
    "ApplyStatus",
    "Assignment",
    "ChangeKind",
    "DefinitionKind",
    "DefinitionStatus",
    "DesiredChart",
    "DesiredObject",
    "DesiredState",
    "EventReportSnapshot",
    "Match",
    "MatchHead",
    "Model",
    "ObjectError",
    "ObjectRef",
    "Payload",
    "ProfileState",
    "ReleaseAction",
    "ReleaseOutcome",
    "ResourceAction",
    "ResourceChange",
    "ResourceReference",
    "ResourceReport",
    "StopMatchingBehavior",
    "SyncMode",
]
