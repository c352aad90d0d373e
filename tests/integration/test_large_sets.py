"""Matching sets of any size end to end (issue 13): one EventSource matching 20,000 collected
objects in one cluster (a set no single NATS message could carry) with a oneForEvent: false
template ranging over all of them, and a oneForEvent: true trigger at 2,000 objects whose
2,000 add-ons are applied, then all withdrawn when the objects go. Real processes, real
NATS, the simulated fleet over HTTP. Prints the memory per matching object of the agent
and the manager (docs/performance.md)."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.scenario.stack import Stack
from shared.kube import GVK
from tests.evaluation.test_aggregate import KEEP_HTTPS
from tests.integration.helpers import eventually
from tests.reliability.helpers import fleet_hooks

CLUSTER = "default/big"
CONFIG_MAP = GVK("v1", "ConfigMap")
SERVICE = GVK("v1", "Service")
NETPOL = GVK("networking.k8s.io/v1", "NetworkPolicy")
EVENT_REPORT = GVK("lib.projectsveltos.io/v1beta1", "EventReport")
COLLECTED = 20_000
ONE_FOR_EVENT = 2_000

SUMMARY = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: big-summary
  namespace: default
data:
  count: "{{ len .Resources }}"
  last: "{{ (index .Resources (sub (len .Resources) 1)).metadata.name }}"
"""

POLICY = """\
kind: NetworkPolicy
apiVersion: networking.k8s.io/v1
metadata:
  name: np-{{ .MatchingResource.Name }}
  namespace: {{ .MatchingResource.Namespace }}
spec:
  podSelector: {}
"""


def definitions() -> list[dict[str, Any]]:
    def source(name: str, kind: str, label: str, collect: bool) -> dict[str, Any]:
        return {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "EventSource",
            "metadata": {"name": name},
            "spec": {
                "collectResources": collect,
                "resourceSelectors": [
                    {
                        "group": "",
                        "version": "v1",
                        "kind": kind,
                        "labelFilters": [{"key": label, "operation": "Equal", "value": "yes"}],
                    }
                ],
            },
        }

    def trigger(name: str, es: str, one: bool, ref: str) -> dict[str, Any]:
        return {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "EventTrigger",
            "metadata": {"name": name},
            "spec": {
                "sourceClusterSelector": {"matchLabels": {"env": "big"}},
                "eventSourceName": es,
                "oneForEvent": one,
                "policyRefs": [{"kind": "ConfigMap", "namespace": "default", "name": ref}],
            },
        }

    def template(name: str, key: str, text: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": "default",
                "annotations": {"projectsveltos.io/instantiate": "ok"},
            },
            "data": {key: text},
        }

    aggregated = source("agg-svc", "Service", "agg", False)
    aggregated["spec"]["aggregatedSelection"] = KEEP_HTTPS
    return [
        source("big-cm", "ConfigMap", "big", True),
        source("many-svc", "Service", "many", False),
        aggregated,
        trigger("per-https-service", "agg-svc", True, "policy-template"),
        template("summary-template", "summary.yaml", SUMMARY),
        template("policy-template", "policy.yaml", POLICY),
        trigger("summary", "big-cm", False, "summary-template"),
        trigger("per-service", "many-svc", True, "policy-template"),
    ]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp("large")
    fleet = root / "fleet.yaml"
    clusters = [
        {"namespace": "default", "name": "big", "labels": {"env": "big"}},
        {"namespace": "default", "name": "small", "labels": {"env": "big"}},  # the baseline
    ]
    fleet.write_text(yaml.safe_dump({"clusters": clusters}))
    management = root / "management"
    management.mkdir()
    (management / "definitions.yaml").write_text(yaml.safe_dump_all(definitions()))
    state = Path(os.environ.get("RIPPLE_LARGE_STATE", root / "state"))
    with Stack(fleet, management, state_dir=state, services=False) as s:
        # the 20,000 objects are there before the agent starts: its initial list and the
        # resync publish them (the old flow could not publish such a set at all); the
        # streaming path is the 2,000-object test's
        started = time.monotonic()
        hooks = fleet_hooks(s)
        for start in range(0, COLLECTED, 5000):
            batch = [config_map(i) for i in range(start, min(start + 5000, COLLECTED))]
            status, body = hooks.call("POST", "/_fleet/clusters/big/objects", {"objects": batch})
            assert status == 201, body
        LOADED["created"] = time.monotonic() - started
        started = time.monotonic()
        s.start_services()
        LOADED["services ready"] = time.monotonic() - started
        yield s


LOADED: dict[str, float] = {}


def rss_mib(pid: int | None) -> float:
    assert pid is not None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def pids(stack: Stack) -> dict[str, int | None]:
    return {name: proc.pid for name, proc in stack.processes.items()}


def rest(stack: Stack, path: str) -> Any:
    assert stack.rest_url
    with urllib.request.urlopen(stack.rest_url + path, timeout=30) as response:
        return json.loads(response.read())


def config_map(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"cm-{i:05}", "namespace": "default", "labels": {"big": "yes"}},
        "data": {"payload": "x" * 200, "index": str(i)},
    }


def service(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"svc-{i:04}", "namespace": "default", "labels": {"many": "yes"}},
        "spec": {"ports": [{"port": 80}]},
    }


def test_twenty_thousand_collected_objects_flow_and_render(stack: Stack) -> None:
    client = stack.client(CLUSTER)

    def summary() -> dict[str, Any] | None:
        obj = client.get(CONFIG_MAP, "default", "big-summary")
        return obj if obj and obj["data"]["count"] == str(COLLECTED) else None

    started = time.monotonic()
    obj = eventually(summary, 120, what=f"the summary ConfigMap counts {COLLECTED}", interval=0.2)
    applied = time.monotonic() - started
    assert obj["data"]["last"] == f"cm-{COLLECTED - 1:05}"
    report = rest(stack, "/v1/reports/default/big/big-cm")
    assert report["complete"] and report["count"] == COLLECTED
    assert len(report["resources"]) == COLLECTED
    mirrored = eventually(
        lambda: stack.management.get(EVENT_REPORT, "default", "sveltos--big-cm--big"),
        60,
        what="the EventReport in the management cluster",
        interval=0.5,
    )
    assert len(json.dumps(mirrored)) < 1536 * 1024, "under the API server's object size limit"
    agents = {n: rss_mib(p) for n, p in pids(stack).items() if n.startswith("agent-")}
    big, small = agents["agent-default-big"], agents["agent-default-small"]
    print(
        f"\n{COLLECTED} collected objects: created in {LOADED['created']:.1f} s, services "
        f"ready (initial list + resync) {LOADED['services ready']:.1f} s, summary applied "
        f"{applied:.1f} s later; agent memory per matching object "
        f"{(big - small) * 1024 * 1024 / COLLECTED:.0f} B (agent {big:.0f} MiB against "
        f"{small:.0f} MiB for the same EventSources over an empty cluster); manager "
        f"{rss_mib(pids(stack)['manager']):.0f} MiB"
    )


def test_two_thousand_add_ons_applied_then_all_withdrawn(stack: Stack) -> None:
    client = stack.client(CLUSTER)
    started = time.monotonic()  # one request; the agent sees 2,000 watch events stream in
    status, body = fleet_hooks(stack).call(
        "POST",
        "/_fleet/clusters/big/objects",
        {"objects": [service(i) for i in range(ONE_FOR_EVENT)]},
    )
    assert status == 201, body

    def deployed() -> int:
        items, _ = client.list(NETPOL, "default")
        return sum(1 for o in items if o["metadata"]["name"][:3] == "np-")

    eventually(lambda: deployed() == ONE_FOR_EVENT, 180, what="2,000 policies", interval=0.5)
    applied = time.monotonic() - started
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: client.delete(SERVICE, "default", f"svc-{i:04}"), range(2000)))
    eventually(lambda: deployed() == 0, 180, what="every policy withdrawn", interval=0.5)
    withdrawn = time.monotonic() - started
    print(f"\n{ONE_FOR_EVENT} add-ons applied in {applied:.1f} s, withdrawn in {withdrawn:.1f} s")


def test_an_aggregated_selection_follows_its_selected_objects(stack: Stack) -> None:
    """aggregatedSelection: the set is what the script picks among the selected objects,
    recomputed when they change (deltas of the aggregated set, like any other)."""
    client = stack.client(CLUSTER)

    def agg_service(name: str, port: int) -> dict[str, Any]:
        meta = {"name": name, "namespace": "default", "labels": {"agg": "yes"}}
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"ports": [{"port": port}]},
        }

    def policies() -> set[str]:
        items, _ = client.list(NETPOL, "default")
        return {o["metadata"]["name"] for o in items if o["metadata"]["name"][:7] == "np-agg-"}

    client.apply(agg_service("agg-1", 443), field_manager="test")
    client.apply(agg_service("agg-2", 80), field_manager="test")
    eventually(lambda: policies() == {"np-agg-1"}, 30, what="only the 443 Service", interval=0.2)
    client.apply(agg_service("agg-2", 443), field_manager="test")
    eventually(lambda: policies() == {"np-agg-1", "np-agg-2"}, 30, what="both", interval=0.2)
    client.delete(SERVICE, "default", "agg-1")
    eventually(lambda: policies() == {"np-agg-2"}, 30, what="agg-1 withdrawn", interval=0.2)
    client.delete(SERVICE, "default", "agg-2")
    eventually(lambda: policies() == set(), 30, what="all withdrawn", interval=0.2)
