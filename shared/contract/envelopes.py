"""The envelope classes of the NATS contract: one CloudEvents 1.0 class per message type.

:class:`Envelope` holds the CloudEvents attributes common to every message (structured JSON
mode); each subclass fixes the ``type`` (``io.ripple.<what>.v1``, the ``T_*`` constants) and
the payload model of its ``data`` (from :mod:`shared.contract.payloads`). :data:`ENVELOPES`
lists the messages of the public contract and :data:`REGISTRY` maps each CloudEvent type to
its class; the JSON Schemas in ``docs/schemas`` are generated from them. Building, encoding
and decoding envelopes is :mod:`shared.contract.messages`, which re-exports every name here.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.contract.payloads import (
    AgentStatus,
    ApplyOutcome,
    Assignment,
    DefinitionStatus,
    DesiredState,
    EventReportSnapshot,
    Match,
    MatchHead,
    ProfileState,
    ResourceChange,
)

T_EVENTREPORT = "io.ripple.eventreport.v1"
T_RESOURCE_MATCHED = "io.ripple.resource.matched.v1"
T_RESOURCE_UPDATED = "io.ripple.resource.updated.v1"
T_RESOURCE_UNMATCHED = "io.ripple.resource.unmatched.v1"
T_MATCH = "io.ripple.match.v1"
T_MATCHHEAD = "io.ripple.matchhead.v1"
T_ASSIGNMENT = "io.ripple.assignment.v1"
T_DESIREDSTATE = "io.ripple.desiredstate.v1"
T_APPLYOUTCOME = "io.ripple.applyoutcome.v1"
T_AGENTSTATUS = "io.ripple.agentstatus.v1"
T_PROFILE = "io.ripple.profile.v1"
T_STATUS = "io.ripple.status.v1"
T_LEASE = "io.ripple.lease.v1"


class Envelope(BaseModel):
    """CloudEvents 1.0 attributes common to every message (structured JSON mode).

    ``subject`` is the NATS subject or KV key the message is published under."""

    model_config = ConfigDict(extra="ignore")
    TYPE: ClassVar[str] = ""

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str
    subject: str
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"


class EventReportEvent(Envelope):
    """``io.ripple.eventreport.v1``: value of ``ripple-reports``."""

    TYPE: ClassVar[str] = T_EVENTREPORT
    type: Literal["io.ripple.eventreport.v1"] = "io.ripple.eventreport.v1"
    data: EventReportSnapshot


class _ResourceEvent(Envelope):
    CHANGE: ClassVar[str] = ""
    data: ResourceChange

    @model_validator(mode="after")
    def _change_matches_type(self) -> _ResourceEvent:
        if self.data.change != self.CHANGE:
            raise ValueError(f"type {self.type} carries data.change={self.data.change!r}")
        return self


class ResourceMatchedEvent(_ResourceEvent):
    """``io.ripple.resource.matched.v1`` on ``ripple.v1.events.…``."""

    TYPE: ClassVar[str] = T_RESOURCE_MATCHED
    CHANGE: ClassVar[str] = "matched"
    type: Literal["io.ripple.resource.matched.v1"] = "io.ripple.resource.matched.v1"
    data: ResourceChange


class ResourceUpdatedEvent(_ResourceEvent):
    """``io.ripple.resource.updated.v1`` on ``ripple.v1.events.…``."""

    TYPE: ClassVar[str] = T_RESOURCE_UPDATED
    CHANGE: ClassVar[str] = "updated"
    type: Literal["io.ripple.resource.updated.v1"] = "io.ripple.resource.updated.v1"
    data: ResourceChange


class ResourceUnmatchedEvent(_ResourceEvent):
    """``io.ripple.resource.unmatched.v1`` on ``ripple.v1.events.…``."""

    TYPE: ClassVar[str] = T_RESOURCE_UNMATCHED
    CHANGE: ClassVar[str] = "unmatched"
    type: Literal["io.ripple.resource.unmatched.v1"] = "io.ripple.resource.unmatched.v1"
    data: ResourceChange


class MatchEvent(Envelope):
    """``io.ripple.match.v1``: value of a ``ripple-matches`` entry (one matching object)."""

    TYPE: ClassVar[str] = T_MATCH
    type: Literal["io.ripple.match.v1"] = "io.ripple.match.v1"
    data: Match


class MatchHeadEvent(Envelope):
    """``io.ripple.matchhead.v1``: value of a ``ripple-matches`` head (one matching set)."""

    TYPE: ClassVar[str] = T_MATCHHEAD
    type: Literal["io.ripple.matchhead.v1"] = "io.ripple.matchhead.v1"
    data: MatchHead


MatchesEvent = MatchEvent | MatchHeadEvent
"""A value of ``ripple-matches``."""


class AssignmentEvent(Envelope):
    """``io.ripple.assignment.v1``: value of ``ripple-assignments``."""

    TYPE: ClassVar[str] = T_ASSIGNMENT
    type: Literal["io.ripple.assignment.v1"] = "io.ripple.assignment.v1"
    data: Assignment


class DesiredStateEvent(Envelope):
    """``io.ripple.desiredstate.v1``: value of ``ripple-desired``."""

    TYPE: ClassVar[str] = T_DESIREDSTATE
    type: Literal["io.ripple.desiredstate.v1"] = "io.ripple.desiredstate.v1"
    data: DesiredState


class ApplyOutcomeEvent(Envelope):
    """``io.ripple.applyoutcome.v1``: value of ``ripple-outcomes``."""

    TYPE: ClassVar[str] = T_APPLYOUTCOME
    type: Literal["io.ripple.applyoutcome.v1"] = "io.ripple.applyoutcome.v1"
    data: ApplyOutcome


class AgentStatusEvent(Envelope):
    """``io.ripple.agentstatus.v1``: value of ``ripple-agents``."""

    TYPE: ClassVar[str] = T_AGENTSTATUS
    type: Literal["io.ripple.agentstatus.v1"] = "io.ripple.agentstatus.v1"
    data: AgentStatus


class ProfileEvent(Envelope):
    """``io.ripple.profile.v1``: value of ``ripple-profiles``."""

    TYPE: ClassVar[str] = T_PROFILE
    type: Literal["io.ripple.profile.v1"] = "io.ripple.profile.v1"
    data: ProfileState


class DefinitionStatusEvent(Envelope):
    """``io.ripple.status.v1``: value of ``ripple-status``."""

    TYPE: ClassVar[str] = T_STATUS
    type: Literal["io.ripple.status.v1"] = "io.ripple.status.v1"
    data: DefinitionStatus


ResourceChangeEvent = ResourceMatchedEvent | ResourceUpdatedEvent | ResourceUnmatchedEvent
RESOURCE_CHANGE_EVENTS: tuple[type[Envelope], ...] = (
    ResourceMatchedEvent,
    ResourceUpdatedEvent,
    ResourceUnmatchedEvent,
)
ENVELOPES: tuple[type[Envelope], ...] = (
    EventReportEvent,
    *RESOURCE_CHANGE_EVENTS,
    MatchEvent,
    MatchHeadEvent,
    AssignmentEvent,
    DesiredStateEvent,
    ApplyOutcomeEvent,
    AgentStatusEvent,
    ProfileEvent,
    DefinitionStatusEvent,
)
"""Every envelope class, one per CloudEvent type."""
REGISTRY: dict[str, type[Envelope]] = {cls.TYPE: cls for cls in ENVELOPES}
"""CloudEvent type -> envelope class."""

__all__ = [
    "ENVELOPES",
    "REGISTRY",
    "RESOURCE_CHANGE_EVENTS",
    "T_AGENTSTATUS",
    "T_APPLYOUTCOME",
    "T_ASSIGNMENT",
    "T_DESIREDSTATE",
    "T_EVENTREPORT",
    "T_LEASE",
    "T_MATCH",
    "T_MATCHHEAD",
    "T_PROFILE",
    "T_RESOURCE_MATCHED",
    "T_RESOURCE_UNMATCHED",
    "T_RESOURCE_UPDATED",
    "T_STATUS",
    "AgentStatusEvent",
    "ApplyOutcomeEvent",
    "AssignmentEvent",
    "DefinitionStatusEvent",
    "DesiredStateEvent",
    "Envelope",
    "EventReportEvent",
    "MatchEvent",
    "MatchHeadEvent",
    "MatchesEvent",
    "ProfileEvent",
    "ResourceChangeEvent",
    "ResourceMatchedEvent",
    "ResourceUnmatchedEvent",
    "ResourceUpdatedEvent",
]
