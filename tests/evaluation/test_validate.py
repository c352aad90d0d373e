"""``ripple validate``: the corpus passes; broken cases fail with a reason, never crash."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from services.tools import validate
from tests.paths import CORPUS

CORPORA = ["sveltos-agent-events", "sveltos-agent-events-history", "sveltos-agent-events-extra"]


def run(*paths: Path) -> tuple[int, list[str]]:
    app = typer.Typer()
    validate.register(app)

    @app.callback()
    def _root() -> None:  # keep "validate" as a sub-command
        pass

    result = CliRunner().invoke(app, ["validate", *map(str, paths)])
    return result.exit_code, result.output.strip().splitlines()


@pytest.mark.skipif(not CORPUS.exists(), reason="the brief's corpus is not beside the repository")
def test_the_whole_corpus_passes() -> None:
    code, lines = run(*(CORPUS / name for name in CORPORA))
    assert lines[-1] == "13 passed, 0 failed", lines
    assert code == 0
    assert all(line.startswith("PASS ") for line in lines[:-1])
    assert any("aggregatedSelection" in line for line in lines)


ES = """\
apiVersion: lib.projectsveltos.io/v1beta1
kind: EventSource
metadata:
  name: https-service
spec:
  resourceSelectors:
  - group: ""
    version: v1
    kind: Service
    evaluate: |
      function evaluate()
        hs = {matching = false}
        for _, p in ipairs(obj.spec.ports) do
          if p.port == 443 then hs.matching = true end
        end
        return hs
      end
"""


def svc(name: str, port: int) -> str:
    return (
        f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\n"
        f"  creationTimestamp: 2024-01-01T00:00:00Z\nspec:\n  ports:\n  - port: {port}\n"
    )


def make_case(
    root: Path, name: str, es: str, matching: str | None, non_matching: str | None
) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "eventsource.yaml").write_text(es)
    if matching is not None:
        (folder / "matching.yaml").write_text(matching)
    if non_matching is not None:
        (folder / "non-matching.yaml").write_text(non_matching)
    return folder


def test_passing_and_failing_cases(tmp_path: Path) -> None:
    make_case(tmp_path, "good", ES, svc("a", 443) + "---\n" + svc("b", 443), svc("c", 80))
    make_case(tmp_path, "wrong-expectation", ES, svc("a", 80), None)
    make_case(tmp_path, "wrongly-matching", ES, None, svc("a", 443))
    make_case(tmp_path, "only-source", ES, None, None)
    code, lines = run(tmp_path)
    assert code == 1
    assert lines[-1] == "2 passed, 2 failed"
    text = "\n".join(lines)
    assert "PASS " + tmp_path.name + "/good: 2 matching, 1 non-matching" in text
    assert (
        "FAIL "
        + tmp_path.name
        + "/wrong-expectation: matching.yaml document 1 (Service/default/a) does not match"
        in text
    )
    assert (
        "FAIL "
        + tmp_path.name
        + "/wrongly-matching: non-matching.yaml document 1 (Service/default/a) matches"
        in text
    )
    assert "PASS " + tmp_path.name + "/only-source: compiles" in text


@pytest.mark.parametrize(
    ("es", "reason"),
    [
        (ES.replace("if p.port == 443 then", "if p.port == 443 the"), "line 4"),
        (
            "apiVersion: lib.projectsveltos.io/v1beta1\nkind: EventSource\nmetadata: {name: x}\nspec: [",
            "eventsource.yaml",
        ),
        (ES.replace("kind: Service", "kind: ''"), "eventsource.yaml"),
        (
            ES.replace(
                "for _, p in ipairs(obj.spec.ports) do",
                "for _, p in ipairs(obj.spec.nothere.ports) do",
            ),
            "attempt to index",
        ),
        (ES.replace("hs = {matching = false}", "while true do end"), "instruction budget"),
    ],
)
def test_broken_sources_are_failed_cases(tmp_path: Path, es: str, reason: str) -> None:
    make_case(tmp_path, "case", es, svc("a", 443), None)
    code, lines = run(tmp_path)
    assert code == 1
    assert lines[-1] == "0 passed, 1 failed"
    assert lines[0].startswith("FAIL ") and reason in lines[0], lines[0]


def test_bad_object_file_is_a_failed_case(tmp_path: Path) -> None:
    make_case(tmp_path, "case", ES, "apiVersion: v1\nkind: [", None)
    make_case(tmp_path, "case2", ES, "- just\n- a list\n", None)
    code, lines = run(tmp_path)
    assert code == 1 and lines[-1] == "0 passed, 2 failed"


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    code, lines = run(tmp_path / "nope", tmp_path)
    assert code == 1
    assert lines[-1] == "0 passed, 2 failed"


def test_single_case_folder_and_file(tmp_path: Path) -> None:
    folder = make_case(tmp_path, "one", ES, svc("a", 443), svc("b", 80))
    assert run(folder) == (0, ["PASS one: 1 matching, 1 non-matching", "1 passed, 0 failed"])
    assert run(folder / "eventsource.yaml")[0] == 0


def test_aggregated_case_reports_missing_and_extra(tmp_path: Path) -> None:
    es = (
        "apiVersion: lib.projectsveltos.io/v1beta1\nkind: EventSource\nmetadata:\n  name: agg\n"
        "spec:\n  resourceSelectors:\n  - {group: '', version: v1, kind: Service}\n"
        "  aggregatedSelection: |\n"
        "    function evaluate()\n"
        "      local out = {}\n"
        "      for _, r in ipairs(resources) do\n"
        "        if r.spec.ports[1].port == 80 then table.insert(out, r) end\n"
        "      end\n"
        "      return {resources = out}\n"
        "    end\n"
    )
    make_case(tmp_path, "agg", es, svc("a", 443), svc("b", 80))
    code, lines = run(tmp_path)
    assert code == 1
    assert "missing from the result: Service/default/a" in lines[0]
    assert "wrongly in the result: Service/default/b" in lines[0]


def test_v1alpha1_flat_form(tmp_path: Path) -> None:
    es = (
        "apiVersion: lib.projectsveltos.io/v1alpha1\nkind: EventSource\nmetadata:\n  name: flat\n"
        "spec:\n  group: ''\n  version: v1\n  kind: Service\n  labelsFilters:\n"
        "  - {key: sveltos, operation: Equal, value: fv}\n"
    )
    matching = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  labels: {sveltos: fv}\n"
    non_matching = (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: b\n  labels: {sveltos: prod}\n"
    )
    make_case(tmp_path, "flat", es, matching, non_matching)
    code, lines = run(tmp_path)
    assert code == 0, lines
