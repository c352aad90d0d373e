"""``bench_agent.py --hosted 10,100,1000``: the footprint of ``ripple agent-host``.

For each N: the simulated fleet of N clusters and a nats-server with authorization (one NATS
user and account per cluster), the streams and buckets provisioned, and one EventSource
assigned to every cluster (written to ``ripple-assignments`` as the manager writes it:
Services labelled ``bench=yes``). The host starts over an empty clusters file (its baseline),
then the file lists the N clusters (each with its own NATS user):

- start-up: from the file written to every agent ready (its assignment read, its informer
  listed, its matching set published);
- idle memory per hosted cluster: (RSS after ``--idle`` seconds - baseline RSS) / N, and the
  same for USS (private pages);
- idle CPU: host CPU seconds over ``--idle`` seconds, per cluster;
- CPU per event: ``--events`` matching Services created across the clusters; host CPU seconds
  from the first create to the last per-change event published (the agents' summed
  ``changes_published_total``), divided by the events.
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from services.scenario.commands import agent_name
from services.scenario.model import Fleet, FleetCluster
from services.scenario.processes import ManagedProcess, free_port, ripple_command
from services.scenario.stack import Stack
from shared.bus import provision
from shared.bus.client import close, connect
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.contract import streams
from shared.contract.subjects import EVENTS_ROOT, ClusterRef

SOURCE = {
    "apiVersion": "lib.projectsveltos.io/v1beta1",
    "kind": "EventSource",
    "metadata": {"name": "bench"},
    "spec": {
        "collectResources": False,
        "resourceSelectors": [
            {
                "group": "",
                "version": "v1",
                "kind": "Service",
                "labelFilters": [{"key": "bench", "operation": "Equal", "value": "yes"}],
            }
        ],
    },
}


def fleet_of(n: int) -> Fleet:
    return Fleet(clusters=[FleetCluster(namespace="bench", name=f"c{i:04d}") for i in range(n)])


async def assign_all(url: str, fleet: Fleet) -> None:
    """The contract's buckets, and the EventSource assigned to every cluster."""
    client = await connect(url, "bench-hosted", max_reconnect_attempts=0)
    try:
        js = client.jetstream()
        await provision.ensure(js, "memory")
        store = await KVStore.open(js, streams.ASSIGNMENTS, m.AssignmentEvent)
        sem = asyncio.Semaphore(64)

        async def put(cluster: FleetCluster) -> None:
            ref = ClusterRef(namespace=cluster.namespace, name=cluster.name)
            data = m.Assignment(cluster=ref, event_source_name="bench", event_source=SOURCE)
            async with sem:
                await store.put(m.envelope(data))

        await asyncio.gather(*(put(c) for c in fleet.clusters))
    finally:
        await close(client)


def loop_seconds(pid: int) -> float:
    """CPU seconds of the host's main thread (its event loop); the rest is its threads
    (informers: the simulated fleet sends every watch a BOOKMARK each second)."""
    with open(f"/proc/{pid}/task/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.partition(" ")
            out[name] = float(value)
    return out


def entries(stack: Stack, fleet: Fleet) -> list[dict[str, Any]]:
    env = stack.nats_env()
    out = []
    for cluster in fleet.clusters:
        ref = cluster.ref
        creds = env[agent_name(ref)]
        out.append(
            {
                "cluster": ref,
                "kubeconfig": str(stack.kubeconfig(ref)),
                "natsUser": creds["RIPPLE_NATS_USER"],
                "natsPassword": creds["RIPPLE_NATS_PASSWORD"],
            }
        )
    return out


def write(path: Path, clusters: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump({"clusters": clusters}))
    tmp.chmod(0o600)
    tmp.replace(path)


def wait(check: Any, timeout: float, what: str, interval: float = 0.2) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s")


def measure_one(n: int, args: Any, root: Path, memory: Any, cpu_seconds: Any) -> dict[str, Any]:
    fleet = fleet_of(n)
    root.mkdir(parents=True, exist_ok=True)
    with Stack(fleet, None, state_dir=root / "stack", services=False, log_level="WARNING") as stack:
        asyncio.run(assign_all(stack.nats_url, fleet))
        clusters = root / "clusters.yaml"
        write(clusters, [])
        port = free_port()
        ready = root / "ready"
        argv = ripple_command(
            "--log-level",
            os.environ.get("BENCH_HOSTED_LOG_LEVEL", "WARNING"),
            "agent-host",
            "--clusters",
            str(clusters),
            "--nats",
            stack.nats_server_url,
            "--metrics-port",
            str(port),
            "--ready-file",
            str(ready),
            "--poll-interval",
            "0.5",
        )
        if os.environ.get("BENCH_HOSTED_PROFILE"):  # cProfile of the host, written at its end
            out = os.environ["BENCH_HOSTED_PROFILE"]
            argv = [argv[0], "-m", "cProfile", "-o", out, *argv[1:]]
        host = ManagedProcess("agent-host", argv, root / "agent-host.log", ready_file=ready)
        host.start()
        try:
            wait(ready.exists, 60, "host ready (no cluster)")
            time.sleep(2)
            pid = host.pid
            assert pid is not None
            base = memory(pid)
            listed = entries(stack, fleet)
            ready.unlink()
            write(clusters, listed)
            started, cpu_start = time.monotonic(), cpu_seconds(pid)

            # the ready file: every agent ready (its assignment read, its kind listed)
            wait(ready.exists, args.timeout, f"{n} agents ready", 0.05)
            startup = time.monotonic() - started
            startup_cpu = cpu_seconds(pid) - cpu_start
            # every informer running (the summed series are refreshed every 15 s)
            wait(
                lambda: scrape(port).get("ripple_agent_host_watches", 0) >= n,
                60,
                f"{n} informers",
                1.0,
            )
            time.sleep(3)  # the start-up's stragglers (first status publications)
            cpu0, loop0, t0 = cpu_seconds(pid), loop_seconds(pid), time.monotonic()
            time.sleep(args.idle)
            elapsed = time.monotonic() - t0
            idle_cpu = (cpu_seconds(pid) - cpu0) / elapsed
            idle_loop = (loop_seconds(pid) - loop0) / elapsed
            mem = memory(pid)
            scraped = time.monotonic()
            series = len(scrape(port))
            scrape_seconds = time.monotonic() - scraped
            events = per_event(stack, fleet, port, pid, args, cpu_seconds)
            final = memory(pid)
            stopping = time.monotonic()
            code = host.stop()
            shutdown = time.monotonic() - stopping
        finally:
            host.stop()
    return {
        "clusters": n,
        "startup_seconds": round(startup, 2),
        "startup_host_cpu_seconds": round(startup_cpu, 2),
        "baseline": base,
        "idle": mem,
        "after_events": final,
        "shutdown_seconds": round(shutdown, 2),
        "scrape_seconds": round(scrape_seconds, 3),
        "series": series,
        "exit_code": code,
        "rss_per_cluster_mib": round((mem["rss"] - base["rss"]) / n, 3),
        "uss_per_cluster_mib": round((mem["uss"] - base["uss"]) / n, 3),
        "idle_cpu_share": round(idle_cpu, 4),
        "idle_cpu_per_cluster": round(idle_cpu / n, 6),
        "idle_loop_share": round(idle_loop, 4),
        **events,
    }


def per_event(
    stack: Stack, fleet: Fleet, port: int, pid: int, args: Any, cpu_seconds: Any
) -> dict[str, Any]:
    """CPU per event: ``args.events`` matching Services created round-robin over the
    clusters (the fleet answers from its own process: only the host's CPU is counted), until
    every per-change event arrived on ``ripple.v1.events.>`` (a NATS subscription: the host
    is not scraped meanwhile)."""
    return asyncio.run(_per_event(stack, fleet, pid, args, cpu_seconds))


async def _per_event(
    stack: Stack, fleet: Fleet, pid: int, args: Any, cpu_seconds: Any
) -> dict[str, Any]:
    count = args.events
    clients = {c.ref: stack.client(c.ref) for c in fleet.clusters[: min(len(fleet.clusters), 50)]}
    refs = list(clients)
    seen = 0
    done = asyncio.Event()
    nc = await connect(stack.nats_url, "bench-hosted-events", max_reconnect_attempts=0)

    async def on_event(msg: Any) -> None:
        nonlocal seen
        seen += 1
        if seen >= count:
            done.set()

    await nc.subscribe(f"{EVENTS_ROOT}.>", cb=on_event)
    await nc.flush()
    cpu0, t0 = cpu_seconds(pid), time.monotonic()

    def create_all() -> None:
        for i in range(count):
            body = {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": f"svc-{i:05d}",
                    "namespace": "default",
                    "labels": {"bench": "yes"},
                },
                "spec": {"ports": [{"port": 80}]},
            }
            clients[refs[i % len(refs)]].apply(body, field_manager="bench")

    try:
        await asyncio.to_thread(create_all)
        await asyncio.wait_for(done.wait(), args.timeout)
    finally:
        await close(nc)
    seconds = time.monotonic() - t0
    cpu = cpu_seconds(pid) - cpu0
    return {
        "events": count,
        "events_seconds": round(seconds, 2),
        "cpu_ms_per_event": round(cpu / count * 1000, 3),
    }


def run(sizes: list[int], args: Any, root: Path, memory: Any, cpu_seconds: Any) -> list[Any]:
    results = []
    for n in sizes:
        result = measure_one(n, args, root / f"hosted-{n}", memory, cpu_seconds)
        results.append(result)
        if not args.json:
            print(render(result), flush=True)
    return results


def render(r: dict[str, Any]) -> str:
    return (
        f"hosted {r['clusters']:5d} clusters: start-up {r['startup_seconds']:.1f} s (host CPU "
        f"{r['startup_host_cpu_seconds']:.1f} s); idle RSS "
        f"{r['idle']['rss']:.0f} MiB (baseline {r['baseline']['rss']:.0f}), per cluster RSS "
        f"{r['rss_per_cluster_mib']:.2f} MiB, USS {r['uss_per_cluster_mib']:.2f} MiB; idle CPU "
        f"{r['idle_cpu_share'] * 100:.1f} % of a core ({r['idle_cpu_per_cluster'] * 1e6:.0f} "
        f"µs/s per cluster; event loop {r['idle_loop_share'] * 100:.1f} %); {r['events']} events in {r['events_seconds']:.1f} s, "
        f"{r['cpu_ms_per_event']:.2f} ms CPU per event; SIGTERM -> exit {r['exit_code']} in "
        f"{r['shutdown_seconds']:.1f} s; one /metrics scrape {r['scrape_seconds'] * 1000:.0f} ms"
    )


__all__ = ["run"]
