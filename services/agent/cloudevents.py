"""CloudEvents arriving on NATS: the second event source (``messagingMatchCriteria``).

The agent subscribes to ``ripple.v1.cloudevents.<clusterns>.<cluster>.>`` (plus any subjects
given with ``--cloudevent-subject``). Each message is a CloudEvent 1.0 in structured JSON
mode. An EventSource keeps, per (source, subject), the latest matching CloudEvent: a newer
event with the same source and subject replaces the older one, so a trigger's
``cloudEventAction`` (rendered over the newest event) decides whether the add-on stays
(``Create``) or goes (``Delete``).
"""

from __future__ import annotations

import json
from typing import Any

from shared.contract.subjects import ROOT, ClusterRef

MAX_EVENT_BYTES = 256 * 1024
MAX_EVENTS_PER_SOURCE = 1000


class InvalidCloudEvent(ValueError):
    """The message is not a CloudEvent 1.0 JSON document."""


def default_subject(cluster: ClusterRef) -> str:
    return f"{ROOT}.cloudevents.{cluster.token}.>"


def parse(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_EVENT_BYTES:
        raise InvalidCloudEvent(f"{len(data)} bytes, over the {MAX_EVENT_BYTES}-byte limit")
    try:
        event = json.loads(data)
    except ValueError as exc:
        raise InvalidCloudEvent(f"not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise InvalidCloudEvent("not a JSON object")
    if event.get("specversion") != "1.0":
        raise InvalidCloudEvent(f"specversion {event.get('specversion')!r} is not '1.0'")
    for attr in ("id", "source", "type"):
        if not isinstance(event.get(attr), str) or not event[attr]:
            raise InvalidCloudEvent(f"required attribute {attr!r} missing")
    return event


def keep_latest(events: list[dict[str, Any]], event: dict[str, Any]) -> list[dict[str, Any]]:
    """``events`` with ``event`` replacing any earlier one of the same source and subject."""
    ident = (event.get("source"), event.get("subject", ""))
    kept = [e for e in events if (e.get("source"), e.get("subject", "")) != ident]
    kept.append(event)
    return kept[-MAX_EVENTS_PER_SOURCE:]
