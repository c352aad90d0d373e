"""Property: what toYaml writes, fromYaml reads back (quoting is always sufficient)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.templating.funcs.yamlgo import dump_v2, dump_v3, load_v2

_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x85\u2028\u2029\r\ufeff"),
    max_size=40,
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1),
    _text,
    st.sampled_from(
        [
            "yes",
            "no",
            "y",
            "N",
            "on",
            "~",
            "1.5",
            "0x1F",
            "12:30",
            "2024-01-01",
            "- a",
            "#",
            "a: b",
            "'q'",
            '"d"',
            " lead",
            "trail ",
            "a\nb",
            "\n",
            "x\n\n",
        ]
    ),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(_text, st.sampled_from(["y", "1", "true", ""])), inner, max_size=4
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_text, _values, max_size=5))
def test_v2_round_trip(doc: dict[str, Any]) -> None:
    assert load_v2(dump_v2(doc)) == doc


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_text, _values, max_size=5))
def test_v3_output_is_valid_yaml_with_the_same_strings(doc: dict[str, Any]) -> None:
    # yaml.v3 output read with YAML 1.1 rules: every string was quoted when needed
    assert load_v2(dump_v3(doc)) == doc
