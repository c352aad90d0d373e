"""The agent owns what it applies (issue 16, item 6): every object is applied with the
agent's own stamp (owner profile and kind, ``ripple.io/managed-by: ripple-agent``) whatever
its manifest says, and pruning decides from the live object's stamp only.

The stamp itself is pure (:mod:`services.agent.ownership`); the :class:`Applier` runs against
a real simulated cluster (the fleet in a thread, the official client)."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from services.agent import ownership
from services.agent.applying import Applier
from services.agent.planning import ApplyOptions
from shared.api.vocabulary import (
    AGENT_MANAGED_BY_VALUE,
    HASH_ANNOTATION,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    OWNER_KIND_ANNOTATION,
    OWNER_NAME_ANNOTATION,
    REFERENCE_KIND_KEY,
    REFERENCE_NAME_KEY,
)
from shared.kube import GVK, KubeClient
from shared.kube.client import ObjectKey, object_key

CONFIG_MAP = GVK("v1", "ConfigMap")
BINDING = GVK("rbac.authorization.k8s.io/v1", "ClusterRoleBinding")
_clusters = itertools.count()


def config_map(name: str, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", **meta},
        "data": {"k": "v"},
    }


def forged(name: str, owner: str) -> dict[str, Any]:
    """A manifest claiming another owner, and Ripple's managed-by value of the management
    cluster."""
    return config_map(
        name,
        labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE, "app": "x"},
        annotations={OWNER_NAME_ANNOTATION: owner, OWNER_KIND_ANNOTATION: "Forged"},
    )


def admin_binding(name: str) -> dict[str, Any]:
    """What the forged desired state of issue 16 deployed: cluster-admin, no Ripple key."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "cluster-admin",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "default"}],
    }


# -- the stamp (pure) ---------------------------------------------------------------------------
def test_the_stamp_is_added_to_a_manifest_without_ownership_keys() -> None:
    manifest = config_map("a")
    before = copy.deepcopy(manifest)
    out = ownership.stamp(manifest, "p1")
    assert manifest == before, "the caller's manifest is never modified"
    meta = out["metadata"]
    assert meta["labels"] == {MANAGED_BY_LABEL: AGENT_MANAGED_BY_VALUE}
    assert meta["annotations"] == {
        OWNER_NAME_ANNOTATION: "p1",
        OWNER_KIND_ANNOTATION: "ClusterProfile",
        ownership.OWNER_TIER_ANNOTATION: "100",
    }
    assert out["data"] == manifest["data"] and meta["name"] == "a"
    assert ownership.owned_by(out, "p1") and ownership.owner_of(out) == "p1"


def test_the_stamp_overrides_forged_keys_and_keeps_the_managers_sveltos_keys() -> None:
    manifest = forged("a", "victim")
    manifest["metadata"]["annotations"][HASH_ANNOTATION] = "sha256:abc"
    manifest["metadata"]["annotations"][REFERENCE_NAME_KEY] = "ref"
    manifest["metadata"]["labels"][REFERENCE_KIND_KEY] = "ConfigMap"
    out = ownership.stamp(manifest, "p1")
    labels, annotations = out["metadata"]["labels"], out["metadata"]["annotations"]
    assert labels == {
        MANAGED_BY_LABEL: AGENT_MANAGED_BY_VALUE,
        "app": "x",
        REFERENCE_KIND_KEY: "ConfigMap",
    }
    assert annotations == {
        OWNER_NAME_ANNOTATION: "p1",
        OWNER_KIND_ANNOTATION: "ClusterProfile",
        ownership.OWNER_TIER_ANNOTATION: "100",
        HASH_ANNOTATION: "sha256:abc",
        REFERENCE_NAME_KEY: "ref",
    }


@pytest.mark.parametrize(
    "meta", [{"name": "a", "labels": ["x"]}, {"name": "a", "annotations": "x"}, "not-a-map"]
)
def test_metadata_that_cannot_carry_the_stamp_is_refused(meta: Any) -> None:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
    with pytest.raises(ownership.NotStampable, match="not a map"):
        ownership.stamp(manifest, "p1")


def test_only_a_live_agent_stamp_for_the_profile_is_ownership() -> None:
    stamped = ownership.stamp(config_map("a"), "p1")
    assert ownership.owned_by(stamped, "p1")
    assert not ownership.owned_by(stamped, "p2")
    assert not ownership.owned_by(None, "p1")
    # what a manifest alone carried (the manager's annotations, no agent label): not a stamp
    manager_only = config_map(
        "a", annotations={OWNER_NAME_ANNOTATION: "p1", OWNER_KIND_ANNOTATION: "ClusterProfile"}
    )
    assert ownership.owner_of(manager_only) is None
    # the management cluster's managed-by value is not the agent's
    reporter_copy = copy.deepcopy(stamped)
    reporter_copy["metadata"]["labels"][MANAGED_BY_LABEL] = MANAGED_BY_VALUE
    assert not ownership.owned_by(reporter_copy, "p1")
    other_kind = copy.deepcopy(stamped)
    other_kind["metadata"]["annotations"][OWNER_KIND_ANNOTATION] = "Profile"
    assert not ownership.owned_by(other_kind, "p1")
    assert ownership.owner_of({"metadata": {"labels": "x", "annotations": {}}}) is None


# -- the Applier against a real simulated cluster (fixtures: tests/agent/conftest.py) -------
def keys(*manifests: dict[str, Any]) -> list[ObjectKey]:
    return [object_key(m) for m in manifests]


def test_applied_objects_carry_the_stamp_and_are_pruned_whatever_the_manifest_said(
    client: KubeClient,
) -> None:
    applier = Applier(client, "c1")
    objects = [config_map("plain"), forged("forged", "victim"), admin_binding("escalate")]
    result = applier.apply("p1", [(o, "h") for o in objects], previous=())
    assert result.status == "Provisioned", result.message
    for manifest in objects:
        key = object_key(manifest)
        live = client.get(GVK(key.api_version, key.kind), key.namespace or None, key.name)
        assert live is not None and ownership.owner_of(live) == "p1", live
        assert live["metadata"]["labels"][MANAGED_BY_LABEL] == AGENT_MANAGED_BY_VALUE
    removed = applier.remove("p1", keys(*objects))
    assert removed.status == "Removed", removed.message
    assert client.get(CONFIG_MAP, "default", "plain") is None
    assert client.get(CONFIG_MAP, "default", "forged") is None
    assert client.get(BINDING, None, "escalate") is None, "the cluster-admin binding is pruned"


def test_an_object_stamped_for_another_profile_or_never_stamped_is_left_in_place(
    client: KubeClient,
) -> None:
    applier = Applier(client, "c1")
    shared_cm, user_cm = config_map("shared"), config_map("user")
    assert applier.apply("p1", [(shared_cm, "h")], previous=()).status == "Provisioned"
    # p2, of a lower tier, takes the same object over (its manifest forging p1 as its
    # owner): the stamp is p2's
    p2 = ApplyOptions(tier=50)
    result = applier.apply("p2", [(forged("shared", "p1"), "h")], previous=(), options=p2)
    assert result.status == "Provisioned", result.message
    live = client.get(CONFIG_MAP, "default", "shared")
    assert ownership.owner_of(live) == "p2"
    # a user's object carrying p1's owner annotations (no agent stamp)
    client.apply(
        config_map(
            "user",
            annotations={OWNER_NAME_ANNOTATION: "p1", OWNER_KIND_ANNOTATION: "ClusterProfile"},
        ),
        field_manager="user",
    )
    # p1 withdrawn, its record listing both: neither is p1's in the cluster
    assert applier.remove("p1", keys(shared_cm, user_cm)).status == "Removed"
    assert client.get(CONFIG_MAP, "default", "shared") is not None
    assert client.get(CONFIG_MAP, "default", "user") is not None
    # p1 applied again without them: pruning leaves them too
    result = applier.apply("p1", [(config_map("other"), "h")], previous=keys(shared_cm, user_cm))
    assert result.status == "Provisioned", result.message
    assert client.get(CONFIG_MAP, "default", "shared") is not None
    assert client.get(CONFIG_MAP, "default", "user") is not None
    # p2 withdrawn: the object is p2's, so it goes
    assert applier.remove("p2", keys(shared_cm)).status == "Removed"
    assert client.get(CONFIG_MAP, "default", "shared") is None


def test_a_manifest_that_cannot_carry_the_stamp_is_not_applied(client: KubeClient) -> None:
    bad = config_map("bad")
    bad["metadata"]["labels"] = ["not", "a", "map"]
    result = Applier(client, "c1").apply("p1", [(bad, "h"), (config_map("good"), "h")], ())
    assert result.status == "Failed" and "cannot carry its owner" in result.message
    assert [k.name for k, _ in result.applied] == ["good"], "the others are applied"
    assert client.get(CONFIG_MAP, "default", "bad") is None
