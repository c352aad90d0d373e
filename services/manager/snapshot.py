"""What the REST API reads: an immutable snapshot of the manager's state.

The event loop owns the state; :func:`build` copies what the API shows into read-only
mappings and tuples (shallow copies: the values themselves -- trigger views, profile plans,
contract messages -- are never mutated once the state holds them). The manager swaps in a new
snapshot after a reconcile, so a request never iterates a dict the loop is changing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from services.manager.matchsets import MatchSet
from services.manager.model import ClusterInfo, ClusterKey, ProfilePlan
from services.manager.planning import TriggerView
from services.manager.statuses import DefinitionView
from shared.contract import messages as m
from shared.runtime.workqueue import Failure


def _empty() -> Mapping[Any, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class FailureView:
    """One key that could not be published: where, why, since when, and what next."""

    bucket: str
    key: str
    message: str
    attempts: int
    since: float
    terminal: bool
    retry_in: float
    owner: str  # "Kind/name" of its definition ("" for a status key)


@dataclass(frozen=True)
class Snapshot:
    ready: bool = False
    version: int = 0
    clusters: Mapping[ClusterKey, ClusterInfo] = field(default_factory=_empty)
    triggers: Mapping[str, TriggerView] = field(default_factory=_empty)
    views: Mapping[tuple[str, str], DefinitionView] = field(default_factory=_empty)  # (kind, name)
    profiles: Mapping[str, ProfilePlan] = field(default_factory=_empty)
    profiles_by_trigger: Mapping[str, tuple[str, ...]] = field(default_factory=_empty)
    #: the live matching sets (read on the loop only, in one synchronous step)
    reports: Mapping[tuple[ClusterKey, str], MatchSet] = field(default_factory=_empty)
    outcomes: Mapping[str, tuple[tuple[ClusterKey, m.ApplyOutcome], ...]] = field(
        default_factory=_empty
    )
    agents: Mapping[str, m.AgentStatus] = field(default_factory=_empty)
    definition_errors: tuple[tuple[str, str], ...] = ()
    informer_errors: tuple[tuple[str, str], ...] = ()  # kind -> why it is unknown
    failures: tuple[FailureView, ...] = ()
    stats: Mapping[str, int] = field(default_factory=_empty)
    #: for explain (``/v1/explain``): the EventSources as assigned, the referenced
    #: ConfigMaps/Secrets by (kind, namespace, name), and when each outcome was written
    event_sources: Mapping[str, Mapping[str, Any]] = field(default_factory=_empty)
    refs: Mapping[tuple[str, str, str], Mapping[str, Any]] = field(default_factory=_empty)
    outcome_times: Mapping[tuple[ClusterKey, str], datetime] = field(default_factory=_empty)
    #: the shard's view (:meth:`services.manager.sharding.Sharding.view`; empty: unsharded)
    shards: Mapping[str, Any] = field(default_factory=_empty)

    def trigger_errors(self, name: str) -> tuple[str, ...]:
        view = self.views.get((self.triggers[name].kind, name))
        return view.errors if view is not None else ()

    def trigger_clusters(self, name: str) -> tuple[ClusterKey, ...]:
        view = self.views.get((self.triggers[name].kind, name))
        return view.matching_clusters if view is not None else ()


def build(
    *,
    ready: bool,
    version: int,
    clusters: Mapping[ClusterKey, ClusterInfo],
    triggers: Mapping[str, TriggerView],
    views: Mapping[str, DefinitionView],
    profiles: Mapping[str, ProfilePlan],
    reports: Mapping[tuple[ClusterKey, str], MatchSet],
    outcomes: Mapping[tuple[ClusterKey, str], m.ApplyOutcome],
    agents: Mapping[str, m.AgentStatus],
    definition_errors: Mapping[str, str],
    informer_errors: Mapping[tuple[str, str], str],
    failures: Mapping[tuple[str, str], Failure],
    owners: Mapping[tuple[str, str], tuple[str, str]],
    stats: Mapping[str, int],
    event_sources: Mapping[str, Mapping[str, Any]] | None = None,
    refs: Mapping[tuple[str, str, str], Mapping[str, Any]] | None = None,
    outcome_times: Mapping[tuple[ClusterKey, str], datetime] | None = None,
    shards: Mapping[str, Any] | None = None,
) -> Snapshot:
    """A snapshot of the given state (call it on the loop that owns the state)."""
    by_trigger: dict[str, list[str]] = {}
    for name, plan in profiles.items():
        by_trigger.setdefault(plan.trigger, []).append(name)
    by_profile: dict[str, list[tuple[ClusterKey, m.ApplyOutcome]]] = {}
    for (cluster, profile), outcome in outcomes.items():
        by_profile.setdefault(profile, []).append((cluster, outcome))
    failing = []
    for (bucket, key), f in sorted(failures.items()):
        owner = owners.get((bucket, key))
        failing.append(
            FailureView(
                bucket,
                key,
                f.message,
                f.attempts,
                f.since,
                f.terminal,
                f.retry_in,
                f"{owner[0]}/{owner[1]}" if owner else "",
            )
        )
    return Snapshot(
        ready=ready,
        version=version,
        clusters=MappingProxyType(dict(clusters)),
        triggers=MappingProxyType(dict(triggers)),
        views=MappingProxyType({(v.kind, v.name): v for v in views.values()}),
        profiles=MappingProxyType(dict(profiles)),
        profiles_by_trigger=MappingProxyType(
            {t: tuple(sorted(names)) for t, names in by_trigger.items()}
        ),
        reports=MappingProxyType(dict(reports)),
        outcomes=MappingProxyType(
            {
                p: tuple(sorted(entries, key=lambda e: str(e[0])))
                for p, entries in by_profile.items()
            }
        ),
        agents=MappingProxyType(dict(agents)),
        definition_errors=tuple(sorted(definition_errors.items())),
        informer_errors=tuple(sorted((f"{g[0]}/{g[1]}", e) for g, e in informer_errors.items())),
        failures=tuple(failing),
        stats=MappingProxyType(dict(stats)),
        event_sources=MappingProxyType(dict(event_sources or {})),
        refs=MappingProxyType(dict(refs or {})),
        outcome_times=MappingProxyType(dict(outcome_times or {})),
        shards=MappingProxyType(dict(shards or {})),
    )
