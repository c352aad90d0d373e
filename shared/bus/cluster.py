"""A JetStream cluster of local nats-server processes from the wheel, for tests, scenarios
and benchmarks: ``size`` servers on 127.0.0.1 (free ports chosen once and kept across
restarts), routes between all of them, distinct server names (``<name>-1`` ...), one store
directory each, the same ``extra_config`` (users and authorization) on every node.

    with EmbeddedNatsCluster(3) as cluster:
        nc = await nats.connect(cluster.urls)          # every node: clients fail over
        cluster.node_named(leader).kill()              # kill -9; .start() brings it back

:meth:`start` returns once every node reports JetStream healthy (``/healthz`` of its
monitoring port: a meta leader elected and the node current), so streams with R up to
``size`` can be created at once. ``kill``/``start`` of one node keep its ports and store, so
it rejoins and catches up.
"""

from __future__ import annotations

import json
import os
import random
import socket
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

from shared.bus.embedded import EmbeddedNats, Servers
from shared.bus.errors import BusError

_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now, below the usual ephemeral range (an outgoing
    connection could take an ephemeral one before the server listens on it); never the same
    one twice in one process."""
    for _ in range(200):
        port = random.randint(20000, 31999)
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise BusError("no free TCP port found on 127.0.0.1")


class EmbeddedNatsCluster(Servers):
    """``size`` nats-server processes forming one JetStream cluster (see the module doc)."""

    def __init__(
        self,
        size: int = 3,
        store_dir: str | os.PathLike[str] | None = None,
        *,
        name: str = "ripple",
        extra_config: str = "",
        start_timeout: float = 30.0,
    ) -> None:
        if size < 1:
            raise BusError(f"a NATS cluster needs at least one node, not {size}")
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if store_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ripple-nats-cluster-")
            store_dir = self._tmp.name
        self.dir = Path(store_dir)
        self.name = name
        self.start_timeout = start_timeout
        routes = [free_port() for _ in range(size)]
        self.nodes: list[EmbeddedNats] = []
        for i in range(size):
            others = ", ".join(
                f'"nats-route://127.0.0.1:{p}"' for j, p in enumerate(routes) if j != i
            )
            cluster = (
                f'cluster {{\n  name: {json.dumps(name)}\n  listen: "127.0.0.1:{routes[i]}"\n'
                f"  routes: [{others}]\n}}"
            )
            self.nodes.append(
                EmbeddedNats(
                    self.dir / f"n{i + 1}",
                    port=free_port(),
                    server_name=f"{name}-{i + 1}",
                    monitoring=True,
                    extra_config=f"{cluster}\n{extra_config}",
                    start_timeout=start_timeout,
                )
            )

    # --- what clients use -----------------------------------------------------------------------

    @property
    def urls(self) -> list[str]:
        """Every node's ``nats://127.0.0.1:<port>`` (give them all to a client)."""
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """The nodes' URLs, comma-separated (the form of ``--nats``)."""
        return ",".join(self.urls)

    def node_named(self, server_name: str) -> EmbeddedNats:
        """The node whose server name is ``server_name`` (e.g. a stream's leader, from
        ``STREAM.INFO``'s ``cluster.leader``)."""
        for node in self.nodes:
            if node.server_name == server_name:
                return node
        raise BusError(f"no node named {server_name!r} in NATS cluster {self.name}")

    @property
    def running(self) -> bool:
        return any(node.running for node in self.nodes)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start every node that is not running, then wait until each reports JetStream
        healthy (raises :class:`BusError` after ``start_timeout``)."""
        try:
            for node in self.nodes:
                node.start()
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, nodes: list[EmbeddedNats] | None = None) -> None:
        """Poll ``/healthz`` of ``nodes`` (default: the running ones) until each answers
        200 (JetStream meta leader known, the node current) or ``start_timeout`` passes."""
        deadline = time.monotonic() + self.start_timeout
        for node in nodes if nodes is not None else [n for n in self.nodes if n.running]:
            delay, why = 0.01, ""
            while True:
                try:
                    url = f"{node.monitor_url}/healthz"
                    with urllib.request.urlopen(url, timeout=2.0) as reply:
                        if reply.status == 200:
                            break
                except (OSError, urllib.error.URLError) as err:
                    why = str(err)
                if time.monotonic() > deadline:
                    raise BusError(f"NATS node {node.server_name} not healthy in time: {why}")
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL). Idempotent."""
        for node in self.nodes:
            node.stop()

    def close(self) -> None:
        """Stop every node and remove the temporary store directory (if it made one)."""
        for node in self.nodes:
            node.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
