"""The agent owns what it applies (issue 16, item 6), through a real agent.

Real parts: a secured nats-server and the simulated fleet (:class:`services.scenario.stack.
Stack` without services), one real ``ripple agent`` process as its cluster's NATS user. The
test puts desired states into ``ripple-desired`` itself -- as a forger could while NATS is
unauthenticated -- whose manifests carry no ownership keys, or forged ones (another owner,
the management cluster's managed-by value), one of them a ClusterRoleBinding to
cluster-admin (the object issue 16 could not get rid of).

- every applied object carries the agent's stamp for its profile, whatever the manifest said;
- deleting the desired state prunes all of them, the cluster-admin binding included;
- an object the profile applied that another profile (of a lower tier) took over since (its
  stamp) is left in
  place, and so is one a user re-created with the profile's owner annotations but no
  agent's stamp; the other profile's withdrawal then prunes what it owns.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from services.agent import ownership
from services.scenario.processes import ManagedProcess
from services.scenario.stack import Stack
from shared.api.vocabulary import (
    AGENT_MANAGED_BY_VALUE,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    OWNER_KIND_ANNOTATION,
    OWNER_NAME_ANNOTATION,
)
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.subjects import ClusterRef
from shared.kube import GVK, KubeClient
from tests.integration.helpers import eventually as _eventually
from tests.reliability.helpers import SyncNats

CLUSTER = "default/cluster-own"
REF = ClusterRef(namespace="default", name="cluster-own")
CONFIG_MAP = GVK("v1", "ConfigMap")
BINDING = GVK("rbac.authorization.k8s.io/v1", "ClusterRoleBinding")

eventually = functools.partial(_eventually, timeout=20.0, interval=0.02)


def config_map(name: str, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", **meta},
        "data": {"k": "v"},
    }


def forged(name: str, owner: str) -> dict[str, Any]:
    return config_map(
        name,
        labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE},
        annotations={OWNER_NAME_ANNOTATION: owner, OWNER_KIND_ANNOTATION: "ClusterProfile"},
    )


ADMIN_BINDING: dict[str, Any] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "forged-cluster-admin"},
    "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "cluster-admin",
    },
    "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}],
}


def put(bus: SyncNats, profile: str, manifests: list[dict[str, Any]], tier: int = 100) -> None:
    desired = m.DesiredState(
        cluster=REF,
        profile_name=profile,
        generation=1,
        tier=tier,
        objects=[
            m.DesiredObject(
                manifest=manifest,
                hash=f"sha256:{i}",
                reference=m.ResourceReference(kind="ConfigMap", namespace="x", name="y"),
            )
            for i, manifest in enumerate(manifests)
        ],
    )
    key = subjects.desired_key(REF, profile)
    bus.kv_put(streams.DESIRED.bucket, key, m.encode(m.envelope(desired)))


def withdraw(bus: SyncNats, profile: str) -> None:
    bus.kv_delete(streams.DESIRED.bucket, subjects.desired_key(REF, profile))


def outcome(bus: SyncNats, profile: str) -> m.ApplyOutcome | None:
    key = subjects.outcome_key(REF, profile)
    items = bus.kv_items(streams.OUTCOMES, m.ApplyOutcomeEvent, key)
    return items[key].data if key in items else None


def provisioned(bus: SyncNats, profile: str) -> m.ApplyOutcome:
    def check() -> m.ApplyOutcome | None:
        out = outcome(bus, profile)
        return out if out is not None and out.status == "Provisioned" else None

    found: m.ApplyOutcome = eventually(check, what=f"{profile} provisioned")
    return found


def owner(kube: KubeClient, gvk: GVK, name: str, namespace: str | None = "default") -> str | None:
    live = kube.get(gvk, namespace, name)
    assert live is not None, f"{gvk.kind} {name} is not there"
    return ownership.owner_of(live)


def test_forged_manifests_are_stamped_and_pruned_and_foreign_objects_are_left(
    stack: Stack, agent: ManagedProcess, bus: SyncNats
) -> None:
    kube = stack.client(CLUSTER)
    manifests = [
        config_map("plain"),
        forged("claims-victim", "victim"),
        ADMIN_BINDING,
        config_map("taken-over"),
        config_map("recreated"),
    ]
    started = time.monotonic()
    put(bus, "forged", manifests)
    out = provisioned(bus, "forged")
    applied_in = time.monotonic() - started
    assert len(out.applied) == len(manifests)
    for name in ("plain", "claims-victim", "taken-over", "recreated"):
        assert owner(kube, CONFIG_MAP, name) == "forged", name
    assert owner(kube, BINDING, "forged-cluster-admin", None) == "forged"
    live = kube.get(CONFIG_MAP, "default", "claims-victim")
    assert live["metadata"]["labels"][MANAGED_BY_LABEL] == AGENT_MANAGED_BY_VALUE

    # another profile, of a lower tier (Sveltos: it takes the object over), takes one
    # object over (its manifest claims "forged" as the owner)
    put(bus, "other", [forged("taken-over", "forged")], tier=50)
    provisioned(bus, "other")
    assert owner(kube, CONFIG_MAP, "taken-over") == "other"
    # a user re-creates one with the profile's owner annotations, without an agent's stamp
    kube.delete(CONFIG_MAP, "default", "recreated")
    user_copy = config_map(
        "recreated",
        annotations={OWNER_NAME_ANNOTATION: "forged", OWNER_KIND_ANNOTATION: "ClusterProfile"},
    )
    kube.apply(user_copy, field_manager="user")

    started = time.monotonic()
    withdraw(bus, "forged")
    eventually(lambda: kube.get(BINDING, None, "forged-cluster-admin") is None, what="pruned")
    print(
        f"\nforged desired state: put -> stamped and provisioned {applied_in * 1000:.0f} ms, "
        f"withdrawal -> cluster-admin binding pruned {(time.monotonic() - started) * 1000:.0f} ms"
    )
    eventually(lambda: kube.get(CONFIG_MAP, "default", "plain") is None, what="plain pruned")
    eventually(lambda: outcome(bus, "forged") is None, what="the outcome of forged removed")
    assert kube.get(CONFIG_MAP, "default", "claims-victim") is None
    assert owner(kube, CONFIG_MAP, "taken-over") == "other", "another profile's: left in place"
    assert kube.get(CONFIG_MAP, "default", "recreated") is not None, "never stamped: left"

    withdraw(bus, "other")
    eventually(
        lambda: kube.get(CONFIG_MAP, "default", "taken-over") is None,
        what="the other profile's withdrawal prunes what it owns",
    )
    assert kube.get(CONFIG_MAP, "default", "recreated") is not None
