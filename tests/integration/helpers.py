"""What the integration tests share: polling with a deadline, the scenario's event, and a
stack of one cluster with its agent (no manager)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from services.scenario.model import Fleet
from services.scenario.processes import ManagedProcess, ripple_command, wait_ready
from services.scenario.stack import Stack
from shared.bus import provision as bus_provision
from shared.bus.client import close, connect


def eventually(
    check: Callable[[], Any], timeout: float = 15.0, what: str = "", interval: float = 0.01
) -> Any:
    """Poll ``check`` until it returns something truthy (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"not true within {timeout} s: {what} (last: {last!r})")


def service(name: str) -> dict[str, Any]:
    """A Service labelled ``sveltos: fv``: an event for the spec's first example."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "labels": {"sveltos": "fv"}},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
    }


# -- one managed cluster and its agent, without the manager --------------------------------
def one_cluster_fleet(name: str) -> Fleet:
    """A fleet of one SveltosCluster ``default/<name>``."""
    return Fleet.model_validate(
        {"clusters": [{"namespace": "default", "name": name, "type": "sveltos"}]}
    )


async def provision(url: str) -> None:
    """What the manager does at start-up: the contract's streams and buckets."""
    client = await connect(url, "test-provisioner", max_reconnect_attempts=0)
    try:
        await bus_provision.ensure(client.jetstream(), "memory")
    finally:
        await close(client)


@contextlib.contextmanager
def agent_stack(state: Path, cluster: str, *, provisioned: bool = True) -> Iterator[Stack]:
    """NATS and the fleet with one cluster ``default/<cluster>`` (no service started), the
    streams and buckets provisioned as the manager does unless ``provisioned`` is false."""
    with Stack(one_cluster_fleet(cluster), None, state_dir=state, services=False) as running:
        if provisioned:
            asyncio.run(provision(running.nats_url))
        yield running


def agent_process(
    stack: Stack, cluster: str, *extra: str, env: dict[str, str] | None = None
) -> ManagedProcess:
    """The ``ripple agent`` of ``cluster`` (``NS/NAME``) as its NATS user, not started
    (``extra``: more flags; ``env``: more environment)."""
    name = stack.agent_name(cluster)
    ready = stack.state_dir / "ready" / name
    argv = ripple_command(
        "agent",
        "--cluster",
        cluster,
        "--kubeconfig",
        str(stack.kubeconfig(cluster)),
        "--ready-file",
        str(ready),
        *extra,
    )
    env = {**stack.nats_env()[name], **(env or {})}
    return ManagedProcess(name, argv, stack.log_dir / f"{name}.log", ready_file=ready, env=env)


@contextlib.contextmanager
def running_agent(stack: Stack, cluster: str, timeout: float = 30) -> Iterator[ManagedProcess]:
    """:func:`agent_process` started, ready, and stopped at the end."""
    process = agent_process(stack, cluster)
    process.start()
    try:
        wait_ready([process], timeout)
        yield process
    finally:
        process.stop()
