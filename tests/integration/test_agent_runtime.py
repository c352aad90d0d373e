"""``ripple agent`` on the service runtime, as its cluster's NATS user (issue 12, 3 and 7).

The stack runs nats-server with authorization and the simulated fleet, but no manager: the
agent, which never provisions a stream or a bucket, waits for its buckets and says so on
``/readyz``; once they are provisioned (as the manager does), it reads its (empty)
assignments and desired state and becomes ready. ``/metrics`` serves the agent's metrics
next to the runtime's (loop lag, NATS refusals), read on the loop; SIGTERM stops it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from services.scenario.processes import ManagedProcess, free_port, ripple_command
from services.scenario.stack import Stack
from tests.integration.helpers import agent_stack, provision
from tests.integration.helpers import eventually as _eventually

CLUSTER = "default/cluster-rt"

eventually = functools.partial(_eventually, timeout=20.0, interval=0.05)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read().decode()
    except OSError as err:
        return 0, str(err)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("agent-runtime")
    with agent_stack(state, "cluster-rt", provisioned=False) as running:  # the test does
        yield running


def test_the_agent_waits_for_its_buckets_then_is_ready_and_serves_its_metrics(
    stack: Stack,
) -> None:
    assert stack.secure, "the agent runs as its cluster's user"
    port = free_port()
    name = stack.agent_name(CLUSTER)
    ready = stack.state_dir / "ready" / name
    argv = ripple_command(
        "agent",
        "--cluster",
        CLUSTER,
        "--kubeconfig",
        str(stack.kubeconfig(CLUSTER)),
        "--metrics-port",
        str(port),
        "--ready-file",
        str(ready),
    )
    agent = ManagedProcess(
        name, argv, stack.log_dir / f"{name}.log", ready_file=ready, env=stack.nats_env()[name]
    ).start()
    base = f"http://127.0.0.1:{port}"
    try:
        status, body = eventually(
            lambda: (r := get(f"{base}/readyz"))[0] == 503 and "bucket" in r[1] and r,
            what="not ready, waiting for a bucket",
        )
        assert json.loads(body)["reason"].startswith("waiting for bucket ripple-")
        assert not ready.exists()

        asyncio.run(provision(stack.nats_url))  # admin: as the manager would

        eventually(lambda: get(f"{base}/readyz")[0] == 200, what="ready once provisioned")
        assert ready.exists()
        status, text = get(f"{base}/metrics")
        assert status == 200
        for line in (
            "ripple_agent_ready 1.0",
            "ripple_agent_nats_permission_violations_total 0.0",
            "ripple_agent_event_sources 0.0",
            "ripple_agent_reports_published_total 0.0",
            "ripple_agent_workqueue_profiles_depth 0.0",
        ):
            assert line in text, line
        assert "# TYPE ripple_agent_loop_lag_max_seconds gauge" in text
        assert "# TYPE ripple_agent_workqueue_reports_retries_total counter" in text

        assert agent.proc is not None
        agent.proc.send_signal(signal.SIGTERM)
        code = agent.proc.wait(5)
        assert code in (0, 128 + signal.SIGTERM, -signal.SIGTERM), agent.tail()
        log = agent.log_path.read_text()
        assert "agent started" in log and "permissions violation" not in log.lower()
    finally:
        agent.stop()
