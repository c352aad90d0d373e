"""The manager's NATS side at start-up: provisioning, the buckets, what is published.

The manager provisions every stream and bucket of the contract (agents and the reporter
wait for them), opens its buckets, and reads what its buckets hold before it publishes
anything: the keys (unreadable values included), the pair each desired state and profile was
made for, and a digest of each body (an unchanged value is not put again after a restart).
Every step is retried with backoff while NATS is unreachable or answers late; a stop
cancels it at any moment.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from services.manager.model import ClusterKey
from services.manager.outputs import ASSIGNMENTS, DESIRED, PROFILES, STATUS, Item
from services.manager.publication import Pair, Published, pair_of_labels
from services.manager.published import cluster_of_value
from services.manager.publisher import Bucket, body_digest
from shared.bus import provision as bus_provision
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.contract import streams
from shared.contract.streams import Storage

log = logging.getLogger(__name__)

T = TypeVar("T")


async def retrying(what: str, step: Callable[[], Awaitable[T]], max_delay: float = 5.0) -> T:
    """``await step()`` until it succeeds, backing off (0.2 s doubling to ``max_delay``,
    jittered); every failure is logged (the first ones, then one in twenty)."""
    delay, attempt = 0.2, 0
    while True:
        attempt += 1
        try:
            return await step()
        except Exception as exc:
            level = logging.WARNING if attempt <= 3 or attempt % 20 == 0 else logging.DEBUG
            log.log(level, "%s failed (attempt %d, retrying): %s", what, attempt, exc,
                    extra={"obj": "manager"})  # fmt: skip
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, max_delay)


async def provision(js: Any, storage: Storage, replicas: int | None = None) -> None:
    """Create or update every stream and bucket of the contract with ``replicas``
    (``--stream-replicas``; None: keep existing ones' replicas), retried: a refusal (more
    replicas than servers up) is logged with why, and tried again."""
    await retrying(
        "provisioning streams and buckets",
        lambda: bus_provision.ensure(js, storage, replicas),
    )
    log.info("streams and buckets provisioned", extra={"obj": "manager"})


@dataclass(frozen=True)
class Stores:
    assignments: KVStore[m.AssignmentEvent]
    matches: KVStore[m.MatchesEvent]
    desired: KVStore[m.DesiredStateEvent]
    outcomes: KVStore[m.ApplyOutcomeEvent]
    profiles: KVStore[m.ProfileEvent]
    agents: KVStore[m.AgentStatusEvent]
    status: KVStore[m.DefinitionStatusEvent]

    @classmethod
    async def open(cls, js: Any) -> Stores:
        async def one(spec: streams.BucketSpec, expected: Any) -> Any:
            return await retrying(
                f"opening {spec.bucket}", lambda: KVStore.open(js, spec, expected)
            )

        return cls(
            assignments=await one(streams.ASSIGNMENTS, m.AssignmentEvent),
            matches=await one(streams.MATCHES, (m.MatchEvent, m.MatchHeadEvent)),
            desired=await one(streams.DESIRED, m.DesiredStateEvent),
            outcomes=await one(streams.OUTCOMES, m.ApplyOutcomeEvent),
            profiles=await one(streams.PROFILES, m.ProfileEvent),
            agents=await one(streams.AGENTS, m.AgentStatusEvent),
            status=await one(streams.STATUS, m.DefinitionStatusEvent),
        )

    def buckets(self) -> dict[str, Bucket]:
        """The buckets the manager writes, as the publisher uses them."""
        return {
            ASSIGNMENTS: self.assignments.kv,
            DESIRED: self.desired.kv,
            PROFILES: self.profiles.kv,
            STATUS: self.status.kv,
        }

    def owned(self) -> dict[str, KVStore[Any]]:
        """The stores of the buckets the manager writes, by publication bucket."""
        return {
            ASSIGNMENTS: self.assignments,
            DESIRED: self.desired,
            PROFILES: self.profiles,
            STATUS: self.status,
        }

    def read(self) -> list[KVStore[Any]]:
        """Every store the manager reads: its inputs, then its own buckets (watched too)."""
        return [self.matches, self.outcomes, self.agents, *self.owned().values()]

    def invalid_messages(self) -> int:
        """Unreadable values (and keys outside the contract) skipped by the manager's
        watches of its inputs."""
        return self.matches.skipped + self.outcomes.skipped + self.agents.skipped

    def metrics(self) -> dict[str, tuple[str, str, float]]:
        """Per-bucket counters of what was skipped (``kv_<bucket>_...``)."""
        out: dict[str, tuple[str, str, float]] = {}
        for store in self.read():
            out.update(store.metrics())
        return out

    def problems(self) -> list[tuple[str, str]]:
        """``(bucket/key, why)`` of every value or key that cannot be read now (bounded per
        bucket), for REST ``/v1/errors``."""
        return [
            (f"{store.spec.bucket}/{key}", why)
            for store in self.read()
            for key, why in sorted(store.problems.items())
        ]


@dataclass(frozen=True)
class Start:
    published: Published
    seeds: dict[Item, bytes]


async def read_published(stores: Stores) -> Start:
    """What the manager's buckets hold now (retried until read completely)."""
    keys: dict[str, set[str]] = {}
    pairs: dict[Item, Pair | None] = {}
    profiles: dict[Item, str] = {}
    seeds: dict[Item, bytes] = {}
    clusters: dict[Item, ClusterKey] = {}
    owned: list[tuple[str, KVStore[Any]]] = [
        (ASSIGNMENTS, stores.assignments),
        (DESIRED, stores.desired),
        (PROFILES, stores.profiles),
        (STATUS, stores.status),
    ]
    for bucket, store in owned:
        values = await retrying(f"reading {bucket}", store.items)
        keys[bucket] = set(values) | set(store.invalid)
        for key, envelope in values.items():
            item = (bucket, key)
            data = envelope.data
            seeds[item] = body_digest(data)
            cluster = cluster_of_value(data)
            if cluster is not None:
                clusters[item] = cluster
            if isinstance(data, m.DesiredState):
                pairs[item] = pair_of_labels(data.labels)
                profiles[item] = data.profile_name
            elif isinstance(data, m.ProfileState):
                c = data.cluster
                pairs[item] = (data.trigger, ClusterKey(c.namespace, c.name, c.type))
                profiles[item] = data.profile_name
        for key in store.invalid:
            pairs[(bucket, key)] = None  # unreadable: whose it is, is unknown
    log.info(
        "found %s",
        ", ".join(f"{len(k)} keys in {b}" for b, k in keys.items()),
        extra={"obj": "manager"},
    )
    return Start(Published(keys, pairs, profiles, clusters), seeds)
