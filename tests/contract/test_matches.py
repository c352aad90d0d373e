"""ripple-matches: keys (heads and entries) and their parser, the Match and MatchHead payloads
(redaction, bounds), and readers rejecting a value stored under another key than its own."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.api.vocabulary import ObjectKey
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.contract import streams
from shared.contract import subjects as s
from shared.contract.errors import InvalidMessage, InvalidSubject
from shared.contract.examples import CLUSTER, LUA_ERROR, SERVICE_REF, example
from shared.contract.redact import REDACTED
from shared.contract.subjects import ClusterRef

MATCHES = (m.MatchEvent, m.MatchHeadEvent)
OTHER = ClusterRef(namespace="default", name="c2")
KV_KEY = "[-/_=.a-zA-Z0-9]+"

names = st.text(max_size=80)
non_empty = st.text(min_size=1, max_size=80)
clusters = st.builds(
    ClusterRef, namespace=names, name=names, type=st.sampled_from(["sveltos", "capi"])
)
objects = st.builds(ObjectKey, non_empty, non_empty, names, non_empty)


# --- keys -------------------------------------------------------------------------------------


@given(clusters, names, objects)
def test_match_keys_round_trip(cluster: ClusterRef, event_source: str, obj: ObjectKey) -> None:
    head = s.match_head_key(cluster, event_source)
    entry = s.match_key(cluster, event_source, obj)
    assert len(head.split(".")) == 3 and len(entry.split(".")) == 7
    assert entry.startswith(head + ".")
    for key in (head, entry):
        assert re.fullmatch(KV_KEY, key)
    assert s.parse_match_key(head) == s.MatchItem(cluster, event_source, None)
    assert s.parse_match_key(entry) == s.MatchItem(cluster, event_source, obj)


@pytest.mark.parametrize(
    ("obj", "key"),
    [
        (
            ObjectKey("v1", "Service", "shop", "web"),
            "default.capi--prod_2Eeu-1.https-service.v1._53ervice.shop.web",
        ),
        (  # dots and upper case in every part
            ObjectKey("apps.example.com/v1", "WebApp", "team.a", "web.example.com"),
            "default.capi--prod_2Eeu-1.https-service.apps_2Eexample_2Ecom_2Fv1._57eb_41pp."
            "team_2Ea.web_2Eexample_2Ecom",
        ),
        (  # cluster-scoped: the empty namespace is the token _
            ObjectKey("v1", "Namespace", "", "shop"),
            "default.capi--prod_2Eeu-1.https-service.v1._4Eamespace._.shop",
        ),
    ],
)
def test_match_key_examples(obj: ObjectKey, key: str) -> None:
    assert s.match_key(CLUSTER, "https-service", obj) == key
    assert s.parse_match_key(key) == (CLUSTER, "https-service", obj)


def test_head_key_and_filters() -> None:
    c = ClusterRef(namespace="default", name="c1")
    assert s.match_head_key(c, "svc.a") == "default.sveltos--c1.svc_2Ea"
    assert s.match_head_key(c, "svc") == s.report_key(c, "svc")
    assert s.parse_match_key("default.sveltos--c1._") == (c, "", None)
    assert s.match_keys(c) == "default.sveltos--c1.>" == s.cluster_keys(c)
    assert s.match_keys(c, "svc.a") == "default.sveltos--c1.svc_2Ea.>"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "default",
        "default.sveltos--c1",
        "default.sveltos--c1.svc.v1",
        "default.sveltos--c1.svc.v1._53ervice",
        "default.sveltos--c1.svc.v1._53ervice.shop",
        "default.sveltos--c1.svc.v1._53ervice.shop.web.extra",
        "default.sveltos--c1.svc._._53ervice.shop.web",  # empty apiVersion
        "default.sveltos--c1.svc.v1._.shop.web",  # empty kind
        "default.sveltos--c1.svc.v1._53ervice.shop._",  # empty name
        "default.sveltos--c1.svc.v1.Service.shop.web",  # not canonical (upper case verbatim)
        "default.sveltos--c1.svc.v1._53ervice.shop.web_2e",  # lower-case hex
        "default.other--c1.svc",  # cluster type
        "default.c1.svc.v1._53ervice.shop.web",
        "default.sveltos--c1.svc.v1._53ervice.shop.*",
        "default.sveltos--c1.>",
        "..",
    ],
)
def test_malformed_match_keys(key: str) -> None:
    with pytest.raises(InvalidSubject, match="match key"):
        s.parse_match_key(key)


# --- payloads ---------------------------------------------------------------------------------

SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {
        "name": "creds",
        "namespace": "shop",
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"data": "x"}'},
    },
    "data": {"password": "aHVudGVyMg=="},
    "stringData": {"token": "hunter2"},
}


def _match(**update: Any) -> m.Match:
    fields: dict[str, Any] = {
        "cluster": CLUSTER,
        "event_source_name": "https-service",
        "ref": m.ObjectRef(api_version="v1", kind="Secret", namespace="shop", name="creds"),
        "uid": "u",
        "resource_version": "1",
        "object": SECRET,
        "agent_instance": "agent-1",
    }
    return m.Match(**{**fields, **update})


def test_match_redacts_secret_data() -> None:
    match = _match()
    assert match.object is not None
    assert match.object["data"] == {"password": REDACTED}
    assert match.object["stringData"] == {"token": REDACTED}
    assert match.object["metadata"] == {"name": "creds", "namespace": "shop", "annotations": {}}
    assert SECRET["data"] == {"password": "aHVudGVyMg=="}  # the caller's object is untouched
    raw = m.encode(m.envelope(match))
    assert b"aHVudGVyMg==" not in raw and b"hunter2" not in raw
    # also when a producer bypasses the model and sends raw JSON
    doc = json.loads(raw)
    doc["data"]["object"] = SECRET
    decoded = m.decode(json.dumps(doc).encode(), m.MatchEvent)
    assert decoded.data == match
    assert _match(object=None).object is None


def _head(**update: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(m.encode(example(m.MatchHeadEvent)))
    doc["data"].update(update)
    return doc


@pytest.mark.parametrize(
    "update",
    [
        {"generation": -1},
        {"errorCount": -1},
        {"complete": "maybe"},
        {"complete": None},
        {"agentInstance": None},
        {"errors": [{"message": "no object"}]},
        {"cluster": {"namespace": "default", "name": "x", "type": "other"}},
    ],
    ids=str,
)
def test_invalid_heads_are_rejected(update: dict[str, Any]) -> None:
    with pytest.raises(InvalidMessage, match=r"invalid io\.ripple\.matchhead\.v1 message: data"):
        m.decode(json.dumps(_head(**update)).encode(), m.MatchHeadEvent)


def test_head_requires_its_fields() -> None:
    for required in ("agentInstance", "generation", "complete", "eventSourceName", "cluster"):
        doc = _head()
        del doc["data"][required]
        with pytest.raises(InvalidMessage, match=f"data.{required}"):
            m.decode(json.dumps(doc).encode(), m.MatchHeadEvent)


def test_head_defaults_and_error_count() -> None:
    head = m.MatchHead(
        cluster=CLUSTER, event_source_name="s", agent_instance="i", generation=0, complete=False
    )
    assert (head.errors, head.error_count, head.cloud_events) == ([], 0, [])
    # errorCount counts every per-object error; errors lists at most MAX_HEAD_ERRORS of them
    assert m.MAX_HEAD_ERRORS == 100
    big = m.MatchHead.model_validate({**_head()["data"], "errorCount": 5000})
    assert big.error_count == 5000 and big.errors == [LUA_ERROR]
    assert m.decode(m.encode(m.envelope(big)), m.MatchHeadEvent).data == big


# --- envelopes and keys -----------------------------------------------------------------------


def test_message_key_of_entries_and_heads_is_their_key() -> None:
    match, head = example(m.MatchEvent), example(m.MatchHeadEvent)
    assert (
        m.message_key(match)
        == match.subject
        == s.match_key(CLUSTER, "https-service", SERVICE_REF.key)
    )
    assert m.message_key(head) == head.subject == s.match_head_key(CLUSTER, "https-service")
    assert match.source == head.source == CLUSTER.source
    entry = m.envelope(_match(ref=m.ObjectRef(api_version="v1", kind="Namespace", name="shop")))
    assert (
        m.message_key(entry)
        == entry.subject
        == ("default.capi--prod_2Eeu-1.https-service.v1._4Eamespace._.shop")
    )
    assert s.parse_match_key(entry.subject).obj == ObjectKey("v1", "Namespace", "", "shop")
    assert isinstance(entry, m.MatchEvent) and entry.id  # a fresh id, no dedup id
    assert m.decode(m.encode(entry), MATCHES) == entry


def _reader() -> KVStore[Any]:
    return KVStore(None, streams.MATCHES, MATCHES)


def test_a_value_under_another_key_is_rejected() -> None:
    reader = _reader()
    match, head = example(m.MatchEvent), example(m.MatchHeadEvent)
    assert reader.decode(match.subject, m.encode(match)) == match
    assert reader.decode(head.subject, m.encode(head)) == head
    other_object = match.data.model_copy(
        update={"ref": SERVICE_REF.model_copy(update={"name": "db"})}
    )
    spoofed = [
        (match.subject, head),  # a head under an entry's key
        (head.subject, match),  # an entry under a head's key
        (match.subject, m.envelope(other_object)),  # another object's entry
        (match.subject, m.envelope(match.data.model_copy(update={"cluster": OTHER}))),
        (head.subject, m.envelope(head.data.model_copy(update={"cluster": OTHER}))),
        (head.subject, m.envelope(head.data.model_copy(update={"event_source_name": "x"}))),
    ]
    for key, value in spoofed:
        with pytest.raises(InvalidMessage, match=r"ripple-matches key .*belongs under .*spoofed"):
            reader.decode(key, m.encode(value))
    with pytest.raises(InvalidMessage, match="unexpected type"):
        reader.decode(head.subject, m.encode(example(m.EventReportEvent)))


async def test_matches_bucket_through_a_real_server(jetstream: Any) -> None:
    """Entries and heads in one bucket: the documented filters select what they say, and a
    watcher skips a spoofed value."""
    store: KVStore[Any] = await KVStore.open(jetstream, streams.MATCHES, MATCHES)
    match, head = example(m.MatchEvent), example(m.MatchHeadEvent)
    other_set = m.envelope(head.data.model_copy(update={"event_source_name": "other"}))
    other_cluster = m.envelope(head.data.model_copy(update={"cluster": OTHER}))
    other_entry = m.envelope(match.data.model_copy(update={"cluster": OTHER}))
    for message in (match, head, other_set, other_cluster, other_entry):
        await store.put(message)
    assert set(await store.items(s.match_keys(CLUSTER))) == {
        match.subject,
        head.subject,
        other_set.subject,
    }
    assert set(await store.items(s.match_keys(CLUSTER, "https-service"))) == {match.subject}
    assert set(await store.items("*.*.*")) == {
        head.subject,
        other_set.subject,
        other_cluster.subject,
    }
    kv = await jetstream.key_value(streams.MATCHES.bucket)
    await kv.put(match.subject, m.encode(other_entry))  # cluster c2's entry under prod's key
    assert await store.items(s.match_keys(CLUSTER, "https-service")) == {}
    assert store.skipped == 1
    with pytest.raises(InvalidMessage, match="spoofed"):
        await store.get(match.subject)
