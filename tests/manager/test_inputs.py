"""The manager's inputs, without servers: when everything is known, what a failed informer
or an incomplete report means (unknown, never "no match"), bad definitions, agents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.manager.inputs import WATCHED, Inputs
from shared.api import vocabulary as v
from shared.bus.kv import KVChange
from shared.contract import messages as m
from shared.contract import subjects
from shared.contract.subjects import ClusterRef
from shared.kube import GVK, InformerEvent

REF = ClusterRef(namespace="default", name="cluster-a")

TRIGGER: dict[str, Any] = {
    "apiVersion": "lib.projectsveltos.io/v1beta1",
    "kind": "EventTrigger",
    "metadata": {"name": "t"},
    "spec": {
        "sourceClusterSelector": {"matchLabels": {"env": "fv"}},
        "eventSourceName": "svc",
        "policyRefs": [{"kind": "ConfigMap", "namespace": "default", "name": "tpl"}],
    },
}


def event(kind: str, gvk: tuple[str, str], obj: dict[str, Any] | None = None, **kw: Any) -> Any:
    return InformerEvent(kind, GVK(*gvk), obj or {}, **kw)


def synced(inputs: Inputs, *, but: tuple[str, str] | None = None) -> None:
    for gvk in WATCHED:
        if gvk != but:
            inputs.on_kube(event("SYNCED", gvk))


def head(complete: bool = True, generation: int = 1) -> KVChange[m.MatchesEvent]:
    data = m.MatchHead(
        cluster=REF,
        event_source_name="svc",
        agent_instance="i",
        generation=generation,
        complete=complete,
    )
    return KVChange("put", subjects.match_head_key(REF, "svc"), generation, m.envelope(data))


def key_of(name: str) -> v.ObjectKey:
    return v.ObjectKey("v1", "Service", "default", name)


def entry(name: str, rv: str = "1") -> KVChange[m.MatchesEvent]:
    data = m.Match(
        cluster=REF,
        event_source_name="svc",
        ref=m.ObjectRef(api_version="v1", kind="Service", namespace="default", name=name),
        resource_version=rv,
    )
    return KVChange("put", subjects.match_key(REF, "svc", key_of(name)), 1, m.envelope(data))


def gone(name: str) -> KVChange[m.MatchesEvent]:
    return KVChange("delete", subjects.match_key(REF, "svc", key_of(name)), 1)


def test_nothing_is_known_before_every_input_was_read_once() -> None:
    inputs = Inputs()
    synced(inputs, but=v.CAPI_CLUSTER)
    inputs.on_match(KVChange("synced", "", 0))
    assert not inputs.known()
    inputs.on_kube(event("FAILED", v.CAPI_CLUSTER, message="discovery: 503"))
    assert not inputs.known(), "a failed discovery is unknown, not 'no objects'"
    assert "503" in inputs.informer_errors[v.CAPI_CLUSTER]
    inputs.on_kube(event("FAILED", v.CAPI_CLUSTER, message="not served", not_served=True))
    assert inputs.known(), "a kind positively not served is known and empty"
    assert v.CAPI_CLUSTER not in inputs.informer_errors


def test_reports_must_be_read_once() -> None:
    inputs = Inputs()
    synced(inputs)
    assert not inputs.known()
    inputs.on_match(KVChange("synced", "", 0))
    assert inputs.known()


def test_a_set_is_known_only_from_its_first_complete_head() -> None:
    inputs = Inputs()
    inputs.on_match(entry("s1"))
    inputs.on_match(head(complete=False))
    assert inputs.state.reports == {}, "a partial first publication is not a matching set"
    inputs.on_match(head(complete=True, generation=2))
    (report,) = inputs.state.reports.values()
    assert [r["name"] for r in report.report().matching] == ["s1"]


def test_entries_are_deltas_and_an_incomplete_head_withdraws_nothing() -> None:
    inputs = Inputs()
    inputs.on_match(entry("s1"))
    inputs.on_match(head())
    inputs.on_match(entry("s2"))
    inputs.on_match(gone("s1"))  # positive knowledge from the agent
    inputs.on_match(head(complete=False, generation=2))  # an informer fails: stale, not empty
    (report,) = inputs.state.reports.values()
    assert [r["name"] for r in report.report().matching] == ["s2"]
    assert report.changed_since(0) is not None


def test_a_deleted_head_is_a_set_that_is_gone_and_stray_deletes_are_harmless() -> None:
    inputs = Inputs()
    inputs.on_match(entry("s1"))
    inputs.on_match(head())
    inputs.on_match(KVChange("delete", subjects.match_head_key(REF, "svc"), 3))
    assert inputs.state.reports == {} and inputs.reports == {}
    inputs.on_match(gone("s1"))  # the agent deletes the entries after the head
    assert inputs.reports == {}


def test_a_bad_trigger_keeps_its_last_good_version_and_shows_the_error() -> None:
    inputs = Inputs()
    inputs.on_kube(event("ADDED", v.EVENT_TRIGGER, TRIGGER))
    assert "t" in inputs.state.triggers and inputs.definition_errors == {}
    broken = {**TRIGGER, "spec": {**TRIGGER["spec"], "sourceClusterSelector": 3}}
    inputs.on_kube(event("MODIFIED", v.EVENT_TRIGGER, broken))
    assert "t" in inputs.state.triggers
    assert "EventTrigger/t" in inputs.definition_errors
    inputs.on_kube(event("DELETED", v.EVENT_TRIGGER, broken))
    assert "t" not in inputs.state.triggers and inputs.definition_errors == {}


def test_the_reporters_copies_of_our_output_are_not_inputs() -> None:
    inputs = Inputs()
    copy: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "sveltos-x",
            "namespace": "projectsveltos",
            "labels": {v.MANAGED_BY_LABEL: v.MANAGED_BY_VALUE},
        },
    }
    inputs.on_kube(event("ADDED", v.CONFIG_MAP, copy))
    assert inputs.state.refs == {}
    copy["metadata"]["labels"] = {}
    inputs.on_kube(event("ADDED", v.CONFIG_MAP, copy))
    assert list(inputs.state.refs) == [("ConfigMap", "projectsveltos", "sveltos-x")]


def agent(errors: list[str]) -> KVChange[m.AgentStatusEvent]:
    status = m.AgentStatus(
        cluster=REF, instance="i", state="ready", errors=errors, time=datetime.now(UTC)
    )
    return KVChange("put", subjects.agent_key(REF), 1, m.envelope(status))


def test_only_a_change_of_an_agents_errors_recomputes_statuses() -> None:
    inputs = Inputs()
    inputs.status_due = False
    assert not inputs.on_agent(agent([]))  # a heartbeat
    assert inputs.on_agent(agent(["EventSource svc: boom"]))
    inputs.status_due = False
    assert not inputs.on_agent(agent(["EventSource svc: boom"]))
    assert inputs.on_agent(KVChange("delete", subjects.agent_key(REF), 2))
    assert inputs.status_due


def test_an_unreadable_entry_holds_its_set_until_a_readable_value_replaces_it() -> None:
    """The hold follows the changes in order: an entry that becomes readable again is no
    longer unknown only when its change is applied (not when the bucket's store decoded it
    ahead of the manager's loop, which let a reconcile in between read the set without it)."""
    inputs = Inputs()
    inputs.on_match(entry("s1"))
    inputs.on_match(head())
    key = subjects.match_key(REF, "svc", key_of("s1"))
    inputs.on_match(KVChange("unknown", key, 2, error="not valid JSON"))
    held = {(v.ClusterKey(REF.namespace, REF.name, REF.type), "svc")}
    assert inputs.unreadable_sets(inputs.unreadable_match_keys) == held
    inputs.on_match(entry("s1", rv="2"))
    assert inputs.unreadable_match_keys == set()
    inputs.on_match(KVChange("unknown", key, 3, error="garbage"))
    inputs.on_match(gone("s1"))  # deleted: positive knowledge, no longer unknown
    assert inputs.unreadable_sets(inputs.unreadable_match_keys) == set()
