"""docs/nats-contract.md stays true: its examples are the models' output and decode, its
permission template is generated, and its nats-py consumer script works."""

from __future__ import annotations

import asyncio
import re
import sys
from typing import Any

from shared.bus.client import publish_change
from shared.bus.embedded import EmbeddedNats
from shared.contract import messages as m
from shared.contract import permissions as p
from shared.contract.examples import CLUSTER, examples, markdown
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
    for event in examples()[1:4]:
        await publish_change(jetstream, event.data)  # type: ignore[arg-type]
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
