"""aggregatedSelection (sveltos-semantics.md §1.7, BRIEF §4)."""

from __future__ import annotations

from typing import Any

from tests.evaluation.helpers import compiled, service, service_selector

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
