"""Issue 15 item 6 over the real parts (the package's stack): a Lua error on some objects
shows in the EventSource's status (counted, examples, the cluster named), while the other
objects deploy; once those objects are fixed, they deploy too and the status is clear."""

from __future__ import annotations

from services.scenario.stack import Stack
from tests.reliability.helpers import (
    EVENT_SOURCE,
    delete_definitions,
    equal_eventually,
    eventually,
    policies,
    policy_set,
    service,
)

CLUSTER = "default/cluster-bad"
SCRIPT = """
function evaluate()
  if obj.metadata.labels["boom"] == "yes" then
    error("no boom allowed")
  end
  return {matching = true}
end
"""


def failure_message(stack: Stack, name: str) -> str:
    obj = stack.management.get(EVENT_SOURCE, None, name) or {}
    return str((obj.get("status") or {}).get("failureMessage") or "")


def test_per_object_lua_errors_show_in_the_event_sources_status(stack: Stack) -> None:
    name = "bad-objects"
    label = f"{name}-svc"
    definitions = policy_set(name, "bad", label)
    definitions[0]["spec"]["resourceSelectors"][0]["evaluate"] = SCRIPT
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    try:
        client.apply(service(f"{name}-ok", label))
        for suffix in ("boom-1", "boom-2"):
            booming = service(f"{name}-{suffix}", label)
            booming["metadata"]["labels"]["boom"] = "yes"
            client.apply(booming)
        equal_eventually(lambda: policies(client, name), {f"{name}-{name}-ok"}, 15)
        eventually(lambda: "boom" in failure_message(stack, name), 10, what="status")
        said = failure_message(stack, name)
        assert CLUSTER in said and "2 objects fail evaluation" in said, said
        assert said.count("no boom allowed") == 2, said  # each example once, no duplicate
        for suffix in ("boom-1", "boom-2"):  # fixed: they evaluate, match and deploy
            client.apply(service(f"{name}-{suffix}", label))
        want = {f"{name}-{name}-{suffix}" for suffix in ("ok", "boom-1", "boom-2")}
        equal_eventually(lambda: policies(client, name), want, 15, what="policies fixed")
        equal_eventually(lambda: failure_message(stack, name), "", 10, what="status cleared")
    finally:
        delete_definitions(stack, definitions)
