"""Starting the fleet (in-loop, thread, subprocess, CLI), runtime clusters, and test hooks."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from kubernetes import client, config

from services.fleet import FleetServer, load_fleet_yaml, start_fleet, start_fleet_process
from services.fleet.errors import FleetConfigError
from tests.fleet.conftest import Cluster, wait_for
from tests.paths import SCENARIOS

FLEET_YAML = SCENARIOS / "01-network-policy-per-service" / "fleet.yaml"


async def test_in_loop_fleet_with_aiohttp(tmp_path: Path) -> None:
    fleet = await start_fleet(["a", "b"], tmp_path, port=0)
    try:
        assert isinstance(fleet, FleetServer) and fleet.port > 0
        assert {c["name"] for c in fleet.clusters()} == {"management", "a", "b"}
        assert fleet.kubeconfig("a").exists() and fleet.kubeconfig("management").exists()
        ctx = ssl.create_default_context(cafile=str(fleet.ca_file))
        headers = {"Authorization": f"Bearer {fleet.token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            url = f"{fleet.url('a')}/api/v1/namespaces/default/configmaps"
            async with http.post(url, json={"metadata": {"name": "x"}}, ssl=ctx) as resp:
                assert resp.status == 201
            async with http.get(url, ssl=ctx) as resp:
                assert [i["metadata"]["name"] for i in (await resp.json())["items"]] == ["x"]
            async with http.get(
                f"{fleet.url('b')}/api/v1/namespaces/default/configmaps", ssl=ctx
            ) as resp:
                assert (await resp.json())["items"] == []  # clusters are isolated
            path = fleet.add_cluster({"name": "c", "labels": {"env": "prod"}})
            assert path.exists()
            async with http.get(f"{fleet.url('c')}/api/v1/namespaces", ssl=ctx) as resp:
                assert resp.status == 200
            fleet.remove_cluster("c")
            assert not path.exists()
            async with http.get(f"{fleet.url('c')}/api/v1/namespaces", ssl=ctx) as resp:
                assert resp.status == 404
    finally:
        await fleet.stop()


async def test_in_loop_plain_http_option(tmp_path: Path) -> None:
    async with FleetServer(["p"], tmp_path, tls=False) as fleet:
        assert fleet.base_url.startswith("http://")
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{fleet.url('p')}/version", headers={"Authorization": f"Bearer {fleet.token}"}
            ) as resp,
        ):
            assert resp.status == 200


def test_runtime_clusters_through_the_thread_handle(cluster: Cluster) -> None:
    fleet = cluster.fleet
    path = fleet.add_cluster(
        {"name": "extra-x", "namespace": "ns1", "type": "capi", "labels": {"env": "fv"}}
    )
    try:
        info = next(c for c in fleet.clusters() if c["name"] == "extra-x")
        assert info["labels"] == {"env": "fv"} and info["type"] == "capi"
        assert info["namespace"] == "ns1" and info["url"] == fleet.url("extra-x")
        api = config.new_client_from_config(str(path))
        assert client.CoreV1Api(api).read_namespace("default").status.phase == "Active"
        api.close()
    finally:
        fleet.remove_cluster("extra-x")
    assert not path.exists()


def test_fault_injection_hooks(cluster: Cluster) -> None:
    core = cluster.core
    fleet = cluster.fleet
    fleet.inject_fault(r"/configmaps$", cluster=cluster.name, method="GET", status=500, count=2)
    for _ in range(2):
        with pytest.raises(client.ApiException) as err:
            core.list_namespaced_config_map("default")
        assert err.value.status == 500
    assert core.list_namespaced_config_map("default").items == []
    fleet.inject_fault(r"/namespaces/default$", cluster=cluster.name, status=0, delay=0.3)
    started = time.monotonic()
    core.read_namespace("default")
    assert time.monotonic() - started >= 0.3
    fleet.inject_fault(r".*", cluster=cluster.name, status=429, count=None)
    with pytest.raises(client.ApiException) as err:
        core.read_namespace("default")
    assert err.value.status == 429
    fleet.clear_faults()
    core.read_namespace("default")


def test_stats_and_bad_cluster_names(cluster: Cluster) -> None:
    stats = cluster.fleet._hook("GET", "/_fleet/stats")
    assert stats["clusters"] >= 2 and stats["rssBytes"] > 0 and stats["objects"] >= 4
    from services.fleet.errors import FleetError

    with pytest.raises(FleetError):
        cluster.fleet.add_cluster("Not_A_Name")
    with pytest.raises(FleetError):
        cluster.fleet.add_cluster(cluster.name)  # duplicate
    with pytest.raises(FleetError):
        cluster.fleet.remove_cluster("management")


def test_request_recording(cluster: Cluster) -> None:
    cluster.fleet.clear_requests()
    cluster.core.create_namespaced_config_map("default", {"metadata": {"name": "r"}})
    cluster.core.patch_namespaced_config_map("r", "default", {"data": {"a": "1"}})
    reqs = [
        (r["method"], r["path"], r["contentType"].split(";")[0])
        for r in cluster.fleet.requests(cluster.name)
    ]
    assert reqs == [
        ("POST", "/api/v1/namespaces/default/configmaps", ""),  # the client sends no type
        (
            "PATCH",
            "/api/v1/namespaces/default/configmaps/r",
            "application/strategic-merge-patch+json",
        ),
    ]


def test_subprocess_fleet_from_fleet_yaml(tmp_path: Path) -> None:
    infos = load_fleet_yaml(FLEET_YAML)
    assert [i.name for i in infos] == ["cluster-a", "cluster-b"]
    with start_fleet_process(infos, tmp_path, timeout=30) as fleet:
        listed = {c["name"]: c for c in fleet.clusters()}
        assert listed["cluster-a"]["labels"] == {"env": "fv"}
        assert listed["cluster-b"]["labels"] == {"env": "prod"}
        api = config.new_client_from_config(str(fleet.kubeconfig("cluster-a")))
        core = client.CoreV1Api(api)
        created = core.create_namespaced_config_map("default", {"metadata": {"name": "x"}})
        floor = fleet.compact("cluster-a")
        assert floor >= int(created.metadata.resource_version)
        fleet.add_cluster("late")
        assert fleet.kubeconfig("late").exists()
        api.close()
    assert fleet.proc.returncode == 0


async def test_same_name_in_two_namespaces(tmp_path: Path) -> None:
    specs = [{"namespace": "a", "name": "edge"}, {"namespace": "b", "name": "edge"}]
    async with FleetServer(specs, tmp_path) as fleet:
        names = {c["name"]: c["namespace"] for c in fleet.clusters()}
        assert names["edge"] == "a" and names["b-edge"] == "b"
        assert (tmp_path / "b-edge.kubeconfig").exists()


def test_bad_fleet_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "fleet.yaml"
    bad.write_text("clusters: {a: 1}\n")
    with pytest.raises(FleetConfigError):
        load_fleet_yaml(bad)


def test_cli_serve_until_sigterm(tmp_path: Path) -> None:
    ripple = Path(sys.executable).parent / "ripple"
    proc = subprocess.Popen(
        [
            str(ripple),
            "fleet",
            "serve",
            "--clusters",
            "one,two",
            "--config",
            str(FLEET_YAML),
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = tmp_path / "fleet.json"
        wait_for(lambda: ready.exists() and json.loads(ready.read_text()), timeout=30)
        info = json.loads(ready.read_text())
        assert info["clusters"] == ["cluster-a", "cluster-b", "management", "one", "two"]
        for name in info["clusters"]:
            assert (tmp_path / f"{name}.kubeconfig").exists()
        api = config.new_client_from_config(str(tmp_path / "one.kubeconfig"))
        assert client.CoreV1Api(api).list_namespace().items
        api.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"{info['url']}/clusters/one" in out
    assert not (tmp_path / "fleet.json").exists()


async def test_certificate_without_openssl(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    from services.fleet import tls

    tls._with_cryptography(tmp_path / tls.CERT, tmp_path / tls.KEY)
    async with FleetServer(["x"], tmp_path) as fleet:  # reuses the certificate in DIR
        assert fleet.ca_file == tmp_path / tls.CERT
        ctx = tls.client_context(fleet.ca_file)
        headers = {"Authorization": f"Bearer {fleet.token}"}
        async with (
            aiohttp.ClientSession(headers=headers) as http,
            http.get(f"{fleet.url('x')}/version", ssl=ctx) as resp,
        ):
            assert resp.status == 200
