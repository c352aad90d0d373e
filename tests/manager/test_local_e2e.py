"""deploymentType Local over the real services (issue 15 item 4): with the management
cluster registered (mgmt/mgmt) and the manager told so, a Local policyRef's objects and the
generated Secrets land in the management cluster (written by its agent), the Remote ones in
the source cluster only; both go with the event."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from services.manager.state import State
from services.scenario.stack import Stack
from shared.kube import GVK
from tests.integration.helpers import eventually
from tests.manager.e2e import one_cluster_stack, service_source

# the state hands Local objects to the management cluster's desired state once it knows the
# management cluster (State(management=...)); until then this test cannot pass
pytestmark = pytest.mark.skipif(
    not hasattr(State(), "management"), reason="State does not know the management cluster yet"
)

CM = GVK("v1", "ConfigMap")
SECRET = GVK("v1", "Secret")
SERVICE = GVK("v1", "Service")
CLUSTER = "default/c1"


def policy(name: str, target: str) -> dict[str, Any]:
    manifest = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        f"  name: {target}-{{{{ .Resource.metadata.name }}}}\n  namespace: default\n"
        "data:\n  from: event\n"
    )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "default",
            "annotations": {"projectsveltos.io/instantiate": "ok"},
        },
        "data": {"cm.yaml": manifest},
    }


DEFINITIONS: list[dict[str, Any]] = [
    service_source("local", "mode", "local"),
    policy("local-policy", "local"),
    policy("remote-policy", "remote"),
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "addons.projectsveltos.io/cluster-profile",
        "metadata": {"name": "token-source", "namespace": "default"},
        "data": {"token": base64.b64encode(b"t-{{ .Resource.metadata.name }}").decode()},
    },
    {
        "apiVersion": "lib.projectsveltos.io/v1beta1",
        "kind": "EventTrigger",
        "metadata": {"name": "local"},
        "spec": {
            "sourceClusterSelector": {"matchLabels": {"env": "test"}},
            "eventSourceName": "local",
            "oneForEvent": True,
            "secretGenerator": [
                {"name": "token-source", "nameFormat": "tok-{{ .Resource.metadata.name }}"}
            ],
            "policyRefs": [
                {"kind": "ConfigMap", "name": "local-policy", "deploymentType": "Local"},
                {"kind": "ConfigMap", "name": "remote-policy"},
            ],
        },
    },
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("local")
    with one_cluster_stack(root, DEFINITIONS, management_cluster="mgmt/mgmt") as s:
        yield s


def test_local_objects_and_generated_secrets_go_to_the_management_cluster(stack: Stack) -> None:
    c1, mgmt = stack.client(CLUSTER), stack.management
    web = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "labels": {"mode": "local"}},
        "spec": {"ports": [{"port": 80}]},
    }
    c1.apply(web, field_manager="test")
    eventually(lambda: mgmt.get(CM, "default", "local-web"), 30, "Local object in management")
    eventually(lambda: c1.get(CM, "default", "remote-web"), 20, "Remote object in c1")
    token = eventually(lambda: mgmt.get(SECRET, "projectsveltos", "tok-web"), 20, "Secret")
    assert base64.b64decode(token["data"]["token"]) == b"t-web"
    assert c1.get(CM, "default", "local-web") is None
    assert mgmt.get(CM, "default", "remote-web") is None
    c1.delete(SERVICE, "default", "web")
    eventually(lambda: mgmt.get(CM, "default", "local-web") is None, 20, "Local withdrawn")
    eventually(lambda: mgmt.get(SECRET, "projectsveltos", "tok-web") is None, 20, "Secret gone")
