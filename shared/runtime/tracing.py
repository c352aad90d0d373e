"""Traces: W3C trace context in NATS headers, spans exported by OpenTelemetry's SDK.

Off by default. :func:`configure` (called by :mod:`shared.runtime.service` when
``--otlp-endpoint`` / ``RIPPLE_OTLP_ENDPOINT`` is set) imports the SDK and builds a tracer
provider whose spans go to an OTLP/HTTP collector in batches (``service.name`` =
``ripple-<service>``, ``ripple.instance`` = the cluster for an agent). Until then nothing
of OpenTelemetry is imported, :func:`span` returns one shared no-op context (no span object
is built) and the only cost per change is carrying its :class:`Origin`.

An :class:`Origin` is what a change carries from the agent's watch event to its apply:
the event's time (always: ``ripple_agent_event_to_applied_seconds`` is measured from it)
and, when traced, the W3C ``traceparent``/``tracestate`` of the last span that handled it.
It travels in the headers of the contract (:mod:`shared.contract.headers`). A service that
does not trace passes the trace context it received through unchanged.

Spans are started with an explicit parent (never the ambient context: the loop interleaves
many changes), ended when the ``with`` block ends (an exception marks the span as an error
and is re-raised), and may link to other origins (a manager reconcile batching several
changes is the child of the first and links to every one).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shared.contract import headers as h

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a change comes from: its watch event's time (Unix seconds; 0: unknown, e.g. a
    definition edit) and, when traced, the trace context of the span that handled it
    last."""

    at: float
    traceparent: str = ""
    tracestate: str = ""

    @staticmethod
    def of(headers: Mapping[str, str] | None) -> Origin | None:
        """The origin a NATS message carries (None when it carries neither an event time
        nor a trace context)."""
        if not headers:
            return None
        at = h.event_time(headers)
        parent = h.traceparent(headers)
        if at is None and not parent:
            return None
        return Origin(at or 0.0, parent, h.tracestate(headers) if parent else "")

    def headers(self) -> dict[str, str]:
        out = {h.EVENT_TIME: repr(self.at)} if self.at > 0 else {}
        if self.traceparent:
            out[h.TRACEPARENT] = self.traceparent
            if self.tracestate:
                out[h.TRACESTATE] = self.tracestate
        return out

    def older(self, other: Origin | None) -> Origin:
        """The origin that waited longer (the earlier event), keeping a trace context if
        only the other has one."""
        if other is None:
            return self
        a, b = self.at or float("inf"), other.at or float("inf")
        first, second = (self, other) if a <= b else (other, self)
        if first.traceparent or not second.traceparent:
            return first
        return Origin(first.at, second.traceparent, second.tracestate)


def merge(origins: Iterable[Origin | None]) -> Origin | None:
    """The oldest of ``origins`` (None when there is none)."""
    out: Origin | None = None
    for origin in origins:
        if origin is not None:
            out = origin.older(out)
    return out


def now_origin() -> Origin:
    """An origin for an event seen now (not traced: :func:`span` adds the context)."""
    return Origin(time.time())


class Active:
    """A span being recorded: :attr:`origin` is the context its children and the messages
    it writes carry; :meth:`set` adds an attribute."""

    __slots__ = ("_span", "origin")

    def __init__(self, span: Any, origin: Origin) -> None:
        self._span = span
        self.origin = origin

    def set(self, key: str, value: str | int | float | bool) -> None:
        self._span.set_attribute(key, value)


_NULL: contextlib.nullcontext[None] = contextlib.nullcontext(None)


class _Tracing:
    """The configured SDK objects (built by :func:`configure` only)."""

    def __init__(self, provider: Any, attributes: Mapping[str, str]) -> None:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = provider
        self.tracer = provider.get_tracer("ripple")
        self.trace = trace
        self.propagator = TraceContextTextMapPropagator()
        self.attributes = dict(attributes)

    def context(self, origin: Origin | None) -> Any:
        if origin is None or not origin.traceparent:
            return None
        carrier = {h.TRACEPARENT: origin.traceparent}
        if origin.tracestate:
            carrier[h.TRACESTATE] = origin.tracestate
        return self.propagator.extract(carrier)

    def link(self, origin: Origin) -> Any:
        ctx = self.context(origin)
        if ctx is None:
            return None
        span_context = self.trace.get_current_span(ctx).get_span_context()
        return self.trace.Link(span_context) if span_context.is_valid else None

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        parent: Origin | None,
        links: Iterable[Origin],
        attributes: Mapping[str, str | int | float | bool] | None,
        start: float | None,
        at: float | None,
    ) -> Iterator[Active]:
        found = [link for link in (self.link(o) for o in links) if link is not None]
        span = self.tracer.start_span(
            name,
            context=self.context(parent),
            links=found,
            attributes={**self.attributes, **(attributes or {})},
            start_time=int(start * 1e9) if start is not None else None,
        )
        sc = span.get_span_context()
        traceparent = f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{int(sc.trace_flags):02x}"
        base = at if at is not None else parent.at if parent is not None else time.time()
        active = Active(span, Origin(base, traceparent, sc.trace_state.to_header()))
        try:
            yield active
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(self.trace.Status(self.trace.StatusCode.ERROR, str(exc)[:200]))
            raise
        finally:
            span.end()

    def shutdown(self) -> None:
        self.provider.shutdown()


_tracing: _Tracing | None = None


def enabled() -> bool:
    return _tracing is not None


def span(
    name: str,
    *,
    parent: Origin | None = None,
    links: Iterable[Origin] = (),
    attributes: Mapping[str, str | int | float | bool] | None = None,
    start: float | None = None,
    at: float | None = None,
) -> contextlib.AbstractContextManager[Active | None]:
    """A span named ``name``, child of ``parent`` (a new trace without one), linked to
    ``links``, started at ``start`` (Unix seconds; default now). Its :attr:`Active.origin`
    keeps ``at`` (default: the parent's event time). Yields None when tracing is off."""
    if _tracing is None:
        return _NULL
    return _tracing.span(name, parent, links, attributes, start, at)


def carried(active: Active | None, origin: Origin | None) -> Origin | None:
    """What a message written under ``active`` carries: the span's context when traced,
    else the origin received (its trace context passed through unchanged)."""
    return active.origin if active is not None else origin


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of ``endpoint``: as given when it has a path, else with
    ``/v1/traces`` (the collector's default)."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{endpoint!r} is not an http:// or https:// URL")
    if parts.path in ("", "/"):
        return endpoint.rstrip("/") + "/v1/traces"
    return endpoint


def configure(
    service: str,
    endpoint: str | None = None,
    *,
    attributes: Mapping[str, str] | None = None,
    sample_ratio: float = 1.0,
    processor: Any = None,
) -> None:
    """Trace from now on: spans of ``service`` (``service.name``) exported in batches to
    ``endpoint`` (OTLP/HTTP), or handed to ``processor`` (an SDK span processor: tests).
    ``sample_ratio``: the share of new traces recorded (a change's trace follows its
    parent's decision). Replaces a previous configuration (shut down first)."""
    global _tracing
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    if processor is None:
        if not endpoint:
            raise ValueError("an OTLP endpoint or a span processor is needed")
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url(endpoint)))
    attrs = dict(attributes or {})
    resource = Resource.create({"service.name": service, **attrs})
    provider = TracerProvider(
        resource=resource, sampler=ParentBased(TraceIdRatioBased(sample_ratio))
    )
    provider.add_span_processor(processor)
    shutdown()
    _tracing = _Tracing(provider, attrs)
    log.info(
        "tracing on: spans of %s to %s",
        service,
        endpoint or type(processor).__name__,
        extra={"obj": service},
    )


def shutdown() -> None:
    """Export what is buffered and stop tracing (blocking: call it from a thread)."""
    global _tracing
    current, _tracing = _tracing, None
    if current is not None:
        try:
            current.shutdown()
        except Exception as exc:  # an exporter failing at the end loses spans, nothing else
            log.warning("tracing shutdown: %s", exc, extra={"obj": "tracing"})


__all__ = [
    "Active",
    "Origin",
    "carried",
    "configure",
    "enabled",
    "merge",
    "now_origin",
    "shutdown",
    "span",
    "traces_url",
]
