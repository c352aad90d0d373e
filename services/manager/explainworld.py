"""What ``ripple explain`` answers from: the :class:`World` (definitions, clusters, matching
sets, and on the running system the profiles and apply outcomes the manager holds), the
:class:`Subject` explained, and the pieces of an answer both directions share (pure: no I/O).

The manager builds a :class:`World` from its snapshot (:mod:`services.manager.explain_api`);
``ripple explain --offline`` builds one from a scenario directory (``services.tools.explain``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.manager.explanations import InstanceOut, OutcomeOut, SelectorOut
from services.manager.model import ClusterInfo, ClusterKey, ProfilePlan, Report
from services.manager.planning import TriggerView
from shared.api.loading import parse_object
from shared.api.vocabulary import ObjectKey
from shared.contract import messages as m
from shared.evaluation import CompiledEventSource, compile_event_source
from shared.evaluation import explaining as ev

SetKey = tuple[ClusterKey, str]  # (cluster, EventSource name)


@dataclass(frozen=True)
class SetView:
    """A matching set as the manager holds it (copied on its loop): the set, whether it is
    known (a complete head arrived once), and its per-object errors."""

    known: bool
    report: Report
    errors: Mapping[ObjectKey, str] = field(default_factory=dict)


@dataclass(frozen=True)
class World:
    """What an answer is computed from (immutable: computed off the manager's loop)."""

    live: bool
    clusters: Mapping[ClusterKey, ClusterInfo]
    triggers: Mapping[str, TriggerView]
    event_sources: Mapping[str, Mapping[str, Any]]  # EventSource objects as assigned
    refs: Mapping[tuple[str, str, str], Mapping[str, Any]]
    sets: Mapping[SetKey, SetView] = field(default_factory=dict)
    #: offline: each cluster's objects (the candidates of whole-set and aggregated triggers)
    objects: Mapping[ClusterKey, tuple[dict[str, Any], ...]] = field(default_factory=dict)
    profiles: Mapping[str, ProfilePlan] = field(default_factory=dict)
    outcomes: Mapping[str, tuple[tuple[ClusterKey, m.ApplyOutcome], ...]] = field(
        default_factory=dict
    )
    outcome_times: Mapping[tuple[ClusterKey, str], datetime] = field(default_factory=dict)
    trigger_errors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    definition_errors: Mapping[str, str] = field(default_factory=dict)  # "Kind/name" -> why


@dataclass(frozen=True)
class Subject:
    """What is explained: an object (``obj``; ``None``: named by ``key`` only, the matching
    sets say whether it matches) or a CloudEvent received on NATS ``subject``."""

    key: ObjectKey | None = None
    obj: dict[str, Any] | None = None
    cloud_event: Mapping[str, Any] | None = None
    nats_subject: str = ""

    def describe(self) -> str:
        if self.cloud_event is not None:
            ce = self.cloud_event
            return (
                f"CloudEvent {ce.get('source', '')}/{ce.get('subject', '')} ({ce.get('type', '')})"
            )
        assert self.key is not None
        return describe_key(self.key)


def describe_key(key: ObjectKey) -> str:
    ns = f"{key.namespace}/" if key.namespace else ""
    return f"{key.api_version}/{key.kind} {ns}{key.name}"


class Compiler:
    """EventSources compiled once per answer (a definition that does not compile is an
    error of its own, never "no match")."""

    def __init__(self, sources: Mapping[str, Mapping[str, Any]]) -> None:
        self._sources = sources
        self._done: dict[str, CompiledEventSource | str] = {}

    def get(self, name: str) -> CompiledEventSource | str:
        """The compiled EventSource, or why there is none."""
        if name not in self._done:
            obj = self._sources.get(name)
            if obj is None:
                self._done[name] = f"EventSource {name!r} not found"
            else:
                try:
                    self._done[name] = compile_event_source(parse_object(dict(obj)))  # type: ignore[arg-type]
                except Exception as exc:  # InvalidEventSource, a validation error
                    self._done[name] = f"EventSource {name!r} does not load: {exc}"
        return self._done[name]


def selector_out(check: ev.SelectorCheck) -> SelectorOut:
    uses = [u for u, on in (("Lua", check.lua), ("CEL", check.cel)) if on]
    o = check.outcome
    return SelectorOut(
        index=check.index,
        api_version=check.api_version,
        kind=check.kind,
        selects=check.selects,
        reason=check.reason,
        uses=uses,
        matching=o.matching if o is not None else None,
        decided_by=o.decided_by if o is not None else "",
        message=o.message if o is not None else "",
        error=o.error if o is not None else None,
    )


def outcomes_of(world: World, plan_name: str, destinations: list[ClusterKey]) -> list[OutcomeOut]:
    """The apply outcome of a profile in each of its destinations (live only)."""
    out = []
    for dest, o in world.outcomes.get(plan_name, ()):
        out.append(
            OutcomeOut(
                cluster=str(dest),
                status=o.status,
                message=o.message,
                generation=o.generation,
                objects=len(o.applied),
                releases=len(o.releases),
                time=world.outcome_times.get((dest, plan_name)),
            )
        )
    missing = set(destinations) - {d for d, _ in world.outcomes.get(plan_name, ())}
    for dest in sorted(missing):
        out.append(
            OutcomeOut(cluster=str(dest), status="none yet", generation=0, objects=0, releases=0)
        )
    return out


def instance_out(world: World, plan: ProfilePlan, note: str = "") -> InstanceOut:
    """One planned profile as an answer shows it (live: with the manager's outcomes)."""
    live = world.profiles.get(plan.name) if world.live else None
    return InstanceOut(
        profile=plan.name,
        source_cluster=str(plan.source),
        destinations=[str(d) for d in plan.destinations],
        objects=[describe_key(ObjectKey.of(o.manifest)) for o in plan.objects],
        charts=[_chart(c.chart) for c in plan.charts],
        error=plan.error,
        note=note,
        live=(live is not None) if world.live else None,
        outcomes=outcomes_of(world, plan.name, plan.destinations) if world.live else [],
    )


def _chart(chart: Mapping[str, Any]) -> str:
    release = f"{chart.get('releaseNamespace', '')}/{chart.get('releaseName', '')}"
    return f"{release} {chart.get('chartName', '')}@{chart.get('chartVersion', '')}"


def resolve_cluster(known: list[ClusterKey], ref: str) -> ClusterKey:
    """``[TYPE:]NAMESPACE/NAME`` (or ``NAME``: namespace ``default``) among ``known``
    (:class:`ValueError` listing them when it is not one of them, or is ambiguous)."""
    ctype, _, rest = ref.rpartition(":")
    namespace, _, name = rest.rpartition("/")
    namespace = namespace or "default"
    found = [
        k for k in known if (k.namespace, k.name) == (namespace, name) and ctype in ("", k.type)
    ]
    if len(found) == 1:
        return found[0]
    listed = ", ".join(str(k) for k in sorted(known)) or "none"
    if found:
        raise ValueError(f"cluster {ref!r} is ambiguous: say sveltos:{rest} or capi:{rest}")
    raise ValueError(f"cluster {ref!r} is not registered (registered: {listed})")
