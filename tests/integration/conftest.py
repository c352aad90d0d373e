"""One cluster's agent against NATS and the fleet, for the modules that test the agent alone
(``CLUSTER = "NS/NAME"`` at module level): ``stack`` (no service started, the streams and
buckets provisioned), ``agent`` (its ``ripple agent``, ready) and ``bus`` (a NATS client).
A module that defines its own ``stack`` uses that one instead."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from services.scenario.processes import ManagedProcess
from services.scenario.stack import Stack
from tests.integration.helpers import agent_stack, running_agent
from tests.reliability.helpers import SyncNats


@pytest.fixture(scope="module")
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    cluster = str(request.module.CLUSTER)
    state = tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2])
    with agent_stack(state, cluster.partition("/")[2]) as running:
        yield running


@pytest.fixture(scope="module")
def agent(request: pytest.FixtureRequest, stack: Stack) -> Iterator[ManagedProcess]:
    with running_agent(stack, str(request.module.CLUSTER)) as process:
        yield process


@pytest.fixture(scope="module")
def bus(stack: Stack) -> Iterator[SyncNats]:
    with contextlib.closing(SyncNats(stack.nats_url)) as client:
        yield client
