"""aggregatedSelection (sveltos-semantics.md §1.7, BRIEF §4)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.evaluation.helpers import compiled, service, service_selector
from tests.paths import CORPUS

KEEP_HTTPS = """
function evaluate()
  local hs = {message = "picked"}
  local picked = {}
  for _, r in ipairs(resources) do
    for _, p in ipairs(r.spec.ports) do
      if p.port == 443 then table.insert(picked, r) end
    end
  end
  if #picked > 0 then hs.resources = picked end
  return hs
end
"""


def agg(script: str, *selectors: dict[str, Any]) -> Any:
    return compiled(*(selectors or (service_selector(),)), aggregated=script)


def names(resources: list[dict[str, Any]]) -> list[str]:
    return [r["metadata"]["name"] for r in resources]


def test_returns_the_original_objects() -> None:
    c = agg(KEEP_HTTPS)
    assert c.has_aggregation
    objs = [service("a", ports=[443]), service("b", ports=[80]), service("c", ports=[80, 443])]
    result = c.aggregate(objs)
    assert result.error is None and result.message == "picked"
    assert names(result.resources) == ["a", "c"]
    assert result.resources[0] is objs[0]


def test_resources_global_is_also_the_argument() -> None:
    c = agg(
        "function evaluate(list)\n return {resources = (list == resources) and list or nil}\nend"
    )
    assert names(c.aggregate([service("a")]).resources) == ["a"]


def test_missing_or_empty_resources_mean_no_match() -> None:
    for script in (
        "function evaluate() return {} end",
        "function evaluate() return {resources = {}} end",
        "function evaluate() return {message = 'none'} end",
    ):
        result = agg(script).aggregate([service("a")])
        assert result.error is None and result.resources == []


def test_per_selector_filtering_happens_first() -> None:
    c = agg(
        "function evaluate() return {resources = resources} end",
        service_selector(labelFilters=[{"key": "keep", "operation": "Has"}]),
    )
    assert names(c.aggregate([service("a", labels={"keep": "1"}), service("b")]).resources) == ["a"]
    # prefiltered: the caller already filtered
    assert names(c.aggregate([service("a"), service("b")], prefiltered=True).resources) == [
        "a",
        "b",
    ]


def test_deleted_objects_are_not_offered() -> None:
    gone = service("gone")
    gone["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    c = agg("function evaluate() return {resources = resources} end")
    assert names(c.aggregate([gone, service("here")]).resources) == ["here"]


def test_synthetic_objects_are_converted() -> None:
    c = agg(
        "function evaluate()\n"
        "  return {resources = {{apiVersion = 'v1', kind = 'ConfigMap',\n"
        "    metadata = {name = 'summary', namespace = 'default'}, data = {count = #resources}}}}\n"
        "end\n"
    )
    result = c.aggregate([service("a"), service("b")])
    assert result.error is None
    assert result.resources == [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "summary", "namespace": "default"},
            "data": {"count": 2},
        }
    ]


def test_duplicates_in_the_result_count_once() -> None:
    c = agg("function evaluate() return {resources = {resources[1], resources[1]}} end")
    assert names(c.aggregate([service("a")]).resources) == ["a"]


def test_invalid_results_are_errors() -> None:
    for script, reason in (
        ("function evaluate() return nil end", "not a lua table"),
        ("function evaluate() return {resources = 'x'} end", "resources must be an array"),
        ("function evaluate() return {resources = {a = 1}} end", "resources must be an array"),
        ("function evaluate() return {resources = {1}} end", "expected an object"),
        ("function evaluate() return {resources = {{metadata = {name = 'x'}}}} end", "kind"),
        ("function evaluate() error('agg failed') end", "agg failed"),
        ("function evaluate() while true do end end", "instruction budget"),
    ):
        result = agg(script).aggregate([service("a")])
        assert result.error is not None and reason in result.error, (script, result.error)
        assert "aggregatedSelection" in result.error and result.resources == []


def test_a_per_object_error_makes_the_set_unknown() -> None:
    c = compiled(
        service_selector(
            evaluate="function evaluate() if obj.metadata.name == 'bad' then error('x') end return {matching = true} end"
        ),
        aggregated="function evaluate() return {resources = resources} end",
    )
    result = c.aggregate([service("ok"), service("bad")])
    assert result.error is not None and "bad" in result.error
    assert names(c.aggregate([service("ok")]).resources) == ["ok"]


def test_nameless_synthetic_objects_are_all_kept() -> None:
    c = agg(
        "function evaluate()\n"
        "  local out = {}\n"
        "  for i, r in ipairs(resources) do out[i] = {kind = 'Summary', spec = {n = i}} end\n"
        "  return {resources = out}\n"
        "end\n"
    )
    result = c.aggregate([service("a"), service("b")])
    assert [r["spec"]["n"] for r in result.resources] == [1, 2]


DOC_MCS = (
    CORPUS
    / "sveltos-docs"
    / "events__examples__mcs_api"
    / "01-EventSource-mcs-service-deriver.yaml"
)


@pytest.mark.skipif(not DOC_MCS.exists(), reason="the brief's corpus is not available")
def test_docs_mcs_example_returns_modified_services() -> None:
    from shared.api import loading
    from shared.api.eventsource import EventSource
    from shared.evaluation import compile_event_source

    (loaded,) = loading.load_file(DOC_MCS)
    assert isinstance(loaded.obj, EventSource)
    c = compile_event_source(loaded.obj)
    export = {
        "apiVersion": "multicluster.x-k8s.io/v1alpha1",
        "kind": "ServiceExport",
        "metadata": {"name": "web", "namespace": "default"},
    }
    result = c.aggregate([export, service("web"), service("api")])
    assert result.error is None, result.error
    (out,) = result.resources
    assert out["metadata"]["name"] == "web"
    assert out["metadata"]["labels"]["service-export-name"] == "web"
    assert out["metadata"]["labels"]["multicluster.kubernetes.io/service-name"] == "web"
    assert "Found Service for ServiceExport: web" in result.message


def test_changes_made_by_the_script_are_kept() -> None:
    # the docs' MCS example adds labels to the Services it returns
    c = agg(
        "function evaluate()\n"
        "  for _, r in ipairs(resources) do\n"
        "    if r.metadata.labels == nil then r.metadata.labels = {} end\n"
        "    r.metadata.labels['exported'] = 'yes'\n"
        "  end\n"
        "  return {resources = resources}\n"
        "end\n"
    )
    original = service("a", labels={"x": "1"})
    original["spec"]["externalIPs"] = []
    original["spec"]["weight"] = 1.0
    result = c.aggregate([original])
    (out,) = result.resources
    assert out is not original and original["metadata"]["labels"] == {"x": "1"}
    assert out["metadata"]["labels"] == {"x": "1", "exported": "yes"}
    assert out["spec"]["externalIPs"] == [] and isinstance(out["spec"]["weight"], float)
    assert out["spec"]["ports"] == original["spec"]["ports"]


def test_unchanged_objects_are_the_originals() -> None:
    original = service("a")
    original["spec"]["externalIPs"] = []
    c = agg("function evaluate() return {resources = resources} end")
    (out,) = c.aggregate([original]).resources
    assert out is original
