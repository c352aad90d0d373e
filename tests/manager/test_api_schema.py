"""schemathesis against the document the REST API serves: every operation, with the token,
over real HTTP (uvicorn on loopback), on a manager whose snapshot has something in every
list (triggers, profiles with objects and an apply outcome, matching sets, an agent,
failing publications). Each answer must be one the document declares (status, headers,
content type, body schema), a wrong or missing token a 401 with its challenge, and nothing
a 500. The examples per operation are bounded (the path parameters are strings: more
examples find nothing new)."""

from __future__ import annotations

import asyncio
import datetime
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import APIOperation, GenerationMode
from schemathesis.core.result import Ok

from services.manager.api import create_app
from services.manager.apidocs import complete
from services.manager.reconciler import Reconciler
from services.manager.service import serve_api
from services.scenario.processes import free_port
from shared.bus.kv import KVChange
from shared.contract import messages as m
from shared.contract import payloads as p
from shared.contract import subjects
from shared.contract.examples import example
from shared.contract.subjects import ClusterRef
from tests.integration.helpers import eventually
from tests.manager.test_api import TOKEN, Source, reconciler
from tests.manager.test_publication import A
from tests.manager.test_publisher import BIG

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _envelope(cls: type[m.Envelope], subject: str, data: p.Model) -> Any:
    return cls.model_validate(
        {"id": "1", "source": "test", "subject": subject, "time": NOW, "data": data}
    )


def feed_matches(rec: Reconciler) -> None:
    """A matching set as an agent publishes it (the contract's examples: an entry with its
    collected object, then the head with a per-object error)."""
    entry, head = example(m.MatchEvent), example(m.MatchHeadEvent)
    rec.inputs.on_match(KVChange("put", m.message_key(entry), 1, entry))
    rec.inputs.on_match(KVChange("put", m.message_key(head), 2, head))


def feed_agent_and_outcome(rec: Reconciler) -> None:
    """What an agent publishes: its status (with an error) and one profile's outcome."""
    ref = ClusterRef.of(A)
    status = p.AgentStatus(
        cluster=ref, instance="i-1", state="degraded", errors=["watch failed: x"], time=NOW
    )
    key = subjects.agent_key(ref)
    rec.apply_agent(KVChange("put", key, 1, _envelope(m.AgentStatusEvent, key, status)))
    profile = sorted(rec.snapshot().profiles)[0]
    outcome = p.ApplyOutcome(
        cluster=ref,
        profile_name=profile,
        generation=1,
        status="Failed",
        message="apply failed",
        releases=[p.ReleaseOutcome(namespace="ns", name="r", status="failed")],
    )
    key = subjects.outcome_key(ref, profile)
    rec.apply_outcome(KVChange("put", key, 1, _envelope(m.ApplyOutcomeEvent, key, outcome)))


class Served:
    """The API on its own event loop in a thread (schemathesis' calls are synchronous)."""

    def __init__(self, token: str | None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.rec = reconciler(BIG, limit=4000)  # oversized profiles: failing publications
        self.tasks: list[asyncio.Task[None]] = []
        self.token = token

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    async def _start(self) -> None:
        source = Source(self.rec)
        self.tasks = [
            asyncio.create_task(serve_api(source, "127.0.0.1", self.port, self.token)),
            asyncio.create_task(self.rec.publisher.run(2)),
        ]
        feed_matches(self.rec)
        await self.rec.reconcile()
        feed_agent_and_outcome(self.rec)

    async def _stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def __enter__(self) -> Served:
        self.thread.start()
        self.run(self._start())

        def answers() -> bool:
            try:
                return requests.get(self.base + "/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        eventually(answers, 15, "the API answering")
        eventually(lambda: self.rec.publisher.queue.idle(), 15, "publication done")
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with Served(TOKEN) as served:
        yield served


def document(token: str | None) -> dict[str, Any]:
    """The document the API serves with (or without) a token: it depends on nothing else,
    so it is built at collection (to name one test per operation);
    :func:`test_the_served_document_is_the_one_tested` checks that the served one is the
    same."""
    return create_app(Source(reconciler()), token=token).openapi()


Operation = APIOperation[Any, Any, Any, Any]


def operations(doc: dict[str, Any]) -> dict[str, Operation]:
    """The document's operations by label (``GET /v1/triggers``)."""
    results = list(schemathesis.openapi.from_dict(doc).get_all_operations())
    ops = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(ops) == len(results), "every operation of the document loads"
    return {op.label: op for op in ops}


def check_operation(operation: Operation, base: str, token: str, examples: int) -> None:
    """schemathesis' checks (status, headers, content type and body schema conformance, no
    5xx, auth not ignored...) on ``examples`` generated requests, valid and (where the
    operation takes input) invalid ones.

    One pytest test per operation, parametrized here: schemathesis' own pytest collector
    (``schema.parametrize()``) gives every operation's test the same node id under pytest
    9.2 (it builds the id from ``originalname``), so pytest-xdist ran only one of them."""
    strategy = operation.as_strategy()
    if operation.path_parameters or operation.query or operation.body:
        strategy = strategy | operation.as_strategy(GenerationMode.NEGATIVE)

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.call_and_validate(base_url=base, headers={"Authorization": f"Bearer {token}"})

    check()


OPERATIONS = operations(document(TOKEN))


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_operation_answers_as_documented(label: str, served: Served) -> None:
    check_operation(OPERATIONS[label], served.base, TOKEN, examples=10)


def test_the_served_document_is_the_one_tested(served: Served) -> None:
    served_doc = requests.get(served.base + "/openapi.json", headers=AUTH, timeout=10).json()
    assert served_doc == document(TOKEN)
    assert requests.get(served.base + "/openapi.json", timeout=10).status_code == 401


def test_the_document_lists_every_operation_and_its_errors(served: Served) -> None:
    doc = requests.get(served.base + "/openapi.json", headers=AUTH, timeout=10).json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The API token (--api-token).",
    }
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            responses = op["responses"]
            assert "200" in responses and responses["200"].get("content"), (method, path)
            if path == "/healthz":
                assert "security" not in op and "401" not in responses
                continue
            assert op["security"] == [{"HTTPBearer": []}], (method, path)
            assert "WWW-Authenticate" in responses["401"]["headers"], (method, path)
            if method == "get":  # the named reads document their 404, and only them
                assert ("404" in responses) == ("{" in path), path
            if "requestBody" in op:
                assert "400" in responses and "422" in responses, (method, path)
    assert {
        "/v1/triggers/{name}",
        "/v1/profiles/{name}",
        "/v1/reports/{namespace}/{cluster}/{event_source}",
    } <= set(doc["paths"])


def test_without_a_token_the_document_declares_no_security() -> None:
    with Served(None) as served:
        doc = requests.get(served.base + "/openapi.json", timeout=10).json()
        assert "securitySchemes" not in doc.get("components", {})
        for path, ops in doc["paths"].items():
            for op in ops.values():
                assert "security" not in op and "401" not in op["responses"], path
        assert requests.get(served.base + "/v1/agents", timeout=10).status_code == 200


def test_the_named_reads_of_things_that_exist_answer_as_documented(served: Served) -> None:
    """Generated names find nothing (404): the 200 answers of the named reads, checked the
    same way, for things that exist."""
    snap = served.rec.snapshot()
    (cluster, event_source), _ = sorted(snap.reports.items())[0]
    named = {
        "/v1/triggers/{name}": {"name": sorted(snap.triggers)[0]},
        "/v1/profiles/{name}": {"name": sorted(snap.profiles)[0]},
        "/v1/reports/{namespace}/{cluster}/{event_source}": {
            "namespace": cluster.namespace,
            "cluster": cluster.name,
            "event_source": event_source,
        },
    }
    for path, params in named.items():
        case = OPERATIONS[f"GET {path}"].Case(path_parameters=params)
        response = case.call_and_validate(base_url=served.base, headers=AUTH)
        assert response.status_code == 200, (path, response.text)
    profile = requests.get(
        f"{served.base}/v1/profiles/{named['/v1/profiles/{name}']['name']}",
        headers=AUTH,
        timeout=10,
    ).json()
    assert profile["outcomes"][str(A)]["releases"][0]["status"] == "failed", "the fed outcome"


def test_what_an_operation_does_not_document_is_completed() -> None:
    """A guarded operation that omits its 401, or one with a body that omits FastAPI's 400
    (a router added by another module), gets them in the served document."""
    doc: dict[str, Any] = {
        "paths": {
            "/a": {"post": {"security": [{"HTTPBearer": []}], "requestBody": {}, "responses": {}}},
            "/b": {"get": {"responses": {"401": {"description": "own"}}}},
        }
    }
    complete(doc)
    a = doc["paths"]["/a"]["post"]["responses"]
    assert set(a) == {"400", "401"} and "WWW-Authenticate" in a["401"]["headers"]
    assert a["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")
    assert doc["paths"]["/b"]["get"]["responses"] == {"401": {"description": "own"}}
    assert doc["components"]["schemas"]["ErrorOut"]["required"] == ["detail"]
