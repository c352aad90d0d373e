"""KubeClient's writes the agent's deployer needs (issue 15 items 4 and 7): a server-side
apply dry run that stores nothing, and creating a missing namespace (real fleet, official
client)."""

from __future__ import annotations

from shared.kube import GVK
from tests.kube.conftest import Target

CONFIG_MAP = GVK("v1", "ConfigMap")
NAMESPACE = GVK("v1", "Namespace")


def cm(value: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "a", "namespace": "default"},
        "data": {"k": value},
    }


def test_an_apply_dry_run_answers_the_result_and_stores_nothing(target: Target) -> None:
    client = target.client()
    client.apply(cm("v"))
    live = client.get(CONFIG_MAP, "default", "a")
    answer = client.apply(cm("w"), dry_run=True)
    assert answer["data"] == {"k": "w"}
    assert client.get(CONFIG_MAP, "default", "a") == live


def test_a_missing_namespace_is_created_once(target: Target) -> None:
    client = target.client()
    assert client.get(NAMESPACE, None, "fresh") is None
    assert client.ensure_namespace("fresh") is True
    assert client.get(NAMESPACE, None, "fresh") is not None
    assert client.ensure_namespace("fresh") is False, "already there"
