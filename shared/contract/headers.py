"""The NATS headers of the contract, declared once (section "Headers" of
docs/nats-contract.md).

A per-change event (``ripple.v1.events...``) and the values of ``ripple-matches``,
``ripple-desired`` and ``ripple-outcomes`` may carry:

- :data:`EVENT_TIME`: when the agent saw the watch event a change comes from (Unix seconds,
  decimal). The manager carries it from the ``ripple-matches`` entry to the desired state it
  puts for that change (the oldest one when a put follows several changes); the applying
  agent measures ``ripple_agent_event_to_applied_seconds`` from it.
- :data:`TRACEPARENT` / :data:`TRACESTATE`: W3C trace context
  (https://www.w3.org/TR/trace-context/), present when the writer traces (OpenTelemetry
  exporter configured, ``--otlp-endpoint``), or passed through unchanged by a service that
  does not trace.

Headers are metadata: a value is read the same with or without them, and a header that
cannot be read is ignored (no value is refused for its headers). Header names are compared
as written here (nats-py keeps their case).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

EVENT_TIME = "Ripple-Event-Time"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

ORIGIN_HEADERS = (EVENT_TIME, TRACEPARENT, TRACESTATE)
"""The headers a change carries along from the watch event to its apply."""

MAX_TRACESTATE = 512
"""Characters of ``tracestate`` kept (the W3C limit is 32 members of 256 characters; a
longer value is dropped, never an error)."""

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def event_time(headers: Mapping[str, str] | None) -> float | None:
    """The event time a value carries (None: absent or unreadable)."""
    if not headers:
        return None
    raw = headers.get(EVENT_TIME)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def traceparent(headers: Mapping[str, str] | None) -> str:
    """The ``traceparent`` a value carries when it is well-formed (version 00 fields, not
    the all-zero ids), else ""."""
    if not headers:
        return ""
    raw = headers.get(TRACEPARENT, "")
    if not raw or len(raw) != 55 or not _TRACEPARENT.match(raw):
        return ""
    _, trace_id, span_id, _ = raw.split("-")
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return ""
    return raw


def tracestate(headers: Mapping[str, str] | None) -> str:
    if not headers:
        return ""
    raw = headers.get(TRACESTATE, "")
    return raw if len(raw) <= MAX_TRACESTATE else ""


__all__ = [
    "EVENT_TIME",
    "MAX_TRACESTATE",
    "ORIGIN_HEADERS",
    "TRACEPARENT",
    "TRACESTATE",
    "event_time",
    "traceparent",
    "tracestate",
]
