"""Kinds the runner needs on the management side, and minimal CRDs for them as a fallback.

The authoritative CRDs come from :func:`shared.api.crds.crd_documents`. When a kind the
runner must write is still not served after installing them (or that module is unavailable),
:func:`fallback_crd` gives a minimal schema-less CRD so that registration and definitions can
be stored; the services validate objects themselves.
"""

from __future__ import annotations

from typing import Any

from shared.api import vocabulary as vocab
from shared.kube import GVK

SVELTOS_CLUSTER = GVK(*vocab.SVELTOS_CLUSTER)
CAPI_CLUSTER = GVK(*vocab.CAPI_CLUSTER)
NAMESPACE = GVK(*vocab.NAMESPACE)
CRD = GVK(*vocab.CRD)

#: (group, kind) -> (plural, namespaced) for the kinds a scenario may write (their versions:
#: ``vocab.SERVED_VERSIONS``)
_KNOWN: dict[tuple[str, str], tuple[str, bool]] = {
    (vocab.LIB_GROUP, vocab.SVELTOS_CLUSTER.kind): ("sveltosclusters", True),
    (vocab.CAPI_GROUP, vocab.CAPI_CLUSTER.kind): ("clusters", True),
    (vocab.LIB_GROUP, vocab.EVENT_SOURCE.kind): ("eventsources", False),
    (vocab.LIB_GROUP, vocab.EVENT_BASED_ADDON.kind): ("eventbasedaddons", False),
    (vocab.LIB_GROUP, vocab.EVENT_TRIGGER.kind): ("eventtriggers", False),
    (vocab.LIB_GROUP, vocab.EVENT_REPORT.kind): ("eventreports", True),
    (vocab.CONFIG_GROUP, vocab.CLUSTER_PROFILE.kind): ("clusterprofiles", False),
    (vocab.CONFIG_GROUP, vocab.PROFILE.kind): ("profiles", True),
}


def registration_gvk(cluster_type: str) -> GVK:
    return CAPI_CLUSTER if cluster_type == vocab.CAPI else SVELTOS_CLUSTER


def fallback_crd(gvk: GVK) -> dict[str, Any] | None:
    """A minimal CRD serving ``gvk`` (all known versions, status subresource), or None when
    the kind is not one the runner knows."""
    known = _KNOWN.get((gvk.group, gvk.kind))
    if known is None:
        return None
    plural, namespaced = known
    versions = vocab.SERVED_VERSIONS[(gvk.group, gvk.kind)]
    return {
        "apiVersion": CRD.api_version,
        "kind": CRD.kind,
        "metadata": {"name": f"{plural}.{gvk.group}"},
        "spec": {
            "group": gvk.group,
            "names": {
                "kind": gvk.kind,
                "listKind": f"{gvk.kind}List",
                "plural": plural,
                "singular": gvk.kind.lower(),
            },
            "scope": "Namespaced" if namespaced else "Cluster",
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": i == 0,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
                for i, version in enumerate(versions)
            ],
        },
    }


def ready_status(cluster_type: str) -> dict[str, Any]:
    """The status a registered cluster gets so that Sveltos-like controllers treat it as up."""
    if cluster_type == vocab.CAPI:
        return {"phase": "Provisioned", "controlPlaneReady": True, "infrastructureReady": True}
    return {"ready": True}


def ordered_for_apply(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CRDs first, then Namespaces, then everything else (stable within each group)."""

    def rank(obj: dict[str, Any]) -> int:
        gvk = GVK.of(obj)
        if gvk == CRD:
            return 0
        if gvk == NAMESPACE:
            return 1
        return 2

    return sorted(objects, key=rank)
