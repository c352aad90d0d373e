"""The reporter's writes are retried until they succeed (issue 12).

Real processes and servers: a ``ripple reporter`` subprocess (with ``--metrics-port``), a
nats-server whose buckets the test provisions as the manager would, and a cluster of the
simulated fleet (real HTTPS, Sveltos CRDs installed) whose fault hook (``POST
/_fleet/faults``) makes the reporter's requests fail. Every wait polls with a deadline.
"""

from __future__ import annotations

import itertools
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from services.fleet import FleetThread, start_fleet_thread
from services.scenario.processes import ManagedProcess, free_port, ripple_command, wait_ready
from services.scenario.provision import install_sveltos_crds
from shared.api.vocabulary import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from shared.bus import provision
from shared.bus.embedded import EmbeddedNats
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.subjects import ClusterRef
from shared.kube import GVK, KubeClient
from tests.reliability.helpers import SyncNats, eventually, stays

EVENT_REPORT = GVK("lib.projectsveltos.io/v1beta1", "EventReport")
EVENT_TRIGGER = GVK("lib.projectsveltos.io/v1beta1", "EventTrigger")
CLUSTER_PROFILE = GVK("config.projectsveltos.io/v1beta1", "ClusterProfile")
CONFIG_MAP = GVK("v1", "ConfigMap")
CLUSTER = ClusterRef(namespace="default", name="c1", type="sveltos")
REPORTS_PATH = r"/apis/lib\.projectsveltos\.io/v1beta1/(namespaces/[^/]+/)?eventreports"
#: a deadline after a fault clears: the next retry may be up to the backoff cap (60 s) away
#: when a loaded machine let many attempts fail first (it is a fraction of a second otherwise)
AFTER_BACKOFF = 70.0
_names = itertools.count()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetThread]:
    handle = start_fleet_thread([], tmp_path_factory.mktemp("reporter-fleet"), log_size=200)
    yield handle
    handle.stop()


@dataclass(frozen=True)
class MatchingSet:
    """What an agent publishes for one EventSource: an entry per object, then the head."""

    source: str
    services: tuple[str, ...]
    complete: bool = True
    collect: bool = False
    pad: int = 0

    def objects(self) -> list[dict[str, Any]]:
        return [service_object(s, self.pad) for s in self.services]


def matching_set(source: str, *services: str, complete: bool = True) -> MatchingSet:
    return MatchingSet(source, services, complete)


def service_object(name: str, pad: int = 0) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
    }
    if pad:
        obj["metadata"]["annotations"] = {"pad": "x" * pad}
    return obj


def report_name(source: str) -> str:
    return f"sveltos--{source}--{CLUSTER.name}"


@dataclass
class Harness:
    """One management cluster, one nats-server, one reporter process."""

    fleet: FleetThread
    cluster: str
    kube: KubeClient
    bus: SyncNats
    state: Path
    bus_url: str
    reporter: ManagedProcess | None = None
    metrics_url: str = ""
    stores: dict[str, Any] = field(default_factory=dict)
    provisioned: bool = False
    #: the entries published per EventSource (what the next set replaces)
    entries: dict[str, set[str]] = field(default_factory=dict)
    generation: int = 0

    def provision(self) -> None:
        """Create the buckets, as the manager does (the reporter only waits for them)."""
        if not self.provisioned:
            self.bus.run(provision.ensure(self.bus.js, "memory"))
            self.provisioned = True

    # -- the reporter ----------------------------------------------------------------------
    def start(self, *, wait: bool = True, flags: tuple[str, ...] = ()) -> None:
        port = free_port()
        self.metrics_url = f"http://127.0.0.1:{port}/metrics"
        argv = ripple_command(
            "reporter",
            "--kubeconfig",
            str(self.fleet.kubeconfig(self.cluster)),
            "--nats",
            self.bus_url,
            "--ready-file",
            str(self.state / "ready"),
            "--metrics-port",
            str(port),
            *flags,
        )
        self.reporter = ManagedProcess(
            "reporter", argv, self.state / "reporter.log", ready_file=self.state / "ready"
        ).start()
        if wait:
            self.provision()
            wait_ready([self.reporter], 60)

    def readyz(self) -> tuple[int, dict[str, Any]] | None:
        """``/readyz``: (status, body), or None while nothing answers."""
        url = self.metrics_url.replace("/metrics", "/readyz")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            with err:
                return err.code, json.loads(err.read())
        except OSError:
            return None

    def stop(self) -> None:
        if self.reporter is not None:
            self.reporter.stop()

    def log(self) -> str:
        return (self.state / "reporter.log").read_text(errors="replace")

    def metrics(self) -> dict[str, float]:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as resp:
            text = resp.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def metric(self, name: str) -> float:
        return self.metrics()[f"ripple_reporter_{name}"]

    # -- NATS, as the agents and the manager write it --------------------------------------
    def store(self, spec: streams.BucketSpec, expected: Any) -> Any:
        self.provision()
        if spec.bucket not in self.stores:
            self.stores[spec.bucket] = self.bus.run(KVStore.open(self.bus.js, spec, expected))
        return self.stores[spec.bucket]

    def matches(self) -> Any:
        return self.store(streams.MATCHES, (m.MatchEvent, m.MatchHeadEvent))

    def put(self, payload: MatchingSet | m.ProfileState | m.DefinitionStatus) -> None:
        spec: streams.BucketSpec
        cls: type[m.Envelope]
        if isinstance(payload, MatchingSet):
            self.publish(payload)
            return
        if isinstance(payload, m.ProfileState):
            spec, cls = streams.PROFILES, m.ProfileEvent
        else:
            spec, cls = streams.STATUS, m.DefinitionStatusEvent
        self.bus.run(self.store(spec, cls).put(m.envelope(payload)))

    def publish(self, mset: MatchingSet) -> None:
        """As the agent does: the entries that changed, then the head that covers them."""
        self.bus.run(self._publish(self.matches(), mset))

    async def _publish(self, store: Any, mset: MatchingSet) -> None:
        before = self.entries.get(mset.source, set())
        for obj in mset.objects():
            match = m.Match(
                cluster=CLUSTER,
                event_source_name=mset.source,
                ref=m.ObjectRef.of(obj),
                object=obj if mset.collect else None,
                agent_instance="test",
            )
            await store.put(m.envelope(match))
        for name in sorted(before - set(mset.services)):
            ref = m.ObjectRef.of(service_object(name))
            await store.delete(subjects.match_key(CLUSTER, mset.source, ref.key))
        self.entries[mset.source] = set(mset.services)
        self.generation += 1
        head = m.MatchHead(
            cluster=CLUSTER,
            event_source_name=mset.source,
            agent_instance="test",
            generation=self.generation,
            complete=mset.complete,
        )
        await store.put(m.envelope(head))

    def delete_report(self, source: str) -> None:
        """As the agent does when the EventSource is unassigned: the head, then the entries."""
        store = self.matches()

        async def withdraw() -> None:
            await store.delete(subjects.match_head_key(CLUSTER, source))
            for name in sorted(self.entries.pop(source, set())):
                ref = m.ObjectRef.of(service_object(name))
                await store.delete(subjects.match_key(CLUSTER, source, ref.key))

        self.bus.run(withdraw())

    # -- the management cluster ------------------------------------------------------------
    def fault(self, path: str, status: int, method: str, count: int | None = None) -> None:
        self.fleet.inject_fault(
            path, cluster=self.cluster, method=method, status=status, count=count
        )

    def report(self, source: str) -> dict[str, Any] | None:
        return self.kube.get(EVENT_REPORT, "default", report_name(source))

    def matching(self, source: str) -> set[str] | None:
        obj = self.report(source)
        if obj is None:
            return None
        return {r["name"] for r in obj["spec"].get("matchingResources") or []}


@pytest.fixture
def harness(fleet: FleetThread, nats_server: EmbeddedNats, tmp_path: Path) -> Iterator[Harness]:
    with new_harness(fleet, nats_server, tmp_path) as h:
        yield h


@contextmanager
def new_harness(fleet: FleetThread, nats_server: EmbeddedNats, tmp_path: Path) -> Iterator[Harness]:
    """A management cluster of ``fleet`` with the Sveltos CRDs, and a reporter to start."""
    name = f"rep{next(_names)}-{os.getpid() % 1000}"
    kubeconfig = fleet.add_cluster(name)
    kube = KubeClient(str(kubeconfig), name=name)
    install_sveltos_crds(kube, 30)
    bus = SyncNats(nats_server.url)
    h = Harness(fleet, name, kube, bus, tmp_path, nats_server.url)
    try:
        yield h
    finally:
        h.stop()
        fleet.clear_faults()
        bus.close()
        kube.close()
        fleet.remove_cluster(name)


def test_the_reporter_waits_for_the_buckets_the_manager_provisions(harness: Harness) -> None:
    harness.start(wait=False)

    def waiting() -> str:
        answer = harness.readyz()
        reason = str(answer[1].get("reason", "")) if answer and answer[0] == 503 else ""
        return reason if "waiting for bucket" in reason else ""

    assert "ripple-matches" in eventually(waiting, 30, what="/readyz: waiting for a bucket")
    assert harness.reporter is not None and not harness.reporter.is_ready()

    harness.provision()
    wait_ready([harness.reporter], 60)
    assert harness.readyz() == (200, {"status": "ready"})


def processed(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """The report once its status says Processed (else None)."""
    phase = ((report or {}).get("status") or {}).get("phase")
    return report if phase == "Processed" else None


def test_an_event_report_refused_with_503_appears_once_the_fault_clears(harness: Harness) -> None:
    harness.start()
    harness.fault(REPORTS_PATH, 503, "PATCH")
    harness.put(matching_set("web", "a", "b"))
    eventually(lambda: harness.metric("write_failures_total") >= 3, what="failed writes retried")
    assert harness.report("web") is None
    assert harness.metric("failing_keys") == 1
    assert harness.metric("workqueue_objects_retries_total") >= 3
    assert f"EventReport/default/{report_name('web')}" in harness.log()  # logged with the object

    harness.fleet.clear_faults()  # nothing else changes: the retry alone writes it
    found = eventually(lambda: harness.matching("web"), AFTER_BACKOFF, what="EventReport")
    assert found == {"a", "b"}
    # the status is its own write, after the spec's: wait for it rather than race it
    report = eventually(lambda: processed(harness.report("web")), what="status Processed")
    assert report is not None and report["metadata"]["labels"][MANAGED_BY_LABEL] == MANAGED_BY_VALUE
    eventually(lambda: harness.metric("failing_keys") == 0, what="failure forgotten")
    assert harness.metric("retries_total") >= 3


def test_an_event_report_refused_as_invalid_is_not_retried_until_it_changes(
    harness: Harness,
) -> None:
    harness.start()
    harness.fault(REPORTS_PATH, 422, "PATCH", count=1)
    harness.put(matching_set("bad", "a"))
    eventually(lambda: harness.metric("terminal_keys") == 1, what="terminal failure shown")
    stays(lambda: harness.metric("retries_total") == 0, 500, what="no retry")
    assert harness.report("bad") is None
    assert f"[EventReport/default/{report_name('bad')}]" in harness.log()

    harness.put(matching_set("bad", "a", "b"))  # new content: worth another try
    assert eventually(lambda: harness.matching("bad"), what="EventReport") == {"a", "b"}
    eventually(lambda: harness.metric("terminal_keys") == 0, what="terminal failure cleared")


def test_a_withdrawn_report_is_deleted_once_deletes_succeed_again(harness: Harness) -> None:
    harness.start()
    harness.put(matching_set("gone", "a"))
    eventually(lambda: harness.report("gone"), what="EventReport written")
    harness.fault(REPORTS_PATH, 500, "DELETE")
    harness.delete_report("gone")
    eventually(lambda: harness.metric("write_failures_total") >= 2, what="failed deletes")
    assert harness.report("gone") is not None
    harness.fleet.clear_faults()
    eventually(lambda: harness.report("gone") is None, AFTER_BACKOFF, what="deleted")
    assert harness.metric("deletes_total") == 1


LIB_DISCOVERY = r"^/apis/lib\.projectsveltos\.io/v1beta1$"


@pytest.mark.parametrize(
    ("path", "status"),
    [(REPORTS_PATH + "$", 503), (LIB_DISCOVERY, 503), (LIB_DISCOVERY, 404)],
    ids=["list-503", "discovery-503", "discovery-404"],
)
def test_the_orphan_sweep_waits_for_positive_knowledge(
    harness: Harness, path: str, status: int
) -> None:
    """Objects labelled managed-by ripple whose NATS value is gone are deleted after the
    first sync, but only on positive knowledge: a failing list, or a failing discovery (a
    404 for a group/version the group list names included), is retried, never read as
    "nothing there"; incomplete and unreadable values hold their EventReport."""
    for source in ("orphan", "kept", "incomplete", "unreadable"):
        harness.kube.apply(
            {
                "apiVersion": EVENT_REPORT.api_version,
                "kind": "EventReport",
                "metadata": {
                    "name": report_name(source),
                    "namespace": "default",
                    "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE},
                },
                "spec": {"eventSourceName": source},
            }
        )
    harness.kube.apply(
        {
            "apiVersion": EVENT_REPORT.api_version,
            "kind": "EventReport",
            "metadata": {"name": "someone-elses", "namespace": "default"},
        }
    )
    harness.put(matching_set("kept", "a"))
    harness.put(matching_set("incomplete", complete=False))
    harness.bus.kv_put(
        streams.MATCHES.bucket, subjects.match_head_key(CLUSTER, "unreadable"), b"not json"
    )
    harness.fault(path, status, "GET")  # the reporter's discovery cache starts empty

    harness.start()  # ready: the buckets were read, the sweep still fails
    eventually(lambda: harness.metric("sweep_failures_total") >= 2, what="sweep retried")
    assert harness.report("orphan") is not None

    harness.fleet.clear_faults()
    eventually(lambda: harness.report("orphan") is None, AFTER_BACKOFF, what="orphan deleted")
    eventually(lambda: harness.metric("sweeps_total") == 3, what="all kinds swept")
    eventually(lambda: harness.matching("kept") == {"a"}, AFTER_BACKOFF, what="kept written")
    assert harness.report("incomplete") is not None
    assert harness.report("unreadable") is not None
    assert harness.kube.get(EVENT_REPORT, "default", "someone-elses") is not None
    assert harness.metric("orphans_total") == 1


def test_definition_status_is_retried_and_a_deleted_definition_is_no_failure(
    harness: Harness,
) -> None:
    harness.kube.apply(
        {
            "apiVersion": EVENT_TRIGGER.api_version,
            "kind": "EventTrigger",
            "metadata": {"name": "present"},
            "spec": {"eventSourceName": "web", "sourceClusterSelector": {}},
        }
    )
    harness.start()
    harness.fault(r"/eventtriggers/present/status$", 503, "PATCH", count=3)
    harness.put(m.DefinitionStatus(kind="EventTrigger", name="present", failure_message="bad"))
    harness.put(m.DefinitionStatus(kind="EventTrigger", name="deleted", failure_message="x"))

    def failure_message() -> str | None:
        obj = harness.kube.get(EVENT_TRIGGER, None, "present") or {}
        return (obj.get("status") or {}).get("failureMessage")

    assert eventually(failure_message, what="status written") == "bad"
    eventually(lambda: harness.metric("status_gone_total") == 1, what="404 is success")
    assert harness.metric("status_failures_total") == 3
    assert harness.metric("failing_keys") == 0


def test_profiles_and_their_configmaps_are_written_through_failures(harness: Harness) -> None:
    harness.start()
    harness.fault(r"/configmaps/", 503, "PATCH", count=3)
    harness.fault(r"/clusterprofiles/", 500, "PATCH", count=2)
    profile = {
        "apiVersion": CLUSTER_PROFILE.api_version,
        "kind": "ClusterProfile",
        "metadata": {"name": "sveltos-p1"},
        "spec": {  # a valid policyRef (the CRD requires its name)
            "policyRefs": [
                {"kind": "ConfigMap", "namespace": "projectsveltos", "name": "sveltos-cm1"}
            ]
        },
    }
    generated = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "sveltos-cm1", "namespace": "projectsveltos"},
        "data": {"policy.yaml": "kind: NetworkPolicy"},
    }
    harness.put(
        m.ProfileState(
            cluster=CLUSTER,
            profile_name="sveltos-p1",
            trigger="t",
            cluster_profile=profile,
            instantiated=[generated],
        )
    )
    eventually(lambda: harness.kube.get(CLUSTER_PROFILE, None, "sveltos-p1"), what="profile")
    copy = eventually(
        lambda: harness.kube.get(CONFIG_MAP, "projectsveltos", "sveltos-cm1"), what="ConfigMap"
    )
    assert copy is not None and copy["data"] == generated["data"]
    assert harness.metric("write_failures_total") >= 5
    eventually(lambda: harness.metric("failing_keys") == 0, what="no failing key")


def test_many_changes_of_a_report_are_few_writes(harness: Harness) -> None:
    """An EventSource whose set grows one object at a time (an entry and a head each) is
    written once per write delay, not once per change; the last write has every object."""
    harness.start()
    names = [f"s{i:02d}" for i in range(40)]
    for count in range(1, len(names) + 1):
        harness.put(matching_set("busy", *names[:count]))
    assert eventually(lambda: harness.matching("busy") == set(names), what="all 40 listed")
    # the server holds the write before the reporter counts it: wait until nothing is pending
    eventually(lambda: harness.metric("pending_writes") == 0, what="no write pending")
    writes = harness.metric("writes_total")
    assert writes < 15, writes  # 80 changes; each write covers at least one second of them
    assert harness.metric("coalesced_total") > 0
    assert (harness.metric("matching_sets"), harness.metric("matching_entries")) == (1, 40)

    harness.put(matching_set("busy", *names))  # the same set again: nothing to write
    eventually(lambda: harness.metric("writes_skipped_total") >= 1, what="identical skipped")
    assert harness.metric("writes_total") == writes


def test_a_report_status_is_patched_only_when_the_server_does_not_hold_it(
    harness: Harness,
) -> None:
    """Every write of an EventReport answers with the object, status included: once it says
    Processed, the next writes of the report are one request each, not two."""
    harness.start()
    status = f"eventreports/{report_name('grow')}/status"
    for count in range(1, 4):
        harness.put(matching_set("grow", *(f"s{i}" for i in range(count))))
        eventually(lambda n=count: len(harness.matching("grow") or ()) == n, what=f"{count} listed")
    eventually(lambda: harness.metric("status_patches_skipped_total") >= 2, what="2 skipped")
    patches = [r for r in harness.fleet.requests(harness.cluster) if status in r["path"]]
    assert len(patches) == 1, patches
    report = harness.report("grow")
    assert report is not None and report["status"]["phase"] == "Processed"


def test_a_report_over_the_size_budget_is_written_without_its_objects(harness: Harness) -> None:
    """300 collected objects of ~600 bytes do not fit a 64 KiB budget: the references are
    written, the objects are not, and the status says where they are."""
    harness.start(flags=("--report-budget", "65536", "--write-delay", "0.2"))
    names = tuple(f"big-{i:03d}" for i in range(300))
    harness.put(MatchingSet("big", names, collect=True, pad=600))
    assert eventually(lambda: harness.matching("big"), what="EventReport") == set(names)
    report = harness.report("big")
    assert report is not None and "resources" not in report["spec"]

    def failure() -> str:  # the status is its own write (status subresource), just after
        current = harness.report("big") or {}
        return str((current.get("status") or {}).get("failureMessage") or "")

    message = eventually(failure, what="the status says why")
    assert "spec.resources not written: the 300 collected objects" in message
    assert "NATS KV ripple-matches" in message

    small = MatchingSet("big", names[:3], collect=True, pad=600)  # fits again: all written
    harness.put(small)
    eventually(lambda: harness.matching("big") == set(names[:3]), what="three listed")
    report = harness.report("big")
    assert report is not None and report["spec"].get("resources")
    # the status is its own write, after the spec's: the message goes once that lands
    eventually(lambda: not failure(), what="the status no longer says the objects are left out")
