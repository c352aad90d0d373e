"""JetStream resources of the contract, declared as data, and :func:`ensure` to create them.

One stream carries the per-change events for external consumers; five KV buckets hold the
level-triggered state every service converges from (latest value per key).

=====================  ==========================================  =========  ==============
resource               keys / subjects                             writer     reader
=====================  ==========================================  =========  ==============
``RIPPLE_EVENTS``      ``ripple.v1.events.<ns>.<cluster>.<src>``   agents     anyone
``ripple-assignments`` ``<ns>.<cluster>.<eventsource>``            manager    that agent
``ripple-reports``     ``<ns>.<cluster>.<eventsource>``            agents     manager, ...
``ripple-desired``     ``<ns>.<cluster>.<profile>``                manager    that agent
``ripple-outcomes``    ``<ns>.<cluster>.<profile>``                agents     manager, ...
``ripple-agents``      ``<ns>.<cluster>``                          agents     manager, ...
=====================  ==========================================  =========  ==============
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from shared.contract.limits import MAX_PAYLOAD
from shared.contract.subjects import EVENTS_ROOT

log = logging.getLogger(__name__)

Storage = Literal["file", "memory"]


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

    @property
    def stream_name(self) -> str:
        """The stream backing the bucket (``KV_<bucket>``)."""
        return f"KV_{self.bucket}"


EVENTS = StreamSpec(
    name="RIPPLE_EVENTS",
    subjects=(f"{EVENTS_ROOT}.>",),
    description="Per-change resource events (matched/updated/unmatched) for external consumers",
    writers="agents (each only its own cluster's subjects)",
    readers="anyone (external consumers, the reporter)",
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
    description="Latest EventReport snapshot per cluster and EventSource",
    writers="agents (their own cluster's keys only)",
    readers="manager, reporter",
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
)

STREAMS: tuple[StreamSpec, ...] = (EVENTS,)
BUCKETS: tuple[BucketSpec, ...] = (
    ASSIGNMENTS,
    REPORTS,
    DESIRED,
    OUTCOMES,
    AGENTS,
    PROFILES,
    STATUS,
)


# -- NATS I/O (debt) ------------------------------------------------------------------------
# stream_config, bucket_stream_config and ensure build nats-py objects and talk to JetStream:
# they belong in shared.bus, with their callers (import-linter's "shared.contract does no I/O"
# contract ignores exactly this module's nats imports until they move). nats-py is imported
# inside the functions, so importing the contract never loads it.


def stream_config(spec: StreamSpec, storage: Storage = "file") -> Any:
    """The nats-py ``StreamConfig`` of a stream spec."""
    from nats.js import api

    return api.StreamConfig(
        name=spec.name,
        description=spec.description,
        subjects=list(spec.subjects),
        retention=api.RetentionPolicy.LIMITS,
        max_age=spec.max_age,
        max_bytes=spec.max_bytes,
        max_msg_size=spec.max_msg_size,
        duplicate_window=spec.duplicate_window,
        storage=_storage(storage),
        discard=api.DiscardPolicy.OLD,
        num_replicas=1,
    )


def bucket_stream_config(spec: BucketSpec, storage: Storage = "file") -> Any:
    """The nats-py ``StreamConfig`` backing a KV bucket, identical to what
    ``js.create_key_value`` builds (so ``js.key_value(bucket)`` works on it)."""
    from nats.js import api

    duplicate_window = 120.0 if spec.ttl is None else min(120.0, spec.ttl)
    return api.StreamConfig(
        name=spec.stream_name,
        description=spec.description,
        subjects=[f"$KV.{spec.bucket}.>"],
        allow_direct=True,
        allow_rollup_hdrs=True,
        deny_delete=True,
        discard=api.DiscardPolicy.NEW,
        duplicate_window=duplicate_window,
        max_age=spec.ttl,
        max_bytes=-1,
        max_consumers=-1,
        max_msg_size=spec.max_value_size,
        max_msgs=-1,
        max_msgs_per_subject=spec.history,
        num_replicas=1,
        storage=_storage(storage),
    )


def _storage(storage: Storage) -> Any:
    from nats.js import api

    return api.StorageType.MEMORY if storage == "memory" else api.StorageType.FILE


async def ensure(js: Any, storage: Storage = "file") -> None:
    """Create every stream and bucket of the contract, or update them to this definition
    (idempotent; safe to call from every service at start-up). Changing the storage type of
    an existing resource is refused by the server and raises
    :class:`shared.errors.ExternalError`."""
    from nats.js.errors import Error as JsError
    from nats.js.errors import NotFoundError

    from shared.errors import ExternalError

    configs = [stream_config(s, storage) for s in STREAMS]
    configs += [bucket_stream_config(b, storage) for b in BUCKETS]
    for config in configs:
        try:
            try:
                await js.stream_info(config.name)
            except NotFoundError:
                await js.add_stream(config)
                log.info("created stream %s", config.name, extra={"obj": config.name})
            else:
                await js.update_stream(config)
                log.debug("stream %s is up to date", config.name, extra={"obj": config.name})
        except JsError as err:
            raise ExternalError(f"JetStream refused stream {config.name}: {err}") from err
