"""Generators, templateResourceRefs and addon-controller's second pass over the real
services (issue 15 item 4): a Service in a managed cluster generates a ConfigMap in the
management cluster (written by the reporter), a templateResourceRef names it, and a policyRef
annotated projectsveltos.io/template reads it with getResource; deleting the Service removes
both."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services.scenario.stack import Stack
from shared.api.vocabulary import CLUSTER_PROFILE
from shared.kube import GVK
from tests.integration.helpers import eventually
from tests.manager.e2e import one_cluster_stack, service_source

CM = GVK("v1", "ConfigMap")
SERVICE = GVK("v1", "Service")
CLUSTER = "default/c1"
PREFIX = "eventtrigger.lib.projectsveltos.io/"

TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: from-mgmt
  namespace: default
data:
  region: {{ (getResource "gen").data.region }}
  cluster: {{ .Cluster.metadata.name }}
"""

DEFINITIONS: list[dict[str, Any]] = [
    service_source("gen", "mode", "gen"),
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "gen-source", "namespace": "default"},
        "data": {"region": "eu-{{ .Resource.metadata.name }}"},
    },
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "tpl",
            "namespace": "default",
            "annotations": {"projectsveltos.io/template": "ok"},
        },
        "data": {"cm.yaml": TEMPLATE},
    },
    {
        "apiVersion": "lib.projectsveltos.io/v1beta1",
        "kind": "EventTrigger",
        "metadata": {"name": "gen"},
        "spec": {
            "sourceClusterSelector": {"matchLabels": {"env": "test"}},
            "eventSourceName": "gen",
            "oneForEvent": True,
            "configMapGenerator": [
                {"name": "gen-source", "nameFormat": "gen-{{ .Resource.metadata.name }}"}
            ],
            "templateResourceRefs": [
                {
                    "identifier": "gen",
                    "resource": {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "namespace": "projectsveltos",
                        "name": "gen-{{ .Resource.metadata.name }}",
                    },
                }
            ],
            "policyRefs": [{"kind": "ConfigMap", "namespace": "default", "name": "tpl"}],
        },
    },
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("rendering")
    with one_cluster_stack(root, DEFINITIONS) as s:
        yield s


def test_generator_output_reaches_a_template_through_template_resource_refs(stack: Stack) -> None:
    c1, mgmt = stack.client(CLUSTER), stack.management
    web = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "labels": {"mode": "gen"}},
        "spec": {"ports": [{"port": 80}]},
    }
    c1.apply(web, field_manager="test")
    deployed = eventually(lambda: c1.get(CM, "default", "from-mgmt"), 30, "deployed")
    assert {k: deployed["data"][k] for k in ("region", "cluster")} == {
        "region": "eu-web",
        "cluster": "c1",
    }
    generated = eventually(lambda: mgmt.get(CM, "projectsveltos", "gen-web"), 20, "generated")
    assert generated["data"] == {"region": "eu-web"}
    assert generated["metadata"]["labels"][PREFIX + "fromgenerator"] == "ok"

    def shown() -> list[str]:
        profiles, _ = mgmt.list(CLUSTER_PROFILE)
        refs = [p["spec"].get("templateResourceRefs") for p in profiles]
        return [r[0]["resource"]["name"] for r in refs if r]

    assert eventually(shown, 20, "the ClusterProfile shows the rendered ref") == ["gen-web"]
    c1.delete(SERVICE, "default", "web")
    eventually(lambda: c1.get(CM, "default", "from-mgmt") is None, 20, "withdrawn")
    eventually(lambda: mgmt.get(CM, "projectsveltos", "gen-web") is None, 20, "generated removed")
