"""The REST API over the manager's immutable snapshots: served on the loop (uvicorn, real
HTTP), a snapshot never changes once taken, a request during a reconcile gets the previous
one, and failing publications are listed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest

from services.manager.outputs import BUCKETS
from services.manager.reconciler import Reconciler
from services.manager.service import serve_api
from services.manager.snapshot import Snapshot
from services.scenario.processes import free_port
from shared.runtime.slicing import Slicer
from tests.manager.test_publication import A, B, new_state, report
from tests.manager.test_publisher import BIG, until

TOKEN = "api-test-token"


class MemoryBucket:
    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    async def put(self, key: str, value: bytes) -> int:
        await asyncio.sleep(0)
        self.values[key] = value
        return len(self.values)

    async def delete(self, key: str) -> None:
        await asyncio.sleep(0)
        self.values.pop(key, None)


class Source:
    def __init__(self, rec: Reconciler) -> None:
        self.rec = rec

    def snapshot(self) -> Snapshot:
        return self.rec.snapshot()

    def metrics(self) -> Mapping[str, tuple[str, str, float]]:
        return self.rec.metrics()


def reconciler(template: str | None = None, limit: int = 1 << 20) -> Reconciler:
    state = new_state(template) if template else new_state()
    report(state, A, "s1", "s2")
    report(state, B)
    return Reconciler({b: MemoryBucket() for b in BUCKETS}, limit=limit, state=state)


@pytest.fixture
async def served() -> AsyncIterator[tuple[Reconciler, str]]:
    rec = reconciler(BIG, limit=4000)
    port = free_port()
    tasks = [
        asyncio.create_task(serve_api(Source(rec), "127.0.0.1", port, TOKEN)),
        asyncio.create_task(rec.publisher.run(2)),
    ]
    await rec.reconcile()
    base = f"http://127.0.0.1:{port}"

    async def answers() -> bool:
        try:
            async with aiohttp.ClientSession() as s, s.get(base + "/healthz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    await until(answers, what="API answering")
    yield rec, base
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def get(base: str, path: str, token: str | None = TOKEN) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.get(base + path, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_endpoints_read_the_snapshot(served: tuple[Reconciler, str]) -> None:
    rec, base = served
    assert await get(base, "/healthz", None) == (200, {"status": "ok", "ready": True})
    assert (await get(base, "/v1/triggers", None))[0] == 401
    await until(rec.publisher.queue.idle, what="publication done")
    status, (trigger,) = await get(base, "/v1/triggers")
    assert status == 200 and trigger["name"] == "t"
    assert trigger["matchingClusters"] == [str(A), str(B)]
    assert len(trigger["profiles"]) == 2
    # the oversized profiles: failing publications, in the trigger's errors and listed
    assert any("4000-byte message limit" in e for e in trigger["errors"])
    status, failures = await get(base, "/v1/publication")
    assert status == 200 and len(failures) == 4
    assert {f["definition"] for f in failures} == {"EventTrigger/t"}
    assert all(f["terminal"] for f in failures)
    _, errors = await get(base, "/v1/errors")
    assert {e["object"].split("/")[0] for e in errors} == {"ripple-desired", "ripple-profiles"}
    _, profile = await get(base, f"/v1/profiles/{trigger['profiles'][0]}")
    assert profile["trigger"] == "t" and profile["sourceCluster"] == str(A)
    assert (await get(base, "/v1/profiles/nope"))[0] == 404
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as s, s.get(base + "/metrics", headers=auth) as r:
        text = await r.text()
    assert "ripple_manager_publication_failures 4.0" in text


async def test_a_snapshot_never_changes_and_a_reconcile_in_progress_shows_the_last_one() -> None:
    rec = reconciler()
    await rec.reconcile()
    before = rec.snapshot()
    profiles = dict(before.profiles)
    report(rec.state, A, "s1", "s2", "s3")
    report(rec.state, B, "s4")
    reconciling = asyncio.create_task(rec.reconcile(Slicer(budget=0.0)))  # yields every step
    seen: list[Snapshot] = []
    while not reconciling.done():
        seen.append(rec.snapshot())
        await asyncio.sleep(0)
    await reconciling
    assert seen and all(s is before for s in seen), "mid-reconcile: the previous snapshot"
    assert dict(before.profiles) == profiles, "a snapshot taken never changes"
    after = rec.snapshot()
    assert after.version > before.version and len(after.profiles) == len(profiles) + 2
    with pytest.raises(TypeError):
        after.profiles["x"] = None  # type: ignore[index]
