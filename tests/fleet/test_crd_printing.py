"""``kubectl get`` prints a CRD's additionalPrinterColumns (Table responses) and ``kubectl
explain`` prints its schema's descriptions (OpenAPI v3), as with a real API server."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.fleet import tables
from tests.fleet.conftest import Cluster
from tests.fleet.test_crd_schema import SPEC, widget, widget_crd

WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"


def printing_crd() -> dict[str, Any]:
    crd = widget_crd()
    crd["spec"]["versions"][0]["additionalPrinterColumns"] = [
        {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
        {"name": "Color", "type": "string", "jsonPath": ".spec.color", "priority": 1},
        {
            "name": "Ready",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        },
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    crd["spec"]["versions"][0]["subresources"] = {"status": {}}
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"] = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    return crd


def test_kubectl_get_prints_the_printer_columns(cluster: Cluster) -> None:
    cluster.ext.create_custom_resource_definition(printing_crd())
    assert cluster.raw("POST", WIDGETS, widget("w", size=3, color="blue"))[0] == 201
    cluster.custom.patch_namespaced_custom_object_status(
        "example.com",
        "v1",
        "default",
        "widgets",
        "w",
        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
    )
    out = cluster.kubectl("get", "widgets").stdout.splitlines()
    assert out[0].split() == ["NAME", "SIZE", "READY", "AGE"]
    assert out[1].split()[:3] == ["w", "3", "True"]
    wide = cluster.kubectl("get", "widgets", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "SIZE", "COLOR", "READY", "AGE"]
    assert wide[1].split()[:4] == ["w", "3", "blue", "True"]
    one = cluster.kubectl("get", "widget", "w").stdout.splitlines()
    assert one[0].split() == ["NAME", "SIZE", "READY", "AGE"]


def test_kubectl_explain_prints_the_descriptions(cluster: Cluster) -> None:
    cluster.ext.create_custom_resource_definition(widget_crd())
    out = cluster.kubectl("explain", "widgets.spec.once").stdout
    assert "FIELD: once <boolean>" in out
    assert SPEC["properties"]["once"]["description"] in out
    out = cluster.kubectl("explain", "widgets.spec").stdout
    assert "size\t<integer> -required-" in out


def test_jsonpath_and_age() -> None:
    obj = {"a": [{"t": "x", "v": 1}, {"t": "y", "v": 2}], "b": {"c": "d"}}
    assert tables.evaluate(".a[1].v", obj) == [2]
    assert tables.evaluate(".a[*].t", obj) == ["x", "y"]
    assert tables.evaluate('.a[?(@.t=="y")].v', obj) == [2]
    assert tables.evaluate(".b", obj) == [{"c": "d"}]
    assert tables.evaluate(".missing.x", obj) == []
    now = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
    assert tables.age("2026-01-09T23:59:00Z", now) == "60s"
    assert tables.age("2026-01-09T23:55:30Z", now) == "4m30s"
    assert tables.age("2026-01-09T20:00:00Z", now) == "4h"
    assert tables.age("2026-01-07T00:00:00Z", now) == "3d"
    assert tables.wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
    assert not tables.wants_table("application/json")
