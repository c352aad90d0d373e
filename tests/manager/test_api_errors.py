"""Issue 15 item 6 over the REST API (real HTTP, the manager's reconciler with in-memory
buckets): every failing instance is listed on ``/v1/errors`` under its trigger, with its
source cluster, and ``ripple_manager_instantiation_errors`` counts them (it stayed 0 while
instances that never succeeded failed)."""

from __future__ import annotations

import asyncio

import aiohttp

from services.manager.service import serve_api
from services.scenario.processes import free_port
from tests.manager.test_api import TOKEN, Source, get, reconciler
from tests.manager.test_publication import A
from tests.manager.test_publisher import until


async def test_failing_instances_are_listed_and_counted() -> None:
    rec = reconciler("{{ .Nope.deeper }}")  # cluster A: 2 instances, both failing
    port = free_port()
    tasks = [
        asyncio.create_task(serve_api(Source(rec), "127.0.0.1", port, TOKEN)),
        asyncio.create_task(rec.publisher.run(2)),
    ]
    try:
        await rec.reconcile()
        base = f"http://127.0.0.1:{port}"

        async def answers() -> bool:
            try:
                return (await get(base, "/healthz", None))[0] == 200
            except aiohttp.ClientError:
                return False

        await until(answers, what="API answering")
        status, errors = await get(base, "/v1/errors")
        assert status == 200
        failing = [e for e in errors if e["object"] == "EventTrigger/t"]
        assert len(failing) == 2
        assert all(e["message"].startswith(f"{A}: ") for e in failing)
        assert all("Nope" in e["message"] for e in failing)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession() as s, s.get(base + "/metrics", headers=auth) as r:
            text = await r.text()
        assert "ripple_manager_instantiation_errors 2.0" in text
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
