"""End to end: a Service created/deleted in a cluster -> its NetworkPolicy applied/removed.

Run with ``make bench-e2e`` (``ARGS="--clusters 10 --rate 100 --duration 30"``;
``--rate 50,100,200`` runs one window per rate on the same stack, a ladder that stops at the
first rate not sustained unless ``--keep-going``; ``--json``).

The real processes (:class:`services.scenario.stack.Stack`): nats-server, the simulated fleet,
the manager, the reporter and one agent per cluster, or beyond 8 clusters one ``agent-host``
hosting every cluster's agent (``--agents auto|process|hosted``), with the spec's first example
(``../shared/scenarios/01-network-policy-per-service/management``: Services labelled
``sveltos: fv`` -> one NetworkPolicy ``front-<service>`` per Service, oneForEvent, collected).
Every cluster is labelled ``env: fv``.

Load: an open-loop schedule of ``--rate`` operations per second spread over the clusters
(round robin); each creates a labelled Service, or deletes the oldest one of that cluster
once it holds ``--live`` Services (so instances stay bounded and half the operations are
deletions at steady state). Requests go over HTTPS (aiohttp, the fleet token) from this
process; ``--concurrency`` bounds the requests in flight.

Latency: from just before the create/delete request is sent to the ADDED/DELETED event of
``front-<service>`` on a watch of NetworkPolicies of that cluster. The watches run in a child
process (one per cluster), so the load generator does not delay their reading; both sides use
``time.monotonic()`` (one clock per machine). Operations of the first ``--warmup`` seconds are
not counted; an operation whose event does not arrive within ``--drain`` seconds after the
window is counted as missing.

Next to it, the agents' own histogram ``ripple_agent_event_to_applied_seconds`` (from the
watch event's receipt by the agent to the apply's success; creations only, since a removal is
no apply): its buckets are scraped from every agent when the measured part of the window
starts and after the drain, summed over the agents, and the difference's p50/p99 is
interpolated as PromQL's ``histogram_quantile`` does (:func:`shared.metrics.quantile`). It
starts later than the benchmark's own figure (after the API server and the informer), and
its resolution is its buckets'.

Also reported: the stack's bring-up time per phase; CPU used by each process during the
window (from ``/proc/<pid>/stat``) and per event, the time its threads waited for a CPU
(run-queue wait, ``/proc/<pid>/task/*/schedstat``), its resident memory (``VmRSS``, and the
peak ``VmHWM``) after bring-up and after each window, and the load average, since the whole
stack shares the machine's cores with the load generator.

A rate is *sustained* when nothing is missing, no request failed, fewer than 1% of the
operations were sent late and p99 <= ``--p99-target`` ms. Each window ends with the
verdict and where the limit is (the machine's cores saturated, or one process saturating its
one core, from the CPU and run-queue figures); the run ends with the highest rate sustained
and a check that every cluster holds exactly the NetworkPolicies of its live Services (every
add-on applied, and withdrawn when its Service went).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing as mp
import os
import ssl
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from services.scenario.model import Fleet, FleetCluster
from services.scenario.stack import Stack
from shared.metrics import parse_histogram, quantile
from tests.paths import SCENARIOS

MANAGEMENT = SCENARIOS / "01-network-policy-per-service" / "management"
NP_PATH = "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies"
SVC_PATH = "/api/v1/namespaces/default/services"
TICKS = os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def runqueue_wait(pid: int | None) -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU (the sum of
    ``/proc/<pid>/task/*/schedstat``)."""
    if pid is None:
        return 0.0
    total = 0.0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
                total += int(fh.read().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            continue
    return total


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy so far (every core; ``/proc/stat``)."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / TICKS


def memory_mib(pid: int | None) -> tuple[float, float]:
    """``(VmRSS, VmHWM)`` of a process in MiB (zeros when it is gone)."""
    out = {"VmRSS:": 0.0, "VmHWM:": 0.0}
    if pid is None:
        return 0.0, 0.0
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                parts = line.split()
                if parts and parts[0] in out:
                    out[parts[0]] = int(parts[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return out["VmRSS:"], out["VmHWM:"]


def endpoint(kubeconfig: Path) -> tuple[str, str, str]:
    """``(server, token, CA PEM)`` of a kubeconfig written by the fleet."""
    doc = yaml.safe_load(kubeconfig.read_text())
    cluster = doc["clusters"][0]["cluster"]
    ca = base64.b64decode(cluster.get("certificate-authority-data", "")).decode()
    return cluster["server"], doc["users"][0]["user"]["token"], ca


def ssl_context(ca: str) -> ssl.SSLContext | bool:
    if not ca:
        return False
    ctx = ssl.create_default_context()
    ctx.load_verify_locations(cadata=ca)
    return ctx


def service_body(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "labels": {"sveltos": "fv"}},
        "spec": {
            "selector": {"app.kubernetes.io/name": name},
            "ports": [{"protocol": "TCP", "port": 80, "targetPort": 8080}],
        },
    }


# -- the watcher child -------------------------------------------------------------------------
def watcher_main(
    endpoints: dict[str, tuple[str, str, str]], out: str, ready: str, nats_url: str
) -> None:
    asyncio.run(_watch_all(endpoints, out, ready, nats_url))


async def _tap(nats_url: str, sink: Any) -> Any:
    """Stage times from the NATS contract: a Service entering/leaving its cluster's report
    (R+/R-: its ripple-matches entry put/deleted) and its NetworkPolicy entering/leaving the cluster's desired state (D+/D-)."""
    import nats

    nc = await nats.connect(nats_url, name="bench-e2e tap")
    matching: dict[str, set[str]] = {}
    profiles: dict[str, tuple[str, str]] = {}  # desired key -> (cluster, np name)

    async def on_match(msg: Any) -> None:
        now = time.monotonic()
        from shared.contract.subjects import parse_match_key

        item = parse_match_key(msg.subject[len("$KV.ripple-matches.") :])
        if item.obj is None:
            return  # a head
        cluster = f"{item.cluster.namespace}/{item.cluster.name}"
        op = (msg.headers or {}).get("KV-Operation", "")
        gone = op in ("DEL", "PURGE") or not msg.data
        names = matching.setdefault(cluster, set())
        if gone and item.obj.name in names:
            names.discard(item.obj.name)
            sink.write(f"{cluster} front-{item.obj.name} R- {now}\n")
        elif not gone and item.obj.name not in names:
            names.add(item.obj.name)
            sink.write(f"{cluster} front-{item.obj.name} R+ {now}\n")

    async def on_desired(msg: Any) -> None:
        now = time.monotonic()
        key = msg.subject
        op = (msg.headers or {}).get("KV-Operation", "")
        if op in ("DEL", "PURGE") or not msg.data:
            if key in profiles:
                cluster, name = profiles.pop(key)
                sink.write(f"{cluster} {name} D- {now}\n")
            return
        data = json.loads(msg.data)["data"]
        c = data["cluster"]
        cluster = f"{c['namespace']}/{c['name']}"
        for obj in data.get("objects", []):
            name = obj["manifest"]["metadata"]["name"]
            if profiles.get(key) != (cluster, name):
                profiles[key] = (cluster, name)
                sink.write(f"{cluster} {name} D+ {now}\n")

    await nc.subscribe("$KV.ripple-matches.>", cb=on_match)
    await nc.subscribe("$KV.ripple-desired.>", cb=on_desired)
    return nc


async def _watch_all(
    endpoints: dict[str, tuple[str, str, str]], out: str, ready: str, nats_url: str
) -> None:
    _server, token, ca = next(iter(endpoints.values()))
    conn = aiohttp.TCPConnector(limit=0, ssl=ssl_context(ca))
    headers = {"Authorization": f"Bearer {token}"}
    opened: set[str] = set()
    with open(out, "w", buffering=1) as sink:
        await _tap(nats_url, sink)
        async with aiohttp.ClientSession(
            connector=conn, headers=headers, timeout=aiohttp.ClientTimeout(total=None)
        ) as http:

            async def watch(cluster: str, base: str) -> None:
                rv = ""
                while True:
                    url = f"{base}{NP_PATH}?watch=1&allowWatchBookmarks=true"
                    if rv:
                        url += f"&resourceVersion={rv}"
                    with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                        async with http.get(url) as resp:
                            opened.add(cluster)
                            if len(opened) == len(endpoints):
                                Path(ready).touch()
                            async for line in resp.content:
                                now = time.monotonic()
                                event = json.loads(line)
                                meta = event["object"].get("metadata", {})
                                rv = meta.get("resourceVersion", rv)
                                if event["type"] in ("ADDED", "DELETED"):
                                    sink.write(f"{cluster} {meta['name']} {event['type']} {now}\n")
                    await asyncio.sleep(0.1)

            await asyncio.gather(*(watch(c, e[0]) for c, e in endpoints.items()))


# -- the load generator ------------------------------------------------------------------------
class Load:
    def __init__(self, stack: Stack, clusters: list[str], args: argparse.Namespace) -> None:
        self.stack = stack
        self.clusters = clusters
        self.args = args
        self.endpoints = {c: endpoint(stack.kubeconfig(c)) for c in clusters}
        self.live: dict[str, deque[str]] = {c: deque() for c in clusters}
        self.seq = 0
        self.errors = 0
        self.applied_before: asyncio.Task[dict[float, float]] | None = None

    async def window(self, http: aiohttp.ClientSession, rate: float) -> dict[str, Any]:
        """One measurement window at ``rate`` ops/s: ``warmup`` + ``duration`` seconds."""
        args = self.args
        sem = asyncio.Semaphore(args.concurrency)
        sent: dict[tuple[str, str, str], float] = {}  # (cluster, np name, type) -> t
        measured_from = time.monotonic() + args.warmup
        total = args.warmup + args.duration
        n_ops = int(rate * total)
        tasks: list[asyncio.Task[None]] = []
        late = 0

        async def op(cluster: str, create: bool, name: str) -> None:
            base = self.endpoints[cluster][0] + SVC_PATH
            async with sem:
                t = time.monotonic()
                if t >= measured_from:
                    sent[(cluster, f"front-{name}", "ADDED" if create else "DELETED")] = t
                try:
                    if create:
                        async with http.post(base, json=service_body(name)) as resp:
                            await resp.read()
                            ok = resp.status == 201
                    else:
                        async with http.delete(f"{base}/{name}") as resp:
                            await resp.read()
                            ok = resp.status == 200
                except aiohttp.ClientError:
                    ok = False
                if not ok:
                    self.errors += 1

        lag: dict[str, float] = {}
        poller = asyncio.create_task(self.loop_lag(http, lag, args.warmup))
        self.applied_before = asyncio.create_task(self.applied(http, after=args.warmup))
        start = time.monotonic()
        cpu0, wait0, busy0 = self.cpu(), self.waits(), machine_busy()
        stats0 = await self.manager_stats(http)
        for i in range(n_ops):
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.05:
                late += 1
            cluster = self.clusters[i % len(self.clusters)]
            live = self.live[cluster]
            if len(live) >= args.live:
                tasks.append(asyncio.create_task(op(cluster, False, live.popleft())))
            else:
                self.seq += 1
                name = f"s-{self.seq}"
                live.append(name)
                tasks.append(asyncio.create_task(op(cluster, True, name)))
        await asyncio.gather(*tasks)
        issued = time.monotonic() - start
        poller.cancel()
        cpu1, wait1, busy1 = self.cpu(), self.waits(), machine_busy()
        stats1 = await self.manager_stats(http)
        load = os.getloadavg()
        return {
            "rate": rate,
            "ops": n_ops,
            "achieved_rate": n_ops / issued,
            "late_ops": late,
            "sent": sent,
            "window_end": time.monotonic(),
            "cpu": {k: (cpu1[k] - cpu0[k]) / issued for k in cpu0},
            "machine_cores_busy": (busy1 - busy0) / issued,
            "cpu_ms_per_event": {k: (cpu1[k] - cpu0[k]) * 1000 / n_ops for k in cpu0},
            "rss_mib": self.memory(),
            "ripple_cpu_ms_per_event": sum(cpu1[k] - cpu0[k] for k in cpu0 if k in RIPPLE_SERVICES)
            * 1000
            / n_ops,
            "runqueue_wait": {k: (wait1[k] - wait0[k]) / issued for k in wait0},
            "manager_per_s": {k: (stats1.get(k, 0) - v) / issued for k, v in stats0.items()},
            "load": load,
            "loop_lag_max_ms": {k: v * 1000 for k, v in lag.items()},
        }

    async def loop_lag(
        self, http: aiohttp.ClientSession, worst: dict[str, float], after: float
    ) -> None:
        """Poll every service's ``loop_lag_recent_max_seconds`` (worst delay of its event loop
        over the last 10 s) every 2 s, from ``after`` seconds on plus 10 s (so the figure
        covers the measured part of the window only); keep the worst per role."""
        await asyncio.sleep(after + 10.0)
        while True:
            for name, port in self.stack.metrics_ports.items():
                role = "agents (worst)" if name.startswith("agent-") else name
                try:
                    async with http.get(
                        f"http://127.0.0.1:{port}/metrics",
                        ssl=False,
                        timeout=aiohttp.ClientTimeout(total=2),
                    ) as resp:
                        text = await resp.text()
                except (aiohttp.ClientError, TimeoutError):
                    continue
                for line in text.splitlines():
                    if "_loop_lag_recent_max_seconds " in line and not line.startswith("#"):
                        worst[role] = max(worst.get(role, 0.0), float(line.split()[-1]))
            await asyncio.sleep(2.0)

    async def applied(self, http: aiohttp.ClientSession, after: float = 0.0) -> dict[float, float]:
        """The agents' ``event_to_applied`` buckets (cumulative, summed over the agents),
        scraped ``after`` seconds from now."""
        await asyncio.sleep(after)
        total: dict[float, float] = {}
        for name, port in self.stack.metrics_ports.items():
            if not name.startswith("agent-"):
                continue
            try:
                async with http.get(
                    f"http://127.0.0.1:{port}/metrics",
                    ssl=False,
                    timeout=aiohttp.ClientTimeout(total=5),
                ) as resp:
                    text = await resp.text()
            except (aiohttp.ClientError, TimeoutError):
                continue
            for name in (APPLIED, HOSTED_APPLIED):  # per-agent process / agent-host
                for bound, count in parse_histogram(text, name):
                    total[bound] = total.get(bound, 0.0) + count
        return total

    def pids(self) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        if self.stack.nats is not None:
            out["nats-server"] = self.stack.nats.pid
        if self.stack.fleet_process is not None:
            out["fleet"] = self.stack.fleet_process.pid
        for name, proc in self.stack.processes.items():
            out[name] = proc.pid
        out["bench (load generator)"] = os.getpid()
        return out

    async def manager_stats(self, http: aiohttp.ClientSession) -> dict[str, int]:
        """The manager's work counters, from its live ``/metrics`` (its REST ``/v1/stats``
        reads a snapshot, which a busy manager refreshes late)."""
        port = self.stack.metrics_ports.get("manager")
        if port is None:
            return {}
        try:
            async with http.get(f"http://127.0.0.1:{port}/metrics", ssl=False) as resp:
                text = await resp.text()
        except aiohttp.ClientError:
            return {}
        values = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name.startswith("ripple_manager_") and name.endswith("_total"):
                values[name[len("ripple_manager_") : -len("_total")]] = value
        return {k: int(float(values.get(m, 0))) for k, m in MANAGER_COUNTERS.items()}

    def waits(self) -> dict[str, float]:
        by: dict[str, float] = {}
        for name, pid in self.pids().items():
            by[role(name)] = by.get(role(name), 0.0) + runqueue_wait(pid)
        return by

    def cpu(self) -> dict[str, float]:
        by: dict[str, float] = {}
        for name, pid in self.pids().items():
            by[role(name)] = by.get(role(name), 0.0) + cpu_seconds(pid)
        return by

    def memory(self) -> dict[str, dict[str, float]]:
        """RSS and peak RSS (MiB) by role (agent processes summed; ``n``: processes)."""
        by: dict[str, dict[str, float]] = {}
        for name, pid in self.pids().items():
            rss, hwm = memory_mib(pid)
            entry = by.setdefault(role(name), {"rss": 0.0, "peak": 0.0, "n": 0})
            entry["rss"] += rss
            entry["peak"] += hwm
            entry["n"] += 1
        return by

    async def consistency(self, http: aiohttp.ClientSession, deadline: float) -> dict[str, Any]:
        """Whether every cluster holds exactly ``front-<service>`` for its live Services (the
        add-ons of the Services still there applied, those of deleted ones withdrawn),
        retried until ``deadline``; the clusters that differ (a few named)."""
        sem = asyncio.Semaphore(32)

        async def differs(cluster: str) -> str | None:
            base = self.endpoints[cluster][0]
            async with sem:
                try:
                    async with http.get(base + NP_PATH) as resp:
                        items = (await resp.json()).get("items", [])
                except (aiohttp.ClientError, ValueError) as err:
                    return f"{cluster}: list failed ({err})"
            have = {i["metadata"]["name"] for i in items}
            want = {f"front-{n}" for n in self.live[cluster]}
            if have == want:
                return None
            return f"{cluster}: missing {sorted(want - have)[:3]}, extra {sorted(have - want)[:3]}"

        while True:
            found = [d for d in await asyncio.gather(*map(differs, self.clusters)) if d]
            if not found or time.monotonic() >= deadline:
                return {
                    "clusters": len(self.clusters),
                    "live_services": sum(len(v) for v in self.live.values()),
                    "differing": len(found),
                    "examples": found[:5],
                }
            await asyncio.sleep(1.0)


APPLIED = "ripple_agent_event_to_applied_seconds"
HOSTED_APPLIED = "ripple_agent_host_event_to_applied_seconds"

MANAGER_COUNTERS = {
    "reconciles": "reconciles",
    "report_changes": "report_changes",
    "desired_puts": "desired_puts",
    "desired_deletes": "desired_deletes",
    "puts": "publication_puts",
    "deletes": "publication_deletes",
    "publication_failures": "publication_failures",
}
"""bench-e2e's "manager per s" line: its name -> the manager's counter (``ripple_manager_
<counter>_total``)."""

RIPPLE_SERVICES = ("agent-host", "agents (all)", "manager", "reporter")
"""Ripple's own processes (the fleet, NATS and the load generator come on top)."""

SINGLE_CORE = ("agent-host", "manager", "reporter", "fleet", "bench (load generator)")
"""Processes whose work runs on one event loop (one core at most)."""


def role(name: str) -> str:
    """The row a process is counted in: the per-cluster agent processes are summed."""
    return "agents (all)" if name.startswith("agent-") and name != "agent-host" else name


def verdict(row: dict[str, Any], target_ms: float) -> tuple[bool, str]:
    """Whether a window's rate was sustained (nothing missing, no error, < 1 % sent late,
    p99 within ``target_ms``), and why not."""
    why = []
    if row["missing"]:
        why.append(f"{row['missing']} missing")
    if row["errors"]:
        why.append(f"{row['errors']} request errors")
    if row["late_ops"] > 0.01 * row["ops"]:
        why.append(f"{row['late_ops']} operations sent late (the load generator fell behind)")
    if not row["p99_ms"] <= target_ms:
        why.append(f"p99 {row['p99_ms']:.0f} ms > {target_ms:.0f} ms")
    return not why, "; ".join(why)


def limit(row: dict[str, Any], cores: int) -> str:
    """Where the limit is, from the window's CPU and run-queue figures."""
    cpu: dict[str, float] = row["cpu"]
    wait: dict[str, float] = row["runqueue_wait"]
    total = sum(cpu.values())
    machine = max(total, row.get("machine_cores_busy", total))
    busiest, used = max(cpu.items(), key=lambda kv: kv[1])
    waiter, waited = max(wait.items(), key=lambda kv: kv[1])
    others = f", other work on the machine {machine - total:.2f}" if machine - total > 0.1 else ""
    figures = (
        f"stack {total:.2f} of {cores} cores{others}, busiest {busiest} {used:.2f} cores, "
        f"most run-queue wait {waiter} {waited:.2f} s/s, load {row['load'][0]:.2f}"
    )
    if machine >= 0.85 * cores:
        return f"the machine's CPUs are saturated ({figures})"
    if busiest in SINGLE_CORE and used >= 0.85:
        return f"{busiest} saturates its one core (its event loop; {figures})"
    if waited >= 0.25:
        return f"CPU contention: processes wait for a core ({figures})"
    return f"no CPU saturation ({figures})"


def read_events(path: Path) -> dict[tuple[str, str, str], float]:
    """First time of each (cluster, NetworkPolicy name, ADDED|DELETED|R+|R-|D+|D-).
    Names are never reused, so the first occurrence is the one caused by the operation."""
    seen: dict[tuple[str, str, str], float] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4:
            seen.setdefault((parts[0], parts[1], parts[2]), float(parts[3]))
    return seen


STAGES = {"ADDED": ("R+", "D+"), "DELETED": ("R-", "D-")}


def summarise(result: dict[str, Any], seen: dict[tuple[str, str, str], float]) -> dict[str, Any]:
    sent: dict[tuple[str, str, str], float] = result.pop("sent")
    lat: dict[str, list[float]] = {"ADDED": [], "DELETED": []}
    stages: dict[str, list[float]] = {"agent_report": [], "manager": [], "agent_apply": []}
    missing = 0
    for key, t in sent.items():
        if key in seen and seen[key] >= t:
            t_end = seen[key]
            lat[key[2]].append((t_end - t) * 1000)
            r_key, d_key = STAGES[key[2]]
            t_r = seen.get((key[0], key[1], r_key))
            t_d = seen.get((key[0], key[1], d_key))
            if t_r is not None and t_d is not None and t <= t_r <= t_d <= t_end:
                stages["agent_report"].append((t_r - t) * 1000)
                stages["manager"].append((t_d - t_r) * 1000)
                stages["agent_apply"].append((t_end - t_d) * 1000)
        else:
            missing += 1
    result["stages"] = {
        k: {"p50_ms": pct(v, 0.5), "p99_ms": pct(v, 0.99), "n": len(v)} for k, v in stages.items()
    }
    both = lat["ADDED"] + lat["DELETED"]
    result.pop("window_end")
    result.update(
        measured=len(sent),
        missing=missing,
        p50_ms=pct(both, 0.5),
        p90_ms=pct(both, 0.9),
        p99_ms=pct(both, 0.99),
        max_ms=max(both) if both else float("nan"),
        create_p50_ms=pct(lat["ADDED"], 0.5),
        create_p99_ms=pct(lat["ADDED"], 0.99),
        delete_p50_ms=pct(lat["DELETED"], 0.5),
        delete_p99_ms=pct(lat["DELETED"], 0.99),
    )
    return result


async def run(
    args: argparse.Namespace, stack: Stack, tmp: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    clusters = [c.ref for c in stack.fleet.clusters]
    load = Load(stack, clusters, args)
    events = tmp / "events.txt"
    ready = tmp / "watching"
    child = mp.get_context("spawn").Process(
        target=watcher_main,
        args=({c: load.endpoints[c] for c in clusters}, str(events), str(ready), stack.nats_url),
        daemon=True,
    )
    child.start()
    results = []
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if time.monotonic() > deadline or not child.is_alive():
                raise RuntimeError("the watches did not open")
            await asyncio.sleep(0.05)
        _, token, ca = next(iter(load.endpoints.values()))
        conn = aiohttp.TCPConnector(limit=0, ssl=ssl_context(ca))
        async with aiohttp.ClientSession(
            connector=conn, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            for rate in args.rate:
                result = await load.window(http, rate)
                # drain: until every measured operation is seen, or --drain seconds
                end = time.monotonic() + args.drain
                while time.monotonic() < end:
                    seen = read_events(events)
                    if all(k in seen for k in result["sent"]):
                        break
                    await asyncio.sleep(0.2)
                row = summarise(result, read_events(events))
                row["errors"] = load.errors
                load.errors = 0
                row["sustained"], row["why"] = verdict(row, args.p99_target)
                row["limit"] = limit(row, os.cpu_count() or 1)
                row["histogram"] = histogram_delta(
                    await load.applied_before if load.applied_before else {},
                    await load.applied(http),
                )
                results.append(row)
                if not args.json:
                    print_row(row)
                if not row["sustained"] and not args.keep_going:
                    break
                await asyncio.sleep(args.pause)
            final = await load.consistency(http, time.monotonic() + args.drain)
    finally:
        child.terminate()
        child.join(5)
    return results, final


def histogram_delta(before: dict[float, float], after: dict[float, float]) -> dict[str, float]:
    """p50/p99 (ms) of the observations between two scrapes of cumulative buckets."""
    buckets = sorted((b, c - before.get(b, 0.0)) for b, c in after.items())
    n = buckets[-1][1] if buckets else 0.0
    return {
        "p50_ms": quantile(0.5, buckets) * 1000 if n else float("nan"),
        "p99_ms": quantile(0.99, buckets) * 1000 if n else float("nan"),
        "n": n,
    }


def print_row(row: dict[str, Any]) -> None:
    cpu = ", ".join(f"{k} {v:.2f}" for k, v in sorted(row["cpu"].items(), key=lambda x: -x[1]))
    per_event = ", ".join(
        f"{k} {row['cpu_ms_per_event'][k]:.2f}"
        for k in RIPPLE_SERVICES
        if k in row["cpu_ms_per_event"]
    )
    wait = ", ".join(
        f"{k} {v:.2f}" for k, v in sorted(row["runqueue_wait"].items(), key=lambda x: -x[1])
    )
    mgr = ", ".join(f"{k} {v:.0f}" for k, v in row["manager_per_s"].items())
    lag = ", ".join(f"{k} {v:.0f}" for k, v in sorted(row.get("loop_lag_max_ms", {}).items()))
    st = row["stages"]
    hist = row["histogram"]
    stages = ", ".join(f"{k} {v['p50_ms']:.1f}/{v['p99_ms']:.1f}" for k, v in st.items())
    all_events = ", ".join(
        f"{k} {v:.2f}" for k, v in sorted(row["cpu_ms_per_event"].items(), key=lambda x: -x[1])
    )
    print(
        f"rate {row['rate']:>6.0f}/s (achieved {row['achieved_rate']:.0f}, late {row['late_ops']})"
        f"  n={row['measured']} missing={row['missing']} errors={row['errors']}"
        f"  p50 {row['p50_ms']:.1f} ms  p90 {row['p90_ms']:.1f}  p99 {row['p99_ms']:.1f}"
        f"  max {row['max_ms']:.1f}  (create p50/p99 {row['create_p50_ms']:.1f}/"
        f"{row['create_p99_ms']:.1f}, delete {row['delete_p50_ms']:.1f}/"
        f"{row['delete_p99_ms']:.1f})  load {row['load'][0]:.2f}\n    stages p50/p99 ms: {stages}\n    CPU cores used: {cpu}\n    Ripple CPU ms per event: {row['ripple_cpu_ms_per_event']:.2f} ({per_event})\n    run-queue wait (s/s, main thread): {wait}\n"
        f"    manager per s: {mgr}\n    worst event-loop lag (ms): {lag}\n"
        f"    {APPLIED} (agents' histogram, creations, from the watch event): "
        f"p50 {hist['p50_ms']:.1f} ms  p99 {hist['p99_ms']:.1f} ms  n={hist['n']:.0f}"
        f"  (benchmark, creations: p50 {row['create_p50_ms']:.1f}  p99 "
        f"{row['create_p99_ms']:.1f})\n    RSS (MiB): {rss_line(row['rss_mib'])}\n"
        f"    CPU ms per event, every process: {all_events}\n"
        f"    => {'sustained' if row['sustained'] else 'NOT sustained: ' + row['why']}; "
        f"limit: {row['limit']}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument(
        "--rate", default="100", help="operations/s over all clusters; a list runs one window each"
    )
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per rate")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds per rate")
    parser.add_argument("--drain", type=float, default=20.0, help="max wait for late events")
    parser.add_argument("--pause", type=float, default=3.0, help="seconds between windows")
    parser.add_argument("--live", type=int, default=20, help="Services kept per cluster")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--log-level", default="WARNING", help="of the services")
    parser.add_argument(
        "--agents",
        default="auto",
        choices=("auto", "process", "hosted"),
        help="one agent process per cluster, one agent-host for all, or auto (hosted beyond 8)",
    )
    parser.add_argument(
        "--p99-target", type=float, default=250.0, help="ms: a rate above it is not sustained"
    )
    parser.add_argument(
        "--keep-going", action="store_true", help="run every rate even after one not sustained"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--state-dir", help="keep the stack's state (logs) here")
    args = parser.parse_args()
    args.rate = [float(r) for r in str(args.rate).split(",")]

    fleet = Fleet(
        clusters=[
            FleetCluster(namespace="default", name=f"c{i:03d}", labels={"env": "fv"})
            for i in range(args.clusters)
        ]
    )
    load0 = os.getloadavg()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        stack = Stack(
            fleet,
            MANAGEMENT,
            state_dir=Path(args.state_dir or Path(tmp) / "stack"),
            log_level=args.log_level,
            ready_timeout=max(120.0, 3.0 * args.clusters),
            metrics=True,
            agent_mode=args.agents,
        )
        with stack:
            startup = time.monotonic() - t0
            idle = Load(stack, [], args).memory()
            if not args.json:
                phases = ", ".join(f"{k} {v:.1f}" for k, v in stack.phases.items())
                print(
                    f"# {args.clusters} clusters ({stack.agent_mode} agents), stack up in "
                    f"{startup:.1f} s ({phases}; load before {load0[0]:.2f}); services log "
                    f"level {args.log_level}\n#   RSS after bring-up (MiB): {rss_line(idle)}",
                    flush=True,
                )
            results, final = asyncio.run(run(args, stack, Path(tmp)))
    summary = ladder_summary(results, args.p99_target)
    if args.json:
        print(
            json.dumps(
                {
                    "clusters": args.clusters,
                    "agents": stack.agent_mode,
                    "startup_s": startup,
                    "phases": stack.phases,
                    "idle_rss_mib": idle,
                    "rows": results,
                    "consistency": final,
                    "sustained_rate": summary[0],
                }
            )
        )
    else:
        print(f"# {summary[1]}")
        print(
            f"# consistency: {final['differing']} of {final['clusters']} clusters differ from "
            f"their {final['live_services']} live Services"
            + (f" ({'; '.join(final['examples'])})" if final["examples"] else " (none)"),
            flush=True,
        )


def rss_line(memory: dict[str, dict[str, float]]) -> str:
    return ", ".join(
        f"{k} {v['rss']:.0f}" + (f" ({v['n']:.0f} processes)" if v["n"] > 1 else "")
        for k, v in sorted(memory.items(), key=lambda kv: -kv[1]["rss"])
    )


def ladder_summary(rows: list[dict[str, Any]], target_ms: float) -> tuple[float | None, str]:
    """The highest rate sustained, and a sentence saying so (and what stopped the next)."""
    best: dict[str, Any] | None = None
    failed: dict[str, Any] | None = None
    for row in rows:
        if row["sustained"]:
            if best is None or row["rate"] > best["rate"]:
                best = row
        elif failed is None:
            failed = row
    text = (
        f"highest rate sustained: {best['rate']:.0f}/s (p50 {best['p50_ms']:.0f} ms, p99 "
        f"{best['p99_ms']:.0f} ms, p99 target {target_ms:.0f} ms)"
        if best
        else f"no rate sustained (p99 target {target_ms:.0f} ms)"
    )
    if failed is not None:
        text += f"; {failed['rate']:.0f}/s not: {failed['why']}; limit: {failed['limit']}"
    return (best["rate"] if best else None), text


if __name__ == "__main__":
    main()
