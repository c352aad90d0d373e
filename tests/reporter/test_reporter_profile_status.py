"""A generated ClusterProfile's status shows what each destination cluster's agent did,
Helm releases included (issue 14).

Real processes and servers (the harness of ``test_reporter_retry``): a ``ripple reporter``
subprocess, a nats-server whose buckets the test provisions as the manager would, and a
cluster of the simulated fleet read with the Kubernetes client. The test writes what the
manager (``ripple-profiles``) and the agents (``ripple-outcomes``) write.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.fleet import FleetThread, start_fleet_thread
from shared.bus.embedded import EmbeddedNats
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.subjects import ClusterRef
from tests.reliability.helpers import eventually
from tests.reporter.test_reporter_retry import CLUSTER, CLUSTER_PROFILE, Harness, new_harness

PROFILE = "sveltos-8d3kq0f1yzt2h6c4r9ax"
DEPLOYED = ClusterRef(namespace="default", name="prod.eu-1", type="capi")
CONFLICTING = ClusterRef(namespace="fleet", name="prod-us-1", type="sveltos")
CONFLICT = (
    "chart kyverno 3.1.1 (release kyverno/kyverno-latest, cluster prod-us-1): the release "
    "exists and is not managed by Ripple (no label ripple.io/managed-by=ripple; installed by "
    "Helm): refusing to take it over"
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetThread]:
    handle = start_fleet_thread([], tmp_path_factory.mktemp("status-fleet"), log_size=200)
    yield handle
    handle.stop()


@pytest.fixture
def harness(fleet: FleetThread, nats_server: EmbeddedNats, tmp_path: Path) -> Iterator[Harness]:
    with new_harness(fleet, nats_server, tmp_path) as h:
        yield h


def outcome(
    cluster: ClusterRef, status: m.ApplyStatus, release: m.ReleaseOutcome
) -> m.ApplyOutcome:
    return m.ApplyOutcome(
        cluster=cluster,
        profile_name=PROFILE,
        generation=2,
        status=status,
        message=release.message,
        applied=[m.AppliedObject(api_version="v1", kind="Namespace", name="kyverno")],
        releases=[release],
    )


DEPLOYED_OUTCOME = outcome(
    DEPLOYED,
    "Provisioned",
    m.ReleaseOutcome(
        namespace="kyverno",
        name="kyverno-latest",
        hash="sha256:4e1d",
        chart_name="kyverno",
        chart_version="3.1.1",
        app_version="v1.11.1",
        revision=1,
        status="deployed",
        action="install",
    ),
)
CONFLICT_OUTCOME = outcome(
    CONFLICTING,
    "Failed",
    m.ReleaseOutcome(
        namespace="kyverno",
        name="kyverno-latest",
        chart_name="kyverno",
        chart_version="3.1.1",
        status="deployed",
        message=CONFLICT,
    ),
)


def put_outcome(harness: Harness, data: m.ApplyOutcome) -> None:
    store = harness.store(streams.OUTCOMES, m.ApplyOutcomeEvent)
    harness.bus.run(store.put(m.envelope(data)))


def delete_outcome(harness: Harness, cluster: ClusterRef) -> None:
    store = harness.store(streams.OUTCOMES, m.ApplyOutcomeEvent)
    harness.bus.run(store.delete(subjects.outcome_key(cluster, PROFILE)))


def put_profile(harness: Harness) -> None:
    cluster_profile = {
        "apiVersion": CLUSTER_PROFILE.api_version,
        "kind": "ClusterProfile",
        "metadata": {"name": PROFILE},
        "spec": {  # a valid Sveltos HelmChart (the CRD requires these fields)
            "helmCharts": [
                {
                    "repositoryURL": "https://kyverno.github.io/kyverno/",
                    "repositoryName": "kyverno",
                    "chartName": "kyverno/kyverno",
                    "chartVersion": "3.1.1",
                    "releaseName": "kyverno-latest",
                    "releaseNamespace": "kyverno",
                }
            ]
        },
    }
    harness.put(
        m.ProfileState(
            cluster=CLUSTER, profile_name=PROFILE, trigger="t", cluster_profile=cluster_profile
        )
    )


def status(harness: Harness) -> dict[str, Any]:
    obj = harness.kube.get(CLUSTER_PROFILE, None, PROFILE) or {}
    return dict(obj.get("status") or {})


def listed(harness: Harness) -> list[tuple[str, str]]:
    return [(c["cluster"]["name"], c["status"]) for c in status(harness).get("clusters", [])]


def test_the_cluster_profile_status_shows_each_destination_and_its_releases(
    harness: Harness,
) -> None:
    harness.start(flags=("--write-delay", "0.1"))
    put_outcome(harness, DEPLOYED_OUTCOME)  # before the ClusterProfile exists: it waits
    eventually(lambda: harness.metric("status_waiting_total") >= 1, what="status waits")
    assert harness.kube.get(CLUSTER_PROFILE, None, PROFILE) is None

    put_profile(harness)  # written, then its status
    assert eventually(lambda: listed(harness), what="status written") == [
        ("prod.eu-1", "Provisioned")
    ]
    put_outcome(harness, CONFLICT_OUTCOME)
    expected = [("prod.eu-1", "Provisioned"), ("prod-us-1", "Failed")]
    eventually(lambda: listed(harness) == expected, what="both destinations")

    current = status(harness)
    assert current["matchingClusters"] == [
        {
            "apiVersion": "cluster.x-k8s.io/v1beta1",
            "kind": "Cluster",
            "namespace": "default",
            "name": "prod.eu-1",
        },
        {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "SveltosCluster",
            "namespace": "fleet",
            "name": "prod-us-1",
        },
    ]
    deployed, failed = current["clusters"]
    assert (deployed["generation"], deployed["objects"]) == (2, 1)
    assert deployed["helmReleaseSummaries"] == [
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
    ]
    assert failed["failureMessage"] == CONFLICT
    (summary,) = failed["helmReleaseSummaries"]
    assert (summary["status"], summary["conflictMessage"]) == ("Conflict", CONFLICT)
    assert current["clusterCounts"] == {"Failed": 1, "Provisioned": 1}
    assert "omittedClusters" not in current

    delete_outcome(harness, DEPLOYED)  # the profile was removed from that cluster
    eventually(lambda: listed(harness) == [("prod-us-1", "Failed")], what="entry removed")
    assert [c["name"] for c in status(harness)["matchingClusters"]] == ["prod-us-1"]
    delete_outcome(harness, CONFLICTING)
    eventually(lambda: status(harness) == {}, what="no destination: no status")
    assert harness.metric("status_failures_total") == 0
    assert harness.metric("failing_keys") == 0


def test_unreadable_outcomes_are_unknown_and_a_restart_converges(harness: Harness) -> None:
    """An outcome that cannot be read keeps the entry read before; a reporter started
    afterwards never read it: ``Unknown``. What changed while it was down is corrected."""
    harness.start(flags=("--write-delay", "0.1"))
    put_profile(harness)
    put_outcome(harness, DEPLOYED_OUTCOME)
    put_outcome(harness, CONFLICT_OUTCOME)
    expected = [("prod.eu-1", "Provisioned"), ("prod-us-1", "Failed")]
    eventually(lambda: listed(harness) == expected, what="both destinations")

    key = subjects.outcome_key(CONFLICTING, PROFILE)
    harness.bus.kv_put(streams.OUTCOMES.bucket, key, b"not json")
    put_outcome(harness, DEPLOYED_OUTCOME.model_copy(update={"generation": 3}))
    eventually(lambda: status(harness)["clusters"][0]["generation"] == 3, what="generation 3")
    assert listed(harness) == expected  # the unreadable one kept its entry

    harness.stop()
    delete_outcome(harness, DEPLOYED)  # while the reporter is down
    harness.start(flags=("--write-delay", "0.1"))
    eventually(lambda: listed(harness) == [("prod-us-1", "Unknown")], what="converged")
    assert "cannot be read" in status(harness)["clusters"][0]["failureMessage"]
