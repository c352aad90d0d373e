"""The agent host's decisions (pure): which hosted agents to start, stop or restart when the
list of clusters changes, and when a failed agent is started again.

- :func:`plan`: a cluster listed and not running starts; one running and no longer listed
  stops (nothing is withdrawn by that: its matching sets, desired state and deployed objects
  stay as they are, as when a per-agent process stops); one whose configuration changed
  (entry, kubeconfig content, credentials) restarts; one whose entry became invalid keeps
  running as it was (an invalid entry is not positive knowledge that the cluster went).
- :class:`RestartPolicy`: a failed agent is started again after a jittered exponential
  backoff (1 s doubling to 60 s); an agent that ran for a while before failing starts from
  the first delay again.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import TypeVar

C = TypeVar("C")


@dataclass(frozen=True)
class Plan:
    start: list[str] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)
    restart: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.start or self.stop or self.restart)


def plan(
    wanted: Mapping[str, C], running: Mapping[str, C], invalid: Set[str] = frozenset()
) -> Plan:
    """What to do so that the running agents are the wanted ones (``C``: a comparable
    configuration of a cluster; ``invalid``: clusters named by an invalid entry)."""
    start = sorted(k for k in wanted if k not in running)
    stop = sorted(k for k in running if k not in wanted and k not in invalid)
    restart = sorted(k for k in wanted if k in running and running[k] != wanted[k])
    return Plan(start, stop, restart)


@dataclass(frozen=True)
class RestartPolicy:
    """When a failed hosted agent is started again."""

    base: float = 1.0
    cap: float = 60.0
    stable: float = 60.0  # seconds of running after which a failure counts as the first

    def failures_after(self, failures: int, ran_for: float) -> int:
        """The count of consecutive failures once one more happened after ``ran_for`` s."""
        return 1 if ran_for >= self.stable else failures + 1

    def delay(self, failures: int, rand: float) -> float:
        """Seconds before the next start after ``failures`` (>= 1) consecutive failures;
        ``rand`` in [0, 1) spreads agents failing together over [d/2, d]."""
        ceiling = min(self.cap, self.base * 2.0 ** min(max(failures, 1) - 1, 32))
        return ceiling * (0.5 + rand / 2)


@dataclass
class Backoffs:
    """Consecutive failures per cluster (the shell's record, decided by the policy)."""

    policy: RestartPolicy = field(default_factory=RestartPolicy)
    failures: dict[str, int] = field(default_factory=dict)

    def failed(self, key: str, ran_for: float, rand: float) -> float:
        count = self.policy.failures_after(self.failures.get(key, 0), ran_for)
        self.failures[key] = count
        return self.policy.delay(count, rand)

    def forget(self, key: str) -> None:
        self.failures.pop(key, None)


__all__ = ["Backoffs", "Plan", "RestartPolicy", "plan"]
