"""Per-cluster NATS permissions: what one cluster's agent may publish and subscribe to.

An agent may publish only its own cluster's events, reports, outcomes and status, and may
read (direct get by key) only its own assignments and desired state. A spoofed identity --
agent A writing cluster B's report key -- is rejected by the server with a permissions
violation. :func:`authorization_block` renders a nats-server ``authorization`` block with
one user per cluster (see docs/nats-contract.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.contract import streams
from shared.contract.subjects import EVENTS_ROOT, ClusterRef

JS_API = "$JS.API"


def agent_inbox_prefix(cluster: ClusterRef) -> str:
    """The inbox prefix an agent connects with (``inbox_prefix=`` in nats-py), so that it
    can subscribe to its own replies only: ``_INBOX.<clusterns>.<cluster>``."""
    return f"_INBOX.{cluster.token}"


def _kv(bucket: streams.BucketSpec, suffix: str) -> str:
    return f"$KV.{bucket.bucket}.{suffix}"


@dataclass(frozen=True)
class Permissions:
    """Allowed publish and subscribe subjects of one NATS user."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def agent_permissions(cluster: ClusterRef, *, watch_compat: bool = False) -> Permissions:
    """The permissions of ``cluster``'s agent.

    Writes are always restricted to the cluster's own subjects and keys. Reads by direct get
    are restricted to its own keys. Watching needs a consumer: by default only consumers
    whose filter is in the API subject (``$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>``)
    are allowed, as :class:`shared.bus.kv.KVStore` watches create them. nats-py's own KV
    watch uses the unfiltered ``$JS.API.CONSUMER.CREATE.<stream>``; ``watch_compat=True``
    also allows that for the assignments and desired-state buckets, at the price of letting
    the agent read other clusters' values of those two buckets."""
    own = cluster.token
    publish = [
        # its own per-change events, report/outcome keys and status key
        f"{EVENTS_ROOT}.{own}.>",
        _kv(streams.REPORTS, f"{own}.>"),
        _kv(streams.OUTCOMES, f"{own}.>"),
        _kv(streams.AGENTS, own),
        # binding to the buckets (stream info) and direct reads of its own keys
        *(f"{JS_API}.STREAM.INFO.{b.stream_name}" for b in streams.BUCKETS),
        f"{JS_API}.INFO",
        *(
            f"{JS_API}.DIRECT.GET.{b.stream_name}.{_kv(b, f'{own}.>')}"
            for b in (streams.ASSIGNMENTS, streams.DESIRED, streams.REPORTS, streams.OUTCOMES)
        ),
        f"{JS_API}.DIRECT.GET.{streams.AGENTS.stream_name}.{_kv(streams.AGENTS, own)}",
        # watching its own keys through consumers whose filter is in the API subject
        *(
            f"{JS_API}.CONSUMER.CREATE.{b.stream_name}.*.{_kv(b, f'{own}.>')}"
            for b in (streams.ASSIGNMENTS, streams.DESIRED)
        ),
        *(
            f"{JS_API}.CONSUMER.{op}.{b.stream_name}.*"
            for b in (streams.ASSIGNMENTS, streams.DESIRED)
            for op in ("INFO", "DELETE")
        ),
        "$JS.FC.>",  # flow-control replies of push consumers
    ]
    if watch_compat:
        publish += [
            f"{JS_API}.CONSUMER.CREATE.{b.stream_name}"
            for b in (streams.ASSIGNMENTS, streams.DESIRED)
        ]
    subscribe = [f"{agent_inbox_prefix(cluster)}.>"]
    return Permissions(tuple(publish), tuple(subscribe))


MANAGER_PERMISSIONS = Permissions(publish=(">",), subscribe=(">",))
"""The manager (and reporter) read and write everything."""

READER_PERMISSIONS = Permissions(
    publish=(f"{JS_API}.>", "$JS.FC.>", "$JS.ACK.>"),
    subscribe=(f"{EVENTS_ROOT}.>", "_INBOX.>"),
)
"""An external consumer: subscribe to events, create consumers, read streams.
(``$JS.API.>`` includes stream management: narrow it for untrusted consumers.)"""


@dataclass(frozen=True)
class User:
    """A nats-server user with its permissions."""

    user: str
    password: str
    permissions: Permissions = field(default=MANAGER_PERMISSIONS)


def authorization_block(users: Iterable[User]) -> str:
    """A nats-server ``authorization { users: [...] }`` configuration block."""
    entries = []
    for u in users:
        perms = {
            "publish": {"allow": list(u.permissions.publish)},
            "subscribe": {"allow": list(u.permissions.subscribe)},
        }
        body = json.dumps(perms, indent=2).replace("\n", "\n    ")
        entries.append(
            f"    {{user: {json.dumps(u.user)}, password: {json.dumps(u.password)},\n"
            f"     permissions: {body}}}"
        )
    return "authorization {\n  users: [\n" + "\n".join(entries) + "\n  ]\n}\n"
