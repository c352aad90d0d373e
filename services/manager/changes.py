"""What one reconcile changed in the manager's outputs (pure data).

:meth:`services.manager.state.State.reconcile` fills a :class:`Changes`;
:class:`services.manager.publication.Publication` turns it into keys to publish, hold or
withdraw. Besides the differences it carries a read-only view of the triggers as they are at
the end of the reconcile (the withdrawal guard reads their kind and confirmation from it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from services.manager.model import ClusterKey, ProfilePlan

if TYPE_CHECKING:
    from services.manager.planning import TriggerView


def _no_triggers() -> Mapping[str, TriggerView]:
    return MappingProxyType({})


@dataclass(frozen=True)
class DesiredEntry:
    """What one destination cluster must run for one profile."""

    cluster: ClusterKey
    profile: str
    objects: tuple[Any, ...]  # DeployedObject
    sync_mode: str
    stop_matching_behavior: str
    labels: tuple[tuple[str, str], ...]
    charts: tuple[Any, ...] = ()  # DeployedChart
    tier: int = 100  # the profile's spec.tier
    continue_on_conflict: bool = False  # the profile's spec.continueOnConflict
    #: the source cluster of the pair that made it (whose shard publishes it); not part of
    #: what is published, so not compared
    source: ClusterKey | None = field(default=None, compare=False)


@dataclass
class Changes:
    assignments_put: dict[tuple[ClusterKey, str], dict[str, Any]] = field(default_factory=dict)
    assignments_deleted: set[tuple[ClusterKey, str]] = field(default_factory=set)
    desired_put: dict[tuple[ClusterKey, str], DesiredEntry] = field(default_factory=dict)
    desired_deleted: set[tuple[ClusterKey, str]] = field(default_factory=set)
    profiles_put: dict[str, ProfilePlan] = field(default_factory=dict)
    profiles_deleted: set[str] = field(default_factory=set)
    status_changed: bool = False
    #: every trigger by name as of this reconcile (a trigger absent here was deleted: its
    #: withdrawals are never held); not a change: ignored by ``bool()``
    triggers: Mapping[str, TriggerView] = field(default_factory=_no_triggers)
    #: definitions, referenced objects or clusters changed (every pair was re-selected):
    #: what follows from them arrives over the next moments; not a change either
    reselected: bool = False

    def __bool__(self) -> bool:
        return any(v for k, v in vars(self).items() if k not in _CONTEXT)


_CONTEXT = frozenset({"triggers", "reselected"})
