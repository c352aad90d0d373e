"""BRIEF section 7, REST API and Secrets: with a token configured every ``/v1`` endpoint,
the OpenAPI document and ``/docs`` answer 401 without it (or with a wrong one), the API is
read-only, and Secret data never appears in REST responses, NATS (matching-set entries,
deprecated reports, events, every bucket but the desired state addressed to the destination
agent), the management EventReports, or the logs -- nor does content rendered from a Secret
policyRef into another kind (a ConfigMap: issue 16, item 7). Issue 18, item 6: a 401 carries
the bearer challenge, /docs loads Swagger UI from the manager only, and schemathesis checks
every operation of the running manager against the document it serves."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from services.scenario.stack import Stack
from shared.api.vocabulary import ObjectKey
from shared.contract import streams, subjects
from shared.contract.redact import REDACTED
from shared.contract.subjects import ClusterRef
from shared.kube import GVK
from tests.manager.test_api_schema import check_operation, document, operations
from tests.reliability.helpers import (
    API_TOKEN,
    CONFIG_MAP,
    EVENT_REPORT,
    SECRET,
    Http,
    SyncNats,
    delete_definitions,
    event_source,
    event_trigger,
    eventually,
    policies,
    policy_set,
    rest,
    service,
)

CLUSTER = "default/cluster-rest"
REF = ClusterRef(namespace="default", name="cluster-rest")
NAME = "rest-secrets"
LABEL = "rest-secret-src"
COLLECTED = f"collected-{uuid.uuid4().hex}"  # a Secret's value in the managed cluster
REFERENCED = f"referenced-{uuid.uuid4().hex}"  # a Secret's value referenced by the trigger
CLUSTER_PROFILE = GVK("config.projectsveltos.io/v1beta1", "ClusterProfile")
DERIVED = f"derived-{uuid.uuid4().hex}"  # rendered from a Secret policyRef into a ConfigMap


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def leaks(text: str, *values: str) -> list[str]:
    """The secret values (plain or base64) found in ``text``."""
    found = []
    for value in values:
        for form in (value, _b64(value)):
            if form in text:
                found.append(form)
    return found


@pytest.fixture(scope="module")
def api(stack: Stack) -> Http:
    return rest(stack)


def get_paths(api: Http) -> list[str]:
    """Every GET path of the API without path parameters (from its OpenAPI document)."""
    doc = api.get("/openapi.json")
    return sorted(p for p, ops in doc["paths"].items() if "get" in ops and "{" not in p)


def test_every_v1_endpoint_requires_the_token(api: Http) -> None:
    paths = [p for p in get_paths(api) if p.startswith("/v1/")]
    assert {"/v1/triggers", "/v1/errors", "/v1/reports", "/v1/profiles"} <= set(paths)
    paths += ["/v1/triggers/anything", "/v1/profiles/anything"]
    for path in paths:
        for token in (None, "wrong-token", API_TOKEN + "x", ""):
            status, body = api.call("GET", path, token=token)
            assert status == 401, f"GET {path} with token {token!r}: {status} {body}"
        status, _ = api.call("GET", path)
        assert status in (200, 404), f"GET {path} with the token: {status}"
    raw = api.call("GET", "/v1/triggers", token=False)
    assert raw[0] == 401


@pytest.mark.parametrize("path", ["/openapi.json", "/docs"])
def test_the_openapi_document_and_docs_require_the_token(api: Http, path: str) -> None:
    import urllib.error
    import urllib.request

    for header in (None, "Bearer wrong-token", "Basic " + _b64(f"user:{API_TOKEN}")):
        request = urllib.request.Request(api.base + path)
        if header:
            request.add_header("Authorization", header)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        with err.value:
            assert err.value.code == 401, (path, header)
    request = urllib.request.Request(api.base + path)
    request.add_header("Authorization", f"Bearer {API_TOKEN}")
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200 and b"/v1/profiles" in resp.read()


def test_basic_auth_with_the_token_is_refused(api: Http) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(api.base + "/v1/triggers")
    request.add_header("Authorization", "Basic " + _b64(f"user:{API_TOKEN}"))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    with err.value:
        assert err.value.code == 401


def test_the_api_is_read_only(api: Http) -> None:
    for path in ("/v1/triggers", "/v1/triggers/x", "/v1/profiles", "/v1/errors"):
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            status, body = api.call(method, path, {"spec": {}})
            assert status in (404, 405), f"{method} {path}: {status} {body}"


@pytest.fixture(scope="module")
def secrets_flow(stack: Stack) -> Iterator[dict[str, Any]]:
    """An EventSource collecting Secrets of cluster-rest; its trigger deploys a ConfigMap per
    Secret (listing the Secret's keys) plus, from a Secret referenced as it is, a Secret and
    a ConfigMap."""
    copy_template = (
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: copy-{{ .Resource.metadata.name }}\n"
        "  namespace: default\n"
        "data:\n"
        "  keys: '{{ range $k, $v := .Resource.data }}{{ $k }} {{ end }}'\n"
        "  seen: '{{ .Resource.data.password }}'\n"
    )
    deployed_secret = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "deployed-secret", "namespace": "default"},
            "data": {"token": _b64(REFERENCED)},
        }
    )
    source = event_source(NAME, LABEL, kind="Secret")
    template = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": NAME,
            "namespace": "default",
            "annotations": {"projectsveltos.io/instantiate": "ok"},
        },
        "data": {"copy.yaml": copy_template},
    }
    derived_config = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "derived-config", "namespace": "default"},
            "data": {"token": DERIVED},
        }
    )
    referenced = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "addons.projectsveltos.io/cluster-profile",
        "metadata": {"name": f"{NAME}-ref", "namespace": "default"},
        "data": {"secret.yaml": _b64(deployed_secret), "config.yaml": _b64(derived_config)},
    }
    trigger = event_trigger(NAME, NAME, "rest", NAME)
    trigger["spec"]["policyRefs"].append(
        {"kind": "Secret", "namespace": "default", "name": f"{NAME}-ref"}
    )
    definitions = [source, template, referenced, trigger]
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    client.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", "namespace": "default", "labels": {LABEL: "on"}},
            "type": "Opaque",
            "data": {"password": _b64(COLLECTED)},
        }
    )
    copy = eventually(
        lambda: client.get(CONFIG_MAP, "default", "copy-db"), 15, what="the ConfigMap copy"
    )
    eventually(lambda: client.get(SECRET, "default", "deployed-secret"), 15, what="deployed Secret")
    derived = eventually(
        lambda: client.get(CONFIG_MAP, "default", "derived-config"), 15, what="derived ConfigMap"
    )
    assert derived["data"]["token"] == DERIVED, "deployed in clear in its cluster"
    yield {"copy": copy}
    delete_definitions(stack, definitions)


def test_templates_see_only_redacted_secret_values(stack: Stack, secrets_flow: dict) -> None:
    copy = secrets_flow["copy"]
    assert copy["data"]["keys"].split() == ["password"]
    assert copy["data"]["seen"] == REDACTED
    assert not leaks(json.dumps(copy), COLLECTED)


def test_rest_responses_carry_no_secret_data(api: Http, secrets_flow: dict) -> None:
    bodies = {path: api.get(path) for path in get_paths(api)}
    profiles = [p["name"] for p in api.get("/v1/profiles") if p["trigger"] == NAME]
    assert profiles, "the trigger's profile is listed"
    for name in profiles:
        bodies[f"/v1/profiles/{name}"] = api.get(f"/v1/profiles/{name}")
    bodies[f"/v1/triggers/{NAME}"] = api.get(f"/v1/triggers/{NAME}")
    full = f"/v1/reports/default/cluster-rest/{NAME}"  # with the collected objects
    bodies[full] = api.get(full)
    (collected,) = bodies[full]["resources"]
    assert collected["data"] == {"password": REDACTED}, collected
    text = json.dumps(bodies[f"/v1/profiles/{profiles[0]}"])
    assert "deployed-secret" in text, "the referenced Secret's manifest is listed (redacted)"
    objects = {
        o["manifest"]["metadata"]["name"]: o
        for o in bodies[f"/v1/profiles/{profiles[0]}"]["objects"]
    }
    derived = objects["derived-config"]
    assert derived["reference"]["kind"] == "Secret"
    assert derived["manifest"]["kind"] == "ConfigMap" and derived["manifest"]["data"] == REDACTED
    for path, body in bodies.items():
        assert not leaks(json.dumps(body), COLLECTED, REFERENCED, DERIVED), f"GET {path} leaks"


def test_a_good_trigger_beside_the_secret_flow_keeps_its_latency_and_shows_in_clear(
    stack: Stack, api: Http, secrets_flow: dict
) -> None:
    """Redaction is for what comes from a Secret: a ConfigMap policyRef's manifests are
    listed as they are, and the good trigger of the same cluster deploys within its usual
    latency while the Secret flow is there."""
    good = policy_set("rest-good", "rest", "rest-good-svc")
    stack.apply_management(good)
    client = stack.client(CLUSTER)
    try:
        started = time.monotonic()
        client.apply(service("good-web", "rest-good-svc"))
        eventually(lambda: "rest-good-good-web" in policies(client, "rest-good"), 10)
        took = time.monotonic() - started
        print(f"\nrest lane: good trigger Service -> NetworkPolicy {took * 1000:.0f} ms")
        assert took < 5.0
        (profile,) = [p for p in api.get("/v1/profiles") if p["trigger"] == "rest-good"]
        (obj,) = profile["objects"]
        assert obj["reference"]["kind"] == "ConfigMap"
        assert obj["manifest"]["spec"] == {"podSelector": {}}, "shown as it is"
    finally:
        client.delete(GVK("v1", "Service"), "default", "good-web")
        delete_definitions(stack, good)


def test_nats_carries_no_collected_secret_data(
    stack: Stack, bus: SyncNats, secrets_flow: dict
) -> None:
    key = subjects.match_key(REF, NAME, ObjectKey("v1", "Secret", "default", "db"))
    raw = bus.kv_raw(streams.MATCHES.bucket, key)
    assert raw is not None, f"no ripple-matches entry {key}"
    assert json.loads(raw)["data"]["object"]["data"] == {"password": REDACTED}
    # the deprecated snapshot, published at most once per --report-interval (1 s)
    raw = eventually(
        lambda: bus.kv_raw(streams.REPORTS.bucket, subjects.report_key(REF, NAME)),
        5,
        what="the deprecated ripple-reports snapshot",
    )
    report = json.loads(raw)["data"]
    (secret,) = report["resources"]
    assert secret["data"] == {"password": REDACTED}
    events = bus.stream_messages(streams.EVENTS.name, subjects.events_wildcard(REF, NAME))
    assert events, "per-change events were published"
    for message in events:
        obj = json.loads(message)["data"].get("object")
        assert obj is None or obj["data"] == {"password": REDACTED}
    for bucket in streams.BUCKETS:
        allowed = (REFERENCED, DERIVED) if bucket is streams.DESIRED else ()
        for message in bus.stream_messages(bucket.stream_name, f"$KV.{bucket.bucket}.>"):
            text = message.decode(errors="replace")
            found = leaks(text, COLLECTED, REFERENCED, DERIVED)
            assert all(f in (*allowed, *map(_b64, allowed)) for f in found), (
                f"{bucket.bucket} leaks {found}"
            )
    for message in events:
        assert not leaks(message.decode(errors="replace"), COLLECTED, REFERENCED, DERIVED)


def test_event_report_and_logs_carry_no_secret_data(stack: Stack, secrets_flow: dict) -> None:
    report = eventually(
        lambda: stack.management.get(EVENT_REPORT, "default", f"sveltos--{NAME}--cluster-rest"),
        10,
        what="the EventReport",
    )
    resources = base64.b64decode(report["spec"]["resources"]).decode()
    # Go's encoding/json, as Sveltos' agent writes it (``<`` is ``\u003c``): read it back
    docs = [json.loads(chunk) for chunk in resources.split("\n---") if chunk.strip()]
    assert any((d.get("data") or {}).get("password") == REDACTED for d in docs), docs
    assert not leaks(json.dumps(report) + resources, COLLECTED, REFERENCED, DERIVED)
    for log in sorted(stack.log_dir.glob("*.log")):
        found = leaks(log.read_text(errors="replace"), COLLECTED, REFERENCED, DERIVED)
        assert not found, f"{log.name} leaks {found}"
    # the management cluster's copies: the generated ClusterProfile and ConfigMaps
    for gvk in (CLUSTER_PROFILE, CONFIG_MAP):
        for obj in stack.management.list(gvk)[0]:
            assert not leaks(json.dumps(obj), COLLECTED, REFERENCED, DERIVED), obj["metadata"]


def test_docker_compose_publishes_ports_on_the_loopback_only() -> None:
    """NATS, its monitoring port and the REST API are reachable from this host only."""
    from tests.paths import REPO

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    published = [
        (name, str(port))
        for name, service in compose["services"].items()
        for port in service.get("ports") or ()
    ]
    assert {p.rsplit(":", 1)[-1] for _, p in published} >= {"4222", "8222", "8080"}
    for name, port in published:
        assert port.startswith("127.0.0.1:") and port.count(":") == 2, (name, port)


# -- the document, the 401 challenge and the local Swagger UI, on the running manager -----------
def _raw(api: Http, path: str, header: str | None) -> tuple[int, dict[str, str], bytes]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(api.base + path)
    if header:
        request.add_header("Authorization", header)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, dict(err.headers), err.read()


def test_a_401_carries_the_bearer_challenge(api: Http) -> None:
    paths = [p for p in get_paths(api) if p != "/healthz"]
    paths += ["/v1/triggers/x", "/openapi.json", "/docs", "/docs/assets/swagger-ui-bundle.js"]
    for path in paths:
        status, headers, _ = _raw(api, path, None)
        assert (status, headers.get("www-authenticate")) == (401, 'Bearer realm="ripple"'), path
        status, headers, _ = _raw(api, path, "Bearer wrong-token")
        assert status == 401, path
        assert headers["www-authenticate"] == 'Bearer realm="ripple", error="invalid_token"', path


def test_the_docs_page_and_its_assets_come_from_the_manager(api: Http) -> None:
    """Nothing from a CDN: the page refers to files the manager serves (behind the token),
    and its Content-Security-Policy forbids loading from anywhere else."""
    import re

    status, headers, body = _raw(api, "/docs", f"Bearer {API_TOKEN}")
    page = body.decode()
    assert status == 200 and "default-src 'self'" in headers["content-security-policy"]
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert refs and all(r.startswith("docs/assets/") for r in refs), refs
    assert not re.search(r"https?://", page)
    for ref in refs:
        status, _, asset = _raw(api, "/" + ref, f"Bearer {API_TOKEN}")
        assert status == 200 and len(asset) > 500, ref


def test_the_running_manager_serves_the_document_tested_by_schemathesis(api: Http) -> None:
    assert api.get("/openapi.json") == DOCUMENT


DOCUMENT = document(API_TOKEN)
OPERATIONS = operations(DOCUMENT)


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_operation_of_the_running_manager_answers_as_documented(
    label: str, api: Http, secrets_flow: dict[str, Any]
) -> None:
    """schemathesis against the manager process of the stack (real matching sets, profiles,
    outcomes and agents), with the token."""
    check_operation(OPERATIONS[label], api.base, API_TOKEN, examples=5)
