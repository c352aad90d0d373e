"""EmbeddedNats: a real nats-server, sync and async, restartable on the same port and store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest

from shared.bus import provision
from shared.bus.client import connect
from shared.bus.embedded import EmbeddedNats, find_binary
from shared.bus.errors import BusError
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.contract import streams
from shared.contract.examples import examples
from shared.contract.limits import MAX_PAYLOAD


def test_binary_is_found() -> None:
    assert Path(find_binary()).name == "nats-server"


def test_sync_context_manager_and_stop(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path)
    with pytest.raises(BusError):
        _ = server.url
    with server:
        assert server.running and server.url.startswith("nats://127.0.0.1:")
    assert not server.running
    server.stop()  # idempotent


def test_bad_config_fails_with_the_log(tmp_path: Path) -> None:
    with (
        pytest.raises(BusError, match="exited"),
        EmbeddedNats(tmp_path, extra_config="this is { not valid"),
    ):
        pass


async def test_async_context_manager_max_payload_and_restart(tmp_path: Path) -> None:
    async with EmbeddedNats(tmp_path / "n") as server:
        client = await connect(server.url, "t", max_reconnect_attempts=0)
        assert client.max_payload == MAX_PAYLOAD
        js = client.jetstream()
        await provision.ensure(js)  # file storage: survives a crash
        store = await KVStore.open(js, streams.REPORTS, m.EventReportEvent)
        report = examples()[0]
        assert isinstance(report, m.EventReportEvent)
        await store.put(report)
        with pytest.raises(nats.errors.MaxPayloadError):
            await client.publish("x", b"x" * (MAX_PAYLOAD + 1))
        await client.close()
        port = server.port
        server.kill()
        assert not server.running
        server.start()
        assert server.port == port
        client = await connect(server.url, "t2", max_reconnect_attempts=0)
        store = await KVStore.open(client.jetstream(), streams.REPORTS, m.EventReportEvent)
        assert await store.get(report.subject) == report
        await client.close()


async def test_watch_survives_a_nats_server_crash(tmp_path: Path) -> None:
    server = EmbeddedNats(tmp_path / "n")
    await asyncio.to_thread(server.start)
    client = await connect(server.url, "t", reconnect_time_wait=0.05)
    try:
        js = client.jetstream(timeout=2)
        await provision.ensure(js)
        store = await KVStore.open(js, streams.REPORTS, m.EventReportEvent)
        report = examples()[0]
        assert isinstance(report, m.EventReportEvent)
        later = report.model_copy(update={"id": "after-crash"})
        async with store.watch(heartbeat=0.2) as watch:
            changes = watch.__aiter__()
            assert (await anext(changes)).op == "synced"
            await store.put(report)
            assert (await anext(changes)).message == report
            server.kill()
            await asyncio.to_thread(server.start)
            async with asyncio.timeout(20):
                while True:  # the client reconnects on its own; retry until it has
                    try:
                        await store.put(later)
                        break
                    except BusError:
                        await asyncio.sleep(0.05)
                change = await anext(changes)
            assert change.op == "put" and change.message == later
            assert watch.resets >= 1
    finally:
        await client.close()
        await asyncio.to_thread(server.close)
