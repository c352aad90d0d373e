"""charts/ripple with agent.mode=hosted: one `ripple agent-host` Deployment in the management
cluster, the clusters file from a Secret (or --from-management, with the RBAC to read the
registrations and their Secrets); per-cluster mode stays the default."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_chart import CHART, env_of, find, helm, pods, refusal, render

HOSTED_FILE = {
    "agent": {
        "enabled": True,
        "mode": "hosted",
        "hosted": {"clustersSecret": "fleet-clusters", "kubeconfigsSecret": "fleet-kubeconfigs"},
    }
}
HOSTED_MGMT = {"agent": {"enabled": True, "mode": "hosted", "hosted": {"fromManagement": True}}}


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    [only] = pods(docs)["ripple-agent-host"]["containers"]
    return only


def test_hosted_mode_runs_agent_host_over_the_clusters_secret() -> None:
    docs = render(HOSTED_FILE)
    deployments = set(pods(docs))
    assert "ripple-agent-host" in deployments and "ripple-agent" not in deployments
    main = container(docs)
    assert main["args"] == ["agent-host", "--clusters", "/etc/ripple/clusters/clusters.yaml"]
    env = env_of(main)
    assert env["RIPPLE_MAX_STARTING"] == "32" and env["RIPPLE_WORKERS"] == "2"
    pod = pods(docs)["ripple-agent-host"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["clusters"]["secret"]["secretName"] == "fleet-clusters"
    assert volumes["kubeconfigs"]["secret"]["secretName"] == "fleet-kubeconfigs"
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert mounts["clusters"] == "/etc/ripple/clusters"
    assert mounts["kubeconfigs"] == "/etc/ripple/kubeconfigs"
    assert mounts["helm-cache"] == "/var/cache/ripple/helm"
    # a clusters file needs nothing of the management cluster's API
    assert not [
        d for d in docs if d["kind"] == "ClusterRole" and "agent-host" in d["metadata"]["name"]
    ]
    find(docs, "ServiceAccount", "ripple-agent-host")


def test_hosted_from_management_reads_registrations_and_their_secrets() -> None:
    docs = render(HOSTED_MGMT)
    assert container(docs)["args"] == ["agent-host", "--from-management"]
    role = find(docs, "ClusterRole", "ripple-ripple-agent-host")
    granted = {
        (g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
    }
    assert granted == {
        ("lib.projectsveltos.io", "sveltosclusters"),
        ("cluster.x-k8s.io", "clusters"),
        ("", "secrets"),
    }
    assert all(rule["verbs"] == ["get", "list", "watch"] for rule in role["rules"])


def test_per_cluster_stays_the_default() -> None:
    docs = render({"agent": {"enabled": True, "cluster": {"name": "c"}}})
    assert "ripple-agent" in pods(docs) and "ripple-agent-host" not in pods(docs)


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"agent": {"enabled": True, "mode": "hosted"}}, "clustersSecret"),
        ({"agent": {"enabled": True, "mode": "central"}}, "mode"),
        (
            {"agent": {"enabled": True, "mode": "hosted", "hosted": {"maxStarting": 0}}},
            "maxStarting",
        ),
    ],
)
def test_bad_hosted_values_are_refused_by_name(values: dict[str, Any], says: str) -> None:
    assert says in refusal(values)


@pytest.mark.parametrize("values", [HOSTED_FILE, HOSTED_MGMT])
def test_helm_lint_finds_nothing_in_hosted_mode(values: dict[str, Any]) -> None:
    report = helm.lint(CHART, values, strict=True, namespace="ripple", kube_version="v1.30.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []
