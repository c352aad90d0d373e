"""The REST API over the manager's immutable snapshots: served on the loop (uvicorn, real
HTTP), a snapshot never changes once taken, a request during a reconcile gets the previous
one, and failing publications are listed."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from services.manager.api import secret_derived
from services.manager.outputs import BUCKETS
from services.manager.planning import PolicyRefView, TriggerView
from services.manager.reconciler import Reconciler
from services.manager.rendering import RENDER_SECONDS
from services.manager.service import serve_api
from services.manager.snapshot import Snapshot
from services.scenario.processes import free_port
from shared.api.selectors import parse_selector
from shared.contract.redact import REDACTED
from shared.metrics import Histogram
from shared.runtime.slicing import Slicer
from tests.manager.test_publication import A, B, new_state, report
from tests.manager.test_publisher import BIG, until

TOKEN = "api-test-token"


class MemoryBucket:
    def __init__(self) -> None:
        self.values: dict[str, bytes] = {}

    async def put(self, key: str, value: bytes) -> int:
        await asyncio.sleep(0)
        self.values[key] = value
        return len(self.values)

    async def delete(self, key: str) -> None:
        await asyncio.sleep(0)
        self.values.pop(key, None)


class Source:
    def __init__(self, rec: Reconciler) -> None:
        self.rec = rec

    def snapshot(self) -> Snapshot:
        return self.rec.snapshot()

    def metrics(self) -> Mapping[str, tuple[str, str, float]]:
        return self.rec.metrics()

    def kv_problems(self) -> list[tuple[str, str]]:
        return []

    def histograms(self) -> list[Histogram]:
        return [RENDER_SECONDS]


def reconciler(template: str | None = None, limit: int = 1 << 20) -> Reconciler:
    state = new_state(template) if template else new_state()
    report(state, A, "s1", "s2")
    report(state, B)
    return Reconciler({b: MemoryBucket() for b in BUCKETS}, limit=limit, state=state)


@pytest.fixture
async def served() -> AsyncIterator[tuple[Reconciler, str]]:
    rec = reconciler(BIG, limit=4000)
    port = free_port()
    tasks = [
        asyncio.create_task(serve_api(Source(rec), "127.0.0.1", port, TOKEN)),
        asyncio.create_task(rec.publisher.run(2)),
    ]
    await rec.reconcile()
    base = f"http://127.0.0.1:{port}"

    async def answers() -> bool:
        try:
            async with aiohttp.ClientSession() as s, s.get(base + "/healthz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    await until(answers, what="API answering")
    yield rec, base
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def get(base: str, path: str, token: str | None = TOKEN) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.get(base + path, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_endpoints_read_the_snapshot(served: tuple[Reconciler, str]) -> None:
    rec, base = served
    assert await get(base, "/healthz", None) == (200, {"status": "ok", "ready": True})
    assert (await get(base, "/v1/triggers", None))[0] == 401
    await until(rec.publisher.queue.idle, what="publication done")
    status, (trigger,) = await get(base, "/v1/triggers")
    assert status == 200 and trigger["name"] == "t"
    assert trigger["matchingClusters"] == [str(A), str(B)]
    assert len(trigger["profiles"]) == 2
    # the oversized profiles: failing publications, in the trigger's errors and listed
    assert any("4000-byte message limit" in e for e in trigger["errors"])
    status, failures = await get(base, "/v1/publication")
    assert status == 200 and len(failures) == 4
    assert {f["definition"] for f in failures} == {"EventTrigger/t"}
    assert all(f["terminal"] for f in failures)
    _, errors = await get(base, "/v1/errors")
    assert {e["object"].split("/")[0] for e in errors} == {"ripple-desired", "ripple-profiles"}
    _, profile = await get(base, f"/v1/profiles/{trigger['profiles'][0]}")
    assert profile["trigger"] == "t" and profile["sourceCluster"] == str(A)
    assert (await get(base, "/v1/profiles/nope"))[0] == 404
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as s, s.get(base + "/metrics", headers=auth) as r:
        text = await r.text()
    assert "ripple_manager_publication_failures 4.0" in text
    # the histograms too, as the metrics port serves them (render time here)
    assert "# TYPE ripple_manager_render_seconds histogram" in text


async def test_a_snapshot_never_changes_and_a_reconcile_in_progress_shows_the_last_one() -> None:
    rec = reconciler()
    await rec.reconcile()
    before = rec.snapshot()
    profiles = dict(before.profiles)
    report(rec.state, A, "s1", "s2", "s3")
    report(rec.state, B, "s4")
    reconciling = asyncio.create_task(rec.reconcile(Slicer(budget=0.0)))  # yields every step
    seen: list[Snapshot] = []
    while not reconciling.done():
        seen.append(rec.snapshot())
        await asyncio.sleep(0)
    await reconciling
    assert seen and all(s is before for s in seen), "mid-reconcile: the previous snapshot"
    assert dict(before.profiles) == profiles, "a snapshot taken never changes"
    after = rec.snapshot()
    assert after.version > before.version and len(after.profiles) == len(profiles) + 2
    with pytest.raises(TypeError):
        after.profiles["x"] = None  # type: ignore[index]


# -- Secrets (issue 16, item 7) ----------------------------------------------------------------
SECRET_VALUE = "s3cr3t-value-from-a-secret"
VALUES_SECRET = "chart-values-from-a-secret"
SECRET_TEMPLATE = f"""\
apiVersion: v1
kind: ConfigMap
metadata:
  name: from-secret-{{{{ .MatchingResource.Name }}}}
  namespace: default
  labels:
    leaked: {SECRET_VALUE}
  annotations:
    note: {SECRET_VALUE}
data:
  password: {SECRET_VALUE}
"""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(name: str, data: dict[str, str], instantiate: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if instantiate:
        meta["annotations"] = {"projectsveltos.io/instantiate": "ok"}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "addons.projectsveltos.io/cluster-profile",
        "metadata": meta,
        "data": {k: _b64(v) for k, v in data.items()},
    }


def secrets_reconciler(values_text: str = f"password: {VALUES_SECRET}\n") -> Reconciler:
    """Trigger ``t`` deploys a ConfigMap rendered from a Secret (as it is, and instantiated)
    and a chart whose values come from a Secret."""
    state = new_state()
    state.set_ref("Secret", "default", "plain", secret("plain", {"cm.yaml": SECRET_TEMPLATE}))
    state.set_ref(
        "Secret", "default", "tpl", secret("tpl", {"cm.yaml": SECRET_TEMPLATE}, instantiate=True)
    )
    state.set_ref("Secret", "default", "values", secret("values", {"v.yaml": values_text}))
    chart = {
        "repositoryURL": "https://charts.example.com",
        "repositoryName": "example",
        "chartName": "example/app",
        "chartVersion": "1.0.0",
        "releaseName": "app-{{ .MatchingResource.Name }}",
        "releaseNamespace": "default",
        "helmChartAction": "Install",
        "values": "replicas: 2\n",
        "valuesFrom": [{"kind": "Secret", "namespace": "default", "name": "values"}],
    }
    state.set_trigger(
        TriggerView(
            kind="EventTrigger",
            name="t",
            source_selector=parse_selector("env=fv"),
            event_source_name="svc",
            one_for_event=True,
            policy_refs=(
                PolicyRefView("ConfigMap", "default", "tpl"),
                PolicyRefView("Secret", "default", "plain"),
                PolicyRefView("Secret", "default", "tpl"),
            ),
            helm_charts=(chart,),
        )
    )
    report(state, A, "s1")
    return Reconciler({b: MemoryBucket() for b in BUCKETS}, limit=1 << 20, state=state)


@asynccontextmanager
async def serving(rec: Reconciler, token: str | None = TOKEN) -> AsyncIterator[str]:
    port = free_port()
    task = asyncio.create_task(serve_api(Source(rec), "127.0.0.1", port, token))
    base = f"http://127.0.0.1:{port}"

    async def answers() -> bool:
        try:
            async with aiohttp.ClientSession() as s, s.get(base + "/healthz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    try:
        await until(answers, what="API answering")
        yield base
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_content_rendered_from_a_secret_is_redacted_whatever_kind_it_renders_to() -> None:
    rec = secrets_reconciler()
    await rec.reconcile()
    (plan,) = [p for p in rec.snapshot().profiles.values() if not p.error]
    assert {o.reference.kind for o in plan.objects} == {"ConfigMap", "Secret"}
    assert plan.charts and plan.charts[0].values["password"] == VALUES_SECRET  # the agent's
    async with serving(rec) as base:
        status, listed = await get(base, "/v1/profiles")
        assert status == 200
        status, one = await get(base, f"/v1/profiles/{plan.name}")
        assert status == 200
        for body in (listed, one):
            text = json.dumps(body)
            assert SECRET_VALUE not in text and _b64(SECRET_VALUE) not in text
            assert VALUES_SECRET not in text and _b64(VALUES_SECRET) not in text
        by_ref = {(o["reference"]["kind"], o["reference"]["name"]): o for o in one["objects"]}
        assert len(by_ref) == 3
        for (kind, _), obj in by_ref.items():
            manifest = obj["manifest"]
            assert manifest["kind"] == "ConfigMap" and manifest["metadata"]["name"]
            if kind == "ConfigMap":  # a ConfigMap policyRef: shown as it is
                continue
            assert manifest["data"] == REDACTED
            meta = manifest["metadata"]
            assert meta["labels"]["leaked"] == REDACTED
            assert meta["annotations"]["note"] == REDACTED
            assert meta["annotations"]["projectsveltos.io/reference-kind"] == "Secret"
            assert meta["annotations"]["projectsveltos.io/hash"] == obj["hash"]
        (chart,) = one["helmCharts"]
        assert set(chart) == {"chart", "hash"}
        assert chart["chart"]["valuesFrom"] == [
            {"kind": "Secret", "namespace": "default", "name": "values"}
        ]


def test_secret_derived_keeps_identity_and_redacts_the_rest() -> None:
    manifest = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": "b",
            "generateName": "x",
            "labels": {"projectsveltos.io/reason": "Resources", "x": "y"},
        },
        "roleRef": {"name": "cluster-admin"},
        "subjects": [],
    }
    assert secret_derived(manifest) == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": "b",
            "generateName": REDACTED,
            "labels": {"projectsveltos.io/reason": "Resources", "x": REDACTED},
        },
        "roleRef": REDACTED,
        "subjects": REDACTED,
    }
    assert secret_derived({"kind": "X", "metadata": "odd"})["metadata"] == REDACTED


async def test_an_invalid_values_secret_does_not_leak_through_errors() -> None:
    rec = secrets_reconciler(values_text=f"password: {VALUES_SECRET}: x\n")
    await rec.reconcile()
    async with serving(rec) as base:
        _, trigger = await get(base, "/v1/triggers/t")
        assert trigger["errors"], "the values error is shown"
        bodies = [trigger, (await get(base, "/v1/profiles"))[1]]
        assert VALUES_SECRET not in json.dumps(bodies)


@pytest.mark.parametrize("path", ["/openapi.json", "/docs"])
async def test_the_openapi_document_and_docs_follow_the_token(path: str) -> None:
    rec = reconciler()
    async with serving(rec, TOKEN) as base:
        for token in (None, "wrong"):
            status, _ = await get_text(base, path, token)
            assert status == 401, (path, token)
        status, body = await get_text(base, path, TOKEN)
        assert status == 200 and "/v1/profiles" in body
    async with serving(rec, None) as base:  # no token configured: open, as every endpoint
        status, body = await get_text(base, path, None)
        assert status == 200 and "/v1/profiles" in body


async def test_the_docs_page_inlines_the_document_and_offers_the_bearer_scheme() -> None:
    async with serving(reconciler(), TOKEN) as base:
        _, doc = await get(base, "/openapi.json")
        assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
        assert "/openapi.json" not in doc["paths"] and "/docs" not in doc["paths"]
        _, page = await get_text(base, "/docs", TOKEN)
        assert '"spec"' in page  # the browser needs no token-less fetch of /openapi.json


async def get_text(base: str, path: str, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.get(base + path, headers=headers) as r:
        return r.status, await r.text()


# -- auth challenge and the local Swagger UI (issue 18, item 6) ---------------------------------
async def test_a_401_carries_the_bearer_challenge() -> None:
    async with serving(reconciler(), TOKEN) as base, aiohttp.ClientSession() as s:
        cases = {
            None: 'Bearer realm="ripple"',
            f"Basic {_b64('user:' + TOKEN)}": 'Bearer realm="ripple"',
            "Bearer wrong": 'Bearer realm="ripple", error="invalid_token"',
            "Bearer t\u00e9st": 'Bearer realm="ripple", error="invalid_token"',  # not a 500
        }
        for path in ("/v1/triggers", "/v1/profiles/nope", "/openapi.json", "/docs"):
            for header, challenge in cases.items():
                headers = {"Authorization": header} if header else {}
                async with s.get(base + path, headers=headers) as r:
                    assert r.status == 401, (path, header)
                    assert r.headers["WWW-Authenticate"] == challenge, (path, header)
                    assert await r.json() == {"detail": "a valid bearer token is required"}
        async with s.get(base + "/healthz") as r:
            assert r.status == 200 and "WWW-Authenticate" not in r.headers


async def test_the_docs_page_loads_swagger_ui_from_the_api_only() -> None:
    """/docs and every file it refers to come from the API (swagger-ui-bundle, installed),
    behind the token; the page names no other host and forbids loading from one (CSP)."""
    import re

    async with serving(reconciler(), TOKEN) as base, aiohttp.ClientSession() as s:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with s.get(base + "/docs", headers=auth) as r:
            assert r.status == 200
            page = await r.text()
            csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "connect-src 'self'" in csp
        refs = re.findall(r'(?:src|href)="([^"]*)"', page)
        assert sorted(refs) == [
            "docs/assets/favicon-32x32.png",
            "docs/assets/swagger-ui-bundle.js",
            "docs/assets/swagger-ui.css",
        ]
        assert '"validatorUrl": null' in page, "no validator badge from validator.swagger.io"
        assert not re.search(r"https?://", page), "the page names no other host"
        types = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
        for ref in refs:
            url = f"{base}/{ref}"  # relative to /docs
            async with s.get(url, headers=auth) as r:
                body = await r.read()
                assert r.status == 200 and len(body) > 500, ref
                assert types[ref[ref.rindex(".") :]] in r.headers["Content-Type"], ref
            async with s.get(url) as r:
                assert r.status == 401, f"{ref} without the token"
        for missing in ("index.html", "nope.js", "..%2F..%2Fapi.py", "%2Fetc%2Fpasswd"):
            async with s.get(f"{base}/docs/assets/{missing}", headers=auth) as r:
                assert r.status == 404, missing
