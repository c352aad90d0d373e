"""The probes the chart points at mean something: a service that has not read its inputs
(here: NATS does not answer) is live but not ready, and says why; ready comes once every
input was read (tests/chart/test_rbac_fleet.py). Each service runs as the chart runs it:
settings from RIPPLE_* variables, the metrics port on every address."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.fleet import FleetThread, start_fleet_thread
from services.scenario.processes import ManagedProcess, free_port, ripple_command
from tests.integration.helpers import eventually


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetThread]:
    handle = start_fleet_thread(["c"], tmp_path_factory.mktemp("fleet"))
    try:
        yield handle
    finally:
        handle.stop()


def get(port: int, path: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except (urllib.error.URLError, ConnectionError):
        return 0, {}


SERVICES = ("manager", "reporter", "agent")


def test_live_but_not_ready_while_nats_does_not_answer(fleet: FleetThread, tmp_path: Path) -> None:
    nobody = free_port()  # nothing listens there
    ports = {service: free_port() for service in SERVICES}
    os_env = {k: v for k, v in os.environ.items() if not k.startswith("RIPPLE_")}
    processes: list[ManagedProcess] = []
    try:
        for service in SERVICES:  # started together: their start-ups overlap
            env = {
                **os_env,
                "RIPPLE_NATS_URL": f"nats://127.0.0.1:{nobody}",
                "RIPPLE_METRICS_HOST": "0.0.0.0",
                "RIPPLE_METRICS_PORT": str(ports[service]),
                "KUBECONFIG": str(fleet.kubeconfig("c" if service == "agent" else "management")),
                **({"RIPPLE_CLUSTER": "default/c"} if service == "agent" else {}),
            }
            log = tmp_path / f"{service}.log"
            processes.append(ManagedProcess(service, ripple_command(service), log, env=env).start())
        for process in processes:
            port = ports[process.name]

            def waiting_for_nats() -> tuple[int, dict[str, object]] | None:
                answer = get(port, "/readyz")  # noqa: B023 - called within this iteration
                assert answer[0] in (0, 503), answer  # never ready without NATS
                return answer if "NATS" in str(answer[1].get("reason")) else None

            status, body = eventually(waiting_for_nats, timeout=30, what=f"{process.name} /readyz")
            assert (status, body["status"]) == (503, "not ready"), (process.name, body)
            assert get(port, "/livez")[0] == 200, process.name
            assert process.running, process.tail()
    finally:
        for process in processes:
            process.stop()
