"""The instances of one (trigger, source cluster) pair and their template data (pure).

``oneForEvent: true``: one instance per matching resource (the collected copies when the
EventSource collects resources, else the references) and one per CloudEvent whose
``cloudEventAction`` is not ``Delete``; ``false``: one instance for the whole report (none
while nothing matches). Each instance carries the data its templates see (sveltos-semantics
4.6) and what identifies it: the matching resource or the CloudEvent's source and subject.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.manager.destinations import render
from services.manager.errors import InstantiationError
from services.manager.model import ClusterInfo, Fingerprint, Report
from services.manager.views import TriggerView
from shared.api.vocabulary import ObjectKey
from shared.hashing import go_json


@dataclass(frozen=True)
class Instance:
    data: dict[str, Any]
    resource: dict[str, str] | None = None
    cloud_event: dict[str, str] | None = None
    version: object = None  # what identifies a whole-set instance's data, when known


def _ref_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return ObjectKey.of(obj).reference()


def instances(trigger: TriggerView, cluster: ClusterInfo, report: Report) -> list[Instance]:
    data: dict[str, Any]  # the template data of one instance
    if trigger.one_for_event:
        out: list[Instance] = []
        if report.resources:
            for obj in report.resources:
                ref = _ref_of(obj)
                data = {"MatchingResource": ref, "Resource": obj, "Cluster": cluster.obj}
                out.append(Instance(data, resource=ref))
        else:
            for ref in report.matching:
                data = {"MatchingResource": dict(ref), "Resource": None, "Cluster": cluster.obj}
                out.append(Instance(data, resource=dict(ref)))
        for ce in report.cloud_events:
            data = {"CloudEvent": ce, "Cluster": cluster.obj}
            if cloud_event_action(trigger, data) == "Delete":
                continue  # the newest event of this source/subject withdraws its add-on
            out.append(Instance(data, cloud_event=cloud_event_ident(ce)))
        return out
    if not report.matching and not report.cloud_events and not report.resources:
        return []
    matching = report.matching_values
    data = {
        "MatchingResources": matching
        if matching is not None
        else [dict(r) for r in report.matching],
        "Resources": list(report.resources),
        "CloudEvents": list(report.cloud_events),
        "Cluster": cluster.obj,
    }
    return [Instance(data, version=report.version)]


def cloud_event_ident(ce: Mapping[str, Any]) -> dict[str, str]:
    """What identifies a CloudEvent's instance (Sveltos: its source and subject)."""
    return {"source": str(ce.get("source", "")), "subject": str(ce.get("subject", ""))}


def cloud_event_action(trigger: TriggerView, data: Mapping[str, Any]) -> str:
    """``cloudEventAction`` rendered over the event: Create (default) or Delete; a template
    that fails or renders anything else means Create (logged in the trigger's status)."""
    action = trigger.cloud_event_action or "Create"
    if "{{" in action:
        try:
            action = render(action, data, f"{trigger.kind}/{trigger.name} cloudEventAction")
        except InstantiationError:
            return "Create"
    return "Delete" if action == "Delete" else "Create"


def describe(inst: Instance) -> str:
    """The instance's event as messages name it: ``Service default/web``, ``CloudEvent
    <source> <subject>``, or ``the matching set``."""
    if inst.resource is not None:
        ns = inst.resource.get("namespace") or ""
        return f"{inst.resource.get('kind') or 'object'} {ns + '/' if ns else ''}" + str(
            inst.resource.get("name", "")
        )
    if inst.cloud_event is not None:
        return f"CloudEvent {inst.cloud_event['source']} {inst.cloud_event['subject']}".rstrip()
    return "the matching set"


def rank(inst: Instance) -> tuple[str, ...]:
    """The order of instances when two claim one profile name: the smaller keeps it
    (resources by apiVersion, kind, namespace, name; then CloudEvents by source, subject)."""
    if inst.resource is not None:
        r = inst.resource
        keys = ("apiVersion", "kind", "namespace", "name")
        return ("0", *(str(r.get(k) or "") for k in keys))
    if inst.cloud_event is not None:
        return ("1", inst.cloud_event["source"], inst.cloud_event["subject"])
    return ("2",)


def fingerprint(inst: Instance) -> Fingerprint:
    """What identifies an instance's input: a collected object by its resourceVersion, a
    reference by itself, a CloudEvent by its id (anything else: its whole data)."""
    if inst.cloud_event is not None:
        ce = inst.data.get("CloudEvent") or {}
        return ("ce", ce.get("source"), ce.get("subject"), ce.get("id"), ce.get("type"))
    resource = inst.data.get("Resource")
    if isinstance(resource, Mapping):
        meta = resource.get("metadata") or {}
        if meta.get("resourceVersion"):
            key = (resource.get("apiVersion"), resource.get("kind"), meta.get("namespace"))
            return ("obj", *key, meta.get("name"), meta.get("resourceVersion"))
    if inst.resource is not None and "Resource" in inst.data and inst.data["Resource"] is None:
        return ("ref", tuple(sorted(inst.resource.items())))
    if inst.version is not None:  # a whole matching set at a known version (and its cluster)
        return ("set", inst.version, id(inst.data.get("Cluster")))
    return ("data", go_json(inst.data))
