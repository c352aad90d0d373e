"""The NATS side of a :class:`services.scenario.stack.Stack`: nats-server (with authorization
unless ``secure`` is false), its users, URLs and the services' NATS environment.

A secure stack generates a password per user at every start (:mod:`services.scenario.
credentials`): ``admin`` (everything; :attr:`StackNats.nats_url` carries it for tools and
tests), ``manager``, ``reporter`` and one user per cluster's agent. The passwords are in
``<state_dir>/nats/credentials.json`` and in nats-server's configuration file, both readable
by their owner only.

With ``nats_cluster`` N > 1 the stack runs a JetStream cluster instead
(:class:`shared.bus.cluster.EmbeddedNatsCluster`: N nats-servers on 127.0.0.1, routes between
them, stores under ``nats/n1``...): the same users and authorization on every node, the
services' ``--nats`` listing every node (clients fail over), and the contract's streams and
buckets provisioned with min(N, 3) replicas before the services start (the manager's
``RIPPLE_STREAM_REPLICAS`` says the same). :attr:`StackNats.nats` is then the first node,
:attr:`StackNats.nats_nodes` the cluster (kill one with ``stack.nats_nodes.node_named(...)
.kill()``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.scenario.credentials import (
    Credential,
    NatsCredentials,
    cluster_ref,
    service_env,
    write_private,
)
from services.scenario.errors import StackError
from services.scenario.model import Fleet
from services.scenario.processes import tail

if TYPE_CHECKING:
    from shared.bus.cluster import EmbeddedNatsCluster
    from shared.bus.embedded import EmbeddedNats

MAX_REPLICAS = 3
"""Replicas of the streams and buckets on a stack's JetStream cluster (at most its size)."""


class StackNats:
    """Mixin of :class:`~services.scenario.stack.Stack` (see the module doc)."""

    state_dir: Path
    fleet: Fleet
    secure: bool
    credentials: NatsCredentials | None
    nats: EmbeddedNats | None
    nats_cluster: int = 1
    nats_nodes: EmbeddedNatsCluster | None = None

    @property
    def nats_url(self) -> str:
        """The URL tools and tests connect with: the ``admin`` user's credentials inside
        (``nats://admin:<password>@127.0.0.1:<port>``) when the stack is secure; one per
        node, comma-separated, on a cluster."""
        urls = self._server_urls()
        if self.credentials is not None:
            urls = [self.credentials.admin.url(u) for u in urls]
        return ",".join(urls)

    @property
    def nats_server_url(self) -> str:
        """``nats://127.0.0.1:<port>``, without credentials (every node, comma-separated, on
        a cluster: the form of ``--nats``)."""
        return ",".join(self._server_urls())

    @property
    def stream_replicas(self) -> int:
        """Replicas of the stack's streams and buckets: min(nodes, 3)."""
        return min(self.nats_cluster, MAX_REPLICAS)

    def _server_urls(self) -> list[str]:
        if self.nats_nodes is not None:
            return self.nats_nodes.urls
        if self.nats is None:
            raise StackError("the stack is not started")
        return [self.nats.url]

    @property
    def credentials_file(self) -> Path:
        """Where a secure stack keeps its NATS users and passwords (mode 0600)."""
        return self.state_dir / "nats" / "credentials.json"

    def nats_credential(self, who: str) -> Credential:
        """The NATS user of ``"admin"``, ``"manager"``, ``"reporter"`` or of the agent of a
        cluster ``"NS/NAME"`` (a secure stack only)."""
        if self.credentials is None:
            raise StackError("the stack runs nats-server without authorization")
        if "/" in who:
            return self.credentials.agent(cluster_ref(self.fleet.cluster(who)))
        return self.credentials.user(who)

    def nats_env(self) -> dict[str, dict[str, str]]:
        """The NATS environment of each service process, by process name (empty when the
        stack is not secure)."""
        env = service_env(self.credentials, self.fleet, self.nats_server_url)
        if self.nats_cluster > 1:
            replicas = {"RIPPLE_STREAM_REPLICAS": str(self.stream_replicas)}
            env["manager"] = {**env.get("manager", {}), **replicas}
        return env

    def _start_nats(self) -> None:
        from shared.bus.cluster import EmbeddedNatsCluster
        from shared.bus.embedded import EmbeddedNats

        extra = ""
        self.credentials = None
        if self.secure:
            refs = [cluster_ref(c) for c in self.fleet.clusters]
            self.credentials = NatsCredentials.generate(refs)
            extra = self.credentials.authorization_block()
        self.nats_nodes = None
        if self.nats_cluster > 1:
            self.nats_nodes = EmbeddedNatsCluster(
                self.nats_cluster, self.state_dir / "nats", extra_config=extra
            )
            self.nats = self.nats_nodes.nodes[0]
        else:
            self.nats = EmbeddedNats(self.state_dir / "nats", extra_config=extra)
        try:
            if self.nats_nodes is not None:
                self.nats_nodes.start()
                _in_thread(self._provision_replicated())
            else:
                self.nats.start()
            if self.credentials is not None:
                self._write_credentials()
        except Exception as err:
            nodes = self.nats_nodes.nodes if self.nats_nodes is not None else [self.nats]
            logs = "\n".join(f"--- {n.log_path} ---\n{tail(n.log_path)}" for n in nodes)
            raise StackError(f"nats-server did not start: {err}", logs=logs) from err

    def _stop_nats(self) -> None:
        """Stop nats-server (every node of a cluster). Idempotent."""
        if self.nats_nodes is not None:
            self.nats_nodes.stop()
        elif self.nats is not None:
            self.nats.stop()

    async def _provision_replicated(self) -> None:
        """The contract's streams and buckets, replicated, before any service starts (the
        manager then keeps their replicas)."""
        from shared.bus.client import close, connect
        from shared.bus.provision import ensure

        nc = await connect(self.nats_url, "ripple-stack", max_reconnect_attempts=3)
        try:
            await ensure(nc.jetstream(timeout=10.0), "file", self.stream_replicas)
        finally:
            await close(nc)

    def _write_credentials(self) -> None:
        """``credentials.json``: the users, the servers' URLs and the admin URL (credentials
        in every node's URL: a client failing over needs them on each)."""
        assert self.credentials is not None
        data = {"url": self.nats_server_url, "admin_url": self.nats_url}
        data.update(self.credentials.to_json())
        write_private(self.credentials_file, json.dumps(data, indent=2) + "\n")


def _in_thread(coro: Any) -> None:
    """Run ``coro`` to completion on a loop of its own, in a thread (the stack may be
    started from code that runs a loop already)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coro)
        except BaseException as err:  # re-raised in the caller
            errors.append(err)

    thread = threading.Thread(target=run, name="ripple-stack-provision")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
