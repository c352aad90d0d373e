"""The agent retries what failed, with backoff, on its own (BRIEF section 7; issue 12 (a)).

Real processes (:class:`services.scenario.stack.Stack`), real NATS, the simulated fleet:

- an add-on whose CRD is missing when it is first applied appears once the CRD is installed
  in the managed cluster, with no other change (the apply fails, shows in the outcome and
  the agent's status, and is retried with backoff until it succeeds);
- a removal that fails (the API server refuses the delete) is retried until it succeeds,
  without a restart, and shows in the agent's status meanwhile;
- all of it under the cluster's own NATS user (the stack is secure by default): no refusal.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.scenario.model import Fleet
from services.scenario.stack import Stack
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.subjects import ClusterRef
from shared.kube import GVK
from tests.reliability.helpers import (
    SERVICE,
    SyncNats,
    config_map,
    delete_definitions,
    equal_eventually,
    event_source,
    event_trigger,
    eventually,
    fleet_hooks,
    fleet_name,
    policies,
    policy_set,
    service,
    stays,
)

CLUSTER = "default/cluster-retry"
REF = ClusterRef(namespace="default", name="cluster-retry")
WIDGET = GVK("example.ripple.io/v1", "Widget")
CRD = GVK("apiextensions.k8s.io/v1", "CustomResourceDefinition")
TRIGGER_LABEL = "eventtrigger.lib.projectsveltos.io/eventtriggername"

WIDGET_TEMPLATE = """\
apiVersion: example.ripple.io/v1
kind: Widget
metadata:
  name: widget-{{ .Resource.metadata.name }}
  namespace: default
spec:
  size: 3
"""

WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.ripple.io"},
    "spec": {
        "group": "example.ripple.io",
        "names": {
            "kind": "Widget",
            "plural": "widgets",
            "singular": "widget",
            "listKind": "WidgetList",
        },
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    fleet = Fleet.model_validate(
        {
            "clusters": [
                {
                    "namespace": "default",
                    "name": "cluster-retry",
                    "type": "sveltos",
                    "labels": {"lane": "retry"},
                }
            ]
        }
    )
    state: Path = tmp_path_factory.mktemp("agent-retry")
    with Stack(fleet, None, state_dir=state) as running:
        yield running


@pytest.fixture(scope="module")
def bus(stack: Stack) -> Iterator[SyncNats]:
    client = SyncNats(stack.nats_url)
    yield client
    client.close()


def agent_errors(bus: SyncNats) -> list[str]:
    key = subjects.agent_key(REF)
    items = bus.kv_items(streams.AGENTS, m.AgentStatusEvent, key)
    return list(items[key].data.errors) if key in items else []


def outcomes(bus: SyncNats) -> dict[str, m.ApplyOutcome]:
    items = bus.kv_items(streams.OUTCOMES, m.ApplyOutcomeEvent, subjects.cluster_keys(REF))
    return {e.data.profile_name: e.data for e in items.values()}


def outcome_status(bus: SyncNats, profile: str) -> str:
    outcome = outcomes(bus).get(profile)
    return outcome.status if outcome is not None else ""


def profiles_of(bus: SyncNats, trigger: str) -> dict[str, m.DesiredStateEvent]:
    items = bus.kv_items(streams.DESIRED, m.DesiredStateEvent, subjects.cluster_keys(REF))
    return {
        e.data.profile_name: e
        for e in items.values()
        if e.data.labels.get(TRIGGER_LABEL) == trigger
    }


def test_an_addon_whose_crd_is_missing_appears_once_the_crd_is_installed(
    stack: Stack, bus: SyncNats
) -> None:
    name = "crd-late"
    label = f"{name}-svc"
    definitions = [
        event_source(name, label),
        config_map(name, WIDGET_TEMPLATE),
        event_trigger(name, name, "retry", name),
    ]
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    assert not client.serves(WIDGET)
    try:
        client.apply(service(f"{name}-0", label))
        (profile,) = eventually(lambda: profiles_of(bus, name), 20, what="desired state")
        equal_eventually(
            lambda: outcome_status(bus, profile),
            "Failed",
            20,
            what="the apply failed (the kind is not served)",
        )
        assert "widget-crd-late-0" in outcomes(bus)[profile].message
        eventually(
            lambda: any(
                e.startswith(f"profile {profile}: apply/removal failed") for e in agent_errors(bus)
            ),
            10,
            what="the failing apply in the agent's status",
        )
        desired_before = profiles_of(bus, name)[profile]

        client.apply(WIDGET_CRD)  # the only change: the CRD is installed in the cluster

        def widget() -> dict[str, Any]:
            found = client.serves(WIDGET) and client.get(WIDGET, "default", "widget-crd-late-0")
            return found or {}

        assert eventually(widget, 45, what="the Widget, applied by a retry")["spec"] == {"size": 3}
        equal_eventually(lambda: outcome_status(bus, profile), "Provisioned", 10, what="outcome")
        eventually(
            lambda: not any(e.startswith(f"profile {profile}:") for e in agent_errors(bus)),
            10,
            what="the error gone from the agent's status",
        )
        after = profiles_of(bus, name)[profile]
        assert after.id == desired_before.id, "the desired state did not change"
    finally:
        client.delete(SERVICE, "default", f"{name}-0")
        delete_definitions(stack, definitions)
        client.delete(CRD, None, "widgets.example.ripple.io")


def test_a_failed_removal_is_retried_until_it_succeeds(stack: Stack, bus: SyncNats) -> None:
    name = "rm-retry"
    label = f"{name}-svc"
    definitions = policy_set(name, "retry", label)
    stack.apply_management(definitions)
    client = stack.client(CLUSTER)
    hooks = fleet_hooks(stack)
    policy = f"{name}-{name}-0"
    try:
        client.apply(service(f"{name}-0", label))
        equal_eventually(lambda: policies(client, name), {policy}, 20, what="policy deployed")
        (profile,) = profiles_of(bus, name)
        status, body = hooks.call(
            "POST",
            "/_fleet/faults",
            {
                "path": f"^/apis/networking.k8s.io/v1/namespaces/default/networkpolicies/{policy}$",
                "method": "DELETE",
                "cluster": fleet_name(stack, CLUSTER),
                "status": 500,
                "count": None,
            },
        )
        assert status == 201, body

        client.delete(SERVICE, "default", f"{name}-0")  # the event goes: the add-on must go

        withdrawn: dict[str, m.DesiredStateEvent] = {}
        equal_eventually(lambda: profiles_of(bus, name), withdrawn, 15, what="desired withdrawn")
        eventually(
            lambda: any(
                e.startswith(f"profile {profile}: apply/removal failed: removal failed")
                for e in agent_errors(bus)
            ),
            15,
            what="the failing removal in the agent's status",
        )
        stays(lambda: policies(client, name) == {policy}, 500, what="policy while deletes fail")
        assert profile in outcomes(bus), "the outcome stays until the removal succeeded"

        hooks.call("DELETE", "/_fleet/faults")  # the API server accepts deletes again

        nothing: set[str] = set()
        equal_eventually(lambda: policies(client, name), nothing, 45, what="policy removed")
        eventually(lambda: profile not in outcomes(bus), 10, what="outcome deleted")
        eventually(
            lambda: not any(e.startswith(f"profile {profile}:") for e in agent_errors(bus)),
            10,
            what="the error gone from the agent's status",
        )
    finally:
        hooks.call("DELETE", "/_fleet/faults")
        delete_definitions(stack, definitions)


def test_the_agent_did_all_this_as_its_own_nats_user(stack: Stack) -> None:
    """Every NATS operation above (watches of its assignments, desired state and outcomes,
    report/outcome/status writes and deletes, per-change events, CloudEvents subscription)
    ran under the cluster's own user with the contract's permissions: none was refused."""
    assert stack.secure and stack.credentials is not None
    log = (stack.log_dir / f"{stack.agent_name(CLUSTER)}.log").read_text(errors="replace")
    assert "agent started" in log
    assert "permissions violation" not in log.lower()
    assert "authorization violation" not in log.lower()
