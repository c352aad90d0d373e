"""shared.helm.sdk against a simulated fleet cluster: install from the loopback repository,
upgrade on new values or chart version, no-op, uninstall, ownership, dry run, recovery and
the errors a work queue needs to tell apart (terminal versus retryable)."""

from __future__ import annotations

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import helm_python
import pytest
from kubernetes import client
from kubernetes.client import ApiException

from shared.helm import errors as e
from shared.helm import sdk
from shared.helm.releases import DIGEST_LABEL, OWNER_LABEL
from shared.helm.repository import ChartRepository
from shared.helm.sdk import ReleaseRef
from shared.helm.spec import HelmChart
from tests.helm.conftest import HELLO, KYVERNO_LITE, Cluster, hello_spec

NS = "greetings"


def greeting(cluster: Cluster, name: str = "hello-greeting") -> dict[str, str]:
    data: dict[str, str] = cluster.core.read_namespaced_config_map(name, NS).data
    return data


def deploy(
    cluster: Cluster, url: str, version: str = "0.1.0", values: Any = None, **kw: Any
) -> Any:
    spec_changes = kw.pop("spec", {})
    kw.setdefault("owner", "profile-a")
    kw.setdefault("cache_dir", kw.pop("cache"))
    return sdk.install_or_upgrade(
        cluster.kubeconfig,
        hello_spec(url, version, **spec_changes),
        {"greeting": "hi"} if values is None else values,
        **kw,
    )


def test_install_then_nothing_then_upgrades(
    cluster: Cluster, repo: ChartRepository, cache: Path
) -> None:
    first = deploy(cluster, repo.url, cache=cache)
    assert (first.action, first.revision, first.status) == ("install", 1, "deployed")
    assert (first.chart_name, first.chart_version, first.reason) == (
        "hello",
        "0.1.0",
        "the release does not exist",
    )
    assert greeting(cluster) == {"greeting": "hi", "chartVersion": "0.1.0"}
    labels = cluster.core.read_namespaced_secret("sh.helm.release.v1.hello.v1", NS).metadata.labels
    assert labels["ripple.io/managed-by"] == "ripple"
    assert labels[OWNER_LABEL] == "profile-a"
    assert len(labels[DIGEST_LABEL]) == 40

    cluster.fleet.clear_requests()
    same = deploy(cluster, repo.url, cache=cache)
    assert (same.action, same.revision, same.reason, same.changed) == (
        "none",
        1,
        "unchanged",
        False,
    )
    assert cluster.writes() == []

    values = deploy(cluster, repo.url, values={"greeting": "bonjour"}, cache=cache)
    assert (values.action, values.revision, values.reason) == ("upgrade", 2, "values changed")
    assert greeting(cluster)["greeting"] == "bonjour"

    newer = deploy(cluster, repo.url, "0.2.0", {"greeting": "bonjour"}, cache=cache)
    assert (newer.action, newer.revision) == ("upgrade", 3)
    assert newer.reason == "chart version 0.1.0 -> 0.2.0"
    assert greeting(cluster)["chartVersion"] == "0.2.0"
    assert cluster.secrets(NS) == ["sh.helm.release.v1.hello.v2", "sh.helm.release.v1.hello.v3"]


def test_a_range_follows_new_versions(cluster: Cluster, repo: ChartRepository, cache: Path) -> None:
    assert deploy(cluster, repo.url, "~0.2", cache=cache).chart_version == "0.2.0"
    assert deploy(cluster, repo.url, "~0.2", cache=cache).action == "none"
    repo.add(HELLO, version="0.2.1")
    moved = deploy(cluster, repo.url, "~0.2", cache=cache)
    assert (moved.action, moved.chart_version) == ("upgrade", "0.2.1")


def test_install_from_an_oci_registry(cluster: Cluster, repo: ChartRepository, cache: Path) -> None:
    oci = {"registryCredentialsConfig": {"plainHTTP": True}}
    done = deploy(cluster, repo.oci_url, "^0.1", cache=cache, spec=oci)
    assert (done.action, done.chart_version, done.status) == ("install", "0.1.0", "deployed")
    assert greeting(cluster)["chartVersion"] == "0.1.0"


def test_the_spec_values_are_used_without_explicit_values(
    cluster: Cluster, repo: ChartRepository, cache: Path
) -> None:
    spec = hello_spec(repo.url, values="greeting: from-spec\n")
    sdk.install_or_upgrade(cluster.kubeconfig, spec, cache_dir=cache)
    assert greeting(cluster)["greeting"] == "from-spec"


def test_an_edited_local_chart_is_upgraded(cluster: Cluster, hello_copy: Path, cache: Path) -> None:
    assert deploy(cluster, str(hello_copy), "", cache=cache).action == "install"
    template = hello_copy / "templates" / "configmap.yaml"
    template.write_text(template.read_text() + '  extra: "1"\n')
    again = deploy(cluster, str(hello_copy), "", cache=cache)
    assert (again.action, again.reason) == ("upgrade", "chart content changed")
    assert greeting(cluster)["extra"] == "1"


def test_uninstall(cluster: Cluster, repo: ChartRepository, cache: Path) -> None:
    deploy(cluster, repo.url, cache=cache)
    gone = sdk.uninstall(cluster.kubeconfig, ReleaseRef(NS, "hello"), owner="profile-a")
    assert (gone.action, gone.status, gone.revision) == ("uninstall", "uninstalled", 1)
    with pytest.raises(ApiException) as info:
        greeting(cluster)
    assert info.value.status == 404
    assert cluster.secrets(NS) == []
    again = sdk.uninstall(cluster.kubeconfig, ReleaseRef(NS, "hello"), owner="profile-a")
    assert (again.action, again.reason) == ("none", "the release does not exist")
    assert sdk.status(cluster.kubeconfig, ReleaseRef(NS, "hello")) is None


def test_apply_follows_the_action_and_kept_history_is_replaced(
    cluster: Cluster, repo: ChartRepository, cache: Path
) -> None:
    keep = {"options": {"uninstallOptions": {"keepHistory": True}}}
    spec = hello_spec(repo.url, **keep)
    assert (
        sdk.apply(cluster.kubeconfig, spec, {"greeting": "a"}, cache_dir=cache).action == "install"
    )
    removal = hello_spec(repo.url, helmChartAction="Uninstall", **keep)
    assert sdk.apply(cluster.kubeconfig, removal, cache_dir=cache).action == "uninstall"
    assert cluster.secrets(NS) == ["sh.helm.release.v1.hello.v1"]  # history kept
    back = sdk.apply(cluster.kubeconfig, spec, {"greeting": "b"}, cache_dir=cache)
    assert (back.action, back.reason) == ("install", "the release was uninstalled (history kept)")
    assert (back.revision, back.status) == (2, "deployed")
    assert greeting(cluster)["greeting"] == "b"


def test_status_and_list(cluster: Cluster, repo: ChartRepository, cache: Path) -> None:
    deploy(cluster, repo.url, values={"greeting": "x"}, cache=cache)
    deploy(cluster, repo.url, spec={"releaseName": "other"}, owner="profile-b", cache=cache)
    info = sdk.status(cluster.kubeconfig, hello_spec(repo.url))
    assert info is not None
    assert (info.revision, info.status, info.chart_version, info.owner) == (
        1,
        "deployed",
        "0.1.0",
        "profile-a",
    )
    assert info.values == {"greeting": "x"} and info.managed
    assert "owner" not in info.labels  # Helm's storage labels are not the release's
    assert [r.name for r in sdk.list_releases(cluster.kubeconfig)] == ["hello", "other"]
    assert [r.name for r in sdk.list_releases(cluster.kubeconfig, owner="profile-b")] == ["other"]
    assert sdk.list_releases(cluster.kubeconfig, namespace="elsewhere") == []


def test_another_owner_is_refused(cluster: Cluster, repo: ChartRepository, cache: Path) -> None:
    deploy(cluster, repo.url, cache=cache)
    with pytest.raises(e.ReleaseConflict, match="belongs to 'profile-a', not 'profile-b'"):
        deploy(cluster, repo.url, values={"greeting": "mine"}, owner="profile-b", cache=cache)
    with pytest.raises(e.ReleaseConflict):
        sdk.uninstall(cluster.kubeconfig, ReleaseRef(NS, "hello"), owner="profile-b")
    assert greeting(cluster)["greeting"] == "hi"


def test_a_release_of_another_tool_is_refused_unless_adopted(
    cluster: Cluster, repo: ChartRepository, cache: Path
) -> None:
    with helm_python.Config(kubeconfig_path=cluster.kubeconfig, namespace=NS) as cfg:
        cfg.install(HELLO, "hello", {"greeting": "cli"}, create_namespace=True)
    with pytest.raises(e.ReleaseConflict) as info:
        deploy(cluster, repo.url, cache=cache)
    assert isinstance(info.value, e.HelmTerminal)
    assert "not managed by Ripple" in str(info.value)
    adopted = deploy(cluster, repo.url, cache=cache, adopt=True)
    assert (adopted.action, adopted.revision) == ("upgrade", 2)
    assert sdk.status(cluster.kubeconfig, ReleaseRef(NS, "hello")).owner == "profile-a"  # type: ignore[union-attr]


def test_dry_run_changes_nothing_and_shows_the_diff(
    cluster: Cluster, repo: ChartRepository, cache: Path
) -> None:
    plan = deploy(cluster, repo.url, cache=cache, dry_run=True)
    assert (plan.action, plan.dry_run, plan.status) == ("install", True, "absent")
    assert plan.diff is not None and plan.diff.added == ("ConfigMap greetings/hello-greeting",)
    assert cluster.writes() == [] and cluster.secrets(NS) == []
    deploy(cluster, repo.url, cache=cache)
    change = deploy(cluster, repo.url, values={"greeting": "yo"}, cache=cache, dry_run=True)
    assert (
        change.diff is not None
        and change.diff.summary() == "0 added, 1 changed, 0 removed, 0 unchanged"
    )
    same = deploy(cluster, repo.url, cache=cache, dry_run=True)
    assert same.action == "none" and same.diff is not None and same.diff.unchanged == 1
    removal = sdk.uninstall(
        cluster.kubeconfig, ReleaseRef(NS, "hello"), owner="profile-a", dry_run=True
    )
    assert removal.diff is not None and removal.diff.removed == (
        "ConfigMap greetings/hello-greeting",
    )
    assert greeting(cluster)["greeting"] == "hi"


def test_a_missing_chart_version_is_terminal(
    cluster: Cluster, repo: ChartRepository, cache: Path
) -> None:
    with pytest.raises(e.ChartNotFound) as info:
        deploy(cluster, repo.url, "3.0.0", cache=cache)
    assert isinstance(info.value, e.HelmTerminal)
    assert str(info.value) == (
        f"chart hello 3.0.0 (release greetings/hello, cluster {cluster.name}): no version matching"
        f" '3.0.0' in {repo.url} (newest: 0.2.0, 0.1.0)"
    )
    assert cluster.writes() == []


def test_a_repository_down_is_retryable(cluster: Cluster, cache: Path) -> None:
    with ChartRepository([HELLO]) as r:
        url = r.url
    with pytest.raises(e.RepositoryUnavailable) as info:
        deploy(cluster, url, cache=cache)
    assert isinstance(info.value, e.HelmFailure)
    assert f"cluster {cluster.name}" in str(info.value) and "connection refused" in str(info.value)


def test_a_render_error_is_terminal_and_writes_nothing(
    cluster: Cluster, repo: ChartRepository, cache: Path
) -> None:
    with pytest.raises(e.RenderFailed, match="greeting is required"):
        deploy(cluster, repo.url, values={"greeting": None}, cache=cache)
    assert cluster.writes() == []


def test_an_unreachable_cluster_is_retryable(
    repo: ChartRepository, cache: Path, tmp_path: Path
) -> None:
    kubeconfig = (
        b"apiVersion: v1\nkind: Config\ncurrent-context: gone\n"
        b"clusters: [{name: gone, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        b"contexts: [{name: gone, context: {cluster: gone, user: u}}]\n"
        b"users: [{name: u, user: {token: t}}]\n"
    )
    with pytest.raises(e.ClusterUnavailable) as info:
        sdk.install_or_upgrade(kubeconfig, hello_spec(repo.url), {}, cache_dir=cache)
    assert "(release greetings/hello, cluster gone)" in str(info.value)
    assert isinstance(info.value, e.HelmFailure)


def test_a_failed_install_is_upgraded_once_the_cause_is_gone(
    cluster: Cluster, hello_copy: Path, cache: Path
) -> None:
    (hello_copy / "templates" / "elsewhere.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: far, namespace: elsewhere}\n"
    )
    with pytest.raises(e.HelmFailure, match='namespaces "elsewhere" not found') as info:
        deploy(cluster, str(hello_copy), "", cache=cache)
    assert not isinstance(info.value, e.HelmTerminal)
    assert sdk.status(cluster.kubeconfig, ReleaseRef(NS, "hello")).status == "failed"  # type: ignore[union-attr]
    cluster.core.create_namespace({"metadata": {"name": "elsewhere"}})
    fixed = deploy(cluster, str(hello_copy), "", cache=cache)
    assert (fixed.action, fixed.reason) == ("upgrade", "the last operation failed")
    assert (fixed.revision, fixed.status) == (2, "deployed")


def test_an_operation_in_progress_is_retryable_and_an_interrupted_one_recovered(
    cluster: Cluster, repo: ChartRepository, cache: Path
) -> None:
    deploy(cluster, repo.url, cache=cache)
    now = dt.datetime.now(dt.UTC)
    cluster.rewrite_release(NS, "hello", 1, status="pending-install", last_deployed=now.isoformat())
    with pytest.raises(e.OperationInProgress, match="pending-install"):
        deploy(cluster, repo.url, cache=cache)
    old = now - dt.timedelta(hours=1)
    cluster.rewrite_release(NS, "hello", 1, status="pending-install", last_deployed=old.isoformat())
    redone = deploy(cluster, repo.url, values={"greeting": "again"}, cache=cache)
    assert (redone.action, redone.revision, redone.status) == ("install", 1, "deployed")
    assert redone.reason.startswith("the release was left pending-install")
    assert greeting(cluster)["greeting"] == "again"

    deploy(cluster, repo.url, values={"greeting": "two"}, cache=cache)
    cluster.rewrite_release(NS, "hello", 2, status="pending-upgrade", last_deployed=old.isoformat())
    resumed = deploy(cluster, repo.url, values={"greeting": "three"}, cache=cache)
    assert (resumed.action, resumed.status) == ("upgrade", "deployed")
    assert greeting(cluster)["greeting"] == "three"


def test_hooks_never_run_and_crds_follow_skip_crds(
    cluster: Cluster, hello_copy: Path, cache: Path
) -> None:
    (hello_copy / "templates" / "hook.yaml").write_text(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: pre\n"
        "  annotations: {helm.sh/hook: pre-install}\n"
        "spec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: busybox}]}}}\n"
    )
    (hello_copy / "crds").mkdir()
    (hello_copy / "crds" / "greeting.yaml").write_text(CRD)
    skip = {"options": {"skipCRDs": True, "timeout": "20s"}}
    done = deploy(cluster, str(hello_copy), "", cache=cache, spec=skip)
    assert done.status == "deployed"
    jobs = [w for w in cluster.writes() if "/jobs" in w]
    assert jobs == []
    assert not [w for w in cluster.writes() if "customresourcedefinitions" in w]
    deploy(cluster, str(hello_copy), "", cache=cache, spec={"releaseName": "with-crds"})
    assert [w for w in cluster.writes() if "customresourcedefinitions" in w]


CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: greetings.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: greetings, singular: greeting, kind: Greeting}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"""


def test_values_must_be_json_data(cluster: Cluster, repo: ChartRepository, cache: Path) -> None:
    with pytest.raises(e.InvalidValues, match="values are not JSON data"):
        deploy(cluster, repo.url, values={"greeting": object()}, cache=cache)
    dated = hello_spec(repo.url, values="greeting: 2024-01-01\n")  # a string, as for Helm
    sdk.install_or_upgrade(cluster.kubeconfig, dated, cache_dir=cache)
    assert greeting(cluster)["greeting"] == "2024-01-01"


def test_the_sdk_logs_through_python_logging(
    cluster: Cluster, repo: ChartRepository, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sdk.enable_sdk_logging(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG, logger="shared.helm.native.helm"):
            deploy(cluster, repo.url, cache=cache)
    finally:
        helm_python.disable_logging()
    assert any(r.name == "shared.helm.native.helm" for r in caplog.records)


def test_the_spec_kyverno_example_with_the_stand_in_chart(cluster: Cluster, cache: Path) -> None:
    with ChartRepository([KYVERNO_LITE]) as r:
        entry = {  # event-framework.txt's helmCharts example, pointed at the loopback repository
            "repositoryURL": r.url,
            "repositoryName": "kyverno",
            "chartName": "kyverno/kyverno",
            "chartVersion": "v2.6.0",
            "releaseName": "kyverno-latest",
            "releaseNamespace": "kyverno",
            "helmChartAction": "Install",
            "values": "image:\n  tag: v1.8.5\n",
        }
        done = sdk.apply(cluster.kubeconfig, HelmChart.parse(entry), cache_dir=cache, owner="p")
    assert (done.action, done.chart_name, done.chart_version) == ("install", "kyverno", "2.6.0")
    apps = client.AppsV1Api(cluster.api)
    deployment = apps.read_namespaced_deployment("kyverno-latest", "kyverno")
    assert deployment.spec.template.spec.containers[0].image == "ghcr.io/kyverno/kyverno:v1.8.5"
    config_map = cluster.core.read_namespaced_config_map("kyverno-latest", "kyverno")
    assert config_map.data["excludeGroups"] == "system:nodes"


def test_concurrent_operations_on_different_releases(
    cluster: Cluster, repo: ChartRepository, cache: Path
) -> None:
    names = [f"r{i}" for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(
                lambda n: deploy(cluster, repo.url, cache=cache, spec={"releaseName": n}), names
            )
        )
    assert [(r.release, r.status) for r in results] == [(n, "deployed") for n in names]
    assert [r.name for r in sdk.list_releases(cluster.kubeconfig, namespace=NS)] == names
