"""The chart's RBAC is what each service needs, tested with the services themselves: the chart
installed by real Helm into the simulated fleet (RBAC enforced for ServiceAccount tokens),
each service run as its own ServiceAccount (a TokenRequest token in its kubeconfig, as a pod
gets one) doing its whole job, and nothing in any log says 403/Forbidden.

- the manager (ServiceAccount of the management release) watches the definitions, the
  clusters and the referenced ConfigMaps: the trigger's profile is planned;
- the reporter writes the EventReport, the ClusterProfile and its status, the instantiated
  ConfigMap (in projectsveltos) and the trigger's status (matchingClusters);
- the agent (ServiceAccount of the agent release, in the managed cluster) watches the
  Services and applies the NetworkPolicy.

Least privilege is checked too: what a service never does is denied to it.
"""

from __future__ import annotations

import functools
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from services.scenario.model import Fleet
from services.scenario.processes import ManagedProcess, free_port, ripple_command, wait_ready
from services.scenario.stack import Stack
from shared.kube import GVK
from tests.integration.helpers import eventually as _eventually
from tests.integration.helpers import service
from tests.paths import REPO, SCENARIOS

helm = pytest.importorskip("helm_python")

SCENARIO = SCENARIOS / "01-network-policy-per-service"
CLUSTER = "default/cluster-a"
RELEASE_NS = "ripple"
AGENT_NS = "projectsveltos"
SERVICE = GVK("v1", "Service")
NETPOL = GVK("networking.k8s.io/v1", "NetworkPolicy")
REPORT = GVK("lib.projectsveltos.io/v1beta1", "EventReport")
PROFILE = GVK("config.projectsveltos.io/v1beta1", "ClusterProfile")
CONFIG_MAP = GVK("v1", "ConfigMap")
EBA = GVK("lib.projectsveltos.io/v1alpha1", "EventBasedAddOn")
FORBIDDEN = re.compile(r"\b403\b|forbidden", re.IGNORECASE)

eventually = functools.partial(_eventually, timeout=20.0)


@dataclass
class Deployed:
    stack: Stack
    #: service -> its ServiceAccount's kubeconfig
    kubeconfigs: dict[str, Path]
    #: service -> the port of its /livez, /readyz, /metrics
    metrics: dict[str, int]
    processes: dict[str, ManagedProcess] = field(default_factory=dict)


def install(kubeconfig: Path, release: str, namespace: str, values: dict[str, Any]) -> None:
    """``helm install --create-namespace`` with Helm's SDK (CRDs of crds/ included)."""
    chart = helm.Chart.load(REPO / "charts" / "ripple")
    cfg = helm.Config(kubeconfig_path=str(kubeconfig), namespace=namespace)
    try:
        release_info = cfg.install(
            chart, release, values, namespace=namespace, create_namespace=True, timeout=60
        )
        assert release_info["status"] == "deployed", release_info
    finally:
        cfg.close()
        chart.close()


def service_account_kubeconfig(admin: Path, namespace: str, account: str, out: Path) -> Path:
    """A kubeconfig of the cluster of ``admin`` whose user is the ServiceAccount's token
    (TokenRequest API: what the kubelet mounts in the pod)."""
    api = config.new_client_from_config(str(admin))
    try:
        request = {"spec": {"expirationSeconds": 3600}}
        answer = client.CoreV1Api(api).create_namespaced_service_account_token(
            account, namespace, request
        )
    finally:
        api.close()
    doc = yaml.safe_load(admin.read_text())
    doc["users"] = [{"name": account, "user": {"token": answer.status.token}}]
    doc["contexts"][0]["context"]["user"] = account
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(doc))
    out.chmod(0o600)
    return out


def fleet() -> Fleet:
    return Fleet.model_validate(
        {"clusters": [{"namespace": "default", "name": "cluster-a", "labels": {"env": "fv"}}]}
    )


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    state: Path = tmp_path_factory.mktemp("chart-rbac")
    with Stack(fleet(), SCENARIO / "management", state_dir=state, services=False) as stack:
        management, cluster = stack.kubeconfig("management"), stack.kubeconfig(CLUSTER)
        install(management, "ripple", RELEASE_NS, {})
        agent_values = {
            "manager": {"enabled": False},
            "reporter": {"enabled": False},
            "agent": {"enabled": True, "cluster": {"name": "cluster-a"}},
        }
        install(cluster, "ripple-agent", AGENT_NS, agent_values)
        sa = state / "serviceaccounts"
        kubeconfigs = {
            "manager": service_account_kubeconfig(
                management, RELEASE_NS, "ripple-manager", sa / "manager.kubeconfig"
            ),
            "reporter": service_account_kubeconfig(
                management, RELEASE_NS, "ripple-reporter", sa / "reporter.kubeconfig"
            ),
            "agent": service_account_kubeconfig(
                cluster, AGENT_NS, "ripple-agent-agent", sa / "agent.kubeconfig"
            ),
        }
        deployed = Deployed(stack, kubeconfigs, {n: free_port() for n in kubeconfigs})
        try:
            start_services(deployed)
            yield deployed
        finally:
            for process in deployed.processes.values():
                process.stop()


def start_services(d: Deployed) -> None:
    stack, nats = d.stack, d.stack.nats_env()
    ready = stack.state_dir / "ready"
    common = ["--nats", stack.nats_server_url]
    argv = {
        "manager": ["manager", "--api-port", str(free_port())],
        "reporter": ["reporter"],
        "agent": ["agent", "--cluster", CLUSTER],
    }
    nats_user = {"manager": "manager", "reporter": "reporter", "agent": stack.agent_name(CLUSTER)}
    for name, args in argv.items():
        command = ripple_command(
            *args,
            "--kubeconfig",
            str(d.kubeconfigs[name]),
            *common,
            "--ready-file",
            str(ready / name),
            "--metrics-host",
            "0.0.0.0",  # as in the chart
            "--metrics-port",
            str(d.metrics[name]),
        )
        process = ManagedProcess(
            name,
            command,
            stack.log_dir / f"sa-{name}.log",
            ready_file=ready / name,
            env=nats[nats_user[name]],
        )
        d.processes[name] = process.start()
    wait_ready(list(d.processes.values()), 60)


def probe(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_chart_names_the_service_accounts_each_release_scoped(deployed: Deployed) -> None:
    for name, kubeconfig in deployed.kubeconfigs.items():
        user = yaml.safe_load(kubeconfig.read_text())["users"][0]["name"]
        assert user.endswith(f"-{name}"), (name, user)
    roles = deployed.stack.management.list(GVK("rbac.authorization.k8s.io/v1", "ClusterRole"))
    names = {r["metadata"]["name"] for r in roles[0]}
    assert {"ripple-ripple-manager", "ripple-ripple-reporter"} <= names


def test_each_service_does_its_job_as_its_service_account(deployed: Deployed) -> None:
    stack = deployed.stack
    cluster, mgmt = stack.client(CLUSTER), stack.management
    cluster.apply(service("rbac"), field_manager="test")
    # the agent watched the Service, the manager planned, the agent applied
    policy = eventually(lambda: cluster.get(NETPOL, "default", "front-rbac"), what="deployed")
    annotations = policy["metadata"]["annotations"]
    # the reporter: EventReport, ClusterProfile and its status, the instantiated ConfigMap,
    # the trigger's matchingClusters
    report = eventually(
        lambda: mgmt.get(REPORT, "default", "sveltos--sveltos-service--cluster-a"),
        what="EventReport",
    )
    assert any(m["name"] == "rbac" for m in report["spec"]["matchingResources"])
    profile_name = annotations["projectsveltos.io/owner-name"]
    profile = eventually(
        lambda: (p := mgmt.get(PROFILE, None, profile_name)) and p.get("status") and p,
        what="ClusterProfile with its status",
    )
    assert profile["status"].get("matchingClusters"), profile["status"]
    copy = annotations["projectsveltos.io/reference-name"]
    eventually(lambda: mgmt.get(CONFIG_MAP, AGENT_NS, copy), what="instantiated ConfigMap")
    matching = eventually(
        lambda: (
            (mgmt.get(EBA, None, "service-network-policy") or {})
            .get("status", {})
            .get("matchingClusters")
        ),
        what="the trigger's matchingClusters",
    )
    assert [m["name"] for m in matching] == ["cluster-a"]
    # and removal: the agent deletes, the reporter deletes the ClusterProfile
    cluster.delete(SERVICE, "default", "rbac")
    eventually(lambda: cluster.get(NETPOL, "default", "front-rbac") is None, what="pruned")
    eventually(lambda: mgmt.get(PROFILE, None, profile_name) is None, what="profile deleted")
    for name, process in deployed.processes.items():
        assert process.running, process.tail()
        text = process.log_path.read_text()
        assert not FORBIDDEN.search(text), f"{name}: {FORBIDDEN.search(text)}\n{process.tail()}"


def test_the_probes_the_chart_points_at_answer(deployed: Deployed) -> None:
    """/livez and /readyz (ready: every input read) and /metrics, on the port the chart
    names `metrics`, listening on every address (metrics host 0.0.0.0)."""
    for name, port in deployed.metrics.items():
        assert probe(port, "/livez")[0] == 200, name
        status, body = probe(port, "/readyz")
        assert (status, json.loads(body)["status"]) == (200, "ready"), name
        status, text = probe(port, "/metrics")
        assert status == 200 and f"ripple_{name}_" in text, name


def can(kubeconfig: Path, verb: str, resource: str, group: str = "", **attrs: str) -> bool:
    api = config.new_client_from_config(str(kubeconfig))
    try:
        review = client.AuthorizationV1Api(api).create_self_subject_access_review(
            {
                "spec": {
                    "resourceAttributes": {
                        "verb": verb,
                        "resource": resource,
                        "group": group,
                        **attrs,
                    }
                }
            }
        )
        return bool(review.status.allowed)
    finally:
        api.close()


def test_what_a_service_never_does_is_denied_to_it(deployed: Deployed) -> None:
    manager, reporter = deployed.kubeconfigs["manager"], deployed.kubeconfigs["reporter"]
    lib = "lib.projectsveltos.io"
    assert can(manager, "watch", "eventtriggers", lib)
    assert can(manager, "list", "secrets")
    for verb in ("create", "patch", "delete", "update"):
        assert not can(manager, verb, "configmaps"), verb
        assert not can(manager, verb, "eventtriggers", lib), verb
    assert not can(manager, "get", "secrets", name="x", namespace="default")
    assert can(reporter, "patch", "eventreports", lib, namespace="default")
    assert can(reporter, "patch", "eventtriggers", lib, subresource="status")
    assert not can(reporter, "patch", "eventtriggers", lib)  # the status only
    assert not can(reporter, "list", "secrets")
    assert not can(reporter, "delete", "namespaces")
    assert not can(reporter, "watch", "configmaps")
