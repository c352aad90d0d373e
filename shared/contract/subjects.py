"""Subjects and KV keys of the NATS contract, and the reversible token encoding they use.

Every subject starts with :data:`PREFIX` ``.`` :data:`VERSION` (``ripple.v1``). KV keys live
in buckets whose names are fixed (see :mod:`shared.contract.streams`) and are made of the same
tokens.

Token encoding (:func:`encode_token` / :func:`decode_token`): the characters ``a-z``,
``0-9`` and ``-`` are kept as they are, so ordinary DNS-1123 names stay readable; every other
UTF-8 byte becomes ``_XX`` (upper-case hex), ``_`` itself included. The empty string is the
single token ``_``. Encoded tokens only use ``[-_0-9A-Za-z]``, which is valid both as a NATS
subject token and inside a JetStream KV key, and never contain the separator ``.`` or the
wildcards ``*``/``>``. The encoding is a bijection onto canonical tokens: decoding rejects
lower-case hex, escapes of characters that are kept verbatim, and invalid UTF-8. Both
directions remember the tokens they saw (bounded) and return a token without escapes as it
is: every message's key is parsed, so this is on every path.

A cluster is two tokens: ``<namespace>.<type>--<name>``, where ``<type>`` is ``sveltos`` or
``capi`` (as in Sveltos' EventReport names ``capi--<eventsource>--<cluster>``).
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict

from shared.api.vocabulary import CLUSTER_TYPES as CLUSTER_TYPES
from shared.api.vocabulary import (
    DEFINITION_KINDS,
    SVELTOS,
    ClusterKey,
    ClusterType,
    ClusterTypeLower,
    ObjectKey,
)
from shared.contract.errors import InvalidSubject

PREFIX = "ripple"
VERSION = "v1"
ROOT = f"{PREFIX}.{VERSION}"
EVENTS_ROOT = f"{ROOT}.events"
"""Root of the per-change event subjects: ``ripple.v1.events.<clusterns>.<cluster>.<source>``."""

_CLUSTER_SEP = "--"

_VERBATIM = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-")
_EMPTY = "_"
_TOKEN_RE = re.compile(r"(?:[a-z0-9-]|_[0-9A-F]{2})+")
_PLAIN_RE = re.compile(r"[a-z0-9-]+")
_CACHED = 1 << 16
"""Tokens remembered by each direction (names repeat: clusters, EventSources, kinds)."""
_HEX = "0123456789ABCDEF"


@functools.lru_cache(maxsize=_CACHED)
def encode_token(value: str) -> str:
    """Encode any string into one subject/KV-key token (reversible; see the module doc)."""
    if _PLAIN_RE.fullmatch(value):
        return value  # nothing to escape (the common case: DNS-1123 names)
    if value == "":
        return _EMPTY
    out: list[str] = []
    for byte in value.encode("utf-8"):
        if byte in _VERBATIM:
            out.append(chr(byte))
        else:
            out.append("_" + _HEX[byte >> 4] + _HEX[byte & 0xF])
    return "".join(out)


@functools.lru_cache(maxsize=_CACHED)
def decode_token(token: str) -> str:
    """Decode a token made by :func:`encode_token`; raise :class:`InvalidSubject` otherwise."""
    if _PLAIN_RE.fullmatch(token):
        return token  # no escape: the token is the value
    if token == _EMPTY:
        return ""
    if not _TOKEN_RE.fullmatch(token):
        raise InvalidSubject(f"token {token!r} is not a canonical encoded token")
    raw = bytearray()
    i = 0
    while i < len(token):
        ch = token[i]
        if ch == "_":
            byte = int(token[i + 1 : i + 3], 16)
            if byte in _VERBATIM:
                raise InvalidSubject(
                    f"token {token!r}: escape {token[i : i + 3]!r} of a verbatim character"
                )
            raw.append(byte)
            i += 3
        else:
            raw.append(ord(ch))
            i += 1
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidSubject(f"token {token!r} does not decode to UTF-8: {err}") from None


class ClusterRef(BaseModel):
    """A managed cluster: the namespace and name of its SveltosCluster or CAPI Cluster."""

    # the wire form of shared.api.vocabulary.ClusterKey (``key`` / ``of`` convert)
    model_config = ConfigDict(frozen=True, extra="ignore")

    namespace: str
    name: str
    type: ClusterTypeLower = SVELTOS

    @classmethod
    def of(cls, key: ClusterKey) -> ClusterRef:
        """The wire form of a :class:`~shared.api.vocabulary.ClusterKey`."""
        return cls(namespace=key.namespace, name=key.name, type=ClusterType.lower(key.type))

    @property
    def key(self) -> ClusterKey:
        """The plain identity of this cluster (hashable, with its registration kind)."""
        return ClusterKey(self.namespace, self.name, self.type)

    @property
    def token(self) -> str:
        """The cluster's two subject tokens, ``<namespace>.<type>--<name>``."""
        return f"{encode_token(self.namespace)}.{self.type}{_CLUSTER_SEP}{encode_token(self.name)}"

    @classmethod
    def from_tokens(cls, namespace_token: str, cluster_token: str) -> ClusterRef:
        """Inverse of :attr:`token` given its two tokens (the same immutable ClusterRef for
        the same tokens, while it is remembered)."""
        return _cluster_of(namespace_token, cluster_token)

    @classmethod
    def _from_tokens(cls, namespace_token: str, cluster_token: str) -> ClusterRef:
        ctype, sep, name_token = cluster_token.partition(_CLUSTER_SEP)
        if not sep or ctype not in CLUSTER_TYPES:
            raise InvalidSubject(
                f"cluster token {cluster_token!r} is not '<sveltos|capi>--<encoded name>'"
            )
        return cls(
            namespace=decode_token(namespace_token),
            name=decode_token(name_token),
            type=ctype,
        )

    @classmethod
    def from_token(cls, token: str) -> ClusterRef:
        """Inverse of :attr:`token` (``<namespace>.<type>--<name>``)."""
        parts = token.split(".")
        if len(parts) != 2:
            raise InvalidSubject(f"cluster token {token!r} is not '<namespace>.<type>--<name>'")
        return cls.from_tokens(parts[0], parts[1])

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of this cluster's agent."""
        return f"ripple://agent/{self.token.replace('.', '/')}"

    def __str__(self) -> str:
        return f"{self.type}:{self.namespace}/{self.name}"


@functools.lru_cache(maxsize=_CACHED)
def _cluster_of(namespace_token: str, cluster_token: str) -> ClusterRef:
    return ClusterRef._from_tokens(namespace_token, cluster_token)


class ClusterItem(NamedTuple):
    """A parsed ``<clusterns>.<cluster>.<name>`` subject or key."""

    cluster: ClusterRef
    name: str


# --- per-change event subjects (stream RIPPLE_EVENTS) ---------------------------------------


def event_subject(cluster: ClusterRef, event_source: str) -> str:
    """``ripple.v1.events.<clusterns>.<cluster>.<eventsource>``: per-change events of one
    EventSource in one cluster (the change kind is in the CloudEvent ``type``)."""
    return f"{EVENTS_ROOT}.{cluster.token}.{encode_token(event_source)}"


def parse_event_subject(subject: str) -> ClusterItem:
    """Inverse of :func:`event_subject`; raise :class:`InvalidSubject` on anything else."""
    head = EVENTS_ROOT + "."
    if not subject.startswith(head):
        raise InvalidSubject(f"subject {subject!r} does not start with {head!r}")
    return _parse_cluster_item(subject[len(head) :], what=f"event subject {subject!r}")


def events_wildcard(cluster: ClusterRef | None = None, event_source: str | None = None) -> str:
    """Subscription filter for events: all (``ripple.v1.events.>``), one cluster's
    (``ripple.v1.events.<ns>.<cluster>.>``), one EventSource in every cluster
    (``ripple.v1.events.*.*.<source>``) or one EventSource in one cluster."""
    cluster_part = cluster.token if cluster is not None else "*.*"
    if event_source is None:
        return f"{EVENTS_ROOT}.>" if cluster is None else f"{EVENTS_ROOT}.{cluster_part}.>"
    return f"{EVENTS_ROOT}.{cluster_part}.{encode_token(event_source)}"


# --- KV keys ----------------------------------------------------------------------------------


def report_key(cluster: ClusterRef, event_source: str) -> str:
    """Key in ``ripple-reports``: ``<clusterns>.<cluster>.<eventsource>``."""
    return f"{cluster.token}.{encode_token(event_source)}"


def match_head_key(cluster: ClusterRef, event_source: str) -> str:
    """Key of a matching set's head in ``ripple-matches``: ``<clusterns>.<cluster>.<eventsource>``."""
    return f"{cluster.token}.{encode_token(event_source)}"


def match_key(cluster: ClusterRef, event_source: str, obj: ObjectKey) -> str:
    """Key of one matching object in ``ripple-matches``:
    ``<clusterns>.<cluster>.<eventsource>.<apiVersion>.<kind>.<namespace>.<name>`` (seven
    tokens; the namespace of a cluster-scoped object is the empty token ``_``)."""
    return (
        f"{cluster.token}.{encode_token(event_source)}.{encode_token(obj.api_version)}."
        f"{encode_token(obj.kind)}.{encode_token(obj.namespace)}.{encode_token(obj.name)}"
    )


def match_keys(cluster: ClusterRef, event_source: str | None = None) -> str:
    """KV filter in ``ripple-matches``: every head and entry of one cluster
    (``<clusterns>.<cluster>.>``), or the entries (not the head) of one EventSource there
    (``<clusterns>.<cluster>.<eventsource>.>``)."""
    if event_source is None:
        return f"{cluster.token}.>"
    return f"{cluster.token}.{encode_token(event_source)}.>"


class MatchItem(NamedTuple):
    """A parsed ``ripple-matches`` key: ``obj`` is None for a head."""

    cluster: ClusterRef
    event_source: str
    obj: ObjectKey | None


def parse_match_key(key: str) -> MatchItem:
    """Inverse of :func:`match_head_key` (3 tokens) and :func:`match_key` (7 tokens); raise
    :class:`InvalidSubject` on anything else."""
    parts = key.split(".")
    what = f"match key {key!r}"
    if len(parts) not in (3, 7):
        raise InvalidSubject(
            f"{what}: expected '<clusterns>.<cluster>.<eventsource>' or 7 tokens "
            "'<clusterns>.<cluster>.<eventsource>.<apiVersion>.<kind>.<namespace>.<name>'"
        )
    try:
        cluster = ClusterRef.from_tokens(parts[0], parts[1])
        name = decode_token(parts[2])
        if len(parts) == 3:
            return MatchItem(cluster, name, None)
        api_version, kind, namespace, obj_name = (decode_token(t) for t in parts[3:])
    except InvalidSubject as err:
        raise InvalidSubject(f"{what}: {err}") from None
    if not api_version or not kind or not obj_name:
        raise InvalidSubject(f"{what}: apiVersion, kind and name must not be empty")
    return MatchItem(cluster, name, ObjectKey(api_version, kind, namespace, obj_name))


def assignment_key(cluster: ClusterRef, event_source: str) -> str:
    """Key in ``ripple-assignments``: ``<clusterns>.<cluster>.<eventsource>``."""
    return f"{cluster.token}.{encode_token(event_source)}"


def desired_key(cluster: ClusterRef, profile: str) -> str:
    """Key in ``ripple-desired``: ``<clusterns>.<cluster>.<profile>``."""
    return f"{cluster.token}.{encode_token(profile)}"


def outcome_key(cluster: ClusterRef, profile: str) -> str:
    """Key in ``ripple-outcomes``: ``<clusterns>.<cluster>.<profile>``."""
    return f"{cluster.token}.{encode_token(profile)}"


def profile_key(cluster: ClusterRef, profile: str) -> str:
    """Key in ``ripple-profiles``: ``<source clusterns>.<source cluster>.<profile>``."""
    return f"{cluster.token}.{encode_token(profile)}"


def status_key(kind: str, name: str) -> str:
    """Key in ``ripple-status``: ``<kind lower-case>.<name>`` (e.g. ``eventtrigger.web``)."""
    return f"{encode_token(kind.lower())}.{encode_token(name)}"


STATUS_KINDS = {kind.lower(): kind for kind in DEFINITION_KINDS}


def parse_status_key(key: str) -> tuple[str, str]:
    """Inverse of :func:`status_key`: ``(Kind, name)``."""
    parts = key.split(".")
    if len(parts) != 2 or decode_token(parts[0]) not in STATUS_KINDS:
        raise InvalidSubject(
            f"status key {key!r} is not '<eventsource|eventtrigger|eventbasedaddon>.<name>'"
        )
    return STATUS_KINDS[decode_token(parts[0])], decode_token(parts[1])


def agent_key(cluster: ClusterRef) -> str:
    """Key in ``ripple-agents``: ``<clusterns>.<cluster>``."""
    return cluster.token


def parse_cluster_key(key: str) -> ClusterItem:
    """Inverse of :func:`report_key`, :func:`assignment_key`, :func:`desired_key` and
    :func:`outcome_key`: the cluster and the EventSource/profile name."""
    return _parse_cluster_item(key, what=f"key {key!r}")


parse_report_key = parse_cluster_key
parse_assignment_key = parse_cluster_key
parse_desired_key = parse_cluster_key
parse_outcome_key = parse_cluster_key
parse_profile_key = parse_cluster_key


def parse_agent_key(key: str) -> ClusterRef:
    """Inverse of :func:`agent_key`."""
    try:
        return ClusterRef.from_token(key)
    except InvalidSubject as err:
        raise InvalidSubject(f"agent key {key!r}: {err}") from None


def cluster_keys(cluster: ClusterRef) -> str:
    """KV watch filter for everything of one cluster in a per-cluster+name bucket:
    ``<clusterns>.<cluster>.>``."""
    return f"{cluster.token}.>"


ALL_KEYS = ">"
"""KV watch filter for every key of a bucket."""


def _parse_cluster_item(rest: str, *, what: str) -> ClusterItem:
    parts = rest.split(".")
    if len(parts) != 3:
        raise InvalidSubject(f"{what}: expected 3 tokens '<clusterns>.<cluster>.<name>'")
    try:
        cluster = ClusterRef.from_tokens(parts[0], parts[1])
        return ClusterItem(cluster, decode_token(parts[2]))
    except InvalidSubject as err:
        raise InvalidSubject(f"{what}: {err}") from None
