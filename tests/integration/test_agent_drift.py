"""Drift detection from a known baseline through a real agent (issue 15 item 9): an edit made
while the apply that wrote the object is still under way is repaired.

Real parts: a secured nats-server and the simulated fleet (:class:`services.scenario.stack.
Stack` without services), one real ``ripple agent`` process as its cluster's NATS user; the
test puts desired states (``syncMode: ContinuousWithDriftDetection``) into
``ripple-desired`` as the manager would.

The window is made wide, not waited for: the fleet holds the apply of the profile's second
object (a fault hook delaying that one request), so the test edits the first object after
the agent wrote it and before its apply is over. The agent's ConfigMap informer already runs
(another profile's object is watched), so the edit arrives while the apply is under way:
the agent used to drop it (the objects were watched only once the apply was over) and the
edit stayed. No sleep: every wait polls a condition with a deadline.
"""

from __future__ import annotations

import functools
from typing import Any

from services.scenario.processes import ManagedProcess
from services.scenario.stack import Stack
from shared.contract import messages as m
from shared.contract import streams, subjects
from shared.contract.subjects import ClusterRef
from shared.kube import GVK, KubeClient
from tests.integration.helpers import eventually as _eventually
from tests.integration.test_tenants import fleet_hook
from tests.reliability.helpers import SyncNats

CLUSTER = "default/cluster-drift"
REF = ClusterRef(namespace="default", name="cluster-drift")
CONFIG_MAP = GVK("v1", "ConfigMap")
HOLD = 3.0
"""Seconds the fleet holds the apply of the second object (the window of the edit)."""

eventually = functools.partial(_eventually, timeout=20.0, interval=0.02)


def config_map(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "default"},
        "data": {"k": "desired"},
    }


def put(bus: SyncNats, profile: str, names: list[str]) -> None:
    desired = m.DesiredState(
        cluster=REF,
        profile_name=profile,
        generation=1,
        sync_mode="ContinuousWithDriftDetection",
        objects=[
            m.DesiredObject(
                manifest=config_map(name),
                hash=f"sha256:{name}",
                reference=m.ResourceReference(kind="ConfigMap", namespace="x", name="y"),
            )
            for name in names
        ],
    )
    bus.kv_put(
        streams.DESIRED.bucket, subjects.desired_key(REF, profile), m.encode(m.envelope(desired))
    )


def value(kube: KubeClient, name: str) -> str | None:
    live = kube.get(CONFIG_MAP, "default", name)
    return None if live is None else str((live.get("data") or {}).get("k"))


def edit(kube: KubeClient, name: str) -> None:
    kube.merge_patch(CONFIG_MAP, "default", name, {"data": {"k": "edited"}})


def test_an_edit_made_while_the_apply_is_under_way_is_repaired(
    stack: Stack, agent: ManagedProcess, bus: SyncNats
) -> None:
    kube = stack.client(CLUSTER)
    # another profile's object: the agent's ConfigMap informer runs (and repairs)
    put(bus, "anchor", ["drift-anchor"])
    eventually(lambda: value(kube, "drift-anchor") == "desired", what="anchor deployed")
    edit(kube, "drift-anchor")
    eventually(lambda: value(kube, "drift-anchor") == "desired", what="anchor repaired")

    # the fleet holds the apply of "drift-b": "drift-a" is written, the apply not over
    fleet_hook(
        stack,
        "/_fleet/faults",
        {
            "path": "/configmaps/drift-b$",
            "cluster": "cluster-drift",
            "method": "PATCH",
            "status": 0,
            "delay": HOLD,
            "count": 1,
        },
        cluster=CLUSTER,
    )
    put(bus, "late", ["drift-a", "drift-b"])
    eventually(lambda: value(kube, "drift-a") == "desired", what="drift-a written")
    edit(kube, "drift-a")
    assert kube.get(CONFIG_MAP, "default", "drift-b") is None, "the apply is still under way"
    eventually(lambda: value(kube, "drift-b") == "desired", what="the apply is over")
    eventually(
        lambda: value(kube, "drift-a") == "desired",
        what="the edit made during the apply is repaired",
    )
