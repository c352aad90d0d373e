"""What a leaf node at a site reaches of the hub's JetStream (docs/nats-cluster.md, "Leaf
nodes"): pinned on real nats-servers, since Ripple's agents do not work through one yet.

A leaf node without JetStream of its own, connected to a hub whose JetStream has a domain
(``jetstream { domain: hub }``), carries JetStream API requests sent with the domain's
prefix ``$JS.hub.API``; the same requests with the plain ``$JS.API`` prefix (what Ripple's
services send) find no responder on the leaf. A :class:`KVStore` opened on a JetStream
context with the domain binds and watches through the leaf."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator

import nats
import nats.errors
import pytest

from shared.bus.binding import probe_subject
from shared.bus.client import close, connect
from shared.bus.cluster import free_port
from shared.bus.embedded import EmbeddedNats
from shared.bus.kv import KVStore
from shared.bus.provision import ensure
from shared.contract import messages as m
from shared.contract import streams
from shared.contract.examples import example


@pytest.fixture
def hub_and_leaf() -> Iterator[tuple[EmbeddedNats, EmbeddedNats]]:
    port = free_port()
    hub = EmbeddedNats(
        jetstream_config="domain: hub",
        extra_config=f'leafnodes {{ listen: "127.0.0.1:{port}" }}',
    )
    leaf = EmbeddedNats(
        jetstream=False,
        monitoring=True,
        extra_config=f'leafnodes {{ remotes: [{{ url: "nats-leaf://127.0.0.1:{port}" }}] }}',
    )
    with hub, leaf:
        deadline = time.monotonic() + 10
        while _leafnodes(leaf) != 1:
            assert time.monotonic() < deadline, "the leaf node did not connect to the hub"
            time.sleep(0.02)
        yield hub, leaf


def _leafnodes(leaf: EmbeddedNats) -> int:
    with urllib.request.urlopen(f"{leaf.monitor_url}/leafz", timeout=2) as reply:
        return int(json.load(reply).get("leafnodes", 0))


async def test_the_hub_jetstream_is_reached_through_its_domain_prefix(
    hub_and_leaf: tuple[EmbeddedNats, EmbeddedNats],
) -> None:
    hub, leaf = hub_and_leaf
    admin = await connect(hub.url, "pytest hub", max_reconnect_attempts=0)
    edge = await nats.connect(leaf.url, max_reconnect_attempts=0)
    try:
        await ensure(admin.jetstream(), "memory")
        deadline = time.monotonic() + 10
        while True:  # the hub's interest reaches the leaf asynchronously
            try:
                reply = await edge.request(
                    probe_subject(streams.DESIRED, "$JS.hub.API"), b"", timeout=1.0
                )
                break
            except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                assert time.monotonic() < deadline, "no answer through the domain prefix"
        assert (reply.headers or {}).get("Status") == "404"  # the bucket answered
        with pytest.raises(nats.errors.NoRespondersError):
            await edge.request(probe_subject(streams.DESIRED), b"", timeout=1.0)

        desired = example(m.DesiredStateEvent)
        hub_store = await KVStore.open(admin.jetstream(), streams.DESIRED, m.DesiredStateEvent)
        await hub_store.put(desired)
        edge_js = edge.jetstream(domain="hub")
        edge_store = await KVStore.open(edge_js, streams.DESIRED, m.DesiredStateEvent)
        assert await edge_store.items() == {m.message_key(desired): desired}
    finally:
        await edge.close()
        await close(admin)
