"""Evaluation engine throughput (``make bench-eval``): objects/second on ONE core.

Scenarios (BRIEF §6 targets: label filters >= 100k/s, the spec's Lua scripts >= 20k/s
including the conversion of the object):

* label filters only (``sveltos=fv``, Equal);
* the spec's Lua script "Service with label sveltos: fv";
* the spec's Lua script "Service offering https (port 443 or 8443)";
* the same https script behind a label pre-filter (10 % of the objects carry the label);
* a CEL rule (cel-python) equivalent to the https script;
* the conversion of one object into a Lua table alone.

Objects are realistic Services as an API server returns them (managedFields, status,
annotations), all different. Each evaluation goes through the public API
(``CompiledEventSource.evaluate``). Prints a Markdown table; ``--json`` prints JSON instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from shared.api.eventsource import EventSource
from shared.evaluation import compile_event_source
from shared.evaluation.sandbox import LuaSandbox

LABELS_SCRIPT = """
function evaluate()
  hs = {}
  hs.matching = false
  hs.message = ""
  if obj.metadata.labels ~= nil then
    for key, value in pairs(obj.metadata.labels) do
      if key == "sveltos" then
        if value == "fv" then
          hs.matching = true
        end
      end
    end
  end
  return hs
end
"""

HTTPS_SCRIPT = """
function evaluate()
  hs = {}
  hs.matching = false
  if obj.spec.ports ~= nil then
    for _,p in pairs(obj.spec.ports) do
      if p.port == 443 or p.port == 8443 then
        hs.matching = true
      end
    end
  end
  return hs
end
"""

CEL_RULE = (
    "has(resource.spec.ports) && resource.spec.ports.exists(p, p.port == 443 || p.port == 8443)"
)


def service(i: int) -> dict[str, Any]:
    """A Service as the API server returns it (about 2 KB of JSON)."""
    name = f"svc-{i}"
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "shop", "tier": "web"}
    if i % 10 == 0:
        labels["sveltos"] = "fv"
    ports = [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}]
    if i % 3 == 0:
        ports.append({"name": "https", "protocol": "TCP", "port": 443, "targetPort": 8443})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": f"team-{i % 7}",
            "uid": f"5c9f0c8e-1b7a-4f61-9d2e-{i:012d}",
            "resourceVersion": str(100000 + i),
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "labels": labels,
            "annotations": {"owner": "team-shop", "prometheus.io/scrape": "true"},
            "managedFields": [
                {
                    "manager": "kubectl-client-side-apply",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": "2024-05-01T10:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {"f:labels": {".": {}, "f:app.kubernetes.io/name": {}}},
                        "f:spec": {
                            "f:ports": {'.: {}, k:{"port":80,"protocol":"TCP"}': {}},
                            "f:selector": {},
                            "f:sessionAffinity": {},
                            "f:type": {},
                        },
                    },
                }
            ],
        },
        "spec": {
            "clusterIP": f"10.96.{i % 250}.{i % 200 + 1}",
            "clusterIPs": [f"10.96.{i % 250}.{i % 200 + 1}"],
            "internalTrafficPolicy": "Cluster",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": ports,
            "selector": {"app.kubernetes.io/name": name},
            "sessionAffinity": "None",
            "type": "ClusterIP",
        },
        "status": {"loadBalancer": {}},
    }


def event_source(selector: dict[str, Any]) -> EventSource:
    return EventSource.model_validate(
        {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "EventSource",
            "metadata": {"name": "bench"},
            "spec": {
                "resourceSelectors": [{"group": "", "version": "v1", "kind": "Service", **selector}]
            },
        }
    )


LABEL_FILTER = [{"key": "sveltos", "operation": "Equal", "value": "fv"}]


def measure(
    fn: Callable[[dict[str, Any]], object], objs: list[dict[str, Any]], seconds: float
) -> dict[str, float]:
    """Throughput and p50/p99 latency over ``objs``.

    Throughput per core: rounds of one untimed pass over ``objs`` until ``seconds`` of wall
    time elapse, each round measured in CPU time of this process (``time.process_time``: Lua
    and CEL run in a worker thread per EventSource, with a hard time limit), so other
    processes on a shared machine do not count; the MEDIAN round is reported, plus
    the best round. Latency: each call timed (wall clock) individually in one more pass.
    """
    for obj in objs[:200]:  # warm up
        fn(obj)
    rates: list[float] = []
    wall, cpu = time.perf_counter, time.process_time
    deadline = wall() + seconds
    while wall() < deadline or len(rates) < 3:
        started = cpu()
        for obj in objs:
            fn(obj)
        rates.append(len(objs) / max(cpu() - started, 1e-9))
    samples: list[int] = []
    ns = time.perf_counter_ns
    for obj in objs:
        t0 = ns()
        fn(obj)
        samples.append(ns() - t0)
    samples.sort()
    return {
        "per_second": statistics.median(rates),
        "best_per_second": max(rates),
        "p50_us": samples[len(samples) // 2] / 1000,
        "p99_us": samples[int(len(samples) * 0.99)] / 1000,
        "mean_us": statistics.fmean(samples) / 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per scenario")
    parser.add_argument("--objects", type=int, default=5000, help="distinct objects")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = parser.parse_args()

    objs = [service(i) for i in range(args.objects)]
    labels_es = compile_event_source(event_source({"labelFilters": LABEL_FILTER}))
    lua_labels = compile_event_source(event_source({"evaluate": LABELS_SCRIPT}))
    lua_https = compile_event_source(event_source({"evaluate": HTTPS_SCRIPT}))
    prefiltered = compile_event_source(
        event_source({"labelFilters": LABEL_FILTER, "evaluate": HTTPS_SCRIPT})
    )
    cel = compile_event_source(event_source({"evaluateCEL": [{"name": "https", "rule": CEL_RULE}]}))
    sandbox = LuaSandbox()

    # sanity: the scenarios compute what they claim
    assert sum(labels_es.evaluate(o).matching for o in objs) == sum(
        1 for i in range(len(objs)) if i % 10 == 0
    )
    assert sum(lua_labels.evaluate(o).matching for o in objs) == sum(
        1 for i in range(len(objs)) if i % 10 == 0
    )
    assert sum(lua_https.evaluate(o).matching for o in objs) == sum(
        1 for i in range(len(objs)) if i % 3 == 0
    )
    assert [cel.evaluate(o).matching for o in objs[:300]] == [
        lua_https.evaluate(o).matching for o in objs[:300]
    ]

    scenarios: list[tuple[str, Callable[[dict[str, Any]], object], list[dict[str, Any]], str]] = [
        ("label filters only (Equal sveltos=fv)", labels_es.evaluate, objs, ">= 100,000"),
        (
            "Lua: spec script 'Service with label sveltos=fv'",
            lua_labels.evaluate,
            objs,
            ">= 20,000",
        ),
        ("Lua: spec script 'https Service (443/8443)'", lua_https.evaluate, objs, ">= 20,000"),
        ("label pre-filter + Lua https (10 % pass the filter)", prefiltered.evaluate, objs, "-"),
        ("CEL (cel-python): https rule", cel.evaluate, objs[:1000], "-"),
        ("conversion only: dict -> Lua table", sandbox.to_lua, objs, "-"),
    ]
    rows = []
    for title, fn, data, target in scenarios:
        result = measure(fn, data, args.seconds)
        rows.append({"scenario": title, "target": target, **result})

    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(
        f"Machine: {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, one core"
    )
    print(
        f"Objects: {len(objs)} distinct Services (~{len(json.dumps(objs[0]))} bytes of JSON each)"
    )
    print(f"Load average at the end: {os.getloadavg()[0]:.2f}\n")
    print(
        "| scenario | objects/s per core (CPU time, median) | best round | p50 µs | p99 µs | target |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['scenario']} | {r['per_second']:,.0f} | {r['best_per_second']:,.0f} "
            f"| {r['p50_us']:.1f} | {r['p99_us']:.1f} | {r['target']} |"
        )


if __name__ == "__main__":
    main()
