"""Manager shards over a real nats-server: events/s from a matching-set change to its desired
state published, with 1 and with N manager processes (``make bench-manager ARGS="--shards
2"``; ``--clusters``, ``--events``, ``--json``).

The stack is nats-server and the simulated fleet (no agent, no reporter): the definitions are
the spec's first example (EventSource ``sveltos-service``, EventBasedAddOn
``service-network-policy`` with ``oneForEvent``, its NetworkPolicy template), applied to the
management cluster; the clusters are registered with ``env: fv``. The benchmark plays the
agents: one complete head per cluster, then ``--events`` new matching Services (one
``ripple-matches`` entry each, an API server's Service of ~1.5 KB), round robin over the
clusters, published as fast as JetStream acknowledges them. Measured: the time from the first
entry put to the last of the ``--events`` desired states put in ``ripple-desired`` (each event
makes one), hence events/s through the manager(s); and the desired states each shard put.
With ``--shards 1`` the manager is unsharded (exactly as without the option).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import nats

from services.scenario.model import MANAGEMENT, Fleet
from services.scenario.processes import ManagedProcess, free_port, ripple_command, wait_ready
from services.scenario.stack import Stack
from shared.api.vocabulary import ObjectKey
from shared.contract import messages as m
from shared.contract import subjects
from shared.contract.subjects import ClusterRef
from tests.benchmarks.bench_manager import load_definitions, service


def fleet(clusters: int) -> Fleet:
    spec = [
        {"namespace": "default", "name": f"c{i:03d}", "type": "sveltos", "labels": {"env": "fv"}}
        for i in range(clusters)
    ]
    return Fleet.model_validate({"clusters": spec})


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = re.search(rf"^ripple_manager_{name} ([0-9.e+-]+)$", text, re.M)
    return float(found.group(1)) if found else float("nan")


def wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.05)


def start_managers(stack: Stack, shards: int) -> tuple[list[ManagedProcess], list[int]]:
    procs, ports = [], []
    for i in range(shards):
        port = free_port()
        ready = stack.state_dir / "ready" / f"manager-{i}"
        argv = ripple_command(
            "--log-level", "WARNING", "manager",
            "--kubeconfig", str(stack.kubeconfig(MANAGEMENT).resolve()),
            "--nats", stack.nats_url, "--ready-file", str(ready), "--api-port", str(port),
        )  # fmt: skip
        env = {"RIPPLE_SHARDS": str(shards), "RIPPLE_SHARD_ID": f"m{i}", "RIPPLE_SHARD_TTL": "6"}
        log = stack.log_dir / f"manager-{i}.log"
        procs.append(ManagedProcess(f"manager-{i}", argv, log, ready_file=ready, env=env).start())
        ports.append(port)
    wait_ready(procs, 90)
    if shards > 1:
        wait(
            lambda: all(metric(p, "shard_members") == shards for p in ports),
            30,
            "every shard sees the others",
        )
    return procs, ports


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def play(url: str, clusters: int, events: int, es: str, pids: list[int]) -> dict[str, Any]:
    """The agents' side: heads, then ``events`` entries; the desired states counted."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    kv = await js.key_value("ripple-matches")
    refs = [ClusterRef(namespace="default", name=f"c{i:03d}") for i in range(clusters)]
    puts: list[float] = []
    done = asyncio.Event()
    target = [0]

    async def on_desired(msg: Any) -> None:
        if (msg.headers or {}).get("KV-Operation") in ("DEL", "PURGE"):
            return
        puts.append(time.perf_counter())
        if len(puts) >= target[0]:
            done.set()

    await nc.subscribe("$KV.ripple-desired.>", cb=on_desired)
    for ref in refs:  # every set known, empty
        head = m.MatchHead(cluster=ref, event_source_name=es, agent_instance="bench",
                           generation=1, complete=True)  # fmt: skip
        await kv.put(subjects.match_head_key(ref, es), m.envelope(head).model_dump_json().encode())

    async def entries(start: int, count: int) -> None:
        for n in range(start, start + count):
            c = n % clusters
            obj = service(n, c)
            meta = obj["metadata"]
            key = ObjectKey("v1", "Service", meta["namespace"], meta["name"])
            match = m.Match(cluster=refs[c], event_source_name=es,
                            ref=m.ObjectRef(api_version="v1", kind="Service",
                                            namespace=meta["namespace"], name=meta["name"]),
                            uid=meta["uid"], resource_version=meta["resourceVersion"],
                            object=obj, agent_instance="bench")  # fmt: skip
            raw = m.envelope(match).model_dump_json().encode()
            await kv.put(subjects.match_key(refs[c], es, key), raw)

    # warm-up: one event per cluster (every pair planned once), not measured
    target[0] = clusters
    await entries(10_000_000, clusters)
    await asyncio.wait_for(done.wait(), 120)
    await asyncio.sleep(1.0)
    puts.clear()
    done.clear()
    target[0] = events
    cpu0 = [cpu_seconds(p) for p in pids]
    t0 = time.perf_counter()
    await entries(0, events)
    published = time.perf_counter() - t0
    await asyncio.wait_for(done.wait(), 600)
    elapsed = puts[events - 1] - t0
    cpu = [round(cpu_seconds(p) - c, 2) for p, c in zip(pids, cpu0, strict=True)]
    await nc.close()
    return {
        "events": events,
        "publish_seconds": round(published, 3),
        "seconds": round(elapsed, 3),
        "events_per_second": round(events / elapsed, 1),
        "cpu_seconds_per_shard": cpu,
        "cpu_ms_per_event": round(1000 * sum(cpu) / events, 2),
    }


def run(shards: int, clusters: int, events: int) -> dict[str, Any]:
    es_obj, eba, cm = load_definitions()
    with (
        tempfile.TemporaryDirectory() as tmp,
        Stack(fleet(clusters), None, state_dir=tmp, services=False, secure=False) as stack,
    ):
        stack.apply_management([es_obj, cm, eba])
        procs, ports = start_managers(stack, shards)
        try:
            pids = [p.pid for p in procs if p.pid is not None]
            name = es_obj["metadata"]["name"]
            result = asyncio.run(play(stack.nats_url, clusters, events, name, pids))
            per_shard = [int(metric(p, "desired_puts_total")) for p in ports]
            result["desired_puts_per_shard"] = per_shard
            if shards > 1:
                result["owned_clusters"] = [int(metric(p, "shard_owned_clusters")) for p in ports]
                result["rebalances"] = [int(metric(p, "shard_rebalances_total")) for p in ports]
        finally:
            for proc in procs:
                proc.stop()
    return {"shards": shards, "clusters": clusters, **result}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shards", type=int, default=2, help="shards of the second run")
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args, _ = parser.parse_known_args(argv)
    rows = [run(n, args.clusters, args.events) for n in sorted({1, args.shards})]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        extra = ""
        if "owned_clusters" in row:
            extra = f", owned clusters {row['owned_clusters']}, rebalances {row['rebalances']}"
        print(
            f"shards={row['shards']}: {row['events']} events over {row['clusters']} clusters "
            f"in {row['seconds']} s = {row['events_per_second']} events/s to desired state "
            f"(entries published in {row['publish_seconds']} s; desired puts per shard "
            f"{row['desired_puts_per_shard']}{extra}; manager CPU s per shard "
            f"{row['cpu_seconds_per_shard']} = {row['cpu_ms_per_event']} ms per event)"
        )


if __name__ == "__main__":
    main()
