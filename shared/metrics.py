"""Prometheus exposition of a service's counters and gauges (prometheus-client).

Each service keeps plain counters (a ``dict`` or attributes) where the work happens; a
:class:`Collector` turns a snapshot function into metrics at scrape time, so no metric
object is threaded through the code and a private registry keeps tests independent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector as _Base

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Snapshot = Callable[[], Mapping[str, tuple[str, str, float]]]
"""name -> (kind "counter"|"gauge", help text, value)."""


class Collector(_Base):
    def __init__(self, prefix: str, snapshot: Snapshot) -> None:
        self.prefix = prefix
        self.snapshot = snapshot

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        for name, (kind, text, value) in sorted(self.snapshot().items()):
            full = f"{self.prefix}_{name}"
            if kind == "counter":
                yield CounterMetricFamily(full, text, value=value)
            else:
                yield GaugeMetricFamily(full, text, value=value)


def exposition(prefix: str, snapshot: Snapshot) -> bytes:
    """The text exposition format of one snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(prefix, snapshot))
    return bytes(generate_latest(registry))
