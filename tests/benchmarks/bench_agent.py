"""The agent's footprint: idle memory with EventSources assigned, memory per matching object,
idle CPU, and what that means for agents per host.

Run with ``make bench-agent`` (``ARGS="--objects 100,1000,3000 --idle 20"``, ``--json``).

The real processes (:class:`services.scenario.stack.Stack`), two clusters:

- ``default/busy`` (``env: fv``) gets the EventSources of the spec's examples, read from
  ``../shared/scenarios`` (never copied): 01 (``sveltos-service``: labelled Services,
  collected), 02 (``https-service``: Lua), 03 (``eng-http-service``, with the HTTPRoute CRD
  installed in the clusters) and 04 (``team-deployments``: Deployments, not collected), with
  their triggers, i.e. 4 EventSources on 2 kinds (Service, Deployment);
- ``default/idle`` (``env: prod``) matches no trigger: an agent with nothing assigned.

Measured from ``/proc/<pid>/status`` and ``/proc/<pid>/smaps_rollup``: RSS, PSS (shared pages
divided among the processes sharing them) and USS (private pages: what one more agent costs);
CPU seconds from ``/proc/<pid>/stat`` over ``--idle`` seconds of idleness; the agent's event
loop lag from its own ``/metrics`` (``ripple_agent_loop_lag_max_seconds``, the longest delay
since start, and ``ripple_agent_loop_lag_late_samples_total``: every service runs with
``RIPPLE_METRICS_PORT=0``, the port is found in ``/proc``).

Then the manager and the reporter are stopped (so that only the agent works and the
NetworkPolicies/HTTPRoutes of thousands of Services are not generated) and ``--objects``
labelled Services (``sveltos: fv``, matching ``sveltos-service``; every third also exposes 443
and matches ``https-service``) are created in ``busy``; after each step, once the agent's
matching set of ``sveltos-service`` lists them all (its ``ripple-matches`` entries), its memory is
measured again.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from services.scenario.model import Fleet, FleetCluster, read_objects, yaml_files
from services.scenario.stack import Stack
from tests.paths import SCENARIOS

EXAMPLES = [
    "01-network-policy-per-service",
    "02-one-ingress-for-all-https-services",
    "03-httproute-per-service",
    "04-matching-resources-without-collection",
]
BUSY, IDLE = "default/busy", "default/idle"
TICKS = os.sysconf("SC_CLK_TCK")


def memory(pid: int) -> dict[str, float]:
    """RSS, PSS and USS in MiB."""
    out = {"rss": 0.0, "pss": 0.0, "uss": 0.0}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                out["rss"] = int(line.split()[1]) / 1024
    with open(f"/proc/{pid}/smaps_rollup") as fh:
        for line in fh:
            parts = line.split()
            if parts[0] == "Pss:":
                out["pss"] = int(parts[1]) / 1024
            elif parts[0] in ("Private_Clean:", "Private_Dirty:"):
                out["uss"] += int(parts[1]) / 1024
    return out


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def service_body(i: int) -> dict[str, Any]:
    ports = [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}]
    if i % 3 == 0:
        ports.append({"name": "https", "protocol": "TCP", "port": 443, "targetPort": 8443})
    name = f"svc-{i:05d}"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {"sveltos": "fv", "app.kubernetes.io/name": name, "tier": "web"},
            "annotations": {"owner": "team-shop"},
        },
        "spec": {"selector": {"app.kubernetes.io/name": name}, "ports": ports},
    }


class ReportTap:
    """The matching set of one (cluster, EventSource) as its ``ripple-matches`` entries
    arrive (a subscription to their KV subjects: each message is one object, so the tap
    costs what changes, not the size of the set)."""

    def __init__(self, cluster: str, event_source: str) -> None:
        from shared.contract import subjects

        namespace, name = cluster.split("/")
        ref = subjects.ClusterRef(namespace=namespace, name=name, type="sveltos")
        self.subject = "$KV.ripple-matches." + subjects.match_keys(ref, event_source)
        self.keys: set[str] = set()
        self.count = 0
        self.size = 0  # bytes of the entries received
        self.revision = 0

    async def start(self, url: str) -> Any:
        import nats

        self.nc = await nats.connect(url, name="bench-agent tap")

        async def on_entry(msg: Any) -> None:
            op = (msg.headers or {}).get("KV-Operation", "")
            if op in ("DEL", "PURGE"):
                self.keys.discard(msg.subject)
            else:
                self.keys.add(msg.subject)
                self.size += len(msg.data)
            self.count = len(self.keys)
            self.revision += 1

        await self.nc.subscribe(self.subject, cb=on_entry)
        return self.nc

    async def poll(self) -> None:
        """Nothing to do: the subscription keeps the count."""


async def wait_for(tap: ReportTap, target: int, timeout: float) -> float:
    t0 = time.monotonic()
    while True:
        await tap.poll()
        if tap.count >= target:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"no report of {target} Services")
        await asyncio.sleep(0.2)


def listening_ports(pid: int) -> list[int]:
    """The TCP ports ``pid`` listens on (its sockets' inodes matched in /proc/net/tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
            ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def loop_lag(stack: Stack, cluster: str) -> dict[str, float]:
    """The agent's loop-lag metrics, read from its ``/metrics`` (the port it listens on)."""
    pid = stack.processes[stack.agent_name(cluster)].pid
    ports = listening_ports(pid) if pid else []
    if not ports:
        return {}
    url = f"http://127.0.0.1:{ports[0]}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        text = await resp.text()
    out: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in (
            "ripple_agent_loop_lag_max_seconds",
            "ripple_agent_loop_lag_late_samples_total",
        ):
            out[name.removeprefix("ripple_agent_loop_lag_")] = float(value)
    return out


async def rest_reports(url: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/v1/reports") as resp:
        return list(await resp.json())


async def measure(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    busy = stack.processes[stack.agent_name(BUSY)]
    idle = stack.processes[stack.agent_name(IDLE)]
    assert busy.pid and idle.pid
    result: dict[str, Any] = {}

    # -- the EventSources of the other examples, then wait for their reports -----------------
    extra = []
    for example in EXAMPLES[1:]:
        for file in yaml_files(SCENARIOS / example / "management"):
            extra.extend(read_objects(file))
    await asyncio.to_thread(stack.apply_management, extra)
    url = stack.rest_url
    assert url

    def reports_of_busy(reports: list[dict[str, Any]]) -> set[str]:
        return {r["eventSourceName"] for r in reports if r["cluster"].endswith("default/busy")}

    t0 = time.monotonic()
    while True:
        names = reports_of_busy(await rest_reports(url))
        if len(names) >= 4:
            break
        if time.monotonic() - t0 > 60:
            raise TimeoutError(f"reports of busy: {sorted(names)}")
        await asyncio.sleep(0.2)
    result["event_sources"] = sorted(names)

    # -- idle --------------------------------------------------------------------------------
    await asyncio.sleep(3)  # let allocations settle
    cpu0 = {p: cpu_seconds(p) for p in (busy.pid, idle.pid)}
    await asyncio.sleep(args.idle)
    cpu1 = {p: cpu_seconds(p) for p in (busy.pid, idle.pid)}
    result["idle"] = {
        "busy": {**memory(busy.pid), "cpu": (cpu1[busy.pid] - cpu0[busy.pid]) / args.idle},
        "idle": {**memory(idle.pid), "cpu": (cpu1[idle.pid] - cpu0[idle.pid]) / args.idle},
        "load": os.getloadavg()[0],
    }

    # -- N matching objects, manager and reporter stopped ------------------------------------
    for name in ("manager", "reporter"):
        await asyncio.to_thread(stack.processes[name].stop)
    tap = ReportTap(BUSY, "sveltos-service")
    nc = await tap.start(stack.nats_url)
    doc = yaml.safe_load(stack.kubeconfig(BUSY).read_text())
    server = doc["clusters"][0]["cluster"]["server"]
    token = doc["users"][0]["user"]["token"]
    ca = base64.b64decode(doc["clusters"][0]["cluster"].get("certificate-authority-data", ""))
    ctx: ssl.SSLContext | bool = False
    if ca:
        ctx = ssl.create_default_context()
        ctx.load_verify_locations(cadata=ca.decode())
    conn = aiohttp.TCPConnector(limit=32, ssl=ctx)
    rows = []
    created = 0
    try:
        async with aiohttp.ClientSession(
            connector=conn, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            base = f"{server}/api/v1/namespaces/default/services"
            sem = asyncio.Semaphore(32)

            async def create(i: int) -> None:
                async with sem, http.post(base, json=service_body(i)) as resp:
                    await resp.read()
                    if resp.status != 201:
                        raise RuntimeError(f"create svc {i}: HTTP {resp.status}")

            for target in args.objects:
                t0 = time.monotonic()
                await asyncio.gather(*(create(i) for i in range(created, target)))
                created = target
                cpu0 = cpu_seconds(busy.pid)
                rev0 = tap.revision
                lag0 = await loop_lag(stack, BUSY)
                try:
                    waited = await wait_for(tap, target, args.timeout)
                    seen = True
                except TimeoutError:
                    waited, seen = args.timeout, False
                await asyncio.sleep(2)
                lag = await loop_lag(stack, BUSY)
                control = await loop_lag(stack, IDLE)  # same machine, nothing to do
                rows.append(
                    {
                        "objects": target,
                        **memory(busy.pid),
                        "reported": seen,
                        "seconds": time.monotonic() - t0,
                        "agent_cpu_s": cpu_seconds(busy.pid) - cpu0,
                        "report_wait_s": waited,
                        "report_bytes": tap.size,
                        "reports_published": tap.revision - rev0,
                        "load": os.getloadavg()[0],
                        "lag_max_s": lag.get("max_seconds", float("nan")),
                        "idle_agent_lag_max_s": control.get("max_seconds", float("nan")),
                        "lags_over_100ms": lag.get("late_samples_total", 0.0)
                        - lag0.get("late_samples_total", 0.0),
                    }
                )
                if not args.json:
                    r = rows[-1]
                    print(
                        f"{target:>6} Services: RSS {r['rss']:.1f} MiB, PSS {r['pss']:.1f}, "
                        f"USS {r['uss']:.1f}; report {'seen' if seen else 'NOT seen'} "
                        f"({r['report_bytes'] / 1e6:.2f} MB, {r['reports_published']} snapshots "
                        f"published for this step; agent CPU {r['agent_cpu_s']:.1f} s; "
                        f"loop lag max {r['lag_max_s'] * 1000:.0f} ms since start, "
                        f"{r['lags_over_100ms']:.0f} samples over 100 ms in this step "
                        f"(idle agent: {r['idle_agent_lag_max_s'] * 1000:.0f} ms); "
                        f"load {r['load']:.2f})",
                        flush=True,
                    )
    finally:
        await nc.close()
    result["objects"] = rows
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--objects", default="100,1000,3000", help="cumulative matching Services in busy"
    )
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU sampling")
    parser.add_argument("--timeout", type=float, default=120.0, help="per step")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--state-dir", help="keep the stack's state (logs) here")
    parser.add_argument(
        "--hosted",
        help="instead: ripple agent-host with N clusters (e.g. 10,100,1000), one EventSource "
        "each: start-up, idle RSS/USS and CPU per hosted cluster, CPU per event",
    )
    parser.add_argument("--events", type=int, default=500, help="--hosted: events created")
    args = parser.parse_args()
    if args.hosted:
        from tests.benchmarks import benchhosted

        sizes = [int(x) for x in str(args.hosted).split(",")]
        with tempfile.TemporaryDirectory(prefix="bench-hosted-") as tmp:
            root = Path(args.state_dir or tmp)
            results = benchhosted.run(sizes, args, root, memory, cpu_seconds)
        if args.json:
            print(json.dumps(results, indent=1))
        return
    args.objects = [int(x) for x in str(args.objects).split(",")]
    fleet = Fleet(
        clusters=[
            FleetCluster(namespace="default", name="busy", labels={"env": "fv"}),
            FleetCluster(namespace="default", name="idle", labels={"env": "prod"}),
        ]
    )
    os.environ["RIPPLE_METRICS_PORT"] = "0"  # every service serves /metrics on a free port
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp:
        stack = Stack(
            fleet,
            SCENARIOS / EXAMPLES[0] / "management",
            crds_dir=SCENARIOS / "03-httproute-per-service" / "crds",
            state_dir=Path(args.state_dir or Path(tmp) / "stack"),
            log_level="WARNING",
        )
        with stack:
            result = asyncio.run(measure(args, stack))
    if args.json:
        print(json.dumps(result, indent=1))
        return
    idle = result["idle"]
    print(f"# agent footprint; EventSources on busy: {', '.join(result['event_sources'])}")
    for name, row in (("4 EventSources (busy)", idle["busy"]), ("nothing assigned", idle["idle"])):
        print(
            f"idle, {name}: RSS {row['rss']:.1f} MiB, PSS {row['pss']:.1f}, "
            f"USS {row['uss']:.1f}, CPU {row['cpu'] * 100:.2f} % of a core "
            f"(load {idle['load']:.2f})"
        )
    uss = idle["busy"]["uss"]
    cpu = max(idle["busy"]["cpu"], 1e-4)
    print(
        f"agents per host (idle, this machine's {os.cpu_count()} cores and "
        f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB): "
        f"memory {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**20 / uss:.0f} "
        f"(USS), CPU {os.cpu_count() / cpu:.0f}"
    )


if __name__ == "__main__":
    main()
