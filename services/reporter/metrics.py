"""The reporter's latencies (prefix ``ripple_reporter_``), next to the writer's counters and
gauges (:meth:`services.reporter.writer.Writer.metrics`: writes, failures, queue depths,
pending writes) and the per-bucket counters of what was skipped.

- ``input_lag_seconds`` (label ``bucket``): from a NATS value's write (its CloudEvent
  ``time``) to the reporter reading it, for the changes after a bucket's initial values;
- ``write_seconds``: one write or delete of an object in the management cluster (the
  Kubernetes call; failures and writes skipped as unchanged included);
- ``change_to_write_seconds``: from the first change of an object not written yet to its
  write (the write delay, coalescing, queueing and retries included);
- ``oldest_pending_write_seconds`` (gauge): how long the oldest object wanted but not
  written yet has been waiting (0 when none): a reporter that falls behind shows here.

:class:`MeasuredWriter` is the writer with these measurements; :func:`measured` wraps a
bucket's store so that its watches observe the input lag.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

from services.reporter.writer import Writer
from services.reporter.writes import Build, Write
from shared.api.vocabulary import ObjectKey
from shared.bus.kv import KVChange, KVStore, KVWatch
from shared.contract import messages as m
from shared.contract.subjects import ALL_KEYS
from shared.kube import KubeClient
from shared.metrics import LATENCY_BUCKETS, Histogram

E = TypeVar("E", bound=m.Envelope)

Metrics = dict[str, tuple[str, str, float]]


@dataclass(frozen=True)
class Latencies:
    write: Histogram
    change_to_write: Histogram
    lags: dict[str, Histogram]

    @classmethod
    def create(cls) -> Latencies:
        return cls(
            write=Histogram(
                "write_seconds",
                "One write or delete of an object in the management cluster (failed and "
                "unchanged ones included)",
                LATENCY_BUCKETS,
            ),
            change_to_write=Histogram(
                "change_to_write_seconds",
                "From the first change of an object not written yet to its write (write "
                "delay, coalescing, queueing and retries included)",
                LATENCY_BUCKETS,
            ),
            lags={},
        )

    def lag(self, bucket: str) -> Histogram:
        """The input lag of ``bucket`` (created once per bucket)."""
        histogram = self.lags.get(bucket)
        if histogram is None:
            histogram = self.lags[bucket] = Histogram(
                "input_lag_seconds",
                "From a NATS value's write (its CloudEvent time) to the reporter reading it "
                "(changes after the bucket's initial values)",
                LATENCY_BUCKETS,
                {"bucket": bucket},
            )
        return histogram

    def all(self) -> list[Histogram]:
        return [self.write, self.change_to_write, *self.lags.values()]


class MeasuredWriter(Writer):
    """:class:`Writer`, timing each object write and how long each change waited for it."""

    def __init__(
        self,
        kube: KubeClient,
        keep: Any,
        latencies: Latencies,
        delay: float = 0.0,
    ) -> None:
        super().__init__(kube, keep, delay=delay)
        self.latencies = latencies
        self._since: dict[ObjectKey, float] = {}  # first change not written yet (monotonic)

    def put(self, key: ObjectKey, write: Write) -> None:
        self._since.setdefault(key, time.monotonic())
        super().put(key, write)

    def build(self, key: ObjectKey, build: Build) -> None:
        self._since.setdefault(key, time.monotonic())
        super().build(key, build)

    def delete(self, key: ObjectKey) -> None:
        self._since.setdefault(key, time.monotonic())
        super().delete(key)

    async def _write(self, key: ObjectKey) -> None:
        started = time.monotonic()
        try:
            await super()._write(key)
        finally:
            self.latencies.write.observe(time.monotonic() - started)
        if key not in self._objects:  # written, and no newer change is waiting
            since = self._since.pop(key, None)
            if since is not None:
                self.latencies.change_to_write.observe(time.monotonic() - since)

    def oldest_pending(self) -> float:
        """Seconds the oldest change not written yet has waited (0: none)."""
        waiting = [t for k, t in self._since.items() if k in self._objects]
        return time.monotonic() - min(waiting) if waiting else 0.0

    def metrics(self) -> Metrics:
        out = super().metrics()
        out["oldest_pending_write_seconds"] = (
            "gauge",
            "How long the oldest object wanted but not written yet has waited",
            self.oldest_pending(),
        )
        return out


class _LagWatch(KVWatch[E]):
    def __init__(self, store: KVStore[E], keys: str, lag: Histogram, **kw: Any) -> None:
        super().__init__(store, keys, **kw)
        self.lag = lag

    async def _iterate(self) -> AsyncIterator[KVChange[E]]:
        synced = False
        async for change in super()._iterate():
            if change.op == "synced":
                synced = True
            elif synced and change.op == "put" and change.message is not None:
                self.lag.observe(time.time() - change.message.time.timestamp())
            yield change


class LagStore(KVStore[E]):
    """A bucket's store whose watches observe the input lag of the values they read."""

    lag: Histogram

    def watch(
        self,
        keys: str = ALL_KEYS,
        *,
        include_history: bool = False,
        heartbeat: float = 2.0,
        start_retry: float = 60.0,
        unknown: bool = False,
    ) -> KVWatch[E]:
        return _LagWatch(
            self,
            keys,
            self.lag,
            include_history=include_history,
            heartbeat=heartbeat,
            start_retry=start_retry,
            unknown=unknown,
        )


def measured(store: KVStore[E], latencies: Latencies) -> KVStore[E]:
    """``store`` (just opened: nothing read yet) with its watches measuring the input lag."""
    out: LagStore[E] = LagStore(
        store.kv, store.spec, store.expected, nc=store.nc, timeout=store.timeout
    )
    out.lag = latencies.lag(store.spec.bucket)
    return out


__all__ = ["LagStore", "Latencies", "MeasuredWriter", "measured"]
