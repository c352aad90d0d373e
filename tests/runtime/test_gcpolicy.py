"""The garbage-collector policy of a long-running process (shared.runtime.gcpolicy): a full
collection freezes its survivors, so the next one does not scan them again; a sweep still
frees the cycles among frozen objects (nothing leaks); the counters show it."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from shared.runtime.gcpolicy import GcPolicy
from shared.runtime.service import Service
from shared.runtime.settings import ServiceSettings


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[Node, weakref.ref[Node]]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(b)


@pytest.fixture
def policy() -> Iterator[GcPolicy]:
    policy = GcPolicy(sweep_every=0).install()
    try:
        yield policy
    finally:
        policy.uninstall()
        gc.unfreeze()


def test_a_full_collection_freezes_what_survived_it(policy: GcPolicy) -> None:
    held = [Node() for _ in range(1000)]
    gc.collect()
    assert policy.full_collections == 1 and policy.longest_pause > 0
    assert gc.get_freeze_count() >= len(held), "the survivors are out of the next scans"
    gc.collect(1)  # a younger collection neither counts nor freezes anything new
    assert policy.full_collections == 1


def test_a_cycle_that_became_garbage_while_frozen_is_freed_by_the_sweep(
    policy: GcPolicy,
) -> None:
    root, member = cycle()
    gc.collect()  # still referenced: it survives, and is frozen
    del root
    gc.collect()
    assert member() is not None, "frozen: a full collection does not see it"
    policy.sweep()
    assert member() is None, "the sweep collects everything once"
    assert policy.sweeps == 1 and gc.get_freeze_count() > 0, "and freezes the survivors again"


def test_installed_once_per_process(policy: GcPolicy) -> None:
    other = GcPolicy().install()
    gc.collect()
    assert (policy.full_collections, other.full_collections) == (1, 0)


def test_a_service_shows_its_collections_and_can_keep_the_default_collector() -> None:
    service = Service("svc", ServiceSettings())
    series = service.metrics()
    for name in ("gc_full_collections_total", "gc_full_collection_max_seconds"):
        assert name in series, sorted(series)
    assert ServiceSettings(gc_sweep=0).gc_sweep == 0  # 0: not installed (Python's default)
