"""Labels and deterministic names of what the manager generates (Sveltos' label keys)."""

from __future__ import annotations

from services.manager.model import ClusterKey
from shared.hashing import stable_name

PREFIX_V1BETA1 = "eventtrigger.lib.projectsveltos.io/"
PREFIX_V1ALPHA1 = "eventbasedaddon.lib.projectsveltos.io/"
GENERATED_NAMESPACE = "projectsveltos"
PROFILE_PREFIX = "sveltos-"


def label_prefix(trigger_kind: str) -> str:
    return PREFIX_V1ALPHA1 if trigger_kind == "EventBasedAddOn" else PREFIX_V1BETA1


def trigger_label(trigger_kind: str) -> str:
    name = "eventbasedaddonname" if trigger_kind == "EventBasedAddOn" else "eventtriggername"
    return label_prefix(trigger_kind) + name


def profile_labels(
    trigger_kind: str,
    trigger: str,
    cluster: ClusterKey,
    event_source: str,
    resource: dict[str, str] | None = None,
    cloud_event: dict[str, str] | None = None,
) -> dict[str, str]:
    """The identifying labels of a generated ClusterProfile (sveltos-semantics §4.4)."""
    p = label_prefix(trigger_kind)
    labels = {
        trigger_label(trigger_kind): trigger,
        p + "clusterNamespace": cluster.namespace,
        p + "clustername": cluster.name,
        p + "clustertype": cluster.type_title,
        p + "eventreportname": event_source,
        p + "eventsourcename": event_source,
    }
    if resource is not None:
        labels[p + "resourcename"] = resource.get("name", "")
        if resource.get("namespace"):
            labels[p + "resourcenamespace"] = resource["namespace"]
    if cloud_event is not None:
        labels[p + "cesource"] = cloud_event.get("source", "").replace("/", "-")
        labels[p + "cesubject"] = cloud_event.get("subject", "").replace("/", "-")
    return {k: _label_value(v) for k, v in labels.items()}


def _label_value(value: str) -> str:
    """Label values are at most 63 characters; longer ones are shortened stably."""
    if len(value) <= 63:
        return value
    return value[:42] + "-" + stable_name("", {"v": value}, 20)


def profile_name(labels: dict[str, str]) -> str:
    return stable_name(PROFILE_PREFIX, labels)


def instantiated_name(profile_labels_: dict[str, str], kind: str, namespace: str, name: str) -> str:
    identity = {**profile_labels_, "refkind": kind, "refnamespace": namespace, "refname": name}
    return stable_name(PROFILE_PREFIX, identity)
