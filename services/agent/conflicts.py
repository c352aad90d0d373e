"""Conflicts between profiles over one object, decided as Sveltos decides them (pure).

Before applying an object the agent reads it in the cluster (libsveltos
``deployer.CanDeployResource`` / ``ValidateObjectForUpdate``):

- absent, or carrying no owner (``projectsveltos.io/owner-name`` empty: a user's object,
  or one no profile deployed), or owned by this very profile (owner name and kind
  ``ClusterProfile``): it is applied;
- owned by another profile: the profile of the LOWER tier wins (``HasHigherOwnershipPriority``:
  ``claimingTier < currentOwnerTier``). The owner's tier is the object's
  ``projectsveltos.io/owner-tier``; a missing, unreadable or 0 value counts as the highest
  tier (anyone takes it over, as libsveltos ``getTier`` reads it). A claiming profile of a
  lower tier takes the object over (:attr:`Verdict.take_over`; the previous owner, when it
  is a profile of this cluster, is re-applied and then reports the conflict itself); an
  equal or higher tier is a conflict: the object is not applied, and the message names the
  owner and both tiers.

Whether a conflict stops the rest of the profile (``continueOnConflict`` false, the
default, as in Sveltos) or not is the applier's (:mod:`services.agent.applying`). Not
decided here (documented in docs/apply.md): Sveltos' second rule, a conflict between two
referenced ConfigMaps of the same profile over one object, and owners recorded in
``ownerReferences`` by Sveltos releases older than v0.52.1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.agent.ownership import OWNER_KIND, OWNER_TIER_ANNOTATION
from shared.api.vocabulary import OWNER_KIND_ANNOTATION, OWNER_NAME_ANNOTATION, ObjectKey

MAX_TIER = 2**31 - 1
"""The tier of an owner whose tier is missing or unreadable (libsveltos ``getTier``)."""


@dataclass(frozen=True)
class Verdict:
    """May ``profile`` apply the object? ``owner``/``owner_kind``/``owner_tier``: who holds
    it now ("" / ``MAX_TIER`` when nobody does)."""

    apply: bool
    owner: str = ""
    owner_kind: str = ""
    owner_tier: int = MAX_TIER
    message: str = ""

    @property
    def take_over(self) -> bool:
        """Applied although another profile owns it (this profile's tier is lower)."""
        return self.apply and bool(self.owner)


def owner_tier(value: Any) -> int:
    """An ``owner-tier`` annotation read as libsveltos reads it (unreadable or 0: the
    highest tier)."""
    try:
        tier = int(str(value).strip())
    except (TypeError, ValueError):
        return MAX_TIER
    return MAX_TIER if tier <= 0 or tier > MAX_TIER else tier


def judge(live: Mapping[str, Any] | None, key: ObjectKey, profile: str, tier: int) -> Verdict:
    """Whether ``profile`` (of ``tier``) may apply the object whose current state in the
    cluster is ``live`` (None: absent)."""
    if live is None:
        return Verdict(True)
    meta = live.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    if not isinstance(annotations, Mapping):
        return Verdict(True)
    owner = annotations.get(OWNER_NAME_ANNOTATION)
    if not isinstance(owner, str) or not owner:
        return Verdict(True)
    kind = str(annotations.get(OWNER_KIND_ANNOTATION) or "")
    if owner == profile and kind == OWNER_KIND:
        return Verdict(True)
    held = owner_tier(annotations.get(OWNER_TIER_ANNOTATION))
    if tier < held:
        return Verdict(True, owner, kind, held)
    return Verdict(False, owner, kind, held, conflict_message(key, owner, kind, held, tier))


def conflict_message(key: ObjectKey, owner: str, kind: str, held: int, tier: int) -> str:
    """Sveltos' words (libsveltos ``getOwnerMessage``), with the tiers that decided it."""
    where = f"{key.namespace}/{key.name}" if key.namespace else key.name
    held_text = "unknown" if held == MAX_TIER else str(held)
    return (
        f"A conflict was detected while deploying resource {key.kind}:{where}. The Sveltos "
        f"profile currently deploying this resource is {kind or 'unknown kind'} {owner} "
        f"(tier {held_text}); this profile's tier {tier} is not lower, so it does not take "
        "the resource over"
    )


__all__ = ["MAX_TIER", "Verdict", "conflict_message", "judge", "owner_tier"]
