"""What the agent stamps on every object it applies, and how it knows its own (pure).

The desired state says what to deploy, never who owns it: before applying a manifest the
agent sets its own ownership marks on it -- the owner profile
(``projectsveltos.io/owner-name``), the owner kind (``projectsveltos.io/owner-kind``:
``ClusterProfile``), the owner's tier (``projectsveltos.io/owner-tier``, which decides
conflicts between profiles: :mod:`services.agent.conflicts`) and the label
``ripple.io/managed-by: ripple-agent`` -- overriding what
the manifest says for those keys. Everything it applied therefore carries its stamp and can
be pruned, whatever the manifest carried (nothing, or a forged owner); and pruning decides
from the *live* object's stamp only (:func:`owned_by`), so an object stamped for another
profile, or never stamped by an agent, is left in place. The other Sveltos keys the manager
puts on a manifest (hash, reference kind/name/namespace) are kept as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.api.vocabulary import (
    AGENT_MANAGED_BY_VALUE,
    CLUSTER_PROFILE,
    MANAGED_BY_LABEL,
    OWNER_KIND_ANNOTATION,
    OWNER_NAME_ANNOTATION,
    SVELTOS_DOMAIN,
)
from shared.contract.payloads import DEFAULT_TIER

OWNER_KIND = CLUSTER_PROFILE.kind
OWNER_TIER_ANNOTATION = f"{SVELTOS_DOMAIN}/owner-tier"
"""The tier of the profile that deployed the object (libsveltos ``deployer.OwnerTier``)."""


class NotStampable(ValueError):
    """The manifest's metadata cannot carry the stamp (labels or annotations not a map)."""


def stamp_labels() -> dict[str, str]:
    return {MANAGED_BY_LABEL: AGENT_MANAGED_BY_VALUE}


def stamp_annotations(profile: str, tier: int = DEFAULT_TIER) -> dict[str, str]:
    return {
        OWNER_KIND_ANNOTATION: OWNER_KIND,
        OWNER_NAME_ANNOTATION: profile,
        OWNER_TIER_ANNOTATION: str(tier),
    }


def stamp(manifest: Mapping[str, Any], profile: str, tier: int = DEFAULT_TIER) -> dict[str, Any]:
    """A copy of ``manifest`` carrying this agent's ownership marks for ``profile`` (of
    ``tier``) (the
    manifest's own values for those keys are overridden; the caller's object is never
    modified). Raises :class:`NotStampable` when its labels or annotations are not maps:
    such an object is never applied unstamped."""
    meta = manifest.get("metadata")
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):
        raise NotStampable("metadata is not a map: the object cannot carry its owner")
    labels = _map(meta, "labels")
    annotations = _map(meta, "annotations")
    new_meta = {
        **meta,
        "labels": {**labels, **stamp_labels()},
        "annotations": {**annotations, **stamp_annotations(profile, tier)},
    }
    return {**manifest, "metadata": new_meta}


def _map(meta: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    value = meta.get(field)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise NotStampable(f"metadata.{field} is not a map: the object cannot carry its owner")
    return value


def owner_of(live: Mapping[str, Any] | None) -> str | None:
    """The profile whose stamp the live object carries (None: no agent's stamp)."""
    if live is None:
        return None
    meta = live.get("metadata")
    if not isinstance(meta, Mapping):
        return None
    labels = meta.get("labels")
    annotations = meta.get("annotations")
    if not isinstance(labels, Mapping) or not isinstance(annotations, Mapping):
        return None
    if labels.get(MANAGED_BY_LABEL) != AGENT_MANAGED_BY_VALUE:
        return None
    if annotations.get(OWNER_KIND_ANNOTATION) != OWNER_KIND:
        return None
    owner = annotations.get(OWNER_NAME_ANNOTATION)
    return owner if isinstance(owner, str) and owner else None


def owned_by(live: Mapping[str, Any] | None, profile: str) -> bool:
    """The live object carries an agent's stamp for ``profile`` (the only case in which
    pruning ``profile`` deletes it)."""
    return owner_of(live) == profile


__all__ = [
    "OWNER_KIND",
    "OWNER_TIER_ANNOTATION",
    "NotStampable",
    "owned_by",
    "owner_of",
    "stamp",
    "stamp_annotations",
    "stamp_labels",
]
