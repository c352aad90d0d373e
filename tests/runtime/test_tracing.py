"""Tracing (shared.runtime.tracing): off costs nothing (no OpenTelemetry import, no span);
on, spans chain through the headers a message carries; headers travel through a real
nats-server on per-change events and KV values (put and watch)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.bus.client import EventStream, publish_change
from shared.bus.kv import KVStore
from shared.contract import headers as h
from shared.contract import messages as m
from shared.contract import streams
from shared.contract.examples import example
from shared.runtime import tracing
from shared.runtime.tracing import Origin

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    tracing.configure("ripple-test", processor=SimpleSpanProcessor(spans))
    try:
        yield spans
    finally:
        tracing.shutdown()


def test_off_by_default_imports_no_sdk_and_builds_no_span() -> None:
    """One interpreter: the agent and the reporter import nothing of OpenTelemetry; the
    manager nothing of its SDK or exporters (FastAPI imports the API for its own use)."""
    code = (
        "import sys\n"
        "def otel(*parts):\n"
        "    return sorted(n for n in sys.modules if n.startswith(parts))\n"
        "import services.agent.service, services.reporter.service\n"
        "from shared.runtime import tracing\n"
        "with tracing.span('x', parent=tracing.Origin(1.0, 'p')) as s:\n"
        "    assert s is None\n"
        "assert not tracing.enabled()\n"
        "print(otel('opentelemetry'))\n"
        "import services.manager.service\n"
        "print(otel('opentelemetry.sdk', 'opentelemetry.exporter'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split("\n")[:2] == ["[]", "[]"]


def test_origin_headers_round_trip_and_bad_headers_are_ignored() -> None:
    origin = Origin(1700000000.25, PARENT, "vendor=x")
    assert Origin.of(origin.headers()) == origin
    assert Origin.of({h.EVENT_TIME: "1700000000.25"}) == Origin(1700000000.25)
    assert Origin.of({h.TRACEPARENT: PARENT}) == Origin(0.0, PARENT)  # no event time: 0
    assert Origin(0.0, PARENT).headers() == {h.TRACEPARENT: PARENT}
    for bad in (
        {h.EVENT_TIME: "soon"},
        {h.EVENT_TIME: "nan"},
        {h.EVENT_TIME: "-5"},
        {h.TRACEPARENT: "00-" + "0" * 32 + "-b7ad6b7169203331-01"},
        {h.TRACEPARENT: PARENT.upper()},
        {h.TRACEPARENT: PARENT + "-extra"},
        {},
        None,
    ):
        assert Origin.of(bad) is None, bad
    long_state = {h.EVENT_TIME: "5", h.TRACEPARENT: PARENT, h.TRACESTATE: "x" * 600}
    assert Origin.of(long_state) == Origin(5.0, PARENT)  # a tracestate too long is dropped


def test_the_oldest_origin_wins_and_keeps_a_trace_context() -> None:
    a, b = Origin(10.0), Origin(20.0, PARENT)
    assert a.older(b) == Origin(10.0, PARENT)  # the earlier time, the only context
    assert b.older(Origin(30.0, "other")) == b
    assert tracing.merge([None, b, a]) == Origin(10.0, PARENT)
    assert tracing.merge([]) is None
    assert Origin(0.0, PARENT).older(Origin(5.0)) == Origin(5.0, PARENT)  # 0 is unknown


def test_spans_chain_through_carried_headers(exporter: InMemorySpanExporter) -> None:
    with tracing.span("watch event", start=100.0, at=100.0) as root:
        assert root is not None
        first = root.origin
    received = Origin.of(first.headers())  # what the next service reads from NATS
    assert received == first and received.at == 100.0
    with tracing.span("reconcile", parent=received, links=[received, Origin(1.0)]) as child:
        assert child is not None and child.origin.at == 100.0
        child.set("ripple.changes", 1)
    with pytest.raises(RuntimeError), tracing.span("apply", parent=child.origin):
        raise RuntimeError("apply failed")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    root_span, reconcile, apply = spans["watch event"], spans["reconcile"], spans["apply"]
    trace_id = root_span.context.trace_id
    assert reconcile.context.trace_id == trace_id == apply.context.trace_id
    assert reconcile.parent is not None and reconcile.parent.span_id == root_span.context.span_id
    assert apply.parent is not None and apply.parent.span_id == reconcile.context.span_id
    assert [link.context.span_id for link in reconcile.links] == [root_span.context.span_id]
    assert root_span.start_time == 100 * 10**9
    assert reconcile.attributes["ripple.changes"] == 1
    assert not apply.status.is_ok and "apply failed" in (apply.status.description or "")
    assert reconcile.resource.attributes["service.name"] == "ripple-test"


def test_a_service_that_does_not_trace_passes_the_context_through() -> None:
    origin = Origin(3.0, PARENT)
    with tracing.span("desired put", parent=origin) as span:
        assert span is None
        assert tracing.carried(span, origin) is origin


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://otel.example/custom/path", "https://otel.example/custom/path"),
    ],
)
def test_the_endpoint_gets_the_traces_path(endpoint: str, url: str) -> None:
    assert tracing.traces_url(endpoint) == url


def test_a_bad_endpoint_is_a_clear_setting_error() -> None:
    from shared.runtime.errors import InvalidSetting
    from shared.runtime.settings import ServiceSettings, load

    with pytest.raises(InvalidSetting, match=r"otlp_endpoint .*RIPPLE_OTLP_ENDPOINT.*http"):
        load(ServiceSettings, otlp_endpoint="collector:4318")
    assert load(ServiceSettings, otlp_endpoint="").otlp_endpoint is None


async def test_headers_travel_on_events_and_kv_values(jetstream: Any) -> None:
    origin = Origin(1700000000.5, PARENT)
    change = example(m.ResourceChangeEvent).data
    async with EventStream(jetstream) as events:
        await publish_change(jetstream, change, headers=origin.headers())
        msg = await events._receive(10)
    assert Origin.of(msg.headers) == origin
    assert msg.headers["Nats-Msg-Id"]  # the dedup id is still there

    message = example(m.MatchEvent)
    store = await KVStore.open(jetstream, streams.MATCHES, m.MatchEvent)
    revision = await store.put(message, origin.headers())
    assert await store.get(m.message_key(message)) == message
    async with store.watch() as watch:
        changes = aiter(watch)
        seen = await asyncio.wait_for(anext(changes), 10)
    assert (seen.op, seen.revision, seen.message) == ("put", revision, message)
    assert Origin.of(seen.headers) == origin


async def test_a_collector_that_does_not_answer_never_holds_the_exit() -> None:
    """Spans are exported in batches to the collector; at the end the buffered ones get
    most of the shutdown grace, then are dropped (said in the log): the service ends."""
    import time

    from services.scenario.processes import free_port
    from shared.runtime.service import Service, _run
    from shared.runtime.settings import ServiceSettings

    settings = ServiceSettings(
        otlp_endpoint=f"http://127.0.0.1:{free_port()}", shutdown_grace=1.0
    )  # nothing listens there
    service = Service("test", settings)
    seen: dict[str, bool] = {}

    async def main(svc: Service) -> None:
        seen["enabled"] = tracing.enabled()
        with tracing.span("work") as span:
            seen["span"] = span is not None

    started = time.monotonic()
    await _run(service, main)
    assert seen == {"enabled": True, "span": True}
    assert time.monotonic() - started < 5.0  # the exporter alone retries for ~7 s
    assert not tracing.enabled()
