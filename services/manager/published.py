"""What the manager's buckets held when it started (pure data): every key, and the (trigger,
source cluster) each desired state and profile was made for; what is unknown after a restart.
:class:`services.manager.publication.Publication` starts from it (a restart never withdraws
on unknown)."""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from services.manager.model import ClusterKey
from services.manager.outputs import Item
from shared.api.vocabulary import CAPI, SVELTOS, TRIGGER_LABEL_SETS, ClusterType
from shared.contract import messages as m

Pair = tuple[str, ClusterKey]  # (trigger name, source cluster)


@dataclass(frozen=True)
class Published:
    """What the buckets held when the manager started: every key (unreadable values
    included: their state is unknown, not absent) and, for desired states and profiles, the
    (trigger, source cluster) each was made for (None when its labels do not say) and the
    profile's name."""

    keys: Mapping[str, AbstractSet[str]] = field(default_factory=dict)
    pairs: Mapping[Item, Pair | None] = field(default_factory=dict)
    profiles: Mapping[Item, str] = field(default_factory=dict)
    #: the cluster each readable key belongs to for sharding (:func:`cluster_of_value`)
    clusters: Mapping[Item, ClusterKey] = field(default_factory=dict)


class Unknown(NamedTuple):
    """What the manager does not know after a restart: the pairs whose report is unknown,
    and the profiles whose instantiation fails (no last good version in memory yet)."""

    pairs: AbstractSet[Pair] = frozenset()
    failing: AbstractSet[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.pairs or self.failing)


def pair_of_labels(labels: Mapping[str, str]) -> Pair | None:
    """The (trigger, source cluster) a published desired state was made for, from the
    Sveltos labels it carries (None when they are missing)."""
    for keys in TRIGGER_LABEL_SETS:
        trigger = labels.get(keys.trigger_name)
        if trigger:
            ctype = CAPI if labels.get(keys.cluster_type) == ClusterType.CAPI else SVELTOS
            cluster = ClusterKey(
                labels.get(keys.cluster_namespace, ""), labels.get(keys.cluster_name, ""), ctype
            )
            return trigger, cluster
    return None


def cluster_of_value(data: Any) -> ClusterKey | None:
    """The cluster a published value belongs to when the manager is sharded: a desired
    state's source cluster (its labels), a profile's source cluster, an assignment's
    cluster; None for anything else (a status, an unreadable value)."""
    if isinstance(data, m.DesiredState):
        pair = pair_of_labels(data.labels)
        return pair[1] if pair is not None else None
    if isinstance(data, (m.ProfileState, m.Assignment)):
        c = data.cluster
        return ClusterKey(c.namespace, c.name, c.type)
    return None


__all__ = ["Pair", "Published", "Unknown", "cluster_of_value", "pair_of_labels"]
