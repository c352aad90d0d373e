"""The reporter's metrics (issue 18 item 3): writes, failures, queue depth, and its lag --
input lag per bucket, write time, change to write, the oldest pending write.

Real processes and servers, as in :mod:`tests.reporter.test_reporter_retry` (whose harness
this reuses): a ``ripple reporter`` subprocess with ``--metrics-port``, a nats-server, a
management cluster of the simulated fleet whose fault hook makes writes fail.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.fleet import FleetThread
from shared.bus.embedded import EmbeddedNats
from tests.reliability.helpers import eventually
from tests.reporter.test_reporter_retry import (  # noqa: F401 (fleet: a fixture)
    REPORTS_PATH,
    Harness,
    fleet,
    matching_set,
    new_harness,
)


@pytest.fixture
def harness(fleet: FleetThread, nats_server: EmbeddedNats, tmp_path: Path) -> Iterator[Harness]:  # noqa: F811
    with new_harness(fleet, nats_server, tmp_path) as h:
        yield h


def test_the_reporter_measures_its_lag_and_its_writes(harness: Harness) -> None:
    harness.start()
    harness.fault(REPORTS_PATH, 503, "PATCH", count=2)  # the first two writes fail
    harness.put(matching_set("lag", "a", "b"))
    eventually(lambda: harness.metric("write_failures_total") >= 1, what="a write failed")
    waited = eventually(
        lambda: (v := harness.metric("oldest_pending_write_seconds")) > 0 and v,
        what="a write waiting",
    )
    assert waited > 0
    assert eventually(lambda: harness.matching("lag"), 30, what="EventReport") == {"a", "b"}
    eventually(lambda: harness.metric("oldest_pending_write_seconds") == 0, what="none waiting")

    with urllib.request.urlopen(harness.metrics_url, timeout=5) as resp:
        text = resp.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    count = {
        name: sum(s.value for s in families[name].samples if s.name == f"{name}_count")
        for name in (
            "ripple_reporter_write_seconds",
            "ripple_reporter_change_to_write_seconds",
            "ripple_reporter_input_lag_seconds",
        )
    }
    assert count["ripple_reporter_write_seconds"] >= 3  # two failures, then the write
    assert count["ripple_reporter_change_to_write_seconds"] >= 1
    lag = families["ripple_reporter_input_lag_seconds"]
    buckets = {s.labels["bucket"] for s in lag.samples}
    assert {"ripple-matches", "ripple-profiles", "ripple-outcomes", "ripple-status"} <= buckets
    matches = [
        s.value
        for s in lag.samples
        if s.name.endswith("_count") and s.labels["bucket"] == "ripple-matches"
    ]
    assert matches == [3.0]  # two entries and the head, read after the initial values
    change = families["ripple_reporter_change_to_write_seconds"]
    total = next(s.value for s in change.samples if s.name.endswith("_sum"))
    assert total > 0
    assert harness.metric("writes_total") >= 1
    assert harness.metric("workqueue_objects_depth") == 0
