"""Removal semantics (BRIEF sections 2 and 4): deleting the EventTrigger removes everything it
deployed (add-ons, desired state, ClusterProfiles, the EventSource's assignment, report and
EventReport); a cluster that stops matching ``sourceClusterSelector`` loses its add-ons (and
gets them back when it matches again); ``stopMatchingBehavior: LeavePolicies`` leaves the
add-ons in place when the event goes away."""

from __future__ import annotations

from services.scenario.stack import Stack
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.subjects import ClusterRef
from shared.kube import GVK
from tests.reliability.helpers import (
    EVENT_REPORT,
    EVENT_TRIGGER,
    SERVICE,
    SyncNats,
    delete_definitions,
    equal_eventually,
    eventually,
    kill9,
    names,
    policies,
    policy_set,
    restart,
    service,
    stays,
)

CLUSTER = "default/cluster-removal"
REF = ClusterRef(namespace="default", name="cluster-removal")
DEST = "default/cluster-rest"
DEST_REF = ClusterRef(namespace="default", name="cluster-rest")
TRIGGER_LABEL = "eventtrigger.lib.projectsveltos.io/eventtriggername"
CLUSTER_PROFILE = GVK("config.projectsveltos.io/v1beta1", "ClusterProfile")


def desired_profiles(bus: SyncNats, trigger: str, ref: ClusterRef = REF) -> set[str]:
    items = bus.kv_items(streams.DESIRED, m.DesiredStateEvent, subjects.cluster_keys(ref))
    return {k for k, e in items.items() if e.data.labels.get(TRIGGER_LABEL) == trigger}


def cluster_profiles(stack: Stack, trigger: str) -> set[str]:
    return names(stack.management, CLUSTER_PROFILE, f"{TRIGGER_LABEL}={trigger}", None)


def test_deleting_the_trigger_removes_everything_it_deployed(stack: Stack, bus: SyncNats) -> None:
    name = "rm-trigger"
    label = f"{name}-svc"
    definitions = policy_set(name, "removal", label)
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    try:
        for i in range(3):
            client.apply(service(f"{name}-{i}", label))
        want = {f"{name}-{name}-{i}" for i in range(3)}
        equal_eventually(lambda: policies(client, name), want, 15, what="policies")
        equal_eventually(lambda: len(desired_profiles(bus, name)), 3, 10, what="desired")
        equal_eventually(lambda: len(cluster_profiles(stack, name)), 3, 10, what="profiles")
        report = f"sveltos--{name}--cluster-removal"
        eventually(lambda: stack.management.get(EVENT_REPORT, "default", report), 10)

        stack.management.delete(EVENT_TRIGGER, None, name)

        equal_eventually(lambda: policies(client, name), set(), 15, what="policies after")
        equal_eventually(lambda: desired_profiles(bus, name), set(), 10, what="desired after")
        equal_eventually(
            lambda: cluster_profiles(stack, name), set(), 10, what="ClusterProfiles after"
        )
        equal_eventually(
            lambda: bus.kv_raw(streams.ASSIGNMENTS.bucket, subjects.assignment_key(REF, name)),
            None,
            10,
            what="assignment after",
        )
        equal_eventually(
            lambda: stack.management.get(EVENT_REPORT, "default", report),
            None,
            10,
            what="EventReport after",
        )
        assert services_left(stack, label) == 3, "the Services themselves must stay"
    finally:
        delete_definitions(stack, definitions)


def services_left(stack: Stack, label: str) -> int:
    return len(names(stack.client(CLUSTER), SERVICE, f"{label}=on"))


def test_cluster_that_stops_matching_loses_its_addons(stack: Stack, bus: SyncNats) -> None:
    name = "rm-match"
    label = f"{name}-svc"
    definitions = policy_set(name, "removal", label)
    definitions[2]["spec"]["sourceClusterSelector"]["matchLabels"]["rm-match"] = "yes"
    entry = stack.fleet.cluster(CLUSTER)
    matching = entry.model_copy(update={"labels": {**entry.labels, "rm-match": "yes"}})
    stack.register(matching)
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    try:
        client.apply(service(f"{name}-0", label))
        client.apply(service(f"{name}-1", label))
        want = {f"{name}-{name}-0", f"{name}-{name}-1"}
        equal_eventually(lambda: policies(client, name), want, 15, what="policies")

        stack.register(entry)  # rm-match label removed: the cluster stops matching
        equal_eventually(lambda: policies(client, name), set(), 15, what="policies unmatched")
        equal_eventually(lambda: desired_profiles(bus, name), set(), 10, what="desired")

        client.apply(service(f"{name}-2", label))  # changes while not matching
        client.delete(SERVICE, "default", f"{name}-0")
        stack.register(matching)
        want = {f"{name}-{name}-1", f"{name}-{name}-2"}
        equal_eventually(lambda: policies(client, name), want, 15, what="policies rematched")
    finally:
        stack.register(entry)
        delete_definitions(stack, definitions)


def test_leave_policies_keeps_the_addons_when_the_event_goes(stack: Stack, bus: SyncNats) -> None:
    name = "rm-leave"
    label = f"{name}-svc"
    definitions = policy_set(name, "removal", label, stopMatchingBehavior="LeavePolicies")
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    try:
        client.apply(service(f"{name}-0", label))
        client.apply(service(f"{name}-1", label))
        want = {f"{name}-{name}-0", f"{name}-{name}-1"}
        equal_eventually(lambda: policies(client, name), want, 15, what="policies")
        equal_eventually(lambda: len(desired_profiles(bus, name)), 2, 10, what="desired")

        client.delete(SERVICE, "default", f"{name}-0")
        # the withdrawal reached the agent's input (positive knowledge that the event went)
        equal_eventually(lambda: len(desired_profiles(bus, name)), 1, 10, what="withdrawn")
        stays(lambda: policies(client, name) == want, 500, what="policies left in place")
    finally:
        delete_definitions(stack, definitions)


def test_leave_policies_survives_a_restart_of_the_destination_agent(
    stack: Stack, bus: SyncNats
) -> None:
    """Source cluster-removal, destination cluster-rest: the event goes while the destination
    agent is down; after its restart the add-on is still there."""
    name = "rm-leave-dest"
    label = f"{name}-svc"
    definitions = policy_set(
        name,
        "removal",
        label,
        stopMatchingBehavior="LeavePolicies",
        destinationClusterSelector={"matchLabels": {"lane": "rest"}},
    )
    stack.apply_management(definitions)
    source, dest = stack.client(CLUSTER), stack.client(DEST)
    agent = stack.agent_name(DEST)
    try:
        source.apply(service(f"{name}-0", label))
        want = {f"{name}-{name}-0"}
        equal_eventually(lambda: policies(dest, name), want, 15, what="policies in dest")
        keys = desired_profiles(bus, name, DEST_REF)
        eventually(  # the agent recorded what it applied (its outcome) before it dies
            lambda: (
                keys
                <= set(
                    bus.kv_items(
                        streams.OUTCOMES, m.ApplyOutcomeEvent, subjects.cluster_keys(DEST_REF)
                    )
                )
            ),
            10,
            what="apply outcome recorded",
        )
        kill9(stack, agent)
        source.delete(SERVICE, "default", f"{name}-0")
        equal_eventually(lambda: desired_profiles(bus, name, DEST_REF), set(), 10, what="withdrawn")
        restart(stack, agent)
        stays(lambda: policies(dest, name) == want, 500, what="policies left in place")
    finally:
        if not stack.processes[agent].running:
            restart(stack, agent)
        delete_definitions(stack, definitions)
