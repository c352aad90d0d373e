"""What the reporter writes into the management cluster, computed from NATS state (pure).

EventReports are built through :class:`shared.api.eventreport.EventReport`, so that what the
reporter writes is what the API model parses (``spec.resources``: each collected object as
JSON, newline, ``---``; sveltos-semantics §1.8).
"""

from __future__ import annotations

import json
from typing import Any

from shared.api.eventreport import EventReport
from shared.api.meta import ObjectReference
from shared.api.vocabulary import CONFIG_MAP
from shared.contract import messages as m


def definition_status(status: m.DefinitionStatus) -> dict[str, Any]:
    """The ``status`` written on an EventSource / EventTrigger / EventBasedAddOn."""
    out: dict[str, Any] = {
        "matchingClusters": [c.key.object_key().reference() for c in status.matching_clusters],
        "failureMessage": status.failure_message or None,
    }
    return out


def profile_objects(state: m.ProfileState) -> list[dict[str, Any]]:
    """The ClusterProfile and the generated ConfigMaps of one profile (generated Secrets are
    not mirrored: their data never travels through the profiles bucket)."""
    profile = json.loads(json.dumps(state.cluster_profile))
    objs = [profile]
    for obj in state.instantiated:
        if obj.get("kind") == CONFIG_MAP.kind:
            objs.append(json.loads(json.dumps(obj)))
    return objs


def report_model(snap: m.EventReportSnapshot) -> EventReport:
    """The management-side EventReport of one snapshot (named and labelled as Sveltos does)."""
    report = EventReport.for_cluster(
        cluster_namespace=snap.cluster.namespace,
        cluster_name=snap.cluster.name,
        cluster_type=snap.cluster.type,
        event_source_name=snap.event_source_name,
        matching_resources=[ObjectReference.from_key(r.key) for r in snap.matching_resources],
        resources=snap.resources,
    )
    report.spec.set_cloud_events(snap.cloud_events)
    return report


def event_report(snap: m.EventReportSnapshot) -> dict[str, Any]:
    """The management-side EventReport of one snapshot, as Sveltos writes it."""
    obj = report_model(snap).to_dict()
    # Sveltos writes ``matchingResources: []`` when nothing matches (to_dict drops defaults)
    obj["spec"].setdefault("matchingResources", [])
    return obj


def report_status(snap: m.EventReportSnapshot) -> dict[str, Any]:
    failure = "; ".join(f"{e.object.kind}/{e.object.name}: {e.message}" for e in snap.errors)
    status: dict[str, Any] = {"phase": "Processed"}
    if failure:
        status["failureMessage"] = failure
    return status
