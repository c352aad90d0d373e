"""The agent's status and readiness (pure: no I/O).

:func:`errors` lists what keeps the agent from doing its whole job, for its status in KV
``ripple-agents`` (the manager shows it on the definitions). A problem of one EventSource
starts with ``EventSource <name>:`` (the manager shows it on that EventSource), among them
evaluations abandoned at the time limit, suspended, or waiting; a profile's with
``profile <name>:``. Failing work-queue keys (apply, removal, report and per-change
event publication) are listed with the number of attempts and the time to the next one.

:func:`not_ready` says why the agent is not ready yet ("" once it is): its assignments and
desired state were read, the profiles found at start-up were each handled once, and every
assigned EventSource's report was published complete.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from services.agent.assigning import Assignments
from services.agent.watching import WatchKey
from shared.contract import messages as m
from shared.contract.subjects import ClusterRef
from shared.runtime.workqueue import Failure


@dataclass(frozen=True)
class QueueFailures:
    """The failing keys of one work queue, and how to name them in the status."""

    label: str  # "report", "per-change events", "apply/removal"
    failures: Mapping[str, Failure]
    prefix: str  # "EventSource" or "profile"


def _failure(failure: Failure) -> str:
    if failure.terminal:
        return f"{failure.message} (not retried)"
    return f"{failure.message} (attempt {failure.attempts}, retry in {failure.retry_in:.1f}s)"


def errors(
    assignments: Assignments,
    watch_errors: Mapping[WatchKey, str],
    queues: Iterable[QueueFailures] = (),
    extra: Iterable[str] = (),
) -> list[str]:
    """Every current problem, one line each (sorted by EventSource / profile / watch)."""
    out = [f"EventSource {n}: {e}" for n, e in sorted(assignments.errors.items())]
    attributed: set[WatchKey] = set()
    for state in sorted(assignments.sources.values(), key=lambda s: s.name):
        for key in state.watch_keys:
            error = watch_errors.get(key, "")
            if error:
                attributed.add(key)
                out.append(f"EventSource {state.name}: {error}")
        if state.aggregate_error:
            out.append(f"EventSource {state.name}: {state.aggregate_error}")
        problem = state.evaluation_problem()
        if problem:
            out.append(f"EventSource {state.name}: {problem}")
    for key, error in sorted(watch_errors.items()):
        if error and key not in attributed:
            out.append(f"watch {key.gvk}: {error}")
    for queue in queues:
        for name, failure in sorted(queue.failures.items()):
            out.append(f"{queue.prefix} {name}: {queue.label} failed: {_failure(failure)}")
    out.extend(extra)
    return out


def not_ready(
    assignments: Assignments,
    *,
    assignments_synced: bool,
    desired_synced: bool,
    initial_profiles: int,
    failing: Collection[WatchKey] = (),
) -> str:
    """Why the agent is not ready ("" when it is). An EventSource one of whose informers is
    failing (``failing``: e.g. a tenant's EventSource its identity may not list, a kind
    whose discovery fails) does not hold readiness: its failure is in the status and
    retried with backoff, and one bad definition never keeps the agent from being ready."""
    if not assignments_synced:
        return "reading assignments"
    if not desired_synced:
        return "reading desired state"
    if initial_profiles:
        return f"applying {initial_profiles} profile(s) found at start-up"
    waiting = sorted(
        s.name
        for s in assignments.sources.values()
        if not s.published and not any(k in failing for k in s.watch_keys)
    )
    if waiting:
        shown = ", ".join(waiting[:5]) + (", ..." if len(waiting) > 5 else "")
        return f"reports not complete yet: {shown}"
    return ""


def agent_status(
    cluster: ClusterRef,
    instance: str,
    state: m.AgentState,
    watched: Iterable[WatchKey],
    problems: list[str],
) -> m.AgentStatus:
    return m.AgentStatus(
        cluster=cluster,
        instance=instance,
        state=state,
        watched_gvks=sorted({str(k.gvk) for k in watched}),
        errors=problems,
        time=datetime.now(UTC),
    )
