"""Every case of the corpus files passes (or is a documented deviation)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from shared.templating.builtins import BUILTINS
from shared.templating.cases import load_cases, load_deviations, run_case
from shared.templating.engine import function_set
from tests.paths import CORPUS

DEVIATIONS = load_deviations()
_UNDEFINED = re.compile(r'function "([^"]+)" not defined')


def _cases(file: str) -> list[Any]:
    return [pytest.param(c, id=c["name"]) for c in load_cases(CORPUS / file)]


def _check(case: dict[str, Any]) -> None:
    result = run_case(case, DEVIATIONS)
    if not result.passed:
        # functions come from shared.templating.funcs: skip while one is not there yet
        m = _UNDEFINED.search(result.reason)
        funcs = (case.get("options") or {}).get("funcs", "sveltos")
        if m and m.group(1) not in BUILTINS and m.group(1) not in function_set(funcs):
            pytest.skip(f"function {m.group(1)} is not in the {funcs} set yet")
    assert result.passed, result.line()


@pytest.mark.parametrize("case", _cases("go-templates.json"))
def test_go_templates(case: dict[str, Any]) -> None:
    _check(case)


@pytest.mark.parametrize("case", _cases("sveltos-templates.json"))
def test_sveltos_templates(case: dict[str, Any]) -> None:
    _check(case)


def test_builtin_cases_need_no_function_library() -> None:
    builtin = [
        c for c in load_cases(CORPUS / "go-templates.json") if c["options"]["funcs"] == "builtin"
    ]
    assert len(builtin) == 584
    failures = [r.line() for r in (run_case(c, DEVIATIONS) for c in builtin) if not r.passed]
    assert failures == []


def test_deviations_name_real_cases() -> None:
    names = {
        c["name"]
        for f in ("go-templates.json", "sveltos-templates.json")
        for c in load_cases(CORPUS / f)
    }
    assert set(DEVIATIONS) <= names
    assert all(reason.strip() for reason in DEVIATIONS.values())


#: where Go's exact message cannot or should not be reproduced
MESSAGE_EXCEPTIONS = {
    "define/infinite recursion": "Ripple's depth bound is 100, Go's 100000",
    "go-exec/slice out of range": "Go's message depends on the slice's capacity",
    "k8s/getResource nil": "Sveltos passes a typed nil map; the corpus a JSON null",
}


def test_error_messages_match_go() -> None:
    """Beyond the fact of failure: Go's exact message, position and phase."""
    from shared.templating.cases import _render_case
    from shared.templating.errors import TemplateError, TemplateSyntaxError

    mismatches = []
    for case in load_cases(CORPUS / "go-templates.json"):
        if not case.get("expected_error") or case["name"] in MESSAGE_EXCEPTIONS:
            continue
        try:
            _render_case(case)
        except TemplateError as exc:
            phase = "parse" if isinstance(exc, TemplateSyntaxError) else "exec"
            if str(exc) != case["expected_error"] or phase != case["error_phase"]:
                mismatches.append((case["name"], str(exc), case["expected_error"]))
            if "partial_output" in case:
                assert getattr(exc, "partial_output", None) == case["partial_output"]
    assert mismatches == []
