"""The manager watches the kinds triggers' templateResourceRefs read (issue 15 item 4): a
trigger's event starts one informer per new kind, once, before it is delivered."""

from __future__ import annotations

from typing import Any

from services.manager.service import ReferencedKinds
from shared.api.vocabulary import EVENT_TRIGGER, GVK
from shared.kube import InformerEvent


class Recorder:
    def __init__(self, gvk: GVK, log: list[str]) -> None:
        self.gvk, self.log = gvk, log

    def start(self) -> None:
        self.log.append(f"start {self.gvk.api_version} {self.gvk.kind}")

    def request_stop(self) -> None:
        self.log.append(f"stop {self.gvk.kind}")


def trigger_event(*refs: dict[str, Any], kind: str = "MODIFIED") -> InformerEvent:
    spec = {
        "templateResourceRefs": [{"identifier": f"r{i}", "resource": r} for i, r in enumerate(refs)]
    }
    obj = {"apiVersion": EVENT_TRIGGER.api_version, "kind": EVENT_TRIGGER.kind, "spec": spec}
    return InformerEvent(kind, EVENT_TRIGGER, obj)


def test_each_referenced_kind_gets_one_informer_started_before_delivery() -> None:
    log: list[str] = []
    referenced = ReferencedKinds(
        lambda gvk, deliver: Recorder(gvk, log), lambda e: log.append("delivered")
    )
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "name": "x"}  # watched anyway
    referenced.deliver(trigger_event(deploy, cm, "not a map"))  # type: ignore[arg-type]
    referenced.deliver(trigger_event(deploy, {**deploy, "name": "other"}))
    assert log == ["start apps/v1 Deployment", "delivered", "delivered"]
    referenced.deliver(
        trigger_event({"apiVersion": "v1", "kind": "Namespace", "name": "n"}, kind="DELETED")
    )
    assert log[-1] == "delivered" and len(referenced.informers) == 1
    stopped = referenced.stop()
    referenced.deliver(trigger_event({"apiVersion": "v1", "kind": "Namespace", "name": "n"}))
    assert [i.gvk.kind for i in stopped] == ["Deployment"] and len(referenced.informers) == 1  # type: ignore[attr-defined]
