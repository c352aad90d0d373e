"""The manager's inputs under poison (issue 16), on a real nats-server through the manager's
own watch: a put and delete of a key outside the contract in ``ripple-outcomes`` (it
crash-looped the manager), in ``ripple-matches`` and ``ripple-agents`` are skipped and
counted; garbage under a real key keeps what was read (never a delete); the watch goes on."""

from __future__ import annotations

import asyncio
from typing import Any

from services.manager.inputs import Inputs
from services.manager.service import watch
from services.manager.stores import Stores
from shared.bus.kv import KVChange
from shared.contract import messages as m
from shared.contract.examples import example
from tests.manager.test_publisher import stores, until

__all__ = ["stores"]  # fixture


async def test_poison_in_the_inputs_is_skipped_and_keeps_what_was_read(stores: Stores) -> None:
    inputs = Inputs()
    outcome, status, match = (
        example(m.ApplyOutcomeEvent),
        example(m.AgentStatusEvent),
        example(m.MatchHeadEvent),
    )

    async def agent(change: KVChange[Any]) -> None:
        inputs.on_agent(change)

    async def outcomes(change: KVChange[Any]) -> None:
        inputs.on_outcome(change)

    async def matches(change: KVChange[Any]) -> None:
        inputs.on_match(change)

    tasks = [
        asyncio.create_task(watch(stores.outcomes, outcomes)),
        asyncio.create_task(watch(stores.agents, agent)),
        asyncio.create_task(watch(stores.matches, matches)),
    ]
    try:
        await stores.outcomes.put(outcome)
        await stores.agents.put(status)
        await stores.matches.put(match)
        await until(lambda: inputs.outcomes and inputs.agents and inputs.reports, what="read")
        for store, value in ((stores.outcomes, outcome), (stores.agents, status), (stores.matches, match)):  # fmt: skip
            key = m.message_key(value)
            await store.kv.put(f"{key}.x", b"any value")  # a key outside the contract
            await store.kv.delete(f"{key}.x")
            await store.kv.delete(f"{key}.never")
            await store.kv.put(key, b"\x00 garbage")  # unknown, not deleted
        await until(
            lambda: all(s.invalid_keys == 3 and s.invalid_values == 1 for s in stores.read()[:3]),
            what="every poison counted",
        )
        assert list(inputs.outcomes.values()) == [outcome.data], "kept what was read"
        assert list(inputs.agents.values()) == [status.data]
        assert len(inputs.reports) == 1
        assert not any(task.done() for task in tasks)
        assert stores.metrics()["kv_outcomes_invalid_keys_total"][2] == 3
        assert ("ripple-outcomes/" + m.message_key(outcome)) in dict(stores.problems())
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
