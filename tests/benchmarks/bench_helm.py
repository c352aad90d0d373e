"""Helm releases through the whole stack: an event -> its release installed, upgraded when
the event's data changes, uninstalled when the event goes; p50/p99 per operation.

Run with ``make bench-helm`` (``ARGS="--clusters 2 --services 20 --rate 2"``; ``--json``).

The real processes (:class:`services.scenario.stack.Stack`): nats-server, the simulated fleet,
the manager, the reporter and one agent per cluster, plus a loopback chart repository
(:class:`shared.helm.repository.ChartRepository`) serving ``examples/charts/kyverno-lite``.
Definitions: an EventSource selecting Services labelled ``sveltos: fv`` (collected), and an
EventTrigger with ``oneForEvent: true`` whose ``helmCharts`` entry installs one release per
Service, ``svc-<service>`` in namespace ``apps``, with ``replicaCount`` read from the
Service's label ``replicas``.

Three phases, each an open-loop schedule of ``--rate`` operations per second spread over the
clusters: create every Service (install), relabel each ``replicas: 2`` (upgrade), delete
each (uninstall). Latency: from just before the request to the watch event of Helm's release
Secret in the cluster (``owner=helm``): revision 1 labelled ``status: deployed`` (install),
revision 2 ``deployed`` (upgrade), the last revision's Secret deleted (uninstall). The
watches run on this process's loop beside the light load (a few requests per second).

Also reported: CPU seconds of each Ripple process over the run and the agents' RSS (the Helm
SDK is loaded with the first chart).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from services.scenario.model import Fleet, FleetCluster
from services.scenario.stack import Stack
from shared.helm.repository import ChartRepository
from tests.benchmarks.bench_e2e import cpu_seconds, endpoint, pct, ssl_context
from tests.paths import REPO

CHART = REPO / "examples" / "charts" / "kyverno-lite"
SVC_PATH = "/api/v1/namespaces/default/services"
SECRETS_WATCH = "/api/v1/namespaces/apps/secrets?watch=true&labelSelector=owner%3Dhelm"

DEFINITIONS = """\
apiVersion: lib.projectsveltos.io/v1beta1
kind: EventSource
metadata: {{name: helm-services}}
spec:
  collectResources: true
  resourceSelectors:
  - {{group: "", version: v1, kind: Service, labelFilters: [{{key: sveltos, operation: Equal, value: fv}}]}}
---
apiVersion: lib.projectsveltos.io/v1beta1
kind: EventTrigger
metadata: {{name: helm-per-service}}
spec:
  sourceClusterSelector: {{matchLabels: {{env: fv}}}}
  eventSourceName: helm-services
  oneForEvent: true
  helmCharts:
  - repositoryURL: {url}
    repositoryName: bench
    chartName: bench/kyverno
    chartVersion: 2.6.0
    releaseName: "svc-{{{{ .Resource.metadata.name }}}}"
    releaseNamespace: apps
    helmChartAction: Install
    values: |
      replicaCount: {{{{ index .Resource.metadata.labels "replicas" }}}}
"""


def service(name: str, replicas: int) -> dict[str, Any]:
    labels = {"sveltos": "fv", "replicas": str(replicas)}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"ports": [{"port": 80}]},
    }


class Bench:
    def __init__(self, stack: Stack, clusters: list[str]) -> None:
        self.stack = stack
        self.clusters = clusters
        self.endpoints = {c: endpoint(stack.kubeconfig(c)) for c in clusters}
        # (cluster, release, operation) -> monotonic time seen
        self.seen: dict[tuple[str, str, str], float] = {}
        self.started: dict[tuple[str, str, str], float] = {}
        self.ready = 0

    async def watch(self, session: aiohttp.ClientSession, cluster: str) -> None:
        server, token, ca = self.endpoints[cluster]
        headers = {"Authorization": f"Bearer {token}"}
        url = server + SECRETS_WATCH
        async with session.get(url, headers=headers, ssl=ssl_context(ca), timeout=None) as resp:
            resp.raise_for_status()
            self.ready += 1
            async for line in resp.content:
                now = time.monotonic()
                event = json.loads(line)
                meta = event["object"]["metadata"]
                labels = meta.get("labels") or {}
                release, version = labels.get("name", ""), labels.get("version", "")
                if event["type"] == "DELETED":
                    self.seen.setdefault((cluster, release, "uninstall"), now)
                elif labels.get("status") == "deployed":
                    op = {"1": "install", "2": "upgrade"}.get(version)
                    if op:
                        self.seen.setdefault((cluster, release, op), now)

    async def phase(
        self, session: aiohttp.ClientSession, op: str, names: list[str], rate: float
    ) -> None:
        start = time.monotonic()
        for i, name in enumerate(names):
            cluster = self.clusters[i % len(self.clusters)]
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # the open-loop schedule, not synchronisation
            server, token, ca = self.endpoints[cluster]
            headers = {"Authorization": f"Bearer {token}"}
            key = (cluster, f"svc-{name}", op)
            self.started[key] = time.monotonic()
            if op == "install":
                req = session.post(
                    server + SVC_PATH, json=service(name, 1), headers=headers, ssl=ssl_context(ca)
                )
            elif op == "upgrade":
                patch = {"metadata": {"labels": {"replicas": "2"}}}
                req = session.patch(
                    f"{server}{SVC_PATH}/{name}",
                    json=patch,
                    headers={**headers, "Content-Type": "application/merge-patch+json"},
                    ssl=ssl_context(ca),
                )
            else:
                req = session.delete(
                    f"{server}{SVC_PATH}/{name}", headers=headers, ssl=ssl_context(ca)
                )
            async with req as resp:
                resp.raise_for_status()

    async def wait(self, op: str, count: int, deadline: float) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if sum(1 for k in self.started if k[2] == op and k in self.seen) >= count:
                return
            await asyncio.sleep(0.05)

    def summary(self, op: str) -> dict[str, Any]:
        lat = [
            (self.seen[k] - t) * 1000
            for k, t in self.started.items()
            if k[2] == op and k in self.seen
        ]
        total = sum(1 for k in self.started if k[2] == op)
        return {
            "operation": op,
            "count": total,
            "done": len(lat),
            "p50_ms": round(pct(lat, 0.5), 1),
            "p99_ms": round(pct(lat, 0.99), 1),
            "max_ms": round(max(lat), 1) if lat else float("nan"),
        }


def rss_mib(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def run(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    clusters = [c.ref for c in stack.fleet.clusters]
    bench = Bench(stack, clusters)
    names = [f"s{i:04d}" for i in range(args.services)]
    pids = {n: p.pid for n, p in stack.processes.items()}
    before = {n: cpu_seconds(pid) for n, pid in pids.items()}
    rss_before = {n: rss_mib(pid) for n, pid in pids.items() if n.startswith("agent")}
    async with aiohttp.ClientSession() as session:
        watches = [asyncio.create_task(bench.watch(session, c)) for c in clusters]
        while bench.ready < len(clusters):
            await asyncio.sleep(0.01)
        rows = []
        for op in ("install", "upgrade", "uninstall"):
            await bench.phase(session, op, names, args.rate)
            await bench.wait(op, len(names), args.drain)
            rows.append(bench.summary(op))
            print(json.dumps(rows[-1]) if args.json else _row(rows[-1]), flush=True)
            if op == "install":
                rss_after = {n: rss_mib(pid) for n, pid in pids.items() if n.startswith("agent")}
        for task in watches:
            task.cancel()
    cpu = {n: round(cpu_seconds(pid) - before[n], 2) for n, pid in pids.items()}
    ops = 3 * len(names)
    return {
        "rows": rows,
        "cpu_seconds": cpu,
        "ripple_cpu_ms_per_operation": round(
            1000 * sum(v for n, v in cpu.items() if n != "fleet") / max(ops, 1), 1
        ),
        "agent_rss_mib_before": {n: round(v, 1) for n, v in rss_before.items()},
        "agent_rss_mib_after_install": {n: round(v, 1) for n, v in rss_after.items()},
    }


def _row(row: dict[str, Any]) -> str:
    return (
        f"{row['operation']:>9}: {row['done']}/{row['count']} done, p50 {row['p50_ms']} ms, "
        f"p99 {row['p99_ms']} ms, max {row['max_ms']} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clusters", type=int, default=2, help="managed clusters (2)")
    parser.add_argument("--services", type=int, default=20, help="Services = releases (20)")
    parser.add_argument("--rate", type=float, default=2.0, help="operations per second (2)")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait per phase")
    parser.add_argument("--json", action="store_true", help="one JSON document per line")
    args = parser.parse_args()
    fleet = Fleet(
        clusters=[
            FleetCluster(namespace="default", name=f"c{i}", type="sveltos", labels={"env": "fv"})
            for i in range(args.clusters)
        ]
    )
    with tempfile.TemporaryDirectory() as tmp, ChartRepository([CHART]) as repo:
        mgmt = Path(tmp) / "management"
        mgmt.mkdir()
        (mgmt / "helm.yaml").write_text(DEFINITIONS.format(url=repo.url))
        with Stack(fleet, mgmt, state_dir=Path(tmp) / "state", services=True) as stack:
            result = asyncio.run(run(args, stack))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"Ripple CPU per operation: {result['ripple_cpu_ms_per_operation']} ms")
        print(f"CPU seconds: {result['cpu_seconds']}")
        print(f"agent RSS MiB before: {result['agent_rss_mib_before']}")
        print(f"agent RSS MiB after the installs: {result['agent_rss_mib_after_install']}")


if __name__ == "__main__":
    main()
