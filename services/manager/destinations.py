"""Where a trigger's instances come from and where they go (pure).

- source clusters: the registered clusters ``sourceClusterSelector`` selects (an empty
  selector selects none, as in Sveltos);
- ``eventSourceName`` rendered per source cluster (``.Cluster``, ``.ClusterNamespace``,
  ``.ClusterName``);
- destinations of one instance: ``destinationCluster`` (each of ``namespace``, ``name``,
  ``kind`` and ``apiVersion`` a template over the instance's data; the cluster type follows
  the kind AND the apiVersion's group: ``SveltosCluster`` of ``lib.projectsveltos.io`` or
  ``Cluster`` of ``cluster.x-k8s.io``; an empty apiVersion takes the kind's, and neither
  means a SveltosCluster; anything else is an instantiation error naming what was rendered), else every registered cluster
  ``destinationClusterSelector`` selects, else the source cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.manager import rendering
from services.manager.errors import InstantiationError
from services.manager.model import ClusterInfo, ClusterKey
from services.manager.views import TriggerView, World
from shared.api.vocabulary import (
    CAPI,
    CAPI_CLUSTER,
    CAPI_GROUP,
    LIB_GROUP,
    SVELTOS,
    SVELTOS_CLUSTER,
)

#: (kind, apiVersion group) of the objects that register a cluster, and the cluster type
CLUSTER_TYPES = {
    (SVELTOS_CLUSTER.kind, LIB_GROUP): SVELTOS,
    (CAPI_CLUSTER.kind, CAPI_GROUP): CAPI,
}


def render(text: str, data: Mapping[str, Any], where: str) -> str:
    """One string field rendered as Sveltos renders fields (trimmed); plain text as is."""
    if "{{" not in text:
        return text
    return rendering.render_text(text, data, flavour="go", name=where).strip()


def source_clusters(
    trigger: TriggerView, clusters: Mapping[ClusterKey, ClusterInfo]
) -> list[ClusterKey]:
    """Registered clusters selected by ``sourceClusterSelector`` (empty selects none)."""
    if trigger.source_selector.is_empty():
        return []
    return sorted(k for k, c in clusters.items() if trigger.source_selector.matches(c.labels))


def event_source_for_cluster(trigger: TriggerView, cluster: ClusterInfo) -> str:
    """``eventSourceName`` rendered for a cluster (.Cluster, .ClusterNamespace, .ClusterName)."""
    data = {
        "Cluster": cluster.obj,
        "ClusterNamespace": cluster.key.namespace,
        "ClusterName": cluster.key.name,
    }
    return render(trigger.event_source_name, data, f"{trigger.kind}/{trigger.name} eventSourceName")


def cluster_type(kind: str, api_version: str, where: str) -> str:
    """The cluster type (``sveltos``/``capi``) a rendered ``kind`` and ``apiVersion`` name;
    :class:`InstantiationError` when they name no cluster registration (or disagree)."""
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    if not api_version:  # the kind's own group (neither: a SveltosCluster, as before)
        ctype = {SVELTOS_CLUSTER.kind: SVELTOS, CAPI_CLUSTER.kind: CAPI, "": SVELTOS}.get(kind)
    else:
        ctype = CLUSTER_TYPES.get((kind, group))
    if ctype is None:
        raise InstantiationError(
            f"{where}: kind {kind!r} apiVersion {api_version!r} is not a cluster registration "
            f"(SveltosCluster of {LIB_GROUP} or Cluster of {CAPI_GROUP})"
        )
    return ctype


def destinations(
    trigger: TriggerView, source: ClusterInfo, data: Mapping[str, Any], world: World
) -> list[ClusterKey]:
    """The clusters one instance deploys to (remote ones: Local policyRefs apart)."""
    where = f"{trigger.kind}/{trigger.name} destinationCluster"
    if trigger.destination_cluster:
        dc = {**(trigger.spec.get("destinationCluster") or {}), **trigger.destination_cluster}
        ns = render(dc.get("namespace", ""), data, where + ".namespace") or source.key.namespace
        name = render(dc.get("name", ""), data, where + ".name")
        kind = render(dc.get("kind", ""), data, where + ".kind")
        api_version = render(dc.get("apiVersion", ""), data, where + ".apiVersion")
        if not name:
            raise InstantiationError(f"{where}.name renders empty")
        return [ClusterKey(ns, name, cluster_type(kind, api_version, where))]
    if trigger.destination_selector is not None and not trigger.destination_selector.is_empty():
        sel = trigger.destination_selector
        return sorted(k for k, c in world.clusters.items() if sel.matches(c.labels))
    return [source.key]
