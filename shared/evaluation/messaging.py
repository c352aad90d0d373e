"""An EventSource's messagingMatchCriteria, compiled: "is this CloudEvent an event?".

:meth:`MessagingCriteria.compile` turns the criteria into RE2 patterns once (an invalid
pattern is an :class:`~shared.evaluation.errors.InvalidEventSource` naming its field).
:meth:`~MessagingCriteria.matches` decides for a CloudEvent received on a NATS subject
(the hot path: :meth:`~shared.evaluation.engine.CompiledEventSource.match_cloud_event`);
:meth:`~MessagingCriteria.mismatches` says, per criterion, which field refuses it (for
:func:`shared.evaluation.explaining.explain_cloud_event`).

Criteria are ORed, the fields of one criterion ANDed; each field is an unanchored regular
expression on the NATS subject / the event's ``source``, ``type``, ``subject``; an empty field
matches anything. No criteria: no CloudEvent matches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import re2  # type: ignore[import-untyped]

from shared.api.eventsource import MessagingMatchCriteria
from shared.evaluation.errors import InvalidEventSource

_Pattern = Any  # a compiled re2 pattern (re2 has no type annotations)


@dataclass(frozen=True, slots=True)
class _Criterion:
    subject: _Pattern | None
    source: _Pattern | None
    type: _Pattern | None
    event_subject: _Pattern | None


def _regex(pattern: str, name: str, where: str) -> _Pattern | None:
    """An RE2 pattern (Go's regexp syntax, as Sveltos matches; linear time whatever the
    CloudEvent's content: these run on the agent's loop)."""
    if not pattern:
        return None
    try:
        return re2.compile(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise InvalidEventSource(
            name, where, f"invalid regular expression {pattern!r}: {reason}"
        ) from exc


def _search(pattern: _Pattern | None, value: Any) -> bool:
    return pattern is None or pattern.search(value if isinstance(value, str) else "") is not None


class MessagingCriteria:
    """The messagingMatchCriteria of one EventSource, compiled. Immutable, thread-safe."""

    __slots__ = ("_criteria",)

    def __init__(self, criteria: Sequence[_Criterion]) -> None:
        self._criteria = tuple(criteria)

    @classmethod
    def compile(cls, name: str, criteria: Sequence[MessagingMatchCriteria]) -> MessagingCriteria:
        """Compile the criteria of EventSource ``name``. Raises :class:`InvalidEventSource`
        (an invalid regular expression, naming its field)."""
        where = "messagingMatchCriteria"
        return cls(
            [
                _Criterion(
                    _regex(c.subject, name, f"{where}[{i}].subject"),
                    _regex(c.cloud_event_source, name, f"{where}[{i}].cloudEventSource"),
                    _regex(c.cloud_event_type, name, f"{where}[{i}].cloudEventType"),
                    _regex(c.cloud_event_subject, name, f"{where}[{i}].cloudEventSubject"),
                )
                for i, c in enumerate(criteria)
            ]
        )

    def matches(self, subject: str, event: Mapping[str, Any]) -> bool:
        """Does a CloudEvent received on NATS ``subject`` match one of the criteria?"""
        for c in self._criteria:
            if (
                _search(c.subject, subject)
                and _search(c.source, event.get("source"))
                and _search(c.type, event.get("type"))
                and _search(c.event_subject, event.get("subject"))
            ):
                return True
        return False

    def mismatches(self, subject: str, event: Mapping[str, Any]) -> list[str]:
        """Per criterion, the first field that refuses the CloudEvent ("" for a criterion that
        matches): what :meth:`matches` decides, explained."""
        out = []
        values = (
            ("NATS subject", subject),
            ("source", event.get("source")),
            ("type", event.get("type")),
            ("subject", event.get("subject")),
        )
        for c in self._criteria:
            why = ""
            patterns = (c.subject, c.source, c.type, c.event_subject)
            for (label, value), pattern in zip(values, patterns, strict=True):
                if pattern is not None and not _search(pattern, value):
                    why = f"{label} {value!r} does not match {pattern.pattern!r}"
                    break
            out.append(why)
        return out
