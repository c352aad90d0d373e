"""What the manager publishes, and when it may withdraw it: the publication rules (pure).

The reconcile (:meth:`services.manager.state.State.reconcile`) says what changed in the
outputs; :class:`Publication` turns that into *wanted values per KV key* and answers, for
one key at one moment, what its publisher must do (:meth:`Publication.decide`):

- a wanted key is put (:class:`Put`, with the value to publish);
- a key published before this process started, no longer wanted, whose (trigger, source
  cluster) still exists but whose report is unknown (not arrived, unreadable) is HELD: stale
  is never "no match", so it stays until that report is known (:data:`HOLD`);
- a desired key no longer wanted stays published until its removal grace period has run out
  (:class:`Wait`); the grace is counted again from the restart for keys found at start-up,
  so a restart never removes early;
- a desired state or profile no longer wanted passes the withdrawal guard
  (:mod:`services.manager.guard`): it waits for its trigger's verdict (:class:`Wait`), and
  when one change would withdraw most of the trigger's instances it is held until confirmed
  or until the condition clears -- :meth:`Publication.decide` then returns :class:`Held`
  with the hold's message and numbers: the publisher keeps the key as a failure of its own
  that its trigger's status, REST and metrics show until the hold ends;
- otherwise a published key that is not wanted is deleted (:data:`DELETE`): on the first
  pass after a start this withdraws what was published before and is no longer wanted, on
  positive knowledge only (definitions and clusters read completely, the report known).

No I/O, no clock of its own (``now`` is given; the guard's "since" reads the wall clock it
is given), no asyncio: unit-tested in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping
from typing import Any

from services.manager.decisions import DELETE, HOLD, NOTHING, Decision, Held, Put, Wait
from services.manager.guard import Bound, Guard, Hold
from services.manager.model import ClusterKey, ProfilePlan
from services.manager.outputs import (
    ASSIGNMENTS,
    BUCKETS,
    DESIRED,
    PROFILES,
    STATUS,
    Item,
    Owner,
    assignment_key,
    desired_key,
    owner_of_labels,
    profile_key,
)
from services.manager.published import Pair, Published, Unknown, pair_of_labels
from services.manager.sharding import Sharding
from services.manager.shardkeys import ShardKeys
from services.manager.state import Changes, DesiredEntry
from services.manager.withdrawals import Withdrawals

STEP = 256  # changed outputs taken between two chances to give the event loop back


class Publication(ShardKeys, Withdrawals):
    """The wanted value of every key of the manager's buckets, what is published, held and
    waiting for removal. Owned by the event loop; every method is synchronous and pure."""

    def __init__(
        self,
        removal_grace: float = 0.0,
        published: Published | None = None,
        guard: Bound | Guard | None = None,
    ) -> None:
        start = published or Published()
        self.removal_grace = removal_grace
        self.first = True
        self.wanted: dict[str, dict[str, Any]] = {b: {} for b in BUCKETS}
        self.published: dict[str, set[str]] = {b: set(start.keys.get(b, ())) for b in BUCKETS}
        self.pairs: dict[Item, Pair | None] = dict(start.pairs)
        self.profile_names: dict[Item, str] = dict(start.profiles)
        self.held: set[Item] = set()
        self.pending: dict[Item, float] = {}  # desired keys no longer wanted -> removal time
        self.owners: dict[Item, Owner] = {}  # the definition a key is published for
        self._profile_keys: dict[str, str] = {}  # profile name -> its key
        self._gone: set[Item] = set()  # deleted keys whose owner is kept until the next pass
        self.guard = guard if isinstance(guard, Guard) else Guard(guard or Bound())
        #: this manager's shard (None: it owns every key); the cluster each key belongs to
        self.sharding: Sharding | None = None
        self.sources: dict[Item, ClusterKey] = dict(start.clusters)
        for item, pair in self.pairs.items():
            if pair is not None:
                self.sources.setdefault(item, pair[1])
        #: keys forgotten because another shard owns them (their queue entries to drop)
        self.forgotten: set[Item] = set()
        self._epoch = 0
        self._deferred: set[Item] = set()  # looked at while ownership was changing
        for item, pair in self.pairs.items():
            if item[0] == DESIRED and pair is not None:
                self.guard.track(item[1], pair[0])

    # -- after each reconcile ----------------------------------------------------------------
    def observe(
        self,
        changes: Changes,
        unknown: Callable[[], Unknown],
        now: float,
        statuses: Mapping[str, Any] | None = None,
    ) -> set[Item]:
        """Take the changes of one reconcile (and, when recomputed, every definition status
        by key); return the keys whose publication must be looked at. ``unknown()`` says what
        is unknown (called only when something is or may be held)."""
        steps = self.observe_steps(changes, unknown, now, statuses)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                dirty: set[Item] = done.value
                return dirty

    def observe_steps(
        self,
        changes: Changes,
        unknown: Callable[[], Unknown],
        now: float,
        statuses: Mapping[str, Any] | None = None,
    ) -> Generator[None, None, set[Item]]:
        """:meth:`observe` in steps: yields every :data:`STEP` changed outputs (their keys
        are computed here), so a caller on an event loop can give the loop back."""
        dirty: set[Item] = set()
        for item in self._gone:
            if item[1] not in self.published[item[0]] and item[1] not in self.wanted[item[0]]:
                self.owners.pop(item, None)
        self._gone.clear()
        adopting = self._rebalance(dirty)
        self.guard.triggers = changes.triggers
        if changes.reselected or self.first:
            self.guard.watch(now)  # their withdrawals arrive over the next moments
        yield from self._assignments(changes, dirty)
        yield from self._desired(changes, now, dirty)
        yield from self._profiles(changes, now, dirty)
        if statuses is not None:
            self._statuses(statuses, dirty)
        if self.first or adopting:
            # after a start, or when this shard's ownership changed: what it owns now and
            # does not want (on positive knowledge) is withdrawn, the unknown held
            self._first_pass(unknown, now, dirty)
            self.first = False
        elif self.held:
            self._release(unknown(), now, dirty)
        self._settle(now, dirty)
        return dirty

    def _assignments(self, changes: Changes, dirty: set[Item]) -> Iterator[None]:
        wanted = self.wanted[ASSIGNMENTS]
        for n, ((cluster, es), value) in enumerate(changes.assignments_put.items(), 1):
            key = assignment_key(cluster, es)
            wanted[key] = (cluster, es, value)
            self.sources[(ASSIGNMENTS, key)] = cluster
            self.owners[(ASSIGNMENTS, key)] = ("EventSource", es)
            dirty.add((ASSIGNMENTS, key))
            if n % STEP == 0:
                yield
        for cluster, es in changes.assignments_deleted:
            key = assignment_key(cluster, es)
            if not self.owned((ASSIGNMENTS, key)):
                self._forget((ASSIGNMENTS, key))
                continue
            wanted.pop(key, None)
            dirty.add((ASSIGNMENTS, key))

    def _desired(self, changes: Changes, now: float, dirty: set[Item]) -> Iterator[None]:
        wanted = self.wanted[DESIRED]
        for n, ((cluster, profile), entry) in enumerate(changes.desired_put.items(), 1):
            item = (DESIRED, desired_key(cluster, profile))
            wanted[item[1]] = entry
            self.pending.pop(item, None)  # wanted again within its grace period
            self.held.discard(item)
            self.guard.discard(item)  # wanted again: no longer withdrawn, nor held
            labels = dict(entry.labels)
            pair = pair_of_labels(labels)
            source = entry.source or (pair[1] if pair is not None else None)
            if source is not None:  # the labels shorten names over 63 characters
                self.sources[item] = source
            owner = owner_of_labels(labels)
            if owner is not None:
                self.owners[item] = owner
                self.guard.track(item[1], owner[1])
            dirty.add(item)
            if n % STEP == 0:
                yield
        for n, (cluster, profile) in enumerate(changes.desired_deleted, 1):
            item = (DESIRED, desired_key(cluster, profile))
            if not self.owned(item):
                self._forget(item)
                continue
            wanted.pop(item[1], None)
            if item[1] in self.published[DESIRED]:
                self._withdraw(item, now)
            else:
                self.guard.untrack(item[1])
            dirty.add(item)
            if n % STEP == 0:
                yield

    def _profiles(self, changes: Changes, now: float, dirty: set[Item]) -> Iterator[None]:
        wanted = self.wanted[PROFILES]
        for n, (name, plan) in enumerate(changes.profiles_put.items(), 1):
            if not plan.cluster_profile:
                continue
            key = profile_key(plan.source, name)
            self._profile_keys[name] = key
            wanted[key] = plan
            self.sources[(PROFILES, key)] = plan.source
            self.held.discard((PROFILES, key))
            self.guard.discard((PROFILES, key))
            self.owners[(PROFILES, key)] = _owner_of_profile(plan)
            dirty.add((PROFILES, key))
            if n % STEP == 0:
                yield
        for name in changes.profiles_deleted:
            old = self._profile_keys.pop(name, None)
            if old is not None and not self.owned((PROFILES, old)):
                self._forget((PROFILES, old))
            elif old is not None:
                wanted.pop(old, None)
                if old in self.published[PROFILES]:
                    self._withdraw((PROFILES, old), now)
                dirty.add((PROFILES, old))

    def _statuses(self, statuses: Mapping[str, Any], dirty: set[Item]) -> None:
        wanted = self.wanted[STATUS]
        if self.sharding is not None:  # one shard writes each definition's status
            statuses = {k: v for k, v in statuses.items() if self.owned((STATUS, k))}
        for key in set(wanted) - set(statuses):
            dirty.add((STATUS, key))
        for key, status in statuses.items():
            if wanted.get(key) != status:
                dirty.add((STATUS, key))
        self.wanted[STATUS] = dict(statuses)

    def _first_pass(self, unknown: Callable[[], Unknown], now: float, dirty: set[Item]) -> None:
        """Everything published before the start and no longer wanted: withdrawn, except
        desired states and profiles whose pair's report is unknown or whose profile fails
        to instantiate (held)."""
        stale = {
            (bucket, key)
            for bucket in BUCKETS
            for key in self.published[bucket] - set(self.wanted[bucket])
        }
        what = unknown() if any(b in (DESIRED, PROFILES) for b, _ in stale) else Unknown()
        for item in stale:
            if item[1] not in self.published[item[0]]:
                continue  # deleted meanwhile (observe gives the loop back between steps)
            if not self.owned(item):
                continue  # another shard's (or unknown: never touched by a shard)
            if item[0] in (DESIRED, PROFILES):
                if self._unknown(item, what):
                    self.held.add(item)
                    continue
                self._withdraw(item, now)
            dirty.add(item)

    # -- when a publisher looks at a key -----------------------------------------------------
    def decide(self, item: Item, now: float) -> Decision:
        """What to do with ``item`` at ``now``. No side effect but one: at the end of a
        trigger's window, the guard's verdict on its withdrawals. A held withdrawal is
        :class:`Held` (the hold's message and numbers: a failure of the key's own)."""
        bucket, key = item
        if self.sharding is not None and self.sharding.epoch != self._epoch:
            self._deferred.add(item)  # ownership changed: nothing until the next pass
            return NOTHING
        if not self.owned(item):
            return NOTHING  # another shard's (or nobody's while membership is unknown)
        value = self.wanted[bucket].get(key)
        if value is not None:
            return Put(value)
        if item in self.held:
            return HOLD
        if key not in self.published[bucket]:
            return NOTHING
        waiting = self.guard.waiting(item, now)
        if waiting:
            return Wait(waiting)
        hold = self.guard.hold_of(item)
        if waiting is not None and hold is None:  # the window is over: its trigger's verdict
            for proceeding, went in self.guard.settle(now, self.guard.trigger_of(item)).proceed:
                self._proceed(proceeding, went)  # each of them waits for it too
            hold = self.guard.hold_of(item)
        if hold is not None:
            # held; or a hold under the bound again whose window is over: this key's failure
            # changes, so the reconcile it brings gives the verdict (and queues the rest)
            return _held(hold)
        deadline = self.pending.get(item)
        if deadline is not None and deadline > now:
            return Wait(deadline - now)
        return DELETE

    def put_done(self, item: Item, now: float) -> None:
        """``item`` was put. No longer wanted meanwhile: its grace period starts now."""
        bucket, key = item
        self.published[bucket].add(key)
        if bucket in (DESIRED, PROFILES) and key not in self.wanted[bucket]:
            self._withdraw(item, now)

    def foreign(self, item: Item, *, present: bool) -> None:
        """Someone else wrote (``present``) or deleted ``item``: a value there is published
        (the manager deletes it unless it wants the key); a deleted key no longer is."""
        if present:
            self.published[item[0]].add(item[1])
        else:
            self.deleted(item)

    def deleted(self, item: Item) -> None:
        """``item`` was deleted from its bucket."""
        self.published[item[0]].discard(item[1])
        self.pending.pop(item, None)
        self.pairs.pop(item, None)
        self.profile_names.pop(item, None)
        self.guard.discard(item)
        if item[1] not in self.wanted[item[0]]:
            # its owner is forgotten at the next pass: a failure that ends with the deletion
            # (a hold confirmed) still changes its definition's status
            self._gone.add(item)
            if item[0] == DESIRED:
                self.guard.untrack(item[1])

    # -- views -------------------------------------------------------------------------------
    def owner(self, item: Item) -> Owner | None:
        """The definition ``(kind, name)`` a key is published for (None: a status key)."""
        return self.owners.get(item)

    def counts(self) -> dict[str, int]:
        return {
            "held": len(self.held),
            "pending_removals": len(self.pending),
            "withdrawals_held_triggers": len(self.guard.holds),
            "withdrawals_held_instances": self.guard.held_instances(),
            **{f"wanted_{b}": len(self.wanted[b]) for b in BUCKETS},
            **{f"published_{b}": len(self.published[b]) for b in BUCKETS},
        }


def _held(hold: Hold) -> Held:
    return Held(hold.message, hold.kind, hold.trigger, hold.token, hold.going, hold.total)


def _owner_of_profile(plan: ProfilePlan) -> Owner:
    return owner_of_labels(plan.labels) or ("EventTrigger", plan.trigger)


__all__ = [
    "DELETE",
    "HOLD",
    "NOTHING",
    "Decision",
    "DesiredEntry",
    "Held",
    "Pair",
    "Publication",
    "Published",
    "Put",
    "Unknown",
    "Wait",
    "pair_of_labels",
]
