"""Manager shards on one nats-server (issue 17 item 3): two ``ripple manager`` processes of one
group split the source clusters; each add-on is deployed once; a shard killed (-9) or stopped
(SIGTERM) hands its clusters to the other within the membership ttl and a reconcile, and a
shard started again takes its share back -- nothing in ``ripple-desired`` is deleted during
any of these moves (every message of the bucket is recorded: no delete marker), and the
clusters hold exactly one NetworkPolicy per labelled Service throughout.

The stack's own (unsharded) manager publishes first and is stopped; the shards adopt what it
published without putting anything again (same keys, same content)."""

from __future__ import annotations

import re
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator

import pytest

from services.manager.sharding import rendezvous
from services.scenario.model import Fleet
from services.scenario.processes import ManagedProcess, free_port, wait_ready
from services.scenario.stack import Stack
from shared.contract import messages as m
from shared.contract import streams, subjects
from tests.reliability.helpers import (
    SERVICE,
    SyncNats,
    config_map,
    eventually,
    expected_policies,
    kill9,
    policies,
    policy_set,
    policy_template,
    service,
)

CLUSTERS = [f"default/shard-{i}" for i in range(4)]
NAME = "shards"
LABEL = "shards-svc"
TTL = "2"


def fleet() -> Fleet:
    return Fleet.model_validate(
        {
            "clusters": [
                {
                    "namespace": "default",
                    "name": c.split("/")[1],
                    "type": "sveltos",
                    "labels": {"env": "fv", "lane": NAME},
                }
                for c in CLUSTERS
            ]
        }
    )


def token(cluster: str) -> str:
    ns, name = cluster.split("/")
    return f"sveltos:{ns}/{name}"


def member_ids() -> tuple[str, str]:
    """Two member ids that split the four clusters two and two (rendezvous is deterministic)."""
    for n in range(100):
        ids = (f"shard-a{n}", f"shard-b{n}")
        owners = [rendezvous(ids, token(c)) for c in CLUSTERS]
        if owners.count(ids[0]) == 2:
            return ids
    raise AssertionError("no two ids split the clusters evenly")


class Shards:
    """The two shard processes, built from the stack's manager command line."""

    def __init__(self, stack: Stack, ids: tuple[str, str]) -> None:
        self.stack = stack
        self.base = stack.processes["manager"]
        self.ports = {i: free_port() for i in ids}
        self.procs: dict[str, ManagedProcess] = {}

    def start(self, ident: str) -> ManagedProcess:
        argv = list(self.base.argv)
        argv[argv.index("--api-port") + 1] = str(self.ports[ident])
        ready = self.stack.state_dir / "ready" / ident
        ready.unlink(missing_ok=True)
        argv[argv.index("--ready-file") + 1] = str(ready)
        env = {
            **(self.base.env or {}),
            "RIPPLE_SHARDS": "2",
            "RIPPLE_SHARD_GROUP": "test",
            "RIPPLE_SHARD_ID": ident,
            "RIPPLE_SHARD_TTL": TTL,
        }
        log = self.stack.log_dir / f"{ident}.log"
        proc = ManagedProcess(ident, argv, log, ready_file=ready, env=env).start()
        self.procs[ident] = proc
        self.stack.processes[ident] = proc  # kill9() and the stack's stop reach it
        wait_ready([proc], 60)
        return proc

    def metric(self, ident: str, name: str) -> float:
        url = f"http://127.0.0.1:{self.ports[ident]}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        found = re.search(rf"^ripple_manager_{name} ([0-9.e+-]+)$", text, re.M)
        assert found, f"{name} not in {ident}'s metrics"
        return float(found.group(1))

    def owned(self, ident: str) -> int:
        return int(self.metric(ident, "shard_owned_clusters"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(fleet(), None, state_dir=tmp_path_factory.mktemp("shards"), ready_timeout=60) as s:
        yield s


def deployed(stack: Stack) -> dict[str, set[str]]:
    return {c: policies(stack.client(c), NAME) for c in CLUSTERS}


def expected(stack: Stack) -> dict[str, set[str]]:
    return {c: expected_policies(stack.client(c), LABEL, NAME) for c in CLUSTERS}


def converged(stack: Stack, what: str, timeout: float = 30) -> None:
    eventually(lambda: deployed(stack) == expected(stack), timeout, what=what)


FAILING = '{{ if eq .Resource.metadata.name "bad" }}{{ fail "boom" }}{{ end }}'


def failure(bus: SyncNats, key: str) -> str:
    """The failureMessage of ``ripple-status`` key ``key`` ("" when none)."""
    items = bus.kv_items(streams.STATUS, m.DefinitionStatusEvent)
    return items[key].data.failure_message or "" if key in items else ""


def deletes(recorded: list[tuple[str, bytes, dict[str, str]]]) -> list[str]:
    return [s for s, _, h in recorded if h.get("KV-Operation") in ("DEL", "PURGE")]


def puts(recorded: list[tuple[str, bytes, dict[str, str]]]) -> list[str]:
    return [s for s, _, h in recorded if h.get("KV-Operation") not in ("DEL", "PURGE")]


@pytest.mark.scale
def test_shards_split_hand_over_and_take_back_without_a_withdrawal(stack: Stack) -> None:
    definitions = policy_set(NAME, NAME, LABEL)
    definitions[1] = config_map(NAME, FAILING + policy_template(NAME, NAME))
    stack.apply_management(definitions)
    for n, c in enumerate(CLUSTERS):
        for i in range(2):
            stack.client(c).apply(service(f"s{n}-{i}", LABEL))
    converged(stack, "policies from the unsharded manager")

    bus = SyncNats(stack.nats_url)
    try:
        recorded = bus.record("$KV.ripple-desired.>")
        stack.processes["manager"].stop()
        a, b = member_ids()
        shards = Shards(stack, (a, b))
        shards.start(a)
        shards.start(b)
        eventually(lambda: shards.owned(a) == 2 and shards.owned(b) == 2, 15, what="2/2 split")
        assert not puts(recorded), "adopting what the unsharded manager published put it again"

        # new events: every new desired state put once (by its owner only)
        for n, c in enumerate(CLUSTERS):
            stack.client(c).apply(service(f"s{n}-new", LABEL))
        converged(stack, "policies with two shards")
        eventually(lambda: len(puts(recorded)) >= 4, 10, what="four new desired states")
        assert len(puts(recorded)) == len(set(puts(recorded))) == 4, puts(recorded)

        # the trigger's status, written by one shard, shows an instance failing on the other
        key = subjects.status_key("EventTrigger", NAME)
        writer = rendezvous((a, b), f"status:{key}")
        elsewhere = next(c for c in CLUSTERS if rendezvous((a, b), token(c)) != writer)
        stack.client(elsewhere).apply(service("bad", LABEL))
        eventually(lambda: "boom" in failure(bus, key), 15, what="the other shard's error")
        stack.client(elsewhere).delete(SERVICE, "default", "bad")
        eventually(lambda: "boom" not in failure(bus, key), 15, what="the error cleared")

        # kill -9 of one shard: the other adopts its clusters within the ttl and a reconcile
        kill9(stack, b)
        killed = time.monotonic()
        eventually(lambda: shards.owned(a) == 4, 10, what=f"{a} owns every cluster")
        took = time.monotonic() - killed
        print(f"kill -9: {a} owns every cluster {took:.2f} s later (ttl {TTL} s)")
        assert took < float(TTL) + 3
        for n, c in enumerate(CLUSTERS):
            stack.client(c).apply(service(f"s{n}-after-kill", LABEL))
        converged(stack, "policies after the kill")

        # started again: the split returns
        shards.start(b)
        eventually(lambda: shards.owned(a) == 2 and shards.owned(b) == 2, 15, what="split back")
        for n, c in enumerate(CLUSTERS):
            stack.client(c).apply(service(f"s{n}-back", LABEL))
        converged(stack, "policies after the restart")

        # SIGTERM: a clean stop leaves at once
        stopped = time.monotonic()
        shards.procs[a].stop()
        eventually(lambda: shards.owned(b) == 4, 10, what=f"{b} owns every cluster")
        print(f"SIGTERM: {b} owns every cluster {time.monotonic() - stopped:.2f} s later")
        for n, c in enumerate(CLUSTERS):
            stack.client(c).apply(service(f"s{n}-after-stop", LABEL))
        converged(stack, "policies after the stop")
        assert not deletes(recorded), f"deleted during the moves: {deletes(recorded)}"

        # positive knowledge still withdraws, once
        stack.client(CLUSTERS[0]).delete(SERVICE, "default", "s0-0")
        converged(stack, "a withdrawn policy")
        eventually(lambda: len(deletes(recorded)) == 1, 10, what="one delete marker")
        # every desired state was put once: by one shard, never again by the one adopting it
        counts = Counter(puts(recorded))
        assert len(counts) >= 16 and set(counts.values()) == {1}, counts
    finally:
        bus.close()
