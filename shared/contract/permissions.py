"""NATS users and their permissions: one user per cluster's agent, the manager, the reporter
and an administrator.

An agent may publish only its own cluster's events, reports, matching sets, outcomes and
status, each under a key of the contract's shape, and may read (direct get by key, or a
consumer filtered to its keys) only its own assignments, desired state, reports, matching
sets, outcomes and events. It may not ask for stream or consumer information (which lists
keys and consumers of every cluster), and it has an account of its own
(:mod:`shared.contract.accounts`), so that nothing the server sends on its behalf -- the
answer to a request, the delivery of a consumer -- lands in the shared account. A spoofed
identity -- agent A writing cluster B's report key -- is rejected by the server with a
permissions violation. The reporter reads the buckets it mirrors and writes nothing but its
own lease (:data:`REPORTER_LEASE` in ``ripple-leases``; an account of its own too). The manager provisions streams and buckets and reads and writes
everything. :func:`authorization_block` renders the nats-server configuration (see
docs/nats-contract.md, section 7).
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.contract import streams
from shared.contract.accounts import (
    ADMIN_PERMISSIONS,
    RIPPLE_ACCOUNT,
    Permissions,
    User,
    authorization_block,
    subject_matches,
    subjects_overlap,
)
from shared.contract.errors import InvalidSubject
from shared.contract.subjects import EVENTS_ROOT, ROOT, ClusterRef

__all__ = [
    "ADMIN_PERMISSIONS",
    "JS_API",
    "MANAGER_PERMISSIONS",
    "READER_ACCOUNT",
    "READER_INBOX_PREFIX",
    "READER_PERMISSIONS",
    "READER_STREAMS",
    "REPORTER_ACCOUNT",
    "REPORTER_BUCKETS",
    "REPORTER_INBOX_PREFIX",
    "REPORTER_LEASE",
    "RESERVED_SUBJECTS",
    "RIPPLE_ACCOUNT",
    "Permissions",
    "User",
    "agent_account",
    "agent_inbox_prefix",
    "agent_permissions",
    "agent_user",
    "authorization_block",
    "cloudevents_subject",
    "manager_permissions",
    "reader_permissions",
    "reporter_permissions",
    "subject_matches",
    "subjects_overlap",
]

JS_API = "$JS.API"

REPORTER_INBOX_PREFIX = "_INBOX.REPORTER"
"""The reporter's inbox prefix (``inbox_prefix=`` in nats-py). Upper case: no cluster's
namespace token can spell it, so no agent's inbox permission covers it."""

REPORTER_ACCOUNT = "REPORTER"
"""The reporter's own account (:mod:`shared.contract.accounts`)."""

REPORTER_BUCKETS: tuple[streams.BucketSpec, ...] = (
    streams.MATCHES,
    streams.PROFILES,
    streams.STATUS,
    streams.OUTCOMES,
    streams.AGENTS,
)
"""The buckets the reporter may read (what it mirrors into the management cluster)."""

REPORTER_LEASE = "reporter"
"""The key of ``ripple-leases`` the reporter's replicas hold (:mod:`shared.runtime.standby`):
the only key it may write."""

RESERVED_SUBJECTS = ("$JS.>", "$JSC.>", "$KV.>", "$SYS.>", "_INBOX.>", "_R_.>", f"{EVENTS_ROOT}.>")
"""Subjects an agent's extra CloudEvents subjects may not overlap: JetStream's, the
streams', the inboxes'. (A consumer's delivery keeps the subject it was stored under, so a
CloudEvents subscription that can never match a stored subject tells a redirected delivery
from a CloudEvent: :func:`shared.bus.client.subscribe_guarded`.)"""


def agent_inbox_prefix(cluster: ClusterRef) -> str:
    """The inbox prefix an agent connects with (``inbox_prefix=`` in nats-py), so that it
    can subscribe to its own replies only: ``_INBOX.<clusterns>.<cluster>``."""
    return f"_INBOX.{cluster.token}"


def agent_user(cluster: ClusterRef) -> str:
    """The NATS user name of ``cluster``'s agent: ``agent-<clusterns>.<cluster>`` (the
    subject tokens, so two clusters never share a name)."""
    return f"agent-{cluster.token}"


def agent_account(cluster: ClusterRef) -> str:
    """The account of ``cluster``'s agent: ``AGENT:<clusterns>/<cluster>`` (its own;
    :mod:`shared.contract.accounts`)."""
    return "AGENT:" + cluster.token.replace(".", "/")


def cloudevents_subject(cluster: ClusterRef) -> str:
    """Where ``cluster``'s agent receives CloudEvents: ``ripple.v1.cloudevents.<token>.>``."""
    return f"{ROOT}.cloudevents.{cluster.token}.>"


def _kv(bucket: streams.BucketSpec, suffix: str) -> str:
    return f"$KV.{bucket.bucket}.{suffix}"


_AGENT_WRITES = (streams.REPORTS, streams.MATCHES, streams.OUTCOMES, streams.AGENTS)
_AGENT_READS = (
    streams.ASSIGNMENTS,
    streams.DESIRED,
    streams.REPORTS,
    streams.MATCHES,
    streams.OUTCOMES,
    streams.AGENTS,
)
_AGENT_WATCHES = (streams.ASSIGNMENTS, streams.DESIRED, streams.MATCHES, streams.OUTCOMES)


def own_keys(bucket: streams.BucketSpec, cluster: ClusterRef) -> tuple[str, ...]:
    """``cluster``'s keys of ``bucket``, one wildcard pattern per shape of the contract
    (``<clusterns>.<cluster>`` followed by ``BucketSpec.key_tokens`` tokens): a key of any
    other shape matches none of them."""
    if bucket.key_tokens is None:
        raise ValueError(f"{bucket.bucket}: its keys are not a cluster's")
    return tuple(".".join([cluster.token, *("*" * n)]) for n in bucket.key_tokens)


def _check_cloudevent_subject(subject: str) -> str:
    for reserved in RESERVED_SUBJECTS:
        if subjects_overlap(subject, reserved):
            raise InvalidSubject(
                f"CloudEvents subject {subject!r} overlaps {reserved!r}: a consumer's "
                "delivery there could not be told from a CloudEvent"
            )
    return subject


def agent_permissions(
    cluster: ClusterRef,
    *,
    watch_compat: bool = False,
    cloudevent_subjects: Iterable[str] = (),
) -> Permissions:
    """The permissions of ``cluster``'s agent, in its own account (:func:`agent_account`).

    Writes: its own per-change events (``ripple.v1.events.<clusterns>.<cluster>.*``) and its
    own keys of ``ripple-reports``, ``ripple-matches``, ``ripple-outcomes`` and
    ``ripple-agents``, each of the contract's shape (:func:`own_keys`): a key of another
    cluster or of another shape is refused. Reads: a direct get of its own keys (and of each
    bucket's reserved :data:`~shared.contract.streams.PROBE_KEY`, to bind without
    ``STREAM.INFO``, :mod:`shared.bus.binding`), and consumers whose filter is in the API
    subject (``$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>``) on its own keys and
    events, as :class:`shared.bus.kv.KVStore` watches and :func:`shared.bus.history.read_back`
    create them; it may delete a consumer (by its name). It gets no ``STREAM.INFO``,
    ``STREAM.NAMES``/``LIST``, ``CONSUMER.INFO``/``NAMES``/``LIST`` nor ``$JS.API.INFO``:
    they would list other clusters' keys and consumers.

    nats-py's own KV watch uses the unfiltered ``$JS.API.CONSUMER.CREATE.<stream>``;
    ``watch_compat=True`` also allows that for the watched buckets, at the price of letting
    the agent read other clusters' values. The agent subscribes to its own inbox, its
    CloudEvents subject (:func:`cloudevents_subject`) and ``cloudevent_subjects`` (extra
    subjects it is configured with; :class:`InvalidSubject` when one overlaps
    :data:`RESERVED_SUBJECTS`)."""
    own = cluster.token
    publish = [
        f"{EVENTS_ROOT}.{own}.*",  # its own per-change events
        *(_kv(b, key) for b in _AGENT_WRITES for key in own_keys(b, cluster)),
        # direct reads of its own keys, and of each bucket's reserved key (binding)
        *(
            f"{JS_API}.DIRECT.GET.{b.stream_name}.{_kv(b, key)}"
            for b in _AGENT_READS
            for key in (*own_keys(b, cluster), streams.PROBE_KEY)
        ),
        # watching its own keys through consumers whose filter is in the API subject
        *(
            f"{JS_API}.CONSUMER.CREATE.{b.stream_name}.*.{_kv(b, f'{own}.>')}"
            for b in _AGENT_WATCHES
        ),
        # reading back its own per-change events (what a restart may already have stored)
        f"{JS_API}.CONSUMER.CREATE.{streams.EVENTS.name}.*.{EVENTS_ROOT}.{own}.>",
        *(
            f"{JS_API}.CONSUMER.DELETE.{name}.*"
            for name in (*(b.stream_name for b in _AGENT_WATCHES), streams.EVENTS.name)
        ),
        # flow-control replies of its watches' push consumers
        *(f"$JS.FC.{b.stream_name}.>" for b in _AGENT_WATCHES),
    ]
    if watch_compat:
        publish += [f"{JS_API}.CONSUMER.CREATE.{b.stream_name}" for b in _AGENT_WATCHES]
    subscribe = [
        f"{agent_inbox_prefix(cluster)}.>",
        cloudevents_subject(cluster),
        *(
            _check_cloudevent_subject(s)
            for s in dict.fromkeys(cloudevent_subjects)
            if s != cloudevents_subject(cluster)
        ),
    ]
    return Permissions(tuple(publish), tuple(subscribe), account=agent_account(cluster))


MANAGER_PERMISSIONS = ADMIN_PERMISSIONS
"""The manager's (see :func:`manager_permissions`)."""


def manager_permissions() -> Permissions:
    """The manager's permissions: everything, in the shared account. It provisions the
    streams and buckets (:func:`shared.bus.provision.ensure`), writes assignments, desired
    state, profiles and status, reads every bucket and deletes what a removed cluster
    leaves behind. It holds its leases (``ripple-leases``: ``manager``, ``manager-<shard>``)."""
    return MANAGER_PERMISSIONS


def reporter_permissions(inbox_prefix: str = REPORTER_INBOX_PREFIX) -> Permissions:
    """The reporter's permissions, in its own account (:data:`REPORTER_ACCOUNT`): read
    (bind, stream information, direct get, watch with any consumer filter) the buckets of
    :data:`REPORTER_BUCKETS`; read, watch and write (compare-and-set, delete) its own lease,
    the key :data:`REPORTER_LEASE` of ``ripple-leases`` (and bind to that bucket by its
    reserved key); nothing else: it publishes no other message and no other key. It connects
    with ``inbox_prefix=`` :data:`REPORTER_INBOX_PREFIX` (replies to other users are not
    readable to it)."""
    leases = streams.LEASES.stream_name
    lease_key = _kv(streams.LEASES, REPORTER_LEASE)
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
        *(f"$JS.FC.{b.stream_name}.>" for b in REPORTER_BUCKETS),
        # its lease: the key (puts with an expected revision, deletes), direct gets of it
        # and of the bucket's reserved key, a watch filtered to it
        lease_key,
        f"{JS_API}.DIRECT.GET.{leases}.{lease_key}",
        f"{JS_API}.DIRECT.GET.{leases}.{_kv(streams.LEASES, streams.PROBE_KEY)}",
        f"{JS_API}.CONSUMER.CREATE.{leases}.*.{lease_key}",
        f"{JS_API}.CONSUMER.DELETE.{leases}.*",
        f"$JS.FC.{leases}.>",
    ]
    return Permissions(tuple(publish), (f"{inbox_prefix}.>",), account=REPORTER_ACCOUNT)


READER_INBOX_PREFIX = "_INBOX.READER"
"""The inbox prefix of an external reader (:func:`reader_permissions`)."""

READER_ACCOUNT = "READER"
"""The account of external readers (:func:`reader_permissions`)."""

READER_STREAMS: tuple[str, ...] = (
    streams.EVENTS.name,
    streams.MATCHES.stream_name,
    streams.REPORTS.stream_name,
    streams.PROFILES.stream_name,
    streams.STATUS.stream_name,
)
"""What section 4 of the contract names external consumers as readers of. Not
``ripple-desired`` (instantiated Secrets), ``ripple-assignments``, ``ripple-outcomes`` nor
``ripple-agents``."""


def reader_permissions(
    inbox_prefix: str = READER_INBOX_PREFIX, account: str = READER_ACCOUNT
) -> Permissions:
    """An external consumer, in an account of its own (:data:`READER_ACCOUNT`; readers of
    one account see each other's replies: give an untrusted one its own ``account`` and
    ``inbox_prefix``): subscribe
    to the per-change events, bind to and read (stream information, direct gets, any
    consumer: ordered, durable push or pull, acknowledged) :data:`READER_STREAMS`; nothing
    else -- no stream management, no other stream, no reply but its own (it connects with
    ``inbox_prefix=`` :data:`READER_INBOX_PREFIX`)."""
    publish = [f"{JS_API}.INFO", f"{JS_API}.STREAM.NAMES"]
    for name in READER_STREAMS:
        publish += [
            f"{JS_API}.STREAM.INFO.{name}",
            f"{JS_API}.STREAM.MSG.GET.{name}",
            f"{JS_API}.DIRECT.GET.{name}",
            f"{JS_API}.DIRECT.GET.{name}.>",
            f"{JS_API}.CONSUMER.CREATE.{name}",
            f"{JS_API}.CONSUMER.CREATE.{name}.>",
            f"{JS_API}.CONSUMER.DURABLE.CREATE.{name}.*",
            f"{JS_API}.CONSUMER.INFO.{name}.*",
            f"{JS_API}.CONSUMER.DELETE.{name}.*",
            f"{JS_API}.CONSUMER.MSG.NEXT.{name}.*",
            f"$JS.FC.{name}.>",
            f"$JS.ACK.{name}.>",
        ]
    subscribe = (f"{inbox_prefix}.>", f"{EVENTS_ROOT}.>")
    return Permissions(tuple(publish), subscribe, account=account)


READER_PERMISSIONS = reader_permissions()
"""An external consumer's (:func:`reader_permissions`)."""
