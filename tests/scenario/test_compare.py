"""Subset comparison of expected and live objects (pure)."""

from __future__ import annotations

from typing import Any

from services.scenario.compare import HASH_ANNOTATION, HELM_RELEASE_ANNOTATION, check_deployed, diff

POLICY: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {
        "name": "front-my-service",
        "namespace": "default",
        "labels": {"projectsveltos.io/reference-kind": "ConfigMap"},
    },
    "spec": {
        "ingress": [
            {
                "from": [{"podSelector": {"matchLabels": {"app": "internal"}}}],
                "ports": [{"port": 80}],
            }
        ],
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "MyApp"}},
    },
}


def live_policy(**changes: Any) -> dict[str, Any]:
    import copy

    obj = copy.deepcopy(POLICY)
    obj["metadata"].update(
        resourceVersion="12",
        uid="u-1",
        annotations={HASH_ANNOTATION: "sha256:abc"},
    )
    obj["metadata"]["labels"]["projectsveltos.io/reference-name"] = "sveltos-x"
    obj["spec"]["policyTypes"] = ["Ingress"]
    obj["spec"]["ingress"][0]["ports"][0]["protocol"] = "TCP"
    obj["status"] = {}
    for path, value in changes.items():
        target = obj
        *parents, leaf = path.split("__")
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        target[leaf] = value
    return obj


def test_live_object_with_more_fields_holds() -> None:
    assert diff(POLICY, live_policy()) == []
    assert check_deployed(POLICY, live_policy()) == []


def test_a_different_scalar_names_its_path() -> None:
    live = live_policy()
    live["spec"]["ingress"][0]["ports"][0]["port"] = 443
    (d,) = diff(POLICY, live)
    assert d.path == "spec.ingress[0].ports[0].port"
    assert str(d) == "spec.ingress[0].ports[0].port: expected 80, got 443"


def test_a_missing_key_with_dots_is_quoted() -> None:
    live = live_policy()
    del live["metadata"]["labels"]["projectsveltos.io/reference-kind"]
    (d,) = diff(POLICY, live)
    assert d.missing
    assert str(d) == (
        'metadata.labels["projectsveltos.io/reference-kind"]: missing (expected "ConfigMap")'
    )


def test_lists_must_have_the_same_length() -> None:
    expected = {"spec": {"ports": [{"port": 80}]}}
    live = {"spec": {"ports": [{"port": 80, "protocol": "TCP"}, {"port": 443}]}}
    (d,) = diff(expected, live)
    assert d.path == "spec.ports"
    assert "expected 1 element(s), got 2" in str(d)


def test_lists_compare_in_order_element_by_element() -> None:
    expected = {"paths": [{"path": "/a"}, {"path": "/b"}]}
    assert diff(expected, {"paths": [{"path": "/a", "x": 1}, {"path": "/b"}]}) == []
    problems = diff(expected, {"paths": [{"path": "/b"}, {"path": "/a"}]})
    assert [p.path for p in problems] == ["paths[0].path", "paths[1].path"]


def test_shorter_live_list_reports_length_and_common_prefix() -> None:
    problems = diff({"a": [1, 2, 3]}, {"a": [1, 5]})
    assert [str(p) for p in problems] == [
        "a: expected 3 element(s), got 2: [1, 5]",
        "a[1]: expected 2, got 5",
    ]


def test_scalar_types_are_not_coerced() -> None:
    assert diff({"pods": "10"}, {"pods": "10"}) == []
    assert str(diff({"pods": "10"}, {"pods": 10})[0]) == 'pods: expected "10", got 10'
    assert diff({"n": 80}, {"n": 80.0}) == []
    assert diff({"b": True}, {"b": 1}) != []
    assert diff({"v": None}, {"v": None}) == []


def test_structure_mismatch() -> None:
    (d,) = diff({"spec": {"a": 1}}, {"spec": [1]})
    assert str(d) == "spec: expected a mapping, got list [1]"
    (d,) = diff({"spec": [1]}, {"spec": "x"})
    assert str(d) == 'spec: expected a list, got string "x"'


def test_empty_expected_mapping_matches_any_mapping() -> None:
    assert diff({"status": {}}, {"status": {"loadBalancer": {}}}) == []


def test_deployed_objects_need_the_hash_annotation() -> None:
    live = live_policy()
    del live["metadata"]["annotations"]
    problems = check_deployed(POLICY, live)
    assert len(problems) == 1
    assert str(problems[0]).startswith('metadata.annotations["projectsveltos.io/hash"]: missing')
    live["metadata"]["annotations"] = {HASH_ANNOTATION: ""}
    assert len(check_deployed(POLICY, live)) == 1


def test_hash_rule_adds_to_field_differences() -> None:
    live = live_policy()
    live["metadata"]["annotations"] = {}
    live["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] = "Other"
    problems = [p.path for p in check_deployed(POLICY, live)]
    assert problems == [
        'spec.podSelector.matchLabels["app.kubernetes.io/name"]',
        'metadata.annotations["projectsveltos.io/hash"]',
    ]


def test_objects_of_a_helm_release_need_no_hash_annotation() -> None:
    expected = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 1}}
    live: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"annotations": {HELM_RELEASE_ANNOTATION: "kyverno-latest"}},
        "spec": {"replicas": 1},
    }
    assert check_deployed(expected, live) == []
    live["spec"]["replicas"] = 2  # the other rules still apply
    assert [str(d) for d in check_deployed(expected, live)] == ["spec.replicas: expected 1, got 2"]
    live["metadata"]["annotations"] = {}
    assert len(check_deployed(expected, live)) == 2
