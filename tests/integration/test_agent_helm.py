"""The agent installs, upgrades and uninstalls Helm charts (issue 14, agent side).

Real parts: a secured nats-server and the simulated fleet (:class:`services.scenario.stack.
Stack` without services), one real ``ripple agent`` process as its cluster's NATS user, and
a loopback chart repository serving ``examples/charts/kyverno-lite``. The test puts desired
states into ``ripple-desired`` itself (as the manager would) and reads the agent's outcomes
as they are written (a subscription on the bucket's subjects, timestamped on arrival); the
releases are checked in the cluster through :func:`shared.helm.sdk.status`.

Covered: install (revision 1, chart version, ``deployed``), upgrade on new values (revision
2), uninstall when the chart leaves the desired state and when the desired state is deleted,
``LeavePolicies`` (left in place), ``DryRun`` (nothing installed, the message says what would
change), a release of another owner (``Failed`` with the reason, terminal: not retried), a
chart repository unreachable at first (retried with backoff, installed once it serves),
``ContinuousWithDriftDetection`` (a changed or deleted object of a release is applied again
by an upgrade of the release).

``pytest -s`` prints the time from the desired-state put to the outcome (install, upgrade,
uninstall) and the agent's RSS before and after its first chart.
"""

from __future__ import annotations

import functools
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.scenario.processes import ManagedProcess, free_port, wait_ready
from services.scenario.stack import Stack
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.subjects import ClusterRef
from shared.helm import sdk
from shared.helm.releases import ReleaseInfo, ReleaseRef
from shared.helm.repository import ChartRepository
from shared.helm.spec import HelmChart
from shared.kube import GVK
from tests.integration.helpers import agent_process, agent_stack
from tests.integration.helpers import eventually as _eventually
from tests.paths import REPO
from tests.reliability.helpers import SyncNats

CLUSTER = "default/cluster-helm"
REF = ClusterRef(namespace="default", name="cluster-helm")
KYVERNO_LITE = REPO / "examples" / "charts" / "kyverno-lite"
NAMESPACE = "kyverno"
CONFIG_MAP = GVK("v1", "ConfigMap")
DEPLOYMENT = GVK("apps/v1", "Deployment")

eventually = functools.partial(_eventually, timeout=30.0, interval=0.01)
FIGURES: list[str] = []


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with agent_stack(tmp_path_factory.mktemp("agent-helm"), "cluster-helm") as running:
        yield running


@pytest.fixture(scope="module")
def repo() -> Iterator[ChartRepository]:
    with ChartRepository([KYVERNO_LITE]) as r:
        yield r


@dataclass
class Agent:
    process: ManagedProcess
    metrics: str
    cache: Path

    def rss_mib(self) -> float:
        """VmRSS of the agent process, in MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(f"{self.metrics}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        for line in text.splitlines():
            if line.startswith(f"ripple_agent_{name} "):
                return float(line.split()[1])
        raise AssertionError(f"no metric {name}")


@pytest.fixture(scope="module")
def agent(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    port = free_port()
    cache = tmp_path_factory.mktemp("agent-helm-cache")
    env = {"RIPPLE_HELM_CACHE_DIR": str(cache)}
    process = agent_process(stack, CLUSTER, "--metrics-port", str(port), env=env)
    process.start()
    try:
        wait_ready([process], 30)
        yield Agent(process, f"http://127.0.0.1:{port}", cache)
    finally:
        process.stop()
        if FIGURES:
            print("\n" + "\n".join(FIGURES))


@dataclass
class Seen:
    at: float  # time.monotonic() on arrival
    outcome: m.ApplyOutcome | None  # None: the key was deleted


class Outcomes:
    """Every value written to this cluster's keys of ``ripple-outcomes``, on arrival."""

    def __init__(self, bus: SyncNats) -> None:
        self.bus = bus
        self.seen: dict[str, list[Seen]] = {}

        async def cb(msg: Any) -> None:
            at = time.monotonic()
            profile = subjects.parse_cluster_key(msg.subject.split(".", 2)[2]).name
            op = (msg.headers or {}).get("KV-Operation", "")
            outcome = None if op in ("DEL", "PURGE") or not msg.data else decode(msg.data)
            self.seen.setdefault(profile, []).append(Seen(at, outcome))

        async def sub() -> None:
            subject = f"$KV.{streams.OUTCOMES.bucket}.{subjects.cluster_keys(REF)}"
            await bus.nc.subscribe(subject, cb=cb)
            await bus.nc.flush()

        bus.run(sub())

    def first(
        self, profile: str, since: float, check: Callable[[m.ApplyOutcome | None], bool]
    ) -> Seen:
        """The first value of ``profile`` written after ``since`` that passes ``check``."""

        def found() -> Seen | None:
            for s in list(self.seen.get(profile, [])):
                if s.at >= since and check(s.outcome):
                    return s
            return None

        last = self.seen.get(profile, [])
        return eventually(found, what=f"outcome of {profile} (last: {last[-1:]!r})")  # type: ignore[no-any-return]


def decode(raw: bytes) -> m.ApplyOutcome:
    return m.decode(raw, m.ApplyOutcomeEvent).data


@pytest.fixture(scope="module")
def bus(stack: Stack) -> Iterator[SyncNats]:
    client = SyncNats(stack.nats_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def outcomes(bus: SyncNats) -> Outcomes:
    return Outcomes(bus)


# -- helpers ------------------------------------------------------------------------------------
def entry(url: str, release: str, **extra: Any) -> dict[str, Any]:
    return {
        "repositoryURL": url,
        "repositoryName": "kyverno",
        "chartName": "kyverno/kyverno",
        "chartVersion": "2.6.0",
        "releaseName": release,
        "releaseNamespace": NAMESPACE,
        "helmChartAction": "Install",
        **extra,
    }


def put(
    bus: SyncNats,
    profile: str,
    charts: list[dict[str, Any]],
    *,
    generation: int = 1,
    values: dict[str, Any] | None = None,
    **fields: Any,
) -> float:
    """Put the desired state of ``profile``; returns the time just before the put."""
    desired = m.DesiredState(
        cluster=REF,
        profile_name=profile,
        generation=generation,
        helm_charts=[
            m.DesiredChart(chart=c, values=values or {}, hash=f"{c['releaseName']}-{generation}")
            for c in charts
        ],
        **fields,
    )
    started = time.monotonic()
    bus.kv_put(
        streams.DESIRED.bucket,
        subjects.desired_key(REF, profile),
        m.encode(m.envelope(desired)),
    )
    return started


def delete(bus: SyncNats, profile: str) -> float:
    started = time.monotonic()
    bus.kv_delete(streams.DESIRED.bucket, subjects.desired_key(REF, profile))
    return started


def release_of(out: m.ApplyOutcome | None, name: str) -> m.ReleaseOutcome | None:
    return next((r for r in out.releases if r.name == name), None) if out else None


def with_release(
    name: str, status: str, revision: int = 0
) -> Callable[[m.ApplyOutcome | None], bool]:
    def check(out: m.ApplyOutcome | None) -> bool:
        r = release_of(out, name)
        return bool(
            out is not None
            and out.status in ("Provisioned", "Failed", "DryRun")
            and r is not None
            and r.status == status
            and (not revision or r.revision == revision)
        )

    return check


def status(stack: Stack, name: str) -> ReleaseInfo | None:
    return sdk.status(stack.kubeconfig(CLUSTER), ReleaseRef(NAMESPACE, name), cluster="test")


def agent_errors(bus: SyncNats) -> list[str]:
    key = subjects.agent_key(REF)
    items = bus.kv_items(streams.AGENTS, m.AgentStatusEvent, key)
    return list(items[key].data.errors) if key in items else []


def figure(what: str, seconds: float, span: str = "put -> outcome") -> None:
    FIGURES.append(f"helm through the agent: {what}: {seconds * 1000:.0f} ms ({span})")


# -- tests --------------------------------------------------------------------------------------
def test_install_upgrade_and_uninstall_when_the_chart_leaves_the_desired_state(
    stack: Stack, agent: Agent, bus: SyncNats, outcomes: Outcomes, repo: ChartRepository
) -> None:
    profile, name = "helm-life", "life"
    before = agent.rss_mib()
    assert agent.metric("helm_releases") == 0

    started = put(bus, profile, [entry(repo.url, name)])
    seen = outcomes.first(profile, started, with_release(name, "deployed", 1))
    figure("install", seen.at - started)
    FIGURES.append(
        f"agent RSS: {before:.1f} MiB before the first chart, {agent.rss_mib():.1f} MiB after"
    )
    assert seen.outcome is not None and seen.outcome.status == "Provisioned"
    r = release_of(seen.outcome, name)
    assert r is not None
    assert (r.chart_name, r.chart_version, r.app_version, r.action) == (
        "kyverno",
        "2.6.0",
        "v1.8.0",
        "install",
    )
    assert r.hash == f"{name}-1"
    info = status(stack, name)
    assert info is not None and (info.status, info.revision) == ("deployed", 1)
    assert info.owner == profile and info.managed
    assert agent.metric("helm_installs_total") >= 1 and agent.metric("helm_releases") >= 1

    started = put(bus, profile, [entry(repo.url, name)], generation=2, values={"replicaCount": 2})
    seen = outcomes.first(profile, started, with_release(name, "deployed", 2))
    figure("upgrade", seen.at - started)
    r = release_of(seen.outcome, name)
    assert r is not None and r.action == "upgrade" and r.hash == f"{name}-2"
    info = status(stack, name)
    assert info is not None and info.revision == 2 and info.values == {"replicaCount": 2}

    started = put(bus, profile, [], generation=3)  # the chart leaves the desired state
    seen = outcomes.first(profile, started, with_release(name, "uninstalled"))
    figure("uninstall", seen.at - started)
    assert seen.outcome is not None and seen.outcome.status == "Provisioned"
    assert status(stack, name) is None
    assert agent.metric("helm_uninstalls_total") >= 1
    delete(bus, profile)


def test_a_deleted_desired_state_uninstalls_unless_leave_policies(
    stack: Stack, agent: Agent, bus: SyncNats, outcomes: Outcomes, repo: ChartRepository
) -> None:
    for profile, name, leave in (("helm-gone", "gone", False), ("helm-left", "left", True)):
        behavior = "LeavePolicies" if leave else "WithdrawPolicies"
        started = put(bus, profile, [entry(repo.url, name)], stop_matching_behavior=behavior)
        outcomes.first(profile, started, with_release(name, "deployed", 1))
        started = delete(bus, profile)
        outcomes.first(profile, started, lambda out: out is None)  # removed: outcome deleted
        info = status(stack, name)
        if leave:
            assert info is not None and info.status == "deployed", "LeavePolicies: left in place"
        else:
            assert info is None, "uninstalled with its profile"


def test_dry_run_installs_nothing_and_says_what_would_change(
    stack: Stack, agent: Agent, bus: SyncNats, outcomes: Outcomes, repo: ChartRepository
) -> None:
    profile, name = "helm-dry", "dry"
    started = put(bus, profile, [entry(repo.url, name)], sync_mode="DryRun")
    seen = outcomes.first(profile, started, with_release(name, "absent"))
    out = seen.outcome
    assert out is not None and out.status == "DryRun"
    assert out.message.startswith("mode is DryRun. Nothing is reconciled")
    r = release_of(out, name)
    assert r is not None and r.action == "install" and r.revision == 0
    assert r.message.startswith("dry run: would install") and "2 added" in r.message, r.message
    assert f"release {NAMESPACE}/{name}: dry run: would install" in out.message
    assert status(stack, name) is None, "nothing installed"
    assert [s.outcome.status for s in outcomes.seen[profile] if s.outcome] == ["DryRun"], (
        "no write-ahead outcome in a DryRun"
    )
    delete(bus, profile)
    outcomes.first(profile, started, lambda o: o is None)


def test_a_release_of_another_owner_fails_with_the_reason_and_is_not_retried(
    stack: Stack, agent: Agent, bus: SyncNats, outcomes: Outcomes, repo: ChartRepository
) -> None:
    profile, name = "helm-taken", "taken"
    chart = HelmChart.parse(entry(repo.url, name))
    theirs = sdk.install_or_upgrade(
        stack.kubeconfig(CLUSTER), chart, {}, owner="someone-else", cache_dir=agent.cache / "t"
    )
    assert theirs.revision == 1
    failures = agent.metric("helm_failures_total")
    started = put(bus, profile, [entry(repo.url, name)], values={"replicaCount": 3})
    seen = outcomes.first(profile, started, lambda o: o is not None and o.status == "Failed")
    assert seen.outcome is not None
    assert "belongs to 'someone-else', not 'helm-taken'" in seen.outcome.message
    r = release_of(seen.outcome, name)
    assert r is not None and "belongs to 'someone-else'" in r.message and r.conflict
    eventually(
        lambda: any(
            e.startswith(f"profile {profile}: apply/removal failed") and e.endswith("(not retried)")
            for e in agent_errors(bus)
        ),
        what="a terminal failure in the agent's status",
    )
    assert agent.metric("helm_failures_total") == failures + 1
    stays(lambda: agent.metric("helm_failures_total") == failures + 1, 1.0, what="no retry")
    info = status(stack, name)
    assert info is not None and info.owner == "someone-else" and info.revision == 1, "untouched"

    started = delete(bus, profile)  # the profile goes: the release is not its own, left alone
    outcomes.first(profile, started, lambda o: o is None)
    info = status(stack, name)
    assert info is not None and info.owner == "someone-else"
    eventually(
        lambda: not any(e.startswith(f"profile {profile}:") for e in agent_errors(bus)),
        what="the failure gone with the profile",
    )


def test_an_unreachable_repository_is_retried_with_backoff_until_it_serves(
    stack: Stack, agent: Agent, bus: SyncNats, outcomes: Outcomes
) -> None:
    profile, name = "helm-late", "late"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = put(bus, profile, [entry(url, name)])
    seen = outcomes.first(profile, started, lambda o: o is not None and o.status == "Failed")
    assert seen.outcome is not None and url in seen.outcome.message, seen.outcome.message
    retrying = re.compile(rf"^profile {profile}: apply/removal failed: .*\(attempt (\d+), retry in")

    def attempts() -> int:
        found = [retrying.match(e) for e in agent_errors(bus)]
        return max((int(f.group(1)) for f in found if f), default=0)

    eventually(lambda: attempts() >= 2, what="retried with backoff, shown in the agent's status")
    with ChartRepository([KYVERNO_LITE], port=port):
        seen = outcomes.first(profile, started, with_release(name, "deployed", 1))
        info = status(stack, name)
        assert info is not None and info.status == "deployed"
        started = delete(bus, profile)
        outcomes.first(profile, started, lambda o: o is None)
    assert status(stack, name) is None


def test_drifted_release_objects_are_applied_again(
    stack: Stack, agent: Agent, bus: SyncNats, outcomes: Outcomes, repo: ChartRepository
) -> None:
    profile, name = "helm-drift", "drift"
    started = put(bus, profile, [entry(repo.url, name)], sync_mode="ContinuousWithDriftDetection")
    outcomes.first(profile, started, with_release(name, "deployed", 1))
    client = stack.client(CLUSTER)
    obj = f"{name}-kyverno"

    def timeout_value() -> str:
        cm = client.get(CONFIG_MAP, NAMESPACE, obj) or {}
        return str((cm.get("data") or {}).get("webhookTimeoutSeconds", ""))

    assert timeout_value() == "10"
    started = time.monotonic()
    client.merge_patch(CONFIG_MAP, NAMESPACE, obj, {"data": {"webhookTimeoutSeconds": "99"}})
    outcomes.first(profile, started, with_release(name, "deployed", 2))  # forced upgrade
    eventually(lambda: timeout_value() == "10", what="the changed field put back")
    figure("drift repaired", time.monotonic() - started, "patch -> field put back")
    assert client.get(CONFIG_MAP, NAMESPACE, obj) is not None

    started = time.monotonic()
    client.delete(DEPLOYMENT, NAMESPACE, obj)
    seen = outcomes.first(profile, started, with_release(name, "deployed", 3))
    r = release_of(seen.outcome, name)
    assert r is not None and r.action == "upgrade"
    assert eventually(lambda: client.get(DEPLOYMENT, NAMESPACE, obj), what="re-created")
    info = status(stack, name)
    assert info is not None and info.revision == 3
    started = delete(bus, profile)
    outcomes.first(profile, started, lambda o: o is None)
    assert status(stack, name) is None


def stays(probe: Callable[[], bool], seconds: float, *, what: str) -> None:
    """``probe`` holds for ``seconds`` (polled): something that must NOT happen did not."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert probe(), what
        time.sleep(0.05)


def test_the_agent_did_all_this_as_its_own_nats_user(stack: Stack, agent: Agent) -> None:
    log = agent.process.log_path.read_text(errors="replace")
    assert "agent started" in log
    assert "permissions violation" not in log.lower()
