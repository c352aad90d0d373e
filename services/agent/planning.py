"""The apply plan: what to do for one profile of this cluster (pure: no I/O).

The handler of a profile is level-triggered: it compares the latest *wanted* desired state
(or its absence) with what this cluster holds of the profile (:class:`Record`) and
:func:`decide` says what to do:

- **apply** when the wanted state differs from what was applied with success, the last
  apply failed, or a deployed object drifted. Before a real apply, a *write-ahead* outcome
  (``Provisioning``) records every object and Helm release the apply may leave behind --
  what the profile held before and what it is about to create -- so that an agent killed
  mid-apply still knows, after its restart, what to prune or remove. The objects are
  applied first, then the charts, in order (:mod:`services.agent.releasing`), each object
  only when no other profile of an equal or lower tier owns it (:mod:`services.agent.
  conflicts`; ``continueOnConflict`` says whether a conflict stops the rest), in a
  namespace created when missing (unless ``skipNamespaceCreation``). ``DryRun`` applies
  nothing, writes no write-ahead outcome, and says what would change per object
  (:mod:`services.agent.dryrun`), in an outcome of status ``DryRun``;
- **nothing** when it is up to date, when a ``OneTime`` profile was deployed already (it is
  never updated), when the wanted state is unknown (an unreadable value, or the initial
  values not read yet: unknown is never "not desired");
- **remove** when the profile is positively no longer desired: what it deployed is deleted
  and its releases uninstalled, unless its ``stopMatchingBehavior`` is ``LeavePolicies``;
- **publish the outcome** when only the outcome's publication failed.

After an apply (:func:`settle_apply`), a profile that failed keeps, as its record, every
object and release it may have left behind, and is retried -- unless every failure was
terminal (``terminal``: a Helm input retrying cannot fix), kept until the input changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from services.agent import dryrun, releasing
from services.agent.releasing import ChartStep, Ref, Releases, ReleasesDone
from shared.api.vocabulary import ObjectKey
from shared.contract import messages as m
from shared.contract.subjects import ClusterRef

object_key = ObjectKey.of

Applied = tuple[tuple[ObjectKey, str], ...]  # (object, hash it was applied with)


def normal_key(key: ObjectKey) -> ObjectKey:
    """Namespaced keys without a namespace mean ``default`` (as the agent applies them)."""
    return ObjectKey(key.api_version, key.kind, key.namespace or "default", key.name)


@dataclass(frozen=True)
class ApplyOptions:
    """How the objects of one profile are applied: its ``tier`` and ``continueOnConflict``
    (conflicts with other profiles), and the objects (normal keys) whose namespace is not
    created when missing (``skipNamespaceCreation``)."""

    tier: int = m.DEFAULT_TIER
    continue_on_conflict: bool = False
    skip_namespace: frozenset[ObjectKey] = frozenset()

    @classmethod
    def of(cls, desired: m.DesiredState) -> ApplyOptions:
        return cls(
            tier=desired.tier,
            continue_on_conflict=desired.continue_on_conflict,
            skip_namespace=frozenset(
                normal_key(object_key(o.manifest))
                for o in desired.objects
                if o.skip_namespace_creation
            ),
        )


@dataclass
class ApplyResult:
    status: Literal["Provisioned", "Failed", "Removed", "DryRun"]
    message: str = ""
    applied: list[tuple[ObjectKey, str]] = field(default_factory=list)  # (key, hash)
    releases: ReleasesDone = field(default_factory=ReleasesDone)
    #: per object: DryRun's (what it would do), or an apply's conflicts
    reports: list[m.ResourceReport] = field(default_factory=list)
    #: objects taken over from another profile of a higher tier: (key, previous owner)
    taken_over: list[tuple[ObjectKey, str]] = field(default_factory=list)
    #: what a DryRun could not evaluate (it is retried; its outcome still says DryRun)
    errors: list[str] = field(default_factory=list)
    namespaces_created: int = 0

    @property
    def failed(self) -> bool:
        """The apply failed, or a DryRun could not say what every object would do."""
        return self.status == "Failed" or (self.status == "DryRun" and bool(self.errors))

    @property
    def terminal(self) -> bool:
        """Failed, and only for reasons retrying cannot fix (Helm inputs)."""
        r = self.releases
        return self.failed and r.terminal > 0 and r.terminal == len(r.errors)


@dataclass
class Record:
    """What this cluster holds of one profile: every object and Helm release an apply may
    have left behind (as its outcome in KV records it), whether removal leaves them in
    place, whether the last apply succeeded (and, if not, whether retrying can help), what
    this agent instance last applied with success, and an outcome whose publication is
    still owed."""

    applied: Applied = ()
    releases: Releases = ()
    terminal: bool = False
    leave: bool = False
    deployed: bool = False
    desired: m.DesiredState | None = None
    owed: m.ApplyOutcome | None = None

    @property
    def keys(self) -> tuple[ObjectKey, ...]:
        return tuple(k for k, _ in self.applied)


def record_from_outcome(outcome: m.ApplyOutcome) -> Record:
    """What a previous agent instance recorded (``Provisioning``: an apply was under way)."""
    return Record(
        applied=tuple(
            (ObjectKey(a.api_version, a.kind, a.namespace, a.name), a.hash) for a in outcome.applied
        ),
        releases=releasing.held_of(outcome.releases),
        leave=outcome.stop_matching_behavior == "LeavePolicies",
        deployed=outcome.status == "Provisioned",
    )


@dataclass(frozen=True)
class ApplyPlan:
    profile: str
    objects: tuple[tuple[dict[str, Any], str], ...]  # (manifest, hash)
    previous: tuple[ObjectKey, ...]  # pruned when no longer desired
    dry_run: bool
    intent: Applied  # everything the apply may leave behind
    write_ahead: m.ApplyOutcome | None  # published BEFORE applying (None: DryRun)
    drift_detection: bool
    charts: tuple[ChartStep, ...] = ()  # after the objects, in order (prunes last)
    release_intent: Releases = ()  # every release the apply may leave behind
    options: ApplyOptions = ApplyOptions()
    held: Applied = ()  # what the profile held before (what a DryRun leaves it holding)


@dataclass(frozen=True)
class RemovalPlan:
    profile: str
    keys: tuple[ObjectKey, ...]
    leave: bool
    releases: Releases = ()


@dataclass(frozen=True)
class Nothing:
    reason: str


@dataclass(frozen=True)
class Apply:
    plan: ApplyPlan


@dataclass(frozen=True)
class Remove:
    plan: RemovalPlan


@dataclass(frozen=True)
class PublishOutcome:
    outcome: m.ApplyOutcome


Action = Nothing | Apply | Remove | PublishOutcome


def decide(
    cluster: ClusterRef,
    profile: str,
    wanted: m.DesiredState | None,
    record: Record | None,
    *,
    unknown: bool = False,
    synced: bool = True,
    drifted: bool = False,
    force: frozenset[Ref] = frozenset(),
) -> Action:
    """What to do for ``profile`` now. ``wanted`` is the latest desired state (None: not
    desired); ``unknown``: its latest value is unreadable; ``synced``: the initial values
    were all read; ``drifted``: a deployed object departed from it; ``force``: releases
    whose objects drifted (upgraded again)."""
    if wanted is None:
        if unknown or not synced:
            return Nothing("desired state unknown")
        if record is None:
            return Nothing("not desired, nothing deployed")
        return Remove(RemovalPlan(profile, record.keys, record.leave, record.releases))
    if record is not None and record.owed is not None and record.desired == wanted:
        return PublishOutcome(record.owed)
    if record is not None and record.deployed and (record.applied or record.releases):
        if wanted.sync_mode == "OneTime":
            return Nothing("OneTime profile already deployed: not updated")
        if record.desired == wanted and not drifted:
            return Nothing("up to date")
    return Apply(plan_apply(cluster, wanted, record, force))


def plan_apply(
    cluster: ClusterRef,
    wanted: m.DesiredState,
    record: Record | None,
    force: frozenset[Ref] = frozenset(),
) -> ApplyPlan:
    objects = tuple((o.manifest, o.hash) for o in wanted.objects)
    previous = record.keys if record is not None else ()
    dry_run = wanted.sync_mode == "DryRun"
    intent: dict[ObjectKey, tuple[ObjectKey, str]] = {normal_key(k): (k, "") for k in previous}
    for manifest, digest in objects:
        key = object_key(manifest)
        intent[normal_key(key)] = (key, digest)
    applied = tuple(intent.values())
    charts, releases = releasing.plan_charts(
        wanted.helm_charts, record.releases if record is not None else (), force
    )
    ahead = outcome(cluster, wanted, "Provisioning", "", applied, releasing.write_ahead(releases))
    return ApplyPlan(
        profile=wanted.profile_name,
        objects=objects,
        previous=previous,
        dry_run=dry_run,
        intent=applied,
        write_ahead=None if dry_run else ahead,
        drift_detection=wanted.sync_mode == "ContinuousWithDriftDetection",
        charts=charts,
        release_intent=releases,
        options=ApplyOptions.of(wanted),
        held=record.applied if record is not None else (),
    )


def settle_apply(
    cluster: ClusterRef, plan: ApplyPlan, wanted: m.DesiredState, result: ApplyResult
) -> Record:
    """The record after an apply, with the outcome to publish (``owed``). A failed apply
    keeps everything it may have left behind (the plan's intent), to prune or remove it
    later whatever happens meanwhile."""
    ok = not result.failed
    if plan.dry_run:  # nothing changed: the profile holds what it held
        applied: Applied = plan.held
    else:
        applied = tuple(result.applied) if ok else plan.intent
    done = result.releases
    releases = releasing.settle(plan.release_intent, done, ok or plan.dry_run)
    if plan.dry_run:
        message = dryrun.summary(result.reports, (p for p in (result.message, *done.notes) if p))
    else:
        message = "; ".join(p for p in (result.message, *done.notes) if p)
    return Record(
        applied=applied,
        releases=releases,
        terminal=result.terminal,
        leave=wanted.stop_matching_behavior == "LeavePolicies",
        deployed=ok,
        desired=wanted,
        owed=outcome(
            cluster,
            wanted,
            result.status,
            message,
            applied,
            releasing.listed(plan.release_intent, done),
            result.reports,
        ),
    )


def outcome(
    cluster: ClusterRef,
    desired: m.DesiredState,
    status: m.ApplyStatus,
    message: str,
    applied: Iterable[tuple[ObjectKey, str]],
    releases: Iterable[m.ReleaseOutcome] = (),
    reports: Iterable[m.ResourceReport] = (),
) -> m.ApplyOutcome:
    return m.ApplyOutcome(
        cluster=cluster,
        profile_name=desired.profile_name,
        generation=desired.generation,
        status=status,
        message=message,
        applied=[
            m.AppliedObject(
                api_version=k.api_version, kind=k.kind, namespace=k.namespace, name=k.name, hash=h
            )
            for k, h in applied
        ],
        releases=list(releases),
        stop_matching_behavior=desired.stop_matching_behavior,
        resource_reports=list(reports)[: m.MAX_RESOURCE_REPORTS],
    )
