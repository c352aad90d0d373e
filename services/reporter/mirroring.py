"""What the reporter writes into the management cluster, computed from NATS state (pure)."""

from __future__ import annotations

import base64
import json
from typing import Any

from shared.contract import messages as m
from shared.kube import GVK

EVENT_REPORT_API = "lib.projectsveltos.io/v1beta1"
EVENTSOURCE_LABEL = "projectsveltos.io/eventsource-name"
CLUSTER_NAME_LABEL = "eventreport.projectsveltos.io/cluster-name"
CLUSTER_TYPE_LABEL = "eventreport.projectsveltos.io/cluster-type"


CLUSTER_PROFILE = GVK("config.projectsveltos.io/v1beta1", "ClusterProfile")
DEFINITION_KINDS = {
    "EventSource": GVK("lib.projectsveltos.io/v1beta1", "EventSource"),
    "EventTrigger": GVK("lib.projectsveltos.io/v1beta1", "EventTrigger"),
    "EventBasedAddOn": GVK("lib.projectsveltos.io/v1alpha1", "EventBasedAddOn"),
}


def definition_status(status: m.DefinitionStatus) -> dict[str, Any]:
    """The ``status`` written on an EventSource / EventTrigger / EventBasedAddOn."""
    out: dict[str, Any] = {
        "matchingClusters": [
            {
                "apiVersion": "cluster.x-k8s.io/v1beta1"
                if c.type == "capi"
                else "lib.projectsveltos.io/v1beta1",
                "kind": "Cluster" if c.type == "capi" else "SveltosCluster",
                "namespace": c.namespace,
                "name": c.name,
            }
            for c in status.matching_clusters
        ],
        "failureMessage": status.failure_message or None,
    }
    return out


def profile_objects(state: m.ProfileState) -> list[dict[str, Any]]:
    """The ClusterProfile and the generated ConfigMaps of one profile (generated Secrets are
    not mirrored: their data never travels through the profiles bucket)."""
    profile = json.loads(json.dumps(state.cluster_profile))
    objs = [profile]
    for obj in state.instantiated:
        if obj.get("kind") == "ConfigMap":
            objs.append(json.loads(json.dumps(obj)))
    return objs


def report_name(cluster_type: str, event_source: str, cluster: str) -> str:
    """``<clustertype lower>--<eventsource>--<cluster>`` (Sveltos' management-side name)."""
    return f"{cluster_type.lower()}--{event_source}--{cluster}"


def event_report(snap: m.EventReportSnapshot) -> dict[str, Any]:
    """The management-side EventReport of one snapshot, as Sveltos writes it."""
    ctype = snap.cluster.type
    resources = b""
    if snap.resources:
        resources = b"---".join(
            json.dumps(o, sort_keys=True, separators=(",", ":")).encode() + b"\n"
            for o in snap.resources
        )
    spec: dict[str, Any] = {
        "clusterNamespace": snap.cluster.namespace,
        "clusterName": snap.cluster.name,
        "clusterType": "Capi" if ctype == "capi" else "Sveltos",
        "eventSourceName": snap.event_source_name,
        "matchingResources": [r.model_dump(by_alias=True) for r in snap.matching_resources],
    }
    if resources:
        spec["resources"] = base64.b64encode(resources).decode()
    return {
        "apiVersion": EVENT_REPORT_API,
        "kind": "EventReport",
        "metadata": {
            "name": report_name(ctype, snap.event_source_name, snap.cluster.name),
            "namespace": snap.cluster.namespace,
            "labels": {
                EVENTSOURCE_LABEL: snap.event_source_name,
                CLUSTER_NAME_LABEL: snap.cluster.name,
                CLUSTER_TYPE_LABEL: ctype.lower(),
            },
        },
        "spec": spec,
    }


def report_status(snap: m.EventReportSnapshot) -> dict[str, Any]:
    failure = "; ".join(f"{e.object.kind}/{e.object.name}: {e.message}" for e in snap.errors)
    status: dict[str, Any] = {"phase": "Processed"}
    if failure:
        status["failureMessage"] = failure
    return status
