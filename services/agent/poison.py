"""What the agent shows of the poison in the buckets it reads (pure: reads the stores'
counters, no I/O).

:mod:`shared.bus.kv` skips keys outside the contract and values that cannot be read (or
were not written by the writer the contract names), and remembers why per key
(``KVStore.problems``). :func:`problems` turns that into the agent's status lines, and
:func:`metrics` into per-bucket counters. An unreadable assignment is shown on its
EventSource instead (:func:`services.agent.inputs.watch_assignments`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.bus.kv import KVStore
from shared.contract import subjects
from shared.contract.errors import InvalidSubject

MAX_LINES = 10
"""Lines listed per bucket (then how many more there are)."""


def problems(assignments: KVStore[Any], desired: KVStore[Any]) -> list[str]:
    """Status lines: each desired state that cannot be read (``profile <name>: ...``: nothing
    is applied or removed for it), and each key outside the contract still present in the
    agent's assignments or desired state."""
    out: list[str] = []
    for store in (assignments, desired):
        lines = []
        for key, why in store.problems.items():
            try:
                name = subjects.parse_cluster_key(key).name
            except InvalidSubject:
                lines.append(f"{store.spec.bucket} key {key}: skipped: {why}")
                continue
            if store is desired:
                lines.append(
                    f"profile {name}: desired state unreadable, nothing applied or removed "
                    f"for it until the manager writes it again: {why}"
                )
        out.extend(lines[:MAX_LINES])
        if len(lines) > MAX_LINES:
            out.append(f"{store.spec.bucket}: {len(lines) - MAX_LINES} more problem(s)")
    return out


def metrics(stores: Iterable[KVStore[Any]]) -> dict[str, tuple[str, str, float]]:
    """Per-bucket counters of what was skipped (``kv_<bucket>_...``)."""
    out: dict[str, tuple[str, str, float]] = {}
    for store in stores:
        out.update(store.metrics())
    return out
