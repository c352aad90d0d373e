"""Issue 15 item 1 over the real parts (the package's stack): ``spec.oneForEvent`` cannot be
changed. A trigger created without it (false) and patched to ``oneForEvent: true`` gets past
the CRD rule (``self == oldSelf`` only runs when the field is on both sides, as in Sveltos),
and the manager refuses the change itself: the version in force stays, nothing is
re-planned or pruned, and the trigger's status says the field is immutable and how to change
it."""

from __future__ import annotations

import copy

from services.scenario.stack import Stack
from tests.reliability.helpers import (
    EVENT_TRIGGER,
    SyncNats,
    config_map,
    delete_definitions,
    equal_eventually,
    event_source,
    event_trigger,
    eventually,
    names,
    service,
)
from tests.reliability.test_removal import CLUSTER, desired_profiles

CONFIG_MAP = ("v1", "ConfigMap")
TEMPLATE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-all
  namespace: default
  labels:
    ripple-test: {name}
data:
  count: "{{{{ len .MatchingResources }}}}"
"""


def failure_message(stack: Stack, name: str) -> str:
    obj = stack.management.get(EVENT_TRIGGER, None, name) or {}
    return str((obj.get("status") or {}).get("failureMessage") or "")


def test_changing_one_for_event_is_refused_by_the_manager(stack: Stack, bus: SyncNats) -> None:
    from shared.kube import GVK

    name = "rm-immutable"
    label = f"{name}-svc"
    trigger = event_trigger(name, name, "removal", name)
    del trigger["spec"]["oneForEvent"]  # absent: false, one profile for every match
    definitions = [event_source(name, label), config_map(name, TEMPLATE.format(name=name)), trigger]
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    deployed = lambda: names(client, GVK(*CONFIG_MAP), f"ripple-test={name}")  # noqa: E731
    try:
        client.apply(service(f"{name}-0", label))
        equal_eventually(deployed, {f"{name}-all"}, 15, what="the add-on")
        profiles = eventually(lambda: desired_profiles(bus, name), 10, what="desired")

        changed = copy.deepcopy(trigger)
        changed["spec"]["oneForEvent"] = True
        stack.apply_management([changed])  # past the CRD rule: absent on the old side

        eventually(lambda: "is immutable" in failure_message(stack, name), 10, what="status")
        said = failure_message(stack, name)
        assert "spec.oneForEvent is immutable (in force: false, this version: true)" in said
        assert "delete the EventTrigger and create it again" in said, said
        assert desired_profiles(bus, name) == profiles, "re-planned"
        assert deployed() == {f"{name}-all"}, "pruned"
    finally:
        delete_definitions(stack, definitions)
