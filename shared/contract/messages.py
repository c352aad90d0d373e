"""CloudEvents 1.0 JSON envelopes of the NATS contract and their typed payloads.

Every message on a Ripple subject or in a Ripple KV bucket is one JSON CloudEvent
(structured mode) whose ``type`` names the payload and its version
(``io.ripple.<what>.v1``). Payload field names are camelCase on the wire (as in Kubernetes)
and snake_case in Python; both are accepted when validating. Unknown fields are ignored so
that additive changes stay compatible within ``v1``.

Build envelopes with :func:`envelope`, serialise them with :func:`encode`, read them with
:func:`decode`; every malformed input gives :class:`InvalidMessage`. The envelope classes are
in :mod:`shared.contract.envelopes` and the payloads in :mod:`shared.contract.payloads`; this
module re-exports both.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import ClassVar, Literal, TypeVar, overload

from pydantic import AwareDatetime, Field, ValidationError

from shared.contract import subjects
from shared.contract.envelopes import *  # noqa: F403 (the envelopes are part of this module's API)
from shared.contract.envelopes import (
    REGISTRY,
    T_LEASE,
    AgentStatusEvent,
    ApplyOutcomeEvent,
    AssignmentEvent,
    DefinitionStatusEvent,
    DesiredStateEvent,
    Envelope,
    EventReportEvent,
    MatchEvent,
    MatchHeadEvent,
    ProfileEvent,
    ResourceChangeEvent,
    ResourceMatchedEvent,
    ResourceUnmatchedEvent,
    ResourceUpdatedEvent,
)
from shared.contract.errors import InvalidMessage
from shared.contract.limits import MAX_MESSAGE_BYTES
from shared.contract.payloads import *  # noqa: F403 (the payloads are part of this module's API)
from shared.contract.payloads import (
    AgentStatus,
    ApplyOutcome,
    Assignment,
    DefinitionStatus,
    DesiredState,
    EventReportSnapshot,
    Match,
    MatchHead,
    Model,
    Payload,
    ProfileState,
    ResourceChange,
)

MANAGER_SOURCE = "ripple://manager"
"""CloudEvents ``source`` of everything the manager writes."""

# --- the lease of a role (ripple-leases): coordination of replicas, not a payload of the API --


REPORTER_SOURCE = "ripple://reporter"
"""CloudEvents ``source`` of the reporter's lease."""

LEASE_ROLE = r"^[a-z][a-z0-9]*(-[A-Za-z0-9_=-]{1,120})?$"
"""A lease's role, its key in ``ripple-leases``: ``manager``, ``reporter``, or one of them
followed by ``-<shard>`` (one KV token: no dot)."""


class Lease(Model):
    """Who is the active replica of a role: the value under the role's key of
    ``ripple-leases``. ``holder`` is unique per process (``<host>:<pid>:<random>``);
    ``acquiredAt`` and ``ttl`` are informative: replicas never compare clocks (a standby
    measures the silence of the key by its own monotonic clock)."""

    role: str = Field(pattern=LEASE_ROLE)
    holder: str = Field(min_length=1, max_length=256)
    acquired_at: AwareDatetime
    ttl: float = Field(gt=0, le=3600)
    renewals: int = Field(0, ge=0)


class LeaseEvent(Envelope):
    """``io.ripple.lease.v1``: value of ``ripple-leases`` (key: ``data.role``)."""

    TYPE: ClassVar[str] = T_LEASE
    type: Literal["io.ripple.lease.v1"] = "io.ripple.lease.v1"
    data: Lease


def lease_source(role: str) -> str:
    """The writer of ``role``'s lease: the manager (``manager``, ``manager-<shard>``) or the
    reporter."""
    return REPORTER_SOURCE if role.split("-", 1)[0] == "reporter" else MANAGER_SOURCE


def lease_event(data: Lease, *, time: datetime | None = None) -> LeaseEvent:
    """The envelope of a lease value (subject: its role, source: :func:`lease_source`)."""
    return LeaseEvent(
        id=uuid.uuid4().hex,
        source=lease_source(data.role),
        subject=data.role,
        time=time or _now(),
        data=data,
    )


CONTROL_ENVELOPES: tuple[type[Envelope], ...] = (LeaseEvent,)
"""Envelopes the services exchange to coordinate replicas (not in :data:`ENVELOPES`, the
messages of the public contract); :func:`decode` reads them too."""

_DECODABLE: dict[str, type[Envelope]] = {
    **REGISTRY,
    **{cls.TYPE: cls for cls in CONTROL_ENVELOPES},
}

_PAYLOAD_CLASS: dict[type[Model], type[Envelope]] = {
    EventReportSnapshot: EventReportEvent,
    Match: MatchEvent,
    MatchHead: MatchHeadEvent,
    Assignment: AssignmentEvent,
    DesiredState: DesiredStateEvent,
    ApplyOutcome: ApplyOutcomeEvent,
    AgentStatus: AgentStatusEvent,
    ProfileState: ProfileEvent,
    DefinitionStatus: DefinitionStatusEvent,
}
_CHANGE_CLASS: dict[str, type[Envelope]] = {
    "matched": ResourceMatchedEvent,
    "updated": ResourceUpdatedEvent,
    "unmatched": ResourceUnmatchedEvent,
}


def _now() -> datetime:
    return datetime.now(UTC)


@overload
def envelope(
    data: EventReportSnapshot, *, id: str | None = ..., time: datetime | None = ...
) -> EventReportEvent: ...
@overload
def envelope(
    data: ResourceChange, *, id: str | None = ..., time: datetime | None = ...
) -> ResourceChangeEvent: ...
@overload
def envelope(data: Match, *, id: str | None = ..., time: datetime | None = ...) -> MatchEvent: ...
@overload
def envelope(
    data: MatchHead, *, id: str | None = ..., time: datetime | None = ...
) -> MatchHeadEvent: ...
@overload
def envelope(
    data: Assignment, *, id: str | None = ..., time: datetime | None = ...
) -> AssignmentEvent: ...
@overload
def envelope(
    data: DesiredState, *, id: str | None = ..., time: datetime | None = ...
) -> DesiredStateEvent: ...
@overload
def envelope(
    data: ApplyOutcome, *, id: str | None = ..., time: datetime | None = ...
) -> ApplyOutcomeEvent: ...
@overload
def envelope(
    data: AgentStatus, *, id: str | None = ..., time: datetime | None = ...
) -> AgentStatusEvent: ...
@overload
def envelope(data: Payload, *, id: str | None = ..., time: datetime | None = ...) -> Envelope: ...
def envelope(data: Payload, *, id: str | None = None, time: datetime | None = None) -> Envelope:
    """Wrap a payload in its CloudEvent: the type follows the payload (and the change kind),
    ``subject`` is the NATS subject / KV key it belongs under, ``source`` is the writing agent
    (``ripple://agent/<ns>/<type>--<name>``) or :data:`MANAGER_SOURCE`; ``id`` defaults to the
    dedup id for resource changes and to a random UUID otherwise."""
    cls: type[Envelope]
    if isinstance(data, Assignment | DesiredState | ProfileState | DefinitionStatus):
        source = MANAGER_SOURCE
    else:
        source = data.cluster.source
    if isinstance(data, ResourceChange):
        cls = _CHANGE_CLASS[data.change]
        id = id or data.msg_id()
    else:
        cls = _PAYLOAD_CLASS[type(data)]
    return cls(
        id=id or uuid.uuid4().hex,
        source=source,
        subject=_key_of(data),
        time=time or _now(),
        data=data,  # type: ignore[call-arg]
    )


def message_key(message: Envelope) -> str:
    """The KV key or subject a message belongs under, recomputed from its data (so a reader
    can reject a value whose key and content disagree, e.g. a spoofed cluster)."""
    if isinstance(message, LeaseEvent):
        return message.data.role
    return _key_of(message.data)  # type: ignore[attr-defined]


def _key_of(data: Payload) -> str:
    if isinstance(data, EventReportSnapshot):
        return subjects.report_key(data.cluster, data.event_source_name)
    if isinstance(data, ResourceChange):
        return subjects.event_subject(data.cluster, data.event_source_name)
    if isinstance(data, Match):
        return subjects.match_key(data.cluster, data.event_source_name, data.ref.key)
    if isinstance(data, MatchHead):
        return subjects.match_head_key(data.cluster, data.event_source_name)
    if isinstance(data, Assignment):
        return subjects.assignment_key(data.cluster, data.event_source_name)
    if isinstance(data, DesiredState):
        return subjects.desired_key(data.cluster, data.profile_name)
    if isinstance(data, ApplyOutcome):
        return subjects.outcome_key(data.cluster, data.profile_name)
    if isinstance(data, ProfileState):
        return subjects.profile_key(data.cluster, data.profile_name)
    if isinstance(data, DefinitionStatus):
        return subjects.status_key(data.kind, data.name)
    return subjects.agent_key(data.cluster)


def encode(message: Envelope) -> bytes:
    """Serialise an envelope to compact JSON bytes; :class:`InvalidMessage` when it exceeds
    :data:`~shared.contract.limits.MAX_MESSAGE_BYTES`."""
    raw = message.model_dump_json().encode("utf-8")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise InvalidMessage(
            f"{message.type} message for {message.subject!r} is {len(raw)} bytes, "
            f"over the {MAX_MESSAGE_BYTES}-byte limit"
        )
    return raw


E = TypeVar("E", bound=Envelope)


@overload
def decode(
    raw: bytes | bytearray | memoryview | str, expected: type[E], *, where: str = ""
) -> E: ...
@overload
def decode(
    raw: bytes | bytearray | memoryview | str, expected: tuple[type[E], ...], *, where: str = ""
) -> E: ...
@overload
def decode(
    raw: bytes | bytearray | memoryview | str, expected: None = None, *, where: str = ""
) -> Envelope: ...
def decode(
    raw: bytes | bytearray | memoryview | str,
    expected: type[Envelope] | tuple[type[Envelope], ...] | None = None,
    *,
    where: str = "",
) -> Envelope:
    """Parse and validate one message. ``expected`` restricts the accepted envelope classes
    (one class or a tuple); ``where`` (e.g. the subject or key) prefixes error messages.
    Raises :class:`InvalidMessage` for oversized input, malformed JSON, a non-CloudEvents 1.0
    envelope, an unknown or unexpected type, or invalid data -- and nothing else."""
    prefix = f"{where}: " if where else ""
    try:
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        size = len(raw) if not isinstance(raw, memoryview) else raw.nbytes
        if size > MAX_MESSAGE_BYTES:
            raise InvalidMessage(
                f"{prefix}message of {size} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit"
            )
        try:
            doc = json.loads(bytes(raw))
        except (ValueError, RecursionError) as err:
            raise InvalidMessage(f"{prefix}not valid JSON: {err}") from None
        if not isinstance(doc, dict):
            raise InvalidMessage(f"{prefix}not a CloudEvent: a JSON {type(doc).__name__}")
        if doc.get("specversion") != "1.0":
            raise InvalidMessage(
                f"{prefix}not a CloudEvents 1.0 envelope: specversion={doc.get('specversion')!r}"
            )
        ce_type = doc.get("type")
        cls = _DECODABLE.get(ce_type) if isinstance(ce_type, str) else None
        if cls is None:
            raise InvalidMessage(f"{prefix}unknown CloudEvent type {ce_type!r}")
        if expected is not None and not issubclass(cls, expected):
            names = [expected.TYPE] if isinstance(expected, type) else [e.TYPE for e in expected]
            raise InvalidMessage(f"{prefix}unexpected type {ce_type!r}, expected one of {names}")
        try:
            return cls.model_validate(doc)
        except ValidationError as err:
            raise InvalidMessage(f"{prefix}invalid {ce_type} message: {_summary(err)}") from None
    except InvalidMessage:
        raise
    except (ValueError, TypeError, RecursionError, UnicodeError) as err:
        raise InvalidMessage(f"{prefix}malformed message: {err}") from None


def _summary(err: ValidationError) -> str:
    parts = []
    for item in err.errors()[:5]:
        loc = ".".join(str(p) for p in item["loc"]) or "<root>"
        parts.append(f"{loc}: {item['msg']}")
    more = err.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
