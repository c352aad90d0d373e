"""The hard time limit (issue 16): a run the hook cannot interrupt is abandoned, its runtime
replaced, runs are suspended while it still burns CPU, and other EventSources are not slowed.

The runaway used here is a backtracking pattern the guards would refuse, let through by a
huge ``pattern_steps`` (the guards are tested in test_guards.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from shared.evaluation import Limits, MatchResult, Pending
from shared.evaluation.isolation import stats
from tests.evaluation.helpers import lua, service

RUNAWAY = Limits(pattern_steps=1e30, hard_seconds=0.05, aggregate_hard_seconds=0.05)

#: runs `.*b` over 8,000 bytes (0.2-0.5 s of C backtracking) for the object "bad"
SCRIPT = (
    "function evaluate()\n"
    "  if obj.metadata.name == 'bad' then\n"
    "    local r = string.rep('a', 8000):find('.*b')\n"
    "  end\n"
    "  return {matching = true, message = obj.metadata.name}\n"
    "end\n"
)


def eventually(probe: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, "condition did not hold in time"
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def no_runaway_left() -> Iterator[None]:
    """Abandoned runs are per EventSource name and process-wide: none outlives its test
    (each test uses names of its own too, so a later test is never suspended by it)."""
    yield
    eventually(lambda: stats().runaways == 0)


def test_a_runaway_run_is_abandoned_at_the_hard_limit_and_its_runtime_replaced() -> None:
    c = lua(SCRIPT, RUNAWAY, name="iso-runaway")
    threads = threading.active_count()
    before = stats().timeouts_total
    started = time.perf_counter()
    result = c.evaluate(service("bad"))
    elapsed = time.perf_counter() - started
    assert 0.04 < elapsed < 2.0, elapsed
    assert result.retry and result.error is not None
    assert "abandoned after 0.05 s" in result.error, result.error
    assert stats().timeouts_total == before + 1 and c.timeouts() == 1
    # while the abandoned run still burns CPU, runs are refused (fast, no new thread)
    assert "still running" in c.unavailable()
    refused = c.evaluate(service("good"))
    assert refused.retry and refused.error is not None and "suspended" in refused.error
    eventually(lambda: stats().runaways == 0)
    # after the backoff (1 s after the timeout) a fresh runtime evaluates again
    eventually(lambda: not c.unavailable(), 120.0)
    assert c.evaluate(service("good")) == MatchResult(True, "good")
    # the runaway's thread ended; only the fresh worker remains
    assert threading.active_count() <= threads + 1


def test_the_loop_waits_only_as_long_as_it_chooses_then_polls() -> None:
    c = lua(SCRIPT, RUNAWAY, name="iso-runaway-2")
    started = time.perf_counter()
    pending = c.start(service("bad"), wait=0.01)
    assert isinstance(pending, Pending)
    assert time.perf_counter() - started < 0.5
    assert pending.poll() is None  # still running, not yet past its limit
    eventually(lambda: pending.poll() is not None, 120.0)
    result = pending.poll()
    assert result is not None and result.retry and "abandoned" in (result.error or "")
    eventually(lambda: stats().runaways == 0)


def test_other_event_sources_keep_their_latency_while_a_runaway_burns() -> None:
    bad = lua(SCRIPT, Limits(pattern_steps=1e30, hard_seconds=30.0), name="bad")
    good = lua(SCRIPT, name="good")
    pending = bad.start(service("bad"), wait=0.0)
    assert isinstance(pending, Pending)
    latencies = []
    for i in range(50):
        started = time.perf_counter()
        assert good.evaluate(service(f"good-{i}")).matching
        latencies.append(time.perf_counter() - started)
    assert pending.poll() is None, "the runaway should still be running"
    latencies.sort()
    # lupa releases the GIL while Lua runs: the good EventSource does not wait for it
    assert latencies[len(latencies) // 2] < 0.05, latencies  # the runaway takes 0.2-0.5 s
    eventually(lambda: pending.poll() is not None)


def test_an_aggregation_is_abandoned_at_its_hard_limit() -> None:
    from tests.evaluation.helpers import compiled, service_selector

    c = compiled(
        service_selector(),
        aggregated=(
            "function evaluate()\n"
            "  local r = string.rep('a', 8000):find('.*b')\n"
            "  return {resources = resources}\n"
            "end\n"
        ),
        limits=RUNAWAY,
    )
    result = c.aggregate([service("a")])
    assert result.error is not None and "aggregation abandoned after 0.05 s" in result.error
    eventually(lambda: stats().runaways == 0)


def test_a_costly_cel_rule_is_abandoned_and_its_thread_stopped_at_once() -> None:
    """CEL runs in Python: the abandoned run's thread is interrupted (no CPU left burning)."""
    from tests.evaluation.helpers import compiled, service_selector

    rule = "resource.spec.ports.all(a, resource.spec.ports.all(b, resource.spec.ports.all(c, a.port >= 0)))"
    c = compiled(
        service_selector(evaluateCEL=[{"name": "cubic", "rule": rule}]),
        limits=Limits(hard_seconds=0.2),
        name="iso-cel",
    )
    obj = service("many", ports=list(range(1, 301)))  # 300^3 CEL evaluations: minutes
    started = time.perf_counter()
    result = c.evaluate(obj)
    assert result.retry and "abandoned after 0.2 s" in (result.error or ""), result
    eventually(lambda: stats().runaways == 0, 120.0)
    assert time.perf_counter() - started < 120.0  # not the minutes the rule would take
    eventually(lambda: not c.unavailable(), 120.0)  # the backoff
    assert c.evaluate(service("few", ports=[80])).matching


def test_a_replaced_definition_waits_for_the_runaway_of_its_name_and_sweep_abandons_it() -> None:
    """The runaway bound holds per EventSource name: a new compilation of the same
    EventSource (a changed definition) does not start runs while the old one's abandoned run
    still burns; sweep() abandons the runs nobody polls any more."""
    from shared.evaluation.isolation import sweep

    old = lua(SCRIPT, RUNAWAY, name="replaced")
    pending = old.start(service("bad"), wait=0.0)
    assert isinstance(pending, Pending)
    new = lua(SCRIPT, RUNAWAY, name="replaced")
    eventually(pending.overdue, 120.0)  # past the old run's hard limit: nobody polls it
    assert not new.unavailable()
    sweep()
    assert "still running" in new.unavailable()
    assert "still running" in lua(SCRIPT, name="replaced").unavailable()
    assert not lua(SCRIPT, name="other").unavailable()
    eventually(lambda: stats().runaways == 0)
    assert not new.unavailable()
