"""A generated ClusterProfile's status from the apply outcomes of its destinations (pure)."""

from __future__ import annotations

import json
from typing import Any

from services.reporter.profilestatus import (
    MAX_CLUSTERS,
    MESSAGE_BYTES,
    STATUS_FIELDS,
    ClusterOutcome,
    ProfileOutcomes,
    ReleaseSummary,
    is_conflict,
    profile_status,
    truncate,
)
from shared.api.vocabulary import CAPI_CLUSTER, SVELTOS_CLUSTER, ClusterKey
from shared.contract import messages as m
from shared.contract.subjects import ClusterRef
from shared.helm import errors as helm_errors
from shared.helm.releases import OWNER_LABEL, ReleaseInfo, ownership_problem

PROFILE = "sveltos-8d3kq0f1yzt2h6c4r9ax"
EU = ClusterRef(namespace="default", name="prod.eu-1", type="capi")
US = ClusterRef(namespace="default", name="prod.us-1", type="sveltos")
CONFLICT = (
    "chart kyverno 3.1.1 (release kyverno/kyverno-latest, cluster prod.us-1): the release "
    "exists and is not managed by Ripple (no label ripple.io/managed-by=ripple; installed by "
    "Helm): refusing to take it over"
)


def release(**fields: Any) -> m.ReleaseOutcome:
    base: dict[str, Any] = {
        "namespace": "kyverno",
        "name": "kyverno-latest",
        "hash": "sha256:4e1d",
        "chart_name": "kyverno",
        "chart_version": "3.1.1",
        "app_version": "v1.11.1",
        "revision": 1,
        "status": "deployed",
        "action": "install",
    }
    return m.ReleaseOutcome(**{**base, **fields})


def outcome(
    cluster: ClusterRef,
    status: m.ApplyStatus = "Provisioned",
    message: str = "",
    releases: tuple[m.ReleaseOutcome, ...] = (),
    objects: int = 1,
) -> ClusterOutcome:
    applied = [
        m.AppliedObject(api_version="v1", kind="ConfigMap", namespace="shop", name=f"o{i}")
        for i in range(objects)
    ]
    return ClusterOutcome.of(
        m.ApplyOutcome(
            cluster=cluster,
            profile_name=PROFILE,
            generation=3,
            status=status,
            message=message,
            applied=applied,
            releases=list(releases),
        )
    )


def test_the_status_shows_each_destination_and_its_helm_releases() -> None:
    deployed = outcome(EU, releases=(release(),), objects=2)
    failed = outcome(
        US,
        "Failed",
        message=CONFLICT,
        releases=(release(status="", action="", revision=0, message=CONFLICT, hash=""),),
        objects=0,
    )
    status = profile_status([failed, deployed])  # sorted by cluster, whatever the order
    eu_ref = {
        "apiVersion": CAPI_CLUSTER.api_version,
        "kind": CAPI_CLUSTER.kind,
        "namespace": "default",
        "name": "prod.eu-1",
    }
    us_ref = {
        "apiVersion": SVELTOS_CLUSTER.api_version,
        "kind": SVELTOS_CLUSTER.kind,
        "namespace": "default",
        "name": "prod.us-1",
    }
    assert status == {
        "matchingClusters": [eu_ref, us_ref],
        "clusters": [
            {
                "cluster": eu_ref,
                "status": "Provisioned",
                "generation": 3,
                "objects": 2,
                "helmReleaseSummaries": [
                    {
                        "releaseName": "kyverno-latest",
                        "releaseNamespace": "kyverno",
                        "status": "Managing",
                        "chartName": "kyverno",
                        "chartVersion": "3.1.1",
                        "appVersion": "v1.11.1",
                        "revision": 1,
                        "releaseStatus": "deployed",
                        "action": "install",
                    }
                ],
            },
            {
                "cluster": us_ref,
                "status": "Failed",
                "generation": 3,
                "objects": 0,
                "failureMessage": CONFLICT,
                "helmReleaseSummaries": [
                    {
                        "releaseName": "kyverno-latest",
                        "releaseNamespace": "kyverno",
                        "status": "Conflict",
                        "conflictMessage": CONFLICT,
                        "chartName": "kyverno",
                        "chartVersion": "3.1.1",
                        "appVersion": "v1.11.1",
                    }
                ],
            },
        ],
        "clusterCounts": {"Failed": 1, "Provisioned": 1},
        "omittedClusters": None,
    }
    assert set(status) == set(STATUS_FIELDS)


def test_a_failed_release_and_a_dry_run_message() -> None:
    failed = release(status="failed", action="upgrade", revision=2, message="timed out")
    dry = release(name="other", status="deployed", action="none", message="would upgrade")
    status = profile_status(
        [outcome(EU, "Failed", "timed out", (failed,)), outcome(US, releases=(dry,))]
    )
    eu, us = status["clusters"]
    summary = eu["helmReleaseSummaries"][0]
    assert (summary["status"], summary["failureMessage"]) == ("Failed", "timed out")
    assert summary["releaseStatus"] == "failed" and "conflictMessage" not in summary
    summary = us["helmReleaseSummaries"][0]
    assert (summary["status"], summary["message"]) == ("Managing", "would upgrade")
    assert "failureMessage" not in us


def test_the_conflict_wording_is_the_helm_adapters() -> None:
    """What shared.helm raises for a release of another owner reads as a Conflict."""
    where = helm_errors.Where("kyverno", "3.1.1", "kyverno-latest", "kyverno", "c1")
    info = ReleaseInfo("kyverno-latest", "kyverno", 1, "deployed", "kyverno", "3.1.1", "", "")
    foreign = helm_errors.ReleaseConflict(ownership_problem(info, "sveltos-p1"), where)
    mine = ReleaseInfo(**{**vars(info), "labels": {"ripple.io/managed-by": "ripple"}})
    mine = ReleaseInfo(**{**vars(mine), "labels": {**mine.labels, OWNER_LABEL: "sveltos-p2"}})
    other_owner = helm_errors.ReleaseConflict(ownership_problem(mine, "sveltos-p1"), where)
    helm_own = "Unable to continue with install: ServiceAccount x exists and cannot be imported"
    for message in (str(foreign), str(other_owner), helm_own, "invalid ownership metadata"):
        assert is_conflict(message), message
    assert not is_conflict("chart kyverno 9.9.9: version not found in http://charts")


def test_a_release_the_agent_marks_as_a_conflict_is_one_whatever_its_message() -> None:
    marked = outcome(EU, "Failed", "x", (release(message="held elsewhere", conflict=True),))
    [summary] = profile_status([marked])["clusters"][0]["helmReleaseSummaries"]
    assert summary["status"] == "Conflict" and summary["conflictMessage"] == "held elsewhere"


def test_messages_are_truncated() -> None:
    long = "é" * 3000  # two bytes each: never cut inside a character
    cut = truncate(long)
    assert len(cut.encode()) <= MESSAGE_BYTES and cut.endswith("[truncated: 6000 bytes]")
    assert truncate("short") == "short"
    summary = outcome(EU, "Failed", long, (release(message=long, status="failed"),))
    entry = profile_status([summary])["clusters"][0]
    assert len(entry["failureMessage"].encode()) <= MESSAGE_BYTES
    assert len(entry["helmReleaseSummaries"][0]["failureMessage"].encode()) <= MESSAGE_BYTES


def test_thousands_of_clusters_stay_bounded_and_failures_are_listed_first() -> None:
    keys = [ClusterKey("fleet", f"c{i:05d}") for i in range(5000)]
    deployed = (ReleaseSummary.of(release()),)
    outcomes = [ClusterOutcome(k, "Provisioned", 3, "", 1, deployed) for k in keys]
    failing = (ReleaseSummary.of(release(message="y" * 5000, status="failed")),)
    outcomes[4321] = ClusterOutcome(keys[4321], "Failed", 3, truncate("x" * 5000), 0, failing)
    status = profile_status(outcomes)
    assert len(status["clusters"]) == len(status["matchingClusters"]) == MAX_CLUSTERS
    assert status["omittedClusters"] == 5000 - MAX_CLUSTERS
    assert status["clusterCounts"] == {"Failed": 1, "Provisioned": 4999}
    names = [c["name"] for c in status["matchingClusters"]]
    assert "c04321" in names and names == sorted(names)
    assert len(json.dumps(status)) < 600 * 1024

    many = tuple(  # each destination with many failed releases: the byte budget stops the list
        ReleaseSummary.of(release(name=f"r{j}", message="y" * 2000, status="failed"))
        for j in range(5)
    )
    heavy = [ClusterOutcome(k, "Failed", 3, truncate("x" * 2000), 0, many) for k in keys[:300]]
    status = profile_status(heavy, budget=256 * 1024)
    assert len(json.dumps(status, separators=(",", ":"))) <= 256 * 1024
    assert 0 < len(status["clusters"]) < 300
    assert status["omittedClusters"] == 300 - len(status["clusters"])


def test_no_outcome_no_status() -> None:
    assert profile_status([]) == dict.fromkeys(STATUS_FIELDS)


def test_an_unreadable_outcome_keeps_the_entry_read_before() -> None:
    outcomes = ProfileOutcomes()
    outcomes.put(PROFILE, outcome(EU))
    eu, us = EU.key, US.key
    taken = outcomes.take(PROFILE, unreadable=[eu, us])  # EU read before, US never
    by_cluster = {o.cluster: o for o in taken}
    assert by_cluster[eu].status == "Provisioned"
    assert by_cluster[us].status == "Unknown"
    entry = profile_status(taken)["clusters"][1]
    assert entry["status"] == "Unknown" and "cannot be read" in entry["failureMessage"]
    assert "generation" not in entry

    assert outcomes.delete(PROFILE, eu) and len(outcomes) == 0
    assert outcomes.profiles() == []  # an empty profile is forgotten
    assert not outcomes.delete(PROFILE, eu)
    assert outcomes.take(PROFILE) == []


def test_a_cluster_key_is_the_registration_kind() -> None:
    assert ClusterOutcome.of(
        m.ApplyOutcome(cluster=EU, profile_name=PROFILE, generation=1, status="Provisioning")
    ).cluster == ClusterKey("default", "prod.eu-1", "capi")
