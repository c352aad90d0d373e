"""Simulated fleet at slice size: resident memory, create/patch latency, watch delivery.

Run with ``make bench-fleet`` (``ARGS="--clusters 1000 --objects 100 --watches 1000"`` for
the 1,000-cluster figures; ``--profile FILE`` cProfiles the fleet process and prints its top
functions).
The fleet runs in its own process (``start_fleet_process``) so its resident memory and CPU
are measured alone; the load generator is an asyncio aiohttp client in this process over
HTTPS with the fleet token, like the services' clients.

Measured:
- create: ``POST`` of ConfigMaps (``--objects`` per cluster, ``--concurrency`` in flight);
- patch: merge patches of random objects while ``--watches`` watches are open (one per
  cluster, round robin);
- watch delivery: from the start of a patch request to the arrival of its MODIFIED line on
  the watch of that cluster (end to end, includes the patch's own processing); the watches
  run in a child process (system-wide monotonic clock) so the load generator's own loop
  does not delay them;
- RSS of the fleet process (``/proc/<pid>/status``) after population with the watches open.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from services.fleet import start_fleet_process


def rss_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cm_body(i: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"cm-{i:04d}",
            "labels": {"app": f"app-{i % 10}", "tier": "bench"},
            "annotations": {"bench/seq": "0"},
        },
        "data": {"key": "x" * 64, "other": str(i)},
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    names = [f"c{i:04d}" for i in range(args.clusters)]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        extra = ["--profile", args.profile] if args.profile else []
        fleet = start_fleet_process(
            names, Path(tmp), timeout=120, log_size=args.log_size, extra_args=extra
        )
        startup = time.perf_counter() - t0
        try:
            rss_empty = rss_of(fleet.proc.pid)
            return await _load(args, fleet, names, startup, rss_empty)
        finally:
            fleet.stop()


async def _load(
    args: argparse.Namespace, fleet: Any, names: list[str], startup: float, rss_empty: int
) -> dict[str, Any]:
    ctx = ssl.create_default_context(cafile=str(fleet.ca_file))
    conn = aiohttp.TCPConnector(limit=args.concurrency + args.watches + 8, ssl=ctx)
    headers = {"Authorization": f"Bearer {fleet.token}"}
    async with aiohttp.ClientSession(connector=conn, headers=headers) as http:
        base = {n: f"{fleet.url(n)}/api/v1/namespaces/default/configmaps" for n in names}

        # -- create ----------------------------------------------------------------------
        create_lat: list[float] = []
        jobs = [(n, i) for i in range(args.objects) for n in names]
        sem = asyncio.Semaphore(args.concurrency)

        async def create(n: str, i: int) -> None:
            async with sem:
                t = time.perf_counter()
                async with http.post(base[n], json=cm_body(i)) as resp:
                    await resp.read()
                    assert resp.status == 201, resp.status
                create_lat.append(time.perf_counter() - t)

        t = time.perf_counter()
        await asyncio.gather(*(create(n, i) for n, i in jobs))
        create_wall = time.perf_counter() - t

        rss_populated = rss_of(fleet.proc.pid)

        # -- watches (in a child process, so the load generator does not delay them) -------
        watch_clusters = [names[i % len(names)] for i in range(args.watches)]
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--watcher-child",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert child.stdin is not None and child.stdout is not None
        spec = {
            "token": fleet.token,
            "ca": str(fleet.ca_file),
            "watches": [[n, base[n]] for n in watch_clusters],
        }
        child.stdin.write((json.dumps(spec) + "\n").encode())
        await child.stdin.drain()
        line = await asyncio.wait_for(child.stdout.readline(), 60)
        assert line.strip() == b"READY", line
        rss_loaded = rss_of(fleet.proc.pid)
        sent: dict[tuple[str, str, str], float] = {}
        delivery: list[float] = []

        # -- patches while watched ---------------------------------------------------------
        patch_lat: list[float] = []
        rnd = random.Random(7)
        watched = sorted(set(watch_clusters))

        async def patch(seq: int) -> None:
            n = rnd.choice(watched)
            name = f"cm-{rnd.randrange(args.objects):04d}"
            async with sem:
                t = time.monotonic()
                sent[(n, name, str(seq))] = t
                async with http.patch(
                    f"{base[n]}/{name}",
                    json={"metadata": {"annotations": {"bench/seq": str(seq)}}},
                    headers={"Content-Type": "application/merge-patch+json"},
                ) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status
                patch_lat.append(time.monotonic() - t)

        t = time.perf_counter()
        await asyncio.gather(*(patch(s + 1) for s in range(args.patches)))
        patch_wall = time.perf_counter() - t
        rss_after = rss_of(fleet.proc.pid)
        # collect arrivals (the child stamps them with the system-wide monotonic clock)
        deadline = time.monotonic() + 60
        while len(delivery) < len(sent) and time.monotonic() < deadline:
            try:
                line = await asyncio.wait_for(child.stdout.readline(), 5)
            except TimeoutError:
                break
            if not line:
                break
            n, name, seq, arrived = json.loads(line)
            start = sent.get((n, name, seq))
            if start is not None:
                delivery.append(arrived - start)
        child.terminate()
        await child.wait()

    ms = 1000.0
    return {
        "clusters": len(names),
        "objects": len(names) * args.objects,
        "watches": args.watches,
        "startup_s": round(startup, 2),
        "rss_empty_mb": round(rss_empty / 2**20, 1),
        "rss_loaded_mb": round(rss_loaded / 2**20, 1),
        "rss_after_patches_mb": round(rss_after / 2**20, 1),
        "rss_populated_mb": round(rss_populated / 2**20, 1),
        "rss_per_cluster_kb": round(rss_loaded / len(names) / 1024, 1),
        "rss_per_object_b": round((rss_populated - rss_empty) / (len(names) * args.objects)),
        "rss_per_watch_kb": round((rss_loaded - rss_populated) / max(1, args.watches) / 1024, 1),
        "create_per_s": round(len(create_lat) / create_wall),
        "create_p50_ms": round(statistics.median(create_lat) * ms, 2),
        "create_p99_ms": round(pct(create_lat, 0.99) * ms, 2),
        "patch_per_s": round(len(patch_lat) / patch_wall),
        "patch_p50_ms": round(statistics.median(patch_lat) * ms, 2),
        "patch_p99_ms": round(pct(patch_lat, 0.99) * ms, 2),
        "watch_events": len(delivery),
        "patches": len(sent),
        "watch_p50_ms": round(statistics.median(delivery) * ms, 2) if delivery else None,
        "watch_p99_ms": round(pct(delivery, 0.99) * ms, 2) if delivery else None,
        "concurrency": args.concurrency,
    }


def table(r: dict[str, Any]) -> str:
    rows = [
        ("clusters / objects / open watches", f"{r['clusters']} / {r['objects']} / {r['watches']}"),
        ("fleet start-up (process, all clusters)", f"{r['startup_s']} s"),
        ("RSS, clusters empty", f"{r['rss_empty_mb']} MB"),
        ("RSS, populated", f"{r['rss_populated_mb']} MB"),
        ("RSS, populated + watches open", f"{r['rss_loaded_mb']} MB"),
        ("RSS, after the patch run", f"{r['rss_after_patches_mb']} MB"),
        (
            "RSS per cluster (everything) / per object / per open watch",
            f"{r['rss_per_cluster_kb']} KB / {r['rss_per_object_b']} B / "
            f"{r['rss_per_watch_kb']} KB",
        ),
        ("create (POST) throughput", f"{r['create_per_s']}/s"),
        ("create latency p50 / p99", f"{r['create_p50_ms']} / {r['create_p99_ms']} ms"),
        ("merge-patch throughput (watched)", f"{r['patch_per_s']}/s"),
        ("patch latency p50 / p99", f"{r['patch_p50_ms']} / {r['patch_p99_ms']} ms"),
        ("watch events delivered / patches", f"{r['watch_events']} / {r['patches']}"),
        ("watch delivery p50 / p99", f"{r['watch_p50_ms']} / {r['watch_p99_ms']} ms"),
    ]
    out = ["| measure | value |", "|---|---:|"]
    out += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(out)


async def watcher_child() -> None:
    """Open the watches given on stdin; print READY, then one line per MODIFIED event."""
    spec = json.loads(sys.stdin.readline())
    ctx = ssl.create_default_context(cafile=spec["ca"])
    conn = aiohttp.TCPConnector(limit=len(spec["watches"]) + 4, ssl=ctx)
    headers = {"Authorization": f"Bearer {spec['token']}"}
    ready = 0
    started = asyncio.Event()
    out = sys.stdout

    async def watch(n: str, url: str, http: aiohttp.ClientSession) -> None:
        nonlocal ready
        async with http.get(url, params={"limit": "1"}) as resp:
            rv = (await resp.json())["metadata"]["resourceVersion"]
        params = {"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true"}
        async with http.get(url, params=params, timeout=aiohttp.ClientTimeout(total=None)) as resp:
            ready += 1
            if ready == len(spec["watches"]):
                started.set()
            async for line in resp.content:
                arrived = time.monotonic()
                ev = json.loads(line)
                if ev["type"] == "MODIFIED":
                    meta = ev["object"]["metadata"]
                    out.write(
                        json.dumps([n, meta["name"], meta["annotations"]["bench/seq"], arrived])
                        + "\n"
                    )
                    out.flush()

    async with aiohttp.ClientSession(connector=conn, headers=headers) as http:
        tasks = [asyncio.create_task(watch(n, u, http)) for n, u in spec["watches"]]
        await started.wait()
        out.write("READY\n")
        out.flush()
        await asyncio.gather(*tasks)


def main() -> None:
    if "--watcher-child" in sys.argv:
        asyncio.run(watcher_child())
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--objects", type=int, default=100, help="ConfigMaps per cluster")
    parser.add_argument("--watches", type=int, default=100)
    parser.add_argument("--patches", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    parser.add_argument("--log-size", type=int, default=1000, help="watch events kept per cluster")
    parser.add_argument("--profile", help="cProfile the fleet process into this file")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=2))
    print(table(result))
    if args.profile:
        import pstats

        print(f"\nfleet process profile ({args.profile}), top functions by own time:")
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
