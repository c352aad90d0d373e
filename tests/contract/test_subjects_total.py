"""The key parsers are total at the trust boundary: whatever string a writer uses as a key,
each parse function of :mod:`shared.contract.subjects` returns or raises
:class:`InvalidSubject` -- nothing else -- and what it accepts is canonical (encoding the
parsed parts gives the key back)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contract import subjects
from shared.contract.errors import InvalidSubject

PARSERS: dict[str, Callable[[str], object]] = {
    "cluster": subjects.parse_cluster_key,
    "match": subjects.parse_match_key,
    "agent": subjects.parse_agent_key,
    "status": subjects.parse_status_key,
    "event": subjects.parse_event_subject,
    "token": subjects.decode_token,
}

# what NATS accepts in a KV key, plus a few characters it does not (a writer may try)
token_chars = st.sampled_from("abcz09-_.AZ/=*>%é\x00 ")
tokens = st.one_of(
    st.text(token_chars, max_size=12),
    st.from_regex(r"(sveltos|capi)--[a-z0-9_A-F-]{0,8}", fullmatch=True),
    st.from_regex(r"_[0-9A-Fa-f]{0,2}", fullmatch=True),
)
keys = st.lists(tokens, min_size=0, max_size=9).map(".".join)


def _canonical(name: str, key: str, parsed: object) -> None:
    if name == "cluster":
        assert isinstance(parsed, subjects.ClusterItem)
        again = f"{parsed.cluster.token}.{subjects.encode_token(parsed.name)}"
    elif name == "match":
        assert isinstance(parsed, subjects.MatchItem)
        if parsed.obj is None:
            again = subjects.match_head_key(parsed.cluster, parsed.event_source)
        else:
            again = subjects.match_key(parsed.cluster, parsed.event_source, parsed.obj)
    elif name == "agent":
        assert isinstance(parsed, subjects.ClusterRef)
        again = subjects.agent_key(parsed)
    elif name == "status":
        assert isinstance(parsed, tuple)
        again = subjects.status_key(*parsed)
    else:
        return
    assert again == key


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=60)
@given(key=keys)
def test_parsers_raise_only_invalid_subject(name: str, key: str) -> None:
    try:
        parsed = PARSERS[name](key)
    except InvalidSubject:
        return
    _canonical(name, key, parsed)


@pytest.mark.parametrize(
    "key",
    [
        "",
        ".",
        "..",
        "a..b",
        "default.sveltos--c.es.x",  # a 4-token key (issue 16)
        "default.sveltos--c.es.v1.Service.default",  # 6 tokens
        "default.sveltos--c.e_61s",  # an escape of a verbatim character
        "default.sveltos--c.e_4as",  # lower-case hex
        "default.sveltos--c.e_C3",  # invalid UTF-8
        "default.sveltos--c._",
        "default.other--c.es",
        "default.sveltos-c.es",
        "default.SVELTOS--c.es",
    ],
)
def test_malformed_keys_raise_invalid_subject(key: str) -> None:
    for name in ("cluster", "match", "agent", "status"):
        try:
            parsed = PARSERS[name](key)
        except InvalidSubject:
            continue
        _canonical(name, key, parsed)
