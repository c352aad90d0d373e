"""docs/nats-contract.md stays true: its examples are the models' output and decode, its
permission template is generated, and its nats-py consumer scripts work."""

from __future__ import annotations

import asyncio
import re
import sys
from typing import Any

from shared.bus.client import publish_change
from shared.bus.embedded import EmbeddedNats
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.contract import permissions as p
from shared.contract import streams
from shared.contract.examples import CLUSTER, example, examples, markdown
from shared.contract.subjects import ClusterRef
from tests.paths import REPO

DOC = REPO / "docs" / "nats-contract.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), flags=re.S)


def test_examples_are_generated_from_the_models() -> None:
    assert markdown() in DOC.read_text()


def test_every_json_example_decodes() -> None:
    blocks = _blocks("json")
    assert len(blocks) == len(m.ENVELOPES)
    decoded = [m.decode(block.encode()) for block in blocks]
    assert decoded == examples()
    assert {type(d) for d in decoded} == set(m.ENVELOPES)


def test_permission_template_is_generated() -> None:
    block = p.authorization_block(
        [
            p.User("manager", "change-me"),
            p.User(
                "agent-default-prod.eu-1",
                "change-me-too",
                p.agent_permissions(CLUSTER),
            ),
        ]
    )
    assert block in DOC.read_text()


async def test_the_documented_nats_py_script_consumes_events(
    nats_server: EmbeddedNats, jetstream: Any
) -> None:
    script = next(b for b in _blocks("python") if "ordered_consumer=True" in b)
    script = script.replace("nats://127.0.0.1:4222", nats_server.url)
    for cls in m.RESOURCE_CHANGE_EVENTS:
        await publish_change(jetstream, example(cls).data)  # type: ignore[attr-defined]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-u", "-c", script, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(20):
            lines = [(await proc.stdout.readline()).decode().split() for _ in range(3)]
    finally:
        proc.kill()
        await proc.wait()
    assert [line[0] for line in lines] == [
        "io.ripple.resource.matched.v1",
        "io.ripple.resource.updated.v1",
        "io.ripple.resource.unmatched.v1",
    ]
    assert lines[0][1:] == ["prod.eu-1", "Service", "web"]


async def test_the_documented_nats_py_script_rebuilds_matching_sets(
    nats_server: EmbeddedNats, jetstream: Any
) -> None:
    script = next(b for b in _blocks("python") if 'key_value("ripple-matches")' in b)
    script = script.replace("nats://127.0.0.1:4222", nats_server.url)
    matches = await KVStore.open(jetstream, streams.MATCHES, (m.MatchEvent, m.MatchHeadEvent))
    web, head = example(m.MatchEvent), example(m.MatchHeadEvent)
    db = m.envelope(
        web.data.model_copy(update={"ref": web.data.ref.model_copy(update={"name": "db"})})
    )
    namespace = m.envelope(
        m.Match(
            cluster=CLUSTER,
            event_source_name="namespaces",
            ref=m.ObjectRef(api_version="v1", kind="Namespace", name="shop"),
        )
    )  # a set without a head yet
    elsewhere = [
        m.envelope(x.data.model_copy(update={"cluster": ClusterRef(namespace="default", name="b")}))
        for x in (web, head)
    ]
    for message in (web, db, head, namespace, *elsewhere):
        await matches.put(message)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-u", "-c", script, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    stdout = proc.stdout

    async def lines(n: int) -> list[str]:
        async with asyncio.timeout(20):
            return [(await stdout.readline()).decode().strip() for _ in range(n)]

    cluster = "default.capi--prod_2Eeu-1"
    try:
        assert await lines(2) == [  # the current values: every set of the cluster
            f"{cluster}.https-service complete Service/shop/db Service/shop/web",
            f"{cluster}.namespaces incomplete Namespace//shop",
        ]
        await matches.delete(db.subject)  # db stopped matching
        assert await lines(1) == [f"{cluster}.https-service complete Service/shop/web"]
        stale = head.data.model_copy(update={"complete": False, "generation": 43})
        await matches.put(m.envelope(stale))  # an informer is relisting
        assert await lines(1) == [f"{cluster}.https-service incomplete Service/shop/web"]
        await matches.delete(head.subject)  # the EventSource is no longer assigned here
        await matches.delete(web.subject)
        await matches.put(m.envelope(namespace.data.model_copy(update={"uid": "u2"})))
        assert await lines(2) == [
            f"{cluster}.https-service removed",
            f"{cluster}.namespaces incomplete Namespace//shop",
        ]
    finally:
        proc.kill()
        await proc.wait()
