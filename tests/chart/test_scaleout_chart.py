"""charts/ripple's scale-out values: standby replicas of the manager and the reporter through
the lease (docs/failover.md), manager shards (docs/sharding.md), replicated streams on a
clustered NATS (docs/nats-cluster.md). The defaults stay one manager, one reporter, no lease,
no shards and no stream replicas set."""

from __future__ import annotations

from typing import Any

from tests.test_chart import env_of, find, refusal, render


def deployment(docs: list[dict[str, Any]], name: str) -> tuple[int, dict[str, Any]]:
    doc = find(docs, "Deployment", name)
    [main] = doc["spec"]["template"]["spec"]["containers"]
    return doc["spec"]["replicas"], env_of(main)


def test_defaults_run_one_manager_and_one_reporter_without_lease_or_shards() -> None:
    docs = render({})
    for name in ("ripple-manager", "ripple-reporter"):
        replicas, env = deployment(docs, name)
        assert replicas == 1
        assert not {"RIPPLE_LEASE", "RIPPLE_SHARDS", "RIPPLE_STREAM_REPLICAS"} & set(env)


def test_two_replicas_hold_a_lease() -> None:
    docs = render({"manager": {"replicas": 2}, "reporter": {"replicas": 2}})
    for name in ("ripple-manager", "ripple-reporter"):
        replicas, env = deployment(docs, name)
        assert replicas == 2 and env["RIPPLE_LEASE"] == "true"


def test_shards_are_members_named_by_their_pod() -> None:
    replicas, env = deployment(render({"manager": {"shards": 3}}), "ripple-manager")
    assert replicas == 3 and env["RIPPLE_SHARDS"] == "3"
    assert env["RIPPLE_SHARD_ID"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert "RIPPLE_LEASE" not in env


def test_shards_and_standby_replicas_together_are_refused() -> None:
    assert "cannot both be above 1" in refusal({"manager": {"shards": 2, "replicas": 2}})


def test_stream_replicas_for_a_clustered_nats() -> None:
    values = {
        "nats": {"url": "nats://n-0:4222,nats://n-1:4222,nats://n-2:4222"},
        "manager": {"streamReplicas": 3},
    }
    _, env = deployment(render(values), "ripple-manager")
    assert env["RIPPLE_STREAM_REPLICAS"] == "3"
    assert env["RIPPLE_NATS_URL"] == "nats://n-0:4222,nats://n-1:4222,nats://n-2:4222"
    assert "streamReplicas" in refusal({"manager": {"streamReplicas": 7}})
