"""Withdrawing what the manager published (a mixin of
:class:`services.manager.publication.Publication`; pure).

A published desired state or profile that is no longer wanted is not deleted at once: it
waits for its trigger's verdict from the withdrawal guard (:mod:`services.manager.guard`),
then -- a desired state -- for its removal grace period; a key held because its pair's report
is unknown or its profile fails to instantiate is released when that is known again. These
rules keep the per-key bookkeeping (pending removals, held keys, owners) that
:meth:`Publication.decide <services.manager.publication.Publication.decide>` reads.
"""

from __future__ import annotations

from typing import Any

from services.manager.guard import Guard
from services.manager.outputs import DESIRED, Item, Owner
from services.manager.published import Pair, Unknown


class Withdrawals:
    """What :class:`~services.manager.publication.Publication` keeps, as the withdrawal rules
    read and change it."""

    removal_grace: float
    wanted: dict[str, dict[str, Any]]
    pairs: dict[Item, Pair | None]
    profile_names: dict[Item, str]
    held: set[Item]
    pending: dict[Item, float]
    owners: dict[Item, Owner]
    guard: Guard

    def _release(self, what: Unknown, now: float, dirty: set[Item]) -> None:
        """Held keys whose report became known (or whose pair is gone), and whose profile no
        longer fails: removable now."""
        for item in list(self.held):
            if self._unknown(item, what):
                continue
            self.held.discard(item)
            if item[1] in self.wanted[item[0]]:
                continue  # wanted again: its put is already queued
            self._withdraw(item, now)
            dirty.add(item)

    # -- the withdrawal guard ----------------------------------------------------------------
    def _withdraw(self, item: Item, now: float) -> None:
        """A published desired state or profile is no longer wanted: it waits for its
        trigger's verdict, or proceeds (its removal grace starts)."""
        trigger = self._trigger_of(item)
        if not self.guard.withdraw(item, trigger, now):
            self._proceed(item, now)
        elif item not in self.owners and trigger is not None:  # its status shows the hold
            self.owners[item] = (self.guard.triggers[trigger].kind, trigger)

    def _proceed(self, item: Item, went: float) -> None:
        if item[0] == DESIRED:
            self.pending.setdefault(item, went + self.removal_grace)

    def _settle(self, now: float, dirty: set[Item]) -> None:
        """The guard's verdicts due now: what proceeds, and the held keys whose hold's
        numbers changed, are looked at again."""
        settled = self.guard.settle(now)
        for item, went in settled.proceed:
            self._proceed(item, went)
            dirty.add(item)
        dirty.update(settled.refresh)

    def _trigger_of(self, item: Item) -> str | None:
        owner = self.owners.get(item)
        if owner is not None:
            return owner[1]
        pair = self.pairs.get(item)
        return pair[0] if pair is not None else None

    def _unknown(self, item: Item, what: Unknown) -> bool:
        if self.profile_names.get(item, "") in what.failing:
            return True
        pair = self.pairs.get(item)
        return pair in what.pairs if pair is not None else bool(what.pairs)


__all__ = ["Withdrawals"]
