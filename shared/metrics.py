"""Prometheus exposition of a service's counters, gauges and histograms (prometheus-client).

Each service keeps plain counters (a ``dict`` or attributes) where the work happens; a
:class:`Collector` turns a snapshot function into metrics at scrape time, so no metric
object is threaded through the code and a private registry keeps tests independent.

Latencies are :class:`Histogram` objects: fixed buckets (base unit: seconds), observed from
any thread (a lock around a few additions), read at scrape time as cumulative buckets,
``_sum`` and ``_count`` (Prometheus' histogram type). :func:`quantile` estimates a quantile
from such buckets exactly as PromQL's ``histogram_quantile`` does.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector as _Base

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Snapshot = Callable[[], Mapping[str, tuple[str, str, float]]]
"""name -> (kind "counter"|"gauge", help text, value)."""

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Seconds: an event's way through the services (ms to a minute)."""
FAST_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
"""Seconds: one evaluation or render (0.1 ms to seconds)."""
APPLY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""Seconds: one apply (objects, Helm charts)."""


class Histogram:
    """Observations in fixed buckets (upper bounds, increasing; ``+Inf`` is implied).
    ``name`` has no service prefix (the :class:`Collector` adds it); ``labels`` are constant
    labels (e.g. the cluster)."""

    def __init__(
        self,
        name: str,
        help: str,
        buckets: Sequence[float],
        labels: Mapping[str, str] | None = None,
    ) -> None:
        bounds = [float(b) for b in buckets]
        if not bounds or bounds != sorted(set(bounds)) or not all(math.isfinite(b) for b in bounds):
            raise ValueError(f"histogram {name}: buckets must be finite and increasing")
        self.name = name
        self.help = help
        self.bounds = tuple(bounds)
        self.labels = dict(labels or {})
        self._counts = [0] * (len(bounds) + 1)  # the last one: over every bound
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        if not math.isfinite(value):
            return
        value = max(value, 0.0)
        index = bisect.bisect_left(self.bounds, value)
        with self._lock:
            self._counts[index] += 1
            self._sum += value

    @property
    def count(self) -> int:
        return sum(self._counts)

    def buckets(self) -> tuple[list[tuple[float, int]], float, int]:
        """``([(upper bound, cumulative count)...], sum, count)``, ``+Inf`` last."""
        with self._lock:
            counts, total = list(self._counts), self._sum
        out, running = [], 0
        for bound, n in zip((*self.bounds, math.inf), counts, strict=True):
            running += n
            out.append((bound, running))
        return out, total, running

    def quantile(self, q: float) -> float:
        return quantile(q, self.buckets()[0])


def quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """PromQL's ``histogram_quantile(q, ...)`` over cumulative ``(upper bound, count)``
    buckets (``+Inf`` last): linear interpolation inside the bucket holding the rank, the
    first bucket starting at 0, and the highest finite bound when the rank falls in
    ``+Inf``. NaN without observations."""
    if not buckets or buckets[-1][1] <= 0:
        return math.nan
    total = buckets[-1][1]
    rank = q * total
    index = next(i for i, (_, c) in enumerate(buckets) if c >= rank)
    if index == len(buckets) - 1 and math.isinf(buckets[index][0]):
        return buckets[-2][0] if len(buckets) > 1 else math.nan
    upper, count = buckets[index]
    lower, below = (0.0, 0.0) if index == 0 else buckets[index - 1]
    if count == below:
        return upper
    return lower + (upper - lower) * (rank - below) / (count - below)


def parse_histogram(text: str, name: str) -> list[tuple[float, float]]:
    """The cumulative buckets of histogram ``name`` in a text exposition (every series of
    it summed: several label sets are one distribution)."""
    sums: dict[float, float] = {}
    prefix = f"{name}_bucket{{"
    for line in text.splitlines():
        if not line.startswith(prefix):
            continue
        labels, _, value = line[len(prefix) :].rpartition("} ")
        le = next(p for p in labels.split(",") if p.startswith("le=")).split("=", 1)[1]
        bound = float(le.strip('"').replace("+Inf", "inf"))
        sums[bound] = sums.get(bound, 0.0) + float(value)
    return sorted(sums.items())


class Collector(_Base):
    def __init__(
        self, prefix: str, snapshot: Snapshot, histograms: Iterable[Histogram] = ()
    ) -> None:
        self.prefix = prefix
        self.snapshot = snapshot
        self.histograms = histograms

    def collect(
        self,
    ) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        for name, (kind, text, value) in sorted(self.snapshot().items()):
            full = f"{self.prefix}_{name}"
            if kind == "counter":
                yield CounterMetricFamily(full, text, value=value)
            else:
                yield GaugeMetricFamily(full, text, value=value)
        families: dict[str, HistogramMetricFamily] = {}
        for histogram in self.histograms:
            full = f"{self.prefix}_{histogram.name}"
            labels = sorted(histogram.labels)
            family = families.get(full)
            if family is None:
                family = families[full] = HistogramMetricFamily(full, histogram.help, labels=labels)
            buckets, total, _ = histogram.buckets()
            family.add_metric(
                [histogram.labels[k] for k in labels],
                [(_le(bound), float(count)) for bound, count in buckets],
                total,
            )
        yield from families.values()


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


def exposition(prefix: str, snapshot: Snapshot, histograms: Iterable[Histogram] = ()) -> bytes:
    """The text exposition format of one snapshot (and the histograms)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(prefix, snapshot, histograms))
    return bytes(generate_latest(registry))
