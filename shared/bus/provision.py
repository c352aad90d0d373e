"""Provisioning the contract's streams and KV buckets on a JetStream server.

The specs (names, subjects, limits) are data of the contract (:mod:`shared.contract.streams`);
turning them into nats-py ``StreamConfig`` objects and creating or updating them is NATS I/O,
so it lives here. Only the manager (and tests, and the embedded default) call :func:`ensure`.

No stream accepts a ``Nats-Rollup`` header (:data:`shared.contract.streams.ALLOW_ROLLUP`):
:func:`ensure` turns rollups off on streams created by an earlier version too. ``deny_purge``
is left off: the purge API is for the manager and administrators only (no other user's
permissions reach it), and setting it can never be undone (a future compaction of delete
markers, ``purge_deletes``, needs it).

``replicas`` (R3 on a 3-node JetStream cluster): each stream and bucket is stored on that
many servers and survives the loss of a minority of them. ``None`` creates new streams with
one replica and leaves existing ones as they are (an administrator's ``nats stream edit
--replicas`` is kept); a number updates existing streams to it (JetStream moves them).
More replicas than the cluster has servers, or than 1 on a server that is not clustered,
is refused with an :class:`~shared.errors.ExternalError` that says so.
"""

from __future__ import annotations

import logging
from typing import Any

from nats.js import api
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from shared.contract.streams import (
    ALLOW_ROLLUP,
    BUCKETS,
    STREAMS,
    BucketSpec,
    Storage,
    StreamSpec,
)
from shared.errors import ExternalError

log = logging.getLogger(__name__)

MAX_CONSUMERS = 100_000
"""Consumers one stream may have. Every watch is a consumer (each agent watches its keys of
several buckets; hosted agents too), so a bucket has about one per cluster, plus the
services'. nats-server 2.15 caps a stream that sets no limit (or -1) at 1,000 consumers:
fewer than the watches of 1,000 clusters. Existing streams are updated to it."""


def stream_config(spec: StreamSpec, storage: Storage = "file", replicas: int = 1) -> Any:
    """The nats-py ``StreamConfig`` of a stream spec."""
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
        max_consumers=MAX_CONSUMERS,
        num_replicas=replicas,
        allow_rollup_hdrs=ALLOW_ROLLUP,
        deny_purge=False,
    )


def bucket_stream_config(spec: BucketSpec, storage: Storage = "file", replicas: int = 1) -> Any:
    """The nats-py ``StreamConfig`` backing a KV bucket: what ``js.create_key_value`` builds
    (so nats-py's ``js.key_value(bucket)`` works on it), except that rollups are refused
    (nats-py's ``kv.purge`` is refused with them; Ripple deletes keys, it never purges)."""
    duplicate_window = 120.0 if spec.ttl is None else min(120.0, spec.ttl)
    return api.StreamConfig(
        name=spec.stream_name,
        description=spec.description,
        subjects=[f"$KV.{spec.bucket}.>"],
        allow_direct=True,
        allow_rollup_hdrs=ALLOW_ROLLUP,
        deny_delete=True,
        deny_purge=False,
        discard=api.DiscardPolicy.NEW,
        duplicate_window=duplicate_window,
        max_age=spec.ttl,
        max_bytes=-1,
        max_consumers=MAX_CONSUMERS,
        max_msg_size=spec.max_value_size,
        max_msgs=-1,
        max_msgs_per_subject=spec.history,
        num_replicas=replicas,
        storage=_storage(storage),
    )


def _storage(storage: Storage) -> Any:
    return api.StorageType.MEMORY if storage == "memory" else api.StorageType.FILE


async def ensure(js: Any, storage: Storage = "file", replicas: int | None = None) -> None:
    """Create every stream and bucket of the contract, or update them to this definition
    (idempotent). The manager provisions at start-up; agents and the reporter only bind to
    what exists (their NATS users may not administer streams). ``replicas``: see the module
    doc. Changing the storage type of an existing resource, or asking for more replicas
    than there are servers, is refused by the server and raises
    :class:`shared.errors.ExternalError`."""
    if replicas is not None and replicas < 1:
        raise ExternalError(f"stream replicas must be at least 1, not {replicas}")
    want = replicas or 1
    configs = [stream_config(s, storage, want) for s in STREAMS]
    configs += [bucket_stream_config(b, storage, want) for b in BUCKETS]
    for config in configs:
        try:
            try:
                info = await js.stream_info(config.name)
            except NotFoundError:
                await js.add_stream(config)
                log.info(
                    "created stream %s (%d replicas)",
                    config.name,
                    config.num_replicas,
                    extra={"obj": config.name},
                )
            else:
                if replicas is None:
                    config.num_replicas = info.config.num_replicas or 1
                await js.update_stream(config)
                log.debug("stream %s is up to date", config.name, extra={"obj": config.name})
        except JsError as err:
            raise ExternalError(_refused(config, err)) from err


_NOT_CLUSTERED = 10074
"""JetStream's error code for ``replicas > 1 not supported in non-clustered mode``."""
_NO_ROOM = {10005, 10023}
"""``no suitable peers for placement``, ``insufficient resources``: fewer servers (up) than
replicas."""


def _refused(config: Any, err: JsError) -> str:
    why = f"JetStream refused stream {config.name}: {err}"
    code = getattr(err, "err_code", None)
    if config.num_replicas > 1 and code == _NOT_CLUSTERED:
        return (
            f"{why} -- {config.num_replicas} replicas asked (--stream-replicas) but the NATS "
            "server is not part of a JetStream cluster: use 1"
        )
    if config.num_replicas > 1 and code in _NO_ROOM:
        return (
            f"{why} -- {config.num_replicas} replicas asked (--stream-replicas): the JetStream "
            "cluster has fewer servers than that, or some are down"
        )
    return why
