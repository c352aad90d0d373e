"""Subject/key token encoding: reversible, readable for DNS names, valid for NATS and KV."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.contract import subjects as s
from shared.contract.errors import InvalidSubject
from shared.contract.subjects import ClusterRef
from shared.errors import InvalidInput

KV_KEY = re.compile(r"[-/_=.a-zA-Z0-9]+")
SUBJECT_TOKEN = re.compile(r"[^\s.*>]+")

names = st.text(max_size=300)
clusters = st.builds(
    ClusterRef, namespace=names, name=names, type=st.sampled_from(["sveltos", "capi"])
)


@given(names)
def test_token_round_trip_and_alphabet(value: str) -> None:
    token = s.encode_token(value)
    assert s.decode_token(token) == value
    assert KV_KEY.fullmatch(token) and "." not in token
    assert SUBJECT_TOKEN.fullmatch(token)


@given(st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True))
def test_dns_labels_stay_readable(value: str) -> None:
    assert s.encode_token(value) == value


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("", "_"),
        ("_", "_5F"),
        ("kube-system", "kube-system"),
        ("web.example.com", "web_2Eexample_2Ecom"),
        ("MyLabel", "_4Dy_4Cabel"),
        ("a b*>", "a_20b_2A_3E"),
        ("é", "_C3_A9"),
    ],
)
def test_token_examples(value: str, token: str) -> None:
    assert s.encode_token(value) == token
    assert s.decode_token(token) == value


def test_long_names() -> None:
    name = "a." * 126 + "b"  # 253 characters, the Kubernetes maximum
    assert s.decode_token(s.encode_token(name)) == name
    cluster = ClusterRef(namespace="n" * 63, name=name)
    assert s.parse_cluster_key(s.report_key(cluster, name)) == (cluster, name)


@pytest.mark.parametrize(
    "token",
    ["", "A", "a.b", "_2e", "_61", "_2", "_ZZ", "a b", "_C3", "x\n", "*", ">"],
)
def test_non_canonical_tokens_are_rejected(token: str) -> None:
    with pytest.raises(InvalidSubject):
        s.decode_token(token)


def test_invalid_subject_is_invalid_input() -> None:
    assert issubclass(InvalidSubject, InvalidInput)


@given(clusters, names)
def test_builders_round_trip(cluster: ClusterRef, name: str) -> None:
    for build in (s.report_key, s.assignment_key, s.desired_key, s.outcome_key):
        key = build(cluster, name)
        assert KV_KEY.fullmatch(key)
        assert s.parse_cluster_key(key) == s.ClusterItem(cluster, name)
    assert s.parse_agent_key(s.agent_key(cluster)) == cluster
    assert ClusterRef.from_token(cluster.token) == cluster
    subject = s.event_subject(cluster, name)
    assert subject.startswith("ripple.v1.events.")
    assert all(SUBJECT_TOKEN.fullmatch(t) for t in subject.split("."))
    assert s.parse_event_subject(subject) == (cluster, name)


def test_formats() -> None:
    c = ClusterRef(namespace="default", name="c1")
    assert c.token == "default.sveltos--c1"
    assert (
        s.event_subject(c, "https-service") == "ripple.v1.events.default.sveltos--c1.https-service"
    )
    assert s.report_key(c, "svc") == "default.sveltos--c1.svc"
    assert s.agent_key(ClusterRef(namespace="ns", name="a--b", type="capi")) == "ns.capi--a--b"
    assert s.parse_agent_key("ns.capi--a--b").name == "a--b"
    assert c.source == "ripple://agent/default/sveltos--c1"


def test_wildcards() -> None:
    c = ClusterRef(namespace="default", name="c1")
    assert s.events_wildcard() == "ripple.v1.events.>"
    assert s.events_wildcard(c) == "ripple.v1.events.default.sveltos--c1.>"
    assert s.events_wildcard(event_source="a.b") == "ripple.v1.events.*.*.a_2Eb"
    assert s.events_wildcard(c, "svc") == s.event_subject(c, "svc")
    assert s.cluster_keys(c) == "default.sveltos--c1.>"


@pytest.mark.parametrize(
    "subject",
    [
        "ripple.v2.events.default.sveltos--c1.svc",
        "ripple.v1.events.default.sveltos--c1",
        "ripple.v1.events.default.sveltos--c1.svc.extra",
        "ripple.v1.events.default.c1.svc",
        "ripple.v1.events.default.other--c1.svc",
        "ripple.v1.events.default.sveltos--C1.svc",
        "ripple.v1.events..sveltos--c1.svc",
    ],
)
def test_malformed_event_subjects(subject: str) -> None:
    with pytest.raises(InvalidSubject, match="subject"):
        s.parse_event_subject(subject)


@pytest.mark.parametrize("key", ["default.sveltos--c1", "a.b.c.d", "default.sveltos-c1.x", "."])
def test_malformed_keys(key: str) -> None:
    with pytest.raises(InvalidSubject, match="key"):
        s.parse_cluster_key(key)


@pytest.mark.parametrize("key", ["default", "default.sveltos--c1.x", "default.c1"])
def test_malformed_agent_keys(key: str) -> None:
    with pytest.raises(InvalidSubject, match="agent key"):
        s.parse_agent_key(key)
