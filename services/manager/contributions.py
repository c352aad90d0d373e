"""What each (trigger, source cluster) pair's plan contributes to the manager's outputs (pure).

A mixin of :class:`services.manager.state.State`: when a pair is planned again, its profiles
are swapped in the state's outputs -- the profiles by name, the desired state per (destination
cluster, profile) and which profile owns each desired entry -- and the difference is recorded
in the reconcile's :class:`~services.manager.changes.Changes`. Reused instances are the same
objects, so only what differs is looked at; a failing instance keeps the objects of its last
good instantiation.
"""

from __future__ import annotations

from collections.abc import Mapping

from services.manager import increments
from services.manager.changes import Changes, DesiredEntry
from services.manager.model import ClusterKey, PairPlan, ProfilePlan


class Contributions:
    """The outputs of :class:`~services.manager.state.State` as the pairs' plans change them."""

    profiles: dict[str, ProfilePlan]
    desired: dict[tuple[ClusterKey, str], DesiredEntry]
    _owner: dict[tuple[ClusterKey, str], ProfilePlan]  # desired key -> profile

    @staticmethod
    def _keep_last_good(previous: PairPlan, plan: PairPlan) -> None:
        """A failing instance keeps the objects of its last good instantiation."""
        for name, profile in plan.profiles.items():
            old = previous.profiles.get(name)
            if profile.error and old is not None and increments.kept(old):
                profile.objects, profile.charts = old.objects, old.charts
                profile.local_objects = old.local_objects
                profile.destinations = profile.destinations or old.destinations
                profile.cluster_profile = profile.cluster_profile or old.cluster_profile
                profile.instantiated = profile.instantiated or old.instantiated

    def _replace(self, old: PairPlan | None, new: PairPlan | None, changes: Changes) -> None:
        """Swap one pair's contribution to the profiles and the desired state."""
        old_all = old.profiles if old else {}
        new_all = {
            n: p
            for n, p in (new.profiles if new else {}).items()
            if not (p.error and not p.objects and not p.cluster_profile)
        }
        # reused instances are the same objects: only what differs needs work
        names = {n for n in set(old_all) | set(new_all) if old_all.get(n) is not new_all.get(n)}
        self._swap({n: old_all.get(n) for n in names}, {n: new_all.get(n) for n in names}, changes)

    def _swap(
        self,
        before: Mapping[str, ProfilePlan | None],
        after: Mapping[str, ProfilePlan | None],
        changes: Changes,
    ) -> None:
        """Swap the profiles of the names in ``before``/``after`` (None: none) in the outputs."""
        names = {n for n in set(before) | set(after) if before.get(n) is not after.get(n)}
        old_profiles = {n: p for n in names if (p := before.get(n)) is not None}
        new_profiles = {n: p for n in names if (p := after.get(n)) is not None}
        touched: set[tuple[ClusterKey, str]] = set()
        for name, profile in old_profiles.items():
            if self.profiles.get(name) is profile:
                del self.profiles[name]
            for dest in profile.targets():
                if self._owner.get((dest, name)) is profile:
                    del self._owner[(dest, name)]
                    touched.add((dest, name))
        for name, profile in new_profiles.items():
            self.profiles[name] = profile
            for dest in profile.targets():
                self._owner[(dest, name)] = profile
                touched.add((dest, name))
        for name in set(old_profiles) | set(new_profiles):
            was, now = old_profiles.get(name), new_profiles.get(name)
            if now is None:
                if name not in self.profiles:
                    changes.profiles_deleted.add(name)
            elif (
                was is None
                or was.cluster_profile != now.cluster_profile
                or was.instantiated != now.instantiated
                or was.error != now.error
            ):
                changes.profiles_put[name] = now
                changes.profiles_deleted.discard(name)
        for key in touched:
            owner = self._owner.get(key)
            if owner is None:
                if self.desired.pop(key, None) is not None:
                    changes.desired_put.pop(key, None)
                    changes.desired_deleted.add(key)
                continue
            entry = DesiredEntry(
                cluster=key[0],
                profile=owner.name,
                objects=tuple(owner.objects_for(key[0])),
                sync_mode=owner.sync_mode,
                stop_matching_behavior=owner.stop_matching_behavior,
                labels=tuple(sorted(owner.labels.items())),
                charts=tuple(owner.charts) if key[0] in owner.destinations else (),
                tier=owner.tier,
                continue_on_conflict=owner.continue_on_conflict,
                source=owner.source,
            )
            if self.desired.get(key) != entry:
                self.desired[key] = entry
                changes.desired_put[key] = entry
                changes.desired_deleted.discard(key)


__all__ = ["Contributions"]
