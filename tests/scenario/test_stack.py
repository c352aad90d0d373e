"""Bring-up of the stack without the services: NATS, the simulated fleet, CRDs, cluster
registrations, management definitions, and the step actions against real HTTP."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.scenario.compare import HASH_ANNOTATION
from services.scenario.model import load_scenario, parse_steps
from services.scenario.stack import Stack
from services.scenario.steps import StepResult
from shared.kube import GVK
from tests.paths import REPO
from tests.scenario.test_releases import secret

STORY = REPO / "examples" / "story"
SVELTOS_CLUSTER = GVK("lib.projectsveltos.io/v1beta1", "SveltosCluster")
SERVICE = GVK("v1", "Service")
POLICY = GVK("networking.k8s.io/v1", "NetworkPolicy")
HTTPROUTE = GVK("gateway.networking.k8s.io/v1beta1", "HTTPRoute")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    scenario = load_scenario(STORY)
    with Stack(
        scenario.fleet,
        scenario.management_dir,
        crds_dir=scenario.crds_dir,
        charts_dir=scenario.charts_dir,
        state_dir=tmp_path_factory.mktemp("stack"),
        services=False,
        ready_timeout=30,
    ) as running:
        yield running
    assert running.fleet_process is not None and not running.fleet_process.running
    assert running.nats is not None and not running.nats.running
    assert running.charts_url is None  # the chart repository stopped too


def _steps(stack: Stack, base: Path, steps: list[dict[str, Any]], **kw: Any) -> list[StepResult]:
    return stack.run_steps(parse_steps({"steps": steps}), base, **kw)


def test_nats_and_fleet_are_up(stack: Stack) -> None:
    host, port = stack.nats_server_url.removeprefix("nats://").split(":")
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        assert sock.recv(4) == b"INFO"
    assert stack.rest_url is None  # no services
    for ref in ("management", "default/cluster-a", "default/cluster-b"):
        assert stack.kubeconfig(ref).is_file()
        assert stack.client(ref).get(GVK("v1", "Namespace"), None, "default") is not None


def test_clusters_are_registered_with_their_labels(stack: Stack) -> None:
    items, _ = stack.management.list(SVELTOS_CLUSTER, "default")
    labels = {o["metadata"]["name"]: o["metadata"].get("labels") for o in items}
    assert labels["cluster-a"] == {"env": "fv"}
    assert labels["cluster-b"]["env"] in ("prod", "fv")  # the label test may have run first


def test_definitions_are_applied(stack: Stack) -> None:
    mgmt = stack.management
    sources, _ = mgmt.list(GVK("lib.projectsveltos.io/v1alpha1", "EventSource"))
    assert {o["metadata"]["name"] for o in sources} == {
        "sveltos-service",
        "https-service",
        "eng-http-service",
    }
    addons, _ = mgmt.list(GVK("lib.projectsveltos.io/v1alpha1", "EventBasedAddOn"))
    assert len(addons) == 4
    (kyverno,) = [a for a in addons if a["metadata"]["name"] == "kyverno"]
    (chart,) = kyverno["spec"]["helmCharts"]
    assert stack.charts_url and chart["repositoryURL"] == stack.charts_url  # ${CHARTS_URL}
    cm = mgmt.get(GVK("v1", "ConfigMap"), "default", "network-policy")
    assert cm is not None and "networkpolicy.yaml" in cm["data"]


def test_crds_dir_is_applied_to_every_managed_cluster(stack: Stack) -> None:
    for ref in ("default/cluster-a", "default/cluster-b"):
        assert stack.client(ref).serves(HTTPROUTE)


def test_apply_expect_delete(stack: Stack) -> None:
    results = _steps(
        stack,
        STORY,
        [
            {"apply": {"cluster": "default/cluster-a", "file": "cluster/another-service.yaml"}},
            {
                "delete": {
                    "cluster": "default/cluster-a",
                    "apiVersion": "v1",
                    "kind": "Service",
                    "namespace": "default",
                    "name": "another-service",
                }
            },
        ],
    )
    assert [r.ok for r in results] == [True, True], [r.error for r in results]
    assert results[0].changes == ["Service default/another-service was created in cluster-a"]
    assert results[1].changes == ["Service default/another-service was deleted from cluster-a"]
    assert stack.client("default/cluster-a").get(SERVICE, "default", "another-service") is None


def test_delete_of_a_missing_object_fails(stack: Stack) -> None:
    (result,) = _steps(
        stack,
        STORY,
        [
            {
                "delete": {
                    "cluster": "default/cluster-a",
                    "apiVersion": "v1",
                    "kind": "Service",
                    "namespace": "default",
                    "name": "never-there",
                }
            }
        ],
    )
    assert not result.ok
    assert "Service default/never-there does not exist in default/cluster-a" in result.error


def test_label_changes_the_registration(stack: Stack) -> None:
    results = _steps(
        stack,
        STORY,
        [
            {"label": {"cluster": "default/cluster-b", "labels": {"env": "fv", "tier": "x"}}},
            {"label": {"cluster": "default/cluster-b", "labels": {"tier": None}}},
        ],
    )
    assert all(r.ok for r in results), [r.error for r in results]
    live = stack.management.get(SVELTOS_CLUSTER, "default", "cluster-b")
    assert live is not None
    assert live["metadata"]["labels"] == {"env": "fv"}


def test_manage_apply_and_delete(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "management").mkdir()
    (tmp_path / "management" / "cm.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "extra", "namespace": "team-x"},
                "data": {"k": "v"},
            }
        )
    )
    cm = GVK("v1", "ConfigMap")
    (applied,) = _steps(stack, tmp_path, [{"manage": {"apply": "management/cm.yaml"}}])
    assert applied.ok, applied.error
    assert stack.management.get(cm, "team-x", "extra") is not None  # namespace created
    (deleted,) = _steps(stack, tmp_path, [{"manage": {"delete": "management/cm.yaml"}}])
    assert deleted.ok, deleted.error
    assert stack.management.get(cm, "team-x", "extra") is None


def _policy(hash_annotation: bool) -> dict[str, Any]:
    obj = yaml.safe_load((STORY / "expect" / "front-my-service.yaml").read_text())
    if hash_annotation:
        obj["metadata"]["annotations"] = {HASH_ANNOTATION: "sha256:test"}
    obj["spec"]["policyTypes"] = ["Ingress"]
    return dict(obj)


def test_expect_present_needs_the_hash_annotation(stack: Stack) -> None:
    client = stack.client("default/cluster-b")
    client.apply(_policy(hash_annotation=False), field_manager="test")
    try:
        (result,) = _steps(
            stack,
            STORY,
            [
                {
                    "expect": {
                        "cluster": "default/cluster-b",
                        "present": ["expect/front-my-service.yaml"],
                    }
                }
            ],
            timeout=0.2,
        )
        assert not result.ok
        assert 'metadata.annotations["projectsveltos.io/hash"]: missing' in result.error
        assert "NetworkPolicy default/front-my-service (present in default/cluster-b)" in (
            result.error
        )
        assert "fleet" in result.logs  # the log tails point somewhere useful
    finally:
        client.delete(POLICY, "default", "front-my-service")


def test_expect_reports_the_differing_field(stack: Stack) -> None:
    client = stack.client("default/cluster-b")
    wrong = _policy(hash_annotation=True)
    wrong["spec"]["ingress"][0]["ports"] = [{"port": 8080}]
    client.apply(wrong, field_manager="test")
    try:
        (result,) = _steps(
            stack,
            STORY,
            [
                {
                    "expect": {
                        "cluster": "default/cluster-b",
                        "present": ["expect/front-my-service.yaml"],
                    }
                }
            ],
            timeout=0.2,
        )
        assert not result.ok
        assert "spec.ingress[0].ports[0].port: expected 80, got 8080" in result.error
    finally:
        client.delete(POLICY, "default", "front-my-service")


def test_expect_holds_and_measures_from_the_first_action(stack: Stack, tmp_path: Path) -> None:
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / "policy.yaml").write_text(yaml.safe_dump(_policy(True)))
    (tmp_path / "expect").mkdir()
    (tmp_path / "expect" / "policy.yaml").write_text(
        (STORY / "expect" / "front-my-service.yaml").read_text()
    )
    absent = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "namespace": "default",
        "name": "front-my-service",
    }
    results = _steps(
        stack,
        tmp_path,
        [
            {"apply": {"cluster": "default/cluster-b", "file": "cluster/policy.yaml"}},
            {"expect": {"cluster": "default/cluster-b", "present": ["expect/policy.yaml"]}},
            {"expect": {"cluster": "default/cluster-a", "absent": [absent]}},
            {
                "delete": {
                    "cluster": "default/cluster-b",
                    **absent,
                }
            },
            {"expect": {"cluster": "default/cluster-b", "absent": [absent]}},
        ],
        timeout=5,
    )
    assert all(r.ok for r in results), [r.error for r in results]
    first, second, removed = results[1], results[2], results[4]
    assert first.first_in_batch and first.measures_change
    assert first.latency_ms is not None and first.latency_ms >= 0
    assert [i.change for i in first.items] == ["appeared"]
    assert not second.first_in_batch and not second.measures_change
    assert [i.change for i in second.items] == ["is absent"]
    assert removed.measures_change
    assert [i.change for i in removed.items] == ["was removed"]
    assert first.trigger == "NetworkPolicy default/front-my-service was created in cluster-b"


def test_expect_releases_reads_helms_storage(stack: Stack, tmp_path: Path) -> None:
    """Release expectations against Helm's storage Secrets written by hand (no agent here):
    installed, upgraded (a new revision: "was updated"), uninstalled with history kept."""
    client = stack.client("default/cluster-b")
    ns, name = "helm-test", "kyverno-latest"
    (tmp_path / "cluster").mkdir()
    for version, status in ((2, "deployed"), (3, "uninstalled")):
        (tmp_path / "cluster" / f"v{version}.yaml").write_text(
            yaml.safe_dump(secret(name, version, status, namespace=ns))
        )
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    client.apply(namespace, field_manager="test")
    client.apply(secret(name, 1, "deployed", namespace=ns), field_manager="test")
    release = {"namespace": ns, "name": name}
    cluster = "default/cluster-b"
    results = _steps(
        stack,
        tmp_path,
        [
            {"expect": {"cluster": cluster, "releases": [{**release, "chartVersion": "2.6.0"}]}},
            {"apply": {"cluster": cluster, "file": "cluster/v2.yaml"}},
            {"expect": {"cluster": cluster, "releases": [{**release, "revision": 2}]}},
            {"apply": {"cluster": cluster, "file": "cluster/v3.yaml"}},
            {"expect": {"cluster": cluster, "absentReleases": [release]}},
            {"expect": {"cluster": cluster, "releases": [release]}},
        ],
        timeout=0.2,
    )
    assert [r.ok for r in results] == [True, True, True, True, True, False]
    (installed,), (upgraded,), (removed,) = (results[i].items for i in (0, 2, 4))
    assert installed.what == f"Helm release {ns}/{name}"
    assert installed.detail == "revision 1, deployed, chart kyverno 2.6.0"
    assert (upgraded.change, upgraded.detail) == ("was updated", "revision 2, deployed")
    assert results[2].measures_change
    assert removed.change == "was removed"
    assert results[5].error == (
        "not true after 0.2 s:\n"
        f"  Helm release {ns}/{name} (present in {cluster}):\n"
        "    - missing: no such release (or its latest revision is uninstalled)"
    )


def test_fail_fast_skips_the_rest(stack: Stack) -> None:
    absent_service = {
        "apiVersion": "v1",
        "kind": "Service",
        "namespace": "default",
        "name": "kubernetes-not-here",
    }
    results = _steps(
        stack,
        STORY,
        [
            {"delete": {"cluster": "default/cluster-a", **absent_service}},
            {"expect": {"cluster": "default/cluster-a", "absent": [absent_service]}},
        ],
        fail_fast=True,
    )
    assert [(r.ok, r.skipped) for r in results] == [(False, False), (False, True)]


async def test_async_context_manager(tmp_path: Path) -> None:
    fleet = load_scenario(STORY).fleet
    async with Stack(fleet, state_dir=tmp_path, services=False, ready_timeout=30) as stack:
        assert stack.client("default/cluster-b").get(GVK("v1", "Namespace"), None, "default")
    assert stack.fleet_process is not None and not stack.fleet_process.running


def test_capi_clusters_are_registered_as_cluster_api_clusters(tmp_path: Path) -> None:
    from services.scenario.model import Fleet

    fleet = Fleet.model_validate(
        {
            "clusters": [
                {"namespace": "team-a", "name": "workload", "type": "capi", "labels": {"env": "fv"}}
            ]
        }
    )
    capi = GVK("cluster.x-k8s.io/v1beta1", "Cluster")
    with Stack(fleet, state_dir=tmp_path, services=False, ready_timeout=30) as stack:
        live = stack.management.get(capi, "team-a", "workload")
        assert live is not None
        assert live["metadata"]["labels"] == {"env": "fv"}
        assert live.get("status", {}).get("controlPlaneReady") is True
        (result,) = stack.run_steps(
            parse_steps(
                {"steps": [{"label": {"cluster": "team-a/workload", "labels": {"env": None}}}]}
            ),
            tmp_path,
        )
        assert result.ok, result.error
        live = stack.management.get(capi, "team-a", "workload")
        assert live is not None and not live["metadata"].get("labels")
