"""A profile's ``patches`` applied to its policyRefs' objects as Sveltos applies them (target
pre-selection by unanchored regular expressions and label/annotation selectors, JSON 6902
removals of absent paths dropped, kustomize's patch machinery), before the hash."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services.manager import kustomize, patching, profiles
from services.manager.errors import InstantiationError
from services.manager.model import Reference
from shared.hashing import policy_hash
from tests.manager.test_profiles import Trigger

OWNER = "EventTrigger/t"
REF = Reference("ConfigMap", "default", "plain")


def deployment(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {
            "replicas": 1,
            "template": {"spec": {"containers": [{"name": "c", "image": "a"}]}},
        },
    }


def configmap(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default", "annotations": {"team": "blue"}},
        "data": {"a": "1"},
    }


REPLICAS = "- op: replace\n  path: /spec/replicas\n  value: 5\n- op: remove\n  path: /spec/paused\n"
STRATEGIC = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: any\ndata:\n  b: '2'\n"


@pytest.fixture(autouse=True)
def fresh_memory() -> Iterator[None]:
    kustomize.clear_memory()
    yield


def test_targets_select_objects_as_sveltos_does() -> None:
    target = {"kind": "Deploy", "name": "^web", "labelSelector": "tier in (front)"}
    assert patching.selects(target, deployment("web-1", tier="front"))
    assert not patching.selects(target, deployment("web-1", tier="back"))
    assert not patching.selects(target, deployment("api", tier="front"))
    assert patching.selects({"group": "apps", "version": "v1"}, deployment("x"))
    assert not patching.selects({"group": "^$"}, deployment("x"))
    assert patching.selects({"annotationSelector": "team=blue"}, configmap("c"))
    assert patching.selects(None, configmap("c"))


def test_json_and_strategic_merge_patches_apply_to_their_targets_only() -> None:
    patches = patching.checked(
        [
            {"target": {"kind": "Deployment", "labelSelector": "tier=front"}, "patch": REPLICAS},
            {
                "target": {"kind": "ConfigMap", "annotationSelector": "team=blue"},
                "patch": STRATEGIC,
            },
        ],
        OWNER,
    )
    objs = [deployment("web", tier="front"), deployment("db", tier="back"), configmap("c")]
    web, db, cm = patching.apply(objs, patches, OWNER)
    assert web is not None and web["spec"]["replicas"] == 5  # the absent /spec/paused: dropped
    assert db == objs[1]  # not selected: untouched
    assert cm is not None and cm["data"] == {"a": "1", "b": "2"}
    assert cm["metadata"]["annotations"] == {"team": "blue"}  # Ripple's mark is gone


def test_patches_apply_before_the_hash_and_not_to_kustomize_output() -> None:
    trigger = Trigger(
        copied_spec={"patches": [{"target": {"kind": "Deployment"}, "patch": REPLICAS}]}
    )
    kustomized = profiles.Origin("ConfigMap", "default", "k", reason="Kustomize")
    out = profiles.deployed_objects(
        trigger, [(deployment("web"), REF), (deployment("kust"), kustomized)], "p"
    )
    patched, untouched = out
    assert patched.manifest["spec"]["replicas"] == 5
    expected = deployment("web")
    expected["spec"]["replicas"] = 5
    assert patched.hash == policy_hash(expected)
    assert untouched.manifest["spec"]["replicas"] == 1


def test_a_patch_template_is_rendered_by_the_addon_pass() -> None:
    trigger = Trigger(
        copied_spec={
            "patches": [
                {
                    "target": {"kind": "Deployment"},
                    "patch": "- op: add\n  path: /metadata/labels/cluster\n  value: '{{ .Cluster.metadata.name }}'\n",
                }
            ]
        }
    )
    seen: list[str] = []

    def render(text: str, where: str) -> str:
        seen.append(where)
        return text.replace("{{ .Cluster.metadata.name }}", "c1")

    [obj] = profiles.deployed_objects(trigger, [(deployment("web"), REF)], "p", render)
    assert obj.manifest["metadata"]["labels"]["cluster"] == "c1"
    assert seen == ["EventTrigger/t spec.patches[0].patch"]
    with pytest.raises(InstantiationError, match="is a template"):
        profiles.deployed_objects(trigger, [(deployment("web"), REF)], "p")


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"target": {"kind": "("}, "patch": REPLICAS}, r"target\.kind: invalid regular expression"),
        ({"target": {"labelSelector": "a in"}, "patch": REPLICAS}, r"target\.labelSelector"),
        ({"target": {"kinds": "x"}, "patch": REPLICAS}, "unknown field"),
        ({"patch": ""}, r"spec\.patches\[0\]\.patch: the patch text is required"),
        (
            {"target": {"kind": "ConfigMap"}, "patch": "apiVersion: v1\nkind: ConfigMap\n"},
            "requires metadata.name",
        ),
    ],
)
def test_bad_patches_are_refused_with_the_field(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(InstantiationError, match=message):
        patching.checked([patch], OWNER)


def test_kustomize_refusals_name_the_object() -> None:
    # no target: Sveltos runs it against every object, and kustomize refuses the others
    other = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\ndata: {b: '2'}\n"
    patches = patching.checked([{"patch": other}], OWNER)
    with pytest.raises(InstantiationError) as err:
        patching.apply([configmap("c"), deployment("web")], patches, OWNER)
    message = str(err.value)
    assert message.startswith("EventTrigger/t spec.patches: patching Deployment default/web")
    assert "no resource matches strategic merge patch" in message


def test_a_patch_may_delete_an_object() -> None:
    delete = "$patch: delete\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: default\n"
    patches = patching.checked([{"target": {"kind": "ConfigMap"}, "patch": delete}], OWNER)
    assert patching.apply([configmap("c"), deployment("web")], patches, OWNER)[0] is None
