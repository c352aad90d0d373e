"""Sveltos resource helpers: event-manager (objects, yaml.v3) and addon-controller (ids)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from shared.templating.errors import FunctionError
from shared.templating.funcs import function_map
from shared.templating.values import GoInt

F = dict[str, Callable[..., Any]]

CM: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {
        "name": "original",
        "namespace": "cm-ns",
        "labels": {"a": "b"},
        "uid": "1234",
        "resourceVersion": "999",
        "managedFields": [{"manager": "kubectl"}],
    },
    "data": {"key1": "value1", "key2": "value2"},
}


@pytest.fixture
def cm() -> dict[str, Any]:
    return copy.deepcopy(CM)


def test_get_resource_resets_fields_on_a_copy(fn: F, cm: dict[str, Any]) -> None:
    r = fn["getResource"](cm)
    assert r["metadata"] == {"name": "original", "namespace": "cm-ns", "labels": {"a": "b"}}
    assert cm == CM  # BRIEF section 4: helpers work on copies


def test_copy_prints_yaml_v3(fn: F, cm: dict[str, Any]) -> None:
    assert fn["copy"](cm) == (
        "apiVersion: v1\ndata:\n    key1: value1\n    key2: value2\nkind: ConfigMap\n"
        "metadata:\n    labels:\n        a: b\n    name: original\n    namespace: cm-ns"
    )
    assert cm == CM


def test_get_field(fn: F, cm: dict[str, Any]) -> None:
    assert fn["getField"](cm, "metadata.labels.a") == "b"
    assert fn["getField"](cm, "metadata.nope") == ""
    assert fn["getField"](cm, "metadata.name.x") == ""
    got = fn["getField"](cm, "data")
    got["key1"] = "changed"
    assert cm["data"]["key1"] == "value1"


def test_set_and_remove_field(fn: F, cm: dict[str, Any]) -> None:
    out = fn["setField"](cm, "metadata.name", "renamed")
    assert "name: renamed" in out and cm == CM
    assert "replicas: 5" in fn["setField"](cm, "spec.replicas", 5)
    assert fn["setField"](cm, "metadata.name.x", "v") == ""  # not a map: swallowed
    out = fn["removeField"](cm, "data.key1")
    assert "key1" not in out and "key2: value2" in out and cm == CM


def test_set_field_rejects_go_int(fn: F, cm: dict[str, Any]) -> None:
    # runtime.DeepCopyJSONValue accepts int64, not the int of a template literal
    with pytest.raises(FunctionError, match="cannot deep copy int"):
        fn["setField"](cm, "spec.replicas", GoInt(5))


def test_chain_functions_return_copies(fn: F, cm: dict[str, Any]) -> None:
    r = fn["chainSetField"](cm, "metadata.name", "x")
    r = fn["chainRemoveField"](r, "data")
    assert r["metadata"]["name"] == "x" and "data" not in r
    assert cm == CM
    assert fn["chainSetField"](cm, "metadata.name.x", "v") is None


def test_helpers_reject_nil(fn: F) -> None:
    with pytest.raises(FunctionError, match="expected map"):
        fn["getResource"](None)


class _Ctx:
    def __init__(self, data: Any) -> None:
        self.root_data = data


def test_addon_helpers_look_up_identifiers(cm: dict[str, Any]) -> None:
    fm = function_map("sveltos-addon")
    data = {"MgmtResources": {"Cfg": cm}}
    ctx = _Ctx(data)
    assert fm["getResource"](ctx, "Cfg")["metadata"]["name"] == "original"
    assert fm["getResource"](ctx, "Nope") is None
    assert fm["copy"](ctx, "Nope") == ""
    out = fm["copy"](ctx, "Cfg")
    assert out.startswith("apiVersion: v1\ndata:\n  key1: value1")  # sigs.k8s.io/yaml
    assert fm["getField"](ctx, "Cfg", "data.key2") == "value2"
    assert "name: renamed" in fm["setField"](ctx, "Cfg", "metadata.name", "renamed")
    assert "key1" not in fm["removeField"](ctx, "Cfg", "data.key1")
    assert data["MgmtResources"]["Cfg"] == CM
