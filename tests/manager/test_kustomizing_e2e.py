"""kustomizationRefs, patches and extraLabels/extraAnnotations through the real services (a
secured nats-server, the simulated fleet, the manager, the agent): what a user sees in the
managed cluster, and the ClusterProfile's view of it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services.scenario.stack import Stack
from shared.api.vocabulary import CLUSTER_PROFILE, EVENT_TRIGGER_LABELS
from shared.hashing import HASH_ANNOTATION, policy_hash
from shared.kube import GVK
from tests.integration.helpers import eventually
from tests.manager.e2e import one_cluster_stack, service_source
from tests.manager.kustomize_fixtures import configmap

CM = GVK("v1", "ConfigMap")
CLUSTER = "default/c1"

ARCHIVE = {
    "app/kustomization.yaml": "resources: [cm.yaml]\nnamePrefix: k-\n",
    "app/cm.yaml": (
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: "{{ .Who }}"\n'
        'data:\n  who: "{{ .Who }}"\n'
    ),
}
POLICY = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: plain-{{ .Resource.metadata.name }}
  namespace: default
data:
  a: "1"
"""
PATCH = "- op: add\n  path: /data/patched\n  value: 'yes'\n"


def definitions() -> list[dict[str, Any]]:
    return [
        service_source("kust", "kust", "yes"),
        configmap("kust", ARCHIVE),
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "plain",
                "namespace": "default",
                "annotations": {"projectsveltos.io/instantiate": "ok"},
            },
            "data": {"cm.yaml": POLICY},
        },
        {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "EventTrigger",
            "metadata": {"name": "kust"},
            "spec": {
                "sourceClusterSelector": {"matchLabels": {"env": "test"}},
                "eventSourceName": "kust",
                "oneForEvent": True,
                "tier": 30,
                "policyRefs": [{"kind": "ConfigMap", "namespace": "default", "name": "plain"}],
                "kustomizationRefs": [
                    {
                        "kind": "ConfigMap",
                        "namespace": "default",
                        "name": "kust",
                        "path": "app",
                        "targetNamespace": "{{ .Resource.metadata.namespace }}",
                        "values": {"Who": "{{ .Resource.metadata.name }}"},
                    }
                ],
                "patches": [{"target": {"kind": "ConfigMap", "name": "plain-.*"}, "patch": PATCH}],
                "extraLabels": {"team": "blue"},
                "extraAnnotations": {"contact": "ops"},
            },
        },
    ]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("kustomize")
    with one_cluster_stack(root, definitions()) as s:
        yield s


def test_kustomize_output_and_patched_policy_objects_reach_the_cluster(stack: Stack) -> None:
    c = stack.client(CLUSTER)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "labels": {"kust": "yes"}},
        "spec": {"ports": [{"port": 80}]},
    }
    c.apply(service, field_manager="test")
    built = eventually(lambda: c.get(CM, "default", "k-web"), 30, what="kustomize output")
    assert built["data"] == {"who": "web"}
    labels, annotations = built["metadata"]["labels"], built["metadata"]["annotations"]
    assert labels["projectsveltos.io/reason"] == "Kustomize"
    assert labels["team"] == "blue" and annotations["contact"] == "ops"
    assert annotations["projectsveltos.io/reference-name"] == "kust"
    assert annotations["projectsveltos.io/reference-tier"] == "100"

    policy = eventually(lambda: c.get(CM, "default", "plain-web"), 30, what="policy object")
    assert policy["data"] == {"a": "1", "patched": "yes"}
    assert policy["metadata"]["labels"]["team"] == "blue"
    expected = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "plain-web", "namespace": "default"},
        "data": {"a": "1", "patched": "yes"},
    }
    assert policy["metadata"]["annotations"][HASH_ANNOTATION] == policy_hash(expected)

    def shown() -> dict[str, Any] | None:
        selector = f"{EVENT_TRIGGER_LABELS.trigger_name}=kust"
        for profile in stack.management.list(CLUSTER_PROFILE, label_selector=selector)[0]:
            if profile["spec"].get("kustomizationRefs"):
                return dict(profile["spec"])
        return None

    spec = eventually(shown, 30, what="the ClusterProfile")
    [ref] = spec["kustomizationRefs"]
    assert ref["targetNamespace"] == "default" and ref["values"] == {"Who": "web"}
    assert spec["patches"][0]["patch"] == PATCH
    assert spec["extraLabels"] == {"team": "blue"}
