"""Issue 15 item 2 over the real parts (the package's stack: nats-server, the simulated
fleet, manager, reporter, agents): deleting an EventSource that a trigger uses withdraws
what the trigger deployed from it -- the add-ons in the managed cluster, the desired state,
the ClusterProfiles -- as Sveltos removes what a deleted EventReport produced (the deletion
is positive knowledge, not staleness), and the trigger's status says that its EventSource
does not exist. Created again, the EventSource deploys again."""

from __future__ import annotations

from services.scenario.stack import Stack
from tests.reliability.helpers import (
    EVENT_SOURCE,
    EVENT_TRIGGER,
    SyncNats,
    delete_definitions,
    equal_eventually,
    eventually,
    policies,
    policy_set,
    service,
)
from tests.reliability.test_removal import CLUSTER, cluster_profiles, desired_profiles


def failure_message(stack: Stack, name: str) -> str:
    obj = stack.management.get(EVENT_TRIGGER, None, name) or {}
    return str((obj.get("status") or {}).get("failureMessage") or "")


def test_deleting_the_event_source_withdraws_what_its_trigger_deployed(
    stack: Stack, bus: SyncNats
) -> None:
    name = "rm-source"
    label = f"{name}-svc"
    definitions = policy_set(name, "removal", label)
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    try:
        for i in range(2):
            client.apply(service(f"{name}-{i}", label))
        want = {f"{name}-{name}-{i}" for i in range(2)}
        equal_eventually(lambda: policies(client, name), want, 15, what="policies")
        equal_eventually(lambda: len(cluster_profiles(stack, name)), 2, 10, what="profiles")

        stack.management.delete(EVENT_SOURCE, None, name)

        equal_eventually(lambda: policies(client, name), set(), 15, what="policies after")
        equal_eventually(lambda: desired_profiles(bus, name), set(), 10, what="desired after")
        equal_eventually(lambda: cluster_profiles(stack, name), set(), 10, what="profiles after")
        gone = f"EventSource '{name}' does not exist"
        eventually(lambda: gone in failure_message(stack, name), 10, what="trigger status")
        said = failure_message(stack, name)
        assert CLUSTER in said and "withdrawn" in said, said

        stack.apply_management(definitions[:1])  # created again: deployed again
        equal_eventually(lambda: policies(client, name), want, 15, what="policies again")
        equal_eventually(lambda: failure_message(stack, name), "", 10, what="status cleared")
    finally:
        delete_definitions(stack, definitions)
