"""The agent's inputs under poison (issue 16), on a real nats-server: its desired state and
assignments watches skip keys outside the contract (put, delete), keep what they had for a
key whose value cannot be read or was not written by the manager (nothing applied, nothing
removed), and say so; an unreadable assignment never withdraws its EventSource's set."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from services.agent import inputs
from services.agent.deltas import StoredSet
from services.agent.state import AgentState
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.examples import CLUSTER, example

DESIRED = example(m.DesiredStateEvent)
PROFILE = DESIRED.data.profile_name
KEY = m.message_key(DESIRED)


@dataclass
class Stores:
    assignments: KVStore[Any]
    desired: KVStore[Any]
    outcomes: KVStore[Any]
    matches: KVStore[Any]


@dataclass
class Agent:
    """What the watches use of :class:`services.agent.agent.Agent` (its I/O is NATS only)."""

    stores: Stores
    state: AgentState = field(default_factory=lambda: AgentState(CLUSTER))
    cluster: subjects.ClusterRef = CLUSTER
    ident: str = str(CLUSTER)
    statuses: int = 0

    def status_due(self) -> None:
        self.statuses += 1

    def check_ready(self) -> None:
        pass


async def _stores(js: Any) -> Stores:
    return Stores(
        assignments=await KVStore.open(js, streams.ASSIGNMENTS, m.AssignmentEvent),
        desired=await KVStore.open(js, streams.DESIRED, m.DesiredStateEvent),
        outcomes=await KVStore.open(js, streams.OUTCOMES, m.ApplyOutcomeEvent),
        matches=await KVStore.open(js, streams.MATCHES, (m.MatchEvent, m.MatchHeadEvent)),
    )


async def _until(probe: Any, what: str, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not probe():
            await asyncio.sleep(0.01)


async def test_desired_state_poison_is_skipped_or_unknown(jetstream: Any) -> None:
    stores = await _stores(jetstream)
    agent = Agent(stores)
    kv = stores.desired.kv
    await stores.desired.put(DESIRED)
    await kv.put(f"{KEY}.x", b"any value")  # a 4-token key (issue 16: crashed the agent)
    await kv.delete(f"{KEY}.y")  # a delete marker of a key never valid
    task = asyncio.create_task(inputs.watch_desired(agent))  # type: ignore[arg-type]
    try:
        await _until(lambda: agent.state.desired_synced, "synced")
        assert agent.state.wanted == {PROFILE: DESIRED.data}
        assert stores.desired.invalid_keys == 2
        await kv.put(KEY, b"\x00 garbage")
        # a bucket of one revision per key: a watcher may never see a value replaced before
        # it read it, so the next one is written once this one was read
        await _until(lambda: stores.desired.invalid_values == 1, "garbage skipped")
        forged = DESIRED.model_copy(update={"source": CLUSTER.source})  # not the manager's
        await kv.put(KEY, m.encode(forged))
        await _until(lambda: stores.desired.invalid_values == 2, "both skipped")
        assert agent.state.wanted == {PROFILE: DESIRED.data}, "kept what was read"
        assert KEY in stores.desired.invalid  # unknown: effects neither apply nor remove
        bad_key, line = inputs.problems(agent)  # type: ignore[arg-type]
        assert bad_key.startswith(f"ripple-desired key {KEY}.x: skipped: "), bad_key
        assert line.startswith(f"profile {PROFILE}: desired state unreadable"), line
        assert "not by 'ripple://manager'" in line
        await kv.delete(f"{KEY}.x")
        await stores.desired.put(DESIRED)  # the manager writes it again
        await _until(lambda: KEY not in stores.desired.invalid, "readable again")
        assert inputs.problems(agent) == []  # type: ignore[arg-type]
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    metrics = inputs.kv_metrics(agent)  # type: ignore[arg-type]
    assert metrics["kv_desired_invalid_keys_total"][2] == 3
    assert metrics["kv_desired_invalid_values_total"][2] == 2


async def test_an_unreadable_assignment_withdraws_nothing(jetstream: Any) -> None:
    """At a restart, a stored matching set whose assignment cannot be read is unknown, not
    unassigned: it is not withdrawn; a set whose assignment is gone is."""
    stores = await _stores(jetstream)
    agent = Agent(stores)
    agent.state.stored = {"kept": StoredSet(recovered=True), "gone": StoredSet(recovered=True)}
    kv = stores.assignments.kv
    await kv.put(subjects.assignment_key(CLUSTER, "kept"), b"\x00 garbage")
    await kv.put(subjects.assignment_key(CLUSTER, "kept") + ".x", b"\x00 garbage")
    task = asyncio.create_task(inputs.watch_assignments(agent))  # type: ignore[arg-type]
    try:
        await _until(lambda: agent.state.assignments_synced, "synced")
        assert agent.state.assignments.withdrawn == {"gone"}
        error = agent.state.assignments.errors["kept"]
        assert error.startswith("assignment unreadable, the last one read is kept"), error
        assert stores.assignments.invalid_keys == 1
        (line,) = inputs.problems(agent)  # type: ignore[arg-type]
        assert line.startswith("ripple-assignments key default.capi--prod_2Eeu-1.kept.x"), line
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@dataclass
class Service:
    not_ready_reason: str = ""
    snapshots: list[Any] = field(default_factory=list)

    def add_metrics(self, snapshot: Any) -> None:
        self.snapshots.append(snapshot)


async def test_read_back_at_start_skips_poison_of_its_own_keys(jetstream: Any) -> None:
    """What a previous instance wrote, read back at start: keys outside the contract are
    skipped and counted, an unreadable outcome is left out (logged: what was deployed for
    that profile is unknown) while the readable ones are read."""
    stores = await _stores(jetstream)
    agent = Agent(stores)
    agent.service = Service()  # type: ignore[attr-defined]
    outcome = example(m.ApplyOutcomeEvent)
    await stores.outcomes.put(outcome)
    unreadable = subjects.outcome_key(CLUSTER, "sveltos-unreadable")
    await stores.outcomes.kv.put(unreadable, b"\x00 garbage")
    await stores.outcomes.kv.put(f"{m.message_key(outcome)}.x", b"x")
    await stores.outcomes.kv.delete(f"{m.message_key(outcome)}.y")
    match = example(m.MatchEvent)
    await stores.matches.put(match)
    await stores.matches.kv.put(f"{m.message_key(match)}.x", b"x")
    await inputs.load_outcomes(agent)  # type: ignore[arg-type]
    await inputs.load_matches(agent)  # type: ignore[arg-type]
    assert set(agent.state.records) == {outcome.data.profile_name}
    assert stores.outcomes.invalid == {unreadable}
    assert set(agent.state.stored) == {match.data.event_source_name}
    (snapshot,) = agent.service.snapshots  # type: ignore[attr-defined]
    metrics = snapshot()
    assert metrics["kv_outcomes_invalid_keys_total"][2] == 2
    assert metrics["kv_outcomes_invalid_values_total"][2] == 1
    assert metrics["kv_matches_invalid_keys_total"][2] == 1
