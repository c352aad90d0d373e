"""Manager shards without servers: who owns which cluster (rendezvous hashing, Sveltos' shard
keys, membership by the observer's clock), and two shards' State + Publication splitting,
handing over and taking back the pairs without a withdrawal or a second copy."""

from __future__ import annotations

from typing import Any

from services.manager.model import ClusterInfo, ClusterKey
from services.manager.outputs import DESIRED, STATUS, Item
from services.manager.publication import DELETE, Publication, Published, Put
from services.manager.sharding import (
    Member,
    Members,
    Sharding,
    merge_errors,
    rendezvous,
    shard_key_of,
)
from services.manager.state import State
from shared.api.vocabulary import SHARD_KEY_ANNOTATION
from tests.manager.test_publication import new_state, report, unknown

CLUSTERS = [ClusterKey("fleet", f"c{i:03d}", "sveltos") for i in range(300)]


def split(members: list[str]) -> dict[ClusterKey, str | None]:
    return {c: rendezvous(members, f"{c.type}:{c.namespace}/{c.name}") for c in CLUSTERS}


def test_the_clusters_are_split_evenly_and_every_member_agrees() -> None:
    owners = split(["m1", "m2", "m3"])
    counts = {m: sum(1 for o in owners.values() if o == m) for m in ("m1", "m2", "m3")}
    assert all(70 <= n <= 130 for n in counts.values()), counts
    assert split(["m3", "m1", "m2"]) == owners  # the order the members are seen in is irrelevant


def test_a_member_joining_or_leaving_moves_only_its_share() -> None:
    before = split(["m1", "m2"])
    after = split(["m1", "m2", "m3"])
    moved = [c for c in CLUSTERS if before[c] != after[c]]
    assert all(after[c] == "m3" for c in moved)  # only to the newcomer
    assert 60 <= len(moved) <= 140
    back = split(["m1", "m2"])
    assert back == before  # it leaves: exactly the previous split
    left = split(["m1", "m3"])  # m2 leaves the three: only its clusters move
    assert all(left[c] == after[c] for c in CLUSTERS if after[c] != "m2")


def test_pinned_clusters_belong_to_the_members_of_their_shard_key() -> None:
    shard = Sharding(Member("a", "blue"))
    shard.set_members([Member("a", "blue"), Member("b", ""), Member("c", "")])
    pinned, free = CLUSTERS[0], CLUSTERS[1]
    info = {"metadata": {"annotations": {SHARD_KEY_ANNOTATION: "blue"}}}
    assert shard_key_of(info) == "blue" and shard_key_of({"metadata": {}}) == ""
    assert shard.pin(pinned, "blue") and not shard.pin(pinned, "blue")
    assert shard.owner(pinned) == "a" and shard.owns(pinned)
    assert shard.owner(free) in ("b", "c") and not shard.owns(free)
    shard.set_members([Member("b", ""), Member("c", "")])  # no member for "blue" any more
    assert shard.owner(pinned) is None and not shard.known


def test_membership_is_unknown_until_synced_and_expires_by_the_observers_clock() -> None:
    members = Members(ttl=3.0)
    members.put("g.a", Member("a"), now=10.0)
    assert members.alive(10.0) is None  # the current values not all read yet
    members.synced = True
    members.put("g.b", Member("b"), now=11.0)
    assert members.alive(12.0) == (Member("a"), Member("b"))
    assert members.next_expiry(12.0) == 1.0
    assert members.alive(13.5) == (Member("b"),)  # a was not renewed for ttl
    members.put("g.a", Member("a"), now=13.6)  # renewed: alive again
    members.delete("g.b")  # a clean stop: gone at once
    assert members.alive(13.7) == (Member("a"),)


def test_a_shard_that_does_not_know_its_group_owns_nothing() -> None:
    shard = Sharding(Member("a"))
    assert not shard.known and not shard.owns(CLUSTERS[0]) and not shard.owns_status("x")
    shard.set_members([Member("b")])  # its own key not seen yet
    assert not shard.known and not shard.owns(CLUSTERS[0])


# -- two shards, one bucket -------------------------------------------------------------------
class Bucket:
    """What a KV bucket holds, and every put and delete made to it, by shard."""

    def __init__(self) -> None:
        self.values: dict[Item, Any] = {}
        self.deletes: list[tuple[str, Item]] = []
        self.puts: list[tuple[str, Item]] = []


class Shard:
    def __init__(self, name: str, bucket: Bucket, members: list[str]) -> None:
        self.name = name
        self.bucket = bucket
        self.state = new_state()
        self.sharding = Sharding(Member(name))
        self.sharding.set_members([Member(m) for m in members])
        self.state.sharding = self.sharding
        for key in list(self.state.clusters):  # registered before sharding was attached
            self.sharding.pin(key, "")
        self.pub = Publication(published=Published({DESIRED: set()}))
        self.pub.sharding = self.sharding

    def reconcile(self, now: float = 0.0) -> None:
        dirty = self.pub.observe(self.state.reconcile(), unknown(self.state), now, {"t": "ok"})
        self.execute(dirty, now)
        self.execute(dirty, now + 60)  # what waited for its grace or the guard's window

    def execute(self, items: set[Item], now: float = 0.0) -> None:
        for item in items:
            decision = self.pub.decide(item, now)
            if isinstance(decision, Put):
                if self.bucket.values.get(item) != decision.value:
                    self.bucket.puts.append((self.name, item))
                self.bucket.values[item] = decision.value
                self.pub.put_done(item, now)
            elif decision is DELETE:
                self.bucket.deletes.append((self.name, item))
                self.bucket.values.pop(item, None)
                self.pub.deleted(item)

    def sees(self, other: Shard) -> None:
        """What the other shard published, as this one's output watch reports it."""
        for item in other.bucket.values:
            cluster = other.pub.sources.get(item)
            self.pub.seen(item, cluster, present=True)


def two_shards() -> tuple[Bucket, Shard, Shard]:
    bucket = Bucket()
    a, b = Shard("a", bucket, ["a", "b"]), Shard("b", bucket, ["a", "b"])
    for shard in (a, b):
        for n, key in enumerate(sorted(shard.state.clusters)):
            report(shard.state, key, *(f"s{n}-{i}" for i in range(3)))
    a.reconcile()
    b.reconcile()
    a.sees(b)
    b.sees(a)
    return bucket, a, b


def desired(bucket: Bucket) -> set[Item]:
    return {item for item in bucket.values if item[0] == DESIRED}


def test_two_shards_publish_every_instance_once_and_each_status_once() -> None:
    bucket, a, b = two_shards()
    owners = {c: a.sharding.owner(c) for c in a.state.clusters}
    assert owners == {c: b.sharding.owner(c) for c in b.state.clusters}
    assert len(desired(bucket)) == 6  # two clusters, three Services each
    writers: dict[Item, set[str]] = {}
    for name, item in bucket.puts:
        writers.setdefault(item, set()).add(name)
    assert all(len(w) == 1 for w in writers.values())  # no key written by both
    for name, item in bucket.puts:
        if item[0] == DESIRED:
            assert owners[a.pub.sources[item]] == name
    assert [s.name for s in (a, b) if "t" in s.pub.wanted[STATUS]] == [
        "a" if a.sharding.owns_status("t") else "b"
    ]
    assert [n for n, i in bucket.puts if i == (STATUS, "t")] == [
        "a" if a.sharding.owns_status("t") else "b"
    ]


def test_a_shard_leaving_hands_its_pairs_over_without_a_withdrawal() -> None:
    bucket, a, _ = two_shards()
    before = dict(bucket.values)
    puts = len(bucket.puts)
    a.sharding.set_members([Member("a")])  # b is gone
    a.reconcile(1.0)
    assert not bucket.deletes
    assert bucket.values == before  # adopted: same keys, same content, nothing put again
    assert len(bucket.puts) == puts
    assert all(a.sharding.owns(c) for c in a.state.clusters)
    report(a.state, sorted(a.state.clusters)[1])  # and it now withdraws on positive knowledge
    a.reconcile(100.0)
    assert bucket.deletes and {n for n, _ in bucket.deletes} == {"a"}


def test_a_shard_joining_takes_its_share_and_the_other_forgets_it_without_deleting() -> None:
    bucket = Bucket()
    a = Shard("a", bucket, ["a"])
    for n, key in enumerate(sorted(a.state.clusters)):
        report(a.state, key, f"s{n}")
    a.reconcile()
    assert len(desired(bucket)) == 2 and all(n == "a" for n, _ in bucket.puts)
    b = Shard("b", bucket, ["a", "b"])
    b.sees(a)
    for n, key in enumerate(sorted(b.state.clusters)):
        report(b.state, key, f"s{n}")
    a.sharding.set_members([Member("a"), Member("b")])
    a.reconcile(1.0)
    b.reconcile(1.0)
    assert not bucket.deletes
    assert len(desired(bucket)) == 2
    assert not [i for n, i in bucket.puts if n == "b" and i[0] == DESIRED]  # same content
    mine = {i for i in a.pub.wanted[DESIRED]}
    theirs = {i for i in b.pub.wanted[DESIRED]}
    assert mine.isdisjoint(theirs) and len(mine | theirs) == 2


def test_a_status_key_is_written_by_one_shard_only() -> None:
    shard_a, shard_b = Sharding(Member("a")), Sharding(Member("b"))
    for s in (shard_a, shard_b):
        s.set_members([Member("a"), Member("b")])
    keys = [f"EventTrigger.t{i}" for i in range(50)]
    assert all(shard_a.owns_status(k) != shard_b.owns_status(k) for k in keys)


def test_without_sharding_a_state_plans_every_cluster() -> None:
    state = State()
    key = CLUSTERS[0]
    state.set_cluster(ClusterInfo(key, {}, {"metadata": {"name": key.name}}))
    assert state.sharding is None
    assert Publication().owned((DESIRED, "anything"))


def test_the_status_writer_merges_the_other_shards_problems_once() -> None:
    own = ("EventSource 'svc' does not exist (source clusters a, b)", "a: template failed")
    other = ["EventSource 'svc' does not exist (source clusters a, b)", "b: template failed"]
    assert merge_errors(own, [other, ["b: template failed"]]) == (*own, "b: template failed")
