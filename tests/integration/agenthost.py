"""What the agent-host tests share: a stack of three managed clusters (no service started),
the manager started on its own, and ``ripple agent-host`` over a clusters file the test
writes (each cluster with its own NATS user), plus its probes."""

from __future__ import annotations

import base64
import contextlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from services.scenario.commands import agent_name
from services.scenario.processes import ManagedProcess, free_port, ripple_command, wait_ready
from services.scenario.stack import Stack
from shared.contract import streams, subjects
from shared.contract.subjects import ClusterRef
from shared.kube import GVK
from tests.integration.helpers import eventually
from tests.reliability.helpers import SyncNats

CLUSTERS = ["default/c1", "default/c2", "default/c3"]
CM = GVK("v1", "ConfigMap")
LABEL = "hosted"

TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: hosted-{{ .Resource.metadata.name }}
  namespace: default
data:
  cluster: "{{ .Cluster.metadata.name }}"
"""


def definitions() -> list[dict[str, Any]]:
    """An EventSource on Services labelled ``hosted=yes`` and an EventTrigger deploying a
    ConfigMap ``hosted-<service>`` in the cluster of each (every cluster labelled env=test)."""
    selector = {
        "group": "",
        "version": "v1",
        "kind": "Service",
        "labelFilters": [{"key": LABEL, "operation": "Equal", "value": "yes"}],
    }
    return [
        {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "EventSource",
            "metadata": {"name": "hosted"},
            "spec": {"collectResources": True, "resourceSelectors": [selector]},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "hosted-template",
                "namespace": "default",
                "annotations": {"projectsveltos.io/instantiate": "ok"},
            },
            "data": {"cm.yaml": TEMPLATE},
        },
        {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "EventTrigger",
            "metadata": {"name": "hosted"},
            "spec": {
                "sourceClusterSelector": {"matchLabels": {"env": "test"}},
                "eventSourceName": "hosted",
                "oneForEvent": True,
                "policyRefs": [
                    {"kind": "ConfigMap", "namespace": "default", "name": "hosted-template"}
                ],
            },
        },
    ]


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "labels": {LABEL: "yes"}},
        "spec": {"ports": [{"port": 80}]},
    }


@contextlib.contextmanager
def three_cluster_stack(root: Path) -> Iterator[Stack]:
    """NATS (with authorization), the fleet of :data:`CLUSTERS` labelled env=test, the
    definitions applied; no service started."""
    clusters = []
    for ref in CLUSTERS:
        namespace, name = ref.split("/")
        clusters.append({"namespace": namespace, "name": name, "labels": {"env": "test"}})
    (root / "fleet.yaml").write_text(yaml.safe_dump({"clusters": clusters}))
    management = root / "management"
    management.mkdir()
    (management / "defs.yaml").write_text(yaml.safe_dump_all(definitions()))
    with Stack(root / "fleet.yaml", management, state_dir=root / "state", services=False) as stack:
        yield stack


def nats_user(stack: Stack, cluster: str) -> tuple[str, str]:
    """The NATS user and password of ``cluster``'s agent."""
    env = stack.nats_env()[agent_name(cluster)]
    return env["RIPPLE_NATS_USER"], env["RIPPLE_NATS_PASSWORD"]


def entry(stack: Stack, cluster: str, kubeconfig: Path | None = None) -> dict[str, Any]:
    user, password = nats_user(stack, cluster)
    return {
        "cluster": cluster,
        "kubeconfig": str(kubeconfig or stack.kubeconfig(cluster)),
        "natsUser": user,
        "natsPassword": password,
    }


def write_clusters(path: Path, entries: list[dict[str, Any]]) -> None:
    """Write the clusters file at once (a rename: the host never reads half a file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump({"clusters": entries}))
    tmp.chmod(0o600)
    tmp.replace(path)


def dead_kubeconfig(stack: Stack, cluster: str, path: Path) -> Path:
    """A copy of ``cluster``'s kubeconfig whose server is a port nobody listens on."""
    config = yaml.safe_load(stack.kubeconfig(cluster).read_text())
    for item in config["clusters"]:
        server = item["cluster"]["server"]
        item["cluster"]["server"] = server.rsplit(":", 1)[0] + f":{free_port()}"
    path.write_text(yaml.safe_dump(config))
    return path


def manager_process(stack: Stack) -> ManagedProcess:
    ready = stack.state_dir / "ready" / "manager"
    argv = ripple_command(
        "manager",
        "--kubeconfig",
        str(stack.kubeconfig("management")),
        "--nats",
        stack.nats_server_url,
        "--ready-file",
        str(ready),
    )
    env = stack.nats_env()["manager"]
    return ManagedProcess("manager", argv, stack.log_dir / "manager.log", ready_file=ready, env=env)


def cluster_secrets(stack: Stack, cluster: str) -> list[dict[str, Any]]:
    """The management cluster's Secrets of ``cluster`` as ``--from-management`` reads them:
    ``<name>-sveltos-kubeconfig`` (key ``kubeconfig``) and ``<name>-ripple-nats``."""
    namespace, name = cluster.split("/")
    user, password = nats_user(stack, cluster)

    def secret(secret_name: str, data: dict[str, str]) -> dict[str, Any]:
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
        meta = {"name": secret_name, "namespace": namespace}
        return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": encoded}

    return [
        secret(f"{name}-sveltos-kubeconfig", {"kubeconfig": stack.kubeconfig(cluster).read_text()}),
        secret(f"{name}-ripple-nats", {"user": user, "password": password}),
    ]


def host_process(
    stack: Stack, clusters: Path | None, metrics_port: int, *extra: str
) -> ManagedProcess:
    """``ripple agent-host`` over ``clusters`` (None: ``--from-management``; its own
    credentials: none, every cluster has its own NATS user)."""
    ready = stack.state_dir / "ready" / "agent-host"
    source = (
        ["--clusters", str(clusters)]
        if clusters is not None
        else ["--from-management", "--kubeconfig", str(stack.kubeconfig("management"))]
    )
    argv = ripple_command(
        "agent-host",
        *source,
        "--nats",
        stack.nats_server_url,
        "--ready-file",
        str(ready),
        "--metrics-port",
        str(metrics_port),
        "--poll-interval",
        "0.5",
        *extra,
    )
    log = stack.log_dir / "agent-host.log"
    env = {"RIPPLE_METRICS_REFRESH": "0.5"}  # the summed series, fresh for the assertions
    return ManagedProcess("agent-host", argv, log, ready_file=ready, env=env)


@contextlib.contextmanager
def running(*processes: ManagedProcess, timeout: float = 60.0) -> Iterator[None]:
    for process in processes:
        process.start()
    try:
        wait_ready(list(processes), timeout)
        yield
    finally:
        for process in reversed(processes):
            process.stop()


def probe(port: int, path: str) -> tuple[int, str]:
    """``GET http://127.0.0.1:<port><path>``: status and body."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric(port: int, name: str) -> float:
    """One series of the host's /metrics (0 when absent)."""
    _, text = probe(port, "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def readiness(port: int) -> dict[str, Any]:
    _, body = probe(port, "/readyz")
    result: dict[str, Any] = json.loads(body)
    return result


def agent_status(stack: Stack, cluster: str) -> dict[str, Any]:
    """The ``data`` of ``cluster``'s status in KV ``ripple-agents`` ({} when absent)."""
    namespace, name = cluster.split("/")
    key = subjects.agent_key(ClusterRef(namespace=namespace, name=name))
    with contextlib.closing(SyncNats(stack.nats_url)) as bus:
        raw = bus.kv_raw(streams.AGENTS.bucket, key)
    return dict(json.loads(raw)["data"]) if raw else {}


def deployed(stack: Stack, cluster: str, name: str) -> bool:
    return stack.client(cluster).get(CM, "default", f"hosted-{name}") is not None


def wait_deployed(stack: Stack, cluster: str, name: str, timeout: float = 30.0) -> None:
    eventually(lambda: deployed(stack, cluster, name), timeout, f"hosted-{name} in {cluster}")
