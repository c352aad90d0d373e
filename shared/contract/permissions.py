"""NATS users and their permissions: one user per cluster's agent, the manager, the reporter
and an administrator.

An agent may publish only its own cluster's events, reports, matching sets, outcomes and status, and may
read (direct get by key, or a consumer filtered to its keys) only its own assignments,
desired state, reports, matching sets, outcomes and events. A spoofed identity -- agent A writing cluster B's report
key -- is rejected by the server with a permissions violation. The reporter reads the buckets
it mirrors and writes nothing. The manager provisions streams and buckets and reads and
writes everything. :func:`authorization_block` renders a nats-server ``authorization`` block
(see docs/nats-contract.md, section 7).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.contract import streams
from shared.contract.subjects import EVENTS_ROOT, ROOT, ClusterRef

JS_API = "$JS.API"

REPORTER_INBOX_PREFIX = "_INBOX.REPORTER"
"""The reporter's inbox prefix (``inbox_prefix=`` in nats-py). Upper case: no cluster's
namespace token can spell it, so no agent's inbox permission covers it."""

REPORTER_BUCKETS: tuple[streams.BucketSpec, ...] = (
    streams.MATCHES,
    streams.PROFILES,
    streams.STATUS,
    streams.OUTCOMES,
    streams.AGENTS,
)
"""The buckets the reporter may read (what it mirrors into the management cluster)."""


def agent_inbox_prefix(cluster: ClusterRef) -> str:
    """The inbox prefix an agent connects with (``inbox_prefix=`` in nats-py), so that it
    can subscribe to its own replies only: ``_INBOX.<clusterns>.<cluster>``."""
    return f"_INBOX.{cluster.token}"


def agent_user(cluster: ClusterRef) -> str:
    """The NATS user name of ``cluster``'s agent: ``agent-<clusterns>.<cluster>`` (the
    subject tokens, so two clusters never share a name)."""
    return f"agent-{cluster.token}"


def cloudevents_subject(cluster: ClusterRef) -> str:
    """Where ``cluster``'s agent receives CloudEvents: ``ripple.v1.cloudevents.<token>.>``."""
    return f"{ROOT}.cloudevents.{cluster.token}.>"


def _kv(bucket: streams.BucketSpec, suffix: str) -> str:
    return f"$KV.{bucket.bucket}.{suffix}"


@dataclass(frozen=True)
class Permissions:
    """Allowed publish and subscribe subjects of one NATS user."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


_AGENT_READS = (
    streams.ASSIGNMENTS,
    streams.DESIRED,
    streams.REPORTS,
    streams.MATCHES,
    streams.OUTCOMES,
)
_AGENT_WATCHES = (streams.ASSIGNMENTS, streams.DESIRED, streams.MATCHES, streams.OUTCOMES)


def agent_permissions(
    cluster: ClusterRef,
    *,
    watch_compat: bool = False,
    cloudevent_subjects: Iterable[str] = (),
) -> Permissions:
    """The permissions of ``cluster``'s agent.

    Writes are always restricted to the cluster's own subjects and keys. Reads by direct get
    are restricted to its own keys. Watching (its assignments and desired state, and listing
    its outcomes at start-up) needs a consumer: by default only consumers whose filter is in
    the API subject (``$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>``) are allowed, as
    :class:`shared.bus.kv.KVStore` watches create them. nats-py's own KV watch uses the
    unfiltered ``$JS.API.CONSUMER.CREATE.<stream>``; ``watch_compat=True`` also allows that
    for those buckets, at the price of letting the agent read other clusters' values.
    The agent subscribes to its CloudEvents subject (:func:`cloudevents_subject`) and to
    ``cloudevent_subjects`` (extra subjects it is configured with), and to its own inbox."""
    own = cluster.token
    publish = [
        # its own per-change events, report/outcome keys and status key
        f"{EVENTS_ROOT}.{own}.>",
        _kv(streams.REPORTS, f"{own}.>"),
        _kv(streams.MATCHES, f"{own}.>"),
        _kv(streams.OUTCOMES, f"{own}.>"),
        _kv(streams.AGENTS, own),
        # binding to the buckets (stream info) and direct reads of its own keys
        *(f"{JS_API}.STREAM.INFO.{b.stream_name}" for b in streams.BUCKETS),
        f"{JS_API}.INFO",
        *(f"{JS_API}.DIRECT.GET.{b.stream_name}.{_kv(b, f'{own}.>')}" for b in _AGENT_READS),
        f"{JS_API}.DIRECT.GET.{streams.AGENTS.stream_name}.{_kv(streams.AGENTS, own)}",
        # watching its own keys through consumers whose filter is in the API subject
        *(
            f"{JS_API}.CONSUMER.CREATE.{b.stream_name}.*.{_kv(b, f'{own}.>')}"
            for b in _AGENT_WATCHES
        ),
        # reading back its own per-change events (what a restart may already have stored)
        f"{JS_API}.CONSUMER.CREATE.{streams.EVENTS.name}.*.{EVENTS_ROOT}.{own}.>",
        *(
            f"{JS_API}.CONSUMER.{op}.{name}.*"
            for name in (*(b.stream_name for b in _AGENT_WATCHES), streams.EVENTS.name)
            for op in ("INFO", "DELETE")
        ),
        "$JS.FC.>",  # flow-control replies of push consumers
    ]
    if watch_compat:
        publish += [f"{JS_API}.CONSUMER.CREATE.{b.stream_name}" for b in _AGENT_WATCHES]
    subscribe = [
        f"{agent_inbox_prefix(cluster)}.>",
        cloudevents_subject(cluster),
        *(s for s in cloudevent_subjects if s != cloudevents_subject(cluster)),
    ]
    return Permissions(tuple(publish), tuple(subscribe))


ADMIN_PERMISSIONS = Permissions(publish=(">",), subscribe=(">",))
"""Everything: for operators' tools and tests."""

MANAGER_PERMISSIONS = ADMIN_PERMISSIONS
"""The manager's (see :func:`manager_permissions`)."""


def manager_permissions() -> Permissions:
    """The manager's permissions: everything. It provisions the streams and buckets
    (:func:`shared.bus.provision.ensure`), writes assignments, desired state, profiles
    and status, reads every bucket and deletes what a removed cluster leaves behind."""
    return MANAGER_PERMISSIONS


def reporter_permissions(inbox_prefix: str = REPORTER_INBOX_PREFIX) -> Permissions:
    """The reporter's permissions: read (bind, direct get, watch with any consumer filter)
    the buckets of :data:`REPORTER_BUCKETS`, nothing else; it publishes no message and no
    key. It connects with ``inbox_prefix=`` :data:`REPORTER_INBOX_PREFIX` (replies to
    other users are not readable to it)."""
    publish = [
        f"{JS_API}.INFO",
        *(f"{JS_API}.STREAM.INFO.{b.stream_name}" for b in REPORTER_BUCKETS),
        *(f"{JS_API}.DIRECT.GET.{b.stream_name}.>" for b in REPORTER_BUCKETS),
        # any consumer of these streams: filtered (.<name>.<filter>), named or unnamed
        *(f"{JS_API}.CONSUMER.CREATE.{b.stream_name}" for b in REPORTER_BUCKETS),
        *(f"{JS_API}.CONSUMER.CREATE.{b.stream_name}.>" for b in REPORTER_BUCKETS),
        *(
            f"{JS_API}.CONSUMER.{op}.{b.stream_name}.*"
            for b in REPORTER_BUCKETS
            for op in ("INFO", "DELETE")
        ),
        "$JS.FC.>",
    ]
    return Permissions(tuple(publish), (f"{inbox_prefix}.>",))


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
