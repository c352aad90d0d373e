"""The services together, beyond the acceptance scenarios: the reporter's EventReports, the
REST API, and the optional removal grace period. Real processes, real NATS, real HTTP."""

from __future__ import annotations

import functools
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.scenario.stack import Stack
from shared.kube import GVK, KubeClient
from tests.integration.helpers import eventually as _eventually
from tests.integration.helpers import service
from tests.paths import SCENARIOS

SCENARIO = SCENARIOS / "01-network-policy-per-service"
SERVICE = GVK("v1", "Service")
NETPOL = GVK("networking.k8s.io/v1", "NetworkPolicy")
REPORT = GVK("lib.projectsveltos.io/v1beta1", "EventReport")
CLUSTER_A = "default/cluster-a"

eventually = functools.partial(_eventually, timeout=10.0)


def get_json(url: str, token: str | None = None) -> Any:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    mp = pytest.MonkeyPatch()
    mp.setenv("RIPPLE_REMOVAL_GRACE", "1.5")  # the manager reads it (ripple manager --help)
    state: Path = tmp_path_factory.mktemp("stack")
    try:
        with Stack(SCENARIO / "fleet.yaml", SCENARIO / "management", state_dir=state) as s:
            yield s
    finally:
        mp.undo()


def test_event_report_is_mirrored_into_the_management_cluster(stack: Stack) -> None:
    cluster: KubeClient = stack.client(CLUSTER_A)
    cluster.apply(service("mirrored"), field_manager="test")
    mgmt = stack.management

    def report() -> dict[str, Any] | None:
        return mgmt.get(REPORT, "default", "sveltos--sveltos-service--cluster-a")

    obj = eventually(
        lambda: (
            (r := report())
            and any(m["name"] == "mirrored" for m in r["spec"]["matchingResources"])
            and r
        ),
        what="EventReport lists the Service",
    )
    labels = obj["metadata"]["labels"]
    assert labels["projectsveltos.io/eventsource-name"] == "sveltos-service"
    assert labels["eventreport.projectsveltos.io/cluster-name"] == "cluster-a"
    assert labels["eventreport.projectsveltos.io/cluster-type"] == "sveltos"
    assert obj["spec"]["clusterType"] == "Sveltos"
    cluster.delete(SERVICE, "default", "mirrored")


def test_rest_api_shows_triggers_profiles_and_outcomes(stack: Stack) -> None:
    assert stack.rest_url
    cluster = stack.client(CLUSTER_A)
    cluster.apply(service("rest"), field_manager="test")
    eventually(lambda: cluster.get(NETPOL, "default", "front-rest"), what="policy deployed")
    assert get_json(stack.rest_url + "/healthz") == {"status": "ok", "ready": True}
    (trigger,) = get_json(stack.rest_url + "/v1/triggers")
    assert trigger["name"] == "service-network-policy"
    assert trigger["matchingClusters"] == ["sveltos:default/cluster-a"]
    assert trigger["errors"] == []
    profiles = get_json(stack.rest_url + "/v1/profiles")
    mine = [
        p
        for p in profiles
        if p["labels"].get("eventbasedaddon.lib.projectsveltos.io/resourcename") == "rest"
    ]
    assert len(mine) == 1
    eventually(
        lambda: get_json(stack.rest_url + f"/v1/profiles/{mine[0]['name']}")["outcomes"],
        what="apply outcome reported",
    )
    cluster.delete(SERVICE, "default", "rest")


def test_removal_waits_for_the_grace_period(stack: Stack) -> None:
    cluster = stack.client(CLUSTER_A)
    cluster.apply(service("graceful"), field_manager="test")
    eventually(lambda: cluster.get(NETPOL, "default", "front-graceful"), what="policy deployed")
    cluster.delete(SERVICE, "default", "graceful")
    gone_at = time.monotonic()
    eventually(
        lambda: cluster.get(NETPOL, "default", "front-graceful") is None,
        timeout=10,
        what="policy removed",
    )
    assert time.monotonic() - gone_at >= 1.4, "removed before the 1.5 s grace period"


def test_a_returning_event_cancels_a_pending_removal(stack: Stack) -> None:
    cluster = stack.client(CLUSTER_A)
    cluster.apply(service("back"), field_manager="test")
    deployed = eventually(
        lambda: cluster.get(NETPOL, "default", "front-back"), what="policy deployed"
    )
    cluster.delete(SERVICE, "default", "back")
    cluster.apply(service("back"), field_manager="test")
    deadline = time.monotonic() + 2.5  # longer than the grace period: it must stay
    while time.monotonic() < deadline:
        live = cluster.get(NETPOL, "default", "front-back")
        assert live is not None and live["metadata"]["uid"] == deployed["metadata"]["uid"]
        time.sleep(0.05)


def test_cluster_profiles_and_instantiated_configmaps_are_mirrored(stack: Stack) -> None:
    cluster = stack.client(CLUSTER_A)
    cluster.apply(service("profiled"), field_manager="test")
    policy = eventually(lambda: cluster.get(NETPOL, "default", "front-profiled"), what="deployed")
    annotations = policy["metadata"]["annotations"]
    mgmt = stack.management
    profile_gvk = GVK("config.projectsveltos.io/v1beta1", "ClusterProfile")
    profile = eventually(
        lambda: mgmt.get(profile_gvk, None, annotations["projectsveltos.io/owner-name"]),
        what="ClusterProfile in the management cluster",
    )
    assert profile["spec"]["clusterRefs"] == [
        {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "SveltosCluster",
            "namespace": "default",
            "name": "cluster-a",
        }
    ]
    copy_name = annotations["projectsveltos.io/reference-name"]
    assert profile["spec"]["policyRefs"][0]["name"] == copy_name
    copy = eventually(
        lambda: mgmt.get(GVK("v1", "ConfigMap"), "projectsveltos", copy_name),
        what="instantiated ConfigMap in projectsveltos",
    )
    assert "front-profiled" in next(iter(copy["data"].values()))
    cluster.delete(SERVICE, "default", "profiled")
    eventually(
        lambda: mgmt.get(profile_gvk, None, profile["metadata"]["name"]) is None,
        what="ClusterProfile removed with its event",
    )


def test_agents_report_their_state(stack: Stack) -> None:
    assert stack.rest_url
    agents = eventually(
        lambda: [a for a in get_json(stack.rest_url + "/v1/agents") if a["state"] == "ready"],
        what="agents ready",
    )
    names = {a["cluster"]["name"] for a in agents}
    assert names == {"cluster-a", "cluster-b"}
    a = next(a for a in agents if a["cluster"]["name"] == "cluster-a")
    assert "/v1/Service" in a["watchedGvks"] or "v1/Service" in a["watchedGvks"]
    assert a["errors"] == []


BAD_LUA = {
    "apiVersion": "lib.projectsveltos.io/v1beta1",
    "kind": "EventSource",
    "metadata": {"name": "broken-lua"},
    "spec": {
        "resourceSelectors": [
            {
                "group": "",
                "version": "v1",
                "kind": "Service",
                "evaluate": "function evaluate()\n  return {\nend",
            }
        ]
    },
}
ES_GVK = GVK("lib.projectsveltos.io/v1beta1", "EventSource")
EBA_GVK = GVK("lib.projectsveltos.io/v1alpha1", "EventBasedAddOn")


def test_a_bad_event_source_is_reported_in_its_status_and_breaks_nothing(stack: Stack) -> None:
    mgmt = stack.management
    mgmt.apply(BAD_LUA, field_manager="test")
    status = eventually(
        lambda: (
            (mgmt.get(ES_GVK, None, "broken-lua") or {}).get("status", {}).get("failureMessage")
        ),
        what="failureMessage on the EventSource",
    )
    assert "line" in status
    cluster = stack.client(CLUSTER_A)
    cluster.apply(service("still-works"), field_manager="test")
    eventually(
        lambda: cluster.get(NETPOL, "default", "front-still-works"), what="others unaffected"
    )
    trigger = eventually(
        lambda: (
            (mgmt.get(EBA_GVK, None, "service-network-policy") or {})
            .get("status", {})
            .get("matchingClusters")
        ),
        what="trigger status",
    )
    assert trigger == [
        {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "SveltosCluster",
            "namespace": "default",
            "name": "cluster-a",
        }
    ]
    cluster.delete(SERVICE, "default", "still-works")


def test_breaking_a_used_event_source_keeps_its_last_good_version(stack: Stack) -> None:
    mgmt = stack.management
    cluster = stack.client(CLUSTER_A)
    cluster.apply(service("kept"), field_manager="test")
    eventually(lambda: cluster.get(NETPOL, "default", "front-kept"), what="deployed")
    good = mgmt.get(ES_GVK, None, "sveltos-service")
    assert good is not None
    broken = {
        "apiVersion": "lib.projectsveltos.io/v1beta1",
        "kind": "EventSource",
        "metadata": {"name": "sveltos-service"},
        "spec": {
            "resourceSelectors": [
                {"group": "", "version": "v1", "kind": "Service", "evaluate": "if"}
            ]
        },
    }
    mgmt.replace(
        {
            **broken,
            "metadata": {
                **broken["metadata"],
                "resourceVersion": good["metadata"]["resourceVersion"],
            },
        }
    )
    eventually(
        lambda: (
            (mgmt.get(ES_GVK, None, "sveltos-service") or {})
            .get("status", {})
            .get("failureMessage")
        ),
        what="the error is shown",
    )
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:  # nothing is withdrawn because of the bad edit
        assert cluster.get(NETPOL, "default", "front-kept") is not None
        time.sleep(0.05)
    restored = mgmt.get(ES_GVK, None, "sveltos-service")
    good["metadata"] = {
        "name": "sveltos-service",
        "resourceVersion": restored["metadata"]["resourceVersion"],
    }
    good.pop("status", None)
    mgmt.replace(good)
    eventually(
        lambda: (
            not (mgmt.get(ES_GVK, None, "sveltos-service") or {})
            .get("status", {})
            .get("failureMessage")
        ),
        what="the error clears",
    )
    cluster.delete(SERVICE, "default", "kept")


def test_metrics_count_work_and_errors(stack: Stack) -> None:
    assert stack.rest_url
    with urllib.request.urlopen(stack.rest_url + "/metrics", timeout=5) as response:
        text = response.read().decode()
        assert response.headers["Content-Type"].startswith("text/plain")
    values = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert values["ripple_manager_report_changes_total"] > 0
    assert values["ripple_manager_ready"] == 1.0
    assert "ripple_manager_invalid_messages_total" in values
