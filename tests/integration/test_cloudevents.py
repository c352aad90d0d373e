"""CloudEvents on NATS as an event source (messagingMatchCriteria), end to end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml

from services.scenario.stack import Stack
from shared.kube import GVK
from tests.integration.test_services import eventually

CM = GVK("v1", "ConfigMap")
CLUSTER = "default/c1"
SUBJECT = "ripple.v1.cloudevents.default.sveltos--c1.apps"

DEFINITIONS: list[dict[str, Any]] = [
    {
        "apiVersion": "lib.projectsveltos.io/v1beta1",
        "kind": "EventSource",
        "metadata": {"name": "app-events"},
        "spec": {"messagingMatchCriteria": [{"cloudEventType": "^app\\."}]},
    },
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "app-template",
            "namespace": "default",
            "annotations": {"projectsveltos.io/instantiate": "ok"},
        },
        "data": {
            "cm.yaml": (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                "  name: app-{{ .CloudEvent.subject }}\n  namespace: default\n"
                "data:\n  owner: {{ .CloudEvent.data.owner }}\n"
            )
        },
    },
    {
        "apiVersion": "lib.projectsveltos.io/v1beta1",
        "kind": "EventTrigger",
        "metadata": {"name": "apps"},
        "spec": {
            "sourceClusterSelector": {"matchLabels": {"env": "test"}},
            "eventSourceName": "app-events",
            "oneForEvent": True,
            "cloudEventAction": '{{ if eq .CloudEvent.type "app.removed" }}Delete{{ else }}Create{{ end }}',
            "policyRefs": [{"kind": "ConfigMap", "namespace": "default", "name": "app-template"}],
        },
    },
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp("ce")
    fleet = {
        "clusters": [
            {"namespace": "default", "name": "c1", "type": "sveltos", "labels": {"env": "test"}}
        ]
    }
    (root / "fleet.yaml").write_text(yaml.safe_dump(fleet))
    (root / "management").mkdir()
    (root / "management" / "defs.yaml").write_text(yaml.safe_dump_all(DEFINITIONS))
    with Stack(root / "fleet.yaml", root / "management", state_dir=root / "state") as s:
        yield s


def publish(url: str, *payloads: bytes) -> None:
    async def send() -> None:
        nc = await nats.connect(url)
        for payload in payloads:
            await nc.publish(SUBJECT, payload)
        await nc.flush()
        await nc.close()

    asyncio.run(send())


def event(type_: str, subject: str, owner: str = "team-a") -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": f"{type_}-{subject}",
            "source": "ci",
            "type": type_,
            "subject": subject,
            "data": {"owner": owner},
        }
    ).encode()


def test_a_cloud_event_deploys_and_its_delete_action_withdraws(stack: Stack) -> None:
    c = stack.client(CLUSTER)
    # malformed and non-matching messages first: they change nothing and break nothing
    publish(stack.nats_url, b"{not json", b'{"specversion": "0.3"}', event("other.kind", "ignored"))
    publish(stack.nats_url, event("app.created", "shop"))
    deployed = eventually(lambda: c.get(CM, "default", "app-shop"), what="deployed from the event")
    assert deployed["data"] == {"owner": "team-a"}
    assert c.get(CM, "default", "app-ignored") is None
    publish(stack.nats_url, event("app.removed", "shop"))
    eventually(lambda: c.get(CM, "default", "app-shop") is None, what="withdrawn by Delete")
