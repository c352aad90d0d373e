"""Assignments: an assignment change decides the EventSource's state (pure, milliseconds)."""

from __future__ import annotations

from services.agent.assigning import Assignments
from services.agent.watching import WatchKey
from shared.kube import GVK
from tests.agent.helpers import event_source

SERVICE = WatchKey(GVK("v1", "Service"))
DEPLOYMENT = WatchKey(GVK("apps/v1", "Deployment"))


def test_a_new_assignment_is_compiled_indexed_and_must_replay_first() -> None:
    a = Assignments("c")
    decided = a.put("svc", event_source())
    assert decided.decision == "assigned"
    assert decided.state is a.sources["svc"]
    assert decided.state.replaying, "its report waits for the informers' content"
    assert a.watch_keys() == {SERVICE}
    assert a.by_key[SERVICE] == (decided.state,)


def test_the_same_definition_again_changes_nothing() -> None:
    a = Assignments("c")
    first = a.put("svc", event_source()).state
    decided = a.put("svc", event_source())
    assert decided.decision == "unchanged" and decided.state is None
    assert a.sources["svc"] is first


def test_a_changed_definition_replaces_the_state_and_keeps_its_cloud_events() -> None:
    a = Assignments("c")
    old = a.put("svc", event_source()).state
    assert old is not None
    old.cloud_events = [{"id": "1", "source": "s", "type": "t"}]
    old.seeded = old.published = True
    decided = a.put("svc", event_source(kind="Deployment"))
    assert decided.decision == "replaced"
    new = a.sources["svc"]
    assert new is decided.state and new is not old
    assert new.cloud_events == old.cloud_events and new.seeded and new.published
    assert new.replaying
    assert a.watch_keys() == {DEPLOYMENT}, "the old kind is no longer watched for it"


def test_a_definition_that_does_not_compile_is_rejected_and_the_previous_keeps_running() -> None:
    a = Assignments("c")
    good = a.put("svc", event_source()).state
    bad = event_source()
    bad["spec"]["resourceSelectors"][0]["evaluate"] = "function evaluate( broken"
    decided = a.put("svc", bad)
    assert decided.decision == "rejected" and decided.error
    assert a.errors["svc"] == decided.error
    assert a.sources["svc"] is good, "a bad new version never drops what was running"
    assert a.put("svc", event_source()).decision == "unchanged"
    assert a.errors == {}, "the error goes once the good version is assigned again"


def test_a_rejected_new_assignment_is_not_evaluated() -> None:
    a = Assignments("c")
    decided = a.put("x", {"apiVersion": "lib.projectsveltos.io/v1beta1", "kind": "EventSource"})
    assert decided.decision == "rejected"
    assert "x" not in a.sources and "x" in a.errors
    assert a.watch_keys() == set()


def test_a_withdrawn_assignment_deletes_its_report_unless_assigned_again() -> None:
    a = Assignments("c")
    a.put("svc", event_source())
    decided = a.delete("svc")
    assert decided.decision == "withdrawn"
    assert a.sources == {} and a.withdrawn == {"svc"} and a.watch_keys() == set()
    a.put("svc", event_source())
    assert a.withdrawn == set(), "assigned again: its report is not to be deleted"
    a.delete("svc")
    a.report_done("svc")
    assert a.withdrawn == set()


def test_a_tenant_source_is_watched_as_the_tenant_in_its_namespace() -> None:
    a = Assignments("c")
    definition = event_source()
    definition["metadata"]["labels"] = {
        "projectsveltos.io/serviceaccount-name": "eng",
        "projectsveltos.io/serviceaccount-namespace": "team",
    }
    definition["spec"]["resourceSelectors"][0]["namespace"] = "apps"
    a.put("svc", definition)
    assert a.watch_keys() == {
        WatchKey(GVK("v1", "Service"), "system:serviceaccount:projectsveltos:team--eng", "apps")
    }


def test_the_tenant_is_the_service_account_sveltos_impersonates() -> None:
    """libsveltos roles.GetServiceAccountNameInManagedCluster: ``<ns>--<name>`` in the
    projectsveltos namespace (sveltos-semantics 6), the namespace label absent included."""
    from services.agent.watching import tenant_identity

    name, ns = "projectsveltos.io/serviceaccount-name", "projectsveltos.io/serviceaccount-namespace"
    assert tenant_identity({name: "eng", ns: "team"}) == (
        "system:serviceaccount:projectsveltos:team--eng"
    )
    assert tenant_identity({name: "eng"}) == "system:serviceaccount:projectsveltos:--eng"
    assert tenant_identity({ns: "team"}) == ""
    assert tenant_identity({}) == ""
