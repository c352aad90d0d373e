"""JetStream resources of the contract, declared as data, and :func:`ensure` to create them.

One stream carries the per-change events for external consumers; the KV buckets hold the
level-triggered state every service converges from (latest value per key).

=====================  ==========================================  =========  ==============
resource               keys / subjects                             writer     reader
=====================  ==========================================  =========  ==============
``RIPPLE_EVENTS``      ``ripple.v1.events.<ns>.<cluster>.<src>``   agents     anyone
``ripple-assignments`` ``<ns>.<cluster>.<eventsource>``            manager    that agent
``ripple-reports``     ``<ns>.<cluster>.<eventsource>``            agents     consumers
``ripple-matches``     ``<ns>.<cluster>.<eventsource>[.<object>]`` agents     manager, ...
``ripple-desired``     ``<ns>.<cluster>.<profile>``                manager    that agent
``ripple-outcomes``    ``<ns>.<cluster>.<profile>``                agents     manager, ...
``ripple-agents``      ``<ns>.<cluster>``                          agents     manager, ...
``ripple-leases``      ``<role>`` (``manager[-<shard>]``, ...)     replicas   replicas
=====================  ==========================================  =========  ==============

No stream or bucket accepts a ``Nats-Rollup`` header (:data:`ALLOW_ROLLUP`): a rollup on a
writer's own key would otherwise erase every key of the stream (``all``). Nothing in Ripple
purges a key (a key is deleted with a delete marker), so nothing needs one. The key
:data:`PROBE_KEY` is reserved in every bucket: never written, readable by every user that
reads the bucket, so that binding to a bucket needs no ``STREAM.INFO``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from shared.contract.limits import MAX_PAYLOAD
from shared.contract.subjects import EVENTS_ROOT

log = logging.getLogger(__name__)

Storage = Literal["file", "memory"]

ALLOW_ROLLUP = False
"""Whether the contract's streams accept ``Nats-Rollup`` headers: never (see the module doc)."""

PROBE_KEY = "PROBE"
"""The reserved key of every bucket (one token, upper case: no key of the contract spells
it). It is never written; a direct get of it answers "not found" when the bucket exists and
"no responders" when it does not (:func:`shared.bus.binding.bind`)."""


@dataclass(frozen=True)
class StreamSpec:
    """A JetStream stream (limits retention)."""

    name: str
    subjects: tuple[str, ...]
    description: str
    writers: str
    readers: str
    max_age: float
    """Seconds a message is kept."""
    duplicate_window: float
    """Seconds during which a repeated ``Nats-Msg-Id`` is dropped."""
    max_msg_size: int = MAX_PAYLOAD
    max_bytes: int = -1
    retention: Literal["limits"] = "limits"


@dataclass(frozen=True)
class BucketSpec:
    """A JetStream KV bucket (latest value per key, ``history`` revisions kept)."""

    bucket: str
    key_format: str
    description: str
    writers: str
    readers: str
    history: int = 1
    max_value_size: int = MAX_PAYLOAD
    ttl: float | None = None
    """Seconds after which a value expires (None: never)."""
    key_tokens: tuple[int, ...] | None = (1,)
    """The shapes of its keys: how many tokens follow the cluster's two
    (``<clusterns>.<cluster>``); None for a bucket whose keys are not a cluster's. A key of
    another shape is refused to a writer by its permissions
    (:mod:`shared.contract.permissions`)."""

    @property
    def stream_name(self) -> str:
        """The stream backing the bucket (``KV_<bucket>``)."""
        return f"KV_{self.bucket}"


EVENTS = StreamSpec(
    name="RIPPLE_EVENTS",
    subjects=(f"{EVENTS_ROOT}.>",),
    description="Per-change resource events (matched/updated/unmatched) for external consumers",
    writers="agents (each only its own cluster's subjects)",
    readers="anyone (external consumers); each agent reads back its own",
    max_age=24 * 3600.0,
    duplicate_window=120.0,
)
ASSIGNMENTS = BucketSpec(
    bucket="ripple-assignments",
    key_format="<clusterns>.<cluster>.<eventsource>",
    description="EventSources assigned to a cluster (the full EventSource object)",
    writers="manager",
    readers="the cluster's agent (its own keys only)",
)
REPORTS = BucketSpec(
    bucket="ripple-reports",
    key_format="<clusterns>.<cluster>.<eventsource>",
    description=(
        "Latest EventReport snapshot per cluster and EventSource (deprecated: coalesced; "
        "Ripple's services read ripple-matches)"
    ),
    writers="agents (their own cluster's keys only)",
    readers="external consumers (deprecated)",
)
MATCHES = BucketSpec(
    bucket="ripple-matches",
    key_format=(
        "<clusterns>.<cluster>.<eventsource> (head) and "
        "<clusterns>.<cluster>.<eventsource>.<apiVersion>.<kind>.<namespace>.<name> (entry)"
    ),
    description="Matching sets as deltas: one entry per matching object, one head per set",
    writers="agents (their own cluster's keys only)",
    readers="manager, reporter, external consumers",
    key_tokens=(1, 5),
)
DESIRED = BucketSpec(
    bucket="ripple-desired",
    key_format="<clusterns>.<cluster>.<profile>",
    description="Desired state per destination cluster and profile",
    writers="manager",
    readers="the destination cluster's agent (its own keys only)",
)
OUTCOMES = BucketSpec(
    bucket="ripple-outcomes",
    key_format="<clusterns>.<cluster>.<profile>",
    description="Apply outcome per cluster and profile",
    writers="agents (their own cluster's keys only)",
    readers="manager, reporter",
)
AGENTS = BucketSpec(
    bucket="ripple-agents",
    key_format="<clusterns>.<cluster>",
    description="Agent liveness and status per cluster",
    writers="agents (their own key only)",
    readers="manager, reporter",
    key_tokens=(0,),
)

PROFILES = BucketSpec(
    bucket="ripple-profiles",
    key_format="<clusterns>.<cluster>.<profile>",
    description="Generated ClusterProfiles and instantiated ConfigMaps per source cluster",
    writers="manager",
    readers="reporter, external consumers",
)

STATUS = BucketSpec(
    bucket="ripple-status",
    key_format="<kind>.<name>",
    description="Status of EventSources, EventTriggers and EventBasedAddOns",
    writers="manager",
    readers="reporter, external consumers",
    key_tokens=None,
)

SHARDS = BucketSpec(
    bucket="ripple-shards",
    key_format="<group>.<member>",
    description=(
        "Manager shards alive per group (renewed every ttl/3; a clean stop deletes its key). "
        "Provisioned by sharded managers only (not in BUCKETS)"
    ),
    writers="manager shards (their own key)",
    readers="manager shards",
    ttl=3600.0,
    key_tokens=None,
)

LEASES = BucketSpec(
    bucket="ripple-leases",
    key_format="<role>: manager, manager-<shard>, reporter",
    description=(
        "Which replica of a role is active (io.ripple.lease.v1): renewed by compare-and-set "
        "on its revision, taken over by a standby after ttl seconds of silence"
    ),
    writers="manager and reporter replicas (the reporter only its own key)",
    readers="manager and reporter replicas",
    key_tokens=None,
)

STREAMS: tuple[StreamSpec, ...] = (EVENTS,)
BUCKETS: tuple[BucketSpec, ...] = (
    ASSIGNMENTS,
    REPORTS,
    MATCHES,
    DESIRED,
    OUTCOMES,
    AGENTS,
    PROFILES,
    STATUS,
    LEASES,
)
