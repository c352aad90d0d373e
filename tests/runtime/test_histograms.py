"""Histograms (shared.metrics): buckets, the exposition Prometheus reads, PromQL's
histogram_quantile, and the services' /metrics serving them next to the counters."""

from __future__ import annotations

import math
import threading
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.metrics import (
    APPLY_BUCKETS,
    FAST_BUCKETS,
    LATENCY_BUCKETS,
    Histogram,
    exposition,
    parse_histogram,
    quantile,
)


def test_observations_fall_in_their_bucket_le_inclusive() -> None:
    h = Histogram("x_seconds", "X.", (0.1, 0.5, 1.0))
    for value in (0.05, 0.1, 0.2, 0.5, 0.7, 3.0, -1.0, math.nan, math.inf):
        h.observe(value)
    buckets, total, count = h.buckets()
    assert buckets == [(0.1, 3), (0.5, 5), (1.0, 6), (math.inf, 7)]  # -1 counts as 0
    assert count == 7 and h.count == 7  # NaN and +Inf are not observations
    assert total == pytest.approx(0.05 + 0.1 + 0.2 + 0.5 + 0.7 + 3.0)


@pytest.mark.parametrize("bad", [(), (1.0, 0.5), (0.1, 0.1), (0.1, math.inf)])
def test_buckets_must_be_finite_and_increasing(bad: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="increasing"):
        Histogram("x_seconds", "X.", bad)


def test_the_exposition_is_a_prometheus_histogram_with_its_labels() -> None:
    h = Histogram("event_to_applied_seconds", "Event to applied.", (0.1, 1.0), {"cluster": "a"})
    h.observe(0.05)
    h.observe(0.5)
    text = exposition(
        "ripple_agent", lambda: {"applies_total": ("counter", "Applies.", 2.0)}, [h]
    ).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    family = families["ripple_agent_event_to_applied_seconds"]
    assert family.type == "histogram"
    samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
    assert samples[("ripple_agent_event_to_applied_seconds_bucket", "0.1")] == 1
    assert samples[("ripple_agent_event_to_applied_seconds_bucket", "1.0")] == 2
    assert samples[("ripple_agent_event_to_applied_seconds_bucket", "+Inf")] == 2
    assert samples[("ripple_agent_event_to_applied_seconds_count", None)] == 2
    assert samples[("ripple_agent_event_to_applied_seconds_sum", None)] == pytest.approx(0.55)
    assert all(s.labels["cluster"] == "a" for s in family.samples)
    assert families["ripple_agent_applies"].type == "counter"  # the counters still there
    assert parse_histogram(text, "ripple_agent_event_to_applied_seconds") == [
        (0.1, 1.0),
        (1.0, 2.0),
        (math.inf, 2.0),
    ]


def test_two_label_sets_are_one_family_and_parse_sums_them() -> None:
    a = Histogram("apply_seconds", "Apply.", (1.0,), {"cluster": "a"})
    b = Histogram("apply_seconds", "Apply.", (1.0,), {"cluster": "b"})
    a.observe(0.5)
    b.observe(2.0)
    text = exposition("ripple_agent", dict, [a, b]).decode()
    assert text.count("# TYPE ripple_agent_apply_seconds histogram") == 1
    assert parse_histogram(text, "ripple_agent_apply_seconds") == [(1.0, 1.0), (math.inf, 2.0)]


def test_quantile_is_promql_histogram_quantile() -> None:
    # the examples of Prometheus' promql/quantile_test.go semantics
    buckets = [(0.1, 10.0), (0.5, 20.0), (1.0, 20.0), (math.inf, 20.0)]
    assert quantile(0.5, buckets) == pytest.approx(0.1)  # rank 10: the first bucket's top
    assert quantile(0.25, buckets) == pytest.approx(0.05)  # the first bucket starts at 0
    assert quantile(0.75, buckets) == pytest.approx(0.3)  # linear inside (0.1, 0.5]
    assert quantile(0.99, [(1.0, 1.0), (math.inf, 100.0)]) == 1.0  # in +Inf: highest bound
    assert math.isnan(quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]))
    h = Histogram("x_seconds", "X.", (0.01, 0.1, 1.0))
    for _ in range(99):
        h.observe(0.005)
    h.observe(0.5)
    assert h.quantile(0.5) == pytest.approx(0.01 * 50 / 99)
    assert 0.1 < h.quantile(0.999) <= 1.0


def test_observing_from_threads_loses_nothing() -> None:
    h = Histogram("x_seconds", "X.", FAST_BUCKETS)

    def work() -> None:
        for i in range(5000):
            h.observe(i / 5000)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert h.count == 20000


def test_the_declared_buckets_are_valid() -> None:
    for buckets in (LATENCY_BUCKETS, FAST_BUCKETS, APPLY_BUCKETS):
        Histogram("x_seconds", "X.", buckets)


async def test_a_service_serves_its_histograms_on_metrics() -> None:
    """The runtime's probe server encodes the histograms registered with add_histogram
    (read in its thread, not on the loop) next to the counters."""
    from services.scenario.processes import free_port
    from shared.runtime.service import Service, _run
    from shared.runtime.settings import ServiceSettings

    settings = ServiceSettings(metrics_port=free_port())
    service = Service("test", settings)
    seen: dict[str, Any] = {}

    async def main(svc: Service) -> None:
        h = svc.add_histogram(Histogram("work_seconds", "Work.", (0.1, 1.0)))
        h.observe(0.3)
        url = f"http://127.0.0.1:{svc.metrics_port}/metrics"
        seen["text"] = await _fetch(url)

    await _run(service, main)
    text = seen["text"]
    assert "# TYPE ripple_test_work_seconds histogram" in text
    assert 'ripple_test_work_seconds_bucket{le="1.0"} 1.0' in text
    assert "ripple_test_ready 0.0" in text
    assert "ripple_test_loop_lag_late_samples_total " in text  # base units in the name
    assert "ripple_test_loop_lag_over_100ms_total " in text  # the deprecated name, still served


async def _fetch(url: str) -> str:
    import asyncio

    def get() -> str:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return str(resp.read().decode())

    return await asyncio.to_thread(get)
