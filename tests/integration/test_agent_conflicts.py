"""Conflicts between profiles and namespaces through a real agent (issue 15 item 4, the
agent's side), as Sveltos' addon-controller decides them.

Real parts: a secured nats-server and the simulated fleet (:class:`services.scenario.stack.
Stack` without services), one real ``ripple agent`` process as its cluster's NATS user. The
test puts desired states into ``ripple-desired`` as the manager would:

- a profile's object goes into a namespace that does not exist yet: the agent creates it;
- a profile of the same tier deploying the same object gets a conflict naming the owner; with
  ``continueOnConflict`` its other objects are still deployed;
- a profile of a lower tier takes the object over, and the profile that owned it is applied
  again and reports the conflict in its outcome, naming the new owner.
"""

from __future__ import annotations

import functools
from typing import Any

from services.agent import ownership
from services.scenario.processes import ManagedProcess
from services.scenario.stack import Stack
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.subjects import ClusterRef
from shared.kube import GVK
from tests.integration.helpers import eventually as _eventually
from tests.reliability.helpers import SyncNats

CLUSTER = "default/cluster-tiers"
REF = ClusterRef(namespace="default", name="cluster-tiers")
CONFIG_MAP = GVK("v1", "ConfigMap")
NAMESPACE = GVK("v1", "Namespace")

eventually = functools.partial(_eventually, timeout=20.0, interval=0.02)


def config_map(name: str, namespace: str, value: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"k": value},
    }


def put(bus: SyncNats, profile: str, manifests: list[dict[str, Any]], **spec: Any) -> None:
    desired = m.DesiredState(
        cluster=REF,
        profile_name=profile,
        generation=1,
        objects=[
            m.DesiredObject(
                manifest=manifest,
                hash=f"sha256:{profile}{i}",
                reference=m.ResourceReference(kind="ConfigMap", namespace="x", name="y"),
            )
            for i, manifest in enumerate(manifests)
        ],
        **spec,
    )
    bus.kv_put(
        streams.DESIRED.bucket, subjects.desired_key(REF, profile), m.encode(m.envelope(desired))
    )


def outcome(bus: SyncNats, profile: str, status: str, text: str = "") -> m.ApplyOutcome:
    key = subjects.outcome_key(REF, profile)

    def check() -> m.ApplyOutcome | None:
        items = bus.kv_items(streams.OUTCOMES, m.ApplyOutcomeEvent, key)
        found = items[key].data if key in items else None
        ok = found is not None and found.status == status and text in found.message
        return found if ok else None

    seen: m.ApplyOutcome = eventually(check, what=f"{profile} {status} {text!r}")
    return seen


def test_namespaces_tiers_and_conflicts(stack: Stack, agent: ManagedProcess, bus: SyncNats) -> None:
    kube = stack.client(CLUSTER)
    put(bus, "first", [config_map("shared", "team-x", "first")])
    outcome(bus, "first", "Provisioned")
    assert kube.get(NAMESPACE, None, "team-x") is not None, "the missing namespace is created"

    # the same tier: a conflict naming the owner; continueOnConflict deploys the rest
    put(
        bus,
        "same",
        [config_map("shared", "team-x", "same"), config_map("own", "team-x", "same")],
        continue_on_conflict=True,
    )
    same = outcome(bus, "same", "Failed", "ClusterProfile first (tier 100)")
    assert [(r.object.name, r.action) for r in same.resource_reports] == [("shared", "Conflict")]
    assert ownership.owner_of(kube.get(CONFIG_MAP, "team-x", "own")) == "same"
    assert kube.get(CONFIG_MAP, "team-x", "shared")["data"] == {"k": "first"}

    # a lower tier takes it over; the previous owner is applied again and says so
    put(bus, "urgent", [config_map("shared", "team-x", "urgent")], tier=10)
    outcome(bus, "urgent", "Provisioned")
    live = kube.get(CONFIG_MAP, "team-x", "shared")
    assert ownership.owner_of(live) == "urgent" and live["data"] == {"k": "urgent"}
    first = outcome(bus, "first", "Failed", "ClusterProfile urgent (tier 10)")
    assert [(r.object.name, r.action) for r in first.resource_reports] == [("shared", "Conflict")]
