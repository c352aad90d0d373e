"""One stack for the whole package: nats-server, the simulated fleet, manager (REST API with a
bearer token), reporter and one agent per cluster. Each module works in its own cluster(s)
(a ``lane`` label selects them) with its own definitions, so modules do not see each other's
objects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.scenario.model import Fleet
from services.scenario.stack import Stack
from tests.reliability.helpers import API_TOKEN, SyncNats, kill9, restart

LANES = ("churn", "stale", "removal", "bad", "rest")


def fleet_of(lanes: tuple[str, ...]) -> Fleet:
    return Fleet.model_validate(
        {
            "clusters": [
                {
                    "namespace": "default",
                    "name": f"cluster-{lane}",
                    "type": "sveltos",
                    "labels": {"env": "fv", "lane": lane},
                }
                for lane in lanes
            ]
        }
    )


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
