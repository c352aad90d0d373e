"""Server-side apply of list-maps as a real API server (issue 15 item 10): an element the same
field manager applied before and no longer applies goes, with its key and the server's
defaults; Service and container ports are keyed by port (containerPort) and protocol."""

from __future__ import annotations

from typing import Any

from services.fleet.fieldpaths import Item, decode_fields, encode_fields
from tests.fleet.test_apply import apply

SVC = "/api/v1/namespaces/default/services"


def service(*ports: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": list(ports)},
    }


def test_apply_removes_a_service_port_it_no_longer_applies(cluster: Any) -> None:
    http = {"name": "http", "port": 80}
    https = {"name": "https", "port": 443}
    status, obj = apply(cluster, f"{SVC}/web", service(http, https), "ripple")
    assert status == 201
    # the server defaulted protocol and targetPort (owned by nobody)
    assert obj["spec"]["ports"][1] == {**https, "protocol": "TCP", "targetPort": 443}
    entry = obj["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:ports"]
    assert set(entry) == {".", 'k:{"port":80,"protocol":"TCP"}', 'k:{"port":443,"protocol":"TCP"}'}
    status, obj = apply(cluster, f"{SVC}/web", service(http), "ripple")
    assert status == 200
    assert [p["port"] for p in obj["spec"]["ports"]] == [80]
    svc = cluster.core.read_namespaced_service("web", "default")
    assert [p.port for p in svc.spec.ports] == [80]


def test_an_element_another_manager_owns_stays(cluster: Any) -> None:
    http = {"name": "http", "port": 80}
    dns = {"name": "dns", "port": 53}
    apply(cluster, f"{SVC}/web", service(http, dns), "ripple")
    # another applier co-owns the dns port: the first one dropping it leaves it there
    apply(cluster, f"{SVC}/web", service(dns), "other")
    status, obj = apply(cluster, f"{SVC}/web", service(http), "ripple")
    assert status == 200
    assert sorted(p["port"] for p in obj["spec"]["ports"]) == [53, 80]


def test_same_port_two_protocols_are_two_elements(cluster: Any) -> None:
    tcp = {"name": "dns-tcp", "port": 53, "protocol": "TCP"}
    udp = {"name": "dns-udp", "port": 53, "protocol": "UDP"}
    status, obj = apply(cluster, f"{SVC}/web", service(tcp, udp), "ripple")
    assert status == 201
    status, obj = apply(cluster, f"{SVC}/web", service(udp), "ripple")
    assert [(p["port"], p["protocol"]) for p in obj["spec"]["ports"]] == [(53, "UDP")]


def test_a_container_by_name(cluster: Any) -> None:
    def deploy(*names: str) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {
                "selector": {"matchLabels": {"app": "d"}},
                "template": {
                    "metadata": {"labels": {"app": "d"}},
                    "spec": {
                        "containers": [
                            {"name": n, "image": "nginx", "ports": [{"containerPort": 80}]}
                            for n in names
                        ]
                    },
                },
            },
        }

    path = "/apis/apps/v1/namespaces/default/deployments/d"
    assert apply(cluster, path, deploy("main", "side"), "ripple")[0] == 201
    _, obj = apply(cluster, path, deploy("main"), "ripple")
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["main"]


def test_multi_key_encoding_roundtrip() -> None:
    step = Item("port", 80, (("protocol", "TCP"),))
    doc = encode_fields({("spec", "ports", step, "name")})
    assert doc == {
        "f:spec": {
            ".": {},
            "f:ports": {".": {}, 'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:name": {}}},
        }
    }
    assert decode_fields(doc) == {("spec", "ports", step, "name")}
