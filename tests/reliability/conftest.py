"""One stack for the whole package: nats-server, the simulated fleet, manager (REST API with a
bearer token), reporter and one agent per cluster. Each module works in its own cluster(s)
(a ``lane`` label selects them) with its own definitions, so modules do not see each other's
objects.

Modules (BRIEF section 7): ``test_kill_restart`` (kill -9 of agent/manager/reporter during
churn, no orphan after a restart), ``test_nats_restart`` (kill -9 of nats-server, own stack),
``test_stale`` (stale is never "no match"), ``test_bad_inputs`` (hostile Lua and templates,
invalid definitions), ``test_bad_messages`` (malformed/oversized/spoofed NATS values),
``test_removal`` (removal semantics), ``test_rest_api`` (token, read-only, Secret redaction).
Known product bugs are ``xfail(strict=True)`` with the bug in the reason."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.scenario.stack import Stack
from tests.reliability.helpers import API_TOKEN, SyncNats, fleet_of, kill9, restart

LANES = ("churn", "stale", "removal", "bad", "rest", "discovery")


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(
        fleet_of(LANES),
        None,
        state_dir=tmp_path_factory.mktemp("reliability"),
        ready_timeout=60,
    ) as running:
        # Stack has no option for the REST API token: restart the manager with --api-token
        kill9(running, "manager")
        restart(running, "manager", extra=("--api-token", API_TOKEN))
        yield running


@pytest.fixture(scope="package")
def bus(stack: Stack) -> Iterator[SyncNats]:
    client = SyncNats(stack.nats_url)
    yield client
    client.close()
