"""The helper functions Sveltos users call from Lua."""

from __future__ import annotations

import pytest

from tests.evaluation.helpers import expr, lua, message_of, service


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("strings.HasPrefix('kube-system', 'kube-')", "true"),
        ("strings.HasPrefix('kube', 'kube-')", "false"),
        ("strings.HasSuffix('app.yaml', '.yaml')", "true"),
        ("strings.HasSuffix('a', '')", "true"),
        ("strings.Contains('hello world', 'o w')", "true"),
        ("strings.Contains('a.b', '%.')", "false"),
        ("strings.Contains('a.b', '.')", "true"),
        ("table.concat(strings.Split('a,b,,c', ','), '|')", "a|b||c"),
        ("#strings.Split('', ',')", "1"),
        ("table.concat(strings.Split('abc', ''), '|')", "a|b|c"),
        ("strings.ToLower('MiXeD')", "mixed"),
        ("strings.ToUpper('MiXeD')", "MIXED"),
        ("strings.TrimSpace('  \\t padded \\n ')", "padded"),
        ("strings.Replace('a-a-a', '-', '+', 1)", "a+a-a"),
        ("strings.Replace('a-a-a', '-', '+', -1)", "a+a+a"),
        ("strings.ReplaceAll('a%a%a', '%', '.')", "a.a.a"),
        ("strings.Join({'x', 'y', 'z'}, ', ')", "x, y, z"),
        ("strings.TrimPrefix('v1.2', 'v')", "1.2"),
        ("strings.TrimSuffix('file.yaml', '.yaml')", "file"),
        ("strings.Index('chicken', 'ken')", "4"),
        ("strings.Index('chicken', 'dmr')", "-1"),
        ("require('strings').ToUpper('x')", "X"),
        ("require 'strings' == strings", "true"),
        ("require('json') == json", "true"),
    ],
)
def test_strings_module(expression: str, expected: str) -> None:
    assert message_of(expr(expression)) == expected


def test_strings_errors_name_the_function() -> None:
    result = expr("strings.ToUpper(nil)").evaluate(service())
    assert result.error is not None and "strings.ToUpper" in result.error


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("json.encode({a = 1, b = {1, 2, 'x'}, c = true})", '{"a":1,"b":[1,2,"x"],"c":true}'),
        ("json.encode({})", "[]"),
        ("json.encode(1.5)", "1.5"),
        ("select(2, json.encode({[1] = 'a', [3] = 'b'}))", "json.encode: sparse array"),
        (
            "select(2, json.encode({1, x = 2}))",
            "json.encode: table has mixed (string and number) keys",
        ),
        ("select(2, json.encode(print))", "json.encode: cannot encode a Lua function"),
        ('json.decode(\'{"a": [1, 2, {"b": "c"}]}\').a[3].b', "c"),
        ("json.decode('{\"n\": 443}').n == 443", "true"),
        ("json.decode('\"s\"')", "s"),
        ("json.decode('null')", "nil"),
        (
            "select(2, json.decode('{bad'))",
            "json.decode: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        ("select(2, json.decode(42))", "json.decode: expected a string, got number"),
        ("json.fromYAML('a:\\n  - 1\\n  - two\\n').a[2]", "two"),
        ("json.toYAML({b = {1, 2}})", "b:\n- 1\n- 2\n"),
        ("require('json').encode({k = 'v'})", '{"k":"v"}'),
    ],
)
def test_json_module(expression: str, expected: str) -> None:
    assert message_of(expr(expression)) == expected


def test_json_roundtrip_of_obj() -> None:
    c = expr("json.decode(json.encode(obj)).spec.ports[1].port")
    assert message_of(c, service(ports=[8443])) == "8443"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("base64Encode('hello')", "aGVsbG8="),
        ("base64Encode('hi')", "aGk="),
        ("base64Encode('abc')", "YWJj"),
        ("base64Decode('aGVsbG8=')", "hello"),
        ("base64Decode(base64Encode('\\0\\255\\128binary')) == '\\0\\255\\128binary'", "true"),
        ("select(2, base64Encode(''))", "base64Encode: empty input"),
        ("base64Decode('')", "nil"),
        ("select(2, base64Decode('!!!!'))", "base64Decode: illegal base64 data at input byte 0"),
    ],
)
def test_base64(expression: str, expected: str) -> None:
    result = expr(expression).evaluate(service())
    assert result.error is None, result.error
    assert result.message == expected


def test_get_label_and_annotation() -> None:
    obj = service(labels={"team": "a"})
    obj["metadata"]["annotations"] = {"note": "x"}
    c = expr(
        "getLabel(obj, 'team') .. getAnnotation(obj, 'note') .. tostring(getLabel(obj, 'none'))"
    )
    assert message_of(c, obj) == "axnil"
    assert message_of(expr("tostring(getAnnotation(obj, 'x'))"), service()) == "nil"
    assert message_of(expr("tostring(getLabel(nil, 'x'))")) == "nil"


def test_spec_scripts_written_for_sveltos_work() -> None:
    # the DOC pattern: a script defining its own local getLabel must not clash
    c = lua(
        "local function getLabel(o, k)\n"
        "  if o.metadata.labels then return o.metadata.labels[k] end\n"
        "end\n"
        "function evaluate()\n"
        "  return {matching = getLabel(obj, 'sveltos') == 'fv'}\n"
        "end\n"
    )
    assert c.evaluate(service(labels={"sveltos": "fv"})).matching
    assert not c.evaluate(service()).matching
