"""BRIEF section 7, bad inputs: each gives a clear error visible to the user (REST API,
EventReport status) and affects nothing else -- a good EventSource/EventTrigger next to it in
the same cluster (``cluster-bad``) keeps working, and every service keeps running.

Hostile Lua (syntax error, infinite loop, memory bomb, ``os.execute``), hostile templates
(missing key, huge range, ``env``), malformed and oversized NATS values in the buckets the
services read, and a spoofed report.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.scenario.stack import Stack
from shared.contract.subjects import ClusterRef
from shared.kube import KubeError
from tests.reliability.helpers import (
    EVENT_REPORT,
    EVENT_TRIGGER,
    Http,
    config_map,
    delete_definitions,
    event_source,
    event_trigger,
    eventually,
    kill9,
    log_text,
    policies,
    policy_set,
    rest,
    restart,
    service,
    stays,
)

CLUSTER = "default/cluster-bad"
REF = ClusterRef(namespace="default", name="cluster-bad")
CLUSTER_KEY = "sveltos:default/cluster-bad"
GOOD = "bad-good"
GOOD_LABEL = "bad-good-svc"
MARKER = Path(f"/tmp/ripple-reliability-pwned-{uuid.uuid4().hex}")


@pytest.fixture(scope="module")
def good(stack: Stack) -> Iterator[list[dict[str, Any]]]:
    """The good EventSource + trigger of cluster-bad (a NetworkPolicy per labelled Service)."""
    definitions = policy_set(GOOD, "bad", GOOD_LABEL)
    stack.apply_management(definitions)
    yield definitions
    delete_definitions(stack, definitions)


@pytest.fixture(scope="module")
def api(stack: Stack) -> Http:
    return rest(stack)


def good_policy_appears(stack: Stack, svc: str, timeout: float = 10.0) -> None:
    client = stack.client(CLUSTER)
    eventually(
        lambda: f"{GOOD}-{svc}" in policies(client, GOOD),
        timeout,
        what=f"the good trigger's NetworkPolicy for {svc}",
    )


def all_running(stack: Stack) -> None:
    dead = [p.name for p in stack.dead_processes()]
    assert not dead, f"processes died: {dead}\n{stack.log_tails()}"


def report_errors(api: Http, event_source: str) -> list[str]:
    for report in api.get("/v1/reports"):
        if report["cluster"] == CLUSTER_KEY and report["eventSourceName"] == event_source:
            return [str(e.get("message", "")) for e in report["errors"]]
    return []


# -- hostile Lua ----------------------------------------------------------------------------
RUNTIME_SCRIPTS = {
    "loop": (
        "function evaluate()\n  while true do end\nend\n",
        ("instruction budget", "time budget"),
    ),
    "memory": (
        "function evaluate()\n  local s = 'x'\n  while true do s = s .. s end\nend\n",
        ("memory budget", "time budget"),
    ),
    "table-memory": (
        "function evaluate()\n  local t = {}\n  local i = 0\n  while true do\n"
        "    i = i + 1\n    t[i] = string.rep('x', 1048576) .. i\n  end\nend\n",
        ("memory budget", "time budget"),
    ),
    "os-execute": (
        f"function evaluate()\n  os.execute('touch {MARKER}')\n"
        "  local hs = {}\n  hs.matching = true\n  return hs\nend\n",
        ("'os'",),
    ),
    "io-open": (
        f"function evaluate()\n  local f = io.open('{MARKER}', 'w')\n  f:write('x')\n"
        "  local hs = {}\n  hs.matching = true\n  return hs\nend\n",
        ("'io'",),
    ),
}


def _hostile(name: str, script: str) -> list[dict[str, Any]]:
    return [
        event_source(name, f"{name}-svc", script=script),
        config_map(name, _template(name)),
        event_trigger(name, name, "bad", name),
    ]


def _template(name: str) -> str:
    from tests.reliability.helpers import policy_template

    return policy_template(name, name)


@pytest.mark.parametrize("case", sorted(RUNTIME_SCRIPTS))
def test_hostile_lua_is_stopped_reported_and_isolated(
    stack: Stack, good: list, api: Http, case: str
) -> None:
    script, expected = RUNTIME_SCRIPTS[case]
    name = f"bad-lua-{case}"
    definitions = _hostile(name, script)
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    svc = f"svc-{case}"
    try:
        client.apply(service(svc, f"{name}-svc", GOOD_LABEL))
        good_policy_appears(stack, svc)
        messages = eventually(
            lambda: report_errors(api, name), 10, what=f"the {case} error in /v1/reports"
        )
        assert any(e in msg for e in expected for msg in messages), messages
        assert any("line" in msg or "stopped" in msg or "nil" in msg for msg in messages)

        def status_message() -> str:
            obj = stack.management.get(EVENT_REPORT, "default", f"sveltos--{name}--cluster-bad")
            return str(((obj or {}).get("status") or {}).get("failureMessage", ""))

        eventually(
            lambda: any(e in status_message() for e in expected),
            10,
            what="the error in EventReport status",
        )
        assert not policies(client, name), "a hostile script's object was matched"
        assert not MARKER.exists(), "the Lua sandbox let a script write a file"
        all_running(stack)
    finally:
        delete_definitions(stack, definitions)


def test_lua_cpu_bomb_through_c_functions_does_not_stall_the_agent(
    stack: Stack, good: list
) -> None:
    """Regression: the instruction budget alone let a loop of string.rep (C work per
    instruction) stall the agent for ~30 s; a time budget now stops it."""
    name = "bad-lua-cpu"
    script = "function evaluate()\n  for i = 1, 1e9 do local s = string.rep('x', 100000) end\nend\n"
    definitions = _hostile(name, script)
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    agent = stack.agent_name(CLUSTER)
    try:
        client.apply(service("svc-cpu", f"{name}-svc", GOOD_LABEL))
        good_policy_appears(stack, "svc-cpu", timeout=8)
    finally:
        delete_definitions(stack, definitions)
        kill9(stack, agent)  # do not leave a stalled agent to the next tests
        restart(stack, agent)


SYNTAX_ERROR = "function evaluate()\n  hs = {\n  return hs\nend\n"


def test_lua_syntax_error_is_logged_and_affects_nothing_else(stack: Stack, good: list) -> None:
    name = "bad-lua-syntax"
    definitions = _hostile(name, SYNTAX_ERROR)
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    agent = stack.agent_name(CLUSTER)
    try:
        client.apply(service("svc-syntax", f"{name}-svc", GOOD_LABEL))
        good_policy_appears(stack, "svc-syntax")
        eventually(
            lambda: any(
                name in line and "line 3" in line
                for service_name in ("manager", agent)
                for line in log_text(stack, service_name).splitlines()
            ),
            10,
            what="the syntax error (with its line) in the manager's or the agent's log",
        )
        stays(lambda: not policies(client, name), 300, what="no policy of the broken source")
        all_running(stack)
    finally:
        delete_definitions(stack, definitions)


def test_lua_syntax_error_is_visible_in_the_rest_api(stack: Stack, good: list, api: Http) -> None:
    name = "bad-lua-syntax-rest"
    definitions = _hostile(name, SYNTAX_ERROR)
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    try:
        client.apply(service("svc-syntax-rest", f"{name}-svc", GOOD_LABEL))
        good_policy_appears(stack, "svc-syntax-rest")

        def visible() -> list[str]:
            errors = [e["message"] for e in api.get("/v1/errors") if name in e["object"]]
            errors += api.get(f"/v1/triggers/{name}")["errors"]
            errors += report_errors(api, name)
            return [e for e in errors if "line 3" in e]

        eventually(visible, 5, what="the Lua syntax error (with its line) in the REST API")
    finally:
        delete_definitions(stack, definitions)


# -- hostile templates ------------------------------------------------------------------------
TEMPLATES = {
    "missing-key": ("{{ .Resource.nope.x }}", 'no entry for key "nope"'),
    "huge-range": ("{{ range $i := until 10000000 }}x{{ end }}", "range too large"),
    "nested-range": (
        "{{ range $i := until 100000 }}{{ range $j := until 100000 }}x{{ end }}{{ end }}",
        "limit",
    ),
    "huge-output": ('{{ "x" | repeat 100000000 }}', "repeat"),
    "env": ('{{ env "HOME" }}', '"env" not defined'),
    "expandenv": ('{{ expandenv "$HOME" }}', '"expandenv" not defined'),
}


def _hostile_template(name: str, piece: str) -> str:
    return (
        "apiVersion: networking.k8s.io/v1\n"
        "kind: NetworkPolicy\n"
        "metadata:\n"
        f"  name: {name}-{{{{ .Resource.metadata.name }}}}\n"
        "  namespace: default\n"
        "  annotations:\n"
        f"    hostile: '{piece}'\n"
        "  labels:\n"
        f"    ripple-test: {name}\n"
        "spec:\n"
        "  podSelector: {}\n"
    )


@pytest.mark.parametrize("case", sorted(TEMPLATES))
def test_hostile_template_is_reported_and_isolated(
    stack: Stack, good: list, api: Http, case: str
) -> None:
    piece, expected = TEMPLATES[case]
    name = f"bad-tpl-{case}"
    definitions = [
        event_source(name, f"{name}-svc"),
        config_map(name, _hostile_template(name, piece)),
        event_trigger(name, name, "bad", name),
    ]
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    svc = f"svc-{case}"
    try:
        client.apply(service(svc, f"{name}-svc", GOOD_LABEL))
        good_policy_appears(stack, svc)
        errors = eventually(
            lambda: api.get(f"/v1/triggers/{name}")["errors"],
            10,
            what=f"the {case} template error in /v1/triggers/{name}",
        )
        assert any(expected in e for e in errors), errors
        assert any(name in e or "ConfigMap/default/" in e for e in errors), errors
        assert not policies(client, name), "a failing template deployed something"
        home = os.environ.get("HOME", "")
        assert not home or all(home not in e for e in errors)
        all_running(stack)
    finally:
        delete_definitions(stack, definitions)


# -- invalid definitions ----------------------------------------------------------------------
INVALID_TRIGGERS = {
    "unknown-field": {"bogusField": True},
    "wrong-type": {"oneForEvent": "sometimes"},
    "bad-selector": {
        "sourceClusterSelector": {"matchExpressions": [{"key": "lane", "operator": "Near"}]}
    },
}


@pytest.mark.parametrize("case", sorted(INVALID_TRIGGERS))
def test_invalid_trigger_definition_is_reported_and_isolated(
    stack: Stack, good: list, api: Http, case: str
) -> None:
    """A trigger that does not load is either refused by the API server (the user sees the
    error at apply time) or accepted there and listed by GET /v1/errors; the good trigger
    keeps working either way."""
    name = f"bad-def-{case}"
    trigger = event_trigger(name, GOOD, "bad", GOOD)
    trigger["spec"].update(INVALID_TRIGGERS[case])
    try:
        try:
            stack.apply_management([trigger])
        except KubeError as exc:  # refused at apply time: a clear error for the user
            assert name in str(exc) or "EventTrigger" in str(exc), str(exc)
        else:
            errors = eventually(
                lambda: [e for e in api.get("/v1/errors") if name in e["object"]],
                10,
                what=f"{name} in /v1/errors",
            )
            assert errors[0]["message"], errors
        client = stack.client(CLUSTER)
        svc = f"svc-def-{case}"
        client.apply(service(svc, GOOD_LABEL))
        good_policy_appears(stack, svc)
        all_running(stack)
    finally:
        stack.management.delete(EVENT_TRIGGER, None, name)
