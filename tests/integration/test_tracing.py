"""One trace per event, across agent, manager and agent again (issue 18 item 2), and the
event-to-applied histogram of the applying agent (item 3).

Real processes: nats-server with authorization, the simulated fleet (one cluster), the
manager, the reporter and the cluster's agent, each exporting its spans with OpenTelemetry's
OTLP/HTTP exporter (``RIPPLE_OTLP_ENDPOINT``) to a collector this test runs on loopback (it
decodes the protobuf requests with opentelemetry-proto). A Service labelled ``sveltos: fv``
is created; its NetworkPolicy is deployed; the spans of that one watch event form one trace:
watch event -> publish (agent) -> reconcile -> desired put (manager) -> apply -> outcome put
(agent), each the child of the one before.
"""

from __future__ import annotations

import functools
import gzip
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from services.scenario.model import Fleet
from services.scenario.stack import Stack
from shared.kube import GVK
from shared.metrics import parse_histogram
from tests.integration.helpers import eventually as _eventually
from tests.integration.helpers import service
from tests.paths import SCENARIOS

SCENARIO = SCENARIOS / "01-network-policy-per-service"
NETPOL = GVK("networking.k8s.io/v1", "NetworkPolicy")
CLUSTER = "default/cluster-a"
CHAIN = [
    ("ripple-agent", "watch event"),
    ("ripple-agent", "publish"),
    ("ripple-manager", "reconcile"),
    ("ripple-manager", "desired put"),
    ("ripple-agent", "apply"),
    ("ripple-agent", "outcome put"),
]

eventually = functools.partial(_eventually, timeout=20.0, interval=0.05)


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    links: tuple[str, ...]
    start_ns: int = 0
    end_ns: int = 0


class Collector:
    """An OTLP/HTTP trace receiver on loopback (``POST /v1/traces``)."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                collector.receive(body)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for s in scope.spans:
                    received.append(
                        Span(
                            service=str(resource.get("service.name", "")),
                            name=s.name,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_id=s.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in s.attributes},
                            links=tuple(link.span_id.hex() for link in s.links),
                            start_ns=s.start_time_unix_nano,
                            end_ns=s.end_time_unix_nano,
                        )
                    )
        with self.lock:
            self.spans.extend(received)

    def snapshot(self) -> list[Span]:
        with self.lock:
            return list(self.spans)

    def __enter__(self) -> Collector:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    with Collector() as running:
        yield running


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, collector: Collector) -> Iterator[Stack]:
    mp = pytest.MonkeyPatch()
    mp.setenv("RIPPLE_OTLP_ENDPOINT", collector.url)  # every service exports its spans
    mp.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")  # the SDK's batch delay (ms): a quick test
    fleet = Fleet.model_validate(
        {
            "clusters": [
                {"namespace": "default", "name": "cluster-a", "type": "sveltos",
                 "labels": {"env": "fv"}},
            ]
        }
    )  # fmt: skip
    state: Path = tmp_path_factory.mktemp("tracing")
    try:
        with Stack(fleet, SCENARIO / "management", state_dir=state, metrics=True) as running:
            yield running
    finally:
        mp.undo()


def chain(spans: list[Span], leaf: Span) -> list[Span]:
    """``leaf`` and its ancestors, root first (as far as they were received)."""
    by_id = {s.span_id: s for s in spans}
    out = [leaf]
    while out[0].parent_id and out[0].parent_id in by_id:
        out.insert(0, by_id[out[0].parent_id])
    return out


def test_one_trace_per_event_across_agent_manager_and_agent(
    stack: Stack, collector: Collector
) -> None:
    cluster = stack.client(CLUSTER)
    cluster.apply(service("traced"), field_manager="test")
    eventually(lambda: cluster.get(NETPOL, "default", "front-traced"), what="policy deployed")

    def traced_chain() -> list[Span] | None:
        spans = collector.snapshot()
        roots = [
            s
            for s in spans
            if s.name == "watch event" and s.attributes.get("k8s.object.name") == "traced"
        ]
        for root in roots:
            for leaf in (s for s in spans if s.trace_id == root.trace_id):
                found = chain(spans, leaf)
                # a loaded machine may fail an apply first: its retry is in the same trace
                if [(s.service, s.name) for s in found] == CHAIN and (
                    found[-1].attributes.get("ripple.status") == "Provisioned"
                ):
                    return found
        return None

    try:
        found = eventually(
            traced_chain, timeout=40.0, what="the spans of the event, from watch to outcome"
        )
    except AssertionError as exc:  # say what came, to tell a missing span from a broken link
        received = [
            (s.service, s.name, s.trace_id[:8], s.span_id[:8], s.parent_id[:8])
            for s in collector.snapshot()
        ]
        raise AssertionError(f"{exc}; spans received: {received}") from None
    assert len({s.trace_id for s in found}) == 1, "one trace"
    root, publish, reconcile, put, apply, outcome = found
    assert root.parent_id == ""
    assert root.attributes["ripple.cluster"] == "sveltos:default/cluster-a"
    assert root.attributes["k8s.object.kind"] == "v1/Service"
    assert publish.attributes["ripple.event_source"] == "sveltos-service"
    assert reconcile.attributes["ripple.changes"] >= 1
    assert publish.span_id in reconcile.links  # the batch's changes are linked
    assert put.attributes["ripple.key"].startswith("default.sveltos--cluster-a.")
    assert put.attributes["ripple.key"].endswith(apply.attributes["ripple.profile"])
    assert outcome.attributes["ripple.status"] == "Provisioned"
    print(f"\ntrace {root.trace_id} (ms from the watch event: start +duration)")
    for span in found:
        start = (span.start_ns - root.start_ns) / 1e6
        print(
            f"  {span.service:15} {span.name:15} {start:7.1f} +{(span.end_ns - span.start_ns) / 1e6:.1f}"
        )


def test_the_applying_agent_measures_event_to_applied(stack: Stack) -> None:
    port = stack.metrics_ports[stack.agent_name(CLUSTER)]
    cluster = stack.client(CLUSTER)
    cluster.apply(service("measured"), field_manager="test")
    eventually(lambda: cluster.get(NETPOL, "default", "front-measured"), what="policy deployed")
    url = f"http://127.0.0.1:{port}/metrics"

    def observed() -> str | None:
        with urllib.request.urlopen(url, timeout=5) as resp:
            text: str = resp.read().decode()
        buckets = parse_histogram(text, "ripple_agent_event_to_applied_seconds")
        return text if buckets and buckets[-1][1] >= 1 else None

    text = eventually(observed, what="event to applied observed")
    assert 'ripple_agent_event_to_applied_seconds_count{cluster="sveltos:default/cluster-a"}' in (
        text
    )
    assert "ripple_agent_apply_seconds_bucket" in text
    assert "ripple_agent_evaluation_seconds_bucket" in text
