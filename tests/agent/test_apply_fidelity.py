"""The Applier acts as Sveltos' deployer (issue 15 items 4 and 7), against a real simulated
cluster (the fleet in a thread, the official client; fixtures in conftest.py):

- the namespace of a namespaced object is created when missing, unless
  ``skipNamespaceCreation``;
- an object another profile owns is taken over only by a lower tier; otherwise it is a
  conflict naming the owner, which stops the profile unless ``continueOnConflict``;
- DryRun changes nothing and reports per object what an apply would do."""

from __future__ import annotations

from typing import Any

from services.agent import ownership
from services.agent.applying import Applier
from services.agent.planning import ApplyOptions
from shared.kube import GVK, KubeClient
from shared.kube.client import ObjectKey, object_key

CONFIG_MAP = GVK("v1", "ConfigMap")
NAMESPACE = GVK("v1", "Namespace")


def cm(name: str, namespace: str = "default", value: str = "v") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"k": value},
    }


def owner(client: KubeClient, name: str, namespace: str = "default") -> str | None:
    return ownership.owner_of(client.get(CONFIG_MAP, namespace, name))


def test_a_missing_namespace_is_created_unless_skipped(client: KubeClient) -> None:
    applier = Applier(client, "c1")
    result = applier.apply("p", [(cm("a", "fresh"), "h"), (cm("b", "fresh"), "h")], ())
    assert result.status == "Provisioned", result.message
    namespace = client.get(NAMESPACE, None, "fresh")
    assert namespace is not None and ownership.owner_of(namespace) is None, "never owned"
    assert owner(client, "a", "fresh") == "p" and owner(client, "b", "fresh") == "p"
    skip = ApplyOptions(skip_namespace=frozenset({ObjectKey("v1", "ConfigMap", "absent", "c")}))
    result = applier.apply("p", [(cm("c", "absent"), "h")], (), options=skip)
    assert result.status == "Failed"
    assert result.message == (
        'ConfigMap/absent/c: apply ConfigMap/absent/c: 404 NotFound: namespaces "absent" not '
        "found (skipNamespaceCreation: the namespace is not created)"
    )
    assert client.get(NAMESPACE, None, "absent") is None


def test_a_namespace_deleted_since_an_earlier_apply_is_created_again(client: KubeClient) -> None:
    """A namespace found once is not read before every apply; deleted meanwhile, the apply's
    404 makes the applier look again and create it: the object is applied all the same."""
    applier = Applier(client, "c1")
    assert applier.apply("p", [(cm("a", "gone"), "h")], ()).status == "Provisioned"
    assert applier.apply("p", [(cm("b", "gone"), "h")], ()).namespaces_created == 0
    assert client.delete(NAMESPACE, None, "gone")
    result = applier.apply("p", [(cm("c", "gone"), "h")], ())
    assert result.status == "Provisioned", result.message
    assert result.namespaces_created == 1
    assert owner(client, "c", "gone") == "p"


def test_conflicts_between_profiles_follow_the_tiers(client: KubeClient) -> None:
    applier = Applier(client, "c1")
    assert applier.apply("p1", [(cm("a"), "h"), (cm("b"), "h")], ()).status == "Provisioned"
    # p2, same tier: a conflict on "a" stops the profile ("c" is not applied)
    result = applier.apply("p2", [(cm("a", value="p2"), "h"), (cm("c"), "h")], ())
    assert result.status == "Failed"
    assert "ConfigMap:default/a" in result.message and "ClusterProfile p1 (tier 100)" in (
        result.message
    )
    assert [(r.object.name, r.action) for r in result.reports] == [("a", "Conflict")]
    assert client.get(CONFIG_MAP, "default", "a")["data"] == {"k": "v"}, "p1's, unchanged"
    assert client.get(CONFIG_MAP, "default", "c") is None, "stopped at the first conflict"
    # continueOnConflict: the rest is applied, the conflict still reported
    go_on = ApplyOptions(continue_on_conflict=True)
    result = applier.apply("p2", [(cm("a", value="p2"), "h"), (cm("c"), "h")], (), options=go_on)
    assert result.status == "Failed" and "ClusterProfile p1" in result.message
    assert [k.name for k, _ in result.applied] == ["c"] and owner(client, "c") == "p2"
    assert owner(client, "a") == "p1"
    # p3 of a lower tier takes "b" over; p1 then gets the conflict, naming p3
    result = applier.apply("p3", [(cm("b", value="p3"), "h")], (), options=ApplyOptions(tier=50))
    assert result.status == "Provisioned", result.message
    assert result.taken_over == [(ObjectKey("v1", "ConfigMap", "default", "b"), "p1")]
    live = client.get(CONFIG_MAP, "default", "b")
    assert ownership.owner_of(live) == "p3" and live["data"] == {"k": "p3"}
    assert live["metadata"]["annotations"][ownership.OWNER_TIER_ANNOTATION] == "50"
    result = applier.apply("p1", [(cm("a"), "h"), (cm("b"), "h")], ())
    assert result.status == "Failed" and "ClusterProfile p3 (tier 50)" in result.message
    # withdrawn, p1 removes what it owns and leaves p3's object in place
    assert applier.remove("p1", [object_key(cm("a")), object_key(cm("b"))]).status == "Removed"
    assert client.get(CONFIG_MAP, "default", "a") is None
    assert owner(client, "b") == "p3"


def test_dry_run_reports_what_would_change_and_changes_nothing(client: KubeClient) -> None:
    applier = Applier(client, "c1")
    held = [(cm("same"), "h"), (cm("edit"), "h"), (cm("gone"), "h")]
    assert applier.apply("p", held, ()).status == "Provisioned"
    client.apply(cm("theirs"), field_manager="user")
    foreign = ownership.stamp(cm("other"), "q")
    client.apply(foreign, field_manager="ripple")
    before = {o["metadata"]["name"]: o for o in client.list(CONFIG_MAP, "default")[0]}
    wanted = [
        (cm("same"), "h"),
        (cm("edit", value="new"), "h2"),
        (cm("new", "nowhere"), "h"),
        (cm("other"), "h"),
    ]
    result = applier.apply("p", wanted, [object_key(m) for m, _ in held], dry_run=True)
    assert result.status == "DryRun" and not result.failed, result.errors
    assert [(r.object.name, r.action, r.message) for r in result.reports] == [
        ("same", "No Action", "Object already deployed and unchanged"),
        ("edit", "Update", '.data.k: "v" -> "new"'),
        ("new", "Create", ""),
        ("other", "Conflict", result.reports[3].message),
        ("gone", "Delete", "no longer desired"),
    ]
    assert "ClusterProfile q (tier 100)" in result.reports[3].message
    after = {o["metadata"]["name"]: o for o in client.list(CONFIG_MAP, "default")[0]}
    assert after == before, "a DryRun changes nothing"
    assert client.get(NAMESPACE, None, "nowhere") is None, "nor creates a namespace"
