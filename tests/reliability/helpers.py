"""Helpers of the reliability tests (BRIEF section 7): definitions, polling with deadlines,
kill -9 / restart of a stack's children, the fleet's test hooks, the manager's REST API and a
synchronous NATS client running in a background thread.

Everything goes through the real processes of a :class:`services.scenario.stack.Stack`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import yaml

from services.scenario.model import MANAGEMENT, Fleet
from services.scenario.processes import ManagedProcess, wait_ready
from services.scenario.stack import Stack
from shared.kube import GVK, KubeClient

T = TypeVar("T")

SERVICE = GVK("v1", "Service")
SECRET = GVK("v1", "Secret")
CONFIG_MAP = GVK("v1", "ConfigMap")
NETWORK_POLICY = GVK("networking.k8s.io/v1", "NetworkPolicy")
EVENT_SOURCE = GVK("lib.projectsveltos.io/v1beta1", "EventSource")
EVENT_TRIGGER = GVK("lib.projectsveltos.io/v1beta1", "EventTrigger")
EVENT_REPORT = GVK("lib.projectsveltos.io/v1beta1", "EventReport")
TEST_LABEL = "ripple-test"
API_TOKEN = "reliability-token-0123456789"


# -- polling ------------------------------------------------------------------------------------
def eventually(
    probe: Callable[[], T],
    timeout: float = 15.0,
    *,
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Poll ``probe`` until it returns a truthy value (returned) or the deadline passes
    (AssertionError naming ``what`` and the last value or exception)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = probe()
            if last:
                return last
        except AssertionError as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} did not hold within {timeout:.1f} s; last: {last!r}")
        time.sleep(interval)


def equal_eventually(
    actual: Callable[[], T], expected: T, timeout: float = 15.0, *, what: str = "state"
) -> None:
    seen: list[Any] = [None]

    def probe() -> bool:
        seen[0] = actual()
        return bool(seen[0] == expected)

    try:
        eventually(probe, timeout, what=what)
    except AssertionError:
        raise AssertionError(
            f"{what} did not converge within {timeout:.1f} s\n"
            f"  expected: {_show(expected)}\n  actual:   {_show(seen[0])}"
        ) from None


def stays(probe: Callable[[], bool], ms: int = 400, *, what: str = "condition") -> None:
    """Assert that ``probe`` holds at every poll during ``ms`` milliseconds (for absences)."""
    deadline = time.monotonic() + ms / 1000
    while True:
        assert probe(), f"{what} stopped holding"
        if time.monotonic() >= deadline:
            return
        time.sleep(0.02)


def _show(value: Any) -> str:
    if isinstance(value, set | frozenset):
        return repr(sorted(value))
    return repr(value)


# -- fleet ------------------------------------------------------------------------------------
def fleet_of(lanes: tuple[str, ...]) -> Fleet:
    return Fleet.model_validate(
        {
            "clusters": [
                {
                    "namespace": "default",
                    "name": f"cluster-{lane}",
                    "type": "sveltos",
                    "labels": {"env": "fv", "lane": lane},
                }
                for lane in lanes
            ]
        }
    )


# -- definitions --------------------------------------------------------------------------------
def event_source(
    name: str,
    label: str,
    *,
    kind: str = "Service",
    collect: bool = True,
    script: str = "",
) -> dict[str, Any]:
    """A v1beta1 EventSource: objects of ``kind`` labelled ``<label>=on`` (and ``script``)."""
    selector: dict[str, Any] = {
        "group": "",
        "version": "v1",
        "kind": kind,
        "labelFilters": [{"key": label, "operation": "Equal", "value": "on"}],
    }
    if script:
        selector["evaluate"] = script
    return {
        "apiVersion": "lib.projectsveltos.io/v1beta1",
        "kind": "EventSource",
        "metadata": {"name": name},
        "spec": {"collectResources": collect, "resourceSelectors": [selector]},
    }


def policy_template(prefix: str, tag: str) -> str:
    """A NetworkPolicy ``<prefix>-<service>`` labelled ``ripple-test=<tag>``."""
    return (
        "apiVersion: networking.k8s.io/v1\n"
        "kind: NetworkPolicy\n"
        "metadata:\n"
        f"  name: {prefix}-{{{{ .Resource.metadata.name }}}}\n"
        "  namespace: {{ .Resource.metadata.namespace }}\n"
        "  labels:\n"
        f"    {TEST_LABEL}: {tag}\n"
        "spec:\n"
        "  podSelector: {}\n"
    )


def config_map(name: str, template: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "default",
            "annotations": {"projectsveltos.io/instantiate": "ok"},
        },
        "data": {"policy.yaml": template},
    }


def event_trigger(name: str, source: str, lane: str, config: str, **spec: Any) -> dict[str, Any]:
    """A v1beta1 EventTrigger on clusters labelled ``lane=<lane>``, one profile per event."""
    return {
        "apiVersion": "lib.projectsveltos.io/v1beta1",
        "kind": "EventTrigger",
        "metadata": {"name": name},
        "spec": {
            "sourceClusterSelector": {"matchLabels": {"lane": lane}},
            "eventSourceName": source,
            "oneForEvent": True,
            "policyRefs": [{"kind": "ConfigMap", "namespace": "default", "name": config}],
            **spec,
        },
    }


def policy_set(
    name: str, lane: str, label: str, *, prefix: str | None = None, **spec: Any
) -> list[dict[str, Any]]:
    """EventSource + ConfigMap + EventTrigger ``name``: a NetworkPolicy ``<prefix>-<svc>``
    (labelled ``ripple-test=<name>``) per Service labelled ``<label>=on``."""
    return [
        event_source(name, label),
        config_map(name, policy_template(prefix or name, name)),
        event_trigger(name, name, lane, name, **spec),
    ]


def service(name: str, *labels: str, namespace: str = "default") -> dict[str, Any]:
    """A Service labelled ``<label>=on`` for every label given."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {label: "on" for label in labels},
        },
        "spec": {"ports": [{"port": 80, "protocol": "TCP"}]},
    }


def delete_definitions(stack: Stack, objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        meta = obj["metadata"]
        stack.management.delete(GVK.of(obj), meta.get("namespace"), meta["name"])


# -- cluster state ------------------------------------------------------------------------------
def names(client: KubeClient, gvk: GVK, selector: str, namespace: str = "default") -> set[str]:
    items, _ = client.list(gvk, namespace, label_selector=selector)
    return {o["metadata"]["name"] for o in items}


def policies(client: KubeClient, tag: str) -> set[str]:
    return names(client, NETWORK_POLICY, f"{TEST_LABEL}={tag}")


def services(client: KubeClient, label: str) -> set[str]:
    return names(client, SERVICE, f"{label}=on")


def expected_policies(client: KubeClient, label: str, prefix: str) -> set[str]:
    return {f"{prefix}-{s}" for s in services(client, label)}


# -- processes ----------------------------------------------------------------------------------
def kill9(stack: Stack, name: str) -> None:
    """SIGKILL a child of the stack and reap it (no cleanup runs in the child)."""
    proc = stack.processes[name]
    assert proc.proc is not None and proc.running, f"{name} is not running"
    proc.proc.send_signal(signal.SIGKILL)
    proc.proc.wait(10)
    proc.stop()  # closes its log file


def restart(
    stack: Stack, name: str, *, extra: tuple[str, ...] = (), wait: bool = True
) -> ManagedProcess:
    """Start ``name`` again with the same command line (plus ``extra``), log and ready file."""
    old = stack.processes[name]
    if old.running:
        raise AssertionError(f"{name} is still running")
    new = ManagedProcess(
        name, [*old.argv, *extra], old.log_path, ready_file=old.ready_file, env=old.env
    ).start()
    stack.processes[name] = new
    if wait:
        wait_ready([new], 60)
    return new


@contextlib.contextmanager
def paused(stack: Stack, name: str) -> Iterator[None]:
    """SIGSTOP a child for the duration of the block (SIGCONT afterwards, always)."""
    pid = stack.processes[name].pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def log_text(stack: Stack, name: str) -> str:
    try:
        return (stack.log_dir / f"{name}.log").read_text(errors="replace")
    except OSError:
        return ""


# -- HTTP: the fleet's hooks and the manager's REST API ----------------------------------------
class Http:
    def __init__(self, base: str, token: str | None, context: ssl.SSLContext | None = None):
        self.base = base.rstrip("/")
        self.token = token
        self.context = context

    def call(
        self, method: str, path: str, body: Any = None, *, token: str | bool | None = True
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        use = self.token if token is True else token
        if use:
            request.add_header("Authorization", f"Bearer {use}")
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.context) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:
            with err:
                raw = err.read()
                status = err.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def get(self, path: str, **kw: Any) -> Any:
        status, body = self.call("GET", path, **kw)
        assert status == 200, f"GET {path}: {status} {body}"
        return body


def fleet_hooks(stack: Stack) -> Http:
    """The simulated fleet's ``/_fleet`` hooks (admin token and CA from the kubeconfig)."""
    config = yaml.safe_load(stack.kubeconfig(MANAGEMENT).read_text())
    cluster = config["clusters"][0]["cluster"]
    server = cluster["server"].split("/clusters/")[0]
    cadata = base64.b64decode(cluster["certificate-authority-data"]).decode()
    context = ssl.create_default_context(cadata=cadata)
    return Http(server, config["users"][0]["user"]["token"], context)


def rest(stack: Stack, token: str | None = API_TOKEN) -> Http:
    assert stack.rest_url is not None
    return Http(stack.rest_url, token)


# -- NATS ---------------------------------------------------------------------------------------
class SyncNats:
    """A nats-py connection driven from a background event loop, for synchronous tests."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        from shared.bus.client import connect

        self.nc: Any = self.run(connect(url, "reliability-tests"))
        self.js = self.nc.jetstream()

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def kv_put(self, bucket: str, key: str, value: bytes) -> int:
        async def put() -> int:
            kv = await self.js.key_value(bucket)
            return int(await kv.put(key, value))

        return int(self.run(put()))

    def kv_delete(self, bucket: str, key: str) -> None:
        async def delete() -> None:
            kv = await self.js.key_value(bucket)
            await kv.delete(key)

        self.run(delete())

    def kv_raw(self, bucket: str, key: str) -> bytes | None:
        async def get() -> bytes | None:
            from nats.js.errors import KeyNotFoundError

            kv = await self.js.key_value(bucket)
            try:
                entry = await kv.get(key)
            except KeyNotFoundError:
                return None
            return entry.value

        result: bytes | None = self.run(get())
        return result

    def kv_items(self, spec: Any, expected: Any, keys: str = ">") -> dict[str, Any]:
        """Valid decoded values of a contract bucket (``shared.bus.kv.KVStore.items``)."""
        from shared.bus.kv import KVStore

        async def items() -> dict[str, Any]:
            store = await KVStore.open(self.js, spec, expected)
            return await store.items(keys)

        result: dict[str, Any] = self.run(items())
        return result

    def record(self, subject: str) -> list[tuple[str, bytes, dict[str, str]]]:
        """Every message published on ``subject`` from now on (subject, data, headers)."""
        seen: list[tuple[str, bytes, dict[str, str]]] = []

        async def cb(msg: Any) -> None:
            seen.append((msg.subject, msg.data, dict(msg.headers or {})))

        async def sub() -> None:
            await self.nc.subscribe(subject, cb=cb)
            await self.nc.flush()

        self.run(sub())
        return seen

    def stream_messages(self, stream: str, subject: str) -> list[bytes]:
        """Every message currently stored in ``stream`` under ``subject``."""

        async def fetch() -> list[bytes]:
            from nats.errors import TimeoutError as NatsTimeout

            psub = await self.js.pull_subscribe(subject, stream=stream)
            out: list[bytes] = []
            try:
                while True:
                    try:
                        msgs = await psub.fetch(1000, timeout=2.0)
                    except NatsTimeout:
                        break
                    out.extend(m.data for m in msgs)
                    if len(msgs) < 1000:
                        break
            finally:
                await psub.unsubscribe()
            return out

        result: list[bytes] = self.run(fetch(), timeout=120)
        return result

    def stream_history(
        self, stream: str, subject: str, timeout: float = 120.0
    ) -> list[tuple[int, bytes, dict[str, str]]]:
        """Every message ``stream`` holds on ``subject`` (a filter), from the stream's first
        one, in stream order: (stream sequence, data, headers). An ordered consumer
        (``deliver_policy=ALL``) is read until it says nothing more is pending."""

        async def read() -> list[tuple[int, bytes, dict[str, str]]]:
            from nats.js.api import DeliverPolicy

            info = await self.js.stream_info(stream, subjects_filter=subject)
            if not sum((info.state.subjects or {}).values()):
                return []  # an ordered consumer would wait for a first message
            sub = await self.js.subscribe(
                subject, stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
            )
            out: list[tuple[int, bytes, dict[str, str]]] = []
            try:
                while True:
                    msg = await sub.next_msg(timeout=10)
                    meta = msg.metadata
                    out.append((meta.sequence.stream, msg.data, dict(msg.headers or {})))
                    if meta.num_pending == 0:
                        return out
            finally:
                await sub.unsubscribe()

        result: list[tuple[int, bytes, dict[str, str]]] = self.run(read(), timeout=timeout)
        return result

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self.nc.close(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def fleet_name(stack: Stack, cluster: str) -> str:
    """The name under which the simulated fleet serves ``cluster`` (``/clusters/<name>``)."""
    config = yaml.safe_load(stack.kubeconfig(cluster).read_text())
    return str(config["clusters"][0]["cluster"]["server"].rstrip("/").rsplit("/", 1)[1])


def report_history(
    recorded: list[tuple[str, bytes, dict[str, str]]], key: str
) -> list[set[str] | None]:
    """The matching names of every report value recorded under ``key`` (None: a delete)."""
    out: list[set[str] | None] = []
    for subject, data, headers in recorded:
        if not subject.endswith("." + key) and subject != key:
            continue
        if headers.get("KV-Operation") in ("DEL", "PURGE") or not data:
            out.append(None)
            continue
        body = json.loads(data)
        out.append({r["name"] for r in body["data"].get("matchingResources") or []})
    return out


def match_deletes(
    recorded: list[tuple[str, bytes, dict[str, str]]], cluster: Any, event_source: str
) -> tuple[bool, set[str]]:
    """From values recorded on ``$KV.ripple-matches.…``: whether the head of ``event_source``
    in ``cluster`` (a ClusterRef) was deleted, and the names of the objects whose entries
    were deleted (the agent's "no longer matches")."""
    from shared.contract import streams, subjects

    prefix = f"$KV.{streams.MATCHES.bucket}."
    head, entries = False, set()
    for subject, _, headers in recorded:
        if headers.get("KV-Operation") not in ("DEL", "PURGE") or not subject.startswith(prefix):
            continue
        item = subjects.parse_match_key(subject[len(prefix) :])
        if item.cluster != cluster or item.event_source != event_source:
            continue
        if item.obj is None:
            head = True
        else:
            entries.add(item.obj.name)
    return head, entries


class Replay:
    """The per-change events of one matching set replayed in stream order: ``matched`` and
    ``updated`` add the object's name, ``unmatched`` removes it. ``repeated`` lists every
    (name, change, resourceVersion) stored more than once; ``inconsistent`` every event that
    does not follow from the ones before (matched while matching, updated or unmatched while
    not matching); ``misplaced`` every event whose data names another subject."""

    def __init__(self, messages: list[tuple[int, bytes, dict[str, str]]], subject: str) -> None:
        from shared.contract import messages as m

        self.names: set[str] = set()
        self.changes: list[tuple[str, str, str]] = []
        self.events: list[tuple[int, str, str, str]] = []  # (sequence, *change) in order
        self.repeated: list[tuple[str, str, str]] = []
        self.inconsistent: list[tuple[int, str, str, str]] = []
        self.misplaced: list[tuple[int, str]] = []
        seen: set[tuple[str, str, str]] = set()
        for seq, data, _ in messages:
            event = m.decode(data, m.RESOURCE_CHANGE_EVENTS, where=f"{subject} #{seq}")
            change: Any = event.data  # type: ignore[attr-defined]
            if m.message_key(event) != subject:
                self.misplaced.append((seq, m.message_key(event)))
            ident = (change.ref.name, change.change, change.resource_version)
            self.changes.append(ident)
            self.events.append((seq, *ident))
            if ident in seen:
                self.repeated.append(ident)
            seen.add(ident)
            present = change.ref.name in self.names
            if (change.change == "matched") == present:
                self.inconsistent.append((seq, *ident))
            if change.change == "unmatched":
                self.names.discard(change.ref.name)
            else:
                self.names.add(change.ref.name)

    def of(self, name: str, after: int = 0) -> list[tuple[str, str]]:
        """The (change, resourceVersion) of ``name``'s events stored after sequence ``after``."""
        return [(c, rv) for seq, n, c, rv in self.events if n == name and seq > after]

    def problems(self) -> list[str]:
        out = []
        if self.repeated:
            out.append(f"stored more than once: {self.repeated}")
        if self.inconsistent:
            out.append(f"not following from the events before: {self.inconsistent}")
        if self.misplaced:
            out.append(f"data of another subject: {self.misplaced}")
        return out


def replay_events(bus: SyncNats, cluster: Any, event_source: str) -> Replay:
    """The whole ``ripple.v1.events.<ns>.<cluster>.<es>`` history of ``event_source`` in
    ``cluster`` (a ClusterRef) read from RIPPLE_EVENTS and replayed."""
    from shared.contract import streams, subjects

    subject = subjects.event_subject(cluster, event_source)
    return Replay(bus.stream_history(streams.EVENTS.name, subject), subject)


def manager_metric(stack: Stack, name: str) -> float:
    """One value of the manager's ``/metrics`` (REST API, with the token)."""
    status, text = rest(stack).call("GET", "/metrics")
    assert status == 200, f"GET /metrics: {status} {text}"
    for line in str(text).splitlines():
        if line.split(" ", 1)[0] == name:
            return float(line.split()[1])
    raise AssertionError(f"no metric {name} in the manager's /metrics")
