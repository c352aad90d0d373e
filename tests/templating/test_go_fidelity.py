"""Go/sprig behaviours users compare with Sveltos (issue 15 item 9): ``regexMatch`` with a
pattern that does not compile is false (Go drops ``regexp.MatchString``'s error), and an
unknown ``missingkey`` option is bad input named in the error, not an internal error."""

from __future__ import annotations

import pytest

from shared.errors import InvalidInput
from shared.templating import TemplateError, compile_template, render_event_template
from shared.templating.cases import run_case


def test_regex_match_with_a_bad_pattern_is_false() -> None:
    out = render_event_template('{{ regexMatch "(" "x" }}|{{ regexMatch "^x" "x" }}', {})
    assert out == "false|true"


def test_must_regex_match_with_a_bad_pattern_is_an_error() -> None:
    with pytest.raises(TemplateError, match="error parsing regexp: missing closing \\)"):
        render_event_template('{{ mustRegexMatch "(" "x" }}', {})


def test_unknown_missingkey_option_is_a_template_error_naming_it() -> None:
    with pytest.raises(TemplateError, match="unrecognized option: missingkey=bogus") as info:
        compile_template("{{ .x }}", name="t", missingkey="bogus")
    assert isinstance(info.value, InvalidInput)


def test_unknown_missingkey_in_a_case_is_an_expected_error_not_an_internal_one() -> None:
    case = {
        "name": "missingkey bogus",
        "template": "{{ .x }}",
        "data": {"x": 1},
        "options": {"missingkey": "bogus"},
        "expected_error": "unrecognized option: missingkey=bogus",
    }
    assert run_case(case).status == "PASS"
