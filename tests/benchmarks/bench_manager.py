"""The manager's pure decision code on one core: report changes -> desired state.

Run with ``make bench-manager`` (``ARGS="--seconds 3 --quick"``, ``--json``, ``--profile``).
``ARGS="--shards 2"`` runs :mod:`tests.benchmarks.bench_shards` instead: manager processes over
a real nats-server, events/s to desired state with 1 and with 2 shards.

Inputs are the spec's first example, read from ``../shared/scenarios/01-network-policy-per-
service`` (never copied): EventSource ``sveltos-service`` (Services labelled ``sveltos: fv``,
``collectResources: true``), the EventBasedAddOn ``service-network-policy`` (``oneForEvent:
true``) and its ConfigMap holding the NetworkPolicy template. Every cluster is registered
with ``env: fv`` and reports Services as an API server returns them (~1.5 KB each).

A *report change* is what the agent publishes when one Service appears or disappears in one
cluster: the cluster's complete EventReport (every matching Service, collected). It is fed as
``State.set_report(report)`` followed by ``State.reconcile()`` (the unit the manager runs per
coalesced batch); the figure is changes per CPU-second of this thread.

Measured:
1. scaling: per-change CPU time for clusters x Services-per-cluster, split into
   ``set_report``, ``reconcile`` (planning of the dirty pair + diff of all outputs);
2. batching: k report changes (k clusters) folded into one ``reconcile``, as the manager's
   coalescing loop does under load;
3. publish side: ``Reconciler.reconcile`` and the publication it queues (the service's own
   loop body: work queue, message building, encoding, change detection) with in-memory
   buckets instead of NATS;
4. loop lag: the event loop's worst delay while the reports of every cluster arrive at once
   and every instance is rendered and published (the reconcile gives the loop back every
   slice);
5. memory: tracemalloc of the State (inputs + plans + desired) per 10k instances.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import random
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from services.manager import definitions
from services.manager.model import ClusterKey, Report
from services.manager.state import State
from tests.paths import SCENARIOS

SCENARIO = SCENARIOS / "01-network-policy-per-service" / "management"


def load_definitions() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    def one(name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load((SCENARIO / name).read_text())
        return loaded

    return (
        one("eventsource.yaml"),
        one("eventbasedaddon.yaml"),
        one("configmap-network-policy.yaml"),
    )


def cluster_obj(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "lib.projectsveltos.io/v1beta1",
        "kind": "SveltosCluster",
        "metadata": {
            "name": f"cluster-{i:04d}",
            "namespace": "default",
            "uid": f"00000000-0000-0000-0000-{i:012d}",
            "labels": {"env": "fv", "region": f"r{i % 5}"},
        },
        "spec": {"kubeconfigName": f"cluster-{i:04d}-kubeconfig"},
        "status": {"ready": True},
    }


def service(i: int, cluster: int) -> dict[str, Any]:
    """A labelled Service as the API server returns it (managedFields, status, ...)."""
    name = f"svc-{i}"
    ports = [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}]
    if i % 3 == 0:
        ports.append({"name": "https", "protocol": "TCP", "port": 443, "targetPort": 8443})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": f"team-{i % 7}",
            "uid": f"5c9f0c8e-1b7a-{cluster:04d}-9d2e-{i:012d}",
            "resourceVersion": str(100000 + i),
            "creationTimestamp": "2026-11-25T10:00:00Z",
            "labels": {"app.kubernetes.io/name": name, "sveltos": "fv", "tier": "web"},
            "annotations": {"owner": "team-shop"},
            "managedFields": [
                {
                    "manager": "kubectl",
                    "operation": "Apply",
                    "apiVersion": "v1",
                    "time": "2026-11-25T10:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {"f:labels": {"f:app.kubernetes.io/name": {}}},
                        "f:spec": {"f:ports": {}, "f:selector": {}},
                    },
                }
            ],
        },
        "spec": {
            "clusterIP": f"10.96.{i % 250}.{i % 200 + 1}",
            "clusterIPs": [f"10.96.{i % 250}.{i % 200 + 1}"],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": ports,
            "selector": {"app.kubernetes.io/name": name},
            "sessionAffinity": "None",
            "type": "ClusterIP",
        },
        "status": {"loadBalancer": {}},
    }


def ref_of(obj: dict[str, Any]) -> dict[str, str]:
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "namespace": meta["namespace"],
        "name": meta["name"],
    }


class Fleet:
    """A State populated with ``clusters`` x ``per_cluster`` matching Services."""

    def __init__(self, clusters: int, per_cluster: int) -> None:
        es, eba, cm = load_definitions()
        self.es_name = es["metadata"]["name"]
        self.state = State()
        self.state.set_event_source(self.es_name, definitions.event_source_object(es))
        self.state.set_trigger(definitions.trigger_view(definitions.trigger_object(eba)))
        meta = cm["metadata"]
        self.state.set_ref("ConfigMap", meta["namespace"], meta["name"], cm)
        self.keys: list[ClusterKey] = []
        for i in range(clusters):
            info = definitions.cluster_info(cluster_obj(i))
            self.state.set_cluster(info)
            self.keys.append(info.key)
        self.state.reconcile()  # assignments
        # per cluster: index -> Service
        self.services: list[dict[int, dict[str, Any]]] = [
            {j: service(j, c) for j in range(per_cluster)} for c in range(clusters)
        ]
        self.next_index = [per_cluster] * clusters

    def report(self, c: int) -> Report:
        objs = list(self.services[c].values())
        return Report(
            cluster=self.keys[c],
            event_source=self.es_name,
            matching=[ref_of(o) for o in objs],
            resources=objs,
        )

    def populate(self) -> float:
        """Initial reports of every cluster and one reconcile; CPU seconds."""
        t0 = time.thread_time()
        for c in range(len(self.keys)):
            self.state.set_report(self.report(c))
        self.state.reconcile()
        return time.thread_time() - t0

    def churn(self, c: int, rng: random.Random) -> Report:
        """One Service appears or disappears in cluster ``c``; its new complete report."""
        svcs = self.services[c]
        if svcs and rng.random() < 0.5:
            del svcs[rng.choice(list(svcs))]
        else:
            j = self.next_index[c]
            self.next_index[c] += 1
            svcs[j] = service(j, c)
        return self.report(c)

    def instances(self) -> int:
        return sum(len(p.profiles) for p in self.state.pairs.values())


def measure_changes(
    fleet: Fleet, seconds: float, batch: int, rng: random.Random, max_changes: int = 200_000
) -> dict[str, float]:
    """Report changes (``batch`` clusters per reconcile) for ``seconds`` of CPU time."""
    n = len(fleet.keys)
    t_set = t_rec = 0.0
    changes = reconciles = 0
    lat: list[float] = []
    gc.collect()
    start = time.thread_time()
    while time.thread_time() - start < seconds and changes < max_changes:
        cs = rng.sample(range(n), min(batch, n))
        reports = [fleet.churn(c, rng) for c in cs]  # input building is not counted
        t0 = time.thread_time()
        for r in reports:
            fleet.state.set_report(r)
        t1 = time.thread_time()
        out = fleet.state.reconcile()
        t2 = time.thread_time()
        assert out.desired_put or out.desired_deleted, "a change produced no desired change"
        t_set += t1 - t0
        t_rec += t2 - t1
        lat.append((t2 - t0) * 1000)
        changes += len(reports)
        reconciles += 1
    total = t_set + t_rec
    lat.sort()
    return {
        "changes": changes,
        "reconciles": reconciles,
        "changes_per_s": changes / total if total else 0.0,
        "us_per_change": total / changes * 1e6 if changes else 0.0,
        "set_report_us": t_set / changes * 1e6 if changes else 0.0,
        "reconcile_us": t_rec / changes * 1e6 if changes else 0.0,
        "p50_ms": lat[len(lat) // 2] if lat else 0.0,
        "p99_ms": lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else 0.0,
    }


class _MemoryBucket:
    """An in-memory bucket (what the publisher needs of a KV bucket: put and delete)."""

    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    async def put(self, key: str, value: bytes) -> int:
        await asyncio.sleep(0)  # a round trip suspends, as a NATS request does
        self.values[key] = value
        return len(self.values)

    async def delete(self, key: str) -> None:
        await asyncio.sleep(0)
        self.values.pop(key, None)


def _reconciler(fleet: Fleet) -> Any:
    from services.manager.outputs import BUCKETS
    from services.manager.reconciler import Reconciler

    return Reconciler({b: _MemoryBucket() for b in BUCKETS}, limit=1 << 22, state=fleet.state)


async def _drained(rec: Any) -> None:
    while not rec.publisher.queue.idle():
        await asyncio.sleep(0)


def measure_service_loop(
    fleet: Fleet, seconds: float, rng: random.Random, max_changes: int = 50_000
) -> dict[str, float]:
    """``Reconciler.reconcile`` and the publication it queues (work queue, message building,
    encoding, change detection) per report change, NATS replaced by in-memory buckets."""

    async def run() -> dict[str, float]:
        rec = _reconciler(fleet)
        workers = asyncio.create_task(rec.publisher.run(8))
        try:
            await rec.reconcile()  # first publication of everything
            await _drained(rec)
            n = len(fleet.keys)
            changes = 0
            total = 0.0
            gc.collect()
            start = time.thread_time()
            while time.thread_time() - start < seconds and changes < max_changes:
                report = fleet.churn(rng.randrange(n), rng)
                t0 = time.thread_time()
                fleet.state.set_report(report)
                await rec.reconcile()
                await _drained(rec)
                total += time.thread_time() - t0
                changes += 1
        finally:
            workers.cancel()
            await asyncio.gather(workers, return_exceptions=True)
        return {
            "changes": changes,
            "changes_per_s": changes / total if total else 0.0,
            "us_per_change": total / changes * 1e6 if changes else 0.0,
            "desired_entries": len(fleet.state.desired),
        }

    return asyncio.run(run())


def measure_loop_lag(fleet: Fleet) -> dict[str, float]:
    """The event loop's worst lag while the reports of every cluster arrive at once (a
    start-up): every instance is rendered and published in one reconcile, which gives the
    loop back every slice."""
    from shared.runtime.observability import LoopLag

    async def run() -> dict[str, float]:
        rec = _reconciler(fleet)
        workers = asyncio.create_task(rec.publisher.run(8))
        lag = LoopLag(interval=0.005)
        sampler = asyncio.create_task(lag.run())
        try:
            await asyncio.sleep(0.02)
            for c in range(len(fleet.keys)):
                fleet.state.set_report(fleet.report(c))
            t0 = time.perf_counter()
            await rec.reconcile()
            await _drained(rec)
            elapsed = time.perf_counter() - t0
        finally:
            for task in (workers, sampler):
                task.cancel()
            await asyncio.gather(workers, sampler, return_exceptions=True)
        return {
            "instances": fleet.instances(),
            "seconds": elapsed,
            "lag_max_ms": lag.max * 1000,
            "yields": rec.stats["reconcile_yields"],
            "puts": rec.publisher.stats["puts"],
        }

    return asyncio.run(run())


def measure_memory(clusters: int, per_cluster: int) -> dict[str, float]:
    """Bytes held by a populated State (reports kept as inputs + plans + desired state)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    fleet = Fleet(clusters, per_cluster)
    inputs = tracemalloc.get_traced_memory()[0] - base  # the Service objects (agent data)
    fleet.populate()
    gc.collect()
    total = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    instances = fleet.instances()
    del fleet
    gc.collect()
    return {
        "clusters": clusters,
        "instances": instances,
        "inputs_mib": inputs / 2**20,
        "state_mib": (total - inputs) / 2**20,
        "per_10k_mib": (total - inputs) / instances * 10_000 / 2**20,
        "per_10k_with_inputs_mib": total / instances * 10_000 / 2**20,
    }


def profile(fleet: Fleet, seconds: float, rng: random.Random) -> str:
    prof = cProfile.Profile()
    prof.enable()
    measure_changes(fleet, seconds, 1, rng)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(15)
    return out.getvalue()


def main() -> None:
    if any(a == "--shards" or a.startswith("--shards=") for a in sys.argv[1:]):
        from tests.benchmarks import bench_shards  # manager processes over a real nats-server

        bench_shards.main(sys.argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per row")
    parser.add_argument("--quick", action="store_true", help="smaller grid (for a smoke run)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--profile", action="store_true", help="cProfile of the 1000x10 churn")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    grid = (
        [(10, 10), (100, 10), (1000, 1)]
        if args.quick
        else [(10, 10), (100, 10), (1000, 10), (100, 1), (100, 100), (1000, 1), (10, 1000)]
    )
    results: dict[str, Any] = {"load_before": os.getloadavg()[0], "scaling": []}
    say = (lambda *a: None) if args.json else print

    say(f"# manager decision code, one core; load average {os.getloadavg()[0]:.2f}")
    say("\n## per report change (set_report + reconcile), one change per reconcile")
    say(
        f"{'clusters':>8} {'svc/cl':>6} {'instances':>9} {'build/s':>9} {'changes/s':>9} "
        f"{'us/chg':>8} {'set_rep':>7} {'reconc':>8} {'p99 ms':>7}"
    )
    for clusters, per in grid:
        fleet = Fleet(clusters, per)
        build = fleet.populate()
        inst = fleet.instances()
        row = measure_changes(fleet, args.seconds, 1, rng)
        row.update(clusters=clusters, per_cluster=per, instances=inst, build_per_s=inst / build)
        results["scaling"].append(row)
        say(
            f"{clusters:>8} {per:>6} {inst:>9} {inst / build:>9.0f} {row['changes_per_s']:>9.0f} "
            f"{row['us_per_change']:>8.0f} {row['set_report_us']:>7.0f} "
            f"{row['reconcile_us']:>8.0f} {row['p99_ms']:>7.2f}"
        )
        del fleet
        gc.collect()

    say("\n## batching: k report changes (k clusters) per reconcile, 1000 clusters x 10")
    results["batching"] = []
    fleet = Fleet(1000 if not args.quick else 100, 10)
    fleet.populate()
    for k in (1, 10, 100) if not args.quick else (1, 10):
        row = measure_changes(fleet, args.seconds, k, rng)
        row["batch"] = k
        results["batching"].append(row)
        say(
            f"k={k:>4}: {row['changes_per_s']:>8.0f} changes/s  "
            f"({row['us_per_change']:.0f} us/change, reconcile p99 {row['p99_ms']:.1f} ms)"
        )

    say("\n## Reconciler (reconcile + publication, in-memory buckets), one change per reconcile")
    results["service_loop"] = []
    for clusters, per in [(10, 10), (100, 10)] + ([] if args.quick else [(1000, 10)]):
        fl = Fleet(clusters, per)
        fl.populate()
        row = measure_service_loop(fl, args.seconds, rng)
        row.update(clusters=clusters, per_cluster=per)
        results["service_loop"].append(row)
        say(
            f"{clusters:>5} x {per:<3} ({row['desired_entries']} desired entries): "
            f"{row['changes_per_s']:>8.0f} changes/s ({row['us_per_change']:.0f} us/change)"
        )
        del fl
        gc.collect()

    say("\n## event-loop lag: every cluster's report at once, rendered and published")
    clusters, per = (100, 10) if args.quick else (1000, 10)
    fl = Fleet(clusters, per)
    row = measure_loop_lag(fl)
    results["loop_lag"] = row
    say(
        f"{row['instances']} instances planned and {row['puts']:.0f} keys published in "
        f"{row['seconds']:.2f} s; worst loop lag {row['lag_max_ms']:.1f} ms "
        f"({row['yields']:.0f} slices given back)"
    )
    del fl
    gc.collect()

    say("\n## memory (tracemalloc), NetworkPolicy instances")
    results["memory"] = []
    sizes = [(100, 20), (100, 40)] if args.quick else [(100, 50), (100, 100), (1000, 20)]
    for clusters, per in sizes:
        row = measure_memory(clusters, per)
        results["memory"].append(row)
        say(
            f"{row['instances']:>6} instances ({clusters} clusters): state "
            f"{row['state_mib']:.1f} MiB = {row['per_10k_mib']:.1f} MiB per 10k "
            f"(+ reported Services {row['inputs_mib']:.1f} MiB; "
            f"{row['per_10k_with_inputs_mib']:.1f} MiB per 10k with them)"
        )

    if args.profile:
        fl = Fleet(1000, 10)
        fl.populate()
        say("\n## cProfile, 1000 clusters x 10, one change per reconcile")
        say(profile(fl, args.seconds, rng))

    results["load_after"] = os.getloadavg()[0]
    say(f"\nload average after: {results['load_after']:.2f}")
    if args.json:
        print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
