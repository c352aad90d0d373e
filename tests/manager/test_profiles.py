"""What a generated profile deploys and how its ClusterProfile reads: extraLabels and
extraAnnotations after the hash, reference-tier/owner-tier, the reason of kustomize's
objects, and the ClusterProfile's kustomizationRefs, patches and extra metadata as Sveltos'
event-manager copies them (patchesFrom dropped)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.manager import profiles
from services.manager.errors import InstantiationError
from services.manager.model import ClusterKey, ProfilePlan, Reference
from shared.api.selectors import LabelSelector
from shared.hashing import HASH_ANNOTATION, policy_hash

A = ClusterKey("default", "cluster-a", "sveltos")
REF = Reference("ConfigMap", "default", "plain")


@dataclass(frozen=True)
class Trigger:
    """The parts of a TriggerView that profiles reads."""

    copied_spec: Mapping[str, Any] = field(default_factory=dict)
    spec: Mapping[str, Any] = field(default_factory=dict)
    kind: str = "EventTrigger"
    name: str = "t"
    destination_selector: LabelSelector | None = None
    sync_mode: str = "Continuous"
    stop_matching_behavior: str = "WithdrawPolicies"


def manifest(name: str = "fixed") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "x", "keep": "me"}},
        "data": {"k": "v"},
    }


def plan(objects: list[Any] | None = None) -> ProfilePlan:
    return ProfilePlan(
        name="sveltos-abc",
        trigger="t",
        source=A,
        labels={"l": "v"},
        destinations=[A],
        objects=objects or [],
        cluster_profile={},
        instantiated=[],
    )


def test_extra_labels_and_annotations_are_added_after_the_hash() -> None:
    trigger = Trigger(
        copied_spec={
            "extraLabels": {"app": "overridden", "team": "blue"},
            "extraAnnotations": {"owner": "ops"},
        }
    )
    [obj] = profiles.deployed_objects(trigger, [(manifest(), REF)], "p")
    meta = obj.manifest["metadata"]
    assert meta["labels"]["app"] == "overridden" and meta["labels"]["team"] == "blue"
    assert meta["labels"]["keep"] == "me"
    assert meta["annotations"]["owner"] == "ops"
    # the hash is of the object before Sveltos' metadata and the extra keys
    assert obj.hash == policy_hash(manifest()) == meta["annotations"][HASH_ANNOTATION]
    [plain] = profiles.deployed_objects(Trigger(), [(manifest(), REF)], "p")
    assert plain.hash == obj.hash


def test_sveltos_own_keys_may_not_be_overridden() -> None:
    trigger = Trigger(copied_spec={"extraAnnotations": {HASH_ANNOTATION: "x"}})
    with pytest.raises(InstantiationError, match=r"EventTrigger/t spec\.extraAnnotations: "):
        profiles.deployed_objects(trigger, [(manifest(), REF)], "p")
    trigger = Trigger(copied_spec={"extraLabels": {"projectsveltos.io/reason": "x"}})
    with pytest.raises(InstantiationError, match=r"spec\.extraLabels: projectsveltos\.io/reason"):
        profiles.deployed_objects(trigger, [(manifest(), REF)], "p")


def test_reference_tier_owner_tier_and_reason() -> None:
    kustomized = profiles.Origin("Secret", "default", "k", tier=7, reason="Kustomize")
    out = profiles.deployed_objects(
        Trigger(copied_spec={"tier": 50}),
        [(manifest("a"), REF), (manifest("b"), kustomized)],
        "p",
    )
    plain, built = (o.manifest["metadata"] for o in out)
    assert plain["annotations"]["projectsveltos.io/reference-tier"] == "100"
    assert plain["annotations"]["projectsveltos.io/owner-tier"] == "50"
    assert plain["labels"]["projectsveltos.io/reason"] == "Resources"
    assert built["annotations"]["projectsveltos.io/reference-tier"] == "7"
    assert built["labels"]["projectsveltos.io/reason"] == "Kustomize"
    assert built["annotations"]["projectsveltos.io/reference-kind"] == "Secret"
    assert built["annotations"]["projectsveltos.io/owner-name"] == "p"
    [default] = profiles.deployed_objects(Trigger(), [(manifest(), REF)], "p")
    annotations = default.manifest["metadata"]["annotations"]
    assert annotations["projectsveltos.io/owner-tier"] == "100"


def test_the_cluster_profile_shows_what_sveltos_copies() -> None:
    patches = [{"target": {"kind": "Deployment"}, "patch": "- op: remove\n  path: /x\n"}]
    trigger = Trigger(
        copied_spec={
            "patches": patches,
            "patchesFrom": [{"kind": "ConfigMap", "name": "p"}],
            "extraLabels": {"team": "blue"},
            "extraAnnotations": {"owner": "ops"},
        },
    )
    shown = ({"kind": "ConfigMap", "namespace": "default", "name": "k", "path": "overlays/prod"},)
    origin = profiles.Origin("ConfigMap", "default", "k", reason="Kustomize", entries=shown)
    [obj] = profiles.deployed_objects(trigger, [(manifest(), origin)], "p")
    spec = profiles.cluster_profile(trigger, plan([obj]), [])["spec"]
    assert spec["patches"] == patches
    assert spec["extraLabels"] == {"team": "blue"}
    assert spec["extraAnnotations"] == {"owner": "ops"}
    assert "patchesFrom" not in spec  # event-manager drops it
    assert spec["kustomizationRefs"] == [dict(shown[0])]


def test_kustomization_refs_that_built_nothing_show_as_given() -> None:
    given = {"kind": "GitRepository", "namespace": "flux", "name": "repo", "path": ""}
    spec = profiles.cluster_profile(Trigger(spec={"kustomizationRefs": [given]}), plan(), [])
    assert spec["spec"]["kustomizationRefs"] == [
        {"deploymentType": "Remote", "kind": "GitRepository", "namespace": "flux", "name": "repo"}
    ]
    assert "kustomizationRefs" not in profiles.cluster_profile(Trigger(), plan(), [])["spec"]


def test_origins_compare_and_hash_without_their_entries() -> None:
    one = profiles.Origin("ConfigMap", "default", "k", entries=({"a": 1},))
    two = profiles.Origin("ConfigMap", "default", "k", entries=({"b": 2},))
    assert one == two and hash(one) == hash(two)
    assert vars(one)["kind"] == "ConfigMap"  # the REST API's ReferenceOut reads vars()
