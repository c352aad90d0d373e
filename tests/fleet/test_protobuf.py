"""The fleet's protobuf encoding (``services.fleet.wire``, ``protobuf``, ``protoschemas``) and
its content negotiation over real HTTP.

Golden bytes come from two independent implementations:

- ``GOOGLE``: Google's protobuf runtime (``protobuf`` 7.36.2, upb) serialising messages built
  from descriptors of the k8s.io/api and apimachinery generated.proto files
  (``SerializeToString(deterministic=True)``); :func:`test_goldens_match_google_protobuf`
  regenerates them when ``google.protobuf`` is importable (it is not a project dependency:
  ``PYTHONPATH=<a venv with protobuf>/lib/python3.11/site-packages .venv/bin/pytest -k google``);
- ``GO``: request bodies client-go wrote (kubectl 1.37 ``create configmap|secret``, Helm
  v4.2.3's uninstall through helm_python), recorded by the fleet.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from services.fleet import protobuf, tls, wire
from services.fleet.protoschemas import (
    CONFIG_MAP,
    DELETE_OPTIONS,
    SECRET,
    SECRET_LIST,
    STATUS,
    Message,
)
from services.fleet.responses import prefers_protobuf
from tests.fleet.conftest import Cluster

PB = protobuf.MEDIA_TYPE
CLIENT_GO_ACCEPT = "application/vnd.kubernetes.protobuf,application/json"
T0, T0_TEXT = 1796306783, "2026-12-03T14:06:23Z"

GOOGLE = {
    "secret": "0ae9010a1a73682e68656c6d2e72656c656173652e76312e64656d6f2e76311a0764656661756c742a"
    "08306237632d756964320234323803420808dfeec5d80610005a0c0a046e616d65120464656d6f5a0d0a056f"
    "776e6572120468656c6d620e0a046e6f74651206c3a920e29c936a220a09436f6e6669674d61701a0670617265"
    "6e742205702d7569642a027631300138007203612f627203632f648a014c0a0468656c6d12065570646174651a"
    "027631220808dfeec5d806100032084669656c647356313a240a227b22663a64617461223a7b222e223a7b7d2c"
    "22663a72656c65617365223a7b7d7d7d12090a05656d707479120012130a0772656c6561736512080001feff48"
    "3473491a1268656c6d2e73682f72656c656173652e76312800",
    "config_map": "0a1d0a0764656d6f2d636d1a067465616d2d614a08089befc5d8061000500012110a0867726565"
    "74696e67120568656c6c6f12100a056d756c74691207610a623a20630a1a0e0a04626c6f621206fafbfcfdfeff"
    "2001",
    "delete_options": "080012070a03752d3112001800220a466f726567726f756e642a03416c6c",
    "delete_options_negative": "08fbffffffffffffffff01",
    "status": "0a0012074661696c7572651a2f5365637265742022782220697320696e76616c69643a2064617461"
    "5b6120625d3a20496e76616c69642076616c75652207496e76616c69642a3a0a01781a06536563726574222d0a"
    "114669656c6456616c7565496e76616c6964120d496e76616c69642076616c75651a09646174615b6120625d30"
    "a603",
    "secret_list": "0a12120239391a0a65794a32496a6f786651200012220a0e0a036f6e651a0764656661756c7412"
    "080a016b12036f6e651a064f706171756512220a0e0a0374776f1a0764656661756c7412080a016b120374776f"
    "1a064f7061717565",
}

MANAGED = {
    "manager": "helm",
    "operation": "Update",
    "apiVersion": "v1",
    "time": T0_TEXT,
    "fieldsType": "FieldsV1",
    "fieldsV1": {"f:data": {".": {}, "f:release": {}}},
}
CASES: list[tuple[str, Message, dict[str, Any]]] = [
    (
        "secret",
        SECRET,
        {
            "metadata": {
                "name": "sh.helm.release.v1.demo.v1",
                "namespace": "default",
                "uid": "0b7c-uid",
                "resourceVersion": "42",
                "generation": 3,
                "creationTimestamp": T0_TEXT,
                "labels": {"owner": "helm", "name": "demo"},
                "annotations": {"note": "é ✓"},
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "parent",
                        "uid": "p-uid",
                        "controller": True,
                        "blockOwnerDeletion": False,  # a *bool: false is kept
                    }
                ],
                "finalizers": ["a/b", "c/d"],
                "managedFields": [MANAGED],
            },
            "data": {"release": base64.b64encode(b"\x00\x01\xfe\xffH4sI").decode(), "empty": ""},
            "type": "helm.sh/release.v1",
            "immutable": False,
        },
    ),
    (
        "config_map",
        CONFIG_MAP,
        {
            "metadata": {
                "name": "demo-cm",
                "namespace": "team-a",
                "deletionTimestamp": "2026-12-03T14:07:23Z",
                "deletionGracePeriodSeconds": 0,
            },
            "data": {"greeting": "hello", "multi": "a\nb: c\n"},
            "binaryData": {"blob": base64.b64encode(bytes(range(250, 256))).decode()},
            "immutable": True,
        },
    ),
    (
        "delete_options",
        DELETE_OPTIONS,
        {
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": "u-1", "resourceVersion": ""},
            "orphanDependents": False,
            "propagationPolicy": "Foreground",
            "dryRun": ["All"],
        },
    ),
    ("delete_options_negative", DELETE_OPTIONS, {"gracePeriodSeconds": -5}),
    (
        "status",
        STATUS,
        {
            "metadata": {},
            "status": "Failure",
            "message": 'Secret "x" is invalid: data[a b]: Invalid value',
            "reason": "Invalid",
            "details": {
                "name": "x",
                "kind": "Secret",
                "causes": [
                    {
                        "reason": "FieldValueInvalid",
                        "message": "Invalid value",
                        "field": "data[a b]",
                    }
                ],
            },
            "code": 422,
        },
    ),
    (
        "secret_list",
        SECRET_LIST,
        {
            "metadata": {
                "resourceVersion": "99",
                "continue": "eyJ2IjoxfQ",
                "remainingItemCount": 0,
            },
            "items": [
                {
                    "metadata": {"name": n, "namespace": "default"},
                    "data": {"k": base64.b64encode(n.encode()).decode()},
                    "type": "Opaque",
                }
                for n in ("one", "two")
            ],
        },
    ),
]

GO = {
    "kubectl create configmap gen --from-literal=a=b": (
        "6b3873000a0f0a0276311209436f6e6669674d6170121d0a130a0367656e12001a0022002a00320038004200"
        "12060a01611201621a002200",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gen"}, "data": {"a": "b"}},
    ),
    "kubectl create secret generic s1 --from-literal=x=y --type=example.com/t": (
        "6b3873000a0c0a0276311206536563726574122b0a120a02733112001a0022002a0032003800420012060a01"
        "781201791a0d6578616d706c652e636f6d2f741a002200",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s1"},
            "data": {"x": "eQ=="},
            "type": "example.com/t",
        },
    ),
    "helm uninstall (client-go Secrets().Delete)": (
        "6b3873000a130a027631120d44656c6574654f7074696f6e7312001a002200",
        {"apiVersion": "v1", "kind": "DeleteOptions"},
    ),
}


# -- the wire format and the schemas ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "hex_"),
    [(0, "00"), (1, "01"), (127, "7f"), (128, "8001"), (300, "ac02"), (2**63 - 1, "ffffffffffffffff7f"),
     (-1, "ffffffffffffffffff01")],
)  # fmt: skip
def test_varints(value: int, hex_: str) -> None:
    out = bytearray()
    wire.put_varint(out, value)
    assert out.hex() == hex_
    raw, end = wire.read_varint(bytes(out), 0)
    assert (wire.signed(raw), end) == (value, len(out))


@pytest.mark.parametrize(
    "bad", ["80", "0a05616263", "08", "0b", "00", "ffffffffffffffffffff01"]
)  # truncated varint, short LEN, missing value, group, field 0, 11-byte varint
def test_malformed_messages(bad: str) -> None:
    with pytest.raises(wire.WireError):
        list(wire.fields(bytes.fromhex(bad)))


@pytest.mark.parametrize(("name", "msg", "obj"), CASES, ids=[c[0] for c in CASES])
def test_google_goldens_decode_and_encode(name: str, msg: Message, obj: dict[str, Any]) -> None:
    golden = bytes.fromhex(GOOGLE[name])
    assert protobuf.decode(msg, golden) == obj
    assert protobuf.encode(msg, obj) == golden  # field order and sorted map keys as upb's


def test_envelope() -> None:
    raw = bytes.fromhex(GOOGLE["secret"])
    body = protobuf.wrap("v1", "Secret", raw)
    # runtime.Unknown {typeMeta, raw, contentEncoding: "", contentType: ""} as Go writes it
    type_meta = bytes.fromhex("0a0c0a0276311206536563726574")  # {v1, Secret}
    assert body == b"k8s\x00" + type_meta + bytes.fromhex("12a202") + raw + b"\x1a\x00\x22\x00"
    assert protobuf.unwrap(body) == ("v1", "Secret", raw)
    assert protobuf.decode_object(body) == {"apiVersion": "v1", "kind": "Secret", **CASES[0][2]}
    assert protobuf.encode_object(protobuf.decode_object(body), "v1", "Secret") == body


@pytest.mark.parametrize("what", list(GO))
def test_bodies_written_by_client_go(what: str) -> None:
    hex_, obj = GO[what]
    # Go writes every non-pointer field, empty ones included; JSON leaves them out (omitempty)
    assert protobuf.decode_object(bytes.fromhex(hex_)) == obj
    again = protobuf.encode_object(obj, obj["apiVersion"], obj["kind"])
    assert again is not None and protobuf.decode_object(again) == obj


def test_what_cannot_be_decoded_or_encoded() -> None:
    deployment = protobuf.wrap("apps/v1", "Deployment", b"")
    with pytest.raises(protobuf.UnknownKind, match=r"Deployment \(apps/v1\)"):
        protobuf.decode_object(deployment)
    with pytest.raises(protobuf.UnknownKind):  # Secret is a core/v1 kind only
        protobuf.decode_object(protobuf.wrap("example.com/v1", "Secret", b""))
    with pytest.raises(protobuf.ProtobufError, match="magic"):
        protobuf.decode_object(b'{"kind": "Secret"}')
    with pytest.raises(protobuf.ProtobufError):
        protobuf.decode_object(protobuf.wrap("v1", "Secret", b"\x0a\x05ab"))
    # no schema, or values of the wrong type: None (the fleet answers JSON)
    assert protobuf.encode_object({"spec": {}}, "apps/v1", "Deployment") is None
    assert protobuf.encode_object({"data": {"a": 1}}, "v1", "ConfigMap") is None
    assert protobuf.encode_object({"data": {"a": "not base64!"}}, "v1", "Secret") is None
    assert protobuf.encode_object({"metadata": {"finalizers": "a/b"}}, "v1", "Secret") is None
    assert protobuf.encode_object({"metadata": "m"}, "v1", "Secret") is None
    assert protobuf.encode_object({"data": ["a"]}, "v1", "ConfigMap") is None


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (CLIENT_GO_ACCEPT, True),
        ("application/vnd.kubernetes.protobuf", True),
        ("application/json, application/vnd.kubernetes.protobuf", False),
        ("application/json;q=0.5, application/vnd.kubernetes.protobuf", True),
        ("application/vnd.kubernetes.protobuf;q=0, application/json", False),
        ("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, */*", False),
        ("text/html, application/vnd.kubernetes.protobuf", True),
        ("*/*", False),
        ("", False),
    ],
)
def test_accept_negotiation(accept: str, expected: bool) -> None:
    assert prefers_protobuf(accept) is expected


def test_goldens_match_google_protobuf() -> None:
    """Regenerates ``GOOGLE`` with Google's runtime (skipped where it is not installed)."""
    pytest.importorskip("google.protobuf")
    assert _google_goldens() == GOOGLE


# -- over HTTP -------------------------------------------------------------------------------


def call(
    cluster: Cluster,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str = PB,
    accept: str = CLIENT_GO_ACCEPT,
    token: str | None = None,
) -> tuple[int, str, bytes]:
    """A raw request: (status, response Content-Type, body)."""
    req = urllib.request.Request(cluster.url + path, data=body, method=method)
    req.add_header("Authorization", f"Bearer {token or cluster.fleet.token}")
    req.add_header("Accept", accept)
    if body is not None:
        req.add_header("Content-Type", content_type)
    context = tls.client_context(cluster.fleet.ca_file) if cluster.fleet.ca_file else None
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def pb(obj: dict[str, Any]) -> bytes:
    data = protobuf.encode_object(obj, obj["apiVersion"], obj["kind"])
    assert data is not None
    return data


SECRETS = "/api/v1/namespaces/default/secrets"
CMS = "/api/v1/namespaces/default/configmaps"


def test_secret_round_trip_in_protobuf(cluster: Cluster) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "labels": {"owner": "helm"}},
        "data": {"release": base64.b64encode(b"\x00gz").decode()},
        "stringData": {"extra": "text"},
        "type": "helm.sh/release.v1",
    }
    code, ctype, body = call(cluster, "POST", SECRETS, pb(secret))
    assert (code, ctype) == (201, PB)
    created = protobuf.decode_object(body)
    assert created["metadata"]["uid"] and created["metadata"]["namespace"] == "default"
    assert created["data"] == {"release": "AGd6", "extra": base64.b64encode(b"text").decode()}
    # the official client reads it in JSON
    read = cluster.core.read_namespaced_secret("s", "default")
    assert read.type == "helm.sh/release.v1" and read.metadata.labels == {"owner": "helm"}
    assert read.data == created["data"]

    created["metadata"]["labels"]["status"] = "superseded"
    code, ctype, body = call(cluster, "PUT", f"{SECRETS}/s", pb(created))
    assert (code, ctype) == (200, PB)
    assert protobuf.decode_object(body)["metadata"]["labels"]["status"] == "superseded"

    code, ctype, body = call(cluster, "GET", f"{SECRETS}?labelSelector=owner%3Dhelm")
    listed = protobuf.decode_object(body)
    assert (code, ctype, listed["kind"]) == (200, PB, "SecretList")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["s"]
    assert listed["metadata"]["resourceVersion"]

    code, ctype, body = call(cluster, "GET", f"{SECRETS}/s", accept="application/json")
    assert (code, ctype, json.loads(body)["kind"]) == (200, "application/json", "Secret")


def test_config_map_in_protobuf_and_patched_in_json(cluster: Cluster) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    code, _, body = call(cluster, "POST", CMS, pb(cm))
    assert code == 201 and protobuf.decode_object(body)["data"] == {"a": "1"}
    patch = json.dumps({"data": {"b": "2"}}).encode()
    code, ctype, body = call(
        cluster, "PATCH", f"{CMS}/c", patch, content_type="application/merge-patch+json"
    )
    assert (code, ctype) == (200, PB)  # the answer follows Accept, not the body's type
    assert protobuf.decode_object(body)["data"] == {"a": "1", "b": "2"}
    code, ctype, body = call(cluster, "PATCH", f"{CMS}/c", pb(cm))  # patches are never protobuf
    assert (code, ctype) == (415, PB)
    assert protobuf.decode_object(body)["reason"] == "UnsupportedMediaType"


def test_delete_options_in_protobuf(cluster: Cluster) -> None:
    for name in ("a", "b", "c"):
        cluster.core.create_namespaced_secret("default", {"metadata": {"name": name}})
    options = {"apiVersion": "v1", "kind": "DeleteOptions"}
    dry = pb({**options, "dryRun": ["All"]})
    assert call(cluster, "DELETE", f"{SECRETS}/a", dry)[0] == 200
    wrong_uid = pb({**options, "preconditions": {"uid": "not-it"}})
    code, ctype, body = call(cluster, "DELETE", f"{SECRETS}/a", wrong_uid)
    status = protobuf.decode_object(body)
    assert (code, ctype, status["reason"]) == (409, PB, "Conflict")
    assert "Precondition failed" in status["message"]
    code, ctype, body = call(cluster, "DELETE", f"{SECRETS}/a", pb(options))
    status = protobuf.decode_object(body)
    assert (code, ctype, status["status"], status["details"]["name"]) == (200, PB, "Success", "a")
    code, ctype, body = call(cluster, "DELETE", SECRETS, pb({**options, "gracePeriodSeconds": 0}))
    assert (code, protobuf.decode_object(body)["status"]) == (200, "Success")
    assert cluster.core.list_namespaced_secret("default").items == []


def test_errors_in_protobuf(cluster: Cluster) -> None:
    code, ctype, body = call(cluster, "GET", f"{SECRETS}/missing")
    status = protobuf.decode_object(body)
    assert (code, ctype) == (404, PB)
    assert status == {
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Failure",
        "message": 'secrets "missing" not found',
        "reason": "NotFound",
        "details": {"name": "missing", "kind": "secrets"},
        "code": 404,
    }
    code, ctype, body = call(cluster, "GET", SECRETS, token="wrong")
    assert (code, ctype, protobuf.decode_object(body)["reason"]) == (401, PB, "Unauthorized")
    code, ctype, body = call(cluster, "POST", SECRETS, b"k8s\x00\x0a\x05ab")
    assert (code, ctype, protobuf.decode_object(body)["reason"]) == (400, PB, "BadRequest")
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    code, _, body = call(cluster, "POST", SECRETS, pb(cm))
    assert code == 400 and "expected Secret" in protobuf.decode_object(body)["message"]


def test_kinds_without_a_schema(cluster: Cluster) -> None:
    deployment = protobuf.wrap("apps/v1", "Deployment", b"\x0a\x03\x0a\x01d")
    deployments = "/apis/apps/v1/namespaces/default/deployments"
    code, ctype, body = call(cluster, "POST", deployments, deployment, accept="application/json")
    status = json.loads(body)
    assert (code, ctype, status["reason"]) == (415, "application/json", "UnsupportedMediaType")
    assert "cannot decode Deployment (apps/v1) from protobuf" in status["message"]
    assert status["details"] == {"group": "apps", "kind": "Deployment"}
    # responses of kinds without a schema are JSON, whatever Accept prefers
    cluster.apps.create_namespaced_deployment("default", _deployment("d"))
    code, ctype, body = call(cluster, "GET", f"{deployments}/d")
    assert (code, ctype, json.loads(body)["kind"]) == (200, "application/json", "Deployment")


def test_watch_with_protobuf_accept_is_json(cluster: Cluster) -> None:
    cluster.core.create_namespaced_secret("default", {"metadata": {"name": "w"}})
    code, ctype, body = call(cluster, "GET", f"{SECRETS}?watch=true&timeoutSeconds=1")
    assert (code, ctype) == (200, "application/json")  # client-go decodes by Content-Type
    events = [json.loads(line) for line in body.splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "w")]


def test_kubectl_generators_send_protobuf(cluster: Cluster) -> None:
    cluster.kubectl("create", "configmap", "gen", "--from-literal=a=b")
    cluster.kubectl("create", "secret", "generic", "sec", "--from-literal=x=y")
    assert cluster.core.read_namespaced_config_map("gen", "default").data == {"a": "b"}
    assert cluster.core.read_namespaced_secret("sec", "default").data == {"x": "eQ=="}
    posts = [r for r in cluster.fleet.requests(cluster.name) if r["method"] == "POST"]
    assert {r["contentType"] for r in posts} == {PB}
    out = cluster.kubectl("get", "cm", "gen", "-o", "jsonpath={.data.a}")
    assert out.stdout == "b"
    cluster.kubectl("delete", "secret", "sec")


def _deployment(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }


# -- the generator of GOOGLE -----------------------------------------------------------------


def _google_goldens() -> dict[str, str]:  # pragma: no cover - needs google.protobuf
    """Descriptors of the messages built at run time (no protoc), serialised by upb."""
    from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

    fdp = descriptor_pb2.FieldDescriptorProto
    scalar = {"string": fdp.TYPE_STRING, "bytes": fdp.TYPE_BYTES, "bool": fdp.TYPE_BOOL}
    scalar |= {"int64": fdp.TYPE_INT64, "int32": fdp.TYPE_INT32}
    file = descriptor_pb2.FileDescriptorProto(name="k8s.proto", package="k8s", syntax="proto2")

    def message(name: str, spec: str, maps: str = "") -> None:
        # spec: "number:name:type[*]" (* = repeated); maps: "number:name:valuetype"
        m = file.message_type.add(name=name)
        for item in spec.split():
            number, fname, typ = item.split(":")
            label = fdp.LABEL_REPEATED if typ.endswith("*") else fdp.LABEL_OPTIONAL
            f = m.field.add(name=fname, number=int(number), label=label)
            typ = typ.rstrip("*")
            if typ in scalar:
                f.type = scalar[typ]
            else:
                f.type, f.type_name = fdp.TYPE_MESSAGE, f".k8s.{typ}"
        for item in maps.split():
            number, fname, vtyp = item.split(":")
            entry = m.nested_type.add(name=fname.capitalize() + "Entry")
            entry.options.map_entry = True
            entry.field.add(name="key", number=1, label=fdp.LABEL_OPTIONAL, type=fdp.TYPE_STRING)
            entry.field.add(name="value", number=2, label=fdp.LABEL_OPTIONAL, type=scalar[vtyp])
            f = m.field.add(name=fname, number=int(number), label=fdp.LABEL_REPEATED)
            f.type, f.type_name = fdp.TYPE_MESSAGE, f".k8s.{name}.{entry.name}"

    message("Time", "1:seconds:int64 2:nanos:int32")
    message("FieldsV1", "1:Raw:bytes")
    message("OwnerReference", "1:kind:string 3:name:string 4:uid:string 5:apiVersion:string "
            "6:controller:bool 7:blockOwnerDeletion:bool")  # fmt: skip
    message("ManagedFieldsEntry", "1:manager:string 2:operation:string 3:apiVersion:string "
            "4:time:Time 6:fieldsType:string 7:fieldsV1:FieldsV1 8:subresource:string")  # fmt: skip
    message("ObjectMeta", "1:name:string 3:namespace:string 5:uid:string "
            "6:resourceVersion:string 7:generation:int64 8:creationTimestamp:Time "
            "9:deletionTimestamp:Time 10:deletionGracePeriodSeconds:int64 "
            "13:ownerReferences:OwnerReference* 14:finalizers:string* "
            "17:managedFields:ManagedFieldsEntry*", "11:labels:string 12:annotations:string")  # fmt: skip
    message("ListMeta", "2:resourceVersion:string 3:continue:string 4:remainingItemCount:int64")
    message("Preconditions", "1:uid:string 2:resourceVersion:string")
    message("DeleteOptions", "1:gracePeriodSeconds:int64 2:preconditions:Preconditions "
            "3:orphanDependents:bool 4:propagationPolicy:string 5:dryRun:string*")  # fmt: skip
    message("StatusCause", "1:reason:string 2:message:string 3:field:string")
    message("StatusDetails", "1:name:string 3:kind:string 4:causes:StatusCause*")
    message("Status", "1:metadata:ListMeta 2:status:string 3:message:string 4:reason:string "
            "5:details:StatusDetails 6:code:int32")  # fmt: skip
    message("Secret", "1:metadata:ObjectMeta 3:type:string 5:immutable:bool", "2:data:bytes")
    message("SecretList", "1:metadata:ListMeta 2:items:Secret*")
    message("ConfigMap", "1:metadata:ObjectMeta 4:immutable:bool",
            "2:data:string 3:binaryData:bytes")  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)

    def new(name: str, **fields: Any) -> Any:
        cls = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"k8s.{name}"))
        return json_format.ParseDict(fields, cls())

    return {
        name: new(msg.name, **_for_json_format(obj)).SerializeToString(deterministic=True).hex()
        for name, msg, obj in CASES
    }


def _for_json_format(obj: Any) -> Any:
    """The fleet's JSON form -> protobuf's JSON mapping: times as {seconds, nanos}, fieldsV1 as
    {Raw: base64 of its JSON}."""
    if isinstance(obj, list):
        return [_for_json_format(v) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key in ("creationTimestamp", "deletionTimestamp", "time"):
            stamp = int(dt.datetime.fromisoformat(value).timestamp())
            out[key] = {"seconds": str(stamp), "nanos": 0}
        elif key == "fieldsV1":
            raw = json.dumps(value, separators=(",", ":")).encode()
            out[key] = {"Raw": base64.b64encode(raw).decode()}
        else:
            out[key] = _for_json_format(value)
    return out
