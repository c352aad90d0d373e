"""Labels and deterministic names of what the manager generates (Sveltos' label keys)."""

from __future__ import annotations

from services.manager.model import ClusterKey
from shared.api.vocabulary import (
    EVENT_BASED_ADDON_LABELS,
    EVENT_TRIGGER_LABELS,
    GENERATED_NAME_PREFIX,
    SVELTOS_NAMESPACE,
    TriggerLabels,
    trigger_labels,
)
from shared.hashing import stable_name

# the catalogue's values under the names the manager's adapters use
PREFIX_V1BETA1 = EVENT_TRIGGER_LABELS.prefix
PREFIX_V1ALPHA1 = EVENT_BASED_ADDON_LABELS.prefix
GENERATED_NAMESPACE = SVELTOS_NAMESPACE
PROFILE_PREFIX = GENERATED_NAME_PREFIX


def labels_of(trigger_kind: str) -> TriggerLabels:
    """The label keys of a trigger kind (EventBasedAddOn: the v1alpha1 ones)."""
    return trigger_labels(trigger_kind)


def label_prefix(trigger_kind: str) -> str:
    return labels_of(trigger_kind).prefix


def trigger_label(trigger_kind: str) -> str:
    return labels_of(trigger_kind).trigger_name


def profile_labels(
    trigger_kind: str,
    trigger: str,
    cluster: ClusterKey,
    event_source: str,
    resource: dict[str, str] | None = None,
    cloud_event: dict[str, str] | None = None,
) -> dict[str, str]:
    """The identifying labels of a generated ClusterProfile (sveltos-semantics §4.4)."""
    keys = labels_of(trigger_kind)
    labels = {
        keys.trigger_name: trigger,
        keys.cluster_namespace: cluster.namespace,
        keys.cluster_name: cluster.name,
        keys.cluster_type: cluster.type_title,
        keys.event_report_name: event_source,
        keys.event_source_name: event_source,
    }
    if resource is not None:
        labels[keys.resource_name] = resource.get("name", "")
        if resource.get("namespace"):
            labels[keys.resource_namespace] = resource["namespace"]
    if cloud_event is not None:
        labels[keys.ce_source] = cloud_event.get("source", "").replace("/", "-")
        labels[keys.ce_subject] = cloud_event.get("subject", "").replace("/", "-")
    return {k: label_value(v) for k, v in labels.items()}


def label_value(value: str) -> str:
    """Label values are at most 63 characters; longer ones are shortened stably."""
    if len(value) <= 63:
        return value
    return value[:42] + "-" + stable_name("", {"v": value}, 20)


def profile_name(labels: dict[str, str]) -> str:
    return stable_name(PROFILE_PREFIX, labels)


def instantiated_name(profile_labels_: dict[str, str], kind: str, namespace: str, name: str) -> str:
    identity = {**profile_labels_, "refkind": kind, "refnamespace": namespace, "refname": name}
    return stable_name(PROFILE_PREFIX, identity)
