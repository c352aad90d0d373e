"""Property: what toYaml writes, fromYaml reads back (quoting is always sufficient)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.templating.funcs.yaml_load import load_v2
from shared.templating.funcs.yamlgo import dump_v2, dump_v3

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


_json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1),
        st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
        _text,
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_text, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(_json_values)
def test_json_round_trip(v: Any) -> None:
    from shared.templating.funcs.encoding import go_json_dumps, go_json_loads

    assert go_json_loads(go_json_dumps(v)) == v
    assert go_json_loads(go_json_dumps(v, indent="  ")) == v


@settings(max_examples=300, deadline=None)
@given(_json_values)
def test_sigs_yaml_matches_json_data(v: Any) -> None:
    from shared.templating.funcs.sveltos import sigs_yaml

    if isinstance(v, dict | list) or v is None:
        # toYaml drops the final newline (as libsveltos does): read back what Marshal wrote
        text = sigs_yaml(v) + "\n"
        assert load_v2(text) == v or (v == {} and text == "{}\n")
