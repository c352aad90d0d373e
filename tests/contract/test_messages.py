"""CloudEvents envelopes: round trips, redaction, dedup ids, and every malformed input gives
InvalidMessage (and nothing else)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.contract import messages as m
from shared.contract.errors import InvalidMessage
from shared.contract.examples import CLUSTER, SERVICE_REF, examples
from shared.contract.limits import MAX_MESSAGE_BYTES
from shared.contract.redact import REDACTED, is_redacted, redact
from shared.errors import InvalidInput

SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {
        "name": "creds",
        "namespace": "shop",
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"password":"aHVudGVyMg=="}}',
            "keep": "me",
        },
    },
    "data": {"password": "aHVudGVyMg=="},
    "stringData": {"token": "hunter2"},
}


def _raw(message: m.Envelope) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(m.encode(message))
    return doc


def test_every_type_has_an_example_and_round_trips() -> None:
    msgs = examples()
    assert [type(x) for x in msgs] == list(m.ENVELOPES)
    for message in msgs:
        raw = m.encode(message)
        assert m.decode(raw, type(message)) == message
        assert m.decode(raw) == message
        doc = json.loads(raw)
        assert doc["specversion"] == "1.0"
        assert doc["datacontenttype"] == "application/json"
        assert doc["type"] == type(message).TYPE and doc["type"].endswith(".v1")
        assert doc["subject"] == m.message_key(message)


def test_wire_names_are_camel_case_and_python_names_accepted() -> None:
    ref = m.ObjectRef(api_version="v1", kind="Service", name="x")
    assert ref.model_dump() == {"apiVersion": "v1", "kind": "Service", "namespace": "", "name": "x"}
    assert m.ObjectRef.model_validate({"apiVersion": "v1", "kind": "Service", "name": "x"}) == ref
    assert str(ref) == "v1/Service/x"
    assert m.ObjectRef.of({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}) == ref


def test_sources_and_types() -> None:
    by_type = {x.type: x for x in examples()}
    assert by_type[m.T_ASSIGNMENT].source == m.MANAGER_SOURCE
    assert by_type[m.T_DESIREDSTATE].source == m.MANAGER_SOURCE
    assert by_type[m.T_PROFILE].source == m.MANAGER_SOURCE
    assert by_type[m.T_STATUS].source == m.MANAGER_SOURCE
    for t in (
        m.T_EVENTREPORT,
        m.T_RESOURCE_MATCHED,
        m.T_MATCH,
        m.T_MATCHHEAD,
        m.T_APPLYOUTCOME,
        m.T_AGENTSTATUS,
    ):
        assert by_type[t].source == "ripple://agent/default/capi--prod_2Eeu-1"
    assert set(m.REGISTRY) == {
        "io.ripple.eventreport.v1",
        "io.ripple.resource.matched.v1",
        "io.ripple.resource.updated.v1",
        "io.ripple.resource.unmatched.v1",
        "io.ripple.match.v1",
        "io.ripple.matchhead.v1",
        "io.ripple.assignment.v1",
        "io.ripple.desiredstate.v1",
        "io.ripple.applyoutcome.v1",
        "io.ripple.agentstatus.v1",
        "io.ripple.profile.v1",
        "io.ripple.status.v1",
    }


def test_secret_redaction() -> None:
    out = redact(SECRET)
    assert out["data"] == {"password": REDACTED}
    assert out["stringData"] == {"token": REDACTED}
    assert out["metadata"]["annotations"] == {"keep": "me"}
    assert SECRET["data"] == {"password": "aHVudGVyMg=="}  # input untouched
    assert is_redacted(out) and not is_redacted(SECRET)
    assert redact({"kind": "ConfigMap", "data": {"a": "b"}}) == {
        "kind": "ConfigMap",
        "data": {"a": "b"},
    }


def test_collected_secrets_are_redacted_in_reports_and_events() -> None:
    snapshot = m.EventReportSnapshot(
        cluster=CLUSTER,
        event_source_name="s",
        agent_instance="i",
        generation=1,
        complete=True,
        resources=[SECRET],
    )
    change = m.ResourceChange(
        cluster=CLUSTER, event_source_name="s", change="matched", ref=SERVICE_REF, object=SECRET
    )
    for message in (m.envelope(snapshot), m.envelope(change)):
        raw = m.encode(message)
        assert b"aHVudGVyMg==" not in raw and b"hunter2" not in raw
    # also when a producer bypasses the constructor's caller and sends raw JSON
    doc = _raw(m.envelope(snapshot))
    doc["data"]["resources"] = [SECRET]
    decoded = m.decode(json.dumps(doc).encode(), m.EventReportEvent)
    assert decoded.data.resources[0]["data"] == {"password": REDACTED}


def test_msg_id_is_deterministic_and_distinguishes_changes() -> None:
    def change(kind: str = "matched", rv: str = "1") -> m.ResourceChange:
        return m.ResourceChange.model_validate(
            {
                "cluster": CLUSTER,
                "eventSourceName": "s",
                "change": kind,
                "ref": SERVICE_REF,
                "uid": "u",
                "resourceVersion": rv,
            }
        )

    assert change().msg_id() == change().msg_id()
    assert m.envelope(change()).id == change().msg_id()
    ids = {change().msg_id(), change("updated").msg_id(), change(rv="2").msg_id()}
    assert len(ids) == 3


def test_supersedes() -> None:
    def snap(instance: str, generation: int) -> m.EventReportSnapshot:
        return m.EventReportSnapshot(
            cluster=CLUSTER,
            event_source_name="s",
            agent_instance=instance,
            generation=generation,
            complete=True,
        )

    assert snap("a", 2).supersedes(snap("a", 1))
    assert not snap("a", 1).supersedes(snap("a", 2))
    assert not snap("a", 1).supersedes(snap("a", 1))
    assert snap("b", 0).supersedes(snap("a", 9))
    assert snap("a", 0).supersedes(None)


def _report_doc() -> dict[str, Any]:
    return _raw(examples()[0])


BAD: list[tuple[str, bytes]] = [
    ("not json", b"{nope"),
    ("empty", b""),
    ("not utf-8", b"\xff\xfe{}"),
    ("array", b"[1, 2]"),
    ("string", b'"io.ripple.eventreport.v1"'),
    (
        "no specversion",
        json.dumps({k: v for k, v in _report_doc().items() if k != "specversion"}).encode(),
    ),
    ("specversion 0.3", json.dumps({**_report_doc(), "specversion": "0.3"}).encode()),
    ("unknown type", json.dumps({**_report_doc(), "type": "io.ripple.eventreport.v9"}).encode()),
    ("type not a string", json.dumps({**_report_doc(), "type": 7}).encode()),
    ("no data", json.dumps({k: v for k, v in _report_doc().items() if k != "data"}).encode()),
    ("bad data", json.dumps({**_report_doc(), "data": {"cluster": "x"}}).encode()),
    ("naive time", json.dumps({**_report_doc(), "time": "2026-01-01T00:00:00"}).encode()),
    ("empty id", json.dumps({**_report_doc(), "id": ""}).encode()),
    ("wrong content type", json.dumps({**_report_doc(), "datacontenttype": "text/xml"}).encode()),
    (
        "negative generation",
        json.dumps({**_report_doc(), "data": {**_report_doc()["data"], "generation": -1}}).encode(),
    ),
    ("deep nesting", b"[" * 100000 + b"]" * 100000),
]


@pytest.mark.parametrize(("case", "raw"), BAD, ids=[c for c, _ in BAD])
def test_malformed_messages(case: str, raw: bytes) -> None:
    with pytest.raises(InvalidMessage):
        m.decode(raw, m.EventReportEvent, where="ripple-reports key x")


def test_error_names_the_place_and_field() -> None:
    with pytest.raises(
        InvalidMessage,
        match=r"^ripple-reports key k: invalid io.ripple.eventreport.v1 message: data.cluster",
    ):
        m.decode(
            json.dumps({**_report_doc(), "data": {**_report_doc()["data"], "cluster": 3}}),
            m.EventReportEvent,
            where="ripple-reports key k",
        )


def test_unexpected_type() -> None:
    raw = m.encode(next(x for x in examples() if x.type == m.T_AGENTSTATUS))
    with pytest.raises(InvalidMessage, match=r"unexpected type 'io\.ripple\.agentstatus\.v1'"):
        m.decode(raw, (m.EventReportEvent, m.AssignmentEvent))


def test_resource_event_type_must_match_change() -> None:
    doc = _raw(examples()[1])
    doc["type"] = m.T_RESOURCE_UNMATCHED
    with pytest.raises(InvalidMessage, match=r"data\.change"):
        m.decode(json.dumps(doc).encode(), m.RESOURCE_CHANGE_EVENTS)


def test_oversized() -> None:
    big = b'{"specversion":"1.0","pad":"' + b"x" * MAX_MESSAGE_BYTES + b'"}'
    with pytest.raises(InvalidMessage, match="exceeds"):
        m.decode(big)
    snapshot = m.EventReportSnapshot(
        cluster=CLUSTER,
        event_source_name="s",
        agent_instance="i",
        generation=1,
        complete=True,
        resources=[{"kind": "ConfigMap", "data": {"x": "y" * MAX_MESSAGE_BYTES}}],
    )
    with pytest.raises(InvalidMessage, match="over the"):
        m.encode(m.envelope(snapshot))


def test_invalid_message_is_invalid_input() -> None:
    assert issubclass(InvalidMessage, InvalidInput)


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    doc = _report_doc()
    doc["newattr"] = "x"
    doc["data"]["futureField"] = [1]
    assert m.decode(json.dumps(doc).encode(), m.EventReportEvent) == examples()[0]


def test_time_is_rfc3339_utc() -> None:
    status = m.AgentStatus(
        cluster=CLUSTER, instance="i", state="ready", time=datetime(2026, 1, 1, tzinfo=UTC)
    )
    doc = _raw(m.envelope(status, time=datetime(2026, 1, 1, 12, tzinfo=UTC)))
    assert doc["time"] == "2026-01-01T12:00:00Z"
    assert doc["data"]["time"] == "2026-01-01T00:00:00Z"


@given(st.binary(max_size=512))
def test_fuzz_bytes_give_only_invalid_message(raw: bytes) -> None:
    try:
        m.decode(raw)
    except InvalidMessage:
        pass


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@given(
    st.sampled_from(sorted(m.REGISTRY)),
    json_values,
    st.dictionaries(
        st.sampled_from(["id", "source", "subject", "time", "datacontenttype"]), json_values
    ),
)
def test_fuzz_envelopes_give_only_invalid_message(
    ce_type: str, data: Any, attrs: dict[str, Any]
) -> None:
    doc = {"specversion": "1.0", "type": ce_type, "data": data, **attrs}
    try:
        m.decode(json.dumps(doc).encode())
    except InvalidMessage:
        pass


def test_profile_state_redacts_generated_secrets() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "projectsveltos"},
        "stringData": {"token": "hunter2"},
    }
    state = m.ProfileState(
        cluster=CLUSTER,
        profile_name="p",
        trigger="t",
        cluster_profile={"kind": "ClusterProfile"},
        instantiated=[secret],
    )
    assert "hunter2" not in m.encode(m.envelope(state)).decode()
