"""Issue 16, item 5: permissions that hold against everything an agent may publish.

Every attempt runs with cluster-bad's agent credentials, read from the running stack (the
nats-server configuration generated from ``shared.contract.permissions``: accounts of their
own for agents), against the other clusters -- cluster-rest is the victim:

- ``Nats-Rollup: all`` and ``sub`` on its own key of every bucket it writes, and on its own
  event subject: refused (``rollup not permitted``), nothing erased anywhere;
- a put to cluster-rest's key of every bucket it writes, and keys or events of another
  shape (a token more, a token less, an entry of five tokens): refused, nothing stored;
- ``STREAM.INFO`` with ``subjects_filter``, ``STREAM.NAMES``/``LIST``,
  ``CONSUMER.NAMES``/``LIST``/``INFO`` of every shared stream, ``$JS.API.INFO``, a direct get
  and a watch of cluster-rest's keys, a direct get with a body: no answer lists anything;
- replies aimed elsewhere: its own put, and a direct get of its own key holding a value and
  a delete marker of its choosing, with the reply subject of cluster-rest's desired key,
  status key, events and CloudEvents subject: nothing lands (the reply stays in its own
  account);
- a push consumer of its own events delivering onto cluster-rest's desired key (nothing is
  stored) and onto a literal CloudEvents subject cluster-rest's agent reads (refused there).

Where each shows: the refusals on the attacker's connection (``Permissions Violation``,
counted as ``nats_permission_violations_total`` by a service) and in nats-server's log with
the user; a redirected delivery in the victim agent's log. Meanwhile both clusters' real
agents keep deploying their good trigger within their usual latency (measured before and
during a storm of these attempts, printed), and cluster-bad's agent, running under the same
permissions, is refused nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import nats.errors
import pytest
from nats.js.errors import APIError

from services.scenario.stack import Stack
from shared.bus.client import connect
from shared.bus.errors import BusError
from shared.bus.kv import KVStore
from shared.contract import messages as m
from shared.contract import permissions as p
from shared.contract import streams
from shared.contract.subjects import ClusterRef, cluster_keys, event_subject, match_head_key
from tests.reliability.helpers import (
    CONFIG_MAP,
    SyncNats,
    config_map,
    delete_definitions,
    eventually,
    kill9,
    log_text,
    policies,
    policy_set,
    restart,
    service,
    stays,
)

A_CLUSTER, B_CLUSTER = "default/cluster-bad", "default/cluster-rest"
A = ClusterRef(namespace="default", name="cluster-bad")
B = ClusterRef(namespace="default", name="cluster-rest")
GOOD = {"bad": "perm-good-a", "rest": "perm-good-b"}
LABEL = "perm-good-svc"
ALERTS = f"ripple.v1.cloudevents.{B.token}.perm-alerts"
LATENCY_BOUND = 10.0  # seconds: a generous bound on a loaded 2-core machine
WRITES = (streams.REPORTS, streams.MATCHES, streams.OUTCOMES, streams.AGENTS)
SHARED_STREAMS = (streams.EVENTS.name, *(b.stream_name for b in streams.BUCKETS))
latencies: dict[str, float] = {}


class Attacker:
    """A connection with cluster-bad's agent credentials, driven from its own event loop;
    the server's refusals are recorded."""

    def __init__(self, stack: Stack) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.errors: list[str] = []
        cred = stack.nats_credential(A_CLUSTER)
        assert cred.user == p.agent_user(A)

        async def error_cb(err: Exception) -> None:
            self.errors.append(str(err))

        self.nc: Any = self.run(
            connect(
                stack.nats_server_url,
                "test: cluster-bad's agent credentials",
                user=cred.user,
                password=cred.password,
                inbox_prefix=p.agent_inbox_prefix(A),
                error_cb=error_cb,
                max_reconnect_attempts=0,
            )
        )
        self.js = self.nc.jetstream(timeout=2)

    def run(self, coro: Awaitable[Any], timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def refused(self, subject: str) -> bool:
        """The server refused a publish to ``subject`` (a permissions violation)."""
        needle = f'publish to "{subject}"'.lower()
        return any(
            "permissions violation" in e.lower() and needle in e.lower() for e in self.errors
        )

    def close(self) -> None:
        self.run(self.nc.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="module")
def attacker(stack: Stack) -> Iterator[Attacker]:
    a = Attacker(stack)
    yield a
    a.close()


# -- the good triggers ---------------------------------------------------------------------------
def latency(stack: Stack, lane: str, svc: str) -> float:
    """Seconds from a labelled Service created to its NetworkPolicy applied."""
    client = stack.client(f"default/cluster-{lane}")
    good = GOOD[lane]
    started = time.monotonic()
    client.apply(service(svc, LABEL))
    eventually(lambda: f"{good}-{svc}" in policies(client, good), 15, what=f"policy of {svc}")
    took = time.monotonic() - started
    latencies[f"{lane}/{svc}"] = took
    return took


@pytest.fixture(scope="module")
def good(stack: Stack) -> Iterator[dict[str, float]]:
    """A good trigger in each cluster, and its latency before any attempt."""
    definitions = [d for lane, name in GOOD.items() for d in policy_set(name, lane, LABEL)]
    stack.apply_management(definitions)
    for lane in GOOD:
        latency(stack, lane, "pm-first")  # the first one also waits for the assignment
    yield {lane: min(latency(stack, lane, f"pm-base-{n}") for n in range(2)) for lane in GOOD}
    print(f"\ngood trigger latency (s): {json.dumps(latencies, indent=1)}")
    delete_definitions(stack, definitions)


def keeps_working(stack: Stack, svc: str, baseline: dict[str, float]) -> None:
    for lane, base in baseline.items():
        took = latency(stack, lane, svc)
        assert took < max(LATENCY_BOUND, 10 * base), f"{lane}/{svc}: {took:.2f} s (base {base})"
    dead = [proc.name for proc in stack.dead_processes()]
    assert not dead, f"processes died: {dead}\n{stack.log_tails(A_CLUSTER)}"


# -- what the admin sees -------------------------------------------------------------------------
def subjects_of(bus: SyncNats, stream: str) -> dict[str, int]:
    async def info() -> dict[str, int]:
        si = await bus.js.stream_info(stream, subjects_filter=">")
        return dict(si.state.subjects or {})

    result: dict[str, int] = bus.run(info())
    return result


def everything(bus: SyncNats) -> dict[str, set[str]]:
    return {s: set(subjects_of(bus, s)) for s in SHARED_STREAMS}


def last(bus: SyncNats, stream: str, subject: str) -> Any:
    async def get() -> Any:
        try:
            return await bus.js.get_last_msg(stream, subject)
        except nats.js.errors.NotFoundError:
            return None

    return bus.run(get())


# -- the attempts --------------------------------------------------------------------------------
def own_subjects() -> list[str]:
    """A subject of each shape cluster-bad's agent may write (its own key or event)."""
    own = A.token
    return [
        f"$KV.{streams.REPORTS.bucket}.{own}.perm-probe",
        f"$KV.{streams.MATCHES.bucket}.{own}.perm-probe",
        f"$KV.{streams.MATCHES.bucket}.{own}.perm-probe.v1._53ervice.default.x",
        f"$KV.{streams.OUTCOMES.bucket}.{own}.perm-probe",
        f"$KV.{streams.AGENTS.bucket}.{own}",
        event_subject(A, "perm-probe"),
    ]


def forbidden_subjects() -> list[str]:
    """cluster-rest's keys and events, and cluster-bad's of the wrong shape."""
    own, other = A.token, B.token
    return [
        *(f"$KV.{b.bucket}.{other}.perm-probe" for b in WRITES if b is not streams.AGENTS),
        f"$KV.{streams.MATCHES.bucket}.{other}.perm-probe.v1._53ervice.default.x",
        f"$KV.{streams.AGENTS.bucket}.{other}",
        event_subject(B, "perm-probe"),
        f"$KV.{streams.OUTCOMES.bucket}.{own}.perm-probe.a-token-more",
        f"$KV.{streams.OUTCOMES.bucket}.{own}",  # a token less
        f"$KV.{streams.REPORTS.bucket}.{own}.perm-probe.x",
        f"$KV.{streams.MATCHES.bucket}.{own}.perm-probe.v1._53ervice.default",  # six tokens
        f"$KV.{streams.AGENTS.bucket}.{own}.x",
        f"{event_subject(A, 'perm-probe')}.x",
        f"$KV.{streams.DESIRED.bucket}.{own}.perm-probe",  # the manager's bucket
    ]


def info_requests() -> list[tuple[str, bytes]]:
    filtered = json.dumps({"subjects_filter": ">"}).encode()
    out = [("$JS.API.INFO", b""), ("$JS.API.STREAM.NAMES", b""), ("$JS.API.STREAM.LIST", b"")]
    for stream in SHARED_STREAMS:
        out += [
            (f"$JS.API.STREAM.INFO.{stream}", filtered),
            (f"$JS.API.CONSUMER.NAMES.{stream}", b""),
            (f"$JS.API.CONSUMER.LIST.{stream}", b""),
            (f"$JS.API.CONSUMER.INFO.{stream}.any", b""),
        ]
    other = f"$KV.{streams.DESIRED.bucket}.{B.token}.perm-probe"
    out.append((f"$JS.API.DIRECT.GET.{streams.DESIRED.stream_name}.{other}", b""))
    return out


async def _no_answer(nc: Any, subject: str, body: bytes) -> str | None:
    """None when the request got no answer; the answer otherwise."""
    try:
        reply = await nc.request(subject, body, timeout=1.0)
    except (nats.errors.TimeoutError, nats.errors.NoRespondersError):
        return None
    return f"{subject} answered {reply.headers} {reply.data[:200]!r}"


async def _rollup(js: Any, subject: str, how: str) -> str | None:
    """None when the server refused the rollup; what happened otherwise."""
    try:
        ack = await js.publish(subject, b"{}", headers={"Nats-Rollup": how})
    except APIError as err:
        return None if err.err_code == 10111 else f"{subject}: {err}"
    return f"{subject}: rollup {how} stored as {ack}"


async def _round(attacker: Attacker) -> list[str]:
    """One round of every refused attempt, concurrently; what was not refused."""
    nc, js = attacker.nc, attacker.js
    for subject in forbidden_subjects():
        await nc.publish(subject, b"{}")
    results = await asyncio.gather(
        *(_rollup(js, s, how) for s in own_subjects() for how in ("all", "sub")),
        *(_no_answer(nc, s, body) for s, body in info_requests()),
    )
    await nc.flush()
    return [r for r in results if r is not None]


def storm(attacker: Attacker) -> list[str]:
    failures: list[str] = attacker.run(_round(attacker))
    return failures


@contextlib.contextmanager
def storming(attacker: Attacker) -> Iterator[list[list[str]]]:
    """Rounds of :func:`storm` back to back for the duration of the block; yields what
    each round let through (checked by the caller)."""
    rounds: list[list[str]] = []
    stop = threading.Event()

    async def loop() -> None:
        while not stop.is_set():
            rounds.append(await _round(attacker))

    future = asyncio.run_coroutine_threadsafe(loop(), attacker.loop)
    try:
        yield rounds
    finally:
        stop.set()
        future.result(30)


# -- the tests -----------------------------------------------------------------------------------
def test_every_attempt_is_refused_and_nothing_is_erased_stored_or_listed(
    stack: Stack, bus: SyncNats, attacker: Attacker, good: dict[str, float]
) -> None:
    before = everything(bus)
    started = len(log_text(stack, stack.agent_name(A_CLUSTER)))
    assert storm(attacker) == []
    for subject in forbidden_subjects():
        eventually(lambda s=subject: attacker.refused(s), 5, what=f"{subject} refused")
    for subject, _ in info_requests():
        assert attacker.refused(subject), subject
    after = everything(bus)
    for stream, subjects in before.items():
        assert subjects <= after[stream], f"{stream} lost {sorted(subjects - after[stream])}"
        stored = {s for s in after[stream] - subjects if "perm-probe" in s}
        assert not stored, f"{stream} stored {sorted(stored)}"
    assert not any(attacker.refused(s) for s in own_subjects()), "its own subjects are allowed"
    server_log = stack.nats.log_path.read_text(errors="replace") if stack.nats else ""
    # the server logs who was refused what: account, user, subject
    who = f'"{p.agent_account(A)}/user:{p.agent_user(A)}" - Publish Violation'
    assert f'{who} - Subject "{forbidden_subjects()[0]}"' in server_log

    # watch and direct get of another cluster's keys, a body on its own key's direct get
    async def reads() -> tuple[str, str]:
        store = await KVStore.open(attacker.js, streams.DESIRED, m.DesiredStateEvent)
        try:
            async with store.watch(cluster_keys(B), start_retry=0):
                watched = "watched cluster-rest's keys"
        except BusError as err:
            watched = str(err)
        own = f"$KV.{streams.DESIRED.bucket}.{A.token}.perm-probe"
        body = json.dumps({"next_by_subj": f"$KV.{streams.DESIRED.bucket}.>", "seq": 1})
        reply = await attacker.nc.request(
            f"$JS.API.DIRECT.GET.{streams.DESIRED.stream_name}.{own}", body.encode(), timeout=2
        )
        return watched, f"{(reply.headers or {}).get('Status')} {reply.data!r}"

    watched, with_body = attacker.run(reads())
    assert watched.startswith("cannot watch"), watched
    assert with_body == "408 b''", with_body  # a body on this form is refused
    with storming(attacker) as rounds:  # the good triggers, while the attempts go on
        keeps_working(stack, "pm-storm", good)
    assert rounds and all(r == [] for r in rounds), rounds
    print(f"\n{len(rounds)} round(s) of refused attempts during the latency measurement")
    own_log = log_text(stack, stack.agent_name(A_CLUSTER))[started:].lower()
    assert "permissions violation" not in own_log, "cluster-bad's own agent was refused"


def test_replies_aimed_at_other_keys_land_nowhere(
    stack: Stack, bus: SyncNats, attacker: Attacker, good: dict[str, float]
) -> None:
    """With one account for everyone, these stored an ack, or a copy of a value and headers
    of the attacker's choosing (a delete marker), under another cluster's key."""
    forged = f"$KV.{streams.OUTCOMES.bucket}.{A.token}.perm-forged"
    marker = f"$KV.{streams.OUTCOMES.bucket}.{A.token}.perm-marker"
    targets = {
        "desired": f"$KV.{streams.DESIRED.bucket}.{B.token}.perm-injected",
        "status": f"$KV.{streams.AGENTS.bucket}.{B.token}",
        "events": event_subject(B, "perm-injected"),
    }
    b_status = last(bus, streams.AGENTS.stream_name, targets["status"])
    assert b_status is not None, "cluster-rest's agent has a status"
    cloud = bus.record(ALERTS)
    refusals = len(attacker.errors)

    async def inject() -> None:
        nc, js = attacker.nc, attacker.js
        await js.publish(forged, json.dumps({"specversion": "1.0", "id": "x"}).encode())
        await js.publish(marker, b"", headers={"KV-Operation": "DEL"})
        for target in (*targets.values(), ALERTS):
            await nc.publish(forged, b"{}", reply=target)  # the ack
            for key in (forged, marker):  # a copy of a value, and of a delete marker
                stream = streams.OUTCOMES.stream_name
                await nc.publish(f"$JS.API.DIRECT.GET.{stream}.{key}", b"", reply=target)
        # answered in order: once these are, every reply above was sent
        for key in (forged, marker):
            await js.publish(key, b"", headers={"KV-Operation": "DEL"})
            await nc.request(f"$JS.API.DIRECT.GET.{streams.OUTCOMES.stream_name}.{key}", b"")

    attacker.run(inject())

    def nothing_landed() -> bool:
        status = last(bus, streams.AGENTS.stream_name, targets["status"])
        return (
            last(bus, streams.DESIRED.stream_name, targets["desired"]) is None
            and last(bus, streams.EVENTS.name, targets["events"]) is None
            and status is not None
            and not (status.headers or {}).get("KV-Operation")
            and (status.seq == b_status.seq or m.decode(status.data).source == B.source)
            and cloud == []
        )

    stays(nothing_landed, 300, what="nothing landed under cluster-rest's keys")
    assert attacker.errors[refusals:] == []  # all of it was allowed: its own subjects
    keeps_working(stack, "pm-replies", good)


def test_a_consumer_delivering_elsewhere_stores_nothing(
    stack: Stack, bus: SyncNats, attacker: Attacker, good: dict[str, float]
) -> None:
    """nats-server does not check a deliver subject (nats-server#8274): the consumer is
    created, and delivers (some client subscribes there), but no stream stores it."""
    own = event_subject(A, "perm-pushed")
    target = f"$KV.{streams.DESIRED.bucket}.{B.token}.perm-pushed"
    seen = bus.record(target)  # literal interest: push consumers deliver only then

    async def push() -> dict[str, Any]:
        await attacker.js.publish(own, b"{}")
        config = {"name": "perm-pushed", "deliver_subject": target, "filter_subject": own}
        body = {"stream_name": streams.EVENTS.name, "config": config, "action": "create"}
        reply = await attacker.nc.request(
            f"$JS.API.CONSUMER.CREATE.{streams.EVENTS.name}.perm-pushed.{own}",
            json.dumps(body).encode(),
            timeout=2,
        )
        created: dict[str, Any] = json.loads(reply.data)
        await attacker.nc.request(
            f"$JS.API.CONSUMER.DELETE.{streams.EVENTS.name}.perm-pushed", b"", timeout=2
        )
        return created

    created = attacker.run(push())
    assert "error" not in created, created
    eventually(lambda: seen, 5, what="the delivery")
    assert [s for s, _, _ in seen] == [own]  # it keeps the subject it was stored under
    assert last(bus, streams.DESIRED.stream_name, target) is None
    keeps_working(stack, "pm-pushed", good)


@pytest.fixture(scope="module")
def cloud_trigger(stack: Stack) -> Iterator[None]:
    """cluster-rest's agent also reads the literal CloudEvents subject ALERTS, and a trigger
    there deploys a ConfigMap ``perm-ce-<subject>`` per CloudEvent of type perm.probe."""
    agent = stack.agent_name(B_CLUSTER)
    kill9(stack, agent)
    restart(stack, agent, extra=("--cloudevent-subject", ALERTS))
    template = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        "  name: perm-ce-{{ .CloudEvent.subject }}\n  namespace: default\n"
        "data:\n  from: {{ .CloudEvent.source }}\n"
    )
    definitions = [
        {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "EventSource",
            "metadata": {"name": "perm-ce"},
            "spec": {"messagingMatchCriteria": [{"cloudEventType": "^perm\\.probe$"}]},
        },
        config_map("perm-ce", template),
        {
            "apiVersion": "lib.projectsveltos.io/v1beta1",
            "kind": "EventTrigger",
            "metadata": {"name": "perm-ce"},
            "spec": {
                "sourceClusterSelector": {"matchLabels": {"lane": "rest"}},
                "eventSourceName": "perm-ce",
                "oneForEvent": True,
                "policyRefs": [{"kind": "ConfigMap", "namespace": "default", "name": "perm-ce"}],
            },
        },
    ]
    stack.apply_management(definitions)
    yield
    delete_definitions(stack, definitions)


def _cloud_event(subject: str) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": subject,
            "source": "perm",
            "type": "perm.probe",
            "subject": subject,
        }
    ).encode()


def _deployed(stack: Stack, name: str) -> Callable[[], bool]:
    client = stack.client(B_CLUSTER)
    return lambda: client.get(CONFIG_MAP, "default", f"perm-ce-{name}") is not None


def test_a_consumer_delivering_onto_a_cloudevents_subject_is_refused_by_the_agent(
    stack: Stack, bus: SyncNats, attacker: Attacker, good: dict[str, float], cloud_trigger: None
) -> None:
    def publish(subject: str) -> None:
        async def send() -> None:
            await bus.nc.publish(ALERTS, _cloud_event(subject))
            await bus.nc.flush()

        bus.run(send())

    head = match_head_key(B, "perm-ce")  # CloudEvents are not stored: wait for the agent
    eventually(lambda: bus.kv_raw(streams.MATCHES.bucket, head), 15, what="perm-ce assigned")
    publish("genuine")  # the path works: a real CloudEvent deploys
    eventually(_deployed(stack, "genuine"), 15, what="a genuine CloudEvent deployed")
    offset = len(log_text(stack, stack.agent_name(B_CLUSTER)))
    own = event_subject(A, "perm-ce")

    async def redirect() -> None:
        await attacker.js.publish(own, _cloud_event("forged"))  # its own event: allowed
        config = {"name": "perm-ce", "deliver_subject": ALERTS, "filter_subject": own}
        body = {"stream_name": streams.EVENTS.name, "config": config, "action": "create"}
        reply = await attacker.nc.request(
            f"$JS.API.CONSUMER.CREATE.{streams.EVENTS.name}.perm-ce.{own}",
            json.dumps(body).encode(),
            timeout=2,
        )
        assert "error" not in json.loads(reply.data)

    attacker.run(redirect())
    eventually(
        lambda: (
            f"its subject {own} is not one of it"
            in log_text(stack, stack.agent_name(B_CLUSTER))[offset:]
        ),
        5,
        what="the victim agent refuses the redirected delivery, and logs it",
    )
    publish("after")  # on the same subscription, after the redirected delivery
    eventually(_deployed(stack, "after"), 15, what="a CloudEvent after the attempt deployed")
    assert not _deployed(stack, "forged")(), "the forged CloudEvent was deployed"
    keeps_working(stack, "pm-cloud", good)
