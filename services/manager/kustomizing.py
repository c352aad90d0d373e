"""``kustomizationRefs`` of a trigger instantiated into manifests (pure over its inputs).

Placeholder of the interface planning calls; the kustomize build itself is added here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.manager.model import ClusterInfo, Reference


def kustomization_sources(
    spec: Mapping[str, Any],
    owner: str,
    source: ClusterInfo,
    data: Mapping[str, Any],
    refs: Mapping[tuple[str, str, str], Mapping[str, Any]],
) -> list[tuple[dict[str, Any], Reference]]:
    """The manifests the trigger's ``kustomizationRefs`` (in ``spec``, camelCase) build for
    one instance, each with the reference it came from. ``owner`` is ``Kind/name`` of the
    trigger (for messages), ``data`` the instance's template data, ``refs`` the
    management-cluster ConfigMaps/Secrets by (kind, namespace, name). Raises
    :class:`~services.manager.errors.InstantiationError` on a problem."""
    return []
