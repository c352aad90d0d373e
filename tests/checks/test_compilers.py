"""The static checks of one text: Lua, CEL, Go and Jinja2 templates (cached by text)."""

from __future__ import annotations

from shared.checks import compilers
from shared.checks.compilers import Failure


def test_lua_compiles_in_the_agents_sandbox_with_the_line() -> None:
    assert compilers.lua("function evaluate(obj)\n  return {matching = true}\nend\n") is None
    failure = compilers.lua("function evaluate(obj)\n  local x =\nend\n")
    assert failure == Failure("unexpected symbol near 'end'", 3)
    assert compilers.lua('x = "open') == Failure("unfinished string near '<eof>'", 1)


def test_cel_syntax_and_names_as_sveltos_checks_them() -> None:
    assert compilers.cel('has(resource.metadata.labels) && resource.kind == "Service"') is None
    assert compilers.cel("resource.spec.ports.exists(p, p.port == 443)") is None
    assert compilers.cel("type(resource) == map && size(resource.items) > 0") is None
    assert compilers.cel("resource.x ==") == Failure("syntax error at column 12", 1)
    undeclared = compilers.cel("resource.x == 1 &&\n  object.y == 2")
    assert undeclared == Failure(
        "undeclared reference to 'object' (the only variable is 'resource')", 2
    )
    function = compilers.cel("lower(resource.metadata.name) == 'a'")
    assert function is not None and "function 'lower'" in function.message


def test_go_templates_parse_with_sveltos_functions() -> None:
    assert compilers.go_template("plain text") is None
    assert compilers.go_template("{{ .MatchingResource.Name | upper }}") is None
    assert compilers.go_template("a\n{{ .x ") == Failure("unclosed action", 2)
    assert compilers.go_template("{{ if .x }}") == Failure("unexpected EOF", 1)
    assert compilers.go_template("\n\n{{ nofunc .x }}") == Failure(
        'function "nofunc" not defined', 3
    )


def test_jinja_flavour() -> None:
    assert compilers.template("{{ MatchingResource.Name }}", "jinja") is None
    failure = compilers.template("line\n{% if x %}", "jinja")
    assert failure is not None and failure.line == 2 and "endif" in failure.message


def test_results_are_cached_by_text() -> None:
    compilers.cache_clear()
    code = "x = = 1"
    first = compilers.lua(code)
    assert compilers.lua(code) is first
    assert compilers.cel(code) is not first  # per kind of check


def test_go_regexps() -> None:
    assert compilers.go_regexp("^user\\.(login|logout)$") is None
    failure = compilers.go_regexp("(?=look)ahead")  # Go has no look-ahead
    assert failure is not None and "invalid regular expression '(?=look)ahead'" in failure.message
