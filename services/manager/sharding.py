"""Manager shards: who owns which source cluster, among the live members of a group (pure).

N manager processes of one group split the (trigger, source cluster) pairs between them: a
pair belongs to the owner of its source cluster, and so do that cluster's assignments and
every desired state and profile the pair makes (their values name the pair). The owner of a
cluster is the live member of highest random weight for it (rendezvous hashing): every
member computes the same owner from the same members, a member joining takes about 1/N of
the clusters from the others and a member leaving hands only its own clusters over.

Sveltos' controller sharding is honoured: a cluster annotated
``sharding.projectsveltos.io/key: K`` belongs to the members started with ``--shard-key K``
(rendezvous among them), the other clusters to the members started without a key. A cluster
whose members are all gone has no owner: nothing of it is published or withdrawn until one
comes back.

Definition statuses (``ripple-status``, one key per definition) are owned the same way, by
key, among every member: one shard writes each status, so a status never flaps between the
views of two shards.

Membership itself (the ``ripple-shards`` bucket, renewals, expiry by the observer's own
clock) is :class:`Members`; the NATS side is :mod:`services.manager.membership`.
No I/O here: unit-tested in milliseconds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from services.manager.model import ClusterKey
from shared.api.vocabulary import SHARD_KEY_ANNOTATION

_TOKEN = re.compile(r"[^A-Za-z0-9_-]")


def member_token(text: str) -> str:
    """``text`` as one NATS key token (letters, digits, ``-``, ``_``)."""
    return _TOKEN.sub("-", text)[:120] or "member"


class MemberInfo(BaseModel):
    """The value of a member's key in ``ripple-shards`` (``<group>.<member>``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    member: str
    shard_key: str = ""
    api: str = ""  # where its REST API answers (informative)


class StatusPart(BaseModel):
    """A shard's part of the definitions' statuses (``ripple-shards`` key
    ``<group>.<member>.status``): the problems it sees, by ``ripple-status`` key -- its own
    pairs' instantiation errors, its publications, its clusters' evaluation errors. The
    shard writing a status merges the others' parts into it (:func:`merge_errors`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    member: str
    errors: dict[str, list[str]] = {}


def merge_errors(own: Iterable[str], others: Iterable[Iterable[str]]) -> tuple[str, ...]:
    """``own`` lines, then the other shards' lines not already there (in order): the
    selection's lines, the same on every shard, appear once."""
    out = list(own)
    seen = set(out)
    for lines in others:
        for line in lines:
            if line not in seen:
                seen.add(line)
                out.append(line)
    return tuple(out)


@dataclass(frozen=True, order=True)
class Member:
    id: str
    shard_key: str = ""


def weight(member: str, token: str) -> int:
    """The rendezvous weight of ``member`` for ``token`` (stable across processes)."""
    raw = hashlib.blake2b(f"{member}\x00{token}".encode(), digest_size=8).digest()
    return int.from_bytes(raw, "big")


def rendezvous(members: Iterable[str], token: str) -> str | None:
    """The member of highest weight for ``token`` (None: no member)."""
    best: tuple[int, str] | None = None
    for member in members:
        w = (weight(member, token), member)
        if best is None or w > best:
            best = w
    return best[1] if best else None


def cluster_token(cluster: ClusterKey) -> str:
    return f"{cluster.type}:{cluster.namespace}/{cluster.name}"


def shard_key_of(obj: Mapping[str, Any] | None) -> str:
    """A cluster object's ``sharding.projectsveltos.io/key`` annotation ("" when none)."""
    meta = (obj or {}).get("metadata") or {}
    annotations = meta.get("annotations") or {}
    value = annotations.get(SHARD_KEY_ANNOTATION, "") if isinstance(annotations, Mapping) else ""
    return value if isinstance(value, str) else ""


@dataclass
class Sharding:
    """This member's view of its group: the live members (None until known) and the shard
    key of every cluster seen (kept after a cluster is deleted: its withdrawal belongs to
    the shard that owned it)."""

    me: Member
    members: tuple[Member, ...] | None = None
    pins: dict[ClusterKey, str] = field(default_factory=dict)
    rebalances: int = 0
    #: bumped whenever ownership may have changed (members, a cluster's shard key)
    epoch: int = 0
    _owners: dict[ClusterKey, str | None] = field(default_factory=dict)
    _owners_epoch: int = -1

    @property
    def known(self) -> bool:
        """Membership is known and lists this member (until then the shard holds)."""
        return self.members is not None and self.me in self.members

    def set_members(self, members: Iterable[Member]) -> bool:
        """The live members now; True when they changed (ownership is recomputed)."""
        new = tuple(sorted(set(members)))
        if new == self.members:
            return False
        if self.members is not None:
            self.rebalances += 1
        self.members = new
        self.epoch += 1
        return True

    def pin(self, cluster: ClusterKey, shard_key: str) -> bool:
        """Record ``cluster``'s shard key; True when it changed."""
        old = self.pins.get(cluster, "")
        self.pins[cluster] = shard_key
        if old == shard_key:
            return False
        self.epoch += 1
        return True

    def owner(self, cluster: ClusterKey) -> str | None:
        """The member owning ``cluster`` (None: unknown membership, or no member for its
        shard key)."""
        if self.members is None:
            return None
        if self._owners_epoch != self.epoch:  # memoised per epoch (asked per key and change)
            self._owners.clear()
            self._owners_epoch = self.epoch
        if cluster not in self._owners:
            key = self.pins.get(cluster, "")
            self._owners[cluster] = rendezvous(
                (m.id for m in self.members if m.shard_key == key), cluster_token(cluster)
            )
        return self._owners[cluster]

    def owns(self, cluster: ClusterKey) -> bool:
        return self.owner(cluster) == self.me.id and self.known

    def owns_status(self, key: str) -> bool:
        """Whether this member writes the definition status of ``ripple-status`` key ``key``."""
        if not self.known or self.members is None:
            return False
        return rendezvous((m.id for m in self.members), f"status:{key}") == self.me.id

    def select(
        self, pairs: Mapping[tuple[str, ClusterKey], str], assignments: Mapping[Any, Any]
    ) -> tuple[dict[tuple[str, ClusterKey], str], dict[Any, Any]]:
        """The pairs (trigger, source cluster) and assignments (keyed (cluster, ...)) of
        the clusters this shard owns."""
        return (
            {p: es for p, es in pairs.items() if self.owns(p[1])},
            {k: v for k, v in assignments.items() if self.owns(k[0])},
        )

    def owned(self, clusters: Iterable[ClusterKey]) -> list[ClusterKey]:
        return sorted((c for c in clusters if self.owns(c)), key=cluster_token)

    def view(self, clusters: Iterable[ClusterKey]) -> dict[str, Any]:
        """What REST ``/v1/shards`` shows: this member, the members, who owns each cluster."""
        return {
            "me": self.me.id,
            "shardKey": self.me.shard_key,
            "known": self.known,
            "members": [{"id": m.id, "shardKey": m.shard_key} for m in (self.members or ())],
            "rebalances": self.rebalances,
            "owners": {str(c): self.owner(c) for c in sorted(clusters, key=cluster_token)},
        }


def shard_metrics(
    sharding: Sharding, clusters: Iterable[ClusterKey]
) -> dict[str, tuple[str, str, float]]:
    """``/metrics`` of a shard: members seen, clusters owned, rebalances."""
    members = sharding.members or ()
    return {
        "shard_members": ("gauge", "Live members of this shard's group", len(members)),
        "shard_owned_clusters": (
            "gauge",
            "Registered clusters this shard owns (plans and publishes)",
            len(sharding.owned(clusters)),
        ),
        "shard_rebalances_total": (
            "counter",
            "Changes of the group's live members since this shard started",
            sharding.rebalances,
        ),
        "shard_known": (
            "gauge",
            "1 when membership is known and lists this shard (0: it holds)",
            float(sharding.known),
        ),
    }


@dataclass
class Members:
    """Who is alive, by this observer's own monotonic clock: a key seen (put) at ``t`` is
    alive until ``t + ttl``; a deleted key is gone at once (a clean stop). Pure: the shell
    feeds the watch and the clock."""

    ttl: float
    seen: dict[str, tuple[Member, float]] = field(default_factory=dict)
    synced: bool = False

    def put(self, key: str, member: Member, now: float) -> None:
        self.seen[key] = (member, now)

    def delete(self, key: str) -> None:
        self.seen.pop(key, None)

    def alive(self, now: float) -> tuple[Member, ...] | None:
        """The live members (None until the watch delivered the current values)."""
        if not self.synced:
            return None
        return tuple(sorted({m for m, t in self.seen.values() if now - t < self.ttl}))

    def next_expiry(self, now: float) -> float:
        """Seconds until the next live member expires (``ttl`` when none)."""
        left = [t + self.ttl - now for _, t in self.seen.values() if t + self.ttl > now]
        return min(left, default=self.ttl)


__all__ = [
    "Member",
    "MemberInfo",
    "Members",
    "Sharding",
    "StatusPart",
    "cluster_token",
    "member_token",
    "merge_errors",
    "rendezvous",
    "shard_key_of",
    "shard_metrics",
    "weight",
]
