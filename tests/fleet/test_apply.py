"""Server-side apply: create, field managers, conflicts, force, removal, managedFields."""

from __future__ import annotations

import json
from typing import Any

from services.fleet.apply import decode_fields, encode_fields
from tests.fleet.conftest import Cluster, crd_body, deployment

APPLY = "application/apply-patch+yaml"
CM = "/api/v1/namespaces/default/configmaps"


def apply(
    cluster: Cluster, path: str, body: dict[str, Any], manager: str | None, force: bool = False
) -> tuple[int, Any]:
    query: list[tuple[str, Any]] = []
    if manager:
        query.append(("fieldManager", manager))
    if force:
        query.append(("force", "true"))
    return cluster.raw("PATCH", path, body, APPLY, query)


def cm(name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def test_apply_creates_then_updates(cluster: Cluster) -> None:
    status, obj = apply(cluster, f"{CM}/a", cm("a", {"x": "1"}), "mgr")
    assert status == 201 and obj["data"] == {"x": "1"}
    [entry] = obj["metadata"]["managedFields"]
    assert entry["manager"] == "mgr" and entry["operation"] == "Apply"
    assert entry["fieldsType"] == "FieldsV1"
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:x": {}}}
    status, obj = apply(cluster, f"{CM}/a", cm("a", {"x": "2"}), "mgr")
    assert status == 200 and obj["data"] == {"x": "2"}
    rv = obj["metadata"]["resourceVersion"]
    status, again = apply(cluster, f"{CM}/a", cm("a", {"x": "2"}), "mgr")
    assert again["metadata"]["resourceVersion"] == rv  # no-op


def test_apply_requires_field_manager(cluster: Cluster) -> None:
    status, body = apply(cluster, f"{CM}/a", cm("a", {}), None)
    assert status == 422 and body["reason"] == "Invalid"
    assert "fieldManager" in body["message"]


def test_apply_conflict_and_force(cluster: Cluster) -> None:
    apply(cluster, f"{CM}/c", cm("c", {"x": "1", "y": "1"}), "alice")
    status, body = apply(cluster, f"{CM}/c", cm("c", {"x": "2"}), "bob")
    assert status == 409 and body["reason"] == "Conflict"
    assert body["message"] == 'Apply failed with 1 conflict: conflict with "alice": .data.x'
    assert body["details"]["causes"] == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "alice": .data.x',
            "field": ".data.x",
        }
    ]
    # same value: shared ownership, no conflict
    status, body = apply(cluster, f"{CM}/c", cm("c", {"y": "1"}), "bob")
    assert status == 200
    managers = {
        e["manager"]: decode_fields(e["fieldsV1"]) for e in body["metadata"]["managedFields"]
    }
    assert ("data", "y") in managers["bob"] and ("data", "y") in managers["alice"]
    # force takes the field over
    status, body = apply(cluster, f"{CM}/c", cm("c", {"x": "2", "y": "1"}), "bob", force=True)
    assert status == 200 and body["data"] == {"x": "2", "y": "1"}
    managers = {
        e["manager"]: decode_fields(e["fieldsV1"]) for e in body["metadata"]["managedFields"]
    }
    assert ("data", "x") in managers["bob"] and ("data", "x") not in managers["alice"]


def test_apply_removes_fields_the_manager_dropped(cluster: Cluster) -> None:
    apply(cluster, f"{CM}/r", cm("r", {"keep": "1", "drop": "1"}, {"l1": "a", "l2": "b"}), "m")
    status, body = apply(cluster, f"{CM}/r", cm("r", {"keep": "1"}, {"l1": "a"}), "m")
    assert status == 200
    assert body["data"] == {"keep": "1"} and body["metadata"]["labels"] == {"l1": "a"}
    # a field another manager also owns stays
    apply(cluster, f"{CM}/r", cm("r", {"keep": "1", "shared": "s"}), "m")
    apply(cluster, f"{CM}/r", cm("r", {"shared": "s"}), "other")
    status, body = apply(cluster, f"{CM}/r", cm("r", {"keep": "1"}), "m")
    assert body["data"] == {"keep": "1", "shared": "s"}


def test_update_takes_ownership_from_appliers(cluster: Cluster) -> None:
    apply(cluster, f"{CM}/u", cm("u", {"x": "1"}), "applier")
    cluster.core.patch_namespaced_config_map(
        "u", "default", {"data": {"x": "edited"}}, field_manager="editor"
    )
    obj = cluster.core.read_namespaced_config_map("u", "default")
    owners = {e.manager: (e.operation, e.fields_v1) for e in obj.metadata.managed_fields}
    assert owners["editor"] == ("Update", {"f:data": {".": {}, "f:x": {}}})
    assert "applier" not in owners
    # the applier re-applies its value: no conflict with an Update manager
    status, body = apply(cluster, f"{CM}/u", cm("u", {"x": "1"}), "applier")
    assert status == 200 and body["data"] == {"x": "1"}


def test_apply_deployment_ignores_status_and_bumps_generation(cluster: Cluster) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments/web"
    body = {**deployment("web"), "status": {"replicas": 5}}
    status, obj = apply(cluster, path, body, "m")
    assert status == 201 and "status" not in obj and obj["metadata"]["generation"] == 1
    body["spec"]["replicas"] = 4
    status, obj = apply(cluster, path, body, "m")
    assert obj["spec"]["replicas"] == 4 and obj["metadata"]["generation"] == 2


def test_dynamic_client_server_side_apply(cluster: Cluster) -> None:
    cluster.ext.create_custom_resource_definition(crd_body())
    dyn = cluster.dynamic()
    res = dyn.resources.get(api_version="example.com/v1", kind="AddOn")
    body = {
        "apiVersion": "example.com/v1",
        "kind": "AddOn",
        "metadata": {"name": "x", "namespace": "default"},
        "spec": {"a": 1, "b": 2},
    }
    out = res.server_side_apply(body=body, name="x", namespace="default", field_manager="agent")
    assert out.spec.a == 1 and out.metadata.managedFields[0]["manager"] == "agent"
    body["spec"] = {"a": 3}
    out = res.server_side_apply(
        body=body, name="x", namespace="default", field_manager="other", force_conflicts=True
    )
    assert out.spec.a == 3 and out.spec.b == 2
    ns = cluster.dynamic().resources.get(api_version="v1", kind="Namespace")
    out = ns.server_side_apply(
        body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "applied-ns"}},
        name="applied-ns",
        field_manager="agent",
    )
    assert out.status.phase == "Active"


def test_apply_yaml_body_without_yaml11_booleans(cluster: Cluster) -> None:
    raw = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  a: 'x'\n"
    # the client sends JSON; YAML bodies are accepted too
    path = f"{CM}/y?fieldManager=m"
    status, body = cluster.raw("PATCH", path, raw.decode(), APPLY)
    assert status in (200, 201), body
    import yaml as _yaml

    from services.fleet.http import _Loader

    assert _yaml.load("v: on\nw: true", Loader=_Loader) == {"v": "on", "w": True}


def test_fields_encoding_roundtrip() -> None:
    paths = {("data", "a"), ("metadata", "labels", "x"), ("spec", "replicas")}
    encoded = encode_fields(paths)
    assert encoded["f:data"] == {".": {}, "f:a": {}}
    assert decode_fields(encoded) == paths
    assert json.loads(json.dumps(encoded)) == encoded


def test_dynamic_patch_with_apply_content_type(cluster: Cluster) -> None:
    res = cluster.dynamic().resources.get(api_version="v1", kind="ConfigMap")
    body = cm("viapatch", {"a": "1"})
    out = res.patch(
        body=body, name="viapatch", namespace="default", content_type=APPLY, field_manager="dyn"
    )
    assert out.data.a == "1"
    assert [e["operation"] for e in out.metadata.managedFields] == ["Apply"]
    body["data"] = {"b": "2"}
    out = res.patch(
        body=body, name="viapatch", namespace="default", content_type=APPLY, field_manager="dyn"
    )
    assert dict(out.data) == {"b": "2"}  # the manager dropped "a": removed


DEPLOY = "/apis/apps/v1/namespaces/default/deployments/multi"


def partial_deploy(containers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "multi"},
        "spec": {"template": {"spec": {"containers": containers}}},
    }


def test_associative_lists_are_owned_per_element(cluster: Cluster) -> None:
    base = deployment("multi")
    status, _ = apply(cluster, DEPLOY, base, "owner")
    assert status == 201
    status, obj = apply(
        cluster, DEPLOY, partial_deploy([{"name": "sidecar", "image": "envoy"}]), "injector"
    )
    assert status == 200
    names = [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]]
    assert names == ["main", "sidecar"]
    entry = next(e for e in obj["metadata"]["managedFields"] if e["manager"] == "injector")
    containers = entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert containers == {".": {}, 'k:{"name":"sidecar"}': {".": {}, "f:image": {}, "f:name": {}}}
    # a different image for "main" conflicts with its owner, with the real path format
    status, body = apply(
        cluster, DEPLOY, partial_deploy([{"name": "main", "image": "other"}]), "injector"
    )
    assert status == 409
    assert body["details"]["causes"][0]["field"] == (
        '.spec.template.spec.containers[name="main"].image'
    )
    # the injector drops its sidecar: only that element goes
    status, obj = apply(cluster, DEPLOY, partial_deploy([]), "injector")
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["main"]


def test_update_of_one_env_var_takes_only_that_element(cluster: Cluster) -> None:
    apply(
        cluster,
        DEPLOY,
        deployment("multi", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]),
        "owner",
    )
    cluster.apps.patch_namespaced_deployment(
        "multi",
        "default",
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "main", "env": [{"name": "B", "value": "3"}]}]}
                }
            }
        },
        field_manager="hand",
    )
    d = cluster.apps.read_namespaced_deployment("multi", "default")
    hand = next(e for e in d.metadata.managed_fields if e.manager == "hand")
    env = hand.fields_v1["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"main"}'][
        "f:env"
    ]
    assert list(env) == [".", 'k:{"name":"B"}']
    # the owner re-applies without B's change: A stays its own, B now belongs to "hand"
    status, obj = apply(
        cluster, DEPLOY, deployment("multi", env=[{"name": "A", "value": "1"}]), "owner"
    )
    assert status == 200
    env_now = obj["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env_now == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]
