"""shared.helm.releases (pure decisions) and shared.helm.native (errors, time limits)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import helm_python
import pytest

from shared.helm import errors as e
from shared.helm import native
from shared.helm.releases import (
    DIGEST_LABEL,
    ReleaseInfo,
    decide,
    diff,
    ownership_problem,
    release_labels,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LABELS = release_labels("p", "a" * 64, {"team": "x"})


def info(status: str = "deployed", **changes: Any) -> ReleaseInfo:
    fields: dict[str, Any] = {
        "name": "r",
        "namespace": "ns",
        "revision": 3,
        "status": status,
        "chart_name": "hello",
        "chart_version": "0.1.0",
        "app_version": "1",
        "deployed_at": (NOW - timedelta(seconds=30)).isoformat(),
        "labels": LABELS,
        "values": {"a": 1},
        **changes,
    }
    return ReleaseInfo(**fields)


def step(current: ReleaseInfo | None, **wanted: Any) -> tuple[str, str]:
    args: dict[str, Any] = {
        "chart_name": "hello",
        "chart_version": "0.1.0",
        "labels": LABELS,
        "values": {"a": 1.0},
        "now": NOW,
        "stale_after": 300.0,
        **wanted,
    }
    return decide(current, **args)


def test_labels() -> None:
    assert LABELS == {
        "team": "x",
        "ripple.io/managed-by": "ripple",
        "ripple.io/owner": "p",
        DIGEST_LABEL: "a" * 40,
    }
    assert release_labels("", "d")["ripple.io/owner"] == ""
    with pytest.raises(ValueError, match="not a label value"):
        release_labels("a/b", "d")


def test_decisions() -> None:
    assert step(None) == ("install", "the release does not exist")
    assert step(info()) == ("none", "unchanged")  # 1.0 == 1 once stored by Helm
    assert step(info(), values={"a": 2}) == ("upgrade", "values changed")
    assert step(info(), chart_version="0.2.0") == ("upgrade", "chart version 0.1.0 -> 0.2.0")
    other = release_labels("p", "b" * 40, {"team": "x"})
    assert step(info(), labels=other) == ("upgrade", "chart content changed")
    relabelled = release_labels("p", "a" * 40, {"team": "y"})
    assert step(info(), labels=relabelled) == ("upgrade", "labels changed")
    assert step(info(), chart_name="bye", values={}) == (
        "upgrade",
        "chart hello -> bye; values changed",
    )
    assert step(info("failed")) == ("upgrade", "the last operation failed")
    assert step(info("superseded")) == ("upgrade", "status superseded")
    assert step(info("uninstalled")) == ("replace", "the release was uninstalled (history kept)")


@pytest.mark.parametrize(
    ("status", "recovery"),
    [
        ("pending-install", "reinstall"),
        ("uninstalling", "reinstall"),
        ("pending-upgrade", "rollback"),
        ("pending-rollback", "rollback"),
    ],
)
def test_pending_is_busy_until_stale(status: str, recovery: str) -> None:
    assert step(info(status)) == ("busy", f"the release is {status} since 30s (another operation)")
    assert step(info(status), stale_after=10.0) == (
        recovery,
        f"the release was left {status} 30s ago",
    )
    assert step(info(status, deployed_at=""))[0] == recovery


def test_ownership() -> None:
    assert ownership_problem(info(), "p") == ""
    assert ownership_problem(info(), "q") == "the release belongs to 'p', not 'q'"
    foreign = ownership_problem(info(labels={"team": "x"}), "p")
    assert foreign.startswith("the release exists and is not managed by Ripple")


def test_storage_labels_are_not_release_labels() -> None:
    summary = {"name": "r", "labels": {"owner": "helm", "status": "deployed", "team": "x"}}
    assert ReleaseInfo.of(summary).labels == {"team": "x"}


def test_diff_of_manifests() -> None:
    before = (
        "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\n"
        "metadata: {name: a, namespace: n}\ndata: {k: '1'}\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: gone}\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}\n"
    )
    after = {
        "c/templates/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: n}\n"
        "data: {k: '2'}\n",
        "c/templates/new.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n",
        "c/templates/same.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}\n",
        "c/templates/hook.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: h\n"
        "  annotations: {helm.sh/hook: pre-install}\n",
        "c/templates/NOTES.txt": "",
    }
    changes = diff(before, after)
    assert changes.added == ("Secret s",)
    assert changes.changed == ("ConfigMap n/a",)
    assert changes.removed == ("ConfigMap gone",)
    assert changes.unchanged == 1


WHERE = e.Where("hello", "0.1.0", "r", "ns", "c1")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (helm_python.HelmRenderError("execution error"), e.RenderFailed),
        (helm_python.HelmValuesError("bad"), e.InvalidValues),
        (helm_python.HelmChartLoadError("corrupt"), e.InvalidChart),
        (
            helm_python.HelmRepoError('chart "x" version "9" not found in y repository'),
            e.ChartNotFound,
        ),
        (
            helm_python.HelmRepoError("looks like y cannot be reached: dial tcp"),
            e.RepositoryUnavailable,
        ),
        (helm_python.HelmRegistryError("manifest unknown"), e.ChartNotFound),
        (helm_python.HelmKubeError("kubernetes cluster unreachable"), e.ClusterUnavailable),
        (helm_python.HelmStorageError("etcd"), e.ClusterUnavailable),
        (helm_python.HelmCancelledError("context canceled"), e.OperationTimeout),
        (
            helm_python.HelmReleaseError("another operation (install) is in progress"),
            e.OperationInProgress,
        ),
        (helm_python.HelmReleaseError("execution error at (x)"), e.RenderFailed),
        (
            helm_python.HelmReleaseError("values don't meet the specifications of the schema(s)"),
            e.InvalidValues,
        ),
        (helm_python.HelmReleaseError("... invalid ownership metadata ..."), e.ReleaseConflict),
        (helm_python.HelmReleaseError("the server was unable to return a response"), e.HelmFailure),
    ],
)
def test_classification(error: helm_python.HelmError, kind: type[e.HelmError]) -> None:
    mapped = native.classify(error, WHERE, "installing")
    assert type(mapped) is kind
    assert str(mapped) == f"chart hello 0.1.0 (release ns/r, cluster c1): installing: {error}"
    assert mapped.detail == str(error)


class FakeContext:
    """Stands for helm_python.HelmContext: records the cancel."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()

    def cancel(self) -> None:
        self.cancelled.set()

    def close(self) -> None:
        pass


def test_bounded_cancels_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(helm_python, "HelmContext", FakeContext)

    def install(context: Any) -> None:  # returns once cancelled, like Helm's install
        assert context.cancelled.wait(5)
        raise helm_python.HelmCancelledError("context canceled")

    with pytest.raises(e.OperationTimeout, match=r"install was cancelled after 0\.05s"):
        native.bounded(install, 0.05, WHERE, "install")


def test_bounded_gives_up_on_a_call_that_ignores_the_cancel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(helm_python, "HelmContext", FakeContext)
    monkeypatch.setattr(native, "_GRACE", 0.05)
    release = threading.Event()
    with pytest.raises(e.OperationTimeout, match=r"uninstall did not finish within 0\.05s"):
        native.bounded(lambda _: release.wait(5), 0.05, WHERE, "uninstall")
    release.set()


def test_bounded_results_and_errors() -> None:
    assert native.bounded(lambda _: 42, 1.0, WHERE, "read") == 42
    with pytest.raises(e.ClusterUnavailable):
        native.bounded(_raise_kube, 1.0, WHERE, "read")
    with pytest.raises(KeyError):
        native.bounded(lambda _: {}["x"], 1.0, WHERE, "read")


def _raise_kube(_: helm_python.HelmContext) -> None:
    raise helm_python.HelmKubeError("kubernetes cluster unreachable")
