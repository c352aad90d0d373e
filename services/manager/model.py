"""The manager's view of the world: plain, immutable inputs and outputs of planning.

These are the pure decision code's types; the adapters build them from Kubernetes objects
and NATS messages and turn the outputs into messages and CRDs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# a registered cluster (namespace, name, type): the catalogue's plain identity
from shared.api.vocabulary import ClusterKey as ClusterKey
from shared.api.vocabulary import ObjectKey


@dataclass(frozen=True)
class ClusterInfo:
    key: ClusterKey
    labels: dict[str, str]
    obj: dict[str, Any]  # the SveltosCluster / CAPI Cluster object, as ``.Cluster``


@dataclass(frozen=True)
class Report:
    """The latest complete EventReport of one EventSource in one cluster."""

    cluster: ClusterKey
    event_source: str
    matching: list[dict[str, str]]  # {apiVersion, kind, namespace, name}
    resources: list[dict[str, Any]] = field(default_factory=list)
    cloud_events: list[dict[str, Any]] = field(default_factory=list)
    #: the matching references already as template values (corev1.ObjectReference structs,
    #: converted once per delta), and what identifies this content (a set's version): both
    #: optional, they spare a whole-set instance O(set) work per plan
    matching_values: list[Any] | None = None
    version: object = None


@dataclass(frozen=True)
class Reference:
    """What a deployed object points back to (reference-kind/name/namespace)."""

    kind: str
    namespace: str
    name: str


@dataclass(frozen=True)
class DeployedObject:
    manifest: dict[str, Any]
    hash: str
    reference: Reference


@dataclass(frozen=True)
class DeployedChart:
    """One instantiated ``helmCharts`` entry with its complete values (the desired state's
    :class:`~shared.contract.payloads.DesiredChart`)."""

    chart: dict[str, Any]
    values: dict[str, Any]
    hash: str


@dataclass
class ProfilePlan:
    """One generated ClusterProfile and what it deploys where."""

    name: str
    trigger: str
    source: ClusterKey
    labels: dict[str, str]
    destinations: list[ClusterKey]
    objects: list[DeployedObject]
    cluster_profile: dict[str, Any]
    instantiated: list[dict[str, Any]]  # generated ConfigMaps/Secrets (management side)
    charts: list[DeployedChart] = field(default_factory=list)
    sync_mode: str = "Continuous"
    stop_matching_behavior: str = "WithdrawPolicies"
    error: str = ""


#: what identifies an instance's input (:func:`services.manager.planning.fingerprint`)
Fingerprint = tuple[object, ...]
#: (EventSource name, fingerprint): the key of an instance in :attr:`PairPlan.instances`
InstanceKey = tuple[str, Fingerprint]


@dataclass
class PairPlan:
    """Everything one trigger produces for one source cluster."""

    trigger: str
    source: ClusterKey
    profiles: dict[str, ProfilePlan] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    # instance fingerprint -> its plan, reused by the next plan of this pair when the
    # definitions it was made with (``salt``) have not changed
    instances: dict[InstanceKey, ProfilePlan] = field(default_factory=dict)
    salt: object = None
    # oneForEvent: the instance of each matching object, and the version of the matching set
    # planned (-1: a whole report), so that the next plan costs what changed since
    by_object: dict[ObjectKey, InstanceKey] = field(default_factory=dict)
    version: int = -1
