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
    #: the policyRef's ``skipNamespaceCreation`` (the agent creates a missing namespace
    #: of a namespaced object unless this is true)
    skip_namespace_creation: bool = False


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
    #: the objects of ``deploymentType: Local`` policyRefs, deployed to :attr:`management`
    #: (the management cluster's registration) and never to the destinations
    local_objects: list[DeployedObject] = field(default_factory=list)
    management: ClusterKey | None = None
    tier: int = 100  # the trigger's spec.tier (Sveltos' default 100)
    continue_on_conflict: bool = False  # the trigger's spec.continueOnConflict
    #: the event this profile was instantiated for (``Service default/web``, ``CloudEvent
    #: <source> <subject>``, ``the matching set``) and its order when two instances claim
    #: one profile name (the smaller keeps it)
    subject: str = ""
    rank: tuple[str, ...] = ()

    def targets(self) -> list[ClusterKey]:
        """Every cluster with a desired state of this profile: the destinations, and the
        management cluster when the profile has Local objects."""
        out = list(self.destinations)
        if self.local_objects and self.management is not None and self.management not in out:
            out.append(self.management)
        return out

    def objects_for(self, cluster: ClusterKey) -> list[DeployedObject]:
        """What ``cluster`` must run of this profile: the (remote) objects when it is a
        destination, and the Local objects when it is the management cluster."""
        out = list(self.objects) if cluster in self.destinations else []
        if cluster == self.management:
            out.extend(self.local_objects)
        return out


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
    #: profile name -> the instances that render it (more than one: a collision, the
    #: smallest :attr:`ProfilePlan.rank` keeps the name) and the collision errors by name
    by_name: dict[str, set[InstanceKey]] = field(default_factory=dict)
    collisions: dict[str, str] = field(default_factory=dict)
